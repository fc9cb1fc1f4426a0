"""The import contract of docs/architecture.md, checked with import-linter (pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contract_holds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No import cycles in engine/ or cli/; nothing in the engine imports the CLI; nothing below
    the façade imports it (every contract in ``[tool.importlinter]``)."""
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, report
    assert "Contracts: 6 kept, 0 broken." in report, report


LAZY_CHECK = """
import sys
import engine, engine.audit
print(sorted(m for m in ("engine.batch", "engine.distributed", "engine.audit.linting", "engine.audit.testing",
                         "yaml") if m in sys.modules))
"""


@pytest.mark.parametrize("name", ["engine", "engine.audit"])
def test_every_public_name_resolves(name: str) -> None:
    """The CLI's only doors into the engine: each name they list is there (some load on first
    use), and a name they do not list is an AttributeError."""
    import importlib

    module = importlib.import_module(name)
    for attribute in module.__all__:
        assert getattr(module, attribute) is not None, attribute
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = module.nothing_here


@pytest.mark.slow  # a subprocess: a fresh interpreter
def test_the_public_api_loads_batch_lint_and_yaml_only_when_used() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_the_doctests_of_every_module_run() -> None:
    """``pytest`` (and so ``make test`` and ``make test-fast``) collects the doctests of every
    module of the engine, the CLI and the tools."""
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pytest_options = options["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in pytest_options["addopts"].split()
    code_dirs = {p.parent.name for p in ROOT.glob("*/*.py")} - {"tests", "bench"}
    assert code_dirs == {"engine", "cli", "tools"}
    assert code_dirs <= set(pytest_options["testpaths"])
