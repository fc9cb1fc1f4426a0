"""Several runs of `make bench-peers` as one table: each cell is the range of its "× plain
Python" ratios over the runs (lowest–highest; with two runs, their median lies between), and
µs per situation likewise.

    python bench/peers/combine.py build/peers-run1/results.json build/peers-run2/results.json
"""
import json
import sys

from table import COLUMNS, ratio, us


def main():
    runs = []
    for path in sys.argv[1:]:
        with open(path) as fh:
            runs.append({(r["engine"], r["n"]): r for r in json.load(fh)["results"]})
    ns = sorted({n for run in runs for _, n in run})
    present = [(e, label) for e, label in COLUMNS if any((e, n) in run for run in runs for n in ns)]
    for title, key, fmt in (("× plain Python", "ratio", ratio), ("µs per situation", "eval_us", us)):
        print(f"{title}, {len(runs)} runs (lowest–highest):")
        print()
        print("| N rules | " + " | ".join(label for _, label in present) + " |")
        print("|---:|" + "---:|" * len(present))
        for n in ns:
            cells = []
            for engine, _ in present:
                got = [run[(engine, n)] for run in runs if (engine, n) in run]
                values = sorted(r[key] for r in got if r.get("ok") and not r.get("mismatch_count"))
                if not values:
                    cells.append("–")
                elif len(values) == 1 or fmt(values[0]) == fmt(values[-1]):
                    cells.append(fmt(values[0]))
                else:
                    cells.append(f"{fmt(values[0])}–{fmt(values[-1])}")
            print(f"| {n:,} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
