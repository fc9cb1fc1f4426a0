"""durable_rules and the pure-Python reference evaluation agree, for every rule and every test
situation of the default pack (its YAML cases and the examples)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.reference import reference_run
from engine.run import run
from engine.situation import normalise, validate_situation
from engine.testing import load_cases, test_files

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "rules" / "jiebei"


def _situations() -> list[tuple[str, dict[str, Any]]]:
    found = [(f"case: {c.name}", c.situation) for c in load_cases(test_files([PACK / "tests"]))]
    for path in sorted((ROOT / "examples").glob("*.json")):
        found.append((f"example: {path.name}", json.loads(path.read_text(encoding="utf-8"))))
    return found


SITUATIONS = _situations()


def test_there_are_situations_to_compare() -> None:
    assert len(SITUATIONS) >= 2


@pytest.mark.slow  # every shipped situation
@pytest.mark.parametrize(("name", "sit"), SITUATIONS, ids=[n for n, _ in SITUATIONS])
def test_engine_and_reference_agree(
    default_rules: engine.RuleSet, name: str, sit: dict[str, Any]
) -> None:
    normal = normalise(validate_situation(sit, name), dt.date(2026, 11, 28))
    fired = run(default_rules.runtime, normal)
    expected = reference_run(default_rules.compiled, normal)
    rules = default_rules.compiled.rules

    def ids(result: Any) -> list[tuple[str, str | None]]:
        return [(rules[f.rule_index].rule.id, f.loan_id) for f in result.firings]

    assert ids(fired) == ids(expected)
    assert fired.memory.values == expected.memory.values


@pytest.mark.slow  # every shipped situation
def test_the_explanation_agrees_with_what_fired(default_rules: engine.RuleSet) -> None:
    """Every reason's three-valued condition tree is true: explanations never contradict."""
    from engine.explain import evaluate_condition

    for name, sit in SITUATIONS:
        decision = engine.evaluate(default_rules, sit)
        for firing in decision.firings:
            rule = default_rules.compiled.rules[firing.rule_index].rule
            if rule.when is not None:
                truth, _ = evaluate_condition(rule.when, decision.memory, firing.loan_id)
                assert truth is True, (name, rule.id, firing.loan_id)


@pytest.mark.slow  # every shipped situation, schema-validated
@pytest.mark.parametrize(("name", "sit"), SITUATIONS, ids=[n for n, _ in SITUATIONS])
def test_advice_for_every_shipped_situation_is_valid(
    default_rules: engine.RuleSet, name: str, sit: dict[str, Any]
) -> None:
    """The SPEC §4 contract holds for the default pack on every case and example."""
    import jsonschema

    from engine.schemas import load_schema

    for locale in ("zh-CN", "en"):
        advice = engine.evaluate(default_rules, sit, locale=locale).to_advice(
            trace=True, near_misses=True
        )
        jsonschema.validate(advice, load_schema("advice"))
