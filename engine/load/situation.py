"""Read a borrower's situation (SPEC §2): decode, parse, harden, validate and normalise.

Every refusal is a :class:`~engine.core.errors.SituationError` carrying the source (a file name or
``<stdin>``), a JSON path such as ``$.loans[1].id`` and an English message saying what was
expected. Checks run in a fixed order so the same bad input always gives the same message:

1. bytes: size cap, encoding (UTF-8, optional BOM), emptiness;
2. JSON text: syntax (with line and column), NaN/Infinity, over-long number literals,
   duplicate keys in one object, nesting depth, unpaired surrogates, and control or invisible
   formatting characters in any string or key (``engine.core.safetext``: line breaks of every kind,
   terminal escapes, BiDi overrides, zero-width characters);
3. the top level is an object with ``schema_version`` 1;
4. the JSON Schema (``schemas/situation.schema.json``, formats enforced) and unique loan ids;
   of all the problems found here, the first in document order is reported (only the first
   few unknown fields of an object are named, with a count of the rest);
5. dates against ``as_of`` (:func:`check_dates`): nothing missed or notified after it, nothing
   more than :data:`MAX_DAYS_FROM_AS_OF` days away from it, ``as_of`` itself within
   :data:`AS_OF_YEARS`.

Values shown in messages are quoted as JSON with unsafe characters escaped, so a message never
carries a raw escape sequence or line break from the input.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from engine.core.errors import SituationError, UsageError, did_you_mean
from engine.core.safetext import describe, first_unsafe, one_line, quote
from engine.core.schemas import validator
from engine.core.userfiles import ReadProblem, read_file, read_stream
from engine.core.values import canonical_json
from engine.load.fastschema import checker, copier

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

MAX_BYTES = 1_000_000  #: largest accepted input, in bytes (after reading, before decoding)
MAX_DEPTH = 32  #: deepest accepted nesting of objects and arrays (the top-level object is 1)
MAX_NUMBER_LITERAL = 40  #: longest accepted number literal, in characters
DEFAULT_LOCALE = "zh-CN"
SCHEMA_VERSION = 1
#: The default ``as_of`` is the date in China: UTC+8 all year (Asia/Shanghai has had no daylight
#: saving time since 1991), so a server on UTC is not a day behind the borrower until 08:00.
CHINA_TIME = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")
AS_OF_YEARS = (2000, 2099)  #: accepted years of ``as_of``
MAX_DAYS_FROM_AS_OF = 36_500  #: farthest accepted date from ``as_of`` (``days_overdue`` maximum)
UNKNOWN_FIELDS_NAMED = 3  #: unknown fields of one object named in a message; the rest counted

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_JSON_WHITESPACE = " \t\r\n"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SHOW_MAX = 60

PathPart = str | int


# --- JSON paths --------------------------------------------------------------------------------


def json_path(parts: Sequence[PathPart]) -> str:
    """``["loans", 1, "id"]`` -> ``$.loans[1].id``; odd keys are quoted: ``$["a b"]``."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            path += f".{part}"
        else:
            path += f"[{quote(part)}]"
    return path


def _show(value: object) -> str:
    """A short JSON-like rendering of a value for messages: ``"abc"``, ``true``, ``an array``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        text = value if len(value) <= _SHOW_MAX else value[: _SHOW_MAX - 1] + "…"
        return quote(text)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _number(value: float) -> str:
    """``1000000000.0`` -> ``1000000000``; other numbers as JSON writes them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return json.dumps(value)


# --- parsing hooks: bad literals become markers that the tree walk reports with a path ----------


@dataclass(frozen=True)
class _BadLiteral:
    """Stands in for a JSON literal the engine refuses; ``message`` says why."""

    message: str


class _DuplicateKeyObject(dict[str, Any]):
    """An object in which ``duplicate`` occurred more than once."""

    def __init__(self, pairs: list[tuple[str, Any]], duplicate: str) -> None:
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, value)
        self.duplicate = duplicate


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            return _DuplicateKeyObject(pairs, key)
        obj[key] = value
    return obj


def _too_long(literal: str) -> _BadLiteral | None:
    if len(literal) <= MAX_NUMBER_LITERAL:
        return None
    head = literal[:20]
    return _BadLiteral(
        f"number literal {head}… is {len(literal)} characters long "
        f"(at most {MAX_NUMBER_LITERAL} accepted)"
    )


def _parse_int(literal: str) -> int | _BadLiteral:
    return _too_long(literal) or int(literal)


def _parse_float(literal: str) -> float | _BadLiteral:
    bad = _too_long(literal)
    if bad is not None:
        return bad
    value = float(literal)
    if not math.isfinite(value):
        return _BadLiteral(f"number {literal} is too large to represent")
    return value


def _parse_constant(literal: str) -> _BadLiteral:
    return _BadLiteral(f"expected a finite number, got {literal} (NaN and Infinity are not JSON)")


# --- bytes -> JSON value -----------------------------------------------------------------------


def _refuse_size(source: str, size: int, *, exact: bool = True) -> NoReturn:
    shown = f"is {size} bytes, larger" if exact else "is larger"
    raise SituationError(source, "$", f"input {shown} than the limit of {MAX_BYTES} bytes")


def _decode(data: bytes, source: str) -> str:
    """UTF-8 bytes (with or without a BOM) -> text; refuses other encodings and oversize input."""
    if len(data) > MAX_BYTES:
        _refuse_size(source, len(data))
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise SituationError(
                source, "$", f"input is {encoding} (byte order mark); expected UTF-8"
            )
    skip = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data.count(b"\n", 0, offset) + 1
        raise SituationError(
            source,
            "$",
            f"invalid UTF-8 at byte offset {offset} (line {line}): expected UTF-8 encoded JSON",
        ) from None


def _parse(text: str, source: str) -> object:
    """JSON text -> Python value, with the hardening hooks installed."""
    if not text.strip(_JSON_WHITESPACE):
        raise SituationError(source, "$", "empty input: expected a JSON object")
    try:
        return json.loads(
            text,
            object_pairs_hook=_object_pairs,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        message = f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        raise SituationError(source, "$", message) from None
    except RecursionError:
        raise SituationError(source, "$", _depth_message()) from None


def _depth_message() -> str:
    return f"JSON nested too deeply: at most {MAX_DEPTH} levels of objects and arrays accepted"


# --- structural walk: JSON types only, finite numbers, depth, duplicate keys --------------------


def _check_tree(doc: object, source: str) -> None:
    """Iterative depth-first walk in document order; raises on the first structural problem.

    A plain tree (:func:`_plain`, the common case) is passed without the walk: the walk keeps
    the path of every value, and a message is all it is needed for.
    """
    if _plain(doc, 1):
        return
    stack: list[tuple[object, tuple[PathPart, ...], int]] = [(doc, (), 1)]
    while stack:
        value, parts, depth = stack.pop()
        if isinstance(value, dict):
            _check_object(value, parts, depth, source)
            children = [(v, (*parts, k), depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            _check_depth(parts, depth, source)
            children = [(v, (*parts, i), depth + 1) for i, v in enumerate(value)]
        else:
            _check_scalar(value, parts, source)
            continue
        stack.extend(reversed(children))


def _plain(value: object, depth: int) -> bool:
    """Whether the walk of :func:`_check_tree` would find nothing in ``value``, decided without
    building a path. False is "not sure": the walk then finds the problem and says where."""
    return _plain_items((value,), depth - 1)


def _plain_items(items: Iterable[Any], depth: int) -> bool:
    """:func:`_plain` for every item of a container at ``depth``: only the exact JSON types
    pass (a ``dict`` subclass, such as the object of a duplicate key, is "not sure")."""
    if depth > MAX_DEPTH:
        return False
    for item in items:
        kind = type(item)
        if kind is str:
            if not (item.isprintable() or _plain_text(item)):
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or not (key.isprintable() or _plain_text(key)):
                    return False
            if not _plain_items(item.values(), depth + 1):
                return False
        elif kind is list:
            if not _plain_items(item, depth + 1):
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif not (kind is int or kind is bool or item is None):
            return False
    return True


def _plain_text(text: str) -> bool:
    """No unpaired surrogate and no unsafe character (``engine.core.safetext``). Unsafe categories
    (Cc, Cf, Zl, Zp, Cs) are all unprintable, so printable text is plain at once."""
    return text.isprintable() or (_SURROGATE.search(text) is None and first_unsafe(text) is None)


def _check_depth(parts: tuple[PathPart, ...], depth: int, source: str) -> None:
    if depth > MAX_DEPTH:
        raise SituationError(source, json_path(parts), _depth_message())


def _check_object(obj: dict[Any, Any], parts: tuple[PathPart, ...], depth: int, src: str) -> None:
    _check_depth(parts, depth, src)
    if isinstance(obj, _DuplicateKeyObject):
        path = json_path((*parts, obj.duplicate))
        raise SituationError(src, path, f"duplicate key '{obj.duplicate}' in one JSON object")
    for key in obj:
        if not isinstance(key, str):
            raise SituationError(src, json_path(parts), f"object key {key!r} is not a string")
        if _SURROGATE.search(key):
            raise SituationError(src, json_path(parts), "object key is not valid Unicode")
        _check_text(key, (*parts, key), src, "object key")


def _check_scalar(value: object, parts: tuple[PathPart, ...], source: str) -> None:
    path = json_path(parts)
    if isinstance(value, _BadLiteral):
        raise SituationError(source, path, value.message)
    if isinstance(value, float) and not math.isfinite(value):
        raise SituationError(source, path, f"expected a finite number, got {value!r}")
    if isinstance(value, str) and _SURROGATE.search(value):
        raise SituationError(source, path, "string contains an unpaired surrogate (not Unicode)")
    if isinstance(value, str):
        _check_text(value, parts, source, "text")
    if value is not None and not isinstance(value, str | int | float):
        raise SituationError(source, path, f"not a JSON value: {type(value).__name__}")


def _check_text(text: str, parts: tuple[PathPart, ...], source: str, what: str) -> None:
    """Refuse control characters, line breaks and invisible formatting characters: in an id or
    a name they can only hide text, fake lines of advice or drive the terminal."""
    index = first_unsafe(text)
    if index is None:
        return
    message = (
        f"{what} contains {describe(text[index])} at character {index + 1}; control"
        " characters, line breaks and invisible formatting characters are not accepted"
    )
    raise SituationError(source, json_path(parts), message)


# --- schema problems, ordered by position in the document --------------------------------------


@dataclass(frozen=True, order=True)
class _Problem:
    order: tuple[int, ...]  #: position in the document (see :func:`_order`)
    rank: int  #: which of several problems at one position to report first
    path: str
    message: str


_RANK = {
    "type": 0,
    "const": 1,
    "enum": 2,
    "required": 3,
    "additionalProperties": 4,
    "minLength": 5,
    "maxLength": 6,
    "pattern": 7,
    "format": 8,
    "minimum": 9,
    "exclusiveMinimum": 9,
    "maximum": 10,
    "exclusiveMaximum": 10,
    "minItems": 11,
    "maxItems": 11,
    "uniqueItems": 12,
}
_RANK_DEFAULT = 50
_RANK_DUPLICATE_ID = 60


def _order(doc: object, parts: Sequence[PathPart]) -> tuple[int, ...]:
    """Document order of a path: key positions and array indexes; absent keys sort last."""
    order: list[int] = []
    node: object = doc
    for part in parts:
        if isinstance(node, dict):
            keys = list(node)
            order.append(keys.index(part) if part in node else len(keys))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            order.append(part)
            node = node[part]
        else:
            order.append(0)
            node = None
    return tuple(order)


def _problem(doc: object, parts: Sequence[PathPart], keyword: str, message: str) -> _Problem:
    return _Problem(
        _order(doc, parts), _RANK.get(keyword, _RANK_DEFAULT), json_path(parts), message
    )


def _noun(schema: dict[str, Any]) -> str:
    kinds = schema.get("type", "value")
    names = {
        "number": "a number",
        "integer": "an integer",
        "string": "a string",
        "boolean": "true or false",
        "object": "an object",
        "array": "an array",
        "null": "null",
    }
    kind_list = kinds if isinstance(kinds, list) else [kinds]
    return " or ".join(names.get(k, f"a {k}") for k in kind_list)


def _expected_type(err: ValidationError) -> str:
    noun = _noun(err.schema)
    if "minimum" in err.schema and noun in ("a number", "an integer"):
        noun += f" ≥ {_number(err.schema['minimum'])}"
    return f"expected {noun}, got {_show(err.instance)}"


def _bound(err: ValidationError) -> str:
    sign = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}
    op = sign[err.validator]
    limit = _number(err.validator_value)
    return f"expected {_noun(err.schema)} {op} {limit}, got {_show(err.instance)}"


def _enum(err: ValidationError) -> str:
    choices = ", ".join(_show(v) for v in err.validator_value)
    message = f"expected one of {choices}, got {_show(err.instance)}"
    if isinstance(err.instance, str):
        strings = [v for v in err.validator_value if isinstance(v, str)]
        hint = did_you_mean(err.instance, strings)
        message += f" ({hint})" if hint else ""
    return message


def _pattern(err: ValidationError) -> str:
    if err.schema.get("format") == "date":
        return f"expected a date YYYY-MM-DD, got {_show(err.instance)}"
    return f"expected a string matching {err.validator_value}, got {_show(err.instance)}"


def _format(err: ValidationError) -> str:
    if err.validator_value == "date":
        return f"'{err.instance}' is not a real date (expected YYYY-MM-DD)"
    return f"expected a {err.validator_value}, got {_show(err.instance)}"


def _items(count: int, parts: Sequence[PathPart]) -> str:
    noun = "loan" if list(parts) == ["loans"] else "item"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _min_items(err: ValidationError, parts: Sequence[PathPart]) -> str:
    return f"expected at least {_items(err.validator_value, parts)}, got {len(err.instance)}"


def _max_items(err: ValidationError, parts: Sequence[PathPart]) -> str:
    many = _items(len(err.instance), parts)
    return f"too many {many.split()[1]}: {len(err.instance)} (at most {err.validator_value})"


def _min_length(err: ValidationError) -> str:
    n = err.validator_value
    wanted = "a non-empty string" if n == 1 else f"a string of at least {n} characters"
    return f"expected {wanted}, got {_show(err.instance)}"


def _max_length(err: ValidationError) -> str:
    n = err.validator_value
    return f"expected a string of at most {n} characters, got {len(err.instance)} characters"


_SIMPLE_MESSAGES: dict[str, Callable[[ValidationError], str]] = {
    "type": _expected_type,
    "minimum": _bound,
    "exclusiveMinimum": _bound,
    "maximum": _bound,
    "exclusiveMaximum": _bound,
    "enum": _enum,
    "pattern": _pattern,
    "format": _format,
    "minLength": _min_length,
    "maxLength": _max_length,
}


def _required(err: ValidationError, doc: object, parts: list[PathPart]) -> list[_Problem]:
    missing = [name for name in err.validator_value if name not in err.instance]
    base = _order(doc, parts)
    return [
        _Problem(
            (*base, len(err.instance) + i),
            _RANK["required"],
            json_path([*parts, name]),
            f"missing required field '{name}'",
        )
        for i, name in enumerate(missing)
    ]


def _unknown_fields(err: ValidationError, doc: object, parts: list[PathPart]) -> list[_Problem]:
    """The first unknown field of an object, with a hint; the next few named, the rest counted.

    One pass over the keys and one "did you mean" per object: an object with 76,000 unknown
    keys costs no more than reading them.
    """
    known = list(err.schema.get("properties", {}))
    known_set = set(known)
    unknown = [(i, key) for i, key in enumerate(err.instance) if key not in known_set]
    if not unknown:
        return []
    position, key = unknown[0]
    hint = did_you_mean(key, known) or f"expected one of: {', '.join(known)}"
    message = f"unknown field {_field(key)} ({hint})"
    rest = unknown[1:]
    if rest:
        named = ", ".join(_field(k) for _, k in rest[:UNKNOWN_FIELDS_NAMED])
        more = len(rest) - UNKNOWN_FIELDS_NAMED
        named += f" and {more:,} more" if more > 0 else ""
        message += f"; {len(rest):,} more unknown field{'s' if len(rest) > 1 else ''} here: {named}"
    order = (*_order(doc, parts), position)
    path = json_path([*parts, key])
    return [_Problem(order, _RANK["additionalProperties"], path, message)]


def _field(key: str) -> str:
    """A field name for a message: ``'monthly_incom'`` (long names cut, unsafe characters
    escaped)."""
    text = key if len(key) <= _SHOW_MAX else key[: _SHOW_MAX - 1] + "…"
    return f"'{one_line(text)}'"


def _duplicate_items(err: ValidationError, doc: object, parts: list[PathPart]) -> list[_Problem]:
    seen: list[tuple[object, int]] = []
    for index, item in enumerate(err.instance):
        for other, first in seen:
            if _same_json(item, other):
                message = f"duplicate value {_show(item)} (also at {json_path([*parts, first])})"
                return [_problem(doc, [*parts, index], "uniqueItems", message)]
        seen.append((item, index))
    return [_problem(doc, parts, "uniqueItems", "expected unique items")]


def _same_json(a: object, b: object) -> bool:
    return canonical_json(a) == canonical_json(b)


def _schema_problems(err: ValidationError, doc: object) -> list[_Problem]:
    """One jsonschema error -> problems with precise paths (one per unknown or missing field)."""
    from jsonschema.exceptions import best_match  # only for invalid input

    err = best_match([err])  # descends into anyOf/oneOf context when the schema has any
    parts: list[PathPart] = list(err.absolute_path)
    keyword = err.validator
    if keyword == "required":
        return _required(err, doc, parts)
    if keyword == "additionalProperties":
        return _unknown_fields(err, doc, parts)
    if keyword == "uniqueItems":
        return _duplicate_items(err, doc, parts)
    if keyword == "minItems":
        return [_problem(doc, parts, keyword, _min_items(err, parts))]
    if keyword == "maxItems":
        return [_problem(doc, parts, keyword, _max_items(err, parts))]
    if keyword == "const":
        message = f"expected {_show(err.validator_value)}, got {_show(err.instance)}"
        return [_problem(doc, parts, keyword, message)]
    describe = _SIMPLE_MESSAGES.get(keyword)
    message = describe(err) if describe else str(err.message)
    return [_problem(doc, parts, keyword, message)]


def schema_problem(err: ValidationError, doc: object) -> tuple[str, str]:
    """(JSON path, message) of one jsonschema error, worded as the situation's own problems are
    (used for other JSON documents read from users, such as decision records)."""
    first = min(_schema_problems(err, doc))
    return first.path, first.message


def _duplicate_loan_ids(doc: dict[str, Any]) -> list[_Problem]:
    loans = doc.get("loans")
    if not isinstance(loans, list):
        return []
    first_seen: dict[str, int] = {}
    problems = []
    for index, loan in enumerate(loans):
        loan_id = loan.get("id") if isinstance(loan, dict) else None
        if not isinstance(loan_id, str):
            continue
        if loan_id in first_seen:
            also = json_path(["loans", first_seen[loan_id], "id"])
            message = f"duplicate loan id '{loan_id}' (also at {also})"
            parts: list[PathPart] = ["loans", index, "id"]
            problems.append(
                _Problem(_order(doc, parts), _RANK_DUPLICATE_ID, json_path(parts), message)
            )
        else:
            first_seen[loan_id] = index
    return problems


# --- public API --------------------------------------------------------------------------------


def _check_schema_version(doc: dict[str, Any], source: str) -> None:
    if "schema_version" not in doc:
        message = f"missing required field 'schema_version' (expected {SCHEMA_VERSION})"
        raise SituationError(source, "$.schema_version", message)
    version = doc["schema_version"]
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        message = (
            f"unsupported schema_version {_show(version)} "
            f"(this engine reads schema_version {SCHEMA_VERSION})"
        )
        raise SituationError(source, "$.schema_version", message)


def validate_situation(
    doc: object, source: str, *, today: datetime.date | None = None
) -> dict[str, Any]:
    """Check an already-parsed situation; returns it unchanged, or raises SituationError.

    Applies every check that follows JSON parsing: JSON types only, finite numbers, nesting depth,
    a top-level object, ``schema_version`` 1, the schema (formats enforced), unique loan ids and
    the dates against ``as_of`` (``today`` when the situation has none; default: the date in
    China, :func:`default_today`).
    """
    if not isinstance(doc, dict):
        raise SituationError(
            source, "$", f"expected a JSON object at the top level, got {_show(doc)}"
        )
    _check_tree(doc, source)
    _check_schema_version(doc, source)
    problems = _duplicate_loan_ids(doc)
    fast = checker("situation")
    if fast is None or not fast(doc):  # valid input skips jsonschema (engine.load.fastschema)
        for err in validator("situation").iter_errors(doc):
            problems.extend(_schema_problems(err, doc))
    if problems:
        first = min(problems)
        raise SituationError(source, first.path, first.message)
    check_dates(doc, source, today)
    return doc


def validate_and_normalise(doc: object, source: str, today: datetime.date) -> dict[str, Any]:
    """``normalise(validate_situation(doc, source, today=today), today)``: the same checks in the
    same order, so the same message for bad input, and the same copy.

    A valid situation is checked and copied in one pass: the structure (:func:`_plain`) and
    the schema together, by the function generated from the schema
    (``engine.load.fastschema.copier``). Anything it is not sure of takes
    :func:`validate_situation`'s path, which finds the problem and names it.
    """
    checked_copy = copier("situation", _plain_text, MAX_DEPTH)
    copied = None if checked_copy is None else checked_copy(doc)
    if copied is None or _duplicate_loan_ids(copied):
        return normalise(validate_situation(doc, source, today=today), today)
    check_dates(copied, source, today)
    return _defaults(copied, today)


def parse_json_bytes(data: bytes, source: str) -> object:
    """Decode and parse JSON bytes with the situation's hardening (steps 1 and 2 above: size,
    UTF-8, syntax, over-long literals, NaN); the value is not validated. ``xieshang serve``
    answers 400 for these refusals and 422 for those of :func:`validate_situation`."""
    return _parse(_decode(data, source), source)


def load_situation_bytes(
    data: bytes, source: str, *, today: datetime.date | None = None
) -> dict[str, Any]:
    """Decode, parse and validate a situation; ``source`` names it in messages (or ``<stdin>``)."""
    return validate_situation(parse_json_bytes(data, source), source, today=today)


def parse_situation_bytes(data: bytes, source: str) -> object:
    """Decode and parse situation bytes (steps 1 and 2) without validating: for a partial
    situation, which ``engine.interview`` checks with its own allowances."""
    return _parse(_decode(data, source), source)


def load_situation_file(path: str | Path, *, today: datetime.date | None = None) -> dict[str, Any]:
    """Read and validate the situation file at ``path`` (``-`` is not special here).

    A file that cannot be read (missing, a directory, a FIFO or device, unreadable) is a
    :class:`UsageError`; bad content, or more than ``MAX_BYTES``, is a SituationError. Nothing
    beyond the limit is read (``engine.core.userfiles``).
    """
    source = str(path)
    return load_situation_bytes(_read_file(Path(path), source), source, today=today)


def load_situation_stream(stream: IO[bytes] | None, source: str = "<stdin>") -> dict[str, Any]:
    """Read (at most ``MAX_BYTES`` + 1 bytes) and validate a situation from a binary stream."""
    try:
        data = read_stream(stream, MAX_BYTES)
    except ReadProblem as problem:
        if problem.too_large:
            _refuse_size(source, problem.size or MAX_BYTES + 1, exact=problem.size is not None)
        raise UsageError(f"cannot read situation: {source} {problem.reason}") from None
    return load_situation_bytes(data, source)


def _read_file(path: Path, source: str) -> bytes:
    try:
        return read_file(path, MAX_BYTES)
    except ReadProblem as problem:
        if problem.too_large:
            _refuse_size(source, problem.size or MAX_BYTES + 1, exact=problem.size is not None)
        if problem.reason == "no such file":
            raise UsageError(f"cannot read situation: no such file: {source}") from None
        if problem.reason.startswith("is "):
            raise UsageError(f"cannot read situation: {source} {problem.reason}") from None
        raise UsageError(f"cannot read situation: {source}: {problem.reason}") from None


# --- dates ---------------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def default_today() -> datetime.date:
    """Today's date in China (UTC+8): the ``as_of`` of a situation that gives none."""
    return _now().astimezone(CHINA_TIME).date()


#: Per-loan dates, as paths inside a loan, and whether each must not be after ``as_of``.
_LOAN_DATES: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("next_due_date",), False),
    (("first_missed_due_date",), True),
    (("status", "legal_notice_date"), True),
    (("status", "hearing_date"), False),
)
_NOT_AFTER = {
    "first_missed_due_date": "a payment cannot have been missed after the date of the situation",
    "legal_notice_date": "a notice cannot be dated after the date of the situation",
}


def date_not_after_as_of(fact: str) -> bool:
    """Whether the loan date ``fact`` (``loan.first_missed_due_date``) may not follow ``as_of``."""
    return any(not_after and fact == "loan." + ".".join(inner) for inner, not_after in _LOAN_DATES)


def check_dates(situation: dict[str, Any], source: str, today: datetime.date | None = None) -> None:
    """Refuse dates that are impossible or absurd against ``as_of`` (``today`` when absent).

    A missed due date or a legal notice after ``as_of`` would give "overdue for 0 days" or a
    deadline in the future that never started; a date centuries away gives day counts in the
    millions. ``situation`` must be schema-valid. Raises SituationError for the first problem in
    document order.
    """
    given = situation.get("as_of")
    as_of = _date(given) or today or default_today()
    low, high = AS_OF_YEARS
    if given and not low <= as_of.year <= high:
        message = f"as_of {as_of} is outside the years {low}-{high} this engine accepts"
        raise SituationError(source, "$.as_of", message)
    problems = []
    loans = situation.get("loans")
    for index, loan in enumerate(loans if isinstance(loans, list) else []):
        for inner, not_after in _LOAN_DATES:
            node: Any = loan
            for key in inner:
                node = node.get(key) if isinstance(node, dict) else None
            date = _date(node)
            if date is None:
                continue
            if not (not_after and date > as_of) and (
                abs((date - as_of).days) <= MAX_DAYS_FROM_AS_OF
            ):
                continue  # the common case: nothing to say
            where = f"as_of {as_of}" if given else f"today ({as_of} in China; no as_of given)"
            parts: list[PathPart] = ["loans", index, *inner]
            if not_after and date > as_of:
                message = f"{date} is after {where}: {_NOT_AFTER[inner[-1]]}"
            elif abs((date - as_of).days) > MAX_DAYS_FROM_AS_OF:
                message = f"{date} is more than {MAX_DAYS_FROM_AS_OF:,} days from {where}"
            else:
                continue
            problems.append(_problem(situation, parts, "date", message))
    if problems:
        first = min(problems)
        raise SituationError(source, first.path, first.message)


def _date(value: object) -> datetime.date | None:
    """A valid ISO date text as a date (the schema checked it), else None."""
    try:
        return datetime.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def normalise(situation: dict[str, Any], today: datetime.date) -> dict[str, Any]:
    """A deep copy with ``as_of`` defaulted to ``today`` and ``locale`` to ``zh-CN``.

    Nothing else is added: absent fields stay absent (absent means unknown).
    """
    return _defaults(_copied(situation), today)


def _defaults(situation: dict[str, Any], today: datetime.date) -> dict[str, Any]:
    """``as_of`` and ``locale`` filled in where absent (in place)."""
    if "as_of" not in situation:
        if isinstance(today, datetime.datetime):
            today = today.date()
        situation["as_of"] = today.isoformat()
    situation.setdefault("locale", DEFAULT_LOCALE)
    return situation


def _copied(value: Any) -> Any:
    """A deep copy of JSON data (``copy.deepcopy`` for anything else), several times faster than
    ``copy.deepcopy`` of the whole, which keeps a memo of every object it meets."""
    kind = type(value)
    if kind is dict:
        return {
            key: item if type(item) in _SCALARS else _copied(item) for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _SCALARS else _copied(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})  #: immutable: a copy may share them


def situation_digest(situation: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``situation`` (independent of key order)."""
    return "sha256:" + hashlib.sha256(canonical_json(situation).encode("utf-8")).hexdigest()
