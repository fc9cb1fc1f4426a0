"""The SPEC §7.2 plan invariants, on every shipped situation and on generated ones.

Each advice's ``plan`` must be valid against the advice schema and keep these promises:
``allocated`` ≤ ``budget``; ``allocated`` is the sum of the entries paid from the budget; an
instalment strategy only within the months ceiling and never below the interest;
``monthly_payment × months`` covers what it claims to clear; no monthly payment above what is
owed; no figure from a missing input. Every borrower-facing text keeps them too: a loan's monthly
offer is quoted with one figure only (its plan entry's), money is never negative, and English
never says "1 months".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.audit.testing import load_cases, test_files
from engine.core.schemas import validator
from engine.pack.template import format_value
from tests.strategies import situations

ROOT = Path(__file__).resolve().parent.parent
RULESET = engine.load_rules()
CEILING = RULESET.pack.parameters["plan_max_months"].value
SHARED = ("instalments", "personalized_instalments", "court", "token_payment", "catch_up")


def shipped() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((ROOT / "examples").glob("*.json")):
        yield path.name, json.loads(path.read_text(encoding="utf-8"))
    for case in load_cases(test_files([ROOT / "rules" / "jiebei"])):
        yield case.name, case.situation


SHIPPED = list(shipped())


def check_plan(situation: dict[str, Any], advice: dict[str, Any]) -> None:
    validator("advice").validate(advice)
    plan = advice["plan"]
    loans = {loan["id"]: loan for loan in situation["loans"]}
    assert [e["loan_id"] for e in plan["loans"]] == list(loans)  # one entry per loan, in order
    budget, allocated = plan["budget"], plan["allocated"]
    borrower = situation.get("borrower", {})
    if budget is not None:
        assert budget >= 0
        assert "monthly_income" in borrower and "monthly_essential_expenses" in borrower
        assert (
            allocated is not None
            or any(e["strategy"] is None for e in plan["loans"])
            or any(
                e["monthly_payment"] is None and e["strategy"] not in ("pause", "priority_debt")
                for e in plan["loans"]
            )
        )
    if budget is not None and allocated is not None:
        assert allocated <= budget + 1e-6
        paid = [e for e in plan["loans"] if e["strategy"] not in ("priority_debt", "pause")]
        assert allocated == pytest.approx(sum(e["monthly_payment"] for e in paid))
    for entry in plan["loans"]:
        check_entry(entry, loans[entry["loan_id"]], borrower)


def check_entry(entry: dict[str, Any], loan: dict[str, Any], borrower: dict[str, Any]) -> None:
    strategy, monthly, months = entry["strategy"], entry["monthly_payment"], entry["months"]
    balance = loan.get("outstanding_balance")
    owed = None if balance is None else balance - (entry["pay_now"] or 0)
    if strategy in ("instalments", "personalized_instalments"):
        assert months is not None and months <= CEILING
        assert entry["covers_interest"] is not False
    if strategy == "personalized_instalments":
        assert loan["product"] == "credit_card"
    if monthly is not None and owed is not None:
        assert monthly <= max(owed, 0) + 1e-6
    if strategy in ("instalments", "personalized_instalments", "court") and months is not None:
        assert owed is not None and monthly * months >= owed - 1e-6
    if strategy == "catch_up":
        arrears = loan["overdue_amount"] - (entry["pay_now"] or 0)
        assert (monthly - loan["monthly_payment"]) * months >= arrears - 1e-6
        assert monthly - loan["monthly_payment"] <= arrears + 1e-6  # the extra never exceeds it
    if strategy in SHARED and monthly is not None:
        # a share of the budget needs the budget's inputs and the balance it is shared by
        assert "monthly_income" in borrower and "monthly_essential_expenses" in borrower
        assert balance is not None
    if strategy in ("none", "pay_now") and monthly is not None:
        assert "monthly_payment" in loan
    if entry["monthly_interest"] is not None:
        assert "annual_rate" in loan and balance is not None
    if entry["pay_now"] is not None:
        assert entry["pay_now"] > 0 and "overdue_amount" in loan
        assert entry["pay_now"] <= loan["overdue_amount"]


_OFFER = {
    "en": re.compile(r"(?:offer|[Pp]ay|lower it to|Ask for|token) (¥[\d,]+\.\d\d) a month"),
    "zh-CN": re.compile(
        r"(?:每月还|每月象征性还|降到每月|每月按时还|每月照合同还) ?(¥[\d,]+\.\d\d)"
    ),
}


def texts_by_loan(advice: dict[str, Any]) -> Iterator[tuple[list[str], str]]:
    """Every borrower-facing text with the loans it speaks of ([] for the whole situation)."""
    ids = [e["loan_id"] for e in advice["plan"]["loans"]]
    joiner = "、" if advice["locale"] == "zh-CN" else ", "
    # messages name a loan as a person knows it (SPEC §7.3): map the pack's names back to loan
    # ids; a name two loans share is ambiguous and checks nothing
    name_fact = "loan.name_zh" if advice["locale"] == "zh-CN" else "loan.name_en"
    by_name: dict[str, list[str]] = {loan_id: [loan_id] for loan_id in ids}
    for loan_id, facts in advice["derived"]["loans"].items():
        if name_fact in facts:
            by_name.setdefault(facts[name_fact]["value"], []).append(loan_id)
    for rec in advice["recommendations"]:
        yield [], rec["title"]
        for line in rec["message"].splitlines():
            head = re.match(r"「([^」]+)」|^([^:：]+)[:：]", line)
            named = (head.group(1) or head.group(2)).split(joiner) if head else []
            yield [by_name[n][0] for n in named if len(set(by_name.get(n, []))) == 1], line
    for entry in advice["plan"]["loans"]:
        if entry["why"]:
            yield [entry["loan_id"]], entry["why"]
    for s in advice["suppressed"]:
        yield [], s["reason"]


def check_texts(advice: dict[str, Any]) -> None:
    locale = advice["locale"]
    monthly = {e["loan_id"]: e["monthly_payment"] for e in advice["plan"]["loans"]}
    for loan_ids, text in texts_by_loan(advice):
        assert not re.search(r"-¥|¥-", text), text  # money is never negative in words
        if locale == "en":
            assert not re.search(r"\b1 months\b", text), text
        for loan_id in loan_ids:
            for figure in _OFFER[locale].findall(text):
                assert figure == format_value(monthly[loan_id], "money", {}), (loan_id, text)


@pytest.mark.slow  # every shipped situation
@pytest.mark.parametrize(("name", "situation"), SHIPPED, ids=[n for n, _ in SHIPPED])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_plan_invariants_on_every_shipped_situation(
    name: str, situation: dict[str, Any], locale: str
) -> None:
    advice = engine.evaluate(RULESET, situation, locale=locale).to_advice()
    check_plan(situation, advice)
    check_texts(advice)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(situations())
def test_plan_invariants_on_generated_situations(situation: dict[str, Any]) -> None:
    for locale in ("zh-CN", "en"):
        advice = engine.evaluate(RULESET, situation, locale=locale).to_advice()
        check_plan(situation, advice)
        check_texts(advice)


def test_the_offer_pattern_finds_a_contradiction() -> None:
    """The text check is not vacuous: a second monthly figure for a loan is caught."""
    advice = engine.evaluate(RULESET, dict(_SPLIT), locale="en").to_advice()
    check_texts(advice)
    found = [t for ids, t in texts_by_loan(advice) if ids and _OFFER["en"].search(t)]
    assert found  # the plan's offer is quoted in a message attributed to its loan
    broken = json.loads(json.dumps(advice))
    broken["plan"]["loans"][1]["monthly_payment"] += 1
    with pytest.raises(AssertionError):
        check_texts(broken)


_SPLIT = {
    "schema_version": 1,
    "as_of": "2026-11-28",
    "borrower": {"monthly_income": 6000, "monthly_essential_expenses": 4000},
    "loans": [
        {
            "id": "huabei",
            "product": "huabei",
            "outstanding_balance": 3000,
            "annual_rate": 0.18,
            "monthly_payment": 500,
            "days_overdue": 0,
        },
        {
            "id": "jiebei",
            "product": "jiebei",
            "outstanding_balance": 20000,
            "overdue_amount": 2000,
            "annual_rate": 0.18,
            "monthly_payment": 2000,
            "days_overdue": 15,
        },
    ],
}


PRODUCTS = (
    "jiebei",
    "huabei",
    "credit_card",
    "alipay_bank_credit",
    "weilidai",
    "other_online_loan",
    "private_loan",
    "mortgage",
    "car_loan",
)
LEGAL = ("none", "pre_suit_mediation", "lawsuit_notice", "payment_order", "judgment")


@st.composite
def budgeted_situations(draw: st.DrawFn) -> dict[str, Any]:
    """Situations with the figures the plan needs (income, essentials, balances, rates), so the
    shares, catch-ups, token payments, lump sums and arrangements are all exercised."""
    money = st.integers(min_value=0, max_value=60_000)
    loans = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        balance = draw(st.integers(min_value=0, max_value=300_000))
        overdue = draw(st.integers(min_value=0, max_value=balance))
        loan: dict[str, Any] = {
            "id": f"l{i}",
            "product": draw(st.sampled_from(PRODUCTS)),
            "outstanding_balance": balance,
            "days_overdue": draw(st.sampled_from([0, 0, 5, 40, 200])),
            "annual_rate": draw(st.sampled_from([0, 0.073, 0.1825, 0.24, 0.36])),
            "monthly_payment": draw(st.integers(min_value=0, max_value=8_000)),
        }
        if loan["days_overdue"] > 0:
            loan["overdue_amount"] = overdue
            loan["status"] = {"legal": draw(st.sampled_from(LEGAL))}
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            loan["arrangement"] = {"status": "agreed", "monthly_payment": draw(money)}
        loans.append(loan)
    plans: dict[str, Any] = {"can_pay_now": draw(st.sampled_from([0, 300, 2_000, 50_000]))}
    if draw(st.booleans()):
        plans["offer_monthly"] = draw(st.integers(min_value=0, max_value=5_000))
    return {
        "schema_version": 1,
        "as_of": draw(st.sampled_from(["2026-02-01", "2026-11-28"])),
        "borrower": {
            "monthly_income": draw(money),
            "monthly_essential_expenses": draw(st.integers(min_value=0, max_value=20_000)),
        },
        "plans": plans,
        "loans": loans,
    }


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(budgeted_situations())
def test_plan_invariants_on_generated_situations_with_budgets(situation: dict[str, Any]) -> None:
    for locale in ("zh-CN", "en"):
        advice = engine.evaluate(RULESET, situation, locale=locale).to_advice()
        check_plan(situation, advice)
        check_texts(advice)
