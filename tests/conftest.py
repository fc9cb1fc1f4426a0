"""Shared fixtures: the default rule pack, a factory for small packs, and a CLI runner."""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
from hypothesis import settings
from typer.testing import CliRunner

import engine

# Property tests draw the same examples on every run, so CI cannot pass or fail by chance; set
# XIESHANG_HYPOTHESIS=random to explore new examples locally.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("random", database=None)
settings.load_profile(os.environ.get("XIESHANG_HYPOTHESIS", "ci"))

# Keep the compiled-pack cache of this test run out of the user's home (subprocesses inherit it).
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="xieshang-tests-cache-")

# typer's CliRunner rebuilds the Click command tree from the Typer app on every invoke (reading
# every command's signature and type hints: about half of a quick command's time). A process
# builds it once; so do the tests: one tree per app object, reused by every invoke.
_commands: dict[int, tuple[typer.Typer, Any]] = {}


def _command_of(app: typer.Typer) -> Any:
    if id(app) not in _commands:
        _commands[id(app)] = (app, typer.main.get_command(app))  # holds the app: ids stay unique
    return _commands[id(app)][1]


typer.testing._get_command = _command_of  # type: ignore[attr-defined]

# --doctest-modules imports every module under tests/: the fixtures' scripts run when imported.
collect_ignore_glob = ["fixtures/*"]

PACK_YAML = "pack:\n  name: testpack\n  version: 1.0.0\n"

PackFactory = Callable[..., Path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Property tests (hypothesis) are ``slow``: ``make test-fast`` leaves them out. Subprocess,
    scale and thread tests carry the marker themselves."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m "not slow"`` (``make test-fast``) a module whose every test is slow
    (``pytestmark = pytest.mark.slow``) is not imported at all, only for its tests to be
    deselected: tests/test_distributed.py alone imports Dask, pandas and pyarrow (seconds)."""
    if config.getoption("markexpr") != "not slow" or collection_path.suffix != ".py":
        return None
    if "\npytestmark = pytest.mark.slow" in collection_path.read_text(encoding="utf-8"):
        return True
    return None


@pytest.fixture(scope="session")
def default_rules() -> engine.RuleSet:
    return engine.load_rules()


@pytest.fixture
def make_pack(tmp_path: Path) -> PackFactory:
    """Write a pack: ``make_pack(rules_yaml, parameters=None, name="pack")`` → its directory."""

    def factory(rules: str, parameters: str | None = None, name: str = "pack") -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "pack.yaml").write_text(PACK_YAML, encoding="utf-8")
        (root / "rules.yaml").write_text(textwrap.dedent(rules), encoding="utf-8")
        if parameters is not None:
            (root / "parameters.yaml").write_text(textwrap.dedent(parameters), encoding="utf-8")
        return root

    return factory


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


_SHIPPED = Path(__file__).resolve().parent.parent
#: ``xieshang advise`` output for a shipped situation (examples/, the pack's scenarios), by
#: options: advice is byte-identical for the same input (tests/test_examples.py holds that), so
#: the text tests make each one once
_ADVICE_OUTPUTS: dict[tuple[Path, tuple[str, ...]], str] = {}


def advise_output(runner: CliRunner, situation: Path, *options: str) -> str:
    """What ``xieshang advise SITUATION OPTIONS`` prints (exit code 0 asserted); made once per
    shipped situation and options, every time for any other file (a test's own tmp files)."""
    from cli.main import app

    key = (situation, options)
    shipped = situation.resolve().is_relative_to(_SHIPPED)
    if not shipped or key not in _ADVICE_OUTPUTS:
        result = runner.invoke(app, ["advise", str(situation), *options])
        assert result.exit_code == 0, result.output
        _ADVICE_OUTPUTS[key] = result.stdout
    return _ADVICE_OUTPUTS[key]


def situation(**overrides: object) -> dict[str, object]:
    """A small valid situation; keyword arguments replace top-level fields."""
    base: dict[str, object] = {
        "schema_version": 1,
        "as_of": "2026-11-28",
        "loans": [{"id": "jiebei", "product": "jiebei"}],
    }
    base.update(overrides)
    return base
