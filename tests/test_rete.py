"""The durable_rules adapter: encoding, hashes, error mapping, sharding, state hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.compile.compiler import FANOUT_BUDGET, entity_properties
from engine.core.encoding import (
    EncodingError,
    check_hash_collisions,
    fnv1a_32,
    number_text,
    property_names,
    to_engine_json,
    value_json,
)
from engine.core.errors import EngineError, EngineLimitError
from engine.run.driver import _Driver
from engine.run.memory import Memory
from engine.run.rete import FACT_IDS, Ruleset, Session, to_error
from tests.conftest import PackFactory, situation


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-05, "0.00001"),
        (1.5e300, "15" + "0" * 299 + ".0"),
        (2.0, "2.0"),
        (-7, "-7"),
        (0.1 + 0.2, "0.30000000000000004"),
        (2**63 - 1, str(2**63 - 1)),
    ],
)
def test_numbers_are_written_in_fixed_notation(value: float, text: str) -> None:
    assert number_text(value) == text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2**63, True])
def test_unrepresentable_numbers_are_refused(value: float) -> None:
    with pytest.raises(EncodingError):
        number_text(value)


def test_engine_json_has_no_raw_whitespace_and_keeps_unicode() -> None:
    assert to_engine_json({"s": "中\r\n", "l": [1, None, False]}) == (
        '{"s":"中\\r\\n","l":[1,null,false]}'
    )


def test_known_fnv_collision_is_detected() -> None:
    assert fnv1a_32("p2039599") == fnv1a_32("p2222382")
    with pytest.raises(EngineError, match="collide"):
        check_hash_collisions(["a", "p2039599", "p2222382"])
    check_hash_collisions(["id", "a", "v", "u", "l", "n", "sid", "$s"])


def test_property_names_of_a_compiled_pack_are_the_fixed_encoding(
    default_rules: engine.RuleSet,
) -> None:
    """The fixed names, and the entity columns of the input facts the pack tests (no others)."""
    names: set[str] = set()
    for shard in default_rules.compiled.shards:
        names |= property_names(json.loads(shard.definition))
    columns = default_rules.compiled.columns
    entity = {p for column in columns.values() for p in entity_properties(column)}
    assert names <= {"a", "t", "v", "u", "l", "n", "$s"} | entity
    for column in columns.values():  # a column is sent only because some rule tests it
        assert set(entity_properties(column)) & names


def test_fact_ids_have_distinct_hashes() -> None:
    ids = [FACT_IDS.get(i) for i in range(20000)]
    assert len({fnv1a_32(i) for i in ids}) == len(ids)


def test_every_shard_has_the_sentinel(default_rules: engine.RuleSet) -> None:
    for shard in default_rules.compiled.shards:
        definition = json.loads(shard.definition)
        assert definition["__sentinel__"] == {"pri": 65534, "all": [{"m": {"$s": 1}}]}


def test_engine_errors_become_typed() -> None:
    error = to_error(Exception("Could not assert event, error code: 303"))
    assert isinstance(error, EngineLimitError) and error.code == 303
    assert to_error(MemoryError()).code == 101


def test_fan_out_error_is_mapped_and_the_ruleset_recovers() -> None:
    """65 rules matching one fact in one ruleset: error 303 → EngineLimitError, then recovery."""
    rules = {
        f"r{i}": {"all": [{"m": {"$and": [{"a": "x"}, {"$gt": {"v": i}}]}}]} for i in range(65)
    }
    rules["__sentinel__"] = {"pri": 65534, "all": [{"m": {"$s": 1}}]}
    ruleset = Ruleset(to_engine_json(rules))
    session = Session([ruleset], budget=1000)
    with pytest.raises(EngineLimitError) as caught:
        session.assert_facts(0, [to_engine_json({"id": "f0", "a": "x", "v": 100})])
    session.close()  # abandons the broken state and replaces the ruleset
    assert caught.value.code == 303
    fine = Session([ruleset], budget=1000)
    fine.assert_facts(0, [to_engine_json({"id": "f0", "a": "x", "v": 3})])
    fired: list[str] = []
    fine.drain(0, lambda shard, name, message: fired.append(name) or [])
    fine.close()
    assert sorted(fired) == ["r0", "r1", "r2"]


def test_sharding_keeps_each_fact_under_the_fan_out_limit(make_pack: PackFactory) -> None:
    """200 rules all matching one fact would be error 303 in one ruleset; sharded, all fire."""
    rules = (
        "rules:\n"
        + "".join(
            textwrap.dedent(f"""\
          - id: r{i}
            title: {{en: t, zh-CN: t}}
            source: guide §2.1
            when: {{fact: borrower.monthly_income, op: ">", value: {i}}}
            adjust: {{action: build_budget, by: 1, reason: {{en: r, zh-CN: r}}}}
        """)
            for i in range(200)
        )
        + textwrap.dedent("""\
          - id: base
            title: {en: t, zh-CN: t}
            source: guide §2.1
            recommend: {action: build_budget, priority: 0, urgency: ongoing,
                        title: {en: b, zh-CN: b}, message: {en: b, zh-CN: b}}
    """)
    )
    ruleset = engine.load_rules([make_pack(rules)])
    assert len(ruleset.compiled.shards) >= 200 // FANOUT_BUDGET
    # the shards are full: one fact matches FANOUT_BUDGET chains in a ruleset, and no 303
    assert max(len(shard.names) for shard in ruleset.compiled.shards) == FANOUT_BUDGET
    decision = engine.evaluate(ruleset, situation(borrower={"monthly_income": 10000}))
    assert decision.recommendations[0].score == 200


#: test chains of the shapes the compiler lowers operators to, each matching the fact below,
#: with the slots the compiler's ``_load`` counts for one (an ``in`` list: one per item)
CHAIN_SHAPES: dict[str, tuple[Any, int]] = {
    "compare": (lambda i: {"$gt": {"v1": i}}, 1),
    "two $neq (not_in)": (
        lambda i: {"$and": [{"$neq": {"v1": -i}}, {"$neq": {"v1": -i - 1}}]},
        1,
    ),
    "between": (lambda i: {"$and": [{"$gte": {"v1": i}}, {"$lte": {"v1": 100000 + i}}]}, 1),
    "not_between ($or)": (lambda i: {"$or": [{"$lt": {"v1": -i - 1}}, {"$gt": {"v1": i}}]}, 2),
    "in, both items match": (lambda i: {"$or": [{"v1": 1000}, {"v1": 1000.0}]}, 2),
    "contains ($iany)": (
        lambda i: {"$and": [{"$iany": {"v4": {"$i": 7}}}, {"$gt": {"v1": i}}]},
        1,
    ),
    "three tests": (
        lambda i: {"$and": [{"$gt": {"v1": i}}, {"$gt": {"v2": i}}, {"$lt": {"v3": 100000 + i}}]},
        1,
    ),
}


@pytest.mark.parametrize("shape", sorted(CHAIN_SHAPES))
def test_the_fan_out_limit_holds_64_slots_of_matching_chains(shape: str) -> None:
    """What ``FANOUT_BUDGET`` (60 slots) relies on: one entity fact matching chains worth 64
    slots as the compiler counts them, of each shape it makes, behind the entity's type test,
    works; 65 chains are error 303. If a durable_rules upgrade counted more per chain, this
    fails before a pack at the budget does."""
    assert FANOUT_BUDGET <= 60
    chain, slots = CHAIN_SHAPES[shape]
    fact = {"id": "f", "t": "s", "v1": 1000, "v2": 1000, "v3": 1, "v4": [7, 7, 8]}

    def fire(count: int) -> list[str] | int:
        rules: dict[str, Any] = {
            f"r{i}": {"all": [{"m": {"$and": [{"t": "s"}, chain(i)]}}]} for i in range(count)
        }
        rules["__sentinel__"] = {"pri": 65534, "all": [{"m": {"$s": 1}}]}
        session = Session([Ruleset(to_engine_json(rules))], budget=1000)
        fired: list[str] = []
        try:
            session.assert_facts(0, [to_engine_json(fact)])
            session.drain(0, lambda shard, name, message: fired.append(name) or [])
        except EngineLimitError as error:
            return error.code
        finally:
            session.close()
        return sorted(set(fired))

    assert fire(64 // slots) == sorted(f"r{i}" for i in range(64 // slots))
    assert fire(65) == 303


DIRTY_HEAP = """
import gc, json, sys
sys.path.insert(0, {root!r})
junk = [bytearray(i % 977 + 1) for i in range(20000)]
del junk[::2]
import engine
from tests.conftest import situation
rules = engine.load_rules([{pack!r}])
sit = situation(borrower={{"distress": True}})
for _ in range(3000):
    assert engine.evaluate(rules, sit, validated=True).recommendations == ()
print("ok")
"""


@pytest.mark.slow  # a subprocess
def test_no_match_evaluations_on_a_dirty_heap_do_not_crash(make_pack: PackFactory) -> None:
    """DURABLE_RULES §0.1: delete_state after no action crashes; the sentinel prevents it."""
    pack = make_pack("""
    rules:
      - id: calm
        title: {en: t, zh-CN: t}
        source: guide §3.2
        when: {fact: borrower.distress, op: "==", value: false}
        recommend: {action: stay_calm, priority: 1, urgency: ongoing,
                    title: {en: c, zh-CN: c}, message: {en: c, zh-CN: c}}
    """)
    root = str(Path(__file__).resolve().parent.parent)
    code = DIRTY_HEAP.format(root=root, pack=str(pack))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_live_sessions_never_share_a_sid_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """DURABLE_RULES §9.3: states are found by the sid's 32-bit hash, so live sids must differ."""
    from engine.run import rete

    monkeypatch.setattr(rete, "_sids", iter([5, 5, 6]))
    first = rete.new_sid()
    second = rete.new_sid()  # "e5" is live: skipped
    assert (first, second) == ("e5", "e6")
    rete.release_sid(first)
    rete.release_sid(second)
    assert fnv1a_32("e5") not in rete._live_sid_hashes


@pytest.mark.parametrize(
    "value", [1e-05, 1e20, 0.5, -0.0, 7, -(2**63), 2**63 - 1, True, False, None, '中\r\n"', ["a"]]
)
def test_value_json_is_to_engine_json(value: object) -> None:
    assert value_json(value) == to_engine_json(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**63, -(2**63) - 1])
def test_value_json_refuses_what_the_engine_cannot_read(value: object) -> None:
    with pytest.raises(EncodingError):
        value_json(value)


def test_entity_columns_keep_the_type_of_equal_values(default_rules: engine.RuleSet) -> None:
    """2 and 2.0 (and True and 1) are equal keys in Python, but different engine texts."""
    compiled = default_rules.compiled
    income = "borrower.monthly_income"
    prefix = f'"v{compiled.columns[income]}":'
    texts = []
    for value in (2, 2.0, 2):
        driver = _Driver(default_rules.runtime, Memory({(income, None): value}, []), None)
        (entity,) = {fact for facts in driver.entities().values() for fact in facts}
        driver.session.close()
        texts.append(next(p for p in entity[1:-1].split(",") if p.startswith(prefix)))
    assert texts == [f"{prefix}2", f"{prefix}2.0", f"{prefix}2"]
