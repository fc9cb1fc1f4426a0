"""The expression language printed back: ``to_source`` turns a tree into canonical text.

The inverse of parsing: operators spaced, floats never in exponent notation, text in single
quotes, and parentheses only where the precedence of ``engine.pack.expr.parsing`` needs them, so
that ``parse(to_source(tree)) == tree``.
"""

from __future__ import annotations

from decimal import Decimal

from engine.pack.expr.nodes import _COMPARISONS, Binary, Call, Literal_, Name, Node, Unary
from engine.pack.expr.parsing import _ATOM_PREC, _BINARY_PREC, _NEG_PREC, _NOT_PREC


def to_source(node: Node) -> str:
    """Canonical text, with parentheses only where needed.

    >>> from engine.pack.expr import parse
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
