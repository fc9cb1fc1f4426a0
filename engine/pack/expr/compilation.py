"""Stage 4b of the expression language: ``compile_expr`` turns a tree into nested closures.

The same semantics as ``engine.pack.expr.evaluation``, built once per tree so that a rule pack's
derive expressions run without walking their trees again: no text is ever given to ``eval`` or
``exec``; each closure stands for one node of the whitelisted types, and computes with the
helpers of ``engine.pack.expr.runtime``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeAlias

from engine.pack.expr.nodes import (
    _ARITHMETIC,
    AGGREGATES,
    UNKNOWN,
    Binary,
    Call,
    Literal_,
    Name,
    Node,
    Unary,
)
from engine.pack.expr.runtime import (
    _AGGREGATE_FNS,
    _STRICT_FNS,
    _arithmetic,
    _compare,
    _finite,
    _is_number,
    _normalise,
)

Lookup: TypeAlias = Callable[[str], object]
Compiled: TypeAlias = Callable[[Lookup, Sequence[Lookup]], object]
#: a compiled node: (lookup, loans, the current loan inside an aggregate or None) → value
_Fn: TypeAlias = Callable[[Lookup, Sequence[Lookup], Lookup | None], object]


def compile_expr(node: Node) -> Compiled:
    """The tree as a function of ``(lookup, loans)`` with exactly ``evaluate``'s result.

    >>> from engine.pack.expr import parse
    >>> double = compile_expr(parse("coalesce(c, a) * 2"))
    >>> double({"a": 3}.get, ()), double({}.get, ())
    (6, UNKNOWN)
    """
    fn = _compile(node)

    def compiled(lookup: Lookup, loans: Sequence[Lookup] = ()) -> object:
        return fn(lookup, loans, None)

    return compiled


def _compile(node: Node) -> _Fn:
    if isinstance(node, Literal_):
        return _compile_literal(node.value)
    if isinstance(node, Name):
        return _compile_name(node.name)
    if isinstance(node, Unary):
        return _compile_unary(node)
    if isinstance(node, Binary):
        return _compile_binary(node)
    return _compile_call(node)


def _compile_literal(value: object) -> _Fn:
    def literal(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        return value

    return literal


_PLAIN: Final = frozenset({int, str, bool})  #: types that ``_normalise`` returns unchanged


def _compile_name(name: str) -> _Fn:
    if name.startswith("loan."):

        def loan_name(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
            value = (lookup if loan is None else loan)(name)
            return value if type(value) in _PLAIN else _normalise(value)

        return loan_name

    def plain_name(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        value = lookup(name)
        return value if type(value) in _PLAIN else _normalise(value)

    return plain_name


def _compile_unary(node: Unary) -> _Fn:
    operand = _compile(node.operand)
    if node.op == "not":

        def negation(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
            value = operand(lookup, loans, loan)
            return (not value) if isinstance(value, bool) else UNKNOWN

        return negation

    def minus(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        value = operand(lookup, loans, loan)
        return -value if _is_number(value) else UNKNOWN

    return minus


def _compile_binary(node: Binary) -> _Fn:
    left, right = _compile(node.left), _compile(node.right)
    op = node.op
    if op in ("and", "or"):
        return _compile_kleene(op == "or", left, right)
    if op in _ARITHMETIC:

        def arith(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
            return _arithmetic(op, left(lookup, loans, loan), right(lookup, loans, loan))

        return arith

    def comparison(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        return _compare(op, left(lookup, loans, loan), right(lookup, loans, loan))

    return comparison


def _compile_kleene(decisive: bool, left: _Fn, right: _Fn) -> _Fn:
    def kleene(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        a = left(lookup, loans, loan)
        if a is decisive:
            return decisive
        b = right(lookup, loans, loan)
        if b is decisive:
            return decisive
        return (not decisive) if isinstance(a, bool) and isinstance(b, bool) else UNKNOWN

    return kleene


def _compile_call(node: Call) -> _Fn:
    body = _compile_call_body(node)

    def call(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        try:
            return body(lookup, loans, loan)
        except ArithmeticError:  # overflow, or a decimal beyond its precision
            return UNKNOWN

    return call


def _compile_call_body(node: Call) -> _Fn:
    args = tuple(_compile(arg) for arg in node.args)
    if node.func in AGGREGATES:
        return _compile_aggregate(_AGGREGATE_FNS[node.func], args[0])
    if node.func == "coalesce":

        def coalesce(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
            for arg in args:
                value = arg(lookup, loans, loan)
                if value is not UNKNOWN:
                    return value
            return UNKNOWN

        return coalesce
    if node.func == "if":
        condition, then, other = args

        def if_(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
            test = condition(lookup, loans, loan)
            if test is True:
                return then(lookup, loans, loan)
            return other(lookup, loans, loan) if test is False else UNKNOWN

        return if_
    function = _STRICT_FNS[node.func]

    def strict(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        values = [arg(lookup, loans, loan) for arg in args]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        return _finite(function(values))

    return strict


def _compile_aggregate(function: Callable[[Sequence[object]], object], arg: _Fn) -> _Fn:
    def aggregate(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        values = []
        for each in loans:
            value = arg(lookup, loans, each)
            if value is UNKNOWN:
                return UNKNOWN
            values.append(value)
        return _finite(function(values))

    return aggregate
