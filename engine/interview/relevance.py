"""Which unknown inputs could still change the advice: the rules' own three-valued evaluation.

A finished evaluation of a partial situation gives every leaf condition of every rule binding
(rule, loan) a Kleene truth over the working memory, absent inputs being unknown. A leaf is
*settled* when nothing still to be answered can change it: its fact is known (inputs stay as
given), or it is an input the borrower declined. Otherwise it is *open*: it may still come out
true, false or unknown.

For one open input K the question is whether K is *pivotal* for a binding: is there a way to
answer the other open questions such that two answers to K make the binding fire differently?
Each condition is evaluated over pairs of truths (the binding under one answer to K, and under
another, the other answers shared): a leaf that K could change takes any pair, another open leaf
any equal pair, a settled leaf its own truth twice; ``all``, ``any`` and ``not`` combine the
pairs by Kleene logic. K is pivotal when a pair differs in firing. The rules are walked level by
level (the compiler's strata): a derive binding for which K is pivotal, or that can fire and
whose expression reads something K could change, changes its derived fact, and leaves on that
fact are then K's too.

Leaves are taken as independent (two leaves on one fact may pair values that could not occur
together), which over-approximates: an input found not pivotal cannot change the binding, under
any answers to the others, so an interview that stops when no open input is pivotal has settled
what it watches. It watches a recommendation, an adjustment or a suppression when its action is
in the top of the advice or could reach it (the best score its rules can give is at least the
score of the last one in the top), and a derived fact when the advice's plan shows it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.compile.compiler import CompiledPack
from engine.core.facts import input_facts
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.load.checks import leaves
from engine.pack.expr import names as expr_names
from engine.pack.model import Adjust, Condition, Derive, Leaf, Recommend, Suppress
from engine.pack.template import placeholders
from engine.rank.conditions import Truth, combine, leaf_truth
from engine.run.memory import Key

_ANY_LOAN = "\x00any"  #: a per-loan fact read inside an aggregate: any loan's value


@dataclass(frozen=True)
class Effects:
    """What knowing one input could change."""

    actions: tuple[str, ...]  #: actions whose place in the top it could change
    plan: tuple[Key, ...]  #: plan facts (fact, loan id or None) it could change

    def __bool__(self) -> bool:
        return bool(self.actions or self.plan)


@dataclass(frozen=True)
class _Binding:
    loan: str | None
    when: Condition | None
    leaves: tuple[Leaf, ...]
    leaf_keys: tuple[Key, ...]
    reads: frozenset[Key]  #: what the derive expression reads (``_ANY_LOAN`` for aggregates)
    derives: Key | None
    action: str | None
    keys: frozenset[Key]  #: every key it reads, for a quick "nothing to do with K" test


Pair = tuple[Truth, Truth]
_TRUTHS: tuple[Truth, ...] = (True, False, None)
_ANY_PAIR: frozenset[Pair] = frozenset((a, b) for a in _TRUTHS for b in _TRUTHS)
_EQUAL_PAIRS: frozenset[Pair] = frozenset((t, t) for t in _TRUTHS)
#: a leaf's kind in one analysis: K could change it, it is open, or settled at a truth
_CHANGED, _OPEN = 0, 1
_TRUTH_KIND: dict[Truth, int] = {True: 2, False: 3, None: 4}
_KIND_PAIRS: tuple[frozenset[Pair], ...] = (
    _ANY_PAIR,
    _EQUAL_PAIRS,
    frozenset({(True, True)}),
    frozenset({(False, False)}),
    frozenset({(None, None)}),
)
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
        recs = decision.recommendations
        if len(recs) < top:
            self.actions: frozenset[str] = frozenset(self.bound)
        else:
            last = recs[top - 1].score
            self.actions = frozenset(
                {r.action for r in recs[:top]} | {a for a, b in self.bound.items() if b >= last}
            )
        self.plan_keys = _plan_keys(decision)
        shape = _shape(compiled, tuple(memory.loans))
        self.bindings = shape.bindings
        self.readers = shape.readers
        self.any_loan_readers = shape.any_loan_readers
        self._memo = shape.memo
        self.truths: list[tuple[Truth, ...]] = [
            tuple(leaf_truth(leaf, memory.get(leaf.fact, b.loan)) for leaf in b.leaves)
            for b in self.bindings
        ]
        self.open = self._open_keys(memory, frozenset(declined))

    def _open_keys(self, memory: Any, declined: frozenset[Key]) -> frozenset[Key]:
        """Keys whose value later answers could still change: unknown inputs not declined, and
        the derived facts of bindings that read one."""
        keys = {
            key
            for key, value in memory.values.items()
            if value is UNKNOWN and key not in declined and key[0] not in memory_derived(memory)
        }
        loan_facts = {fact for fact, lid in keys if lid is not None}
        for b in self.bindings:
            if b.derives is None or b.derives in keys:
                continue
            if not b.keys.isdisjoint(keys) or any(
                (fact, _ANY_LOAN) in b.reads for fact in loan_facts
            ):
                keys.add(b.derives)
                if b.derives[1] is not None:
                    loan_facts.add(b.derives[0])
        return frozenset(keys)

    def effects(self, key: Key) -> Effects:
        """What knowing the open input ``key`` (fact, loan id or None) could change."""
        changed: set[Key] = {key}
        any_loan: set[str] = set()
        actions: set[str] = set()
        pending: list[int] = []  # a heap of binding positions: bindings are in stage order
        seen: set[int] = set()

        def touch(changed_key: Key) -> None:
            found = list(self.readers.get(changed_key, ()))
            if changed_key[1] is not None and changed_key[0] not in any_loan:
                any_loan.add(changed_key[0])
                found += self.any_loan_readers.get(changed_key[0], ())
            for position in found:
                if position not in seen:
                    seen.add(position)
                    heapq.heappush(pending, position)

        touch(key)
        while pending:
            position = heapq.heappop(pending)
            b = self.bindings[position]
            reads_changed = not b.reads.isdisjoint(changed) or any(
                (fact, _ANY_LOAN) in b.reads for fact in any_loan
            )
            pairs = self._pairs(position, changed)
            pivotal = any((x is True) != (y is True) for x, y in pairs)
            if b.derives is not None:
                can_fire = any(x is True or y is True for x, y in pairs)
                if (pivotal or (reads_changed and can_fire)) and b.derives not in changed:
                    changed.add(b.derives)
                    touch(b.derives)
            elif pivotal and b.action in self.actions:
                actions.add(b.action)
        plan = tuple(sorted((k for k in changed if k in self.plan_keys), key=_key_order))
        ordered = tuple(sorted(actions, key=lambda a: (-self.bound.get(a, 0), a)))
        return Effects(ordered, plan)

    def _pairs(self, position: int, changed: set[Key]) -> frozenset[Pair]:
        b = self.bindings[position]
        if b.when is None:
            return frozenset({(True, True)})
        kinds = tuple(
            _CHANGED
            if leaf_key in changed
            else _OPEN
            if leaf_key in self.open
            else _TRUTH_KIND[now]
            for leaf_key, now in zip(b.leaf_keys, self.truths[position], strict=True)
        )
        memo_key = (position, kinds)
        found = self._memo.get(memo_key)
        if found is None:
            found = frozenset(_pair_sets(b.when, [_KIND_PAIRS[k] for k in kinds], [0]))
            self._memo[memo_key] = found
        return found


def memory_derived(memory: Any) -> frozenset[str]:
    """The derived facts in a working memory (the inputs are the schema's)."""
    inputs = input_facts()
    return frozenset(fact for fact, _ in memory.values if fact not in inputs)


def _key_order(key: Key) -> tuple[str, str]:
    return (key[1] or "", key[0])


@dataclass
class _Shape:
    """What the analysis needs of a pack for one list of loans, whatever the answers: the
    bindings in stage order, who reads what, and the pair sets computed so far."""

    bindings: list[_Binding]
    readers: dict[Key, list[int]]
    any_loan_readers: dict[str, list[int]]
    memo: dict[tuple[int, tuple[int, ...]], frozenset[Pair]] = field(default_factory=dict)


_SHAPES: dict[tuple[int, tuple[str, ...]], tuple[CompiledPack, _Shape]] = {}
_MAX_SHAPES = 64


def _shape(compiled: CompiledPack, loans: tuple[str, ...]) -> _Shape:
    key = (id(compiled), loans)
    cached = _SHAPES.get(key)
    if cached is not None and cached[0] is compiled:
        return cached[1]
    bindings: list[_Binding] = []
    order = sorted(range(len(compiled.rules)), key=lambda i: compiled.rules[i].stage)
    for index in order:
        rule = compiled.rules[index].rule
        for loan in loans if rule.about == "loan" else (None,):
            bindings.append(_binding(rule, loan))
    readers: dict[Key, list[int]] = {}
    any_loan_readers: dict[str, list[int]] = {}
    for position, b in enumerate(bindings):
        for read in b.keys:
            if read[1] == _ANY_LOAN:
                any_loan_readers.setdefault(read[0], []).append(position)
            else:
                readers.setdefault(read, []).append(position)
    shape = _Shape(bindings, readers, any_loan_readers)
    if len(_SHAPES) >= _MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[key] = (compiled, shape)  # the pack is kept, so its id is not reused meanwhile
    return shape


def _binding(rule: Any, loan: str | None) -> _Binding:
    found = tuple(leaves(rule.when)) if rule.when is not None else ()
    keys = tuple(_key(leaf.fact, loan) for leaf in found)
    reads: set[Key] = set()
    derives: Key | None = None
    action: str | None = None
    then = rule.then
    if isinstance(then, Derive):
        derives = _key(then.fact, loan)
        if then.syntax_error is None:
            for name, in_aggregate in expr_names(then.expr):
                if name.startswith("params."):
                    continue
                if name.startswith("loan.") and (loan is None or in_aggregate):
                    reads.add((name, _ANY_LOAN))
                else:
                    reads.add(_key(name, loan))
    elif isinstance(then, Recommend | Adjust | Suppress):
        action = then.action
    return _Binding(
        loan, rule.when, found, keys, frozenset(reads), derives, action, frozenset(keys) | reads
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


def _plan_keys(decision: Decision) -> frozenset[Key]:
    """The derived facts the advice's plan shows, for each loan: its figures and the facts its
    ``why`` sentences quote."""
    spec = decision.ruleset.pack.plan
    if spec is None:
        return frozenset()
    facts: set[str] = {spec.budget, spec.allocated, *spec.loan.values()}
    for template in spec.why.values():
        for text in template.values():
            facts.update(n for n in placeholders(text) if not n.startswith("params."))
    keys: set[Key] = set()
    for fact in facts:
        if fact.startswith("loan."):
            keys.update((fact, loan) for loan in decision.memory.loans)
        else:
            keys.add((fact, None))
    return frozenset(keys)


def unknown_inputs(decision: Decision, fields: Iterable[str]) -> list[Key]:
    """The keys (fact, loan) of ``fields`` that are unknown in the decision, loans in order."""
    memory = decision.memory
    found: list[Key] = []
    for fact in fields:
        if fact.startswith("loan."):
            found += [(fact, lid) for lid in memory.loans if memory.get(fact, lid) is UNKNOWN]
        elif memory.get(fact, None) is UNKNOWN:
            found.append((fact, None))
    return found
