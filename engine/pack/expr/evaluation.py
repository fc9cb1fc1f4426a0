"""Stage 4a of the expression language: ``evaluate`` walks a tree to its value, or UNKNOWN.

Three-valued logic over the values of ``engine.pack.expr.runtime``: ``and``/``or`` follow Kleene,
``coalesce`` and ``if`` look only at what they need, aggregates run their argument once per loan,
and bad data (a wrong type, a zero divisor, an overflow) gives UNKNOWN, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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


def evaluate(
    node: Node,
    lookup: Callable[[str], object],
    loans: Sequence[Callable[[str], object]] = (),
) -> object:
    """The expression's value, or UNKNOWN; never raises for bad data.

    ``lookup`` gives a name's value or UNKNOWN (None counts as UNKNOWN). Inside an aggregate,
    ``loan.*`` names are looked up in each of ``loans`` in turn. Dates are ISO text; a
    ``datetime.date`` from ``lookup`` is turned into ISO text. Values of the wrong type, which
    ``infer_type`` rules out, make the result UNKNOWN.

    >>> from engine.pack.expr import parse
    >>> facts = {"a": 3, "b": 0}
    >>> evaluate(parse("a / b"), lambda n: facts.get(n, UNKNOWN))
    UNKNOWN
    >>> evaluate(parse("coalesce(c, a) * 2"), lambda n: facts.get(n, UNKNOWN))
    6
    """
    return _eval(node, _Env(lookup, loans))


@dataclass(frozen=True)
class _Env:
    lookup: Callable[[str], object]
    loans: Sequence[Callable[[str], object]]
    loan: Callable[[str], object] | None = None  #: the current loan inside an aggregate

    def get(self, name: str) -> object:
        if self.loan is not None and name.startswith("loan."):
            return _normalise(self.loan(name))
        return _normalise(self.lookup(name))


def _eval(node: Node, env: _Env) -> object:
    if isinstance(node, Literal_):
        return node.value
    if isinstance(node, Name):
        return env.get(node.name)
    if isinstance(node, Unary):
        return _eval_unary(node, env)
    if isinstance(node, Binary):
        return _eval_binary(node, env)
    try:
        return _eval_call(node, env)
    except ArithmeticError:  # overflow, or a decimal beyond its precision
        return UNKNOWN


def _eval_unary(node: Unary, env: _Env) -> object:
    value = _eval(node.operand, env)
    if node.op == "not":
        return (not value) if isinstance(value, bool) else UNKNOWN
    return -value if _is_number(value) else UNKNOWN


def _eval_binary(node: Binary, env: _Env) -> object:
    if node.op in ("and", "or"):
        return _kleene(node, env)
    left, right = _eval(node.left, env), _eval(node.right, env)
    if node.op in _ARITHMETIC:
        return _arithmetic(node.op, left, right)
    return _compare(node.op, left, right)


def _kleene(node: Binary, env: _Env) -> object:
    # The decisive value settles the result alone: False for 'and', True for 'or'.
    decisive = node.op == "or"
    left = _eval(node.left, env)
    if left is decisive:
        return decisive
    right = _eval(node.right, env)
    if right is decisive:
        return decisive
    both_known = isinstance(left, bool) and isinstance(right, bool)
    return (not decisive) if both_known else UNKNOWN


def _eval_call(node: Call, env: _Env) -> object:
    if node.func in AGGREGATES:
        values = _per_loan(node.args[0], env)
        return UNKNOWN if values is None else _finite(_AGGREGATE_FNS[node.func](values))
    if node.func == "coalesce":
        return _coalesce(node.args, env)
    if node.func == "if":
        return _if(node.args, env)
    values = [_eval(arg, env) for arg in node.args]
    if any(v is UNKNOWN for v in values):
        return UNKNOWN
    return _finite(_STRICT_FNS[node.func](values))


def _coalesce(args: Sequence[Node], env: _Env) -> object:
    for arg in args:
        value = _eval(arg, env)
        if value is not UNKNOWN:
            return value
    return UNKNOWN


def _if(args: Sequence[Node], env: _Env) -> object:
    condition = _eval(args[0], env)
    if condition is True:
        return _eval(args[1], env)
    return _eval(args[2], env) if condition is False else UNKNOWN


def _per_loan(arg: Node, env: _Env) -> list[object] | None:
    """The argument's value for each loan; None when any of them is unknown."""
    values = []
    for loan in env.loans:
        value = _eval(arg, replace(env, loan=loan))
        if value is UNKNOWN:
            return None
        values.append(value)
    return values
