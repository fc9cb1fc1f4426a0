"""xieshang ``run()`` against durable_rules driven directly, on the peer workload, in CPU time.

The peer benchmark (``../shared/bench/peers``) times wall clock per cell in separate processes;
on a shared, overloaded machine its ratios move by factors of two between runs. This script puts
both engines in one process on the same situations, alternates them, and takes the minimum of 7
repetitions of CPU time (``time.process_time``, which counts the kernel's page-fault work too),
so the ratio between them is stable even when the machine is busy. Not part of ``make bench``.

    .venv/bin/python bench/peer_cpu.py PEERS_DIR DATA_DIR N [SITUATIONS]

PEERS_DIR is the peer benchmark (its ``engines/`` are imported); DATA_DIR holds ``pack_N.json``
and ``situations.json`` as its ``run_all.py`` writes them. Both engines' firings are compared on
every situation before timing.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("XIESHANG_NO_CACHE", "1")


def main() -> None:
    peers, data, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    sys.path.insert(0, str(peers))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engines.durable_c_eng import DurableC  # type: ignore[import-not-found]
    from engines.xieshang_map import (  # type: ignore[import-not-found]
        Translation,
        encode_situation,
    )

    from engine.api import load_rules
    from engine.pack.model import Recommend
    from engine.run.driver import run

    pack = json.loads((data / f"pack_{n}.json").read_text("utf-8"))
    situations = json.loads((data / "situations.json").read_text("utf-8"))[:count]
    translation = Translation(pack)
    with tempfile.TemporaryDirectory() as root:
        translation.write(os.path.join(root, "pack"))
        rules = load_rules([Path(root) / "pack"])
    recommend = {
        i: (translation.ir_id[c.rule.id], c.rule.then.priority)
        for i, c in enumerate(rules.compiled.rules)
        if isinstance(c.rule.then, Recommend)
    }
    direct = DurableC(pack)

    def xieshang(situation: dict[str, Any]) -> list[tuple[str, int]]:
        firings = run(rules.runtime, encode_situation(situation)).firings
        return [recommend[f.rule_index] for f in firings if f.rule_index in recommend]

    for situation in situations:
        assert sorted(xieshang(situation)) == sorted(direct.evaluate(situation)), situation
    times: dict[str, list[float]] = {"xieshang run()": [], "durable_rules direct C": []}
    for _ in range(7):
        for name, evaluate in (
            ("durable_rules direct C", direct.evaluate),
            ("xieshang run()", xieshang),
        ):
            gc.collect()
            start = time.process_time()
            for situation in situations:
                evaluate(situation)
            times[name].append((time.process_time() - start) / len(situations) * 1e6)
    ours, theirs = min(times["xieshang run()"]), min(times["durable_rules direct C"])
    print(
        f"N={n}: xieshang run() {ours:.0f} µs, durable_rules direct C {theirs:.0f} µs per"
        f" situation (CPU, min of 7); ratio {ours / theirs:.2f}; engine rulesets"
        f" {len(rules.compiled.shards)} and {direct.nshards}; {len(situations)} situations agree"
    )


if __name__ == "__main__":
    main()
