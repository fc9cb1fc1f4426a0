"""The command line as a user sees it: output, formats, exit codes, and no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.core.schemas import load_schema
from tests.conftest import PackFactory

PACK = """
rules:
  - id: derive_disposable_income
    title: {en: Income after essentials, zh-CN: 可支配收入}
    source: guide §5.1
    derive:
      fact: disposable_income
      value: borrower.monthly_income - borrower.monthly_essential_expenses
      unit: money
      summary: true
  - id: overdue_contact
    title: {en: The loan is overdue, zh-CN: 贷款已逾期}
    source: guide §2.2
    about: loan
    when: {fact: loan.days_overdue, op: ">", value: 0}
    recommend:
      action: contact_lender
      priority: 70
      urgency: immediate
      title: {en: Contact the lender, zh-CN: 联系贷款方}
      message: {en: "{loan.id} owes {loan.overdue_amount}.", zh-CN: "{loan.id} 欠 {loan.overdue_amount}。"}
  - id: budget
    title: {en: Know your surplus, zh-CN: 了解结余}
    source: guide §2.1
    when: {fact: disposable_income, op: known}
    recommend:
      action: build_budget
      priority: 50
      urgency: this_week
      title: {en: Write a budget, zh-CN: 做预算}
      message: {en: "Surplus {disposable_income}.", zh-CN: "结余 {disposable_income}。"}
"""

SITUATION = {
    "schema_version": 1,
    "as_of": "2026-11-28",
    "borrower": {"monthly_income": 6000, "monthly_essential_expenses": 3800},
    "loans": [{"id": "jiebei", "product": "jiebei", "days_overdue": 18, "overdue_amount": 2100}],
}


@pytest.fixture
def pack(make_pack: PackFactory) -> Path:
    return make_pack(PACK)


@pytest.fixture
def situation_file(tmp_path: Path) -> Path:
    path = tmp_path / "situation.json"
    path.write_text(json.dumps(SITUATION), encoding="utf-8")
    return path


def invoke(runner: CliRunner, *args: str, stdin: bytes | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=stdin)


def test_advise_text_is_ranked_with_reasons(
    runner: CliRunner, pack: Path, situation_file: Path
) -> None:
    result = invoke(
        runner, "advise", str(situation_file), "--rules", str(pack), "--lang", "en", "--sources"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Advice · as of 2026-11-28 · rules testpack 1.0.0"
    assert lines[1:3] == ["Summary:", "  - Income after essentials: ¥2,200.00"]
    assert lines[4:9] == [
        "Today:",
        "",
        "1. Contact the lender  [now · jiebei · contact_lender]",
        "   jiebei owes ¥2,100.00.",
        "   Why: The loan is overdue (guide §2.2; overdue_contact)",
    ]
    assert "2. Write a budget  [this week · build_budget]" in lines


def test_advise_chinese_is_the_default(runner: CliRunner, pack: Path, situation_file: Path) -> None:
    result = invoke(runner, "advise", str(situation_file), "--rules", str(pack))
    assert result.exit_code == 0
    assert "1. 联系贷款方  [立即 · jiebei]" in result.stdout
    assert "jiebei 欠 ¥2,100.00。" in result.stdout


def test_advise_json_validates_and_is_byte_identical(
    runner: CliRunner, pack: Path, situation_file: Path
) -> None:
    args = ("advise", str(situation_file), "--rules", str(pack), "--format", "json")
    first, second = invoke(runner, *args), invoke(runner, *args)
    assert first.exit_code == 0
    assert first.stdout == second.stdout
    advice = json.loads(first.stdout)
    jsonschema.validate(advice, load_schema("advice"))
    assert [r["action"] for r in advice["recommendations"]] == ["contact_lender", "build_budget"]
    assert advice["summary"] == {"disposable_income": 2200}
    reason = advice["recommendations"][0]["reasons"][0]
    assert reason["conditions"] == [
        {
            "fact": "loan.days_overdue",
            "op": ">",
            "expected": 0,
            "actual": 18,
            "result": True,
            "location": f"{pack.name}/rules.yaml:15",  # cited by its pack, not the path
        }
    ]


def test_advise_top_trace_and_markdown(runner: CliRunner, pack: Path, situation_file: Path) -> None:
    result = invoke(
        runner,
        "advise",
        str(situation_file),
        "--rules",
        str(pack),
        "--format",
        "json",
        "--top",
        "1",
        "--trace",
    )
    advice = json.loads(result.stdout)
    assert [r["rank"] for r in advice["recommendations"]] == [1]
    assert {e["op"] for e in advice["trace"]} >= {"assert", "fire", "close"}
    markdown = invoke(
        runner,
        "advise",
        str(situation_file),
        "--rules",
        str(pack),
        "--format",
        "markdown",
        "--lang",
        "en",
    )
    assert "## 1. Contact the lender" in markdown.stdout


def test_advise_reads_stdin(runner: CliRunner, pack: Path) -> None:
    result = invoke(
        runner,
        "advise",
        "-",
        "--rules",
        str(pack),
        "--format",
        "json",
        stdin=json.dumps(SITUATION).encode(),
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["as_of"] == "2026-11-28"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"{", "invalid JSON"),
        (
            b'{"schema_version": 1, "loans": [{"id": "a", "product": "jiebei", "x": 1}]}',
            "$.loans[0]",
        ),
        (b'{"schema_version": 1, "loans": []}', "$.loans"),
    ],
)
def test_bad_situations_exit_2_with_the_path_and_no_stdout(
    runner: CliRunner, pack: Path, stdin: bytes, message: str
) -> None:
    result = invoke(runner, "advise", "-", "--rules", str(pack), stdin=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_situation_file_exits_2(runner: CliRunner, pack: Path) -> None:
    result = invoke(runner, "advise", "no/such.json", "--rules", str(pack))
    assert result.exit_code == 2
    assert "no such file: no/such.json" in result.stderr


def test_broken_rules_exit_2_with_every_error(
    runner: CliRunner, make_pack: PackFactory, situation_file: Path
) -> None:
    broken = make_pack(
        """
    rules:
      - id: a
        title: {en: t, zh-CN: t}
        source: guide §2.1
        when: {fact: loan.days_overdu, op: ">", value: 0}
        recommend: {action: contact_lendr, priority: 1, urgency: ongoing,
                    title: {en: t, zh-CN: t}, message: {en: t, zh-CN: t}}
    """,
        name="broken",
    )
    result = invoke(runner, "advise", str(situation_file), "--rules", str(broken))
    assert result.exit_code == 2
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if ": rule_" in line]
    assert [e.split(": ")[1] for e in errors] == ["rule_unknown_action", "rule_unknown_fact"]
    assert "did you mean 'contact_lender'?" in errors[0]
    assert "2 errors in the rules" in result.stderr


def test_rules_validate_and_list(runner: CliRunner, pack: Path) -> None:
    result = invoke(runner, "rules", "validate", "--rules", str(pack))
    assert result.exit_code == 0
    assert result.stdout.startswith("testpack 1.0.0: 3 rules in 2 files")
    listing = invoke(runner, "rules", "list", "--rules", str(pack))
    assert listing.stdout.splitlines()[1].split("\t")[:3] == [
        "overdue_contact",
        "recommend contact_lender",
        "loan",
    ]
    facts = invoke(runner, "rules", "list", "--rules", str(pack), "--facts")
    assert "borrower.monthly_income\tmoney\tinput" in facts.stdout
    assert "disposable_income\tmoney\tderived" in facts.stdout


def test_rules_test_passes_and_fails(runner: CliRunner, pack: Path) -> None:
    tests = pack / "tests"
    tests.mkdir()
    case = {
        "name": "overdue",
        "situation": SITUATION,
        "expect": {"top": ["contact_lender"], "absent": ["pay_now"]},
    }
    (tests / "a.test.yaml").write_text(json.dumps({"cases": [case]}), encoding="utf-8")
    assert invoke(runner, "rules", "test", "--rules", str(pack)).stdout.endswith(
        "1 passed, 0 failed\n"
    )
    case["expect"] = {"top": ["build_budget"]}
    (tests / "a.test.yaml").write_text(json.dumps({"cases": [case]}), encoding="utf-8")
    result = invoke(runner, "rules", "test", "--rules", str(pack))
    assert result.exit_code == 1
    assert "expected the top actions to be build_budget; got: contact_lender, build_budget" in (
        result.stdout
    )


@pytest.mark.parametrize("name", ["situation", "advice", "rules", "tests"])
def test_schema_prints_each_schema(runner: CliRunner, name: str) -> None:
    result = invoke(runner, "schema", name)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == load_schema(name)


def test_unknown_schema_is_a_usage_error(runner: CliRunner) -> None:
    result = invoke(runner, "schema", "situaton")
    assert result.exit_code == 2
    assert "did you mean 'situation'?" in result.stderr


# --- the installed command, in a real process ------------------------------------------------

XIESHANG = shutil.which("xieshang", path=os.path.dirname(sys.executable))


def test_the_console_script_is_installed() -> None:
    """`make test` installs the project, so the real command must be there (never skipped)."""
    assert XIESHANG is not None


@pytest.mark.slow  # a subprocess
def test_installed_command_advises_and_is_deterministic(pack: Path, situation_file: Path) -> None:
    args = [str(XIESHANG), "advise", str(situation_file), "--rules", str(pack), "--format", "json"]
    first = subprocess.run(args, capture_output=True, timeout=120, check=True)
    second = subprocess.run(args, capture_output=True, timeout=120, check=True)
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["recommendations"][0]["action"] == "contact_lender"


@pytest.mark.slow  # a subprocess
def test_installed_command_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "loans": [{"id": "a"}]}', encoding="utf-8")
    done = subprocess.run(
        [str(XIESHANG), "advise", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "$.loans[0].product" in done.stderr
    assert "Traceback" not in done.stderr


def test_version(runner: CliRunner) -> None:
    from engine import __version__

    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout == f"xieshang {__version__}\n"


def test_long_advice_lists_the_rest_by_title(
    runner: CliRunner, make_pack: PackFactory, situation_file: Path
) -> None:
    rules = "rules:\n" + "".join(
        f"""
  - id: r{i}
    title: {{en: reason {i}, zh-CN: 原因 {i}}}
    source: guide §2.1
    recommend: {{action: {action}, priority: {100 - i}, urgency: ongoing,
                title: {{en: title {i}, zh-CN: 标题 {i}}}, message: {{en: message {i}, zh-CN: 内容 {i}}}}}
"""
        for i, action in enumerate(
            [
                "contact_lender",
                "build_budget",
                "read_agreement",
                "be_honest",
                "stay_calm",
                "set_reminders",
                "learn_money_management",
                "credit_record_facts",
            ]
        )
    )
    pack = make_pack(rules, name="eight")
    result = invoke(runner, "advise", str(situation_file), "--rules", str(pack), "--lang", "en")
    text = result.stdout
    assert "3. title 2  [ongoing]\n   message 2\n" in text
    titles = "".join(f"{i + 1}. title {i}  [ongoing]\n" for i in range(3, 8))
    assert f"Also worth doing:\n{titles}\nAll 8 recommendations in full: xieshang" in text
    assert "message 3" not in text
    for option in (["--top", "8"], ["--all"], ["--all", "--top", "8"]):
        full = invoke(
            runner, "advise", str(situation_file), "--rules", str(pack), "--lang", "en", *option
        )
        assert "   message 7\n" in full.stdout and "Also worth doing" not in full.stdout
        assert "--all" not in full.stdout
    top = invoke(runner, "advise", str(situation_file), "--rules", str(pack), "--top", "2", "--all")
    assert "2. 标题 1" in top.stdout and "标题 2" not in top.stdout  # --top bounds --all


@pytest.mark.slow  # a subprocess
def test_output_does_not_depend_on_hash_seed_or_cache() -> None:
    """Byte-identical JSON, trace and near misses included, across processes and hash seeds."""
    example = Path(__file__).resolve().parent.parent / "examples" / "job-loss-several-debts.json"
    args = [str(XIESHANG), "advise", str(example), "--format", "json", "--trace", "--near-misses"]
    outputs = set()
    for seed, no_cache in (("1", "1"), ("2", "0"), ("3", "0")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "XIESHANG_NO_CACHE": no_cache}
        done = subprocess.run(args, capture_output=True, timeout=120, check=True, env=env)
        outputs.add(done.stdout)
    assert len(outputs) == 1


COLD_PATH = """
import contextlib, io, sys
sys.argv = ["xieshang", "advise", {example!r}, "--format", "json"]
from cli.main import app
with contextlib.redirect_stdout(io.StringIO()):
    try:
        app()
    except SystemExit as exit:
        assert exit.code in (0, None), exit.code
print(sorted(n for n in ("jsonschema", "yaml") if n in sys.modules))
"""


@pytest.mark.slow  # a subprocess
def test_valid_input_with_a_cached_pack_needs_neither_jsonschema_nor_yaml() -> None:
    """Start-up: both are imported only for invalid input or when rule files are read."""
    example = Path(__file__).resolve().parent.parent / "examples" / "first-late-payment.json"
    code = COLD_PATH.format(example=str(example))
    for _ in range(2):  # the first process may fill the compiled-pack cache; the second hits it
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_validate_one_file_checks_it_with_its_pack(runner: CliRunner, pack: Path) -> None:
    """Facts derived in other files resolve; only the named file's errors are reported."""
    other = pack / "more.yaml"
    other.write_text(
        "rules:\n"
        "  - id: uses_derived\n"
        "    title: {en: t, zh-CN: t}\n"
        "    source: guide §2.1\n"
        "    when: {fact: disposable_income, op: '>', value: 0}\n"
        "    suppress: {action: pay_now, reason: {en: r, zh-CN: r}}\n",
        encoding="utf-8",
    )
    result = invoke(runner, "rules", "validate", str(other))
    assert result.exit_code == 0, result.stderr
    (pack / "rules.yaml").write_text(PACK.replace("op: known", "op: knwn"), encoding="utf-8")
    assert invoke(runner, "rules", "validate", str(other)).stdout.startswith(
        "1 file(s): ok (1 error(s) elsewhere in the pack)"
    )
    broken = invoke(runner, "rules", "validate", str(pack / "rules.yaml"))
    assert broken.exit_code == 2
    assert [line.split(": ")[1] for line in broken.stderr.splitlines()[:-1]] == [
        "rule_schema_error"
    ]


@pytest.mark.slow  # a subprocess
def test_a_full_disk_is_one_line_and_exit_1() -> None:
    """Writing the advice fails (ENOSPC on /dev/full): a message, no traceback."""
    example = Path(__file__).resolve().parent.parent / "examples" / "pay-now.json"
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [str(XIESHANG), "advise", str(example)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert (
        done.stderr
        == "xieshang: error: cannot write the output: [Errno 28] No space left on device\n"
    )


def test_a_pack_leaves_out_hidden_folders_virtualenvs_and_nested_packs(
    runner: CliRunner, pack: Path
) -> None:
    broken = "rules: [{id: Broken}]\n"
    for folder in (".git", "venv", "other_pack"):
        (pack / folder).mkdir()
        (pack / folder / "x.yaml").write_text(broken, encoding="utf-8")
    (pack / "venv" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (pack / "other_pack" / "pack.yaml").write_text(
        "pack: {name: other, version: 1.0.0}\n", encoding="utf-8"
    )
    result = invoke(runner, "rules", "validate", "--rules", str(pack))
    assert result.exit_code == 0, result.stderr
    assert "3 rules in 2 files" in result.stdout
    (pack / "sub").mkdir()
    (pack / "sub" / "x.yaml").write_text(broken, encoding="utf-8")  # an ordinary folder counts
    assert invoke(runner, "rules", "validate", "--rules", str(pack)).exit_code == 2


def test_rule_and_test_files_stand_for_their_pack(runner: CliRunner, pack: Path) -> None:
    tests = pack / "tests"
    tests.mkdir()
    case = {"name": "overdue", "situation": SITUATION, "expect": {"top": ["contact_lender"]}}
    (tests / "a.test.yaml").write_text(json.dumps({"cases": [case]}), encoding="utf-8")
    (tests / "b.test.yaml").write_text(json.dumps({"cases": [case, case]}), encoding="utf-8")
    one = invoke(runner, "rules", "test", str(tests / "b.test.yaml"))
    assert one.exit_code == 0 and one.stdout.endswith("2 passed, 0 failed\n")
    every = invoke(runner, "rules", "test", str(pack / "rules.yaml"))
    assert every.stdout.endswith("3 passed, 0 failed\n")
    lint = invoke(runner, "rules", "lint", str(pack / "rules.yaml"))
    assert "pack_missing" not in lint.output
    assert lint.stdout.splitlines()[-1].startswith("testpack: 0 errors")
