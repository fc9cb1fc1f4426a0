"""Faults and hostile input around the audit log (issue 9: findings 5, 6, 7, 9, 14 and 19).

Redaction must work on the field (never on substrings) and must not leave a digest that gives the
lender away; appends are all-or-nothing under a short write or a full disk (injected by replacing
``os.write``); replay reports a damaged line and goes on; tampered records are bad input (exit 2
with file:line), never an internal error; advice is byte-identical whichever path reaches a pack.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.load.situation import situation_digest
from tests.fixtures.audit.helpers import PACK, UNKNOWN_INCOME, run

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "first-late-payment.json"  # the default pack names the lender
XIESHANG = shutil.which("xieshang", path=os.path.dirname(sys.executable))


def _situation(tmp_path: Path, lender: str) -> Path:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for loan in data["loans"]:
        loan["lender"] = lender
    path = tmp_path / f"situation-{hashlib.sha256(lender.encode()).hexdigest()[:8]}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


# --- finding 5: redact the field, not substrings ---------------------------------------------


@pytest.mark.parametrize("lender", ["a", "支付宝", "1", "jiebei", " "])
def test_redaction_replaces_the_lender_field_not_its_text_elsewhere(
    tmp_path: Path, lender: str
) -> None:
    situation = _situation(tmp_path, lender)
    log = tmp_path / "audit.jsonl"
    shown = run("advise", situation, "--format", "json", "--audit-log", log)
    assert shown.exit_code == 0
    (record,) = _records(log)
    # The record's advice is exactly the advice of the redacted situation: every text the rules
    # computed from the lender says [redacted]; everything else is as shown (contact_lender,
    # 打开支付宝, loan ids, rule ids are intact).
    redacted = _situation(tmp_path, "[redacted]")
    expected = json.loads(run("advise", redacted, "--format", "json").stdout)
    assert record["advice"] == expected
    given = json.loads(shown.stdout)
    assert [r["action"] for r in record["advice"]["recommendations"]] == [
        r["action"] for r in given["recommendations"]
    ]
    assert "contact_lender" in [r["action"] for r in record["advice"]["recommendations"]]
    assert all("[redacted]" not in s or "cont[" not in s for s in _strings(record))
    replayed = run("replay", log)
    assert replayed.exit_code == 0, replayed.stdout
    assert replayed.stdout.splitlines()[0].endswith("same rules, identical advice")


def test_a_message_naming_the_lender_is_recorded_with_the_name_redacted(tmp_path: Path) -> None:
    lender = "某某小额贷款有限公司"
    log = tmp_path / "audit.jsonl"
    shown = run("advise", _situation(tmp_path, lender), "--format", "json", "--audit-log", log)
    assert lender in shown.stdout  # the borrower sees the lender's name
    line = log.read_text(encoding="utf-8")
    assert lender not in line
    (record,) = _records(log)
    named = [r for r in record["advice"]["recommendations"] if "[redacted]" in r["message"]]
    assert named, "the default pack names the lender in some message"


# --- finding 6: nothing in the record lets anyone try lender names -----------------------------


def test_no_digest_of_the_unredacted_situation_is_stored(tmp_path: Path) -> None:
    lender = "招商银行"
    log = tmp_path / "audit.jsonl"
    assert run("advise", _situation(tmp_path, lender), "--audit-log", log).exit_code == 0
    (record,) = _records(log)
    # An attacker holding the log puts a candidate lender back and digests the situation.
    candidate = json.loads(json.dumps(record["situation"]))
    for loan in candidate["loans"]:
        loan["lender"] = lender
    guess = situation_digest(candidate)
    line = log.read_text(encoding="utf-8")
    assert guess.removeprefix("sha256:") not in line
    ident = f"{record['time']}\0{guess}\0{record['ruleset']['digest']}"
    assert hashlib.sha256(ident.encode()).hexdigest()[:32] != record["id"]
    # What is stored is the digest of the redacted situation: replay recomputes exactly that.
    assert record["situation_digest"] == situation_digest(record["situation"])
    assert record["advice"]["situation_digest"] == record["situation_digest"]


def test_a_rule_testing_the_lender_keeps_the_decision_and_replay_says_why_it_differs(
    tmp_path: Path,
) -> None:
    pack = tmp_path / "lenderpack"
    shutil.copytree(PACK, pack)
    rules = pack / "rules.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8")
        + """
  - id: warn_about_this_bank
    title: {en: The lender is the bank we know, zh-CN: 贷款方是那家银行}
    source: guide §2.2
    about: loan
    when: {fact: loan.lender, op: "==", value: 招商银行}
    recommend:
      action: stay_calm
      priority: 40
      urgency: ongoing
      title: {en: Stay calm, zh-CN: 保持冷静}
      message: {en: "Talk to {loan.lender}.", zh-CN: "联系{loan.lender}。"}
""",
        encoding="utf-8",
    )
    log = tmp_path / "audit.jsonl"
    shown = run("advise", UNKNOWN_INCOME, "--rules", pack, "--format", "json", "--audit-log", log)
    assert shown.exit_code == 0, shown.stderr
    (record,) = _records(log)
    actions = [r["action"] for r in record["advice"]["recommendations"]]
    assert actions == [r["action"] for r in json.loads(shown.stdout)["recommendations"]]
    calm = next(r for r in record["advice"]["recommendations"] if r["action"] == "stay_calm")
    assert calm["message"] == "Talk to [redacted]."  # the situation is in English
    assert calm["reasons"][0]["conditions"][0]["actual"] == "[redacted]"
    result = run("replay", log, "--rules", pack)
    assert result.exit_code == 1
    assert "DIFFERS: same rules" in result.stdout
    assert "a redacted record: if a rule reads the lender's name" in result.stdout


# --- finding 7: all-or-nothing appends, damaged lines reported -------------------------------


def _faulty_write(
    monkeypatch: pytest.MonkeyPatch, fault: Callable[[int, bytes], int]
) -> list[bytes]:
    """Replace os.write for audit-log lines only (stdout and pytest keep the real one)."""
    real = os.write
    seen: list[bytes] = []

    def write(fd: int, data: bytes | memoryview) -> int:
        if b'"record_version"' in bytes(data):
            seen.append(bytes(data))
            return fault(fd, bytes(data))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    return seen


def _short(fd: int, data: bytes) -> int:
    return os.pwrite(fd, data[: len(data) // 2], os.fstat(fd).st_size)  # half, then "disk full"


def _no_space(fd: int, data: bytes) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("fault", [_short, _no_space], ids=["short write", "ENOSPC"])
def test_a_failed_append_leaves_the_log_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Callable[[int, bytes], int]
) -> None:
    log = tmp_path / "audit.jsonl"
    assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    before = log.read_bytes()
    with monkeypatch.context() as patch:
        seen = _faulty_write(patch, fault)
        failed = run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log)
    assert seen, "the fault was injected"
    assert failed.exit_code == 1
    message = failed.stderr.strip()
    assert message.startswith(f"xieshang: error: cannot write audit log {log}: ")
    assert message.endswith("; nothing was appended")
    assert "internal error" not in failed.stderr
    assert log.read_bytes() == before
    assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    replayed = run("replay", log, "--rules", PACK)
    assert replayed.exit_code == 0
    assert replayed.stdout.splitlines()[-1].startswith("2 records: 2 identical")


def test_a_failed_fsync_also_takes_the_line_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", fsync)
    failed = run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log)
    assert failed.exit_code == 1
    assert "Input/output error; nothing was appended" in failed.stderr
    assert log.read_bytes() == b""


def test_a_record_is_never_glued_onto_a_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    whole = log.read_bytes()
    log.write_bytes(whole + whole[:300])  # an older crash left half a line, no newline
    assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    result = run("replay", log, "--rules", PACK)
    out = result.stdout.splitlines()
    assert out[0].endswith("same rules, identical advice")
    assert out[1].startswith("line 2: DAMAGED: not JSON")
    assert out[2].startswith("line 3 (record ") and out[2].endswith("identical advice")
    assert out[3].endswith("; 1 damaged line")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"{log}:2: not JSON")


def test_replay_reports_every_damaged_line_and_replays_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for _ in range(3):
        assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text("\n".join([lines[0], lines[1][:100], lines[2], "garbage"]) + "\n")
    result = run("replay", log, "--rules", PACK, "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert [r["line"] for r in report["records"]] == [1, 3]
    assert all(r["identical"] for r in report["records"])
    assert [d["line"] for d in report["damaged"]] == [2, 4]
    assert result.stderr.splitlines()[-1] == (
        f"xieshang: {log}: 2 damaged lines; every other record was replayed"
    )


# --- finding 14: tampered logs are bad input, with file:line and what was expected ---------------


def _tampered(tmp_path: Path, change: Callable[[str], str]) -> Path:
    log = tmp_path / "audit.jsonl"
    assert run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", log).exit_code == 0
    bad = tmp_path / "tampered.jsonl"
    bad.write_text(change(log.read_text(encoding="utf-8").strip()) + "\n", encoding="utf-8")
    return bad


def _set(key: str, value: Any) -> Callable[[str], str]:
    def change(line: str) -> str:
        record = json.loads(line)
        record[key] = value
        return json.dumps(record, ensure_ascii=False)

    return change


TAMPERED: dict[str, tuple[Callable[[str], str], str]] = {
    "ruleset is an array": (_set("ruleset", [1]), "$.ruleset: expected an object, got an array"),
    "top is a string": (
        _set("options", {"top": "3", "near_misses": False}),
        '$.options.top: expected an integer or null, got "3"',
    ),
    "5,000-digit number": (
        lambda line: line.replace('"record_version":2', '"record_version":' + "7" * 5000),
        "number literal 77777777777777777777… is 5000 characters long (at most 40 accepted)",
    ),
    "100,000-deep nesting": (
        lambda line: "[" * 100_000 + "]" * 100_000,
        "nested too deeply (at most 64 levels of objects and arrays)",
    ),
    "situation not valid": (
        _set("situation", {"schema_version": 1, "loans": "x"}),
        '$.situation.loans: expected an array, got "x"',
    ),
    "locale unknown": (_set("locale", "French"), "$.locale: expected a string matching"),
}


@pytest.mark.parametrize("case", list(TAMPERED), ids=list(TAMPERED))
def test_replay_of_a_tampered_record_is_bad_input(tmp_path: Path, case: str) -> None:
    change, expected = TAMPERED[case]
    bad = _tampered(tmp_path, change)
    result = run("replay", bad, "--rules", PACK)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{bad}:1: {expected}")
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("case", ["5,000-digit number", "100,000-deep nesting"])
def test_rules_diff_with_a_tampered_corpus_is_bad_input(tmp_path: Path, case: str) -> None:
    change, expected = TAMPERED[case]
    bad = _tampered(tmp_path, change)
    result = run("rules", "diff", "--old", PACK, "--rules", PACK, "--corpus", bad)
    assert result.exit_code == 2
    assert result.stderr == f"xieshang: error: {bad}:1: {expected}\n"
    assert result.stdout == ""


def test_audit_log_that_is_not_a_regular_file_is_refused_before_any_output(
    tmp_path: Path,
) -> None:
    for target in ("/dev/null", str(tmp_path)):
        result = run("advise", UNKNOWN_INCOME, "--rules", PACK, "--audit-log", target)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"xieshang: error: audit log {target} is not a regular file"
            " (expected a file to append JSON lines to)\n"
        )


@pytest.mark.slow  # a subprocess
@pytest.mark.skipif(XIESHANG is None, reason="the console script is not installed")
def test_audit_log_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert XIESHANG is not None
    args = [XIESHANG, "advise", str(UNKNOWN_INCOME), "--rules", str(PACK), "--audit-log", str(fifo)]
    done = subprocess.run(args, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == b""
    assert b"is not a regular file" in done.stderr


# --- finding 19: empty log; the advice is shown before it is recorded --------------------------


def test_replay_of_an_empty_log_is_bad_input_with_nothing_on_stdout(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    result = run("replay", empty, "--rules", PACK)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"xieshang: error: {empty}: no decision records (the log is empty)\n"


@pytest.mark.slow  # a subprocess
@pytest.mark.skipif(
    XIESHANG is None or not os.path.exists("/dev/full"), reason="needs the script and /dev/full"
)
def test_advice_that_could_not_be_shown_is_not_recorded(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    assert XIESHANG is not None
    args = [XIESHANG, "advise", str(UNKNOWN_INCOME), "--rules", str(PACK), "--audit-log", str(log)]
    with open("/dev/full", "w") as full:
        done = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert done.returncode == 1
    assert b"cannot write the output" in done.stderr
    assert not log.exists() or log.read_bytes() == b""


# --- finding 9: the same pack gives the same advice bytes from any path ------------------------


def test_advice_and_replay_do_not_depend_on_how_the_pack_path_is_spelt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(PACK, tmp_path / "mypack")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "audit.jsonl"
    spellings = ["mypack", "./mypack/../mypack", str(tmp_path / "mypack")]
    outputs = [
        run("advise", UNKNOWN_INCOME, "--rules", s, "--format", "json", "--audit-log", log).stdout
        for s in spellings
    ]
    assert outputs[0] == outputs[1] == outputs[2]
    locations = [r["location"] for r in json.loads(outputs[0])["recommendations"][0]["reasons"]]
    assert locations and all(loc.startswith("mypack/rules.yaml:") for loc in locations)
    monkeypatch.chdir(tmp_path / "elsewhere")
    result = run("replay", log, "--rules", "../mypack")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith("3 records: 3 identical")
