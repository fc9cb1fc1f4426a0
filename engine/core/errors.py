"""Typed errors. Each knows its exit code, so the CLI never decides one.

Exit codes (SPEC §5): 2 for bad input or usage (situation, rules, missing file), 1 for internal
errors (including the rule engine failing in a way the pack could not have caused).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.core.source import Location


class XieshangError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code: int = 1


@dataclass(frozen=True, order=True)
class RuleError:
    """One problem in a rule pack, with where it is and how to fix it."""

    location: Location
    code: str  #: stable snake_case code, e.g. ``rule_unknown_fact``
    message: str
    hint: str = field(default="", compare=False)

    def __str__(self) -> str:
        text = f"{self.location}: {self.code}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class RuleLoadError(XieshangError):
    """A rule pack could not be loaded: carries every error found, sorted by position."""

    exit_code = 2

    def __init__(self, errors: Iterable[RuleError]) -> None:
        self.errors: list[RuleError] = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


class SituationError(XieshangError):
    """The situation is not valid input. ``path`` is a JSON path such as ``$.loans[0].id``."""

    exit_code = 2

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.detail = message
        super().__init__(f"{source}: {path}: {message}")


class UsageError(XieshangError):
    """Bad command-line use: a missing file, an unknown action or rule id, and so on."""

    exit_code = 2


class EvaluationError(XieshangError):
    """Evaluation stopped because of what the rules do at run time (conflicting derivations)."""

    exit_code = 2


class FiringBudgetExceeded(EvaluationError):
    """Chaining went past the firing budget: a rule pack that would not terminate."""


class EngineError(XieshangError):
    """durable_rules reported an error. ``code`` is its numeric error code (Appendix A)."""

    exit_code = 1

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


class EngineLimitError(EngineError):
    """A durable_rules limit was hit (fan-out 303, properties 302, patterns 304, ...)."""


class EngineParseError(EngineError):
    """durable_rules could not parse JSON we sent it (201-205): a bug in our encoder."""


def did_you_mean(word: str, candidates: Sequence[str] | Iterable[str]) -> str:
    """A ``did you mean 'x'?`` hint, or an empty string when nothing is close.

    >>> did_you_mean("days_overdu", ["days_overdue", "lender"])
    "did you mean 'days_overdue'?"
    """
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else ""
