"""The JSON Schema files: well-formed Draft 2020-12, found by engine.core.schemas, and they mean it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.core.errors import UsageError
from engine.core.schemas import SCHEMA_NAMES, load_schema, schema_dir, validator

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILES = sorted((REPO / "schemas").glob("*.json"))
SPEC_EXAMPLE = REPO / "tests" / "fixtures" / "situations" / "spec_example.json"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_file_is_valid_draft_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    assert schema.get("$schema") == DRAFT_2020_12
    Draft202012Validator.check_schema(schema)


def test_schema_files_are_named_after_schema_names() -> None:
    names = {p.name.removesuffix(".schema.json") for p in SCHEMA_FILES}
    assert {"situation", "advice"} <= names
    assert names <= set(SCHEMA_NAMES)


def test_schema_dir_is_the_repository_copy_when_not_installed() -> None:
    assert (schema_dir() / "situation.schema.json").is_file()
    assert schema_dir().resolve() == (REPO / "schemas").resolve() or "_data" in schema_dir().parts


@pytest.mark.parametrize("name", ["situation", "advice"])
def test_load_schema_is_cached(name: str) -> None:
    assert load_schema(name) is load_schema(name)
    assert validator(name) is validator(name)
    assert load_schema(name)["$schema"] == DRAFT_2020_12


def test_unknown_schema_name_is_a_usage_error_with_a_hint() -> None:
    with pytest.raises(UsageError, match=r"unknown schema 'advise'.*did you mean 'advice'\?"):
        load_schema("advise")
    with pytest.raises(UsageError, match="expected one of: situation, advice, rules, tests"):
        validator("nothing")


def test_validator_enforces_date_format() -> None:
    situation = {
        "schema_version": 1,
        "as_of": "2026-02-30",
        "loans": [{"id": "a", "product": "jiebei"}],
    }
    assert [e.validator for e in validator("situation").iter_errors(situation)] == ["format"]


def test_validator_does_not_count_booleans_as_numbers() -> None:
    situation = {
        "schema_version": 1,
        "borrower": {"monthly_income": True, "dependants": False},
        "loans": [{"id": "a", "product": "jiebei"}],
    }
    errors = sorted(validator("situation").iter_errors(situation), key=lambda e: list(e.path))
    assert [(list(e.path), e.validator) for e in errors] == [
        (["borrower", "dependants"], "type"),
        (["borrower", "monthly_income"], "type"),
    ]


def test_spec_example_situation_validates() -> None:
    situation = json.loads(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    validator("situation").validate(situation)


# --- advice ------------------------------------------------------------------------------------


def _minimal_advice() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "engine": {"name": "xieshang", "version": "0.1.0"},
        "ruleset": {"name": "jiebei", "version": "2026.11", "digest": DIGEST},
        "situation_digest": DIGEST,
        "as_of": "2026-11-28",
        "locale": "zh-CN",
        "summary": {},
        "plan": {"budget": None, "allocated": None, "loans": []},
        "recommendations": [],
        "suppressed": [],
        "derived": {"situation": {}, "loans": {}},
    }


def _full_advice() -> dict[str, Any]:
    advice = _minimal_advice()
    advice["summary"] = {"total_overdue": 2100, "stage": "early", "distress": False, "x": None}
    advice["plan"] = {
        "budget": 2200,
        "allocated": 900,
        "loans": [
            {
                "loan_id": "jiebei",
                "strategy": "instalments",
                "pay_now": None,
                "monthly_payment": 900,
                "months": 24,
                "months_at_contract_rate": 27,
                "monthly_interest": 304.17,
                "covers_interest": True,
                "why": "…",
            }
        ],
    }
    advice["recommendations"] = [
        {
            "rank": 1,
            "action": "contact_lender",
            "score": 85,
            "urgency": "immediate",
            "title": "联系借呗客服",
            "message": "…",
            "loan_ids": ["jiebei"],
            "score_breakdown": [
                {"term": "priority", "value": 70, "rule_id": "contact.overdue"},
                {"term": "adjustment", "value": 15, "rule_id": "contact.early", "reason": "early"},
            ],
            "reasons": [
                {
                    "rule_id": "contact.overdue",
                    "title": "Overdue and not in contact",
                    "source": "guide §2.2",
                    "location": "rules/jiebei/contact.yaml:12",
                    "loan_id": "jiebei",
                    "conditions": [
                        {
                            "fact": "loan.days_overdue",
                            "op": ">",
                            "expected": 0,
                            "actual": 18,
                            "result": True,
                            "location": "rules/jiebei/contact.yaml:15",
                        },
                        {
                            "fact": "contact.contacted_lender",
                            "op": "==",
                            "expected": False,
                            "actual": None,
                            "result": None,
                            "location": "rules/jiebei/contact.yaml:16",
                        },
                    ],
                    "derived_from": [
                        {
                            "fact": "loan.stage",
                            "loan_id": "jiebei",
                            "value": "early_overdue",
                            "rule_id": "stage.early",
                        }
                    ],
                }
            ],
        }
    ]
    advice["suppressed"] = [
        {
            "action": "pay_now",
            "rule_id": "pay.none",
            "reason": "nothing to pay with",
            "location": "rules/jiebei/pay.yaml:3",
        }
    ]
    advice["derived"] = {
        "situation": {"disposable_income": {"value": 2200, "rules": ["budget.disposable"]}},
        "loans": {"jiebei": {"stage": {"value": "early_overdue", "rules": ["stage.early"]}}},
    }
    advice["near_misses"] = [{"action": "request_extension", "anything": [1, 2]}]
    advice["trace"] = [{"event": "fired", "rule_id": "stage.early"}]
    return advice


def test_minimal_advice_validates() -> None:
    validator("advice").validate(_minimal_advice())


def test_full_advice_validates() -> None:
    validator("advice").validate(_full_advice())


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def _drop(doc: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return doc


REC = ("recommendations", 0)
REASON = (*REC, "reasons", 0)

BROKEN = {
    "wrong schema_version": (("schema_version",), 2),
    "other engine": (("engine", "name"), "other"),
    "short digest": (("situation_digest",), "sha256:abc"),
    "upper-case digest": (("ruleset", "digest"), "sha256:" + "A" * 64),
    "impossible as_of": (("as_of",), "2026-02-30"),
    "unknown locale": (("locale",), "French"),
    "extra top-level field": (("extra",), 1),
    "summary value is a list": (("summary", "list"), [1]),
    "rank 0": ((*REC, "rank"), 0),
    "action with capitals": ((*REC, "action"), "Contact_Lender"),
    "unknown urgency": ((*REC, "urgency"), "soon"),
    "repeated loan ids": ((*REC, "loan_ids"), ["jiebei", "jiebei"]),
    "unknown score term": ((*REC, "score_breakdown", 0, "term"), "bonus"),
    "extra recommendation field": ((*REC, "extra"), True),
    "no reasons": ((*REC, "reasons"), []),
    "location without line": ((*REASON, "location"), "rules/jiebei/contact.yaml"),
    "loan_id is a number": ((*REASON, "loan_id"), 7),
    "result is a string": ((*REASON, "conditions", 0, "result"), "yes"),
    "extra condition field": ((*REASON, "conditions", 0, "extra"), 1),
    "derived entry without rules": (("derived", "situation", "disposable_income", "rules"), []),
    "derived value is an object": (("derived", "loans", "jiebei", "stage", "value"), {}),
    "extra derived section": (("derived", "other"), {}),
    "suppressed without location": (("suppressed", 0, "location"), ""),
    "near_misses item not an object": (("near_misses",), ["x"]),
    "trace is an object": (("trace",), {}),
    "plan strategy not in SPEC §7.2": (("plan", "loans", 0, "strategy"), "payday_loan"),
    "plan months a fraction": (("plan", "loans", 0, "months"), 2.5),
    "plan negative monthly payment": (("plan", "loans", 0, "monthly_payment"), -1),
    "plan entry extra field": (("plan", "loans", 0, "extra"), 1),
    "plan budget is text": (("plan", "budget"), "2200"),
}


@pytest.mark.parametrize(("path", "value"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_advice_is_invalid(path: tuple[str | int, ...], value: object) -> None:
    broken = _set(_full_advice(), path, value)
    assert not validator("advice").is_valid(broken)


@pytest.mark.parametrize(
    "path",
    [
        ("engine",),
        ("situation_digest",),
        ("derived",),
        ("derived", "loans"),
        (*REC, "score_breakdown"),
        (*REASON, "title"),
        (*REASON, "loan_id"),
        (*REASON, "conditions", 0, "location"),
        (*REASON, "derived_from", 0, "rule_id"),
        ("suppressed", 0, "reason"),
        ("plan",),
        ("plan", "loans", 0, "covers_interest"),
    ],
    ids=lambda p: ".".join(map(str, p)),
)
def test_advice_without_a_required_field_is_invalid(path: tuple[str | int, ...]) -> None:
    assert not validator("advice").is_valid(_drop(_full_advice(), path))


def test_optional_advice_fields_may_be_absent() -> None:
    advice = _drop(_drop(_full_advice(), ("near_misses",)), ("trace",))
    advice = _drop(advice, (*REC, "score_breakdown", 1, "reason"))
    validator("advice").validate(advice)
