"""Batch throughput: local processes against Dask workers (issue 15). Not part of ``make test``.

Runs the installed ``xieshang batch`` on one generated JSON Lines file (the examples repeated):

* local batch with ``--workers 1`` and ``--workers 2``;
* ``--dask local:1`` and ``--dask local:2`` (a LocalCluster started by the command);
* the cost of a partition: ``--dask local:1`` with ``--partition-rows 1`` against the default
  (256) on a smaller file; (extra time) / (extra partitions).

Every run's output is checked byte for byte against the first one. Writes its section of
bench/RESULTS.md (between the markers below; ``bench/run.py`` keeps it). Usage:
``.venv/bin/python bench/distributed.py [--lines N] [--rounds R]``. Each configuration runs
``--rounds`` times, interleaved with the others, and the best time is kept (the machine may be
shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
XIESHANG = Path(sys.executable).parent / "xieshang"
START = "<!-- bench/distributed.py: start -->"
END = "<!-- bench/distributed.py: end -->"
SUMMARY = re.compile(r"(\d+) situations?, \d+ errors?, ([\d.]+) s")


def corpus(lines: int) -> bytes:
    examples = [
        json.dumps(json.loads(p.read_text("utf-8")), ensure_ascii=False).encode()
        for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    return b"".join(examples[i % len(examples)] + b"\n" for i in range(lines))


def batch(source: Path, out: Path, *args: str) -> tuple[float, float]:
    """(wall seconds, seconds the command reports for advising) of one run."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(XIESHANG), "batch", str(source), "-o", str(out), "--no-progress", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{args}: exit {done.returncode}: {done.stderr}")
    match = SUMMARY.search(done.stderr)
    assert match is not None, done.stderr
    return wall, float(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--overhead-lines", type=int, default=300)
    args = parser.parse_args()
    began = time.perf_counter()
    load_before = os.getloadavg()
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        source.write_bytes(corpus(args.lines))
        reference: bytes | None = None
        runs = [
            ("local batch, --workers 1", ["--workers", "1"]),
            ("local batch, --workers 2", ["--workers", "2"]),
            ("--dask local:1", ["--dask", "local:1"]),
            ("--dask local:2", ["--dask", "local:2"]),
        ]
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):  # interleaved: load from others hits every run alike
            for name, extra in runs:
                out = Path(tmp) / "out.jsonl"
                wall, advising = batch(source, out, *extra)
                data = out.read_bytes()
                reference = reference or data
                assert data == reference, f"{name}: output differs from local batch"
                previous = best.get(name, (wall, advising))
                best[name] = (min(wall, previous[0]), min(advising, previous[1]))
                print(name, f"{wall:.2f}", f"{advising:.2f}", flush=True)
        for name, (wall, advising) in best.items():
            rows.append(
                f"| {name} | {wall:.2f} | {args.lines / wall:.0f} | {advising:.2f}"
                f" | {args.lines / advising:.0f} |"
            )
        small = Path(tmp) / "small.jsonl"
        small.write_bytes(corpus(args.overhead_lines))
        whole = single = float("inf")
        for _ in range(args.rounds):
            whole = min(whole, batch(small, Path(tmp) / "a.jsonl", "--dask", "local:1")[1])
            single = min(
                single,
                batch(small, Path(tmp) / "b.jsonl", "--dask", "local:1", "--partition-rows", "1")[
                    1
                ],
            )
        assert (Path(tmp) / "a.jsonl").read_bytes() == (Path(tmp) / "b.jsonl").read_bytes()
        partitions = args.overhead_lines - -(-args.overhead_lines // 256)
        overhead_ms = (single - whole) / partitions * 1000
        row_ms = best["--dask local:1"][1] / args.lines * 1000
    load = os.getloadavg()
    section = [
        START,
        "## (f) batch on Dask (bench/distributed.py)",
        "",
        f"{args.lines} lines (the examples repeated), `xieshang batch IN -o OUT ...`, best of"
        f" {args.rounds} interleaved rounds; wall time"
        " includes start-up (for `local:N`, starting and stopping the cluster); *advising* is the"
        " time the command reports (from the first line read to the last written). Every"
        " output is byte-identical to local batch's.",
        "",
        "| run | wall s | rows/s (wall) | advising s | rows/s (advising) |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Per partition: {overhead_ms:.1f} ms (`--dask local:1`, {args.overhead_lines} lines,"
        " `--partition-rows 1` against the default 256: extra advising time / extra partitions);"
        f" a row takes {row_ms:.1f} ms, so a partition of the default 256 rows spends"
        f" {overhead_ms / (overhead_ms + 256 * row_ms):.1%} of its time on the partition.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python"
        f" {platform.python_version()}; load average (1 min) {load_before[0]:.2f} before the run,"
        f" {load[0]:.2f} after (a shared machine: with a load above the 2 cores, a second"
        " process or worker has no core of its own and cannot speed the batch up)."
        f" Bench time {time.perf_counter() - began:.0f} s.",
        "",
        "```",
        ".venv/bin/python bench/distributed.py"
        + (f" --lines {args.lines}" if args.lines != 1500 else ""),
        "```",
        END,
    ]
    text = RESULTS.read_text("utf-8")
    if START in text:
        text = text[: text.index(START)] + text[text.index(END) + len(END) :].lstrip("\n")
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
