"""Decision records: one JSON line per decision in an append-only audit log, and replay.

A record holds what is needed to re-make the decision without the wall clock: the normalised
situation (with its ``as_of``) with personal free text redacted, the locale and options used, the
ruleset's name, version and digest, a manifest of the rules (per-rule definition hashes and the
parameter values) and the advice that was given. ``replay`` evaluates every record again with the
current rules: with the same ruleset digest the advice must be byte-identical; with another, the
changed recommendations are reported with the rules that changed.

Redaction: ``loans[].lender`` (the only free text of a situation) becomes ``"[redacted]"``, in the
situation and wherever its text appears in the recorded advice. The advice's ``situation_digest``
stays the digest of the original situation, so a record can be matched to the case it came from;
replay restores that digest before comparing. A rule that *tests* the lender's name would make such
a record replay differently: that is reported as a difference, never hidden.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.diffing import (
    advice_changes,
    attribute,
    manifest,
    parameter_changes,
    rule_changes,
    rules_in_advice,
)
from engine.errors import UsageError, XieshangError
from engine.render import render_json
from engine.situation import situation_digest

if TYPE_CHECKING:
    from engine.api import Decision, RuleSet

RECORD_VERSION = 1
REDACTED = "[redacted]"


def redact(situation: Mapping[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """A copy with personal free text replaced; the JSON paths and the texts that were replaced."""
    copy: dict[str, Any] = json.loads(json.dumps(situation))
    paths: list[str] = []
    secrets: list[str] = []
    for i, loan in enumerate(copy.get("loans", [])):
        if isinstance(loan, dict) and isinstance(loan.get("lender"), str):
            if loan["lender"] != REDACTED:
                secrets.append(loan["lender"])
            loan["lender"] = REDACTED
            paths.append(f"$.loans[{i}].lender")
    return copy, paths, secrets


def _scrub(value: Any, secrets: list[str]) -> Any:
    """Replace every secret text inside the strings of a JSON value (longest first)."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def make_record(
    decision: Decision,
    advice: Mapping[str, Any],
    *,
    top: int | None = None,
    near_misses: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The decision record of one ``advise`` call (``advice`` as shown, without the trace)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    time = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    digest = situation_digest(dict(decision.situation))
    situation, paths, secrets = redact(decision.situation)
    secrets = sorted(set(secrets), key=len, reverse=True)
    shown = {k: v for k, v in advice.items() if k != "trace"}
    ruleset = decision.ruleset
    ident = hashlib.sha256(f"{time}\0{digest}\0{ruleset.digest}".encode()).hexdigest()[:32]
    return {
        "record_version": RECORD_VERSION,
        "id": ident,
        "time": time,
        "engine": {"name": "xieshang", "version": __version__},
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "digest": ruleset.digest},
        "situation_digest": digest,
        "situation": situation,
        "redacted": paths,
        "locale": decision.locale,
        "options": {"top": top, "near_misses": near_misses},
        "rules": manifest(ruleset.pack),
        "advice": _scrub(shown, secrets),
    }


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record as one line: a single write of the whole line, flushed and fsynced."""
    # Key order is kept (not sorted): the advice must read back exactly as it was rendered.
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    line = (text + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot open audit log {path}: {exc.strerror}") from None
    try:
        written = os.write(fd, line)
        if written != len(line):  # pragma: no cover - a full disk
            raise XieshangError(f"audit log {path}: short write ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


_REQUIRED = ("id", "time", "ruleset", "situation_digest", "situation", "locale", "advice", "rules")


def read_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for every non-empty line; UsageError naming the first bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read audit log {path}: {exc}") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not a JSON record: {exc.msg}") from None
        if not isinstance(record, dict) or record.get("record_version") != RECORD_VERSION:
            raise UsageError(f"{path}:{number}: not a decision record (record_version 1)")
        missing = [k for k in _REQUIRED if k not in record]
        if missing:
            raise UsageError(f"{path}:{number}: decision record without {', '.join(missing)}")
        records.append((number, record))
    return records


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
    from engine.api import evaluate

    same = record["ruleset"].get("digest") == ruleset.digest
    result = ReplayResult(line, str(record["id"]), same, identical=False)
    options = record.get("options", {})
    try:
        decision = evaluate(ruleset, record["situation"], locale=record["locale"])
    except XieshangError as exc:
        result.error = f"cannot evaluate the recorded situation: {exc}"
        return result
    advice = decision.to_advice(options.get("top"), near_misses=bool(options.get("near_misses")))
    if record.get("redacted"):
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


def render_replay_text(results: list[ReplayResult], ruleset: RuleSet) -> str:
    from engine.diffing import RuleChange, describe_change

    lines = []
    for r in results:
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
    same = [r for r in results if r.same_rules]
    other = [r for r in results if not r.same_rules]
    bad = sum(1 for r in same if not r.identical or r.error)
    lines.append(
        f"{len(results)} records: {len(same) - bad} identical, {bad} differ with the same rules,"
        f" {len(other)} made with other rules ({sum(1 for r in other if not r.identical)} changed)"
    )
    return "\n".join(lines) + "\n"
