"""Why and why not, stage 0: values as explanations show them, in JSON and in words.

``jsonable`` turns a working-memory value into JSON data (UNKNOWN → None, dates → ISO text),
``show`` writes a value as rules write it, ``needs_phrase`` says in words what a leaf condition
needs, and ``_named`` / ``_loan_of`` name a fact for a binding's loan.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from engine.core.operators import phrase
from engine.core.values import UNKNOWN

# --- values ---------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A memory value as JSON data: UNKNOWN → None, dates → ISO text."""
    if value is UNKNOWN:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def show(value: Any) -> str:
    """A value as it is written in rules: true, 3, "refused", ["a", "b"]."""
    if value is UNKNOWN or value is None:
        return "unknown"
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))


def needs_phrase(op: str, expected: Any, param: str | None, locale: str = "en") -> str:
    """What a leaf with operator ``op`` needs, in words: ``more than 0``, ``one of "a", "b"``
    (the operator table's phrase)."""
    return phrase(op, expected, show, param, locale)


def _named(fact: str, loan: str | None) -> str:
    return f"{fact} (loan {loan})" if loan is not None else fact


def _loan_of(fact: str, loan: str | None) -> str | None:
    return loan if fact.startswith("loan.") else None
