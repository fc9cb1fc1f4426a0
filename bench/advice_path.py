"""The full advice path, piece by piece (issue 14, item 4: "pay only for what is read").

Per situation, median of ``--repeat`` rounds, CPU time of this process (``time.process_time``,
steadier than wall time on a shared machine):

* ``validate``: ``engine.load.situation.validate_situation`` on a valid situation;
* ``rank``: ``engine.rank.ranking.rank`` over an evaluation's firings (the engine run not repeated);
* ``rank + to_advice``: the same, then the advice document made from it;
* ``evaluate``: ``engine.evaluate(validated=True)`` (run and ranking);
* ``evaluate, validating``: ``engine.evaluate`` validating the situation itself;
* ``evaluate + to_advice``: the JSON document as ``advise --format json`` makes it.

On the built-in pack with the ten situations of ``examples/``, and on a generated pack of 200
rules (``tests/packgen.py``) with its matching situation.

    .venv/bin/python bench/advice_path.py [--repeat N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.api import RuleSet, evaluate, load_rules  # noqa: E402
from engine.decision import Decision  # noqa: E402
from engine.rank.ranking import rank  # noqa: E402
from engine.load.situation import validate_situation  # noqa: E402
from tests.packgen import generate_pack, matching_situation  # noqa: E402

TODAY = datetime.date(2026, 11, 28)


def per_situation(
    fn: Callable[[dict[str, Any]], object], situations: list[dict[str, Any]]
) -> float:
    start = time.process_time()
    for situation in situations:
        fn(situation)
    return (time.process_time() - start) / len(situations)


def measure(ruleset: RuleSet, situations: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    decisions = {id(s): evaluate(ruleset, s, today=TODAY) for s in situations}

    def ranked(situation: dict[str, Any]) -> Decision:
        done = decisions[id(situation)]
        ranking = rank(ruleset.compiled, list(done.firings), done.memory, done.locale)
        recommendations, suppressed = tuple(ranking.recommendations), tuple(ranking.suppressed)
        fields = (done.firings, done.memory, recommendations, suppressed, done.trace)
        return Decision(ruleset, done.situation, done.locale, *fields)

    pieces: dict[str, Callable[[dict[str, Any]], object]] = {
        "validate": lambda s: validate_situation(s, "<situation>", today=TODAY),
        "rank": ranked,
        "rank + to_advice": lambda s: ranked(s).to_advice(),
        "evaluate": lambda s: evaluate(ruleset, s, today=TODAY, validated=True),
        "evaluate, validating": lambda s: evaluate(ruleset, s, today=TODAY),
        "evaluate + to_advice": lambda s: evaluate(
            ruleset, s, today=TODAY, validated=True
        ).to_advice(),
    }
    for fn in pieces.values():  # warm up: engine rulesets made, caches filled
        per_situation(fn, situations)
    rounds: dict[str, list[float]] = {name: [] for name in pieces}
    for _ in range(repeat):  # interleaved, so a burst of load on the machine hits every piece
        for name, fn in pieces.items():
            rounds[name].append(per_situation(fn, situations))
    return {name: statistics.median(times) for name, times in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    examples = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    results = {"built-in pack, 10 examples": measure(load_rules(), examples, args.repeat)}
    with tempfile.TemporaryDirectory() as work:
        generate_pack(Path(work), 200)
        generated = load_rules([work])
        results["generated, 200 rules"] = measure(generated, [matching_situation(1)], args.repeat)
    names = list(next(iter(results.values())))
    print("| µs per situation (CPU) | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r[name] * 1e6:,.0f}" for r in results.values()) + " |")


if __name__ == "__main__":
    main()
