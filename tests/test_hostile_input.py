"""Hostile input that used to pass or to cost minutes (issue 9, findings 12, 16 and 17).

* 12: a situation with tens of thousands of unknown keys is refused after one pass, with one
  "did you mean" (counted, not timed), and the message names the first few and counts the rest.
* 16: ``$`` in a JSON Schema pattern means the very end (ECMA-262), not "before a final newline"
  as Python's ``re`` has it: ``"jiebei\\n"`` is not an id, in situations and in rule packs alike,
  for jsonschema and for the fast check.
* 17: dates are checked against ``as_of``; the default ``as_of`` is the date in China; a batch
  uses one date for the whole run.
"""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import engine
import engine.load.situation as situation_module
from cli.main import app
from engine.batch import Options, run_batch
from engine.core.errors import RuleLoadError, SituationError
from engine.core.schemas import validator
from engine.load.fastschema import checker
from engine.load.situation import load_situation_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = json.loads((ROOT / "examples" / "first-late-payment.json").read_text(encoding="utf-8"))


def _doc(**loan: Any) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    doc["loans"][0].update(loan)
    return doc


def _refused(doc: dict[str, Any]) -> SituationError:
    with pytest.raises(SituationError) as info:
        load_situation_bytes(json.dumps(doc, ensure_ascii=False).encode("utf-8"), "s.json")
    return info.value


# --- 12: unknown keys in bulk ------------------------------------------------------------------


def test_many_unknown_keys_cost_one_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"did_you_mean": 0, "order": 0}
    real_hint, real_order = situation_module.did_you_mean, situation_module._order

    def counted_hint(word: str, candidates: Any) -> str:
        calls["did_you_mean"] += 1
        return real_hint(word, candidates)

    def counted_order(doc: object, parts: Any) -> tuple[int, ...]:
        calls["order"] += 1
        return real_order(doc, parts)

    monkeypatch.setattr(situation_module, "did_you_mean", counted_hint)
    monkeypatch.setattr(situation_module, "_order", counted_order)
    doc = copy.deepcopy(EXAMPLE)
    doc.update({f"key{i}": i for i in range(20_000)})
    error = _refused(doc)
    assert error.path == "$.key0"
    assert error.detail.endswith(
        "; 19,999 more unknown fields here: 'key1', 'key2', 'key3' and 19,996 more"
    )
    # quadratic before: one suggestion and one position lookup (a scan of 20,000 keys) per key
    assert calls == {"did_you_mean": 1, "order": 1}


def test_one_more_unknown_key_is_named() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["borrower"].update(monthly_incom=1, savings=2)
    error = _refused(doc)
    assert error.path == "$.borrower.monthly_incom"
    assert error.detail.startswith("unknown field 'monthly_incom' (did you mean 'monthly_income'?)")
    assert error.detail.endswith("; 1 more unknown field here: 'savings'")


# --- 16: a trailing newline is not part of an id ------------------------------------------------


@pytest.mark.parametrize("kind", ["jsonschema", "fast"])
def test_schema_patterns_do_not_accept_a_trailing_newline(kind: str) -> None:
    doc = _doc(id="jiebei\n")
    if kind == "jsonschema":
        assert [e.validator for e in validator("situation").iter_errors(doc)] == ["pattern"]
    else:
        check = checker("situation")
        assert check is not None and not check(doc)
    assert validator("situation").is_valid(_doc(id="jiebei"))


def test_loan_ids_differing_by_a_newline_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["loans"].append({**doc["loans"][0], "id": "jiebei\n"})
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(app, ["advise", str(path)])
    assert result.exit_code == 2
    assert "$.loans[1].id" in result.stderr and "U+000A LINE FEED" in result.stderr


RULE = """\
rules:
  - id: {rule_id}
    title: {{en: A rule, zh-CN: 规则}}
    source: guide §1.1
    when: {{fact: borrower.distress, op: "==", value: true}}
    recommend:
      action: crisis_support
      priority: 100
      urgency: immediate
      title: {{en: Title, zh-CN: 标题}}
      message: {{en: Message, zh-CN: 消息}}
"""


def _pack(tmp_path: Path, rule_id: str, version: str) -> Path:
    root = tmp_path / "pack"
    root.mkdir(parents=True)
    (root / "pack.yaml").write_text(f"pack:\n  name: p\n  version: {version}\n", encoding="utf-8")
    (root / "rules.yaml").write_text(RULE.format(rule_id=rule_id), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("rule_id", "version", "where"),
    [('"crisis_rule\\n"', "1.0.0", "rules.yaml:2"), ("crisis_rule", '"1.0.0\\n"', "pack.yaml:3")],
)
def test_rule_ids_and_versions_refuse_a_trailing_newline(
    tmp_path: Path, rule_id: str, version: str, where: str
) -> None:
    assert engine.load_rules([_pack(tmp_path / "ok", "crisis_rule", "1.0.0")])
    with pytest.raises(RuleLoadError) as info:
        engine.load_rules([_pack(tmp_path, rule_id, version)])
    [error] = info.value.errors
    file, line = where.split(":")
    assert (Path(error.location.file).name, error.location.line) == (file, int(line))
    assert error.code == "rule_schema_error"


# --- 17: dates against as_of ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loan", "path", "words"),
    [
        (
            {"status": {"legal": "lawsuit_notice", "legal_notice_date": "2026-12-10"}},
            "$.loans[0].status.legal_notice_date",
            "2026-12-10 is after as_of 2026-11-28: a notice cannot be dated after",
        ),
        (
            {"first_missed_due_date": "2026-12-01"},
            "$.loans[0].first_missed_due_date",
            "2026-12-01 is after as_of 2026-11-28: a payment cannot have been missed after",
        ),
        (
            {"status": {"legal": "lawsuit_notice", "legal_notice_date": "0001-01-01"}},
            "$.loans[0].status.legal_notice_date",
            "0001-01-01 is more than 36,500 days from as_of 2026-11-28",
        ),
        (
            {"first_missed_due_date": "1000-01-01"},
            "$.loans[0].first_missed_due_date",
            "1000-01-01 is more than 36,500 days from as_of 2026-11-28",
        ),
        (
            {"next_due_date": "9999-12-31"},
            "$.loans[0].next_due_date",
            "9999-12-31 is more than 36,500 days from as_of 2026-11-28",
        ),
    ],
)
def test_dates_impossible_against_as_of_are_refused(
    runner: CliRunner, tmp_path: Path, loan: dict[str, Any], path: str, words: str
) -> None:
    file = tmp_path / "s.json"
    file.write_text(json.dumps(_doc(**loan), ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["advise", str(file)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert (
        result.stderr
        == f"xieshang: error: {file}: {path}: {words}" + result.stderr.split(words, 1)[1]
    )
    assert result.stderr.count("\n") == 1


def test_as_of_outside_plausible_years_is_refused() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["as_of"] = "0001-01-01"
    doc["loans"][0]["first_missed_due_date"] = "0001-01-01"
    error = _refused(doc)
    assert (error.path, error.detail) == (
        "$.as_of",
        "as_of 0001-01-01 is outside the years 2000-2099 this engine accepts",
    )


def test_derived_days_overdue_stay_within_the_input_bound(default_rules: engine.RuleSet) -> None:
    # the farthest accepted missed due date gives the largest days_overdue a situation may state
    as_of = datetime.date.fromisoformat(EXAMPLE["as_of"])
    farthest = as_of - datetime.timedelta(days=36_500)
    decision = engine.evaluate(default_rules, _doc(first_missed_due_date=farthest.isoformat()))
    assert decision.summary()["max_days_overdue"] == 36_500
    too_far = (farthest - datetime.timedelta(days=1)).isoformat()
    with pytest.raises(SituationError, match="more than 36,500 days from as_of"):
        engine.evaluate(default_rules, _doc(first_missed_due_date=too_far))


def test_dates_are_checked_even_when_the_caller_says_validated(
    default_rules: engine.RuleSet,
) -> None:
    doc = _doc(status={"legal": "lawsuit_notice", "legal_notice_date": "2027-01-01"})
    with pytest.raises(SituationError, match="a notice cannot be dated after"):
        engine.evaluate(default_rules, doc, validated=True)


def _utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


def test_default_as_of_is_the_date_in_china(
    default_rules: engine.RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = copy.deepcopy(EXAMPLE)
    del doc["as_of"]
    # 20:00 UTC on the 28th is 04:00 on the 29th in Beijing: a borrower's "today" is the 29th
    monkeypatch.setattr(situation_module, "_now", lambda: _utc("2026-11-28T20:00:00"))
    assert engine.evaluate(default_rules, doc).situation["as_of"] == "2026-11-29"
    monkeypatch.setattr(situation_module, "_now", lambda: _utc("2026-11-28T15:59:59"))
    assert engine.evaluate(default_rules, doc).situation["as_of"] == "2026-11-28"


def test_a_notice_dated_today_in_china_is_accepted_before_utc_midnight(
    default_rules: engine.RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _doc(status={"legal": "lawsuit_notice", "legal_notice_date": "2026-11-29"})
    del doc["as_of"]
    monkeypatch.setattr(situation_module, "_now", lambda: _utc("2026-11-28T17:00:00"))
    data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    situation = load_situation_bytes(data, "s.json")
    assert engine.evaluate(default_rules, situation, validated=True).situation["as_of"] == (
        "2026-11-29"
    )


def test_batch_uses_one_date_for_the_whole_run(
    default_rules: engine.RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(_utc(f"2026-11-28T15:59:{s:02d}") for s in range(55, 60))
    later = _utc("2026-11-28T16:00:01")  # midnight in Beijing has passed
    monkeypatch.setattr(situation_module, "_now", lambda: next(clock, later))
    doc = copy.deepcopy(EXAMPLE)
    del doc["as_of"]
    line = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    out: list[str] = []
    run_batch(default_rules, [(n, line) for n in range(1, 9)], out.append, Options())
    assert {json.loads(text)["as_of"] for text in out} == {"2026-11-28"}
