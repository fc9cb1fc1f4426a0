"""Why and why not, stage 0: values as explanations show them, in JSON and in words.

``jsonable`` turns a working-memory value into JSON data (UNKNOWN → None, dates → ISO text),
``show`` writes a value as rules write it, ``needs_phrase`` says in words what a leaf condition
needs, and ``_named`` / ``_loan_of`` name a fact for a binding's loan.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from engine.values import UNKNOWN

_PHRASES = {
    ">": "more than {v}",
    ">=": "at least {v}",
    "<": "less than {v}",
    "<=": "at most {v}",
    "==": "{v}",
    "!=": "anything but {v}",
    "in": "one of {v}",
    "not_in": "none of {v}",
    "contains": "it to include {v}",
    "not_contains": "it not to include {v}",
}


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


def needs_phrase(op: str, expected: Any, param: str | None) -> str:
    """What a leaf with operator ``op`` needs, in words: ``more than 0``, ``one of "a", "b"``."""
    if op == "known":
        return "it to be known"
    if op == "unknown":
        return "it to be unknown"
    items = expected if isinstance(expected, list | tuple) else [expected]
    shown = ", ".join(show(v) for v in items)
    if param:
        shown = f"{param} ({shown})"
    return _PHRASES[op].format(v=shown)


def _named(fact: str, loan: str | None) -> str:
    return f"{fact} (loan {loan})" if loan is not None else fact


def _loan_of(fact: str, loan: str | None) -> str | None:
    return loan if fact.startswith("loan.") else None
