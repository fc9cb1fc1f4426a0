"""Every way a rule pack can be wrong: one fixture pack per failure mode, one exact error each.

Each directory under ``tests/fixtures/rules/`` is a small pack (``pack.yaml`` and one rule file)
that is wrong in exactly one way. The test loads it and checks that the load reports exactly one
error, with its code, its ``file:line:col``, the key words of its message and its hint. "Exactly
one" matters: an error must not drag a cascade of follow-on errors behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.core.errors import RuleError, RuleLoadError
from engine.core.yamlsource import MAX_FILE_BYTES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"


@dataclass(frozen=True)
class Case:
    mode: str  #: the fixture directory
    code: str
    file: str  #: the file inside the fixture directory
    line: int
    column: int | None  #: None where the column is not meaningful
    words: tuple[str, ...]  #: key words of the message
    hint: str | None = None  #: a part of the hint; None: the error has no hint


CASES = [
    # --- YAML: the file cannot be read as plain data
    Case(
        "yaml_syntax_indent",
        "yaml_syntax",
        "rules.yaml",
        4,
        6,
        ("expected <block end>", "block mapping that starts at line 2"),
        "check the indentation",
    ),
    Case(
        "yaml_syntax_flow",
        "yaml_syntax",
        "rules.yaml",
        4,
        11,
        ("expected ',' or '}'", "flow mapping that starts at line 3, column 12"),
        "a '{' is not closed",
    ),
    Case(
        "yaml_duplicate_key",
        "yaml_duplicate_key",
        "rules.yaml",
        5,
        5,
        ("duplicate key 'source'",),
        "first defined at {dir}/rules.yaml:4:5",
    ),
    Case(
        "yaml_tag",
        "yaml_tag",
        "rules.yaml",
        3,
        12,
        ("'!!python/object:builtins.dict'", "not allowed"),
        "rule files are plain data",
    ),
    Case(
        "yaml_alias_bomb",
        "yaml_too_large",
        "rules.yaml",
        7,  # the line where expanding the aliases passes the limit
        1,
        ("more than 200,000 values", "alias bomb"),
    ),
    Case("yaml_empty", "yaml_empty", "rules.yaml", 1, 1, ("empty",), "'rules:'"),
    Case(
        "yaml_number",
        "yaml_number",
        "rules.yaml",
        6,
        55,
        ("'.inf'", "out of range"),
        "numbers must be finite",
    ),
    Case(
        "yaml_merge_key",
        "yaml_merge_key",
        "rules.yaml",
        8,
        9,
        ("merge keys", "not supported"),
        "write the keys out in full",
    ),
    # --- schema: the data does not have the shape of a rule-pack file
    Case(
        "schema_unknown_key",
        "rule_schema_error",
        "rules.yaml",
        5,
        5,
        ("rules/0/abuot", "unknown key 'abuot'"),
        "did you mean 'about'?",
    ),
    Case(
        "schema_misspelt_required",  # not also "'reason' is a required property"
        "rule_schema_error",
        "rules.yaml",
        7,
        7,
        ("rules/0/suppress/reasn", "unknown key 'reasn'"),
        "did you mean 'reason'?",
    ),
    Case(
        "schema_urgency_enum",
        "rule_schema_error",
        "rules.yaml",
        9,
        7,
        ("rules/0/recommend/urgency", "'immediatly' is not an allowed value"),
        "did you mean 'immediate'?",
    ),
    Case(
        "schema_missing_locale",
        "text_locale",
        "rules.yaml",
        11,
        7,
        ("rule 'r1' recommend.message", "no 'zh-CN' text"),
        "the pack's locales are zh-CN, en",
    ),
    Case(
        "locale_undeclared",
        "text_locale",
        "rules.yaml",
        11,
        41,
        ("rule 'r1' recommend.message", "'fr' is not one of the pack's locales (zh-CN, en)"),
        "declare it in pack.yaml's 'locales:'",
    ),
    Case(
        "locale_declared_missing",
        "text_locale",
        "rules.yaml",
        3,
        5,
        ("rule 'r1' title", "no 'fr' text"),
        "the pack's locales are zh-CN, en, fr",
    ),
    Case(
        "locale_tag",
        "rule_schema_error",
        "pack.yaml",
        4,
        20,
        ("pack/locales/1", "'english' is not a locale tag"),
        "such as 'zh-CN', 'en' or 'fr'",
    ),
    Case(
        "schema_missing_op",
        "rule_schema_error",
        "rules.yaml",
        5,
        5,
        ("rules/0/when", "'op' is a required property"),
    ),
    Case(
        "schema_value_and_param",
        "rule_schema_error",
        "rules.yaml",
        8,
        11,
        ("rules/0/when/all/1", "either 'value' or 'param', not both"),
    ),
    Case(
        "schema_two_consequences",  # points at the second consequence
        "rule_schema_error",
        "rules.yaml",
        12,
        5,
        ("exactly one of", "it has 'recommend' and 'suppress'"),
    ),
    Case(
        "schema_bad_source",
        "rule_schema_error",
        "rules.yaml",
        4,
        5,
        ("rules/0/source", "'guide 1.1' is not a source citation"),
        "write 'guide §x.y' or 'brief n.m'",
    ),
    Case(
        "schema_bad_id",
        "rule_schema_error",
        "rules.yaml",
        2,
        5,
        ("rules/0/id", "'Contact-Lender' is not lower_snake_case"),
        "a-z, 0-9 and _",
    ),
    Case(
        "schema_regex_operator",  # the language has no regex operator: see test_yaml_hardening
        "rule_schema_error",
        "rules.yaml",
        5,
        31,
        ("rules/0/when/op", "'matches' is not an allowed value"),
        "allowed values: ==, !=, <, <=, >, >=, in, not_in, contains, not_contains, between, not_between, known",
    ),
    # --- the pack as a whole
    Case(
        "pack_missing",
        "pack_missing",
        "",  # the pack directory itself
        0,
        None,
        ("no file declares 'pack:'",),
        "add pack.yaml",
    ),
    Case(
        "pack_duplicate",
        "pack_duplicate",
        "rules.yaml",
        1,
        1,
        ("'pack:' is declared more than once",),
        "first declared at {dir}/pack.yaml:1:1",
    ),
    Case(
        "param_duplicate",  # files load in name order: more_parameters.yaml comes first
        "param_duplicate",
        "parameters.yaml",
        2,
        3,
        ("parameter 'escalation_days' is defined twice",),
        "first defined at {dir}/more_parameters.yaml:2:3",
    ),
    # --- rules
    Case(
        "rule_duplicate_id",
        "rule_duplicate_id",
        "rules.yaml",
        12,
        5,
        ("rule id 'r1' is used twice",),
        "first used at {dir}/rules.yaml:2:5",
    ),
    Case(
        "rule_unknown_action",
        "rule_unknown_action",
        "rules.yaml",
        2,
        5,
        ("rule 'r1'", "unknown action 'contact_lendr'"),
        "did you mean 'contact_lender'?",
    ),
    Case(
        "rule_unknown_fact",
        "rule_unknown_fact",
        "rules.yaml",
        6,
        5,
        ("rule 'r1'", "unknown fact 'loan.days_overdu'"),
        "did you mean 'loan.days_overdue'?",
    ),
    Case(
        "rule_scope_loan_fact",
        "rule_scope",
        "rules.yaml",
        5,
        5,
        ("'loan.days_overdue' is a per-loan fact in a situation rule",),
        "add 'about: loan'",
    ),
    Case(
        "rule_scope_derive",  # one error: not also one for each loan fact the expression reads
        "rule_scope",
        "rules.yaml",
        6,
        7,
        ("derives per-loan fact 'loan.double_overdue'",),
        "add 'about: loan'",
    ),
    Case(
        "rule_operator_type",
        "rule_operator_type",
        "rules.yaml",
        6,
        5,
        ("'>' does not apply to text fact 'loan.lender'",),
        "operators for text: ==, !=, in, not_in, known, unknown",
    ),
    Case(
        "rule_value_type_number",
        "rule_value_type",
        "rules.yaml",
        6,
        5,
        ("loan.days_overdue", "expected a number, got '30'"),
    ),
    Case(
        "rule_value_type_list",
        "rule_value_type",
        "rules.yaml",
        6,
        5,
        ("'==' needs a single value", "['jiebei', 'huabei']"),
    ),
    Case(
        "rule_value_enum",  # an enum value not in the list is a rule_value_type, with a hint
        "rule_value_type",
        "rules.yaml",
        6,
        5,
        ("loan.product", "'jeibei' is not a possible value"),
        "did you mean 'jiebei'?",
    ),
    Case(
        "rule_value_missing",
        "rule_value_missing",
        "rules.yaml",
        6,
        5,
        ("'>' needs a 'value' or a 'param'",),
    ),
    Case(
        "rule_value_unexpected",
        "rule_value_unexpected",
        "rules.yaml",
        6,
        5,
        ("'known' takes no value",),
    ),
    Case(
        "rule_unknown_param",
        "rule_unknown_param",
        "rules.yaml",
        6,
        5,
        ("unknown parameter 'escalation_day'",),
        "did you mean 'escalation_days'?",
    ),
    # --- derived facts and expressions
    Case(
        "rule_expression_syntax",  # the column points at the '*' inside the expression
        "rule_expression_syntax",
        "rules.yaml",
        7,
        40,
        ("rule 'derive_bad'", "unexpected '*' at column 27 of the expression"),
    ),
    Case(
        "rule_expression_type",  # the column points at the unknown name
        "rule_expression_type",
        "rules.yaml",
        7,
        40,
        ("unknown fact 'borrower.monthly_expenses'",),
        "did you mean 'borrower.monthly_essential_expenses'?",
    ),
    Case(
        "rule_derive_input",
        "rule_derive_input",
        "rules.yaml",
        7,
        7,
        ("derives 'loan.days_overdue', which is an input fact",),
        "give the derived fact its own name",
    ),
    Case(
        "rule_derive_unit",  # points at the unit
        "rule_derive_unit",
        "rules.yaml",
        8,
        7,
        ("unit 'date' does not fit a number value",),
        "units for a number: money, percent, days, integer, number",
    ),
    Case(
        "rule_derive_conflict",
        "rule_derive_conflict",
        "rules.yaml",
        9,
        5,
        ("'derive_flag' derives 'spare' as boolean", "rule 'derive_money'", "number (money)"),
        "'derive_money' is at {dir}/rules.yaml:2:5",
    ),
    Case(
        "rule_cycle",  # one error: not also "unknown fact" for each fact in the cycle
        "rule_cycle",
        "rules.yaml",
        9,
        5,
        ("derived facts form a cycle: a → b → a",),
    ),
    # --- templates: located at the text itself
    Case(
        "rule_template",
        "rule_template",
        "rules.yaml",
        11,
        17,
        ("recommend.message (en)", "lone '{'"),
    ),
    Case(
        "rule_placeholder_unknown",
        "rule_placeholder",
        "rules.yaml",
        12,
        17,
        ("recommend.message (en)", "unknown fact '{loan.lendr}'"),
        "did you mean 'loan.lender'?",
    ),
    Case(
        "rule_placeholder_attribute",
        "rule_placeholder",
        "rules.yaml",
        12,
        17,
        ("'{loan.__class__}' is not a fact name",),
    ),
    Case(
        "rule_placeholder_call",
        "rule_placeholder",
        "rules.yaml",
        12,
        30,
        ("recommend.message (zh-CN)", "'{loan.lender.upper()}' is not a fact name"),
    ),
    Case(
        "rule_placeholder_conversion",
        "rule_placeholder",
        "rules.yaml",
        11,
        15,
        ("recommend.title (en)", "'{loan.lender!r}' is not a fact name"),
    ),
    # --- compiler limits
    Case(
        "rule_too_complex",  # 5 × 5 × 5 = 125 alternatives
        "rule_too_complex",
        "rules.yaml",
        2,
        5,
        ("rule 'r1'", "more than 64 alternatives", "split it"),
    ),
    # --- the pack's plan: section (SPEC §7.2)
    Case(
        "plan_unknown_fact",
        "plan_unknown_fact",
        "pack.yaml",
        5,
        5,
        ("plan.budget", "unknown fact 'budgett'"),
        "did you mean 'budget'?",
    ),
    Case(
        "plan_fact_unit",
        "plan_fact_unit",
        "pack.yaml",
        10,
        7,
        ("plan.loan.monthly_payment", "'loan.months' has unit integer, not money"),
    ),
    Case(
        "plan_fact_scope",
        "plan_fact_scope",
        "pack.yaml",
        5,
        5,
        ("plan.budget", "'loan.monthly' is not a situation fact"),
    ),
    Case(
        "plan_value",  # a strategy the advice schema does not know: points into the expression
        "plan_value",
        "rules.yaml",
        10,
        35,
        ("derives loan.strategy = 'instalment'", "not a strategy"),
        "did you mean 'instalments'?",
    ),
    Case(
        "plan_placeholder",
        "rule_placeholder",
        "pack.yaml",
        18,
        9,
        ("plan.why.ok (en)", "unknown fact '{loan.monthy}'"),
        "did you mean 'loan.monthly'?",
    ),
]


def load_errors(*roots: Path | str) -> list[RuleError]:
    with pytest.raises(RuleLoadError) as caught:
        engine.load_rules(list(roots))
    return caught.value.errors


def test_every_fixture_directory_has_a_case() -> None:
    covered = {case.mode for case in CASES} | {"many_errors"}
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == covered


@pytest.mark.parametrize("case", CASES, ids=[c.mode for c in CASES])
def test_failure_mode_reports_one_exact_error(case: Case) -> None:
    root = FIXTURES / case.mode
    shown = root.as_posix()
    errors = load_errors(root)
    assert len(errors) == 1, "\n".join(map(str, errors))
    error = errors[0]
    assert error.code == case.code
    loc = error.location
    assert loc.file == (f"{shown}/{case.file}" if case.file else shown)
    assert loc.line == case.line, str(error)
    if case.column is not None:
        assert loc.column == case.column, str(error)
    for word in case.words:
        assert word in error.message, f"{word!r} not in {error.message!r}"
    if case.hint is None:
        assert error.hint == ""
    else:
        assert case.hint.replace("{dir}", shown) in error.hint
    assert str(error).startswith(f"{loc}: {case.code}: ")


def test_pack_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_pack"
    errors = load_errors(missing)
    assert [(e.code, e.location.file, e.location.line) for e in errors] == [
        ("pack_not_found", missing.as_posix(), 0)
    ]
    assert "no such file or directory" in errors[0].message


def test_a_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text("pack: {name: big, version: 0.1.0}\n", encoding="utf-8")
    big = tmp_path / "rules.yaml"
    filler = "# " + "x" * 97 + "\n"  # 100 bytes a line: only comments, cheap to parse if read
    big.write_text("rules: []\n" + filler * (MAX_FILE_BYTES // 100 + 1), encoding="utf-8")
    size = big.stat().st_size
    assert size > MAX_FILE_BYTES
    errors = load_errors(tmp_path)
    assert len(errors) == 1
    error = errors[0]
    assert (error.code, error.location.file, error.location.line) == (
        "yaml_too_large",
        big.as_posix(),
        1,
    )
    assert f"{size:,} bytes" in error.message
    assert f"{MAX_FILE_BYTES:,}" in error.message


# --- several errors at once --------------------------------------------------------------------

MANY = FIXTURES / "many_errors"
#: (file, line, code, a word of the message): every error of the pack, in the order reported
MANY_ERRORS = [
    ("a_rules.yaml", 4, "rule_schema_error", "'guide 5.1' is not a source citation"),
    ("a_rules.yaml", 9, "rule_unknown_action", "'build_budgt'"),
    ("a_rules.yaml", 18, "rule_placeholder", "'{spare_incom}'"),
    ("b_rules.yaml", 5, "rule_unknown_fact", "'plans.can_pay'"),
    ("b_rules.yaml", 9, "rule_schema_error", "'immediately' is not an allowed value"),
    ("b_rules.yaml", 12, "rule_duplicate_id", "'budget_when_spare'"),
    ("parameters.yaml", 4, "rule_schema_error", "'the guide' is not a source citation"),
]


def test_a_pack_with_errors_in_several_files_reports_all_of_them_sorted() -> None:
    errors = load_errors(MANY)
    found = [(Path(e.location.file).name, e.location.line, e.code) for e in errors]
    assert found == [(file, line, code) for file, line, code, _ in MANY_ERRORS]
    for error, (*_, word) in zip(errors, MANY_ERRORS, strict=True):
        assert word in error.message
    # a rule or parameter whose only fault is its source citation is still read, so what uses
    # it is not reported as unknown: no "unknown fact 'spare_income'", no "unknown parameter"
    assert not any("'spare_income'" in e.message for e in errors)
    assert not any(e.code == "rule_unknown_param" for e in errors)
    assert errors == sorted(errors)


# --- the command line --------------------------------------------------------------------------

ERROR_LINE = re.compile(r"^(?P<loc>\S+?:\d+:\d+): (?P<code>[a-z_]+): .+$")


def test_cli_validate_prints_every_error_on_stderr_and_exits_2() -> None:
    result = CliRunner().invoke(app, ["rules", "validate", "--rules", str(MANY)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    expected = [str(e) for e in load_errors(MANY)]
    assert lines[:-1] == expected
    assert lines[-1] == f"xieshang: {len(expected)} errors in the rules"
    for line, (file, number, code, _) in zip(lines, MANY_ERRORS, strict=False):
        match = ERROR_LINE.match(line)
        assert match, line
        assert match["loc"].startswith(f"{MANY.as_posix()}/{file}:{number}:")
        assert match["code"] == code
    assert "(hint: did you mean 'build_budget'?)" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("mode", ["yaml_syntax_flow", "yaml_alias_bomb", "pack_missing"])
def test_cli_validate_on_unreadable_packs_exits_2_without_a_traceback(mode: str) -> None:
    result = CliRunner().invoke(app, ["rules", "validate", "--rules", str(FIXTURES / mode)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == "xieshang: 1 error in the rules"
    assert "Traceback" not in result.output


def test_cli_validate_on_a_missing_directory_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "validate", "--rules", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "pack_not_found" in result.stderr
