"""Working memory of one evaluation: fact values by (fact, loan), and who derived what.

Both the durable_rules driver (``engine.run``) and the pure-Python reference evaluation
(``engine.reference``) fill one of these; the ranking and the explanations read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import expr
from engine.errors import EvaluationError
from engine.expr import UNKNOWN
from engine.facts import FactSpec, input_facts
from engine.model import Derive, Rule

Key = tuple[str, str | None]  #: (fact name, loan id or None for situation facts)


@dataclass(frozen=True, order=True)
class Firing:
    """A rule that fired, for one loan or for the situation."""

    rule_index: int
    loan_index: int  #: -1 for situation rules
    loan_id: str | None = field(compare=False)


@dataclass
class Memory:
    values: dict[Key, Any]
    loans: list[str]
    derivations: dict[Key, list[tuple[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_situation(cls, situation: Mapping[str, Any]) -> Memory:
        """Every input fact of the vocabulary, known or UNKNOWN, for the situation and each loan."""
        loans = situation["loans"]
        values: dict[Key, Any] = {}
        for name, spec in input_facts().items():
            if spec.scope == "situation":
                values[(name, None)] = _lookup(situation, name.split("."))
            else:
                path = name.split(".")[1:]
                for loan in loans:
                    values[(name, loan["id"])] = _lookup(loan, path)
        return cls(values, [loan["id"] for loan in loans])

    def get(self, fact: str, loan: str | None) -> Any:
        return self.values.get((fact, loan if fact.startswith("loan.") else None), UNKNOWN)

    def loan_index(self, loan: str | None) -> int:
        return -1 if loan is None else self.loans.index(loan)

    def derive(
        self,
        rule: Rule,
        loan: str | None,
        parameters: Mapping[str, Any],
        facts: Mapping[str, FactSpec],
    ) -> tuple[Key, Any, bool]:
        """Compute a derive rule for one binding; returns (key, value, newly known)."""
        assert isinstance(rule.then, Derive)
        derive = rule.then
        value = self.compute(derive, loan, parameters)
        value = normalise(value, facts[derive.fact].unit)
        key: Key = (derive.fact, loan)
        self.derivations.setdefault(key, []).append((rule.id, value))
        if value is UNKNOWN:
            return key, value, False
        old = self.values.get(key, UNKNOWN)
        if old is UNKNOWN:
            self.values[key] = value
            return key, value, True
        if old != value:
            other = next(r for r, v in self.derivations[key] if v == old)
            where = f" for loan '{loan}'" if loan else ""
            raise EvaluationError(
                f"rules '{other}' and '{rule.id}' derive different values for"
                f" '{derive.fact}'{where}: {old!r} and {value!r}"
            )
        return key, value, False

    def compute(self, derive: Derive, loan: str | None, parameters: Mapping[str, Any]) -> Any:
        def lookup(name: str) -> Any:
            if name.startswith("params."):
                return parameters[name.removeprefix("params.")]
            return self.get(name, loan)

        loan_lookups = [self._loan_lookup(lid, lookup) for lid in self.loans]
        return expr.evaluate(derive.expr, lookup, loan_lookups)

    def _loan_lookup(self, loan: str, outer: Any) -> Any:
        def lookup(name: str) -> Any:
            return self.get(name, loan) if name.startswith("loan.") else outer(name)

        return lookup

    def close(self, fact: str, scope_loans: bool) -> list[Key]:
        """Mark a derived fact unknown wherever no rule derived it; returns the keys marked."""
        keys: list[Key] = [(fact, lid) for lid in self.loans] if scope_loans else [(fact, None)]
        marked = [k for k in keys if self.values.get(k, UNKNOWN) is UNKNOWN]
        for key in marked:
            self.values[key] = UNKNOWN
        return marked


def normalise(value: Any, unit: str) -> Any:
    """Round a derived value by its unit, so outputs are stable (no 2199.9999999)."""
    if value is UNKNOWN or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if unit in ("days", "integer"):
        return round(value)
    rounded = round(value, 2 if unit == "money" else 6)
    return int(rounded) if float(rounded).is_integer() else rounded


def _lookup(data: Mapping[str, Any], path: list[str]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return UNKNOWN
        node = node[part]
    return UNKNOWN if node is None else node
