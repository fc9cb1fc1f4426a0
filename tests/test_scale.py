"""Large packs and many evaluations: generated packs load within durable_rules' limits and fire
exactly the rules they should; 50 loans; memory stays flat over thousands of evaluations.

The 10,000-rule pack is tested here (about 15 s); 10,000 evaluations in one process are measured
by ``make bench`` (bench/RESULTS.md), 2,000 here.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from engine.api import RuleSet, evaluate, load_rules
from engine.compile import packcache
from engine.compile.compiler import FANOUT_BUDGET, RULES_PER_SHARD
from engine.core.schemas import validator
from engine.load.situation import normalise
from engine.run.driver import run
from engine.run.reference import reference_run
from tests.packgen import generate_pack, matching_situation, write_feature_pack

pytestmark = pytest.mark.slow  # scale tests: `make test-fast` leaves them out

TODAY = datetime.date(2026, 11, 28)


def rss_kb() -> int:
    """Resident memory of this process now (VmRSS), in KB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def check_fires_exactly(ruleset: RuleSet, matches: list[bool], loans: int) -> None:
    situation = normalise(matching_situation(loans), TODAY)
    result = run(ruleset.runtime, situation)
    reference = reference_run(ruleset.compiled, situation)
    assert result.firings == reference.firings
    fired = {f.rule_index for f in result.firings}
    assert fired == {i for i, match in enumerate(matches) if match}
    per_loan = [c.rule.about == "loan" for c in ruleset.compiled.rules]
    expected = sum((loans if per_loan[i] else 1) for i, match in enumerate(matches) if match)
    assert len(result.firings) == expected


def check_limits(ruleset: RuleSet) -> None:
    """Every shard stays inside the compiler's budgets (far inside durable_rules' limits)."""
    for shard in ruleset.compiled.shards:
        definition = json.loads(shard.definition)
        assert len(definition) <= RULES_PER_SHARD + 1  # + the sentinel
    assert all(len(s.facts) > 0 for s in ruleset.compiled.shards)


@pytest.fixture(scope="module")
def pack_1000(tmp_path_factory: pytest.TempPathFactory) -> tuple[RuleSet, list[bool]]:
    root = tmp_path_factory.mktemp("scale") / "gen1000"
    matches = generate_pack(root, 1000)
    return load_rules([root]), matches


def test_generated_pack_of_100_rules(tmp_path: Path) -> None:
    matches = generate_pack(tmp_path / "gen100", 100, seed=1)
    ruleset = load_rules([tmp_path / "gen100"])
    assert len(ruleset.pack.rules) == 100 and sum(matches) == 20
    check_limits(ruleset)
    for loans in (1, 3):
        check_fires_exactly(ruleset, matches, loans)


def test_generated_pack_of_1000_rules_200_matching(
    pack_1000: tuple[RuleSet, list[bool]],
) -> None:
    ruleset, matches = pack_1000
    assert len(ruleset.pack.rules) == 1000 and sum(matches) == 200
    assert len(ruleset.compiled.shards) > 1
    check_limits(ruleset)
    check_fires_exactly(ruleset, matches, 1)
    check_fires_exactly(ruleset, matches, 2)  # again, on the same rulesets


def test_generated_pack_of_10000_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The largest pack the issue names: loads (uncached) and fires exactly its 2,000 matches."""
    monkeypatch.setenv("XIESHANG_NO_CACHE", "1")
    matches = generate_pack(tmp_path / "gen10000", 10000, seed=3)
    ruleset = load_rules([tmp_path / "gen10000"])
    assert len(ruleset.pack.rules) == 10000 and sum(matches) == 2000
    assert len(ruleset.compiled.shards) > 10
    check_limits(ruleset)
    check_fires_exactly(ruleset, matches, 2)


def test_many_distinct_tests_on_one_fact_are_sharded(tmp_path: Path) -> None:
    """600 rules on one fact, all thresholds distinct: one ruleset would hang or hit error 303."""
    matches = generate_pack(tmp_path / "one", 600, seed=2, numbers=("loan.days_overdue",))
    ruleset = load_rules([tmp_path / "one"])
    assert len(ruleset.compiled.shards) >= 600 // FANOUT_BUDGET
    check_fires_exactly(ruleset, matches, 2)


def test_situation_with_50_loans(pack_1000: tuple[RuleSet, list[bool]]) -> None:
    ruleset, matches = pack_1000
    check_fires_exactly(ruleset, matches, 50)


def test_50_loans_full_advice(tmp_path: Path) -> None:
    ruleset = load_rules([write_feature_pack(tmp_path / "features")])
    situation = matching_situation(50)
    for i, loan in enumerate(situation["loans"]):
        loan["days_overdue"] = i * 7
        loan["status"]["legal"] = ["none", "lawsuit_notice", "pre_suit_mediation"][i % 3]
    advice = evaluate(ruleset, situation, today=TODAY).to_advice()
    assert not list(validator("advice").iter_errors(advice))
    contact = next(r for r in advice["recommendations"] if r["action"] == "contact_lender")
    assert len(contact["loan_ids"]) == 49  # every loan but the one 0 days overdue
    assert len(advice["derived"]["loans"]) == 50
    normal = normalise(situation, TODAY)
    assert run(ruleset.runtime, normal).firings == reference_run(ruleset.compiled, normal).firings


def _vary(situation: dict[str, Any], i: int) -> dict[str, Any]:
    loan = situation["loans"][0]
    loan["days_overdue"] = i % 90
    loan["overdue_amount"] = (i * 37) % 5000
    situation["borrower"]["distress"] = i % 11 == 0
    return situation


def test_memory_is_flat_over_2000_evaluations(tmp_path: Path) -> None:
    ruleset = load_rules([write_feature_pack(tmp_path / "features")])
    situations = [_vary(matching_situation(2), i) for i in range(100)]
    for i in range(300):  # warm up: caches, allocator pools
        evaluate(ruleset, situations[i % 100], today=TODAY).to_advice()
    before = rss_kb()
    for i in range(2000):
        evaluate(ruleset, situations[i % 100], today=TODAY).to_advice()
    growth = rss_kb() - before
    assert growth < 4096, f"RSS grew by {growth} KB over 2000 evaluations"


def test_compiled_packs_are_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XIESHANG_NO_CACHE", raising=False)
    generate_pack(tmp_path / "gen", 200, seed=3)
    packcache.clear_memory()
    fresh = load_rules([tmp_path / "gen"])
    stored = list((tmp_path / "cache" / "xieshang").glob("*.json"))
    assert len(stored) == 1
    packcache.clear_memory()
    cached = load_rules([tmp_path / "gen"])
    assert cached.pack == fresh.pack and cached.compiled == fresh.compiled
    assert cached.compiled is not fresh.compiled  # read back from disk
    situation = matching_situation(2)
    assert (
        evaluate(cached, situation, today=TODAY).to_advice()
        == evaluate(fresh, situation, today=TODAY).to_advice()
    )
    # a damaged cache file is ignored; a changed rule file is a different key
    stored[0].write_bytes(b"not a cache entry")
    packcache.clear_memory()
    assert load_rules([tmp_path / "gen"]).compiled == fresh.compiled
    rules_file = tmp_path / "gen" / "rules_000.yaml"
    rules_file.write_text(rules_file.read_text(encoding="utf-8").replace("gen_0", "gen_x"))
    changed = load_rules([tmp_path / "gen"])
    assert changed.pack.rules[0].id == "gen_x"
    monkeypatch.setenv("XIESHANG_NO_CACHE", "1")
    packcache.clear_memory()
    generate_pack(tmp_path / "other", 10)
    load_rules([tmp_path / "other"])
    assert len(list((tmp_path / "cache" / "xieshang").glob("*.json"))) == 2


def test_the_builtin_pack_is_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every class in the built-in pack (its ``plan:`` included) is one the cache may hold."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XIESHANG_NO_CACHE", raising=False)
    packcache.clear_memory()
    fresh = load_rules()
    assert fresh.pack.plan is not None
    assert len(list((tmp_path / "cache" / "xieshang").glob("*.json"))) == 1
    packcache.clear_memory()
    cached = load_rules()
    assert cached.compiled is not fresh.compiled  # read back from disk
    assert cached.pack == fresh.pack and cached.compiled == fresh.compiled


def test_cache_files_others_can_write_are_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache directory writable by others is not trusted: they could plant entries."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XIESHANG_NO_CACHE", raising=False)
    generate_pack(tmp_path / "gen", 20, seed=4)
    packcache.clear_memory()
    load_rules([tmp_path / "gen"])
    directory = tmp_path / "cache" / "xieshang"
    assert directory.stat().st_mode & 0o777 == 0o700
    calls: list[object] = []
    real_loads = packcache.loads

    def counting_loads(key: str, data: bytes) -> Any:
        calls.append(key)
        return real_loads(key, data)

    monkeypatch.setattr(packcache, "loads", counting_loads)
    packcache.clear_memory()
    load_rules([tmp_path / "gen"])
    assert len(calls) == 1  # a private cache is read
    directory.chmod(0o777)
    packcache.clear_memory()
    load_rules([tmp_path / "gen"])
    assert len(calls) == 1  # not read again: others could have planted the file
