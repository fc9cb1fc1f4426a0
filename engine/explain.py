"""Explanations: a rule's conditions marked with the actual values and three-valued results.

Pure functions over the working memory of a finished evaluation (like json-rules-engine's
RuleResult): nothing here decides what fired; it shows why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.memory import Memory
from engine.model import Condition, Leaf
from engine.operators import truth
from engine.source import Location
from engine.values import UNKNOWN

Truth = bool | None  #: True, False, or None for unknown


@dataclass(frozen=True)
class ConditionOutcome:
    """One leaf condition with what was expected, what the fact was, and the result."""

    fact: str
    op: str
    expected: Any
    actual: Any  #: None when the fact is unknown
    result: Truth
    location: Location
    param: str | None = None
    negated: bool = False  #: the leaf sits under an odd number of ``not``

    def as_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact,
            "op": self.op,
            "expected": self.expected,
            "actual": self.actual,
            "result": self.result,
            "location": self.location.short,
        }


def leaf_truth(leaf: Leaf, value: Any) -> Truth:
    """Kleene truth of one leaf for a fact value (UNKNOWN allowed)."""
    return truth(leaf.op, value, leaf.expected, UNKNOWN)


def evaluate_condition(
    cond: Condition, memory: Memory, loan: str | None, negated: bool = False
) -> tuple[Truth, list[ConditionOutcome]]:
    """The condition's three-valued result and every leaf's outcome, in written order."""
    outcomes: list[ConditionOutcome] = []
    return _evaluate(cond, memory, loan, negated, outcomes), outcomes


def _evaluate(
    cond: Condition, memory: Memory, loan: str | None, negated: bool, out: list[ConditionOutcome]
) -> Truth:
    if isinstance(cond, Leaf):
        value = memory.get(cond.fact, loan)
        truth = leaf_truth(cond, value)
        actual = None if value is UNKNOWN else value
        out.append(
            ConditionOutcome(
                cond.fact, cond.op, cond.expected, actual, truth, cond.location, cond.param, negated
            )
        )
        return truth
    inner = negated ^ (cond.kind == "not")
    results = [_evaluate(item, memory, loan, inner, out) for item in cond.items]
    return combine(cond.kind, results)


def combine(kind: str, results: list[Truth]) -> Truth:
    """Kleene logic for ``all``, ``any`` and ``not`` over three-valued results."""
    if kind == "not":
        return None if results[0] is None else not results[0]
    if kind == "all":
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False
