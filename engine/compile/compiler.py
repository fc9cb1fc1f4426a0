"""Compile a checked ``Pack`` into durable_rules rulesets: ``Pack`` → ``CompiledPack``.

Encoding (docs/architecture.md, "How rules become durable_rules rulesets"): one *entity* fact
for the situation and one per loan carry the input facts the pack's rules test, each in its own
column (``"v7": value``, or ``"u7": 1`` when it is unknown, plus ``"n7": length`` for a list).
The situation entity carries what situation rules test; a loan entity carries what per-loan
rules test, the situation's facts included, so that a per-loan rule on input facts is one
pattern. A derived fact is a small fact of its own, ``{"id", "a": name, "v": value, "l":
loan_id}``, or ``{"id", "a", "u": 1}`` when it is unknown. A rule's conditions are pushed into
disjunctive normal form (``not`` moves to the leaves through each operator's complement, so no
``$not`` pattern is ever needed), each conjunction becomes one engine rule, and the leaves on
one engine fact (an entity, or one derived fact) become one pattern: a rule on input facts
only is a single pattern with no join. Per-loan patterns join on ``l``.

Unknown derived facts are asserted by the driver when a *level* closes (stratified evaluation):
a derived fact's level is one more than the highest level its deriving rules read, inputs are level
0, and a rule runs at the level of the facts it reads. Aggregates over loans wait for a gate fact
``{"a": "@closed", "v": level}``.

Rules are sharded into several engine rulesets so that no fact can reach durable_rules' fan-out
limit (64 matching siblings, error 303), the 511-children hang, or the 256-rules-per-node limit.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.encoding import check_hash_collisions, property_names, to_engine_json
from engine.core.errors import RuleError
from engine.core.facts import FactSpec
from engine.core.operators import OPERATORS, Props
from engine.load.checks import fact_specs, facts_read
from engine.pack import expr
from engine.pack.model import Condition, Derive, Leaf, Pack, Rule

GATE = "@closed"
SITUATION_ENTITY = "@situation"  #: the pattern key of the situation's entity fact
LOAN_ENTITY = "@loan"  #: the pattern key of a loan's entity fact
#: each entity fact's ``"t"`` (the first test of every pattern on it)
ENTITY_TYPES: Mapping[str, str] = {SITUATION_ENTITY: "s", LOAN_ENTITY: "l"}
#: properties an entity fact may carry (durable_rules: 252 user properties per fact, error 302)
MAX_ENTITY_PROPERTIES = 240
SENTINEL = "__sentinel__"
MAX_BRANCHES = 64  #: conjunctions one rule may expand to
MAX_PATTERNS = 16  #: durable_rules: patterns per rule (304)
#: distinct test chains under one engine fact per shard. durable_rules fails (error 303, state
#: half-updated) when one fact matches more than 64 chains in a ruleset; the margin of 4 covers
#: nothing known: tests/test_rete.py pins the limit at exactly 64 slots, as ``_load`` counts
#: them (an ``in`` list: one per item, since 5 and 5.0 both match), for each chain shape the
#: compiler makes, behind the entity's type test. 40 → 60 cut the peer workload's shards at 200
#: rules from 5 to 3 and ``run()``'s CPU time by 5-10% (bench/RESULTS.md (h), third pass).
FANOUT_BUDGET = 60
ROOT_BUDGET = 400  #: distinct facts tested per shard (limit 511 children: hang)
SHARED_BUDGET = 200  #: patterns ending on one identical test chain per shard (limit 256, 108)
RULES_PER_SHARD = 400  #: engine rules per shard


@dataclass(frozen=True)
class Test:
    """One leaf after ``not`` was pushed down: ``fact op expected``."""

    fact: str
    op: str
    expected: Any
    leaf: Leaf  #: the leaf it came from (for locations and explanations)


@dataclass(frozen=True)
class Pattern:
    """The tests of one branch on one engine fact; no tests means "the fact is present".

    ``fact`` is ``SITUATION_ENTITY`` or ``LOAN_ENTITY`` (the tests are on input facts, each
    test naming its own) or a derived fact's name.
    """

    fact: str
    tests: tuple[Test, ...]
    loan: bool


@dataclass(frozen=True)
class Branch:
    patterns: tuple[Pattern, ...]
    gate: int | None  #: wait for the gate fact of this level (aggregates)


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    branches: tuple[Branch, ...]
    stage: int  #: the level of the facts it reads
    reads: tuple[str, ...]


@dataclass(frozen=True)
class Shard:
    """One durable_rules ruleset."""

    index: int
    definition: str  #: the ruleset JSON, as sent to ``create_ruleset``
    names: Mapping[str, tuple[int, str | None]]  #: engine rule → (rule index, first loan alias)
    facts: frozenset[str]  #: the facts its rules test: only these are asserted into it
    late: bool  #: reads derived facts or gates, so it must stay open until the last level
    #: the derived facts whose unknown marker one of its patterns can match (no test on the fact
    #: but ``unknown``): markers go only to these shards, since every other test fails on them
    unknowns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CompiledPack:
    pack: Pack
    rules: tuple[CompiledRule, ...]
    shards: tuple[Shard, ...]
    levels: Mapping[str, int]  #: derived fact → level
    max_level: int
    facts: Mapping[str, FactSpec]
    routes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  #: fact → shard indexes
    #: derived fact → the shards its unknown marker is asserted into (``Shard.unknowns``)
    marker_routes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: input fact → its column in the entity facts (``v<column>``, ``u<column>``, ``n<column>``),
    #: for the input facts some rule tests: only these are sent to the engine
    columns: Mapping[str, int] = field(default_factory=dict)
    #: entity → the input facts it carries (those its patterns test), in column order
    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class CompileError(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        super().__init__("\n".join(map(str, errors)))


def compile_pack(pack: Pack) -> CompiledPack:
    """Compile every rule; raises CompileError with every rule that breaks an engine limit."""
    facts = fact_specs(pack)
    levels = derived_levels(pack.rules)
    vocabulary = [name for name, spec in facts.items() if not spec.derived]
    compiled: list[CompiledRule] = []
    errors: list[RuleError] = []
    for rule in pack.rules:
        try:
            compiled.append(_compile_rule(rule, levels, facts))
        except _RuleTooComplex as exc:
            errors.append(RuleError(rule.location, "rule_too_complex", f"rule '{rule.id}': {exc}"))
    if errors:
        raise CompileError(errors)
    tested: dict[str, set[str]] = {entity: set() for entity in ENTITY_TYPES}
    for crule in compiled:
        for branch in crule.branches:
            for pattern in branch.patterns:
                if pattern.fact in ENTITY_TYPES:
                    tested[pattern.fact].update(test.fact for test in pattern.tests)
    every = set().union(*tested.values())
    columns = {name: i for i, name in enumerate(vocabulary) if name in every}
    entities = {e: tuple(n for n in columns if n in carried) for e, carried in tested.items()}
    _check_entities(entities, facts)
    _check_columns(columns)
    shards = _shard(compiled, columns, levels)
    routes: dict[str, list[int]] = {}
    marker_routes: dict[str, list[int]] = {}
    for shard in shards:
        for fact in shard.facts:
            routes.setdefault(fact, []).append(shard.index)
        for fact in shard.unknowns:
            marker_routes.setdefault(fact, []).append(shard.index)
    return CompiledPack(
        pack,
        tuple(compiled),
        tuple(shards),
        levels,
        max(levels.values(), default=0),
        facts,
        routes={k: tuple(v) for k, v in sorted(routes.items())},
        marker_routes={k: tuple(v) for k, v in sorted(marker_routes.items())},
        columns=columns,
        entities=entities,
    )


def entity_properties(column: int) -> tuple[str, str, str]:
    """The properties of one input fact in an entity: value, unknown marker, list length."""
    return f"v{column}", f"u{column}", f"n{column}"


def _check_entities(entities: Mapping[str, tuple[str, ...]], facts: Mapping[str, FactSpec]) -> None:
    """Entity facts stay under the engine's property limit (the vocabulary is far below it)."""
    for entity, carried in entities.items():
        # sid, id, t, l; then a value or a marker per fact, and a list's length
        count = 4 + sum(2 if facts[name].type == "list" else 1 for name in carried)
        if count > MAX_ENTITY_PROPERTIES:
            raise ValueError(
                f"the rules test {count} properties of one {entity} fact; the engine allows"
                f" {MAX_ENTITY_PROPERTIES}"
            )


def _check_columns(columns: Mapping[str, int]) -> None:
    """No two property names of the encoding collide in the engine's 32-bit hash."""
    names = {"id", "sid", "t", "l", "a", "v", "u", "n", "$s"}
    for column in columns.values():
        names.update(entity_properties(column))
    check_hash_collisions(names)


def derived_levels(rules: Sequence[Rule]) -> dict[str, int]:
    """Level of each derived fact: 1 + the highest level its deriving rules read (inputs are 0)."""
    derivers: dict[str, list[Rule]] = {}
    for rule in rules:
        if isinstance(rule.then, Derive):
            derivers.setdefault(rule.then.fact, []).append(rule)
    levels: dict[str, int] = {}

    def level(fact: str) -> int:
        if fact not in derivers:
            return 0
        if fact not in levels:
            levels[fact] = 0  # cycles were refused by the checker; this guards recursion anyway
            levels[fact] = 1 + max(stage_of(r) for r in derivers[fact])
        return levels[fact]

    def stage_of(rule: Rule) -> int:
        return max((level(f) for f in facts_read(rule)), default=0)

    for fact in derivers:
        level(fact)
    return levels


def _compile_rule(
    rule: Rule, levels: Mapping[str, int], facts: Mapping[str, FactSpec]
) -> CompiledRule:
    reads = facts_read(rule)
    stage = max((levels.get(f, 0) for f in reads), default=0)
    triggers, gate = _expression_inputs(rule, levels)
    conjunctions = dnf(rule.when) if rule.when else [[]]
    branches = tuple(_branch(rule, tests, triggers, gate, facts) for tests in conjunctions)
    return CompiledRule(rule, branches, stage, tuple(reads))


def _expression_inputs(rule: Rule, levels: Mapping[str, int]) -> tuple[list[str], int | None]:
    """Facts a derive expression reads directly (they trigger it); the gate its aggregates need."""
    if not isinstance(rule.then, Derive):
        return [], None
    names = expr.names(rule.then.expr)
    direct = [n for n, in_aggregate in names if not in_aggregate and not n.startswith("params.")]
    aggregated = [n for n, in_aggregate in names if in_aggregate and not n.startswith("params.")]
    gate = (
        max((levels.get(n, 0) for n in aggregated), default=0)
        if expr.uses_aggregate(rule.then.expr)
        else None
    )
    return direct, gate


class _RuleTooComplex(Exception):
    pass


def dnf(cond: Condition, negate: bool = False) -> list[list[Test]]:
    """Disjunctive normal form of a condition, with ``not`` pushed into the operators.

    Correct under three-valued logic: a leaf is true only for a known value that passes, and its
    complement only for a known value that fails, so ``not`` of an unknown stays not-true.
    """
    if isinstance(cond, Leaf):
        op = OPERATORS[cond.op].complement if negate else cond.op
        return [[Test(cond.fact, op, cond.expected, cond)]]
    if cond.kind == "not":
        return dnf(cond.items[0], not negate)
    parts = [dnf(item, negate) for item in cond.items]
    conjunctive = (cond.kind == "all") != negate
    if not conjunctive:
        result = [branch for part in parts for branch in part]
    else:
        result = [list(itertools.chain.from_iterable(combo)) for combo in _product(parts)]
    if len(result) > MAX_BRANCHES:
        raise _RuleTooComplex(
            f"its conditions expand to more than {MAX_BRANCHES} alternatives;"
            " split it into several rules"
        )
    return result


def _product(parts: list[list[list[Test]]]) -> Iterator[tuple[list[Test], ...]]:
    total = 1
    for part in parts:
        total *= len(part)
        if total > MAX_BRANCHES:
            raise _RuleTooComplex(
                f"its conditions expand to more than {MAX_BRANCHES}"
                " alternatives; split it into several rules"
            )
    return itertools.product(*parts)


def _branch(
    rule: Rule,
    tests: list[Test],
    triggers: list[str],
    gate: int | None,
    facts: Mapping[str, FactSpec],
) -> Branch:
    """One conjunction as patterns: one on the rule's entity, one per derived fact it reads.

    Every input fact a rule tests is on one entity fact: the situation's for a situation rule,
    each loan's for a per-loan rule (a loan entity carries the situation's facts too). Input
    facts a derive expression reads need no pattern: the entities are always asserted at level
    0. A derived fact it reads does (the rule waits for its value or its unknown marker).
    """
    entity = LOAN_ENTITY if rule.about == "loan" else SITUATION_ENTITY
    by_fact: dict[str, list[Test]] = {}
    for test in tests:
        key = test.fact if facts[test.fact].derived else entity
        by_fact.setdefault(key, []).append(test)
    for name in triggers:
        if facts[name].derived:
            by_fact.setdefault(name, [])
    if rule.about == "loan" and not any(_is_loan(k, facts) for k in by_fact):
        by_fact[LOAN_ENTITY] = []
    if not by_fact and gate is None:
        by_fact[SITUATION_ENTITY] = []
    # entities first: the loan entity is then the first loan pattern, the one others join
    order = sorted(by_fact, key=lambda k: (_is_loan(k, facts), k not in ENTITY_TYPES))
    patterns = tuple(Pattern(k, tuple(by_fact[k]), _is_loan(k, facts)) for k in order)
    if len(patterns) + (gate is not None) > MAX_PATTERNS:
        raise _RuleTooComplex(
            f"it tests {len(patterns)} different facts in one alternative;"
            f" the engine allows {MAX_PATTERNS - 1}"
        )
    return Branch(patterns, gate)


def _is_loan(key: str, facts: Mapping[str, FactSpec]) -> bool:
    if key in ENTITY_TYPES:
        return key == LOAN_ENTITY
    return facts[key].scope == "loan"


# --- durable_rules JSON ---------------------------------------------------------------------


def test_json(test: Test, columns: Mapping[str, int]) -> dict[str, Any] | None:
    """One test in durable_rules' condition language (None: the fact just has to be present).

    An input fact is tested in its entity column (``v7``, ``u7``, ``n7``); a derived fact in
    its own fact (``v``, ``u``, ``n``). A missing property matches no test but ``$ex``/``$nex``,
    which are not used on missing values: an unknown value is its marker, never an absence.
    """
    column = columns.get(test.fact)
    value, unknown, length = ("v", "u", "n") if column is None else entity_properties(column)
    return OPERATORS[test.op].lower(test.expected, Props(value, unknown, length))


def pattern_json(pattern: Pattern, join: str | None, columns: Mapping[str, int]) -> dict[str, Any]:
    """One pattern: the kind of fact, then the join on the loan id, then the tests.

    The join must come before the tests: durable_rules 2.0.28 loses a join that follows an
    ``$or`` in the same ``$and`` (the pattern then matches any loan's fact).
    """
    kind = ENTITY_TYPES.get(pattern.fact)
    terms: list[dict[str, Any]] = [{"a": pattern.fact} if kind is None else {"t": kind}]
    if join is not None:
        terms.append({"l": {join: "l"}})
    terms += [t for t in (test_json(test, columns) for test in pattern.tests) if t is not None]
    return terms[0] if len(terms) == 1 else {"$and": terms}


def branch_json(branch: Branch, columns: Mapping[str, int]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    first_loan: str | None = None
    for i, pattern in enumerate(branch.patterns):
        alias = f"c{i}"
        join = first_loan if pattern.loan else None
        items.append({alias: pattern_json(pattern, join, columns)})
        if pattern.loan and first_loan is None:
            first_loan = alias
    if branch.gate is not None:
        items.append({"g": {"$and": [{"a": GATE}, {"v": branch.gate}]}})
    return {"all": items}


def first_loan_alias(branch: Branch) -> str | None:
    for i, pattern in enumerate(branch.patterns):
        if pattern.loan:
            return f"c{i}"
    return None


# --- sharding -------------------------------------------------------------------------------


@dataclass
class _ShardBuilder:
    index: int
    rules: dict[str, Any] = field(default_factory=dict)
    names: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    chains: dict[str, dict[str, int]] = field(default_factory=dict)  #: fact → test chain → width
    shared: Counter[tuple[str, str]] = field(default_factory=Counter)
    late: bool = False
    unknowns: set[str] = field(default_factory=set)

    def fits(self, load: list[tuple[str, str, int]], branches: int) -> bool:
        """Whether a rule with this load can join without risking an engine limit."""
        if not self.rules:
            return True
        if len(self.rules) + branches > RULES_PER_SHARD:
            return False
        chains = {fact: dict(c) for fact, c in self.chains.items()}
        shared = Counter(self.shared)
        self._add(load, chains, shared)
        return (
            len(chains) <= ROOT_BUDGET
            and max(shared.values()) <= SHARED_BUDGET
            and all(sum(c.values()) <= FANOUT_BUDGET for c in chains.values())
        )

    def add(self, load: list[tuple[str, str, int]]) -> None:
        self._add(load, self.chains, self.shared)

    @staticmethod
    def _add(
        load: list[tuple[str, str, int]],
        chains: dict[str, dict[str, int]],
        shared: Counter[tuple[str, str]],
    ) -> None:
        for fact, chain, width in load:
            chains.setdefault(fact, {})[chain] = width
            shared[(fact, chain)] += 1


def _load(compiled: CompiledRule, columns: Mapping[str, int]) -> list[tuple[str, str, int]]:
    """(fact, test chain, width) of every pattern of every branch: what the rule adds to a shard.

    The fact is the engine fact the pattern matches (an entity or a derived fact): the fan-out
    budget is per engine fact, since one entity fact meets every test on its entity.
    """
    load = []
    for branch in compiled.branches:
        for pattern in branch.patterns:
            chain = to_engine_json([test_json(t, columns) for t in pattern.tests])
            width = max((OPERATORS[t.op].fanout(t.expected) for t in pattern.tests), default=1)
            load.append((pattern.fact, chain, width))
        if branch.gate is not None:
            load.append((GATE, str(branch.gate), 1))
    return load


def _is_late(rule: CompiledRule) -> bool:
    """Whether a rule reads derived facts or waits for a gate: its shard must stay open."""
    return rule.stage > 0 or any(b.gate is not None for b in rule.branches)


def _shard(
    compiled: Sequence[CompiledRule], columns: Mapping[str, int], levels: Mapping[str, int]
) -> list[Shard]:
    """Pack rules into shards: first the rules on input facts only, then the late ones.

    Keeping late rules together keeps the other shards early: the driver deletes an early
    shard's state right after its drain, while a late one lives until the last level. Late
    rules are grouped by the derived facts they read, so that a derived fact is asserted into
    as few shards as possible.
    """

    def place(i: int) -> tuple[bool, tuple[str, ...]]:
        rule = compiled[i]
        return _is_late(rule), tuple(sorted(f for f in rule.reads if f in levels))

    builders = [_ShardBuilder(0)]
    order = sorted(range(len(compiled)), key=place)  # stable: rule order within a group
    for index in order:
        rule = compiled[index]
        load = _load(rule, columns)
        if not builders[-1].fits(load, len(rule.branches)):
            builders.append(_ShardBuilder(len(builders)))
        current = builders[-1]
        for b, branch in enumerate(rule.branches):
            name = f"r{index}" if len(rule.branches) == 1 else f"r{index}b{b}"
            current.rules[name] = branch_json(branch, columns)
            current.names[name] = (index, first_loan_alias(branch))
        current.add(load)
        current.unknowns.update(
            pattern.fact
            for branch in rule.branches
            for pattern in branch.patterns
            if pattern.fact not in ENTITY_TYPES
            and all(test.op == "unknown" for test in pattern.tests)
        )
        current.late = current.late or _is_late(rule)
    return [_finish(b) for b in builders if b.rules]


def _finish(builder: _ShardBuilder) -> Shard:
    definition = dict(builder.rules)
    definition[SENTINEL] = {"pri": 65534, "all": [{"m": {"$s": 1}}]}
    check_hash_collisions(property_names(definition))
    return Shard(
        builder.index,
        to_engine_json(definition),
        dict(builder.names),
        frozenset(builder.chains),
        builder.late,
        frozenset(builder.unknowns),
    )
