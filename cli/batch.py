"""``xieshang batch``: many situations, one advice per line (issue 5).

Input is JSON Lines: one situation per line. Output line *n* answers input line *n*: the advice
as compact JSON, or ``{"line": n, "error": {"code": 2, "message": ...}}`` when the line is not a
valid situation (code 1: an internal error). A progress counter goes to stderr when it is a
terminal, and a summary line always. Exit code: 0 when every line was advised, 2 when some line
was bad input (every other line is still written), 1 on an internal error; rule-pack errors stop
the command before any output. With ``-o``, the output file appears only when complete (see
``_output`` for symlinks, devices and pipes); on stdout lines are streamed as they are ready.
SIGINT, SIGTERM and SIGHUP stop the workers and remove the temporary file (exit 128 + signal).
"""

from __future__ import annotations

import contextlib
import enum
import io
import os
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, NoReturn

import typer

from cli.app import (
    LANG_HELP,
    Backend,
    BackendOption,
    Lang,
    RulesOption,
    _load,
    _locale,
    app,
    fail,
    reported,
)
from cli.output import stdout_closed
from engine import ReadProblem, kind_of, open_regular

if TYPE_CHECKING:
    from engine import BatchSummary as Summary

_PROGRESS_EVERY = 0.2  #: seconds between progress updates


DEFAULT_PARTITION_ROWS = 256  #: with --dask: a partition per ~0.1-1 s of work on one worker
MAX_PARTITION_ROWS = 1_000_000
_PARQUET = (".parquet", ".pq")


class FileFormat(enum.StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"


MAX_WORKERS = 64  #: more processes than cores gains nothing; this only stops typos (--workers 800)


class _Signalled(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (workers stopped, temporary file removed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _WriteError(Exception):
    """Writing the output failed (a full disk, a closed pipe)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(exc.strerror or str(exc))


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, _frame: object) -> None:
        raise _Signalled(signum)

    previous = {s: signal.signal(s, unwind) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _input(path: str) -> Iterator[IO[bytes]]:
    """The input stream: stdin, a regular file or a pipe (``<(zcat in.jsonl.gz)``); no devices."""
    if path == "-":
        if sys.stdin is None:  # file descriptor 0 is closed
            fail("error: cannot read input: <stdin> is closed")
        yield typer.get_binary_stream("stdin")
        return
    try:
        fd = open_regular(path, allow_fifo=True)
    except ReadProblem as problem:
        if problem.reason == "no such file":
            fail(f"error: cannot read input: no such file: {path}")
        sep = " " if problem.reason.startswith("is ") else ": "
        fail(f"error: cannot read input: {path}{sep}{problem.reason}")
    with os.fdopen(fd, "rb") as handle:
        yield handle


def _same_file(stream: IO[bytes], path: Path) -> bool:
    """Whether ``path`` (followed if a symlink) is the very file being read."""
    try:
        mine, theirs = os.fstat(stream.fileno()), os.stat(path)
    except (OSError, ValueError, io.UnsupportedOperation):  # no such output yet, or no real fd
        return False
    return stat.S_ISREG(theirs.st_mode) and (mine.st_dev, mine.st_ino) == (
        theirs.st_dev,
        theirs.st_ino,
    )


@contextlib.contextmanager
def _output(path: Path | None, source: IO[bytes]) -> Iterator[IO[bytes]]:
    """Where the output goes (``source``, the input, is never overwritten).

    * stdout (no ``-o``): streamed.
    * a regular file, or a path that does not exist yet: a temporary file beside it, renamed over
      it only once complete, with the mode (and, where allowed, the owner) of the file it
      replaces. A symlink is kept: its target is what gets replaced.
    * a character device or a pipe (``/dev/null``, ``/dev/stdout``, a FIFO): written through,
      never replaced.
    * anything else (a directory, a block device, a socket) is refused before any work.
    """
    if path is None:
        if stdout_closed():
            fail("error: cannot write the output: standard output is closed", 1)
        stream = typer.get_binary_stream("stdout")
        yield stream
        _flush(stream)
        return
    if _same_file(source, path):
        fail(f"error: -o {path} is the input file; write the advice to another file")
    try:  # what the path leads to, as the kernel follows it (/dev/stdout included)
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        fail(f"error: cannot write {path}: {exc.strerror}")
    if info is not None and stat.S_ISDIR(info.st_mode):  # found before any work is done
        fail(f"error: cannot write {path}: it is a directory")
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        try:
            handle = open(path, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            fail(f"error: cannot write {path}: {exc.strerror}")
        with handle:
            yield handle
            _flush(handle)
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        fail(f"error: cannot write {path}: it is {kind_of(info.st_mode)}")
    target = Path(os.path.realpath(path))  # a symlink's target (even a missing one) is replaced
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        fail(f"error: cannot write {path}: {exc.strerror}")
    try:
        if info is None:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it private; give it the usual mode
        else:
            os.fchmod(fd, stat.S_IMODE(info.st_mode))
            if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(fd, info.st_uid, info.st_gid)
        handle = os.fdopen(fd, "wb")
        try:
            yield handle
            _flush(handle, durable=True)
        finally:  # after a failed write the buffer still holds data: closing must not fail again
            with contextlib.suppress(OSError):
                handle.close()
        try:
            os.replace(temp, target)
        except OSError as exc:
            raise _WriteError(exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _flush(handle: IO[bytes], *, durable: bool = False) -> None:
    try:
        handle.flush()
        if durable:  # on disk before the rename makes it the output
            os.fsync(handle.fileno())
    except OSError as exc:
        raise _WriteError(exc) from None


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
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Write here (atomically) instead of stdout; with --dask also an fsspec URL.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            metavar="N",
            help=f"Worker processes (default 1, at most {MAX_WORKERS}).",
        ),
    ] = 1,
    rules: RulesOption = None,
    lang: Annotated[
        Lang | None,
        typer.Option("--lang", metavar="LOCALE", help="Language of the advice." + LANG_HELP),
    ] = None,
    top: Annotated[
        int | None, typer.Option("--top", min=1, metavar="N", help="Keep only the first N.")
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress on stderr (default: when it is a terminal)."
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Advise on a Dask cluster: local:N (N worker processes here) or tcp://host:port"
            " (a running scheduler). Needs: pip install 'xieshang[dask]'.",
        ),
    ] = None,
    partition_rows: Annotated[
        int,
        typer.Option(
            "--partition-rows",
            min=1,
            max=MAX_PARTITION_ROWS,
            metavar="N",
            help="With --dask: rows sent to a worker at once.",
        ),
    ] = DEFAULT_PARTITION_ROWS,
    input_format: Annotated[
        FileFormat | None,
        typer.Option("--input-format", help="With --dask (default: .parquet/.pq, else jsonl)."),
    ] = None,
    output_format: Annotated[
        FileFormat | None,
        typer.Option("--output-format", help="With --dask (default: by -o's extension)."),
    ] = None,
    backend: BackendOption = Backend.rete,
) -> None:
    """Advise every situation of a JSON Lines file: one advice (or error record) per line."""
    from engine import BatchOptions as Options
    from engine import read_batch_lines as read_lines
    from engine import run_batch

    if dask is not None:
        _dask_batch(
            dask,
            source,
            output,
            rules,
            lang,
            top,
            progress,
            partition_rows,
            input_format.value if input_format else None,
            output_format.value if output_format else None,
            backend=backend.value,
        )
        return
    if input_format or output_format or (output and str(output).lower().endswith(_PARQUET)):
        fail("error: Parquet input and output, and --input-format/--output-format, need --dask")
    with reported():
        ruleset = _load(rules)
        options = Options(
            source="<stdin>" if source == "-" else source,
            locale=_locale(lang),
            top=top,
            backend=backend.value,
        )
        show = _progress(sys.stderr.isatty() if progress is None else progress)
        try:
            target = Path(output) if output is not None else None
            with _signals_unwind(), _input(source) as stream, _output(target, stream) as out:

                def write(text: str) -> None:
                    try:
                        out.write(text.encode("utf-8") + b"\n")
                    except OSError as exc:
                        raise _WriteError(exc) from None

                summary = run_batch(
                    ruleset,
                    read_lines(stream, options.source),
                    write,
                    options,
                    workers=workers,
                    paths=[str(p) for p in rules] if rules else None,
                    progress=show,
                )
        except (KeyboardInterrupt, _Signalled) as stop:
            _stopped(stop, show)
        except _WriteError as exc:
            fail(f"error: cannot write {output or 'the output'}: {exc}", 1)
    _finish(summary, show)


def _stopped(stop: BaseException, show: Callable[[Summary], None] | None) -> NoReturn:
    """Ctrl-C, SIGTERM or SIGHUP: the output was cleaned up on the way out; say so, exit 128+N."""
    if show is not None:
        sys.stderr.write("\n")
    signum = stop.signum if isinstance(stop, _Signalled) else signal.SIGINT
    name = "interrupted" if signum == signal.SIGINT else "terminated"
    fail(f"{name} ({signal.Signals(signum).name})", 128 + signum)


def _finish(summary: Summary, show: Callable[[Summary], None] | None) -> NoReturn:
    if show is not None:
        sys.stderr.write("\r\033[K")
    if summary.worker_deaths:
        count = len(summary.worker_deaths)
        typer.echo(
            f"xieshang: batch: {count} worker process{'es' if count != 1 else ''} died"
            f" ({summary.worker_deaths[-1]}); the lines they held were evaluated again",
            err=True,
        )
    typer.echo(f"xieshang: batch: {summary.line()}", err=True)
    raise typer.Exit(summary.exit_code)


def _dask_batch(
    address: str,
    source: str,
    output: str | None,
    rules: list[Path] | None,
    lang: Lang | None,
    top: int | None,
    progress: bool | None,
    partition_rows: int,
    input_format: str | None,
    output_format: str | None,
    *,
    backend: str = "rete",
) -> None:
    """``batch --dask``: the same output, advised on a Dask cluster (``cli.dask_batch``)."""
    from cli import dask_batch as dk
    from engine import BatchOptions as Options
    from engine import ShippedPack
    from engine import worker_options as run_options

    dk.check_address(address, MAX_WORKERS)
    fmt_in, fmt_out = dk.format_of(source, input_format), dk.format_of(output, output_format)
    dk.require_dask("parquet" in (fmt_in, fmt_out))
    if fmt_out == "parquet" and output is None:
        fail("error: Parquet output needs -o FILE")
    if fmt_in == "parquet" and source == "-":
        fail("error: Parquet input must be a file or URL, not standard input")
    with reported():
        ruleset = _load(rules)
        options = run_options(
            Options(
                source="<stdin>" if source == "-" else source,
                locale=_locale(lang),
                top=top,
                backend=backend,
            )
        )
        pack = ShippedPack.from_ruleset(ruleset)
        show = _progress(sys.stderr.isatty() if progress is None else progress)
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(_signals_unwind())
                if fmt_in == "jsonl" and not dk.is_url(source):
                    stream = stack.enter_context(_input(source))
                else:
                    stream = stack.enter_context(dk.open_input(source))
                schema = dk.carried_schema(stream, fmt_in) if fmt_out == "parquet" else None
                if output is not None and dk.is_url(output):
                    out = stack.enter_context(dk.remote_output(output))
                else:
                    path = Path(output) if output is not None else None
                    out = stack.enter_context(_output(path, stream))
                client = stack.enter_context(dk.client_for(address))
                read = dk.parquet_partitions if fmt_in == "parquet" else dk.jsonl_partitions
                partitions = read(stream, options.source, partition_rows)
                writer = dk.Writer(out, fmt_out, schema)
                summary = dk.run(client, pack, partitions, writer, options, show)
        except (KeyboardInterrupt, _Signalled) as stop:
            _stopped(stop, show)
        except (_WriteError, dk.WriteFailed) as exc:
            fail(f"error: cannot write {output or 'the output'}: {exc}", 1)
    _finish(summary, show)
