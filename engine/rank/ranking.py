"""Ranking: firings → one recommendation per action, scored and explained.

Score = the highest priority among the recommending rules + every adjustment; each term is kept
in ``score_breakdown`` with its rule. Order: score descending, then the action catalogue order
(SPEC §3, then pack additions), then the primary rule id. Suppressed actions are removed and listed.

A recommendation's ``reasons`` (each recommending rule's conditions with their actual values, and
the derived facts it read) are made on first read and kept: most callers of ``evaluate`` read the
ranking, not the explanation. Their conditions are read from the evaluation's
``ConditionResults`` (engine/rank/conditions.py), which the decision's explanations share.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.compile.compiler import CompiledPack
from engine.core.operators import OPERATORS
from engine.core.safetext import one_line
from engine.core.values import UNKNOWN
from engine.load.checks import facts_read
from engine.pack.model import URGENCY_ORDER, Adjust, LocalText, Recommend, Rule, Suppress
from engine.pack.template import format_value, literal, render
from engine.rank.conditions import ConditionResults, LeafResult
from engine.rank.table import FixedTexts, PackTable, fixed_texts, pack_table
from engine.run.memory import Firing, Memory


@dataclass(frozen=True)
class DerivedUse:
    fact: str
    loan_id: str | None
    value: Any
    rule_id: str | None  #: None when no rule derived the fact (it is unknown)


@dataclass(frozen=True)
class Reason:
    rule_id: str
    title: str
    source: str
    location: str
    loan_id: str | None
    conditions: tuple[LeafResult, ...]
    derived_from: tuple[DerivedUse, ...]


@dataclass(frozen=True)
class ScoreTerm:
    term: str  #: "priority" or "adjustment"
    value: int
    rule_id: str
    reason: str = ""


@dataclass(frozen=True)
class Recommendation:
    rank: int
    action: str
    score: int
    urgency: str
    title: str
    message: str
    loan_ids: tuple[str, ...]
    score_breakdown: tuple[ScoreTerm, ...]
    #: makes :attr:`reasons`, once, when they are first read (and the advice's reasons)
    explain: Reasons = field(repr=False, compare=False)

    @functools.cached_property
    def reasons(self) -> tuple[Reason, ...]:
        """Why: one reason per firing of a recommending rule, best first (made on first read)."""
        return self.explain()


@dataclass(frozen=True)
class Suppression:
    action: str
    rule_id: str
    reason: str
    location: str


@dataclass
class Renderer:
    """Fills templates from the working memory, in one locale."""

    compiled: CompiledPack
    memory: Memory
    locale: str

    def text(self, template: LocalText, loan: str | None) -> str:
        return render(template[self.locale], lambda name: self.show(name, loan))

    def show(self, name: str, loan: str | None) -> str:
        if name.startswith("params."):
            param = self.compiled.pack.parameters[name.removeprefix("params.")]
            return format_value(param.value, param.unit or "number", self.words)
        spec = self.compiled.facts[name]
        return format_value(self.memory.get(name, loan), spec.unit, self.words)

    @property
    def words(self) -> Mapping[str, str]:
        """The engine's words in this locale (how values are written)."""
        return self.compiled.pack.words(self.locale)


@dataclass
class Ranking:
    #: each rule binding's conditions, evaluated when first read (by reasons or explanations)
    condition_results: ConditionResults
    recommendations: list[Recommendation] = field(default_factory=list)
    suppressed: list[Suppression] = field(default_factory=list)


def rank(compiled: CompiledPack, firings: list[Firing], memory: Memory, locale: str) -> Ranking:
    table = pack_table(compiled)
    renderer = Renderer(compiled, memory, locale)
    results = ConditionResults(compiled, memory)
    rules = table.rules
    recommends: dict[str, list[Firing]] = {}
    adjusts: dict[str, dict[str, Firing]] = {}
    suppresses: dict[str, dict[str, list[Firing]]] = {}
    for firing in firings:
        facts = rules[firing.rule_index]
        action = facts.recommends
        if action is not None:
            group = recommends.get(action)
            if group is None:
                recommends[action] = [firing]
            else:
                group.append(firing)
            continue
        if not facts.ranks:
            continue  # a derivation
        then = facts.then
        if isinstance(then, Adjust):
            adjusts.setdefault(then.action, {}).setdefault(facts.rule.id, firing)
        elif isinstance(then, Suppress):
            suppresses.setdefault(then.action, {}).setdefault(facts.rule.id, []).append(firing)
    ranking = Ranking(results)
    for action, by_rule in sorted(suppresses.items()):
        group = recommends.get(action, [])
        if not group:
            continue  # nothing to remove: a suppression is reported only when it removed something
        # a per-loan suppress (about: loan) removes only that loan's recommendation; a
        # situation-level one removes the whole action
        whole = any(f.loan_id is None for fs in by_rule.values() for f in fs)
        loans = {f.loan_id for fs in by_rule.values() for f in fs if f.loan_id is not None}
        recommended_for = {f.loan_id for f in group}
        for rule_id, fired in sorted(by_rule.items()):
            rule = _rule(compiled, fired[0])
            assert isinstance(rule.then, Suppress)
            for firing in sorted(fired):
                if not whole and firing.loan_id not in recommended_for:
                    continue  # this loan had no recommendation of the action
                reason = renderer.text(rule.then.reason, firing.loan_id)
                ranking.suppressed.append(Suppression(action, rule_id, reason, rule.location.short))
                if whole:
                    break  # the whole action is gone: one line per rule
        recommends[action] = [] if whole else [f for f in group if f.loan_id not in loans]
    fixed = fixed_texts(table, locale)
    built = [
        _single_fields(table, fixed, renderer, results, action, group[0])
        if len(group) == 1 and action not in adjusts
        else _recommendation_fields(table, renderer, results, action, group, adjusts.get(action))
        for action, group in recommends.items()
        if group
    ]
    order = table.action_order
    # (primary rule id, action, score, ...): score descending, catalogue order, primary rule id
    built.sort(key=lambda r: (-r[2], order[r[1]], r[0]))
    ranking.recommendations = [_recommendation(i, r) for i, r in enumerate(built, start=1)]
    return ranking


def _recommendation(rank: int, fields: _RecommendationFields) -> Recommendation:
    """``Recommendation(rank, *fields[1:])``, made without the frozen dataclass's ``__init__``,
    which sets each of the nine fields through ``object.__setattr__`` (a third of ranking an
    action); ``tests/test_pay_for_what_is_read.py`` checks both make equal objects."""
    _, action, score, urgency, title, message, loan_ids, breakdown, explain = fields
    made = object.__new__(Recommendation)
    made.__dict__.update(
        rank=rank,
        action=action,
        score=score,
        urgency=urgency,
        title=title,
        message=message,
        loan_ids=loan_ids,
        score_breakdown=breakdown,
        explain=explain,
    )
    return made


def _rule(compiled: CompiledPack, firing: Firing) -> Rule:
    return compiled.rules[firing.rule_index].rule


_RecommendationFields = tuple[
    str,
    str,
    int,
    str,
    str,
    str,
    tuple[str, ...],
    tuple[ScoreTerm, ...],
    "Reasons",
]


def _single_fields(
    table: PackTable,
    fixed: tuple[FixedTexts, ...],
    renderer: Renderer,
    results: ConditionResults,
    action: str,
    firing: Firing,
) -> _RecommendationFields:
    """:func:`_recommendation_fields` of an action one firing recommends, with no adjustment
    (most actions): its texts are often fixed (``fixed_texts``) and nothing is to be merged."""
    index = firing.rule_index
    facts = table.rules[index]
    then = facts.then
    assert isinstance(then, Recommend)
    loan = firing.loan_id
    title, message, _ = fixed[index]
    if title is None:
        title = renderer.text(then.title, loan)
    if message is None:
        message = _messages(renderer, [(then.message, loan)])
        if then.common is not None:
            message = "\n".join([message, renderer.text(then.common, None)])
    rule_id = facts.rule.id
    return (
        rule_id,
        action,
        then.priority,
        then.urgency,
        title,
        message,
        () if loan is None else (loan,),
        (_priority_term(rule_id, then.priority),),
        Reasons(table, fixed, renderer, results, (firing,)),
    )


def _recommendation_fields(
    table: PackTable,
    renderer: Renderer,
    results: ConditionResults,
    action: str,
    group: list[Firing],
    adjusts: Mapping[str, Firing] | None,
) -> _RecommendationFields:
    """The primary rule's id, then a Recommendation's fields after ``rank``: action, score,
    urgency, title, message, loan ids, score breakdown and what makes its reasons."""
    rules = table.rules
    if len(group) > 1:  # best first; (rule, loan) is unique: no ties
        group = sorted(group, key=lambda f: _order(rules[f.rule_index].then, f))
    primary = group[0]
    facts = rules[primary.rule_index]
    then = facts.then
    assert isinstance(then, Recommend)
    rule_id = facts.rule.id
    terms = [_priority_term(rule_id, then.priority)]
    if adjusts:
        for adjust_id, firing in sorted(adjusts.items(), key=lambda kv: kv[1].rule_index):
            adjust = rules[firing.rule_index].then
            assert isinstance(adjust, Adjust)
            reason = renderer.text(adjust.reason, firing.loan_id)
            terms.append(ScoreTerm("adjustment", adjust.by, adjust_id, reason))
    shown = _message_firings(group)
    thens = [_recommend(rules[f.rule_index].then) for f in shown]
    items = [(t.message, f.loan_id) for t, f in zip(thens, shown, strict=True)]
    messages = _messages(renderer, items)
    said = [renderer.text(t.common, None) for t in thens if t.common is not None]
    if said:
        messages = "\n".join([messages, *dict.fromkeys(said)])
    loans: tuple[str, ...]
    if len(group) == 1:
        urgency = then.urgency
        loans = () if primary.loan_id is None else (primary.loan_id,)
    else:
        urgency = URGENCY_ORDER[min(rules[f.rule_index].urgency for f in group)]
        by_index = {f.loan_index: f.loan_id for f in group if f.loan_id is not None}
        loans = tuple(lid for _, lid in sorted(by_index.items()) if lid is not None)
    return (
        rule_id,
        action,
        sum(t.value for t in terms),
        urgency,
        renderer.text(then.title, primary.loan_id),
        messages,
        loans,
        tuple(terms),
        Reasons(table, fixed_texts(table, renderer.locale), renderer, results, tuple(group)),
    )


def _order(then: object, firing: Firing) -> tuple[int, int, int]:
    """A recommending firing's place in its group: priority descending, then rule, then loan."""
    assert isinstance(then, Recommend)
    return (-then.priority, firing.rule_index, firing.loan_index)


def _recommend(then: object) -> Recommend:
    assert isinstance(then, Recommend)
    return then


@functools.lru_cache(maxsize=1 << 14)
def _priority_term(rule_id: str, priority: int) -> ScoreTerm:
    """The ``priority`` term of a recommending rule (immutable: one serves every ranking)."""
    return ScoreTerm("priority", priority, rule_id)


def _messages(renderer: Renderer, items: list[tuple[LocalText, str | None]]) -> str:
    """One line per distinct message; loans whose messages differ only in how the loan is named
    (its id, or the pack's plan ``name`` facts) share one line that names them all
    ("「借呗、花呗」：…"), so several loans do not repeat a paragraph."""
    markers = _loan_markers(renderer)
    if len(items) == 1:  # one line: a text without placeholders is the line itself
        template, loan = items[0]
        constant = _constant(template[renderer.locale], tuple(markers.values()))
        if constant is not None:
            return constant
    lines: dict[str, list[str]] = {}
    for template, loan in items:
        text = _with_loan_markers(renderer, template, loan, markers)
        ids = lines.setdefault(text, [])
        if loan is not None and loan not in ids:
            ids.append(loan)
    joiner = renderer.words["value.list_joiner"]
    out = []
    for text, ids in lines.items():
        for fact, marker in markers.items():
            if marker in text:
                shown = (renderer.show(fact, i) if fact != "loan.id" else i for i in ids)
                text = text.replace(marker, joiner.join(one_line(n) for n in shown))
        out.append(text)
    return "\n".join(out)


def _loan_markers(renderer: Renderer) -> dict[str, str]:
    """The facts that name a loan, each with the character that stands for it while messages
    are compared: the loan id, and the pack's plan ``name`` facts when it declares them."""
    return pack_table(renderer.compiled).loan_markers


@functools.lru_cache(maxsize=1 << 14)
def _constant(text: str, markers: tuple[str, ...]) -> str | None:
    """The message a template without placeholders always gives (``_messages`` of one item),
    or None when it has placeholders or holds a marker character."""
    line = literal(text)
    if line is None or any(marker in line for marker in markers):
        return None
    return line


def _with_loan_markers(
    renderer: Renderer, template: LocalText, loan: str | None, markers: dict[str, str]
) -> str:
    def show(name: str) -> str:
        return markers[name] if name in markers else renderer.show(name, loan)

    return render(template[renderer.locale], show)


def _message_firings(group: list[Firing]) -> list[Firing]:
    """Whose message to show: the primary reason's when it is about the whole situation, else
    the best reason of each loan, in loan order (``group`` is sorted best first)."""
    if group[0].loan_id is None:
        return group[:1]
    best: dict[int, Firing] = {}
    for firing in group:
        if firing.loan_id is not None:
            best.setdefault(firing.loan_index, firing)
    return [best[i] for i in sorted(best)]


class Reasons:
    """What a recommendation's reasons are made from: its firings, best first, over one
    evaluation's working memory. Called, it makes the :class:`Reason` objects
    (``Recommendation.reasons``); :meth:`documents` writes them as the advice document does,
    straight from the working memory and the pack's table, without the objects."""

    __slots__ = ("_fixed", "_renderer", "_results", "_table", "firings")

    def __init__(
        self,
        table: PackTable,
        fixed: tuple[FixedTexts, ...],
        renderer: Renderer,
        results: ConditionResults,
        firings: tuple[Firing, ...],
    ) -> None:
        self._table = table
        self._fixed = fixed  # fixed_texts(table, renderer.locale)
        self._renderer = renderer
        self._results = results
        self.firings = firings

    def __call__(self) -> tuple[Reason, ...]:
        return reasons(self._renderer.compiled, self._renderer, self._results, self.firings)

    def documents(self) -> list[dict[str, Any]]:
        """The reasons as the advice's ``reasons`` (schemas/advice.schema.json): the same
        content as :class:`Reason` (``tests/test_pay_for_what_is_read.py`` compares them)."""
        table, fixed, renderer, firings = self._table, self._fixed, self._renderer, self.firings
        memory, results = renderer.memory, self._results
        if len(firings) == 1:  # most: no comprehension to set up
            return [reason_document(table, fixed, renderer, memory, results, firings[0])]
        return [reason_document(table, fixed, renderer, memory, results, f) for f in firings]


def reason_document(
    table: PackTable,
    fixed: tuple[FixedTexts, ...],
    renderer: Renderer,
    memory: Memory,
    results: ConditionResults,
    firing: Firing,
) -> dict[str, Any]:
    """Why one rule fired for one binding, as the advice writes it: the rule, each condition
    with the value it read and its result, and the derived facts it used (see :func:`reason`).
    ``fixed`` is ``fixed_texts(table, renderer.locale)``; ``memory`` the renderer's.

    Written straight from the working memory, without a condition tree; each leaf is decided by
    the operator table, once per evaluation: the results are kept in ``results``, whose trees
    (explanations, near misses) reuse them, as this reuses theirs.
    """
    index = firing.rule_index
    facts = table.rules[index]
    rule = facts.rule
    loan = firing.loan_id
    get = memory.get  # one fact at a time: a one-loan memory need not read the whole situation
    conditions = []
    truths = results.truths(index, loan)
    decided: list[bool | None] = []
    for number, (fact, per_loan, op, expected, location) in enumerate(facts.leaves):
        value = get(fact, loan if per_loan else None)
        known = value is not UNKNOWN
        if truths is None:
            entry = OPERATORS[op]
            result = entry.test(value, expected) if known else entry.on_unknown
            decided.append(result)
        else:
            result = truths[number]
        conditions.append(
            {
                "fact": fact,
                "op": op,
                "expected": expected,
                "actual": value if known else None,
                "result": result,
                "location": location,
            }
        )
    if truths is None:
        results.keep_truths(index, loan, tuple(decided))
    derived = []
    if facts.derived:
        made = memory.derivations
        for fact, per_loan in facts.derived:
            if per_loan and loan is None:
                continue  # a per-loan fact read inside an aggregate
            key = (fact, loan if per_loan else None)
            value = get(fact, key[1])
            tried = made.get(key, [])
            by = [r for r, v in tried if v == value] or [r for r, _ in tried]
            derived.append(
                {
                    "fact": fact,
                    "loan_id": key[1],
                    "value": None if value is UNKNOWN else value,
                    "rule_id": by[0] if by else None,
                }
            )
    title = fixed[index][2]
    return {
        "rule_id": rule.id,
        "title": renderer.text(rule.title, loan) if title is None else title,
        "source": rule.source,
        "location": facts.location,
        "loan_id": loan,
        "conditions": conditions,
        "derived_from": derived,
    }


def reasons(
    compiled: CompiledPack,
    renderer: Renderer,
    results: ConditionResults,
    firings: Sequence[Firing],
) -> tuple[Reason, ...]:
    """The reasons of a recommendation: one per firing, in the order given (best first)."""
    return tuple(reason(compiled, renderer, results, f) for f in firings)


def reason(
    compiled: CompiledPack, renderer: Renderer, results: ConditionResults, firing: Firing
) -> Reason:
    """Why one rule fired for one binding: its conditions and the derived facts it used."""
    rule = _rule(compiled, firing)
    memory = renderer.memory
    conditions = results.get(firing.rule_index, firing.loan_id).leaves
    return Reason(
        rule_id=rule.id,
        title=renderer.text(rule.title, firing.loan_id),
        source=rule.source,
        location=rule.location.short,
        loan_id=firing.loan_id,
        conditions=conditions,
        derived_from=tuple(
            derived_uses(
                compiled, memory, rule, firing.loan_id, compiled.rules[firing.rule_index].reads
            )
        ),
    )


def derived_uses(
    compiled: CompiledPack,
    memory: Memory,
    rule: Rule,
    loan: str | None,
    reads: Sequence[str] | None = None,
) -> list[DerivedUse]:
    """The derived facts a rule read, with their values and deriving rules.

    ``reads`` is the rule's ``CompiledRule.reads`` (the same list as ``facts_read(rule)``,
    computed when the pack was compiled).
    """
    uses = []
    levels = compiled.levels
    for fact in facts_read(rule) if reads is None else reads:
        if fact not in levels or (loan is None and fact.startswith("loan.")):
            continue  # an input fact, or a per-loan fact read inside an aggregate
        key = (fact, loan if fact.startswith("loan.") else None)
        value = memory.get(fact, key[1])
        derivations = memory.derivations.get(key, [])
        by = [r for r, v in derivations if v == value] or [r for r, _ in derivations]
        uses.append(
            DerivedUse(fact, key[1], None if value is UNKNOWN else value, by[0] if by else None)
        )
    return uses
