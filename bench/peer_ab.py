"""``run()`` of several source trees and durable_rules driven directly, in one process, in CPU time.

``bench/peer_cpu.py`` compares this tree's ``run()`` with the direct-C driver; this script also
puts other trees of the project in the same process (each tree's ``engine`` package is imported
in turn and kept alive by its functions), so "before" and "after" of a change are measured
interleaved on the same situations, on a machine whose load moves single measurements by tens
of percent. Each candidate runs the situations once per repetition, in turn; reported: the
minimum and the median of the repetitions, and each as a multiple of the direct driver's. Not
part of ``make bench``; results are not checked here (``peer_cpu.py`` checks them).

    .venv/bin/python bench/peer_ab.py PEERS_DIR DATA_DIR TREE[,TREE...] N [SITUATIONS] [REPS]

PEERS_DIR is the peer benchmark (its ``engines/`` are imported); DATA_DIR holds ``pack_N.json``
and ``situations.json`` as its ``run_all.py`` writes them; a TREE is a checkout of this project
(``git archive`` of a commit, or the worktree itself).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("XIESHANG_NO_CACHE", "1")


def main() -> None:
    peers, data = Path(sys.argv[1]), Path(sys.argv[2])
    trees, n = sys.argv[3].split(","), int(sys.argv[4])
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    reps = int(sys.argv[6]) if len(sys.argv) > 6 else 9
    sys.path.insert(0, str(peers))
    from engines.durable_c_eng import DurableC  # type: ignore[import-not-found]
    from engines.xieshang_map import (  # type: ignore[import-not-found]
        Translation,
        encode_situation,
    )

    pack = json.loads((data / f"pack_{n}.json").read_text("utf-8"))
    situations = json.loads((data / "situations.json").read_text("utf-8"))[:count]
    encoded = [encode_situation(s) for s in situations]
    root = tempfile.mkdtemp()
    Translation(pack).write(os.path.join(root, "pack"))
    candidates: list[tuple[str, Callable[[Any], Any], list[Any]]] = []
    keep: list[Any] = []
    for tree in trees:
        for name in [m for m in sys.modules if m == "engine" or m.startswith("engine.")]:
            del sys.modules[name]
        sys.path.insert(0, tree)
        from engine.api import load_rules
        from engine.run.driver import run

        rules = load_rules([Path(root) / "pack"])
        sys.path.remove(tree)
        keep.append(rules)
        runtime = rules.runtime
        candidates.append((tree, lambda s, run=run, rt=runtime: run(rt, s), encoded))
    direct = DurableC(pack)
    candidates.append(("durable_rules direct C", direct.evaluate, situations))
    times: dict[str, list[float]] = {name: [] for name, _, _ in candidates}
    for _name, evaluate, inputs in candidates:
        for item in inputs[:10]:
            evaluate(item)
    for _ in range(reps):
        for name, evaluate, inputs in candidates:
            gc.collect()
            start = time.process_time()
            for item in inputs:
                evaluate(item)
            times[name].append((time.process_time() - start) / len(inputs) * 1e6)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    base = times["durable_rules direct C"]
    for name, measured in times.items():
        print(
            f"N={n} {name}: min {min(measured):.0f} µs ({min(measured) / min(base):.2f}x),"
            f" median {median(measured):.0f} µs ({median(measured) / median(base):.2f}x)"
        )


if __name__ == "__main__":
    main()
