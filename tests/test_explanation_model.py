"""One explanation model (issue 10, step 2): each rule binding's conditions evaluated once.

``engine.rank.conditions.evaluate_rule`` gives a rule's condition tree for one binding with every node's
three-valued result; a decision keeps one per binding (``Decision.condition_result``), made when
first read, and its reasons, explanations, near misses, compare and coverage all read it. These
tests check that the tree agrees with the reference evaluator (the compiled DNF, in Python) for
every rule and binding, on the shipped situations, on generated ones and on the feature pack
(every operator, ``any``/``not``, parameters, chains, aggregates); that a condition is decided
once however many readers ask; and that the readers agree with each other.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import engine
from engine.audit import compare, explain, measure_coverage, near_misses, run_cases
from engine.audit.coverage import Coverage
from engine.audit.testing import Case, CaseResult, load_cases, test_files
from engine.core import operators
from engine.core.schemas import validator
from engine.core.source import Location
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.load.checks import leaves
from engine.load.situation import normalise, validate_situation
from engine.rank.conditions import GroupResult, NodeResult, RuleResult, combine, evaluate_rule
from engine.run.memory import Memory
from engine.run.reference import branch_holds, reference_run
from tests.fixtures.audit.helpers import CRISIS, PACK, UNKNOWN_INCOME, load
from tests.packgen import matching_situation, write_feature_pack
from tests.strategies import situations

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 28)
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _shipped() -> list[tuple[str, dict[str, Any]]]:
    cases = load_cases(test_files([ROOT / "rules" / "jiebei" / "tests"]))
    found = [(f"case: {c.name}", c.situation) for c in cases]
    found += [(f"example: {p.name}", load(p)) for p in EXAMPLES]
    return found


SHIPPED = _shipped()


@pytest.fixture(scope="module")
def builtin() -> engine.RuleSet:
    return engine.load_rules()


@pytest.fixture(scope="module")
def feature_rules(tmp_path_factory: pytest.TempPathFactory) -> engine.RuleSet:
    return engine.load_rules([write_feature_pack(tmp_path_factory.mktemp("features") / "p")])


def _bindings(memory: Memory, about: str) -> list[str | None]:
    return list(memory.loans) if about == "loan" else [None]


def _nodes(node: NodeResult) -> Iterator[NodeResult]:
    yield node
    if isinstance(node, GroupResult):
        for item in node.items:
            yield from _nodes(item)


def _check_tree(result: RuleResult, memory: Memory) -> None:
    """Every node is its items' Kleene combination; the leaves are the rule's, in written order,
    each with the value the memory holds for the binding."""
    rule = result.rule
    assert [leaf.leaf for leaf in result.leaves] == list(leaves(rule.when))
    assert [leaf.index for leaf in result.leaves] == list(range(len(result.leaves)))
    for leaf in result.leaves:
        value = memory.get(leaf.fact, result.loan_id)
        assert leaf.value is value or leaf.value == value
        assert leaf.known is (value is not UNKNOWN)
    if result.condition is None:
        assert result.result is True
        return
    assert list(result.condition.leaves()) == list(result.leaves)
    for node in _nodes(result.condition):
        if isinstance(node, GroupResult):
            assert node.result is combine(node.kind, [item.result for item in node.items])


def agrees_with_reference(ruleset: engine.RuleSet, normal: dict[str, Any]) -> int:
    """For every rule and binding: the tree is true exactly when the reference evaluator's DNF
    branches hold, and exactly when the reference fired it. Returns how many were true."""
    compiled = ruleset.compiled
    run = reference_run(compiled, normal)
    fired = {(f.rule_index, f.loan_id) for f in run.firings}
    true = 0
    for index, crule in enumerate(compiled.rules):
        for loan in _bindings(run.memory, crule.rule.about):
            result = evaluate_rule(crule.rule, run.memory, loan, index)
            holds = any(branch_holds(b, run.memory, loan) for b in crule.branches)
            assert (result.result is True) is holds, (crule.rule.id, loan, result.result)
            assert holds is ((index, loan) in fired), (crule.rule.id, loan)
            _check_tree(result, run.memory)
            true += holds
    return true


# --- the evaluator agrees with the reference --------------------------------------------------


def test_agrees_with_the_reference_on_the_examples(builtin: engine.RuleSet) -> None:
    true = 0
    for name, sit in SHIPPED:
        if name.startswith("example:"):
            true += agrees_with_reference(builtin, normalise(validate_situation(sit, name), TODAY))
    assert true > 50  # not vacuous: many rules apply


@pytest.mark.slow  # every shipped situation
def test_agrees_with_the_reference_on_every_shipped_situation(builtin: engine.RuleSet) -> None:
    for name, sit in SHIPPED:
        agrees_with_reference(builtin, normalise(validate_situation(sit, name), TODAY))


@pytest.mark.slow  # property test
@settings(max_examples=100, deadline=None)
@given(situations())
def test_agrees_with_the_reference_on_generated_situations(
    builtin: engine.RuleSet, sit: dict[str, Any]
) -> None:
    agrees_with_reference(builtin, normalise(validate_situation(sit, "<generated>"), TODAY))


@pytest.mark.slow  # property test
@settings(max_examples=100, deadline=None)
@given(situations())
def test_agrees_with_the_reference_on_the_feature_pack(
    feature_rules: engine.RuleSet, sit: dict[str, Any]
) -> None:
    """Every operator, plain and under ``not``, ``any``, parameters, chains and aggregates."""
    agrees_with_reference(feature_rules, normalise(validate_situation(sit, "<generated>"), TODAY))


def test_agrees_with_the_reference_on_a_matching_feature_situation(
    feature_rules: engine.RuleSet,
) -> None:
    assert agrees_with_reference(feature_rules, normalise(matching_situation(3), TODAY)) > 0


def test_a_decision_fired_exactly_the_bindings_whose_tree_is_true(
    builtin: engine.RuleSet,
) -> None:
    """The same through ``evaluate`` (durable_rules) and ``Decision.condition_result``."""
    for path in EXAMPLES:
        decision = engine.evaluate(builtin, load(path), today=TODAY)
        fired = {(f.rule_index, f.loan_id) for f in decision.firings}
        for index, crule in enumerate(builtin.compiled.rules):
            for loan in _bindings(decision.memory, crule.rule.about):
                truth = decision.condition_result(index, loan).result
                assert (truth is True) is ((index, loan) in fired), (path.name, crule.rule.id)


# --- evaluated once, whoever reads it ---------------------------------------------------------


def count_operator_tests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count every decision of a leaf on a known value (the operator table's ``test``)."""
    calls: list[str] = []
    for name, entry in list(operators.OPERATORS.items()):

        def counted(a: Any, b: Any, real: Any = entry.test, name: str = name) -> bool:
            calls.append(name)
            return bool(real(a, b))

        monkeypatch.setitem(
            operators.OPERATORS,  # type: ignore[arg-type]
            name,
            dataclasses.replace(entry, test=counted),
        )
    return calls


def read_everything(decision: Decision, ruleset: engine.RuleSet) -> None:
    """Every reader of a decision's conditions: reasons (advice), near misses, explain of every
    action and rule, compare, and coverage."""
    decision.to_advice(near_misses=True)
    for target in [*ruleset.pack.actions, *(r.id for r in ruleset.pack.rules)]:
        explain(decision, target)
    actions = list(ruleset.pack.actions)
    compare(decision, actions[0], actions[1])
    case = Case("read", dict(decision.situation), {}, Location("<test>", 1, 1))
    measure_coverage(ruleset, [CaseResult(case, decision=decision)])


def known_leaves(decision: Decision, ruleset: engine.RuleSet) -> int:
    memory = decision.memory
    return sum(
        memory.get(leaf.fact, loan) is not UNKNOWN
        for crule in ruleset.compiled.rules
        for loan in _bindings(memory, crule.rule.about)
        for leaf in leaves(crule.rule.when)
    )


@pytest.mark.parametrize(("pack", "situation"), [(None, EXAMPLES[0]), (PACK, UNKNOWN_INCOME)])
def test_each_condition_is_decided_once_however_many_readers(
    monkeypatch: pytest.MonkeyPatch, pack: Path | None, situation: Path
) -> None:
    ruleset = engine.load_rules([pack] if pack else None)
    decision = engine.evaluate(ruleset, load(situation), today=TODAY)
    calls = count_operator_tests(monkeypatch)
    read_everything(decision, ruleset)
    first = len(calls)
    assert 0 < first <= known_leaves(decision, ruleset)  # each known leaf decided at most once
    read_everything(decision, ruleset)
    assert len(calls) == first  # read again: nothing decided again


def test_evaluate_alone_evaluates_no_condition(
    builtin: engine.RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, str | None]] = []
    real = evaluate_rule

    def counted(rule: Any, memory: Memory, loan: str | None, *more: Any) -> RuleResult:
        made.append((rule.id, loan))
        return real(rule, memory, loan, *more)

    monkeypatch.setattr("engine.rank.conditions.evaluate_rule", counted)
    for backend in engine.api.BACKENDS:
        decision = engine.evaluate(builtin, load(EXAMPLES[0]), today=TODAY, backend=backend)
        assert [r.action for r in decision.recommendations]
        assert made == []
    first = decision.recommendations[0]
    reasons = first.reasons
    assert sorted(made) == sorted({(r.rule_id, r.loan_id) for r in reasons})
    # explaining that action again reads the bindings its reasons made
    explain(decision, first.action)
    assert len(made) == len(set(made))


# --- the readers agree -------------------------------------------------------------------------


def _explained_leaves(item: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if node["kind"] == "leaf":
            found.append(node)
        else:
            for sub in node["items"]:
                walk(sub)

    if item["condition"] is not None:
        walk(item["condition"])
    return found


@pytest.mark.slow  # explains every action of every example: make test, not make test-fast
def test_the_advice_and_explain_show_the_same_conditions(builtin: engine.RuleSet) -> None:
    """Each reason of the advice lists exactly the leaves, values and results that explain shows
    for that rule and loan."""
    compared = 0
    for path in EXAMPLES:
        decision = engine.evaluate(builtin, load(path), today=TODAY)
        advice = decision.to_advice()
        for rec in advice["recommendations"]:
            doc = explain(decision, rec["action"]).as_dict()
            shown = {(e["rule_id"], e["loan_id"]): e for e in doc["explanations"]}
            for reason in rec["reasons"]:
                item = shown[(reason["rule_id"], reason["loan_id"])]
                assert item["fired"] is True
                leaves_shown = [
                    (leaf["fact"], leaf["op"], leaf["actual"], leaf["result"], leaf["location"])
                    for leaf in _explained_leaves(item)
                ]
                assert leaves_shown == [
                    (c["fact"], c["op"], c["actual"], c["result"], c["location"])
                    for c in reason["conditions"]
                ]
                compared += 1
    assert compared > 30


def test_coverage_counts_what_the_decisions_show(builtin: engine.RuleSet) -> None:
    """A leaf is covered exactly when some binding of some case showed it true and some false."""
    cases = load_cases(test_files([ROOT / "rules" / "jiebei" / "tests"]))[:25]
    results = run_cases(builtin, cases)
    cov: Coverage = measure_coverage(builtin, results)
    seen: dict[tuple[str, int], set[bool]] = {}
    for result in results:
        assert result.decision is not None
        for index, crule in enumerate(builtin.compiled.rules):
            for loan in _bindings(result.decision.memory, crule.rule.about):
                for leaf in result.decision.condition_result(index, loan).leaves:
                    if leaf.result is not None:
                        seen.setdefault((crule.rule.id, leaf.index), set()).add(leaf.result)
    assert {(c.rule_id, c.index): set(c.seen) for c in cov.leaves if c.seen} == seen


# --- the documents ------------------------------------------------------------------------------


@pytest.mark.slow  # every action and rule of the built-in pack, schema-validated
def test_every_explanation_of_the_examples_is_valid(builtin: engine.RuleSet) -> None:
    schema = validator("explain")
    targets = [*builtin.pack.actions, *(r.id for r in builtin.pack.rules)]
    for path in EXAMPLES[:4]:
        decision = engine.evaluate(builtin, load(path), today=TODAY)
        for target in targets:
            schema.validate(explain(decision, target).as_dict())


def test_a_document_cannot_be_changed_through_its_json() -> None:
    decision = engine.evaluate(engine.load_rules([PACK]), load(CRISIS), today=TODAY)
    for doc in (
        explain(decision, "pay_now"),
        compare(decision, "escalate_complaint", "contact_lender"),
    ):
        shown = doc.as_dict()
        before = json.dumps(shown, ensure_ascii=False)
        mangled = copy.deepcopy(shown)
        shown.clear()
        assert json.dumps(doc.as_dict(), ensure_ascii=False) == before
        assert mangled == doc.as_dict()
        with pytest.raises(dataclasses.FrozenInstanceError):
            doc.header = doc.header  # type: ignore[misc]
    for item in near_misses(engine.evaluate(engine.load_rules([PACK]), load(UNKNOWN_INCOME))):
        assert item.as_dict()["changes"]
