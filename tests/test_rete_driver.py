"""The Rete driver's cost (issue 14): what it asks of durable_rules and of Python, counted.

The peer workload (``bench/peers``: generated rules over 26 fields, two levels of derived facts,
several shards) is evaluated with the engine's calls counted: how many states are alive at
once, how many assert calls a shard gets, how often a loan id is decoded from a payload, and
whether the trace is built when nobody reads it. Operation counts, never time; the results
themselves are checked against the pure-Python reference on every situation used.
"""

from __future__ import annotations

import json
import pickle
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings

import engine
from engine.core.encoding import EncodingError
from engine.load.situation import normalise
from engine.run import driver as run_module
from engine.run import entities, rete
from engine.run.driver import run
from engine.run.memory import Memory, SituationMemory
from engine.run.reference import reference_run
from tests.conftest import situation
from tests.packgen import write_feature_pack
from tests.strategies import situations
from tests.test_lowered import SHIPPED, TODAY, outcome

PEERS = Path(__file__).resolve().parent.parent / "bench" / "peers"
SITUATIONS = 40
_SID = re.compile(r'"sid":"([^"]+)"')
#: two loans, both of which the default pack's per-loan rules read
TWO_LOANS = situation(
    loans=[
        {"id": "jiebei", "product": "jiebei", "days_overdue": 40, "overdue_amount": 3000},
        {"id": "card", "product": "credit_card", "days_overdue": 10, "overdue_amount": 500},
    ]
)


@pytest.fixture(scope="module")
def peer_pack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[Any]]]:
    """The peer workload at 300 rules as an xieshang pack (several shards of each kind at
    the fan-out budget), and situations for it."""
    sys.path.insert(0, str(PEERS))
    try:
        import gen  # type: ignore[import-not-found]
        from engines.xieshang_map import (  # type: ignore[import-not-found]
            Translation,
            encode_situation,
        )
    finally:
        sys.path.remove(str(PEERS))
    root = tmp_path_factory.mktemp("peers") / "pack"
    Translation(gen.pack(300)).write(str(root))
    with engine.load_rules([root]) as rules:
        situations = [normalise(encode_situation(s), TODAY) for s in gen.situations()[:SITUATIONS]]
        yield rules, situations


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Record durable_rules' calls in order, as (call, handle), the states alive at once, and
    how many states were made (a fact for a sid that has no state in that ruleset yet)."""
    real = rete._engine
    seen: dict[str, Any] = {"log": [], "live": set(), "most_live": 0, "made": 0}

    def wrap(name: str) -> None:
        original = getattr(real, name)

        def counted(handle: int, arg: Any) -> Any:
            seen["log"].append((name, handle))
            if name.startswith("assert"):
                states = {(handle, sid) for sid in _SID.findall(arg)}
                seen["made"] += len(states - seen["live"])
                seen["live"].update(states)
                seen["most_live"] = max(seen["most_live"], len(seen["live"]))
            elif name == "delete_state":
                seen["live"].discard((handle, arg))
            return original(handle, arg)

        monkeypatch.setattr(real, name, counted)

    for name in (
        "assert_fact",
        "assert_facts",
        "start_action_for_state",
        "delete_state",
        "retract_facts",
    ):
        wrap(name)
    return seen


def test_the_peer_workload_agrees_with_the_reference(peer_pack: tuple[Any, list[Any]]) -> None:
    rules, situations = peer_pack
    assert len(rules.compiled.shards) >= 4
    # shards as full as the fan-out budget allows: no more than the direct-C driver's 50 rules
    # each (300 rules: 5 shards; 7 with the earlier budget of 40 chains)
    assert len(rules.compiled.shards) <= 300 // 50
    assert any(shard.late for shard in rules.compiled.shards), "rules that read derived facts"
    fired = 0
    for normal in situations:
        result = run(rules.runtime, normal)
        assert outcome(result) == outcome(reference_run(rules.compiled, normal))
        fired += len(result.firings)
    assert fired > 5 * len(situations)


def test_only_states_that_can_still_receive_facts_outlive_their_drain(
    peer_pack: tuple[Any, list[Any]], calls: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard nothing can reach after its first drain is deleted right after it; here that
    is every shard but those that derive facts for each other, so only those overlap. Before,
    every shard reading derived facts kept its state to the end, and had it made early.
    (Without a state pool: with one, the states of kept shards live on by design, below.)"""
    rules, situations = peer_pack
    monkeypatch.setattr(rules.runtime, "pool", None)
    final = rules.runtime.plan().final
    kept = final.count(False)
    assert final.count(True) >= 3 and kept >= 1
    for normal in situations:
        run(rules.runtime, normal)
    assert calls["most_live"] == kept
    assert not calls["live"]


def test_facts_for_a_shard_are_asserted_only_at_its_drain(
    peer_pack: tuple[Any, list[Any]], calls: dict[str, Any]
) -> None:
    """A derived fact for another shard waits for that shard's drain (and goes in the same
    call as its other facts), so no state is made or fed while another shard drains; before,
    each was asserted at once, in a call of its own."""
    rules, situations = peer_pack
    for normal in situations:
        run(rules.runtime, normal)
    log = calls["log"]
    starts = [(i, handle) for i, (name, handle) in enumerate(log) if name.startswith("start")]
    asserts = [(i, handle) for i, (name, handle) in enumerate(log) if name.startswith("assert")]
    assert len(asserts) >= len(situations) * len(rules.compiled.shards)
    for i, handle in asserts:
        draining = [h for j, h in starts if j < i][-1:]  # the shard whose drain runs now
        next_drain = [h for j, h in starts if j > i][:1]
        assert handle in draining or handle in next_drain, (i, handle, log[max(0, i - 5) : i + 5])
    derived = sum(
        1 for normal in situations[:5] for _ in run(rules.runtime, normal).memory.derivations
    )
    assert derived > 5  # facts did cross shards


def test_a_one_loan_situation_decodes_no_payload(
    peer_pack: tuple[Any, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real = run_module._bound_loan

    def counted(message: str, alias: str) -> str:
        loan = real(message, alias)
        decoded.append(loan)
        return loan

    monkeypatch.setattr(run_module, "_bound_loan", counted)
    rules, situations = peer_pack
    loan_firings = sum(
        1 for normal in situations for f in run(rules.runtime, normal).firings if f.loan_id
    )
    assert loan_firings > 0
    assert decoded == []
    # with two loans the payload says which loan a firing is for
    default = engine.load_rules()
    two = run(default.runtime, normalise(TWO_LOANS, TODAY))
    assert {f.loan_id for f in two.firings} > {None}
    assert decoded


def test_firings_are_shared_between_evaluations(peer_pack: tuple[Any, list[Any]]) -> None:
    rules, situations = peer_pack
    first = run(rules.runtime, situations[0]).firings
    again = run(rules.runtime, situations[0]).firings
    assert first and all(a is b for a, b in zip(first, again, strict=True))


def test_the_trace_is_made_once_and_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real = run_module._trace

    def counted(*args: Any) -> list[dict[str, Any]]:
        made.append(1)
        return real(*args)

    monkeypatch.setattr(run_module, "_trace", counted)
    default = engine.load_rules()
    result = run(default.runtime, normalise(TWO_LOANS, TODAY))
    assert made == []
    trace = result.trace
    assert result.trace is trace and made == [1]
    ops = [event["op"] for event in trace]
    assert ops[0] == "assert" and "fire" in ops and "close" in ops
    fired = [event for event in trace if event["op"] == "fire"]
    assert len(fired) == len(result.firings)
    rule_ids = [c.rule.id for c in default.compiled.rules]
    assert sorted((rule_ids.index(e["rule"]), e["loan"] or "") for e in fired) == sorted(
        (f.rule_index, f.loan_id or "") for f in result.firings
    )


# --- clean engine states kept between evaluations (rete.StatePool) ------------------------------


def test_engine_states_are_made_once_then_reused(
    peer_pack: tuple[Any, list[Any]], calls: dict[str, Any]
) -> None:
    """Making a state costs the engine ≈12 KB per rule of memory to allocate and initialise,
    and deleting it as much again: about half of its time per evaluation. After one pass over
    the situations (each shard's state made once) no evaluation makes or deletes a state: each
    retracts its facts in one call per shard. Before, every evaluation made and deleted one
    state per shard."""
    rules, situations = peer_pack
    for normal in situations:
        run(rules.runtime, normal)
    shards = len(rules.compiled.shards)
    assert calls["made"] == shards
    calls["log"].clear()
    for normal in situations:
        assert outcome(run(rules.runtime, normal)) == outcome(reference_run(rules.compiled, normal))
    assert calls["made"] == shards
    names = [name for name, _handle in calls["log"]]
    assert "delete_state" not in names
    assert 0 < names.count("retract_facts") <= shards * len(situations)


def test_a_kept_state_holds_nothing_between_evaluations(
    peer_pack: tuple[Any, list[Any]], default_rules: engine.RuleSet
) -> None:
    """What an idle state holds is the engine's own state fact, which only the sentinel rule
    tests: every fact of the evaluation, derived facts, markers and gates included, was
    retracted. The peer workload, and the built-in pack on every shipped situation."""
    shipped = [normalise(s, TODAY) for _name, s in SHIPPED]
    for rules, normals in (peer_pack, (default_rules, shipped)):
        kept = 0
        for normal in normals:
            run(rules.runtime, normal)
            kept = max(kept, _clean_states(rules))
        assert kept == len(rules.compiled.shards)


@pytest.fixture(scope="module")
def feature_rules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[engine.RuleSet]:
    with engine.load_rules([write_feature_pack(tmp_path_factory.mktemp("features") / "p")]) as r:
        yield r


@settings(max_examples=80, deadline=None)
@given(situations())
def test_kept_states_hold_nothing_after_any_situation(
    feature_rules: engine.RuleSet, situation: dict[str, Any]
) -> None:
    """The same on the feature pack (every operator, chaining across shards, aggregates and
    their gates, unknown markers) for generated situations, checked against the reference."""
    normal = normalise(situation, TODAY)
    result = run(feature_rules.runtime, normal)
    assert outcome(result) == outcome(reference_run(feature_rules.compiled, normal))
    _clean_states(feature_rules)


def _clean_states(rules: engine.RuleSet) -> int:
    """Check that every idle state holds only the engine's state fact; return how many."""
    pool = rules.runtime.pool
    assert pool is not None
    ((sid, states),) = pool.idle()
    for generation in states.values():
        facts = json.loads(rete._engine.get_facts(generation.handle, sid))
        assert facts == [{"sid": sid, "id": f"sid-{sid}", "$s": 1}]
    return len(states)


def test_reused_states_give_what_fresh_states_give(
    peer_pack: tuple[Any, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Firings, working memory (values in order, derivations) and the trace, with and without
    the pool, on situations run twice over."""
    rules, situations = peer_pack
    runtime = rules.runtime
    pooled = [run(runtime, normal) for normal in situations * 2]
    monkeypatch.setattr(runtime, "pool", None)
    for normal, kept in zip(situations * 2, pooled, strict=True):
        fresh = run(runtime, normal)
        assert outcome(kept) == outcome(fresh)
        assert list(kept.memory.values) == list(fresh.memory.values)
        assert kept.trace == fresh.trace


def test_only_shards_within_the_budget_keep_their_state(
    peer_pack: tuple[Any, list[Any]], calls: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool keeps the states of the first shards up to ``KEPT_STATE_RULES`` engine rules
    (memory: ≈12 KB per rule each); the others are deleted after their drain, as without it."""
    rules, situations = peer_pack
    shards = rules.compiled.shards
    monkeypatch.setattr(rete, "KEPT_STATE_RULES", len(shards[0].names) + len(shards[1].names))
    runtime = run_module.Runtime(rules.compiled)
    assert runtime.pool is not None and runtime.pool.keep[:3] == (True, True, False)
    try:
        for normal in situations:
            assert outcome(run(runtime, normal)) == outcome(reference_run(rules.compiled, normal))
        ((sid, states),) = runtime.pool.idle()
        assert sorted(states) == [0, 1]
        assert calls["live"] == {(states[0].handle, sid), (states[1].handle, sid)}
    finally:
        runtime.close()
    assert not calls["live"]  # closing the runtime deleted the kept states


def test_state_reuse_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch, calls: dict[str, Any]
) -> None:
    monkeypatch.setenv(rete.NO_STATE_REUSE, "1")
    with engine.load_rules() as rules:
        assert rules.runtime.pool is None
        run(rules.runtime, normalise(TWO_LOANS, TODAY))
        run(rules.runtime, normalise(TWO_LOANS, TODAY))
        assert not calls["live"]  # every state deleted at the end of its evaluation
        assert calls["made"] == 2 * len({handle for _name, handle in calls["log"]})


# --- a one-loan situation: read when read, encoded by generated code ----------------------------


def test_a_one_loan_run_reads_the_situation_only_when_memory_is_read(
    peer_pack: tuple[Any, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entity facts are written straight from the situation; working memory reads the
    whole situation only when someone reads ``values``, and then holds exactly what a memory
    read at the start holds, in the same order."""
    rules, situations = peer_pack
    reads: list[object] = []
    real = entities.reader()

    def counted(situation: Any, loan: Any, loan_id: str) -> Any:
        reads.append(situation)
        return real(situation, loan, loan_id)

    monkeypatch.setattr(run_module, "reader", lambda: counted)
    for normal in situations:
        result = run(rules.runtime, normal)
        assert reads == []
        eager = run_module._Driver(rules.runtime, Memory.from_situation(normal), None).run()
        assert list(result.memory.values.items()) == list(eager.memory.values.items())
        assert reads == [normal]
        assert result.memory == eager.memory and result.trace == eager.trace
        copied = pickle.loads(pickle.dumps(result.memory))  # as a plain Memory
        assert type(copied) is Memory and copied == eager.memory
        reads.clear()


def test_generated_entity_facts_are_the_general_ones(
    default_rules: engine.RuleSet, peer_pack: tuple[Any, list[Any]]
) -> None:
    """The one-loan encoder writes the same entity facts as the general path, for the peer
    workload, every shipped one-loan situation and odd shapes (null, missing and non-object
    parts, mappings that are not dicts, values of other types than the schema's)."""
    loan = {"id": "a", "product": "jiebei", "days_overdue": 40, "overdue_amount": 900}
    base = normalise(situation(), TODAY)
    odd: list[Any] = [
        {**base, "loans": [{**loan, "status": None, "arrangement": 3}], "plans": 3},
        {**base, "loans": [{**loan, "status": {"legal": None}}], "borrower": None},
        {
            **base,
            "loans": [MappingProxyType(loan)],
            "borrower": MappingProxyType({"dependants": 2}),
        },
        MappingProxyType({**base, "loans": [loan], "contact": {"contacted_lender": True}}),
        {**base, "loans": [{**loan, "days_overdue": 4.0, "overdue_amount": 1e-05}]},
        {**base, "loans": [{**loan, "days_overdue": True, "overdue_amount": "9"}]},
        {**base, "borrower": {"monthly_income": 2**62, "income_sources": ["salary", "中"]}},
        {**base, "borrower": {"monthly_income": 0.1 + 0.2, "dependants": -0.0}},
    ]
    shipped = [normalise(s, TODAY) for _name, s in SHIPPED if len(s["loans"]) == 1]
    rules, peers = peer_pack
    for ruleset, normals in ((default_rules, shipped + odd), (rules, peers + odd)):
        for normal in normals:
            assert _entity_facts(ruleset, normal) == _entity_facts(ruleset, normal, eager=True)


def test_an_entity_value_the_engine_cannot_read_is_refused_alike(
    default_rules: engine.RuleSet,
) -> None:
    loan = {"id": "a", "product": "jiebei", "days_overdue": 2**63, "overdue_amount": 9}
    normal = {**normalise(situation(), TODAY), "loans": [loan]}
    for eager in (False, True):
        with pytest.raises(EncodingError, match="64-bit"):
            _entity_facts(default_rules, normal, eager=eager)


def _entity_facts(ruleset: engine.RuleSet, normal: Any, *, eager: bool = False) -> Any:
    """The entity facts of the driver's first level, per shard, without the sid."""
    loans = normal["loans"]
    memory = (
        Memory.from_situation(normal)
        if eager
        else SituationMemory(normal, loans[0], loans[0]["id"], entities.reader())
    )
    driver = run_module._Driver(ruleset.runtime, memory, None)
    try:
        made = driver.entities()
    finally:
        driver.session.close()
    return {shard: [_SID.sub("", fact) for fact in facts] for shard, facts in made.items()}


def test_the_generated_code_has_only_its_own_names(default_rules: engine.RuleSet) -> None:
    """Identifiers of the generated reader and encoder are made by ``entities``; everything of
    the schema or the pack (fact names, paths, property names) is a constant."""
    plan = default_rules.runtime.plan()
    for function in (entities.reader(), plan.encode_one):
        assert function.__globals__["__builtins__"] == {}
        assert function.__code__.co_filename.startswith("<xieshang ")
        names = set(function.__code__.co_varnames) | set(function.__code__.co_names)
        made = re.compile(r"[a-z]+(_[a-z]+)?_?|[ngce][0-9]+|U|UNKNOWN")
        assert all(made.fullmatch(name) for name in names), sorted(names)
