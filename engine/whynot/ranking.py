"""Why and why not, comparing: why one action ranks above another (``compare``), term by term.

The two actions' score breakdowns side by side, and the one thing that decides their order:
one is not recommended, the scores differ, the action catalogue order breaks a tie, or (at the
same catalogue position) the primary rule id does.
"""

from __future__ import annotations

from typing import Any

from engine.errors import UsageError, did_you_mean
from engine.whynot.proofs import _action_state, _header
from engine.whynot.subject import DecisionView


def compare(decision: DecisionView, first: str, second: str) -> dict[str, Any]:
    """Why ``first`` ranks above (or below) ``second``, term by term."""
    for code in (first, second):
        if code not in decision.ruleset.pack.actions:
            hint = did_you_mean(code, decision.ruleset.pack.actions)
            message = f"'{code}' is not an action code"
            raise UsageError(f"{message}; {hint}" if hint else message)
    a, b = _action_state(decision, first), _action_state(decision, second)
    doc = _header(decision)
    doc["target"] = {"kind": "compare", "id": f"{first} {second}"}
    terms = []
    for term in ("priority", "adjustment"):
        ta = [t for t in a["score_breakdown"] if t["term"] == term]
        tb = [t for t in b["score_breakdown"] if t["term"] == term]
        for i in range(max(len(ta), len(tb))):
            terms.append(
                {
                    "term": term,
                    "a": ta[i] if i < len(ta) else None,
                    "b": tb[i] if i < len(tb) else None,
                }
            )
    higher, decided_by, sentence = _verdict(a, b)
    doc["compare"] = {
        "a": a,
        "b": b,
        "terms": terms,
        "higher": higher,
        "decided_by": decided_by,
        "summary": sentence,
    }
    return doc


def _verdict(a: dict[str, Any], b: dict[str, Any]) -> tuple[str | None, str, str]:
    name_a, name_b = a["action"], b["action"]
    if a["rank"] is None or b["rank"] is None:
        if a["rank"] is None and b["rank"] is None:
            return None, "not_recommended", f"neither {name_a} nor {name_b} is recommended"
        shown, missing = (a, b) if b["rank"] is None else (b, a)
        return (
            shown["action"],
            "not_recommended",
            f"{shown['action']} is recommended (rank {shown['rank']}); {missing['action']} is"
            f" {missing['status'].replace('_', ' ')}",
        )
    first, second = (a, b) if a["rank"] < b["rank"] else (b, a)
    if first["score"] != second["score"]:
        diff = first["score"] - second["score"]
        return (
            first["action"],
            "score",
            f"{first['action']} (rank {first['rank']}) ranks above {second['action']}"
            f" (rank {second['rank']}): its score {first['score']} is {diff} more than"
            f" {second['score']}",
        )
    if first["catalogue_position"] != second["catalogue_position"]:
        return (
            first["action"],
            "catalogue_order",
            f"both score {first['score']}; the tie is broken by the action catalogue order"
            f" (SPEC §3): {first['action']} is #{first['catalogue_position']},"
            f" {second['action']} #{second['catalogue_position']}",
        )
    return (
        first["action"],
        "rule_id",
        f"both score {first['score']} at the same catalogue position; the tie is broken by"
        " the primary rule id",
    )
