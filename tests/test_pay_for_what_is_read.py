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


# --- the full path: each piece of work done once, and only when read (issue 14) ----------------


def test_evaluate_makes_no_trace_until_one_is_read(
    builtin: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.run import lowered

    made = count_calls(monkeypatch, lowered, "_trace")
    situation = load(EXAMPLES / "job-loss-several-debts.json")
    decision = evaluate(builtin, situation, today=TODAY, backend="compiled")
    advice = decision.to_advice()
    assert "trace" not in advice and made == []  # the advice without --trace reads none
    traced = decision.to_advice(trace=True)
    assert len(made) == 1 and traced["trace"] == list(decision.trace)
    assert traced["trace"][0]["op"] == "fire"
    decision.to_advice(trace=True)
    assert len(made) == 1  # made once, then kept


def test_a_valid_situation_is_checked_and_copied_in_one_pass(
    builtin: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the structural walk, the schema check and the copy were three passes over the situation
    walks = count_calls(monkeypatch, situation_module, "_plain_items")
    copies = count_calls(monkeypatch, situation_module, "_copied")
    for example in sorted(EXAMPLES.glob("*.json")):
        situation = load(example)
        decision = evaluate(builtin, situation, today=TODAY)
        assert decision.situation == {"as_of": TODAY.isoformat(), "locale": "zh-CN", **situation}
        assert decision.situation["loans"] is not situation["loans"]  # still a copy
    assert walks == [] and copies == []
    with pytest.raises(SituationError) as caught:  # bad input still takes the walk that names it
        evaluate(builtin, {"schema_version": 1, "loans": [], "x\u202e": 1})
    assert str(caught.value).startswith("<situation>: $[")
    assert walks


FIXED_AND_FILLED = """\
rules:
  - id: fixed_situation
    title: {en: fixed one, zh-CN: 固定一}
    source: guide §1.1
    when: {fact: borrower.monthly_income, op: ">=", value: 0}
    recommend:
      action: contact_lender
      priority: 30
      urgency: this_week
      title: {en: Call the lender, zh-CN: 联系平台}
      message: {en: Call them., zh-CN: 打电话。}
  - id: fixed_loan
    title: {en: fixed two, zh-CN: 固定二}
    source: guide §1.1
    about: loan
    when: {fact: loan.days_overdue, op: ">", value: 0}
    recommend:
      action: request_penalty_waiver
      priority: 20
      urgency: this_week
      title: {en: Ask for a waiver, zh-CN: 申请减免}
      message: {en: Ask them., zh-CN: 去申请。}
  - id: filled_loan
    title: {en: filled, zh-CN: 填写}
    source: guide §1.1
    about: loan
    when: {fact: loan.days_overdue, op: ">", value: 0}
    recommend:
      action: crisis_support
      priority: 10
      urgency: this_week
      title: {en: Get help, zh-CN: 求助}
      message: {en: "{loan.days_overdue} days overdue.", zh-CN: "逾期 {loan.days_overdue} 天。"}
"""


def test_fixed_texts_are_not_rendered_again_for_each_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # titles and messages without placeholders are the same for every evaluation: only the one
    # message with a value is filled (each title, message and reason title used to be)
    from tests.packgen import write_pack

    rules = load_rules([write_pack(tmp_path / "fixed", FIXED_AND_FILLED)])
    situation = {"schema_version": 1, "borrower": {"monthly_income": 5000}, "loans": []}
    situation["loans"] = [{"id": "jiebei", "product": "jiebei", "days_overdue": 12}]
    for locale in ("en", "zh-CN"):
        evaluate(rules, situation, today=TODAY, locale=locale).to_advice()  # tables made
        rendered = count_calls(monkeypatch, ranking, "render")  # the template renderer
        advice = evaluate(rules, situation, today=TODAY, locale=locale).to_advice()
        shown = [(r["title"], r["message"]) for r in advice["recommendations"]]
        reasons = [x["title"] for r in advice["recommendations"] for x in r["reasons"]]
        assert len(rendered) == 1  # "{loan.days_overdue} days overdue."
        monkeypatch.undo()
        if locale == "en":
            assert shown == [
                ("Call the lender", "Call them."),
                ("Ask for a waiver", "Ask them."),
                ("Get help", "12 days overdue."),
            ]
            assert reasons == ["fixed one", "fixed two", "filled"]
        else:
            assert shown[2] == ("求助", "逾期 12 天。") and reasons[0] == "固定一"


def test_the_pack_table_is_made_once_per_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import gc

    from engine.rank import table
    from tests.packgen import write_pack

    made = count_calls(monkeypatch, table, "_make")
    rules = load_rules([write_pack(tmp_path / "fixed", FIXED_AND_FILLED)])
    situation = {"schema_version": 1, "loans": [{"id": "a", "product": "jiebei"}]}
    for days in range(1, 6):
        situation["loans"][0]["days_overdue"] = days
        for locale in ("en", "zh-CN"):
            evaluate(rules, situation, today=TODAY, locale=locale).to_advice()
    assert len(made) == 1
    # kept only while its pack lives (a copy of the pack stands for one loaded and dropped)
    other = dataclasses.replace(rules.compiled)
    table.pack_table(other)
    key = id(other)
    assert len(made) == 2 and table._TABLES[key][0]() is other
    del other
    gc.collect()
    assert key not in table._TABLES


def _reason_as_document(reason: ranking.Reason) -> dict[str, Any]:
    """A ``Reason`` object written as the advice writes reasons."""
    return {
        "rule_id": reason.rule_id,
        "title": reason.title,
        "source": reason.source,
        "location": reason.location,
        "loan_id": reason.loan_id,
        "conditions": [c.as_dict() for c in reason.conditions],
        "derived_from": [
            {"fact": d.fact, "loan_id": d.loan_id, "value": d.value, "rule_id": d.rule_id}
            for d in reason.derived_from
        ],
    }


@pytest.mark.parametrize("backend", ["rete", "compiled"])
def test_the_advice_reasons_are_the_reason_objects(
    builtin: RuleSet, backend: str, tmp_path: Path
) -> None:
    # the advice writes reasons straight from the working memory; explanations and the text
    # advice read Reason objects: both say the same, on every example and a generated pack
    from tests.packgen import generate_pack, matching_situation

    generate_pack(tmp_path / "gen", 300)
    cases = [(builtin, load(p)) for p in sorted(EXAMPLES.glob("*.json"))]
    cases += [(load_rules([tmp_path / "gen"]), matching_situation(n)) for n in (1, 3)]
    compared = 0
    for rules, situation in cases:
        for locale in rules.pack.locales:
            # two evaluations: each decides its conditions itself (a decision shares its results)
            trees = evaluate(rules, situation, today=TODAY, locale=locale, backend=backend)
            written = evaluate(rules, situation, today=TODAY, locale=locale, backend=backend)
            for tree, rec in zip(trees.recommendations, written.recommendations, strict=True):
                documents = rec.explain.documents()
                objects = [_reason_as_document(x) for x in tree.reasons]
                assert documents == objects
                assert [_reason_as_document(x) for x in rec.reasons] == documents
                compared += len(objects)
    assert compared > 100


def test_a_recommendation_made_fast_is_the_dataclass_one(builtin: RuleSet) -> None:
    import dataclasses

    decision = evaluate(builtin, load(EXAMPLES / "job-loss-several-debts.json"), today=TODAY)
    for rec in decision.recommendations:
        fields = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
        again = ranking.Recommendation(**fields)
        assert again == rec and repr(again) == repr(rec)
        assert dataclasses.replace(rec, rank=9).rank == 9
        with pytest.raises(dataclasses.FrozenInstanceError):
            rec.rank = 2  # type: ignore[misc]


def test_no_garbage_collection_runs_while_a_decision_is_built(tmp_path: Path) -> None:
    # an evaluation makes thousands of objects and no garbage cycles: a collection in the middle
    # only promotes them, and enough promoted objects start a full collection of every object of
    # the loaded packs (at 10,000 rules, half the time of evaluate + to_advice). A collection
    # the allocations before asked for may still run as they start, before the pause.
    import gc
    import sys

    from engine import api
    from engine.decision import Decision as DecisionClass
    from tests.packgen import generate_pack, matching_situation

    generate_pack(tmp_path / "gen", 600)
    rules = load_rules([tmp_path / "gen"])
    inside = {api._evaluate.__code__, DecisionClass._advice.__code__}
    started: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe(1)
        while frame is not None and phase == "start":
            if frame.f_code in inside:
                started.append(info["generation"])  # a collection inside one of them
                return
            frame = frame.f_back

    situation = matching_situation(5)
    evaluate(rules, situation, today=TODAY).to_advice()  # tables made
    gc.collect()
    gc.callbacks.append(record)
    try:
        advices = [evaluate(rules, situation, today=TODAY).to_advice() for _ in range(3)]
        assert gc.isenabled()
        gc.disable()  # the caller's choice is kept
        evaluate(rules, situation, today=TODAY).to_advice()
        assert not gc.isenabled()
        gc.enable()
    finally:
        gc.callbacks.remove(record)
    assert sum(len(r["reasons"]) for r in advices[0]["recommendations"]) >= 300
    assert started == []


@pytest.mark.parametrize("backend", ["rete", "compiled"])
def test_the_advice_of_a_one_loan_situation_reads_its_facts_one_by_one(
    builtin: RuleSet, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The reasons, the plan, the summary and the derived section read the facts they show; the
    whole situation is never read into working memory for them (it was, once per evaluation,
    whenever a reason read one input fact)."""
    from engine.run.memory import SituationMemory

    whole: list[int] = []
    values = SituationMemory.values

    def read(memory: SituationMemory) -> Any:
        if memory._values is None:
            whole.append(1)
        assert values.fget is not None
        return values.fget(memory)

    monkeypatch.setattr(SituationMemory, "values", property(read, values.fset))
    one_loan = [p for p in sorted(EXAMPLES.glob("*.json")) if len(load(p)["loans"]) == 1]
    assert len(one_loan) >= 5
    for path in one_loan:
        decision = evaluate(builtin, load(path), backend=backend)
        advice = decision.to_advice()
        assert advice["recommendations"] and advice["recommendations"][0]["reasons"], path.name
        assert whole == [], path.name


def test_overlapping_pauses_on_two_threads_keep_the_collector_off_until_the_last_ends() -> None:
    """The web service evaluates on several threads: an evaluation ending on one thread must not
    turn the collector back on while another is still building (each call used to restore what
    it alone had seen), and the last pause to end restores what the first one found."""
    import gc
    import threading

    from engine.core import collector

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector.paused():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with collector.paused():
            second_in.set()
            first_out.wait(10)
            seen.append(gc.isenabled())  # the first pause has ended; this one has not

    assert gc.isenabled()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False]
    assert gc.isenabled()  # restored by the last pause to end
    gc.disable()
    try:
        with collector.paused(), collector.paused():
            pass
        assert not gc.isenabled()  # a collector the caller disabled stays disabled
    finally:
        gc.enable()
