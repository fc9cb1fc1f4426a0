"""Stage 0 of the expression language: the vocabulary every later stage shares.

The errors (``ExprError`` and its syntax and type kinds), the ``Value`` and ``Type`` aliases
(``UNKNOWN``, the unknown value of three-valued logic, lives in ``engine.core.values``), the
immutable
tree of frozen dataclasses that ``parse`` builds, the whitelist of functions with their arities,
and the walks over a tree's children.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from engine.core.values import UNKNOWN as UNKNOWN  # re-exported: engine.pack.expr names it
from engine.core.values import _Unknown

Type: TypeAlias = Literal["number", "boolean", "text", "date", "list"]


# --- errors -------------------------------------------------------------------------------------


class ExprError(Exception):
    """A problem with an expression, at ``column`` (1-based offset into its text)."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class ExprSyntaxError(ExprError):
    """The text is not a valid expression (or is over a size limit)."""


class ExprTypeError(ExprError):
    """The expression is well formed but its names or types do not fit."""


Value: TypeAlias = float | int | bool | str | datetime.date | _Unknown


# --- the tree -----------------------------------------------------------------------------------
# Columns are 1-based and never take part in equality, so trees compare by structure.


@dataclass(frozen=True, eq=False)
class Literal_:
    """A number, text or boolean literal. Parsing never makes negative numbers (see Unary)."""

    value: bool | int | float | str
    column: int = 0

    def __eq__(self, other: object) -> bool:
        # 1, 1.0 and true are different literals, although Python finds them equal.
        if not isinstance(other, Literal_):
            return NotImplemented
        return type(self.value) is type(other.value) and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self.value), self.value))


@dataclass(frozen=True)
class Name:
    """A fact or parameter name, e.g. ``loan.status.legal`` or ``params.penalty_multiplier``."""

    name: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    """``-operand`` or ``not operand``; ``column`` is the operator's."""

    op: str
    operand: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    """``left op right``; ``column`` is the operator's."""

    op: str
    left: Node
    right: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    """A call of a whitelisted function; ``column`` is the function name's."""

    func: str
    args: tuple[Node, ...]
    column: int = field(default=0, compare=False)


Node: TypeAlias = Literal_ | Name | Unary | Binary | Call

# Function name -> (fewest, most) arguments; None: no upper bound.
_ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "round": (1, 2),
    "floor": (1, 1),
    "ceil": (1, 1),
    "days_between": (2, 2),
    "add_days": (2, 2),
    "coalesce": (2, None),
    "if": (3, 3),
    "monthly_interest": (2, 2),
    "months_to_repay": (3, 3),
    "sum_loans": (1, 1),
    "max_loans": (1, 1),
    "min_loans": (1, 1),
    "count_loans": (1, 1),
}
FUNCTIONS: Final = frozenset(_ARITY)
AGGREGATES: Final = frozenset({"sum_loans", "max_loans", "min_loans", "count_loans"})
#: Functions that may be unknown although every argument is known (besides division by zero).
PARTIAL: Final = frozenset({"months_to_repay"})
_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ARITHMETIC: Final = frozenset({"+", "-", "*", "/"})


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def _walk(node: Node) -> Iterator[Node]:
    """Every node, parents before children, left to right."""
    yield node
    for child in _children(node):
        yield from _walk(child)
