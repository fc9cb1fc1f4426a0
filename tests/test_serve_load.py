"""The short version of bench/load.py in the suite: a few hundred requests to a real
``xieshang serve`` at 1, 8 and 64 clients; no error, every answer the same bytes, and the
server's memory (all its processes) bounded. No timing is asserted (the figures are in
bench/RESULTS.md)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.servers import running_server

pytestmark = pytest.mark.slow  # a server process and a few hundred requests

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20


def bench_load() -> ModuleType:
    """bench/load.py (not a package): the same client code as the full load test."""
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)
    return module


def test_a_few_hundred_requests_without_error_and_with_bounded_memory() -> None:
    load = bench_load()
    body = (ROOT / "examples" / "first-late-payment.json").read_bytes()
    with running_server("--no-access-log") as server:
        url = f"{server.url}/v1/advise"
        expected = httpx.post(
            url, content=body, headers={"content-type": "application/json"}, timeout=60
        ).content
        warm = asyncio.run(load.load(url, body, 8, 100, expected))
        assert warm.errors == []
        before = load.server_rss(server.process.pid)
        runs = [
            asyncio.run(load.load(url, body, n, total, expected))
            for n, total in ((1, 50), (8, 150), (64, 200))
        ]
        after = load.server_rss(server.process.pid)
    for stats in runs:
        assert stats.errors == [], stats.errors[:3]
        assert len(stats.latencies) == stats.requests
    assert sum(s.requests for s in runs) == 400
    # Memory: a generous bound (allocator arenas of new threads, caches filling), far below what
    # keeping anything per request would cost over 400 requests.
    assert after - before < 64 * MiB, f"RSS grew from {before / MiB:.1f} to {after / MiB:.1f} MiB"
