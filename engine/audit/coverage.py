"""Rule and condition coverage of a pack's YAML test cases.

Rule coverage: the share of rules that fired in at least one case. Condition coverage: the share of
condition leaves seen both true and false, over every binding (the situation, or each loan for
``about: loan`` rules) of every case; an unknown outcome counts as neither. The outcomes are read
from each case's decision (``Decision.condition_result``, the ``RuleResult`` of
engine/rank/conditions.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.load.checks import leaves

if TYPE_CHECKING:
    from engine.audit.testing import CaseResult
    from engine.run.ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class LeafCoverage:
    rule_id: str
    index: int
    description: str
    location: str
    seen: frozenset[bool] = frozenset()  #: the known results it had in some binding of some case

    @property
    def covered(self) -> bool:
        return self.seen == {True, False}


@dataclass(frozen=True, slots=True)
class Coverage:
    rules: Mapping[str, tuple[str, ...]]  #: rule id → names of the cases where it fired
    locations: Mapping[str, str]  #: rule id → file:line
    leaves: tuple[LeafCoverage, ...]

    @property
    def rule_percent(self) -> float:
        return _percent(sum(1 for c in self.rules.values() if c), len(self.rules))

    @property
    def condition_percent(self) -> float:
        return _percent(sum(1 for leaf in self.leaves if leaf.covered), len(self.leaves))

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_coverage": round(self.rule_percent, 2),
            "condition_coverage": round(self.condition_percent, 2),
            "rules_not_fired": [
                {"rule_id": r, "location": self.locations[r]}
                for r, c in self.rules.items()
                if not c
            ],
            "conditions_not_covered": [
                {
                    "rule_id": leaf.rule_id,
                    "condition": leaf.description,
                    "location": leaf.location,
                    "seen": sorted(leaf.seen),
                }
                for leaf in self.leaves
                if not leaf.covered
            ],
        }


def _percent(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else 100.0 * part / whole


def measure(ruleset: RuleSet, results: Iterable[CaseResult]) -> Coverage:
    rules = [crule.rule for crule in ruleset.compiled.rules]  # the pack's rules, in its order
    fired: dict[str, list[str]] = {rule.id: [] for rule in rules}
    seen: list[list[set[bool]]] = [[set() for _ in leaves(rule.when)] for rule in rules]
    for result in results:
        decision = result.decision
        if decision is None:
            continue
        for rule_id in decision.fired_rules():
            fired[rule_id].append(result.case.name)
        for index, rule in enumerate(rules):
            bindings = decision.memory.loans if rule.about == "loan" else [None]
            for loan in bindings:
                for leaf in decision.condition_result(index, loan).leaves:
                    if leaf.result is not None:
                        seen[index][leaf.index].add(leaf.result)
    table = tuple(
        LeafCoverage(rule.id, i, leaf.describe(), leaf.location.short, frozenset(seen[index][i]))
        for index, rule in enumerate(rules)
        for i, leaf in enumerate(leaves(rule.when))
    )
    locations = {rule.id: rule.location.short for rule in rules}
    return Coverage({k: tuple(dict.fromkeys(v)) for k, v in fired.items()}, locations, table)


def report_lines(
    cov: Coverage, min_rules: float | None, min_conditions: float | None
) -> tuple[list[str], bool]:
    """The coverage report, and whether it is below a threshold."""
    fired = sum(1 for c in cov.rules.values() if c)
    covered = sum(1 for leaf in cov.leaves if leaf.covered)
    lines = [
        f"rule coverage: {cov.rule_percent:.1f}% ({fired} of {len(cov.rules)} rules fired)",
        f"condition coverage: {cov.condition_percent:.1f}% ({covered} of {len(cov.leaves)}"
        " conditions seen both true and false)",
    ]
    for rule_id, cases in cov.rules.items():
        if not cases:
            lines.append(f"  {cov.locations[rule_id]}: rule {rule_id} never fired")
    for leaf in cov.leaves:
        if leaf.covered:
            continue
        missing = " and ".join(
            w for w, v in (("true", True), ("false", False)) if v not in leaf.seen
        )
        lines.append(f"  {leaf.location}: {leaf.rule_id}: '{leaf.description}' never {missing}")
    below = False
    if min_rules is not None and cov.rule_percent + 1e-9 < min_rules:
        lines.append(
            f"rule coverage {cov.rule_percent:.1f}% is below --min-coverage {min_rules:g}%"
        )
        below = True
    if min_conditions is not None and cov.condition_percent + 1e-9 < min_conditions:
        lines.append(
            f"condition coverage {cov.condition_percent:.1f}% is below"
            f" --min-condition-coverage {min_conditions:g}%"
        )
        below = True
    return lines, below
