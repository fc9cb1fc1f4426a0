"""Property tests: any valid situation evaluates cleanly and both evaluators agree; any bytes give
advice or exit code 2, never a traceback.

The rules are the feature pack of ``tests/packgen.py`` (every operator, chaining, aggregates,
adjust and suppress), written to a temporary directory so that edits to ``rules/`` do not move
these tests. Example counts keep the whole module well under a minute.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from engine.api import RuleSet, evaluate, load_rules
from engine.core.encoding import to_engine_json
from engine.core.schemas import validator
from engine.load import situation as situation_module
from engine.load.fastschema import checker, copier
from engine.load.situation import load_situation_bytes, normalise
from engine.pack.expr import UNKNOWN
from engine.present.rendering import render_json
from engine.run.driver import _Driver, run
from engine.run.entities import reader
from engine.run.memory import Memory, SituationMemory
from engine.run.reference import reference_run
from engine.run.rete import FACT_IDS
from tests.packgen import write_feature_pack
from tests.strategies import arbitrary_bytes, mutated_bytes, situation_bytes, situations

TODAY = datetime.date(2026, 11, 28)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_pack(tmp_path_factory.mktemp("properties") / "features")


@pytest.fixture(scope="module")
def rules(pack_dir: Path) -> RuleSet:
    return load_rules([pack_dir])


def derived_values(ruleset: RuleSet, values: dict[Any, Any]) -> dict[Any, Any]:
    derived = ruleset.compiled.levels
    return {key: value for key, value in values.items() if key[0] in derived}


def check_agreement(ruleset: RuleSet, situation: dict[str, Any]) -> None:
    """durable_rules and the pure-Python reference fire the same rules and derive the same."""
    normal = normalise(situation, TODAY)
    engine = run(ruleset.runtime, normal)
    reference = reference_run(ruleset.compiled, normal)
    assert engine.firings == reference.firings
    assert [f.loan_id for f in engine.firings] == [f.loan_id for f in reference.firings]
    assert derived_values(ruleset, engine.memory.values) == derived_values(
        ruleset, reference.memory.values
    )


def check_advice(ruleset: RuleSet, situation: dict[str, Any]) -> None:
    decision = evaluate(ruleset, situation, today=TODAY, validated=True)
    advice = decision.to_advice()
    errors = sorted(validator("advice").iter_errors(advice), key=str)
    assert not errors, errors[0]
    first = render_json(advice)
    again = render_json(evaluate(ruleset, situation, today=TODAY, validated=True).to_advice())
    assert first == again
    recommendations = advice["recommendations"]
    assert [r["rank"] for r in recommendations] == list(range(1, len(recommendations) + 1))
    assert all(r["reasons"] for r in recommendations)
    recommended = {r["action"] for r in recommendations}
    assert len(recommended) == len(recommendations)
    assert not recommended & {s["action"] for s in advice["suppressed"]}
    scores = [r["score"] for r in recommendations]
    assert scores == sorted(scores, reverse=True)


@SETTINGS
@given(situations())
def test_any_valid_situation_is_advised_and_the_evaluators_agree(
    rules: RuleSet, situation: dict[str, Any]
) -> None:
    data = json.dumps(situation, ensure_ascii=False).encode("utf-8")
    assert load_situation_bytes(data, "<gen>") == situation  # the strategy draws valid input
    check_advice(rules, situation)
    check_agreement(rules, situation)


@settings(SETTINGS, max_examples=60)
@given(st.lists(situations(), min_size=2, max_size=4))
def test_evaluations_do_not_influence_each_other(
    rules: RuleSet, batch: list[dict[str, Any]]
) -> None:
    """Interleaving other evaluations changes nothing (no state leaks between sids)."""
    alone = [render_json(evaluate(rules, s, today=TODAY).to_advice()) for s in batch]
    reversed_run = [render_json(evaluate(rules, s, today=TODAY).to_advice()) for s in batch[::-1]]
    assert alone == reversed_run[::-1]


def _invoke(pack_dir: Path, data: bytes) -> Any:
    return CliRunner().invoke(
        app, ["advise", "-", "--rules", str(pack_dir), "--format", "json"], input=data
    )


@settings(SETTINGS, max_examples=200)
@given(arbitrary_bytes())
def test_any_bytes_give_advice_or_exit_2(pack_dir: Path, data: bytes) -> None:
    result = _invoke(pack_dir, data)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 2), output
    if result.exit_code == 2:
        assert result.stdout == ""
        assert result.stderr.startswith("xieshang: ")
    else:
        advice = json.loads(result.stdout)
        assert not list(validator("advice").iter_errors(advice))


@settings(SETTINGS, max_examples=25)
@given(situation_bytes())
def test_valid_bytes_always_give_advice(pack_dir: Path, data: bytes) -> None:
    result = _invoke(pack_dir, data)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["schema_version"] == 1


def test_unknown_stays_unknown_in_agreement(rules: RuleSet) -> None:
    """The emptiest situation: every derived fact unknown or zero, both evaluators agree."""
    situation = {"schema_version": 1, "loans": [{"id": "a", "product": "jiebei"}]}
    check_agreement(rules, situation)
    result = reference_run(rules.compiled, normalise(situation, TODAY))
    assert result.memory.values[("disposable_income", None)] is UNKNOWN


# --- the fast paths agree with the slow ones ---------------------------------------------------


def _tweak(doc: dict[str, Any]) -> dict[str, Any]:
    """Near-misses of the schema: an integer as a float, a bool for a number, a bad date."""
    out = json.loads(json.dumps(doc))
    loan = out["loans"][0]
    loan["days_overdue"] = float(loan.get("days_overdue", 3))
    out.setdefault("borrower", {})["monthly_income"] = True
    out["as_of"] = "2026-02-30"
    out["contact"] = {"channels_used": ["app", "app"]}
    return out


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


@settings(SETTINGS, max_examples=300)
@given(st.one_of(situations(), mutated_bytes().map(_json_or_none), situations().map(_tweak)))
def test_the_fast_schema_check_accepts_only_valid_documents(doc: Any) -> None:
    fast = checker("situation")
    assert fast is not None
    valid = not list(validator("situation").iter_errors(doc))
    if fast(doc):
        assert valid, doc


@settings(SETTINGS, max_examples=100)
@given(situations())
def test_the_fast_schema_check_accepts_valid_situations(doc: dict[str, Any]) -> None:
    fast = checker("situation")
    assert fast is not None and fast(doc)


def _checked_copy(doc: Any) -> Any:
    """The situation's generated checked copy (``validate_and_normalise``'s fast path)."""
    made = copier("situation", situation_module._plain_text, situation_module.MAX_DEPTH)
    assert made is not None
    return made(doc)


def _unsafe(doc: dict[str, Any]) -> dict[str, Any]:
    """What only the structural walk refuses: unsafe text, NaN, a duplicate-key object."""
    out = json.loads(json.dumps(doc))
    loan = out["loans"][-1]
    loan["lender"] = "Ant\u202e"
    out.setdefault("borrower", {})["liquid_savings"] = float("nan")
    out["plans"] = situation_module._DuplicateKeyObject([("can_pay_now", 1)], "can_pay_now")
    return out


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in _containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in _containers(item))]
    return []


@settings(SETTINGS, max_examples=300)
@given(
    st.one_of(
        situations(),
        mutated_bytes().map(_json_or_none),
        situations().map(_tweak),
        situations().map(_unsafe),
    )
)
def test_the_checked_copy_copies_only_plain_valid_documents(doc: Any) -> None:
    copied = _checked_copy(doc)
    if copied is None:
        return
    assert not list(validator("situation").iter_errors(doc)), doc
    assert situation_module._plain(doc, 1), doc
    assert copied == doc and json.dumps(copied) == json.dumps(doc)  # the same keys in order
    assert not set(_containers(copied)) & set(_containers(doc))  # a deep copy


@settings(SETTINGS, max_examples=100)
@given(situations())
def test_the_checked_copy_copies_valid_situations(doc: dict[str, Any]) -> None:
    copied = _checked_copy(doc)
    assert copied == doc and json.dumps(copied) == json.dumps(doc)
    assert _checked_copy(_unsafe(doc)) is None


@settings(SETTINGS, max_examples=200)
@given(
    st.sampled_from(["loan.days_overdue", "borrower.hardship", "as_of", "名字"]),
    st.one_of(st.none(), st.text(max_size=8)),
    st.one_of(
        st.just(UNKNOWN),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
        st.lists(st.text(max_size=5), max_size=3),
    ),
)
def test_fact_encoding_is_the_engine_json_of_the_fact(
    rules: RuleSet, fact: str, loan: str | None, value: Any
) -> None:
    driver = _Driver(rules.runtime, Memory({}, []), None)
    driver.session.close()  # only its sid is used: facts carry it from the start
    body: dict[str, Any] = {"sid": driver.session.sid, "id": FACT_IDS.get(0), "a": fact}
    if value is UNKNOWN:
        body["u"] = 1
    else:
        body["v"] = value
        if isinstance(value, list):
            body["n"] = len(value)
    if loan is not None:
        body["l"] = loan
    assert driver.encode(fact, loan, value) == to_engine_json(body)


ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(SETTINGS, max_examples=300)
@given(situations(), st.data())
def test_generated_entity_facts_are_the_general_ones_for_any_value(
    rules: RuleSet, situation: dict[str, Any], data: st.DataObject
) -> None:
    """A one-loan situation with any value (or none) at the facts its rules test: the generated
    encoder writes what the general path writes, or refuses with the same error."""
    normal = normalise(situation, TODAY)
    loan = {"id": "a", **(normal["loans"][0] if normal["loans"] else {})}
    normal = {**normal, "loans": [loan]}
    for fact in data.draw(st.lists(st.sampled_from(sorted(rules.compiled.columns)), max_size=4)):
        *path, last = fact.split(".")
        node = loan if path[0] == "loan" else normal
        for part in path[1:] if path[0] == "loan" else path:
            node = node.setdefault(part, {}) if isinstance(node.get(part), dict | None) else {}
        node[last] = data.draw(ANY_VALUE)

    def facts(memory: Memory) -> Any:
        driver = _Driver(rules.runtime, memory, None)
        try:
            made = driver.entities()
        except Exception as error:  # the same refusal either way
            return type(error), str(error)
        finally:
            driver.session.close()
        head = f'"sid":"{driver.session.sid}"'
        return {shard: [f.replace(head, "") for f in texts] for shard, texts in made.items()}

    lazy = SituationMemory(normal, loan, loan["id"], reader())
    assert facts(lazy) == facts(Memory.from_situation(normal))
