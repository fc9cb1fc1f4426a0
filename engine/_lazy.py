"""Names a public API module re-exports without importing their modules until first use.

The façade (``engine``) and the audit/authoring API (``engine.audit``) list what they offer in
``__all__``; names whose modules are costly to import and that many commands never need (batch
workers, rendering, lint, YAML test cases) are resolved here on first access (PEP 562), so
``import engine`` stays as cheap as loading the core. Their static imports sit under
``TYPE_CHECKING`` for mypy and for the import contract.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    owner: str, names: Mapping[str, tuple[str, str]], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[name] = (module, attribute)`` on first use
    and keeps the value in ``namespace`` (the owner's globals)."""

    def __getattr__(name: str) -> Any:
        try:
            module, attribute = names[name]
        except KeyError:
            raise AttributeError(f"module {owner!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value
        return value

    return __getattr__
