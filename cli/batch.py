"""``xieshang batch``: many situations, one advice per line (issue 5).

Input is JSON Lines: one situation per line. Output line *n* answers input line *n*: the advice
as compact JSON, or ``{"line": n, "error": {"code": 2, "message": ...}}`` when the line is not a
valid situation (code 1: an internal error). A progress counter goes to stderr when it is a
terminal, and a summary line always. Exit code: 0 when every line was advised, 2 when some line
was bad input (every other line is still written), 1 on an internal error; rule-pack errors stop
the command before any output. With ``-o``, the output file appears only when complete; on stdout
lines are streamed as they are ready.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from cli.main import Lang, RulesOption, _load, _locale, app, fail, reported
from cli.output import stdout_closed

if TYPE_CHECKING:
    from engine.batch import Summary

_PROGRESS_EVERY = 0.2  #: seconds between progress updates


@contextlib.contextmanager
def _input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield typer.get_binary_stream("stdin")
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        fail(f"error: cannot read input: no such file: {path}")
    except IsADirectoryError:
        fail(f"error: cannot read input: {path} is a directory")
    except OSError as exc:
        fail(f"error: cannot read input: {path}: {exc.strerror}")
    with handle:
        yield handle


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file beside ``path`` renamed over it only once complete."""
    if path is None:
        if stdout_closed():
            fail("error: cannot write the output: standard output is closed", 1)
        stream = typer.get_binary_stream("stdout")
        yield stream
        stream.flush()
        return
    if path.is_dir():  # found before any work is done, not at the final rename
        fail(f"error: cannot write {path}: it is a directory")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        fail(f"error: cannot write {path}: {exc.strerror}")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; give it the usual mode
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _progress(enabled: bool) -> Callable[[Summary], None] | None:
    if not enabled:
        return None
    last = [0.0]

    def show(summary: Summary) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY:
            last[0] = now
            sys.stderr.write(f"\r{summary.line()}")
            sys.stderr.flush()

    return show


@app.command()
def batch(
    source: Annotated[str, typer.Argument(help="JSON Lines file of situations, or - for stdin.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write here (atomically) instead of stdout."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, metavar="N", help="Worker processes (default 1).")
    ] = 1,
    rules: RulesOption = None,
    lang: Annotated[Lang | None, typer.Option("--lang", help="Language of the advice.")] = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, metavar="N", help="Keep only the first N.")
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress on stderr (default: when it is a terminal)."
        ),
    ] = None,
) -> None:
    """Advise every situation of a JSON Lines file: one advice (or error record) per line."""
    from engine.batch import Options, read_lines, run_batch

    with reported():
        ruleset = _load(rules)
        options = Options(
            source="<stdin>" if source == "-" else source, locale=_locale(lang), top=top
        )
        show = _progress(sys.stderr.isatty() if progress is None else progress)
        try:
            with _input(source) as stream, _output(output) as out:

                def write(text: str) -> None:
                    out.write(text.encode("utf-8") + b"\n")

                summary = run_batch(
                    ruleset,
                    read_lines(stream),
                    write,
                    options,
                    workers=workers,
                    paths=[str(p) for p in rules] if rules else None,
                    progress=show,
                )
        except KeyboardInterrupt:
            if show is not None:
                sys.stderr.write("\n")
            fail("interrupted", 130)
    if show is not None:
        sys.stderr.write("\r\033[K")
    typer.echo(f"xieshang: batch: {summary.line()}", err=True)
    raise typer.Exit(summary.exit_code)
