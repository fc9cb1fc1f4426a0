"""xieshang: ranked, explained advice for borrowers overdue on Chinese consumer credit.

The public API is small: :func:`load_rules` loads, checks and compiles a rule pack, and
:func:`evaluate` turns a situation into a :class:`Decision`.
"""

from __future__ import annotations

from engine.api import Decision, RuleSet, evaluate, load_rules
from engine.errors import (
    EvaluationError,
    RuleLoadError,
    SituationError,
    UsageError,
    XieshangError,
)
from engine.version import __version__

__all__ = [
    "Decision",
    "EvaluationError",
    "RuleLoadError",
    "RuleSet",
    "SituationError",
    "UsageError",
    "XieshangError",
    "__version__",
    "evaluate",
    "load_rules",
]
