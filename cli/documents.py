"""``xieshang documents``: the call scripts, letters, printable plan and calendar of a situation.

Every document is rendered before any file is written; then each is written to a temporary file
in the output folder, and only when all are written and flushed are they renamed into place. A
failure leaves the folder as it was (the temporary files are removed).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import (
    LANG_HELP,
    Lang,
    RulesOption,
    _load,
    _locale,
    _read_situation,
    app,
    fail,
    format_option,
    reported,
)
from cli.output import emit
from engine import Format

if TYPE_CHECKING:
    from engine import Document


@app.command()
def documents(
    situation: Annotated[
        str, typer.Argument(help="Situation JSON file, or - for stdin.", metavar="SITUATION")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Folder to write the documents to (created)."),
    ],
    rules: RulesOption = None,
    lang: Annotated[
        Lang | None,
        typer.Option("--lang", metavar="LOCALE", help="Language of the documents." + LANG_HELP),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="NAME",
            help="Only this document (repeatable): plan, calendar, call_script, "
            "hardship_statement, instalment_request, complaint_letter, fee_dispute, "
            "credit_report_dispute, relatives_message.",
        ),
    ] = None,
    fmt: Annotated[Format, format_option("documents")] = Format.text,
) -> None:
    """Write the documents that apply: call scripts, letters, the printable plan, a calendar.

    Then list the files written (text), or print every document with its content (JSON: the
    same as POST /v1/documents of xieshang serve)."""
    from engine import DocumentFiles, build_documents, evaluate

    with reported():
        if out.exists() and not out.is_dir():
            fail(f"--out {out}: not a folder")
        data = _read_situation(situation)
        ruleset = _load(rules)
        decision = evaluate(ruleset, data, locale=_locale(lang), validated=True)
        made = build_documents(decision, only=only)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_all(out, made)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}", 1)
    emit(DocumentFiles(made, out), fmt)


def _write_all(folder: Path, made: list[Document]) -> list[Path]:
    """Write every document or none: temporary files first, renamed only when all are done."""
    pending: list[tuple[str, Path]] = []
    try:
        for document in made:
            fd, temporary = tempfile.mkstemp(prefix=".xieshang-", dir=folder)
            pending.append((temporary, folder / document.filename))
            with os.fdopen(fd, "wb") as handle:
                handle.write(document.content.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)
        for temporary, target in pending:
            os.replace(temporary, target)
    except BaseException:
        for temporary, _ in pending:
            Path(temporary).unlink(missing_ok=True)
        raise
    return [target for _, target in pending]
