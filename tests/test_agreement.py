"""durable_rules and the pure-Python reference evaluation agree, for every rule and every test
situation of the default pack (its YAML cases and the examples)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.audit.testing import load_cases, test_files
from engine.load.situation import normalise, validate_situation
from engine.run.driver import run
from engine.run.reference import reference_run

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "rules" / "jiebei"


def _situations() -> list[tuple[str, dict[str, Any]]]:
    found = [(f"case: {c.name}", c.situation) for c in load_cases(test_files([PACK / "tests"]))]
    for path in sorted((ROOT / "examples").glob("*.json")):
        found.append((f"example: {path.name}", json.loads(path.read_text(encoding="utf-8"))))
    return found


SITUATIONS = _situations()


def test_there_are_situations_to_compare() -> None:
    assert len(SITUATIONS) >= 2


@pytest.mark.slow  # every shipped situation
@pytest.mark.parametrize(("name", "sit"), SITUATIONS, ids=[n for n, _ in SITUATIONS])
def test_engine_and_reference_agree(
    default_rules: engine.RuleSet, name: str, sit: dict[str, Any]
) -> None:
    normal = normalise(validate_situation(sit, name), dt.date(2026, 11, 28))
    fired = run(default_rules.runtime, normal)
    expected = reference_run(default_rules.compiled, normal)
    rules = default_rules.compiled.rules

    def ids(result: Any) -> list[tuple[str, str | None]]:
        return [(rules[f.rule_index].rule.id, f.loan_id) for f in result.firings]

    assert ids(fired) == ids(expected)
    assert fired.memory.values == expected.memory.values


@pytest.mark.slow  # every shipped situation
def test_the_explanation_agrees_with_what_fired(default_rules: engine.RuleSet) -> None:
    """Every reason's three-valued condition tree is true: explanations never contradict."""
    for name, sit in SITUATIONS:
        decision = engine.evaluate(default_rules, sit)
        for firing in decision.firings:
            result = decision.condition_result(firing.rule_index, firing.loan_id)
            assert result.result is True, (name, result.rule.id, firing.loan_id)


@pytest.mark.slow  # every shipped situation, schema-validated
@pytest.mark.parametrize(("name", "sit"), SITUATIONS, ids=[n for n, _ in SITUATIONS])
def test_advice_for_every_shipped_situation_is_valid(
    default_rules: engine.RuleSet, name: str, sit: dict[str, Any]
) -> None:
    """The SPEC §4 contract holds for the default pack on every case and example."""
    import jsonschema

    from engine.core.schemas import load_schema

    for locale in ("zh-CN", "en"):
        advice = engine.evaluate(default_rules, sit, locale=locale).to_advice(
            trace=True, near_misses=True
        )
        jsonschema.validate(advice, load_schema("advice"))


# --- the entity encoding's edge cases (issue 14) ----------------------------------------------
#
# Input facts travel in one entity fact per situation and per loan (a loan's carries the
# situation's facts too), unknowns as markers in their column, lists with their length; derived
# facts stay facts of their own, and their unknown markers go only to shards with a pattern that
# can match one. Each rule below leans on one of those, and every one of them fires on some
# situation and not on another, so agreement is not vacuous.

_T = "{en: t, zh-CN: 标题}"


def _rec(action: str) -> str:
    return (
        f"    recommend: {{action: {action}, priority: 10, urgency: this_week,"
        f" title: {_T}, message: {_T}}}\n"
    )


def _rule(rule_id: str, body: str, about: str = "situation") -> str:
    return f"  - id: {rule_id}\n    title: {_T}\n    source: guide §2.1\n    about: {about}\n{body}"


ENTITY_RULES = "rules:\n" + "".join(
    [
        _rule("income_unknown", "    when: {fact: borrower.monthly_income, op: unknown}\n")
        + _rec("build_budget"),
        _rule(
            "income_known_not_reduced",
            "    when: {all: [{fact: borrower.monthly_income, op: known},"
            " {fact: borrower.income_change, op: '!=', value: reduced}]}\n",
        )
        + _rec("contact_lender"),
        _rule(
            "situation_and_loan_in_one_entity",
            "    when: {all: [{fact: borrower.distress, op: '==', value: true},"
            " {fact: loan.status.legal, op: in, value: [lawsuit_notice, judgment]},"
            " {fact: loan.days_overdue, op: '>', value: 10}]}\n",
            "loan",
        )
        + _rec("pay_now"),
        _rule(
            "loan_amount_not_known",
            "    when: {not: {fact: loan.overdue_amount, op: known}}\n",
            "loan",
        )
        + _rec("prioritize_debts"),
        _rule(
            "lists",
            "    when: {any: [{fact: borrower.hardship, op: contains, value: job_loss},"
            " {fact: contact.channels_used, op: not_contains, value: app}]}\n",
        )
        + _rec("request_extension"),
        _rule(
            "derive_late",
            "    when: {fact: loan.days_overdue, op: '>=', value: 30}\n"
            "    derive: {fact: loan.late, value: 'true', unit: boolean}\n",
            "loan",
        ),
        _rule(
            "derive_pressure",
            "    derive: {fact: loan.pressure, value: 'loan.overdue_amount * 2', unit: money}\n",
            "loan",
        ),
        _rule(
            "late_unknown",
            "    when: {all: [{fact: loan.late, op: unknown},"
            " {fact: borrower.student, op: '!=', value: true}]}\n",
            "loan",
        )
        + _rec("set_reminders"),
        _rule(
            "derive_band",
            "    derive: {fact: loan.band, value: \"if(loan.pressure > 1000, 'high', 'low')\","
            " unit: text}\n",
            "loan",
        ),
        _rule(
            "band_high",
            "    when: {all: [{fact: loan.band, op: '==', value: high},"
            " {fact: loan.product, op: not_in, value: [huabei]}]}\n",
            "loan",
        )
        + _rec("propose_installments"),
        _rule(
            "derive_total",
            "    derive: {fact: total_pressure,"
            " value: 'sum_loans(coalesce(loan.pressure, 0))', unit: money}\n",
        ),
        _rule("total_big", "    when: {fact: total_pressure, op: '>', value: 5000}\n")
        + _rec("be_honest"),
        _rule(
            "calm_first",
            "    when: {fact: borrower.distress, op: '==', value: true}\n"
            "    suppress: {action: contact_lender, reason: {en: r, zh-CN: r}}\n",
        ),
    ]
)


def _entity_situations() -> list[dict[str, Any]]:
    from tests.packgen import matching_situation

    found: list[dict[str, Any]] = []
    for variant in range(8):
        sit = matching_situation(3)
        borrower, loans = sit["borrower"], sit["loans"]
        borrower["distress"] = variant % 2 == 0
        borrower["income_change"] = ["reduced", "none", "lost"][variant % 3]
        if variant % 4 != 3:
            borrower["student"] = variant == 6
        borrower["hardship"] = [] if variant % 3 == 0 else ["job_loss", "illness_or_injury"]
        sit["contact"]["channels_used"] = [] if variant % 4 == 1 else ["app"]
        if variant % 4 == 2:
            del borrower["monthly_income"]
        for i, loan in enumerate(loans):
            loan["days_overdue"] = (variant * 13 + i * 17) % 60
            loan["overdue_amount"] = 400 + 900 * ((variant + i) % 4)
            loan["status"]["legal"] = ["none", "lawsuit_notice", "judgment"][(variant + i) % 3]
            loan["product"] = ["jiebei", "huabei"][(variant + i) % 2]
        if variant in (3, 6):
            del loans[1]["overdue_amount"], loans[2]["days_overdue"]
        if variant == 5:
            del sit["loans"][1:]
        found.append(sit)
    return found


def test_the_entity_encoding_agrees_with_the_reference(make_pack: Any) -> None:
    ruleset = engine.load_rules([make_pack(ENTITY_RULES)])
    rules = ruleset.compiled.rules
    fired_somewhere: set[str] = set()
    for i, sit in enumerate(_entity_situations()):
        normal = normalise(validate_situation(sit, f"variant {i}"), dt.date(2026, 11, 28))
        fired = run(ruleset.runtime, normal)
        expected = reference_run(ruleset.compiled, normal)
        assert fired.firings == expected.firings, i
        assert fired.memory.values == expected.memory.values, i
        fired_somewhere |= {rules[f.rule_index].rule.id for f in fired.firings}
        advice = engine.evaluate(ruleset, sit, today=dt.date(2026, 11, 28)).to_advice()
        assert advice["recommendations"] or advice["suppressed"] or not fired.firings
    assert fired_somewhere == {c.rule.id for c in rules}


def test_input_facts_are_one_entity_fact_per_situation_and_loan(make_pack: Any) -> None:
    """Level 0 asserts at most the situation's entity, one per loan and the gate, per shard.

    The former encoding asserted one fact per input fact (54 of them, 22 per loan).
    """
    from tests.packgen import matching_situation

    ruleset = engine.load_rules([make_pack(ENTITY_RULES)])
    normal = normalise(matching_situation(3), dt.date(2026, 11, 28))
    trace = run(ruleset.runtime, normal).trace
    first = trace[0]
    assert first["op"] == "assert" and first["level"] == 0
    assert first["facts"] <= first["shards"] * (1 + 3 + 1)
