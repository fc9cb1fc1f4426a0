"""Stage 2 of the expression language: parsing tokens into a tree, within size limits.

Recursive descent with precedence climbing (low to high: ``or``; ``and``; prefix ``not``;
comparisons, not chainable; ``+ -``; ``* /``; unary ``-``; atoms), checking function names,
arities, reserved words and the length, nesting and node-count limits as it goes. Also here:
``names`` and ``uses_aggregate``, which read a parsed tree.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from engine.core.errors import did_you_mean
from engine.pack.expr.nodes import (
    _ARITY,
    _COMPARISONS,
    AGGREGATES,
    Binary,
    Call,
    ExprSyntaxError,
    Literal_,
    Name,
    Node,
    Unary,
    _children,
    _walk,
)
from engine.pack.expr.tokens import _Token, _tokenize, _unexpected

MAX_LENGTH: Final = 2000  #: characters of expression text
MAX_DEPTH: Final = 50  #: levels of nesting: parentheses, function calls, signs and not
MAX_NODES: Final = 500  #: nodes in the tree
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
_RESERVED: Final = frozenset({k for k in keyword.kwlist if k.islower()} | {"true", "false"})


# --- parsing ------------------------------------------------------------------------------------


def parse(text: str) -> Node:
    """Parse expression text into a tree; raises ExprSyntaxError.

    >>> from engine.pack.expr import to_source
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
        self._size: dict[int, int] = {}  # id(node) -> nodes in its subtree

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
        """Record a new node's size, enforcing the limit on parts.

        Depth is not limited here: nesting (parentheses, calls, signs) is counted as it is
        parsed, and a chain such as ``a + b + c`` is not nesting, however long. The part limit
        bounds the tree's depth (to about MAX_NODES / 2, for a chain) for the stages that walk it.
        """
        size = 1 + sum(self._size[id(child)] for child in _children(node))
        if size > MAX_NODES:
            raise ExprSyntaxError(f"expression has more than {MAX_NODES} parts", node.column)
        self._size[id(node)] = size
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
