"""A fast, conservative "is this valid?" check compiled from a JSON Schema.

jsonschema walks the schema for every document and builds a validator object per keyword and
level; for a situation that is most of the cost of reading it. Most inputs are valid, so
``engine.situation`` asks this check first and runs jsonschema (for its precise messages) only
when the check does not accept the document.

The check is *conservative*: it accepts a document only when jsonschema would also accept it,
and may reject some valid ones (``1.0`` where an integer is expected, non-string enums), which
then simply take the slow path. It understands the keywords the shipped schemas use; a schema
with any other keyword gets no fast check at all (:func:`checker` returns None).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "title", "description", "default", "examples", "x-unit", "x-error"}
)


class _Unsupported(Exception):
    pass


@functools.cache
def checker(name: str) -> Check | None:
    """The fast check for shipped schema ``name``, or None when the schema is beyond it."""
    from engine.schemas import load_schema, validator

    format_checker = validator(name).format_checker  # also checks the schema itself, once
    try:
        return _compile(load_schema(name), format_checker)
    except _Unsupported:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: Mapping[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "null": lambda v: v is None,
}


def _compile(schema: Mapping[str, Any], format_checker: Any) -> Check:
    if not isinstance(schema, Mapping):
        raise _Unsupported
    checks: list[Check] = []
    known = set(_ANNOTATIONS)
    for keyword, build in _KEYWORDS.items():
        if keyword in schema:
            known.add(keyword)
            checks.append(build(schema[keyword], schema, format_checker))
    if set(schema) - known:
        raise _Unsupported
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _type(kind: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if not isinstance(kind, str) or kind not in _TYPES:
        raise _Unsupported
    return _TYPES[kind]


def _const(expected: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if isinstance(expected, bool) or not isinstance(expected, int | str):
        raise _Unsupported
    kind = type(expected)
    return lambda v: type(v) is kind and v == expected


def _enum(members: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise _Unsupported
    allowed = frozenset(members)
    return lambda v: isinstance(v, str) and v in allowed


def _minimum(bound: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if not _is_number(bound):
        raise _Unsupported
    return lambda v: not _is_number(v) or v >= bound


def _maximum(bound: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if not _is_number(bound):
        raise _Unsupported
    return lambda v: not _is_number(v) or v <= bound


def _min_length(n: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= n


def _max_length(n: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= n


def _pattern(pattern: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    compiled = re.compile(pattern)  # jsonschema: re.search on strings
    return lambda v: not isinstance(v, str) or compiled.search(v) is not None


def _format(name: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if fc is None:
        return lambda v: True
    return lambda v: bool(fc.conforms(v, name))


def _items(sub: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    check = _compile(sub, fc)
    return lambda v: not isinstance(v, list) or all(check(item) for item in v)


def _unique(flag: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if not flag:
        return lambda v: True
    # only lists of strings are decided here; anything else takes the slow path
    return lambda v: (
        not isinstance(v, list)
        or (all(isinstance(item, str) for item in v) and len(set(v)) == len(v))
    )


def _min_items(n: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    return lambda v: not isinstance(v, list) or len(v) >= n


def _max_items(n: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    return lambda v: not isinstance(v, list) or len(v) <= n


def _properties(props: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    compiled = {key: _compile(sub, fc) for key, sub in props.items()}
    return lambda v: (
        not isinstance(v, dict) or all(check(v[key]) for key, check in compiled.items() if key in v)
    )


def _additional(flag: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    if flag is not False:
        raise _Unsupported
    allowed = frozenset(schema.get("properties", {}))
    return lambda v: not isinstance(v, dict) or all(key in allowed for key in v)


def _required(names: Any, schema: Mapping[str, Any], fc: Any) -> Check:
    return lambda v: not isinstance(v, dict) or all(name in v for name in names)


_KEYWORDS: Mapping[str, Callable[[Any, Mapping[str, Any], Any], Check]] = {
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
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
}
