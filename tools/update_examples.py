"""Regenerate examples/*.expected.txt from the current rules (run: make examples).

tests/test_examples.py checks that each example's text advice still matches its expected file;
after a deliberate change to the rules, run this and review the diff before committing.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    runner = CliRunner()
    for situation in sorted((ROOT / "examples").glob("*.json")):
        result = runner.invoke(app, ["advise", str(situation)])
        if result.exit_code != 0:
            raise SystemExit(f"{situation.name}: exit {result.exit_code}: {result.stderr}")
        target = situation.with_suffix(".expected.txt")
        target.write_text(result.stdout, encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
