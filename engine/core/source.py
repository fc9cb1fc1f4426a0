"""Source positions: the one place that decides how ``file:line:col`` looks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Location:
    """A position in a rule-pack file (1-based line and column).

    Two spellings of the file: ``file`` is the path as the user gave it (error messages, so an
    editor or CI can jump to it); ``pack_file`` names it by its pack, whatever the current
    directory and however ``--rules`` was spelt (``rules/jiebei/contact.yaml`` for the built-in
    pack, ``<pack directory name>/<path inside it>`` for another), and is what documents cite
    (:attr:`short`): advice, decision records, explanations, coverage.
    """

    file: str  #: the path as given (e.g. ``../packs/mine/contact.yaml``)
    line: int = 0  #: 1-based; 0 when unknown
    column: int = 0  #: 1-based; 0 when unknown
    pack_file: str = field(default="", compare=False)  #: e.g. ``mine/contact.yaml``; "" = file

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    @property
    def as_given(self) -> str:
        """``file:line`` with the path as given, for messages next to other such positions."""
        return f"{self.file}:{self.line}" if self.line > 0 else self.file

    @property
    def short(self) -> str:
        """``pack_file:line`` without the column, as cited in advice reasons."""
        cited = self.pack_file or self.file
        return f"{cited}:{self.line}" if self.line > 0 else cited


MAX_SHOWN = 80  #: characters of a key or value echoed in a message


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: messages echo what a file says,
    and a 1.9 MB key must not become a 1.9 MB message."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
