"""What a fact could still be (engine/interview/possible.py, docs/interview.md): candidate
answers, derive expressions over sets of values, and the interview's value sets against a run."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from engine import Interview, load_rules
from engine.core.values import UNKNOWN
from engine.interview import load_book, replay, value_at
from engine.interview import possible as P
from engine.interview.possible import candidates, expression_values, freeze
from engine.interview.relevance import Relevance
from engine.load.situation import load_situation_file
from engine.pack.expr import compile_expr, parse
from engine.pack.model import Derive

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ruleset() -> Any:
    return load_rules()


def _values(text: str, given: dict[str, set[Any]], unit: str = "boolean") -> Any:
    node = parse(text)
    keys = [(name, None) for name in given]
    table = {(name, None): frozenset(v) for name, v in given.items()}
    return expression_values(compile_expr(node), node, unit, None, (), keys, table.get, {})


def test_an_expression_over_sets_of_values_and_what_it_is_sensitive_to() -> None:
    values, sensitive = _values("coalesce(a, 0) > 5 or b", {"a": {1, 10, UNKNOWN}, "b": {True}})
    assert values == {True} and sensitive == frozenset()  # b settles it: a cannot matter
    values, sensitive = _values("coalesce(a, 0) > 5 or b", {"a": {1, 10, UNKNOWN}, "b": {False}})
    assert values == {True, False} and sensitive == {("a", None)}


def test_node_by_node_finds_every_value_of_the_pack_expressions(
    ruleset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over every derive expression of the pack, each variable at its value in an example or
    unknown: the node-by-node evaluation (used past MAX_COMBINATIONS) finds at least every value
    that evaluating each combination finds, and is sensitive to at least the same variables."""
    known = load_situation_file(ROOT / "examples" / "first-late-payment.json")
    memory = Interview(ruleset, known).decision().memory
    loans = tuple(memory.loans)
    parameters = {n: p.value for n, p in ruleset.pack.parameters.items()}
    compared = 0
    for crule in ruleset.compiled.rules:
        then = crule.rule.then
        if not isinstance(then, Derive):
            continue
        loan = loans[0] if crule.rule.about == "loan" else None
        keys: dict[tuple[str, str | None], None] = {}
        for name in crule.reads:
            if name.startswith("loan."):
                keys.update(((name, lid), None) for lid in loans)
            else:
                keys[(name, None)] = None
        table = {k: frozenset({freeze(memory.get(*k)), UNKNOWN}) for k in keys}
        unit = ruleset.compiled.facts[then.fact].unit
        args = (compile_expr(then.expr), then.expr, unit, loan, loans, list(keys), table.get)
        exact, exact_sensitive = expression_values(*args, parameters)
        monkeypatch.setattr(P, "MAX_COMBINATIONS", 0)
        nodes, nodes_sensitive = expression_values(*args, parameters)
        monkeypatch.undo()
        assert exact is not None
        assert nodes is None or exact <= nodes, crule.rule.id
        assert exact_sensitive <= nodes_sensitive, crule.rule.id
        compared += 1
    assert compared > 80


def test_candidate_answers_stay_valid_and_cross_the_thresholds(ruleset: Any) -> None:
    as_of = "2026-11-28"
    today = dt.date.fromisoformat(as_of)
    missed = candidates(ruleset.compiled, "loan.first_missed_due_date", as_of, [])
    assert missed and all(str(d) <= as_of for d in missed)  # a missed date is never ahead
    due = candidates(ruleset.compiled, "loan.next_due_date", as_of, [])
    assert due is not None
    around = {(today + dt.timedelta(days=d)).isoformat() for d in (-1, 0, 1)}
    assert around <= set(due)  # days_to_due >= 0 is crossed
    income = candidates(ruleset.compiled, "borrower.monthly_income", as_of, [3800])
    assert income is not None and {0, 1_000_000_000, 3799, 3800, 3801} <= set(income)
    assert candidates(ruleset.compiled, "borrower.distress", as_of, []) == (True, False)


@pytest.mark.parametrize(
    "name", ["first-late-payment.json", pytest.param("distress.json", marks=pytest.mark.slow)]
)
def test_every_fact_of_an_interview_is_among_its_possible_values(ruleset: Any, name: str) -> None:
    """At each step of an interview, what the run derived is one of the values the analysis
    says the fact could take (the situation as it stands is one of the combinations)."""
    book = load_book(ruleset.pack)
    known = load_situation_file(ROOT / "examples" / name)
    session = Interview(ruleset, {"as_of": known["as_of"]}, locale=known["locale"])
    steps = 0
    for asked in replay(ruleset, known).asked:
        decision = session.decision()
        relevance = Relevance(decision, book.top)
        for key, value in decision.memory.values.items():
            found = relevance.values.get(key)
            assert found is None or freeze(value) in found, (asked, key, value)
        steps += 1
        value = value_at(known, asked)
        if asked == "loans":
            session.answer(
                "loans", [{"id": x["id"], "product": x["product"]} for x in known["loans"]]
            )
        elif value is UNKNOWN:
            session.skip(asked)
        else:
            session.answer(asked, value)
    assert steps > 20


def test_list_candidates_cover_each_item_and_every_length() -> None:
    found = P._list_candidates(load_rules().compiled.facts["contact.channels_used"])
    assert found is not None
    items = ("app", "hotline", "other")
    assert {(), ("app",), ("hotline",), ("other",), ("app", "hotline"), items} <= set(found)
    assert all(len(set(c)) == len(c) for c in found if isinstance(c, tuple))
    assert not any(set(c) - set(items) for c in found if isinstance(c, tuple))
    assert len(list(itertools.chain(found))) == len(set(found))
