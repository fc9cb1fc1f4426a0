"""``xieshang batch --dask`` and ``engine.distributed`` on real Dask schedulers and workers.

Every run here is compared byte for byte with local ``xieshang batch`` on the same input: the
examples corpus as JSON Lines, plus bad lines (not JSON, not a situation, too large, empty).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.bag as db
import dask.dataframe as dd
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from typer.testing import CliRunner

import engine.distributed as distributed
from cli.dask_batch import FAST_WORKERS, QUIET_SCHEDULER
from cli.main import app
from engine.batch import Options
from engine.distributed import ShippedPack, ShippedPackError, advise_partition, run_options
from engine.load.situation import MAX_BYTES

pytestmark = pytest.mark.slow  # real schedulers and workers: `make test-fast` leaves them out

ROOT = Path(__file__).resolve().parent.parent
XIESHANG = Path(sys.executable).parent / "xieshang"
BAD_LINES = [b"not json", b'{"bad": 1}', b"", b'"' + b"x" * (MAX_BYTES + 10) + b'"', b"[]"]


def corpus_lines() -> list[bytes]:
    """Each example situation as one line, then the bad lines (the last one after them)."""
    examples = [
        json.dumps(json.loads(p.read_text("utf-8")), ensure_ascii=False).encode()
        for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    assert len(examples) >= 10
    return examples[:3] + BAD_LINES[:2] + examples[3:] + BAD_LINES[2:]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """A scheduler and two worker processes on 127.0.0.1, reached at their tcp:// address."""
    with (
        dask.config.set(FAST_WORKERS),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs=QUIET_SCHEDULER,
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "in.jsonl"
    path.write_bytes(b"\n".join(corpus_lines()) + b"\n")
    return path


def local_batch(source: Path, out: Path, *args: str) -> bytes:
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(out), *args])
    assert result.exit_code == 2, result.output  # the bad lines
    return out.read_bytes()


@pytest.fixture(scope="module")
def reference(corpus: Path) -> bytes:
    """What local ``xieshang batch`` writes for the corpus."""
    data = local_batch(corpus, corpus.with_name("local.jsonl"))
    assert data.count(b"\n") == len(corpus_lines())
    assert data.count(b'"error":') == len(BAD_LINES)
    return data


def dask_batch(*args: str) -> Any:
    return CliRunner().invoke(app, ["batch", *args])


def address(client: Client) -> str:
    return str(client.scheduler.address)


def test_tcp_scheduler_jsonl_is_byte_identical_to_local_batch(
    cluster: Client, corpus: Path, reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    args = [str(corpus), "-o", str(out), "--dask", address(cluster), "--partition-rows", "3"]
    result = dask_batch(*args, "--progress")
    assert result.exit_code == 2, result.output
    assert out.read_bytes() == reference
    assert f"{len(corpus_lines())} situations, {len(BAD_LINES)} errors" in result.stderr
    assert "\r" in result.stderr  # the progress counter
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary left


def test_local_cluster_parquet_in_and_out(corpus: Path, reference: bytes, tmp_path: Path) -> None:
    """``local:2`` starts two worker processes; carried columns come through in row order."""
    lines = corpus_lines()
    source = tmp_path / "in.parquet"
    table = pa.table(
        {
            "account": [f"A{i:03d}" for i in range(len(lines))],
            "situation": [line.decode() for line in lines],
            "weight": [i * 0.5 for i in range(len(lines))],
        }
    )
    pq.write_table(table, source, row_group_size=4)
    out = tmp_path / "out.parquet"
    result = dask_batch(str(source), "-o", str(out), "--dask", "local:2", "--partition-rows", "3")
    assert result.exit_code == 2, result.output
    written = pq.read_table(out)
    assert written.column_names == ["row", "advice", "account", "weight"]
    assert written.column("row").to_pylist() == list(range(1, len(lines) + 1))
    assert written.column("account").to_pylist() == table.column("account").to_pylist()
    assert written.column("weight").to_pylist() == table.column("weight").to_pylist()
    # The advice column holds local batch's lines; errors name the Parquet file and the row.
    expected = reference.decode().replace(f"{corpus}:", f"{source}:").splitlines()
    assert written.column("advice").to_pylist() == expected


def test_parquet_to_jsonl_and_fsspec_urls(
    cluster: Client, corpus: Path, reference: bytes, tmp_path: Path
) -> None:
    """In and out as fsspec URLs (the in-memory file system), Parquet in, JSON Lines out."""
    memory = fsspec.filesystem("memory")
    lines = corpus_lines()
    with memory.open("/runs/in.parquet", "wb") as handle:
        pq.write_table(pa.table({"situation": [line.decode() for line in lines]}), handle)
    result = dask_batch(
        "memory://runs/in.parquet", "-o", "memory://runs/out.jsonl", "--dask", address(cluster)
    )
    assert result.exit_code == 2, result.output
    expected = reference.replace(f"{corpus}:".encode(), b"memory://runs/in.parquet:")
    assert memory.cat("/runs/out.jsonl") == expected
    assert sorted(memory.ls("/runs", detail=False)) == ["/runs/in.parquet", "/runs/out.jsonl"]


def test_a_killed_worker_does_not_change_the_output(cluster: Client, tmp_path: Path) -> None:
    """SIGKILL a worker while it advises a partition: Dask reruns it; the output is identical.

    The input is a FIFO fed by the test: the second half is written only after the kill, so the
    kill always happens mid-run, however fast the machine.
    """
    lines = [line for line in corpus_lines() if len(line) < MAX_BYTES]
    first, second = (b"\n".join(lines) + b"\n") * 5, (b"\n".join(lines) + b"\n") * 5
    source = tmp_path / "big.jsonl"
    os.mkfifo(source)
    feed = os.open(source, os.O_RDWR)  # a writer exists before the batch opens it
    killed = threading.Event()

    def write() -> None:
        with os.fdopen(feed, "wb") as pipe:
            pipe.write(first)
            pipe.flush()
            killed.wait(timeout=120)
            pipe.write(second)

    writer = threading.Thread(target=write)
    writer.start()
    out = tmp_path / "out.jsonl"
    command = [str(XIESHANG), "batch", str(source), "-o", str(out), "--dask", address(cluster)]
    run = subprocess.Popen(
        [*command, "--partition-rows", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        pids = cluster.run(os.getpid)
        victim = None
        while victim is None and run.poll() is None:  # a worker advising a partition now
            busy = [
                worker
                for worker, keys in cluster.processing().items()
                if any("advise_lines" in str(key) for key in keys)
            ]
            victim = pids[busy[0]] if busy else None
            time.sleep(0.01)
        assert victim is not None, run.communicate()[1].decode()
        os.kill(victim, signal.SIGKILL)
    finally:
        killed.set()
        writer.join()
    try:
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 2, stderr.decode()
    cluster.wait_for_workers(2, timeout=60)  # the nanny started a new worker process
    assert victim not in cluster.run(os.getpid).values()
    source.unlink()
    source.write_bytes(first + second)  # the same name, so error records name the same source
    assert out.read_bytes() == local_batch(source, tmp_path / "local.jsonl", "--workers", "2")


def test_library_bag_and_dataframe_partitions(
    cluster: Client, corpus: Path, reference: bytes
) -> None:
    """``advise_partition`` in a user's own pipeline: dask.bag and dask.dataframe."""
    pack = distributed.ship_pack()
    options = run_options(Options(source="in.jsonl"))
    lines = corpus_lines()
    expected = reference.decode().replace(f"{corpus}:", "in.jsonl:").splitlines()
    bag = db.from_sequence(list(enumerate(lines, start=1)), npartitions=4)
    assert bag.map_partitions(advise_partition, pack, options).compute() == expected
    frame = pd.DataFrame(
        {"situation": [line.decode() for line in lines], "row": range(1, len(lines) + 1)}
    )
    meta = pd.DataFrame({"advice": pd.Series(dtype=object), "row": pd.Series(dtype="int64")})
    out = (
        dd.from_pandas(frame, npartitions=3)
        .map_partitions(advise_partition, pack, options, numbers="row", meta=meta)
        .compute()
    )
    assert list(out["advice"]) == expected
    assert list(out["row"]) == list(range(1, len(lines) + 1))


def test_shipped_pack_loads_once_per_process_and_checks_its_bytes() -> None:
    pack = distributed.ship_pack()
    distributed._loaded.clear()
    first = pack.ruleset()
    assert pack.ruleset() is first  # cached by digest: loaded once
    assert list(distributed._loaded) == [pack.digest]
    damaged = ShippedPack(**{**pack.__dict__, "digest": "0" * 64})
    with pytest.raises(ShippedPackError, match="damaged"):
        damaged.ruleset()
    foreign = ShippedPack(**{**pack.__dict__, "code": "0" * 64, "digest": "1" * 64})
    with pytest.raises(ShippedPackError, match="different xieshang"):
        foreign.ruleset()


def test_a_failed_run_leaves_out_untouched(
    cluster: Client, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers refuse a pack from another engine build: exit 1, OUT as it was, no temp."""
    real = ShippedPack.from_ruleset.__func__  # type: ignore[attr-defined]

    def foreign(cls: type[ShippedPack], ruleset: Any) -> ShippedPack:
        pack = real(cls, ruleset)
        return ShippedPack(**{**pack.__dict__, "code": "0" * 64})

    monkeypatch.setattr(ShippedPack, "from_ruleset", classmethod(foreign))
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"previous\n")
    result = dask_batch(str(corpus), "-o", str(out), "--dask", address(cluster))
    assert result.exit_code == 1, result.output
    assert "compiled by a different xieshang" in result.stderr
    assert out.read_bytes() == b"previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_unreachable_scheduler_is_exit_2(corpus: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out.jsonl"
    start = time.monotonic()
    result = dask_batch(str(corpus), "-o", str(out), "--dask", f"tcp://127.0.0.1:{port}")
    assert result.exit_code == 2, result.output
    assert f"--dask tcp://127.0.0.1:{port}: cannot reach the scheduler" in result.stderr
    assert "Traceback" not in result.output
    assert time.monotonic() - start < 30
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dask", "local:0"], "N must be between 1 and 64"),
        (["--dask", "somewhere:8786"], "expected local:N"),
        (["--dask", "local:1", "--output-format", "parquet"], "Parquet output needs -o FILE"),
        (["--output-format", "parquet"], "need --dask"),
    ],
)
def test_bad_options_are_exit_2(corpus: Path, args: list[str], message: str) -> None:
    result = dask_batch(str(corpus), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_parquet_without_a_situation_column(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["{}"]}), source)
    result = dask_batch(str(source), "-o", str(tmp_path / "out.jsonl"), "--dask", "local:1")
    assert result.exit_code == 2, result.output
    assert f"{source}: no column named situation" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["in.parquet"]


def test_without_dask_the_flag_says_how_to_install_it(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # ``import distributed`` fails
    result = dask_batch(str(corpus), "--dask", "local:2")
    assert result.exit_code == 2, result.output
    assert "pip install 'xieshang[dask]'" in result.stderr
    assert result.stdout == ""
