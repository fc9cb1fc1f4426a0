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
