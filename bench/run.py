"""xieshang benchmarks: ``make bench`` (not part of ``make test``).

Every ratio is measured in one run, on one machine, with the two sides interleaved:

a. per-situation evaluation against a minimal driver that runs the same compiled rulesets through
   ``durable_rules_engine`` with no-op actions (xieshang's own overhead; target ≤ 1.3×);
b. against a hand-written Python function for a fixed subset of the rules (the distance to the
   limit);
c. CLI cold start of ``xieshang advise EXAMPLE`` against ``python -c pass`` and
   ``python -c "import typer, jsonschema, yaml"``;
d. batch throughput with 1 and 2 workers;
e. load time and time per situation for generated packs of 100 → 10,000 rules; memory over
   10,000 evaluations.

Writes bench/RESULTS.md. Options: ``--quick`` (fewer repetitions, no 10,000-rule pack).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import durable_rules_engine as E  # noqa: E402

from engine.api import RuleSet, evaluate, load_rules  # noqa: E402
from engine.batch import Options, advise_line  # noqa: E402
from engine.core.errors import RuleLoadError  # noqa: E402
from engine.run.memory import Memory  # noqa: E402
from engine.pack.model import Derive  # noqa: E402
from engine.run.reference import reference_run  # noqa: E402
from engine.run.driver import _Driver, run  # noqa: E402
from engine.load.situation import normalise  # noqa: E402
from tests.packgen import (  # noqa: E402
    generate_pack,
    matching_situation,
    write_feature_pack,
    write_pack,
)

TODAY = datetime.date(2026, 11, 28)
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "RESULTS.md"
RUN = "xieshang run() (engine driving only)"
EVALUATE = "xieshang evaluate(validated=True)"


# --- situations ---------------------------------------------------------------------------------


def sample_situations(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Varied, valid situations: 1–3 loans, fields dropped and values changed at random."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sit = matching_situation(rng.choice([1, 1, 2, 3]))
        sit["locale"] = rng.choice(["en", "zh-CN"])
        sit["borrower"]["distress"] = rng.random() < 0.2
        sit["borrower"]["monthly_income"] = rng.choice([0, 3000, 6000, 12000.5])
        sit["contact"]["contacted_lender"] = rng.random() < 0.5
        if rng.random() < 0.3:
            del sit["borrower"]["monthly_essential_expenses"]
        for loan in sit["loans"]:
            loan["days_overdue"] = rng.choice([0, 3, 18, 45, 120])
            loan["overdue_amount"] = rng.choice([0, 800, 2100, 60000])
            loan["status"]["legal"] = rng.choice(["none", "none", "lawsuit_notice"])
            if rng.random() < 0.3:
                del loan["days_overdue"]
                loan["first_missed_due_date"] = "2026-10-01"
        out.append(sit)
    return out


# --- (a) the minimal driver ---------------------------------------------------------------------


class Capture(_Driver):
    """xieshang's driver, recording what it asserts: level batches and each action's output."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.levels: list[dict[int, list[str]]] = []
        self.derived: dict[tuple[int, str, str | None], list[tuple[int, str]]] = {}

    def run_level(self, level: int, batches: dict[int, list[str]]) -> None:
        self.levels.append({k: list(v) for k, v in batches.items()})
        super().run_level(level, batches)

    def on_action(self, shard: int, name: str, message: str) -> list[tuple[int, str]]:
        out = super().on_action(shard, name, message)
        alias = self.compiled.shards[shard].names[name][1]
        loan = json.loads(message)[name][alias]["l"] if alias else None
        self.derived[(shard, name, loan)] = out
        return out


def capture(ruleset: RuleSet, normal: dict[str, Any]) -> Capture:
    driver = Capture(ruleset.runtime, Memory.from_situation(normal), None)
    driver.run()
    return driver


class Minimal:
    """The same compiled rulesets, driven directly: assert, drain with no-op actions, delete.

    Derive rules assert their precomputed derived facts (so chaining happens as in xieshang);
    every other action does nothing, and no payload is parsed except a per-loan derive rule's
    (to find its loan).
    """

    def __init__(self, ruleset: RuleSet) -> None:
        compiled = ruleset.compiled
        self.handles = [
            E.create_ruleset(f"minimal{i}", s.definition) for i, s in enumerate(compiled.shards)
        ]
        self.late = {s.index for s in compiled.shards if s.late}
        self.derive: dict[tuple[int, str], str | None] = {}
        for shard in compiled.shards:
            for name, (index, alias) in shard.names.items():
                if isinstance(compiled.rules[index].rule.then, Derive):
                    self.derive[(shard.index, name)] = alias
        self.count = 0

    def evaluate(self, cap: Capture) -> None:
        self.count += 1
        sid = f"m{self.count}"
        handles, offsets = self.handles, {}
        prefix = '{"sid":"' + sid + '",'

        def put(shard: int, facts: list[str]) -> None:
            payload = "[" + ",".join(prefix + f[1:] for f in facts) + "]"
            offsets[shard] = E.assert_facts(handles[shard], payload)[1]

        def drain(shard: int) -> set[int]:
            touched: set[int] = set()
            handle, offset = handles[shard], offsets[shard]
            result = E.start_action_for_state(handle, offset)
            message = result[1] if result else None
            while message:
                name = message[2 : message.index('"', 2)]
                if (shard, name) in self.derive:
                    alias = self.derive[(shard, name)]
                    loan = json.loads(message)[name][alias]["l"] if alias else None
                    for target, fact in cap.derived[(shard, name, loan)]:
                        put(target, [fact])
                        touched.add(target)
                message = E.complete_and_start_action(handle, offset)
            touched.discard(shard)
            return touched

        for level, batches in enumerate(cap.levels):
            for shard, facts in sorted(batches.items()):
                put(shard, facts)
            pending = set(batches)
            while pending:
                shard = min(pending)
                pending.discard(shard)
                pending |= drain(shard)
            if level == 0:
                for shard in [s for s in offsets if s not in self.late]:
                    E.delete_state(handles[shard], sid)
                    del offsets[shard]
        for shard in offsets:
            E.delete_state(handles[shard], sid)


# --- (b) a hand-written function for a subset of the rules --------------------------------------

SUBSET_RULES = """\
rules:
  - id: derive_days
    title: {en: days, zh-CN: 天数}
    source: guide §1.2
    about: loan
    derive:
      fact: loan.days
      value: coalesce(loan.days_overdue, max(days_between(loan.first_missed_due_date, as_of), 0))
      unit: days
  - id: derive_total_overdue
    title: {en: total, zh-CN: 合计}
    source: guide §2.1
    derive:
      fact: total_overdue
      value: sum_loans(coalesce(loan.overdue_amount, 0))
      unit: money
  - id: derive_disposable
    title: {en: disposable, zh-CN: 可支配}
    source: guide §5.1
    derive:
      fact: disposable_income
      value: borrower.monthly_income - borrower.monthly_essential_expenses
      unit: money
  - id: crisis
    title: {en: crisis, zh-CN: 危机}
    source: brief 7.7
    when: {fact: borrower.distress, op: "==", value: true}
    recommend: {action: crisis_support, priority: 1000, urgency: immediate,
                title: {en: t, zh-CN: t}, message: {en: m, zh-CN: m}}
  - id: contact
    title: {en: contact, zh-CN: 联系}
    source: guide §2.2
    about: loan
    when:
      all:
        - {fact: loan.days, op: ">", value: 0}
        - any:
            - {fact: contact.contacted_lender, op: "==", value: false}
            - {fact: contact.contacted_lender, op: unknown}
    recommend: {action: contact_lender, priority: 70, urgency: immediate,
                title: {en: t, zh-CN: t}, message: {en: "{loan.id} {loan.days}", zh-CN: m}}
  - id: budget
    title: {en: budget, zh-CN: 预算}
    source: guide §2.1
    when:
      all:
        - {fact: disposable_income, op: known}
        - {fact: total_overdue, op: ">", value: 0}
    recommend: {action: build_budget, priority: 50, urgency: this_week,
                title: {en: t, zh-CN: t}, message: {en: "{disposable_income}", zh-CN: m}}
"""


def handwritten(sit: dict[str, Any]) -> set[tuple[str, str | None]]:
    """The subset's rules as plain Python (three-valued logic by hand): (rule, loan) fired."""
    fired: set[tuple[str, str | None]] = set()
    as_of = datetime.date.fromisoformat(sit["as_of"])
    days: dict[str, int | None] = {}
    total = 0.0
    for loan in sit["loans"]:
        d = loan.get("days_overdue")
        if d is None and loan.get("first_missed_due_date") is not None:
            missed = datetime.date.fromisoformat(loan["first_missed_due_date"])
            d = max((as_of - missed).days, 0)
        days[loan["id"]] = d
        if d is not None:
            fired.add(("derive_days", loan["id"]))
        total += loan.get("overdue_amount") or 0
    fired.add(("derive_total_overdue", None))
    borrower = sit.get("borrower", {})
    income = borrower.get("monthly_income")
    expenses = borrower.get("monthly_essential_expenses")
    disposable = None if income is None or expenses is None else income - expenses
    fired.add(("derive_disposable", None))
    if borrower.get("distress") is True:
        fired.add(("crisis", None))
    contacted = sit.get("contact", {}).get("contacted_lender")
    for loan_id, d in days.items():
        if d is not None and d > 0 and contacted is not True:
            fired.add(("contact", loan_id))
    if disposable is not None and round(total, 2) > 0:
        fired.add(("budget", None))
    return fired


# --- measuring ----------------------------------------------------------------------------------


def per_call(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(
    variants: dict[str, Callable[[dict[str, Any]], object]],
    items: list[Any],
    repeat: int,
) -> dict[str, float]:
    """µs per item for each variant: per item the median of ``repeat`` runs, summed over items.

    The variants run one after another for each item, so load changes on the machine hit all
    of them alike.
    """
    totals = dict.fromkeys(variants, 0.0)
    for item in items:
        for name, fn in variants.items():
            totals[name] += per_call(lambda fn=fn, item=item: fn(item), repeat)
    return {name: total / len(items) * 1e6 for name, total in totals.items()}


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def command_median(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- the sections -------------------------------------------------------------------------------


def default_or_feature_pack(work: Path) -> tuple[RuleSet, str, list[str]]:
    """The built-in pack; the feature pack of tests/packgen.py when the built-in one is broken."""
    try:
        return load_rules(), "built-in pack `rules/jiebei`", []
    except RuleLoadError as exc:
        root = write_feature_pack(work / "features")
        errors = len(exc.errors)
        note = f"the feature pack of tests/packgen.py (the built-in pack had {errors} errors)"
        return load_rules([root]), note, ["--rules", str(root)]


def section_a(ruleset: RuleSet, situations: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    normals = [normalise(s, TODAY) for s in situations]
    for normal in normals:  # the two evaluations agree; the capture replays xieshang's run
        assert (
            run(ruleset.runtime, normal).firings == reference_run(ruleset.compiled, normal).firings
        )
    minimal = Minimal(ruleset)
    captures = {id(n): capture(ruleset, n) for n in normals}
    data = {
        id(n): json.dumps(s, ensure_ascii=False).encode()
        for n, s in zip(normals, situations, strict=True)
    }
    options = Options()
    gc.collect()
    us = interleaved(
        {
            "minimal driver (durable_rules_engine, no-op actions)": lambda n: minimal.evaluate(
                captures[id(n)]
            ),
            RUN: lambda n: run(ruleset.runtime, n),
            EVALUATE: lambda n: evaluate(ruleset, n, today=TODAY, validated=True),
            "evaluate + to_advice()": lambda n: evaluate(
                ruleset, n, today=TODAY, validated=True
            ).to_advice(),
            "batch line: bytes → validate → evaluate → advice JSON": lambda n: advise_line(
                ruleset, (1, data[id(n)]), options
            ),
        },
        normals,
        repeat,
    )
    return us


def section_b(work: Path, situations: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    root = write_pack(work / "subset", SUBSET_RULES, name="subset")
    ruleset = load_rules([root])
    normals = [normalise(s, TODAY) for s in situations]
    for normal in normals:
        fired = {
            (ruleset.compiled.rules[f.rule_index].rule.id, f.loan_id)
            for f in run(ruleset.runtime, normal).firings
        }
        assert fired == handwritten(normal), (fired ^ handwritten(normal), normal)
    minimal = Minimal(ruleset)
    captures = {id(n): capture(ruleset, n) for n in normals}
    return interleaved(
        {
            "hand-written Python function": handwritten,
            "minimal driver": lambda n: minimal.evaluate(captures[id(n)]),
            "xieshang run()": lambda n: run(ruleset.runtime, n),
            "xieshang evaluate(validated=True)": lambda n: evaluate(
                ruleset, n, today=TODAY, validated=True
            ),
        },
        normals,
        repeat,
    )


def section_c(example: Path, rules_args: list[str], repeat: int) -> dict[str, float]:
    python = str(BIN / "python")
    xieshang = str(BIN / "xieshang")
    cache = tempfile.mkdtemp(prefix="xieshang-bench-cache-")
    env_cached = {**os.environ, "XDG_CACHE_HOME": cache}
    env_nocache = {**os.environ, "XIESHANG_NO_CACHE": "1"}
    advise = [xieshang, "advise", str(example), "--format", "json", *rules_args]
    subprocess.run(advise, check=True, stdout=subprocess.DEVNULL, env=env_cached)  # fill it
    result = {
        "python -c pass": command_median([python, "-c", "pass"], repeat),
        'python -c "import typer, jsonschema, yaml"': command_median(
            [python, "-c", "import typer, jsonschema, yaml"], repeat
        ),
        "xieshang --help": command_median([xieshang, "--help"], repeat),
        "xieshang advise (compiled pack cached on disk)": command_median(
            advise, repeat, env_cached
        ),
        "xieshang advise (XIESHANG_NO_CACHE=1)": command_median(advise, repeat, env_nocache),
    }
    shutil.rmtree(cache, ignore_errors=True)
    return result


def section_d(
    work: Path, situations: list[dict[str, Any]], rules_args: list[str], lines: int
) -> dict[int, tuple[float, float]]:
    source = work / "batch.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(json.dumps(situations[i % len(situations)], ensure_ascii=False) + "\n")
    result = {}
    for workers in (1, 2):
        argv = [str(BIN / "xieshang"), "batch", str(source), "-o", str(work / "out.jsonl")]
        argv += ["--workers", str(workers), *rules_args]
        start = time.perf_counter()
        subprocess.run(argv, check=True, stderr=subprocess.DEVNULL, cwd=ROOT)
        wall = time.perf_counter() - start
        result[workers] = (wall, lines / wall)
    return result


def section_e(work: Path, sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        root = work / f"gen{n}"
        matches = generate_pack(root, n)
        env = os.environ.get("XIESHANG_NO_CACHE")
        os.environ["XIESHANG_NO_CACHE"] = "1"
        start = time.perf_counter()
        ruleset = load_rules([root])
        load = time.perf_counter() - start
        if env is None:
            del os.environ["XIESHANG_NO_CACHE"]
        else:
            os.environ["XIESHANG_NO_CACHE"] = env
        normal = normalise(matching_situation(1), TODAY)
        first = run(ruleset.runtime, normal)
        assert first.firings == reference_run(ruleset.compiled, normal).firings
        assert {f.rule_index for f in first.firings} == {i for i, m in enumerate(matches) if m}
        runtime, fifty = ruleset.runtime, normalise(matching_situation(50), TODAY)
        per = per_call(lambda: run(runtime, normal), repeat)  # noqa: B023 - called right here
        full = per_call(
            lambda: evaluate(ruleset, normal, today=TODAY).to_advice(),  # noqa: B023
            repeat,
        )
        per50 = per_call(lambda: run(runtime, fifty), max(3, repeat // 5))  # noqa: B023
        rows.append(
            {
                "rules": n,
                "shards": len(ruleset.compiled.shards),
                "fired": len(first.firings),
                "load_s": load,
                "run_ms": per * 1e3,
                "advice_ms": full * 1e3,
                "run50_ms": per50 * 1e3,
            }
        )
        print(f"  {rows[-1]}", flush=True)
        ruleset.runtime.close()
    return rows


def section_memory(ruleset: RuleSet, situations: list[dict[str, Any]], count: int) -> list[int]:
    for i in range(500):
        evaluate(ruleset, situations[i % len(situations)], today=TODAY).to_advice()
    gc.collect()
    marks = [rss_kb()]
    step = count // 5
    for i in range(count):
        evaluate(ruleset, situations[i % len(situations)], today=TODAY).to_advice()
        if (i + 1) % step == 0:
            marks.append(rss_kb())
    return marks


# --- report -------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()
    return [
        f"- uname: `{' '.join(platform.uname())}`",
        f"- CPU: {cpu}, {os.cpu_count()} logical CPUs",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- load average when the run started: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        "- PYTHONDONTWRITEBYTECODE="
        f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')}"
        " (when set, start-up compiles every module again, so (c) is slower than with .pyc files)",
    ]


def table(rows: dict[str, float], base: str, unit: str = "µs") -> list[str]:
    out = [f"| variant | {unit} per situation | ratio to {base} |", "|---|---:|---:|"]
    out += [
        f"| {name} | {value:,.1f} | {value / rows[base]:.2f}× |" for name, value in rows.items()
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, small packs")
    args = parser.parse_args()
    quick = args.quick
    repeat = 5 if quick else 15
    report = ["# xieshang benchmarks", "", "Written by `make bench` (`bench/run.py`).", ""]
    report += ["## Machine", "", *machine(), ""]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xieshang-bench-") as tmp:
        work = Path(tmp)
        ruleset, pack_name, rules_args = default_or_feature_pack(work)
        situations = sample_situations(40 if quick else 100)
        print(f"pack: {pack_name}, {len(ruleset.pack.rules)} rules", flush=True)

        print("(a) overhead against a minimal durable_rules driver", flush=True)
        a = section_a(ruleset, situations, repeat)
        base = "minimal driver (durable_rules_engine, no-op actions)"
        report += [
            "## (a) xieshang against a minimal durable_rules driver",
            "",
            f"Pack: {pack_name} ({len(ruleset.pack.rules)} rules,"
            f" {len(ruleset.compiled.shards)} engine ruleset(s)); {len(situations)} varied"
            f" situations (1–3 loans), per situation the median of {repeat} runs, averaged."
            " The minimal driver creates its own rulesets from the same compiled shard"
            " definitions, asserts the same encoded facts (captured from xieshang's driver),"
            " drains with no-op actions (derive rules assert their precomputed derived facts,"
            " so chaining happens), closes shards as xieshang does and deletes the states.",
            "",
            *table(a, base),
            "",
            f"**Overhead (target ≤ 1.3×): `run()` {a[RUN] / a[base]:.2f}×,"
            f" `evaluate()` {a[EVALUATE] / a[base]:.2f}×.**",
            "",
        ]
        print("\n".join(table(a, base)), flush=True)

        print("(b) against a hand-written function", flush=True)
        b = section_b(work, situations, repeat)
        report += [
            "## (b) against a hand-written Python function",
            "",
            "Six rules (three derivations incl. a per-loan one and an aggregate, three"
            " recommendations incl. per-loan and three-valued `unknown`), as a pack and as a"
            " hand-written function; both give the same firings on every situation (checked).",
            "",
            *table(b, "hand-written Python function"),
            "",
        ]
        print("\n".join(table(b, "hand-written Python function")), flush=True)

        print("(c) CLI cold start", flush=True)
        example = ROOT / "examples" / "first-late-payment.json"
        if not example.exists():
            example = ROOT / "tests" / "fixtures" / "situations" / "spec_example.json"
        c = section_c(example, rules_args, 5 if quick else 11)
        base_c = "python -c pass"
        report += [
            "## (c) CLI cold start",
            "",
            f"`xieshang advise {example.relative_to(ROOT)} --format json"
            f"{' --rules <feature pack>' if rules_args else ''}`, wall time, median of"
            f" {5 if quick else 11} runs.",
            "",
            "| command | ms | ratio to `python -c pass` |",
            "|---|---:|---:|",
            *(f"| `{k}` | {v * 1e3:.0f} | {v / c[base_c]:.1f}× |" for k, v in c.items()),
            "",
        ]
        print(c, flush=True)

        print("(d) batch throughput", flush=True)
        lines = 1000 if quick else 5000
        d = section_d(work, situations, rules_args, lines)
        report += [
            "## (d) batch throughput",
            "",
            f"`xieshang batch IN.jsonl -o OUT.jsonl --workers N`, {lines} lines, wall time"
            " including start-up.",
            "",
            "| workers | wall s | situations/s |",
            "|---:|---:|---:|",
            *(f"| {w} | {wall:.2f} | {rate:,.0f} |" for w, (wall, rate) in d.items()),
            "",
            f"Speed-up with 2 workers: {d[1][0] / d[2][0]:.2f}× (2 cores; other load on the"
            " machine shows up here first).",
            "",
        ]
        print(d, flush=True)

        print("(e) scaling with the number of rules", flush=True)
        sizes = [100, 1000] if quick else [100, 1000, 10000]
        e = section_e(work, sizes, 5 if quick else 15)
        report += [
            "## (e) generated packs: 100 → 10,000 rules",
            "",
            "`tests/packgen.py`: one in five rules matches the situation; load without the"
            " disk cache (`XIESHANG_NO_CACHE=1`); time per situation = median; every run"
            " checked against the reference evaluator.",
            "",
            "| rules | engine rulesets | firings (1 loan) | load s | run() ms | evaluate +"
            " advice ms | run() ms, 50 loans |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {r['rules']:,} | {r['shards']} | {r['fired']} | {r['load_s']:.2f} |"
                f" {r['run_ms']:.2f} | {r['advice_ms']:.2f} | {r['run50_ms']:.1f} |"
                for r in e
            ),
            "",
        ]

        count = 2000 if quick else 10000
        print(f"memory over {count} evaluations", flush=True)
        marks = section_memory(ruleset, situations, count)
        report += [
            f"## Memory over {count:,} evaluations in one process",
            "",
            f"VmRSS after 500 warm-up evaluations, then every {count // 5:,}: "
            + " → ".join(f"{m / 1024:.1f} MB" for m in marks)
            + f" (growth {(marks[-1] - marks[0]) / 1024:+.1f} MB).",
            "",
        ]
        print(marks, flush=True)

    report += [
        "## Commands",
        "",
        "```",
        "make bench        # = .venv/bin/python bench/run.py",
        ".venv/bin/python bench/run.py --quick   # fewer repetitions, packs up to 1,000 rules",
        "```",
        "",
        f"Total bench time: {time.perf_counter() - started:.0f} s.",
        "",
    ]
    kept = RESULTS.read_text("utf-8") if RESULTS.exists() else ""
    # the sections of other scripts (bench/distributed.py, bench/load_time.py, the peer
    # benchmark ...) are kept
    markers = ("<!-- bench/", "<!-- peer benchmark", "<!-- make bench-peers")
    starts = [kept.index(marker) for marker in markers if marker in kept]
    if starts:
        report.append("\n" + kept[min(starts) :].rstrip("\n") + "\n")
    RESULTS.write_text("\n".join(report), encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
