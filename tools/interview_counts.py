"""How many questions the guided interview asks, against the fields the pack reads.

For every situation of the pack's scenarios (rules/jiebei/tests/*.test.yaml and examples/*.json)
the interview is replayed from an empty start, answering from the situation's own values
(``engine.interview.replay``), and compared with a form asking every field the pack reads for
that situation (each situation field, each loan field once per loan, the loans themselves).
It also counts the asked questions by their witness: the answer alone changes the advice, or
only together with answers to other questions still open then (docs/interview.md).

    .venv/bin/python tools/interview_counts.py          # summary
    .venv/bin/python tools/interview_counts.py -v       # one line per situation
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from engine.api import load_rules
from engine.audit.testing import load_cases, test_files
from engine.interview import fields_read_for, replay
from engine.load.situation import load_situation_file

ROOT = Path(__file__).resolve().parent.parent


def situations() -> list[tuple[str, dict[str, object]]]:
    """Every distinct situation of the pack's scenarios, named, in a fixed order."""
    ruleset = load_rules()
    found: dict[str, tuple[str, dict[str, object]]] = {}
    for path in sorted((ROOT / "examples").glob("*.json")):
        found.setdefault(path.read_text(encoding="utf-8"), (path.name, load_situation_file(path)))
    cases = load_cases(test_files([ROOT / "rules" / "jiebei" / "tests"]), ruleset)
    for case in cases:
        key = json.dumps(case.situation, sort_keys=True, ensure_ascii=False)
        found.setdefault(key, (f"{case.location.short}: {case.name}", case.situation))
    return sorted(found.values(), key=lambda item: item[0])


def main() -> None:
    ruleset = load_rules()
    asked: list[int] = []
    read: list[int] = []
    ratios: list[float] = []
    alone = jointly = 0
    for name, situation in situations():
        run = replay(ruleset, situation)
        alone += sum(w.alone for w in run.witnesses)
        jointly += sum(not w.alone for w in run.witnesses)
        fields = fields_read_for(ruleset, situation)
        asked.append(len(run.asked))
        read.append(fields)
        ratios.append(len(run.asked) / fields)
        if "-v" in sys.argv:
            print(f"{len(run.asked):3} of {fields:3}  {name}")
    print(f"situations: {len(asked)}")
    print(f"questions asked: median {statistics.median(asked)}, max {max(asked)}, min {min(asked)}")
    print(
        f"fields the pack reads for the situation: median {statistics.median(read)}, max {max(read)}"
    )
    print(f"witnesses of the questions asked: {alone} alone, {jointly} with other open answers")
    print(
        f"asked / fields read for the situation: median {statistics.median(ratios):.0%},"
        f" max {max(ratios):.0%}"
    )


if __name__ == "__main__":
    main()
