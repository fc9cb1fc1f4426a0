"""Locales as data (issue 10): the pack declares its locales, the engine's words are message
files, and a decision renders in any of the pack's locales without evaluating again.

The third locale: ``trilingual_pack`` is the built-in pack copied with ``locales: [zh-CN, en,
fr]``, a stub French text (``[fr] `` and the English) beside every text, the English document
templates as the French ones, and ``tests/fixtures/locales/fr.yaml`` as its ``messages/fr.yaml``.
Only pack files change: advise, explain, interview and documents work in French with no Python.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.core.errors import RuleLoadError, UsageError
from engine.core.locales import REFERENCE_LOCALE, engine_messages, placeholders_of
from engine.core.schemas import validator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
FRENCH_MESSAGES = Path(__file__).resolve().parent / "fixtures" / "locales" / "fr.yaml"
STUB = "[fr] "
FACT_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")  #: the plan's and the documents' per-locale facts


def _with_french(node: Any) -> Any:
    """Every text mapping ({en, zh-CN}) gains a stub ``fr``; a fact name stays a fact name."""
    if isinstance(node, list):
        return [_with_french(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_french(value) for key, value in node.items()}
    en, zh = node.get("en"), node.get("zh-CN")
    if isinstance(en, str) and isinstance(zh, str):
        out["fr"] = en if FACT_NAME.match(en) else STUB + en
    return out


@pytest.fixture(scope="module")
def trilingual_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack = tmp_path_factory.mktemp("trilingual") / "jiebei"
    shutil.copytree(ROOT / "rules" / "jiebei", pack, ignore=shutil.ignore_patterns("tests"))
    for path in sorted(pack.rglob("*.yaml")):
        data = _with_french(yaml.safe_load(path.read_text("utf-8")))
        if "pack" in data:
            data["pack"]["locales"] = ["zh-CN", "en", "fr"]
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    for template in sorted((pack / "documents").glob("*.en.md.j2")):
        shutil.copy(template, template.with_name(template.name.replace(".en.", ".fr.")))
    (pack / "messages").mkdir()
    shutil.copy(FRENCH_MESSAGES, pack / "messages" / "fr.yaml")
    return pack


@pytest.fixture(scope="module")
def trilingual(trilingual_pack: Path) -> engine.RuleSet:
    return engine.load_rules([trilingual_pack])


# --- the engine's messages ------------------------------------------------------------------


def test_engine_message_files_have_the_same_keys_and_placeholders() -> None:
    messages = engine_messages()
    assert set(messages) == {"en", "zh-CN"}
    reference = messages[REFERENCE_LOCALE]
    for locale, words in messages.items():
        assert list(words) == list(reference), locale
        for key, text in words.items():
            assert text.strip(), (locale, key)
            assert placeholders_of(text) == placeholders_of(reference[key]), (locale, key)


def test_the_french_fixture_gives_every_engine_message() -> None:
    data = yaml.safe_load(FRENCH_MESSAGES.read_text("utf-8"))
    keys = {f"{section}.{key}" for section, words in data.items() for key in words}
    assert keys == set(engine_messages()[REFERENCE_LOCALE])


# --- late rendering -------------------------------------------------------------------------


def _outputs(decision: engine.Decision) -> tuple[str, ...]:
    advice = decision.to_advice(near_misses=True)
    return (
        engine.render_json(advice),
        engine.render_text(decision),
        engine.render_text(decision, show_all=True, sources=True),
        engine.render_markdown(decision),
    )


@pytest.mark.slow
@pytest.mark.parametrize("situation", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_decision_renders_in_another_locale_without_evaluating_again(situation: Path) -> None:
    rules = engine.load_rules()
    data = json.loads(situation.read_text("utf-8"))
    for first, other in (("zh-CN", "en"), ("en", "zh-CN")):
        once = engine.evaluate(rules, data, locale=first, today=None)
        again = engine.evaluate(rules, data, locale=other)
        assert _outputs(once.in_locale(other)) == _outputs(again)
        assert once.in_locale(other).in_locale(first) == once


def test_in_locale_refuses_a_locale_the_pack_does_not_have() -> None:
    rules = engine.load_rules()
    decision = engine.evaluate(rules, json.loads(EXAMPLES[0].read_text("utf-8")))
    with pytest.raises(UsageError, match="unknown locale 'fr': expected one of 'zh-CN', 'en'"):
        decision.in_locale("fr")


# --- a third locale, with no Python -----------------------------------------------------------


def test_the_third_locale_is_declared_and_has_its_words(trilingual: engine.RuleSet) -> None:
    assert trilingual.pack.locales == ("zh-CN", "en", "fr")
    assert trilingual.pack.words("fr")["advice.heading"] == "Conseils"
    assert trilingual.pack.words("en") == engine.load_rules().pack.words("en")


def test_advise_in_the_third_locale(trilingual_pack: Path, trilingual: engine.RuleSet) -> None:
    runner = CliRunner()
    situation = str(ROOT / "examples" / "income-cut-several-debts.json")
    rules = ["--rules", str(trilingual_pack)]
    french = runner.invoke(app, ["advise", situation, *rules, "--lang", "fr", "--all"])
    assert french.exit_code == 0, french.output
    assert french.stdout.startswith("Conseils · au 2026-11-28 · règles jiebei 0.3.0\n")
    assert "Votre plan:" in french.stdout and "Pourquoi:" in french.stdout
    assert f"{STUB}" in french.stdout
    advice = json.loads(
        runner.invoke(app, ["advise", situation, *rules, "--lang", "fr", "--format", "json"]).stdout
    )
    assert advice["locale"] == "fr"
    validator("advice").validate(advice)
    assert all(r["title"].startswith(STUB) for r in advice["recommendations"])
    assert all(e["why"].startswith(STUB) for e in advice["plan"]["loans"] if e["why"])
    # adding a locale changes nothing in the others
    for lang in ("zh-CN", "en"):
        mine = runner.invoke(app, ["advise", situation, *rules, "--lang", lang, "--all"])
        builtin = runner.invoke(app, ["advise", situation, "--lang", lang, "--all"])
        assert mine.stdout == builtin.stdout, lang
    # one evaluation, rendered late in the third locale
    data = json.loads(Path(situation).read_text("utf-8"))
    once = engine.evaluate(trilingual, data, locale="zh-CN")
    assert _outputs(once.in_locale("fr")) == _outputs(
        engine.evaluate(trilingual, data, locale="fr")
    )


def test_explain_in_the_third_locale(trilingual_pack: Path) -> None:
    situation = str(ROOT / "examples" / "first-late-payment.json")
    args = ["explain", situation, "--rules", str(trilingual_pack), "--lang", "fr"]
    result = CliRunner().invoke(app, [*args, "contact_lender", "--format", "json"])
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert explained["locale"] == "fr"
    validator("explain").validate(explained)
    assert f'"title": "{STUB}' in result.stdout


def test_interview_in_the_third_locale(trilingual_pack: Path, tmp_path: Path) -> None:
    saved = tmp_path / "me.json"
    args = ["interview", "--rules", str(trilingual_pack), "--lang", "fr", "--save", str(saved)]
    result = CliRunner().invoke(app, args, input="2\n2\n2\n1\n1\nabc\n3\na\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Une question à la fois")
    assert f"{STUB}First, and most important" in result.stdout
    assert "Conseils · au " in result.stdout
    assert 'Réponse inutilisable : expected an integer ≥ 0, got "abc".' in result.stdout
    # the situation saved is SPEC's: its own locale is zh-CN or en, so fr is not written in it
    situation = json.loads(saved.read_text("utf-8"))
    assert "locale" not in situation
    engine.validate_situation(situation, "saved")


def test_documents_in_the_third_locale(trilingual_pack: Path, tmp_path: Path) -> None:
    situation = str(ROOT / "examples" / "first-late-payment.json")
    out = tmp_path / "docs"
    args = ["documents", situation, "--rules", str(trilingual_pack), "--lang", "fr"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert "plan.md" in names and "calendar.ics" in names, names
    plan = (out / "plan.md").read_text("utf-8")
    assert plan.startswith("# \\[fr\\] My repayment plan\n"), plan[:80]  # Markdown-escaped
    assert "[fr] Payment due" in (out / "calendar.ics").read_text("utf-8")


def test_rules_validate_checks_the_third_locale(trilingual_pack: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "validate", "--rules", str(trilingual_pack)])
    assert result.exit_code == 0, result.output


# --- a pack's locales and messages, wrong ------------------------------------------------------


def _small_pack(tmp_path: Path, locales: str, messages: dict[str, str] | None = None) -> Path:
    """A one-rule pack in ``locales`` (its texts in zh-CN, en and ja), with messages files."""
    pack = tmp_path / "pack"
    pack.mkdir()
    manifest = f"pack:\n  name: fixture\n  version: 0.1.0\n  locales: {locales}\n"
    (pack / "pack.yaml").write_text(manifest, "utf-8")
    texts = {"zh-CN": "标题", "en": "Title", "ja": "タイトル"}
    shown = ", ".join(f"{k}: {v}" for k, v in texts.items() if k in locales)
    rule = (
        "rules:\n  - id: r1\n    title: {TEXTS}\n    source: guide §1.1\n"
        "    when: {fact: borrower.distress, op: '==', value: true}\n"
        "    recommend: {action: crisis_support, priority: 100, urgency: immediate,"
        " title: {TEXTS}, message: {TEXTS}}\n"
    ).replace("TEXTS", shown)
    (pack / "rules.yaml").write_text(rule, "utf-8")
    for name, body in (messages or {}).items():
        (pack / "messages").mkdir(exist_ok=True)
        (pack / "messages" / name).write_text(body, "utf-8")
    return pack


def _errors(pack: Path) -> list[str]:
    with pytest.raises(RuleLoadError) as caught:
        engine.load_rules([pack])
    return [str(e) for e in caught.value.errors]


def test_a_locale_without_engine_messages_is_refused_at_load(tmp_path: Path) -> None:
    pack = _small_pack(tmp_path, "[zh-CN, en, ja]")
    [error] = _errors(pack)
    assert error.startswith(f"{pack.as_posix()}/pack.yaml:4:3: messages_missing: locale 'ja'")
    count = len(engine_messages()[REFERENCE_LOCALE])
    assert f"has no engine messages for {count} keys: advice.heading, advice.as_of, " in error
    assert "messages/ja.yaml" in error


def test_a_pack_message_file_is_checked(tmp_path: Path) -> None:
    body = FRENCH_MESSAGES.read_text("utf-8")
    wrong = body.replace("  heading: Conseils", "  heading: Conseils {count}").replace(
        "  as_of: au", "  as_off: au"
    )
    pack = _small_pack(tmp_path, "[zh-CN, en, ja]", {"ja.yaml": wrong, "de.yaml": body})
    errors = _errors(pack)
    shown = f"{pack.as_posix()}/messages"
    assert any(
        e.startswith(f"{shown}/de.yaml:1:1: messages_locale: messages for 'de'") for e in errors
    ), errors
    assert any(
        e.startswith(f"{shown}/ja.yaml:5:3: messages_text: 'advice.heading': the placeholders")
        for e in errors
    ), errors
    assert any(
        "unknown message 'advice.as_off'" in e and "did you mean 'advice.as_of'" in e
        for e in errors
    )
    assert any(
        "messages_missing: locale 'ja' has no engine messages for 2 keys" in e for e in errors
    )


def test_a_pack_may_reword_a_locale_the_engine_has(tmp_path: Path) -> None:
    pack = _small_pack(tmp_path, "[zh-CN, en]", {"en.yaml": "advice:\n  heading: Our advice\n"})
    words = engine.load_rules([pack]).pack.words("en")
    assert words["advice.heading"] == "Our advice"
    assert words["advice.why"] == "Why"


def test_lang_outside_the_pack_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["advise", str(EXAMPLES[0]), "--lang", "fr"])
    assert result.exit_code == 2
    assert result.stderr == "xieshang: error: unknown locale 'fr': expected one of 'zh-CN', 'en'\n"


def test_lang_zh_is_spec_short_name_for_zh_cn() -> None:
    runner = CliRunner()
    short = runner.invoke(app, ["advise", str(EXAMPLES[0]), "--lang", "zh"])
    full = runner.invoke(app, ["advise", str(EXAMPLES[0]), "--lang", "zh-CN"])
    assert short.exit_code == full.exit_code == 0
    assert short.stdout == full.stdout
