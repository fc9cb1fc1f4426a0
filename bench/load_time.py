"""Load time of generated rule packs without the cache, stage by stage (issue 14, item 4).

Each size is loaded in fresh Python processes (``XIESHANG_NO_CACHE=1``; importing the engine is
not timed): first the whole ``engine.load_rules``, then, in the same process, its stages one by
one: reading the YAML with positions and the schema check (``read_pack``), the semantic checks
(``check_pack``), compilation (``compile_pack``). Wall time, and for ``load_rules`` also the CPU
time of the process (steadier when other work shares the machine); best of ``--repeat``. The
pack is ``tests/packgen.py``'s, as in ``bench/run.py`` section (e).

    .venv/bin/python bench/load_time.py                 # 1,000 and 10,000 rules, best of 3
    .venv/bin/python bench/load_time.py 1000 --repeat 1 --profile   # cProfile, top 25 by tottime
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(root: str, profile: bool) -> None:
    """Runs in the child process: load the pack, print the times as JSON."""
    import contextlib
    import cProfile
    import pstats
    import time

    sys.path.insert(0, str(ROOT))
    from engine import api
    from engine.load.checks import check_pack
    from engine.compile.compiler import compile_pack
    from engine.load.loader import pack_digest, read_pack

    os.environ["XIESHANG_NO_CACHE"] = "1"
    times = {}
    # the whole of load_rules, as a user calls it, first (nothing else alive in the process)
    start, cpu = time.perf_counter(), time.process_time()
    api.load_rules([root]).close()
    times["load_rules"] = time.perf_counter() - start
    times["load_rules_cpu"] = time.process_time() - cpu
    # then its stages one by one, under the same conditions (the collector paused, if it is)
    paused = getattr(api, "_collector_paused", contextlib.nullcontext)
    profiler = cProfile.Profile() if profile else None
    with paused():
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        raw = read_pack([root])
        times["read"] = time.perf_counter() - start
        start = time.perf_counter()
        pack, errors = check_pack(raw, pack_digest(raw.files), [root])
        times["checks"] = time.perf_counter() - start
        assert pack is not None, errors
        start = time.perf_counter()
        compile_pack(pack)
        times["compile"] = time.perf_counter() - start
        if profiler:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per size (best)")
    parser.add_argument("--profile", action="store_true", help="cProfile the first run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile)
        return
    sys.path.insert(0, str(ROOT))
    from tests.packgen import generate_pack

    env = {**os.environ, "XIESHANG_NO_CACHE": "1"}
    print("| rules | load_rules s | load_rules CPU s | read s | checks s | compile s |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        for n in args.sizes:
            root = Path(work) / f"gen{n}"
            generate_pack(root, n)
            runs = []
            for i in range(args.repeat):
                argv = [sys.executable, __file__, "--child", str(root)]
                if args.profile and i == 0:
                    argv.append("--profile")
                out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
                if args.profile and i == 0:
                    sys.stderr.write(out.stderr)
                runs.append(json.loads(out.stdout))
            best = {k: min(r[k] for r in runs) for k in runs[0]}
            print(
                f"| {n:,} | {best['load_rules']:.2f} | {best['load_rules_cpu']:.2f} |"
                f" {best['read']:.2f} | {best['checks']:.2f} | {best['compile']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
