"""The compiled backend against generated plain Python on the peer workload, in CPU time.

``make bench-peers`` times every engine in its own process by wall clock; on a shared machine
its ratios move by a factor of several between cells. This script puts plain Python and the
compiled backend in one process on the same situations, alternates them, and keeps the minimum
of several repetitions of CPU time (``time.process_time``), so the ratio is steady under load.
Not part of ``make bench``.

    .venv/bin/python bench/compiled_cpu.py [N ...] [--situations 200] [--repeat 7] [--full]

For each N (default 20 60 200 1000 10000) it prints µs per situation and the ratio to plain
Python of: the situation mapping alone (``encode``), ``lowered.run`` as the peer benchmark's
``compiled_run`` cell times it (mapping included), and with ``--full`` ``evaluate(...,
backend="compiled") + to_advice()``. Every engine's recommendations are checked equal to plain
Python's on every situation first.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("XIESHANG_NO_CACHE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ns", nargs="*", type=int, default=[20, 60, 200, 1000, 10000])
    parser.add_argument("--situations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--full", action="store_true", help="also evaluate + to_advice")
    args = parser.parse_args()

    import gen  # type: ignore[import-not-found]

    situations = gen.situations()[: args.situations]
    print(f"load average {os.getloadavg()[0]:.1f}; {len(situations)} situations", flush=True)
    for n in args.ns:
        measure(n, gen.pack(n), situations, args.repeat, args.full)


def measure(
    n: int, pack: dict[str, Any], situations: list[Any], repeat: int, full_path: bool
) -> None:
    """One N: check every engine against plain Python, then time them interleaved."""
    from engines import plain  # type: ignore[import-not-found]
    from engines.xieshang_map import (  # type: ignore[import-not-found]
        Translation,
        encode_situation,
    )

    import engine
    from engine.run import lowered
    from engine.pack.model import Recommend

    today = __import__("datetime").date(2026, 11, 28)
    fast = plain.load(pack).evaluate
    translation = Translation(pack)
    with tempfile.TemporaryDirectory() as root:
        translation.write(os.path.join(root, "pack"))
        rules = engine.load_rules([Path(root) / "pack"])
    start = time.process_time()
    program = rules.program()
    lower_s = time.process_time() - start
    recommend = {
        i: (translation.ir_id[c.rule.id], c.rule.then.priority)
        for i, c in enumerate(rules.compiled.rules)
        if isinstance(c.rule.then, Recommend)
    }
    to_ir = {
        c.rule.then.action: translation.ir_id[c.rule.id]
        for c in rules.compiled.rules
        if isinstance(c.rule.then, Recommend)
    }

    def compiled_run(situation: dict[str, Any]) -> list[tuple[str, int]]:
        result = lowered.run(program, encode_situation(situation))
        return [recommend[f.rule_index] for f in result.firings if f.rule_index in recommend]

    def full(situation: dict[str, Any]) -> list[tuple[str, int]]:
        decision = engine.evaluate(
            rules, encode_situation(situation), today=today, backend="compiled"
        )
        advice = decision.to_advice()
        return [(to_ir[r["action"]], r["score"]) for r in advice["recommendations"]]

    cells: dict[str, Callable[[dict[str, Any]], Any]] = {
        "plain": fast,
        "encode": encode_situation,
        "compiled run()": compiled_run,
    }
    if full_path:
        cells["evaluate + to_advice"] = full
    for situation in situations:
        want = sorted((r, int(p)) for r, p in fast(situation))
        assert sorted(compiled_run(situation)) == want, situation
        if full_path:
            assert sorted(full(situation)) == want, situation
    times: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(repeat):
        for name, function in cells.items():
            gc.collect()
            begin = time.process_time()
            for situation in situations:
                function(situation)
            times[name].append((time.process_time() - begin) / len(situations) * 1e6)
    base = min(times["plain"])
    row = ", ".join(
        f"{name} {min(t):.1f} µs ({min(t) / base:.2f}×)"
        for name, t in times.items()
        if name != "plain"
    )
    print(f"N={n}: plain {base:.2f} µs; {row}; lowering {lower_s:.2f} s CPU", flush=True)


if __name__ == "__main__":
    main()
