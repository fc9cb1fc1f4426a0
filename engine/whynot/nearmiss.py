"""Why not, looking around: recommend rules one condition short of firing (``near_misses``).

Only for actions that are neither recommended nor suppressed; each near miss lists every
single change of data that would make its rule fire.
"""

from __future__ import annotations

from typing import Any

from engine.checks import leaves
from engine.explain import leaf_truth
from engine.model import Recommend
from engine.whynot.flips import _Context, flip, leaf_polarity, leaf_values, single_flips
from engine.whynot.proofs import bindings
from engine.whynot.subject import DecisionView
from engine.whynot.values import jsonable


def near_misses(decision: DecisionView) -> list[dict[str, Any]]:
    """Recommend rules one condition short, for actions not recommended nor suppressed.

    One condition short: flipping exactly one leaf (the way the rule needs it) would make the
    rule's condition tree true under Kleene logic, and at least one other leaf already goes the
    rule's way (so a one-condition rule that does not apply is not "almost"). Each entry lists
    every such single change.
    """
    ctx = _Context(decision)
    taken = {r.action for r in decision.recommendations} | {s.action for s in decision.suppressed}
    order = decision.ruleset.pack.actions
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for index, crule in enumerate(decision.ruleset.compiled.rules):
        rule = crule.rule
        then = rule.then
        if not isinstance(then, Recommend) or then.action in taken or rule.when is None:
            continue
        rule_leaves = list(leaves(rule.when))
        polarity = list(leaf_polarity(rule.when))
        for lid in bindings(ctx, rule):
            if ctx.fired(index, lid):
                continue
            values = leaf_values(rule, decision, lid)
            flips = single_flips(rule, values)
            holding = [
                leaf_truth(leaf, values[i]) is (not polarity[i])
                for i, leaf in enumerate(rule_leaves)
            ]
            if not flips or not any(holding):
                continue  # a rule with nothing yet in its favour is not "almost"
            changes = []
            for i in flips:
                leaf = rule_leaves[i]
                change = flip(ctx, leaf, values[i], polarity[i], lid)
                change["location"] = leaf.location.short
                change["actual"] = jsonable(values[i])
                changes.append(change)
            entry = {
                "action": then.action,
                "rule_id": rule.id,
                "location": rule.location.short,
                "loan_id": lid,
                "priority": then.priority,
                "changes": changes,
            }
            key = (
                -then.priority,
                order[then.action].order,
                rule.id,
                decision.memory.loan_index(lid),
            )
            found.append((key, entry))
    return [entry for _, entry in sorted(found, key=lambda kv: kv[0])]
