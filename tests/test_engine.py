"""Engine semantics on small packs: unknowns, negation, scope, chaining, aggregates, ranking."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.core.errors import EvaluationError, FiringBudgetExceeded
from engine.load.situation import normalise
from engine.run.driver import run
from engine.run.reference import reference_run
from tests.conftest import PackFactory, situation

ROOT = Path(__file__).resolve().parent.parent

TITLE = "title: {en: t, zh-CN: t}"


def recommend(
    action: str, priority: int = 50, urgency: str = "this_week", message: str = "m"
) -> str:
    return (
        f"recommend: {{action: {action}, priority: {priority}, urgency: {urgency},"
        f" title: {{en: {action}, zh-CN: {action}}},"
        f" message: {{en: '{message}', zh-CN: '{message}'}}}}"
    )


def actions(decision: engine.Decision) -> list[str]:
    return [r.action for r in decision.recommendations]


def agree(ruleset: engine.RuleSet, sit: dict[str, Any]) -> None:
    normal = normalise(sit, dt.date(2026, 11, 28))
    engine_run = run(ruleset.runtime, normal)
    reference = reference_run(ruleset.compiled, normal)
    assert engine_run.firings == reference.firings
    assert engine_run.memory.values == reference.memory.values


NOT_RULES = f"""
rules:
  - id: not_distressed
    {TITLE}
    source: guide §2.1
    when: {{not: {{fact: borrower.distress, op: "==", value: true}}}}
    {recommend("build_budget")}
  - id: distress_unknown
    {TITLE}
    source: guide §2.1
    when: {{fact: borrower.distress, op: unknown}}
    {recommend("seek_free_advice")}
"""


@pytest.mark.parametrize(
    ("borrower", "expected"),
    [
        ({}, ["seek_free_advice"]),  # unknown: `not ==` is not true, `unknown` is
        ({"distress": False}, ["build_budget"]),
        ({"distress": True}, []),
    ],
)
def test_not_of_unknown_is_not_true(
    make_pack: PackFactory, borrower: dict[str, Any], expected: list[str]
) -> None:
    rules = engine.load_rules([make_pack(NOT_RULES)])
    sit = situation(borrower=borrower)
    assert actions(engine.evaluate(rules, sit)) == expected
    agree(rules, sit)


CHAIN_RULES = f"""
rules:
  - id: stage_early
    {TITLE}
    source: guide §1.2
    about: loan
    when: {{all: [{{fact: loan.days_overdue, op: ">", value: 0}},
                  {{fact: loan.days_overdue, op: "<=", value: 30}}]}}
    derive: {{fact: loan.stage, value: "'early'"}}
  - id: stage_late
    {TITLE}
    source: guide §1.2
    about: loan
    when: {{fact: loan.days_overdue, op: ">", value: 30}}
    derive: {{fact: loan.stage, value: "'late'"}}
  - id: count_late
    {TITLE}
    source: guide §1.2
    derive: {{fact: late_loans, value: "count_loans(coalesce(loan.stage, 'none') == 'late')",
              unit: integer, summary: true}}
  - id: early_contact
    {TITLE}
    source: guide §2.2
    about: loan
    when: {{fact: loan.stage, op: "==", value: early}}
    {recommend("contact_lender", 70, "immediate", "{loan.id} is {loan.days_overdue} days late")}
  - id: stage_unknown
    {TITLE}
    source: guide §2.1
    about: loan
    when: {{fact: loan.stage, op: unknown}}
    {recommend("confirm_overdue_details", 40)}
  - id: several_late
    {TITLE}
    source: guide §2.1
    when: {{fact: late_loans, op: ">=", value: 1}}
    {recommend("prioritize_debts", 60)}
"""


def test_chaining_stratified_unknown_and_aggregate(make_pack: PackFactory) -> None:
    rules = engine.load_rules([make_pack(CHAIN_RULES)])
    sit = situation(
        loans=[
            {"id": "a", "product": "jiebei", "days_overdue": 5},
            {"id": "b", "product": "huabei", "days_overdue": 45},
            {"id": "c", "product": "huabei"},
        ]
    )
    decision = engine.evaluate(rules, sit)
    by_action = {r.action: r for r in decision.recommendations}
    assert list(by_action) == ["contact_lender", "prioritize_debts", "confirm_overdue_details"]
    assert by_action["contact_lender"].loan_ids == ("a",)
    assert by_action["contact_lender"].message == "a is 5 days late"
    assert by_action["confirm_overdue_details"].loan_ids == ("c",)  # stage unknown for c only
    assert decision.summary() == {"late_loans": 1}
    reason = by_action["contact_lender"].reasons[0]
    assert [(d.fact, d.value, d.rule_id) for d in reason.derived_from] == [
        ("loan.stage", "early", "stage_early")
    ]
    assert decision.derived()["loans"]["b"]["loan.stage"] == {
        "value": "late",
        "rules": ["stage_late"],
    }
    agree(rules, sit)


def test_conflicting_derivations_stop_with_both_rules(make_pack: PackFactory) -> None:
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: one
        {TITLE}
        source: guide §1.2
        derive: {{fact: x, value: "1"}}
      - id: two
        {TITLE}
        source: guide §1.2
        derive: {{fact: x, value: "2"}}
    """)
        ]
    )
    with pytest.raises(EvaluationError, match="'one' and 'two' derive different values for 'x'"):
        engine.evaluate(rules, situation())


def test_firing_budget_stops_evaluation(make_pack: PackFactory) -> None:
    rules = engine.load_rules([make_pack(CHAIN_RULES)])
    sit = situation(
        loans=[{"id": f"l{i}", "product": "jiebei", "days_overdue": i} for i in range(1, 6)]
    )
    with pytest.raises(FiringBudgetExceeded, match="more than 3 rule firings"):
        engine.evaluate(rules, sit, budget=3)
    # the engine is still usable afterwards: the failed state was abandoned, not deleted
    assert "contact_lender" in actions(engine.evaluate(rules, sit))


RANK_RULES = f"""
rules:
  - id: low
    {TITLE}
    source: guide §2.1
    {recommend("read_agreement", 50)}
  - id: tie_later_in_catalogue
    {TITLE}
    source: guide §2.1
    {recommend("build_budget", 50)}
  - id: high
    {TITLE}
    source: guide §2.1
    {recommend("contact_lender", 40)}
  - id: also_high
    {TITLE}
    source: guide §2.2
    {recommend("contact_lender", 45)}
  - id: boost
    {TITLE}
    source: guide §4.1
    adjust: {{action: contact_lender, by: 20, reason: {{en: "sooner is better", zh-CN: "越早越好"}}}}
  - id: drop
    {TITLE}
    source: guide §4.1
    suppress: {{action: read_agreement, reason: {{en: "not now", zh-CN: "暂缓"}}}}
"""


def test_ranking_scores_ties_adjustments_and_suppression(make_pack: PackFactory) -> None:
    rules = engine.load_rules([make_pack(RANK_RULES)])
    decision = engine.evaluate(rules, situation(locale="en"))
    recs = decision.recommendations
    assert [(r.rank, r.action, r.score) for r in recs] == [
        (1, "contact_lender", 65),
        (2, "build_budget", 50),
    ]
    terms = [(t.term, t.value, t.rule_id, t.reason) for t in recs[0].score_breakdown]
    assert terms == [
        ("priority", 45, "also_high", ""),
        ("adjustment", 20, "boost", "sooner is better"),
    ]
    assert [r.rule_id for r in recs[0].reasons] == ["also_high", "high"]
    assert [(s.action, s.rule_id, s.reason) for s in decision.suppressed] == [
        ("read_agreement", "drop", "not now")
    ]


def test_tie_breaks_by_catalogue_order(make_pack: PackFactory) -> None:
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: z_budget
        {TITLE}
        source: guide §2.1
        {recommend("build_budget", 50)}
      - id: a_read
        {TITLE}
        source: guide §2.1
        {recommend("read_agreement", 50)}
    """)
        ]
    )
    # read_agreement comes before build_budget in SPEC §3, whatever the rule ids or file order
    assert actions(engine.evaluate(rules, situation())) == ["read_agreement", "build_budget"]


def test_in_contains_and_parameters(make_pack: PackFactory) -> None:
    rules = engine.load_rules(
        [
            make_pack(
                f"""
        rules:
          - id: legal
            {TITLE}
            source: brief 5.3
            about: loan
            when: {{all: [
              {{fact: loan.status.legal, op: in, value: [lawsuit_notice, payment_order]}},
              {{fact: loan.overdue_amount, op: ">=", param: big}}]}}
            {recommend("respond_to_court", 90, "immediate")}
          - id: job
            {TITLE}
            source: brief 3.4
            when: {{all: [{{fact: borrower.hardship, op: contains, value: job_loss}},
                          {{fact: borrower.hardship_evidence, op: not_contains,
                            value: unemployment_proof}}]}}
            {recommend("prepare_for_call", 30)}
        """,
                parameters="""
        parameters:
          big: {value: 1000, source: brief 5.3}
        """,
            )
        ]
    )
    sit = situation(
        borrower={"hardship": ["job_loss"], "hardship_evidence": []},
        loans=[
            {
                "id": "a",
                "product": "jiebei",
                "overdue_amount": 1500,
                "status": {"legal": "payment_order"},
            },
            {
                "id": "b",
                "product": "jiebei",
                "overdue_amount": 500,
                "status": {"legal": "lawsuit_notice"},
            },
            {"id": "c", "product": "jiebei", "overdue_amount": 5000, "status": {"legal": "none"}},
        ],
    )
    decision = engine.evaluate(rules, sit)
    assert [(r.action, r.loan_ids) for r in decision.recommendations] == [
        ("respond_to_court", ("a",)),
        ("prepare_for_call", ()),
    ]
    condition = decision.recommendations[0].reasons[0].conditions[1]
    assert (condition.fact, condition.op, condition.expected, condition.actual) == (
        "loan.overdue_amount",
        ">=",
        1000,
        1500,
    )
    agree(rules, sit)


def test_reasons_carry_locations_and_actual_values(make_pack: PackFactory) -> None:
    rules = engine.load_rules([make_pack(CHAIN_RULES)])
    decision = engine.evaluate(
        rules, situation(loans=[{"id": "a", "product": "jiebei", "days_overdue": 3}])
    )
    reason = decision.recommendations[0].reasons[0]
    assert reason.location.endswith("rules.yaml:21")
    assert [(c.fact, c.op, c.expected, c.actual, c.result) for c in reason.conditions] == [
        ("loan.stage", "==", "early", "early", True)
    ]
    assert reason.conditions[0].location.short.endswith("rules.yaml:25")


def test_many_evaluations_do_not_exhaust_engine_states(make_pack: PackFactory) -> None:
    """1,100 evaluations > the engine's 1,024 live states: every state must be deleted."""
    rules = engine.load_rules([make_pack(NOT_RULES)])
    sit = situation(borrower={"distress": True})  # nothing fires but the sentinel
    for _ in range(1100):
        assert engine.evaluate(rules, sit, validated=True).recommendations == ()


LOAN_SET_RULES = f"""
rules:
  - id: overdue
    {TITLE}
    source: guide §1.2
    about: loan
    when: {{fact: loan.days_overdue, op: ">", value: 0}}
    derive: {{fact: loan.is_overdue, value: "true"}}
  - id: reported_or_unsure
    {TITLE}
    source: brief 2.15
    about: loan
    when: {{all: [{{fact: loan.is_overdue, op: "==", value: true}},
                  {{fact: loan.status.reported_to_credit_bureau, op: in, value: ['yes', unknown]}},
                  {{fact: loan.status.legal, op: not_in, value: [judgment, enforcement]}}]}}
    {recommend("credit_report_check", 40)}
"""


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ({"a": "unknown", "b": None}, ("a",)),
        ({"a": None, "b": "yes"}, ("b",)),
        ({"a": "no", "b": "unknown"}, ("b",)),
        ({"a": "yes", "b": "no"}, ("a",)),
    ],
)
def test_in_on_one_loan_does_not_leak_to_another(
    make_pack: PackFactory, reported: dict[str, str | None], expected: tuple[str, ...]
) -> None:
    """Regression: durable_rules drops a join that follows an `$or`; the compiler puts it first."""
    rules = engine.load_rules([make_pack(LOAN_SET_RULES)])
    loans = []
    for loan_id, value in reported.items():
        status = (
            {"legal": "none"}
            if value is None
            else {"legal": "none", "reported_to_credit_bureau": value}
        )
        loans.append({"id": loan_id, "product": "jiebei", "days_overdue": 3, "status": status})
    sit = situation(loans=loans)
    decision = engine.evaluate(rules, sit)
    assert [r.loan_ids for r in decision.recommendations] == [expected]
    agree(rules, sit)


def test_each_loan_gets_the_message_of_its_best_rule(make_pack: PackFactory) -> None:
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: big
        {TITLE}
        source: guide §4.1
        about: loan
        when: {{fact: loan.overdue_amount, op: ">=", value: 1000}}
        {recommend("request_penalty_waiver", 60, "this_week", "{loan.id}: big")}
      - id: any_amount
        {TITLE}
        source: guide §4.1
        about: loan
        when: {{fact: loan.overdue_amount, op: ">", value: 0}}
        {recommend("request_penalty_waiver", 40, "ongoing", "{loan.id}: small")}
    """)
        ]
    )
    sit = situation(
        loans=[
            {"id": "a", "product": "jiebei", "overdue_amount": 50},
            {"id": "b", "product": "huabei", "overdue_amount": 5000},
        ]
    )
    (rec,) = engine.evaluate(rules, sit).recommendations
    assert rec.loan_ids == ("a", "b")
    assert rec.message == "a: small\nb: big"
    assert (rec.score, rec.urgency) == (60, "this_week")


def test_loans_with_the_same_message_share_one_line(make_pack: PackFactory) -> None:
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: check
        {TITLE}
        source: guide §2.1
        about: loan
        when: {{fact: loan.days_overdue, op: ">", value: 0}}
        {recommend("confirm_overdue_details", 60, "immediate", "{loan.id}: check the amount")}
      - id: days
        {TITLE}
        source: guide §2.2
        about: loan
        when: {{fact: loan.days_overdue, op: ">", value: 0}}
        {recommend("contact_lender", 70, "immediate", "{loan.id}: {loan.days_overdue} days")}
    """)
        ]
    )
    loans = [
        {"id": i, "product": "jiebei", "days_overdue": d} for i, d in (("a", 3), ("b", 3), ("c", 9))
    ]
    decision = engine.evaluate(rules, situation(loans=loans, locale="en"))
    assert [r.message for r in decision.recommendations] == [
        "a, b: 3 days\nc: 9 days",
        "a, b, c: check the amount",
    ]
    chinese = engine.evaluate(rules, situation(loans=loans))
    assert chinese.recommendations[1].message == "a、b、c: check the amount"


def test_threads_sharing_a_pack_get_the_same_answers(make_pack: PackFactory) -> None:
    """Distinct sids per evaluation: threads may share one RuleSet (DURABLE_RULES §6)."""
    from concurrent.futures import ThreadPoolExecutor

    rules = engine.load_rules([make_pack(CHAIN_RULES)])
    sits = [
        situation(loans=[{"id": "a", "product": "jiebei", "days_overdue": d}]) for d in range(1, 60)
    ]
    expected = [engine.evaluate(rules, s).to_advice() for s in sits]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda s: engine.evaluate(rules, s).to_advice(), sits * 4))
    assert got == expected * 4


def test_a_pack_may_not_redefine_a_catalogue_action(make_pack: PackFactory) -> None:
    root = make_pack(f"""
    rules:
      - id: r
        {TITLE}
        source: guide §2.1
        {recommend("contact_lender")}
    """)
    (root / "pack.yaml").write_text(
        "pack:\n  name: p\n  version: 1.0.0\n"
        "  actions: [{code: contact_lender, meaning: again}, {code: own_action, meaning: new}]\n",
        encoding="utf-8",
    )
    with pytest.raises(engine.RuleLoadError) as caught:
        engine.load_rules([root])
    (error,) = caught.value.errors
    assert (error.code, error.location.line) == ("pack_action_exists", 1)
    assert "'contact_lender' is already in the catalogue" in error.message


def test_a_suppression_is_reported_only_when_it_removed_something(make_pack: PackFactory) -> None:
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: budget
        {TITLE}
        source: guide §2.1
        when: {{fact: borrower.distress, op: "==", value: false}}
        {recommend("build_budget")}
      - id: no_budget
        {TITLE}
        source: guide §2.1
        suppress: {{action: build_budget, reason: {{en: later, zh-CN: 稍后}}}}
    """)
        ]
    )
    removed = engine.evaluate(rules, situation(borrower={"distress": False}))
    assert [s.action for s in removed.suppressed] == ["build_budget"]
    assert removed.recommendations == ()
    nothing = engine.evaluate(rules, situation(borrower={"distress": True}))
    assert nothing.suppressed == ()
    assert "no_budget" in nothing.fired_rules()


def test_a_per_loan_suppression_removes_only_that_loans_recommendation(
    make_pack: PackFactory,
) -> None:
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: waiver
        {TITLE}
        source: guide §2.1
        about: loan
        when: {{fact: loan.days_overdue, op: ">", value: 0}}
        {recommend("request_penalty_waiver", message="{loan.id} waiver")}
      - id: no_waiver_after_judgment
        {TITLE}
        source: guide §2.1
        about: loan
        when: {{fact: loan.status.legal, op: "==", value: judgment}}
        suppress: {{action: request_penalty_waiver, reason: {{en: "{{loan.id}} judged", zh-CN: "{{loan.id}} 已判决"}}}}
    """)
        ]
    )
    judged = {
        "id": "card",
        "product": "credit_card",
        "days_overdue": 300,
        "status": {"legal": "judgment"},
    }
    other = {"id": "jiebei", "product": "jiebei", "days_overdue": 30}
    mixed = engine.evaluate(rules, situation(loans=[judged, other]))
    (waiver,) = mixed.recommendations
    assert waiver.loan_ids == ("jiebei",)
    assert "card" not in waiver.message
    assert [(s.action, s.reason) for s in mixed.suppressed] == [
        ("request_penalty_waiver", "card 已判决")
    ]
    only = engine.evaluate(rules, situation(loans=[judged]))
    assert only.recommendations == ()
    assert [s.reason for s in only.suppressed] == ["card 已判决"]
    # a loan at judgment that had no recommendation of the action reports no suppression
    quiet = engine.evaluate(rules, situation(loans=[{**judged, "days_overdue": 0}, other]))
    assert quiet.suppressed == ()
    assert [r.loan_ids for r in quiet.recommendations] == [("jiebei",)]


# --- each derive expression is parsed once per load ---------------------------------------------


def test_each_derive_expression_is_parsed_once_per_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading (checks, compiler), evaluating, linting and explaining read the tree the loader
    parsed; none of them parses the expression text again."""
    from engine.audit.linting import lint
    from engine.load.packs import default_pack_dir
    from engine.pack import expr
    from engine.pack.model import Derive
    from engine.whynot import explain, near_misses

    pack = tmp_path / "jiebei"  # a copy: a path of its own is never in the compiled-pack cache
    shutil.copytree(default_pack_dir(), pack, ignore=shutil.ignore_patterns("tests"))
    parsed: list[str] = []
    parse = expr.parse

    def counting_parse(text: str) -> expr.Node:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(expr, "parse", counting_parse)
    ruleset = engine.load_rules([pack])
    derives = [r.then.text for r in ruleset.pack.rules if isinstance(r.then, Derive)]
    assert len(derives) > 20  # the built-in pack derives many facts
    assert sorted(parsed) == sorted(derives)

    decision = engine.evaluate(ruleset, situation(), today=dt.date(2026, 11, 28))
    decision.to_advice(trace=True, near_misses=True)
    lint(ruleset)
    explain(decision, decision.recommendations[0].action)
    near_misses(decision)
    assert sorted(parsed) == sorted(derives)  # nothing after the load parsed again


def test_common_text_is_said_once_after_the_loans(make_pack: PackFactory) -> None:
    """``recommend.common``: what every loan's line would repeat is said once, after them."""
    rules = engine.load_rules(
        [
            make_pack(f"""
    rules:
      - id: offer
        {TITLE}
        source: guide §4.2
        about: loan
        when: {{fact: loan.days_overdue, op: ">", value: 0}}
        recommend:
          action: propose_installments
          priority: 60
          urgency: this_week
          title: {{en: Offer, zh-CN: 提出}}
          message: {{en: "{{loan.id}}: {{loan.days_overdue}} days", zh-CN: "{{loan.id}}：{{loan.days_overdue}} 天"}}
          common: {{en: "Attach your budget ({{plans.can_pay_now}}).", zh-CN: "附上预算（{{plans.can_pay_now}}）。"}}
    """)
        ]
    )
    loans = [{"id": i, "product": "jiebei", "days_overdue": d} for i, d in (("a", 3), ("b", 9))]
    sit = situation(loans=loans, locale="en", plans={"can_pay_now": 100})
    (rec,) = engine.evaluate(rules, sit).recommendations
    assert rec.message == "a: 3 days\nb: 9 days\nAttach your budget (¥100.00)."


def test_common_text_may_not_name_a_loan_fact(make_pack: PackFactory) -> None:
    pack = make_pack(f"""
    rules:
      - id: offer
        {TITLE}
        source: guide §4.2
        about: loan
        recommend:
          action: propose_installments
          priority: 60
          urgency: this_week
          title: {{en: Offer, zh-CN: 提出}}
          message: {{en: "{{loan.id}}", zh-CN: "{{loan.id}}"}}
          common: {{en: "{{loan.id}} again", zh-CN: "{{loan.id}}"}}
    """)
    with pytest.raises(engine.RuleLoadError) as caught:
        engine.load_rules([pack])
    assert {e.code for e in caught.value.errors} == {"rule_placeholder"}
    assert "common is said once for all loans" in str(caught.value)


def test_loans_named_alike_share_one_line(default_rules: engine.RuleSet) -> None:
    """Loans whose messages differ only in their name (the pack's plan name facts) share one
    line naming them all: the jiebei pack's "check what is overdue" for three loans."""
    sit = json.loads((ROOT / "examples" / "job-loss-several-debts.json").read_text("utf-8"))
    decision = engine.evaluate(default_rules, sit)
    (check,) = [r for r in decision.recommendations if r.action == "confirm_overdue_details"]
    lines = check.message.split("\n")
    assert len(lines) == 2 and lines[0].startswith("「借呗、招商银行、微粒贷」：")
