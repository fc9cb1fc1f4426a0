"""Stage 3 of the expression language: ``infer_type`` checks a tree against the vocabulary.

Each name must be a known fact or parameter (``loan.*`` facts only inside an aggregate or an
``about: loan`` rule), each operator and function must get operands of the types it takes, and
the whole expression gets one type. A text literal holding an ISO date may stand for a date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeAlias

from engine.pack.expr.nodes import (
    _ARITHMETIC,
    AGGREGATES,
    Binary,
    Call,
    ExprTypeError,
    Literal_,
    Name,
    Node,
    Type,
    Unary,
    _children,
)
from engine.pack.expr.runtime import _as_date


def infer_type(node: Node, type_of: Callable[[str], Type | None], *, in_loan_scope: bool) -> Type:
    """The type of the expression's value; raises ExprTypeError.

    ``type_of`` gives each fact's or parameter's type (None when there is no such name);
    ``in_loan_scope`` is True in ``about: loan`` rules. A text literal holding an ISO date
    (``'2026-11-28'``) may stand for a date.

    >>> from engine.pack.expr import parse
    >>> infer_type(parse("days_between(as_of, '2027-01-01') > 3"),
    ...            {"as_of": "date"}.get, in_loan_scope=False)
    'boolean'
    """
    return _Checker(type_of, in_loan_scope).check(node, in_aggregate=False)


def _literal_type(value: bool | int | float | str) -> Type:
    if isinstance(value, bool):
        return "boolean"
    return "text" if isinstance(value, str) else "number"


def _is_date_literal(node: Node) -> bool:
    return isinstance(node, Literal_) and _as_date(node.value) is not None


def _unify(items: Sequence[tuple[Node, Type]]) -> Type | None:
    """The one type of all items, letting ISO date text literals count as dates."""
    types = {t for _, t in items}
    if len(types) == 1:
        return types.pop()
    if types == {"date", "text"} and all(t == "date" or _is_date_literal(n) for n, t in items):
        return "date"
    return None


class _Checker:
    def __init__(self, type_of: Callable[[str], Type | None], in_loan_scope: bool) -> None:
        self._type_of = type_of
        self._in_loan_scope = in_loan_scope

    def check(self, node: Node, in_aggregate: bool) -> Type:
        if isinstance(node, Literal_):
            return _literal_type(node.value)
        if isinstance(node, Name):
            return self._name(node, in_aggregate)
        if isinstance(node, Call):
            return self._call(node, in_aggregate)
        operands = [(n, self.check(n, in_aggregate)) for n in _children(node)]
        if isinstance(node, Unary):
            return _unary_type(node, operands[0][1])
        return _binary_type(node, operands[0], operands[1])

    def _name(self, node: Name, in_aggregate: bool) -> Type:
        found = self._type_of(node.name)
        if found is None:
            kind, bare = (
                ("parameter", node.name[7:]) if _is_param(node.name) else ("fact", node.name)
            )
            raise ExprTypeError(f"unknown {kind} '{bare}'", node.column)
        if node.name.startswith("loan.") and not in_aggregate and not self._in_loan_scope:
            raise ExprTypeError(
                f"{node.name} is per loan: use it inside sum_loans(...) "
                "or write an about: loan rule",
                node.column,
            )
        return found

    def _call(self, node: Call, in_aggregate: bool) -> Type:
        if node.func in AGGREGATES:
            return self._aggregate(node, in_aggregate)
        args = [(a, self.check(a, in_aggregate)) for a in node.args]
        return _CALL_TYPES[node.func](node, args)

    def _aggregate(self, node: Call, in_aggregate: bool) -> Type:
        if self._in_loan_scope:
            raise ExprTypeError(
                f"{node.func} is only allowed in about: situation rules", node.column
            )
        if in_aggregate:
            raise ExprTypeError(f"{node.func} cannot be used inside another aggregate", node.column)
        found = self.check(node.args[0], in_aggregate=True)
        wanted, result = _AGGREGATE_TYPES[node.func]
        if found not in wanted:
            raise ExprTypeError(
                f"{node.func}() needs {' or '.join(wanted)}, got {found}", node.args[0].column
            )
        return result or found


def _is_param(name: str) -> bool:
    return name.startswith("params.")


def _unary_type(node: Unary, operand: Type) -> Type:
    wanted: Type = "boolean" if node.op == "not" else "number"
    if operand != wanted:
        raise ExprTypeError(f"'{node.op}' needs a {wanted}, got {operand}", node.column)
    return wanted


def _binary_type(node: Binary, left: tuple[Node, Type], right: tuple[Node, Type]) -> Type:
    types = (left[1], right[1])
    if node.op in ("and", "or"):
        _require(node, "booleans", "boolean", types)
        return "boolean"
    if node.op in _ARITHMETIC:
        _require(node, "numbers", "number", types)
        return "number"
    _compare_type(node, left, right)
    return "boolean"


def _require(node: Binary, what: str, wanted: Type, types: tuple[Type, Type]) -> None:
    bad = [t for t in types if t != wanted]
    if not bad:
        return
    message = f"'{node.op}' needs {what}, got {bad[0]}"
    if "date" in bad and node.op in ("+", "-"):
        message += " (use add_days(date, n) or days_between(from, to))"
    raise ExprTypeError(message, node.column)


def _compare_type(node: Binary, left: tuple[Node, Type], right: tuple[Node, Type]) -> None:
    common = _unify([left, right])
    if common is None:
        raise ExprTypeError(
            f"'{node.op}' compares values of one type, got {left[1]} and {right[1]}", node.column
        )
    if common == "list":
        raise ExprTypeError(f"'{node.op}' cannot compare lists", node.column)
    if node.op not in ("==", "!=") and common not in ("number", "date"):
        raise ExprTypeError(f"'{node.op}' needs numbers or dates, got {common}", node.column)


_ArgTypes: TypeAlias = Sequence[tuple[Node, Type]]


def _type_min_max(node: Call, args: _ArgTypes) -> Type:
    common = _unify(args)
    if common not in ("number", "date"):
        got = ", ".join(t for _, t in args)
        raise ExprTypeError(
            f"{node.func}() needs numbers or dates of one type, got {got}", node.column
        )
    return common


def _type_numeric(node: Call, args: _ArgTypes) -> Type:
    for arg, found in args:
        if found != "number":
            raise ExprTypeError(f"{node.func}() needs a number, got {found}", arg.column)
    return "number"


def _type_days_between(node: Call, args: _ArgTypes) -> Type:
    for i, (arg, found) in enumerate(args, 1):
        if found != "date" and not _is_date_literal(arg):
            raise ExprTypeError(
                f"days_between() needs dates, got {found} (argument {i})", arg.column
            )
    return "number"


def _type_add_days(node: Call, args: _ArgTypes) -> Type:
    (date_arg, date_type), (days_arg, days_type) = args
    if date_type != "date" and not _is_date_literal(date_arg):
        raise ExprTypeError(f"add_days() needs a date first, got {date_type}", date_arg.column)
    if days_type != "number":
        raise ExprTypeError(f"add_days() needs a number of days, got {days_type}", days_arg.column)
    return "date"


def _type_coalesce(node: Call, args: _ArgTypes) -> Type:
    common = _unify(args)
    if common is None:
        got = ", ".join(t for _, t in args)
        raise ExprTypeError(f"coalesce() needs arguments of one type, got {got}", node.column)
    return common


def _type_if(node: Call, args: _ArgTypes) -> Type:
    (cond, cond_type), then, other = args
    if cond_type != "boolean":
        raise ExprTypeError(f"if() needs a boolean condition, got {cond_type}", cond.column)
    common = _unify([then, other])
    if common is None:
        raise ExprTypeError(
            f"if() branches must have the same type, got {then[1]} and {other[1]}", node.column
        )
    return common


_CALL_TYPES: Final[dict[str, Callable[[Call, _ArgTypes], Type]]] = {
    "min": _type_min_max,
    "max": _type_min_max,
    "abs": _type_numeric,
    "round": _type_numeric,
    "floor": _type_numeric,
    "ceil": _type_numeric,
    "days_between": _type_days_between,
    "add_days": _type_add_days,
    "coalesce": _type_coalesce,
    "if": _type_if,
    "monthly_interest": _type_numeric,
    "months_to_repay": _type_numeric,
}
# Aggregate -> (types its argument may have, result type; None: the argument's type).
_AGGREGATE_TYPES: Final[dict[str, tuple[tuple[Type, ...], Type | None]]] = {
    "sum_loans": (("number",), "number"),
    "max_loans": (("number", "date"), None),
    "min_loans": (("number", "date"), None),
    "count_loans": (("boolean",), "number"),
}
