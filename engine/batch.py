"""Batch evaluation: JSON Lines in, one advice or error record per line out, in input order.

* Input is read line by line (never all at once). A line longer than the situation size limit is
  skipped over in pieces and refused, so input of any size streams in bounded memory.
* Each line is decoded, validated and evaluated on its own (``load_situation_bytes`` names it
  ``<file>:<line>``). A bad line becomes ``{"line": n, "error": {"code": 2, "message": ...}}``
  (code 1 for an internal error) and the others go on.
* With several workers, lines are sent to worker processes in chunks, one chunk per worker at a
  time and at most a few chunks per worker read ahead; results are written in input order.
  durable_rules holds the GIL for every call, so processes, not threads, are what scale. Workers
  are forked from the parent after the rule pack was compiled there (nothing engine-side is
  created before the fork; each process creates its own durable_rules handles lazily, see
  ``engine.run.rete.Ruleset.lease``). Under the ``spawn`` start method each worker loads and
  compiles the pack once. A worker that dies is replaced and the lines it held are evaluated
  again, one by one (see ``_run_pool``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO, Any

from engine.api import RuleSet, evaluate, load_rules
from engine.core.errors import SituationError, XieshangError
from engine.core.safetext import json_text
from engine.load.situation import MAX_BYTES, default_today, load_situation_bytes

CHUNK_LINES = 32  #: lines sent to a worker at once
CHUNKS_IN_FLIGHT = 4  #: per worker: bounds memory, keeps every worker busy
_READ_PIECE = 1 << 16
MAX_SKIPPED_LINE = 64 * MAX_BYTES  #: a longer line stops the batch: the input is not JSON Lines


class BatchInputError(XieshangError):
    """The input cannot be read as JSON Lines at all (a line without end)."""

    exit_code = 2


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
    backend: str = "rete"  #: ``engine.api.BACKENDS``


@dataclass
class Summary:
    lines: int = 0
    errors: int = 0  #: lines that gave an error record
    internal: int = 0  #: of those, internal errors (code 1)
    seconds: float = 0.0
    #: how each worker process that died went (``killed by SIGKILL``); their lines were redone
    worker_deaths: list[str] = field(default_factory=list)

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


def read_lines(stream: IO[bytes], source: str = "<stdin>") -> Iterator[Line]:
    """Number the lines of a binary stream lazily; a line ending is ``\\n`` or ``\\r\\n``.

    A line over ``MAX_BYTES`` is skipped in pieces (its size is yielded); one over
    ``MAX_SKIPPED_LINE`` bytes stops the input with a :class:`BatchInputError`: it is not JSON
    Lines (``/dev/zero`` would otherwise be read for ever).
    """
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
                if size > MAX_SKIPPED_LINE:
                    raise BatchInputError(
                        f"{source}:{number}: a line longer than {MAX_SKIPPED_LINE:,} bytes;"
                        " the input is not JSON Lines"
                    )
            yield number, size - (1 if line.endswith(b"\n") else 0)
            continue
        yield number, line.rstrip(b"\n").removesuffix(b"\r")


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 characters kept: one line. Control and formatting characters that
    ``json`` leaves raw are ``\\uXXXX`` escapes (``engine.core.safetext.json_text``)."""
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
            ruleset,
            situation,
            today=options.today,
            locale=options.locale,
            validated=True,
            backend=options.backend,
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
#
# A small pool of our own rather than multiprocessing.Pool (which hangs for ever when a worker is
# killed) or concurrent.futures (which fails every pending chunk when one worker dies, so the
# lines a dead worker held cannot be told apart). Each worker has its own pipe and holds at most
# one job, so when one dies (the OOM killer, a native crash) we know exactly which lines it held:
# they are evaluated again one by one, and a line whose worker dies again becomes an error
# record. Nothing waits without also watching every worker's exit.

_worker: tuple[RuleSet, Options] | None = None  #: this process's rules and options
#: workers that may die before being given any work (start-up failures) before the batch stops
_IDLE_DEATHS_PER_WORKER = 4


class WorkerError(XieshangError):
    """Worker processes keep dying before they are given any work: the batch cannot go on."""

    exit_code = 1


def _serve(conn: Connection, paths: Sequence[str] | None, options: Options, parent: int) -> None:
    """A worker: evaluate the jobs sent on ``conn`` until told to stop or the parent is gone."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    for signum in (signal.SIGTERM, signal.SIGHUP):  # not the parent's handlers (fork)
        signal.signal(signum, signal.SIG_DFL)
    if _worker is None:  # spawn: compile the pack once in this worker
        _worker = (load_rules(paths), options)
    ruleset, options = _worker
    while True:
        while not conn.poll(1.0):
            if os.getppid() != parent:  # orphaned: nobody will read our results
                return
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send([advise_line(ruleset, line, options) for line in job])


@dataclass
class _Job:
    chunk: int  #: which chunk (in input order) its lines belong to
    offset: int  #: index of its first line in that chunk
    lines: list[Line]
    alone: bool = False  #: one line evaluated on its own after its worker died


class _Worker:
    def __init__(self, context: Any, paths: Sequence[str] | None, options: Options) -> None:
        mine, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, paths, options, os.getpid()), daemon=True
        )
        self.process.start()
        theirs.close()
        self.conn: Connection = mine
        self.job: _Job | None = None

    def give(self, job: _Job) -> None:
        self.job = job
        with contextlib.suppress(OSError):  # it died: its exit is seen next, the job redone
            self.conn.send(job.lines)

    def how_it_died(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():  # pragma: no cover - SIGTERM is not ignored by workers
            self.process.kill()
            self.process.join()
        self.conn.close()


def _run_pool(
    context: Any,
    size: int,
    paths: Sequence[str] | None,
    options: Options,
    lines: Iterable[Line],
    record: Callable[[Result], None],
    tick: Callable[[], None],
    summary: Summary,
) -> None:
    chunks = enumerate(_chunks(lines, CHUNK_LINES))
    window = size * CHUNKS_IN_FLIGHT  #: chunks read but not yet written
    results: dict[int, list[Result | None]] = {}
    retries: deque[_Job] = deque()
    written = 0  #: chunks written so far
    exhausted = False
    idle_deaths = 0
    workers: list[_Worker] = []

    def next_job() -> _Job | None:
        nonlocal exhausted
        if retries:
            return retries.popleft()
        if exhausted or len(results) >= window:
            return None
        try:
            number, chunk = next(chunks)
        except StopIteration:
            exhausted = True
            return None
        results[number] = [None] * len(chunk)
        return _Job(number, 0, chunk)

    def died(worker: _Worker) -> None:
        nonlocal idle_deaths
        how = worker.how_it_died()
        worker.stop()  # its pipe closed; gone for good even if it only closed the pipe
        job, worker.job = worker.job, None
        summary.worker_deaths.append(how)
        if job is None:
            idle_deaths += 1
            if idle_deaths > _IDLE_DEATHS_PER_WORKER * size:
                raise WorkerError(f"batch: worker processes keep dying ({how})")
        elif not job.alone:  # find out which line it was: each is tried again on its own
            retries.extendleft(
                reversed(
                    [
                        _Job(job.chunk, job.offset + i, [line], True)
                        for i, line in enumerate(job.lines)
                    ]
                )
            )
        else:
            number = job.lines[0][0]
            message = (
                f"internal error: the worker process evaluating this line died ({how}),"
                " also when the line was evaluated on its own"
            )
            results[job.chunk][job.offset] = (1, error_record(number, 1, message))
        workers[workers.index(worker)] = _Worker(context, paths, options)

    try:
        workers.extend(_Worker(context, paths, options) for _ in range(size))
        while True:
            for worker in workers:
                if worker.job is None:
                    job = next_job()
                    if job is None:
                        break
                    worker.give(job)
            while written in results and None not in results[written]:
                for result in results.pop(written):
                    record(result)  # type: ignore[arg-type]  # no None left
                written += 1
                tick()
            busy = [w for w in workers if w.job is not None]
            if not busy:
                if exhausted and not retries and not results:
                    return
                continue
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in workers]))
            for worker in list(workers):
                if worker.job is not None and worker.conn in ready:
                    try:
                        answers = worker.conn.recv()
                    except (EOFError, OSError):
                        died(worker)
                        continue
                    job, worker.job = worker.job, None
                    results[job.chunk][job.offset : job.offset + len(answers)] = answers
                if worker.process.sentinel in ready and not worker.process.is_alive():
                    died(worker)  # holding a job whose answer never came, or idle
    finally:
        for worker in workers:
            worker.stop()  # SIGTERM: workers keep the default action


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
        _run_pool(context, workers, roots, options, lines, record, tick, summary)
    finally:
        _worker = None
    summary.seconds = time.perf_counter() - start
    return summary
