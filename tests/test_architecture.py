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
    assert "Contracts: 4 kept, 0 broken." in report, report
