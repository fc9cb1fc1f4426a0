"""What explanation reads of a decision: the fields of ``engine.decision.Decision``.

A protocol rather than the class, because the decision's advice document includes near misses
(``Decision.to_advice(near_misses=True)``): the decision imports this package, so this package
must not import the decision back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from engine.rank.conditions import RuleResult
from engine.rank.ranking import Recommendation, Suppression
from engine.run.memory import Firing, Memory
from engine.run.ruleset import RuleSet


class DecisionView(Protocol):
    """A finished evaluation as explanation reads it (``engine.decision.Decision`` is one)."""

    @property
    def ruleset(self) -> RuleSet: ...

    @property
    def situation(self) -> Mapping[str, Any]: ...

    @property
    def locale(self) -> str: ...

    @property
    def firings(self) -> Sequence[Firing]: ...

    @property
    def memory(self) -> Memory: ...

    @property
    def recommendations(self) -> Sequence[Recommendation]: ...

    @property
    def suppressed(self) -> Sequence[Suppression]: ...

    def condition_result(self, rule_index: int, loan: str | None) -> RuleResult:
        """A rule binding's evaluated conditions, made once per decision and shared."""
        ...
