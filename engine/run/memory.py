"""Working memory of one evaluation: fact values by (fact, loan), and who derived what.

Both the durable_rules driver (``engine.run.driver``) and the pure-Python reference evaluation
(``engine.run.reference``) fill one of these; the ranking and the explanations read it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from engine.core.encoding import in_engine_range
from engine.core.errors import EvaluationError
from engine.core.facts import FactSpec, input_facts
from engine.core.values import UNKNOWN
from engine.pack import expr
from engine.pack.model import Derive, Rule

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
        situation_tree, loan_tree = _input_trees()
        _read(situation, situation_tree, None, values)
        for loan in loans:
            _read(loan, loan_tree, loan["id"], values)
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
        compiled: expr.Compiled | None = None,
    ) -> tuple[Key, Any, bool]:
        """Compute a derive rule for one binding; returns (key, value, newly known).

        ``compiled`` is ``expr.compile_expr(rule.then.expr)`` when the caller keeps one (the
        same value, faster); without it the tree is evaluated.
        """
        assert isinstance(rule.then, Derive)
        derive = rule.then
        value = self.compute(derive, loan, parameters, compiled)
        value = normalise(value, facts[derive.fact].unit)
        key: Key = (derive.fact, loan)
        self.derivations.setdefault(key, []).append((rule.id, value))
        if value is UNKNOWN:
            return key, value, False
        store = self._derived()
        old = store.get(key, UNKNOWN)
        if old is UNKNOWN:
            store[key] = value
            return key, value, True
        if old != value:
            other = next(r for r, v in self.derivations[key] if v == old)
            where = f" for loan '{loan}'" if loan else ""
            raise EvaluationError(
                f"rules '{other}' and '{rule.id}' derive different values for"
                f" '{derive.fact}'{where}: {old!r} and {value!r}"
            )
        return key, value, False

    def compute(
        self,
        derive: Derive,
        loan: str | None,
        parameters: Mapping[str, Any],
        compiled: expr.Compiled | None = None,
    ) -> Any:
        values = self.values

        def lookup(name: str) -> Any:
            if name.startswith("params."):
                return parameters[name.removeprefix("params.")]
            return values.get((name, loan if name.startswith("loan.") else None), UNKNOWN)

        loans = _LoanLookups(self, lookup)  # built only if an aggregate iterates it
        if compiled is None:
            return expr.evaluate(derive.expr, lookup, loans)
        return compiled(lookup, loans)

    def close(self, fact: str, scope_loans: bool) -> list[Key]:
        """Mark a derived fact unknown wherever no rule derived it; returns the keys marked."""
        keys: list[Key] = [(fact, lid) for lid in self.loans] if scope_loans else [(fact, None)]
        return self.mark_unknown(keys)

    def mark_unknown(self, keys: Sequence[Key]) -> list[Key]:
        """Set the derived facts of ``keys`` that no rule derived to UNKNOWN; returns those."""
        store = self._derived()
        marked = [k for k in keys if store.get(k, UNKNOWN) is UNKNOWN]
        for key in marked:
            store[key] = UNKNOWN
        return marked

    def _derived(self) -> dict[Key, Any]:
        """Where derived values are kept (and read): ``values`` itself here."""
        return self.values


class SituationMemory(Memory):
    """The working memory of a one-loan evaluation: the input facts read from the situation only
    when ``values`` is first read (ranking and explanations read it; a bare ``run`` does not).

    Until then derived values live in a dict of their own and ``get`` reads an input fact
    straight from the situation; ``values`` is then ``reader(situation, loan, loan_id)`` (exactly
    ``Memory.from_situation``'s values) followed by the derived ones in the order they were set,
    as a ``Memory`` filled by the same calls would hold them. It pickles (and copies) as a plain
    ``Memory``.
    """

    def __init__(
        self,
        situation: Mapping[str, Any],
        loan: Any,
        loan_id: str,
        reader: Callable[[Mapping[str, Any], Any, str], dict[Key, Any]],
    ) -> None:
        self.situation = situation
        self.loan = loan  #: the situation's only loan
        self._reader = reader
        self.loans = [loan_id]
        self.derivations = {}
        self._store: dict[Key, Any] = {}  #: derived values; ``values`` once that is read
        self._values: dict[Key, Any] | None = None

    @property
    def values(self) -> dict[Key, Any]:
        values = self._values
        if values is None:
            values = self._reader(self.situation, self.loan, self.loans[0])
            values.update(self._store)
            self._values = self._store = values
        return values

    @values.setter
    def values(self, values: dict[Key, Any]) -> None:
        self._values = self._store = values

    def _derived(self) -> dict[Key, Any]:
        return self._store

    @property
    def derived(self) -> dict[Key, Any]:
        """Where a run sets derived values, before ``values`` is read (the compiled backend's
        one-loan function writes into it directly)."""
        return self._store

    def get(self, fact: str, loan: str | None) -> Any:
        if self._values is not None:
            return super().get(fact, loan)
        path = _input_path(fact)
        if path is None:
            return self._store.get((fact, loan if fact.startswith("loan.") else None), UNKNOWN)
        situation_scope, steps = path
        if situation_scope:
            return _walk(self.situation, steps)
        return _walk(self.loan, steps) if loan == self.loans[0] else UNKNOWN

    def compute(
        self,
        derive: Derive,
        loan: str | None,
        parameters: Mapping[str, Any],
        compiled: expr.Compiled | None = None,
    ) -> Any:
        if self._values is not None:
            return super().compute(derive, loan, parameters, compiled)
        get = self.get

        def lookup(name: str) -> Any:
            if name.startswith("params."):
                return parameters[name.removeprefix("params.")]
            return get(name, loan)

        loans = _LoanLookups(self, lookup)
        if compiled is None:
            return expr.evaluate(derive.expr, lookup, loans)
        return compiled(lookup, loans)

    def __eq__(self, other: object) -> bool:  # as Memory's: the same values, loans, derivations
        if not isinstance(other, Memory):
            return NotImplemented
        return (self.values, self.loans, self.derivations) == (
            other.values,
            other.loans,
            other.derivations,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        values, loans, derivations = self.values, self.loans, self.derivations
        return f"Memory({values=!r}, {loans=!r}, {derivations=!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Memory, (self.values, self.loans, self.derivations))


def _walk(data: Any, steps: tuple[str, ...]) -> Any:
    """The value at ``steps`` inside ``data`` as ``_read`` reads it: UNKNOWN when absent, null or
    not inside an object."""
    for key in steps:
        if type(data) is dict or isinstance(data, Mapping):
            data = data.get(key)
        else:
            return UNKNOWN
    return UNKNOWN if data is None else data


@functools.cache
def _input_path_map() -> dict[str, tuple[bool, tuple[str, ...]]]:
    return {name: (situation_scope, path) for name, situation_scope, path in input_paths()}


def _input_path(fact: str) -> tuple[bool, tuple[str, ...]] | None:
    """(situation scope, path) of an input fact; None for a derived fact."""
    return _input_path_map().get(fact)


class _LoanLookups(Sequence[Callable[[str], Any]]):
    """Each loan's lookup for aggregates (``loan.*`` in that loan, else ``outer``), made on use."""

    __slots__ = ("_memory", "_outer")

    def __init__(self, memory: Memory, outer: Callable[[str], Any]) -> None:
        self._memory = memory
        self._outer = outer

    def __len__(self) -> int:
        return len(self._memory.loans)

    @overload
    def __getitem__(self, index: int) -> Callable[[str], Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Callable[[str], Any]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> Callable[[str], Any] | Sequence[Callable[[str], Any]]:
        if isinstance(index, slice):
            return [self._lookup(loan) for loan in self._memory.loans[index]]
        return self._lookup(self._memory.loans[index])

    def __iter__(self) -> Iterator[Callable[[str], Any]]:
        for loan in self._memory.loans:
            yield self._lookup(loan)

    def _lookup(self, loan: str) -> Callable[[str], Any]:
        get, outer = self._memory.get, self._outer

        def lookup(name: str) -> Any:
            return get(name, loan) if name.startswith("loan.") else outer(name)

        return lookup


def normalise(value: Any, unit: str) -> Any:
    """Round a derived value by its unit, so outputs are stable (no 2199.9999999).

    A number of magnitude 2**63 or more is unknown: it overflowed the engine's 64-bit numbers
    (``1100 / 1e-16``), and an overflow is unknown, never an error.
    """
    if value is UNKNOWN or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not in_engine_range(value):
        return UNKNOWN
    if unit in ("days", "integer"):
        return round(value)
    rounded = round(value, 2 if unit == "money" else 6)
    return int(rounded) if float(rounded).is_integer() else rounded


@functools.cache
def input_paths() -> tuple[tuple[str, bool, tuple[str, ...]], ...]:
    """(name, situation scope, path inside the situation or the loan) of every input fact: the
    situation's, then a loan's, in the order ``Memory.from_situation`` reads them (the compiled
    backend reads a situation along these)."""
    paths: list[tuple[str, bool, tuple[str, ...]]] = []

    def walk(tree: _Tree, prefix: tuple[str, ...], situation_scope: bool) -> None:
        for key, name, sub in tree:
            if name is not None:
                paths.append((name, situation_scope, (*prefix, key)))
            else:
                assert sub is not None
                walk(sub, (*prefix, key), situation_scope)

    situation_tree, loan_tree = _input_trees()  # the order in which from_situation reads
    walk(situation_tree, (), True)
    walk(loan_tree, (), False)
    return tuple(paths)


#: (key, fact name, None) for a leaf, (key, None, subtree) for an object: the input facts as
#: they nest in a situation or a loan, so that each object is looked up once, not once per leaf
_Tree = tuple[tuple[str, "str | None", "_Tree | None"], ...]


@functools.cache
def _input_trees() -> tuple[_Tree, _Tree]:
    """The input facts of the situation and of a loan, as trees of their paths (schema order)."""
    roots: dict[bool, dict[str, Any]] = {True: {}, False: {}}
    for name, spec in input_facts().items():
        parts = name.split(".")
        situation_scope = spec.scope == "situation"
        node = roots[situation_scope]
        path = parts if situation_scope else parts[1:]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = name

    def freeze(node: dict[str, Any]) -> _Tree:
        return tuple(
            (key, sub, None) if isinstance(sub, str) else (key, None, freeze(sub))
            for key, sub in node.items()
        )

    return freeze(roots[True]), freeze(roots[False])


def _read(data: Any, tree: _Tree, loan: str | None, values: dict[Key, Any]) -> None:
    """Every fact of ``tree`` from ``data``: its value, or UNKNOWN when absent, null or not
    inside an object."""
    mapping = type(data) is dict or isinstance(data, Mapping)
    for key, name, sub in tree:
        node = data.get(key) if mapping else None
        if name is not None:
            values[(name, loan)] = UNKNOWN if node is None else node
        else:
            assert sub is not None
            _read(node, sub, loan, values)
