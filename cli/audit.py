"""Audit and authoring commands: explain, replay, rules coverage/lint/diff/show (issue 4).

Imported by ``cli.main``; the commands register themselves on the Typer apps of ``cli.app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.app import (
    Lang,
    RulesOption,
    _load,
    _locale,
    _pack_roots,
    _packs_and_files,
    _read_situation,
    app,
    fail,
    note,
    reported,
    rules_app,
)
from cli.output import write_stdout

if TYPE_CHECKING:
    from engine import Decision, RuleSet
    from engine.audit import AuditLog, CaseResult, CompareDocument, ExplainDocument


class OutFormat(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[OutFormat, typer.Option("--format", help="Output format.")]


def _json(data: Any) -> str:
    from engine import render_json

    return render_json(data)


# --- hooks used by cli.main -------------------------------------------------------------------


def near_miss_text(decision: Decision) -> str:
    """The near-miss section for ``advise --near-misses`` in text and Markdown."""
    from engine.audit import near_misses, render_near_misses_text

    text = render_near_misses_text(near_misses(decision), decision.locale)
    return f"\n{text}" if text else ""


@dataclass
class PendingRecord:
    """A decision record made and its audit log opened (so a bad path fails before any output),
    to be appended once the advice has been shown."""

    log: AuditLog
    record: dict[str, Any]

    def commit(self) -> None:
        try:
            self.log.append(self.record)
        finally:
            self.log.close()

    def discard(self) -> None:
        self.log.close()


def prepare_record(
    path: Path,
    decision: Decision,
    top: int | None,
    near_misses: bool,
    shown: Mapping[str, Any] | None = None,
) -> PendingRecord:
    """The decision record of one ``advise`` call, with its audit log open for appending.

    ``shown`` is the advice document already shown (``--format json``), reused when possible.
    """
    from engine.audit import AuditLog, make_record

    record = make_record(decision, top=top, near_misses=near_misses, shown=shown)
    return PendingRecord(AuditLog(path), record)


def coverage_lines(
    ruleset: RuleSet,
    results: list[CaseResult],
    min_rules: float | None,
    min_conditions: float | None,
) -> tuple[list[str], bool]:
    """The coverage report of ``rules test --coverage``, and whether it is below a minimum."""
    from engine.audit import coverage_report_lines, measure_coverage

    return coverage_report_lines(measure_coverage(ruleset, results), min_rules, min_conditions)


# --- explain ----------------------------------------------------------------------------------


@app.command()
def explain(
    situation: Annotated[str, typer.Argument(help="Situation JSON file, or - for stdin.")],
    target: Annotated[
        str | None, typer.Argument(help="An action code or a rule id to explain.")
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare", metavar="A B", help="Two action codes: why the first ranks where it does."
        ),
    ] = None,
    rules: RulesOption = None,
    lang: Annotated[Lang | None, typer.Option("--lang", help="Language of rule titles.")] = None,
    fmt: FormatOption = OutFormat.text,
) -> None:
    """Why an action or rule fired, or why not (failing conditions and what would flip them)."""
    from engine import UsageError, evaluate
    from engine.audit import compare as compare_actions
    from engine.audit import explain as explain_target
    from engine.audit import render_explain_text

    with reported():
        if (target is None) == (compare is None):
            raise UsageError("give an ACTION or RULE_ID to explain, or --compare A B (not both)")
        data = _read_situation(situation)
        ruleset = _load(rules)
        decision = evaluate(ruleset, data, locale=_locale(lang), validated=True)
        doc: ExplainDocument | CompareDocument
        if compare is not None:
            if compare[0] == compare[1]:
                raise UsageError(f"--compare needs two different actions, got '{compare[0]}' twice")
            doc = compare_actions(decision, compare[0], compare[1])
        else:
            assert target is not None
            doc = explain_target(decision, target)
        output = _json(doc.as_dict()) if fmt is OutFormat.json else render_explain_text(doc)
    write_stdout(output, json=fmt is OutFormat.json)


# --- replay -----------------------------------------------------------------------------------


@app.command()
def replay(
    log: Annotated[Path, typer.Argument(help="Audit log written by 'advise --audit-log'.")],
    rules: RulesOption = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Also fail when advice made with other rules changed.")
    ] = False,
    fmt: FormatOption = OutFormat.text,
) -> None:
    """Re-evaluate every decision record with the current rules.

    Same ruleset digest: the advice must be byte-identical (exit 1 otherwise). Other digest: the
    changed recommendations and the changed rules are reported (exit 0, or 1 with --strict).
    A damaged line is reported with its number and the other records are replayed (exit 2).
    """
    from engine import UsageError
    from engine.audit import read_log, render_replay_text, replay_failed
    from engine.audit import replay as replay_records

    with reported():
        contents = read_log(log)
        if not contents.records and not contents.damaged:
            raise UsageError(f"{log}: no decision records (the log is empty)")
        ruleset = _load(rules)
        results = replay_records(ruleset, contents.records)
        if fmt is OutFormat.json:
            output = _json(
                {
                    "ruleset": {
                        "name": ruleset.name,
                        "version": ruleset.version,
                        "digest": ruleset.digest,
                    },
                    "records": [r.as_dict() for r in results],
                    "damaged": [d.as_dict() for d in contents.damaged],
                }
            )
        else:
            output = render_replay_text(results, ruleset, contents.damaged)
    write_stdout(output, json=fmt is OutFormat.json)
    if contents.damaged:
        shown = contents.damaged[:_DAMAGED_SHOWN]
        for damage in shown:
            typer.echo(f"{log}:{damage.line}: {damage.message}", err=True)
        more = len(contents.damaged) - len(shown)
        count = len(contents.damaged)
        fail(
            f"{log}: {count} damaged line{'s' if count != 1 else ''}"
            + (f" ({more} more not shown)" if more else "")
            + ("; every other record was replayed" if results else "; no record to replay"),
            2,
        )
    if replay_failed(results, strict):
        raise typer.Exit(1)


_DAMAGED_SHOWN = 10  #: damaged lines named on stderr (the report lists them all)


# --- rules lint / diff / show -----------------------------------------------------------------


@rules_app.command("lint")
def rules_lint(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="A rule file stands for its pack; a directory is the deprecated --rules.",
            metavar="FILE",
        ),
    ] = None,
    rules: RulesOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    fmt: FormatOption = OutFormat.text,
) -> None:
    """Find rules that cannot fire, duplicates, shadowing, unused parameters and actions, ...

    Exit 2 when there are errors; with --strict, 1 when there are only warnings; else 0.
    """
    from engine.audit import lint
    from engine.audit import lint_exit_code as exit_code

    with reported():
        ruleset = _load(_pack_roots(_packs_and_files(rules, paths)))
        findings = lint(ruleset)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if fmt is OutFormat.json:
        write_stdout(_json({"findings": [f.as_dict() for f in findings]}), json=True)
    else:
        lines = [str(f) for f in findings]
        lines.append(f"{ruleset.name}: {errors} errors, {warnings} warnings")
        write_stdout("\n".join(lines) + "\n")
    code = exit_code(findings, strict)
    if code:
        raise typer.Exit(code)


def _read_corpus(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Situations from a JSON-lines file: one situation (or decision record) per line."""
    from engine import UsageError, validate_situation
    from engine.audit import LineRefused, json_lines, parse_json_line

    found = []
    for number, line in json_lines(path, "corpus"):
        label = f"{path}:{number}"
        try:
            doc = parse_json_line(line)
        except LineRefused as exc:
            raise UsageError(f"{label}: {exc}") from None
        if isinstance(doc, dict) and "record_version" in doc and "situation" in doc:
            doc = doc["situation"]
        found.append((label, validate_situation(doc, label)))
    if not found:
        raise UsageError(f"{path}: the corpus holds no situation")
    return found


@rules_app.command("diff")
def rules_diff(
    corpus: Annotated[
        Path, typer.Option("--corpus", help="Situations, one JSON per line (JSONL).")
    ],
    old_pack: Annotated[
        Path | None, typer.Argument(help="Deprecated: use --old.", metavar="OLD")
    ] = None,
    new_pack: Annotated[
        Path | None, typer.Argument(help="Deprecated: use --rules.", metavar="NEW")
    ] = None,
    old: Annotated[
        list[Path] | None,
        typer.Option("--old", metavar="DIR", help="The old pack directory (repeatable)."),
    ] = None,
    rules: RulesOption = None,
    fmt: FormatOption = OutFormat.text,
) -> None:
    """Which situations' advice changes between two packs (--old, and --rules: the new one),
    and which rule changes cause it."""
    from engine.audit import diff_corpus, render_diff_text

    with reported():
        old_roots, new_roots = _diff_packs(old_pack, new_pack, old, rules)
        situations = _read_corpus(corpus)
        report = diff_corpus(_load(old_roots), _load(new_roots), situations)
        output = _json(report) if fmt is OutFormat.json else render_diff_text(report)
    write_stdout(output, json=fmt is OutFormat.json)


def _diff_packs(
    old_pack: Path | None, new_pack: Path | None, old: list[Path] | None, rules: list[Path] | None
) -> tuple[list[Path], list[Path] | None]:
    """The old and new packs of ``rules diff``: ``--old`` and ``--rules`` (default: the built-in
    pack), or the deprecated positional OLD NEW."""
    from engine import UsageError

    if old_pack is None:
        if not old:
            raise UsageError("give the old pack with --old DIR (and the new one with --rules DIR)")
        return old, rules
    if old or rules or new_pack is None:
        raise UsageError("give the packs as --old DIR --rules DIR (OLD NEW is deprecated)")
    note(f"OLD NEW arguments are deprecated: use --old {old_pack} --rules {new_pack}")
    return [old_pack], [new_pack]


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="The rule id.")],
    rules: RulesOption = None,
    fmt: FormatOption = OutFormat.text,
) -> None:
    """One rule: file:line, source, conditions, parameters, and the test cases that cover it."""
    from engine import default_pack_dir
    from engine.audit import (
        find_rule,
        load_cases,
        render_show_text,
        run_cases,
        show_rule,
        test_files,
    )

    with reported():
        ruleset = _load(rules)
        find_rule(ruleset, rule_id)
        roots = rules or [default_pack_dir()]
        files = test_files([Path(r) / "tests" if Path(r).is_dir() else r for r in roots])
        results = run_cases(ruleset, load_cases(files, ruleset))
        view = show_rule(ruleset, rule_id, results)
        output = _json(view) if fmt is OutFormat.json else render_show_text(view)
    write_stdout(output, json=fmt is OutFormat.json)
