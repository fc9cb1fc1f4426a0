"""Why not, looking around: recommend rules one condition short of firing (``near_misses``).

Only for actions that are neither recommended nor suppressed; each near miss lists every
single change of data that would make its rule fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.pack.model import Recommend
from engine.whynot.flips import Flip, _Context, flip, single_flips
from engine.whynot.proofs import bindings
from engine.whynot.subject import DecisionView
from engine.whynot.values import jsonable


@dataclass(frozen=True, slots=True)
class NearMissChange:
    """One change that alone would make the rule fire: the leaf's flip, where the leaf is
    written and the value it has now."""

    flip: Flip
    location: str
    actual: Any  #: as JSON data; None when unknown

    def as_dict(self) -> dict[str, Any]:
        return {**self.flip.as_dict(), "location": self.location, "actual": self.actual}


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A recommend rule one condition short for one binding (the advice's ``near_misses``)."""

    action: str
    rule_id: str
    location: str
    loan_id: str | None
    priority: int
    changes: tuple[NearMissChange, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "rule_id": self.rule_id,
            "location": self.location,
            "loan_id": self.loan_id,
            "priority": self.priority,
            "changes": [change.as_dict() for change in self.changes],
        }


def near_misses(decision: DecisionView) -> tuple[NearMiss, ...]:
    """Recommend rules one condition short, for actions not recommended nor suppressed.

    One condition short: flipping exactly one leaf (the way the rule needs it) would make the
    rule's condition tree true under Kleene logic, and at least one other leaf already goes the
    rule's way (so a one-condition rule that does not apply is not "almost"). Each entry lists
    every such single change.
    """
    ctx = _Context(decision)
    taken = {r.action for r in decision.recommendations} | {s.action for s in decision.suppressed}
    order = decision.ruleset.pack.actions
    found: list[tuple[tuple[Any, ...], NearMiss]] = []
    for index, crule in enumerate(decision.ruleset.compiled.rules):
        rule = crule.rule
        then = rule.then
        if not isinstance(then, Recommend) or then.action in taken or rule.when is None:
            continue
        for lid in bindings(ctx, rule):
            if ctx.fired(index, lid):
                continue
            result = decision.condition_result(index, lid)
            flips = single_flips(result)
            if not flips or not any(leaf.holds for leaf in result.leaves):
                continue  # a rule with nothing yet in its favour is not "almost"
            changes = tuple(
                NearMissChange(
                    flip(ctx, leaf.leaf, leaf.value, leaf.negated, lid),
                    leaf.location.short,
                    jsonable(leaf.value),
                )
                for leaf in flips
            )
            entry = NearMiss(then.action, rule.id, rule.location.short, lid, then.priority, changes)
            key = (
                -then.priority,
                order[then.action].order,
                rule.id,
                decision.memory.loan_index(lid),
            )
            found.append((key, entry))
    return tuple(entry for _, entry in sorted(found, key=lambda kv: kv[0]))
