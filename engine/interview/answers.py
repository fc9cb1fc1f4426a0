"""Typed answers → values for the situation: what a person types at a prompt.

Choices are typed by number (``2``; several separated by spaces or commas: ``1 3``); numbers may
carry ``¥``, ``元``, thousands separators or, for a percentage, ``%``. What cannot be read as the
answer type is passed through as typed, so the situation schema refuses it with its own message
(``expected a number ≥ 0, got "abc"``) when ``apply_answer`` checks it.

>>> from engine.interview.session import Question, Witness
>>> why = Witness((None, 0), (), (), ("budget",))
>>> q = Question("plans.can_pay_now", "plans.can_pay_now", None, "", "", "money", (), False,
...              "money", (), (), 0, why)
>>> parse_answer(q, "¥1,200"), parse_answer(q, "abc")
(1200, 'abc')
"""

from __future__ import annotations

import re
from typing import Any

from engine.core.errors import UsageError
from engine.interview.session import Question

_SEPARATORS = re.compile(r"[\s,，、;；]+")
_YES = {"y", "yes", "true", "是", "有", "对"}
_NO = {"n", "no", "false", "否", "没有", "不是", "无"}


def parse_answer(question: Question, text: str) -> Any:
    """The value ``text`` stands for; UsageError when a choice number is out of range."""
    typed = text.strip()
    kind = question.type
    if kind in ("choices", "loans"):
        items = [t for t in _SEPARATORS.split(typed) if t]
        values = [_choice(question, item) for item in items]
        return values
    if kind in ("boolean", "choice"):
        if typed.isdigit():
            return _choice(question, typed)
        if kind == "boolean" and typed.lower() in _YES | _NO:
            return typed.lower() in _YES
        return typed
    if kind in ("money", "integer", "percent"):
        return _number(typed, percent=kind == "percent")
    return typed


def _choice(question: Question, typed: str) -> Any:
    if not typed.isdigit():
        return typed
    number = int(typed)
    if not 1 <= number <= len(question.choices):
        raise UsageError(f"expected a number from 1 to {len(question.choices)}, got {typed}")
    return question.choices[number - 1][0]


def _number(typed: str, *, percent: bool) -> Any:
    cleaned = typed.replace(",", "").replace("，", "").removeprefix("¥").removesuffix("元")
    cleaned = cleaned.removesuffix("%").strip()
    try:
        value: float = int(cleaned)
    except ValueError:
        try:
            value = float(cleaned)
        except ValueError:
            return typed
    if value != value or value in (float("inf"), float("-inf")):
        return typed
    if percent:
        value = round(value / 100, 6)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value
