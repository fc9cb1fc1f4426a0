"""xieshang: ranked, explained advice for borrowers overdue on Chinese consumer credit.

The public API is small: :func:`load_rules` loads, checks and compiles a rule pack, and
:func:`evaluate` turns a situation into a :class:`Decision`.
"""

from __future__ import annotations

from engine.api import Decision, RuleSet, evaluate, load_rules
from engine.documents import DOCUMENT_NAMES, Document, build_documents
from engine.errors import (
    EvaluationError,
    RuleLoadError,
    SituationError,
    UsageError,
    XieshangError,
)
from engine.version import __version__

__all__ = [
    "DOCUMENT_NAMES",
    "Decision",
    "Document",
    "EvaluationError",
    "RuleLoadError",
    "RuleSet",
    "SituationError",
    "UsageError",
    "XieshangError",
    "__version__",
    "build_documents",
    "evaluate",
    "load_rules",
]
