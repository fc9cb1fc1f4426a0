"""The engine's version: a module of its own so that any module can read it without importing
the package's façade (``engine/__init__.py`` re-exports it as ``engine.__version__``)."""

from __future__ import annotations

__version__ = "0.1.0"
