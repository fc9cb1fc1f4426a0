"""The presentation layer (issue 10): one registry of renderers by (document kind, format), one
``--format`` option whose choices come from it, one emit path.

Every (kind, format) the registry has is run through the command line in-process; JSON is parsed
back, text is compared with what the tool's own renderer writes (the text of today's output).
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import engine
import engine.audit
from cli.main import app
from engine.present import TABLE, Format, formats_of, kinds

ROOT = Path(__file__).resolve().parent.parent
FIRST = ROOT / "examples" / "first-late-payment.json"
AUDIT_PACK = ROOT / "tests" / "fixtures" / "audit" / "pack"
JSON = {"content-type": "application/json"}


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def decision() -> engine.Decision:
    situation = json.loads(FIRST.read_text(encoding="utf-8"))
    return engine.evaluate(engine.load_rules(), situation)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIRST.parent.glob("*.json"))]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:3]))
    return path


@pytest.fixture(scope="module")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "audit.jsonl"
    assert cli("advise", FIRST, "--audit-log", path).exit_code == 0
    return path


# --- every registered pair, through the CLI -------------------------------------------------

#: (kind, format) → the command line that writes it (``{corpus}``, ``{log}``, ``{out}`` filled in).
COMMANDS: dict[tuple[str, Format], list[str]] = {
    ("advice", Format.text): ["advise", str(FIRST)],
    ("advice", Format.json): ["advise", str(FIRST), "--format", "json"],
    ("advice", Format.markdown): ["advise", str(FIRST), "--format", "markdown"],
    ("near_misses", Format.text): ["advise", str(FIRST), "--near-misses"],
    ("near_misses", Format.markdown): [
        "advise",
        str(FIRST),
        "--near-misses",
        "--format",
        "markdown",
    ],
    ("explain", Format.text): ["explain", str(FIRST), "pay_now_when_able"],
    ("explain", Format.json): ["explain", str(FIRST), "pay_now_when_able", "--format", "json"],
    ("compare", Format.text): ["explain", str(FIRST), "--compare", "pay_now", "contact_lender"],
    ("compare", Format.json): [
        *("explain", str(FIRST), "--compare", "pay_now", "contact_lender", "--format", "json")
    ],
    ("lint", Format.text): ["rules", "lint", "--rules", str(AUDIT_PACK)],
    ("lint", Format.json): ["rules", "lint", "--rules", str(AUDIT_PACK), "--format", "json"],
    ("diff", Format.text): [
        *("rules", "diff", "--old", str(AUDIT_PACK), "--rules", str(AUDIT_PACK)),
        *("--corpus", "{corpus}"),
    ],
    ("diff", Format.json): [
        *("rules", "diff", "--old", str(AUDIT_PACK), "--rules", str(AUDIT_PACK)),
        *("--corpus", "{corpus}", "--format", "json"),
    ],
    ("tests", Format.text): ["rules", "test", "--rules", str(AUDIT_PACK), "-v"],
    ("tests", Format.json): ["rules", "test", "--rules", str(AUDIT_PACK), "--format", "json"],
    ("coverage", Format.text): ["rules", "test", "--rules", str(AUDIT_PACK), "--coverage"],
    ("coverage", Format.json): [
        *("rules", "test", "--rules", str(AUDIT_PACK), "--coverage", "--format", "json")
    ],
    ("replay", Format.text): ["replay", "{log}"],
    ("replay", Format.json): ["replay", "{log}", "--format", "json"],
    ("rule", Format.text): ["rules", "show", "pay_now_when_able"],
    ("rule", Format.json): ["rules", "show", "pay_now_when_able", "--format", "json"],
    ("schema", Format.json): ["schema", "advice"],
    ("list", Format.text): ["rules", "list"],
    ("list", Format.json): ["rules", "list", "--facts", "--format", "json"],
    ("validation", Format.text): ["rules", "validate"],
    ("validation", Format.json): ["rules", "validate", "--format", "json"],
    ("documents", Format.text): ["documents", str(FIRST), "--out", "{out}"],
    ("documents", Format.json): ["documents", str(FIRST), "--out", "{out}", "--format", "json"],
}
#: Kinds no command writes: the web service's today card (tests/test_serve_app.py, and below).
WEB_ONLY = {("card", Format.json)}


def test_every_registered_pair_has_a_command_here() -> None:
    assert set(COMMANDS) | WEB_ONLY == set(TABLE)


def test_every_renderer_the_table_names_exists() -> None:
    for kind, fmt in TABLE:
        assert callable(engine.present.renderer(kind, fmt))


def _expected(kind: str, fmt: Format, decision: engine.Decision, tmp: Path) -> Callable[[], str]:
    """What the tool's own renderer writes for the same input (today's output)."""
    from engine.audit import compare, explain, near_misses, render_near_misses_text
    from engine.audit.coverage import measure, report_lines
    from engine.audit.ruleview import render_show_text, show_rule
    from engine.audit.testing import load_cases, run_cases, test_files
    from engine.present.rendering import render_markdown, render_text
    from engine.whynot import render_compare_text, render_explain_text

    def cases() -> tuple[engine.RuleSet, Any]:
        pack = engine.load_rules([AUDIT_PACK])
        return pack, run_cases(pack, load_cases(test_files([AUDIT_PACK / "tests"]), pack))

    def coverage() -> str:
        pack, results = cases()
        return "\n".join(report_lines(measure(pack, results), None, None)[0]) + "\n"

    return {
        ("advice", Format.text): lambda: render_text(decision),
        ("advice", Format.markdown): lambda: render_markdown(decision),
        ("near_misses", Format.text): lambda: (
            render_text(decision)
            + "\n"
            + render_near_misses_text(
                near_misses(decision), decision.ruleset.pack.words(decision.locale)
            )
        ),
        ("explain", Format.text): lambda: render_explain_text(
            explain(decision, "pay_now_when_able")
        ),
        ("compare", Format.text): lambda: render_compare_text(
            compare(decision, "pay_now", "contact_lender")
        ),
        ("rule", Format.text): lambda: render_show_text(
            show_rule(decision.ruleset, "pay_now_when_able", [])
        ).split("  covered by")[0],
        ("coverage", Format.text): coverage,
    }.get((kind, fmt), lambda: "")


@pytest.mark.parametrize(("kind", "fmt"), sorted(COMMANDS), ids=[f"{k}-{f}" for k, f in COMMANDS])
def test_each_kind_and_format_through_the_cli(
    kind: str,
    fmt: Format,
    decision: engine.Decision,
    corpus: Path,
    audit_log: Path,
    tmp_path: Path,
) -> None:
    fill = {"{corpus}": str(corpus), "{log}": str(audit_log), "{out}": str(tmp_path / "out")}
    result = cli(*(fill.get(arg, arg) for arg in COMMANDS[(kind, fmt)]))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.endswith("\n") and out.strip()
    if fmt is Format.json:
        doc = json.loads(out)
        assert isinstance(doc, dict) and doc
        key = {"coverage": "coverage", "tests": "cases", "list": "facts", "schema": "$schema"}
        if kind in key:
            assert key[kind] in doc
        if kind == "coverage":
            assert set(doc["coverage"]) >= {"rule_coverage", "condition_coverage", "below_minimum"}
        return
    expected = _expected(kind, fmt, decision, tmp_path)()
    if kind == "rule":  # the cases that cover the rule follow; the rest is the view's text
        assert out.startswith(expected)
    elif kind == "coverage":
        assert out.endswith(expected) and " passed, " in out
    elif expected:
        assert out == expected
    if kind == "near_misses":
        assert "One condition short:" in out or "差一个条件就会建议:" in out


def test_the_json_of_a_kind_is_its_document(decision: engine.Decision) -> None:
    """Advice JSON is the SPEC §4 document, explain JSON the explanation: nothing added."""
    from engine.audit import explain

    advice = json.loads(cli("advise", FIRST, "--format", "json").stdout)
    assert advice == json.loads(json.dumps(decision.to_advice()))
    shown = json.loads(cli("explain", FIRST, "pay_now", "--format", "json").stdout)
    assert shown == json.loads(json.dumps(explain(decision, "pay_now").as_dict()))


def test_the_web_card_is_the_registry_card(decision: engine.Decision) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    from cli.web.app import create_app
    from cli.web.settings import Settings

    with TestClient(create_app(Settings())) as client:
        body = FIRST.read_bytes()
        card = client.post("/v1/advise?format=card", content=body, headers=JSON)
        text = client.post("/v1/advise?format=text", content=body, headers=JSON)
    assert card.status_code == 200 and text.status_code == 200
    assert card.text == engine.render_as(engine.Card(decision), Format.json)
    assert card.json()["today"]
    assert text.text == cli("advise", FIRST).stdout


# --- new formats: what the registry added ----------------------------------------------------


def test_rules_test_as_json_lists_every_case() -> None:
    result = cli(
        "rules", "test", "--rules", AUDIT_PACK, "--format", "json", "--min-coverage", "100"
    )
    doc = json.loads(result.stdout)
    assert doc["failed"] == 0 and doc["passed"] == len(doc["cases"]) > 0
    assert all(case["passed"] and case["failures"] == [] for case in doc["cases"])
    assert doc["coverage"]["below_minimum"] is (doc["coverage"]["rule_coverage"] < 100)
    assert result.exit_code == (1 if doc["coverage"]["below_minimum"] else 0)


def test_rules_list_as_json_has_every_rule(default_rules: engine.RuleSet) -> None:
    doc = json.loads(cli("rules", "list", "--format", "json").stdout)
    assert [r["id"] for r in doc["rules"]] == [r.id for r in default_rules.pack.rules]
    text_rows = cli("rules", "list").stdout.splitlines()
    assert [row.split("\t")[0] for row in text_rows] == [r["id"] for r in doc["rules"]]


def test_rules_validate_as_json(default_rules: engine.RuleSet) -> None:
    doc = json.loads(cli("rules", "validate", "--format", "json").stdout)
    assert doc["ok"] is True and doc["rules"] == len(default_rules.pack.rules)
    assert doc["engine_rulesets"] == len(default_rules.compiled.shards)


def test_documents_as_json_are_the_files_written(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    doc = json.loads(cli("documents", FIRST, "--out", out, "--format", "json").stdout)
    assert doc["documents"]
    for item in doc["documents"]:
        assert (out / item["filename"]).read_bytes() == item["content"].encode("utf-8")


# --- unsupported pairs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["advise", str(FIRST), "--format", "html"], "'text', 'json', 'markdown'"),
        (["explain", str(FIRST), "pay_now", "--format", "markdown"], "'text', 'json'"),
        (["rules", "lint", "--format", "markdown"], "'text', 'json'"),
        (["schema", "advice", "--format", "text"], "'json'"),
    ],
)
def test_an_unsupported_format_is_a_usage_error_naming_the_choices(
    args: list[str], choices: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert f"is not one of {choices}." in result.stderr
    assert f"Invalid value for '--format': '{args[-1]}' is not one of" in result.stderr
    assert result.stdout == ""


def test_the_registry_refuses_a_pair_it_does_not_have(decision: engine.Decision) -> None:
    with pytest.raises(
        engine.UsageError, match=r"lint cannot be shown as markdown \(formats: text, json\)"
    ):
        engine.render_as(engine.audit.LintReport("p", []), Format.markdown)
    with pytest.raises(
        engine.UsageError,
        match=r"unknown format 'xml' for advice \(formats: text, json, markdown\)",
    ):
        engine.render_as(engine.Advice(decision), "xml")
    with pytest.raises(engine.UsageError, match="unknown document kind 'nope'"):
        formats_of("nope")


def test_advice_renders_in_any_of_the_packs_locales_without_evaluating_again(
    decision: engine.Decision,
) -> None:
    """One decision, rendered in the other locale, is what evaluating in it gives, in every
    format of the advice; a locale the pack does not have is a usage error."""
    assert decision.locale == "zh-CN"
    assert engine.render_as(engine.Advice(decision), Format.text, "zh-CN").startswith("建议")
    situation = json.loads(FIRST.read_text(encoding="utf-8"))
    english = engine.evaluate(decision.ruleset, situation, locale="en")
    for fmt in engine.formats_of("advice"):
        for options in ({}, {"near_misses": True, "show_all": True}):
            assert engine.render_as(engine.Advice(decision, **options), fmt, "en") == (
                engine.render_as(engine.Advice(english, **options), fmt)
            ), (fmt, options)
    with pytest.raises(engine.UsageError, match="unknown locale 'fr'"):
        engine.render_as(engine.Advice(decision), Format.text, "fr")


def test_render_as_is_not_shadowed_by_the_render_module() -> None:
    """``engine.present.rendering`` is a module: the registry's function has another name in the façade."""
    import engine.present.rendering

    assert callable(engine.render_as) and engine.render_as is engine.present.render


# --- one --format option, its choices per command ------------------------------------------

#: command → the kinds it writes (its --format choices are the formats all of them have).
WRITES = {
    ("advise",): ("advice",),
    ("explain",): ("explain", "compare"),
    ("replay",): ("replay",),
    ("documents",): ("documents",),
    ("schema",): ("schema",),
    ("rules", "lint"): ("lint",),
    ("rules", "diff"): ("diff",),
    ("rules", "show"): ("rule",),
    ("rules", "test"): ("tests", "coverage"),
    ("rules", "list"): ("list",),
    ("rules", "validate"): ("validation",),
}


@pytest.mark.parametrize("command", sorted(WRITES), ids=[" ".join(c) for c in sorted(WRITES)])
def test_format_help_lists_the_registry_choices(command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    choices = "|".join(f.value for f in formats_of(*WRITES[command]))
    assert f"--format <{choices}>" in result.stdout


def test_the_choices_per_command_are_as_documented() -> None:
    assert [f.value for f in formats_of("advice")] == ["text", "json", "markdown"]
    assert [f.value for f in formats_of("explain", "compare")] == ["text", "json"]
    assert [f.value for f in formats_of("schema")] == ["json"]
    assert set(kinds()) == {kind for kinds_ in WRITES.values() for kind in kinds_} | {
        "card",
        "near_misses",
    }


# --- one emit path ---------------------------------------------------------------------------

#: Modules that write to stdout otherwise, and why: ``batch`` streams one line per situation as
#: the workers finish (a whole document would hold the output in memory); ``interview`` is a
#: dialogue (its advice is rendered by the registry); ``app`` prints ``--version``.
STREAMING = {"batch.py", "dask_batch.py", "interview.py", "app.py"}


def _stdout_writes(path: Path) -> list[str]:
    """Calls in ``path`` that write to standard output other than through cli.output.emit."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        to_stderr = any(k.arg == "err" for k in node.keywords)
        if name in ("typer.echo", "print", "click.echo") and not to_stderr:
            found.append(f"{path.name}:{node.lineno}: {name}")
        if name in ("sys.stdout.write", "write_stdout", "render_json", "render_text"):
            found.append(f"{path.name}:{node.lineno}: {name}")
    return found


def test_every_command_writes_through_the_one_emit_path() -> None:
    commands = [p for p in (ROOT / "cli").glob("*.py") if p.name not in STREAMING]
    assert {"main.py", "audit.py", "documents.py"} <= {p.name for p in commands}
    writes = [w for p in commands if p.name != "output.py" for w in _stdout_writes(p)]
    assert writes == []


def test_stdout_writes_are_found_where_they_are() -> None:
    """The scan above finds a write when there is one (not a test that passes on nothing)."""
    assert any("typer.echo" in w for w in _stdout_writes(ROOT / "cli" / "interview.py"))
    assert any("sys.stdout.write" in w for w in _stdout_writes(ROOT / "cli" / "output.py"))


def test_a_command_writes_nothing_when_rendering_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emit path renders whole before it writes: a failing renderer leaves stdout empty
    and reports one line with its exit code."""
    import engine.present.registry as registry

    def broken(document: Any, locale: str | None) -> str:
        raise engine.UsageError("cannot show this")

    monkeypatch.setitem(registry._loaded, TABLE[("lint", Format.text)], broken)
    result = cli("rules", "lint", "--rules", AUDIT_PACK)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "xieshang: error: cannot show this\n"


@pytest.mark.slow  # a subprocess
def test_the_installed_command_emits_through_the_registry(tmp_path: Path) -> None:
    """The installed ``xieshang``: a new JSON format, and an unsupported one refused whole."""
    import os
    import subprocess
    import sys

    xieshang = shutil.which("xieshang", path=os.path.dirname(sys.executable))
    assert xieshang is not None
    listed = subprocess.run(
        [xieshang, "rules", "list", "--format", "json"], capture_output=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["rules"]
    refused = subprocess.run(
        [xieshang, "advise", str(FIRST), "--format", "html"], capture_output=True, timeout=120
    )
    assert refused.returncode == 2 and refused.stdout == b""
    assert b"'html' is not one of 'text', 'json', 'markdown'." in refused.stderr


def test_the_web_advise_formats_are_the_registry_formats_and_the_card() -> None:
    from cli.web.app import ADVISE_FORMATS

    assert set(ADVISE_FORMATS) == {f.value for f in formats_of("advice")} | {"card"}
    assert formats_of("card") == [Format.json]
