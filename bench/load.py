"""Load test of ``xieshang serve`` on 127.0.0.1 (not part of ``make bench``; run it by hand).

Starts ``xieshang serve`` (the console script next to this Python) on a free port, then:

1. for each concurrency level (default 1, 8, 64 clients, each a keep-alive HTTP/1.1
   connection): ``POST /v1/advise`` with an example situation, a fixed number of requests;
   p50/p99 latency, throughput, and every response checked (status 200, the same bytes as the
   first answer);
2. memory: ``--memory-requests`` more requests (default 10,000) at 8 clients, the server's RSS
   (the server process and its workers) sampled every tenth of the way.

Any error (a failed connection, a status other than 200, a different answer) is counted, and the
script exits 1 if there was one. ``--write`` puts the figures in bench/RESULTS.md, section (j),
between its markers (``bench/run.py`` keeps that section).

    .venv/bin/python bench/load.py [--workers N] [--requests N] [--levels 1,8,64]
                                   [--memory-requests 10000] [--example FILE] [--write]

Needs the ``bench`` extra (httpx, psutil): ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
START = "<!-- bench/load.py: start -->"
END = "<!-- bench/load.py: end -->"
XIESHANG = shutil.which("xieshang", path=os.path.dirname(sys.executable))


@dataclass
class Stats:
    concurrency: int
    latencies: list[float] = field(default_factory=list)  #: seconds, one per request
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.errors)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def load(
    url: str, body: bytes, concurrency: int, total: int, expected: bytes | None
) -> Stats:
    """``total`` POSTs of ``body`` to ``url`` from ``concurrency`` clients at once."""
    stats = Stats(concurrency)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    headers = {"content-type": "application/json"}

    async def client() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    response = await http.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    stats.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    stats.errors.append(f"status {response.status_code}: {response.text[:200]}")
                elif expected is not None and response.content != expected:
                    stats.errors.append("a different answer")
                else:
                    stats.latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    stats.elapsed = time.perf_counter() - started
    return stats


def server_rss(pid: int) -> int:
    """Resident memory of the server and all its processes (workers), in bytes."""
    parent = psutil.Process(pid)
    total = 0
    for process in [parent, *parent.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(workers: int) -> Iterator[tuple[str, int]]:
    """A ``xieshang serve`` process (no access log: it would measure the terminal)."""
    assert XIESHANG, "install the project first (make .venv/.installed)"
    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the server's lifetime
        prefix="xieshang-load-", suffix=".log", delete=False
    )
    process = subprocess.Popen(
        [XIESHANG, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited: see {log.name}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: see {log.name}")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def memory_run(
    url: str, pid: int, body: bytes, total: int, expected: bytes, samples: int = 10
) -> tuple[Stats, list[int]]:
    """``total`` requests at 8 clients in ``samples`` steps; the RSS after each step."""
    rss = [server_rss(pid)]
    merged = Stats(8)
    for _ in range(samples):
        step = asyncio.run(load(url, body, 8, total // samples, expected))
        merged.latencies += step.latencies
        merged.errors += step.errors
        merged.elapsed += step.elapsed
        rss.append(server_rss(pid))
    return merged, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2000, help="requests per level")
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument("--example", type=Path, default=ROOT / "examples/first-late-payment.json")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md (j)")
    args = parser.parse_args()
    body = args.example.read_bytes()
    levels = [int(n) for n in args.levels.split(",")]
    rows = []
    errors = 0
    with server(args.workers) as (url, pid):
        advise = f"{url}/v1/advise"
        expected = httpx.post(
            advise, content=body, headers={"content-type": "application/json"}, timeout=60
        ).content
        asyncio.run(load(advise, body, 8, 200, expected))  # warm-up (not counted)
        for level in levels:
            stats = asyncio.run(load(advise, body, level, args.requests, expected))
            errors += len(stats.errors)
            rows.append(stats)
            print(
                f"{level:>3} clients: {stats.requests} requests, {len(stats.errors)} errors,"
                f" p50 {stats.percentile(50) * 1000:.1f} ms, p99 {stats.percentile(99) * 1000:.1f}"
                f" ms, {stats.throughput:.0f} requests/s",
                file=sys.stderr,
            )
        memory, rss = memory_run(advise, pid, body, args.memory_requests, expected)
        errors += len(memory.errors)
    mib = [r / 2**20 for r in rss]
    growth = (mib[-1] - mib[1]) / mib[1] * 100
    print(
        f"memory: {memory.requests} requests, {len(memory.errors)} errors; RSS MiB "
        + " → ".join(f"{m:.1f}" for m in mib)
        + f"; after the first tenth {growth:+.1f}%",
        file=sys.stderr,
    )
    if args.write:
        write_results(markdown(args, rows, memory, mib, growth))
    for stats in [*rows, memory]:
        for error in stats.errors[:5]:
            print(f"error ({stats.concurrency} clients): {error}", file=sys.stderr)
    return 1 if errors else 0


def markdown(
    args: argparse.Namespace, rows: list[Stats], memory: Stats, mib: list[float], growth: float
) -> str:
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## (j) `xieshang serve` under load (bench/load.py)",
        "",
        f"`{' '.join(['.venv/bin/python', 'bench/load.py', *sys.argv[1:]])}` — "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, Python"
        f" {platform.python_version()}, load average {load_avg} at the end;"
        f" {args.workers} worker(s); body `{args.example.name}`"
        f" ({args.example.stat().st_size} bytes); client and server on the same machine, each"
        " client one keep-alive connection (httpx).",
        "",
        "| clients | requests | errors | p50 ms | p99 ms | requests/s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for stats in rows:
        lines.append(
            f"| {stats.concurrency} | {stats.requests:,} | {len(stats.errors)} |"
            f" {stats.percentile(50) * 1000:.1f} | {stats.percentile(99) * 1000:.1f} |"
            f" {stats.throughput:.0f} |"
        )
    lines += [
        "",
        f"Memory: {memory.requests:,} more requests at 8 clients, {len(memory.errors)} errors;"
        " server RSS (all processes) in MiB at each tenth: "
        + " → ".join(f"{m:.1f}" for m in mib)
        + f" ({growth:+.1f}% from the first tenth to the end).",
        "",
    ]
    return "\n".join(lines)


def write_results(section: str) -> None:
    """Replace this script's section of bench/RESULTS.md (or add it at the end)."""
    text = RESULTS.read_text("utf-8")
    if START in text:
        text = text[: text.index(START)] + text[text.index(END) + len(END) :].lstrip("\n")
    block = f"{START}\n{section.rstrip()}\n{END}\n"
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + block, encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
