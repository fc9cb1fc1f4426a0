"""rules lint, rules test --coverage, rules diff and rules show (issue 4)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

import engine
from engine.audit.linting import KnownFacts, lint
from engine.audit.testing import load_cases, run_cases
from engine.audit.testing import test_files as find_test_files
from engine.compile.compiler import Test as BranchTest
from engine.compile.compiler import dnf
from engine.core.operators import OPERATORS
from engine.pack.expr import UNKNOWN
from engine.run.memory import Memory
from tests.fixtures.audit.helpers import CRISIS, LINTPACK, PACK, UNKNOWN_INCOME, run

# --- lint ---------------------------------------------------------------------------------------


def _findings(path: Path) -> list[str]:
    out = run("rules", "lint", "--rules", path).stdout.splitlines()
    return [line for line in out[:-1] if "lint_action_unused" not in line]


def test_lint_finds_each_problem_with_position_severity_and_code() -> None:
    rel = str(LINTPACK)
    found = [line.removeprefix(rel) for line in _findings(LINTPACK)]
    assert found == [
        "/parameters.yaml:5:3: warning: lint_unused_parameter: parameter 'never_used' is not used"
        " by any rule",
        "/rules.yaml:7:11: error: lint_contradiction: rule 'impossible_amount' can never fire:"
        " 'plans.can_pay_now > 5' and 'plans.can_pay_now < 3' cannot all hold",
        "/rules.yaml:20:11: error: lint_contradiction: rule 'impossible_derive' can never fire:"
        " 'borrower.distress unknown' and 'borrower.distress known' cannot both hold",
        "/rules.yaml:29:5: error: lint_fact_never_provided: rule 'reads_ghost' reads"
        " 'ghost_value', which no rule can ever derive (derived only by impossible_derive,"
        " which can never fire)",
        "/rules.yaml:36:5: warning: lint_placeholder_may_be_unknown: rule 'half_reachable':"
        " '{borrower.monthly_income}' may be unknown when the rule fires (shown as '?');"
        " add a condition such as {fact: borrower.monthly_income, op: known}",
        "/rules.yaml:43:15: warning: lint_unreachable_branch: rule 'half_reachable': one"
        " alternative can never hold: 'borrower.income_change == \"reduced\"' and"
        " 'borrower.income_change == \"none\"' cannot all hold",
        f"/rules.yaml:62:5: warning: lint_duplicate_rule: rule 'contact_when_overdue_again'"
        f" duplicates rule 'contact_when_overdue' ({rel}/rules.yaml:51): same conditions and"
        " consequence",
        f"/rules.yaml:73:5: warning: lint_shadowed: rule 'contact_when_long_overdue' is shadowed"
        f" by 'contact_when_overdue' ({rel}/rules.yaml:51): whenever it fires,"
        " 'contact_when_overdue' recommends contact_lender too with priority 70 ≥ 60, so it"
        " never changes the score",
        "/rules.yaml:87:5: warning: lint_missing_locale: rule 'untranslated': the en and zh-CN"
        " texts are identical: 'Same text'",
        "/rules.yaml:97:5: warning: lint_target_not_recommended: rule 'suppress_unrecommended'"
        " suppresses 'stay_calm', which no rule recommends",
    ]


def test_lint_exit_codes_distinguish_errors_and_warnings() -> None:
    result = run("rules", "lint", "--rules", LINTPACK)
    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == "lint_fixture: 3 errors, 37 warnings"
    assert run("rules", "lint", "--rules", PACK).exit_code == 0  # warnings only
    assert run("rules", "lint", "--rules", PACK, "--strict").exit_code == 1
    unused = [
        line
        for line in run("rules", "lint", "--rules", PACK).stdout.splitlines()
        if ": warning: " in line
    ]
    assert all("lint_action_unused" in line for line in unused)
    data = json.loads(run("rules", "lint", "--rules", LINTPACK, "--format", "json").stdout)
    assert sum(f["severity"] == "error" for f in data["findings"]) == 3


def test_default_pack_lints_without_errors() -> None:
    result = run("rules", "lint")
    assert result.exit_code == 0, result.stdout
    assert ": error: " not in result.stdout


# A pack for the "surely known" analysis behind lint_placeholder_may_be_unknown.
KNOWN_RULES = """
rules:
  - id: derive_is_late
    title: {en: Late, zh-CN: 逾期}
    source: guide §1.2
    about: loan
    when: {fact: loan.days_overdue, op: known}
    derive: {fact: loan.is_late, value: "coalesce(loan.days_overdue, 0) > 0", unit: boolean}
  - id: derive_route
    title: {en: Route, zh-CN: 渠道}
    source: guide §3.1
    about: loan
    when:
      any:
        - {fact: loan.is_late, op: "==", value: true}
        - {fact: plans.expects_shortfall, op: "==", value: true}
    derive: {fact: loan.route, value: "if(loan.product == 'jiebei', 'the app', 'the contract')", unit: text}
  - id: derive_is_card
    title: {en: Card, zh-CN: 信用卡}
    source: brief 3.1
    about: loan
    when: {fact: loan.product, op: "==", value: credit_card}
    derive: {fact: loan.is_card, value: "true", unit: boolean}
  - id: derive_is_not_card
    title: {en: Not a card, zh-CN: 不是信用卡}
    source: brief 3.1
    about: loan
    when: {fact: loan.product, op: "!=", value: credit_card}
    derive: {fact: loan.is_card, value: "false", unit: boolean}
  - id: derive_kind
    title: {en: Kind, zh-CN: 种类}
    source: brief 3.1
    about: loan
    derive: {fact: loan.kind, value: "if(loan.is_card, 'card', 'loan')", unit: text}
  - id: derive_months
    title: {en: Months, zh-CN: 月数}
    source: guide §4.2
    about: loan
    when: {fact: loan.monthly_payment, op: known}
    derive: {fact: loan.months, value: "ceil(loan.outstanding_balance / loan.monthly_payment)", unit: integer}
  - id: derive_total_payments
    title: {en: Total, zh-CN: 合计}
    source: brief 7.5
    derive: {fact: total_payments, value: "sum_loans(loan.monthly_payment)", unit: money}
  - id: contact_when_late
    title: {en: Late, zh-CN: 逾期}
    source: guide §2.2
    about: loan
    when:
      all:
        - {fact: loan.days_overdue, op: ">", value: 3}
        - {fact: loan.outstanding_balance, op: known}
        - {fact: loan.monthly_payment, op: ">=", value: 100}
    recommend:
      action: contact_lender
      priority: 70
      urgency: immediate
      title: {en: Contact the lender, zh-CN: 联系贷款方}
      message:
        en: "Use {loan.route} about your {loan.kind}: {loan.months} months at {loan.monthly_payment}."
        zh-CN: "通过{loan.route}联系（{loan.kind}）：{loan.months} 个月，每月 {loan.monthly_payment}。"
  - id: plan_when_short
    title: {en: Short, zh-CN: 不够}
    source: guide §4.1
    about: loan
    when:
      all:
        - {fact: plans.expects_shortfall, op: "==", value: true}
        - {fact: loan.monthly_payment, op: known}
    recommend:
      action: notify_lender_early
      priority: 78
      urgency: before_due
      title: {en: Tell the lender, zh-CN: 告诉贷款方}
      message:
        en: "Use {loan.route}: {loan.months} months."
        zh-CN: "通过{loan.route}：{loan.months} 个月。"
  - id: budget_for_all
    title: {en: Budget, zh-CN: 预算}
    source: guide §5.1
    when: {fact: borrower.monthly_income, op: ">", value: 0}
    recommend:
      action: build_budget
      priority: 30
      urgency: ongoing
      title: {en: Budget, zh-CN: 预算}
      message: {en: "Repayments {total_payments}.", zh-CN: "每月还款 {total_payments}。"}
"""


def _placeholder_warnings(tmp_path: Path, rules_yaml: str) -> list[str]:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text(
        "pack: {name: known_fixture, version: 1.0.0, description: Surely known facts.}\n"
    )
    (pack / "rules.yaml").write_text(textwrap.dedent(rules_yaml))
    findings = lint(engine.load_rules([pack]))
    return [f.message for f in findings if f.code == "lint_placeholder_may_be_unknown"]


def test_lint_placeholders_known_by_sure_derivations_are_not_warned(tmp_path: Path) -> None:
    warned = _placeholder_warnings(tmp_path, KNOWN_RULES)
    # contact_when_late: 'days_overdue > 3' makes is_late surely true, so derive_route surely
    # fires; is_card is derived by '== credit_card' and '!= credit_card' on the required
    # loan.product, so derive_kind (no when) is known; '>= 100' makes the divisor non-zero.
    assert not [w for w in warned if "'contact_when_late'" in w], warned
    assert sorted(warned) == [
        # one loan's monthly payment says nothing about the others inside sum_loans
        "rule 'budget_for_all': '{total_payments}' may be unknown when the rule fires (shown as"
        " '?'); add a condition such as {fact: total_payments, op: known}",
        # the shortfall makes the route known, but monthly_payment may be 0 (a zero divisor)
        # and the balance unknown
        "rule 'plan_when_short': '{loan.months}' may be unknown when the rule fires (shown as"
        " '?'); add a condition such as {fact: loan.months, op: known}",
    ]


def test_lint_placeholder_warning_stays_for_a_fact_that_can_be_unknown(tmp_path: Path) -> None:
    rules = KNOWN_RULES.replace(
        '        - {fact: loan.days_overdue, op: ">", value: 3}\n', ""
    )  # without the days test nothing makes loan.is_late true: the route may be unknown
    warned = _placeholder_warnings(tmp_path, rules)
    assert any("'contact_when_late': '{loan.route}' may be unknown" in w for w in warned)
    assert not any("'contact_when_late': '{loan.kind}'" in w for w in warned)


def _holds(memory: Memory, test: BranchTest, loan: str | None) -> bool:
    value = memory.get(test.fact, loan)
    if test.op in ("known", "unknown"):
        return (value is UNKNOWN) == (test.op == "unknown")
    return value is not UNKNOWN and OPERATORS[test.op].test(value, test.expected)


@pytest.mark.slow  # every shipped case
def test_surely_known_facts_are_known_in_every_default_pack_case() -> None:
    """Soundness against the real engine: in every case, for every rule that fired and every
    alternative of its conditions that held, each fact the analysis calls surely known is known."""
    ruleset = engine.load_rules()
    rules = list(ruleset.pack.rules)
    params = {name: p.value for name, p in ruleset.pack.parameters.items()}
    known = KnownFacts(rules, ruleset.compiled.facts, params)
    branches = {
        r.id: [(b, known.closure(b)) for b in (dnf(r.when) if r.when else [[]])] for r in rules
    }
    cases = load_cases(find_test_files([Path(ruleset.pack.files[0]).parent / "tests"]))
    wrong: set[tuple[str, str]] = set()
    checked = 0
    for result in run_cases(ruleset, cases):
        assert result.decision is not None
        memory = result.decision.memory
        for firing in result.decision.firings:
            rule = ruleset.compiled.rules[firing.rule_index].rule
            loan = firing.loan_id
            for branch, facts in branches[rule.id]:
                if not all(_holds(memory, t, loan) for t in branch):
                    continue
                for fact in facts:
                    if rule.about == "loan" or not fact.startswith("loan."):
                        checked += 1
                        if memory.get(fact, loan) is UNKNOWN:
                            wrong.add((rule.id, fact))
    assert checked > 10_000
    assert not wrong, sorted(wrong)


# --- coverage -------------------------------------------------------------------------------------


def test_rules_test_coverage_reports_rules_and_conditions() -> None:
    result = run("rules", "test", "--rules", PACK, "--coverage")
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "2 passed, 0 failed"
    assert lines[1] == "rule coverage: 100.0% (12 of 12 rules fired)"
    assert lines[2] == "condition coverage: 28.6% (4 of 14 conditions seen both true and false)"
    assert lines[3].endswith(
        "rules.yaml:33: contact_lender_when_overdue: 'loan.effective_days_overdue > 0' never false"
    )
    assert any(
        line.endswith("pay_now_when_able: 'plans.can_pay_now >= 2000' never false")
        for line in lines
    )


def test_min_coverage_thresholds_fail_the_run(tmp_path: Path) -> None:
    assert run("rules", "test", "--rules", PACK, "--min-coverage", "100").exit_code == 0
    low = run("rules", "test", "--rules", PACK, "--min-condition-coverage", "50")
    assert low.exit_code == 1
    assert low.stdout.splitlines()[-1] == (
        "condition coverage 28.6% is below --min-condition-coverage 50%"
    )
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    tests = pack / "tests" / "audit.test.yaml"
    text = tests.read_text()
    tests.write_text(text[: text.index("  - name: long overdue")])
    result = run("rules", "test", "--rules", pack, "--min-coverage", "90")
    assert result.exit_code == 1
    assert "rule coverage: 58.3% (7 of 12 rules fired)" in result.stdout
    assert "rule crisis_first never fired" in result.stdout
    assert result.stdout.splitlines()[-1] == "rule coverage 58.3% is below --min-coverage 90%"


# --- diff -----------------------------------------------------------------------------------------


def test_rules_diff_over_a_corpus_attributes_changes_to_rules(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(PACK, new)
    params = new / "parameters.yaml"
    params.write_text(params.read_text().replace("value: 30", "value: 15"))
    corpus = tmp_path / "corpus.jsonl"
    refused = json.loads(UNKNOWN_INCOME.read_text())
    refused["loans"][0]["arrangement"] = {"status": "refused"}
    rows = [json.loads(UNKNOWN_INCOME.read_text()), refused, json.loads(CRISIS.read_text())]
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    result = run("rules", "diff", "--old", PACK, "--rules", new, "--corpus", corpus)
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[1:5] == [
        "rule changes:",
        "  contact_long_overdue_bonus: changed (parameter escalation_days: 30 → 15)",
        "  escalate_refusal: changed (parameter escalation_days: 30 → 15)",
        "parameter changes: escalation_days: 30 → 15",
    ]
    assert out[5].endswith("corpus.jsonl:1:")
    assert out[6] == (
        "  ~ contact_lender changed: score, score_breakdown  because: contact_long_overdue_bonus"
    )
    assert out[7].endswith("corpus.jsonl:2:")
    assert out[9] == "  + escalate_complaint added at rank 2 (score 60)  because: escalate_refusal"
    assert out[10] == (
        "  ~ read_agreement rank 2 → 3 (score 20 → 20)"
        "  (no changed rule touches it: moved by the other changes)"
    )
    assert out[-1] == "2 of 3 situations change"
    data = json.loads(
        run(
            "rules", "diff", "--old", PACK, "--rules", new, "--corpus", corpus, "--format", "json"
        ).stdout
    )
    assert data["situations"][2]["changes"] == []


def test_rules_diff_refuses_a_bad_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"schema_version": 1}\n')
    result = run("rules", "diff", "--old", PACK, "--rules", PACK, "--corpus", corpus)
    assert result.exit_code == 2
    assert "corpus.jsonl:1" in result.stderr


# --- show -----------------------------------------------------------------------------------------


def test_rules_show_gives_the_rule_its_parameters_and_covering_cases() -> None:
    result = run("rules", "show", "escalate_refusal", "--rules", PACK)
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith("rule escalate_refusal  (") and out[0].endswith("rules.yaml:68)")
    assert out[1:5] == [
        "  title:   The lender refused any arrangement on a long overdue loan / 长期逾期且贷款方拒绝协商",
        "  source:  guide §4.2",
        "  about:   loan (evaluated once per loan)",
        "  recommend: action escalate_complaint, priority 60, urgency this_week",
    ]
    assert out[5:9] == [
        "  when:",
        "    all:",
        "      loan.effective_days_overdue >= escalation_days",
        "      loan.arrangement.status in ['refused']",
    ]
    assert out[9] == "  parameters used:"
    assert out[10].startswith("    escalation_days = 30  (brief 2.3; ")
    assert out[11] == (
        "  reads derived fact loan.effective_days_overdue ← derive_effective_days_overdue"
    )
    assert out[12] == "  covered by 1 of 2 test cases:"
    assert out[13].endswith(
        "audit.test.yaml:13: long overdue, refused, can pay, in crisis (loans jiebei)"
    )
    assert out[14] == "  source text:"
    assert out[15] == "      - id: escalate_refusal"
    assert out[-1].strip().startswith("message: {en:")


def test_rules_show_unknown_rule_has_a_hint() -> None:
    result = run("rules", "show", "escalate_refusl", "--rules", PACK)
    assert result.exit_code == 2
    assert "did you mean 'escalate_refusal'?" in result.stderr
