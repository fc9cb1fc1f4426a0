"""The expression language's value semantics, shared by tree-walk evaluation and compilation.

How names' values are normalised (None and non-finite floats are ``UNKNOWN``, dates become ISO
text), what counts as a number or an ISO date, arithmetic and comparison on values, rounding
half away from zero, and the whitelisted functions and aggregates. ``engine.pack.expr.evaluation``
and ``engine.pack.expr.compilation`` both compute with exactly these, so they cannot disagree.
"""

from __future__ import annotations

import datetime
import math
import operator
import re
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import partial
from typing import Any, Final, TypeGuard

from engine.pack.expr.nodes import UNKNOWN


def _normalise(value: object) -> object:
    if value is None:
        return UNKNOWN
    if isinstance(value, datetime.date):
        return datetime.date(value.year, value.month, value.day).isoformat()
    return _finite(value)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return UNKNOWN
    return value


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_date(value: object) -> datetime.date | None:
    """An ISO ``YYYY-MM-DD`` text as a date, else None.

    >>> _as_date("2026-11-28"), _as_date("2026-02-30"), _as_date("20261128")
    (datetime.date(2026, 11, 28), None, None)
    """
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


_ARITHMETIC_OPS: Final[dict[str, Callable[[float, float], float]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def _arithmetic(op: str, left: object, right: object) -> object:
    """``+ - *`` keep ints exact; ``/`` gives a float, and UNKNOWN for a zero divisor.

    >>> _arithmetic("*", 6, 7), _arithmetic("/", 6, 3), _arithmetic("/", 1, 0)
    (42, 2.0, UNKNOWN)
    """
    if not (_is_number(left) and _is_number(right)) or (op == "/" and right == 0):
        return UNKNOWN
    try:
        return _finite(_ARITHMETIC_OPS[op](left, right))
    except OverflowError:
        return UNKNOWN


_COMPARE_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    return "text" if isinstance(value, str) else None


def _compare(op: str, left: object, right: object) -> object:
    kind = _kind(left)
    if kind is None or kind != _kind(right):
        return UNKNOWN
    if op in ("==", "!=") or kind != "boolean":  # ISO dates order correctly as text
        return bool(_COMPARE_OPS[op](left, right))
    return UNKNOWN


def _extreme(largest: bool, values: Sequence[object]) -> object:
    """The largest or smallest of numbers or of ISO dates; UNKNOWN when there are none."""
    numbers = [v for v in values if _is_number(v)]
    texts = [v for v in values if isinstance(v, str)]
    pick = max if largest else min
    if values and len(numbers) == len(values):
        return pick(numbers)
    if values and len(texts) == len(values):
        return pick(texts)
    return UNKNOWN


def _sum(values: Sequence[object]) -> object:
    numbers = [v for v in values if _is_number(v)]
    return sum(numbers) if len(numbers) == len(values) else UNKNOWN


def _count(values: Sequence[object]) -> object:
    if not all(isinstance(v, bool) for v in values):
        return UNKNOWN
    return sum(1 for v in values if v is True)


def _abs(values: Sequence[object]) -> object:
    return abs(values[0]) if _is_number(values[0]) else UNKNOWN


def _floor(values: Sequence[object]) -> object:
    return math.floor(values[0]) if _is_number(values[0]) else UNKNOWN


def _ceil(values: Sequence[object]) -> object:
    return math.ceil(values[0]) if _is_number(values[0]) else UNKNOWN


def _round(values: Sequence[object]) -> object:
    number, digits = values[0], (values[1] if len(values) > 1 else 0)
    if not _is_number(number) or type(digits) is not int:
        return UNKNOWN
    return _round_half_up(number, digits)


_DECIMAL: Final = Context(prec=400, rounding=ROUND_HALF_UP)  # room for any finite float


def _round_half_up(number: int | float, digits: int) -> int | float:
    """Round halves away from zero (not to even); an int for 0 digits, else a float.

    >>> _round_half_up(2.5, 0), _round_half_up(-2.5, 0), _round_half_up(1.005, 2)
    (3, -3, 1.01)
    """
    if isinstance(number, int):
        return number if digits == 0 else float(number)
    exact = _DECIMAL.quantize(Decimal(repr(number)), Decimal(1).scaleb(-digits))
    return int(exact) if digits == 0 else float(exact)


def _days_between(values: Sequence[object]) -> object:
    start, end = _as_date(values[0]), _as_date(values[1])
    return UNKNOWN if start is None or end is None else (end - start).days


def _add_days(values: Sequence[object]) -> object:
    start, days = _as_date(values[0]), values[1]
    if start is None or not _is_number(days) or days != int(days):
        return UNKNOWN
    return (start + datetime.timedelta(days=int(days))).isoformat()


def _monthly_interest(values: Sequence[object]) -> object:
    """``balance × annual_rate / 12``: a month's simple interest; UNKNOWN for a negative rate.

    >>> _monthly_interest([20000, 0.1825]), _monthly_interest([1000, -0.1])
    (304.1666666666667, UNKNOWN)
    """
    balance, rate = values
    if not (_is_number(balance) and _is_number(rate)) or rate < 0:
        return UNKNOWN
    return balance * rate / 12


_MONTHS_LIMIT: Final = 100_000  #: more months than this is "never" for a person


def _months_to_repay(values: Sequence[object]) -> object:
    """Whole months for ``monthly`` to clear ``balance`` at ``annual_rate`` (interest monthly,
    on the balance still owed). UNKNOWN when the payment never clears it (it does not exceed
    a month's interest, or it is not positive), for a negative rate, or beyond 100,000 months.

    >>> _months_to_repay([12000, 1000, 0]), _months_to_repay([12000, 1000, 0.12])
    (12, 13)
    >>> _months_to_repay([38000, 245, 0.18]), _months_to_repay([0, 100, 0.1])
    (UNKNOWN, 0)
    """
    balance, monthly, rate = values
    if not (_is_number(balance) and _is_number(monthly) and _is_number(rate)):
        return UNKNOWN
    if rate < 0 or monthly <= 0:
        return UNKNOWN
    if balance <= 0:
        return 0
    r = rate / 12
    if r == 0:
        months = math.ceil(balance / monthly)
    else:
        ratio = 1 - r * balance / monthly
        if ratio <= 0:
            return UNKNOWN
        exact = -math.log(ratio) / math.log1p(r)
        months = math.ceil(exact - 1e-9)
    return months if months <= _MONTHS_LIMIT else UNKNOWN


_STRICT_FNS: Final[dict[str, Callable[[Sequence[object]], object]]] = {
    "min": partial(_extreme, False),
    "max": partial(_extreme, True),
    "abs": _abs,
    "round": _round,
    "floor": _floor,
    "ceil": _ceil,
    "days_between": _days_between,
    "add_days": _add_days,
    "monthly_interest": _monthly_interest,
    "months_to_repay": _months_to_repay,
}
_AGGREGATE_FNS: Final[dict[str, Callable[[Sequence[object]], object]]] = {
    "sum_loans": _sum,
    "max_loans": partial(_extreme, True),
    "min_loans": partial(_extreme, False),
    "count_loans": _count,
}
