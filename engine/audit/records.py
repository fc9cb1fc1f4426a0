"""Decision records: one JSON line per decision in an append-only audit log, and replay.

A record holds what is needed to re-make the decision without the wall clock: the normalised
situation (with its ``as_of``) with personal free text redacted, the locale and options used, the
ruleset's name, version and digest, a manifest of the rules (per-rule definition hashes and the
parameter values) and the advice that was given. ``replay`` evaluates every record again with the
current rules: with the same ruleset digest the advice must be byte-identical; with another, the
changed recommendations are reported with the rules that changed.

Redaction works on the field, never on text: ``loans[].lender`` (the only personal free text of a
situation) becomes ``"[redacted]"``, and the recorded advice is the advice rendered from that
redacted situation, so every text the rules computed from the lender's name (a message naming
the lender, a derived ``lender_zh``, a condition's actual value) shows ``[redacted]`` while the
rest of the advice is untouched. Nothing computed from the unredacted situation is stored: its
digest would let anyone holding the log try candidate lender names until one matched, so the
record's ``situation_digest`` (and the advice's) is the digest of the redacted situation, which
is also exactly what replay recomputes. When the lender's name changed *what fired* (a rule that
tests it), the record keeps the decision that was made, with the name's texts redacted; replay
then reports the difference, because the redacted situation cannot reproduce it.

Appends are all-or-nothing (:class:`AuditLog`); reading (:func:`read_log`) reports a damaged
line with its number and what is wrong, and goes on with the others.
"""

from __future__ import annotations

import datetime as dt
import difflib
import errno
import fcntl
import hashlib
import json
import math
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from engine.api import evaluate
from engine.audit.diffing import (
    RuleChange,
    advice_changes,
    attribute,
    describe_change,
    manifest,
    parameter_changes,
    rule_changes,
    rules_in_advice,
)
from engine.core.errors import SituationError, UsageError, XieshangError
from engine.core.schemas import validator
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.load.fastschema import checker
from engine.load.situation import MAX_NUMBER_LITERAL, schema_problem, validate_situation
from engine.present.rendering import render_json
from engine.rank.ranking import rank
from engine.run.memory import Memory
from engine.version import __version__

if TYPE_CHECKING:
    from engine.run.memory import Key, Memory
    from engine.run.ruleset import RuleSet

RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)  #: version 1 digested the unredacted situation; replay still reads it
REDACTED = "[redacted]"

MAX_LINE_BYTES = 16_000_000  #: longest record line read (a situation is at most 1 MB)
MAX_DEPTH = 64  #: deepest nesting of objects and arrays in a record line


class AuditWriteError(XieshangError):
    """The audit log could not be written (a full disk, an I/O error): nothing was appended."""

    exit_code = 1


# --- redaction -----------------------------------------------------------------------------------


def redact(situation: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy with every ``loans[].lender`` replaced by ``[redacted]``; the JSON paths replaced."""
    copy: dict[str, Any] = json.loads(json.dumps(situation))
    paths: list[str] = []
    for i, loan in enumerate(copy.get("loans", [])):
        if isinstance(loan, dict) and "lender" in loan:
            loan["lender"] = REDACTED
            paths.append(f"$.loans[{i}].lender")
    return copy, paths


def redacted_decision(decision: Decision) -> tuple[Decision, list[str]]:
    """The decision as it may be recorded: made from the redacted situation; the paths redacted.

    The redacted situation is evaluated again. When the same rules fire for the same loans (the
    lender's name did not change the decision), that evaluation *is* the record: every value the
    rules computed from the name is computed from ``[redacted]``. Otherwise the decision that was
    made is kept and only its text values that depend on the name are replaced.
    """

    situation, paths = redact(decision.situation)
    if not paths:
        return decision, paths
    again: Decision | None
    try:
        again = evaluate(decision.ruleset, situation, locale=decision.locale, validated=True)
    except XieshangError:  # the pack cannot evaluate "[redacted]": redact every derived text
        again = None
    if again is not None and sorted(again.firings) == sorted(decision.firings):
        return again, paths
    memory = _redacted_memory(decision.memory, None if again is None else again.memory)
    ruleset = decision.ruleset
    ranking = rank(ruleset.compiled, list(decision.firings), memory, decision.locale)
    kept = Decision(
        ruleset,
        situation,
        decision.locale,
        decision.firings,
        memory,
        tuple(ranking.recommendations),
        tuple(ranking.suppressed),
        condition_results=ranking.condition_results,
    )
    return kept, paths


def _redacted_memory(shown: Memory, again: Memory | None) -> Memory:
    """``shown`` with every text value that differs in ``again`` (the redacted run) replaced by
    that run's value; without a redacted run, the lender and every derived text are replaced."""

    def tainted(key: Key, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if again is None:
            return key[0] == "loan.lender" or key in shown.derivations
        return bool(again.values.get(key, UNKNOWN) != value)

    def replacement(key: Key) -> Any:
        other = UNKNOWN if again is None else again.values.get(key, UNKNOWN)
        return other if isinstance(other, str) else REDACTED

    values = dict(shown.values)
    changed = {key: replacement(key) for key, v in shown.values.items() if tainted(key, v)}
    values.update(changed)
    derivations = {
        key: [
            (rule, changed[key] if key in changed and v == shown.values[key] else v)
            for rule, v in entries
        ]
        for key, entries in shown.derivations.items()
    }
    return Memory(values, list(shown.loans), derivations)


# --- records -------------------------------------------------------------------------------------


def make_record(
    decision: Decision,
    *,
    top: int | None = None,
    near_misses: bool = False,
    now: dt.datetime | None = None,
    shown: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The decision record of one ``advise`` call (its advice without the trace, redacted).

    ``shown``, when given, is ``decision.to_advice(top, trace, near_misses)`` made already (the
    advice printed as JSON): when nothing needs redacting it is the record's advice (without
    its trace), rather than a second one made the same way.
    """
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    time = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    recorded, paths = redacted_decision(decision)
    if shown is not None and recorded is decision:
        advice = {key: value for key, value in shown.items() if key != "trace"}
    else:
        advice = recorded.to_advice(top, near_misses=near_misses)
    digest = advice["situation_digest"]  # of the redacted situation
    ruleset = decision.ruleset
    ident = hashlib.sha256(f"{time}\0{digest}\0{ruleset.digest}".encode()).hexdigest()[:32]
    return {
        "record_version": RECORD_VERSION,
        "id": ident,
        "time": time,
        "engine": {"name": "xieshang", "version": __version__},
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "digest": ruleset.digest},
        "situation_digest": digest,
        "situation": dict(recorded.situation),
        "redacted": paths,
        "locale": decision.locale,
        "options": {"top": top, "near_misses": near_misses},
        "rules": manifest(ruleset.pack),
        "advice": advice,
    }


def record_line(record: Mapping[str, Any]) -> bytes:
    """One record as one line of UTF-8 JSON (key order kept: the advice reads back as rendered)."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


# --- appending -----------------------------------------------------------------------------------


class AuditLog:
    """An audit log opened for appending, checked before anything else happens.

    Opening refuses what is not a regular file (``/dev/null``, a FIFO, a directory) with a
    UsageError, so a bad ``--audit-log`` fails before any advice is shown. :meth:`append` is
    all-or-nothing: under an exclusive ``flock`` (writers of the same log take turns) the line is
    written with one ``write`` on an ``O_APPEND`` descriptor and fsynced; a short write or a
    failed fsync truncates the file back to its size before the write, and raises
    AuditWriteError. A log whose last line was left unfinished (by an older version, or a
    crash) gets a newline first, so a new record never glues onto a damaged one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._fd = _open_log(self.path)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def append(self, record: Mapping[str, Any]) -> None:
        line = record_line(record)
        fd = self._fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size and not _ends_with_newline(fd, size):
                line = b"\n" + line
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(
                        errno.ENOSPC, f"short write, {written} of {len(line)} bytes (disk full?)"
                    )
                os.fsync(fd)
            except OSError as exc:
                self._fail(size, exc)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _fail(self, size: int, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        try:
            os.ftruncate(self._fd, size)
        except OSError as again:
            raise AuditWriteError(
                f"cannot write audit log {self.path}: {reason}; the partial line could not be"
                f" removed ({again.strerror}): replay will report it as damaged"
            ) from None
        raise AuditWriteError(
            f"cannot write audit log {self.path}: {reason}; nothing was appended"
        ) from None


def _open_log(path: str) -> int:
    try:
        before = os.stat(path)
    except FileNotFoundError:
        before = None
    except OSError as exc:
        raise UsageError(f"cannot open audit log {path}: {exc.strerror}") from None
    if before is not None and not stat.S_ISREG(before.st_mode):
        raise UsageError(_not_regular(path))
    flags = os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, flags | os.O_RDWR, 0o600)  # read: to check the last byte
        except PermissionError:
            fd = os.open(path, flags | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot open audit log {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the stat and the open
        os.close(fd)
        raise UsageError(_not_regular(path))
    return fd


def _not_regular(path: str) -> str:
    return f"audit log {path} is not a regular file (expected a file to append JSON lines to)"


def _ends_with_newline(fd: int, size: int) -> bool:
    try:
        return os.pread(fd, 1, size - 1) == b"\n"
    except OSError:  # opened write-only: cannot tell, assume the log is whole
        return True


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record to the audit log at ``path`` (see :class:`AuditLog`)."""
    with AuditLog(path) as log:
        log.append(record)


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """A line of an audit log that is not a decision record, and why."""

    line: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.message}


@dataclass
class LogContents:
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)


class LineRefused(Exception):
    """A line of a JSON-lines file refused while it is read or parsed (the message says why)."""


def read_log(path: str | Path) -> LogContents:
    """Every record of an audit log with its line number, and every damaged line.

    The log must be a regular file (UsageError otherwise, or when it cannot be read). Each line
    is read with a bound on its length, parsed with bounds on number literals and nesting, and
    checked against the record schema (``schemas/record.schema.json``) and its situation against
    the situation schema; a line failing any of these is damaged and the others are still read.
    """
    contents = LogContents()
    for number, line in json_lines(path, "audit log"):
        try:
            contents.records.append((number, parse_record(line)))
        except LineRefused as exc:
            contents.damaged.append(Damage(number, str(exc)))
    return contents


def json_lines(path: str | Path, what: str) -> Iterator[tuple[int, bytes | LineRefused]]:
    """(line number, bytes) of every non-blank line of a regular file, each at most
    MAX_LINE_BYTES long (a longer one comes as a refusal, and reading goes on after it)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"cannot read {what} {path}: not a regular file")
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    with handle:
        number = 0
        while chunk := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                while chunk and not chunk.endswith(b"\n"):  # skip the rest of the long line
                    chunk = handle.readline(MAX_LINE_BYTES + 1)
                yield number, LineRefused(f"line longer than {MAX_LINE_BYTES} bytes")
            elif chunk.strip():
                yield number, chunk


def parse_json_line(line: bytes | LineRefused) -> object:
    """One line of JSON, parsed with bounds; raises LineRefused saying what is wrong."""
    if isinstance(line, LineRefused):
        raise line
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineRefused(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        reason = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise LineRefused(
            f"not JSON (column {exc.colno}: {reason}); a torn or edited line?"
        ) from None
    except RecursionError:
        raise LineRefused(_too_deep()) from None
    _check_depth(value)
    return value


def parse_record(line: bytes | LineRefused) -> dict[str, Any]:
    """A record line, checked against the record schema and the situation schema."""
    doc = parse_json_line(line)
    if not isinstance(doc, dict) or "record_version" not in doc:
        raise LineRefused("not a decision record (expected a JSON object with record_version)")
    if doc["record_version"] not in READABLE_VERSIONS or isinstance(doc["record_version"], bool):
        versions = " or ".join(str(v) for v in READABLE_VERSIONS)
        raise LineRefused(
            f"$.record_version: unsupported record_version {json.dumps(doc['record_version'])}"
            f" (this engine reads {versions})"
        )
    fast = checker("record")
    if fast is None or not fast(doc):
        errors = list(validator("record").iter_errors(doc))
        if errors:
            problems = sorted(schema_problem(err, doc) for err in errors)
            path, message = problems[0]
            raise LineRefused(f"{path}: {message}")
    try:
        validate_situation(doc["situation"], "$.situation")
    except SituationError as exc:
        raise LineRefused(f"$.situation{exc.path.removeprefix('$')}: {exc.detail}") from None
    return doc


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise LineRefused(f"duplicate key {json.dumps(key, ensure_ascii=False)} in one object")
        obj[key] = value
    return obj


def _literal(literal: str) -> str:
    if len(literal) > MAX_NUMBER_LITERAL:
        raise LineRefused(
            f"number literal {literal[:20]}… is {len(literal)} characters long"
            f" (at most {MAX_NUMBER_LITERAL} accepted)"
        )
    return literal


def _int(literal: str) -> int:
    return int(_literal(literal))


def _float(literal: str) -> float:
    value = float(_literal(literal))
    if not math.isfinite(value):
        raise LineRefused(f"number {literal} is too large to represent")
    return value


def _constant(literal: str) -> float:
    raise LineRefused(f"{literal} is not JSON (expected a finite number)")


def _too_deep() -> str:
    return f"nested too deeply (at most {MAX_DEPTH} levels of objects and arrays)"


def _check_depth(value: object) -> None:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise LineRefused(_too_deep())
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


@dataclass
class ReplayResult:
    line: int
    record_id: str
    same_rules: bool
    identical: bool
    diff: list[str] = field(default_factory=list)  #: unified diff lines (same rules only)
    changes: list[dict[str, Any]] = field(default_factory=list)  #: recommendation changes
    rule_changes: list[dict[str, Any]] = field(default_factory=list)
    parameter_changes: list[str] = field(default_factory=list)
    error: str = ""
    redacted: bool = False  #: the record's situation had personal text redacted

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "id": self.record_id,
            "same_rules": self.same_rules,
            "identical": self.identical,
            "diff": self.diff,
            "changes": self.changes,
            "rule_changes": self.rule_changes,
            "parameter_changes": self.parameter_changes,
            "error": self.error,
        }


def replay_record(ruleset: RuleSet, line: int, record: Mapping[str, Any]) -> ReplayResult:
    same = record["ruleset"]["digest"] == ruleset.digest
    result = ReplayResult(line, record["id"], same, False, redacted=bool(record["redacted"]))
    options = record["options"]
    try:
        decision = evaluate(ruleset, record["situation"], locale=record["locale"], validated=True)
    except XieshangError as exc:
        result.error = f"cannot evaluate the recorded situation: {exc}"
        return result
    advice = decision.to_advice(options["top"], near_misses=options["near_misses"])
    if record["record_version"] == 1 and record["redacted"]:
        # version 1 recorded the digest of the unredacted situation (no longer written: it
        # let anyone try lender names until one matched); put it back to compare
        advice["situation_digest"] = record["situation_digest"]
    old_text, new_text = render_json(record["advice"]), render_json(advice)
    result.identical = old_text == new_text
    if result.identical:
        return result
    if same:
        result.diff = list(
            difflib.unified_diff(
                old_text.splitlines(),
                new_text.splitlines(),
                "recorded",
                "replayed",
                lineterm="",
                n=1,
            )
        )[:40]
    current = manifest(ruleset.pack)
    changed = rule_changes(record["rules"], current)
    result.rule_changes = [c.as_dict() for c in changed]
    result.parameter_changes = parameter_changes(record["rules"], current)
    ids = [c.rule_id for c in changed]
    result.changes = advice_changes(record["advice"], advice)
    for item in result.changes:
        mentioned = rules_in_advice(record["advice"], item["action"])
        item["because"] = attribute(item["action"], ids, [ruleset.pack], mentioned)
    return result


def replay(ruleset: RuleSet, records: list[tuple[int, dict[str, Any]]]) -> list[ReplayResult]:
    return [replay_record(ruleset, line, record) for line, record in records]


def replay_failed(results: list[ReplayResult], strict: bool) -> bool:
    """Exit status 1: a same-digest record differs or fails; with ``strict``, any change."""
    for r in results:
        if r.error or (r.same_rules and not r.identical):
            return True
        if strict and not r.identical:
            return True
    return False


def render_replay_text(
    results: list[ReplayResult], ruleset: RuleSet, damaged: list[Damage] | None = None
) -> str:
    lines = []
    pending = sorted(damaged or [], key=lambda d: d.line, reverse=True)
    for r in results:
        while pending and pending[-1].line < r.line:
            lines.append(_damaged_line(pending.pop()))
        head = f"line {r.line} (record {r.record_id[:12]}):"
        if r.error:
            lines.append(f"{head} ERROR: {r.error}")
            continue
        if r.same_rules:
            if r.identical:
                lines.append(f"{head} same rules, identical advice")
            else:
                lines.append(
                    f"{head} DIFFERS: same rules ({ruleset.digest[:19]}…) but other advice"
                )
                lines += [f"    {d}" for d in r.diff]
                if r.redacted:
                    lines.append(
                        "    (a redacted record: if a rule reads the lender's name, the redacted"
                        " situation cannot reproduce the advice)"
                    )
            continue
        if r.identical:
            lines.append(f"{head} other rules, same advice")
        else:
            lines.append(f"{head} other rules, advice changed")
            lines += [f"    {describe_change(c)}" for c in r.changes]
        if r.rule_changes:
            shown = [
                str(RuleChange(c["rule_id"], c["change"], tuple(c["details"])))
                for c in r.rule_changes
            ]
            lines.append("    rules changed: " + "; ".join(shown))
        if r.parameter_changes:
            lines.append("    parameters changed: " + "; ".join(r.parameter_changes))
    lines += [_damaged_line(d) for d in reversed(pending)]
    same = [r for r in results if r.same_rules]
    other = [r for r in results if not r.same_rules]
    bad = sum(1 for r in same if not r.identical or r.error)
    summary = (
        f"{len(results)} records: {len(same) - bad} identical, {bad} differ with the same rules,"
        f" {len(other)} made with other rules ({sum(1 for r in other if not r.identical)} changed)"
    )
    if damaged:
        summary += f"; {len(damaged)} damaged line{'s' if len(damaged) != 1 else ''}"
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _damaged_line(damage: Damage) -> str:
    return f"line {damage.line}: DAMAGED: {damage.message}"
