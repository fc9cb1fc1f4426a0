"""rules lint, rules test --coverage, rules diff and rules show (issue 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.fixtures.audit.helpers import CRISIS, LINTPACK, PACK, UNKNOWN_INCOME, run

# --- lint ---------------------------------------------------------------------------------------


def _findings(path: Path) -> list[str]:
    out = run("rules", "lint", path).stdout.splitlines()
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
    result = run("rules", "lint", LINTPACK)
    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == "lint_fixture: 3 errors, 37 warnings"
    assert run("rules", "lint", PACK).exit_code == 0  # warnings only
    assert run("rules", "lint", PACK, "--strict").exit_code == 1
    unused = [
        line for line in run("rules", "lint", PACK).stdout.splitlines() if ": warning: " in line
    ]
    assert all("lint_action_unused" in line for line in unused)
    data = json.loads(run("rules", "lint", LINTPACK, "--format", "json").stdout)
    assert sum(f["severity"] == "error" for f in data["findings"]) == 3


def test_default_pack_lints_without_errors() -> None:
    result = run("rules", "lint")
    assert result.exit_code == 0, result.stdout
    assert ": error: " not in result.stdout


# --- coverage -------------------------------------------------------------------------------------


def test_rules_test_coverage_reports_rules_and_conditions() -> None:
    result = run("rules", "test", PACK, "--coverage")
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
    assert run("rules", "test", PACK, "--min-coverage", "100").exit_code == 0
    low = run("rules", "test", PACK, "--min-condition-coverage", "50")
    assert low.exit_code == 1
    assert low.stdout.splitlines()[-1] == (
        "condition coverage 28.6% is below --min-condition-coverage 50%"
    )
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    tests = pack / "tests" / "audit.test.yaml"
    text = tests.read_text()
    tests.write_text(text[: text.index("  - name: long overdue")])
    result = run("rules", "test", pack, "--min-coverage", "90")
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
    result = run("rules", "diff", PACK, new, "--corpus", corpus)
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
        run("rules", "diff", PACK, new, "--corpus", corpus, "--format", "json").stdout
    )
    assert data["situations"][2]["changes"] == []


def test_rules_diff_refuses_a_bad_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"schema_version": 1}\n')
    result = run("rules", "diff", PACK, PACK, "--corpus", corpus)
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
