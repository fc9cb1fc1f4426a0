"""Evaluate a compiled pack with durable_rules: the engine decides what fires and drives chaining.

The driver asserts the input facts, lets the engine run the agenda, and asserts each derived fact
back as soon as its rule fires, so that further rules trigger on it. Between levels it asserts the
"unknown" markers of derived facts that no rule derived, and the gate fact that aggregates wait
for (see ``engine.compiler``). Python records what fired; it never decides it.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from operator import attrgetter
from typing import Any, Final

from engine.compiler import GATE, CompiledPack
from engine.encoding import to_engine_json
from engine.expr import Compiled, compile_expr
from engine.memory import Firing, Key, Memory
from engine.model import Derive
from engine.rete import FACT_IDS, Ruleset, Session, open_ruleset
from engine.values import UNKNOWN

_NAMES: dict[str, str] = {}  #: fact name → its JSON string (the vocabulary is small)
DEFAULT_BUDGET_PER_RULE = 64  #: firing budget: this many firings per rule per loan, at least


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
    closed: bool = field(default=False, init=False)
    _finalizer: weakref.finalize[[list[Ruleset]], Runtime] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.rulesets = [open_ruleset(shard.definition) for shard in self.compiled.shards]
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

    def close(self) -> None:
        """Give up this runtime's engine rulesets (idempotent)."""
        self.closed = True
        self._finalizer()


def _close_all(rulesets: list[Ruleset]) -> None:
    for ruleset in rulesets:
        ruleset.close()


class _Driver:
    def __init__(self, runtime: Runtime, memory: Memory, budget: int | None) -> None:
        self.compiled = runtime.compiled
        self.runtime = runtime
        self.memory = memory
        self.parameters = {n: p.value for n, p in self.compiled.pack.parameters.items()}
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
            body = f'{{"id":"{fact_id}","a":{name},"v":{to_engine_json(value)}'
            if isinstance(value, list):
                body += f',"n":{len(value)}'
        if loan is not None:
            member = self.loan_members.get(loan)
            if member is None:
                member = self.loan_members[loan] = f',"l":{encode_basestring(loan)}'
            body += member
        return body + "}"

    def route(self, keys: Iterable[Key]) -> dict[int, list[str]]:
        batches: dict[int, list[str]] = {}
        for fact, loan in keys:
            shards = self.compiled.routes.get(fact, ())
            if shards:
                encoded = self.encode(fact, loan, self.memory.values.get((fact, loan), UNKNOWN))
                for shard in shards:
                    batches.setdefault(shard, []).append(encoded)
        return batches

    def gate(self, level: int, batches: dict[int, list[str]]) -> None:
        encoded = to_engine_json({"id": FACT_IDS.get(self.next_id), "a": GATE, "v": level})
        self.next_id += 1
        for shard in self.compiled.routes.get(GATE, ()):
            batches.setdefault(shard, []).append(encoded)

    def on_action(self, shard: int, name: str, message: str) -> list[tuple[int, str]]:
        index, alias = self.compiled.shards[shard].names[name]
        loan = _bound_loan(message, alias) if alias else None
        fired = self.fired
        if (index, loan) in fired:
            return []  # another alternative (DNF branch) of a rule that already fired
        fired[(index, loan)] = Firing(index, self.memory.loan_index(loan), loan)
        rule = self.compiled.rules[index].rule
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
        encoded = self.encode(key[0], key[1], value)  # == route([key]), for one key
        return [(s, encoded) for s in shards]

    def run_level(self, level: int, batches: dict[int, list[str]]) -> None:
        count = sum(len(facts) for facts in batches.values())
        self.trace.append({"op": "assert", "level": level, "facts": count, "shards": len(batches)})
        for shard, facts in sorted(batches.items()):
            self.session.assert_facts(shard, facts)
        pending = set(batches)
        while pending:
            shard = min(pending)
            pending.discard(shard)
            pending |= self.session.drain(shard, self.on_action)

    def run(self) -> RunResult:
        try:
            batches = self.route(self.memory.values)
            self.gate(0, batches)
            self.run_level(0, batches)
            for shard in self.compiled.shards:
                if not shard.late:
                    self.session.close_shard(shard.index)
            for level in range(1, self.compiled.max_level + 1):
                self.run_level(level, self._closure(level))
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
        batches = self.route(marked)
        self.gate(level, batches)
        return batches


_FACT_DECODER: Final = json.JSONDecoder()


def _bound_loan(message: str, alias: str) -> str:
    """``json.loads(message)[name][alias]["l"]``, decoding only the fact bound to ``alias``.

    The message is ``{"<rule>":{"<alias>":{fact},...}}`` where a fact's keys are its own fields
    (``sid id a v u n l``) and the aliases are ``c0``, ``c1``, ... . Outside strings, text
    ``"<alias>":`` can only be that key (inside a string every quote is escaped, and a string
    followed by ``:`` is a key), and no fact field is named like an alias, so its first
    occurrence is the alias key itself.
    """
    start = message.index(f'"{alias}":') + len(alias) + 3
    while message[start] in " \t\n\r":  # JSON whitespace, which json.loads skips too
        start += 1
    fact, _end = _FACT_DECODER.raw_decode(message, start)
    loan: str = fact["l"]
    return loan


def run(runtime: Runtime, situation: Mapping[str, Any], *, budget: int | None = None) -> RunResult:
    """Evaluate a normalised situation with durable_rules."""
    memory = Memory.from_situation(situation)
    return _Driver(runtime, memory, budget).run()
