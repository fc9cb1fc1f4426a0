"""The full library path (``evaluate + to_advice``) on the peer workload, in CPU time.

``make bench-peers`` times every cell in its own process by wall clock; on a shared machine its
ratios move between runs. This script puts generated plain Python, zen-engine (when the
``bench`` extra is installed), the compiled backend's ``run()`` and the full path on both
backends in one process on the same situations, alternates them, and keeps the minimum of
several repetitions of CPU time (``time.process_time``). Not part of ``make bench``.

    .venv/bin/python bench/full_path_cpu.py [N ...] [--situations 200] [--repeat 7] [--no-rete]

Each cell is called as the peer benchmark's adapter calls it (``bench/peers/engines/``: the
situation mapping included). Every cell's recommendations are checked equal to plain Python's on
every situation before timing. Prints, per N, µs per situation and the ratio to plain Python.
"""

from __future__ import annotations

import argparse
import datetime
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

TODAY = datetime.date(2026, 11, 28)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ns", nargs="*", type=int, default=[20, 60, 200, 1000])
    parser.add_argument("--situations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-rete", action="store_true", help="skip the Rete full path")
    args = parser.parse_args()

    import gen  # type: ignore[import-not-found]

    situations = gen.situations()[: args.situations]
    print(f"load average {os.getloadavg()[0]:.1f}; {len(situations)} situations", flush=True)
    for n in args.ns:
        measure(n, gen.pack(n), situations, args.repeat, not args.no_rete)


def measure(n: int, pack: dict[str, Any], situations: list[Any], repeat: int, rete: bool) -> None:
    """One N: check every cell against plain Python, then time them interleaved."""
    from engines import plain  # type: ignore[import-not-found]
    from engines.xieshang_map import (  # type: ignore[import-not-found]
        Translation,
        encode_situation,
    )

    import engine
    from engine.pack.model import Recommend
    from engine.run import lowered

    translation = Translation(pack)
    with tempfile.TemporaryDirectory() as root:
        translation.write(os.path.join(root, "pack"))
        rules = engine.load_rules([Path(root) / "pack"])
    program = rules.program()
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

    def full(backend: str) -> Callable[[dict[str, Any]], list[tuple[str, int]]]:
        def path(situation: dict[str, Any]) -> list[tuple[str, int]]:
            decision = engine.evaluate(
                rules, encode_situation(situation), today=TODAY, backend=backend
            )
            advice = decision.to_advice()
            return [(to_ir[r["action"]], r["score"]) for r in advice["recommendations"]]

        return path

    cells: dict[str, Callable[[dict[str, Any]], Any]] = {"plain": plain.load(pack).evaluate}
    try:
        from engines import zen_eng  # type: ignore[import-not-found]

        cells["zen-engine"] = zen_eng.load(pack).evaluate
    except ImportError:  # the bench extra is not installed
        pass
    cells["compiled run()"] = compiled_run
    cells["compiled evaluate + to_advice"] = full("compiled")
    if rete:
        cells["Rete evaluate + to_advice"] = full("rete")
    for situation in situations:
        want = sorted((r, int(p)) for r, p in cells["plain"](situation))
        for name, cell in cells.items():
            got = sorted((r, int(p)) for r, p in cell(situation))
            assert got == want, (name, situation)
    times: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(repeat):
        for name, cell in cells.items():
            gc.collect()
            begin = time.process_time()
            for situation in situations:
                cell(situation)
            times[name].append((time.process_time() - begin) / len(situations) * 1e6)
    base = min(times["plain"])
    row = "; ".join(
        f"{name} {min(t):,.1f} µs ({min(t) / base:.0f}×)"
        for name, t in times.items()
        if name != "plain"
    )
    print(f"N={n}: plain {base:.2f} µs; {row}", flush=True)


if __name__ == "__main__":
    main()
