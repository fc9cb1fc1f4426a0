"""Message templates: ``{fact.name}`` placeholders filled only from facts, never from code.

A placeholder is a bare dotted name. Attribute access beyond a fact name, indexing, calls,
conversions
(``!r``) and format specifications (``:>10``) are refused when the pack loads. Values are shown by
their unit: money as ``¥1,234.00``, percentages as ``18.25%``, dates as ``2026-12-10``. Text is
filled in as one line without control or formatting characters
(:func:`engine.core.safetext.one_line`):
a value can never add a line, an item or an escape sequence to the sentence around it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.core.safetext import one_line
from engine.core.values import UNKNOWN

_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\Z")  #: no dunders, calls or specs
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class TemplateError(Exception):
    message: str
    offset: int  #: 0-based offset into the template text
    #: ``rule_template`` for brace syntax, ``rule_placeholder`` for what a placeholder holds
    code: str = "rule_template"


def placeholders(text: str) -> list[str]:
    """The names used by a template, in order; raises TemplateError on bad syntax.

    >>> placeholders("Pay {loan.overdue_amount} by {loan.next_due_date} ({{not a name}})")
    ['loan.overdue_amount', 'loan.next_due_date']
    """
    names: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        inner = match.group(1)
        if inner is None:
            raise TemplateError(
                f"lone '{token}': write '{token * 2}' for a literal brace", match.start()
            )
        if not _NAME.match(inner):
            raise TemplateError(
                f"'{{{inner}}}' is not a fact name (only names like"
                " {loan.overdue_amount} are allowed)",
                match.start(),
                "rule_placeholder",
            )
        names.append(inner)
    return names


def render(text: str, show: Callable[[str], str]) -> str:
    """Fill a template that :func:`placeholders` accepted; ``show`` formats one named value.

    >>> render("{{{a}}} and {b}", lambda name: name.upper())
    '{A} and B'
    """
    literals, names = _parts(text)
    if not names:
        return literals[0]
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out.append(show(name))
        out.append(literal)
    return "".join(out)


def literal(text: str) -> str | None:
    """What a template without placeholders always renders to; None when it has placeholders.

    >>> literal("Pay {{now}}"), literal("Pay {loan.overdue_amount}")
    ('Pay {now}', None)
    """
    literals, names = _parts(text)
    return None if names else literals[0]


@functools.lru_cache(maxsize=1 << 14)
def _parts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A template split once: literal pieces around the placeholders' names.

    ``render`` gives ``literals[0] + show(names[0]) + literals[1] + ...``, exactly what
    ``_TOKEN.sub`` with the same replacements gives.
    """
    literals: list[str] = []
    names: list[str] = []
    current: list[str] = []
    end = 0
    for match in _TOKEN.finditer(text):
        current.append(text[end : match.start()])
        end = match.end()
        token = match.group(0)
        if token == "{{":
            current.append("{")
        elif token == "}}":
            current.append("}")
        else:
            literals.append("".join(current))
            current = []
            names.append(match.group(1))
    current.append(text[end:])
    literals.append("".join(current))
    return tuple(literals), tuple(names)


def format_value(value: object, unit: str, words: Mapping[str, str]) -> str:
    """Show one value by its unit; ``words`` are the engine's messages in the reader's locale
    (``Pack.words``: how a list is joined, what true and false are called).

    >>> zh = {"value.list_joiner": "、", "value.yes_word": "是", "value.no_word": "否"}
    >>> format_value(1234.5, "money", zh), format_value(0.1825, "percent", zh)
    ('¥1,234.50', '18.25%')
    >>> format_value(["job_loss", "illness_or_injury"], "text", zh), format_value(True, "", zh)
    ('job_loss、illness_or_injury', '是')
    >>> format_value("Ant\\n2. Pay me", "text", zh)
    'Ant\\\\n2. Pay me'
    """
    if value is UNKNOWN or value is None:
        return "?"
    if isinstance(value, bool):
        return words["value.yes_word" if value else "value.no_word"]
    if isinstance(value, list | tuple):
        return words["value.list_joiner"].join(one_line(str(v)) for v in value)
    if isinstance(value, int | float):
        return _number(value, unit)
    return one_line(str(value))


def _number(value: float, unit: str) -> str:
    if unit == "money":
        sign = "-" if value < 0 else ""
        return f"{sign}¥{abs(value):,.2f}"
    if unit == "percent":
        return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"
    if unit in ("days", "integer") or (isinstance(value, int) or float(value).is_integer()):
        return f"{round(value):,}" if unit not in ("days", "integer") else str(round(value))
    return f"{value:,.2f}"
