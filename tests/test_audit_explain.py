"""explain: proof trees, why-not with flips, suppressions, compare and near misses (issue 4)."""

from __future__ import annotations

import json

from engine.api import evaluate, load_rules
from engine.core.schemas import validator
from engine.whynot import compare, explain, near_misses
from tests.fixtures.audit.helpers import CRISIS, PACK, SPEC_EXAMPLE, UNKNOWN_INCOME, load, run


def _decision(path=UNKNOWN_INCOME):  # type: ignore[no-untyped-def]
    return evaluate(load_rules([PACK]), load(path))


def test_why_not_blocked_by_an_unknown_derived_fact_points_to_the_missing_input() -> None:
    result = run("explain", UNKNOWN_INCOME, "build_budget", "--rules", PACK)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "build_budget: not recommended"
    assert lines[1].startswith("  ← rule budget_when_income_known (")
    assert lines[1].endswith("rules.yaml:55, guide §2.1): did not fire")
    assert "✗ disposable_income known   [actual: unknown]" in lines[3]
    flip = (
        "disposable_income is unknown (derived by derive_disposable_income):"
        " provide borrower.monthly_income"
    )
    assert lines[4].strip() == f"→ {flip}"
    assert "✓ total_overdue > 0   [actual: 2100]" in lines[5]
    assert lines[6].strip() == "to make it fire:"
    assert lines[7].strip() == f"- {flip}"
    assert "← derived fact disposable_income = unknown" in result.stdout
    assert "derives disposable_income = unknown" in result.stdout
    assert (
        "← inputs: borrower.monthly_income = unknown, borrower.monthly_essential_expenses = 3800"
        in result.stdout
    )


def test_why_not_json_gives_the_flip_as_data_and_validates() -> None:
    doc = explain(_decision(), "build_budget").as_dict()
    validator("explain").validate(doc)
    assert doc["status"] == "not_recommended"
    (binding,) = doc["explanations"]
    assert binding["fired"] is False
    assert binding["to_fire"] == [
        {
            "fact": "disposable_income",
            "loan_id": None,
            "kind": "provide",
            "op": "known",
            "value": None,
            "param": None,
            "inputs": [{"fact": "borrower.monthly_income", "loan_id": None}],
            "text": "disposable_income is unknown (derived by derive_disposable_income):"
            " provide borrower.monthly_income",
        }
    ]
    leaf = binding["condition"]["items"][1]
    assert (leaf["fact"], leaf["actual"], leaf["result"], "flip" in leaf) == (
        "total_overdue",
        2100,
        True,
        False,
    )


def test_why_not_for_a_known_value_gives_the_threshold_and_a_provide_for_unknown() -> None:
    result = run("explain", UNKNOWN_INCOME, "escalate_refusal", "--rules", PACK)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith(
        "rule escalate_refusal: not fired (action escalate_complaint: not recommended)"
    )
    assert (
        "→ loan.effective_days_overdue is 18; this rule needs at least escalation_days (30)"
        " (derived by derive_effective_days_overdue from loan.days_overdue (loan jiebei) = 18,"
        ' loan.first_missed_due_date (loan jiebei) = unknown, as_of = "2026-11-28")' in out
    )
    assert (
        '→ loan.arrangement.status is unknown: provide it; this rule needs one of "refused"' in out
    )
    assert "rules.yaml:68, guide §4.2, loan jiebei): did not fire" in out
    assert "rules.yaml:68, guide §4.2, loan card): did not fire" in out
    assert "loan.effective_days_overdue is 0; this rule needs more than 0" not in out


def test_why_not_numeric_flip_for_an_input_fact() -> None:
    doc = explain(_decision(), "pay_now").as_dict()
    (binding,) = doc["explanations"]
    assert [c["text"] for c in binding["to_fire"]] == [
        "plans.can_pay_now is 1500; this rule needs at least 2000"
    ]
    assert binding["to_fire"][0]["kind"] == "change"
    assert binding["to_fire"][0]["value"] == 2000


def test_proof_tree_of_a_fired_rule_goes_down_to_the_inputs() -> None:
    result = run("explain", UNKNOWN_INCOME, "contact_lender", "--rules", PACK)
    assert result.exit_code == 0
    out = result.stdout.splitlines()
    assert out[0] == (
        "contact_lender: recommended, rank 1, score 70 = 70 (priority, contact_lender_when_overdue)"
    )
    assert out[1].endswith("rules.yaml:27, guide §2.2, loan jiebei): fired")
    assert "✓ loan.effective_days_overdue > 0   [actual: 18]" in out[3]
    text = result.stdout
    assert "← derived fact loan.effective_days_overdue (loan jiebei) = 18" in text
    assert "derives loan.effective_days_overdue = 18" in text
    assert "← inputs: loan.days_overdue (loan jiebei) = 18" in text
    # the loan it did not fire for gets a why-not, the satisfied 'any' no flips
    assert "loan card): did not fire" in text
    assert "→ loan.effective_days_overdue is 0; this rule needs more than 0" in text
    assert "applies only while it is unknown" not in text


def test_suppressed_action_names_the_suppressing_rule_and_its_reason() -> None:
    result = run("explain", CRISIS, "pay_now", "--rules", PACK)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "pay_now: suppressed"
    assert lines[1] == "  suppressed by no_pay_now_in_crisis: Safety comes before money"
    assert lines[2].endswith("rules.yaml:104, brief 7.7): fired")
    assert "✓ borrower.distress == true   [actual: true]" in lines[3]
    doc = explain(_decision(CRISIS), "pay_now").as_dict()
    validator("explain").validate(doc)
    assert [s["rule_id"] for s in doc["suppressed_by"]] == ["no_pay_now_in_crisis"]
    assert doc["suppressed_by"][0]["reason"] == "Safety comes before money"


def test_explain_json_format_is_the_document() -> None:
    result = run("explain", CRISIS, "contact_lender", "--rules", PACK, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    validator("explain").validate(doc)
    assert doc["action"]["score_breakdown"] == [
        {"term": "priority", "value": 70, "rule_id": "contact_lender_when_overdue", "reason": ""},
        {
            "term": "adjustment",
            "value": 15,
            "rule_id": "contact_long_overdue_bonus",
            "reason": "Overdue 45 days",
        },
    ]
    assert [e["rule_id"] for e in doc["explanations"]] == [
        "contact_lender_when_overdue",
        "contact_long_overdue_bonus",
    ]


def test_unknown_target_is_a_usage_error_with_a_hint() -> None:
    result = run("explain", UNKNOWN_INCOME, "buld_budget", "--rules", PACK)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "did you mean 'build_budget'?" in result.stderr
    neither = run("explain", UNKNOWN_INCOME, "--rules", PACK)
    assert neither.exit_code == 2


def test_compare_two_ranked_actions_term_by_term() -> None:
    result = run(
        "explain", CRISIS, "--compare", "escalate_complaint", "contact_lender", "--rules", PACK
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "contact_lender (rank 2) ranks above escalate_complaint (rank 3):"
        " its score 85 is 25 more than 60"
    )
    assert lines[2].split() == [
        "priority",
        "+60",
        "escalate_refusal",
        "+70",
        "contact_lender_when_overdue",
    ]
    assert lines[3].split() == ["adjustment", "-", "+15", "contact_long_overdue_bonus"]
    doc = compare(_decision(CRISIS), "escalate_complaint", "contact_lender").as_dict()
    validator("explain").validate(doc)
    assert doc["compare"]["higher"] == "contact_lender"
    assert doc["compare"]["decided_by"] == "score"


def test_compare_a_tie_is_explained_by_the_catalogue_order() -> None:
    doc = compare(_decision(), "set_reminders", "read_agreement").as_dict()
    assert doc["compare"]["decided_by"] == "catalogue_order"
    assert doc["compare"]["summary"] == (
        "both score 20; the tie is broken by the action catalogue order (SPEC §3):"
        " read_agreement is #10, set_reminders #33"
    )


def test_compare_with_an_action_not_recommended() -> None:
    doc = compare(_decision(), "pay_now", "contact_lender").as_dict()
    assert doc["compare"]["summary"] == (
        "contact_lender is recommended (rank 1); pay_now is not recommended"
    )


def test_near_misses_are_one_condition_short_with_the_change() -> None:
    items = [item.as_dict() for item in near_misses(_decision())]
    assert [(i["action"], i["rule_id"]) for i in items] == [
        ("pay_now", "pay_now_when_able"),
        ("build_budget", "budget_when_income_known"),
    ]
    assert (
        items[0]["changes"][0]["text"] == "plans.can_pay_now is 1500; this rule needs at least 2000"
    )
    # crisis_first has a single condition and nothing in its favour: not "almost"
    assert all(i["action"] != "crisis_support" for i in items)


def test_advise_near_misses_in_json_and_text() -> None:
    result = run("advise", UNKNOWN_INCOME, "--rules", PACK, "--format", "json", "--near-misses")
    assert result.exit_code == 0
    advice = json.loads(result.stdout)
    validator("advice").validate(advice)
    assert [n["action"] for n in advice["near_misses"]] == ["pay_now", "build_budget"]
    text = run("advise", UNKNOWN_INCOME, "--rules", PACK, "--near-misses").stdout
    assert text.endswith(
        "One condition short:\n"
        "  pay_now (rule pay_now_when_able)\n"
        "    - plans.can_pay_now is 1500; this rule needs at least 2000\n"
        "  build_budget (rule budget_when_income_known)\n"
        "    - disposable_income is unknown (derived by derive_disposable_income):"
        " provide borrower.monthly_income\n"
    )
    plain = run("advise", UNKNOWN_INCOME, "--rules", PACK, "--format", "json")
    assert "near_misses" not in json.loads(plain.stdout)


def test_explain_with_the_default_pack_smoke() -> None:
    result = run("explain", SPEC_EXAMPLE, "contact_lender", "--format", "json")
    assert result.exit_code == 0, result.stderr
    validator("explain").validate(json.loads(result.stdout))
