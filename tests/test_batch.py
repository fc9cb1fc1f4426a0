"""``xieshang batch``: JSON Lines in, one advice or error record per line out, in input order."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.api import RuleSet, evaluate, load_rules
from engine.batch import Options, advise_line, read_lines, run_batch
from engine.load.situation import MAX_BYTES
from tests.packgen import matching_situation, write_feature_pack


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_pack(tmp_path_factory.mktemp("batch") / "features")


@pytest.fixture(scope="module")
def rules(pack: Path) -> RuleSet:
    return load_rules([pack])


def situation(i: int) -> dict[str, Any]:
    sit = matching_situation(1 + i % 3)
    sit["loans"][0]["days_overdue"] = i % 40
    sit["borrower"]["distress"] = i % 7 == 0
    return sit


def jsonl(items: list[dict[str, Any] | str]) -> bytes:
    lines = [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in items]
    return ("\n".join(lines) + "\n").encode("utf-8")


def expected_advice(rules: RuleSet, sit: dict[str, Any]) -> dict[str, Any]:
    return evaluate(rules, sit).to_advice()


def test_read_lines_numbers_lines_and_strips_endings() -> None:
    stream = io.BytesIO(b'{"a":1}\r\n\n{"b":2}')
    assert list(read_lines(stream)) == [(1, b'{"a":1}'), (2, b""), (3, b'{"b":2}')]


def test_an_oversized_line_is_skipped_and_refused(rules: RuleSet) -> None:
    big = b"[" + b" " * (MAX_BYTES + 10) + b"]"
    stream = io.BytesIO(big + b"\n" + jsonl([situation(1)]))
    lines = list(read_lines(stream))
    assert lines[0] == (1, len(big)) and lines[1][0] == 2
    code, record = advise_line(rules, lines[0], Options(source="in.jsonl"))
    assert code == 2
    error = json.loads(record)
    assert error["line"] == 1 and "larger than the limit" in error["error"]["message"]
    assert advise_line(rules, lines[1], Options())[0] == 0


def test_cli_batch_in_order_with_error_records(
    runner: CliRunner, pack: Path, rules: RuleSet, tmp_path: Path
) -> None:
    items: list[dict[str, Any] | str] = [situation(i) for i in range(6)]
    items[2] = "{not json"
    items[4] = '{"schema_version": 1, "loans": []}'
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(items))
    result = runner.invoke(app, ["batch", str(source), "--rules", str(pack)])
    assert result.exit_code == 2, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 6
    for i, record in enumerate(out):
        if i in (2, 4):
            assert record["line"] == i + 1
            assert record["error"]["code"] == 2
            assert record["error"]["message"].startswith(f"{source}:{i + 1}: $")
        else:
            assert record == expected_advice(rules, items[i])  # type: ignore[arg-type]
    assert "xieshang: batch: 6 situations, 2 errors" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_batch_exit_0_and_output_file(runner: CliRunner, pack: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl([situation(i) for i in range(3)]))
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["batch", str(source), "-o", str(target), "--rules", str(pack)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(json.loads(x)["schema_version"] == 1 for x in lines)
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not the temp file's mode
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_batch_reads_stdin(runner: CliRunner, pack: Path) -> None:
    result = runner.invoke(
        app, ["batch", "-", "--rules", str(pack)], input=jsonl([situation(0), "[]"])
    )
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert json.loads(lines[1])["error"]["message"].startswith("<stdin>:2: $")


def test_cli_batch_missing_input_and_broken_rules(
    runner: CliRunner, pack: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    missing = runner.invoke(
        app, ["batch", str(tmp_path / "nope.jsonl"), "-o", str(target), "--rules", str(pack)]
    )
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pack.yaml").write_text("pack: {name: x}\n", encoding="utf-8")
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl([situation(0)]))
    result = runner.invoke(app, ["batch", str(source), "--rules", str(broken)])
    assert result.exit_code == 2 and result.stdout == ""


@pytest.mark.slow  # worker processes
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_give_the_same_output_in_order(
    rules: RuleSet, pack: Path, tmp_path: Path, method: str
) -> None:
    items: list[dict[str, Any] | str] = [situation(i) for i in range(150)]
    items[77] = "{}"
    data = jsonl(items)

    def collect(workers: int) -> tuple[list[str], Any]:
        out: list[str] = []
        summary = run_batch(
            rules,
            read_lines(io.BytesIO(data)),
            out.append,
            Options(source="in"),
            workers=workers,
            paths=[pack],
            start_method=method,
        )
        return out, summary

    one, summary_one = collect(1)
    two, summary_two = collect(2)
    assert one == two
    assert len(one) == 150 and json.loads(one[77])["line"] == 78
    assert (summary_two.lines, summary_two.errors, summary_two.exit_code) == (150, 1, 2)
    assert (summary_one.lines, summary_one.errors) == (150, 1)


def test_cli_batch_with_two_workers(runner: CliRunner, pack: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl([situation(i) for i in range(40)]))
    one = runner.invoke(app, ["batch", str(source), "--rules", str(pack)])
    two = runner.invoke(app, ["batch", str(source), "--rules", str(pack), "--workers", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout


def test_output_that_is_a_directory_is_refused_before_any_work(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"schema_version": 1, "loans": [{"id": "a", "product": "jiebei"}]}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "it is a directory" in result.stderr
    assert result.stdout == ""
