"""The README's worked examples are real: each ```console block is re-run and compared."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACK_README = (ROOT / "rules" / "jiebei" / "README.md").read_text(encoding="utf-8")
CONSOLE = r"```console\n\$ (xieshang [^\n]*)\n(.*?)```"
BLOCKS = re.findall(CONSOLE, README, flags=re.S) + re.findall(CONSOLE, PACK_README, flags=re.S)


def test_readme_has_worked_examples_in_both_languages() -> None:
    assert len(BLOCKS) >= 4  # two in README.md, two in rules/jiebei/README.md
    outputs = "".join(output for _, output in BLOCKS)
    assert (
        "1. 今天就联系贷款方，说明你愿意还、能还多少  [立即" in outputs
        and "Tell the lender before" in outputs
    )


@pytest.mark.parametrize(("command", "output"), BLOCKS, ids=[c for c, _ in BLOCKS])
def test_readme_example_output_is_current(
    runner: CliRunner, command: str, output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0
    assert result.stdout == output
