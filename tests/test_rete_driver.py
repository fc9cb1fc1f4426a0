"""The Rete driver's cost (issue 14): what it asks of durable_rules and of Python, counted.

The peer workload (``bench/peers``: generated rules over 26 fields, two levels of derived facts,
several shards) is evaluated with the engine's calls counted: how many states are alive at
once, how many assert calls a shard gets, how often a loan id is decoded from a payload, and
whether the trace is built when nobody reads it. Operation counts, never time; the results
themselves are checked against the pure-Python reference on every situation used.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.load.situation import normalise
from engine.run import driver as run_module
from engine.run import rete
from engine.run.driver import run
from engine.run.reference import reference_run
from tests.conftest import situation
from tests.test_lowered import TODAY, outcome

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
    """Record durable_rules' calls in order, as (call, handle), and the states alive at once."""
    real = rete._engine
    seen: dict[str, Any] = {"log": [], "live": set(), "most_live": 0}

    def wrap(name: str) -> None:
        original = getattr(real, name)

        def counted(handle: int, arg: Any) -> Any:
            seen["log"].append((name, handle))
            if name.startswith("assert"):
                seen["live"].update((handle, sid) for sid in _SID.findall(arg))
                seen["most_live"] = max(seen["most_live"], len(seen["live"]))
            elif name == "delete_state":
                seen["live"].discard((handle, arg))
            return original(handle, arg)

        monkeypatch.setattr(real, name, counted)

    for name in ("assert_fact", "assert_facts", "start_action_for_state", "delete_state"):
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
