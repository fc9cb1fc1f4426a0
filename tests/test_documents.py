"""Documents from a decision (issue 11): call scripts, letters, the printable plan, the calendar.

What a person gets: every document that applies, for every example, in both languages; the
figures are the advice's plan figures (parsed back out of the documents); the calendar parses
and its events are the plan's dates; unknown figures are blanks; a pack's template cannot reach
Python; text from a situation never changes the shape of a document; the same input gives the
same bytes; the command writes all files or none.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import icalendar
import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.core.errors import RuleLoadError, UsageError
from engine.documents import check_documents
from engine.documents.context import build_context
from engine.documents.fixture import fixture_context
from engine.documents.pack import documents_dir, load_document_pack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
PACK = ROOT / "rules" / "jiebei"
LOCALES = ("zh-CN", "en")
MONEY = re.compile(r"¥(-?[0-9][0-9,]*\.[0-9]{2})")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text("utf-8"))
    return data


def decide(rules: engine.RuleSet, data: dict[str, Any], locale: str = "zh-CN") -> engine.Decision:
    return engine.evaluate(rules, data, locale=locale)


def by_file(documents: list[engine.Document]) -> dict[str, engine.Document]:
    return {d.filename: d for d in documents}


def markdown_text(text: str) -> str:
    """What a Markdown document shows: its backslash escapes and entities undone."""
    text = re.sub(r"\\([\\`*_\[\]~|<>#+\-=.!(){}])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def money_value(cell: str) -> float | None:
    """A plan cell back to a number: ``¥1,500.00`` → 1500.0; "—" or a blank → None."""
    found = MONEY.search(cell)
    return float(found.group(1).replace(",", "")) if found else None


def table_rows(markdown: str, header_start: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header row starts with ``header_start``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


# --- every document, every example, both languages ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_gives_its_documents(
    default_rules: engine.RuleSet, path: Path, locale: str
) -> None:
    data = json.loads(path.read_text("utf-8"))
    decision = decide(default_rules, data, locale)
    documents = engine.build_documents(decision)
    names = {d.name for d in documents}
    assert {"plan", "calendar"} <= names
    for document in documents:
        assert document.content.strip(), document.filename
        assert document.name in engine.DOCUMENT_NAMES
        assert "None" not in markdown_text(document.content), document.filename
        if document.filename.endswith(".html"):
            assert document.content.startswith("<!DOCTYPE html>")
            assert f'<html lang="{locale}">' in document.content
        if document.filename.endswith(".ics"):
            icalendar.Calendar.from_ical(document.content)
    _check_plan_figures(decision, by_file(documents)["plan.md"].content)
    _check_calendar(decision, by_file(documents)["calendar.ics"].content)
    _check_only_known_figures(decision, documents)


def test_first_late_payment_documents(default_rules: engine.RuleSet) -> None:
    """The fast check of the sweep above, on the README's example."""
    decision = decide(default_rules, load("first-late-payment"))
    documents = engine.build_documents(decision)
    assert [d.filename for d in documents] == [
        "plan.md",
        "plan.html",
        "calendar.ics",
        "call_script-jiebei.md",
        "call_script-jiebei.html",
        "instalment_request-jiebei.md",
        "instalment_request-jiebei.html",
    ]
    _check_plan_figures(decision, documents[0].content)
    _check_calendar(decision, documents[2].content)
    _check_only_known_figures(decision, documents)
    script = markdown_text(documents[3].content)
    assert script.startswith("# 沟通话术：借呗\n")
    assert "cmb" not in script and "jiebei" not in script  # loans by name, never by JSON id
    for part in ("我是谁", "发生了什么", "我能还多少", "我请求什么", "如果对方拒绝", "通话记录"):
        assert part in script
    assert "| 日期 | 客服工号 | 谈了什么、约定了什么 |" in script
    assert "每月一共还 ¥1,900.00，1 个月补上逾期部分" in script  # the plan's figures
    assert "今天我可以先还 ¥300.00" in script
    assert "书面确认" in script


def _check_plan_figures(decision: engine.Decision, plan_md: str) -> None:
    """The printable plan's figures, parsed back, are the advice's plan figures."""
    plan = decision.plan()
    rows = table_rows(plan_md, "欠款" if decision.locale == "zh-CN" else "Debt")
    assert len(rows) == len(plan["loans"])
    for row, entry in zip(rows, plan["loans"], strict=True):
        _name, _balance, _overdue, _approach, today, monthly, months = row
        assert money_value(monthly) == entry["monthly_payment"], (row, entry)
        found = re.search(r"[0-9]+", months)
        assert (int(found.group()) if found else None) == entry["months"], (row, entry)
        expected_today = entry["pay_now"] if entry["pay_now"] else None
        assert money_value(today) == expected_today, (row, entry)
        if entry["monthly_payment"] is None:
            assert monthly in ("—", "¥\\_\\_\\_\\_"), row
    budget = table_rows(plan_md, "项目" if decision.locale == "zh-CN" else "Item")
    assert money_value(budget[-2][1]) == plan["budget"]
    assert money_value(budget[-1][1]) == plan["allocated"]


def _check_calendar(decision: engine.Decision, ics: str) -> None:
    """The calendar parses; its events are the plan's instalments, due dates and court dates."""
    calendar = icalendar.Calendar.from_ical(ics)
    as_of = dt.date.fromisoformat(decision.situation["as_of"])
    events = list(calendar.walk("VEVENT"))
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    kinds: dict[str, list[tuple[dt.date, str]]] = {}
    for event in events:
        assert event.decoded("DTSTAMP") == dt.datetime(
            as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC
        )
        kind = str(event["CATEGORIES"].cats[0])
        kinds.setdefault(kind, []).append((event.decoded("DTSTART"), str(event["SUMMARY"])))
    assert kinds["review"] == [(as_of + dt.timedelta(days=30), kinds["review"][0][1])]
    names = [loan["name"] for loan in build_context(decision, _pack(decision))["loans"]]
    advice = decision.to_advice()
    for raw, entry, name in zip(
        decision.situation["loans"], decision.plan()["loans"], names, strict=True
    ):
        mine = [
            (d, s)
            for d, s in kinds.get("instalment", [])
            if f"：{name}（" in s or f": {name} (" in s
        ]
        if entry["monthly_payment"] and entry["strategy"] != "court":
            count = entry["months"] or 3
            assert len(mine) == count, (name, mine)
            shown = engine.documents.context.money(entry["monthly_payment"])
            assert all(shown in s for _, s in mine)
            days = [d for d, _ in mine]
            assert days == sorted(days) and days[0] > as_of
            assert all(0 < (b - a).days <= 31 for a, b in itertools.pairwise(days))
        else:
            assert mine == []
        pay_now = [(d, s) for d, s in kinds.get("pay_now", []) if name in s]
        assert bool(pay_now) == bool(entry["pay_now"])
        if entry["pay_now"]:
            assert pay_now[0][0] == as_of
        due = raw.get("next_due_date")
        due_events = [d for d, s in kinds.get("due", []) if name in s]
        if due and dt.date.fromisoformat(due) >= as_of:
            assert due_events == [dt.date.fromisoformat(due)]
        hearing = raw.get("status", {}).get("hearing_date")
        hearing_events = [d for d, s in kinds.get("hearing", []) if name in s]
        if hearing and dt.date.fromisoformat(hearing) >= as_of:
            assert hearing_events == [dt.date.fromisoformat(hearing)]
        derived = advice["derived"]["loans"].get(raw["id"], {})
        deadline = derived.get("loan.court_deadline", {}).get("value")
        deadline_events = [d for d, s in kinds.get("court_deadline", []) if name in s]
        if deadline and dt.date.fromisoformat(deadline) >= as_of:
            assert deadline_events == [dt.date.fromisoformat(deadline)]
        else:
            assert deadline_events == []


def _pack(decision: engine.Decision) -> Any:
    from engine.documents import document_pack

    return document_pack(decision)


def _check_only_known_figures(decision: engine.Decision, documents: list[engine.Document]) -> None:
    """No document states an amount that is not in the advice: the plan, the budget, or what
    the situation says (balances, arrears, contract payments)."""
    plan = decision.plan()
    borrower = decision.situation.get("borrower", {})
    known: set[float] = set()
    for entry in plan["loans"]:
        known |= {entry[k] for k in ("pay_now", "monthly_payment", "monthly_interest") if entry[k]}
    known |= {v for v in (plan["budget"], plan["allocated"]) if v is not None}
    income, essentials = borrower.get("monthly_income"), borrower.get("monthly_essential_expenses")
    known |= {v for v in (income, essentials, borrower.get("liquid_savings")) if v is not None}
    if income is not None and essentials is not None:
        known.add(abs(income - essentials))
    for loan in decision.situation["loans"]:
        known |= {
            loan[k]
            for k in ("outstanding_balance", "overdue_amount", "monthly_payment")
            if k in loan
        }
    for message in [entry["why"] for entry in plan["loans"] if entry["why"]] + [
        r.message for r in decision.recommendations
    ]:
        known |= {float(m.replace(",", "")) for m in MONEY.findall(message)}
    for document in documents:
        for amount in MONEY.findall(document.content):
            assert float(amount.replace(",", "")) in known, (document.filename, amount)


# --- which documents apply --------------------------------------------------------------------


def test_documents_apply_only_when_the_facts_say_so(default_rules: engine.RuleSet) -> None:
    quiet = {
        d.name for d in engine.build_documents(decide(default_rules, load("first-late-payment")))
    }
    assert not quiet & {
        "fee_dispute",
        "relatives_message",
        "complaint_letter",
        "credit_report_dispute",
        "hardship_statement",
    }
    loud = {d.name for d in engine.build_documents(decide(default_rules, load("harassment")))}
    assert {"fee_dispute", "relatives_message", "complaint_letter"} <= loud
    assert "credit_report_dispute" not in loud
    data = load("harassment")
    data["loans"][0]["status"]["credit_report_error"] = True
    named = [
        d
        for d in engine.build_documents(decide(default_rules, data))
        if d.name == "credit_report_dispute"
    ]
    assert [d.filename for d in named] == [
        "credit_report_dispute-online-loan.md",
        "credit_report_dispute-online-loan.html",
    ]
    hardship = {
        d.name
        for d in engine.build_documents(decide(default_rules, load("job-loss-several-debts")))
    }
    assert "hardship_statement" in hardship


def test_only_keeps_the_named_documents(default_rules: engine.RuleSet) -> None:
    decision = decide(default_rules, load("harassment"), "en")
    names = [
        d.filename for d in engine.build_documents(decision, only=["calendar", "relatives_message"])
    ]
    assert names == ["calendar.ics", "relatives_message.md", "relatives_message.html"]
    with pytest.raises(UsageError, match="unknown document 'letter'"):
        engine.build_documents(decision, only=["letter"])


def test_public_api(default_rules: engine.RuleSet) -> None:
    assert engine.DOCUMENT_NAMES == (
        "plan", "calendar", "call_script", "hardship_statement", "instalment_request",
        "complaint_letter", "fee_dispute", "credit_report_dispute", "relatives_message",
    )  # fmt: skip
    document = engine.build_documents(decide(default_rules, load("pay-now")), only=["plan"])[0]
    assert document.as_dict() == {
        "name": "plan",
        "filename": "plan.md",
        "media_type": "text/markdown; charset=utf-8",
        "loan_id": None,
        "content": document.content,
    }
    with pytest.raises(AttributeError):
        document.content = "x"  # type: ignore[misc]


# --- the context ------------------------------------------------------------------------------


def _data_only(value: Any, path: str = "$") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, path
            _data_only(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _data_only(item, f"{path}[{index}]")
    else:
        assert value is None or type(value) in (str, bool, int), (path, type(value))


@pytest.mark.parametrize("name", ["job-loss-several-debts", "court-notice", "harassment"])
def test_context_is_plain_data_and_fixture_has_its_shape(
    default_rules: engine.RuleSet, name: str
) -> None:
    decision = decide(default_rules, load(name))
    pack = _pack(decision)
    context = build_context(decision, pack)
    _data_only(context)
    words = default_rules.pack.words("zh-CN")
    fixture = fixture_context(pack, "zh-CN", words, True)
    assert set(fixture) == set(context)
    for key in ("borrower", "budget", "situation", "collection"):
        assert set(fixture[key]) == set(context[key]), key
    assert set(fixture["loan"]) == set(context["loans"][0])
    assert set(fixture["loan"]["plan"]) == set(context["loans"][0]["plan"])


def test_unknown_figures_are_blanks_never_zero(default_rules: engine.RuleSet) -> None:
    data = {
        "schema_version": 1,
        "as_of": "2026-11-28",
        "locale": "en",
        "loans": [{"id": "jiebei", "product": "jiebei", "first_missed_due_date": "2026-11-10"}],
    }
    decision = decide(default_rules, data, "en")
    documents = by_file(engine.build_documents(decision))
    plan_md = documents["plan.md"].content
    assert "| Income | ¥\\_\\_\\_\\_ |" in plan_md
    assert "| For unsecured debts | ¥\\_\\_\\_\\_ |" in plan_md
    assert "¥0.00" not in plan_md
    row = table_rows(plan_md, "Debt")[0]
    assert row[1] == row[2] == "¥\\_\\_\\_\\_"  # balance and arrears not given
    html = documents["plan.html"].content
    assert "<td>¥____</td>" in html and "¥0.00" not in html
    script = markdown_text(documents["call_script-jiebei.md"].content)
    assert "My income is ¥____ a month" in script


# --- hostile templates and hostile text ---------------------------------------------------------


@pytest.fixture
def documents_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    shutil.copytree(PACK / "documents", folder)
    return folder


HOSTILE = [
    ("{{ ''.__class__.__mro__ }}", 3, "names starting with '_' are Python internals"),
    ("{{ loan['__dict__'] }}", 3, "'__dict__': names starting with '_'"),
    ("{{ budget.income._x }}", 3, "'_x': names starting with '_'"),
    ("{% include 'plan.en.md.j2' %}", 3, "cannot include, import or extend"),
    ("{% import 'x' as y %}", 3, "cannot include, import or extend"),
    ("{{ range(10) }}", 3, "unknown name 'range'"),
    ("{{ cycler }}", 3, "unknown name 'cycler'"),
    ("{{ config }}", 3, "unknown name 'config'"),
    ("{% if %}", 3, "template syntax"),
]


@pytest.mark.parametrize(("line", "at", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_template_is_refused_when_loaded(
    default_rules: engine.RuleSet, documents_copy: Path, line: str, at: int, message: str
) -> None:
    template = documents_copy / "plan.en.md.j2"
    lines = template.read_text("utf-8").splitlines()
    lines[at - 1] = line
    template.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(RuleLoadError) as raised:
        load_document_pack(documents_copy, default_rules.compiled.facts)
    [error] = raised.value.errors
    assert str(error.location) == f"{documents_copy.as_posix()}/plan.en.md.j2:{at}"
    assert message in error.message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{{ budget | attr('__class__') }}", "SecurityError"),
        ("{{ loans.append(loan) }}", "SecurityError"),
        ("{% set x = budget.update(short=true) %}", "SecurityError"),
        ("{{ budget.no_such_field }}", "has no attribute 'no_such_field'"),
        ("{{ loan.plan.strategy_labl }}", "has no attribute 'strategy_labl'"),
    ],
)
def test_template_errors_at_render_name_the_line(
    default_rules: engine.RuleSet, documents_copy: Path, line: str, message: str
) -> None:
    """What only rendering finds (the sandbox refusing ``attr('__class__')``, a field the
    context does not have) is found by ``rules validate``'s fixture render, with the line."""
    template = documents_copy / "call_script.zh-CN.md.j2"
    lines = template.read_text("utf-8").splitlines()
    lines[4] = line
    template.write_text("\n".join(lines) + "\n", "utf-8")
    facts = default_rules.compiled.facts
    load_document_pack(documents_copy, facts)  # nothing to see before rendering
    errors = check_documents([str(documents_copy.parent)], facts, default_rules.pack.messages)
    assert errors, "the fixture render must find it"
    assert {str(e.location) for e in errors} == {
        f"{documents_copy.as_posix()}/call_script.zh-CN.md.j2:5"
    }
    assert message in errors[0].message


def test_rules_validate_reports_a_broken_template(tmp_path: Path, runner: CliRunner) -> None:
    pack = tmp_path / "mypack"
    shutil.copytree(PACK, pack, ignore=shutil.ignore_patterns("tests"))
    template = pack / "documents" / "fee_dispute.en.md.j2"
    template.write_text(template.read_text("utf-8") + "{{ loan.fee }}\n{% endif %}\n", "utf-8")
    result = runner.invoke(app, ["rules", "validate", str(pack)])
    assert result.exit_code == 2, result.output
    assert f"{pack.as_posix()}/documents/fee_dispute.en.md.j2:" in result.output
    assert "documents_template: template syntax" in result.output
    assert "Traceback" not in result.output
    ok = runner.invoke(app, ["rules", "validate"])
    assert ok.exit_code == 0, ok.output


def test_manifest_errors_name_the_line(default_rules: engine.RuleSet, documents_copy: Path) -> None:
    manifest = documents_copy / "documents.yaml"
    text = manifest.read_text("utf-8").replace(
        "- action: challenge_fees", "- fact: loan.fees_demanded"
    )
    text = text.replace("relatives_message:\n", "relative_message:\n", 1)
    manifest.write_text(text, "utf-8")
    with pytest.raises(RuleLoadError) as raised:
        load_document_pack(documents_copy, default_rules.compiled.facts)
    shown = [str(e) for e in raised.value.errors]
    assert any("unknown fact 'loan.fees_demanded'" in s and "documents.yaml:" in s for s in shown)
    assert any("unknown document 'relative_message'" in s for s in shown)


HOSTILE_TEXT = (
    "<script>alert(1)</script> {{ 7*7 }} {% if true %}x{% endif %} *b* | [l](http://e) # ¥0.00"
)


@pytest.mark.parametrize("locale", LOCALES)
def test_text_from_a_situation_never_changes_the_shape(
    default_rules: engine.RuleSet, locale: str
) -> None:
    data = load("harassment")
    data["loans"][0]["lender_type"] = "microloan_company"
    data["loans"][0]["lender"] = "Plain Lender Co"
    plain = by_file(engine.build_documents(decide(default_rules, data, locale)))
    data["loans"][0]["lender"] = HOSTILE_TEXT
    hostile = by_file(engine.build_documents(decide(default_rules, data, locale)))
    assert list(plain) == list(hostile)
    parser = MarkdownIt("commonmark").enable("table")
    for name, document in hostile.items():
        if name.endswith(".html"):
            assert "<script>" not in document.content and "<a " not in document.content
            assert "&lt;script&gt;" in document.content or HOSTILE_TEXT not in document.content
        if name.endswith(".md"):
            shape = [t.type for t in parser.parse(document.content)]
            assert shape == [t.type for t in parser.parse(plain[name].content)], name
        if name.endswith(".ics"):
            events = list(icalendar.Calendar.from_ical(document.content).walk("VEVENT"))
            assert len(events) == len(
                list(icalendar.Calendar.from_ical(plain[name].content).walk("VEVENT"))
            )
    letter = hostile["complaint_letter-online-loan.md"].content
    assert "{{ 7\\*7 }}" in letter  # literal, never evaluated
    assert "49" not in letter
    html = hostile["complaint_letter-online-loan.html"].content
    assert "{{ 7*7 }} {% if true %}x{% endif %}" in html


# --- determinism and the command line ---------------------------------------------------------


def test_same_decision_same_bytes(default_rules: engine.RuleSet) -> None:
    first = engine.build_documents(decide(default_rules, load("court-notice"), "en"))
    second = engine.build_documents(decide(default_rules, load("court-notice"), "en"))
    assert [d.as_dict() for d in first] == [d.as_dict() for d in second]


def test_cli_writes_every_document_and_lists_them(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "out" / "deep"
    result = runner.invoke(
        app,
        [
            "documents",
            str(ROOT / "examples" / "harassment.json"),
            "--out",
            str(out),
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert result.output.splitlines() == [str(out / name) for name in [
        "plan.md", "plan.html", "calendar.ics", "call_script-online-loan.md",
        "call_script-online-loan.html", "instalment_request-online-loan.md",
        "instalment_request-online-loan.html", "complaint_letter-online-loan.md",
        "complaint_letter-online-loan.html", "fee_dispute-online-loan.md",
        "fee_dispute-online-loan.html", "relatives_message.md", "relatives_message.html",
    ]]  # fmt: skip
    assert len(written) == 13
    assert (
        (out / "relatives_message.md")
        .read_text("utf-8")
        .startswith("# Message for relatives and friends\n")
    )
    only = runner.invoke(
        app,
        [
            "documents",
            str(ROOT / "examples" / "harassment.json"),
            "--out",
            str(tmp_path / "o"),
            "--only",
            "plan",
            "--only",
            "calendar",
        ],
    )
    assert only.exit_code == 0, only.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "calendar.ics",
        "plan.html",
        "plan.md",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "letters"], "unknown document 'letters'"),
        (["--rules", "/nonexistent/pack"], "/nonexistent/pack"),
    ],
)
def test_cli_bad_input_writes_nothing(
    tmp_path: Path, runner: CliRunner, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["documents", str(ROOT / "examples" / "pay-now.json"), "--out", str(out), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_cli_refuses_a_file_as_out_and_a_bad_situation(tmp_path: Path, runner: CliRunner) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    result = runner.invoke(
        app, ["documents", str(ROOT / "examples" / "pay-now.json"), "--out", str(file)]
    )
    assert result.exit_code == 2 and "not a folder" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "loans": []}')
    out = tmp_path / "out"
    result = runner.invoke(app, ["documents", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and "bad.json" in result.output
    assert not out.exists()


def test_cli_write_failure_leaves_nothing_half_written(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.md").write_text("the old plan")
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    result = runner.invoke(
        app, ["documents", str(ROOT / "examples" / "harassment.json"), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["plan.md"]
    assert (out / "plan.md").read_text() == "the old plan"


@pytest.mark.slow
def test_installed_command_is_deterministic(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "xieshang"
    outputs = []
    for run in ("a", "b"):
        subprocess.run(
            [
                str(command),
                "documents",
                str(ROOT / "examples" / "court-notice.json"),
                "--out",
                str(tmp_path / run),
            ],
            check=True,
            capture_output=True,
        )
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert outputs[0] == outputs[1]
    assert "calendar.ics" in outputs[0]


# --- look at it ---------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.slow
def test_screenshots_render_with_headless_chromium(tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.skip(
            "NO CHROMIUM: /usr/bin/chromium is missing, screenshots NOT checked (make browser)"
        )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "screenshots.py"),
            "--out",
            str(tmp_path),
            "--only",
            "plan",
            "call_script",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in ("plan", "call_script"):
        png = tmp_path / f"{name}.png"
        assert _png_size(png) == (820, 1160)
        assert png.stat().st_size > 20_000  # a page with text on it, not a blank one


def test_readme_shows_a_screenshot_of_every_document_type() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    from tools.screenshots import SHOTS

    for name in SHOTS:
        assert f"docs/images/{name}.png" in readme
        assert (ROOT / "docs" / "images" / f"{name}.png").is_file()
    assert "xieshang documents examples/" in readme
    assert documents_dir([str(PACK)]) == PACK / "documents"


@pytest.mark.slow
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", ["job-loss-several-debts", "income-cut-several-debts"])
def test_printable_plan_is_one_a4_page(
    default_rules: engine.RuleSet, tmp_path: Path, name: str, locale: str
) -> None:
    """The plan of four debts prints on one A4 page (Chromium's print to PDF, the page count)."""
    if shutil.which("chromium") is None:
        pytest.skip(
            "NO CHROMIUM: /usr/bin/chromium is missing, printing NOT checked (make browser)"
        )
    [html] = [
        d
        for d in engine.build_documents(decide(default_rules, load(name), locale), only=["plan"])
        if d.filename == "plan.html"
    ]
    page, pdf = tmp_path / "plan.html", tmp_path / "plan.pdf"
    page.write_text(html.content, "utf-8")
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    data = pdf.read_bytes()
    width, height = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)", data)[0]
    assert (round(float(width)), round(float(height))) == (595, 842)  # A4 in points: @page size
    assert re.findall(rb"/Count (\d+)", data) == [b"1"]


def test_readme_documents_listing_is_current(tmp_path: Path, runner: CliRunner) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"\$ xieshang documents (\S+) --out my-documents\n(.*?)```", readme, re.S)
    assert block is not None
    out = tmp_path / "my-documents"
    result = runner.invoke(app, ["documents", str(ROOT / block.group(1)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [Path(line).name for line in result.output.splitlines()] == [
        Path(line).name for line in block.group(2).splitlines()
    ]


def test_rules_validate_one_template_file(tmp_path: Path, runner: CliRunner) -> None:
    """A template named on its own is checked with its pack, and only its errors are shown."""
    pack = tmp_path / "mypack"
    shutil.copytree(PACK, pack, ignore=shutil.ignore_patterns("tests"))
    broken = pack / "documents" / "plan.zh-CN.md.j2"
    broken.write_text("# {{ title }\n", "utf-8")
    result = runner.invoke(app, ["rules", "validate", str(broken)])
    assert result.exit_code == 2, result.output
    assert f"{broken.as_posix()}:1: documents_template: template syntax" in result.output
    other = runner.invoke(app, ["rules", "validate", str(pack / "contact.yaml")])
    assert other.exit_code == 0, other.output
