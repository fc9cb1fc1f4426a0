"""The compiled backend (``engine.run.lowered``) agrees with durable_rules and the reference exactly.

Three-way agreement (Rete, reference, compiled) on firings, values and derivations — values
compared with their types, so 1, 1.0 and True differ — on every case and example of the
default pack, on generated situations, on the feature pack and on generated packs of 100 to
10,000 rules; byte-identical advice from both backends; the lowering never turns pack text into
source; the backend is chosen by ``evaluate(backend=...)`` and ``--backend``.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.audit.testing import load_cases, test_files
from engine.core.errors import EvaluationError, UsageError
from engine.core.source import Location
from engine.core.values import UNKNOWN
from engine.load.situation import normalise, validate_situation
from engine.pack.expr import Node
from engine.pack.model import Derive
from engine.run import lowered
from engine.run.driver import RunResult, run
from engine.run.memory import Memory
from engine.run.memory import normalise as round_by_unit
from engine.run.reference import reference_run
from tests.conftest import PackFactory, situation
from tests.packgen import generate_pack, matching_situation, write_feature_pack
from tests.strategies import situations
from tests.test_expr_compile import NAMES, trees
from tests.test_expr_compile import values as expr_values

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "rules" / "jiebei"
TODAY = dt.date(2026, 11, 28)
TITLE = "title: {en: t, zh-CN: t}"


def _shipped() -> list[tuple[str, dict[str, Any]]]:
    found = [(f"case: {c.name}", c.situation) for c in load_cases(test_files([PACK / "tests"]))]
    for path in sorted((ROOT / "examples").glob("*.json")):
        found.append((f"example: {path.name}", json.loads(path.read_text(encoding="utf-8"))))
    return found


SHIPPED = _shipped()


def typed(value: Any) -> Any:
    """A value with its type made visible: ``==`` finds 1, 1.0 and True equal, this does not."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    return (type(value).__name__, repr(value))


def outcome(result: RunResult) -> dict[str, Any]:
    memory = result.memory
    return {
        "firings": [(f.rule_index, f.loan_index, f.loan_id) for f in result.firings],
        "values": typed(memory.values),
        "derivations": typed(memory.derivations),
        "loans": list(memory.loans),
    }


def three_way(ruleset: engine.RuleSet, normal: dict[str, Any]) -> dict[str, Any]:
    """Run all three on a normalised situation; assert they agree; return the compiled result."""
    rete = outcome(run(ruleset.runtime, normal))
    reference = outcome(reference_run(ruleset.compiled, normal))
    compiled = outcome(lowered.run(ruleset.program(), normal))
    assert compiled == reference
    assert compiled == rete
    return compiled


def fire_and_close(trace: list[dict[str, Any]]) -> Counter[str]:
    """The engine-independent events of a trace (no shards, no engine asserts), as a multiset."""
    keep = []
    for event in trace:
        if event["op"] in ("fire", "close"):
            shown = {k: v for k, v in event.items() if k != "shard"}
            keep.append(json.dumps(shown, sort_keys=True, ensure_ascii=False))
    return Counter(keep)


# --- the default pack ------------------------------------------------------------------------


def test_there_are_shipped_situations() -> None:
    assert len(SHIPPED) > 100  # every case and scenario of the pack, and the examples


@pytest.mark.slow  # every shipped situation
@pytest.mark.parametrize(("name", "sit"), SHIPPED, ids=[n for n, _ in SHIPPED])
def test_three_way_agreement_on_every_shipped_situation(
    default_rules: engine.RuleSet, name: str, sit: dict[str, Any]
) -> None:
    normal = normalise(validate_situation(sit, name), TODAY)
    three_way(default_rules, normal)


def test_three_way_agreement_on_the_examples(default_rules: engine.RuleSet) -> None:
    """The fast subset: the examples only (every case runs in the slow test above)."""
    examples = [(n, s) for n, s in SHIPPED if n.startswith("example:")]
    assert len(examples) >= 10
    fired = 0
    for name, sit in examples:
        normal = normalise(validate_situation(sit, name), TODAY)
        fired += len(three_way(default_rules, normal)["firings"])
    assert fired


@pytest.mark.slow  # every shipped situation, both locales
def test_both_backends_give_byte_identical_advice(default_rules: engine.RuleSet) -> None:
    for name, sit in SHIPPED:
        for locale in ("zh-CN", "en"):
            texts = []
            for backend in engine.api.BACKENDS:
                decision = engine.evaluate(
                    default_rules, sit, locale=locale, today=TODAY, backend=backend
                )
                advice = decision.to_advice(near_misses=True)
                texts.append(json.dumps(advice, ensure_ascii=False, sort_keys=False))
            assert texts[0] == texts[1], name


def test_the_trace_has_the_same_firings_and_closures(default_rules: engine.RuleSet) -> None:
    """The compiled trace shows what the Rete trace shows, without engine shards and asserts."""
    for name, sit in SHIPPED[:40]:
        decisions = [
            engine.evaluate(default_rules, sit, today=TODAY, backend=b) for b in engine.api.BACKENDS
        ]
        rete, compiled = (fire_and_close(list(d.trace)) for d in decisions)
        assert compiled == rete, name
        assert all(e["op"] in ("fire", "close") for e in decisions[1].trace)


@settings(max_examples=150, deadline=None)
@given(situations())
def test_three_way_agreement_on_generated_situations(
    default_rules: engine.RuleSet, sit: dict[str, Any]
) -> None:
    three_way(default_rules, normalise(validate_situation(sit, "<generated>"), TODAY))


# --- other packs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feature_rules(tmp_path_factory: pytest.TempPathFactory) -> engine.RuleSet:
    return engine.load_rules([write_feature_pack(tmp_path_factory.mktemp("features") / "p")])


@settings(max_examples=150, deadline=None)
@given(situations())
def test_three_way_agreement_on_the_feature_pack(
    feature_rules: engine.RuleSet, sit: dict[str, Any]
) -> None:
    """Every feature of the rule language: operators, any/not, params, chains, aggregates."""
    three_way(feature_rules, normalise(validate_situation(sit, "<generated>"), TODAY))


def test_the_feature_pack_fires_and_derives_alike(feature_rules: engine.RuleSet) -> None:
    sit = matching_situation(3)
    for i, loan in enumerate(sit["loans"]):
        loan["days_overdue"] = 20 * i
    result = three_way(feature_rules, normalise(sit, TODAY))
    assert len(result["firings"]) > 5 and result["derivations"]


@pytest.mark.parametrize(
    ("size", "seed"),
    [
        (100, 1),
        pytest.param(1000, 0, marks=pytest.mark.slow),
        pytest.param(10000, 3, marks=pytest.mark.slow),
    ],
)
def test_three_way_agreement_on_generated_packs(tmp_path: Path, size: int, seed: int) -> None:
    matches = generate_pack(tmp_path / "gen", size, seed=seed)
    ruleset = engine.load_rules([tmp_path / "gen"])
    for loans in (1, 3):
        result = three_way(ruleset, normalise(matching_situation(loans), TODAY))
        assert {index for index, _, _ in result["firings"]} == {
            i for i, match in enumerate(matches) if match
        }
    other = matching_situation(2)
    other["borrower"]["monthly_income"] = 100  # a different set of rules holds
    other["loans"][1]["days_overdue"] = 400
    del other["loans"][0]["overdue_amount"]  # and some tests meet an unknown value
    three_way(ruleset, normalise(other, TODAY))


# --- derive expressions ----------------------------------------------------------------------


def memory_of(data: dict[str, object], loans: list[dict[str, object]]) -> Memory:
    values: dict[Any, Any] = {(n, None): v for n, v in data.items() if not n.startswith("params.")}
    ids = [f"l{i}" for i in range(len(loans))]
    for lid, loan in zip(ids, loans, strict=True):
        values.update({(n, lid): v for n, v in loan.items()})
    return Memory(values, ids)


def both_ways(node: Node, data: dict[str, object], loans: list[dict[str, object]]) -> Any:
    parameters = {"k": data.get("params.k")}
    memory = memory_of(data, loans)
    derive = Derive("x", node, "", None, False, Location("<test>", 1, 1))

    def result(fn: Any) -> tuple[str, object]:
        try:
            value = fn()
        except Exception as exc:  # the type is what is compared
            return ("raised", type(exc))
        return (type(value).__name__, repr(value))

    function = lowered.lower_expression(node, parameters)
    out = []
    for loan in [None, *memory.loans]:
        expected = result(lambda: memory.compute(derive, loan, parameters))  # noqa: B023
        actual = result(lambda: function(memory.values.get, loan, memory.loans))  # noqa: B023
        out.append((expected, actual))
    return out


@settings(max_examples=1500, deadline=None)
@given(
    trees.filter(lambda n: "boom" not in repr(n)),
    st.dictionaries(st.sampled_from(NAMES[:-1]), expr_values),
    st.lists(st.dictionaries(st.sampled_from(["loan.x", "loan.y"]), expr_values), max_size=3),
)
def test_lowered_expressions_equal_the_tree_walk(
    node: Node, data: dict[str, object], loans: list[dict[str, object]]
) -> None:
    for expected, actual in both_ways(node, data, loans):
        assert actual == expected, engine.pack.expr.to_source(node)


@pytest.mark.parametrize(
    "text",
    [
        "sum_loans(loan.x) + count_loans(loan.x > 0) + max_loans(loan.x) + min_loans(loan.x)",
        "sum_loans(sum_loans(loan.x) + loan.x)",
        "if(a > 0, a, -a) + coalesce(b, c, params.k, 3)",
        "not a or (b and c)",
        "round(a / 3, 2) + floor(1 / 0) + months_to_repay(a, 10, 0.1)",
        "add_days('2026-11-28', a) == '2026-12-01'",
    ],
)
def test_lowered_expressions_on_examples(text: str) -> None:
    node = engine.pack.expr.parse(text)
    for data in ({}, {"a": 3, "b": True, "c": False, "params.k": 2.5}, {"a": 1e300}):
        for loans in ([], [{"loan.x": 3}, {"loan.x": -1.5}], [{"loan.x": None}]):
            for expected, actual in both_ways(node, dict(data), loans):
                assert actual == expected, (text, data, loans)


# --- conflicts, caching, choosing the backend ---------------------------------------------------


CONFLICTS = f"""
rules:
  - id: one
    {TITLE}
    source: guide §1.2
    about: loan
    derive: {{fact: loan.x, value: "loan.days_overdue"}}
  - id: two
    {TITLE}
    source: guide §1.2
    about: loan
    derive: {{fact: loan.x, value: "loan.days_overdue + 1"}}
  - id: three
    {TITLE}
    source: guide §1.2
    about: loan
    derive: {{fact: loan.y, value: "1"}}
  - id: four
    {TITLE}
    source: guide §1.2
    about: loan
    when: {{fact: loan.product, op: "==", value: huabei}}
    derive: {{fact: loan.y, value: "2"}}
"""


def test_conflicts_are_reported_as_the_reference_reports_them(make_pack: PackFactory) -> None:
    """Two conflicts on two loans: the compiled loop meets another one first, and still says
    what the reference says (it hands conflicts to the reference)."""
    rules = engine.load_rules([make_pack(CONFLICTS)])
    sit = situation(
        loans=[
            {"id": "a", "product": "huabei"},  # x unknown for both rules: only y conflicts
            {"id": "b", "product": "jiebei", "days_overdue": 9},  # only x conflicts
        ]
    )
    normal = normalise(validate_situation(sit, "<test>"), TODAY)
    with pytest.raises(EvaluationError) as expected:
        reference_run(rules.compiled, normal)
    assert "'one' and 'two'" in str(expected.value)  # rule order: x's conflict comes first
    with pytest.raises(EvaluationError) as actual:
        lowered.run(rules.program(), normal)
    assert str(actual.value) == str(expected.value)
    with pytest.raises(EvaluationError, match="'one' and 'two' derive different values"):
        engine.evaluate(rules, sit, backend="compiled")


def test_the_pack_is_lowered_once_per_ruleset(
    make_pack: PackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real = lowered.lower

    def counting(compiled: Any) -> lowered.Program:
        calls.append(compiled)
        return real(compiled)

    monkeypatch.setattr("engine.run.ruleset.lower", counting)
    rules = engine.load_rules([make_pack(CONFLICTS.split("  - id: three")[0])])
    for _ in range(3):
        engine.evaluate(rules, situation(), backend="compiled")
    assert len(calls) == 1 and rules.program() is rules.program()


def test_a_closed_ruleset_refuses_both_backends(make_pack: PackFactory) -> None:
    rules = engine.load_rules([make_pack(CONFLICTS.split("  - id: three")[0])])
    engine.evaluate(rules, situation(), backend="compiled")
    rules.close()
    for backend in engine.api.BACKENDS:
        with pytest.raises(ValueError, match="the rule set was closed"):
            engine.evaluate(rules, situation(), backend=backend)


def test_an_unknown_backend_is_a_usage_error(default_rules: engine.RuleSet) -> None:
    with pytest.raises(UsageError, match="unknown backend 'fast': expected one of 'rete', 'comp"):
        engine.evaluate(default_rules, situation(), backend="fast")


def test_evaluations_after_a_failed_one_are_unaffected(make_pack: PackFactory) -> None:
    rules = engine.load_rules([make_pack(CONFLICTS)])
    bad = situation(loans=[{"id": "b", "product": "jiebei", "days_overdue": 9}])
    with pytest.raises(EvaluationError):
        engine.evaluate(rules, bad, backend="compiled")
    good = situation(loans=[{"id": "b", "product": "jiebei"}])  # x unknown: no conflict
    decision = engine.evaluate(rules, good, backend="compiled")
    assert decision.memory.values[("loan.y", "b")] == 1
    assert decision.memory.values[("loan.x", "b")] is UNKNOWN


# --- the generated code ------------------------------------------------------------------------


HOSTILE = """
rules:
  - id: hostile
    title: {en: "t'); import os #", zh-CN: t}
    source: guide §1.2
    about: loan
    when:
      all:
        - {fact: loan.lender, op: "==", value: "x'), __import__('os').system('exit 3'), ('"}
        - {fact: loan.lender, op: in, value: ["\\"\\"\\"", "\\n__import__('os')"]}
    derive: {fact: loan.note, value: "'); __import__(\\"os\\") #'", unit: text}
"""


def test_pack_text_never_becomes_source(make_pack: PackFactory) -> None:
    """Every identifier of the generated module is one the lowering made; strings of the pack
    are constants, whatever they hold."""
    rules = engine.load_rules([make_pack(HOSTILE)])
    for make in (lowered._Lowerer.module, lowered._Lowerer.module_one):  # any loans; one loan
        module = make(lowered._Lowerer(rules.compiled, {}))
        names = {n.id for n in ast.walk(module) if isinstance(n, ast.Name)}
        names |= {n.name for n in ast.walk(module) if isinstance(n, ast.FunctionDef)}
        names |= {a.arg for n in ast.walk(module) if isinstance(n, ast.arg) for a in [n]}
        generated = re.compile(r"[a-z]+(_[0-9]+)?|[a-z]+_|UNKNOWN|NEVER|U|ArithmeticError")
        assert all(generated.fullmatch(name) for name in names), sorted(names)
        constants = {n.value for n in ast.walk(module) if isinstance(n, ast.Constant)}
        assert "x'), __import__('os').system('exit 3'), ('" in constants
        assert '); __import__("os") #' in constants  # the expression's text literal
    hostile = situation(loans=[{"id": "a", "product": "jiebei", "lender": '"""'}])
    three_way(rules, normalise(validate_situation(hostile, "<test>"), TODAY))
    two = [*hostile["loans"], {"id": "b", "product": "jiebei", "lender": "x"}]
    three_way(rules, normalise(validate_situation({**hostile, "loans": two}, "<test>"), TODAY))


def test_the_generated_module_has_no_builtins(default_rules: engine.RuleSet) -> None:
    program = default_rules.program()
    for function in (program.one, program.function):
        assert function.__globals__["__builtins__"] == {}
        assert function.__code__.co_filename == "<xieshang pack jiebei>"


def test_a_one_loan_run_reads_the_situation_only_when_memory_is_read(
    default_rules: engine.RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pay for what is read: the one-loan function reads the input facts its rules test into
    locals; the whole situation is read into working memory only when someone reads it, and it
    is then the reference's working memory, the input facts first and in the same order."""
    reads: list[object] = []
    reader = lowered.reader()

    def spy(situation: Any, loan: Any, loan_id: str) -> Any:
        reads.append(situation)
        return reader(situation, loan, loan_id)

    monkeypatch.setattr(lowered, "reader", lambda: spy)
    one_loan = [(n, s) for n, s in SHIPPED if len(s["loans"]) == 1]
    assert len(one_loan) > 50
    for name, sit in one_loan:
        normal = normalise(validate_situation(sit, name), TODAY)
        result = lowered.run(default_rules.program(), normal)
        assert reads == [], name  # firings and derivations without reading the situation
        inputs = list(Memory.from_situation(normal).values.items())
        assert list(result.memory.values.items())[: len(inputs)] == inputs, name
        assert reads == [normal]
        assert result.memory == reference_run(default_rules.compiled, normal).memory
        reads.clear()


def test_the_situation_reader_equals_memory_from_situation() -> None:
    for name, sit in SHIPPED:
        normal = normalise(validate_situation(sit, name), TODAY)
        values, loans = lowered._reader()(normal)
        memory = Memory.from_situation(normal)
        assert list(values.items()) == list(memory.values.items()) and loans == memory.loans


def test_unknown_values_and_odd_shapes_read_alike() -> None:
    odd = {"loans": [{"id": "a", "status": None, "arrangement": {"status": None}}], "plans": 3}
    values, loans = lowered._reader()(odd)
    assert values == Memory.from_situation(odd).values and loans == ["a"]
    assert values[("loan.status.legal", "a")] is UNKNOWN
    for loans in ([], [{"id": "a"}, {"id": "b", "status": {"legal": "judgment"}}]):
        values, ids = lowered._reader()({"loans": loans, "borrower": {"dependants": 2}})
        memory = Memory.from_situation({"loans": loans, "borrower": {"dependants": 2}})
        assert list(values.items()) == list(memory.values.items()) and ids == memory.loans


def test_the_one_loan_function_reads_odd_shapes_as_the_reference(
    default_rules: engine.RuleSet,
) -> None:
    """Null, missing and non-object parts, and mappings that are not dicts, read alike in the
    one-loan function (``dict.get`` on each part made a dict) and in the reference."""
    base = normalise(validate_situation(situation(), "<test>"), TODAY)
    loan = {"id": "a", "product": "jiebei", "days_overdue": 40, "overdue_amount": 900}
    shapes: list[dict[str, Any]] = [
        {**base, "loans": [{**loan, "status": None, "arrangement": 3}], "plans": 3},
        {**base, "loans": [{**loan, "status": {"legal": None}}], "borrower": None},
        {
            **base,
            "loans": [MappingProxyType(loan)],
            "borrower": MappingProxyType({"dependants": 2}),
        },
        MappingProxyType({**base, "loans": [loan], "contact": {"contacted_lender": True}}),
    ]
    for shape in shapes:
        assert outcome(lowered.run(default_rules.program(), shape)) == outcome(
            reference_run(default_rules.compiled, shape)
        )


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.slow  # every example through the CLI with both backends
def test_advise_backend_compiled_prints_the_same_bytes(runner: CliRunner) -> None:
    for path in sorted((ROOT / "examples").glob("*.json"))[:4]:
        for fmt in ("json", "text", "markdown"):
            outputs = [
                runner.invoke(app, ["advise", str(path), "--format", fmt, "--backend", b])
                for b in ("rete", "compiled")
            ]
            assert all(o.exit_code == 0 for o in outputs), outputs[1].output
            assert outputs[0].stdout_bytes == outputs[1].stdout_bytes, (path, fmt)


def test_an_unknown_backend_on_the_command_line_exits_2(runner: CliRunner) -> None:
    example = ROOT / "examples" / "pay-now.json"
    result = runner.invoke(app, ["advise", str(example), "--backend", "fast"])
    assert result.exit_code == 2
    assert "--backend" in result.output and result.stdout_bytes.count(b"{") == 0


def test_batch_backend_compiled_writes_the_same_lines(runner: CliRunner, tmp_path: Path) -> None:
    lines = [
        json.dumps(json.loads(p.read_text(encoding="utf-8")), ensure_ascii=False)
        for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([*lines, "{}"]) + "\n", encoding="utf-8")
    outputs = [
        runner.invoke(app, ["batch", str(source), "--backend", b]) for b in ("rete", "compiled")
    ]
    assert [o.exit_code for o in outputs] == [2, 2]  # the last line is not a situation
    assert outputs[0].stdout_bytes == outputs[1].stdout_bytes
    assert outputs[1].stdout_bytes.count(b"\n") == len(lines) + 1


@pytest.mark.slow  # a real process of the installed command
def test_installed_command_runs_the_compiled_backend() -> None:
    command = Path(sys.executable).parent / "xieshang"
    example = str(ROOT / "examples" / "court-notice.json")
    outputs = [
        subprocess.run(
            [str(command), "advise", example, "--format", "json", "--backend", backend],
            capture_output=True,
            check=True,
        ).stdout
        for backend in ("rete", "compiled")
    ]
    assert outputs[0] == outputs[1] and json.loads(outputs[1])["recommendations"]


EXACT = f"""
rules:
  - id: product
    {TITLE}
    source: guide §1.2
    about: loan
    derive: {{fact: loan.product_of, value: "loan.overdue_amount * loan.outstanding_balance",
             unit: money}}
  - id: scaled
    {TITLE}
    source: guide §1.2
    about: loan
    derive: {{fact: loan.scaled, value: "loan.product_of * loan.days_overdue", unit: money}}
  - id: difference
    {TITLE}
    source: guide §1.2
    about: loan
    derive: {{fact: loan.difference, value: "loan.days_overdue - 3", unit: days}}
  - id: sum
    {TITLE}
    source: guide §1.2
    about: situation
    derive: {{fact: total, value: "borrower.dependants + 1", unit: integer}}
"""


@pytest.mark.parametrize(
    ("amount", "balance", "days"),
    [(3, 4, 7), (10**9, 10**9, 9), (10**9, 10**9, 10), (2.5, 4, 7), (0, 0, 0)],
)
def test_integer_arithmetic_without_a_call_is_exact(
    make_pack: PackFactory, amount: float, balance: float, days: int
) -> None:
    """The one-loan function computes ``a * b`` of two integers inline: the same value, and
    UNKNOWN past the engine's 64-bit range (10¹⁸ × 10 > 2⁶³ > 10¹⁸ × 9), as the general
    function; a float operand takes the general path."""
    rules = engine.load_rules([make_pack(EXACT)])
    loan = {"id": "a", "product": "jiebei", "overdue_amount": amount}
    loan |= {"outstanding_balance": balance, "days_overdue": days}
    sit = situation(loans=[loan], borrower={"dependants": 2})
    values = three_way(rules, normalise(validate_situation(sit, "<test>"), TODAY))["values"]
    product = round_by_unit(amount * balance, "money")
    scaled = product * days if -(2**63) < product * days < 2**63 else UNKNOWN
    assert values[("loan.product_of", "a")] == typed(product)
    assert values[("loan.scaled", "a")] == typed(round_by_unit(scaled, "money"))
    assert values[("loan.difference", "a")] == typed(days - 3)
    assert values[("total", None)] == typed(3)


def _rule(name: str, fact: str, second: str, value: str) -> str:
    return f"""
  - id: {name}
    {TITLE}
    source: guide §1.2
    about: loan
    when:
      all:
        - {{fact: loan.days_overdue, op: ">", value: 30}}
        - {second}
    derive: {{fact: {fact}, value: "{value}"}}"""


SHARED = "rules:" + "".join(
    [
        _rule("a", "loan.a", "{fact: loan.product, op: '==', value: jiebei}", "1"),
        _rule("same1", "loan.same", "{fact: loan.overdue_amount, op: '>', value: 10}", "1"),
        _rule("b", "loan.b", "{fact: loan.overdue_amount, op: '<', value: 500}", "2"),
        _rule("same2", "loan.same", "{fact: loan.product, op: '==', value: jiebei}", "1"),
        _rule("c", "loan.c", "{fact: loan.overdue_amount, op: '>', value: 100}", "3"),
    ]
)


def test_rules_sharing_a_test_run_under_one_if_of_it(make_pack: PackFactory) -> None:
    """In the one-loan function, rules with a test in common are tested once for it; rules
    deriving the same value keep their own tests and order (their derivations show it)."""
    rules = engine.load_rules([make_pack(SHARED)])

    def over_30(module: ast.Module) -> int:
        return sum(
            isinstance(n, ast.Compare)
            and isinstance(n.ops[0], ast.Gt)
            and isinstance(n.comparators[0], ast.Constant)
            and n.comparators[0].value == 30
            for n in ast.walk(module)
        )

    assert over_30(lowered._Lowerer(rules.compiled, {}).module()) == 5  # once per rule
    assert over_30(lowered._Lowerer(rules.compiled, {}).module_one()) == 3  # a, b, c share it
    for days, amount in [(40, 50), (40, 600), (40, 5), (10, 50), (None, 50)]:
        loan = {"id": "l", "product": "jiebei", "overdue_amount": amount, "days_overdue": days}
        sit = situation(loans=[{k: v for k, v in loan.items() if v is not None}])
        values = three_way(rules, normalise(validate_situation(sit, "<test>"), TODAY))
        derivations = values["derivations"].get(("loan.same", "l"))
        if days == 40:  # same1 (when over 10), then same2: the pack's order
            expected = [("same1", 1)] if amount > 10 else []
            assert derivations == typed([*expected, ("same2", 1)])
