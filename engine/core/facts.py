"""The fact vocabulary: every input fact a rule may test, read from the situation schema.

Facts are named by their path in the situation (``borrower.monthly_income``); loan fields are
``loan.<field>`` (``loan.status.legal``). The schema's ``x-unit`` annotation gives each fact its
unit,
which decides its type, how a template shows it and which operators apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from engine.core.schemas import load_schema

FactType = Literal["number", "boolean", "text", "date", "list"]
Unit = Literal["money", "percent", "days", "integer", "number", "date", "text", "boolean"]
Scope = Literal["situation", "loan"]

UNIT_TYPES: Mapping[str, FactType] = {
    "money": "number",
    "percent": "number",
    "days": "number",
    "integer": "number",
    "number": "number",
    "date": "date",
    "text": "text",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class FactSpec:
    """What the engine knows about one fact."""

    name: str
    type: FactType
    unit: Unit
    scope: Scope
    enum: tuple[str, ...] | None = None  #: allowed values (of the items, for a list)
    derived: bool = False
    description: str = ""


def _walk(schema: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key, sub in schema.get("properties", {}).items():
        name = f"{prefix}{key}"
        if sub.get("type") == "object":
            yield from _walk(sub, f"{name}.")
        elif "x-unit" in sub:
            yield name, sub


def _spec(name: str, sub: Mapping[str, Any], scope: Scope) -> FactSpec:
    unit: Unit = sub["x-unit"]
    if sub.get("type") == "array":
        items = sub["items"]
        return FactSpec(
            name,
            "list",
            unit,
            scope,
            tuple(items.get("enum", ())) or None,
            description=sub.get("description", ""),
        )
    enum = tuple(sub["enum"]) if "enum" in sub else None
    return FactSpec(
        name, UNIT_TYPES[unit], unit, scope, enum, description=sub.get("description", "")
    )


@cache
def input_facts() -> Mapping[str, FactSpec]:
    """Every input fact of the situation schema, by name, in schema order."""
    schema = load_schema("situation")
    facts: dict[str, FactSpec] = {}
    for name, sub in _walk(schema, ""):
        facts[name] = _spec(name, sub, "situation")
    loan_schema = schema["properties"]["loans"]["items"]
    for name, sub in _walk(loan_schema, "loan."):
        facts[name] = _spec(name, sub, "loan")
    return facts


def scope_of(name: str) -> Scope:
    """Loan facts (input or derived) start with ``loan.``; everything else is situation-level."""
    return "loan" if name.startswith("loan.") else "situation"
