"""YAML test cases for rule packs: ``tests/*.test.yaml`` → run each case → what differed.

Used by ``xieshang rules test`` and by the project's own pytest suite. A case gives a situation
(inline or ``situation_file``) and what to expect: actions present or absent, within a rank, in an
order, the exact top actions, rules fired or not, suppressed actions, derived values, loan ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api import evaluate
from engine.core.errors import RuleError, RuleLoadError, XieshangError, did_you_mean
from engine.core.source import Location, shorten
from engine.core.userfiles import MAX_YAML_BYTES, ReadProblem, read_file
from engine.core.yamlsource import Path as DocPath
from engine.core.yamlsource import SourceMap, load_yaml
from engine.decision import Decision
from engine.load.loader import TEST_SUFFIXES, schema_errors
from engine.load.situation import load_situation_file
from engine.run.ruleset import RuleSet


@dataclass(frozen=True)
class Case:
    name: str
    situation: dict[str, Any]
    expect: dict[str, Any]
    location: Location


@dataclass
class CaseResult:
    case: Case
    failures: list[str] = field(default_factory=list)
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def test_files(roots: Iterable[str | Path]) -> list[Path]:
    """Every ``*.test.yaml`` under each root's ``tests/`` folder (or the roots themselves)."""
    found: list[Path] = []
    for given in roots:
        root = Path(given)
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found += sorted(p for p in root.rglob("*") if p.name.endswith(TEST_SUFFIXES))
    return found


test_files.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def load_cases(paths: Iterable[Path], ruleset: RuleSet | None = None) -> list[Case]:
    """Read test files; raises RuleLoadError with every problem (positions included).

    With ``ruleset``, every name a case expects (actions, rule ids, derived facts) must exist in
    it: a misspelt name would otherwise make its check pass forever (``absent: [pay_nwo]``).
    """
    cases: list[Case] = []
    errors: list[RuleError] = []
    for path in paths:
        shown = _display(path)
        try:
            text = read_file(path, MAX_YAML_BYTES)
        except ReadProblem as problem:
            code = "yaml_too_large" if problem.too_large else "test_unreadable"
            message = f"file {problem.reason}" if problem.too_large else problem.reason
            errors.append(RuleError(Location(shown, 1, 1), code, f"cannot read: {message}"))
            continue
        data, smap, problems = load_yaml(text, shown)
        errors += problems
        if data is None:
            continue
        found, _bad = schema_errors("tests", data, smap)
        errors += found
        if found:
            continue
        for i, spec in enumerate(data["cases"]):
            loc = smap.locate(("cases", i))
            if ruleset is not None:
                errors += _unknown_names(spec["expect"], ("cases", i, "expect"), smap, ruleset)
            situation = _situation(spec, path, smap, ("cases", i), errors)
            if situation is not None:
                cases.append(Case(spec["name"], situation, spec["expect"], loc))
    if errors:
        raise RuleLoadError(errors)
    return cases


#: What the names under each ``expect`` key are: actions, rule ids or derived facts.
_NAME_KINDS = {
    "present": "action",
    "absent": "action",
    "rank": "action",
    "order": "action",
    "top": "action",
    "suppressed": "action",
    "loan_ids": "action",
    "fired": "rule",
    "not_fired": "rule",
    "derived": "derived fact",
}


def _unknown_names(
    expect: dict[str, Any], at: DocPath, smap: SourceMap, ruleset: RuleSet
) -> list[RuleError]:
    """An error, with a "did you mean" hint, for each expected name the pack does not have."""
    pack = ruleset.pack
    known = {
        "action": list(pack.actions),
        "rule": [r.id for r in pack.rules],
        # ``derived`` checks situation-level facts (per-loan ones are ``loan.<name>``)
        "derived fact": [name for name in pack.derived if not name.startswith("loan.")],
    }
    errors: list[RuleError] = []
    for key, kind in _NAME_KINDS.items():
        value = expect.get(key)
        names = list(value) if isinstance(value, dict | list) else []
        for i, name in enumerate(names):
            if not isinstance(name, str) or name in known[kind]:
                continue
            where: DocPath = (*at, key, name if isinstance(value, dict) else i)
            hint = did_you_mean(name, known[kind])
            if kind == "derived fact" and name in pack.derived:
                hint = "'derived' checks situation-level facts, not per-loan ones"
            errors.append(
                RuleError(
                    smap.locate(where),
                    "test_unknown_name",
                    f"expect/{key}: unknown {kind} '{shorten(name)}'",
                    hint or f"see 'xieshang rules list'{' --facts' if kind != 'rule' else ''}",
                )
            )
    return errors


def _display(path: Path) -> str:
    """Relative to the working directory when under it, so messages stay short."""
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _situation(
    spec: dict[str, Any], path: Path, smap: SourceMap, at: DocPath, errors: list[RuleError]
) -> dict[str, Any] | None:
    """The case's situation; ``situation_file`` is read and checked like ``advise FILE``."""
    if "situation" in spec:
        return dict(spec["situation"])
    target = path.parent / spec["situation_file"]
    try:
        return load_situation_file(target)
    except XieshangError as exc:
        loc = smap.locate_value((*at, "situation_file"))
        errors.append(RuleError(loc, "test_situation_file", f"situation_file: {exc}"))
        return None


def run_case(ruleset: RuleSet, case: Case) -> CaseResult:
    result = CaseResult(case)
    try:
        result.decision = evaluate(ruleset, case.situation)
    except XieshangError as exc:
        result.failures.append(f"evaluation failed: {exc}")
        return result
    except Exception as exc:  # an engine bug fails this case only; the other cases still run
        result.failures.append(f"evaluation failed (internal error): {type(exc).__name__}: {exc}")
        return result
    result.failures = list(check_expectations(result.decision, case.expect))
    return result


def run_cases(ruleset: RuleSet, cases: Iterable[Case]) -> list[CaseResult]:
    return [run_case(ruleset, case) for case in cases]


def check_expectations(decision: Decision, expect: dict[str, Any]) -> Iterator[str]:
    """Every way the decision differs from what the case expects, as readable lines."""
    ranks = {r.action: r.rank for r in decision.recommendations}
    order = [r.action for r in decision.recommendations]
    shown = ", ".join(order) or "nothing"
    for action in expect.get("present", []):
        if action not in ranks:
            yield f"expected '{action}' to be recommended; got: {shown}"
    for action in expect.get("absent", []):
        if action in ranks:
            yield f"expected '{action}' to be absent; it is at rank {ranks[action]}"
    for action, worst in expect.get("rank", {}).items():
        if ranks.get(action, 10**9) > worst:
            where = f"rank {ranks[action]}" if action in ranks else "absent"
            yield f"expected '{action}' at rank {worst} or better; it is {where} (order: {shown})"
    yield from _check_order(expect.get("order", []), ranks, shown)
    top = expect.get("top", [])
    if top and order[: len(top)] != top:
        yield f"expected the top actions to be {', '.join(top)}; got: {shown}"
    yield from _check_rules(decision, expect)
    yield from _check_derived(decision, expect.get("derived", {}))
    yield from _check_plan(decision, expect.get("plan", {}))
    for action, loan_ids in expect.get("loan_ids", {}).items():
        got = next((list(r.loan_ids) for r in decision.recommendations if r.action == action), None)
        if got != loan_ids:
            yield f"expected '{action}' for loans {loan_ids}; got {got}"


def _check_order(wanted: list[str], ranks: dict[str, int], shown: str) -> Iterator[str]:
    missing = [a for a in wanted if a not in ranks]
    if missing:
        yield f"order: {', '.join(missing)} not recommended; got: {shown}"
    elif [ranks[a] for a in wanted] != sorted(ranks[a] for a in wanted):
        yield f"expected the order {' > '.join(wanted)}; got: {shown}"


def _check_rules(decision: Decision, expect: dict[str, Any]) -> Iterator[str]:
    fired = set(decision.fired_rules())
    for rule_id in expect.get("fired", []):
        if rule_id not in fired:
            yield f"expected rule '{rule_id}' to fire; it did not"
    for rule_id in expect.get("not_fired", []):
        if rule_id in fired:
            yield f"expected rule '{rule_id}' not to fire; it did"
    if "suppressed" in expect:
        got = sorted({s.action for s in decision.suppressed})
        if got != sorted(expect["suppressed"]):
            yield f"expected suppressed actions {sorted(expect['suppressed'])}; got {got}"


def _check_derived(decision: Decision, wanted: dict[str, Any]) -> Iterator[str]:
    derived = decision.derived()["situation"]
    for fact, value in wanted.items():
        got = derived.get(fact, {}).get("value")
        if got != value:
            yield f"expected derived '{fact}' = {value!r}; got {got!r}"


def _check_plan(decision: Decision, wanted: dict[str, Any]) -> Iterator[str]:
    """``plan: {budget: 2000, loans: {jiebei: {strategy: instalments, months: 31}}}``: the named
    figures of the advice's plan (null for unknown); fields not named are not checked."""
    if not wanted:
        return
    plan = decision.plan()
    for key in ("budget", "allocated"):
        if key in wanted and plan[key] != wanted[key]:
            yield f"expected plan {key} = {wanted[key]!r}; got {plan[key]!r}"
    entries = {e["loan_id"]: e for e in plan["loans"]}
    for loan_id, fields in wanted.get("loans", {}).items():
        entry = entries.get(loan_id)
        if entry is None:
            yield f"expected a plan entry for loan '{loan_id}'; there is none"
            continue
        for name, value in fields.items():
            if entry.get(name) != value:
                yield f"expected plan {loan_id}.{name} = {value!r}; got {entry.get(name)!r}"
