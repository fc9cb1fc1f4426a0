"""The ``xieshang`` command line: a thin layer over engine's public API.

Each command parses its options, calls the library, renders and exits. Errors carry their own exit
code (``XieshangError.exit_code``): 2 for bad input or usage, 1 for internal errors. Output is
written only once it is complete, so a failure never leaves partial output on stdout. Engine
modules are imported inside the commands to keep ``--help`` and start-up fast.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from cli.output import write_stdout

if TYPE_CHECKING:
    from cli.audit import PendingRecord
    from engine.api import RuleSet

app = typer.Typer(
    name="xieshang",
    help="Ranked, explained advice for borrowers overdue on Jiebei and other consumer credit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
rules_app = typer.Typer(
    help="Validate, test and inspect rule packs.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(rules_app, name="rules")

_state = {"debug": False}


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Lang(StrEnum):
    zh = "zh"
    zh_cn = "zh-CN"
    en = "en"


RulesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        metavar="DIR",
        help="Rule pack directory (repeatable); default: the built-in pack.",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr (control characters from file names or input shown as escapes)."""
    from engine.safetext import one_line

    typer.echo(f"xieshang: {one_line(message)}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn library errors into one clear message and the error's exit code; never a traceback
    unless --debug."""
    from engine.errors import RuleLoadError, XieshangError

    try:
        yield
    except (typer.Exit, BrokenPipeError):
        raise
    except RuleLoadError as exc:
        from engine.safetext import one_line

        for error in exc.errors:
            typer.echo(one_line(str(error)), err=True)
        count = len(exc.errors)
        fail(f"{count} error{'s' if count != 1 else ''} in the rules", exc.exit_code)
    except XieshangError as exc:
        fail(f"error: {exc}", exc.exit_code)
    except Exception as exc:  # an internal error: one line, the traceback only with --debug
        if _state["debug"]:
            traceback.print_exc()
        hint = "" if _state["debug"] else " (run 'xieshang --debug ...' for the traceback)"
        fail(f"internal error: {type(exc).__name__}: {exc}{hint}", 1)


def _print_version(value: bool) -> None:
    if value:
        from engine import __version__

        typer.echo(f"xieshang {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


def _load(rules: list[Path] | None) -> RuleSet:
    from engine.api import load_rules

    return load_rules(rules or None)


def _read_situation(path: str) -> dict[str, object]:
    from engine.situation import load_situation_file, load_situation_stream

    if path == "-":  # bounded read; fd 0 closed (``<&-``) leaves sys.stdin None
        stdin = typer.get_binary_stream("stdin") if sys.stdin is not None else None
        return load_situation_stream(stdin, "<stdin>")
    return load_situation_file(path)


def _locale(lang: Lang | None) -> str | None:
    if lang is None:
        return None
    return "en" if lang is Lang.en else "zh-CN"


@app.command()
def advise(
    situation: Annotated[
        str, typer.Argument(help="Situation JSON file, or - for stdin.", metavar="SITUATION")
    ],
    rules: RulesOption = None,
    lang: Annotated[Lang | None, typer.Option("--lang", help="Language of the advice.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    top: Annotated[
        int | None, typer.Option("--top", min=1, metavar="N", help="Show only the first N.")
    ] = None,
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
) -> None:
    """Ranked, explained advice for a situation."""
    from engine.api import evaluate
    from engine.render import render_json, render_markdown, render_text

    pending: PendingRecord | None = None
    with reported():
        data = _read_situation(situation)
        ruleset = _load(rules)
        decision = evaluate(ruleset, data, locale=_locale(lang), validated=True)
        renderers: dict[Format, Callable[[], str]] = {
            Format.json: lambda: render_json(decision.to_advice(top, trace, near_misses)),
            Format.markdown: lambda: render_markdown(decision, top, trace),
            Format.text: lambda: render_text(decision, top, trace),
        }
        output = renderers[fmt]()
        if near_misses and fmt is not Format.json:
            from cli.audit import near_miss_text

            extra = near_miss_text(decision)
            if fmt is Format.markdown and extra:
                from engine.safetext import markdown_code

                extra = f"\n{markdown_code(extra.strip(chr(10)))}\n"  # verbatim, never markup
            output += extra
        if audit_log is not None:  # made and opened now: a bad path fails before any output
            from cli.audit import prepare_record

            pending = prepare_record(audit_log, decision, top, near_misses)
    try:
        write_stdout(output, json=fmt is Format.json)
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
        list[Path] | None, typer.Argument(help="Pack directories or rule files.")
    ] = None,
) -> None:
    """Check rule files: every error at once, as file:line:col: code: message.

    A single file is checked together with the pack it belongs to (the nearest folder above it
    with pack.yaml), so that facts and parameters defined in other files resolve; only the
    errors in the files named are reported.
    """
    from engine.errors import RuleLoadError

    roots, files = _validation_targets(paths or [])
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
            write_stdout(f"{len(files)} file(s): ok ({others} error(s) elsewhere in the pack)\n")
            return
    pack = ruleset.pack
    shards = len(ruleset.compiled.shards)
    write_stdout(
        f"{pack.name} {pack.version}: {len(pack.rules)} rules in {len(pack.files)}"
        f" files, {len(pack.parameters)} parameters, {shards} engine ruleset"
        f"{'s' if shards != 1 else ''}: ok\n"
    )


def _pack_roots(paths: list[Path] | None) -> list[Path] | None:
    """The pack directories meant: a rule or test file stands for the pack it belongs to."""
    from engine.loader import pack_root_of

    roots: list[Path] = []
    seen: set[Path] = set()
    for path in paths or []:
        root = (pack_root_of(path) if path.is_file() else None) or path
        if root.resolve() not in seen:  # `sf` and `sf/tests/x.test.yaml` are one pack
            seen.add(root.resolve())
            roots.append(root)
    return roots or None


def _validation_targets(paths: list[Path]) -> tuple[list[Path], set[str]]:
    """The roots to load, and the files (as shown in errors) to report; empty: report all."""
    from engine.loader import display_root, pack_root_of

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
        typer.Argument(help="Pack directories, or test files (run with their pack)."),
    ] = None,
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
) -> None:
    """Run the YAML test cases of a pack (its tests/ folder)."""
    from engine.loader import TEST_SUFFIXES
    from engine.packs import default_pack_dir
    from engine.testing import load_cases, run_cases, test_files

    with reported():
        roots = _pack_roots(paths) or [default_pack_dir()]
        ruleset = _load(roots)
        named = [p for p in paths or [] if p.is_file() and p.name.endswith(TEST_SUFFIXES)]
        files = named or test_files([Path(r) / "tests" for r in roots])
        if not files:
            where = ", ".join(f"{Path(r) / 'tests'}" for r in roots)
            fail(f"error: no test files (*.test.yaml) in {where}", 1)
        results = run_cases(ruleset, load_cases(files, ruleset))
    lines = []
    for result in results:
        if result.passed:
            if verbose:
                lines.append(f"ok    {result.case.location.short}: {result.case.name}")
            continue
        lines.append(f"FAIL  {result.case.location.short}: {result.case.name}")
        lines += [f"      {failure}" for failure in result.failures]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    below = False
    if coverage or min_coverage is not None or min_condition_coverage is not None:
        from cli.audit import coverage_lines

        extra, below = coverage_lines(ruleset, results, min_coverage, min_condition_coverage)
        lines += extra
    write_stdout("\n".join(lines) + "\n")
    if failed or not results or below:
        raise typer.Exit(1)


@rules_app.command("list")
def rules_list(
    rules: RulesOption = None,
    facts: Annotated[bool, typer.Option("--facts", help="List the facts rules can use.")] = False,
) -> None:
    """List the rules of a pack (or, with --facts, the fact vocabulary)."""
    from engine.checks import fact_specs

    with reported():
        ruleset = _load(rules)
        if facts:
            rows = [
                f"{f.name}\t{f.unit}\t{'derived' if f.derived else 'input'}"
                + (f"\t{'|'.join(f.enum)}" if f.enum else "")
                for f in fact_specs(ruleset.pack).values()
            ]
        else:
            rows = []
            for rule in ruleset.pack.rules:
                target = getattr(rule.then, "action", None) or getattr(rule.then, "fact", "")
                rows.append(
                    f"{rule.id}\t{rule.kind} {target}\t{rule.about}\t{rule.source}"
                    f"\t{rule.location.short}"
                )
    write_stdout("\n".join(rows) + "\n")


@app.command()
def schema(
    name: Annotated[
        str, typer.Argument(help="situation, advice, rules, tests, explain or record.")
    ],
) -> None:
    """Print a JSON Schema."""
    import json

    from engine.schemas import load_schema

    with reported():
        text = json.dumps(load_schema(name), ensure_ascii=False, indent=2)
    write_stdout(text + "\n", json=True)


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


def _exit(message: str, code: int) -> NoReturn:
    """:func:`fail` outside a command (after the Typer app has returned)."""
    from engine.safetext import one_line

    typer.echo(f"xieshang: {one_line(message)}", err=True)
    sys.exit(code)


# Commands defined in their own modules register themselves on ``app`` when imported.
for _module in ("cli.audit", "cli.batch"):
    importlib.import_module(_module)
