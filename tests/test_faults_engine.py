"""Fault injection in the engine: failing evaluations beside good ones, ruleset lifetime, overflow.

Tests that could crash the interpreter on a regression (a segfault in durable_rules) run their
work in a subprocess, so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.core.encoding import fnv1a_32
from engine.core.errors import EngineError, UsageError
from engine.run import rete
from engine.run.rete import Ruleset, Session
from tests.conftest import PackFactory, situation

ROOT = Path(__file__).resolve().parent.parent
FAULTS = Path(__file__).resolve().parent / "fixtures" / "faults"


def run_isolated(code: str, timeout: int = 600) -> str:
    """Run Python code in a fresh interpreter; a crash or a non-zero exit fails the test."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert done.returncode == 0, (
        f"exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


# --- threads sharing a RuleSet while some evaluations fail ---------------------------------------


@pytest.mark.slow  # threads
def test_threads_sharing_rulesets_get_exactly_the_one_at_a_time_results(tmp_path: Path) -> None:
    """8 threads, two shared RuleSets, evaluations failing by conflict, budget and engine error.

    Every outcome (advice bytes with the trace, text, or the error) equals the one-at-a-time run;
    no crash; afterwards only the current engine rulesets are alive (one per shard).
    """
    done = subprocess.run(
        [sys.executable, str(FAULTS / "threads.py"), str(ROOT), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    assert report["differ_count"] == 0, report["differ"]
    kinds = report["kinds"]
    assert kinds["ok"] >= 100
    for failure in ("EngineError/engine", "FiringBudgetExceeded/budget", "EvaluationError/none"):
        assert kinds.get(failure, 0) >= 20, kinds  # every kind of failure really happened
    assert report["alive"] <= report["shards"]


FAN_OUT = {f"r{i}": {"all": [{"m": {"$and": [{"a": "x"}, {"$gt": {"v": i}}]}}]} for i in range(65)}


@pytest.mark.slow  # a subprocess
def test_a_broken_session_does_not_disturb_one_running_in_the_same_ruleset() -> None:
    """Session A has a state; session B breaks the engine (error 303) and ends; A goes on.

    Before the fix, B's end deleted the ruleset A's state lived in (a crash or wrong firings).
    """
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from engine.core.encoding import to_engine_json
        from engine.core.errors import EngineLimitError
        from engine.run.rete import Ruleset, Session
        rules = {FAN_OUT!r}
        rules["__sentinel__"] = {{"pri": 65534, "all": [{{"m": {{"$s": 1}}}}]}}
        ruleset = Ruleset(to_engine_json(rules))
        good = Session([ruleset], budget=1000)
        good.assert_facts(0, [to_engine_json({{"id": "f0", "a": "x", "v": 3}})])
        bad = Session([ruleset], budget=1000)
        try:
            bad.assert_facts(0, [to_engine_json({{"id": "f0", "a": "x", "v": 100}})])
        except EngineLimitError:
            pass
        bad.close()
        fired = []
        for _ in range(50):  # the freed memory is reused, as it would be by other threads
            other = Session([ruleset], budget=1000)
            other.assert_facts(0, [to_engine_json({{"id": "f0", "a": "x", "v": 1}})])
            other.drain(0, lambda shard, name, message: [])
            other.close()
        good.drain(0, lambda shard, name, message: fired.append(name) or [])
        good.close()
        print(sorted(fired))
    """)
    assert run_isolated(code).strip() == "['r0', 'r1', 'r2']"


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Count durable_rules ``create_ruleset`` and ``delete_ruleset`` calls."""
    gc.collect()  # rule sets of earlier tests, which may share these definitions, are gone
    counts = {"created": 0, "deleted": 0}
    real = rete._engine
    real_create, real_delete = real.create_ruleset, real.delete_ruleset

    def create(name: str, definition: str) -> int:
        counts["created"] += 1
        return int(real_create(name, definition))

    def delete(handle: int) -> None:
        counts["deleted"] += 1
        real_delete(handle)

    monkeypatch.setattr(real, "create_ruleset", create)
    monkeypatch.setattr(real, "delete_ruleset", delete)
    yield counts


def test_a_retired_generation_is_deleted_when_its_last_session_ends(
    engine_calls: dict[str, int],
) -> None:
    rules = dict(FAN_OUT)
    rules["__sentinel__"] = {"pri": 65534, "all": [{"m": {"$s": 1}}]}
    ruleset = Ruleset(json.dumps(rules))
    first, second = Session([ruleset], budget=100), Session([ruleset], budget=100)
    first.assert_facts(0, ['{"id":"f0","a":"x","v":1}'])
    with pytest.raises(EngineError):
        second.assert_facts(0, ['{"id":"f0","a":"x","v":100}'])
    second.close()
    assert engine_calls == {"created": 1, "deleted": 0}  # retired, but ``first`` still uses it
    third = Session([ruleset], budget=100)
    third.assert_facts(0, ['{"id":"f0","a":"x","v":1}'])
    assert engine_calls["created"] == 2  # new sessions go to a fresh generation
    first.close()
    assert engine_calls["deleted"] == 1
    third.close()
    ruleset.close()
    assert engine_calls == {"created": 2, "deleted": 2}


def test_a_failed_evaluation_in_an_action_reuses_the_ruleset(
    make_pack: PackFactory, engine_calls: dict[str, int]
) -> None:
    """A conflict between derivations is a Python error: the state is cleaned up, not abandoned."""
    rules = engine.load_rules([make_pack(CONFLICT_RULES)])
    for income in (100, 200, 300):
        with pytest.raises(engine.EvaluationError, match="derive different values"):
            engine.evaluate(rules, situation(borrower={"monthly_income": income, "dependants": 3}))
        engine.evaluate(rules, situation(borrower={"monthly_income": income}))
    assert engine_calls == {"created": len(rules.compiled.shards), "deleted": 0}


# --- clean engine states kept between evaluations (rete.StatePool) ------------------------------


def _evaluate_in(session: Session, value: int) -> list[str]:
    """One evaluation of a FAN_OUT fact with ``x == value`` in a session, ended normally."""
    fired: list[str] = []
    try:
        session.assert_encoded(0, [f'{{"sid":"{session.sid}","id":"f0","a":"x","v":{value}}}'])
        session.drain(0, lambda shard, name, message: fired.append(name) or [])
        session.close_drained()
    finally:
        session.close()
    return sorted(fired)


def test_a_state_that_broke_is_never_reused(engine_calls: dict[str, int]) -> None:
    rules = dict(FAN_OUT)
    rules["__sentinel__"] = {"pri": 65534, "all": [{"m": {"$s": 1}}]}
    ruleset = Ruleset(json.dumps(rules))
    pool = rete.StatePool([ruleset], [len(rules)])
    first = Session([ruleset], budget=100, pool=pool)
    assert _evaluate_in(first, 2) == ["r0", "r1"]
    ((sid, _states),) = pool.idle()  # its state, clean, kept for the next session
    second = Session([ruleset], budget=100, pool=pool)
    assert second.sid == sid
    with pytest.raises(EngineError):
        _evaluate_in(second, 100)  # error 303: the state is abandoned, its ruleset retired
    assert pool.idle() == [] and engine_calls == {"created": 1, "deleted": 1}
    third = Session([ruleset], budget=100, pool=pool)
    assert third.sid != sid and _evaluate_in(third, 3) == ["r0", "r1", "r2"]
    assert engine_calls["created"] == 2  # a fresh generation
    pool.close()
    ruleset.close()
    assert engine_calls == {"created": 2, "deleted": 2}
    assert (
        fnv1a_32(sid) not in rete._live_sid_hashes
        and fnv1a_32(third.sid) not in rete._live_sid_hashes
    )


def test_retiring_a_generation_deletes_the_idle_states_kept_in_it(
    engine_calls: dict[str, int],
) -> None:
    """Another session breaks the ruleset a pooled state lives in: the idle state is deleted at
    once (not when its slot is next used), so the retired ruleset is deleted at once too."""
    rules = dict(FAN_OUT)
    rules["__sentinel__"] = {"pri": 65534, "all": [{"m": {"$s": 1}}]}
    ruleset = Ruleset(json.dumps(rules))
    pool = rete.StatePool([ruleset], [len(rules)])
    assert _evaluate_in(Session([ruleset], budget=100, pool=pool), 1) == ["r0"]
    ((sid, states),) = pool.idle()
    assert list(states) == [0]
    with pytest.raises(EngineError):
        _evaluate_in(Session([ruleset], budget=100), 100)
    assert engine_calls == {"created": 1, "deleted": 1}
    assert pool.idle() == [(sid, {})]
    again = Session([ruleset], budget=100, pool=pool)  # the same sid, in a fresh generation
    assert again.sid == sid and _evaluate_in(again, 1) == ["r0"]
    pool.close()
    ruleset.close()
    assert engine_calls == {"created": 2, "deleted": 2}


def test_an_interrupted_evaluation_keeps_no_state(
    make_pack: PackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rules deriving different values stop the evaluation inside an action: its states
    are run out and deleted, none is kept; the next evaluation is right."""
    rules = engine.load_rules([make_pack(CONFLICT_RULES)])
    pool = rules.runtime.pool
    assert pool is not None
    live = set(rete._live_sid_hashes)
    with pytest.raises(engine.EvaluationError, match="derive different values"):
        engine.evaluate(rules, situation(borrower={"monthly_income": 100, "dependants": 3}))
    assert pool.idle() == [] and rete._live_sid_hashes == live
    fine = engine.evaluate(rules, situation(borrower={"monthly_income": 100}))
    assert [r.action for r in fine.recommendations] == ["build_budget"]
    assert len(pool.idle()) == 1


FORKED = """
import os, sys
sys.path.insert(0, {root!r})
import engine
from tests.conftest import situation
rules = engine.load_rules()
sit = situation(borrower={{"monthly_income": 6000}})
first = engine.evaluate(rules, sit).to_advice()
((sid, states),) = rules.runtime.pool.idle()
read, write = os.pipe()
child = os.fork()
if child == 0:  # the parent's kept states are not the child's to use (nor to delete)
    advice = engine.evaluate(rules, sit).to_advice()
    ((own, _),) = rules.runtime.pool.idle()
    os.write(write, (str(advice == first) + " " + str(own != sid)).encode())
    os._exit(0)
os.waitpid(child, 0)
print(os.read(read, 100).decode(), engine.evaluate(rules, sit).to_advice() == first,
      rules.runtime.pool.idle()[0][0] == sid)
"""


@pytest.mark.slow  # a subprocess
def test_a_forked_child_makes_its_own_states() -> None:
    assert run_isolated(FORKED.format(root=str(ROOT))).split() == ["True"] * 4


CONFLICT_RULES = """
rules:
  - id: spare_a
    title: {en: t, zh-CN: t}
    source: guide §5.1
    derive: {fact: spare, value: borrower.monthly_income, unit: money}
  - id: spare_b
    title: {en: t, zh-CN: t}
    source: guide §5.1
    when: {fact: borrower.dependants, op: ">=", value: 3}
    derive: {fact: spare, value: borrower.monthly_income + 1, unit: money}
  - id: budget
    title: {en: t, zh-CN: t}
    source: guide §2.1
    when: {fact: spare, op: ">", value: 0}
    recommend: {action: build_budget, priority: 1, urgency: ongoing,
                title: {en: b, zh-CN: b}, message: {en: "{spare}", zh-CN: "{spare}"}}
"""


# --- ruleset lifetime: load_rules must not leak engine rulesets -----------------------------------


def test_loading_a_pack_many_times_keeps_one_set_of_engine_rulesets(
    make_pack: PackFactory, engine_calls: dict[str, int]
) -> None:
    pack = make_pack(CONFLICT_RULES)
    for _ in range(40):
        rules = engine.load_rules([pack])
        assert engine.evaluate(rules, situation(borrower={"monthly_income": 5})).recommendations
    shards = len(rules.compiled.shards)
    assert engine_calls["created"] == shards  # shared by every load of the same pack
    del rules
    gc.collect()
    assert engine_calls["created"] - engine_calls["deleted"] == 0  # freed with the last owner


def test_a_ruleset_is_freed_by_close_and_refuses_to_evaluate_after(
    make_pack: PackFactory, engine_calls: dict[str, int]
) -> None:
    pack = make_pack(CONFLICT_RULES)
    kept = engine.load_rules([pack])
    with engine.load_rules([pack]) as rules:
        engine.evaluate(rules, situation(borrower={"monthly_income": 5}))
    assert engine_calls["deleted"] == 0  # ``kept`` still owns the shared rulesets
    with pytest.raises(ValueError, match="closed"):
        engine.evaluate(rules, situation())
    engine.evaluate(kept, situation(borrower={"monthly_income": 5}))
    kept.close()
    kept.close()  # idempotent
    assert engine_calls["created"] == engine_calls["deleted"] >= 1
    assert engine.evaluate(engine.load_rules([pack]), situation()).recommendations == ()


RSS_LOOP = """
import gc, sys
sys.path.insert(0, {root!r})
import engine
from tests.conftest import situation
def rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20
sit = situation(borrower={{"monthly_income": 6000}})
engine.evaluate(engine.load_rules(), sit)
before = rss_mb()
for _ in range(300):
    engine.evaluate(engine.load_rules(), sit)
gc.collect()
print(round(rss_mb() - before))
"""


@pytest.mark.slow  # a subprocess
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")
def test_memory_stays_flat_across_load_rules_calls() -> None:
    """300 × load_rules + evaluate of the built-in pack: before the fix ~2.2 MB each (660 MB)."""
    grown = int(run_isolated(RSS_LOOP.format(root=str(ROOT))))
    assert grown < 60, f"RSS grew by {grown} MB"


# --- overflow is unknown, never an exception ------------------------------------------------------


def tiny_income_situation() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (ROOT / "examples" / "first-late-payment.json").read_text(encoding="utf-8")
    )
    data["borrower"]["monthly_income"] = 1e-16  # debt-to-income 1.1e19: beyond int64
    return data


@pytest.mark.slow  # a subprocess
def test_a_tiny_income_gives_advice_with_an_unknown_debt_to_income(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_income_situation()), encoding="utf-8")
    result = runner.invoke(app, ["advise", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    advice = json.loads(result.stdout)
    assert advice["derived"]["situation"]["debt_to_income"]["value"] is None
    assert "debt_to_income" not in advice["summary"] or advice["summary"]["debt_to_income"] is None
    assert advice["recommendations"]
    text = runner.invoke(app, ["advise", str(path)])
    assert text.exit_code == 0 and "Traceback" not in text.output
    binary = shutil.which("xieshang", path=os.path.dirname(sys.executable))
    assert binary is not None
    done = subprocess.run([binary, "advise", str(path)], capture_output=True, timeout=300)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode("utf-8") == text.stdout


OVERFLOW_RULES = """
rules:
  - id: derive_huge
    title: {en: t, zh-CN: t}
    source: guide §5.1
    derive: {fact: huge, value: borrower.monthly_income * 10000000000000, unit: integer}
  - id: known_huge
    title: {en: t, zh-CN: t}
    source: guide §5.1
    when: {fact: huge, op: known}
    recommend: {action: build_budget, priority: 1, urgency: ongoing,
                title: {en: b, zh-CN: b}, message: {en: "{huge}", zh-CN: "{huge}"}}
  - id: unknown_huge
    title: {en: t, zh-CN: t}
    source: guide §5.1
    when: {fact: huge, op: unknown}
    recommend: {action: stay_calm, priority: 1, urgency: ongoing,
                title: {en: c, zh-CN: c}, message: {en: c, zh-CN: c}}
"""


@pytest.mark.parametrize(
    ("income", "huge"),
    [(922_337, 9_223_370_000_000_000_000), (922_338, None), (1_000_000_000, None)],
)
def test_a_derived_number_beyond_int64_is_unknown(
    make_pack: PackFactory, income: int, huge: int | None
) -> None:
    rules = engine.load_rules([make_pack(OVERFLOW_RULES)])
    decision = engine.evaluate(rules, situation(borrower={"monthly_income": income}))
    assert decision.derived()["situation"]["huge"]["value"] == huge
    assert [r.action for r in decision.recommendations] == [
        "build_budget" if huge is not None else "stay_calm"
    ]


OVERFLOW_TESTS = """
cases:
  - name: overflow is unknown
    situation: {schema_version: 1, as_of: "2026-11-28", borrower: {monthly_income: 1000000},
                loans: [{id: a, product: jiebei}]}
    expect: {present: [stay_calm], derived: {huge: null}}
  - name: a normal case
    situation: {schema_version: 1, as_of: "2026-11-28", borrower: {monthly_income: 1},
                loans: [{id: a, product: jiebei}]}
    expect: {present: [build_budget]}
"""


def test_rules_test_runs_an_overflowing_case_like_any_other(
    runner: CliRunner, make_pack: PackFactory
) -> None:
    pack = make_pack(OVERFLOW_RULES)
    (pack / "tests").mkdir()
    (pack / "tests" / "overflow.test.yaml").write_text(OVERFLOW_TESTS, encoding="utf-8")
    result = runner.invoke(app, ["rules", "test", "--rules", str(pack)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2 passed, 0 failed"


def test_rules_test_fails_only_the_case_that_hit_an_internal_error(
    runner: CliRunner, make_pack: PackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.audit import testing

    real = testing.evaluate

    def faulty(rules: engine.RuleSet, data: dict[str, Any], **kw: Any) -> engine.Decision:
        if data["borrower"]["monthly_income"] == 1_000_000:
            raise OverflowError("injected")
        return real(rules, data, **kw)

    monkeypatch.setattr(testing, "evaluate", faulty)
    pack = make_pack(OVERFLOW_RULES)
    (pack / "tests").mkdir()
    (pack / "tests" / "overflow.test.yaml").write_text(OVERFLOW_TESTS, encoding="utf-8")
    result = runner.invoke(app, ["rules", "test", "--rules", str(pack)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    assert any("overflow is unknown" in line and line.startswith("FAIL") for line in lines)
    assert any("(internal error): OverflowError: injected" in line for line in lines)


# --- smaller: an unknown locale, long flat expressions -------------------------------------------


def test_evaluate_refuses_an_unknown_locale(default_rules: engine.RuleSet) -> None:
    with pytest.raises(UsageError, match="unknown locale 'fr': expected one of 'zh-CN', 'en'"):
        engine.evaluate(default_rules, situation(), locale="fr")
    assert engine.evaluate(default_rules, situation(), locale="en").locale == "en"


def test_a_long_flat_sum_works_through_every_command(
    runner: CliRunner, make_pack: PackFactory, tmp_path: Path
) -> None:
    """A 249-term sum (499 parts, the most allowed): load, advise, explain, lint, show."""
    chain = "borrower.monthly_income" + " + 1" * 248
    pack = make_pack(f"""
    rules:
      - id: derive_big
        title: {{en: big, zh-CN: 大}}
        source: guide §5.1
        derive: {{fact: big, value: "{chain}", unit: money, summary: true}}
      - id: budget
        title: {{en: budget, zh-CN: 预算}}
        source: guide §2.1
        when: {{fact: big, op: ">", value: 1000}}
        recommend: {{action: build_budget, priority: 50, urgency: ongoing,
                    title: {{en: b, zh-CN: b}}, message: {{en: "{{big}}", zh-CN: "{{big}}"}}}}
    """)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(situation(borrower={"monthly_income": 100})), encoding="utf-8")
    advice = runner.invoke(app, ["advise", str(path), "--rules", str(pack), "--format", "json"])
    assert advice.exit_code == 0, advice.output
    assert json.loads(advice.stdout)["summary"]["big"] == 348
    for args in (
        ["explain", str(path), "build_budget", "--rules", str(pack)],
        ["rules", "lint", "--rules", str(pack)],
        ["rules", "show", "derive_big", "--rules", str(pack)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
