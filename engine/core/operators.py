"""The condition operators: one table, and everything about an operator is in its entry.

An entry says which fact types the operator accepts and what its right-hand side is (the checker),
its complement (the compiler pushes ``not`` down to the leaves with it), how it is decided in
Python on a *known* value and what it gives on an unknown fact (the reference evaluator, explain,
why-not, lint), how durable_rules tests it (the compiler's ``lower``), how many alternative test
chains that lowering adds under one fact (``fanout``, for sharding), how it reads in words in each
locale (why-not and near misses), and what lint may conclude from it (``values``: the finite set
of values it admits; ``bounds``: the interval it confines a value to). Every field is required,
so an entry without a lowering is a TypeError when this module is imported, and ``check_table``
refuses an inconsistent table at import: there is no default that would compile an operator to
"fact is unknown". ``tools/gen_rule_schemas.py`` writes the operator list of the rule schema from
this table.

Adding an operator is one entry here (and its complement, if the table has none yet) plus tests;
``tests/test_operators.py`` runs every entry through both evaluators, the checker, lint and the
phrasing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from engine.core.facts import FactType

Operand = Literal["scalar", "list", "range", "none"]
Bound = tuple[Any, bool]  #: (value, strict): ``> 3`` is (3, True), ``>= 3`` is (3, False)
Bounds = tuple[Bound | None, Bound | None]  #: (lower, upper); None where there is no bound
Truth = bool | None  #: True, False, or None for unknown

#: What each kind of right-hand side is, in the checker's words.
OPERAND_WORDS: Mapping[Operand, str] = {
    "scalar": "a single value",
    "list": "a list of values",
    "range": "[low, high] (inclusive)",
    "none": "no value",
}

#: The locales the phrasing is written in.
LOCALES = ("en", "zh-CN")


@dataclass(frozen=True)
class Phrase:
    """What a condition needs, in words, per locale: ``{v}`` is the value(s), ``{low}`` and
    ``{high}`` the ends of a range. It reads after "this rule needs" / "此规则需要"."""

    en: str
    zh: str

    def text(self, locale: str) -> str:
        return self.zh if locale == "zh-CN" else self.en


@dataclass(frozen=True, kw_only=True)
class Operator:
    name: str
    types: frozenset[FactType]  #: fact types this operator applies to
    operand: Operand  #: what ``value``/``param`` must be
    complement: str  #: the operator that is true exactly when this one is false (known facts)
    test: Callable[[Any, Any], bool]  #: decides it for a known fact value and the expected value
    on_unknown: Truth  #: its three-valued result on an unknown fact (None: unknown)
    #: the durable_rules test, given the expected value and the names of the fact's value,
    #: unknown-marker and list-length properties (an entity column or a derived fact's own)
    lower: Callable[[Any, Props], dict[str, Any]]
    fanout: Callable[[Any], int]  #: alternative test chains ``lower`` adds (``$or`` branches)
    phrase: Phrase  #: what it needs, in words
    values: Callable[[Any], list[Any]] | None  #: lint: the only values it admits (None: many)
    bounds: Callable[[Any], Bounds] | None  #: lint: the interval it confines a value to


_ORDERED: frozenset[FactType] = frozenset({"number", "date"})
_SCALARS: frozenset[FactType] = frozenset({"number", "text", "date", "boolean"})
_ALL: frozenset[FactType] = frozenset({"number", "text", "date", "boolean", "list"})


class Props(NamedTuple):
    """Where a fact lives in its engine fact: value, unknown marker, list length."""

    value: str = "v"
    unknown: str = "u"
    length: str = "n"


def _one(_v: Any) -> int:
    return 1


def _cmp(key: str) -> Callable[[Any, Props], dict[str, Any]]:
    return lambda v, p: {key: {p.value: v}}


def _one_of(v: Any, p: Props) -> dict[str, Any]:
    return {"$or": [{p.value: item} for item in v]} if len(v) > 1 else {p.value: v[0]}


_TABLE = (
    Operator(
        name="==",
        types=_SCALARS,
        operand="scalar",
        complement="!=",
        test=lambda a, b: a == b,
        on_unknown=None,
        lower=lambda v, p: {p.value: v},
        fanout=_one,
        phrase=Phrase("{v}", "等于 {v}"),
        values=lambda v: [v],
        bounds=None,
    ),
    Operator(
        name="!=",
        types=_SCALARS,
        operand="scalar",
        complement="==",
        test=lambda a, b: a != b,
        on_unknown=None,
        lower=_cmp("$neq"),
        fanout=_one,
        phrase=Phrase("anything but {v}", "不等于 {v}"),
        values=None,
        bounds=None,
    ),
    Operator(
        name="<",
        types=_ORDERED,
        operand="scalar",
        complement=">=",
        test=lambda a, b: a < b,
        on_unknown=None,
        lower=_cmp("$lt"),
        fanout=_one,
        phrase=Phrase("less than {v}", "小于 {v}"),
        values=None,
        bounds=lambda v: (None, (v, True)),
    ),
    Operator(
        name="<=",
        types=_ORDERED,
        operand="scalar",
        complement=">",
        test=lambda a, b: a <= b,
        on_unknown=None,
        lower=_cmp("$lte"),
        fanout=_one,
        phrase=Phrase("at most {v}", "不超过 {v}"),
        values=None,
        bounds=lambda v: (None, (v, False)),
    ),
    Operator(
        name=">",
        types=_ORDERED,
        operand="scalar",
        complement="<=",
        test=lambda a, b: a > b,
        on_unknown=None,
        lower=_cmp("$gt"),
        fanout=_one,
        phrase=Phrase("more than {v}", "大于 {v}"),
        values=None,
        bounds=lambda v: ((v, True), None),
    ),
    Operator(
        name=">=",
        types=_ORDERED,
        operand="scalar",
        complement="<",
        test=lambda a, b: a >= b,
        on_unknown=None,
        lower=_cmp("$gte"),
        fanout=_one,
        phrase=Phrase("at least {v}", "不少于 {v}"),
        values=None,
        bounds=lambda v: ((v, False), None),
    ),
    Operator(
        name="in",
        types=_SCALARS,
        operand="list",
        complement="not_in",
        test=lambda a, b: a in b,
        on_unknown=None,
        lower=_one_of,
        fanout=len,
        phrase=Phrase("one of {v}", "为 {v} 之一"),
        values=list,
        bounds=None,
    ),
    Operator(
        name="not_in",
        types=_SCALARS,
        operand="list",
        complement="in",
        test=lambda a, b: a not in b,
        on_unknown=None,
        lower=lambda v, p: {"$and": [{"$neq": {p.value: item}} for item in v]},
        fanout=_one,
        phrase=Phrase("none of {v}", "不是 {v} 中的任何一个"),
        values=None,
        bounds=None,
    ),
    Operator(
        name="contains",
        types=frozenset({"list"}),
        operand="scalar",
        complement="not_contains",
        test=lambda a, b: b in a,
        on_unknown=None,
        lower=lambda v, p: {"$iany": {p.value: {"$i": v}}},
        fanout=_one,
        phrase=Phrase("it to include {v}", "包含 {v}"),
        values=None,
        bounds=None,
    ),
    Operator(
        name="not_contains",
        types=frozenset({"list"}),
        operand="scalar",
        complement="contains",
        test=lambda a, b: b not in a,
        on_unknown=None,
        lower=lambda v, p: {"$or": [{p.length: 0}, {"$iall": {p.value: {"$neq": {"$i": v}}}}]},
        fanout=_one,
        phrase=Phrase("it not to include {v}", "不包含 {v}"),
        values=None,
        bounds=None,
    ),
    Operator(
        name="between",
        types=_ORDERED,
        operand="range",
        complement="not_between",
        test=lambda a, b: b[0] <= a <= b[1],
        on_unknown=None,
        lower=lambda v, p: {"$and": [{"$gte": {p.value: v[0]}}, {"$lte": {p.value: v[1]}}]},
        fanout=_one,
        phrase=Phrase("between {low} and {high}", "介于 {low} 与 {high} 之间"),
        values=None,
        bounds=lambda v: ((v[0], False), (v[1], False)),
    ),
    Operator(
        name="not_between",
        types=_ORDERED,
        operand="range",
        complement="between",
        test=lambda a, b: not b[0] <= a <= b[1],
        on_unknown=None,
        lower=lambda v, p: {"$or": [{"$lt": {p.value: v[0]}}, {"$gt": {p.value: v[1]}}]},
        fanout=lambda _v: 2,
        phrase=Phrase("less than {low} or more than {high}", "小于 {low} 或大于 {high}"),
        values=None,
        bounds=None,
    ),
    Operator(
        name="known",
        types=_ALL,
        operand="none",
        complement="unknown",
        test=lambda a, b: True,
        on_unknown=False,
        lower=lambda _v, p: {"$ex": {p.value: 1}},
        fanout=_one,
        phrase=Phrase("it to be known", "它为已知"),
        values=None,
        bounds=None,
    ),
    Operator(
        name="unknown",
        types=_ALL,
        operand="none",
        complement="known",
        test=lambda a, b: False,
        on_unknown=True,
        lower=lambda _v, p: {p.unknown: 1},
        fanout=_one,
        phrase=Phrase("it to be unknown", "它为未知"),
        values=None,
        bounds=None,
    ),
)


class OperatorTableError(Exception):
    """The operator table contradicts itself (raised when this module is imported)."""


def check_table(table: Mapping[str, Operator]) -> Mapping[str, Operator]:
    """The table, if every entry is consistent with its complement; OperatorTableError if not.

    The complement must be in the table, be its own complement's complement, apply to the same
    types with the same operand, and give the opposite on an unknown fact (unknown stays
    unknown), so that pushing ``not`` into it is exact under three-valued logic.
    """
    for name, op in table.items():
        if name != op.name:
            raise OperatorTableError(f"operator table: entry {name!r} is named {op.name!r}")
        other = table.get(op.complement)
        if other is None:
            raise OperatorTableError(
                f"operator {name!r}: its complement {op.complement!r} is not in the table"
            )
        opposite = None if op.on_unknown is None else not op.on_unknown
        if (
            other.complement != name
            or other.types != op.types
            or other.operand != op.operand
            or other.on_unknown != opposite
        ):
            raise OperatorTableError(
                f"operator {name!r} and its complement {other.name!r} disagree: each must be the"
                " other's complement, with the same types and operand, and opposite on unknown"
            )
        for locale in LOCALES:
            words = op.phrase.text(locale)
            if not words.strip():
                raise OperatorTableError(f"operator {name!r}: no phrase in {locale}")
    return table


OPERATORS: Mapping[str, Operator] = check_table({op.name: op for op in _TABLE})


def truth(op: str, value: Any, expected: Any, unknown: object) -> Truth:
    """Kleene truth of ``fact op expected`` for a fact value (``unknown`` marks an unknown fact).

    >>> truth("between", 5, [1, 5], None), truth("between", None, [1, 5], None)
    (True, None)
    >>> truth("unknown", None, None, None), truth("known", None, None, None)
    (True, False)
    """
    entry = OPERATORS[op]
    if value is unknown:
        return entry.on_unknown
    return entry.test(value, expected)


def operand_problem(operand: Operand, value: Any) -> str | None:
    """What is wrong with the shape of a condition's value (None: nothing).

    >>> operand_problem("range", [1, 5]) is None, operand_problem("range", [5, 1])
    (True, 'needs [low, high] (inclusive) with low <= high')
    >>> operand_problem("list", 3)
    'needs a list of values'
    """
    wanted = "needs " + OPERAND_WORDS[operand]
    if operand == "scalar":
        return wanted if isinstance(value, list) else None
    if operand == "list":
        return None if isinstance(value, list) else wanted
    if operand == "range":
        if not isinstance(value, list) or len(value) != 2:
            return wanted
        low, high = value
        if _order_kind(low) is not None and _order_kind(low) == _order_kind(high) and low > high:
            return f"{wanted} with low <= high"
    return None


def _order_kind(value: Any) -> str | None:
    """Values of one kind compare: numbers with numbers, ISO dates (text) with dates."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else None


def phrase(
    op: str,
    expected: Any,
    shown: Callable[[Any], str],
    param: str | None = None,
    locale: str = "en",
) -> str:
    """What ``fact op expected`` needs, in words (``shown`` writes one value; ``param`` names the
    parameter the value came from).

    >>> phrase(">", 0, str), phrase("in", ["a", "b"], str, "kinds")
    ('more than 0', 'one of kinds (a, b)')
    >>> phrase("between", [1, 5], str, locale="zh-CN"), phrase("between", [1, 5], str, "window")
    ('介于 1 与 5 之间', 'between 1 and 5 (window)')
    """
    entry = OPERATORS[op]
    words = entry.phrase.text(locale)
    if entry.operand == "none":
        return words
    if entry.operand == "range":
        text = words.format(low=shown(expected[0]), high=shown(expected[1]))
        return f"{text} ({param})" if param else text
    items = expected if isinstance(expected, list | tuple) else [expected]
    joined = ", ".join(shown(v) for v in items)
    return words.format(v=f"{param} ({joined})" if param else joined)
