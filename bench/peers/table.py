"""The table of issue 14 from one run of run_all.py: per-situation time as a multiple of
generated plain Python, per N and engine, every cell verified equal to plain Python.

    python bench/peers/table.py OUT/results.json [TABLE.md]

Prints the table (Markdown) and writes it to TABLE.md when given. Exits 1 when any cell failed
or differed from plain Python on a situation it verified. A cell whose verification pass hit the
time cap (PEERS_VERIFY_CAP, PEERS_VERIFY_CAP_10K) is marked with how many situations it verified.
"""
import json
import sys

COLUMNS = [
    ("zen", "zen-engine"),
    ("clips", "CLIPS"),
    ("durable_c", "durable_rules direct C"),
    ("xieshang_run", "xieshang Rete run()"),
    ("xieshang", "xieshang Rete evaluate + to_advice"),
    ("compiled_run", "xieshang compiled run()"),
    ("compiled", "xieshang compiled evaluate + to_advice"),
]


def ratio(x):
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def main():
    path = sys.argv[1]
    with open(path) as fh:
        data = json.load(fh)
    meta, results = data["meta"], data["results"]
    by = {(r["engine"], r["n"]): r for r in results}
    ns = sorted({r["n"] for r in results})
    present = [(e, label) for e, label in COLUMNS if any((e, n) in by for n in ns)]
    problems = []
    lines = [
        "Per-situation time as a multiple of generated plain Python (lower is better); each cell"
        " is the median of the timing repetitions divided by the median of plain Python timed"
        " interleaved in the same process. Every cell was checked equal to plain Python on the"
        " situations it verified (all of them unless the cell says how many: the verification"
        " pass stops at its time cap).",
        "",
        "| N rules | plain Python µs | " + " | ".join(label for _, label in present) + " |",
        "|---:|---:|" + "---:|" * len(present),
    ]
    workload = {w["n"]: w for w in meta.get("workload", [])}
    for n in ns:
        plain = by.get(("plain", n))
        cells = []
        plain_us = plain["eval_us"] if plain and plain.get("ok") else None
        for engine, label in present:
            r = by.get((engine, n))
            if r is None:
                cells.append("–")
                continue
            if not r.get("ok"):
                cells.append("failed")
                problems.append(f"{label} N={n}: {r.get('error', '?')}")
                continue
            if r.get("mismatch_count"):
                cells.append("MISMATCH")
                problems.append(f"{label} N={n}: {r['mismatch_count']} situations differ")
                continue
            total = len_situations(meta)
            cell = ratio(r["ratio"])
            notes = []
            if r.get("verified") != total:
                notes.append(f"{r.get('verified')} verified")
            if r.get("timed_sits") not in (None, total):
                notes.append(f"{r['timed_sits']} timed")
            cells.append(cell + (f" ({', '.join(notes)})" if notes else ""))
        shown = f"{plain_us:.1f}" if plain_us is not None else "–"
        lines.append(f"| {n:,} | {shown} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The same cells in µs per situation (median of the repetitions), with the plain-Python"
        " time each cell measured in its own process (a spread here is the machine's noise):",
        "",
        "| N rules | " + " | ".join(label for _, label in present) + " | plain µs in these cells |",
        "|---:|" + "---:|" * (len(present) + 1),
    ]
    for n in ns:
        cells, plains = [], []
        for engine, _ in present:
            r = by.get((engine, n))
            ok = r is not None and r.get("ok")
            cells.append(us(r["eval_us"]) if ok else "–")
            if ok:
                plains.append(r["plain_us"])
        spread = f"{us(min(plains))}–{us(max(plains))}" if plains else "–"
        lines.append(f"| {n:,} | " + " | ".join(cells) + f" | {spread} |")
    lines += [
        "",
        "The same µs divided by the plain-Python cell's own time (one baseline per N, so a"
        " baseline slowed by the machine in one cell's process does not flatter that cell):",
        "",
        "| N rules | " + " | ".join(label for _, label in present) + " |",
        "|---:|" + "---:|" * len(present),
    ]
    for n in ns:
        base = by.get(("plain", n))
        cells = []
        for engine, _ in present:
            r = by.get((engine, n))
            ok = r is not None and r.get("ok") and base is not None and base.get("ok")
            cells.append(ratio(r["eval_us"] / base["eval_us"]) if ok else "–")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    lines.append("")
    versions = meta.get("versions", {})
    lines.append(
        f"Situations: {len_situations(meta)}; machine: {meta.get('cpu', '?')},"
        f" {meta.get('cores', '?')} cores, Python {meta.get('python', '?')}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; whole run {meta.get('total_s', '?')} s."
    )
    if workload:
        lines.append(
            "Workload: "
            + "; ".join(
                f"N={n}: {w['rules']} rules, {w['recs_per_situation_mean']} recommendations per"
                " situation"
                for n, w in sorted(workload.items())
            )
            + "."
        )
    loads = [
        (n, by[("compiled", n)]["load_ms"]) for n in ns if by.get(("compiled", n), {}).get("ok")
    ]
    if loads:
        lines.append(
            "Compiled backend load (YAML pack, uncached, + lowering), ms: "
            + ", ".join(f"N={n}: {ms:,.0f}" for n, ms in loads)
            + "."
        )
    for problem in problems:
        lines.append(f"PROBLEM: {problem}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as fh:
            fh.write(text)
    return 1 if problems else 0


def us(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def len_situations(meta):
    return meta.get("situations", 1000)


if __name__ == "__main__":
    sys.exit(main())
