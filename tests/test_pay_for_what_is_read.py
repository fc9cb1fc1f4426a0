"""Work is done when its result is read, and once (issue 14, item 4: "pay only for what is read").

These tests count the work (calls to the function that does it) rather than time it: evaluating
builds no explanation until one is read, the advice shown as JSON is not made a second time for
the audit log, a valid situation is checked without a JSON path per value or a deep copy.
"""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from engine.api import evaluate, load_rules
from engine.core.errors import SituationError
from engine.decision import Decision
from engine.load import situation as situation_module
from engine.rank import ranking
from engine.run.ruleset import RuleSet
from tests.fixtures.audit.helpers import CRISIS, PACK, UNKNOWN_INCOME, load, run

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TODAY = datetime.date(2026, 11, 28)


@pytest.fixture(scope="module")
def builtin() -> RuleSet:
    return load_rules()


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Wrap ``owner.name`` to count its calls; the list grows by one per call."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


# --- reasons are made on first read --------------------------------------------------------------


def test_evaluate_alone_builds_no_reason(builtin: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    situation = load(EXAMPLES / "job-loss-several-debts.json")
    built = count_calls(monkeypatch, ranking, "reason")
    decision = evaluate(builtin, situation)
    assert len(decision.recommendations) >= 3
    assert [r.action for r in decision.recommendations]  # the ranking is read ...
    assert [r.message for r in decision.recommendations]
    assert built == []  # ... and no rule's explanation was made


def test_reasons_are_made_once_per_recommendation_read(
    builtin: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    situation = load(EXAMPLES / "job-loss-several-debts.json")
    built = count_calls(monkeypatch, ranking, "reason")
    decision = evaluate(builtin, situation)
    first = decision.recommendations[0]
    reasons = first.reasons
    assert len(built) == len(reasons) >= 1  # one per firing of the first recommendation
    assert first.reasons is reasons  # kept: read again, made again never
    assert len(built) == len(reasons)


def test_advice_with_top_builds_only_the_reasons_it_shows(
    builtin: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    situation = load(EXAMPLES / "job-loss-several-debts.json")
    built = count_calls(monkeypatch, ranking, "reason_document")
    decision = evaluate(builtin, situation)
    advice = decision.to_advice(top=1)
    assert len(advice["recommendations"]) == 1 < len(decision.recommendations)
    assert len(built) == len(advice["recommendations"][0]["reasons"]) >= 1
    full = decision.to_advice()
    assert len(built) - len(advice["recommendations"][0]["reasons"]) == sum(
        len(r["reasons"]) for r in full["recommendations"]
    )


def test_lazily_made_reasons_are_the_reasons_of_the_advice(builtin: RuleSet) -> None:
    # the same evaluation read in two orders: reasons first, or the advice first
    for example in sorted(EXAMPLES.glob("*.json")):
        situation = load(example)
        early = evaluate(builtin, situation)
        for rec in early.recommendations:
            assert rec.reasons  # every recommendation has at least its primary rule
        late = evaluate(builtin, situation)
        assert json.dumps(early.to_advice(), ensure_ascii=False) == json.dumps(
            late.to_advice(), ensure_ascii=False
        )


# --- the JSON advice of advise --audit-log is made once ------------------------------------------


def test_advise_json_with_an_audit_log_makes_the_advice_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    situation = load(CRISIS)
    for loan in situation["loans"]:
        loan.pop("lender", None)  # nothing to redact: the record holds the advice shown
    path = tmp_path / "situation.json"
    path.write_text(json.dumps(situation, ensure_ascii=False), encoding="utf-8")
    log = tmp_path / "audit.jsonl"
    made = count_calls(monkeypatch, Decision, "to_advice")
    args = ("advise", path, "--rules", PACK, "--format", "json", "--trace", "--near-misses")
    result = run(*args, "--audit-log", log)
    assert result.exit_code == 0, result.stderr
    assert len(made) == 1
    shown = json.loads(result.stdout)
    record = json.loads(log.read_text(encoding="utf-8"))
    assert "trace" in shown and "near_misses" in shown
    assert record["advice"] == {k: v for k, v in shown.items() if k != "trace"}
    assert record["redacted"] == []


def test_a_record_with_lenders_redacted_still_holds_the_redacted_advice(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    args = ("advise", UNKNOWN_INCOME, "--rules", PACK, "--format", "json")
    result = run(*args, "--audit-log", log)
    assert result.exit_code == 0, result.stderr
    record = json.loads(log.read_text(encoding="utf-8"))
    assert record["redacted"] == ["$.loans[0].lender", "$.loans[1].lender"]
    assert record["advice"]["situation_digest"] != json.loads(result.stdout)["situation_digest"]
    assert record["advice"]["situation_digest"] == record["situation_digest"]


# --- a valid situation is checked without building paths or deep copies ------------------------


def test_a_valid_situation_is_checked_without_building_a_json_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # paths are for messages: building one per value of a valid situation was most of the check
    built = count_calls(monkeypatch, situation_module, "json_path")
    for example in sorted(EXAMPLES.glob("*.json")):
        situation_module.validate_situation(load(example), example.name, today=TODAY)
    assert built == []
    with pytest.raises(SituationError) as caught:
        situation_module.validate_situation({"schema_version": 1, "x\u202e": 1}, "s.json")
    assert str(caught.value).startswith("s.json: $[")  # an error still names its path
    assert built


def test_normalising_a_situation_copies_it_without_deepcopy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    situation = load(EXAMPLES / "job-loss-several-debts.json")
    copies = count_calls(monkeypatch, copy, "deepcopy")
    normal = situation_module.normalise(situation, TODAY)
    assert copies == []
    assert normal == {**situation, "as_of": normal["as_of"], "locale": normal["locale"]}
    normal["loans"][0]["id"] = "changed"  # a copy: the caller's situation is not touched
    assert situation["loans"][0]["id"] != "changed"
    assert normal["loans"][1] is not situation["loans"][1]


def _nested(levels: int) -> list[Any]:
    """Lists nested ``levels`` deep (under the top-level object: the innermost at depth
    ``levels + 1``)."""
    tree: list[Any] = []
    for _ in range(levels - 1):
        tree = [tree]
    return tree


#: Trees for the structural check: each is refused with the same message by the quick test and
#: by the walk that keeps paths, or accepted by both.
TREES: dict[str, Any] = {
    "plain": {"a": [1, 2.5, True, None, "x"], "b": {"c": "借呗"}},
    "ideographic space": {"a": "\u3000x"},
    "no-break space": {"a\u00a0b": "c"},
    "private use character": {"a": "\ue000"},
    "zero-width space": {"a": "x\u200by"},
    "escape in a key": {"a\x1b[2J": 1},
    "line separator": {"a": ["x", "y\u2028z"]},
    "surrogate": {"a": "\ud800"},
    "surrogate in a key": {"\udfff": 1},
    "nan": {"a": [1, float("nan")]},
    "infinity": {"a": {"b": float("-inf")}},
    "tuple": {"a": (1, 2)},
    "set": {"a": {1}},
    "integer key": {1: "a"},
    "depth at the limit": {"a": _nested(situation_module.MAX_DEPTH - 1)},
    "one past the limit": {"a": _nested(situation_module.MAX_DEPTH)},
}


def _outcome(tree: Any) -> str:
    try:
        situation_module._check_tree(tree, "s.json")
    except SituationError as exc:
        return str(exc)
    return "accepted"


@pytest.mark.parametrize("tree", TREES.values(), ids=TREES.keys())
def test_the_quick_structural_check_agrees_with_the_walk(
    tree: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = _outcome(tree)
    monkeypatch.setattr(situation_module, "_plain", lambda _value, _depth: False)
    assert quick == _outcome(tree)


def test_the_structural_check_refuses_what_it_must() -> None:
    refused = {name for name, tree in TREES.items() if _outcome(tree) != "accepted"}
    assert refused == set(TREES) - {
        "plain",
        "ideographic space",
        "no-break space",
        "private use character",
        "depth at the limit",
    }
    assert _outcome(situation_module._parse('{"a": 1, "a": 2}', "s.json")) == (
        "s.json: $.a: duplicate key 'a' in one JSON object"
    )
