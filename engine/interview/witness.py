"""Concrete witnesses: the real engine confirms that a question's answer can change the advice.

The three-valued analysis (``engine.interview.relevance``) is the cheap filter: it finds the open
inputs that *could* change the top of the advice or the plan, over-approximating (leaves taken as
independent, numbers and dates tried at sampled candidates). Before a question is offered, a
*witness* is searched with the engine itself: the partial situation as it stands, two answers to
the question (one may be "don't know"), and, when the question matters only together with another
open answer, a concrete answer to one such *partner*, such that the settled advice - the top
recommendations (action, order, loans) and the plan - differs. A question with no witness within
the bounded search below is not asked.

The search is exhaustive over the question's candidate answers alone. Jointly it answers the
question's *partners* (the open inputs whose analysis reaches the most rules in common with it):
first ``MAX_SINGLE_PARTNERS`` of them one at a time (``MAX_PARTNER_VALUES`` answers each), then
up to ``MAX_PARTNERS`` at once (``MAX_COMPLETIONS`` such completions, none started after
``MAX_JOINT_EVALUATIONS`` evaluations), trying ``MAX_JOINT_VALUES`` of the question's own
answers each time; a witness found with a completion keeps only the partners' answers it needs.
Evaluations use the compiled backend (the same advice as the Rete path, docs/architecture.md)
and are remembered for one step, so a situation tried for one question is not evaluated again
for another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.core.errors import SituationError, UsageError
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.interview.possible import thaw

#: the answers a question is tried with first, before every question's answers are all tried
QUICK_VALUES = 6
#: the partners (open questions reaching rules in common) a joint search answers at most
MAX_PARTNERS = 12
#: partners tried one at a time, each with this many of its answers
MAX_SINGLE_PARTNERS = 2
MAX_PARTNER_VALUES = 2
#: completions tried: every partner answered at once, each with another of its answers
MAX_COMPLETIONS = 4
#: the question's own answers tried in a joint search, "don't know" aside (in telling order:
#: from both ends of the candidates inwards; jointly, any two answers usually differ)
MAX_JOINT_VALUES = 6
#: evaluations after which no further completion is tried for one question
MAX_JOINT_EVALUATIONS = 60

#: what the interview settles: the top recommendations (action, loans) and the plan (as JSON)
Settled = tuple[tuple[tuple[str, tuple[str, ...]], ...], str]
#: answers added to the situation as it stands: (path, answer), sorted
Answers = tuple[tuple[str, Hashable], ...]


@dataclass(frozen=True)
class Witness:
    """Why a question is asked: two answers to it that give different advice.

    ``answers`` are the two answers (``None``: "don't know"; a list answer is a tuple), in the
    situation as it stands together with ``given`` - answers to other open questions, empty when
    the question matters alone. ``actions`` are the actions whose place in the top differs
    between the two, ``plan`` the parts of the plan that differ (``budget``, ``allocated``, a
    loan's id)."""

    answers: tuple[Hashable, Hashable]
    given: tuple[tuple[str, Hashable], ...]
    actions: tuple[str, ...]
    plan: tuple[str, ...]

    @property
    def alone(self) -> bool:
        """Whether the question's answer alone changes the advice, the others staying open."""
        return not self.given

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (docs/interview.md, "Question")."""
        return {
            "answers": [thaw(a) for a in self.answers],
            "given": [{"path": p, "value": thaw(v)} for p, v in self.given],
            "actions": list(self.actions),
            "plan": list(self.plan),
        }


def settled(decision: Decision, top: int) -> Settled:
    """The top ``top`` recommendations (action, loans) and the plan of a decision."""
    ranked = tuple((r.action, tuple(r.loan_ids)) for r in decision.recommendations[:top])
    return ranked, json.dumps(decision.plan(), sort_keys=True, ensure_ascii=False)


def differences(before: Settled, after: Settled) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The actions whose place (or loans) in the top differs, and the plan parts that differ."""
    actions: dict[str, None] = {}
    for one, other in ((before[0], after[0]), (after[0], before[0])):
        for place, entry in enumerate(one):
            if place >= len(other) or other[place] != entry:
                actions[entry[0]] = None
    plans = [json.loads(before[1]), json.loads(after[1])]
    parts: dict[str, None] = {}
    for name in ("budget", "allocated"):
        if plans[0].get(name) != plans[1].get(name):
            parts[name] = None
    loans = [{str(x.get("loan_id")): x for x in plan.get("loans", [])} for plan in plans]
    for loan_id in (*loans[0], *loans[1]):
        if loans[0].get(loan_id) != loans[1].get(loan_id):
            parts[loan_id] = None
    return tuple(actions), tuple(parts)


class Search:
    """Witnesses for the questions of one step: one partial situation, its decision."""

    def __init__(
        self,
        situation: Mapping[str, Any],
        decision: Decision,
        top: int,
        answer: Callable[[Mapping[str, Any], str, Any], Mapping[str, Any]],
        run: Callable[[Mapping[str, Any]], Decision],
    ) -> None:
        """``answer`` adds one answer to a situation (``session.apply_answer``: SituationError or
        UsageError when refused); ``run`` evaluates a checked one (the compiled backend)."""
        self.situation = situation
        self.top = top
        self.answer = answer
        self.run = run
        self.evaluations = 0  #: evaluations run (a measure of the step's cost)
        self._outcomes: dict[Answers, Settled | None] = {(): settled(decision, top)}

    def outcome(self, answers: Answers) -> Settled | None:
        """The settled advice with ``answers`` added; None when the schema refuses them."""
        if answers in self._outcomes:
            return self._outcomes[answers]
        found: Settled | None
        try:
            doc: Mapping[str, Any] = self.situation
            for path, value in answers:
                doc = self.answer(doc, path, thaw(value))
        except (SituationError, UsageError):
            found = None
        else:
            self.evaluations += 1
            found = settled(self.run(doc), self.top)
        self._outcomes[answers] = found
        return found

    def alone(
        self, path: str, values: Sequence[Hashable], first: int | None = None
    ) -> Witness | None:
        """Two answers to ``path`` alone that give different advice, if any (among the
        ``first`` answers only, when given)."""
        return self._vary(path, values[:first] if first is not None else values, ())

    def joint(
        self,
        path: str,
        values: Sequence[Hashable],
        partners: Sequence[tuple[str, Sequence[Hashable]]],
    ) -> Witness | None:
        """Two answers to ``path`` that give different advice once other open questions are
        answered: first one partner at a time, then every partner at once (each with one of its
        answers, several such *completions*), the answers a witness needs kept and the others
        dropped one by one."""
        tried = [v for v in values if v is not UNKNOWN][:MAX_JOINT_VALUES]
        known = [(p, [a for a in answers if a is not UNKNOWN]) for p, answers in partners]
        known = [(p, answers) for p, answers in known if answers][:MAX_PARTNERS]
        start = self.evaluations
        for partner, answers in known[:MAX_SINGLE_PARTNERS]:
            for value in answers[:MAX_PARTNER_VALUES]:
                found = self._vary(path, tried, ((partner, value),))
                if found is not None:
                    return found
        if len(known) < 2:
            return None
        for seed in range(MAX_COMPLETIONS):
            if self.evaluations - start >= MAX_JOINT_EVALUATIONS:
                return None
            given = _sorted(
                (p, answers[(seed * (index + 1)) % len(answers)])
                for index, (p, answers) in enumerate(known)
            )
            found = self._vary(path, tried, given)
            if found is not None:
                return self._shrink(path, found, [p for p, _ in reversed(known)])
        return None

    def _shrink(self, path: str, found: Witness, order: Sequence[str]) -> Witness:
        """The witness with the partners' answers it does not need dropped, in ``order``."""
        value = found.answers[1]
        given = found.given
        for partner in order:
            fewer = tuple(item for item in given if item[0] != partner)
            base = self.outcome(fewer)
            got = self.outcome(_sorted((*fewer, (path, value))))
            if base is not None and got is not None and base != got:
                given = fewer
        if given == found.given:
            return found
        base, got = self.outcome(given), self.outcome(_sorted((*given, (path, value))))
        assert base is not None and got is not None
        actions, plan = differences(base, got)
        return Witness((None, value), given, actions, plan)

    def _vary(
        self,
        path: str,
        values: Sequence[Hashable],
        given: Answers,
    ) -> Witness | None:
        base = self.outcome(given)
        if base is None:
            return None
        for value in values:
            if value is UNKNOWN:
                continue
            got = self.outcome(_sorted((*given, (path, value))))
            if got is not None and got != base:
                actions, plan = differences(base, got)
                return Witness((None, value), given, actions, plan)
        return None


def _sorted(answers: Iterable[tuple[str, Hashable]]) -> Answers:
    return tuple(sorted(answers, key=lambda item: item[0]))
