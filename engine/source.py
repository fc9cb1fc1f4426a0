"""Source positions: the one place that decides how ``file:line:col`` looks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A position in a rule-pack file (1-based line and column)."""

    file: str  #: display path, stable across machines (e.g. ``rules/jiebei/contact.yaml``)
    line: int = 0  #: 1-based; 0 when unknown
    column: int = 0  #: 1-based; 0 when unknown

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def short(self) -> str:
        """``file:line`` without the column, as shown in advice reasons."""
        return f"{self.file}:{self.line}" if self.line > 0 else self.file


MAX_SHOWN = 80  #: characters of a key or value echoed in a message


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: messages echo what a file says,
    and a 1.9 MB key must not become a 1.9 MB message."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
