"""Batch evaluation: JSON Lines in, one advice or error record per line out, in input order.

* Input is read line by line (never all at once). A line longer than the situation size limit is
  skipped over in pieces and refused, so input of any size streams in bounded memory.
* Each line is decoded, validated and evaluated on its own (``load_situation_bytes`` names it
  ``<file>:<line>``). A bad line becomes ``{"line": n, "error": {"code": 2, "message": ...}}``
  (code 1 for an internal error) and the others go on.
* With several workers, lines are sent to worker processes in chunks; at most a few chunks per
  worker are in flight, and results are written in input order. durable_rules holds the GIL for
  every call, so processes, not threads, are what scale. Workers are forked from the parent after
  the rule pack was compiled there (nothing engine-side is created before the fork; each process
  creates its own durable_rules handles lazily, see ``engine.rete.Ruleset.lease``). Under the
  ``spawn`` start method each worker loads and compiles the pack once, in its initializer.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Any

from engine.api import RuleSet, evaluate, load_rules
from engine.errors import SituationError, XieshangError
from engine.safetext import json_text
from engine.situation import MAX_BYTES, default_today, load_situation_bytes

CHUNK_LINES = 32  #: lines sent to a worker at once
CHUNKS_IN_FLIGHT = 4  #: per worker: bounds memory, keeps every worker busy
_READ_PIECE = 1 << 16

#: A numbered input line: its bytes without the line ending, or its size when it was too large.
Line = tuple[int, bytes | int]
#: One output line: (0, advice JSON) or (error code, error record JSON).
Result = tuple[int, str]


@dataclass(frozen=True)
class Options:
    """What every line is evaluated with."""

    source: str = "<stdin>"  #: the input's name; line ``n`` is called ``<source>:<n>``
    locale: str | None = None
    top: int | None = None
    today: datetime.date | None = None  #: as_of when a line gives none; None: today in China,
    #: taken once when the run starts (``run_batch``), so a run across midnight has one date


@dataclass
class Summary:
    lines: int = 0
    errors: int = 0  #: lines that gave an error record
    internal: int = 0  #: of those, internal errors (code 1)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every line was advised; 1 if any internal error; else 2 if any bad line."""
        if self.internal:
            return 1
        return 2 if self.errors else 0

    def line(self) -> str:
        errors = f"{self.errors} error{'s' if self.errors != 1 else ''}"
        noun = "situation" if self.lines == 1 else "situations"
        return f"{self.lines} {noun}, {errors}, {self.seconds:.2f} s, {self.rate:.0f}/s"


def read_lines(stream: IO[bytes]) -> Iterator[Line]:
    """Number the lines of a binary stream lazily; a line ending is ``\\n`` or ``\\r\\n``."""
    number = 0
    while True:
        line = stream.readline(MAX_BYTES + 2)
        if not line:
            return
        number += 1
        if not line.endswith(b"\n") and len(line) > MAX_BYTES:
            size = len(line)
            while not line.endswith(b"\n"):  # skip the rest of an oversized line
                line = stream.readline(_READ_PIECE)
                if not line:
                    break
                size += len(line)
            yield number, size - (1 if line.endswith(b"\n") else 0)
            continue
        yield number, line.rstrip(b"\n").removesuffix(b"\r")


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 characters kept: one line. Control and formatting characters that
    ``json`` leaves raw are ``\\uXXXX`` escapes (``engine.safetext.json_text``)."""
    return json_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def error_record(number: int, code: int, message: str) -> str:
    return dumps({"line": number, "error": {"code": code, "message": message}})


def advise_line(ruleset: RuleSet, line: Line, options: Options) -> Result:
    """Evaluate one input line: (0, advice JSON) or (code, error record JSON)."""
    number, data = line
    source = f"{options.source}:{number}"
    try:
        if isinstance(data, int):
            raise SituationError(
                source, "$", f"input is {data} bytes, larger than the limit of {MAX_BYTES} bytes"
            )
        situation = load_situation_bytes(data, source, today=options.today)
        decision = evaluate(
            ruleset, situation, today=options.today, locale=options.locale, validated=True
        )
        return 0, dumps(decision.to_advice(options.top))
    except XieshangError as exc:
        return exc.exit_code, error_record(number, exc.exit_code, str(exc))
    except Exception as exc:  # an internal error on one line must not stop the others
        return 1, error_record(number, 1, f"internal error: {type(exc).__name__}: {exc}")


def _chunks(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    chunk: list[Line] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- worker processes -----------------------------------------------------------------------

_worker: tuple[RuleSet, Options] | None = None  #: this process's rules and options


def _init_worker(paths: Sequence[str] | None, options: Options) -> None:
    """Pool initializer: Ctrl-C is the parent's business; load the rules unless inherited."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _worker is None:  # spawn: compile the pack once in this worker
        _worker = (load_rules(paths), options)


def _advise_chunk(chunk: list[Line]) -> list[Result]:
    assert _worker is not None, "worker not initialised"
    ruleset, options = _worker
    return [advise_line(ruleset, line, options) for line in chunk]


def run_batch(
    ruleset: RuleSet,
    lines: Iterable[Line],
    write: Callable[[str], None],
    options: Options,
    *,
    workers: int = 1,
    paths: Sequence[str | Path] | None = None,
    progress: Callable[[Summary], None] | None = None,
    start_method: str | None = None,
) -> Summary:
    """Advise every line, writing one JSON line per input line in input order.

    ``paths`` are the rule-pack roots ``ruleset`` was loaded from: spawned workers load them.
    ``progress`` is called with the running summary after each line or chunk.
    """
    global _worker
    if options.today is None:  # one date for the whole run, even across midnight
        options = dataclasses.replace(options, today=default_today())
    summary = Summary()
    start = time.perf_counter()

    def record(result: Result) -> None:
        code, text = result
        write(text)
        summary.lines += 1
        summary.errors += code != 0
        summary.internal += code == 1

    def tick() -> None:
        summary.seconds = time.perf_counter() - start
        if progress is not None:
            progress(summary)

    if workers <= 1:
        for line in lines:
            record(advise_line(ruleset, line, options))
            tick()
        return summary

    method = start_method or (
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    context = multiprocessing.get_context(method)
    roots = [str(p) for p in paths] if paths else None
    _worker = (ruleset, options) if method == "fork" else None
    try:
        with context.Pool(workers, _init_worker, (roots, options)) as pool:
            pending: deque[AsyncResult[list[Result]]] = deque()
            for chunk in _chunks(lines, CHUNK_LINES):
                pending.append(pool.apply_async(_advise_chunk, (chunk,)))
                while len(pending) >= workers * CHUNKS_IN_FLIGHT:
                    for result in pending.popleft().get():
                        record(result)
                    tick()
            while pending:
                for result in pending.popleft().get():
                    record(result)
                tick()
            pool.close()
            pool.join()
    finally:
        _worker = None
    summary.seconds = time.perf_counter() - start
    return summary
