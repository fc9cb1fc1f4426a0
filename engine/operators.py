"""The condition operators: one table for the checker, the compiler and the reference evaluator.

Each operator says which fact types it accepts, what its right-hand side is, its complement (used to
push ``not`` down to the leaves) and how it is decided in Python on a *known* value.
Comparisons with
an unknown fact are never decided here: the caller handles unknown (three-valued logic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.facts import FactType

Operand = Literal["scalar", "list", "none"]


@dataclass(frozen=True)
class Operator:
    name: str
    types: frozenset[FactType]  #: fact types this operator applies to
    operand: Operand  #: what ``value``/``param`` must be
    complement: str  #: the operator that is true exactly when this one is false (known facts)
    test: Callable[[Any, Any], bool]  #: decides it for a known fact value and the expected value


_ORDERED: frozenset[FactType] = frozenset({"number", "date"})
_SCALARS: frozenset[FactType] = frozenset({"number", "text", "date", "boolean"})
_ALL: frozenset[FactType] = frozenset({"number", "text", "date", "boolean", "list"})


def _op(
    name: str,
    types: frozenset[FactType],
    operand: Operand,
    complement: str,
    test: Callable[[Any, Any], bool],
) -> tuple[str, Operator]:
    return name, Operator(name, types, operand, complement, test)


OPERATORS: Mapping[str, Operator] = dict(
    [
        _op("==", _SCALARS, "scalar", "!=", lambda a, b: a == b),
        _op("!=", _SCALARS, "scalar", "==", lambda a, b: a != b),
        _op("<", _ORDERED, "scalar", ">=", lambda a, b: a < b),
        _op("<=", _ORDERED, "scalar", ">", lambda a, b: a <= b),
        _op(">", _ORDERED, "scalar", "<=", lambda a, b: a > b),
        _op(">=", _ORDERED, "scalar", "<", lambda a, b: a >= b),
        _op("in", _SCALARS, "list", "not_in", lambda a, b: a in b),
        _op("not_in", _SCALARS, "list", "in", lambda a, b: a not in b),
        _op("contains", frozenset({"list"}), "scalar", "not_contains", lambda a, b: b in a),
        _op("not_contains", frozenset({"list"}), "scalar", "contains", lambda a, b: b not in a),
        _op("known", _ALL, "none", "unknown", lambda a, b: True),
        _op("unknown", _ALL, "none", "known", lambda a, b: False),
    ]
)
