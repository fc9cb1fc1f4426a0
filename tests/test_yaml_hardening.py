"""Rule files are untrusted input: every attack is refused with its file:line, and nothing runs.

What a rule file could try, and what stops it:

* YAML that constructs objects (``!!python/object/apply:os.system``): only the core tags are
  accepted, and values are built from the parsed nodes by ``engine.core.yamlsource``, never by a
  constructor that could import or call anything.
* YAML that explodes in memory or time: a size cap on the file, a cap on the values built
  (aliases count each time they are expanded) and a cap on nesting, also for nesting too deep
  for PyYAML's own recursive composer.
* Templates that reach for attributes, items, calls or format specifications: a placeholder is
  a bare dotted name, checked when the pack loads.
* Expressions that try to run code: the expression language is parsed into a tree from a
  whitelist (``engine.pack.expr``) and evaluated by walking that tree; there is no ``eval``.
* Rules that never stop: see ``test_a_runaway_chain_is_stopped_by_the_firing_budget``.
* Regular expressions (ReDoS): the rule language has no regex operator, so there is no pattern
  from a rule file that could ever be compiled; an operator such as ``matches`` is refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import engine
from engine.core.errors import FiringBudgetExceeded, RuleError, RuleLoadError
from engine.core.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_yaml
from engine.pack.template import TemplateError, placeholders

PACK_YAML = "pack:\n  name: hardening\n  version: 0.1.0\n"

RULE_HEAD = """\
rules:
  - id: r1
    title: {en: A rule, zh-CN: 一条规则}
    source: guide §1.1
"""


def write_pack(root: Path, rules: str) -> Path:
    """A pack directory with ``pack.yaml`` and ``rules.yaml`` holding exactly ``rules``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pack.yaml").write_text(PACK_YAML, encoding="utf-8")
    (root / "rules.yaml").write_text(rules, encoding="utf-8")
    return root


def load_errors(root: Path) -> list[RuleError]:
    with pytest.raises(RuleLoadError) as caught:
        engine.load_rules([root])
    return caught.value.errors


def where(error: RuleError) -> tuple[str, str, int]:
    return Path(error.location.file).name, error.code, error.location.line


# --- YAML: alias bombs, object tags, size and depth ---------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.slow  # scale: alias bombs
def test_billion_laughs_is_refused_quickly_at_the_line_where_it_explodes(tmp_path: Path) -> None:
    root = write_pack(tmp_path / "p", BILLION_LAUGHS)
    start = time.perf_counter()
    errors = load_errors(root)
    assert time.perf_counter() - start < 10  # fully expanded it would be 387 million values
    # a to e build 74,732 values; f alone would build 597,871: the limit is passed in f
    assert [where(e) for e in errors] == [("rules.yaml", "yaml_too_large", 6)]
    assert f"more than {MAX_NODES:,} values" in errors[0].message
    assert "alias bomb" in errors[0].message


@pytest.mark.slow  # scale: alias bombs
def test_a_nested_alias_bomb_is_refused_at_its_line(tmp_path: Path) -> None:
    laughs = "\n".join(BILLION_LAUGHS.splitlines()[:6])
    rules = f"{RULE_HEAD}bombs:\n{_indent(laughs)}\n"  # f, nested, is on line 11
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert [where(e) for e in errors] == [("rules.yaml", "yaml_too_large", 11)]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    errors = load_errors(write_pack(tmp_path / "p", "rules: &r [*r]\n"))
    assert [where(e) for e in errors] == [("rules.yaml", "yaml_too_large", 1)]
    assert f"deeper than {MAX_DEPTH} levels" in errors[0].message
    assert "recursive alias" in errors[0].message


PYTHON_TAGS = [
    "!!python/object/apply:os.system [{cmd!r}]",
    "!!python/object/apply:subprocess.check_call [[sh, -c, {cmd!r}]]",
    "!!python/object/new:os.system [{cmd!r}]",
    "!!python/name:os.system ''",
    "!!python/module:os ''",
    "!!python/object:builtins.dict {{}}",
    "!<tag:yaml.org,2002:python/object/apply:os.system> [{cmd!r}]",
    "!custom {cmd!r}",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS, ids=lambda t: t.split(" ")[0])
def test_python_object_tags_are_refused_and_nothing_runs(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    value = tag.format(cmd=f"touch {marker}")
    rules = f"{RULE_HEAD}    note: {value}\n    suppress: {{action: pay_now, reason: {{en: a, zh-CN: b}}}}\n"
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert not marker.exists()
    assert [where(e) for e in errors] == [("rules.yaml", "yaml_tag", 5)]
    assert errors[0].location.column == 11
    assert "is not allowed" in errors[0].message
    assert "plain data" in errors[0].hint


def test_object_tags_are_refused_by_the_yaml_stage_itself(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f'a: !!python/object/apply:os.system ["touch {marker}"]\n'.encode()
    data, _smap, errors = load_yaml(text, "f.yaml")
    assert not marker.exists()
    assert data == {"a": [f"touch {marker}"]}  # plain data, never a call
    assert [(str(e.location), e.code) for e in errors] == [("f.yaml:1:4", "yaml_tag")]
    assert "'!!python/object/apply:os.system'" in errors[0].message


def test_a_giant_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_pack(root, "")
    giant = 'rules: []\nnote: "' + "x" * MAX_FILE_BYTES + '"\n'
    (root / "rules.yaml").write_text(giant, encoding="utf-8")
    start = time.perf_counter()
    errors = load_errors(root)
    assert time.perf_counter() - start < 5
    assert [where(e) for e in errors] == [("rules.yaml", "yaml_too_large", 1)]
    assert f"the limit is {MAX_FILE_BYTES:,}" in errors[0].message


def test_a_file_at_the_size_cap_is_read() -> None:
    text = b"a: 1\n" + b"#" * (MAX_FILE_BYTES - 6) + b"\n"
    assert len(text) == MAX_FILE_BYTES
    data, _smap, errors = load_yaml(text, "f.yaml")
    assert (data, errors) == ({"a": 1}, [])


@pytest.mark.slow  # scale: nesting up to 100,000 levels
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 5_000, 100_000])
def test_deep_nesting_is_refused_at_the_line_where_it_goes_too_deep(depth: int) -> None:
    # 5,000 and more levels are too deep for PyYAML's recursive composer: no RecursionError
    text = b"rules:\n  - " + b"[" * depth + b"]" * depth + b"\n"
    data, _smap, errors = load_yaml(text, "f.yaml")
    assert data is None
    assert [(e.code, e.location.line) for e in errors] == [("yaml_too_large", 2)]
    assert f"deeper than {MAX_DEPTH} levels" in errors[0].message


def test_deep_block_nesting_is_refused() -> None:
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 70 + "v: 1\n"
    data, _smap, errors = load_yaml(text.encode(), "f.yaml")
    assert data is None
    assert [(e.code, e.location.line) for e in errors] == [("yaml_too_large", MAX_DEPTH + 1)]


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        (b"a: 1\nb: " + b"9" * 5000 + b"\n", "yaml_number", 2),  # beyond int() digit limit
        (b"a: .inf\n", "yaml_number", 1),
        (b"a: 9223372036854775808\n", "yaml_number", 1),
        (b"a: 1\nb: \x00\n", "yaml_syntax", 2),
        (b"a: 1\n---\nb: 2\n", "yaml_syntax", 2),
        (b"a: \xff\n", "yaml_encoding", 1),
        (b"base: &b {x: 1}\nc:\n  <<: *b\n", "yaml_merge_key", 3),
        (b"? [a, b]\n: 1\n", "yaml_key_type", 1),
    ],
    ids=["huge-int", "inf", "int64", "nul", "two-documents", "not-utf8", "merge", "list-key"],
)
def test_odd_yaml_is_one_clear_error_never_a_crash(text: bytes, code: str, line: int) -> None:
    _data, _smap, errors = load_yaml(text, "f.yaml")
    assert [(e.code, e.location.line) for e in errors] == [(code, line)]
    assert "\n" not in errors[0].message


def test_an_unquoted_date_is_read_as_its_iso_text() -> None:
    data, _smap, errors = load_yaml(b"value: 2026-11-28\n", "f.yaml")
    assert (data, errors) == ({"value": "2026-11-28"}, [])


# --- templates ----------------------------------------------------------------------------------

TEMPLATE_ATTACKS = [
    ("{loan.__class__.__mro__}", "rule_placeholder", "is not a fact name"),
    ("{loan.__class__}", "rule_placeholder", "is not a fact name"),
    ("{0.__class__}", "rule_placeholder", "is not a fact name"),
    ("{loan.id[0]}", "rule_placeholder", "is not a fact name"),
    ("{loan.lender.upper()}", "rule_placeholder", "is not a fact name"),
    ("{loan.lender!r}", "rule_placeholder", "is not a fact name"),
    ("{loan.lender:>10}", "rule_placeholder", "is not a fact name"),
    ("{}", "rule_placeholder", "is not a fact name"),
    ("{loan.lender:>{loan.id}}", "rule_template", "lone '{'"),
    ("{loan.lender", "rule_template", "lone '{'"),
    ("loan.lender}", "rule_template", "lone '}'"),
]


@pytest.mark.parametrize(("template", "code", "words"), TEMPLATE_ATTACKS, ids=lambda v: str(v))
def test_templates_that_reach_for_attributes_or_code_are_refused(
    tmp_path: Path, template: str, code: str, words: str
) -> None:
    rules = (
        RULE_HEAD
        + "    about: loan\n"
        + "    suppress:\n"
        + "      action: pay_now\n"
        + "      reason:\n"
        + "        en: ok\n"
        + f"        zh-CN: '{template}'\n"
    )
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert [where(e) for e in errors] == [("rules.yaml", code, 10)]
    assert errors[0].location.column == 9
    assert "suppress.reason (zh-CN)" in errors[0].message
    assert words in errors[0].message
    with pytest.raises(TemplateError):
        placeholders(template)


def test_doubled_braces_are_literal_text_not_placeholders() -> None:
    assert placeholders("{{loan.__class__}} and {{0}}") == []


# --- expressions --------------------------------------------------------------------------------

EXPRESSION_ATTACKS = [
    ("__import__('os').system('touch {marker}')", 15, "unknown function '__import__'"),
    ("open('{marker}', 'w')", 15, "unknown function 'open'"),
    ("().__class__", 16, "unexpected ')'"),
    ("lambda: 1", 21, "unexpected character ':'"),
    ("borrower.monthly_income.__class__", 15, "may start with '__'"),
    ("eval('1')", 15, "unknown function 'eval'"),
    ("getattr(borrower, 'x')", 15, "unknown function 'getattr'"),
    ("[c for c in 'ab']", 15, "unexpected character '['"),
    ("borrower.monthly_income ** 99999", 40, "unexpected '*'"),
    ("1 if borrower.distress else 0", 17, "unexpected 'if'"),
]


@pytest.mark.parametrize(
    ("expression", "column", "words"), EXPRESSION_ATTACKS, ids=[e for e, _, _ in EXPRESSION_ATTACKS]
)
def test_expression_attacks_in_derive_values_are_refused_and_nothing_runs(
    tmp_path: Path, expression: str, column: int, words: str
) -> None:
    marker = tmp_path / "pwned"
    text = expression.replace("{marker}", str(marker))
    rules = (
        RULE_HEAD
        + "    derive:\n"
        + "      fact: attack\n"
        + f'      value: "{text}"\n'  # the value starts at column 14; its text at 15
    )
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert not marker.exists()
    assert [where(e) for e in errors] == [("rules.yaml", "rule_expression_syntax", 7)]
    assert errors[0].location.column == column
    assert words in errors[0].message


# --- cycles and chains that would not end -------------------------------------------------------


def _derive(rule_id: str, fact: str, value: str, about: str = "situation") -> str:
    return (
        f"  - id: {rule_id}\n"
        "    title: {en: A derived fact, zh-CN: 派生事实}\n"
        "    source: guide §1.1\n"
        f"    about: {about}\n"
        "    derive:\n"
        f"      fact: {fact}\n"
        f"      value: {value}\n"
    )


def test_a_fact_derived_from_itself_is_a_cycle(tmp_path: Path) -> None:
    rules = "rules:\n" + _derive("grow", "savings_left", "savings_left + 1")
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert [where(e) for e in errors] == [("rules.yaml", "rule_cycle", 2)]
    assert "savings_left → savings_left" in errors[0].message


def test_a_three_long_cycle_is_reported_once_with_its_path(tmp_path: Path) -> None:
    rules = (
        "rules:\n"
        + _derive("derive_a", "a", "c + 1")
        + _derive("derive_b", "b", "a * 2")
        + _derive("derive_c", "c", "b - 3")
    )
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert [e.code for e in errors] == ["rule_cycle"]  # and no "unknown fact" for a, b or c
    assert "derived facts form a cycle: a → c → b → a" in errors[0].message
    assert errors[0].location.line in (2, 9, 16)


def test_a_per_loan_cycle_through_a_condition_is_refused(tmp_path: Path) -> None:
    rules = (
        "rules:\n"
        + _derive("derive_x", "loan.x", "1", about="loan").replace(
            "    derive:\n", "    when: {fact: loan.y, op: known}\n    derive:\n"
        )
        + _derive("derive_y", "loan.y", "loan.x + 1", about="loan")
    )
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert [e.code for e in errors] == ["rule_cycle"]
    assert "loan.x → loan.y → loan.x" in errors[0].message


# Why a valid pack always terminates. Rules only add facts: nothing is retracted or changed, and
# a derived fact gets at most one value per loan (a second, different value stops evaluation
# with an error). Derived facts are stratified: a fact's level is one more than the levels of
# the facts its rules read, which is well defined because cycles are refused at load (above).
# Evaluation runs level by level, and each rule fires at most once per loan. So the number of
# firings is bounded by rules × loans, and there is no way to write a chain that feeds itself.
# The firing budget is a second line of defence against a bug in that reasoning or in the
# engine: the test below shows it stops evaluation cleanly when set below what a pack needs.

CHAIN = (
    "rules:\n"
    + _derive("step_1", "step_1", "borrower.monthly_income + 1")
    + _derive("step_2", "step_2", "step_1 + 1")
    + _derive("step_3", "step_3", "step_2 + 1")
    + _derive("step_4", "step_4", "step_3 + 1")
    + _derive("step_5", "step_5", "step_4 + 1")
)
SITUATION = {
    "schema_version": 1,
    "as_of": "2026-11-28",
    "borrower": {"monthly_income": 1000},
    "loans": [{"id": "jiebei", "product": "jiebei"}],
}


def test_a_chain_of_derived_facts_terminates_within_the_default_budget(tmp_path: Path) -> None:
    ruleset = engine.load_rules([write_pack(tmp_path / "p", CHAIN)])
    decision = engine.evaluate(ruleset, SITUATION)
    assert decision.fired_rules() == ["step_1", "step_2", "step_3", "step_4", "step_5"]
    assert decision.derived()["situation"]["step_5"]["value"] == 1005


def test_a_runaway_chain_is_stopped_by_the_firing_budget(tmp_path: Path) -> None:
    ruleset = engine.load_rules([write_pack(tmp_path / "p", CHAIN)])
    with pytest.raises(FiringBudgetExceeded) as caught:
        engine.evaluate(ruleset, SITUATION, budget=3)
    message = str(caught.value)
    assert "more than 3 rule firings in one evaluation" in message
    assert "does not terminate" in message
    assert caught.value.exit_code == 2
    # the ruleset is still usable afterwards: the engine state was cleaned up
    assert engine.evaluate(ruleset, SITUATION).fired_rules()[-1] == "step_5"


# --- regular expressions ------------------------------------------------------------------------


def test_there_is_no_regex_operator_and_matches_is_refused_with_the_allowed_operators(
    tmp_path: Path,
) -> None:
    rules = (
        RULE_HEAD
        + "    about: loan\n"
        + "    when: {fact: loan.lender, op: matches, value: '(a+)+$'}\n"
        + "    suppress: {action: pay_now, reason: {en: a, zh-CN: b}}\n"
    )
    errors = load_errors(write_pack(tmp_path / "p", rules))
    assert [where(e) for e in errors] == [("rules.yaml", "rule_schema_error", 6)]
    assert errors[0].location.column == 31  # the op key
    assert "'matches' is not an allowed value" in errors[0].message
    hint = errors[0].hint
    assert hint.startswith("allowed values: ")
    assert hint.removeprefix("allowed values: ").split(", ") == list(engine_operators())


def engine_operators() -> list[str]:
    from engine.core.operators import OPERATORS

    return list(OPERATORS)
