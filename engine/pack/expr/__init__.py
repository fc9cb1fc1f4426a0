"""The safe expression language of ``derive: {value: ...}`` (docs/rules.md, "derive").

Text is tokenised and parsed by hand (precedence climbing) into an immutable tree of frozen
dataclasses; nothing is ever given to ``eval``. Only the operators below and a whitelist of
functions exist, so attribute access, indexing, lambdas and imports cannot even be written.

``parse`` checks syntax and size limits, ``infer_type`` checks the tree against the fact
vocabulary, ``evaluate`` computes it with three-valued logic (a value or ``UNKNOWN``),
``compile_expr`` turns it into closures with exactly ``evaluate``'s results, and ``to_source``
prints a tree back as canonical text.

Precedence, low to high: ``or``; ``and``; prefix ``not``; comparisons (not chainable); ``+ -``;
``* /``; unary ``-``; literals, names, calls and parentheses.

The stages, one module each: ``nodes`` (tree, errors, UNKNOWN), ``tokens``, ``parsing`` (with
``names`` and ``uses_aggregate``), ``printing`` (``to_source``), ``typecheck``, ``runtime`` (the
value semantics both evaluators share), ``evaluation`` (tree walk) and ``compilation``.
"""

from __future__ import annotations

from engine.pack.expr.compilation import Compiled, compile_expr
from engine.pack.expr.evaluation import evaluate
from engine.pack.expr.nodes import (
    AGGREGATES,
    FUNCTIONS,
    PARTIAL,
    UNKNOWN,
    Binary,
    Call,
    ExprError,
    ExprSyntaxError,
    ExprTypeError,
    Literal_,
    Name,
    Node,
    Type,
    Unary,
    Value,
)
from engine.pack.expr.parsing import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    names,
    parse,
    uses_aggregate,
)
from engine.pack.expr.printing import to_source
from engine.pack.expr.typecheck import infer_type

# The tables the tests draw random trees from (tests/test_expr.py, tests/test_expr_compile.py).
from engine.pack.expr.nodes import _ARITY as _ARITY  # isort: skip
from engine.pack.expr.parsing import _BINARY_PREC as _BINARY_PREC  # isort: skip

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "PARTIAL",
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
