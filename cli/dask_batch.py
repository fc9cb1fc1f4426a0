"""``xieshang batch --dask ADDRESS``: the batch's lines advised on a Dask cluster (issue 15).

The command is the cluster's client. It reads the input in order (a local path or an fsspec URL;
JSON Lines or Parquet), sends it in partitions of ``--partition-rows`` rows to the workers
together with the rule pack (shipped once by content, ``engine.distributed.ShippedPack``), and
writes the answers in input order as they come back, a bounded number of partitions in flight.
Each row's output is made by ``engine.batch.advise_line``, the function local batch uses, with
one date for the whole run: the bytes are those of local batch. Dask reruns a partition whose
worker died; a partition is pure, so the output does not change. The output appears at OUT only
once complete (``_local_output`` / ``_remote_output``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from cli.app import fail
from engine import BatchLine as Line
from engine import BatchOptions as Options
from engine import BatchResult as Result
from engine import BatchSummary as Summary
from engine import ReadProblem, ShippedPack, open_regular
from engine import advise_shipped_lines as advise_lines
from engine import keep_shipped_pack as keep
from engine import read_batch_lines as read_lines
from engine import shipped_line as as_line

INSTALL_HINT = "pip install 'xieshang[dask]'"
CONNECT_TIMEOUT = 5  #: seconds to reach a scheduler before giving up
PARTITIONS_IN_FLIGHT = 4  #: per worker: bounds the client's memory, keeps every worker busy
FORMATS = ("jsonl", "parquet")
#: no dashboard; the scheduler's small HTTP server (health, metrics) on any free local port,
#: not on 8787, which another cluster may hold
QUIET_SCHEDULER = {"dashboard_address": "127.0.0.1:0"}
#: Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand memory back sooner);
#: glibc then trims the heap so often that advice takes 1.7x as long (bench/RESULTS.md (f)).
#: ``None`` leaves glibc's own adaptive threshold (docs/distributed.md: the same for real clusters)
FAST_WORKERS = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
_ADDRESS = re.compile(r"local:(\d+)|(tcp|tls|inproc|ucx)://\S+")


@dataclass
class Partition:
    lines: list[Line]
    carried: Any = None  #: a pyarrow RecordBatch of the other Parquet columns, or None


def is_url(path: str) -> bool:
    return "://" in path


def format_of(path: str | None, given: str | None) -> str:
    """``jsonl`` or ``parquet``: as given, else by extension (``.parquet``, ``.pq``)."""
    if given is not None:
        return given
    return "parquet" if path and path.lower().endswith((".parquet", ".pq")) else "jsonl"


def check_address(address: str, max_workers: int) -> None:
    match = _ADDRESS.fullmatch(address)
    if match is None:
        fail(
            f"error: --dask {address}: expected local:N (N worker processes on this machine)"
            " or a scheduler address such as tcp://host:8786"
        )
    if match.group(1) is not None and not 1 <= int(match.group(1)) <= max_workers:
        fail(f"error: --dask {address}: N must be between 1 and {max_workers}")


def require_dask(parquet: bool) -> None:
    """Exit 2 with the install command when Dask (or pyarrow, for Parquet) is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        fail(f"error: --dask needs Dask distributed, which is not installed: {INSTALL_HINT}")
    if parquet:
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            fail(f"error: Parquet needs pyarrow, which is not installed: {INSTALL_HINT}")


@contextlib.contextmanager
def client_for(address: str) -> Iterator[Any]:
    """A Dask client: of a LocalCluster started (and stopped) here, or of a running scheduler."""
    import dask
    from distributed import Client, LocalCluster

    if address.startswith("local:"):
        with (
            dask.config.set(FAST_WORKERS),
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=int(address.removeprefix("local:")),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",  # nothing listens beyond this machine
                dashboard_address=None,
                scheduler_kwargs=QUIET_SCHEDULER,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        fail(
            f"error: --dask {address}: cannot reach the scheduler within {CONNECT_TIMEOUT} s"
            f" ({type(exc).__name__})"
        )
    with client:
        yield client


# --- input ----------------------------------------------------------------------------------


@contextlib.contextmanager
def open_input(source: str) -> Iterator[IO[bytes]]:
    """A local file (regular files only) or an fsspec URL, for reading."""
    if is_url(source):
        import fsspec

        try:
            handle = fsspec.open(source, "rb").open()
        except (OSError, ValueError, ImportError) as exc:
            fail(f"error: cannot read input: {source}: {exc}")
        with handle:
            yield handle
        return
    try:
        fd = open_regular(source)
    except ReadProblem as problem:
        sep = " " if problem.reason.startswith("is ") else ": "
        fail(f"error: cannot read input: {source}{sep}{problem.reason}")
    with os.fdopen(fd, "rb") as handle:
        yield handle


def jsonl_partitions(stream: IO[bytes], name: str, rows: int) -> Iterator[Partition]:
    lines: list[Line] = []
    for line in read_lines(stream, name):
        lines.append(line)
        if len(lines) == rows:
            yield Partition(lines)
            lines = []
    if lines:
        yield Partition(lines)


def parquet_partitions(stream: IO[bytes], name: str, rows: int) -> Iterator[Partition]:
    """Row groups read ``rows`` at a time; row *n* (from 1) is numbered like line *n*."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        fail(f"error: cannot read input: {name}: not a Parquet file ({exc})")
    schema = parquet.schema_arrow
    if "situation" not in schema.names:
        fail(
            f"error: {name}: no column named situation"
            " (each row's situation is JSON text in a column named situation)"
        )
    kind = schema.field("situation").type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        fail(f"error: {name}: the situation column is {kind}; expected JSON text (string)")
    number = 0
    for batch in parquet.iter_batches(batch_size=rows):
        texts = batch.column("situation").to_pylist()
        lines = [as_line(number + i + 1, text) for i, text in enumerate(texts)]
        number += len(texts)
        yield Partition(lines, batch.drop_columns(["situation"]))


def carried_schema(stream: IO[bytes], fmt: str) -> Any:
    """The schema of the Parquet output: ``row``, ``advice``, then the input's other columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field("row", pa.int64(), nullable=False), pa.field("advice", pa.string(), False)]
    if fmt == "parquet":
        fields += [f for f in pq.ParquetFile(stream).schema_arrow if f.name != "situation"]
        stream.seek(0)
    return pa.schema(fields)


# --- output ---------------------------------------------------------------------------------


@contextlib.contextmanager
def remote_output(url: str) -> Iterator[IO[bytes]]:
    """Write a temporary object beside ``url``, then move it to ``url`` once complete."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        fail(f"error: cannot write {url}: {exc}")
    parent, _, name = path.rpartition("/")
    temp = f"{parent}/.{name}.{secrets.token_hex(8)}.tmp" if parent else f".{name}.tmp"
    try:
        with fs.open(temp, "wb") as handle:
            yield handle
        fs.mv(temp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(temp)
        raise


class WriteFailed(Exception):
    """Writing the output failed (a full disk, a closed pipe, a store that refused)."""


class Writer:
    """Writes results in order: JSON lines, or Parquet rows (``row``, ``advice``, carried)."""

    def __init__(self, out: IO[bytes], fmt: str, schema: Any) -> None:
        self.out, self.fmt, self.schema = out, fmt, schema
        self.parquet: Any = None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self.parquet = pq.ParquetWriter(out, schema)

    def write(self, partition: Partition, results: list[Result]) -> None:
        try:
            self._write(partition, results)
        except OSError as exc:
            raise WriteFailed(exc.strerror or str(exc)) from None

    def _write(self, partition: Partition, results: list[Result]) -> None:
        if self.parquet is None:
            self.out.write(b"".join(text.encode("utf-8") + b"\n" for _, text in results))
            return
        import pyarrow as pa

        columns = [
            pa.array([number for number, _ in partition.lines], pa.int64()),
            pa.array([text for _, text in results], pa.string()),
        ]
        if partition.carried is not None:
            columns += partition.carried.columns
        self.parquet.write_batch(pa.record_batch(columns, schema=self.schema))

    def close(self) -> None:
        if self.parquet is not None:
            try:
                self.parquet.close()
            except OSError as exc:
                raise WriteFailed(exc.strerror or str(exc)) from None


def run(
    client: Any,
    pack: ShippedPack,
    partitions: Iterator[Partition],
    writer: Writer,
    options: Options,
    progress: Callable[[Summary], None] | None,
) -> Summary:
    """Advise every partition on the cluster and write the results in input order."""
    from distributed import KilledWorker

    summary = Summary()
    start = time.perf_counter()
    shipped = client.submit(keep, pack, pure=False)  # a task: recomputed if its worker dies
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    window: deque[tuple[Partition, Any]] = deque()

    def drain() -> None:
        partition, future = window.popleft()
        try:
            results: list[Result] = future.result()
        except KilledWorker as exc:
            first, last = partition.lines[0][0], partition.lines[-1][0]
            fail(f"error: workers kept dying while advising input {first}-{last} ({exc})", 1)
        writer.write(partition, results)
        for code, _ in results:
            summary.lines += 1
            summary.errors += code != 0
            summary.internal += code == 1
        summary.seconds = time.perf_counter() - start
        if progress is not None:
            progress(summary)

    for partition in partitions:
        window.append(
            (partition, client.submit(advise_lines, partition.lines, shipped, options, pure=False))
        )
        if len(window) >= workers * PARTITIONS_IN_FLIGHT:
            drain()
    while window:
        drain()
    writer.close()
    summary.seconds = time.perf_counter() - start
    return summary
