"""SPEC 7.3 text for a person under stress, as the user sees it (``xieshang advise``): the today
card, the distress card, ``--all``, ``--sources`` and loans named as a person knows them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine import load_rules
from tests.conftest import advise_output

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
LANGS = ["zh", "en"]
with load_rules() as _rules:
    assert _rules.pack.crisis is not None
    CRISIS_ACTIONS = set(_rules.pack.crisis.actions)  # the pack's crisis: section
WHY = re.compile(r"^ {3}(原因|Why): ", re.M)  # one per recommendation shown in full
NUMBERED = re.compile(r"^(\d+)\. (.*?)  \[(.*)\]$", re.M)  # text items: number, title, tag
MORE = {"zh": "xieshang advise ... --all", "en": "xieshang advise ... --all"}


def _advise(runner: CliRunner, situation: Path, *options: str) -> str:
    return advise_output(runner, situation, *options)


def _advice(runner: CliRunner, situation: Path, lang: str) -> dict[str, Any]:
    advice: dict[str, Any] = json.loads(
        _advise(runner, situation, "--format", "json", "--lang", lang)
    )
    return advice


def _judgment(tmp_path: Path, distress: bool = False) -> Path:
    """A card loan with a court judgment: the pack suppresses app-side recommendations."""
    situation = {
        "schema_version": 1,
        "as_of": "2026-11-28",
        "borrower": {"monthly_income": 4000, "monthly_essential_expenses": 3000},
        "loans": [
            {
                "id": "card-x1",
                "product": "credit_card",
                "lender": "招商银行",
                "outstanding_balance": 52000,
                "overdue_amount": 52000,
                "annual_rate": 0.18,
                "days_overdue": 420,
                "status": {"legal": "judgment", "legal_notice_date": "2026-11-20"},
            }
        ],
    }
    if distress:
        situation["borrower"]["distress"] = True  # type: ignore[index]
    path = tmp_path / "judgment.json"
    path.write_text(json.dumps(situation, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("situation", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_default_text_is_the_today_card(runner: CliRunner, situation: Path, lang: str) -> None:
    text = _advise(runner, situation, "--lang", lang)
    count = len(_advice(runner, situation, lang)["recommendations"])
    full = len(WHY.findall(text))
    items = NUMBERED.findall(text)
    assert full <= 3 and len(items) <= 8
    assert [int(n) for n, _, _ in items] == list(range(1, len(items) + 1))
    # every recommendation not in full is either a title or behind the one --all line
    assert (MORE[lang] in text) == (count > full)
    if not json.loads(situation.read_text(encoding="utf-8"))["borrower"].get("distress"):
        assert full == min(3, count) and len(items) == min(8, count)


@pytest.mark.parametrize("lang", LANGS)
def test_distress_shows_only_crisis_court_and_help(
    runner: CliRunner, tmp_path: Path, lang: str
) -> None:
    for situation in (ROOT / "examples" / "distress.json", _judgment(tmp_path, distress=True)):
        advice = _advice(runner, situation, lang)
        allowed = {r["title"] for r in advice["recommendations"] if r["action"] in CRISIS_ACTIONS}
        text = _advise(runner, situation, "--lang", lang)
        shown = [title for _, title, _ in NUMBERED.findall(text)]
        assert 1 <= len(shown) <= 3 and set(shown) <= allowed, shown
        assert len(WHY.findall(text)) == len(shown)
        assert MORE[lang] in text  # the rest is one option away
    # the judgment case has a court deadline as well as crisis support
    assert len(shown) >= 2


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("lang", LANGS)
def test_sources_rule_ids_and_codes_only_with_sources(
    runner: CliRunner, tmp_path: Path, lang: str, fmt: str
) -> None:
    for situation in [*EXAMPLES, _judgment(tmp_path)]:
        advice = _advice(runner, situation, lang)
        codes = {r["action"] for r in advice["recommendations"]}
        codes |= {s["action"] for s in advice["suppressed"]}
        rule_ids = {reason["rule_id"] for r in advice["recommendations"] for reason in r["reasons"]}
        # Markdown escapes "_" as "\\_": compare the words a reader sees
        plain = _advise(runner, situation, "--lang", lang, "--format", fmt, "--all")
        plain = plain.replace("\\", "")
        for marker in ("brief ", "guide §"):
            assert marker not in plain, situation.name
        words = set(re.findall(r"[a-z0-9_]+", plain))
        assert not words & (codes | rule_ids), (situation.name, words & (codes | rule_ids))
        cited = _advise(runner, situation, "--lang", lang, "--format", fmt, "--all", "--sources")
        cited = cited.replace("\\", "")
        assert "brief " in cited or "guide §" in cited
        words = set(re.findall(r"[a-z0-9_]+", cited))
        assert codes <= words and rule_ids <= words, situation.name


@pytest.mark.parametrize("lang", LANGS)
def test_left_out_line_names_no_action_codes(runner: CliRunner, tmp_path: Path, lang: str) -> None:
    situation = _judgment(tmp_path)
    advice = _advice(runner, situation, lang)
    assert advice["suppressed"]  # the judgment leaves out app-side recommendations
    label = "未列出: " if lang == "zh" else "Left out: "
    plain = _advise(runner, situation, "--lang", lang)
    (line,) = [x for x in plain.splitlines() if x.startswith(label)]
    for suppressed in advice["suppressed"]:
        assert suppressed["action"] not in line and suppressed["reason"] in line
    cited = _advise(runner, situation, "--lang", lang, "--sources")
    (line,) = [x for x in cited.splitlines() if x.startswith(label)]
    assert all(s["action"] in line for s in advice["suppressed"])


@pytest.mark.parametrize("lang", LANGS)
def test_tags_name_loans_as_a_person_knows_them(
    runner: CliRunner, tmp_path: Path, lang: str
) -> None:
    for situation in (ROOT / "examples" / "job-loss-several-debts.json", _judgment(tmp_path)):
        ids = [loan["id"] for loan in json.loads(situation.read_text(encoding="utf-8"))["loans"]]
        names = [entry["loan_id"] for entry in _advice(runner, situation, lang)["plan"]["loans"]]
        assert names == ids
        for fmt in ("text", "markdown"):
            out = _advise(runner, situation, "--lang", lang, "--format", fmt, "--all")
            tags = re.findall(r"\[([^\]\n]*)\]$|^\*([^*\n]*)\*$", out, re.M)
            joined = " ".join(a or b for a, b in tags)
            assert tags and not any(
                re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", joined)
                for i in ids
                if i not in {"jiebei", "huabei"}  # ids that are also the product's own name
            ), joined
    # the card's tag names the bank's card, not "card-x1"
    assert "招商银行" in joined


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_all_shows_every_recommendation_in_full(runner: CliRunner, lang: str, fmt: str) -> None:
    situation = ROOT / "examples" / "distress.json"
    advice = _advice(runner, situation, lang)
    out = _advise(runner, situation, "--lang", lang, "--format", fmt, "--all")
    full = WHY.findall(out) if fmt == "text" else re.findall(r"^## \d+\. ", out, re.M)
    assert len(full) == len(advice["recommendations"]) > 8  # more than the today card holds
    assert all(r["message"].split("\n")[0][:20] in out for r in advice["recommendations"])
    assert "--all" not in out


def test_markdown_has_the_same_structure(runner: CliRunner) -> None:
    situation = ROOT / "examples" / "first-late-payment.json"
    out = _advise(runner, situation, "--lang", "en", "--format", "markdown")
    assert len(re.findall(r"^## \d+\. ", out, re.M)) == 3
    assert "**Today:**" in out and "**Also worth doing:**" in out
    assert len(re.findall(r"^\d+\. .* \*[^*]+\*$", out, re.M)) == 5
    assert "xieshang advise ... --all" in out.replace("\\", "")


@pytest.mark.parametrize("situation", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_json_ignores_all_and_sources(runner: CliRunner, situation: Path) -> None:
    plain = _advise(runner, situation, "--format", "json")
    assert _advise(runner, situation, "--format", "json", "--all", "--sources") == plain


SUMMARY_PLAN = {
    "zh": ("概况", "你的还款计划", "未列出"),
    "en": ("Summary", "Your plan", "Left out"),
}


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("lang", LANGS)
def test_crisis_card_shows_nothing_but_crisis_court_and_help(
    runner: CliRunner, tmp_path: Path, lang: str, fmt: str
) -> None:
    """SPEC 7.3: in distress, no summary of figures, no plan, no left-out line: only crisis
    support, a court deadline and who can help (the distress example has no court case, so
    who can help comes second)."""
    for situation in (ROOT / "examples" / "distress.json", _judgment(tmp_path, distress=True)):
        advice = _advice(runner, situation, lang)
        out = _advise(runner, situation, "--lang", lang, "--format", fmt)
        for heading in SUMMARY_PLAN[lang]:
            assert heading not in out, (situation.name, heading)
        assert advice["summary"] and advice["plan"]["loans"]  # JSON keeps them
        with_all = _advise(runner, situation, "--lang", lang, "--format", fmt, "--all")
        assert SUMMARY_PLAN[lang][0] in with_all and SUMMARY_PLAN[lang][1] in with_all
    distress = _advice(runner, ROOT / "examples" / "distress.json", lang)
    crisis = [r["action"] for r in distress["recommendations"] if r["action"] in CRISIS_ACTIONS]
    assert crisis[:2] == ["crisis_support", "seek_free_advice"]


def _pack_copy(tmp_path: Path, crisis: str | None) -> Path:
    """The built-in pack with its ``crisis:`` section replaced (None: removed)."""
    pack = tmp_path / "jiebei"
    shutil.copytree(ROOT / "rules" / "jiebei", pack, ignore=shutil.ignore_patterns("tests"))
    manifest = pack / "pack.yaml"
    text = manifest.read_text(encoding="utf-8")
    start = text.index("  crisis:\n")
    end = text.index("\n  # ", start) + 1
    manifest.write_text(text[:start] + (crisis or "") + text[end:], encoding="utf-8")
    return pack


def test_crisis_actions_are_read_from_the_pack(runner: CliRunner, tmp_path: Path) -> None:
    situation = ROOT / "examples" / "distress.json"
    only_support = _pack_copy(
        tmp_path / "a", "  crisis:\n    when: borrower.distress\n    actions: [crisis_support]\n"
    )
    out = _advise(runner, situation, "--rules", str(only_support), "--lang", "en")
    assert [t for _, t, _ in NUMBERED.findall(out)] == ["Your safety comes before any debt"]
    # a pack without crisis: shows the usual today card, summary and plan included
    out = _advise(runner, situation, "--rules", str(_pack_copy(tmp_path / "b", None)))
    assert len(WHY.findall(out)) == 3 and len(NUMBERED.findall(out)) == 8
    assert "概况" in out and "你的还款计划" in out


@pytest.mark.parametrize(
    ("crisis", "line", "message"),
    [
        (
            "  crisis:\n    when: borrower.distress\n    actions: [crisis_support, seek_free_advise]\n",
            "crisis.actions: unknown action 'seek_free_advise'",
            "seek_free_advice",
        ),
        (
            "  crisis:\n    when: borrower.monthly_income\n    actions: [crisis_support]\n",
            "crisis.when: 'borrower.monthly_income' is not a boolean situation fact",
            "",
        ),
        (
            "  crisis:\n    when: borrower.distres\n    actions: [crisis_support]\n",
            "crisis.when: unknown fact 'borrower.distres'",
            "borrower.distress",
        ),
    ],
)
def test_crisis_section_is_checked_at_load(
    runner: CliRunner, tmp_path: Path, crisis: str, line: str, message: str
) -> None:
    pack = _pack_copy(tmp_path, crisis)
    result = runner.invoke(
        app, ["advise", str(ROOT / "examples" / "distress.json"), "--rules", str(pack)]
    )
    assert result.exit_code == 2 and not result.stdout
    assert "pack.yaml:" in result.stderr and "pack_crisis" in result.stderr
    assert line in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
