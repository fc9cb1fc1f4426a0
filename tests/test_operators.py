"""The operator table (engine/core/operators.py): every entry, drawn from the table, agrees between
durable_rules, the reference evaluator and its own Python test; the schemas are what the table
generates; and ``between`` (the proof that an operator is one entry) checks, lints and explains.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.core.errors import RuleLoadError
from engine.core.operators import (
    LOCALES,
    OPERATORS,
    Operator,
    OperatorTableError,
    check_table,
    operand_problem,
    truth,
)
from engine.core.values import UNKNOWN
from engine.load.situation import normalise, validate_situation
from engine.run.driver import run
from engine.run.reference import reference_run
from engine.whynot import needs_phrase

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 28)
PACK_YAML = "pack:\n  name: operators\n  version: 1.0.0\n"

#: One fact of each type a rule can test, with values to put in the situation (UNKNOWN: absent).
FACTS: dict[str, tuple[str, list[Any]]] = {
    "number": ("loan.outstanding_balance", [UNKNOWN, 0, 100, 250.5, 1000, 5000]),
    "date": ("loan.next_due_date", [UNKNOWN, "2026-01-01", "2026-06-15", "2026-12-31"]),
    "text": ("loan.lender", [UNKNOWN, "alpha", "beta", "gamma"]),
    "boolean": ("loan.status.in_collection", [UNKNOWN, True, False]),
    "list": ("borrower.hardship", [UNKNOWN, [], ["job_loss"], ["job_loss", "illness_or_injury"]]),
}

#: Right-hand sides to test, by the operand kind of the table and the fact type. A new operand
#: kind fails here with a KeyError until it has examples.
EXPECTED: dict[tuple[str, str], list[Any]] = {
    ("scalar", "number"): [100, 250.5],
    ("scalar", "date"): ["2026-06-15"],
    ("scalar", "text"): ["beta"],
    ("scalar", "boolean"): [True, False],
    ("scalar", "list"): ["job_loss", "illness_or_injury"],
    ("list", "number"): [[100, 1000], [5]],
    ("list", "date"): [["2026-01-01", "2026-12-31"]],
    ("list", "text"): [["alpha", "gamma"], ["beta"]],
    ("list", "boolean"): [[True]],
    ("range", "number"): [[100, 1000], [250.5, 250.5], [0, 100]],
    ("range", "date"): [["2026-01-01", "2026-06-15"]],
    ("none", "number"): [None],
    ("none", "date"): [None],
    ("none", "text"): [None],
    ("none", "boolean"): [None],
    ("none", "list"): [None],
}


def _yaml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cases(op: Operator) -> list[tuple[str, str, Any, bool]]:
    """(rule id, fact, expected, negated) for every type the operator takes, plain and under not."""
    cases = []
    for fact_type in sorted(op.types):
        fact, _values = FACTS[fact_type]
        for i, expected in enumerate(EXPECTED[(op.operand, fact_type)]):
            for negated in (False, True):
                rule_id = f"{'n' if negated else 'r'}_{fact_type}_{i}"
                cases.append((rule_id, fact, expected, negated))
    return cases


def _pack(root: Path, op: Operator) -> Path:
    rules = ["rules:"]
    for rule_id, fact, expected, negated in _cases(op):
        rhs = "" if op.operand == "none" else f", value: {_yaml(expected)}"
        leaf = f"{{fact: {fact}, op: {_yaml(op.name)}{rhs}}}"
        when = f"{{not: {leaf}}}" if negated else leaf
        rules.append(
            textwrap.indent(
                textwrap.dedent(
                    f"""\
                    - id: {rule_id}
                      title: {{en: test {rule_id}, zh-CN: 测试 {rule_id}}}
                      source: guide §2.1
                      about: loan
                      when: {when}
                      recommend:
                        action: contact_lender
                        priority: 10
                        urgency: ongoing
                        title: {{en: Call, zh-CN: 致电}}
                        message: {{en: Call them, zh-CN: 联系他们}}
                    """
                ),
                "  ",
            )
        )
    root.mkdir(parents=True)
    (root / "pack.yaml").write_text(PACK_YAML, encoding="utf-8")
    (root / "rules.yaml").write_text("\n".join(rules), encoding="utf-8")
    return root


def _put(target: dict[str, Any], fact: str, value: Any) -> None:
    *path, last = fact.removeprefix("loan.").split(".")
    for key in path:
        target = target.setdefault(key, {})
    if value is not UNKNOWN:
        target[last] = value


def _situations(op: Operator) -> list[dict[str, Any]]:
    """Every value of every fact the operator applies to, on two loans (so joins are exercised)."""
    situations = []
    for fact_type in sorted(op.types):
        fact, values = FACTS[fact_type]
        for k, value in enumerate(values):
            loans: list[dict[str, Any]] = [
                {"id": "a", "product": "jiebei"},
                {"id": "b", "product": "huabei"},
            ]
            situation: dict[str, Any] = {"schema_version": 1, "as_of": "2026-11-28"}
            if fact.startswith("loan."):
                _put(loans[0], fact, value)
                _put(loans[1], fact, values[(k + 1) % len(values)])
            else:
                _put(situation, fact, value)
            situation["loans"] = loans
            situations.append(situation)
    return situations


def _value(situation: dict[str, Any], fact: str, loan: dict[str, Any]) -> Any:
    target: Any = loan if fact.startswith("loan.") else situation
    for key in fact.removeprefix("loan.").split("."):
        if not isinstance(target, dict) or key not in target:
            return UNKNOWN
        target = target[key]
    return target


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_agrees_in_durable_rules_the_reference_and_its_python_test(
    tmp_path: Path, name: str
) -> None:
    """For each table entry, each fact type it takes, plain and under ``not``, on known and
    unknown values: durable_rules (the entry's lowering) fires exactly what the reference
    evaluator fires, and that is exactly where the entry's Python test is true (false under
    ``not``) on a known value."""
    op = OPERATORS[name]
    ruleset = engine.load_rules([_pack(tmp_path / "pack", op)])
    rule_ids = [c.rule.id for c in ruleset.compiled.rules]
    cases = {rule_id: (fact, expected, negated) for rule_id, fact, expected, negated in _cases(op)}
    checked = 0
    for situation in _situations(op):
        normal = normalise(validate_situation(situation, "<test>"), TODAY)
        fired = run(ruleset.runtime, normal)
        reference = reference_run(ruleset.compiled, normal)
        assert fired.firings == reference.firings, situation
        got = {(rule_ids[f.rule_index], f.loan_id) for f in fired.firings}
        wanted = set()
        for rule_id, (fact, expected, negated) in cases.items():
            for loan in situation["loans"]:
                value = _value(situation, fact, loan)
                result = truth(name, value, expected, UNKNOWN)
                if result is (not negated):
                    wanted.add((rule_id, loan["id"]))
        assert got == wanted, situation
        checked += len(cases) * len(situation["loans"])
    assert checked >= 2 * len(op.types) * 3  # plain and negated, per type, over several values


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_rule_schemas", ROOT / "tools" / "gen_rule_schemas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_schemas_are_what_the_generator_writes_from_the_table() -> None:
    generated = _generator().generated()
    assert sorted(generated) == ["rules.schema.json", "tests.schema.json"]
    for name, text in generated.items():
        assert (ROOT / "schemas" / name).read_bytes() == text.encode("utf-8"), (
            f"schemas/{name} is stale: run python tools/gen_rule_schemas.py"
        )
    leaf = json.loads(generated["rules.schema.json"])["$defs"]["leaf"]["properties"]["op"]
    assert leaf["enum"] == list(OPERATORS)
    assert "between not_between: [low, high] (inclusive)" in leaf["description"]


def test_the_generator_check_mode_reports_a_stale_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generator = _generator()
    for name, text in generator.generated().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    generator.ROOT = tmp_path
    assert generator.main(["--check"]) == 0
    stale = json.loads((tmp_path / "rules.schema.json").read_text(encoding="utf-8"))
    stale["$defs"]["leaf"]["properties"]["op"]["enum"].remove("between")
    (tmp_path / "rules.schema.json").write_text(json.dumps(stale), encoding="utf-8")
    assert generator.main(["--check"]) == 1
    assert "schemas out of date: rules.schema.json" in capsys.readouterr().err


# --- the table checks itself -------------------------------------------------------------------


def test_an_entry_without_a_lowering_cannot_be_written() -> None:
    """No silent default: the lowering is a required field, so the module would not import."""
    fields = {f.name: f for f in dataclasses.fields(Operator)}
    for required in ("lower", "test", "on_unknown", "phrase", "values", "bounds", "fanout"):
        assert fields[required].default is dataclasses.MISSING
        assert fields[required].default_factory is dataclasses.MISSING
    entry = dataclasses.asdict(OPERATORS["between"]) | {"name": "between"}
    del entry["lower"]
    with pytest.raises(TypeError, match="lower"):
        Operator(**entry)


def test_an_entry_whose_complement_is_missing_or_disagrees_is_refused() -> None:
    table = dict(OPERATORS)
    del table["not_between"]
    with pytest.raises(OperatorTableError, match="'between': its complement 'not_between'"):
        check_table(table)
    table = dict(OPERATORS)
    table["not_between"] = dataclasses.replace(OPERATORS["not_between"], operand="scalar")
    with pytest.raises(OperatorTableError, match="disagree"):
        check_table(table)
    table = dict(OPERATORS)
    table["unknown"] = dataclasses.replace(OPERATORS["unknown"], on_unknown=None)
    with pytest.raises(OperatorTableError, match="opposite on unknown"):
        check_table(table)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_reads_in_every_locale(name: str) -> None:
    op = OPERATORS[name]
    fact_type = sorted(op.types)[0]
    expected = EXPECTED[(op.operand, fact_type)][0]
    texts = {locale: needs_phrase(name, expected, None, locale) for locale in LOCALES}
    assert all(texts.values())
    assert "{" not in "".join(texts.values())  # every placeholder filled
    assert texts["en"] != texts["zh-CN"] or op.operand != "none"


def test_between_phrases() -> None:
    assert needs_phrase("between", [100, 1000], None) == "between 100 and 1000"
    assert needs_phrase("between", [100, 1000], None, "zh-CN") == "介于 100 与 1000 之间"
    assert needs_phrase("not_between", [100, 1000], None) == "less than 100 or more than 1000"
    assert needs_phrase("between", [1, 2], "window") == "between 1 and 2 (window)"
    assert needs_phrase("in", ["a", "b"], None) == 'one of "a", "b"'  # unchanged wording


# --- between: the checker, lint, explain --------------------------------------------------------

RULE = """\
rules:
  - id: mid_balance
    title: {{en: A middling balance, zh-CN: 中等余额}}
    source: guide §2.1
    about: loan
    when: {when}
    recommend:
      action: contact_lender
      priority: 10
      urgency: ongoing
      title: {{en: Call, zh-CN: 致电}}
      message: {{en: Call them, zh-CN: 联系他们}}
"""


def _write(root: Path, when: str, parameters: str | None = None) -> Path:
    root.mkdir()
    (root / "pack.yaml").write_text(PACK_YAML, encoding="utf-8")
    (root / "rules.yaml").write_text(RULE.format(when=when), encoding="utf-8")
    if parameters is not None:
        (root / "parameters.yaml").write_text(parameters, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "[1000, 100]",
            "'between' needs [low, high] (inclusive) with low <= high, got [1000, 100]",
        ),
        ("[1, 2, 3]", "'between' needs [low, high] (inclusive), got [1, 2, 3]"),
        ("100", "'between' needs [low, high] (inclusive), got 100"),
        ("[1, abc]", "loan.outstanding_balance: expected a number, got 'abc'"),
    ],
)
def test_between_values_are_checked_with_a_clear_message(
    tmp_path: Path, value: str, message: str
) -> None:
    root = _write(
        tmp_path / "p", f"{{fact: loan.outstanding_balance, op: between, value: {value}}}"
    )
    with pytest.raises(RuleLoadError) as caught:
        engine.load_rules([root])
    (error,) = caught.value.errors
    assert error.code == "rule_value_type"
    assert f"rule 'mid_balance': {message}" in error.message
    assert error.location.file.endswith("rules.yaml") and error.location.line == 6


def test_between_applies_to_ordered_facts_only(tmp_path: Path) -> None:
    root = _write(tmp_path / "p", "{fact: loan.lender, op: between, value: [a, b]}")
    with pytest.raises(RuleLoadError) as caught:
        engine.load_rules([root])
    (error,) = caught.value.errors
    assert error.code == "rule_operator_type"
    assert "'between' does not apply to text fact 'loan.lender'" in error.message


def test_between_takes_a_parameter_pair(tmp_path: Path) -> None:
    parameters = "parameters:\n  middle:\n    value: [100, 1000]\n    source: guide §2.1\n"
    root = _write(
        tmp_path / "p", "{fact: loan.outstanding_balance, op: between, param: middle}", parameters
    )
    ruleset = engine.load_rules([root])
    situation = {
        "schema_version": 1,
        "loans": [{"id": "a", "product": "jiebei", "outstanding_balance": 1000}],
    }
    advice = engine.evaluate(ruleset, situation, today=TODAY).to_advice()
    assert [r["action"] for r in advice["recommendations"]] == ["contact_lender"]


def _lint(runner: CliRunner, root: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["rules", "lint", "--rules", str(root)])
    return result.exit_code, result.stdout


@pytest.mark.parametrize(
    ("when", "finding"),
    [
        (
            "{all: [{fact: loan.outstanding_balance, op: between, value: [100, 200]},"
            " {fact: loan.outstanding_balance, op: '>', value: 200}]}",
            "'loan.outstanding_balance between [100,200]' and 'loan.outstanding_balance > 200'"
            " cannot all hold",
        ),
        (
            "{all: [{fact: loan.days_overdue, op: between, value: [10, 20]},"
            " {fact: loan.days_overdue, op: between, value: [21, 30]}]}",
            "'loan.days_overdue between [10,20]' and 'loan.days_overdue between [21,30]'"
            " cannot all hold",
        ),
        (
            "{all: [{fact: loan.days_overdue, op: between, value: [10, 20]},"
            " {fact: loan.days_overdue, op: '<', value: 11},"
            " {fact: loan.days_overdue, op: '!=', value: 10}]}",
            "cannot all hold",
        ),
    ],
)
def test_lint_finds_contradictions_through_between_bounds(
    tmp_path: Path, runner: CliRunner, when: str, finding: str
) -> None:
    code, out = _lint(runner, _write(tmp_path / "p", when))
    assert code == 2, out
    assert "error: lint_contradiction" in out
    assert finding in out


def test_lint_accepts_between_that_can_hold(tmp_path: Path, runner: CliRunner) -> None:
    when = (
        "{all: [{fact: loan.days_overdue, op: between, value: [10, 20]},"
        " {fact: loan.days_overdue, op: '>', value: 19.5}]}"  # 20 still fits
    )
    code, out = _lint(runner, _write(tmp_path / "p", when))
    assert "lint_contradiction" not in out
    assert code == 0, out


def _explain(runner: CliRunner, root: Path, situation: Path, *extra: str) -> str:
    result = runner.invoke(
        app, ["explain", str(situation), "contact_lender", "--rules", str(root), *extra]
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.fixture
def balance_500(tmp_path: Path) -> Path:
    path = tmp_path / "situation.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "as_of": "2026-11-28",
                "loans": [{"id": "a", "product": "jiebei", "outstanding_balance": 500}],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_explain_shows_a_between_that_held(
    tmp_path: Path, runner: CliRunner, balance_500: Path
) -> None:
    root = _write(
        tmp_path / "p", "{fact: loan.outstanding_balance, op: between, value: [100, 1000]}"
    )
    out = _explain(runner, root, balance_500)
    assert "✓ loan.outstanding_balance between [100, 1000]   [actual: 500]" in out


def test_why_not_says_what_a_between_needs(
    tmp_path: Path, runner: CliRunner, balance_500: Path
) -> None:
    root = _write(
        tmp_path / "p", "{fact: loan.outstanding_balance, op: between, value: [1000, 2000]}"
    )
    out = _explain(runner, root, balance_500)
    assert "✗ loan.outstanding_balance between [1000, 2000]   [actual: 500]" in out
    assert "loan.outstanding_balance is 500; this rule needs between 1000 and 2000" in out
    doc = json.loads(_explain(runner, root, balance_500, "--format", "json"))
    assert '"op": "between"' in json.dumps(doc)


def test_why_not_under_not_uses_the_complement_phrase(
    tmp_path: Path, runner: CliRunner, balance_500: Path
) -> None:
    when = "{not: {fact: loan.outstanding_balance, op: between, value: [100, 1000]}}"
    out = _explain(runner, _write(tmp_path / "p", when), balance_500)
    assert "this rule needs less than 100 or more than 1000" in out


def test_operand_problem_examples() -> None:
    assert operand_problem("range", [1, 1]) is None
    assert operand_problem("range", ["2026-02-01", "2026-01-01"]) is not None
    assert operand_problem("range", [1, "2026-01-01"]) is None  # the item check reports it
    assert operand_problem("scalar", [1]) == "needs a single value"
    assert operand_problem("none", None) is None


def test_the_rules_guide_lists_every_operator() -> None:
    guide = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    table = [line for line in guide.splitlines() if line.startswith("| `")]
    listed = {name.strip("`") for line in table for name in line.split("|")[1].split()}
    assert set(OPERATORS) <= listed
