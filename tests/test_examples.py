"""Each example's text advice matches its expected output (regenerate with `make examples`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.json"))


def test_there_are_at_least_six_examples() -> None:
    assert len(EXAMPLES) >= 6
    assert all(p.with_suffix(".expected.txt").exists() for p in EXAMPLES)


@pytest.mark.parametrize("situation", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_text_output_is_as_expected(runner: CliRunner, situation: Path) -> None:
    result = runner.invoke(app, ["advise", str(situation)])
    assert result.exit_code == 0, result.stderr
    expected = situation.with_suffix(".expected.txt").read_text(encoding="utf-8")
    assert result.stdout == expected, f"run `make examples` if {situation.name} changed on purpose"
