"""The values a fact could still take: the answers worth trying for an open input, and the values
a derive expression gives over them, computed with the pack's own expression evaluation.

An open input could take any of its answers, and "don't know". Booleans and choices have few;
for a number or a date the answers that matter are those around the thresholds the rules test
or compute with, so an input's *candidates* are: the schema's bounds, each constant the rules
downstream of it compare with or compute with (leaf values, parameters, literals in derive
expressions; for a date, as so many days from ``as_of``) and each number or date the situation
already holds, one step either side, and a coarse 1-2-5 grid. A derived fact's values are then
the derive expressions evaluated (``engine.pack.expr``'s compiled closures, exactly as a run
computes them) over every combination of the values of what they read. When a combination
count would exceed ``MAX_COMBINATIONS``, or a fact would have more than ``MAX_VALUES`` values,
the fact is taken to be able to take *any* value (``None``), which is what the interview did
for every derived fact before.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.compile.compiler import CompiledPack
from engine.core.facts import FactSpec, input_facts
from engine.core.schemas import load_schema
from engine.core.values import UNKNOWN
from engine.load.checks import leaves
from engine.load.situation import MAX_DAYS_FROM_AS_OF, date_not_after_as_of
from engine.pack.expr import (
    AGGREGATES,
    Binary,
    Call,
    Compiled,
    Literal_,
    Name,
    Node,
    Unary,
    evaluate,
)
from engine.pack.expr import names as expr_names
from engine.pack.expr.nodes import _children, _walk
from engine.pack.expr.runtime import _AGGREGATE_FNS, _finite
from engine.pack.model import Derive
from engine.run.memory import Key, normalise

#: the most combinations of values one derive expression is evaluated over for one decision
MAX_COMBINATIONS = 1024
#: the most values a fact is followed with; beyond, it could take any value
MAX_VALUES = 256
#: the 1-2-5 grid tried for every number, whatever the rules' constants
_GRID_MANTISSAS = (1, 2, 5)

Values = frozenset[Hashable] | None  #: the values a fact could take; None: any value


def freeze(value: Any) -> Hashable:
    """A value as a member of a set of values (a list answer becomes a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def thaw(value: Any) -> Any:
    """A member of a set of values as the engine reads it (a tuple back to a list)."""
    return list(value) if isinstance(value, tuple) else value


# --- the constants the rules work with --------------------------------------------------------


@dataclass(frozen=True)
class _Constants:
    numbers: frozenset[float]
    dates: frozenset[str]
    texts: frozenset[str]


_DOWNSTREAM: dict[int, tuple[CompiledPack, dict[str, _Constants]]] = {}


def _constants_downstream(compiled: CompiledPack, fact: str) -> _Constants:
    """The constants of every rule that reads ``fact`` or a fact derived from it: what its
    conditions compare with and what its derive expression computes with."""
    cached = _DOWNSTREAM.get(id(compiled))
    if cached is None or cached[0] is not compiled:
        cached = (compiled, {})
        _DOWNSTREAM.clear()  # one pack at a time is the common case; the pack is kept alive
        _DOWNSTREAM[id(compiled)] = cached
    table = cached[1]
    found = table.get(fact)
    if found is None:
        found = table[fact] = _collect_downstream(compiled, fact)
    return found


def _collect_downstream(compiled: CompiledPack, fact: str) -> _Constants:
    parameters = {name: p.value for name, p in compiled.pack.parameters.items()}
    readers: dict[str, list[int]] = {}
    for index, crule in enumerate(compiled.rules):
        for name in crule.reads:
            readers.setdefault(name, []).append(index)
    seen_facts = {fact}
    todo = [fact]
    rules: set[int] = set()
    while todo:
        for index in readers.get(todo.pop(), ()):
            if index in rules:
                continue
            rules.add(index)
            then = compiled.rules[index].rule.then
            if isinstance(then, Derive) and then.fact not in seen_facts:
                seen_facts.add(then.fact)
                todo.append(then.fact)
    values: list[Any] = []
    for index in sorted(rules):
        rule = compiled.rules[index].rule
        for leaf in leaves(rule.when):
            expected = leaf.expected
            values.extend(expected if isinstance(expected, list) else [expected])
        if isinstance(rule.then, Derive) and rule.then.syntax_error is None:
            values.extend(_literals(rule.then.expr))
            for name, _ in expr_names(rule.then.expr):
                if name.startswith("params."):
                    values.append(parameters.get(name.removeprefix("params.")))
    numbers = frozenset(
        float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
    )
    dates = frozenset(v for v in values if isinstance(v, str) and _iso_date(v) is not None)
    texts = frozenset(v for v in values if isinstance(v, str) and v not in dates)
    return _Constants(numbers, dates, texts)


def _literals(node: Node) -> Iterable[Any]:
    return (n.value for n in _walk(node) if isinstance(n, Literal_))


def _iso_date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


# --- the candidate answers of one input -------------------------------------------------------


@functools.cache
def _schema_bounds() -> Mapping[str, tuple[float | None, float | None]]:
    """Each numeric input fact's (minimum, maximum) in the situation schema."""
    schema = load_schema("situation")
    found: dict[str, tuple[float | None, float | None]] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, sub in node.get("properties", {}).items():
            if sub.get("type") == "object":
                walk(sub, f"{prefix}{key}.")
            elif sub.get("type") in ("number", "integer"):
                found[f"{prefix}{key}"] = (sub.get("minimum"), sub.get("maximum"))

    walk(schema, "")
    walk(schema["properties"]["loans"]["items"], "loan.")
    return found


def candidates(
    compiled: CompiledPack, fact: str, as_of: str, known: Iterable[Any]
) -> tuple[Hashable, ...] | None:
    """The answers worth trying for the input ``fact`` (``freeze``-d), "don't know" aside; None
    when its answers cannot be listed. ``known`` holds the values the situation already has (its
    numbers and dates are thresholds too: ``income - expenses``)."""
    spec = input_facts()[fact]
    if spec.type == "boolean":
        return (True, False)
    if spec.enum is not None and spec.type == "text":
        return spec.enum
    if spec.type == "list":
        return _list_candidates(spec)
    constants = _constants_downstream(compiled, fact)
    if spec.type == "number":
        return _number_candidates(fact, spec, constants, known)
    if spec.type == "date":
        return _date_candidates(fact, constants, as_of, known)
    return (*sorted(constants.texts), "\x00another text")


def _list_candidates(spec: FactSpec) -> tuple[Hashable, ...] | None:
    """The empty list, each item alone, and each prefix of the items (every length)."""
    if spec.enum is None:
        return None
    items = spec.enum
    found: dict[Hashable, None] = {(): None}
    for item in items:
        found[(item,)] = None
    for end in range(2, len(items) + 1):
        found[tuple(items[:end])] = None
    return tuple(found)


def _number_candidates(
    fact: str, spec: FactSpec, constants: _Constants, known: Iterable[Any]
) -> tuple[Hashable, ...]:
    low, high = _schema_bounds().get(fact, (None, None))
    integer = spec.unit in ("integer", "days")
    step = 0.01 if spec.unit == "percent" else 1
    numbers = {v for v in known if isinstance(v, int | float) and not isinstance(v, bool)}
    found: set[float] = set()
    for value in (*constants.numbers, *numbers):
        found.update((value - step, value, value + step))
    top = high if high is not None else 1e9
    for exponent in range(-3 if spec.unit == "percent" else 0, int(math.log10(top)) + 1):
        found.update(m * 10.0**exponent for m in _GRID_MANTISSAS)
    found.update(b for b in (low, high, 0) if b is not None)
    result: set[Hashable] = set()
    for value in found:
        options = (math.floor(value), math.ceil(value)) if integer else (value,)
        for option in options:
            if (low is None or option >= low) and (high is None or option <= high):
                result.add(_tidy(option))
    return tuple(sorted(result, key=float))  # type: ignore[arg-type]


def _tidy(value: float) -> int | float:
    """A whole number as an int, else the float rounded as a person would type it."""
    rounded = round(value, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


def _date_candidates(
    fact: str, constants: _Constants, as_of: str, known: Iterable[Any]
) -> tuple[Hashable, ...]:
    today = dt.date.fromisoformat(as_of)
    days: set[int] = {0}
    for value in constants.numbers:
        if value.is_integer() and abs(value) <= MAX_DAYS_FROM_AS_OF:
            days.update((int(value), -int(value)))
    dates: set[dt.date] = set()
    for offset in days:
        dates.update(today + dt.timedelta(days=offset + d) for d in (-1, 0, 1) if _fits(offset, d))
    for text in (*constants.dates, *(v for v in known if isinstance(v, str))):
        date = _iso_date(text)
        if date is not None:
            dates.update(date + dt.timedelta(days=d) for d in (-1, 0, 1))
    latest = today if date_not_after_as_of(fact) else today + dt.timedelta(MAX_DAYS_FROM_AS_OF)
    earliest = today - dt.timedelta(MAX_DAYS_FROM_AS_OF)
    return tuple(d.isoformat() for d in sorted(dates) if earliest <= d <= latest)


def _fits(offset: int, step: int) -> bool:
    return abs(offset + step) <= MAX_DAYS_FROM_AS_OF


# --- the values of a derive expression ------------------------------------------------------


def expression_values(
    fn: Compiled,
    node: Node,
    unit: str,
    loan: str | None,
    loans: Sequence[str],
    variables: Sequence[Key],
    values_of: Callable[[Key], Values],
    parameters: Mapping[str, Any],
) -> tuple[Values, frozenset[Key]]:
    """The values of a derive expression (``node``, compiled as ``fn``) over the values of the
    keys it reads (``variables``, per loan inside an aggregate), rounded by its unit as a run
    rounds them; and the variables it is *sensitive* to (a change of that variable alone can
    change the value).

    Every combination of the variables' values is evaluated when there are at most
    ``MAX_COMBINATIONS`` (exact: two combinations that differ in one variable alone show the
    sensitivity); else the tree is evaluated node by node over sets of values
    (``_NodeSets``), which may pair values of one variable that cannot occur together, so it
    can only find more values, and more sensitivity, than there are.
    """
    fixed: dict[Key, Hashable] = {}
    free: list[tuple[Key, tuple[Hashable, ...]]] = []
    size = 1
    for key in variables:
        found = values_of(key)
        if found is not None and len(found) == 1:
            fixed[key] = next(iter(found))
        else:
            free.append((key, tuple(found) if found is not None else ()))
            size = size * len(found) if found is not None else MAX_COMBINATIONS + 1
    if size > MAX_COMBINATIONS:
        sets = _NodeSets(loan, loans, values_of, parameters)
        values, sensitive = sets.of(node, None)
        if values is None:
            return None, sensitive
        rounded = frozenset(freeze(normalise(thaw(v), unit)) for v in values)
        return (rounded if len(rounded) <= MAX_VALUES else None), sensitive
    current: dict[Key, Hashable] = dict(fixed)

    def lookup(name: str) -> Any:
        if name.startswith("params."):
            return parameters[name.removeprefix("params.")]
        return thaw(current.get((name, loan if name.startswith("loan.") else None), UNKNOWN))

    def loan_lookup(loan_id: str) -> Callable[[str], Any]:
        def read(name: str) -> Any:
            if name.startswith("loan."):
                return thaw(current.get((name, loan_id), UNKNOWN))
            return lookup(name)

        return read

    per_loan = [loan_lookup(loan_id) for loan_id in loans]
    keys = [key for key, _ in free]
    results: list[tuple[tuple[Hashable, ...], Hashable]] = []
    for combination in itertools.product(*(v for _, v in free)):
        current.update(zip(keys, combination, strict=True))
        results.append((combination, freeze(normalise(fn(lookup, per_loan), unit))))
    distinct = frozenset(value for _, value in results)
    sensitive = frozenset(keys[i] for i in range(len(keys)) if _varies_with(results, i))
    if len(distinct) > MAX_VALUES:
        return None, sensitive
    return distinct, sensitive


def _varies_with(results: list[tuple[tuple[Hashable, ...], Hashable]], index: int) -> bool:
    """Whether two combinations that differ only at ``index`` give different values."""
    seen: dict[tuple[Hashable, ...], Hashable] = {}
    for combination, value in results:
        rest = combination[:index] + combination[index + 1 :]
        before = seen.setdefault(rest, value)
        if before != value or type(before) is not type(value):
            return True
    return False


#: binary operators whose value is true, false or unknown, whatever their operands
_TRUTH_OPERATORS = frozenset({"==", "!=", "<", "<=", ">", ">=", "and", "or"})
_TRUTH_VALUES: frozenset[Hashable] = frozenset({True, False, UNKNOWN})
_NO_KEYS: frozenset[Key] = frozenset()
NodeValues = tuple[Values, frozenset[Key]]


class _NodeSets:
    """An expression evaluated node by node over sets of values: each node's possible values
    from its children's, with the language's own evaluation (``engine.pack.expr.evaluate`` on the
    node with its children's values put in). ``if``, ``coalesce``, ``and`` and ``or`` look
    only at the branches their condition can reach; an aggregate folds its loans one by one
    with the aggregate's own function. A set larger than ``MAX_VALUES`` is "any value"."""

    def __init__(
        self,
        loan: str | None,
        loans: Sequence[str],
        values_of: Callable[[Key], Values],
        parameters: Mapping[str, Any],
    ) -> None:
        self.loan = loan
        self.loans = loans
        self.values_of = values_of
        self.parameters = parameters

    def of(self, node: Node, in_loan: str | None) -> NodeValues:
        """The node's values and the variables it is sensitive to; ``in_loan`` is the loan an
        aggregate is at (None outside aggregates)."""
        values, sensitive = self._of(node, in_loan)
        if values is None or len(values) > MAX_VALUES:
            return None, self._everything(node, in_loan)  # any value: it may read anything
        if len(values) == 1:
            return values, _NO_KEYS
        return values, sensitive

    def _everything(self, node: Node, in_loan: str | None) -> frozenset[Key]:
        """Every variable the node reads that could take more than one value."""
        found: set[Key] = set()
        for name, in_aggregate in expr_names(node):
            if name.startswith("params."):
                continue
            keys: list[Key]
            if name.startswith("loan.") and in_aggregate and in_loan is None:
                keys = [(name, loan_id) for loan_id in self.loans]
            elif name.startswith("loan."):
                keys = [(name, in_loan if in_loan is not None else self.loan)]
            else:
                keys = [(name, None)]
            for key in keys:
                values = self.values_of(key)
                if values is None or len(values) > 1:
                    found.add(key)
        return frozenset(found)

    def _of(self, node: Node, in_loan: str | None) -> NodeValues:
        if isinstance(node, Literal_):
            return frozenset({node.value}), _NO_KEYS
        if isinstance(node, Name):
            return self._name(node.name, in_loan)
        if isinstance(node, Call) and node.func in AGGREGATES:
            return self._aggregate(node)
        if isinstance(node, Call) and node.func == "if":
            return self._if(node, in_loan)
        if isinstance(node, Call) and node.func == "coalesce":
            return self._coalesce(node, in_loan)
        if isinstance(node, Binary) and node.op in ("and", "or"):
            return self._kleene(node, in_loan)
        children = [self.of(child, in_loan) for child in _children(node)]
        return self._apply(node, children)

    def _name(self, name: str, in_loan: str | None) -> NodeValues:
        if name.startswith("params."):
            return frozenset({freeze(self.parameters[name.removeprefix("params.")])}), _NO_KEYS
        if name.startswith("loan."):
            key: Key = (name, in_loan if in_loan is not None else self.loan)
        else:
            key = (name, None)
        values = self.values_of(key)
        return values, frozenset({key})

    def _apply(self, node: Node, children: Sequence[NodeValues]) -> NodeValues:
        """A node of strict children: every combination of their values, evaluated."""
        sensitive = frozenset().union(*(s for _, s in children))
        sets = [v for v, _ in children]
        if any(v is None for v in sets):
            comparison = isinstance(node, Binary) and node.op in _TRUTH_OPERATORS
            negation = isinstance(node, Unary) and node.op == "not"
            return (_TRUTH_VALUES if comparison or negation else None), sensitive
        known = [v for v in sets if v is not None]
        if math.prod(len(v) for v in known) > MAX_COMBINATIONS:
            return None, sensitive
        shallow = _shallow(node)
        found = {
            freeze(_evaluate_with(shallow, combination))
            for combination in itertools.product(*known)
        }
        return frozenset(found), sensitive

    def _if(self, node: Call, in_loan: str | None) -> NodeValues:
        condition, sensitive = self.of(node.args[0], in_loan)
        found: set[Hashable] = set()
        keys = set(sensitive)
        reaches = _TRUTH_VALUES if condition is None else condition
        for truth, branch in ((True, node.args[1]), (False, node.args[2])):
            if truth in reaches:
                values, inner = self.of(branch, in_loan)
                keys |= inner
                if values is None:
                    return None, frozenset(keys)
                found |= values
        if any(not isinstance(v, bool) for v in reaches):
            found.add(UNKNOWN)
        return frozenset(found), frozenset(keys)

    def _coalesce(self, node: Call, in_loan: str | None) -> NodeValues:
        found: set[Hashable] = set()
        keys: set[Key] = set()
        for arg in node.args:
            values, inner = self.of(arg, in_loan)
            keys |= inner
            if values is None:
                return None, frozenset(keys)
            found |= values - {UNKNOWN}
            if UNKNOWN not in values:
                return frozenset(found), frozenset(keys)
        return frozenset(found | {UNKNOWN}), frozenset(keys)

    def _kleene(self, node: Binary, in_loan: str | None) -> NodeValues:
        decisive = node.op == "or"
        left = self.of(node.left, in_loan)
        if left[0] is not None and left[0] == frozenset({decisive}):
            return left
        return self._apply(node, [left, self.of(node.right, in_loan)])

    def _aggregate(self, node: Call) -> NodeValues:
        if not self.loans:
            return frozenset({freeze(_finite(_AGGREGATE_FNS[node.func]([])))}), _NO_KEYS
        counting = node.func == "count_loans"
        # sum, max and min fold two at a time; a count sums each loan's count of one
        fold = _AGGREGATE_FNS["sum_loans" if counting else node.func]
        keys: set[Key] = set()
        total: set[Hashable] | None = None
        for loan_id in self.loans:
            values, inner = self.of(node.args[0], loan_id)
            keys |= inner
            if values is None:
                return None, frozenset(keys)
            if counting:
                values = frozenset(_AGGREGATE_FNS["count_loans"]([thaw(v)]) for v in values)
            if total is None:
                total = {freeze(fold([thaw(v)])) for v in values}
            else:
                total = {freeze(fold([thaw(a), thaw(b)])) for a in total for b in values}
            if len(total) > MAX_VALUES:
                return None, frozenset(keys)
        assert total is not None
        return frozenset(freeze(_finite(thaw(v))) for v in total), frozenset(keys)


_PLACEHOLDER = "\x00value"


@functools.cache
def _shallow(node: Node) -> Node:
    """The node with each child replaced by a name (``\\x00value0``, ...)."""
    names = [Name(f"{_PLACEHOLDER}{i}") for i in range(len(_children(node)))]
    if isinstance(node, Unary):
        return Unary(node.op, names[0])
    if isinstance(node, Binary):
        return Binary(node.op, names[0], names[1])
    assert isinstance(node, Call)
    return Call(node.func, tuple(names))


def _evaluate_with(shallow: Node, values: Sequence[Hashable]) -> Any:
    given = {f"{_PLACEHOLDER}{i}": thaw(v) for i, v in enumerate(values)}
    return evaluate(shallow, lambda name: given.get(name, UNKNOWN))
