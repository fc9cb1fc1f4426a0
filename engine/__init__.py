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
from engine.interview import (
    Interview,
    Question,
    apply_answer,
    evaluate_partial,
    forget,
    interview_next,
    next_questions,
)
from engine.version import __version__

__all__ = [
    "DOCUMENT_NAMES",
    "Decision",
    "Document",
    "EvaluationError",
    "Interview",
    "Question",
    "RuleLoadError",
    "RuleSet",
    "SituationError",
    "UsageError",
    "XieshangError",
    "__version__",
    "apply_answer",
    "build_documents",
    "evaluate",
    "evaluate_partial",
    "forget",
    "interview_next",
    "load_rules",
    "next_questions",
]
