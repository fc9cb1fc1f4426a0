"""Generate schemas/rules.schema.json and schemas/tests.schema.json.

Run ``python tools/gen_rule_schemas.py`` to write them, ``--check`` to fail (exit 1) when the
committed files differ from what it would write (tests/test_operators.py does the same).

The operator list and the operator description come from the operator table,
engine.core.operators.OPERATORS: a new operator reaches the schema by regenerating it.

``x-error`` and ``x-hint`` map a JSON Schema keyword (``oneOf``, ``pattern``, ...) to the message
and hint that engine.load.loader shows when a value fails that keyword; ``{value}`` in them is replaced
by the value that failed.
"""

import json
import sys
from pathlib import Path

from engine.core.operators import OPERAND_WORDS, OPERATORS

OPS = list(OPERATORS)


def operator_description():
    """Each operator with the value it takes, grouped by that value's kind, in table order.

    >>> operator_description().split("; ")[2]
    'between not_between: [low, high] (inclusive)'
    """
    groups = {}
    for op in OPERATORS.values():
        groups.setdefault(op.operand, []).append(op.name)
    takes = "; ".join(
        f"{' '.join(names)}: {OPERAND_WORDS[operand]}" for operand, names in groups.items()
    )
    return f"The test (docs/rules.md). Its value or param: {takes}."


UNITS = ["money", "percent", "days", "integer", "number", "date", "text", "boolean"]
PLAN_FIELDS = [
    "strategy",
    "pay_now",
    "monthly_payment",
    "months",
    "months_at_contract_rate",
    "monthly_interest",
    "covers_interest",
    "why",
]
URGENCY = ["immediate", "this_week", "before_due", "ongoing"]
IDENT = r"^[a-z][a-z0-9_]*$"
SOURCE = r"^(guide §\d+(\.\d+)*|brief \d+\.\d+)(; ?(guide §\d+(\.\d+)*|brief \d+\.\d+))*$"


def ident(**extra):
    """A lower_snake_case name (ids, action codes, parameter names, pack names)."""
    return {
        "type": "string",
        "pattern": IDENT,
        **extra,
        "x-error": {"pattern": "{value} is not lower_snake_case"},
        "x-hint": {"pattern": "use a-z, 0-9 and _, starting with a letter"},
    }


def source(**extra):
    """A citation: guide §x.y or brief n.m, several separated by ';'."""
    return {
        "type": "string",
        "pattern": SOURCE,
        **extra,
        "x-error": {"pattern": "{value} is not a source citation"},
        "x-hint": {
            "pattern": "write 'guide §x.y' or 'brief n.m'; several as 'guide §2.2; brief 1.5'"
        },
    }


LOCALE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"  # engine.pack.model.LOCALE_PATTERN


def locale_tag():
    """A locale tag (BCP 47): zh-CN, en, fr, pt-BR."""
    return {
        "type": "string",
        "pattern": LOCALE,
        "x-error": {"pattern": "{value} is not a locale tag"},
        "x-hint": {"pattern": "write a language tag such as 'zh-CN', 'en' or 'fr'"},
    }


def text_pair(desc):
    """A text per locale; which locales is the pack's ``locales:`` (checked when it loads)."""
    return {
        "type": "object",
        "description": desc + " One text per locale of the pack (pack: locales:).",
        "minProperties": 1,
        "propertyNames": locale_tag(),
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 2000},
        "x-error": {"minProperties": "a text is written in each of the pack's locales"},
    }


scalar = {"type": ["string", "number", "boolean"]}
rules_schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://xieshang.invalid/schemas/rules.schema.json",
    "title": "xieshang rule-pack file",
    "description": "A file of a rule pack: pack.yaml (pack), parameters.yaml (parameters) or a rule file (rules). See docs/rules.md.",
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "x-error": {
        "type": "a rule-pack file is a mapping with 'pack:', 'parameters:' or 'rules:'",
        "minProperties": "a rule-pack file is a mapping with 'pack:', 'parameters:' or 'rules:'",
    },
    "properties": {
        "pack": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "version"],
            "properties": {
                "name": ident(),
                "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?$"},
                "description": {"type": "string"},
                "locales": {
                    "type": "array",
                    "description": "The locales every text of the pack is written in, the default first (docs/rules.md 'Locales'; default [zh-CN, en]).",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": locale_tag(),
                },
                "plan": {
                    "type": "object",
                    "description": "The derived facts that make the advice's 'plan' (SPEC §7.2; docs/rules.md 'The plan').",
                    "additionalProperties": False,
                    "required": ["budget", "allocated", "loan", "why"],
                    "properties": {
                        "budget": {
                            "type": "string",
                            "description": "situation fact (money): the monthly budget for the plan",
                        },
                        "allocated": {
                            "type": "string",
                            "description": "situation fact (money): the sum the entries pay monthly",
                        },
                        "loan": {
                            "type": "object",
                            "description": "per-loan fact (loan.*) for each field of a plan entry",
                            "additionalProperties": False,
                            "required": PLAN_FIELDS,
                            "properties": {
                                f: {"type": "string", "pattern": r"^loan\."} for f in PLAN_FIELDS
                            },
                        },
                        "name": {
                            "type": "object",
                            "description": "per-loan text facts naming a loan as a person knows it, per locale of the pack (text and Markdown output)",
                            "minProperties": 1,
                            "propertyNames": locale_tag(),
                            "additionalProperties": {"type": "string", "pattern": r"^loan\."},
                        },
                        "why": {
                            "type": "object",
                            "description": "reason code (a value of the 'why' fact) -> the sentence shown, a template",
                            "minProperties": 1,
                            "propertyNames": ident(),
                            "additionalProperties": text_pair("the entry's one-sentence reason"),
                        },
                    },
                },
                "crisis": {
                    "type": "object",
                    "description": "What a person in crisis sees by default (SPEC §7.3; docs/rules.md 'The crisis card').",
                    "additionalProperties": False,
                    "required": ["when", "actions"],
                    "properties": {
                        "when": {
                            "type": "string",
                            "description": "situation fact (boolean): true shows the crisis card",
                        },
                        "actions": {
                            "type": "array",
                            "description": "the actions the crisis card may show, in rank order, at most 3",
                            "minItems": 1,
                            "uniqueItems": True,
                            "items": ident(),
                        },
                    },
                },
                "actions": {
                    "type": "array",
                    "description": "Action codes this pack adds to the SPEC catalogue, in tie-break order.",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "meaning"],
                        "properties": {
                            "code": ident(),
                            "meaning": {"type": "string"},
                        },
                    },
                },
            },
        },
        "parameters": {
            "type": "object",
            "propertyNames": ident(),
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["value", "source"],
                "properties": {
                    "value": {"oneOf": [scalar, {"type": "array", "minItems": 1, "items": scalar}]},
                    "unit": {"enum": UNITS},
                    "source": source(),
                    "note": {"type": "string"},
                },
            },
        },
        "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
    },
    "$defs": {
        "rule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "title", "source"],
            "oneOf": [
                {"required": ["recommend"]},
                {"required": ["derive"]},
                {"required": ["adjust"]},
                {"required": ["suppress"]},
            ],
            "x-error": {
                "oneOf": "a rule needs exactly one of 'recommend', 'derive', 'adjust' or 'suppress'"
            },
            "properties": {
                "id": ident(maxLength=100),
                "title": text_pair("Why the rule exists; shown as the reason."),
                "source": source(description="guide §x.y or brief n.m; several separated by ';'."),
                "about": {"enum": ["situation", "loan"], "default": "situation"},
                "note": {"type": "string", "description": "Free notes for rule authors."},
                "when": {"$ref": "#/$defs/condition"},
                "recommend": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["action", "priority", "urgency", "title", "message"],
                    "properties": {
                        "action": ident(),
                        "priority": {"type": "integer", "minimum": 0, "maximum": 1000},
                        "urgency": {"enum": URGENCY},
                        "title": text_pair("Action title template."),
                        "message": text_pair("Action message template."),
                        "common": text_pair(
                            "Said once after the per-loan messages of an 'about: loan' rule"
                            " (situation facts and parameters only)."
                        ),
                    },
                },
                "derive": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["fact", "value"],
                    "properties": {
                        "fact": {"type": "string", "pattern": r"^(loan\.)?[a-z][a-z0-9_]*$"},
                        "value": {
                            "type": ["string", "number", "boolean"],
                            "description": "An expression (docs/rules.md).",
                        },
                        "unit": {"enum": UNITS},
                        "summary": {"type": "boolean"},
                    },
                },
                "adjust": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["action", "by", "reason"],
                    "properties": {
                        "action": ident(),
                        "by": {
                            "type": "integer",
                            "minimum": -1000,
                            "maximum": 1000,
                            "not": {"const": 0},
                            "x-error": {"not": "an adjustment of 0 changes nothing"},
                        },
                        "reason": text_pair("Why the score changes."),
                    },
                },
                "suppress": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["action", "reason"],
                    "properties": {
                        "action": ident(),
                        "reason": text_pair("Why the action is removed."),
                    },
                },
            },
        },
        "condition": {
            "description": "A leaf {fact, op, value|param} or a group {all: [...]}, {any: [...]}, {not: ...}.",
            "type": "object",
            "if": {"required": ["all"]},
            "then": {
                "additionalProperties": False,
                "properties": {
                    "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}
                },
            },
            "else": {
                "if": {"required": ["any"]},
                "then": {
                    "additionalProperties": False,
                    "properties": {
                        "any": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/$defs/condition"},
                        }
                    },
                },
                "else": {
                    "if": {"required": ["not"]},
                    "then": {
                        "additionalProperties": False,
                        "properties": {"not": {"$ref": "#/$defs/condition"}},
                    },
                    "else": {"$ref": "#/$defs/leaf"},
                },
            },
        },
        "leaf": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fact", "op"],
            "properties": {
                "fact": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$"},
                "op": {"enum": OPS, "description": operator_description()},
                "value": {
                    "oneOf": [
                        scalar,
                        {"type": "array", "minItems": 1, "maxItems": 50, "items": scalar},
                    ]
                },
                "param": ident(),
            },
            "not": {"required": ["value", "param"]},
            "x-error": {"not": "a condition takes either 'value' or 'param', not both"},
        },
    },
}

tests_schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://xieshang.invalid/schemas/tests.schema.json",
    "title": "xieshang rule test file",
    "description": "YAML test cases for a rule pack (docs/rules.md, 'Testing rules').",
    "type": "object",
    "additionalProperties": False,
    "required": ["cases"],
    "properties": {
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "expect"],
                "oneOf": [{"required": ["situation"]}, {"required": ["situation_file"]}],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "note": {"type": "string"},
                    "situation": {"type": "object"},
                    "situation_file": {"type": "string"},
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {
                            "present": {"type": "array", "items": {"type": "string"}},
                            "absent": {"type": "array", "items": {"type": "string"}},
                            "rank": {
                                "type": "object",
                                "additionalProperties": {"type": "integer", "minimum": 1},
                            },
                            "order": {"type": "array", "minItems": 2, "items": {"type": "string"}},
                            "top": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string"},
                                "description": "The first actions, exactly, in this order.",
                            },
                            "fired": {"type": "array", "items": {"type": "string"}},
                            "not_fired": {"type": "array", "items": {"type": "string"}},
                            "suppressed": {"type": "array", "items": {"type": "string"}},
                            "derived": {"type": "object"},
                            "plan": {
                                "type": "object",
                                "description": "Figures of the advice's plan: budget, allocated, and per loan id the entry fields to compare (null: unknown).",
                                "additionalProperties": False,
                                "properties": {
                                    "budget": {"type": ["number", "null"]},
                                    "allocated": {"type": ["number", "null"]},
                                    "loans": {
                                        "type": "object",
                                        "additionalProperties": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "properties": {f: {} for f in PLAN_FIELDS},
                                        },
                                    },
                                },
                            },
                            "loan_ids": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "array",
                                    "items": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}

ROOT = Path(__file__).resolve().parent.parent / "schemas"


def generated():
    """File name → the text this generator writes."""
    return {
        f"{name}.schema.json": json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
        for name, schema in [("rules", rules_schema), ("tests", tests_schema)]
    }


def main(argv):
    stale = []
    for name, text in generated().items():
        path = ROOT / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(
            f"schemas out of date: {', '.join(stale)}; run python tools/gen_rule_schemas.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
