"""JSON for durable_rules: the only encoder used for facts and rulesets sent to the engine.

durable_rules' own parser cannot read exponent notation (``1e-05`` is parse error 204), reads
``NaN`` as null, refuses ``Infinity``, saturates integers beyond int64 and stumbles on CR LF. So
numbers are written in fixed notation, non-finite numbers and out-of-range integers are refused,
and the output never contains raw whitespace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from engine.core.errors import EngineError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def in_engine_range(value: int | float) -> bool:
    """Whether a number's magnitude is below 2**63: what the engine holds as a 64-bit integer.

    Derived numbers outside it are unknown (an overflow), so the encoder never meets them.

    >>> in_engine_range(2**63 - 1), in_engine_range(2**63), in_engine_range(-1.1e19)
    (True, False, False)
    """
    return INT64_MIN < value < -INT64_MIN


class EncodingError(ValueError):
    """A value the engine cannot represent exactly."""


def number_text(value: int | float) -> str:
    """A number in fixed notation that durable_rules parses back to the same value.

    >>> number_text(1e-05), number_text(2.0), number_text(1e20), number_text(7)
    ('0.00001', '2.0', '100000000000000000000.0', '7')
    """
    if isinstance(value, bool):
        raise EncodingError("a boolean is not a number")
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise EncodingError(f"integer {value} is outside the engine's 64-bit range")
        return str(value)
    if not math.isfinite(value):
        raise EncodingError(f"{value} is not a finite number")
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else f"{text}.0"


def value_json(value: object) -> str:
    """``to_engine_json`` of one fact value, with the common scalars first (the driver's hot path).

    >>> value_json("借呗"), value_json(True), value_json(7), value_json(0.5), value_json(1e-05)
    ('"借呗"', 'true', '7', '0.5', '0.00001')
    """
    kind = type(value)
    if kind is str:
        return str(encode_basestring(value))  # type: ignore[arg-type]
    if kind is int and INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        text = repr(value)
        if "e" not in text and "n" not in text:  # exponent notation, inf and nan go the long way
            return text
    return to_engine_json(value)


def to_engine_json(value: object) -> str:
    """Encode plain data (dict, list, str, int, float, bool, None) for durable_rules."""
    if isinstance(value, str):
        return str(encode_basestring(value))
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{encode_basestring(str(k))}:{to_engine_json(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_engine_json(v) for v in value) + "]"
    raise EncodingError(f"cannot encode {type(value).__name__} for the engine")


def fnv1a_32(text: str) -> int:
    """The hash durable_rules uses for sids, fact ids and property names.

    >>> fnv1a_32("p2039599") == fnv1a_32("p2222382")
    True
    """
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def property_names(definition: Any) -> set[str]:
    """Every fact property name a ruleset definition tests (operators and aliases left out)."""
    names: set[str] = set()

    def walk(node: Any, under_test: bool) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, under_test)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key.startswith("$"):
                    walk(value, True)
                elif under_test:
                    names.add(key)
                    walk(value, False)
                else:
                    walk(value, key in ("all", "any") or isinstance(value, dict | list))

    for rule in definition.values():
        for pattern in rule.get("all", []):
            for test in pattern.values():
                walk(test, True)
    return names


def check_hash_collisions(names: Iterable[str]) -> None:
    """Refuse two property names with one FNV-1a-32 hash: the engine would treat them as one."""
    seen: dict[int, str] = {}
    for name in sorted(set(names)):
        other = seen.setdefault(fnv1a_32(name), name)
        if other != name:
            raise EngineError(
                0,
                f"property names '{other}' and '{name}' collide in the engine's"
                " 32-bit hash; rename one",
            )
