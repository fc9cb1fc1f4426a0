"""The safe expression language of ``derive: {value: ...}`` (docs/rules.md, "derive").

Text is tokenised and parsed by hand (precedence climbing) into an immutable tree of frozen
dataclasses; nothing is ever given to ``eval``. Only the operators below and a whitelist of
functions exist, so attribute access, indexing, lambdas and imports cannot even be written.

``parse`` checks syntax and size limits, ``infer_type`` checks the tree against the fact
vocabulary, ``evaluate`` computes it with three-valued logic (a value or ``UNKNOWN``) and
``to_source`` prints a tree back as canonical text.

Precedence, low to high: ``or``; ``and``; prefix ``not``; comparisons (not chainable); ``+ -``;
``* /``; unary ``-``; literals, names, calls and parentheses.
"""

from __future__ import annotations

import datetime
import keyword
import math
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import partial
from typing import Any, Final, Literal, NamedTuple, TypeAlias, TypeGuard

from engine.errors import did_you_mean

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "UNKNOWN",
    "Binary",
    "Call",
    "Compiled",
    "ExprError",
    "ExprSyntaxError",
    "ExprTypeError",
    "Literal_",
    "Name",
    "Node",
    "Type",
    "Unary",
    "Value",
    "compile_expr",
    "evaluate",
    "infer_type",
    "names",
    "parse",
    "to_source",
    "uses_aggregate",
]

MAX_LENGTH: Final = 2000  #: characters of expression text
MAX_DEPTH: Final = 50  #: levels of nesting (tree depth, and parentheses)
MAX_NODES: Final = 500  #: nodes in the tree

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


# --- the unknown value --------------------------------------------------------------------------


class _Unknown:
    """The type of ``UNKNOWN``: a falsy singleton that survives copy and pickle."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
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
    "sum_loans": (1, 1),
    "max_loans": (1, 1),
    "min_loans": (1, 1),
    "count_loans": (1, 1),
}
FUNCTIONS: Final = frozenset(_ARITY)
AGGREGATES: Final = frozenset({"sum_loans", "max_loans", "min_loans", "count_loans"})
_MAX_ROUND_DIGITS: Final = 6

_BINARY_PREC: Final = {
    "or": 1,
    "and": 2,
    **dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), 4),
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
}
_NOT_PREC: Final = 3
_NEG_PREC: Final = 7
_ATOM_PREC: Final = 8
_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ARITHMETIC: Final = frozenset({"+", "-", "*", "/"})
_RESERVED: Final = frozenset({k for k in keyword.kwlist if k.islower()} | {"true", "false"})


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


# --- tokens -------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: Literal["lit", "name", "op", "end"]
    text: str  #: as written
    column: int
    value: bool | int | float | str = ""  #: for literals


_SPACE: Final = " \t\r\n"
_NUMBER: Final = re.compile(r"[0-9][0-9A-Za-z_.]*")  # greedy, so that 1e5 is one bad number
_PLAIN_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPERATOR: Final = re.compile(r"<=|>=|==|!=|[-+*/<>(),]")
_ESCAPED: Final = frozenset("\\'\"")
_WORD_OPS: Final = frozenset({"and", "or", "not"})
_BOOLS: Final = {"true": True, "false": False}


def _tokenize(text: str) -> Iterator[_Token]:
    """Tokens on demand, so errors come in the order of the text; ends with an ``end`` token."""
    pos = 0
    while pos < len(text):
        if text[pos] in _SPACE:
            pos += 1
            continue
        token = _scan(text, pos)
        yield token
        pos += len(token.text)
    yield _Token("end", "", len(text) + 1)


def _scan(text: str, pos: int) -> _Token:
    if text[pos] in "'\"":
        return _scan_string(text, pos)
    if match := _NUMBER.match(text, pos):
        return _number(match.group(), pos + 1)
    if match := _WORD.match(text, pos):
        return _word(match.group(), pos + 1)
    if match := _OPERATOR.match(text, pos):
        return _Token("op", match.group(), pos + 1)
    raise _bad_character(text, pos)


def _number(text: str, column: int) -> _Token:
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ExprSyntaxError(
            f"bad number '{text}' at column {column}: write plain decimals such as 12 or 0.5",
            column,
        )
    value = float(text) if "." in text else int(text)
    if not math.isfinite(value):
        raise ExprSyntaxError(f"number too large at column {column}", column)
    return _Token("lit", text, column, value)


def _word(text: str, column: int) -> _Token:
    if text != text.lower():
        raise ExprSyntaxError(
            f"unexpected '{text}' at column {column}: names and keywords are lower case", column
        )
    if text in _WORD_OPS:
        return _Token("op", text, column)
    if text in _BOOLS:
        return _Token("lit", text, column, _BOOLS[text])
    return _Token("name", text, column)


def _scan_string(text: str, pos: int) -> _Token:
    quote, i, chars = text[pos], pos + 1, []
    while i < len(text) and text[i] != quote:
        if text[i] == "\\" and i + 1 < len(text):
            if text[i + 1] not in _ESCAPED:
                raise ExprSyntaxError(
                    f"unsupported escape '\\{text[i + 1]}' at column {i + 1}: "
                    "only \\', \\\" and \\\\ are allowed",
                    i + 1,
                )
            i += 1
        chars.append(text[i])
        i += 1
    if i >= len(text):
        raise ExprSyntaxError(f"unterminated string starting at column {pos + 1}", pos + 1)
    return _Token("lit", text[pos : i + 1], pos + 1, "".join(chars))


def _bad_character(text: str, pos: int) -> ExprSyntaxError:
    char, column = text[pos], pos + 1
    message = f"unexpected character '{char}' at column {column}"
    if char == "=":
        message += ": use '==' to compare"
    elif char == "." and text[pos + 1 : pos + 2].isdigit():
        message += ": numbers start with a digit, e.g. 0.5"
    return ExprSyntaxError(message, column)


def _unexpected(token: _Token) -> ExprSyntaxError:
    if token.kind == "end":
        return ExprSyntaxError("unexpected end of expression", token.column)
    return ExprSyntaxError(f"unexpected '{token.text}' at column {token.column}", token.column)


# --- parsing ------------------------------------------------------------------------------------


def parse(text: str) -> Node:
    """Parse expression text into a tree; raises ExprSyntaxError.

    >>> to_source(parse("(a+b)*2 >= params.x"))
    '(a + b) * 2 >= params.x'
    >>> parse("-1")
    Unary(op='-', operand=Literal_(value=1, column=2), column=1)
    >>> try:
    ...     parse("min(a, b")
    ... except ExprSyntaxError as error:
    ...     print(error.column, error.message)
    9 expected ')' to close '(' at column 4, found end of expression
    """
    if len(text) > MAX_LENGTH:
        raise ExprSyntaxError(
            f"expression is too long ({len(text)} characters, at most {MAX_LENGTH})",
            MAX_LENGTH + 1,
        )
    return _Parser(text).parse()


class _Parser:
    """Recursive descent with precedence climbing for the binary operators."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._tok = next(self._tokens)
        self._nesting = 0
        self._shape: dict[int, tuple[int, int]] = {}  # id(node) -> (depth, size)

    def parse(self) -> Node:
        if self._tok.kind == "end":
            raise ExprSyntaxError("empty expression", 1)
        node = self._expr(1)
        if not self._at_end():
            raise _unexpected(self._tok)
        return node

    def _at_end(self) -> bool:
        return self._tok.kind == "end"

    def _advance(self) -> _Token:
        token = self._tok
        if token.kind != "end":
            self._tok = next(self._tokens)
        return token

    def _at(self, text: str) -> bool:
        return self._tok.kind == "op" and self._tok.text == text

    def _expr(self, min_prec: int) -> Node:
        left = self._prefix(min_prec)
        while (prec := self._infix_prec()) >= min_prec:
            op = self._advance()
            right = self._expr(prec + 1)  # + 1: left-associative
            left = self._node(Binary(op.text, left, right, op.column))
            if op.text in _COMPARISONS and self._infix_prec() == prec:
                raise ExprSyntaxError(
                    f"comparisons cannot be chained ('{self._tok.text}' at column "
                    f"{self._tok.column}): combine them with 'and'",
                    self._tok.column,
                )
        return left

    def _infix_prec(self) -> int:
        return _BINARY_PREC.get(self._tok.text, 0) if self._tok.kind == "op" else 0

    def _prefix(self, min_prec: int) -> Node:
        if self._at("not"):
            if min_prec > _NOT_PREC:
                column = self._tok.column
                raise ExprSyntaxError(
                    f"'not' at column {column} needs parentheses here: write (not ...)", column
                )
            return self._unary(_NOT_PREC)
        if self._at("-"):
            return self._unary(_NEG_PREC)
        return self._primary()

    def _unary(self, prec: int) -> Node:
        op = self._advance()
        with self._nested(op.column):
            operand = self._expr(prec)
        return self._node(Unary(op.text, operand, op.column))

    def _primary(self) -> Node:
        token = self._tok
        if token.kind == "lit":
            return self._node(Literal_(self._advance().value, token.column))
        if token.kind == "name":
            return self._name_or_call(self._advance())
        if self._at("("):
            return self._group(self._advance())
        raise _unexpected(token)

    def _group(self, opening: _Token) -> Node:
        with self._nested(opening.column):
            node = self._expr(1)
        self._close(opening)
        return node

    def _close(self, opening: _Token) -> None:
        if not self._at(")"):
            found = "end of expression" if self._tok.kind == "end" else f"'{self._tok.text}'"
            raise ExprSyntaxError(
                f"expected ')' to close '(' at column {opening.column}, found {found}",
                self._tok.column,
            )
        self._advance()

    def _name_or_call(self, token: _Token) -> Node:
        if self._at("("):
            return self._call(token)
        _check_name(token)
        return self._node(Name(token.text, token.column))

    def _call(self, name: _Token) -> Node:
        if name.text not in _ARITY:
            hint = did_you_mean(name.text, sorted(_ARITY))
            message = f"unknown function '{name.text}'" + (f" ({hint})" if hint else "")
            raise ExprSyntaxError(message, name.column)
        args = self._args(self._advance())
        _check_arity(name, args)
        return self._node(Call(name.text, args, name.column))

    def _args(self, opening: _Token) -> tuple[Node, ...]:
        args: list[Node] = []
        with self._nested(opening.column):
            if not self._at(")"):
                args.append(self._expr(1))
            while self._at(","):
                self._advance()
                args.append(self._expr(1))
        self._close(opening)
        return tuple(args)

    @contextmanager
    def _nested(self, column: int) -> Iterator[None]:
        # Bounds the recursion before any node exists (e.g. for '((((' or '----').
        self._nesting += 1
        if self._nesting > MAX_DEPTH:
            raise ExprSyntaxError(f"expression nests deeper than {MAX_DEPTH} levels", column)
        yield
        self._nesting -= 1

    def _node(self, node: Node) -> Node:
        """Record a new node's depth and size, enforcing the limits."""
        shapes = [self._shape[id(child)] for child in _children(node)]
        depth = 1 + max((d for d, _ in shapes), default=0)
        size = 1 + sum(s for _, s in shapes)
        if depth > MAX_DEPTH:
            raise ExprSyntaxError(f"expression nests deeper than {MAX_DEPTH} levels", node.column)
        if size > MAX_NODES:
            raise ExprSyntaxError(f"expression has more than {MAX_NODES} parts", node.column)
        self._shape[id(node)] = (depth, size)
        return node


def _check_name(token: _Token) -> None:
    parts = token.text.split(".")
    if parts[0] in _RESERVED:
        raise ExprSyntaxError(
            f"'{parts[0]}' at column {token.column} is a reserved word, not a name", token.column
        )
    if any(part.startswith("__") for part in parts):
        raise ExprSyntaxError(
            f"'{token.text}' at column {token.column}: no part of a name may start with '__'",
            token.column,
        )


def _check_arity(name: _Token, args: tuple[Node, ...]) -> None:
    low, high = _ARITY[name.text]
    if low <= len(args) and (high is None or len(args) <= high):
        if name.text == "round" and len(args) == 2:
            _check_digits(args[1])
        return
    if high is None:
        wanted = f"at least {low} arguments"
    elif low == high:
        wanted = f"{low} argument" + ("s" if low > 1 else "")
    else:
        wanted = f"{low} or {high} arguments"
    raise ExprSyntaxError(f"{name.text}() takes {wanted}, got {len(args)}", name.column)


def _check_digits(node: Node) -> None:
    value = node.value if isinstance(node, Literal_) else None
    if type(value) is not int or not 0 <= value <= _MAX_ROUND_DIGITS:
        raise ExprSyntaxError(
            f"round() digits must be a whole number from 0 to {_MAX_ROUND_DIGITS}", node.column
        )


# --- names --------------------------------------------------------------------------------------


def names(node: Node) -> list[tuple[str, bool]]:
    """Names read, in order of first appearance; the flag says "inside an aggregate".

    A name read both outside and inside an aggregate appears once with each flag.

    >>> names(parse("x + sum_loans(loan.balance * params.k) + x"))
    [('x', False), ('loan.balance', True), ('params.k', True)]
    """
    found: dict[tuple[str, bool], None] = {}
    _collect_names(node, False, found)
    return list(found)


def _collect_names(node: Node, in_aggregate: bool, found: dict[tuple[str, bool], None]) -> None:
    if isinstance(node, Name):
        found.setdefault((node.name, in_aggregate), None)
        return
    inner = in_aggregate or (isinstance(node, Call) and node.func in AGGREGATES)
    for child in _children(node):
        _collect_names(child, inner, found)


def uses_aggregate(node: Node) -> bool:
    """Whether the expression calls sum_loans, max_loans, min_loans or count_loans.

    >>> uses_aggregate(parse("1 + count_loans(loan.days_overdue > 0)")), uses_aggregate(parse("1"))
    (True, False)
    """
    return any(isinstance(n, Call) and n.func in AGGREGATES for n in _walk(node))


# --- types --------------------------------------------------------------------------------------


def infer_type(node: Node, type_of: Callable[[str], Type | None], *, in_loan_scope: bool) -> Type:
    """The type of the expression's value; raises ExprTypeError.

    ``type_of`` gives each fact's or parameter's type (None when there is no such name);
    ``in_loan_scope`` is True in ``about: loan`` rules. A text literal holding an ISO date
    (``'2026-11-28'``) may stand for a date.

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
}
# Aggregate -> (types its argument may have, result type; None: the argument's type).
_AGGREGATE_TYPES: Final[dict[str, tuple[tuple[Type, ...], Type | None]]] = {
    "sum_loans": (("number",), "number"),
    "max_loans": (("number", "date"), None),
    "min_loans": (("number", "date"), None),
    "count_loans": (("boolean",), "number"),
}


# --- evaluation ---------------------------------------------------------------------------------


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


_STRICT_FNS: Final[dict[str, Callable[[Sequence[object]], object]]] = {
    "min": partial(_extreme, False),
    "max": partial(_extreme, True),
    "abs": _abs,
    "round": _round,
    "floor": _floor,
    "ceil": _ceil,
    "days_between": _days_between,
    "add_days": _add_days,
}
_AGGREGATE_FNS: Final[dict[str, Callable[[Sequence[object]], object]]] = {
    "sum_loans": _sum,
    "max_loans": partial(_extreme, True),
    "min_loans": partial(_extreme, False),
    "count_loans": _count,
}


# --- compilation --------------------------------------------------------------------------------
# The same semantics as ``evaluate``, as nested closures built once per tree: no text is ever
# given to ``eval`` or ``exec``; each closure stands for one node of the whitelisted types.

Lookup: TypeAlias = Callable[[str], object]
Compiled: TypeAlias = Callable[[Lookup, Sequence[Lookup]], object]
#: a compiled node: (lookup, loans, the current loan inside an aggregate or None) → value
_Fn: TypeAlias = Callable[[Lookup, Sequence[Lookup], Lookup | None], object]


def compile_expr(node: Node) -> Compiled:
    """The tree as a function of ``(lookup, loans)`` with exactly ``evaluate``'s result.

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
        arithmetic = _ARITHMETIC_OPS[op]
        division = op == "/"

        def arith(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
            a, b = left(lookup, loans, loan), right(lookup, loans, loan)
            if not (_is_number(a) and _is_number(b)) or (division and b == 0):
                return UNKNOWN
            try:
                return _finite(arithmetic(a, b))
            except OverflowError:
                return UNKNOWN

        return arith
    compare = _COMPARE_OPS[op]
    equality = op in ("==", "!=")

    def comparison(lookup: Lookup, loans: Sequence[Lookup], loan: Lookup | None) -> object:
        a, b = left(lookup, loans, loan), right(lookup, loans, loan)
        kind = _kind(a)
        if kind is None or kind != _kind(b):
            return UNKNOWN
        if equality or kind != "boolean":
            return bool(compare(a, b))
        return UNKNOWN

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


# --- printing -----------------------------------------------------------------------------------


def to_source(node: Node) -> str:
    """Canonical text, with parentheses only where needed.

    >>> to_source(parse("not (a)==b and -(x*2)<3 or (p - (q - r))"))
    'not a == b and -(x * 2) < 3 or p - (q - r)'
    """
    if isinstance(node, Literal_):
        return _literal_source(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_source(arg) for arg in node.args)})"
    if isinstance(node, Unary):
        if node.op == "not":
            return "not " + _operand(node.operand, _NOT_PREC)
        return "-" + _operand(node.operand, _ATOM_PREC)
    prec = _BINARY_PREC[node.op]
    left_min = prec + 1 if node.op in _COMPARISONS else prec  # comparisons do not chain
    return f"{_operand(node.left, left_min)} {node.op} {_operand(node.right, prec + 1)}"


def _precedence(node: Node) -> int:
    if isinstance(node, Binary):
        return _BINARY_PREC[node.op]
    if isinstance(node, Unary):
        return _NOT_PREC if node.op == "not" else _NEG_PREC
    return _ATOM_PREC


def _operand(node: Node, min_prec: int) -> str:
    text = to_source(node)
    return f"({text})" if _precedence(node) < min_prec else text


def _literal_source(value: bool | int | float | str) -> str:
    """A literal as it is written: floats always with a '.', text in single quotes.

    >>> _literal_source(1e-7), _literal_source(2.0), _literal_source("it's")
    ('0.0000001', '2.0', "'it\\\\'s'")
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")  # never exponent notation
        return text if "." in text else text + ".0"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
