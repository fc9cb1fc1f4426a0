"""Generated code for a situation with exactly one loan: its input values and its entity facts.

A situation with one loan is the common case, and at small packs the Rete driver's fixed work
per situation (reading the situation, encoding the entity facts) cost more than the engine's
matching. So, as the compiled backend does (``engine.run.lowered``), the reading is lowered once
to straight-line Python built with the ``ast`` module: ``reader`` (every input fact, exactly
``Memory.from_situation``'s values in its order, made once per process) and ``entity_encoder``
(per pack: the text of each entity fact the driver asserts, reading only the columns the rules
test). Nothing of a pack ever becomes source text: fact names, paths and property names enter the
tree only as ``ast.Constant`` values, identifiers are generated here, and the module runs with
empty ``__builtins__``.

Each column's text is exactly what ``driver._columns`` makes: ``"v7":<value_json(value)>``, or
``"u7":1`` for an unknown value. Booleans, int64 integers, strings and floats in plain notation
are written inline; anything else (lists, exponent floats, other types, which raise the
encoder's errors) goes to the general function the driver passes in.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any, Final, NamedTuple

from engine.core.encoding import INT64_MAX, INT64_MIN
from engine.core.values import UNKNOWN
from engine.run.memory import Key, input_paths

#: (situation, loan, loan id) → the input values, ``Memory.from_situation``'s for one loan
Reader = Callable[[Mapping[str, Any], Any, str], dict[Key, Any]]
#: (situation, loan, ``{"sid":<sid>,"id":"``, ``,"l":<loan id>``) → shard → entity facts
Encoder = Callable[[Mapping[str, Any], Any, str, str], dict[int, list[str]]]
#: the general column text for anything the generated code does not write inline:
#: (input fact, value) → ``"v7":...`` / ``"u7":1``
ColumnText = Callable[[str, Any], str]


class _Code:
    """Building one generated function: its locals and the reading of situation paths.

    Every object on a path is read once and made a dict (``as_dict``: a mapping is copied,
    anything else is empty), so each fact is one call of that dict's ``get``: None when
    absent, exactly ``memory._read``'s reading.
    """

    def __init__(self) -> None:
        self.body: list[ast.stmt] = []
        self.getters: dict[tuple[bool, tuple[str, ...]], str] = {}  #: object → its ``get``
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def assign(self, name: str, value: ast.expr) -> None:
        self.body.append(ast.Assign([_store(name)], value))

    def getter(self, per_loan: bool, prefix: tuple[str, ...]) -> str:
        """The local holding ``.get`` of the object at ``prefix`` of the situation (or loan)."""
        found = self.getters.get((per_loan, prefix))
        if found is None:
            if prefix:
                value: ast.expr = _call(
                    self.getter(per_loan, prefix[:-1]), ast.Constant(prefix[-1])
                )
            else:
                value = _load("loan" if per_loan else "situation")
            node = self.fresh("n")
            self.assign(node, value)
            # if type(node) is not dict: node = as_dict(node)
            not_dict = ast.Compare(_call("tp", _load(node)), [ast.IsNot()], [_load("dict_")])
            made = ast.Assign([_store(node)], _call("as_dict", _load(node)))
            self.body.append(ast.If(not_dict, [made], []))
            found = self.getters[(per_loan, prefix)] = self.fresh("g")
            self.assign(found, ast.Attribute(_load(node), "get", ast.Load()))
        return found

    def read(self, per_loan: bool, path: tuple[str, ...]) -> ast.expr:
        """The value at ``path``: None when absent."""
        return _call(self.getter(per_loan, path[:-1]), ast.Constant(path[-1]))

    def function(self, name: str, params: Sequence[str], namespace: dict[str, Any]) -> Any:
        """The function, its globals ``namespace``; the globals it reads often become locals."""
        start = [ast.Assign([_store(local)], _load(name_)) for local, name_ in _LOCALS]
        args = ast.arguments([], [ast.arg(p) for p in params], None, [], [], None, [])
        module = ast.Module([ast.FunctionDef(name, args, [*start, *self.body], [], None)], [])
        ast.fix_missing_locations(module)
        namespace.update({"__builtins__": {}, "UNKNOWN": UNKNOWN, "as_dict": _as_dict})
        namespace.update({"type": type, "dict": dict, "bool": bool, "int": int, "float": float})
        namespace.update({"str": str, "repr": repr})
        exec(compile(module, f"<xieshang {name}>", "exec"), namespace)
        return namespace[name]


#: (local, global): what the generated functions read often, made locals once per call
_LOCALS: Final = (
    ("U", "UNKNOWN"),
    ("tp", "type"),
    ("dict_", "dict"),
    ("bool_", "bool"),
    ("int_", "int"),
    ("float_", "float"),
    ("str_", "str"),
    ("repr_", "repr"),
)


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(name, ast.Store())


def _call(function: str, *args: ast.expr) -> ast.Call:
    return ast.Call(_load(function), list(args), [])


def _as_dict(node: object) -> dict[Any, Any]:
    """An object of the situation as the generated code reads it: a mapping as a dict, anything
    else (absent, null, a scalar) as an empty dict, whose facts are all absent."""
    return dict(node) if isinstance(node, Mapping) else {}


def _known(value: ast.expr) -> ast.expr:
    """``U if <value> is None else <value>``, reading the value once (into ``v``)."""
    named = ast.NamedExpr(_store("v"), value)
    return ast.IfExp(ast.Compare(named, [ast.Is()], [ast.Constant(None)]), _load("U"), _load("v"))


@functools.cache
def _paths() -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Input fact → (per loan, its path in the loan or the situation)."""
    return {name: (not situation, path) for name, situation, path in input_paths()}


@functools.cache
def reader() -> Reader:
    """``Memory.from_situation(situation).values`` for a situation whose only loan is ``loan``
    (with id ``loan_id``), as one dict display: the same keys, values and order."""
    code = _Code()
    keys: list[ast.expr | None] = []
    values: list[ast.expr] = []
    for name, situation_scope, path in input_paths():
        loan = ast.Constant(None) if situation_scope else _load("loan_id")
        keys.append(ast.Tuple([ast.Constant(name), loan], ast.Load()))
        values.append(_known(code.read(not situation_scope, path)))
    code.body.append(ast.Return(ast.Dict(keys, values)))
    function: Reader = code.function("read", ("situation", "loan", "loan_id"), {})
    return function


class Entity(NamedTuple):
    """One entity fact as ``entity_encoder`` writes it."""

    tail: str  #: its text after ``"id":"`` up to its columns: ``f0","t":"s"``
    per_loan: bool  #: whether the loan's ``,"l":<id>`` follows the tail
    facts: Sequence[str]  #: the input facts it carries, in column order


def entity_encoder(
    entities: Sequence[Entity],
    batches: Sequence[tuple[int, Sequence[int]]],
    columns: Mapping[str, int],
    lists: frozenset[str],
    general: ColumnText,
) -> Encoder:
    """``encode(situation, loan, head, member)``: the entity facts of a one-loan situation for
    each shard, ``{shard: [fact text, ...]}`` with the shards and entity indexes of
    ``batches``.

    Each fact is ``head`` (``{"sid":<sid>,"id":"``), its tail, ``member`` (``,"l":<loan id>``)
    if it is per loan, then its columns and ``}``. Each column is read and written once, the
    situation's before the loan's, each in column order (so a value that cannot be written
    meets the error it meets in the general path). ``columns`` gives each fact's column
    (``v<column>``); a fact in ``lists`` (of type list) is written by ``general`` unless
    unknown, as is anything else the inline code does not write (see the module).
    """
    code = _Code()
    texts: dict[str, str] = {}  #: fact → the local holding its column text
    namespace: dict[str, Any] = {"general": general, "enc": encode_basestring}
    paths = _paths()
    carried = {fact for entity in entities for fact in entity.facts}
    for fact in sorted(carried, key=lambda f: (paths[f][0], columns[f])):
        per_loan, path = paths[fact]
        texts[fact] = local = code.fresh("c")
        code.assign("v", code.read(per_loan, path))
        code.assign(local, _column_text(fact, columns[fact], fact in lists))
    made: list[str] = []
    for entity in entities:
        parts: list[ast.expr] = [_load("head"), ast.Constant(entity.tail)]
        if entity.per_loan:
            parts.append(_load("member"))
        for fact in entity.facts:
            parts += [ast.Constant(","), _load(texts[fact])]
        parts.append(ast.Constant("}"))
        made.append(code.fresh("e"))
        code.assign(made[-1], ast.JoinedStr([_formatted(p) for p in parts]))
    shards = [ast.Constant(shard) for shard, _ in batches]
    lists_ = [ast.List([_load(made[i]) for i in indexes], ast.Load()) for _, indexes in batches]
    code.body.append(ast.Return(ast.Dict(shards, lists_)))  # type: ignore[arg-type]
    function: Encoder = code.function("encode", ("situation", "loan", "head", "member"), namespace)
    return function


def _formatted(part: ast.expr) -> ast.expr:
    return part if isinstance(part, ast.Constant) else ast.FormattedValue(part, -1, None)


def _column_text(fact: str, column: int, listed: bool) -> ast.expr:
    """The text of ``fact``'s column for the value in ``v``, as ``driver._columns`` writes it.

    ``M if v is None else (T if v else F) if (t := type(v)) is bool else K + str(v) if t is
    int and MIN <= v <= MAX else K + enc(v) if t is str else K + r if t is float and "e" not
    in (r := repr(v)) and "n" not in r else M if v is U else general(fact, v)``, with ``K``
    ``"v7":``, ``T``/``F`` its text for true and false, ``M`` ``"u7":1``; for a list fact,
    ``M`` if unknown, else ``general``.
    """
    key, unknown = ast.Constant(f'"v{column}":'), ast.Constant(f'"u{column}":1')
    v = _load("v")

    def is_(left: ast.expr, right: ast.expr) -> ast.expr:
        return ast.Compare(left, [ast.Is()], [right])

    def prefixed(text: ast.expr) -> ast.expr:
        return ast.BinOp(key, ast.Add(), text)

    general: ast.expr = ast.IfExp(
        is_(v, _load("U")), unknown, _call("general", ast.Constant(fact), v)
    )
    if not listed:
        t = _load("t")
        repr_ = ast.NamedExpr(_store("r"), _call("repr_", v))
        plain_float = ast.BoolOp(
            ast.And(),
            [
                is_(t, _load("float_")),
                ast.Compare(ast.Constant("e"), [ast.NotIn()], [repr_]),
                ast.Compare(ast.Constant("n"), [ast.NotIn()], [_load("r")]),
            ],
        )
        general = ast.IfExp(plain_float, prefixed(_load("r")), general)
        general = ast.IfExp(is_(t, _load("str_")), prefixed(_call("enc", v)), general)
        in_range = ast.Compare(
            ast.Constant(INT64_MIN), [ast.LtE(), ast.LtE()], [v, ast.Constant(INT64_MAX)]
        )
        integer = ast.BoolOp(ast.And(), [is_(t, _load("int_")), in_range])
        general = ast.IfExp(integer, prefixed(_call("str_", v)), general)
        true, false = ast.Constant(f'"v{column}":true'), ast.Constant(f'"v{column}":false')
        is_bool = is_(ast.NamedExpr(_store("t"), _call("tp", v)), _load("bool_"))
        general = ast.IfExp(is_bool, ast.IfExp(v, true, false), general)
    return ast.IfExp(is_(v, ast.Constant(None)), unknown, general)
