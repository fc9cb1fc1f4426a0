"""The engine's plan mechanism: a pack's ``plan:`` becomes the advice's ``plan`` (SPEC §7.2), in
JSON, text and Markdown; a pack without one gets an empty plan; unknown facts become null."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import engine
from cli.main import app
from engine.core.schemas import validator

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "rules" / "plan_value"  # a plan pack, one bad literal

SITUATION: dict[str, Any] = {
    "schema_version": 1,
    "as_of": "2026-11-28",
    "borrower": {"monthly_income": 5000, "monthly_essential_expenses": 3000},
    "loans": [
        {"id": "a", "product": "jiebei", "outstanding_balance": 1000, "days_overdue": 3},
        {"id": "b", "product": "huabei"},
    ],
}


def plan_pack(tmp_path: Path) -> Path:
    """The plan_value fixture with its one error fixed: a valid pack with a plan."""
    root = tmp_path / "planpack"
    shutil.copytree(FIXTURE, root)
    rules = root / "rules.yaml"
    rules.write_text(rules.read_text().replace("'instalment'", "'none'"), encoding="utf-8")
    return root


def test_a_pack_plan_becomes_the_advice_plan(tmp_path: Path) -> None:
    ruleset = engine.load_rules([plan_pack(tmp_path)])
    advice = engine.evaluate(ruleset, SITUATION, locale="en").to_advice()
    validator("advice").validate(advice)
    assert advice["plan"]["budget"] == 2000
    first, second = advice["plan"]["loans"]
    assert first == {
        "loan_id": "a",
        "strategy": "instalments",
        "pay_now": 100,
        "monthly_payment": 100,
        "months": 100,
        "months_at_contract_rate": 100,
        "monthly_interest": 100,
        "covers_interest": None,  # an input fact the situation leaves out: unknown, not false
        "why": "Pay ¥100.00 a month.",
    }
    # no balance: every figure computed from it is unknown, and the strategy's test is unknown too
    assert second["monthly_payment"] is None and second["months"] is None
    assert second["strategy"] is None
    zh = engine.evaluate(ruleset, SITUATION, locale="zh-CN").to_advice()
    assert zh["plan"]["loans"][0]["why"] == "每月还 ¥100.00。"


def test_a_pack_without_a_plan_gets_an_empty_plan(make_pack: Any) -> None:
    root = make_pack(
        """
        rules:
          - id: r
            title: {en: t, zh-CN: t}
            source: guide §2.1
            recommend:
              action: build_budget
              priority: 1
              urgency: this_week
              title: {en: t, zh-CN: t}
              message: {en: m, zh-CN: m}
        """
    )
    advice = engine.evaluate(engine.load_rules([root]), SITUATION).to_advice()
    assert advice["plan"] == {"budget": None, "allocated": None, "loans": []}
    validator("advice").validate(advice)


def test_text_and_markdown_show_the_plan_by_the_names_a_person_knows() -> None:
    runner = CliRunner()
    example = str(ROOT / "examples" / "income-cut-several-debts.json")
    text = runner.invoke(app, ["advise", example, "--lang", "en"])
    assert text.exit_code == 0
    plan = text.stdout.split("Your plan:\n", 1)[1]
    assert "  - For unsecured debts: ¥2,000.00 a month; the plan uses ¥1,999.00\n" in plan
    assert "  - 借呗 (Jiebei): Your share of the budget, ¥666.00 a month" in plan
    markdown = runner.invoke(app, ["advise", example, "--format", "markdown"])
    assert (
        "## 你的还款计划\n\n- 每月可用于无抵押债务 ¥2,000.00，计划用 ¥1,999.00\n- 建设银行: "
        in (markdown.stdout)
    )
    assert "\n- 借呗: 你分给这笔的预算每月 ¥666.00" in markdown.stdout


@pytest.mark.slow  # a subprocess
def test_the_installed_command_emits_the_plan() -> None:
    xieshang = ROOT / ".venv" / "bin" / "xieshang"
    example = ROOT / "examples" / "income-cut-several-debts.json"
    done = subprocess.run(
        [str(xieshang), "advise", str(example), "--format", "json"],
        capture_output=True,
        check=True,
        text=True,
    )
    plan = json.loads(done.stdout)["plan"]
    assert [e["strategy"] for e in plan["loans"]] == [
        "priority_debt",
        "instalments",
        "instalments",
        "personalized_instalments",
    ]
    assert plan["allocated"] <= plan["budget"]
