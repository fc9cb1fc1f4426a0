"""advise --audit-log and replay: one JSON line per decision, byte-identical replays (issue 4)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from engine.api import evaluate, load_rules
from engine.audit.records import make_record, redact
from engine.load.situation import situation_digest
from tests.fixtures.audit.helpers import CRISIS, PACK, UNKNOWN_INCOME, load, run


def _log(tmp_path: Path) -> Path:
    log = tmp_path / "audit.jsonl"
    assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    args = ("advise", CRISIS, "--rules", PACK, "--format", "json", "--top", "2", "--near-misses")
    assert run(*args, "--audit-log", log).exit_code == 0
    return log


def _changed_pack(tmp_path: Path) -> Path:
    changed = tmp_path / "changed"
    shutil.copytree(PACK, changed)
    params = changed / "parameters.yaml"
    params.write_text(params.read_text().replace("value: 30", "value: 15"))
    return changed


def test_audit_log_appends_one_redacted_record_per_decision(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert list(record) == [
        "record_version",
        "id",
        "time",
        "engine",
        "ruleset",
        "situation_digest",
        "situation",
        "redacted",
        "locale",
        "options",
        "rules",
        "advice",
    ]
    assert record["time"].endswith("Z")
    assert record["ruleset"]["name"] == "audit_fixture"
    assert record["ruleset"]["digest"] == record["advice"]["ruleset"]["digest"]
    assert record["redacted"] == ["$.loans[0].lender", "$.loans[1].lender"]
    assert [loan["lender"] for loan in record["situation"]["loans"]] == ["[redacted]"] * 2
    assert "招商银行" not in lines[0] and "重庆蚂蚁" not in lines[0]
    assert record["situation"]["as_of"] == "2026-11-28"
    assert record["rules"]["parameters"] == {"escalation_days": 30}
    second = json.loads(lines[1])
    assert second["options"] == {"top": 2, "near_misses": True}
    assert len(second["advice"]["recommendations"]) == 2


def test_a_record_is_made_from_the_redacted_situation() -> None:
    ruleset = load_rules([PACK])
    situation = load(UNKNOWN_INCOME)
    decision = evaluate(ruleset, situation)
    now = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
    record = make_record(decision, now=now)
    assert record["time"] == "2026-11-28T10:00:00.000000Z"
    redacted, paths = redact(decision.situation)
    assert paths == ["$.loans[0].lender", "$.loans[1].lender"]
    assert record["situation"] == redacted
    assert record["situation_digest"] == record["advice"]["situation_digest"]
    assert record["situation_digest"] == situation_digest(redacted)
    assert record["advice"]["recommendations"] == decision.to_advice()["recommendations"]


def test_replay_with_unchanged_rules_is_identical(tmp_path: Path) -> None:
    log = _log(tmp_path)
    result = run("replay", log, "--rules", PACK)
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].endswith("same rules, identical advice")
    assert lines[1].endswith("same rules, identical advice")
    assert lines[-1] == (
        "2 records: 2 identical, 0 differ with the same rules, 0 made with other rules (0 changed)"
    )


def test_replay_reports_a_changed_parameter_and_what_it_changed(tmp_path: Path) -> None:
    log = _log(tmp_path)
    changed = _changed_pack(tmp_path)
    result = run("replay", log, "--rules", changed)
    assert result.exit_code == 0
    out = result.stdout.splitlines()
    assert out[0].endswith("other rules, advice changed")
    assert out[1] == (
        "    ~ contact_lender changed: score, score_breakdown  because: contact_long_overdue_bonus"
    )
    assert out[2] == (
        "    rules changed: contact_long_overdue_bonus: changed (parameter escalation_days:"
        " 30 → 15); escalate_refusal: changed (parameter escalation_days: 30 → 15)"
    )
    assert out[3] == "    parameters changed: escalation_days: 30 → 15"
    assert run("replay", log, "--rules", changed, "--strict").exit_code == 1
    data = json.loads(run("replay", log, "--rules", changed, "--format", "json").stdout)
    assert data["records"][0]["parameter_changes"] == ["escalation_days: 30 → 15"]


def test_replay_fails_when_advice_differs_under_the_same_rules(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = log.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["advice"]["recommendations"][0]["score"] = 99
    log.write_text(json.dumps(record, ensure_ascii=False) + "\n" + lines[1] + "\n")
    result = run("replay", log, "--rules", PACK)
    assert result.exit_code == 1
    assert "DIFFERS: same rules" in result.stdout
    assert '-      "score": 99,' in result.stdout
    assert '+      "score": 70,' in result.stdout


def test_replay_of_a_bad_log_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"record_version": 1}\nnot json\n')
    result = run("replay", bad, "--rules", PACK)
    assert result.exit_code == 2
    errors = result.stderr.splitlines()
    assert errors[0] == f"{bad}:1: $.id: missing required field 'id'"
    assert errors[1].startswith(f"{bad}:2: not JSON (column 1: Expecting value)")
    assert errors[2] == f"xieshang: {bad}: 2 damaged lines; no record to replay"
    assert run("replay", tmp_path / "missing.jsonl").exit_code == 2
