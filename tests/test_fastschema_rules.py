"""The fast schema check (engine.load.fastschema) for rule files and rule test files.

It must accept every valid file we ship or generate (so loading skips jsonschema), and it must
never accept a document jsonschema rejects (so every error is still found, with the same message).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.schemas import load_schema, validator
from engine.core.yamlsource import load_yaml
from engine.load.fastschema import Check, _Unsupported, checker, compile_check
from engine.load.loader import QUESTIONS_FILE
from engine.load.packs import builtin_rules_dir
from tests.packgen import generate_pack, write_feature_pack

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

JIEBEI = builtin_rules_dir() / "jiebei"


def fast(kind: str) -> Check:
    check = checker(kind)
    assert check is not None, f"no fast check for the {kind} schema"
    return check


def valid(kind: str, doc: Any) -> bool:
    return validator(kind).is_valid(doc)


def read(path: Path) -> Any:
    data, _smap, errors = load_yaml(path.read_bytes(), str(path))
    assert not errors, errors
    return data


def rule_files(root: Path) -> list[Path]:
    """The pack's rule files, as the loader takes them (tests and the interview's questions are
    pack files but not rules)."""
    return sorted(
        p for p in root.glob("*.y*ml") if ".test." not in p.name and p.name != QUESTIONS_FILE
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fastschema") / "gen"
    generate_pack(root, 400, seed=3)
    return root


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_pack(tmp_path_factory.mktemp("fastschema") / "features")


# --- (1) every valid file takes the fast path -----------------------------------------------


def test_every_builtin_rule_file_is_accepted() -> None:
    files = rule_files(JIEBEI)
    assert len(files) >= 5
    for path in files:
        doc = read(path)
        assert valid("rules", doc), path
        assert fast("rules")(doc), path


def test_every_generated_and_feature_rule_file_is_accepted(generated: Path, features: Path) -> None:
    files = rule_files(generated) + rule_files(features)
    assert len(files) >= 4
    for path in files:
        doc = read(path)
        assert valid("rules", doc), path
        assert fast("rules")(doc), path


def test_every_builtin_test_file_is_accepted() -> None:
    files = sorted((JIEBEI / "tests").glob("*.test.yaml"))
    assert files
    for path in files:
        doc = read(path)
        assert valid("tests", doc), path
        assert fast("tests")(doc), path


def test_loading_a_valid_pack_does_not_run_jsonschema(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.load.loader
    from engine.api import load_rules

    def refuse(kind: str) -> Any:
        raise AssertionError(f"jsonschema ran for a valid {kind} file")

    monkeypatch.setenv("XIESHANG_NO_CACHE", "1")
    monkeypatch.setattr(engine.load.loader, "validator", refuse)
    assert len(load_rules([generated]).pack.rules) == 400


# --- (2) conservative: fast(doc) implies jsonschema accepts doc --------------------------------

RULE_KEYS = (
    *("pack", "parameters", "rules", "id", "title", "source", "about", "note", "when"),
    *("recommend", "derive", "adjust", "suppress", "action", "priority", "urgency", "message"),
    *("fact", "value", "unit", "summary", "by", "reason", "en", "zh-CN", "all", "any", "not"),
    *("op", "param", "name", "version", "description", "actions", "code", "meaning"),
    *("reasn", "extra", "Bad-Name", ""),
)
TEST_KEYS = (
    *("cases", "name", "note", "situation", "situation_file", "expect", "present", "absent"),
    *("rank", "order", "top", "fired", "not_fired", "suppressed", "derived", "loan_ids"),
    *("extra", "situaton", ""),
)
WORDS = (
    *("immediate", "this_week", "soon", "situation", "loan", "money", "percent", "Money"),
    *("==", "!=", ">=", "in", "not_in", "known", "unknown", "=~", "in "),
    *("guide §1.2", "brief 1.5", "guide §2.2; brief 1.5", "guide 1.2", "see guide §1.2"),
    *("pay_now", "Pay_now", "1abc", "a-b", "_x", "loan.days", "loan.", "a.b.c", "x\n"),
    *("1.0.0", "1.0", "v1.0.0", "1.0.0-rc.1", "", " ", "x" * 101, "y" * 2001),
)
NUMBERS = (0, 1, -1, 2, 1000, 1001, -1000, -1001, 0.0, 1.0, -0.0, 2.5, math.nan, math.inf)


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(NUMBERS),
        st.integers(-2000, 2000),
        st.floats(allow_nan=True),
        st.sampled_from(WORDS),
        st.text(max_size=6),
    )


def values(keys: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(keys), inner, max_size=3),
        ),
        max_leaves=6,
    )


def conditions() -> st.SearchStrategy[Any]:
    """Conditions, right and wrong: leaves, groups, leaves with both value and param, ..."""
    leaf = st.fixed_dictionaries(
        {"fact": st.sampled_from(["loan.days", "x", "Bad", "a.b"]), "op": st.sampled_from(WORDS)},
        optional={
            "value": st.one_of(scalars(), st.lists(scalars(), max_size=3)),
            "param": st.sampled_from(["big_debt", "Bad", ""]),
        },
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.dictionaries(
                st.sampled_from(["all", "any"]), st.lists(inner, max_size=3), min_size=1
            ),
            st.builds(lambda c: {"not": c}, inner),
            st.builds(lambda a, b: {"all": [a], "any": [b]}, inner, inner),
            st.builds(lambda c, v: {**c, "value": v, "param": "p"}, inner, scalars()),
        ),
        max_leaves=5,
    )


def paths(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in ``doc`` (the document itself included)."""
    found = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, (*path, i))
    return found


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def slot(path: tuple[Any, ...]) -> str:
    """The place a value has, by the key holding it: ``when``, ``all[]``, ``rules[]``, ..."""
    if path and isinstance(path[-1], str):
        return path[-1]
    return f"{slot(path[:-1])}[]" if path else ""


def donors(bases: list[Any]) -> dict[str, list[Any]]:
    """Every value of the valid documents, by its slot: swapping them keeps a document close."""
    found: dict[str, list[Any]] = {}
    for doc in bases:
        for path in paths(doc):
            found.setdefault(slot(path), []).append(at(doc, path))
    return found


MUTATIONS = ["swap", "swap", "replace", "empty", "condition", "drop", "rename", "add"]
MUTATIONS += ["duplicate", "wrap"]


def mutated(bases: list[Any], keys: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Valid documents with one to three changes, many of which keep them valid."""
    return _mutated(bases, donors(bases), keys)


@st.composite
def _mutated(
    draw: st.DrawFn, bases: list[Any], swaps: dict[str, list[Any]], keys: tuple[str, ...]
) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(doc)))
        target = at(doc, path)
        kind = draw(st.sampled_from(MUTATIONS))
        new: Any
        if kind == "drop" and isinstance(target, dict) and target:
            del target[draw(st.sampled_from(sorted(target, key=str)))]
            continue
        if kind == "drop" and isinstance(target, list) and target:
            del target[draw(st.integers(0, len(target) - 1))]
            continue
        if kind == "rename" and isinstance(target, dict) and target:
            old = draw(st.sampled_from(sorted(target, key=str)))
            target[draw(st.sampled_from(keys))] = target.pop(old)
            continue
        if kind == "add" and isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(keys), st.integers(0, 2)))
            target[key] = draw(st.one_of(values(keys), conditions()))
            continue
        if kind == "duplicate" and isinstance(target, list) and target:
            target.append(copy.deepcopy(draw(st.sampled_from(target))))
            continue
        if kind == "swap" and swaps.get(slot(path)):
            new = copy.deepcopy(draw(st.sampled_from(swaps[slot(path)])))
        elif kind == "empty":
            new = draw(st.sampled_from([[], {}, "", None]))
        elif kind == "condition":
            new = draw(conditions())
        elif kind == "wrap":
            new = draw(st.sampled_from([[target], {"all": [target]}, {"not": target}]))
        else:
            new = draw(values(keys))
        if not path:
            doc = new
        else:
            at(doc, path[:-1])[path[-1]] = new
    return doc


def small_rule_files() -> list[Any]:
    """Every built-in and generated rule file, cut down to a few rules each (jsonschema is slow)."""
    import tempfile

    docs: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        generate_pack(Path(tmp) / "gen", 30, seed=5)
        write_feature_pack(Path(tmp) / "features")
        roots = [JIEBEI, Path(tmp) / "gen", Path(tmp) / "features"]
        for path in (p for root in roots for p in rule_files(root)):
            doc = read(path)
            rules = doc.get("rules", [])
            for start in range(0, max(len(rules), 1), 3):
                docs.append({**doc, "rules": rules[start : start + 3]} if rules else doc)
    return docs


def small_test_files() -> list[Any]:
    docs: list[Any] = []
    for path in sorted((JIEBEI / "tests").glob("*.test.yaml")):
        cases = read(path)["cases"]
        docs += [{"cases": cases[i : i + 2]} for i in range(0, min(len(cases), 20), 2)]
    docs.append({"cases": [{"name": "file", "situation_file": "s.json", "expect": {"rank": {}}}]})
    return docs


RULE_BASES = small_rule_files()
TEST_BASES = small_test_files()


@settings(SETTINGS, max_examples=400)
@given(mutated(RULE_BASES, RULE_KEYS))
def test_the_fast_check_accepts_only_valid_rule_files(doc: Any) -> None:
    if fast("rules")(doc):
        assert valid("rules", doc), doc


@settings(SETTINGS, max_examples=250)
@given(mutated(TEST_BASES, TEST_KEYS))
def test_the_fast_check_accepts_only_valid_test_files(doc: Any) -> None:
    if fast("tests")(doc):
        assert valid("tests", doc), doc


@settings(SETTINGS, max_examples=300)
@given(conditions())
def test_the_fast_check_accepts_only_valid_conditions(when: Any) -> None:
    rule = {
        "id": "r",
        "title": {"en": "t", "zh-CN": "t"},
        "source": "guide §1.2",
        "when": when,
        "suppress": {"action": "a", "reason": {"en": "r", "zh-CN": "r"}},
    }
    doc = {"rules": [rule]}
    if fast("rules")(doc):
        assert valid("rules", doc), doc


def test_the_mutations_are_not_all_rejected() -> None:
    """The property above is not vacuous: valid mutants (and the bases) are accepted."""
    assert all(fast("rules")(doc) for doc in RULE_BASES)
    assert all(fast("tests")(doc) for doc in TEST_BASES)
    base = RULE_BASES[0]
    assert fast("rules")({**base, "rules": []})


# --- the edges: JSON equality, oneOf, not, if/then/else ---------------------------------------


def one_rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "r",
        "title": {"en": "t", "zh-CN": "t"},
        "source": "guide §1.2",
        "adjust": {"action": "a", "by": 5, "reason": {"en": "r", "zh-CN": "r"}},
    }
    rule.update(changes)
    return {"rules": [{k: v for k, v in rule.items() if v is not None}]}


def adjust_by(by: Any) -> dict[str, Any]:
    return one_rule(adjust={"action": "a", "by": by, "reason": {"en": "r", "zh-CN": "r"}})


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (one_rule(), True),
        (adjust_by(0), False),  # not: {const: 0}
        (adjust_by(0.0), False),  # 0.0 == 0 in JSON
        (adjust_by(False), False),  # a bool is no integer
        (adjust_by(1.0), False),  # valid, but not decided here: the slow path
        (adjust_by(1001), False),
        (one_rule(suppress={"action": "a", "reason": {"en": "r", "zh-CN": "r"}}), False),  # 2 kinds
        (one_rule(adjust=None), False),  # no kind
        (one_rule(when={"fact": "x", "op": "==", "value": 1, "param": "p"}), False),
        (one_rule(when={"fact": "x", "op": "==", "value": True}), True),
        (one_rule(when={"fact": "x", "op": "in", "value": [1, "a", False]}), True),
        (one_rule(when={"fact": "x", "op": "in", "value": []}), False),
        (one_rule(when={"all": [{"fact": "x", "op": "known"}]}), True),
        (one_rule(when={"all": []}), False),
        (one_rule(when={"all": [{"fact": "x", "op": "known"}], "any": []}), False),
        (one_rule(when={"not": {"any": [{"not": {"fact": "x", "op": "known"}}]}}), True),
        (one_rule(when={"not": {"fact": "X", "op": "known"}}), False),
        (one_rule(source="see guide §1.2"), False),  # pattern is a search, but anchored
        (one_rule(id="x" * 101), False),
        ({"parameters": {"a_b": {"value": [1, 2], "source": "brief 1.5"}}}, True),
        ({"parameters": {"a_b": {"value": [], "source": "brief 1.5"}}}, False),
        ({"parameters": {"A": {"value": 1, "source": "brief 1.5"}}}, False),
        ({}, False),
        ([], False),
    ],
)
def test_edges(doc: Any, expected: bool) -> None:
    assert fast("rules")(doc) is expected
    if expected:
        assert valid("rules", doc)


SMALL_SCHEMAS: list[dict[str, Any]] = [
    {"not": {"const": 0}},
    {"not": {"const": "a"}},
    {"not": {"type": "integer"}},
    {"not": {"minimum": 0}},
    {"not": {"not": {"type": "number"}}},
    {"not": {"enum": ["a", "b"]}},
    {"oneOf": [{"type": "integer"}, {"type": "number"}]},
    {"oneOf": [{"type": ["string", "number"]}, {"type": "array", "items": {"const": 1}}]},
    {"oneOf": [{"minimum": 0}, {"maximum": 0}]},
    {"anyOf": [{"const": 1}, {"type": "string"}]},
    {"allOf": [{"not": {"const": 1}}, {"type": "number"}]},
    {"if": {"type": "integer"}, "then": {"minimum": 3}, "else": {"not": {"type": "number"}}},
    {"if": {"not": {"const": 0}}, "then": {"const": 2}},
    {"not": {"uniqueItems": True}},
    {"not": {"propertyNames": {"pattern": "^a"}}},
    {"not": {"additionalProperties": {"type": "integer"}}},
    {"not": {"properties": {"a": {"const": 0}}, "additionalProperties": False}},
    {"not": {"items": {"maximum": 1}}},
]


@pytest.mark.parametrize("schema", SMALL_SCHEMAS, ids=range(len(SMALL_SCHEMAS)))
@settings(SETTINGS, max_examples=150)
@given(value=values(("a", "b", "c")))
def test_tri_state_keywords_are_conservative(schema: dict[str, Any], value: Any) -> None:
    from jsonschema import Draft202012Validator

    check = compile_check(schema)
    if check(value):
        assert Draft202012Validator(schema).is_valid(value), value


def test_unknown_keywords_give_no_fast_check() -> None:
    for schema in ({"contains": {}}, {"$ref": "other.json"}, {"prefixItems": []}):
        with pytest.raises(_Unsupported):
            compile_check(schema)
    assert checker("rules") is not None and checker("tests") is not None
    assert load_schema("rules")["$defs"]["condition"]  # the recursive reference is compiled
