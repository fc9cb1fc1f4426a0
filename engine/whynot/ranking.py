"""Why and why not, comparing: why one action ranks above another (``compare``), term by term.

The two actions' score breakdowns side by side, and the one thing that decides their order:
one is not recommended, the scores differ, the action catalogue order breaks a tie, or (at the
same catalogue position) the primary rule id does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.core.errors import UsageError, did_you_mean
from engine.rank.ranking import ScoreTerm
from engine.whynot.proofs import (
    ActionState,
    Header,
    Target,
    _action_state,
    _header,
    score_term_dict,
)
from engine.whynot.subject import DecisionView

DecidedBy = Literal["score", "catalogue_order", "rule_id", "not_recommended"]


@dataclass(frozen=True, slots=True)
class TermPair:
    """One score term of each action, side by side (None: that action has no such term)."""

    term: Literal["priority", "adjustment"]
    a: ScoreTerm | None
    b: ScoreTerm | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "a": None if self.a is None else score_term_dict(self.a),
            "b": None if self.b is None else score_term_dict(self.b),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two actions' score breakdowns side by side and the one thing that decides their order."""

    a: ActionState
    b: ActionState
    terms: tuple[TermPair, ...]
    higher: str | None  #: the action that ranks higher (None: neither is recommended)
    decided_by: DecidedBy
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "terms": [pair.as_dict() for pair in self.terms],
            "higher": self.higher,
            "decided_by": self.decided_by,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class CompareDocument:
    """Why one action ranks above another (``schemas/explain.schema.json`` with ``compare``)."""

    header: Header
    target: Target
    compare: Comparison

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "target": self.target.as_dict(),
            "compare": self.compare.as_dict(),
        }


def compare(decision: DecisionView, first: str, second: str) -> CompareDocument:
    """Why ``first`` ranks above (or below) ``second``, term by term."""
    for code in (first, second):
        if code not in decision.ruleset.pack.actions:
            hint = did_you_mean(code, decision.ruleset.pack.actions)
            message = f"'{code}' is not an action code"
            raise UsageError(f"{message}; {hint}" if hint else message)
    a, b = _action_state(decision, first), _action_state(decision, second)
    terms = []
    for term in ("priority", "adjustment"):
        ta = [t for t in a.score_breakdown if t.term == term]
        tb = [t for t in b.score_breakdown if t.term == term]
        for i in range(max(len(ta), len(tb))):
            terms.append(
                TermPair(term, ta[i] if i < len(ta) else None, tb[i] if i < len(tb) else None)
            )
    # the verdict's words read the states as the document shows them
    higher, decided_by, sentence = _verdict(a.as_dict(), b.as_dict())
    return CompareDocument(
        _header(decision),
        Target("compare", f"{first} {second}"),
        Comparison(a, b, tuple(terms), higher, decided_by, sentence),
    )


def _verdict(a: dict[str, Any], b: dict[str, Any]) -> tuple[str | None, DecidedBy, str]:
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
