"""One pack option for every command that loads a pack: ``--rules DIR`` (repeatable). The old
forms (a pack directory as an argument; ``rules diff OLD NEW``) still work, with a one-line note on
stderr and the same output and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.audit.helpers import LINTPACK, PACK, UNKNOWN_INCOME, run

NOTE = "xieshang: note: a pack directory as an argument is deprecated: use --rules {}\n"


@pytest.mark.parametrize(
    ("command", "pack"),
    [(["rules", "validate"], PACK), (["rules", "test"], PACK), (["rules", "lint"], LINTPACK)],
    ids=["validate", "test", "lint"],
)
def test_pack_commands_take_rules_and_still_accept_a_directory_argument(
    command: list[str], pack: Path
) -> None:
    new = run(*command, "--rules", pack)
    old = run(*command, pack)
    assert new.stdout and old.stdout == new.stdout
    assert old.exit_code == new.exit_code
    assert old.stderr == NOTE.format(pack) + new.stderr
    assert "deprecated" not in new.stderr


def test_every_command_that_loads_a_pack_has_the_same_rules_option() -> None:
    commands = [
        ["advise"],
        ["explain"],
        ["replay"],
        ["batch"],
        ["rules", "validate"],
        ["rules", "test"],
        ["rules", "lint"],
        ["rules", "diff"],
        ["rules", "show"],
        ["rules", "list"],
    ]
    for command in commands:
        text = run(*command, "--help").stdout
        assert "--rules DIR" in text, command
        assert "Rule pack directory (repeatable)" in " ".join(text.split()), command


def test_rules_diff_takes_old_and_rules(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(UNKNOWN_INCOME.read_text(encoding="utf-8").replace("\n", "") + "\n")
    new = run("rules", "diff", "--old", PACK, "--rules", PACK, "--corpus", corpus)
    old = run("rules", "diff", PACK, PACK, "--corpus", corpus)
    assert new.exit_code == old.exit_code == 0, new.stderr
    assert new.stdout == old.stdout and new.stderr == ""
    assert old.stderr == (
        f"xieshang: note: OLD NEW arguments are deprecated: use --old {PACK} --rules {PACK}\n"
    )
    report = json.loads(
        run(
            "rules", "diff", "--old", PACK, "--rules", PACK, "--corpus", corpus, "--format", "json"
        ).stdout
    )
    assert [item["changes"] for item in report["situations"]] == [[]]


def test_rules_diff_without_the_old_pack_is_a_usage_error(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("{}\n")
    result = run("rules", "diff", "--corpus", corpus)
    assert result.exit_code == 2
    assert result.stderr == (
        "xieshang: error: give the old pack with --old DIR (and the new one with --rules DIR)\n"
    )
    mixed = run("rules", "diff", PACK, PACK, "--old", PACK, "--corpus", corpus)
    assert mixed.exit_code == 2
    assert "(OLD NEW is deprecated)" in mixed.stderr and mixed.stdout == ""
