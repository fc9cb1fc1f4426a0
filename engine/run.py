"""Evaluate a compiled pack with durable_rules: the engine decides what fires and drives chaining.

The driver asserts the input facts (one entity fact for the situation and one per loan, see
``engine.compiler``), lets the engine run the agenda shard by shard, and asserts each derived fact
back as soon as its rule fires, so that further rules trigger on it. A shard that reads no derived
facts is deleted right after its drain, so the next shard's state reuses its memory. Between
levels it asserts the "unknown" markers of derived facts that no rule derived, and the gate fact
that aggregates wait for (see ``engine.compiler``). Python records what fired; it never decides it.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from operator import attrgetter
from typing import Any, Final

from engine.compiler import (
    ENTITY_TYPES,
    GATE,
    LOAN_ENTITY,
    CompiledPack,
    entity_properties,
)
from engine.encoding import to_engine_json, value_json
from engine.expr import Compiled, compile_expr
from engine.memory import Firing, Key, Memory
from engine.model import Derive, Rule
from engine.rete import FACT_IDS, Ruleset, Session, open_ruleset
from engine.values import UNKNOWN

_NAMES: dict[str, str] = {}  #: fact name → its JSON string (the vocabulary is small)
DEFAULT_BUDGET_PER_RULE = 64  #: firing budget: this many firings per rule per loan, at least
COLUMN_TEXTS = 4096  #: encoded entity columns a runtime remembers (``Runtime.column_texts``)


@dataclass
class RunResult:
    firings: list[Firing]
    memory: Memory
    #: what happened, in the engine's order: data for ``--trace``, never logging
    trace: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Runtime:
    """The engine rulesets of one compiled pack, created lazily per process.

    It owns one reference to each shard's shared ``Ruleset`` (``rete.open_ruleset``) until
    ``close()``, or until it is garbage-collected. Evaluations running when it is closed finish;
    later ones raise ValueError.
    """

    compiled: CompiledPack
    rulesets: list[Ruleset] = field(default_factory=list)
    #: rule index → its derive expression as closures (``expr.compile_expr``), made on first use;
    #: never part of the pickled CompiledPack
    derive_fns: dict[int, Compiled] = field(default_factory=dict, repr=False)
    #: level → the derived facts of that level, in ``compiled.levels`` order (made on first use)
    closing: dict[int, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: entity → (fact, per loan, ``"v7":``, ``"u7":1``, ``"n7":`` or None) per column it carries
    columns: dict[str, tuple[_Column, ...]] = field(default_factory=dict, repr=False)
    #: the pack's parameters by name, as derive expressions read them (read-only)
    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: (``"v7":``, type, scalar value) → ``"v7":<value>``: the texts of the values met most, up
    #: to ``COLUMN_TEXTS`` of them (situations repeat most values: flags, enums, small numbers)
    column_texts: dict[tuple[str, type, Any], str] = field(default_factory=dict, repr=False)
    #: per shard, engine rule name → (rule index, first loan alias); rule index → its rule
    names: list[Mapping[str, tuple[int, str | None]]] = field(default_factory=list, repr=False)
    rules: list[Rule] = field(default_factory=list, repr=False)
    closed: bool = field(default=False, init=False)
    _finalizer: weakref.finalize[[list[Ruleset]], Runtime] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.rulesets = [open_ruleset(shard.definition) for shard in self.compiled.shards]
        self.parameters = {n: p.value for n, p in self.compiled.pack.parameters.items()}
        self.names = [shard.names for shard in self.compiled.shards]
        self.rules = [compiled.rule for compiled in self.compiled.rules]
        # the callback holds the list, not the runtime, so it cannot keep the runtime alive
        self._finalizer = weakref.finalize(self, _close_all, self.rulesets)
        self._finalizer.atexit = False  # the process exiting frees everything anyway

    def derive_fn(self, index: int) -> Compiled:
        fn = self.derive_fns.get(index)
        if fn is None:
            then = self.compiled.rules[index].rule.then
            assert isinstance(then, Derive)
            fn = self.derive_fns[index] = compile_expr(then.expr)
        return fn

    def closed_at(self, level: int) -> tuple[str, ...]:
        facts = self.closing.get(level)
        if facts is None:
            levels = self.compiled.levels.items()
            facts = self.closing[level] = tuple(f for f, at in levels if at == level)
        return facts

    def entity_columns(self, entity: str) -> tuple[_Column, ...]:
        columns = self.columns.get(entity)
        if columns is None:
            made = []
            for fact in self.compiled.entities.get(entity, ()):
                spec = self.compiled.facts[fact]
                value, unknown, length = entity_properties(self.compiled.columns[fact])
                listed = f'"{length}":' if spec.type == "list" else None
                made.append((fact, spec.scope == "loan", f'"{value}":', f'"{unknown}":1', listed))
            columns = self.columns[entity] = tuple(made)
        return columns

    def close(self) -> None:
        """Give up this runtime's engine rulesets (idempotent)."""
        self.closed = True
        self._finalizer()


_Column = tuple[str, bool, str, str, str | None]


def _close_all(rulesets: list[Ruleset]) -> None:
    for ruleset in rulesets:
        ruleset.close()


class _Driver:
    def __init__(self, runtime: Runtime, memory: Memory, budget: int | None) -> None:
        self.compiled = runtime.compiled
        self.runtime = runtime
        self.memory = memory
        self.parameters = runtime.parameters
        if runtime.closed:
            raise ValueError("the rule set was closed; load the rules again to evaluate")
        loans = max(len(memory.loans), 1)
        limit = budget or DEFAULT_BUDGET_PER_RULE * (len(self.compiled.rules) + 1) * loans
        self.session = Session(runtime.rulesets, limit)
        self.fired: dict[tuple[int, str | None], Firing] = {}
        self.next_id = 0
        self.loan_members: dict[str, str] = {}  #: loan id → its encoded ``,"l":...`` member
        self.trace: list[dict[str, Any]] = []

    def encode(self, fact: str, loan: str | None, value: Any) -> str:
        """``to_engine_json({"id", "a", "u" | "v" [, "n"] [, "l"]})``, built as text directly."""
        fact_id = FACT_IDS.get(self.next_id)
        self.next_id += 1
        name = _NAMES.get(fact) or _NAMES.setdefault(fact, encode_basestring(fact))
        if value is UNKNOWN:
            body = f'{{"id":"{fact_id}","a":{name},"u":1'
        else:
            body = f'{{"id":"{fact_id}","a":{name},"v":{value_json(value)}'
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
        routes = self.compiled.routes
        values = self.memory.values
        shared: dict[str, str] = {}  #: situation fact → its encoded column
        texts = self.runtime.column_texts
        for entity, kind in ENTITY_TYPES.items():
            shards = routes.get(entity)
            if not shards:
                continue
            columns = self.runtime.entity_columns(entity)
            for loan in self.memory.loans if entity == LOAN_ENTITY else (None,):
                fact_id = FACT_IDS.get(self.next_id)
                self.next_id += 1
                parts = [f'{{"id":"{fact_id}","t":"{kind}"']
                if loan is not None:
                    parts.append(self.loan_member(loan)[1:])
                for fact, per_loan, known, unknown, length in columns:
                    text = None if per_loan else shared.get(fact)
                    if text is None:
                        value = values.get((fact, loan if per_loan else None), UNKNOWN)
                        if value is UNKNOWN:
                            text = unknown
                        elif length is not None:
                            text = f"{known}{value_json(value)},{length}{len(value)}"
                        else:
                            # typed key: True == 1 and 2 == 2.0, but their texts differ
                            cached = (known, type(value), value)
                            text = texts.get(cached)
                            if text is None:
                                text = known + value_json(value)
                                if len(texts) < COLUMN_TEXTS:
                                    texts[cached] = text
                        if not per_loan:
                            shared[fact] = text
                    parts.append(text)
                encoded = ",".join(parts) + "}"
                for shard in shards:
                    batches.setdefault(shard, []).append(encoded)
        return batches

    def loan_member(self, loan: str) -> str:
        """``,"l":<loan id>``, encoded once per loan."""
        member = self.loan_members.get(loan)
        if member is None:
            member = self.loan_members[loan] = f',"l":{encode_basestring(loan)}'
        return member

    def markers(self, keys: Iterable[Key]) -> dict[int, list[str]]:
        """Unknown markers of derived facts, for the shards with a pattern that can match one."""
        batches: dict[int, list[str]] = {}
        for fact, loan in keys:
            shards = self.compiled.marker_routes.get(fact, ())
            if shards:
                encoded = self.encode(fact, loan, UNKNOWN)
                for shard in shards:
                    batches.setdefault(shard, []).append(encoded)
        return batches

    def gate(self, level: int, batches: dict[int, list[str]]) -> None:
        shards = self.compiled.routes.get(GATE, ())
        if not shards:
            return
        encoded = to_engine_json({"id": FACT_IDS.get(self.next_id), "a": GATE, "v": level})
        self.next_id += 1
        for shard in shards:
            batches.setdefault(shard, []).append(encoded)

    def on_action(self, shard: int, name: str, message: str) -> list[tuple[int, str]]:
        index, alias = self.runtime.names[shard][name]
        loan = _bound_loan(message, alias) if alias else None
        fired = self.fired
        binding = (index, loan)
        if binding in fired:
            return []  # another alternative (DNF branch) of a rule that already fired
        fired[binding] = Firing(index, -1 if loan is None else self.memory.loan_index(loan), loan)
        rule = self.runtime.rules[index]
        event: dict[str, Any] = {"op": "fire", "rule": rule.id, "loan": loan, "shard": shard}
        self.trace.append(event)
        if not isinstance(rule.then, Derive):
            return []
        key, value, new = self.memory.derive(
            rule, loan, self.parameters, self.compiled.facts, self.runtime.derive_fn(index)
        )
        event["derived"] = {"fact": key[0], "value": None if value is UNKNOWN else value}
        if not new:
            return []
        shards = self.compiled.routes.get(key[0], ())
        if not shards:
            return []
        encoded = self.encode(key[0], key[1], value)
        return [(s, encoded) for s in shards]

    def run_level(self, level: int, batches: dict[int, list[str]]) -> None:
        """Assert each shard's facts and drain it, in shard order, until no shard has work.

        At level 0 a shard that reads no derived facts ("early") is deleted right after its
        drain: nothing can reach it later, and its memory is then reused by the next shard's
        state instead of all states living at once.
        """
        count = sum(len(facts) for facts in batches.values())
        self.trace.append({"op": "assert", "level": level, "facts": count, "shards": len(batches)})
        shards, session = self.compiled.shards, self.session
        pending = set(batches)
        while pending:
            shard = min(pending)
            pending.discard(shard)
            facts = batches.pop(shard, None)
            if facts:
                session.assert_facts(shard, facts)
            pending |= session.drain(shard, self.on_action)
            if level == 0 and not shards[shard].late:
                session.close_shard(shard)

    def run(self) -> RunResult:
        try:
            batches = self.entities()
            self.gate(0, batches)
            self.run_level(0, batches)
            for shard in self.compiled.shards:
                if not shard.late:
                    self.session.close_shard(shard.index)
            for level in range(1, self.compiled.max_level + 1):
                self.run_level(level, self._closure(level))
            self.session.close_drained()  # every agenda ran out: no quiet drain needed
        finally:
            self.session.close()
        # the order of Firing (rule, loan index); a key is much faster than dataclass __lt__
        firings = sorted(self.fired.values(), key=attrgetter("rule_index", "loan_index"))
        return RunResult(firings, self.memory, self.trace)

    def _closure(self, level: int) -> dict[int, list[str]]:
        marked: list[Key] = []
        for fact in self.runtime.closed_at(level):
            marked += self.memory.close(fact, fact.startswith("loan."))
        unknown = [f"{fact}[{loan}]" if loan else fact for fact, loan in marked]
        self.trace.append({"op": "close", "level": level, "unknown": unknown})
        batches = self.markers(marked)
        self.gate(level, batches)
        return batches


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
    memory = Memory.from_situation(situation)
    return _Driver(runtime, memory, budget).run()
