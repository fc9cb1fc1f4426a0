"""``xieshang interview``: the guided interview in a terminal, one question at a time.

Reads one answer per line from stdin (a terminal, or piped answers for scripts and tests; end of
input finishes the interview), checks each answer as the situation schema does, and prints the
normal text advice at the end. ``--save`` writes the situation built (atomically; only a valid
situation with at least one loan is written).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.app import LANG_HELP, Lang, RulesOption, _load, _locale, app, fail, reported

if TYPE_CHECKING:
    from engine import Interview, Question, RuleSet

LONG = 10  #: with more questions left than this, the progress line recalls that "a" stops early


def _words(ruleset: RuleSet, locale: str) -> dict[str, str]:
    """The interview's words in ``locale`` (``engine/core/messages/<locale>.yaml``, ``interview:``);
    a locale the pack does not have is refused by the interview itself."""
    if locale not in ruleset.pack.locales:
        allowed = ", ".join(repr(name) for name in ruleset.pack.locales)
        fail(f"error: unknown locale {locale!r}: expected one of {allowed}", 2)
    words = ruleset.pack.words(locale)
    return {k.removeprefix("interview."): v for k, v in words.items() if k.startswith("interview.")}


@app.command()
def interview(
    lang: Annotated[
        Lang | None,
        typer.Option(
            "--lang", metavar="LOCALE", help="Language of the questions and the advice." + LANG_HELP
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option("--save", metavar="FILE", help="Write the situation built to FILE (JSON)."),
    ] = None,
    start: Annotated[
        Path | None,
        typer.Option(
            "--from", metavar="FILE", help="Start from a partial situation (JSON) instead of none."
        ),
    ] = None,
    rules: RulesOption = None,
) -> None:
    """Guided interview: asks only what can change the advice, then prints the advice."""
    from engine import Interview, default_today, load_partial_file

    with reported():
        ruleset = _load(rules)
        from engine import load_question_book as load_book

        load_book(ruleset.pack)  # a pack without questions fails before the first question
        situation: dict[str, Any] = load_partial_file(str(start)) if start is not None else {}
        locale = _locale(lang) or str(situation.get("locale", ruleset.pack.locales[0]))
        situation.setdefault("as_of", default_today().isoformat())
        session = Interview(ruleset, situation, locale=locale)
        words = _words(ruleset, locale)
        _say(words["intro"])
        finished = _ask_all(session, words)
        _say("\n" + words["done" if finished else "early"] + "\n")
        from engine import Advice, Format, render_as

        decision = session.decision()
        _say(render_as(Advice(decision), Format.text).rstrip("\n"))
        if not decision.memory.loans:
            _say(words["no_loans"])
        if save is not None:
            _save(save, session)
            _say(words["saved"].format(path=save))


def _ask_all(session: Interview, words: dict[str, str]) -> bool:
    """Ask until nothing is left (True) or the person asks for the advice or input ends."""
    from engine import SituationError, UsageError, parse_answer

    while True:
        step = session.next_step()  # one question; how many are left is the analysis's bound
        if not step.questions:
            return True
        question = step.questions[0]
        _show(question, words, len(session.history), step.remaining_at_most)
        while True:
            line = _read_line(words["prompt"])
            if line is None:
                return False
            typed = line.strip()
            command = typed.lower()
            if command == "a":
                return False
            if command == "s":
                session.skip(question.path)
                _say(words["skipped"])
                break
            if command == "b":
                if session.back() is None:
                    _say(words["back_none"])
                    continue
                break
            if not typed and question.type not in ("choices",):
                _say(words["empty"])
                continue
            try:
                value = parse_answer(question, typed)
                top_before = _top_action(session) if question.sensitive else None
                session.answer(question.path, value)
            except (SituationError, UsageError) as exc:
                message = exc.detail if isinstance(exc, SituationError) else str(exc)
                _say(words["try_again"].format(message=_clean(message)))
                continue
            if question.sensitive:
                _first_if_new(session, top_before, words)
            break


def _show(question: Question, words: dict[str, str], answered: int, left: int) -> None:
    _say("")
    progress = words["progress_long" if left > LONG else "progress"]
    _say(f"[{progress.format(answered=answered, left=left)}]")
    _say(question.text)
    _say(f"  {words['help']}: {question.help}")
    # the pack's help is neutral (the web page shows it too): the keys are the terminal's to say
    how = words.get(f"how_{question.type}")
    if how:
        _say(f"  {words['how']}: {how}")
    for number, (_, label) in enumerate(question.choices, start=1):
        _say(f"  {number}. {label}")


def _top_action(session: Interview) -> str | None:
    recs = session.decision().recommendations
    return recs[0].action if recs else None


def _first_if_new(session: Interview, before: str | None, words: dict[str, str]) -> None:
    """After a sensitive answer that puts a new recommendation first (a crisis card), show it
    at once rather than after the remaining questions."""
    recs = session.decision().recommendations
    if recs and recs[0].action != before:
        first = recs[0]
        _say(f"\n{words['first']}\n{_clean(first.title)}\n{_clean(first.message)}")


def _read_line(prompt: str) -> str | None:
    """One line of input; None at end of input."""
    typer.echo(prompt, nl=False)
    stream = sys.stdin  # one stream for the whole interview: a new wrapper would read ahead
    line = stream.readline() if stream is not None else ""
    if not line:
        typer.echo("")
        return None
    if not _is_terminal(stream):  # piped answers: show them, so the transcript reads as typed
        typer.echo(_clean(line.rstrip("\r\n")))
    return line


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _clean(text: str) -> str:
    from engine import one_line

    return "\n".join(one_line(part) for part in text.split("\n"))


def _say(text: str) -> None:
    typer.echo(text)


def _save(path: Path, session: Interview) -> None:
    """Write the situation built, atomically: a temporary file in the same folder, renamed."""
    from engine import LOCALES, validate_situation

    situation = dict(session.situation)
    situation.setdefault("schema_version", 1)
    if session.locale in LOCALES:  # a situation's own locale is SPEC's: zh-CN or en
        situation["locale"] = session.locale
    ordered = {"schema_version": 1, **{k: v for k, v in situation.items() if k != "schema_version"}}
    if not ordered.get("loans"):
        fail(f"error: nothing saved to {path}: no debt was named, and a situation needs one", 2)
    validate_situation(ordered, str(path))  # a saved situation is a full, valid one
    text = json.dumps(ordered, ensure_ascii=False, indent=2) + "\n"
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        fail(f"error: cannot save to {path}: {exc.strerror or exc}", 2)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        fail(f"error: cannot save to {path}: {exc.strerror or exc}", 2)
