"""Standard output, written once, whole, safe and in an encoding the reader can take.

Every command's result is a document rendered by the presentation registry
(``engine.render_as``) and written by :func:`emit` (or, when something must happen between
rendering and writing, :func:`rendered` then :meth:`Rendered.write`), through
:func:`write_stdout`:

* text is neutralised for a terminal (``engine.core.safetext.lines``: control and formatting
  characters as visible escapes), JSON has them as ``\\uXXXX`` (``engine.core.safetext.json_text``);
* when standard output is closed (``>&-``) the command says so in one line (exit 1), like any
  other write error;
* when standard output's encoding cannot represent the output (``LC_ALL=C``, a GBK console: no
  ``¥``), JSON is written as ASCII with ``\\u`` escapes (the same data); text is refused before
  anything is written, with how to fix it (exit 2: the environment, not the input, is wrong).
"""

from __future__ import annotations

import codecs
import sys
from dataclasses import dataclass
from typing import NoReturn

import typer

from cli.app import reported
from engine import Format, Presentable, describe, json_ascii, json_text, lines, render_as

#: Encodings that can represent every character: nothing to check.
_UNIVERSAL = frozenset({"utf-8", "utf-8-sig", "utf-16", "utf-32", "gb18030"})
ENCODING_HINT = "set PYTHONIOENCODING=utf-8 or use a UTF-8 locale (for example LC_ALL=C.UTF-8)"


def _stop(message: str, code: int) -> NoReturn:
    typer.echo(f"xieshang: error: {message}", err=True)
    raise typer.Exit(code)


def stdout_closed() -> bool:
    """Whether there is no standard output at all (the process started with fd 1 closed)."""
    return sys.stdout is None


@dataclass(frozen=True)
class Rendered:
    """A document rendered whole, not yet written."""

    text: str
    format: Format

    def write(self) -> None:
        write_stdout(self.text, json=self.format is Format.json)


def rendered(document: Presentable, fmt: Format, locale: str | None = None) -> Rendered:
    """``document`` rendered as ``fmt``; a failure is reported like any command's (one line, its
    exit code) before anything is written."""
    with reported():
        return Rendered(render_as(document, fmt, locale), fmt)


def emit(document: Presentable, fmt: Format = Format.text, locale: str | None = None) -> None:
    """Render ``document`` as ``fmt`` and write it: every command's one way to its output."""
    rendered(document, fmt, locale).write()


def write_stdout(text: str, *, json: bool = False) -> None:
    """Write a command's whole output; ``json`` says it is JSON text (``json.dumps`` output)."""
    if stdout_closed():
        _stop("cannot write the output: standard output is closed", 1)
    safe = json_text(text) if json else lines(text)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    if not _universal(encoding):
        safe = _encodable(safe, encoding, json)
    sys.stdout.write(safe)


def _universal(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name in _UNIVERSAL
    except LookupError:
        return False


def _encodable(text: str, encoding: str, json: bool) -> str:
    try:
        text.encode(encoding)
    except UnicodeEncodeError as exc:
        if json:
            return json_ascii(text)  # ASCII is a subset of every encoding Python writes with
        char = exc.object[exc.start]
        _stop(
            f"standard output uses the {encoding} encoding, which cannot show"
            f" {describe(char)}; {ENCODING_HINT}",
            2,
        )
    except LookupError:  # an encoding Python does not know: write what it can
        return text
    return text
