"""Find and load the JSON Schemas that define xieshang's input and output formats.

The schemas live in the repository's ``schemas/`` directory. An installed wheel carries a copy at
``engine/_data/schemas/`` (hatch ``force-include``); that copy wins when it exists, so a
non-editable install never reaches outside the package.

Loaded schemas and validators are cached: treat the returned dicts as read-only.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UsageError, XieshangError, did_you_mean

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

#: Every schema the project ships, as ``schemas/<name>.schema.json``.
SCHEMA_NAMES = ("situation", "advice", "rules", "tests", "explain", "record")

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # engine/


def schema_dir() -> Path:
    """The directory holding ``<name>.schema.json``: packaged data first, then the repository."""
    packaged = _PACKAGE_DIR / "_data" / "schemas"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / "schemas"


def schema_path(name: str) -> Path:
    """Path of the schema file called ``name``; :class:`UsageError` for an unknown name."""
    if name not in SCHEMA_NAMES:
        hint = did_you_mean(name, SCHEMA_NAMES)
        known = ", ".join(SCHEMA_NAMES)
        message = f"unknown schema '{name}' (expected one of: {known})"
        raise UsageError(f"{message}; {hint}" if hint else message)
    return schema_dir() / f"{name}.schema.json"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name`` (cached; do not mutate it).

    Raises :class:`UsageError` for an unknown name, and :class:`XieshangError` (an internal
    error, exit code 1) when a known schema is missing or is not a JSON object.
    """
    path = schema_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise XieshangError(f"cannot read schema '{name}' at {path}: {exc.strerror}") from exc
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise XieshangError(f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(schema, dict):
        raise XieshangError(f"{path}: a schema must be a JSON object")
    return schema


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A cached Draft 2020-12 validator for schema ``name`` that enforces ``format``.

    ``pattern`` has its ECMA-262 meaning (``ecma_regex``): jsonschema's own
    ``re.search`` lets ``$`` match before a trailing newline, so ``"jiebei\\n"`` would pass
    ``^[A-Za-z0-9_.\\-]+$``.
    """
    from jsonschema import Draft202012Validator  # imported here: valid input never needs it
    from jsonschema.exceptions import SchemaError

    schema = load_schema(name)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise XieshangError(f"schema '{name}' is not a valid JSON Schema: {exc.message}") from exc
    cls = _ecma_validator_class()
    return cls(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@functools.cache
def _ecma_validator_class() -> Any:
    """Draft 2020-12 with ``pattern`` searched as ECMA-262 regular expressions."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and not ecma_regex(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    return validators.extend(Draft202012Validator, {"pattern": pattern})


@functools.lru_cache(maxsize=256)
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """A JSON Schema ``pattern`` compiled with its ECMA-262 meaning, as the JSON Schema spec says.

    Python's ``$`` also matches before a final newline, so ``^[a-z]+$`` would accept
    ``"jiebei\\n"``; ECMA's ``$`` (without the multiline flag) matches only at the very end,
    which is Python's ``\\Z``. ``\\d`` and ``\\w`` are ASCII in ECMA (``re.ASCII``). Used by
    the jsonschema validators here and by the fast check (``engine.load.fastschema``), so both
    agree.

    >>> bool(ecma_regex("^[a-z]+$").search("jiebei\\n")), bool(ecma_regex("^[$]$").search("$"))
    (False, True)
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":  # an escape: copied as it is, with the character it escapes
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return re.compile("".join(out), re.ASCII)
