"""``compile_expr`` gives exactly ``evaluate``'s result: same value, same type, same errors."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import load_rules
from engine.pack import expr
from engine.pack.expr import (
    AGGREGATES,
    UNKNOWN,
    Binary,
    Call,
    Literal_,
    Name,
    Node,
    Unary,
    compile_expr,
    evaluate,
    parse,
)
from engine.pack.model import Derive

NAMES = ["a", "b", "c", "d", "params.k", "loan.x", "loan.y", "boom"]

_LITERALS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0, 10**20, -(10**400)]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 0.5, 2.5, -2.5, 1.005, 1e308, 1e-7]),
    st.sampled_from(["", "x", "2026-11-28", "2026-02-30", "2024-02-29", "20261128", "0"]),
    st.booleans(),
)
_LEAVES: st.SearchStrategy[Node] = st.one_of(
    _LITERALS.map(Literal_), st.sampled_from(NAMES).map(Name)
)


def _calls(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def build(func: str) -> st.SearchStrategy[Node]:
        fewest, most = expr._ARITY[func]
        size = st.integers(fewest, most if most is not None else fewest + 2)
        args = size.flatmap(lambda n: st.tuples(*[children] * n))
        return args.map(lambda a: Call(func, a))

    return st.sampled_from(sorted(expr.FUNCTIONS)).flatmap(build)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Unary, st.sampled_from(["-", "not"]), children),
        st.builds(Binary, st.sampled_from(sorted(expr._BINARY_PREC)), children, children),
        _calls(children),
    )


trees = st.recursive(_LEAVES, _extend, max_leaves=14)

values = st.one_of(
    _LITERALS,
    st.sampled_from(
        [
            None,
            UNKNOWN,
            math.nan,
            math.inf,
            -math.inf,
            10**400,
            datetime.date(2026, 11, 28),
            datetime.datetime(2026, 3, 1, 12, 30),
            ["a", "b"],
        ]
    ),
)
facts = st.dictionaries(st.sampled_from(NAMES[:-1]), values, max_size=len(NAMES) - 1)
loan_facts = st.lists(st.dictionaries(st.sampled_from(["loan.x", "loan.y"]), values), max_size=3)


def lookup_in(data: Mapping[str, object]) -> Callable[[str], object]:
    def lookup(name: str) -> object:
        if name == "boom":
            raise KeyError(name)  # e.g. an undeclared parameter: both must raise it alike
        return data.get(name)  # None for a missing name: counts as UNKNOWN

    return lookup


def outcome(fn: Callable[[], object]) -> tuple[str, object]:
    try:
        value = fn()
    except Exception as exc:  # the type is what is compared
        return ("raised", type(exc))
    return (type(value).__name__, repr(value))  # 3 vs 3.0 vs True, 0.0 vs -0.0 all differ


def both(
    node: Node, data: Mapping[str, object], loans: Sequence[Mapping[str, object]]
) -> tuple[tuple[str, object], tuple[str, object]]:
    lookup = lookup_in(data)
    loan_lookups = [lookup_in(loan) for loan in loans]
    compiled = compile_expr(node)
    return (
        outcome(lambda: evaluate(node, lookup, loan_lookups)),
        outcome(lambda: compiled(lookup, loan_lookups)),
    )


@settings(max_examples=2000, deadline=None)
@given(trees, facts, loan_facts)
def test_compiled_equals_evaluate_on_random_trees(
    node: Node, data: dict[str, object], loans: list[dict[str, object]]
) -> None:
    expected, actual = both(node, data, loans)
    assert actual == expected, expr.to_source(node)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(AGGREGATES)), trees, facts, loan_facts)
def test_compiled_equals_evaluate_inside_aggregates(
    func: str, inner: Node, data: dict[str, object], loans: list[dict[str, object]]
) -> None:
    node = Binary("+", Call(func, (inner,)), Call(func, (Call(func, (inner,)),)))
    expected, actual = both(node, data, loans)
    assert actual == expected, expr.to_source(node)


@pytest.mark.parametrize(
    "text",
    [
        "1 / 0",
        "round(2.5) + round(-2.5) + round(1.005, 2)",
        "round(1.5, 6) + round(a, 3)",
        "add_days('2026-11-28', 10 * 1000000000)",
        "days_between('2026-01-01', '2026-11-28')",
        "max('2026-01-01', '2026-11-28')",
        "sum_loans(loan.x) + count_loans(loan.x > 0)",
        "min_loans(loan.x)",
        "if(a > 0, a, -a)",
        "coalesce(a, b, 3)",
        "not a or (b and c)",
        "a * 1e308 * 10 + 0.0",
        "a * 100000000000000000000000000",
    ],
)
def test_compiled_equals_evaluate_on_examples(text: str) -> None:
    node = parse(text.replace("1e308", "1" + "0" * 308 + ".0"))
    for data in ({}, {"a": 2, "b": True, "c": False}, {"a": 1e300, "b": None, "c": True}):
        for loans in ([], [{"loan.x": 3}, {"loan.x": -1.5}], [{"loan.x": None}]):
            expected, actual = both(node, data, loans)
            assert actual == expected, (text, data, loans)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_compiled_equals_evaluate_on_the_default_pack(data: st.DataObject) -> None:
    derives = [rule.then for rule in load_rules().pack.rules if isinstance(rule.then, Derive)]
    derive = data.draw(st.sampled_from(derives))
    used = [n for n, _ in expr.names(derive.expr)]
    loan_names = [n for n in used if n.startswith("loan.")]
    facts_drawn = data.draw(st.fixed_dictionaries({n: values for n in used}))
    loans = data.draw(st.lists(st.fixed_dictionaries({n: values for n in loan_names}), max_size=3))
    expected, actual = both(derive.expr, facts_drawn, loans)
    assert actual == expected, derive.text


def test_compiled_is_reusable() -> None:
    compiled = compile_expr(parse("sum_loans(loan.x) + a"))
    first = compiled(lookup_in({"a": 1}), [lookup_in({"loan.x": 2})])
    assert compiled(lookup_in({"a": 1}), [lookup_in({"loan.x": 2})]) == first == 3
    assert compiled(lookup_in({"a": 1})) == 1  # no loans: the sum of nothing is 0
