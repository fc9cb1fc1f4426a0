"""The Typer application every command registers on, and what the commands share.

Options (``--rules``, ``--lang``, ``--format``: its choices from the presentation registry), error
reporting (``fail``, ``reported``: one line, the error's exit code, a traceback only with
``--debug``) and the loading of packs and situations. Command modules (``cli.main``,
``cli.audit``, ``cli.batch``) import this one and register themselves; ``cli.main`` is the entry
point that imports them all. Beyond the façade's light names, engine modules are imported inside
the functions to keep ``--help`` and start-up fast.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from engine import Format, formats_of

if TYPE_CHECKING:
    from engine import RuleSet

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


def format_option(*kinds: str) -> Any:
    """The one ``--format`` option: its choices are the formats the presentation registry has
    for every document kind the command may write (``engine.formats_of``), in Format order.

    Use as ``fmt: Annotated[Format, format_option("lint")] = Format.text``. A value outside the
    choices is a usage error (exit 2) naming them, as for any other choice.
    """
    choices = [fmt.value for fmt in formats_of(*kinds)]

    def parse(value: str | Format) -> Format:
        if isinstance(value, Format):  # the default
            return value
        if value not in choices:
            # BadParameter: click's own wording; a ValueError would read "Value error, ..."
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, choices))}.")
        return Format(value)

    return typer.Option(
        "--format", parser=parse, metavar=f"<{'|'.join(choices)}>", help="Output format."
    )


class Backend(StrEnum):
    """``engine.api.BACKENDS``: the same advice either way."""

    rete = "rete"
    compiled = "compiled"


BackendOption = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="Evaluation backend: rete (durable_rules, the default and the engine of record) or"
        " compiled (the pack lowered to Python; the same advice, faster).",
    ),
]


#: ``--lang``: any locale the pack declares (``pack: locales:``; the built-in pack has zh-CN and
#: en), checked when the pack is loaded; ``zh`` is SPEC's short name for ``zh-CN``.
Lang = str
LANG_HELP = " One of the rule pack's locales (the built-in pack: zh-CN, or zh, and en)."


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
    from engine import one_line

    typer.echo(f"xieshang: {one_line(message)}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn library errors into one clear message and the error's exit code; never a traceback
    unless --debug."""
    from engine import RuleLoadError, XieshangError

    try:
        yield
    except (typer.Exit, BrokenPipeError):
        raise
    except RuleLoadError as exc:
        from engine import one_line

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
    from engine import load_rules

    return load_rules(rules or None)


def _read_situation(path: str) -> dict[str, object]:
    from engine import load_situation_file, load_situation_stream

    if path == "-":  # bounded read; fd 0 closed (``<&-``) leaves sys.stdin None
        stdin = typer.get_binary_stream("stdin") if sys.stdin is not None else None
        return load_situation_stream(stdin, "<stdin>")
    return load_situation_file(path)


def _locale(lang: Lang | None) -> str | None:
    """The locale ``--lang`` names (``engine.evaluate`` refuses one the pack does not have)."""
    return "zh-CN" if lang == "zh" else lang


def note(message: str) -> None:
    """One line on stderr that does not change the outcome (a deprecated form, say)."""
    from engine import one_line

    typer.echo(f"xieshang: note: {one_line(message)}", err=True)


def _packs_and_files(rules: list[Path] | None, paths: list[Path] | None) -> list[Path]:
    """``--rules`` directories, then the command's path arguments. A directory among the
    arguments is the old way to name a pack: it still works, with a note to use ``--rules``."""
    named = [p for p in paths or [] if p.is_dir()]
    if named:
        shown = " ".join(f"--rules {p}" for p in named)
        note(f"a pack directory as an argument is deprecated: use {shown}")
    return [*(rules or []), *(paths or [])]


def _pack_roots(paths: list[Path] | None) -> list[Path] | None:
    """The pack directories meant: a rule or test file stands for the pack it belongs to."""
    from engine import pack_root_of

    roots: list[Path] = []
    seen: set[Path] = set()
    for path in paths or []:
        root = (pack_root_of(path) if path.is_file() else None) or path
        if root.resolve() not in seen:  # `sf` and `sf/tests/x.test.yaml` are one pack
            seen.add(root.resolve())
            roots.append(root)
    return roots or None


def _exit(message: str, code: int) -> NoReturn:
    """:func:`fail` outside a command (after the Typer app has returned)."""
    from engine import one_line

    typer.echo(f"xieshang: {one_line(message)}", err=True)
    sys.exit(code)
