"""A fast, conservative "is this valid?" check compiled from a JSON Schema.

jsonschema walks the schema for every document and builds a validator object per keyword and
level; for a situation or a big rule pack that is most of the cost of reading it. Most inputs are
valid, so ``engine.load.situation`` and ``engine.load.loader`` ask this check first and run
jsonschema (for its precise messages) only when the check does not accept the document.

The check is *conservative*: it accepts a document only when jsonschema would also accept it,
and may reject some valid ones (``1.0`` where an integer is expected, non-string enums), which
then simply take the slow path. It understands the keywords the shipped schemas use; a schema
with any other keyword gets no fast check at all (:func:`checker` returns None).

Each (sub)schema compiles to a :class:`_Node` of two checks: ``accept`` (true only when the
value is surely valid) and ``reject`` (true only when it is surely invalid). Both may be false
("unsure"). ``not``, ``if``/``then``/``else`` and ``oneOf`` need the second: ``not S`` is surely
valid only when ``S`` is surely invalid, and a ``oneOf`` is surely valid only when one branch is
surely valid and every other one surely invalid.
"""

from __future__ import annotations

import ast
import datetime
import functools
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.schemas import ecma_regex, load_schema

Check = Callable[[Any], bool]

#: Keywords that never make a value invalid (``then``/``else`` are read with ``if``; ``$defs``
#: through ``$ref``).
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "then",
        "else",
    }
)


class _Unsupported(Exception):
    pass


@functools.cache
def checker(name: str) -> Check | None:
    """The fast check for shipped schema ``name``, or None when the schema is beyond it."""
    try:  # formats are checked by our own code: no jsonschema import on the fast path
        return compile_check(load_schema(name), _OWN_FORMATS)
    except _Unsupported:
        return None


def compile_check(schema: Any, format_checker: Any = None) -> Check:
    """The conservative check for ``schema``; raises ``_Unsupported`` for keywords beyond it."""
    accept = _Context(schema, format_checker).compile(schema).accept

    def check(value: Any) -> bool:
        try:
            return accept(value)
        except RecursionError:  # absurdly deep documents: let jsonschema judge them
            return False

    return check


@dataclass
class _Node:
    """A compiled schema: ``accept`` → surely valid, ``reject`` → surely invalid."""

    accept: Check
    reject: Check


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _negate(check: Check) -> Check:
    return lambda v: not check(v)


def _all(checks: Sequence[Check]) -> Check:
    """One check that holds when every one of ``checks`` holds (unrolled for speed)."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda v: a(v) and b(v)
    if len(checks) == 3:
        a, b, c = checks
        return lambda v: a(v) and b(v) and c(v)
    head, rest = checks[0], _all(checks[1:])
    return lambda v: head(v) and rest(v)


def _any(checks: Sequence[Check]) -> Check:
    if not checks:
        return _never
    if len(checks) == 1:
        return checks[0]
    head, rest = checks[0], _any(checks[1:])
    return lambda v: head(v) or rest(v)


def _is_number(value: Any) -> bool:
    """A JSON number as the fast check accepts it (int or float, never bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(value: Any) -> bool:
    """Whether jsonschema treats ``value`` as a number (any ``numbers.Number`` but bool)."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _not_integer(value: Any) -> bool:
    """Surely not a JSON Schema integer (jsonschema accepts floats such as 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _json_scalar_or_container(value)
    return isinstance(value, float) and not value.is_integer()


def _json_scalar_or_container(value: Any) -> bool:
    """A value of a type whose JSON meaning is plain (anything else: unsure)."""
    return value is None or isinstance(value, str | bool | int | float | list | dict)


_TYPES: Mapping[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "null": lambda v: v is None,
}
#: Where ``not accept`` is not "surely invalid": a reject of its own.
_TYPE_REJECTS: Mapping[str, Check] = {
    "integer": _not_integer,
    "number": lambda v: not _numeric(v) and _json_scalar_or_container(v),
}

#: A keyword's compiled form: its accept check and its reject check (None: ``not accept``).
_Built = tuple[Check, Check | None]


@dataclass
class _Context:
    root: Any
    format_checker: Any
    refs: dict[str, _Node] = field(default_factory=dict)
    #: id of a (sub)schema → its node: the fused checks (:func:`_fused`) read their parts'
    #: nodes without compiling them again (the schema is held, so ids are stable meanwhile)
    nodes: dict[int, tuple[Any, _Node]] = field(default_factory=dict)

    def compile(self, schema: Any) -> _Node:
        if schema is True:
            return _Node(_always, _never)
        if schema is False:
            return _Node(_never, _always)
        if not isinstance(schema, Mapping):
            raise _Unsupported
        known = self.nodes.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        node = self._compile(schema)
        fused = _fused(schema, self)
        if fused is not None:  # the same verdict in one call; reject keeps the general checks
            node = _Node(fused, node.reject)
        self.nodes[id(schema)] = (schema, node)
        return node

    def _compile(self, schema: Mapping[str, Any]) -> _Node:
        built: list[_Built] = []
        for keyword in schema:
            if keyword in _ANNOTATIONS or keyword.startswith("x-"):
                continue
            if keyword == "additionalProperties" and "properties" in schema:
                continue  # read together with properties
            build = _KEYWORDS.get(keyword)
            if build is None:
                raise _Unsupported
            built.append(build(schema[keyword], schema, self))
        accept = _all([a for a, _ in built])
        if all(r is None for _, r in built):
            return _Node(accept, _negate(accept))
        rejects = [r if r is not None else _negate(a) for a, r in built]
        return _Node(accept, _any(rejects))

    def ref(self, target: Any) -> _Node:
        if target == "#":
            key, schema = "#", self.root
        else:
            if not isinstance(target, str) or not target.startswith("#/$defs/"):
                raise _Unsupported
            name = target.removeprefix("#/$defs/")
            defs = self.root.get("$defs", {}) if isinstance(self.root, Mapping) else {}
            if "/" in name or "~" in name or "%" in name or name not in defs:
                raise _Unsupported
            key, schema = name, defs[name]
        node = self.refs.get(key)
        if node is None:  # a placeholder first, so that a recursive reference finds it
            node = self.refs[key] = _Node(_never, _never)
            compiled = self.compile(schema)
            node.accept, node.reject = compiled.accept, compiled.reject
        return node


def _ref(target: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    node = ctx.ref(target)
    return (lambda v: node.accept(v)), (lambda v: node.reject(v))


def _type(kind: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    kinds = [kind] if isinstance(kind, str) else kind
    if not isinstance(kinds, list) or not kinds or not all(k in _TYPES for k in kinds):
        raise _Unsupported
    accept = _any([_TYPES[k] for k in kinds])
    if not any(k in _TYPE_REJECTS for k in kinds):
        return accept, None
    rejects = [_TYPE_REJECTS.get(k) or _negate(_TYPES[k]) for k in kinds]
    return accept, _all(rejects)


def _const(expected: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if isinstance(expected, str):
        return (lambda v: isinstance(v, str) and v == expected), None
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise _Unsupported
    # jsonschema's equal: 0 == 0.0 but False != 0; other kinds of value never equal a number
    return (
        (lambda v: type(v) in (int, float) and v == expected),
        (
            lambda v: (
                (type(v) in (int, float) and v != expected)
                or v is None
                or isinstance(v, str | bool | list | dict)
            )
        ),
    )


def _enum(members: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise _Unsupported
    allowed = frozenset(members)
    return (lambda v: isinstance(v, str) and v in allowed), None


def _minimum(bound: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if not _is_number(bound):
        raise _Unsupported
    # NaN: jsonschema accepts it (NaN < bound is false); accept() does not, reject() does not
    return (
        (lambda v: v >= bound if _numeric(v) else True),
        (lambda v: _is_number(v) and v < bound),
    )


def _maximum(bound: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if not _is_number(bound):
        raise _Unsupported
    return (
        (lambda v: v <= bound if _numeric(v) else True),
        (lambda v: _is_number(v) and v > bound),
    )


def _count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise _Unsupported
    return n


def _min_length(n: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    n = _count(n)
    return (lambda v: not isinstance(v, str) or len(v) >= n), None


def _max_length(n: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    n = _count(n)
    return (lambda v: not isinstance(v, str) or len(v) <= n), None


def _pattern(pattern: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if not isinstance(pattern, str):
        raise _Unsupported
    # searched, as JSON Schema says; engine.core.schemas does the same
    compiled = ecma_regex(pattern)
    return (lambda v: not isinstance(v, str) or compiled.search(v) is not None), None


def _format(name: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    fc = ctx.format_checker
    if fc is None:
        return _always, _never
    if fc is _OWN_FORMATS:
        if name != "date":
            raise _Unsupported
        return _is_iso_date, None
    return (lambda v: bool(fc.conforms(v, name))), None


_OWN_FORMATS = object()  #: check formats here, as jsonschema's FormatChecker would
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_iso_date(value: Any) -> bool:
    """jsonschema's ``date`` format: non-strings pass; strings must be a real ISO date."""
    if not isinstance(value, str):
        return True
    if not _ISO_DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _items(sub: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    node = ctx.compile(sub)
    accept, reject = node.accept, node.reject
    return (
        (lambda v: not isinstance(v, list) or all(accept(item) for item in v)),
        (lambda v: isinstance(v, list) and any(reject(item) for item in v)),
    )


def _unique(flag: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if not flag:
        return _always, _never

    # only lists of strings are decided here; anything else takes the slow path
    def strings(v: list[Any]) -> bool:
        return all(isinstance(item, str) for item in v)

    return (
        (lambda v: not isinstance(v, list) or (strings(v) and len(set(v)) == len(v))),
        (lambda v: isinstance(v, list) and strings(v) and len(set(v)) != len(v)),
    )


def _min_items(n: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    n = _count(n)
    return (lambda v: not isinstance(v, list) or len(v) >= n), None


def _max_items(n: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    n = _count(n)
    return (lambda v: not isinstance(v, list) or len(v) <= n), None


def _min_properties(n: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    n = _count(n)
    return (lambda v: not isinstance(v, dict) or len(v) >= n), None


def _max_properties(n: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    n = _count(n)
    return (lambda v: not isinstance(v, dict) or len(v) <= n), None


def _properties(props: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    """``properties`` together with ``additionalProperties`` (absent, a schema or false)."""
    if not isinstance(props, Mapping):
        raise _Unsupported
    nodes = {key: ctx.compile(sub) for key, sub in props.items()}
    accepts = {key: node.accept for key, node in nodes.items()}
    rejects = {key: node.reject for key, node in nodes.items()}
    extra = ctx.compile(schema.get("additionalProperties", True))
    extra_accept, extra_reject = extra.accept, extra.reject

    def accept(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, item in v.items():
            check = accepts.get(key) if isinstance(key, str) else None
            if not (check or extra_accept)(item):
                return False
        return True

    def reject(v: Any) -> bool:
        if not isinstance(v, dict):
            return False
        for key, item in v.items():
            check = rejects.get(key) if isinstance(key, str) else None
            if (check or extra_reject)(item):
                return True
        return False

    return accept, reject


def _additional(sub: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    """``additionalProperties`` without ``properties``: every value must match ``sub``."""
    node = ctx.compile(sub)
    accept, reject = node.accept, node.reject
    return (
        (lambda v: not isinstance(v, dict) or all(accept(item) for item in v.values())),
        (lambda v: isinstance(v, dict) and any(reject(item) for item in v.values())),
    )


def _property_names(sub: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    node = ctx.compile(sub)
    accept, reject = node.accept, node.reject
    return (
        (lambda v: not isinstance(v, dict) or all(accept(key) for key in v)),
        (lambda v: isinstance(v, dict) and any(reject(key) for key in v)),
    )


def _required(names: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _Unsupported
    wanted = tuple(names)
    if len(wanted) == 1:
        (name,) = wanted
        return (lambda v: not isinstance(v, dict) or name in v), None
    return (lambda v: not isinstance(v, dict) or all(name in v for name in wanted)), None


def _subschemas(subs: Any, ctx: _Context) -> list[_Node]:
    if not isinstance(subs, list) or not subs:
        raise _Unsupported
    return [ctx.compile(sub) for sub in subs]


def _all_of(subs: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    nodes = _subschemas(subs, ctx)
    return _all([n.accept for n in nodes]), _any([n.reject for n in nodes])


def _any_of(subs: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    nodes = _subschemas(subs, ctx)
    return _any([n.accept for n in nodes]), _all([n.reject for n in nodes])


def _one_of(subs: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    branches = [(n.accept, n.reject) for n in _subschemas(subs, ctx)]

    def accept(v: Any) -> bool:
        """Exactly one branch surely valid, every other one surely invalid."""
        found = False
        for branch_accept, branch_reject in branches:
            if branch_accept(v):
                if found:
                    return False
                found = True
            elif not branch_reject(v):
                return False  # unsure about this branch
        return found

    def reject(v: Any) -> bool:
        """No branch can be valid, or two surely are."""
        valid = invalid = 0
        for branch_accept, branch_reject in branches:
            if branch_accept(v):
                valid += 1
            elif branch_reject(v):
                invalid += 1
        return valid >= 2 or invalid == len(branches)

    return accept, reject


def _not(sub: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    node = ctx.compile(sub)
    return node.reject, node.accept


def _if(sub: Any, schema: Mapping[str, Any], ctx: _Context) -> _Built:
    cond = ctx.compile(sub)
    then = ctx.compile(schema.get("then", True))
    else_ = ctx.compile(schema.get("else", True))
    if_accept, if_reject = cond.accept, cond.reject
    then_accept, then_reject = then.accept, then.reject
    else_accept, else_reject = else_.accept, else_.reject

    def accept(v: Any) -> bool:
        if if_accept(v):
            return then_accept(v)
        return if_reject(v) and else_accept(v)

    def reject(v: Any) -> bool:
        if if_accept(v):
            return then_reject(v)
        return if_reject(v) and else_reject(v)

    return accept, reject


# --- fused checks: the common shapes of a schema checked in one call ------------------------------
#
# A schema compiles to one check per keyword, combined (``_all``); a number with bounds costs
# four calls and an abstract-class ``isinstance``. The shapes below (which are most of a
# situation) get one function instead. Each accepts only what the keyword checks together accept,
# and may refuse more: it asks for the exact JSON types (``dict``, ``list``, ``str``, ``int``,
# ``float``, ``bool``), so an unusual value (a subclass, ``NaN`` where no bound excludes it)
# simply takes the slow path. The node's reject check stays the keyword checks' own.

_NUMBER_KEYWORDS = frozenset({"type", "minimum", "maximum"})
_STRING_KEYWORDS = frozenset({"type", "enum", "minLength", "maxLength", "pattern", "format"})
_ARRAY_KEYWORDS = frozenset({"type", "items", "minItems", "maxItems", "uniqueItems"})
_OBJECT_KEYWORDS = frozenset({"type", "properties", "additionalProperties", "required"})


def _fused(schema: Mapping[str, Any], ctx: _Context) -> Check | None:
    """One check for a whole (sub)schema of a common shape, or None (the keyword checks stay)."""
    keywords = {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-")}
    kind = schema.get("type")
    if kind in ("number", "integer") and keywords <= _NUMBER_KEYWORDS:
        return _fused_number(kind == "integer", schema)
    if kind == "string" and keywords <= _STRING_KEYWORDS:
        return _fused_string(schema, keywords, ctx)
    if kind == "array" and keywords <= _ARRAY_KEYWORDS:
        return _fused_array(schema, ctx)
    if kind == "object" and "properties" in keywords and keywords <= _OBJECT_KEYWORDS:
        return _fused_object(schema, ctx)
    return None


def _fused_number(integer: bool, schema: Mapping[str, Any]) -> Check:
    low = schema.get("minimum", -math.inf)
    high = schema.get("maximum", math.inf)
    if integer:
        return lambda v: type(v) is int and low <= v <= high
    # NaN fails both comparisons: refused here, judged by jsonschema
    return lambda v: (type(v) is float or type(v) is int) and low <= v <= high


def _fused_string(schema: Mapping[str, Any], keywords: set[str], ctx: _Context) -> Check:
    if keywords == {"type", "enum"}:
        allowed = frozenset(schema["enum"])
        return lambda v: type(v) is str and v in allowed
    shortest = _count(schema.get("minLength", 0))
    longest = schema.get("maxLength")
    longest = math.inf if longest is None else _count(longest)
    rest = _all(
        [
            build(schema[keyword], schema, ctx)[0]
            for keyword, build in (("enum", _enum), ("pattern", _pattern), ("format", _format))
            if keyword in schema
        ]
    )

    def accept(v: Any) -> bool:
        return type(v) is str and shortest <= len(v) <= longest and rest(v)

    return accept


def _fused_array(schema: Mapping[str, Any], ctx: _Context) -> Check:
    each = ctx.compile(schema.get("items", True)).accept
    fewest = _count(schema.get("minItems", 0))
    most = schema.get("maxItems")
    most = math.inf if most is None else _count(most)
    unique = bool(schema.get("uniqueItems", False))

    def accept(v: Any) -> bool:
        if type(v) is not list or not fewest <= len(v) <= most:
            return False
        for item in v:
            if not each(item):
                return False
        # only lists of strings are decided here (``_unique``); anything else: unsure
        return not unique or (all(type(item) is str for item in v) and len(set(v)) == len(v))

    return accept


def _fused_object(schema: Mapping[str, Any], ctx: _Context) -> Check:
    checks = {key: ctx.compile(sub).accept for key, sub in schema["properties"].items()}
    extra = ctx.compile(schema.get("additionalProperties", True)).accept
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        raise _Unsupported
    wanted = frozenset(required)

    def accept(v: Any) -> bool:
        if type(v) is not dict:
            return False
        for key, item in v.items():
            if not checks.get(key, extra)(item):
                return False
        return not wanted or v.keys() >= wanted

    return accept


_KEYWORDS: Mapping[str, Callable[[Any, Mapping[str, Any], _Context], _Built]] = {
    "$ref": _ref,
    "type": _type,
    "const": _const,
    "enum": _enum,
    "minimum": _minimum,
    "maximum": _maximum,
    "minLength": _min_length,
    "maxLength": _max_length,
    "pattern": _pattern,
    "format": _format,
    "items": _items,
    "uniqueItems": _unique,
    "minItems": _min_items,
    "maxItems": _max_items,
    "minProperties": _min_properties,
    "maxProperties": _max_properties,
    "properties": _properties,
    "additionalProperties": _additional,
    "propertyNames": _property_names,
    "required": _required,
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "not": _not,
    "if": _if,
}


# --- checked copies: one generated function per schema ------------------------------------------
#
# ``engine.load.situation`` copies a situation (the evaluation must not share the caller's
# objects) and checks it: its structure (exact JSON types, finite numbers, safe text, depth) and
# the schema. For a schema of closed objects, arrays and simple scalars (the situation's), one
# generated function does all of it in a single pass: each object's known properties read by
# name, each value's test inline, the copy made on the way. Like the checks above it is
# conservative: it returns None ("not sure") for anything unusual, and the caller then takes the
# step-by-step path that finds the problem and names it. The module is built as an ``ast`` tree
# from internal names and the schema's constants: no text is parsed.

Copier = Callable[[Any], Any]  #: a checked copy of the document, or None when not sure


class _Generated(Exception):
    """The schema has a shape the generated copier does not handle."""


@functools.cache
def copier(name: str, text: Callable[[str], bool], max_depth: int) -> Copier | None:
    """The checked copy of shipped schema ``name`` (None: the schema is beyond it).

    It returns a deep copy of a document that is surely valid against the schema and plain JSON
    as ``json.loads`` makes it (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``,
    ``None``; finite numbers; every string accepted by ``text``; at most ``max_depth`` levels of
    objects and arrays), and None for any other value.
    """
    try:
        return _CopierBuilder(text, max_depth).build(load_schema(name))
    except _Generated:
        return None


def _load(value: str) -> ast.Name:
    return ast.Name(value, ast.Load())


def _constant(value: Any) -> ast.Constant:
    return ast.Constant(value)


def _type_is(node: ast.expr, kind: str) -> ast.Compare:
    """``type(node) is kind``"""
    return ast.Compare(ast.Call(_load("type"), [node], []), [ast.Is()], [_load(kind)])


def _all_of_exprs(tests: list[ast.expr]) -> ast.expr:
    return tests[0] if len(tests) == 1 else ast.BoolOp(ast.And(), tests)


def _fail_unless(test: ast.expr) -> ast.If:
    """``if not test: return None``"""
    return ast.If(ast.UnaryOp(ast.Not(), test), [ast.Return(_constant(None))], [])


def _between(value: ast.expr, low: Any, high: Any) -> ast.Compare:
    return ast.Compare(_constant(low), [ast.LtE(), ast.LtE()], [value, _constant(high)])


class _CopierBuilder:
    """Builds the module: one function per object or array of the schema."""

    def __init__(self, text: Callable[[str], bool], max_depth: int) -> None:
        self.text = text
        self.max_depth = max_depth
        self.functions: list[ast.stmt] = []
        self.namespace: dict[str, Any] = {
            "type": type,
            "len": len,
            "set": set,
            "dict": dict,
            "int": int,
            "float": float,
            "str": str,
            "bool": bool,
            "list": list,
            "MISSING": _MISSING,
            "TEXT": text,
            "FINITE": math.isfinite,
            "DATE": _is_iso_date,
        }

    def build(self, schema: Any) -> Copier:
        top = self.container(schema, 1)
        module = ast.fix_missing_locations(ast.Module(self.functions, []))
        namespace = dict(self.namespace, __builtins__={})
        exec(compile(module, "<xieshang schema copier>", "exec"), namespace)  # no text parsed
        check: Copier = namespace[top]

        def copy(value: Any) -> Any:
            try:
                return check(value)
            except RecursionError:  # pragma: no cover - the schema bounds the depth
                return None

        return copy

    def bind(self, value: Any) -> ast.Name:
        """A name for ``value`` in the generated module's namespace."""
        name = f"c{len(self.namespace)}"
        self.namespace[name] = value
        return _load(name)

    def keywords(self, schema: Any) -> set[str]:
        if not isinstance(schema, Mapping):
            raise _Generated
        return {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-")}

    def container(self, schema: Any, depth: int) -> str:
        """The name of the function that copies a value of an object or array ``schema``."""
        if depth > self.max_depth:
            raise _Generated
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        raise _Generated

    def value(self, schema: Any, depth: int, node: ast.expr) -> tuple[ast.expr, bool]:
        """(a test of ``node``, or a call that copies it, and whether it is a copy)."""
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        if kind in ("object", "array"):
            return ast.Call(_load(self.container(schema, depth)), [node], []), True
        return self.scalar(schema, node), False

    def scalar(self, schema: Any, node: ast.expr) -> ast.expr:
        words = self.keywords(schema)
        kind = schema.get("type")
        if words == {"const"}:
            expected = schema["const"]
            if type(expected) is int:
                return _all_of_exprs(
                    [_type_is(node, "int"), ast.Compare(node, [ast.Eq()], [_constant(expected)])]
                )
            raise _Generated
        if kind in ("number", "integer") and words <= _NUMBER_KEYWORDS:
            low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
            if not (_is_number(low) and _is_number(high)):
                raise _Generated
            if kind == "integer":
                return _all_of_exprs([_type_is(node, "int"), _between(node, low, high)])
            tests: list[ast.expr] = [
                ast.BoolOp(ast.Or(), [_type_is(node, "float"), _type_is(node, "int")]),
                _between(node, low, high),
            ]
            if not (math.isfinite(low) and math.isfinite(high)):
                tests.append(ast.Call(_load("FINITE"), [node], []))
            return _all_of_exprs(tests)
        if kind == "boolean" and words == {"type"}:
            return _type_is(node, "bool")
        if kind == "string" and words <= _STRING_KEYWORDS:
            return self.string(schema, words, node)
        raise _Generated

    def string(self, schema: Mapping[str, Any], words: set[str], node: ast.expr) -> ast.expr:
        tests: list[ast.expr] = [_type_is(node, "str")]
        members = schema.get("enum")
        if members is not None:
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise _Generated
            allowed = frozenset(members)
            tests.append(ast.Compare(node, [ast.In()], [self.bind(allowed)]))
            if all(self.text(m) for m in allowed):  # a member is text the caller accepts
                return _all_of_exprs(tests)
        shortest = _count(schema.get("minLength", 0))
        longest = schema.get("maxLength")
        if shortest or longest is not None:
            length = ast.Call(_load("len"), [node], [])
            tests.append(
                _between(length, shortest, math.inf if longest is None else _count(longest))
            )
        tests.append(ast.Call(_load("TEXT"), [node], []))
        if "pattern" in words:
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                raise _Generated
            search = ast.Attribute(self.bind(ecma_regex(pattern)), "search", ast.Load())
            found = ast.Call(search, [node], [])
            tests.append(ast.Compare(found, [ast.IsNot()], [_constant(None)]))
        if "format" in words:
            if schema["format"] != "date":
                raise _Generated
            tests.append(ast.Call(_load("DATE"), [node], []))
        return _all_of_exprs(tests)

    def define(self, name: str, body: list[ast.stmt]) -> str:
        args = ast.arguments([], [ast.arg("v")], None, [], [], None, [])
        self.functions.append(ast.FunctionDef(name, args, body, [], None))
        return name

    def object(self, schema: Mapping[str, Any], depth: int) -> str:
        words = self.keywords(schema)
        properties = schema.get("properties", {})
        if (
            not words <= _OBJECT_KEYWORDS
            or schema.get("additionalProperties", True) is not False
            or not isinstance(properties, Mapping)
            or not all(isinstance(k, str) and self.text(k) for k in properties)
        ):
            raise _Generated  # an open object: its unknown keys would need a walk of their own
        required = schema.get("required", [])
        if not isinstance(required, list) or not set(required) <= set(properties):
            raise _Generated
        name = f"object{len(self.functions)}"
        self.functions.append(ast.Pass())  # its place: functions are defined before use
        place = len(self.functions) - 1
        v, x = _load("v"), _load("x")
        body: list[ast.stmt] = [
            _fail_unless(_type_is(v, "dict")),
            ast.Assign([ast.Name("out", ast.Store())], ast.Call(_load("dict"), [v], [])),
            ast.Assign([ast.Name("n", ast.Store())], _constant(0)),
        ]
        for key, sub in properties.items():
            test, copied = self.value(sub, depth + 1, x)
            found: list[ast.stmt] = [
                ast.AugAssign(ast.Name("n", ast.Store()), ast.Add(), _constant(1)),
            ]
            if copied:
                found.append(ast.Assign([ast.Name("x", ast.Store())], test))
                found.append(_fail_unless(ast.Compare(x, [ast.IsNot()], [_constant(None)])))
                target = ast.Subscript(_load("out"), _constant(key), ast.Store())
                found.append(ast.Assign([target], x))
            else:
                found.append(_fail_unless(test))
            get = ast.Call(
                ast.Attribute(v, "get", ast.Load()), [_constant(key), _load("MISSING")], []
            )
            body.append(ast.Assign([ast.Name("x", ast.Store())], get))
            missing: list[ast.stmt] = [ast.Return(_constant(None))] if key in required else []
            present = ast.Compare(x, [ast.IsNot()], [_load("MISSING")])
            body.append(ast.If(present, found, missing))
        # every key was one of the properties (unknown keys are refused: additionalProperties)
        count = ast.Compare(_load("n"), [ast.Eq()], [ast.Call(_load("len"), [v], [])])
        body.append(_fail_unless(count))
        body.append(ast.Return(_load("out")))
        self.functions.pop(place)
        return self.define(name, body)

    def array(self, schema: Mapping[str, Any], depth: int) -> str:
        words = self.keywords(schema)
        if not words <= _ARRAY_KEYWORDS or "items" not in schema:
            raise _Generated
        fewest = _count(schema.get("minItems", 0))
        most = schema.get("maxItems")
        most = math.inf if most is None else _count(most)
        unique = bool(schema.get("uniqueItems", False))
        name = f"array{len(self.functions)}"
        self.functions.append(ast.Pass())
        place = len(self.functions) - 1
        v, x = _load("v"), _load("x")
        items = schema["items"]
        test, copied = self.value(items, depth + 1, x)
        if unique and (copied or not isinstance(items, Mapping) or items.get("type") != "string"):
            raise _Generated  # only unique strings are decided here (as ``_unique``)
        size = _between(ast.Call(_load("len"), [v], []), fewest, most)
        body: list[ast.stmt] = [
            _fail_unless(_all_of_exprs([_type_is(v, "list"), size])),
        ]
        if copied:
            body.append(ast.Assign([ast.Name("out", ast.Store())], ast.List([], ast.Load())))
            append = ast.Attribute(_load("out"), "append", ast.Load())
            loop: list[ast.stmt] = [
                ast.Assign([ast.Name("x", ast.Store())], test),
                _fail_unless(ast.Compare(x, [ast.IsNot()], [_constant(None)])),
                ast.Expr(ast.Call(append, [x], [])),
            ]
            body.append(ast.For(ast.Name("x", ast.Store()), v, loop, []))
            body.append(ast.Return(_load("out")))
        else:
            body.append(ast.For(ast.Name("x", ast.Store()), v, [_fail_unless(test)], []))
            if unique:  # strings only (the test above): a set of them has no fewer
                distinct = ast.Call(_load("len"), [ast.Call(_load("set"), [v], [])], [])
                whole = ast.Call(_load("len"), [v], [])
                if (
                    not isinstance(schema["items"], Mapping)
                    or schema["items"].get("type") != "string"
                ):
                    raise _Generated
                body.append(_fail_unless(ast.Compare(distinct, [ast.Eq()], [whole])))
            body.append(ast.Return(ast.Call(_load("list"), [v], [])))
        self.functions.pop(place)
        return self.define(name, body)


_MISSING = object()  #: a property absent from an object
