"""``Decision``: one evaluation's outcome, and the advice document made from it (SPEC §4).

Made by ``engine.evaluate`` (the façade re-exports the class); read by rendering, explanation
(through ``engine.whynot.subject.DecisionView``) and the audit tools.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from engine.core.collector import pause, resume
from engine.core.errors import UsageError
from engine.core.values import UNKNOWN
from engine.load.situation import situation_digest
from engine.rank.conditions import ConditionResults, RuleResult
from engine.rank.plan import build_plan
from engine.rank.ranking import Recommendation, ScoreTerm, Suppression, rank
from engine.rank.table import pack_table
from engine.run.driver import RunResult
from engine.run.memory import Firing, Memory
from engine.run.ruleset import RuleSet
from engine.version import __version__
from engine.whynot.nearmiss import near_misses as find_near_misses


class RunTrace(Sequence[dict[str, Any]]):
    """An evaluation's trace (``RunResult.trace``), made when first read: only ``--trace``
    shows it, and making it costs as much as the compiled backend's run."""

    __slots__ = ("_events", "_result")

    def __init__(self, result: RunResult) -> None:
        self._result: RunResult | None = result
        self._events: tuple[dict[str, Any], ...] = ()

    def _made(self) -> tuple[dict[str, Any], ...]:
        result = self._result
        if result is not None:
            self._events = tuple(result.trace)
            self._result = None
        return self._events

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return self._made()[index]

    def __len__(self) -> int:
        return len(self._made())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._made())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return self._made() == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._made())


@dataclass(frozen=True)
class Decision:
    """One evaluation's outcome: ranked recommendations and all that is needed to explain them."""

    ruleset: RuleSet
    situation: Mapping[str, Any]  #: normalised (as_of and locale filled in)
    locale: str
    firings: tuple[Firing, ...]
    memory: Memory
    recommendations: tuple[Recommendation, ...]
    suppressed: tuple[Suppression, ...]
    #: what the engine did, in order (``engine.run.driver``); ``evaluate`` gives a
    #: :class:`RunTrace`, made when first read
    trace: Sequence[dict[str, Any]] = ()
    #: each rule binding's condition tree, evaluated once when first read and shared by the
    #: reasons, explanations, near misses and coverage (the ranking's); a decision made without
    #: one makes its own
    condition_results: ConditionResults | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.condition_results is None:
            made = ConditionResults(self.ruleset.compiled, self.memory)
            object.__setattr__(self, "condition_results", made)

    def condition_result(self, rule_index: int, loan: str | None) -> RuleResult:
        """Rule number ``rule_index``'s conditions for one binding (``loan`` None: the
        situation), each node with its three-valued result (made once, when first asked for)."""
        assert self.condition_results is not None  # __post_init__
        return self.condition_results.get(rule_index, loan)

    def in_locale(self, locale: str) -> Decision:
        """This decision in another of its pack's locales, without evaluating again.

        What is recommended, the scores and the order read no text (``engine.rank.ranking``); only
        the titles, messages and reasons are filled from the rules' templates, here from the
        same firings and working memory in ``locale``. Byte-identical to evaluating the
        situation with ``locale=`` (``tests/test_locales.py``).
        """
        if locale == self.locale:
            return self
        if locale not in self.ruleset.pack.locales:
            allowed = ", ".join(repr(name) for name in self.ruleset.pack.locales)
            raise UsageError(f"unknown locale {locale!r}: expected one of {allowed}")
        ranking = rank(self.ruleset.compiled, list(self.firings), self.memory, locale)
        return dataclasses.replace(
            self,
            locale=locale,
            recommendations=tuple(ranking.recommendations),
            suppressed=tuple(ranking.suppressed),
        )

    def fired_rules(self) -> list[str]:
        rules = self.ruleset.compiled.rules
        return list(dict.fromkeys(rules[f.rule_index].rule.id for f in self.firings))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in pack_table(self.ruleset.compiled).summary:  # in the pack's rule order
            value = self.memory.get(name, None)
            out[name] = None if value is UNKNOWN else value
        return out

    def plan(self) -> dict[str, Any]:
        """The advice's ``plan`` (SPEC §7.2), from the facts the pack's ``plan:`` names."""
        return build_plan(self.ruleset.compiled, self.memory, self.locale)

    def derived(self) -> dict[str, Any]:
        situation: dict[str, Any] = {}
        loans: dict[str, dict[str, Any]] = {}
        get, made = self.memory.get, self.memory.derivations
        for key in sorted(made, key=_by_fact_then_loan):
            fact, loan = key
            derivations = made[key]
            value = get(fact, loan)
            if len(derivations) == 1:  # derived once: by that rule, whatever the value
                rules = [derivations[0][0]]
            else:  # the rules that derived the value kept, else every rule that tried
                chosen = [r for r, v in derivations if v == value] or [r for r, _ in derivations]
                rules = list(dict.fromkeys(chosen))
            entry = {"value": None if value is UNKNOWN else value, "rules": rules}
            if loan is None:
                situation[fact] = entry
            else:
                loans.setdefault(loan, {})[fact] = entry
        ordered = {lid: loans[lid] for lid in self.memory.loans if lid in loans}
        return {"situation": situation, "loans": ordered}

    def to_advice(
        self, top: int | None = None, trace: bool = False, near_misses: bool = False
    ) -> dict[str, Any]:
        """The advice document of SPEC §4 (valid against schemas/advice.schema.json).

        ``near_misses`` adds the actions one condition short (``engine.whynot.near_misses``).
        """
        pause()  # many objects, no garbage cycles (``engine.core.collector``)
        try:
            return self._advice(top, trace, near_misses)
        finally:
            resume()

    def _advice(self, top: int | None, trace: bool, near_misses: bool) -> dict[str, Any]:
        recs = self.recommendations[:top] if top else self.recommendations
        advice = {
            "schema_version": 1,
            "engine": {"name": "xieshang", "version": __version__},
            "ruleset": {
                "name": self.ruleset.name,
                "version": self.ruleset.version,
                "digest": self.ruleset.digest,
            },
            "situation_digest": situation_digest(dict(self.situation)),
            "as_of": self.situation["as_of"],
            "locale": self.locale,
            "summary": self.summary(),
            "plan": self.plan(),
            "recommendations": [recommendation_dict(r) for r in recs],
            "suppressed": [
                {
                    "action": s.action,
                    "rule_id": s.rule_id,
                    "reason": s.reason,
                    "location": s.location,
                }
                for s in self.suppressed
            ],
            "derived": self.derived(),
        }
        if near_misses:
            advice["near_misses"] = [item.as_dict() for item in find_near_misses(self)]
        if trace:
            advice["trace"] = list(self.trace)
        return advice


def _by_fact_then_loan(key: tuple[str, str | None]) -> tuple[str, str]:
    return key[0], key[1] or ""


def recommendation_dict(r: Recommendation) -> dict[str, Any]:
    return {
        "rank": r.rank,
        "action": r.action,
        "score": r.score,
        "urgency": r.urgency,
        "title": r.title,
        "message": r.message,
        "loan_ids": list(r.loan_ids),
        "score_breakdown": _term_dicts(r.score_breakdown),
        "reasons": r.explain.documents(),
    }


def _term_dicts(terms: tuple[ScoreTerm, ...]) -> list[dict[str, Any]]:
    if len(terms) == 1:  # the priority alone (most): no comprehension to set up
        return [_term_dict(terms[0])]
    return [_term_dict(t) for t in terms]


def _term_dict(term: ScoreTerm) -> dict[str, Any]:
    made = {"term": term.term, "value": term.value, "rule_id": term.rule_id}
    if term.reason:
        made["reason"] = term.reason
    return made
