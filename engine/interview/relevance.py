"""Which unknown inputs could still change the advice: the rules' own three-valued evaluation.

A finished evaluation of a partial situation is the starting point. Every fact gets the set of
values it could still take (``engine.interview.possible``): a known input its value, a declined
one "unknown", an open one its candidate answers and "unknown"; a derived fact the values its
derive expressions give over the values of what they read, evaluated level by level (the
compiler's strata) with the pack's own expression evaluation. A fact with one possible value is
*settled*; a fact with too many is taken to be able to take any value. Every leaf condition of
every rule binding (rule, loan) then has a set of possible Kleene truths: the operator's truth
(``engine.core.operators``) for each possible value of its fact.

For one open input K the question is whether K is *pivotal* for a binding: is there a way to
answer the other open questions such that two answers to K make the binding fire differently?
Each condition is evaluated over pairs of truths (the binding under one answer to K, and under
another, the other answers shared): a leaf whose fact K could change takes any pair of its
possible truths, another leaf the same possible truth twice; ``all``, ``any`` and ``not``
combine the pairs by Kleene logic. K is pivotal when a pair differs in firing. The bindings are
walked level by level: a derived fact with more than one possible value is K's too when its
derive binding is pivotal, or can fire and its expression is *sensitive* to something K could
change (two combinations of values that differ there alone give different values).

Leaves are taken as independent (two leaves on one fact may pair values that could not occur
together), which over-approximates: an input found not pivotal cannot change the binding, under
any answers to the others (among the candidate answers), so an interview that stops when no open
input is pivotal has settled what it watches. It watches the bindings that can move the top of
the advice - a recommendation whose priority, with every adjustment that can still apply, could
place its action in the top `top` (or add its loan to an action that could be there), and the
adjustments and suppressions of an action that could be there - and the derived facts the
advice's plan shows.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.compile.compiler import CompiledPack
from engine.core.facts import input_facts
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.interview.possible import Values, candidates, expression_values, freeze, thaw
from engine.load.checks import leaves
from engine.pack.expr import Compiled, Node, compile_expr
from engine.pack.expr import names as expr_names
from engine.pack.model import Adjust, Condition, Derive, Leaf, Recommend, Suppress
from engine.pack.template import placeholders
from engine.rank.conditions import Truth, combine, leaf_truth
from engine.run.memory import Key, Memory


@dataclass(frozen=True)
class Effects:
    """What knowing one input could change."""

    actions: tuple[str, ...]  #: actions whose place in the top it could change
    plan: tuple[Key, ...]  #: plan facts (fact, loan id or None) it could change
    #: whether its answer alone could change them, every other open answer staying unknown;
    #: else it matters only together with answers still open
    alone: bool = True
    #: the bindings (positions in the analysis) reading what it could change: an open input
    #: whose reach meets this one's is a partner worth trying when it matters only jointly
    reach: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.actions or self.plan)


@dataclass(frozen=True)
class _Binding:
    rule_id: str
    loan: str | None
    when: Condition | None
    leaves: tuple[Leaf, ...]
    leaf_keys: tuple[Key, ...]
    variables: tuple[Key, ...]  #: what the derive expression reads, per loan in aggregates
    derives: Key | None
    unit: str  #: the derived fact's unit (how a run rounds its values)
    fn: Compiled | None  #: the derive expression, compiled
    node: Node | None  #: the derive expression
    kind: str  #: derive, recommend, adjust or suppress
    action: str | None
    score: int  #: a recommendation's priority, an adjustment's amount


Pair = tuple[Truth, Truth]
_TRUTHS: tuple[Truth, ...] = (True, False, None)
#: a leaf's possible truths as a mask (1: true, 2: false, 4: unknown); 8: K could change it
_BIT: dict[Truth, int] = {True: 1, False: 2, None: 4}
_CHANGED = 8
_ALL_TRUTHS = 7


def _mask_pairs(mask: int) -> frozenset[Pair]:
    truths = [t for t in _TRUTHS if mask & _BIT[t]]
    if mask & _CHANGED:
        return frozenset((a, b) for a in truths for b in truths)
    return frozenset((t, t) for t in truths)


_MASK_PAIRS: tuple[frozenset[Pair], ...] = tuple(_mask_pairs(m) for m in range(16))
_KLEENE: dict[str, dict[tuple[Truth, Truth], Truth]] = {
    kind: {(a, b): combine(kind, [a, b]) for a in _TRUTHS for b in _TRUTHS}
    for kind in ("all", "any")
}


class Relevance:
    """The analysis of one decision; :meth:`effects` answers for one open input."""

    def __init__(self, decision: Decision, top: int, declined: Iterable[Key] = ()) -> None:
        compiled = decision.ruleset.compiled
        memory = decision.memory
        self.bound = _score_bounds(decision)
        shape = _shape(compiled, tuple(memory.loans))
        self.bindings = shape.bindings
        self.readers = shape.readers
        self.derivers = shape.derivers
        self._memo = shape.memo
        self._values_memo = shape.values_memo
        self.values = _input_values(decision, frozenset(declined))
        self.masks: list[tuple[int, ...]] = []
        self.can_fire: list[bool] = []
        self.certain: list[bool] = []  #: it fires whatever the open answers
        self.sensitive: list[frozenset[Key]] = []
        self.parameters = {n: p.value for n, p in decision.ruleset.pack.parameters.items()}
        self.loans = tuple(memory.loans)
        self._derive_all()
        self.plan_keys = _plan_keys(decision, self.values)
        self.now = [
            tuple(
                _BIT[leaf_truth(leaf, memory.get(*key))]
                for leaf, key in zip(b.leaves, b.leaf_keys, strict=True)
            )
            for b in self.bindings
        ]
        fires_now = [
            True in {x for x, _ in self._pairs(position, masks)}
            for position, masks in enumerate(self.now)
        ]
        self.ranks = _Ranks(decision, top, self.bindings, self.can_fire, self.certain)
        self.watched = [self.ranks.watched(p) for p in range(len(self.bindings))]
        ranks_now = _Ranks(decision, top, self.bindings, fires_now, fires_now)
        self.watched_now = [ranks_now.watched(p) for p in range(len(self.bindings))]

    # --- what every fact could still be ----------------------------------------------------

    def _derive_all(self) -> None:
        """Every binding's leaf truths and whether it can fire, and every derived fact's possible
        values, level by level."""
        read = self.values.get
        for _, masks, truths, sensitive in self._derive(
            range(len(self.bindings)), lambda key: read(key, _UNKNOWN_ONLY), self.values
        ):
            self.masks.append(masks)
            self.can_fire.append(True in truths)
            self.certain.append(truths == {True})
            self.sensitive.append(sensitive)

    def _derive(
        self, positions: Iterable[int], read: Callable[[Key], Values], into: dict[Key, Values]
    ) -> Iterator[tuple[int, tuple[int, ...], set[Truth], frozenset[Key]]]:
        """For each binding at ``positions`` (in stage order, with every binding deriving a fact
        they derive): its leaves' truth masks, its condition's possible truths and the variables
        its derive expression is sensitive to. A derived fact's possible values go ``into``
        once every binding deriving it has been seen (a fact's deriving rules all come before
        the first rule that reads it); ``read`` gives the others."""
        found: dict[Key, set[Hashable]] = {}
        surely: set[Key] = set()
        bounded: dict[Key, bool] = {}  # False: some deriving binding gives any value
        pending: set[Key] = set()

        def values_of(key: Key) -> Values:
            if key in pending:  # every binding deriving it has been seen: settle it
                pending.discard(key)
                if not bounded[key]:
                    into[key] = None
                else:
                    into[key] = frozenset(found[key] | (set() if key in surely else {UNKNOWN}))
            return into[key] if key in into else read(key)

        for position in positions:
            b = self.bindings[position]
            masks = tuple(
                _truth_mask(leaf, values_of(k))
                for leaf, k in zip(b.leaves, b.leaf_keys, strict=True)
            )
            truths = {x for x, _ in self._pairs(position, masks)}
            sensitive: frozenset[Key] = frozenset()
            if b.derives is not None and b.fn is not None and b.node is not None:
                key = b.derives
                if key not in pending:
                    pending.add(key)
                    found[key] = set()
                    bounded[key] = True
                if True in truths:
                    got, sensitive = self._expression_values(position, values_of)
                    if got is None:
                        bounded[key] = False
                    else:
                        found[key] |= got
                    if truths == {True}:
                        surely.add(key)
            yield position, masks, truths, sensitive
        for key in list(pending):
            values_of(key)

    def _expression_values(
        self, position: int, values_of: Callable[[Key], Values]
    ) -> tuple[Values, frozenset[Key]]:
        """``possible.expression_values`` for a derive binding, remembered for the pack and
        loans by the values of what it reads (one answer changes few of them)."""
        b = self.bindings[position]
        assert b.fn is not None and b.node is not None
        reads = tuple(values_of(k) for k in b.variables)
        memo_key = (position, reads)
        found = self._values_memo.get(memo_key)
        if found is None:
            found = expression_values(
                b.fn, b.node, b.unit, b.loan, self.loans, b.variables, values_of, self.parameters
            )
            if len(self._values_memo) >= _MAX_VALUES_MEMO:
                self._values_memo.clear()
            self._values_memo[memo_key] = found
        return found

    # --- one open input --------------------------------------------------------------------

    def effects(self, key: Key) -> Effects:
        """What knowing the open input ``key`` (fact, loan id or None) could change."""
        changed: set[Key] = {key}
        changed_now: set[Key] = {key}  # what it changes while the other open answers stay unknown
        actions: set[str] = set()
        alone_for: set[str] = set()  # actions it could move while the other answers stay unknown
        touched: dict[str, list[int]] = {}  # each action's bindings that read what it changes
        pending: list[int] = []  # a heap of binding positions: bindings are in stage order
        seen: set[int] = set()

        def touch(changed_key: Key) -> None:
            for position in self.readers.get(changed_key, ()):
                if position not in seen:
                    seen.add(position)
                    heapq.heappush(pending, position)

        touch(key)
        while pending:
            position = heapq.heappop(pending)
            b = self.bindings[position]
            masks = self.masks[position]
            pairs = self._pairs(position, _with_changed(masks, masks, b.leaf_keys, changed))
            pivotal = _pivotal(pairs)
            now = self._pairs(
                position, _with_changed(self.now[position], masks, b.leaf_keys, changed_now)
            )
            pivotal_now = _pivotal(now)
            if b.derives is not None:
                derived = b.derives
                if _settled(self.values.get(derived)):
                    continue
                sensitive = self.sensitive[position]
                if derived not in changed and (
                    pivotal or (_can_fire(pairs) and not sensitive.isdisjoint(changed))
                ):
                    changed.add(derived)
                    touch(derived)
                if derived not in changed_now and (
                    pivotal_now or (_can_fire(now) and not sensitive.isdisjoint(changed_now))
                ):
                    changed_now.add(derived)
            elif b.action is not None:
                touched.setdefault(b.action, []).append(position)
                if pivotal and self.watched[position]:
                    actions.add(b.action)
                    if pivotal_now and self.watched_now[position]:
                        alone_for.add(b.action)
        plan = tuple(sorted((k for k in changed if k in self.plan_keys), key=_key_order))
        if not plan:  # whether to ask it at all may rest on an action alone: look closer
            for action in sorted(actions, key=lambda a: (-self.bound.get(a, 0), a)):
                if not self._same_for_every_answer(key, touched[action], changed):
                    break  # it is asked: the other actions are kept as they are
                actions.discard(action)
        alone = bool(alone_for & actions) or any(k in self.plan_keys for k in changed_now)
        ordered = tuple(sorted(actions, key=lambda a: (-self.bound.get(a, 0), a)))
        return Effects(ordered, plan, alone, frozenset(seen))

    def _same_for_every_answer(self, key: Key, positions: list[int], changed: set[Key]) -> bool:
        """Whether the bindings of one action at ``positions`` (those reading what ``key``
        changes) surely fire or surely not for each answer to ``key``, the other open answers
        being anything, and give the action the same best priority, loans, adjustments and
        suppressions for every answer: then the answer cannot move the action, although each
        binding alone depends on it (one rule for a known date, another for an unknown one).
        Each answer is followed through the derived facts between ``key`` and the bindings."""
        answers = self.values.get(key)
        if answers is None:
            return False
        needed: set[Key] = set()
        through: set[int] = set()
        todo = [k for p in positions for k in self.bindings[p].leaf_keys if k in changed]
        while todo:
            fact = todo.pop()
            if fact == key or fact in needed:
                continue
            needed.add(fact)
            for position in self.derivers.get(fact, ()):
                through.add(position)
                b = self.bindings[position]
                todo.extend(k for k in (*b.leaf_keys, *b.variables) if k in changed)
        order = sorted(through | set(positions))
        if len(answers) * len(order) > MAX_ANSWER_STEPS:
            return False
        read = self.values.get
        found: set[_Contribution] = set()
        for answer in telling_order(answers):
            local: dict[Key, Values] = {key: frozenset({answer})}
            firing: list[_Binding] = []
            for position, _, truths, _ in self._derive(
                order, lambda k: read(k, _UNKNOWN_ONLY), local
            ):
                b = self.bindings[position]
                if b.derives is not None:
                    continue
                if len(truths) != 1:
                    return False  # it depends on other open answers too
                if truths == {True}:
                    firing.append(b)
            found.add(_contribution(firing))
        return not self._moves(self.bindings[positions[0]].action, positions, found)

    def _moves(self, action: str | None, positions: list[int], found: set[_Contribution]) -> bool:
        """Whether the action's bindings at ``positions``, giving one of ``found`` for each
        answer (the rest of its bindings shared), could move the action in the top."""
        if len(found) == 1 or action is None:
            return False
        if len({(loans, suppressed) for _, loans, _, suppressed in found}) > 1:
            return True
        floor, down, up = self.ranks.outside(action, positions)
        best = [priority for priority, _, _, _ in found]
        raised = [sum(by) for _, _, by, _ in found]
        if floor is None and any(priority is None for priority in best):
            # for some answer the action may be missing
            return self.ranks.reaches(action, max(p or 0 for p in best) + max(raised) + up)
        known = [floor if p is None else p for p in best]
        lowest = min(p for p in known if p is not None) + min(raised) + down
        highest = max(p for p in known if p is not None) + max(raised) + up
        return self.ranks.matters(action, lowest, highest)

    def _pairs(self, position: int, masks: tuple[int, ...]) -> frozenset[Pair]:
        b = self.bindings[position]
        if b.when is None:
            return frozenset({(True, True)})
        memo_key = (position, masks)
        found = self._memo.get(memo_key)
        if found is None:
            found = frozenset(_pair_sets(b.when, [_MASK_PAIRS[m] for m in masks], [0]))
            self._memo[memo_key] = found
        return found


_UNKNOWN_ONLY: frozenset[Hashable] = frozenset({UNKNOWN})


#: the most (answer, binding) evaluations spent showing that an answer cannot move an action
MAX_ANSWER_STEPS = 4000


#: what an action's firing bindings give it: the best priority, its loans, the adjustments
#: (one per rule) and the suppressions (whole, or of loans)
_Contribution = tuple[int | None, frozenset[str], tuple[int, ...], frozenset[str]]


def _contribution(firing: list[_Binding]) -> _Contribution:
    recommends = [b for b in firing if b.kind == "recommend"]
    adjusts = {b.rule_id: b.score for b in firing if b.kind == "adjust"}
    return (
        max((b.score for b in recommends), default=None),
        frozenset(b.loan for b in recommends if b.loan is not None),
        tuple(by for _, by in sorted(adjusts.items())),
        frozenset(b.loan or "" for b in firing if b.kind == "suppress"),
    )


def telling_order(answers: frozenset[Hashable]) -> list[Hashable]:
    """The answers in an order that shows a difference early: "don't know" first, then from
    both ends of the sorted answers inwards."""
    known = sorted((a for a in answers if a is not UNKNOWN), key=lambda a: (type(a).__name__, a))
    ends = [known[i // 2] if i % 2 == 0 else known[-1 - i // 2] for i in range(len(known))]
    return ([UNKNOWN] if UNKNOWN in answers else []) + ends


def _with_changed(
    masks: tuple[int, ...], possible: tuple[int, ...], keys: tuple[Key, ...], changed: set[Key]
) -> tuple[int, ...]:
    """The leaves' masks, those on a changed fact taking any pair of their possible truths."""
    return tuple(
        p | _CHANGED if k in changed else m for m, p, k in zip(masks, possible, keys, strict=True)
    )


def _pivotal(pairs: frozenset[Pair]) -> bool:
    return any((x is True) != (y is True) for x, y in pairs)


def _can_fire(pairs: frozenset[Pair]) -> bool:
    return any(x is True or y is True for x, y in pairs)


def _settled(values: Values) -> bool:
    return values is not None and len(values) == 1


def _truth_mask(leaf: Leaf, values: Values) -> int:
    if values is None:
        return _ALL_TRUTHS
    mask = 0
    for value in values:
        mask |= _BIT[leaf_truth(leaf, thaw(value))]
    return mask


def _input_values(decision: Decision, declined: frozenset[Key]) -> dict[Key, Values]:
    """The values each input fact could take: a known one its value, a declined one "unknown",
    an open one its candidate answers and "unknown"."""
    memory = decision.memory
    inputs = input_facts()
    known = [v for (fact, _), v in memory.values.items() if v is not UNKNOWN and fact in inputs]
    as_of = str(decision.situation["as_of"])
    compiled = decision.ruleset.compiled
    found: dict[Key, Values] = {}
    for key, value in memory.values.items():
        fact = key[0]
        if fact not in inputs:
            continue
        if value is not UNKNOWN:
            found[key] = frozenset({freeze(value)})
        elif key in declined:
            found[key] = _UNKNOWN_ONLY
        else:
            answers = candidates(compiled, fact, as_of, known)
            found[key] = None if answers is None else frozenset((*answers, UNKNOWN))
    return found


class _Ranks:
    """Where actions can stand in the ranking, for one set of bindings that can fire.

    The ranking gives an action the highest priority of its recommending rules that fired plus
    every adjustment, and sorts by score, then by the action catalogue: an action's *key* is
    (score, catalogue place). Its score lies between its *low* (the highest priority of a
    recommendation sure to fire, else the lowest that can fire, with every negative adjustment
    that can apply) and its *best* (the highest priority that can fire with every positive
    adjustment), and it is in the top only with a key at least the *threshold*: the key of the
    `top`-th of the other actions recommended now. Moving an action's key within a range
    changes the top only if the range reaches the threshold and some other action's key could
    lie inside its part above the threshold (the threshold's own action counts, for an action
    that crosses it). The threshold moves only through bindings that are watched themselves,
    so when nothing watched can change, the top is settled.
    """

    def __init__(
        self,
        decision: Decision,
        top: int,
        bindings: Sequence[_Binding],
        can_fire: Sequence[bool],
        certain: Sequence[bool],
    ) -> None:
        self.order = {code: spec.order for code, spec in decision.ruleset.pack.actions.items()}
        self.recs = decision.recommendations
        self.top = top
        self.bindings = bindings
        self.certain = certain
        self.adjusts: dict[str, dict[str, int]] = {}
        self.possible: dict[str, list[tuple[int, str | None, int]]] = {}
        #: the recommendations surely suppressed: (action, None) for the whole action, else
        #: (action, loan) for that loan's
        self.suppressed: set[tuple[str, str | None]] = {
            (b.action, b.loan)
            for position, b in enumerate(bindings)
            if b.kind == "suppress" and b.action is not None and certain[position]
        }
        for position, b in enumerate(bindings):
            if not can_fire[position] or b.action is None or self.gone(position):
                continue
            if b.kind == "adjust":
                self.adjusts.setdefault(b.action, {})[b.rule_id] = b.score
            elif b.kind == "recommend":
                self.possible.setdefault(b.action, []).append((b.score, b.loan, position))
        self.best: dict[str, int] = {}
        self.low: dict[str, int] = {}
        for action, found in self.possible.items():
            by = self.adjusts.get(action, {}).values()
            surely = max((p for p, _, at in found if certain[at]), default=0)
            self.best[action] = max(p for p, _, _ in found) + sum(v for v in by if v > 0)
            self.low[action] = max(min(p for p, _, _ in found), surely) + sum(
                v for v in by if v < 0
            )

    def gone(self, position: int) -> bool:
        """Whether the binding is a recommendation surely suppressed."""
        b = self.bindings[position]
        if b.kind != "recommend" or b.action is None:
            return False
        return (b.action, None) in self.suppressed or (
            b.loan is not None and (b.action, b.loan) in self.suppressed
        )

    def key(self, action: str, score: int) -> tuple[int, int]:
        return (score, -self.order[action])

    def threshold(self, action: str) -> tuple[int, int] | None:
        others = [r for r in self.recs if r.action != action]
        if len(others) < self.top:
            return None
        return self.key(others[self.top - 1].action, others[self.top - 1].score)

    def reaches(self, action: str, score: int) -> bool:
        """Whether ``action`` with ``score`` would be in the top."""
        line = self.threshold(action)
        return line is None or self.key(action, score) >= line

    def matters(self, action: str, lowest: int, highest: int) -> bool:
        """Whether moving ``action``'s score within [lowest, highest] could change the top."""
        line = self.threshold(action)
        high = self.key(action, highest)
        if line is not None and high < line:
            return False  # never in the top
        low = self.key(action, lowest)
        bottom = low if line is None else max(low, line)
        return any(
            other != action
            and self.key(other, self.low[other]) <= high
            and self.key(other, self.best[other]) >= bottom
            for other in self.best
        )

    def outside(self, action: str, positions: Iterable[int]) -> tuple[int | None, int, int]:
        """What the action's bindings other than ``positions`` can give it: the highest
        priority sure to fire (None: none is sure), and every negative and positive adjustment
        of other rules that can apply."""
        skip = set(positions)
        rules = {self.bindings[p].rule_id for p in skip}
        floor = max(
            (
                p
                for p, _, at in self.possible.get(action, ())
                if at not in skip and self.certain[at]
            ),
            default=None,
        )
        by = [v for rule, v in self.adjusts.get(action, {}).items() if rule not in rules]
        return floor, sum(v for v in by if v < 0), sum(v for v in by if v > 0)

    def watched(self, position: int) -> bool:
        """Whether the binding's firing could move the top of the advice: a recommendation when,
        without it, its action could be missing, or score lower with another key in between; or
        when it can add its loan to an action that could be in the top through another loan's
        rule; an adjustment when its shift can cross another key so; a suppression when its
        action could be in the top."""
        b = self.bindings[position]
        action = b.action
        if action is None or self.gone(position):
            return False
        if b.kind == "recommend":  # this rule firing is the question: it need not fire now
            floor, down, up = self.outside(action, [position])
            raised = b.score + up
            if floor is None:  # without it, the action may be missing
                moves = self.reaches(action, raised)
            else:
                moves = b.score > floor and self.matters(action, floor + down, raised)
            others = [(p, loan) for p, loan, at in self.possible.get(action, ()) if at != position]
            other_loan = b.loan is not None and any(
                loan != b.loan and self.reaches(action, p + up) for p, loan in others
            )
            return moves or other_loan
        if action not in self.best:
            return False  # nothing can recommend the action
        if b.kind == "adjust":
            shift = 0 if b.rule_id in self.adjusts.get(action, {}) else b.score
            lowest = self.low[action] + min(shift, 0)
            return self.matters(action, lowest, self.best[action] + max(shift, 0))
        return self.reaches(action, self.best[action])


def _key_order(key: Key) -> tuple[str, str]:
    return (key[1] or "", key[0])


@dataclass
class _Shape:
    """What the analysis needs of a pack for one list of loans, whatever the answers: the
    bindings in stage order, who reads what, and the pair sets computed so far."""

    bindings: list[_Binding]
    readers: dict[Key, list[int]]
    derivers: dict[Key, list[int]]
    memo: dict[tuple[int, tuple[int, ...]], frozenset[Pair]] = field(default_factory=dict)
    #: (binding position, the values of what its expression reads) → its values, sensitivity
    values_memo: dict[tuple[int, tuple[Values, ...]], tuple[Values, frozenset[Key]]] = field(
        default_factory=dict
    )


_SHAPES: dict[tuple[int, tuple[str, ...]], tuple[CompiledPack, _Shape]] = {}
_MAX_VALUES_MEMO = 50_000
_MAX_SHAPES = 64


def _shape(compiled: CompiledPack, loans: tuple[str, ...]) -> _Shape:
    key = (id(compiled), loans)
    cached = _SHAPES.get(key)
    if cached is not None and cached[0] is compiled:
        return cached[1]
    bindings: list[_Binding] = []
    functions: dict[int, Compiled] = {}
    order = sorted(range(len(compiled.rules)), key=lambda i: compiled.rules[i].stage)
    for index in order:
        rule = compiled.rules[index].rule
        for loan in loans if rule.about == "loan" else (None,):
            bindings.append(_binding(compiled, rule, loan, loans, functions))
    readers: dict[Key, list[int]] = {}
    for position, b in enumerate(bindings):
        for read in dict.fromkeys((*b.leaf_keys, *b.variables)):
            readers.setdefault(read, []).append(position)
    derivers: dict[Key, list[int]] = {}
    for position, b in enumerate(bindings):
        if b.derives is not None:
            derivers.setdefault(b.derives, []).append(position)
    shape = _Shape(bindings, readers, derivers)
    if len(_SHAPES) >= _MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[key] = (compiled, shape)  # the pack is kept, so its id is not reused meanwhile
    return shape


def _binding(
    compiled: CompiledPack,
    rule: Any,
    loan: str | None,
    loans: tuple[str, ...],
    functions: dict[int, Compiled],
) -> _Binding:
    found = tuple(leaves(rule.when)) if rule.when is not None else ()
    keys = tuple(_key(leaf.fact, loan) for leaf in found)
    variables: dict[Key, None] = {}
    derives: Key | None = None
    fn: Compiled | None = None
    node: Node | None = None
    unit = ""
    action: str | None = None
    score = 0
    then = rule.then
    if isinstance(then, Derive):
        kind = "derive"
        derives = _key(then.fact, loan)
        unit = compiled.facts[then.fact].unit
        if then.syntax_error is None:
            node = then.expr
            fn = functions.get(rule.index)
            if fn is None:
                fn = functions[rule.index] = compile_expr(then.expr)
            for name, in_aggregate in expr_names(then.expr):
                if name.startswith("params."):
                    continue
                if name.startswith("loan.") and (loan is None or in_aggregate):
                    variables.update(((name, lid), None) for lid in loans)
                else:
                    variables[_key(name, loan)] = None
    else:
        kind = type(then).__name__.lower()
        assert isinstance(then, Recommend | Adjust | Suppress)
        action = then.action
        if isinstance(then, Recommend):
            score = then.priority
        elif isinstance(then, Adjust):
            score = then.by
    return _Binding(
        rule.id,
        loan,
        rule.when,
        found,
        keys,
        tuple(variables),
        derives,
        unit,
        fn,
        node,
        kind,
        action,
        score,
    )


def _key(fact: str, loan: str | None) -> Key:
    return (fact, loan if fact.startswith("loan.") else None)


def _pair_sets(cond: Condition, sets: Sequence[frozenset[Pair]], counter: list[int]) -> set[Pair]:
    """Kleene logic over sets of pairs of truths; leaves numbered in written order."""
    if isinstance(cond, Leaf):
        index = counter[0]
        counter[0] += 1
        return set(sets[index])
    parts = [_pair_sets(item, sets, counter) for item in cond.items]
    if cond.kind == "not":
        return {(combine("not", [x]), combine("not", [y])) for x, y in parts[0]}
    table = _KLEENE[cond.kind]
    result: set[Pair] = set(parts[0])
    for part in parts[1:]:
        result = {(table[x1, x2], table[y1, y2]) for x1, y1 in result for x2, y2 in part}
    return result


def _score_bounds(decision: Decision) -> dict[str, int]:
    """The best score each action's rules can give: its highest priority plus every positive
    adjustment (ranking adds the adjustments to the highest priority of the rules that fired)."""
    best: dict[str, int] = {}
    raise_by: dict[str, int] = {}
    for crule in decision.ruleset.compiled.rules:
        then = crule.rule.then
        if isinstance(then, Recommend):
            best[then.action] = max(best.get(then.action, then.priority), then.priority)
        elif isinstance(then, Adjust) and then.by > 0:
            raise_by[then.action] = raise_by.get(then.action, 0) + then.by
    return {action: score + raise_by.get(action, 0) for action, score in best.items()}


def _plan_keys(decision: Decision, values: dict[Key, Values]) -> frozenset[Key]:
    """The derived facts the advice's plan shows, for each loan: its figures, and the facts
    quoted by the ``why`` sentences of the reason codes the loan's ``why`` fact could still
    take (all of them while it could take any)."""
    spec = decision.ruleset.pack.plan
    if spec is None:
        return frozenset()
    shown: set[str] = {spec.budget, spec.allocated, *spec.loan.values()}
    quoted: dict[str, set[str]] = {}
    for code, template in spec.why.items():
        for text in template.values():
            found = (n for n in placeholders(text) if not n.startswith("params."))
            quoted.setdefault(code, set()).update(found)
    keys: set[Key] = set()
    for fact in shown:
        if fact.startswith("loan."):
            keys.update((fact, loan) for loan in decision.memory.loans)
        else:
            keys.add((fact, None))
    why = spec.loan["why"]
    for loan in decision.memory.loans:
        codes = values.get(_key(why, loan))
        for code, facts in quoted.items():
            if codes is None or code in codes:
                keys.update(_key(fact, loan) for fact in facts)
    return frozenset(keys)


def unknown_inputs(decision: Decision, fields: Iterable[str]) -> list[Key]:
    """The keys (fact, loan) of ``fields`` that are unknown in the decision, loans in order."""
    memory: Memory = decision.memory
    found: list[Key] = []
    for fact in fields:
        if fact.startswith("loan."):
            found += [(fact, lid) for lid in memory.loans if memory.get(fact, lid) is UNKNOWN]
        elif memory.get(fact, None) is UNKNOWN:
            found.append((fact, None))
    return found
