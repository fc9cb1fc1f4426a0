"""JSON for durable_rules: the only encoder used for facts and rulesets sent to the engine.

durable_rules' own parser cannot read exponent notation (``1e-05`` is parse error 204), reads
``NaN`` as null, refuses ``Infinity``, saturates integers beyond int64 and stumbles on CR LF. So
numbers are written in fixed notation, non-finite numbers and out-of-range integers are refused,
and the output never contains raw whitespace.
"""

from __future__ import annotations

import math
from decimal import Decimal
from json.encoder import encode_basestring

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
