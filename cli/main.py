"""The ``xieshang`` command line: the entry point, and the core commands (advise, schema, rules
validate / test / list).

Each command parses its options, calls the library, and emits the document it made
(``cli.output.emit``: rendered by the presentation registry in the ``--format`` asked for, then
written). Errors carry their own exit code (``XieshangError.exit_code``): 2 for bad input or
usage, 1 for internal errors. Output is written only once it is complete, so a failure never
leaves partial output on stdout. The Typer app and what commands share live in ``cli.app``; the
other command modules register on it when imported here. Engine modules are imported inside the
commands to keep ``--help`` and start-up fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

import cli.batch  # noqa: F401 - registers the batch command
from cli import serve as _serve  # noqa: F401 - registers the serve command
from cli.app import (
    LANG_HELP,
    Backend,
    BackendOption,
    Lang,
    RulesOption,
    _exit,
    _load,
    _locale,
    _pack_roots,
    _packs_and_files,
    _read_situation,
    app,
    fail,
    format_option,
    reported,
    rules_app,
)
from cli.audit import PendingRecord, prepare_record
from cli.documents import documents as _documents  # noqa: F401 - registers the command
from cli.interview import interview as _interview  # noqa: F401 - registers the command
from cli.output import emit, rendered
from engine import Format

__all__ = ["app", "run"]


@app.command()
def advise(
    situation: Annotated[
        str, typer.Argument(help="Situation JSON file, or - for stdin.", metavar="SITUATION")
    ],
    rules: RulesOption = None,
    lang: Annotated[
        Lang | None,
        typer.Option("--lang", metavar="LOCALE", help="Language of the advice." + LANG_HELP),
    ] = None,
    fmt: Annotated[Format, format_option("advice")] = Format.text,
    top: Annotated[
        int | None,
        typer.Option(
            "--top",
            min=1,
            metavar="N",
            help="Show only the first N, each in full (wins over --all).",
        ),
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all", help="Text/Markdown: every recommendation in full, not only the today card."
        ),
    ] = False,
    sources: Annotated[
        bool,
        typer.Option(
            "--sources",
            help="Text/Markdown: show citations, rule ids and action codes (JSON always has them).",
        ),
    ] = False,
    trace: Annotated[bool, typer.Option("--trace", help="Include the engine trace.")] = False,
    near_misses: Annotated[
        bool, typer.Option("--near-misses", help="Also list actions one condition short.")
    ] = False,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log", metavar="FILE", help="Append a decision record (one JSON line) to FILE."
        ),
    ] = None,
    backend: BackendOption = Backend.rete,
) -> None:
    """Ranked, explained advice for a situation."""
    from engine import Advice, evaluate

    pending: PendingRecord | None = None
    with reported():
        data = _read_situation(situation)
        ruleset = _load(rules)
        decision = evaluate(
            ruleset, data, locale=_locale(lang), validated=True, backend=backend.value
        )
        advice = Advice(decision, top, trace, show_all, sources, near_misses)
        output = rendered(advice, fmt)
        if audit_log is not None:  # made and opened now: a bad path fails before any output
            # the JSON document is made once: the decision record reuses the one shown
            shown = advice.document if fmt is Format.json else None
            pending = prepare_record(audit_log, decision, top, near_misses, shown)
    try:
        output.write()
        sys.stdout.flush()  # shown first: the log must never record advice that was not shown
    except BaseException:
        if pending is not None:
            pending.discard()
        raise
    if pending is not None:
        with reported():
            pending.commit()


@rules_app.command("validate")
def rules_validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Rule files to check (with their pack); a directory is the deprecated --rules.",
            metavar="FILE",
        ),
    ] = None,
    rules: RulesOption = None,
    fmt: Annotated[Format, format_option("validation")] = Format.text,
) -> None:
    """Check rule files: every error at once, as file:line:col: code: message.

    A single file is checked together with the pack it belongs to (the nearest folder above it
    with pack.yaml), so that facts and parameters defined in other files resolve; only the
    errors in the files named are reported.
    """
    from engine import RuleLoadError, Validation

    roots, files = _validation_targets(_packs_and_files(rules, paths))
    with reported():
        try:
            ruleset = _load(roots or None)
        except RuleLoadError as exc:
            if not files:
                raise
            mine = [e for e in exc.errors if e.location.file in files]
            others = len(exc.errors) - len(mine)
            if mine:
                raise RuleLoadError(mine) from exc
            emit(Validation(None, len(files), others), fmt)
            return
        from engine.audit import check_documents

        pack = ruleset.pack
        problems = check_documents(pack.roots, ruleset.compiled.facts, pack.messages)
        if files:  # only the files named (a template, or the documents' manifest)
            named = {p.resolve() for p in paths or [] if p.is_file()}
            problems = [e for e in problems if Path(e.location.file).resolve() in named]
        if problems:  # the pack's document templates (docs/documents.md)
            raise RuleLoadError(problems)
        from engine.audit import check_questions

        question_errors = check_questions(ruleset.pack)  # the interview's questions.yaml, if any
        if question_errors:
            raise RuleLoadError(question_errors)
    emit(Validation(ruleset), fmt)


def _validation_targets(paths: list[Path]) -> tuple[list[Path], set[str]]:
    """The roots to load, and the files (as shown in errors) to report; empty: report all."""
    from engine import display_root, pack_root_of

    kept: dict[Path, Path] = {}  #: each pack, by its resolved path, as first named
    files: set[str] = set()
    for path in paths:
        root = pack_root_of(path) if path.is_file() else None
        target = root if root is not None else path
        target = kept.setdefault(target.resolve(), target)  # `sf` and `sf/x.yaml`: one pack
        if root is not None:
            relative = path.resolve().relative_to(root).as_posix()
            files.add(f"{display_root(target, str(target))}/{relative}")
    return list(kept.values()), files


@rules_app.command("test")
def rules_test(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Test files to run (with their pack); a directory is the deprecated --rules.",
            metavar="FILE",
        ),
    ] = None,
    rules: RulesOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List passing cases too.")
    ] = False,
    coverage: Annotated[
        bool, typer.Option("--coverage", help="Report rule and condition coverage.")
    ] = False,
    min_coverage: Annotated[
        float | None,
        typer.Option(
            "--min-coverage",
            min=0,
            max=100,
            metavar="PCT",
            help="Fail below this rule coverage (%).",
        ),
    ] = None,
    min_condition_coverage: Annotated[
        float | None,
        typer.Option(
            "--min-condition-coverage", min=0, max=100, help="Fail below this condition coverage."
        ),
    ] = None,
    fmt: Annotated[Format, format_option("tests", "coverage")] = Format.text,
) -> None:
    """Run the YAML test cases of a pack (its tests/ folder)."""
    from engine import TEST_SUFFIXES, default_pack_dir
    from engine.audit import CoverageReport, TestReport, load_cases, run_cases, test_files

    with reported():
        roots = _pack_roots(_packs_and_files(rules, paths)) or [default_pack_dir()]
        ruleset = _load(roots)
        named = [p for p in paths or [] if p.is_file() and p.name.endswith(TEST_SUFFIXES)]
        files = named or test_files([Path(r) / "tests" for r in roots])
        if not files:
            where = ", ".join(f"{Path(r) / 'tests'}" for r in roots)
            fail(f"error: no test files (*.test.yaml) in {where}", 1)
        results = run_cases(ruleset, load_cases(files, ruleset))
        covered: CoverageReport | None = None
        if coverage or min_coverage is not None or min_condition_coverage is not None:
            from engine.audit import measure_coverage

            measured = measure_coverage(ruleset, results)
            covered = CoverageReport(measured, min_coverage, min_condition_coverage)
    report = TestReport(results, verbose, covered)
    emit(report, fmt)
    if report.failed or not results or (covered is not None and covered.below):
        raise typer.Exit(1)


@rules_app.command("list")
def rules_list(
    rules: RulesOption = None,
    facts: Annotated[bool, typer.Option("--facts", help="List the facts rules can use.")] = False,
    fmt: Annotated[Format, format_option("list")] = Format.text,
) -> None:
    """List the rules of a pack (or, with --facts, the fact vocabulary)."""
    from engine import Listing

    with reported():
        ruleset = _load(rules)
    emit(Listing(ruleset, facts), fmt)


@app.command()
def schema(
    name: Annotated[
        str, typer.Argument(help="situation, advice, rules, tests, explain or record.")
    ],
    fmt: Annotated[Format, format_option("schema")] = Format.json,
) -> None:
    """Print a JSON Schema."""
    from engine import SchemaDoc, load_schema

    with reported():
        loaded = load_schema(name)
    emit(SchemaDoc(loaded), fmt)


def run() -> None:
    """Console-script entry point."""
    try:
        try:
            app()
        finally:
            if sys.stdout is not None:  # None: started with stdout closed (cli.output says so)
                sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit-time flush quiet
        sys.exit(1)
    except OSError as exc:
        _exit(f"error: cannot write the output: {exc}", 1)
    except UnicodeEncodeError as exc:  # output that bypassed cli.output: still one line
        from cli.output import ENCODING_HINT

        message = f"error: the output cannot be written in the {exc.encoding} encoding"
        _exit(f"{message}; {ENCODING_HINT}", 2)
