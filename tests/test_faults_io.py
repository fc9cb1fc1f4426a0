"""Fault injection, I/O side (issue 9: findings 4, 8, 11, 14, 15, 18, 19).

Killed batch workers, signals, a full disk on ``batch -o``, outputs that are symlinks, FIFOs or
the input itself, FIFOs and ``/dev/zero`` where a file is expected, rule and test files that
cannot be read, and a compiled-pack cache that must never run code. Subprocess tests run the
installed ``xieshang`` with a deadline: before these fixes several of them hung for ever.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import engine.batch
from cli.main import app
from engine.api import RuleSet, load_rules
from engine.batch import Line, Options, Result, advise_line, read_lines, run_batch
from engine.compile import packcache
from tests.packgen import generate_pack, matching_situation, write_feature_pack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "first-late-payment.json"
XIESHANG = shutil.which("xieshang", path=os.path.dirname(sys.executable)) or "xieshang"
DEADLINE = 120  #: seconds any one subprocess may take (the bugs fixed here were hangs)


# --- helpers --------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(
    args: list[str],
    *,
    stdin: Any = subprocess.DEVNULL,
    cwd: Path | None = None,
    limit_memory: bool = False,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed xieshang; with ``limit_memory``, 1 GiB of address space at most."""

    def setup() -> None:
        if limit_memory:
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        if preexec is not None:
            preexec()

    return subprocess.run(
        [XIESHANG, *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=cwd,
        preexec_fn=setup,
    )


def example_lines(count: int) -> bytes:
    line = json.dumps(json.loads(EXAMPLE.read_text(encoding="utf-8")), ensure_ascii=False)
    return ((line + "\n") * count).encode("utf-8")


def start_working_batch(source: Path, out: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """``batch SOURCE -o OUT --workers 2`` started, once both workers exist and output grows."""
    process = subprocess.Popen(
        [XIESHANG, "batch", str(source), "-o", str(out), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        workers = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid), "2")
        wait_for(lambda: any(p.stat().st_size for p in out.parent.glob(f".{out.name}.*")), "output")
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)  # never leave a batch running behind a failed test
        raise
    return process, workers


@pytest.fixture(scope="module")
def advice_line() -> str:
    """The batch output line for the example (what every line of example_lines gives)."""
    ruleset = load_rules()
    line: Line = (1, example_lines(1).rstrip(b"\n"))
    code, text = advise_line(ruleset, line, Options())
    assert code == 0
    return text


@pytest.fixture(scope="module")
def feature_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_pack(tmp_path_factory.mktemp("faults") / "features")


def leftovers(directory: Path) -> list[str]:
    """Temporary files a batch may have left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- batch: dead workers and signals (finding 4) ---------------------------------------------


@pytest.mark.slow  # a subprocess
def test_a_killed_worker_is_replaced_and_its_lines_evaluated_again(
    tmp_path: Path, advice_line: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    count = 400
    source.write_bytes(example_lines(count))
    process, workers = start_working_batch(source, out)
    try:
        # the workers are at work (the temporary output grows): kill one as the OOM killer would
        os.kill(workers[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr
    assert "1 worker process died (killed by SIGKILL)" in stderr
    assert out.read_text(encoding="utf-8").splitlines() == [advice_line] * count
    assert leftovers(tmp_path) == []


@pytest.mark.slow  # worker processes
def test_a_line_that_kills_its_worker_becomes_an_error_record(
    feature_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A native crash on one line: that line is an error record, every other line is advised."""
    ruleset = load_rules([feature_pack])
    data = b"".join(json.dumps(matching_situation(1 + i % 3)).encode() + b"\n" for i in range(100))
    expected: list[str] = []
    run_batch(ruleset, read_lines(io.BytesIO(data)), expected.append, Options(source="in"))

    real = engine.batch.advise_line

    def crash_on_line_37(rules: RuleSet, line: Line, options: Options) -> Result:
        if line[0] == 37:  # in a worker process: dies the way a segfault or SIGKILL would
            os.kill(os.getpid(), signal.SIGKILL)
        return real(rules, line, options)

    monkeypatch.setattr(engine.batch, "advise_line", crash_on_line_37)
    got: list[str] = []
    with deadline(DEADLINE):
        summary = run_batch(
            ruleset,
            read_lines(io.BytesIO(data)),
            got.append,
            Options(source="in"),
            workers=2,
            paths=[feature_pack],
            start_method="fork",
        )
    assert len(got) == 100
    assert got[:36] == expected[:36] and got[37:] == expected[37:]
    record = json.loads(got[36])
    assert record["line"] == 37 and record["error"]["code"] == 1
    assert "died (killed by SIGKILL)" in record["error"]["message"]
    assert summary.worker_deaths == ["killed by SIGKILL", "killed by SIGKILL"]
    assert (summary.lines, summary.errors, summary.exit_code) == (100, 1, 1)


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_batch_leaving_no_files(tmp_path: Path, signum: int) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(example_lines(2000))
    process, workers = start_working_batch(source, out)
    try:
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + signum, stderr
    assert stderr.strip() == f"xieshang: terminated ({signal.Signals(signum).name})"
    assert not out.exists() and leftovers(tmp_path) == []
    assert not any(alive(pid) for pid in workers)


@pytest.mark.slow  # worker processes
def test_workers_above_the_limit_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(example_lines(1))
    result = runner.invoke(app, ["batch", str(source), "--workers", "65"])
    assert result.exit_code == 2 and "--workers" in result.stderr and result.stdout == ""
    assert runner.invoke(app, ["batch", str(source), "--workers", "64"]).exit_code == 0


# --- batch -o: what the output path is (finding 8) and a full disk (finding 14) -------------------


def test_an_output_symlink_is_kept_and_its_target_replaced_with_its_mode(
    runner: CliRunner, tmp_path: Path, advice_line: str
) -> None:
    source, target, link = tmp_path / "in.jsonl", tmp_path / "target.jsonl", tmp_path / "link"
    source.write_bytes(example_lines(2))
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o600)
    link.symlink_to(target.name)
    result = runner.invoke(app, ["batch", str(source), "-o", str(link)])
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == target.name
    assert target.read_text(encoding="utf-8").splitlines() == [advice_line] * 2
    assert target.stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == []


def test_output_equal_to_the_input_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    data = example_lines(2)
    source.write_bytes(data)
    (tmp_path / "alias").symlink_to(source.name)
    for output in (source, tmp_path / "alias"):
        result = runner.invoke(app, ["batch", str(source), "-o", str(output)])
        assert result.exit_code == 2
        assert "is the input file" in result.stderr and result.stdout == ""
        assert source.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_an_output_fifo_is_written_through_not_replaced(
    runner: CliRunner, tmp_path: Path, advice_line: str
) -> None:
    source, fifo = tmp_path / "in.jsonl", tmp_path / "pipe"
    source.write_bytes(example_lines(3))
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with deadline(DEADLINE):
        result = runner.invoke(app, ["batch", str(source), "-o", str(fifo)])
    reader.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert received and received[0].decode("utf-8").splitlines() == [advice_line] * 3
    assert fifo.is_fifo()


@pytest.mark.slow  # a subprocess
def test_a_full_disk_on_batch_output_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """The file-size limit makes the write fail part way, as a full disk does (EFBIG, ENOSPC)."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(example_lines(50))  # about 1 MB of advice
    out.write_text("previous\n", encoding="utf-8")

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    result = run(["batch", str(source), "-o", str(out)], preexec=small_files)
    assert result.returncode == 1
    assert result.stderr.strip() == f"xieshang: error: cannot write {out}: File too large"
    assert out.read_text(encoding="utf-8") == "previous\n" and leftovers(tmp_path) == []


# --- bounded reads, non-regular files (finding 11) and unreadable input (finding 14) -----------


@pytest.mark.slow  # a subprocess
def test_stdin_from_dev_zero_is_refused_quickly() -> None:
    with open("/dev/zero", "rb") as zero:
        result = run(["advise", "-"], stdin=zero, limit_memory=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "xieshang: error: <stdin>: $: input is larger than the limit of 1000000 bytes"
    )


@pytest.mark.slow  # a subprocess
def test_closed_stdin_is_a_clear_error() -> None:
    result = run(["advise", "-"], preexec=lambda: os.close(0))
    assert result.returncode == 2
    assert result.stderr.strip() == "xieshang: error: cannot read situation: <stdin> is closed"


@pytest.mark.slow  # a subprocess
def test_fifos_and_devices_are_refused_where_a_file_is_expected(tmp_path: Path) -> None:
    fifo = tmp_path / "situation.json"
    os.mkfifo(fifo)  # nobody will ever write to it: opening it must not wait
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for path, kind in ((fifo, "a FIFO (named pipe)"), (zero, "a character device")):
        result = run(["advise", str(path)], limit_memory=True)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"xieshang: error: cannot read situation: {path} is {kind}, not a regular file"
        )


@pytest.mark.slow  # a subprocess
def test_batch_input_from_dev_zero_stops_with_a_clear_error(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        piped = run(["batch", "-", "-o", str(tmp_path / "out.jsonl")], stdin=zero)
    assert piped.returncode == 2
    assert piped.stderr.strip() == (
        "xieshang: error: <stdin>:1: a line longer than 64,000,000 bytes;"
        " the input is not JSON Lines"
    )
    assert list(tmp_path.iterdir()) == []
    named = run(["batch", "/dev/zero"])
    assert named.returncode == 2
    assert named.stderr.strip() == (
        "xieshang: error: cannot read input: /dev/zero is a character device, not a regular file"
    )


def test_batch_input_may_be_a_pipe(runner: CliRunner, tmp_path: Path, advice_line: str) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(example_lines(2)), daemon=True)
    writer.start()
    with deadline(DEADLINE):
        result = runner.invoke(app, ["batch", str(fifo)])
    writer.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [advice_line] * 2


def _write_once_read(fifo: Path, data: bytes) -> None:
    """Write ``data`` into a named pipe only after this process has opened it for reading."""
    while not any(_opened(fd) == str(fifo) for fd in _fds()):
        time.sleep(0.01)
    time.sleep(0.2)  # the reader has had every chance to read (and, before the fix, see EOF)
    fifo.write_bytes(data)


def _opened(fd: str) -> str | None:
    """What descriptor ``fd`` of this process names, or None when it was closed since it was
    listed (another thread closes files all the time: the listing is a snapshot)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _fds() -> list[str]:
    try:
        return os.listdir("/proc/self/fd")
    except FileNotFoundError:  # no /proc: write at once
        return []


def test_batch_waits_for_a_named_pipe_writer_that_comes_later(
    runner: CliRunner, tmp_path: Path, advice_line: str
) -> None:
    """``mkfifo in; xieshang batch in & producer > in``: the batch used to read "no situations"
    at once and exit 0 when its open came before the writer's."""
    fifo = tmp_path / "late.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=_write_once_read, args=(fifo, example_lines(2)), daemon=True)
    writer.start()
    with deadline(DEADLINE):
        result = runner.invoke(app, ["batch", str(fifo)])
    writer.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [advice_line] * 2


@pytest.mark.slow  # a subprocess
def test_pack_files_that_cannot_be_read_are_named(tmp_path: Path, feature_pack: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(feature_pack, pack)
    (pack / "dangling.yaml").symlink_to("missing.yaml")
    os.mkfifo(pack / "pipe.yaml")
    (pack / "zero.yaml").symlink_to("/dev/zero")
    with open(pack / "huge.yaml", "wb") as huge:
        huge.truncate(600_000_000)  # sparse: 600 MB that take no disk
    bad_name = os.fsencode(str(pack)) + b"/bad\xff.yaml"
    with open(bad_name, "wb") as handle:
        handle.write(b"rules: []\n")
    result = run(["rules", "validate", "--rules", str(pack)], limit_memory=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"{pack}/bad\N{REPLACEMENT CHARACTER}.yaml: pack_file_name: the file name is not valid"
        " UTF-8 (hint: rename the file: names are shown in messages and advice)",
        f"{pack}/dangling.yaml:1:1: pack_unreadable: cannot read: is a symlink to a missing file",
        f"{pack}/huge.yaml:1:1: yaml_too_large: file is 600,000,000 bytes; the limit is 2,000,000",
        f"{pack}/pipe.yaml:1:1: pack_unreadable: cannot read: is a FIFO (named pipe), not a"
        " regular file",
        f"{pack}/zero.yaml:1:1: pack_unreadable: cannot read: is a character device, not a"
        " regular file",
        "xieshang: 5 errors in the rules",
    ]


def test_an_unreadable_rule_file_is_named(
    runner: CliRunner, tmp_path: Path, feature_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 (root reads it anyway, so the refusal is also injected where files are opened)."""
    pack = tmp_path / "pack"
    shutil.copytree(feature_pack, pack)
    secret = pack / "secret.yaml"
    secret.write_text("rules: []\n", encoding="utf-8")
    secret.chmod(0)

    def refusing(opener: Callable[..., Any]) -> Callable[..., Any]:
        def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file).endswith("secret.yaml"):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return opener(file, *args, **kwargs)

        return open_

    monkeypatch.setattr(os, "open", refusing(os.open))
    monkeypatch.setattr(io, "open", refusing(io.open))
    packcache.clear_memory()
    result = runner.invoke(app, ["rules", "validate", "--rules", str(pack)])
    assert result.exit_code == 2
    assert f"{pack}/secret.yaml:1:1: pack_unreadable: cannot read: permission denied" in (
        result.stderr.splitlines()
    )


@pytest.mark.slow  # a subprocess
def test_the_root_directory_as_a_pack_is_refused_quickly() -> None:
    result = run(["rules", "validate", "--rules", "/"])
    assert result.returncode == 2
    assert "internal error" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("/: pack_too_large: more than ")


# --- rules test (findings 15 and 19) ------------------------------------------------------------


def write_tests(pack: Path, text: str) -> Path:
    (pack / "tests").mkdir(exist_ok=True)
    path = pack / "tests" / "x.test.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow  # a subprocess
def test_a_situation_file_that_is_not_an_object_is_an_error(
    tmp_path: Path, feature_pack: Path
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(feature_pack, pack)
    (pack / "tests" / "list.json").parent.mkdir(exist_ok=True)
    (pack / "tests" / "list.json").write_text("[1, 2]", encoding="utf-8")
    (pack / "tests" / "zero.json").symlink_to("/dev/zero")
    write_tests(
        pack,
        "cases:\n"
        "  - name: a list\n"
        "    situation_file: list.json\n"
        "    expect: {absent: [crisis_support]}\n"
        "  - name: endless\n"
        "    situation_file: zero.json\n"
        "    expect: {absent: [crisis_support]}\n",
    )
    result = run(["rules", "test", "--rules", "pack"], cwd=tmp_path, limit_memory=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "pack/tests/x.test.yaml:3:21: test_situation_file: situation_file: pack/tests/list.json:"
        " $: expected a JSON object at the top level, got an array",
        "pack/tests/x.test.yaml:6:21: test_situation_file: situation_file: cannot read situation:"
        " pack/tests/zero.json is a character device, not a regular file",
        "xieshang: 2 errors in the rules",
    ]


def test_misspelt_expected_names_are_errors_with_a_hint(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = tmp_path / "jiebei"
    shutil.copytree(ROOT / "rules" / "jiebei", pack, ignore=shutil.ignore_patterns("tests"))
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    write_tests(
        pack,
        "cases:\n"
        "  - name: typos pass for ever unless they are caught\n"
        f"    situation: {json.dumps(example, ensure_ascii=False)}\n"
        "    expect:\n"
        "      absent: [pay_nwo]\n"
        "      not_fired: [contact_lender_when_overdu]\n"
        "      derived: {totl_overdue: null}\n"
        "      rank: {contact_lendr: 3}\n",
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["rules", "test", "--rules", "jiebei"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "jiebei/tests/x.test.yaml:5:16: test_unknown_name: expect/absent: unknown action"
        " 'pay_nwo' (hint: did you mean 'pay_now'?)",
        "jiebei/tests/x.test.yaml:6:19: test_unknown_name: expect/not_fired: unknown rule"
        " 'contact_lender_when_overdu' (hint: did you mean 'contact_lender_when_overdue'?)",
        "jiebei/tests/x.test.yaml:7:17: test_unknown_name: expect/derived: unknown derived fact"
        " 'totl_overdue' (hint: did you mean 'total_overdue'?)",
        "jiebei/tests/x.test.yaml:8:14: test_unknown_name: expect/rank: unknown action"
        " 'contact_lendr' (hint: did you mean 'contact_lender'?)",
        "xieshang: 4 errors in the rules",
    ]


def test_a_pack_and_one_of_its_test_files_load_the_pack_once(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = tmp_path / "jiebei"
    shutil.copytree(ROOT / "rules" / "jiebei", pack)
    monkeypatch.chdir(tmp_path)
    tests = sorted((pack / "tests").glob("*.test.yaml"))
    result = runner.invoke(
        app, ["rules", "test", "--rules", "jiebei", str(tests[0].relative_to(tmp_path))]
    )
    assert result.exit_code == 0, result.stderr
    assert "duplicate" not in result.stderr and result.stdout.endswith(" passed, 0 failed\n")


def test_a_pack_and_one_of_its_rule_files_validate_the_pack_once(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = tmp_path / "jiebei"
    shutil.copytree(ROOT / "rules" / "jiebei", pack, ignore=shutil.ignore_patterns("tests"))
    (pack / "zz.yaml").write_text("rules:\n  - id: Bad\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["rules", "validate", "--rules", "jiebei", "jiebei/zz.yaml"])
    assert result.exit_code == 2
    errors = result.stderr.splitlines()[:-1]
    assert errors and all(line.startswith("jiebei/zz.yaml:") for line in errors)
    assert "duplicate" not in result.stderr


def test_a_huge_key_is_shortened_in_messages(runner: CliRunner, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(ROOT / "rules" / "jiebei", pack, ignore=shutil.ignore_patterns("tests"))
    key = "k" * 1_900_000
    (pack / "extra.yaml").write_text(f"rules:\n  - id: a_b\n    ? {key}\n    : 1\n")
    result = runner.invoke(app, ["rules", "validate", "--rules", str(pack)])
    assert result.exit_code == 2
    unknown = [line for line in result.stderr.splitlines() if "unknown key" in line]
    assert len(unknown) == 1 and len(unknown[0]) < 400
    assert f"unknown key '{'k' * 79}…'" in unknown[0]


# --- the compiled-pack cache (finding 18) -----------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, empty cache directory for this test; the process cache forgotten."""
    base = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(base))
    monkeypatch.delenv("XIESHANG_NO_CACHE", raising=False)
    packcache.clear_memory()
    yield base / "xieshang"
    packcache.clear_memory()


def key_of(pack: Path) -> str:
    from engine.load.loader import collect_files, pack_digest

    files, _ = collect_files([str(pack)])
    return packcache.pack_key((str(pack),), files, pack_digest(files))


class _Planted:
    """What an attacker would plant: unpickling it creates a file (it could do anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_planted_pickle_is_never_executed(
    cache: Path, tmp_path: Path, feature_pack: Path
) -> None:
    marker = tmp_path / "code-ran"
    key = key_of(feature_pack)
    cache.mkdir(parents=True, mode=0o700)
    planted = pickle.dumps(_Planted(marker))
    for name in (f"{key}.pickle", f"{key}.json"):  # every name the cache has ever used
        (cache / name).write_bytes(planted)
        (cache / name).chmod(0o600)
    ruleset = load_rules([feature_pack])
    assert not marker.exists()
    assert ruleset.pack.name == "features"
    assert packcache.loads(key, (cache / f"{key}.json").read_bytes()) is not None  # recompiled


def test_a_tampered_entry_is_a_miss(cache: Path, feature_pack: Path) -> None:
    fresh = load_rules([feature_pack])
    key = key_of(feature_pack)
    entry = cache / f"{key}.json"
    header, _, payload = entry.read_bytes().partition(b"\n")
    assert packcache.loads(key, entry.read_bytes()) is not None
    assert packcache.loads("0" * 64, entry.read_bytes()) is None  # another key's entry
    assert (
        packcache.loads(key, header + b"\n" + payload.replace(b'"features"', b'"featurez"')) is None
    )
    # a consistent header over a payload naming a class outside the list: refused, not imported
    bad = payload.replace(b'"engine.pack.model.LocalText"', b'"os.system"', 1)
    digest = hashlib.sha256(bad).hexdigest().encode()
    assert packcache.loads(key, b" ".join([*header.split(b" ")[:3], digest]) + b"\n" + bad) is None
    entry.write_bytes(b"garbage")
    packcache.clear_memory()
    assert load_rules([feature_pack]).compiled == fresh.compiled


def test_cache_entries_are_never_followed_through_symlinks(
    cache: Path, tmp_path: Path, feature_pack: Path
) -> None:
    """A link under an entry's name is not opened (O_NOFOLLOW): here it leads to a FIFO, and a
    writer waiting on the FIFO would learn that someone opened it for reading."""
    key = key_of(feature_pack)
    cache.mkdir(parents=True, mode=0o700)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    opened = threading.Event()

    def writer() -> None:
        with open(fifo, "wb"):  # returns once somebody opens the FIFO for reading
            opened.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for name in (f"{key}.pickle", f"{key}.json"):  # every name the cache has ever used
        (cache / name).symlink_to(fifo)
    ruleset = load_rules([feature_pack])
    followed = opened.is_set()
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # let the writer go
    thread.join(DEADLINE)
    assert not followed
    assert ruleset.pack.name == "features"


def test_a_relative_xdg_cache_home_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feature_pack: Path
) -> None:
    """A relative XDG_CACHE_HOME is invalid (XDG spec): a cloned repository must not supply one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "repo-cache")
    monkeypatch.delenv("XIESHANG_NO_CACHE", raising=False)
    packcache.clear_memory()
    load_rules([feature_pack])
    packcache.clear_memory()
    assert not (tmp_path / "repo-cache").exists()
    assert list((tmp_path / "home" / ".cache" / "xieshang").glob("*.json"))


def test_the_disk_cache_stays_bounded(cache: Path, tmp_path: Path) -> None:
    for n in range(packcache.MAX_DISK_ENTRIES + 4):  # one pack edited again and again
        generate_pack(tmp_path / f"gen{n}", 5 + n, seed=n)
        packcache.clear_memory()
        load_rules([tmp_path / f"gen{n}"])
        time.sleep(0.01)  # distinct modification times
    entries = sorted(cache.glob("*.json"), key=lambda p: p.stat().st_mtime)
    assert len(entries) == packcache.MAX_DISK_ENTRIES
    assert entries[-1].name == f"{key_of(tmp_path / f'gen{packcache.MAX_DISK_ENTRIES + 3}')}.json"


def test_the_built_in_pack_round_trips_through_a_cache_entry() -> None:
    """Every class a compiled pack holds must be cacheable: a new model class missing from the
    cache's list would make every start-up a silent miss (it did once: the plan's PlanSpec)."""
    ruleset = load_rules()
    key = "f" * 64
    decoded = packcache.loads(key, packcache.dumps(key, ruleset.pack, ruleset.compiled))
    assert decoded is not None
    pack, compiled = decoded
    assert pack == ruleset.pack
    assert compiled == ruleset.compiled
