"""Evaluate a compiled pack with durable_rules: the engine decides what fires and drives chaining.

The driver asserts the input facts (one entity fact for the situation and one per loan, see
``engine.compile.compiler``), lets the engine run the agenda shard by shard, and asserts each
derived fact back as soon as its rule fires (into another shard when that shard's turn comes),
so that further rules trigger on it. A shard nothing can reach after its drain is done with
right after it: its state cleaned for the next evaluation (``rete.StatePool``), or deleted so
that the next shard's state reuses its memory. Between levels it asserts the "unknown" markers
of derived facts that no rule derived, and the gate fact that aggregates wait for (see
``engine.compile.compiler``). Python records what fired; it never decides it.

What does not depend on the situation is worked out once per ``Runtime`` (``_Plan``): each
engine rule's action, each entity's columns, the facts each level closes, and for a situation
with one loan a generated function that writes the entity facts straight from the situation
(``engine.run.entities``), whose working memory is read only when read
(``memory.SituationMemory``). Per evaluation the driver records firings and trace events as
tuples; ``Firing`` objects are shared between evaluations, and the trace's dicts are made only
when someone reads ``RunResult.trace``.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, Final, NamedTuple

from engine.compile.compiler import (
    ENTITY_TYPES,
    GATE,
    LOAN_ENTITY,
    CompiledPack,
    entity_properties,
)
from engine.core.encoding import to_engine_json, value_json
from engine.core.values import UNKNOWN
from engine.pack.expr import Compiled, compile_expr
from engine.pack.model import Derive, Rule
from engine.run.entities import Entity, entity_encoder, reader
from engine.run.memory import Firing, Key, Memory, SituationMemory
from engine.run.rete import FACT_IDS, Ruleset, Session, StatePool, open_ruleset, state_reuse

DEFAULT_BUDGET_PER_RULE = 64  #: firing budget: this many firings per rule per loan, at least
_FIRINGS_KEPT: Final = 1 << 16  #: ``Firing`` objects a runtime keeps before starting afresh
_NOTHING: Final[tuple[tuple[int, str], ...]] = ()  #: what most actions assert
_LOAN_KEYS_KEPT: Final = 1024  #: loans whose closing keys a runtime keeps
COLUMN_TEXTS = 4096  #: encoded entity columns a runtime remembers (``_Plan.texts``)


@dataclass
class RunResult:
    firings: list[Firing]
    memory: Memory
    #: what happened, in the engine's order: data for ``--trace``, never logging
    trace: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Runtime:
    """The engine rulesets of one compiled pack, created lazily per process.

    It owns one reference to each shard's shared ``Ruleset`` (``rete.open_ruleset``), and the
    engine states kept between its evaluations (``pool``), until ``close()``, or until it is
    garbage-collected. Evaluations running when it is closed finish;
    later ones raise ValueError.
    """

    compiled: CompiledPack
    rulesets: list[Ruleset] = field(default_factory=list)
    #: clean engine states kept between evaluations (``rete.StatePool``), unless switched off
    pool: StatePool | None = field(default=None, init=False, repr=False, compare=False)
    closed: bool = field(default=False, init=False)
    _plan: _Plan | None = field(default=None, init=False, repr=False, compare=False)
    _planning: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _finalizer: weakref.finalize[[list[Ruleset], StatePool | None], Runtime] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.rulesets = [open_ruleset(shard.definition) for shard in self.compiled.shards]
        sizes = [len(shard.names) for shard in self.compiled.shards]
        self.pool = StatePool(self.rulesets, sizes) if state_reuse() else None
        # the callback holds the list, not the runtime, so it cannot keep the runtime alive
        self._finalizer = weakref.finalize(self, _close_all, self.rulesets, self.pool)
        self._finalizer.atexit = False  # the process exiting frees everything anyway

    def plan(self) -> _Plan:
        """What the driver needs of the pack, independent of the situation: made on first use."""
        plan = self._plan
        if plan is None:
            with self._planning:
                plan = self._plan
                if plan is None:
                    plan = self._plan = _Plan(self.compiled)
        return plan

    def close(self) -> None:
        """Give up this runtime's engine rulesets (idempotent)."""
        self.closed = True
        self._finalizer()


def _close_all(rulesets: list[Ruleset], pool: StatePool | None) -> None:
    if pool is not None:
        pool.close()
    for ruleset in rulesets:
        ruleset.close()


@dataclass(frozen=True)
class _Derivation:
    """What a derive rule's action needs: the rule, its expression and where its fact goes."""

    rule: Rule
    fn: Compiled  #: ``expr.compile_expr`` of its expression
    fact: str
    routes: tuple[int, ...]  #: the shards that test the derived fact


#: an engine rule's action: (rule index, first loan alias or None, derivation or None)
_Action = tuple[int, str | None, _Derivation | None]
#: one entity column: (``"v7":``, ``"u7":1``, ``,"n7":`` for a list else None)
_Column = tuple[str, str, str | None]


class _Entity(NamedTuple):
    """How to encode one kind of entity fact (``engine.compile.compiler``'s situation or loan
    entity).
    """

    kind: str  #: its ``"t"``
    per_loan: bool  #: one per loan (else one per situation)
    shards: tuple[int, ...]  #: the shards that test it
    picks: tuple[int, ...]  #: its situation columns, as indexes into ``_Plan.situation_keys``
    loan_facts: tuple[str, ...]  #: its per-loan facts
    loan_columns: list[_Column]  #: and their columns


class _Plan:
    """The situation-independent part of driving one compiled pack (``Runtime.plan``)."""

    def __init__(self, compiled: CompiledPack) -> None:
        self.compiled = compiled
        rules = compiled.rules
        self.rule_ids: tuple[str, ...] = tuple(c.rule.id for c in rules)
        self.parameters: Mapping[str, Any] = {
            n: p.value for n, p in compiled.pack.parameters.items()
        }
        derivations: dict[int, _Derivation] = {}
        for index, crule in enumerate(rules):
            then = crule.rule.then
            if isinstance(then, Derive):
                routes = compiled.routes.get(then.fact, ())
                derivations[index] = _Derivation(
                    crule.rule, compile_expr(then.expr), then.fact, routes
                )
        #: per shard: engine rule name → its action
        self.actions: tuple[dict[str, _Action], ...] = tuple(
            {
                name: (index, alias, derivations.get(index))
                for name, (index, alias) in shard.names.items()
            }
            for shard in compiled.shards
        )
        self.gate_routes: tuple[int, ...] = compiled.routes.get(GATE, ())
        self.marker_routes = compiled.marker_routes
        self.final: tuple[bool, ...] = _final_shards(compiled)
        self._names: dict[str, str] = {}  #: fact name → its JSON string
        #: (``"v7":``, type, scalar value) → ``"v7":<value>``, up to ``COLUMN_TEXTS`` of them
        self.texts: dict[tuple[str, type, Any], str] = {}
        #: the situation's input facts some entity carries (keys and columns, column order)
        self.situation_keys: tuple[Key, ...] = ()
        self.situation_columns: list[_Column] = []
        self.entities: list[_Entity] = []
        situation_facts = [
            f
            for f in compiled.columns
            if compiled.facts[f].scope != "loan"
            and any(f in compiled.entities.get(e, ()) for e in ENTITY_TYPES)
        ]
        self.situation_keys = tuple((f, None) for f in situation_facts)
        self.situation_columns = [self._column(f) for f in situation_facts]
        for entity, kind in ENTITY_TYPES.items():
            shards = compiled.routes.get(entity)
            if not shards:
                continue
            carried = compiled.entities.get(entity, ())
            loan_facts = tuple(f for f in carried if compiled.facts[f].scope == "loan")
            self.entities.append(
                _Entity(
                    kind,
                    entity == LOAN_ENTITY,
                    shards,
                    tuple(i for i, f in enumerate(situation_facts) if f in carried),
                    loan_facts,
                    [self._column(f) for f in loan_facts],
                )
            )
        columns = dict(zip(situation_facts, self.situation_columns, strict=True))
        for made in self.entities:
            columns.update(zip(made.loan_facts, made.loan_columns, strict=True))
        texts = self.texts

        def general(fact: str, value: Any) -> str:
            return _columns([columns[fact]], [value], texts)[0]

        #: a one-loan situation's entity facts for each shard, written by generated code: the
        #: first facts of an evaluation, with ids f0, f1, ... (``entities_one``)
        batches: dict[int, list[int]] = {}
        for i, made in enumerate(self.entities):
            for shard in made.shards:
                batches.setdefault(shard, []).append(i)
        self.encode_one = entity_encoder(
            [
                Entity(
                    f'{FACT_IDS.get(i)}","t":"{e.kind}"',
                    e.per_loan,
                    [situation_facts[j] for j in e.picks] + list(e.loan_facts),
                )
                for i, e in enumerate(self.entities)
            ],
            list(batches.items()),
            compiled.columns,
            frozenset(f for f in columns if compiled.facts[f].type == "list"),
            general,
        )
        #: level → (derived fact, per loan) in ``compiled.levels`` order
        self.closing: list[tuple[tuple[str, bool], ...]] = [
            tuple((f, f.startswith("loan.")) for f, at in compiled.levels.items() if at == level)
            for level in range(compiled.max_level + 1)
        ]
        self._closing_keys: dict[tuple[int, tuple[str, ...]], tuple[Key, ...]] = {}
        self._firings: dict[tuple[int, int, str | None], Firing] = {}
        self._firings_one_loan: dict[tuple[int, str | None], Firing] = {}

    def _column(self, fact: str) -> _Column:
        value, unknown, length = entity_properties(self.compiled.columns[fact])
        listed = f',"{length}":' if self.compiled.facts[fact].type == "list" else None
        return f'"{value}":', f'"{unknown}":1', listed

    def closing_keys(self, level: int, loans: tuple[str, ...]) -> tuple[Key, ...]:
        """The (fact, loan) keys a level closes, in the order ``Memory.close`` marks them."""
        found = self._closing_keys.get((level, loans))
        if found is None:
            keys: list[Key] = []
            for fact, per_loan in self.closing[level]:
                keys += [(fact, loan) for loan in loans] if per_loan else [(fact, None)]
            found = tuple(keys)
            if len(self._closing_keys) >= _LOAN_KEYS_KEPT:
                self._closing_keys.clear()
            self._closing_keys[(level, loans)] = found
        return found

    def firings(self, fired: list[tuple[int, int, str | None]]) -> list[Firing]:
        """One ``Firing`` per record: they are immutable, so one instance serves every run."""
        known = self._firings
        if len(known) > _FIRINGS_KEPT:
            known.clear()
        return [known.get(f) or known.setdefault(f, Firing(*f)) for f in fired]

    def firings_one_loan(self, fired: list[tuple[int, str | None]]) -> list[Firing]:
        """``firings`` of (rule, loan) bindings when the situation has one loan at most."""
        known = self._firings_one_loan
        if len(known) > _FIRINGS_KEPT:
            known.clear()
        return [
            known.get(f) or known.setdefault(f, Firing(f[0], -1 if f[1] is None else 0, f[1]))
            for f in fired
        ]

    def name(self, fact: str) -> str:
        name = self._names.get(fact)
        if name is None:
            name = self._names[fact] = encode_basestring(fact)
        return name


def _columns(
    columns: list[_Column], values: list[Any], texts: dict[tuple[str, type, Any], str]
) -> list[str]:
    """Each column's text: ``"v7":<value>`` (and ``,"n7":<length>`` for a list) or ``"u7":1``.

    ``texts`` remembers the texts of scalar values (situations repeat most values: flags,
    enums, small numbers), keyed with the type, since ``True == 1`` and ``2 == 2.0``.
    """
    out: list[str] = []
    for (known, unknown, length), value in zip(columns, values, strict=True):
        if value is UNKNOWN:
            out.append(unknown)
        elif length is not None:
            out.append(f"{known}{value_json(value)}{length}{len(value)}")
        else:
            key = (known, value.__class__, value)
            text = texts.get(key)
            if text is None:
                text = known + value_json(value)
                if len(texts) < COLUMN_TEXTS:
                    texts[key] = text
            out.append(text)
    return out


def _final_shards(compiled: CompiledPack) -> tuple[bool, ...]:
    """Per shard: whether its state may be deleted right after its drain at level 0.

    A shard is final when nothing can reach it after that drain: it gets no unknown marker and
    no gate (those come at later levels), and every other shard that derives a fact it reads
    comes before it and is final itself, so it has derived everything before this shard's
    first drain (shards are drained in order). A shard that derives what it reads itself gets
    those facts during its own drain. An early shard (input facts only) is always final.
    """
    rules = compiled.rules
    producers: dict[str, set[int]] = {}
    for shard in compiled.shards:
        for index, _alias in shard.names.values():
            then = rules[index].rule.then
            if isinstance(then, Derive):
                producers.setdefault(then.fact, set()).add(shard.index)
    signalled = set(compiled.routes.get(GATE, ()))
    signalled.update(s for shards in compiled.marker_routes.values() for s in shards)
    final: list[bool] = []
    for shard in compiled.shards:
        k = shard.index
        senders = {j for fact in shard.facts for j in producers.get(fact, ()) if j != k}
        final.append(k not in signalled and all(j < k and final[j] for j in senders))
    return tuple(final)


class _Driver:
    def __init__(self, runtime: Runtime, memory: Memory, budget: int | None) -> None:
        if runtime.closed:
            raise ValueError("the rule set was closed; load the rules again to evaluate")
        self.compiled = runtime.compiled
        self.plan = plan = runtime.plan()
        self.actions = plan.actions
        self.memory = memory
        loans = memory.loans
        #: the loan every loan pattern binds when there is exactly one (no payload to read)
        self.single: str | None = loans[0] if len(loans) == 1 else None
        limit = budget or DEFAULT_BUDGET_PER_RULE * (len(self.compiled.rules) + 1) * max(
            len(loans), 1
        )
        self.session = Session(runtime.rulesets, limit, pool=runtime.pool)
        self.head = f'{{"sid":"{self.session.sid}","id":"'  #: every fact's start
        self.fired: dict[tuple[int, str | None], None] = {}  #: (rule index, loan) seen
        self.next_id = 0
        self.loan_members: dict[str, str] = {}  #: loan id → its encoded ``,"l":...`` member
        #: ("assert", level, facts, shards) | ("fire", rule, loan, shard, fact, value) |
        #: ("close", level, keys); the trace is made of these when read
        self.events: list[tuple[Any, ...]] = []

    def fact_id(self) -> str:
        fact_id = FACT_IDS.get(self.next_id)
        self.next_id += 1
        return fact_id

    def encode(self, fact: str, loan: str | None, value: Any) -> str:
        """``to_engine_json({"sid", "id", "a", "u" | "v" [, "n"] [, "l"]})``, built as text."""
        body = f'{self.head}{self.fact_id()}","a":{self.plan.name(fact)}'
        if value is UNKNOWN:
            body += ',"u":1'
        else:
            body += f',"v":{value_json(value)}'
            if isinstance(value, list):
                body += f',"n":{len(value)}'
        if loan is not None:
            body += self.loan_member(loan)
        return body + "}"

    def entities(self) -> dict[int, list[str]]:
        """The entity facts (situation, each loan) for the shards that test them.

        Each column is ``"v7":<value>`` or ``"u7":1`` (plus ``"n7":<length>`` for a list); a
        situation value is encoded once, however many entities carry it.
        """
        batches: dict[int, list[str]] = {}
        plan, memory = self.plan, self.memory
        if isinstance(memory, SituationMemory) and not self.next_id:
            return self.entities_one(memory)
        get = memory.values.get
        texts = plan.texts
        values = [get(key, UNKNOWN) for key in plan.situation_keys]
        situation = _columns(plan.situation_columns, values, texts)
        for kind, per_loan, shards, picks, loan_facts, loan_columns in plan.entities:
            shared = [situation[i] for i in picks]
            if per_loan:
                encoded = []
                for loan in memory.loans:
                    own = [get((f, loan), UNKNOWN) for f in loan_facts]
                    head = f'{self.head}{self.fact_id()}","t":"{kind}"{self.loan_member(loan)}'
                    parts = [head, *shared, *_columns(loan_columns, own, texts)]
                    encoded.append(",".join(parts) + "}")
            else:
                head = f'{self.head}{self.fact_id()}","t":"{kind}"'
                encoded = [",".join([head, *shared]) + "}"]
            for shard in shards:
                batches.setdefault(shard, []).extend(encoded)
        return batches

    def entities_one(self, memory: SituationMemory) -> dict[int, list[str]]:
        """``entities`` of a one-loan situation, read and written by ``_Plan.encode_one``."""
        self.next_id = len(self.plan.entities)
        member = self.loan_member(memory.loans[0])
        return self.plan.encode_one(memory.situation, memory.loan, self.head, member)

    def loan_member(self, loan: str) -> str:
        """``,"l":<loan id>``, encoded once per loan."""
        member = self.loan_members.get(loan)
        if member is None:
            member = self.loan_members[loan] = f',"l":{encode_basestring(loan)}'
        return member

    def gate(self, level: int, batches: dict[int, list[str]]) -> None:
        shards = self.plan.gate_routes
        if not shards:
            return
        encoded = self.head + self.fact_id() + '",' + to_engine_json({"a": GATE, "v": level})[1:]
        for shard in shards:
            batches.setdefault(shard, []).append(encoded)

    def on_action(self, shard: int, name: str, message: str) -> Sequence[tuple[int, str]]:
        index, alias, derivation = self.actions[shard][name]
        loan = None if alias is None else self.single or _bound_loan(message, alias)
        fired = self.fired
        binding = (index, loan)
        if binding in fired:
            return _NOTHING  # another alternative (DNF branch) of a rule that already fired
        fired[binding] = None
        if derivation is None:
            self.events.append(("fire", index, loan, shard, None, None))
            return _NOTHING
        plan = self.plan
        key, value, new = self.memory.derive(
            derivation.rule, loan, plan.parameters, self.compiled.facts, derivation.fn
        )
        self.events.append(("fire", index, loan, shard, key[0], value))
        if not new or not derivation.routes:
            return _NOTHING
        encoded = self.encode(key[0], key[1], value)
        return [(s, encoded) for s in derivation.routes]

    def run_level(self, level: int, batches: dict[int, list[str]]) -> None:
        """Assert each shard's facts and drain it, in shard order, until no shard has work.

        At level 0 a *final* shard (``_final_shards``) is done with right after its drain
        (``Session.close_shard``): nothing can reach it later. Its state is cleaned for the next
        evaluation, or deleted, and its memory then reused by the next shard's state instead
        of all states living at once.
        """
        count = sum(map(len, batches.values()))
        self.events.append(("assert", level, count, len(batches)))
        if not batches:
            return  # nothing new, and no derived fact waits (each level drains what it sends)
        session, final = self.session, self.plan.final
        pending = set(batches)
        while pending:
            shard = min(pending)
            pending.discard(shard)
            touched = session.drain(shard, self.on_action, batches.pop(shard, None))
            if touched:
                pending |= touched
            if level == 0 and final[shard]:
                session.close_shard(shard)

    def run(self) -> RunResult:
        try:
            batches = self.entities()
            self.gate(0, batches)
            self.run_level(0, batches)
            for level in range(1, self.compiled.max_level + 1):
                self.run_level(level, self._closure(level))
            self.session.close_drained()  # every agenda ran out: no quiet drain needed
        finally:
            self.session.close()
        memory, plan = self.memory, self.plan
        if self.single is not None or not memory.loans:
            # one loan at most: (rule, loan) sorts as (rule, loan index), the order of Firing
            # (a rule binds either no loan or a loan, never both)
            firings = plan.firings_one_loan(sorted(self.fired))
        else:
            index_of = memory.loan_index
            fired = sorted(
                (rule, -1 if loan is None else index_of(loan), loan) for rule, loan in self.fired
            )
            firings = plan.firings(fired)
        return _EngineResult(firings, memory, plan, self.events)

    def _closure(self, level: int) -> dict[int, list[str]]:
        keys = self.plan.closing_keys(level, tuple(self.memory.loans))
        marked = self.memory.mark_unknown(keys)
        self.events.append(("close", level, marked))
        batches: dict[int, list[str]] = {}
        routes = self.plan.marker_routes
        if routes:
            for fact, loan in marked:
                shards = routes.get(fact)
                if shards:
                    encoded = self.encode(fact, loan, UNKNOWN)
                    for shard in shards:
                        batches.setdefault(shard, []).append(encoded)
        self.gate(level, batches)
        return batches


class _EngineResult(RunResult):
    """``RunResult`` whose trace is made from the driver's records when first read."""

    def __init__(
        self, firings: list[Firing], memory: Memory, plan: _Plan, events: list[tuple[Any, ...]]
    ) -> None:
        self.firings = firings
        self.memory = memory
        self._plan = plan
        self._events = events
        self._trace: list[dict[str, Any]] | None = None

    @property
    def trace(self) -> list[dict[str, Any]]:
        if self._trace is None:
            self._trace = _trace(self._plan, self._events)
        return self._trace

    @trace.setter
    def trace(self, events: list[dict[str, Any]]) -> None:
        self._trace = events


def _trace(plan: _Plan, events: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The trace events (``assert``, ``fire`` with ``derived``, ``close``) from their records."""
    trace: list[dict[str, Any]] = []
    for event in events:
        op = event[0]
        if op == "fire":
            _op, index, loan, shard, fact, value = event
            made: dict[str, Any] = {"op": op, "rule": plan.rule_ids[index], "loan": loan}
            made["shard"] = shard
            if fact is not None:
                made["derived"] = {"fact": fact, "value": None if value is UNKNOWN else value}
            trace.append(made)
        elif op == "assert":
            _op, level, count, shards = event
            trace.append({"op": op, "level": level, "facts": count, "shards": shards})
        else:
            _op, level, keys = event
            unknown = [f"{fact}[{loan}]" if loan else fact for fact, loan in keys]
            trace.append({"op": op, "level": level, "unknown": unknown})
    return trace


_STRING_DECODER: Final = json.JSONDecoder()


def _bound_loan(message: str, alias: str) -> str:
    """``json.loads(message)[name][alias]["l"]``, decoding only that one string.

    The message is ``{"<rule>":{"<alias>":{fact},...}}``: the engine returns each fact's JSON
    text as the driver wrote it. A fact's keys are its own fields (``sid id t a v u n l``,
    ``v7 u7 n7``) and the aliases are ``c0``, ``c1``, ... . Outside strings, text ``"<alias>":``
    can only be that key, and ``"l":`` only a fact's ``l`` key (inside a string every quote is
    escaped). The fact bound to a loan alias always has ``l`` and holds no nested object, so
    the first ``"l":`` after the alias is its own.
    """
    start = message.index('"l":', message.index(f'"{alias}":') + len(alias) + 3) + 4
    loan, _end = _STRING_DECODER.raw_decode(message, start)
    if not isinstance(loan, str):  # pragma: no cover - the driver writes every "l" as a string
        raise TypeError(f"engine payload without a loan id: {message[:200]}")
    return loan


def run(runtime: Runtime, situation: Mapping[str, Any], *, budget: int | None = None) -> RunResult:
    """Evaluate a normalised situation with durable_rules."""
    loans = situation["loans"]
    if len(loans) == 1:
        loan = loans[0]
        memory: Memory = SituationMemory(situation, loan, loan["id"], reader())
    else:
        memory = Memory.from_situation(situation)
    return _Driver(runtime, memory, budget).run()
