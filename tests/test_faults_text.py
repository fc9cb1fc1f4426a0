"""Fault injection on text: hostile free text in every output format, a closed or non-UTF-8 stdout.

Issue 9, findings 2 and 13. A lender's name is the situation's free text: it must never add a
line, an item, markup, HTML or a terminal escape to the advice, in text, Markdown or JSON, nor to
an error message. Standard output that is closed or cannot encode the advice gives one line on
stderr and a clear exit code, for every command family, run as the installed console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.present.rendering import render_json, render_markdown, render_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "first-late-payment.json"
XIESHANG = Path(sys.executable).with_name("xieshang")

#: Every kind of line break a viewer may honour (``str.splitlines`` splits at all of them).
LINE_BREAKS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
#: Terminal escapes, BiDi overrides and isolates, zero-width and tag characters, C1 controls.
INVISIBLE = ["\x1b[2J", "\x1b]0;owned\x07", "\x9b31m", "\u202e", "\u2066", "\u200b", "\u200d",
             "\ufeff", "\U000e0041"]  # fmt: skip
FAKE_ITEM = "4. Transfer ¥1,100 to this personal account  [now · jiebei]"
#: The same as Markdown: a heading (a new list would need "1." to interrupt a paragraph).
FAKE_HEADING = "## 4. Transfer ¥1,100 to this personal account"


def _situation(lender: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["loans"][0]["lender"] = lender
    return doc


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "s.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


#: Control, format, line and paragraph separator characters: never shown raw.
UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _unsafe_left(text: str, keep: str = "\n") -> list[str]:
    return sorted({c for c in text if c not in keep and unicodedata.category(c) in UNSAFE})


# --- the schema refuses control and formatting characters --------------------------------------


@pytest.mark.parametrize("bad", LINE_BREAKS + INVISIBLE, ids=repr)
def test_lender_with_control_or_format_character_is_refused(
    runner: CliRunner, tmp_path: Path, bad: str
) -> None:
    path = _write(tmp_path, _situation(f"Ant{bad}{FAKE_ITEM}"))
    result = runner.invoke(app, ["advise", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    message = result.stderr
    assert message.count("\n") == 1 and "Traceback" not in message
    assert "$.loans[0].lender" in message
    assert f"U+{ord(bad[0]):04X}" in message
    assert not _unsafe_left(message)


def test_error_messages_escape_what_they_echo(runner: CliRunner, tmp_path: Path) -> None:
    doc = _situation("Ant")
    doc["\x1b[2J\u202e"] = 1
    result = runner.invoke(app, ["advise", str(_write(tmp_path, doc))])
    assert result.exit_code == 2
    assert "\\u001b[2J\\u202e" in result.stderr
    assert not _unsafe_left(result.stderr)
    # a file name is echoed too
    result = runner.invoke(app, ["advise", str(tmp_path / "a\x1b[2J\u2028b.json")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and not _unsafe_left(result.stderr)
    assert "\\x1b[2J\\u2028b.json" in result.stderr


def test_unsafe_categories_prefilter_misses_nothing() -> None:
    from engine.core.safetext import UNSAFE_CATEGORIES, first_unsafe, is_unsafe

    # first_unsafe skips most text with a fast pattern: it must not skip an unsafe character.
    assert UNSAFE_CATEGORIES == UNSAFE
    for code in range(0x110000):
        char = chr(code)
        if is_unsafe(char):
            assert first_unsafe(f"ab{char}") == 2, hex(code)


# --- defence in depth: every format neutralises text that skipped validation -------------------


def _decision(rules: engine.RuleSet, lender: str) -> engine.Decision:
    # validated=True: a library caller that skipped validation; the renderers must still hold.
    return engine.evaluate(rules, _situation(lender), validated=True, locale="en")


@pytest.mark.parametrize("bad", LINE_BREAKS + INVISIBLE, ids=repr)
def test_text_output_keeps_its_lines_whatever_the_lender(
    default_rules: engine.RuleSet, bad: str
) -> None:
    clean = render_text(_decision(default_rules, "Ant"))
    text = render_text(_decision(default_rules, f"Ant{bad}{FAKE_ITEM}"))
    assert len(text.split("\n")) == len(clean.split("\n"))
    assert len(text.splitlines()) == len(clean.splitlines())
    assert not any(line.lstrip().startswith("4. Transfer") for line in text.splitlines())
    assert not _unsafe_left(text)
    assert FAKE_ITEM.split("  ")[0] in text  # still shown, inside the sentence


def _blocks(tokens: list[Any]) -> list[str]:
    return [t.type for t in tokens if t.type not in ("inline", "text")]


def _inline(tokens: list[Any]) -> Counter[str]:
    """How many of each inline token but plain text (links, emphasis, code spans, HTML)."""
    return Counter(
        c.type for t in tokens if t.type == "inline" for c in t.children or [] if c.type != "text"
    )


@pytest.mark.parametrize("bad", LINE_BREAKS + INVISIBLE, ids=repr)
def test_markdown_output_keeps_its_structure_whatever_the_lender(
    default_rules: engine.RuleSet, bad: str
) -> None:
    md = MarkdownIt("commonmark")
    clean = render_markdown(_decision(default_rules, "Ant"))
    text = render_markdown(_decision(default_rules, f"Ant{bad}{FAKE_HEADING}"))
    assert _blocks(md.parse(text)) == _blocks(md.parse(clean))
    assert not _unsafe_left(text)


HOSTILE_MARKUP = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="https://pay.example">Alipay</a>',
    "[客服](https://pay.example) ![x](https://pay.example/x.png)",
    "**urgent** _now_ `code` ~~old~~",
    "&lt;script&gt; &#60;b&#62;",
    "<https://pay.example>",
]


@pytest.mark.parametrize("markup", HOSTILE_MARKUP)
def test_markdown_shows_markup_in_a_lender_as_text(
    default_rules: engine.RuleSet, runner: CliRunner, tmp_path: Path, markup: str
) -> None:
    lender = markup  # a valid name: no control character
    path = _write(tmp_path, _situation(lender))
    result = runner.invoke(app, ["advise", str(path), "--format", "markdown", "--lang", "en"])
    assert result.exit_code == 0, result.output
    clean = render_markdown(_decision(default_rules, "Ant"))
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    tokens = md.parse(result.stdout)
    assert _blocks(tokens) == _blocks(md.parse(clean))
    assert _inline(tokens) == _inline(md.parse(clean))  # no link, image, code, emphasis, HTML
    html = md.render(result.stdout)
    for tag in ("<script", "<img", "<a ", "<code", "<table", "<s>"):
        assert tag not in html
    shown = "".join(c.content for t in tokens if t.type == "inline" for c in t.children or [])
    assert lender in shown  # the reader sees exactly the name, as text


def test_json_output_is_exact_and_escapes_what_json_leaves_raw(
    default_rules: engine.RuleSet, runner: CliRunner, tmp_path: Path
) -> None:
    lender = '<script>"重庆" \\ & ¥'
    path = _write(tmp_path, _situation(lender))
    result = runner.invoke(app, ["advise", str(path), "--format", "json"])
    assert result.exit_code == 0
    advice = json.loads(result.stdout)
    assert any(lender in r["message"] for r in advice["recommendations"])
    # characters json.dumps writes raw (C1 controls, separators, BiDi) become \u escapes
    data = {"a": "x\x85\x9b\u2028\u202e\U000e0041y"}
    text = render_json(data)
    assert not _unsafe_left(text)
    assert json.loads(text) == data


def test_json_message_of_unvalidated_text_is_one_line(default_rules: engine.RuleSet) -> None:
    advice = _decision(default_rules, f"Ant\n{FAKE_ITEM}\x1b[2J").to_advice()
    text = render_json(advice)
    assert not _unsafe_left(text)
    for rec in json.loads(text)["recommendations"]:
        assert "\n4. Transfer" not in rec["message"] and "\x1b" not in rec["message"]


# --- standard output closed or unable to encode the advice: every command family --------------


@pytest.fixture(scope="module")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    result = CliRunner().invoke(app, ["advise", str(EXAMPLE), "--audit-log", str(log)])
    assert result.exit_code == 0
    return log


@pytest.fixture(scope="module")
def batch_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "in.jsonl"
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _commands(log: Path, batch: Path) -> dict[str, list[str]]:
    example = str(EXAMPLE)
    return {
        "advise": ["advise", example],
        "advise-json": ["advise", example, "--format", "json"],
        "explain": ["explain", example, "contact_lender"],
        "rules-validate": ["rules", "validate"],
        "rules-test": ["rules", "test"],
        "rules-list": ["rules", "list"],
        "schema": ["schema", "advice"],
        "batch": ["batch", str(batch)],
        "replay": ["replay", str(log)],
    }


FAMILIES = ["advise", "advise-json", "explain", "rules-validate", "rules-test", "rules-list",
            "schema", "batch", "replay"]  # fmt: skip


def _run(
    args: list[str], env: dict[str, str], closed: bool = False
) -> subprocess.CompletedProcess[bytes]:
    command = [str(XIESHANG), *args]
    if closed:  # the shell closes fd 1 before exec: Python starts with sys.stdout None
        command = ["sh", "-c", 'exec "$@" >&-', "sh", *command]
    return subprocess.run(command, capture_output=not closed, stderr=subprocess.PIPE if closed else None,
                          env=env, timeout=300, check=False)  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIO", "PYTHONUTF8"))
    }
    env.update(LANG="C.UTF-8", **extra)
    return env


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("family", FAMILIES)
def test_closed_stdout_is_one_line_exit_1(family: str, audit_log: Path, batch_input: Path) -> None:
    result = _run(_commands(audit_log, batch_input)[family], _env(), closed=True)
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 1, stderr
    assert stderr == "xieshang: error: cannot write the output: standard output is closed\n"


NON_UTF8 = {
    "gbk": {"PYTHONIOENCODING": "gbk"},
    "c-locale": {"LC_ALL": "C", "PYTHONUTF8": "0"},
}


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("setting", sorted(NON_UTF8))
def test_non_utf8_stdout_never_gives_a_traceback(
    family: str, setting: str, audit_log: Path, batch_input: Path
) -> None:
    args = _commands(audit_log, batch_input)[family]
    result = _run(args, _env(**NON_UTF8[setting]))
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr
    if result.returncode == 2:  # text it cannot show: refused before anything is written
        assert result.stdout == b""
        assert stderr.count("\n") == 1
        assert "PYTHONIOENCODING=utf-8" in stderr and "UTF-8 locale" in stderr
    else:
        assert result.returncode == 0, stderr
        assert len(stderr.splitlines()) <= 1  # batch prints its summary line


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("setting", sorted(NON_UTF8))
def test_json_degrades_to_ascii_escapes_with_the_same_data(setting: str) -> None:
    args = ["advise", str(EXAMPLE), "--format", "json"]
    utf8 = _run(args, _env())
    other = _run(args, _env(**NON_UTF8[setting]))
    assert other.returncode == 0 and utf8.returncode == 0
    assert other.stdout.isascii()
    assert json.loads(other.stdout) == json.loads(utf8.stdout)


@pytest.mark.slow  # a subprocess
def test_text_on_gbk_says_how_to_fix_it() -> None:
    result = _run(["advise", str(EXAMPLE)], _env(PYTHONIOENCODING="gbk"))
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode() == (
        "xieshang: error: standard output uses the gbk encoding, which cannot show U+00A5 YEN"
        " SIGN; set PYTHONIOENCODING=utf-8 or use a UTF-8 locale (for example LC_ALL=C.UTF-8)\n"
    )


PACK_RULE = """\
rules:
  - id: crisis_rule
    title: {en: "Title\\e[2J\\u202e", zh-CN: 标题}
    source: guide §1.1
    when: {fact: borrower.distress, op: "==", value: true}
    recommend:
      action: crisis_support
      priority: 100
      urgency: immediate
      title: {en: "Call now\\e]0;owned\\a", zh-CN: 标题}
      message: {en: "Line one\\vone more\\x85\\n1. Fake item <b>x</b>", zh-CN: 消息}
"""


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_rule_pack_text_is_neutralised_too(
    runner: CliRunner, tmp_path: Path, make_pack: Any, fmt: str
) -> None:
    pack = make_pack(PACK_RULE)
    doc = {"schema_version": 1, "as_of": "2026-11-28", "locale": "en",
           "borrower": {"distress": True}, "loans": [{"id": "a", "product": "jiebei"}]}  # fmt: skip
    result = runner.invoke(app, ["advise", str(_write(tmp_path, doc)), "--rules", str(pack),
                                 "--format", fmt])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not _unsafe_left(result.stdout)
    if fmt == "json":
        [rec] = json.loads(result.stdout)["recommendations"]
        assert rec["message"] == "Line one\vone more\x85\n1. Fake item <b>x</b>"  # exact data
    elif fmt == "markdown":
        tokens = MarkdownIt("commonmark").parse(result.stdout)
        assert "ordered_list_open" not in _blocks(tokens)
        assert "<b>" not in MarkdownIt("commonmark").render(result.stdout)
    else:  # the pack's own line break stays; the others show as escapes
        assert "   Line one\\x0bone more\\x85\n   1. Fake item <b>x</b>\n" in result.stdout
