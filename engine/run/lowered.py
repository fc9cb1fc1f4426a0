"""The compiled backend: a ``CompiledPack`` lowered once to straight-line Python.

``lower`` turns the compiled rules into Python functions, built node by node with the ``ast``
module and given to ``compile()``; nothing of the pack ever becomes source text. There are two:
one for a situation with exactly one loan (the common case: every value a local, the situation
read only as far as the rules read it; ``_Lowerer.module_one``), and one for any number of loans
(``_Lowerer.module``, lowered when first needed). Fact names, rule
ids, thresholds and units enter the tree only as ``ast.Constant`` values (or, for any other
value, as a global of the generated module under a name made here); every identifier is one this
module generates and checks (``_ident``). Parameters are read once, when lowering.

The function computes exactly what ``engine.run.reference.reference_run`` computes, in the same
order wherever order can be seen: levels in order; within a level the situation rules in the
pack's order, then the per-loan rules in one loop over the loans, each loan's rules in the pack's
order (so every (fact, loan) gets its derivations in the reference's order; should rules derive
different values, the reference is asked to report the conflict it meets first). Tests are
three-valued as in ``reference.test_holds``: a test passes only for a known value, ``unknown``
only for UNKNOWN; tests read an unknown value as ``NEVER``, which no comparison holds for, so
most need no known-value guard. Derive expressions are lowered inline with the value semantics
of ``engine.pack.expr.runtime`` (the helpers ``compile_expr`` uses), so they give exactly
``expr.evaluate``'s values. Unknown derived facts are closed at the end of each level like
``Memory.close``.

It fills the same ``Memory``, firings and trace structure as the durable_rules driver, so the
ranking and the explanations read it unchanged. durable_rules stays the engine of record: the
agreement tests check that all three (Rete, reference, compiled) give the same firings, values
and derivations.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from engine.compile.compiler import CompiledPack, Test
from engine.core import collector
from engine.core.encoding import INT64_MIN
from engine.core.errors import EvaluationError
from engine.core.values import UNKNOWN
from engine.pack.expr import AGGREGATES, Binary, Call, Literal_, Name, Node, Unary
from engine.pack.expr.runtime import (
    _AGGREGATE_FNS,
    _STRICT_FNS,
    _arithmetic,
    _compare,
    _finite,
    _is_number,
    _normalise,
)
from engine.pack.model import Derive
from engine.run.driver import RunResult
from engine.run.entities import reader
from engine.run.memory import Firing, Key, Memory, SituationMemory, input_paths, normalise
from engine.run.reference import reference_run

#: the function ``lower`` makes: (values, loans, loan indexes, derivations, firings.append)
Derivations = dict[Key, list[tuple[str, Any]]]
Fired = tuple[int, int, str | None]  #: (rule index, loan index, loan id): a Firing's fields
Lowered = Callable[
    [dict[Key, Any], list[str], Sequence[int], Derivations, Callable[[Fired], None]], None
]

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIRINGS_KEPT: Final = 1 << 16  #: firings remembered per program before starting afresh
_LOANS_KEPT: Final = 1 << 8  #: loan ids whose one-loan firings a program remembers
_PLAIN: Final = frozenset({int, str, bool})  #: types that ``_normalise`` returns unchanged
_BINOPS: Final[Mapping[str, ast.operator]] = {"+": ast.Add(), "-": ast.Sub(), "*": ast.Mult()}
_COMPARE_AST: Final[Mapping[str, ast.cmpop]] = {
    "==": ast.Eq(),
    "!=": ast.NotEq(),
    "<": ast.Lt(),
    "<=": ast.LtE(),
    ">": ast.Gt(),
    ">=": ast.GtE(),
    "in": ast.In(),
    "not_in": ast.NotIn(),
}


#: the single-loan function: (situation, loan, loan id, derived values, derivations, fire)
LoweredOne = Callable[
    [Mapping[str, Any], Any, str, dict[Key, Any], Derivations, Callable[[int], None]], None
]


@dataclass(frozen=True)
class Program:
    """A compiled pack lowered to Python functions (made by ``lower``)."""

    compiled: CompiledPack
    #: for a situation with exactly one loan, the common case (``_Lowerer.module_one``)
    one: LoweredOne
    #: rule index → (stage, rule id, the fact it derives or None, about the loan): what the
    #: trace shows, and the firing of a one-loan evaluation
    rules: tuple[tuple[int, str, str | None, bool], ...]
    #: level → the derived facts closed after it (``compiled.levels`` order)
    closing: tuple[tuple[str, ...], ...]
    #: the Firing of each (rule index, loan index, loan id) seen: they are immutable, so one
    #: instance serves every evaluation (making one costs more than evaluating a rule)
    firings: dict[Fired, Firing] = field(default_factory=dict)
    #: the function for any number of loans, lowered on first use (``function``)
    general: list[Lowered] = field(default_factory=list)
    #: loan id → rule index → the Firing of a one-loan evaluation, made when first seen
    one_firings: dict[str, dict[int, Firing]] = field(default_factory=dict)

    def firing(self, index: int, loan_id: str) -> Firing:
        """The Firing of rule ``index`` in a one-loan evaluation (its loan: ``loan_id``)."""
        made = self.one_firings
        if len(made) > _LOANS_KEPT:
            made.clear()
        about_loan = self.rules[index][3]
        firing = Firing(index, 0, loan_id) if about_loan else Firing(index, -1, None)
        return made.setdefault(loan_id, {}).setdefault(index, firing)

    @property
    def function(self) -> Lowered:
        """The function for any number of loans (``_Lowerer.module``), lowered when first
        needed: most situations have one loan, and lowering a large pack takes seconds."""
        if not self.general:
            name = f"<xieshang pack {self.compiled.pack.name}>"
            self.general[:] = [_build(self.compiled, lambda lowerer: lowerer.module(), "run", name)]
        return self.general[0]


def run(program: Program, situation: Mapping[str, Any]) -> RunResult:
    """Evaluate a normalised situation with the lowered function (``engine.run.driver.run``'s
    result).
    """
    loans = situation["loans"]
    try:
        if len(loans) == 1:
            loan = loans[0]
            loan_id = loan["id"]
            memory = SituationMemory(situation, loan, loan_id, reader())
            indexes: list[int] = []
            program.one(
                situation, loan, loan_id, memory.derived, memory.derivations, indexes.append
            )
            indexes.sort()  # one firing per rule: the order of Firing
            made = program.one_firings.get(loan_id, {})
            firings = [made.get(i) or program.firing(i, loan_id) for i in indexes]
            return LoweredResult(firings, memory, program)
        values, ids = _reader()(situation)
        general = Memory(values, ids)  # == Memory.from_situation(situation)
        unique = len(set(ids)) == len(ids)
        positions: Sequence[int] = range(len(ids)) if unique else [ids.index(i) for i in ids]
        fired: list[Fired] = []
        program.function(values, ids, positions, general.derivations, fired.append)
    except EvaluationError:
        # rules derive different values: the reference names the conflict it meets first
        reference_run(program.compiled, situation)
        raise

    fired.sort()  # (rule index, loan index, loan id): the order of Firing
    known = program.firings
    if len(known) > _FIRINGS_KEPT:
        known.clear()
    firings = [known.get(f) or known.setdefault(f, Firing(*f)) for f in fired]
    return LoweredResult(firings, general, program)


class LoweredResult(RunResult):
    """``RunResult`` whose trace is made when first read: most evaluations never read it."""

    def __init__(self, firings: list[Firing], memory: Memory, program: Program) -> None:
        self.firings = firings
        self.memory = memory
        self._program = program
        self._trace: list[dict[str, Any]] | None = None

    @property
    def trace(self) -> list[dict[str, Any]]:
        if self._trace is None:
            self._trace = _trace(self._program, self.firings, self.memory)
        return self._trace

    @trace.setter
    def trace(self, events: list[dict[str, Any]]) -> None:
        self._trace = events


def _trace(program: Program, firings: list[Firing], memory: Memory) -> list[dict[str, Any]]:
    """What happened, level by level: the rules that fired and the facts closed unknown.

    The same events as the durable_rules driver's trace (``fire`` with ``derived``, ``close``),
    in this backend's order; there are no engine shards, so no ``assert`` events.
    """
    fired: list[list[dict[str, Any]]] = [[] for _ in program.closing]
    rules = program.rules
    derivations = memory.derivations
    for firing in firings:
        stage, rule_id, fact, _ = rules[firing.rule_index]
        loan = firing.loan_id
        event: dict[str, Any] = {"op": "fire", "rule": rule_id, "loan": loan}
        if fact is not None:
            value = next(v for r, v in derivations[(fact, loan)] if r == rule_id)
            event["derived"] = {"fact": fact, "value": None if value is UNKNOWN else value}
        fired[stage].append(event)
    trace: list[dict[str, Any]] = []
    get, loans = memory.values.get, memory.loans
    for level, closing in enumerate(program.closing):
        trace += fired[level]
        if not closing:
            continue
        unknown: list[str] = []
        for fact in closing:
            if fact.startswith("loan."):
                unknown += [f"{fact}[{i}]" for i in loans if get((fact, i), UNKNOWN) is UNKNOWN]
            elif get((fact, None), UNKNOWN) is UNKNOWN:
                unknown.append(fact)
        trace.append({"op": "close", "level": level + 1, "unknown": unknown})
    return trace


class _Never:
    """What a test sees for an unknown value: every comparison with it is false, and it
    contains nothing. Tests on a fact thus need no known-value guard of their own (three-valued
    logic: a test on an unknown value is never true), except ``not in`` and ``not contains``."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return False

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return False

    def __ge__(self, other: object) -> bool:
        return False

    def __contains__(self, item: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "NEVER"


NEVER: Final = _Never()


# --- run-time helpers the generated code calls ------------------------------------------------


def _value(value: object) -> object:
    """A fact's value as an expression sees it (``compile_expr``'s name nodes)."""
    return value if type(value) in _PLAIN else _normalise(value)


def _not(value: object) -> object:
    return (not value) if isinstance(value, bool) else UNKNOWN


def _minus(value: object) -> object:
    return -value if _is_number(value) else UNKNOWN


def _strict(function: Callable[[Sequence[object]], object], values: list[object]) -> object:
    for value in values:
        if value is UNKNOWN:
            return UNKNOWN
    return _finite(function(values))


def _conflict(
    derivations: Mapping[Key, list[tuple[str, Any]]],
    key: Key,
    rule_id: str,
    old: Any,
    value: Any,
) -> None:
    """``Memory.derive``'s error for two rules deriving different values (same message)."""
    other = next(r for r, v in derivations[key] if v == old)
    where = f" for loan '{key[1]}'" if key[1] else ""
    raise EvaluationError(
        f"rules '{other}' and '{rule_id}' derive different values for"
        f" '{key[0]}'{where}: {old!r} and {value!r}"
    )


def _as_dict(node: object) -> dict[Any, Any]:
    """What the one-loan function reads an object of the situation as (see ``node_local``)."""
    return dict(node) if isinstance(node, Mapping) else {}


def _child(node: object, part: str) -> object:
    """One step of ``memory._lookup`` for anything but a dict: UNKNOWN when there is no such key."""
    if isinstance(node, Mapping) and part in node:
        return node[part]
    return UNKNOWN


_RUNTIME: Final[Mapping[str, object]] = {
    "UNKNOWN": UNKNOWN,
    "NEVER": NEVER,
    "normalise": normalise,
    "conflict": _conflict,
    "value_of": _value,
    "not_": _not,
    "minus": _minus,
    "strict": _strict,
    "finite": _finite,
    "arithmetic": _arithmetic,
    "compare": _compare,
    "isinstance": isinstance,
    "bool": bool,
    "str": str,
    "type": type,
    "int": int,
    "zip": zip,
    "ArithmeticError": ArithmeticError,
    "child": _child,
    "mapping": _as_dict,
    "plain": _PLAIN,
    "dict": dict,
}


# --- lowering -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _ident(name: str) -> str:
    """A name for the generated code: only ever one made here, and checked to be an identifier."""
    if not _IDENT.fullmatch(name) or keyword.iskeyword(name):
        raise ValueError(f"not an identifier for generated code: {name!r}")
    return name


class _Located:
    """The ``ast`` node classes the lowering makes, as subclasses that carry a location (line 1):
    ``compile()`` needs one on every statement and expression, and ``ast.fix_missing_locations``
    (a recursive walk of the whole tree) costs more than building the tree on a large pack."""

    Name: type[ast.Name]
    Call: type[ast.Call]
    Compare: type[ast.Compare]
    Constant: type[ast.Constant]
    Tuple: type[ast.Tuple]
    List: type[ast.List]
    Dict: type[ast.Dict]
    Attribute: type[ast.Attribute]
    Subscript: type[ast.Subscript]
    BoolOp: type[ast.BoolOp]
    BinOp: type[ast.BinOp]
    IfExp: type[ast.IfExp]
    NamedExpr: type[ast.NamedExpr]
    ListComp: type[ast.ListComp]
    Assign: type[ast.Assign]
    Expr: type[ast.Expr]
    If: type[ast.If]
    For: type[ast.For]
    Return: type[ast.Return]
    Try: type[ast.Try]
    ExceptHandler: type[ast.ExceptHandler]
    FunctionDef: type[ast.FunctionDef]
    Pass: type[ast.Pass]
    arg: type[ast.arg]

    def __init__(self) -> None:
        location = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
        for name in self.__annotations__:
            base = getattr(ast, name)
            setattr(self, name, type(name, (base,), dict(location, __module__=__name__)))


_at: Final = _Located()


def _load(name: str) -> ast.Name:
    return _at.Name(_ident(name), ast.Load())


def _store(name: str) -> ast.Name:
    return _at.Name(_ident(name), ast.Store())


def _call(function: str, *args: ast.expr) -> ast.Call:
    return _at.Call(_load(function), list(args), [])


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return _at.Assign([_store(name)], value)


def _key(fact: str, loan: str | None) -> ast.Tuple:
    """``(fact, loan)``, the key of a value: ``loan`` names the local holding the loan id."""
    return _at.Tuple([_at.Constant(fact), _load(loan) if loan else _at.Constant(None)], ast.Load())


def _is(left: ast.expr, unknown: bool) -> ast.Compare:
    return _at.Compare(left, [ast.Is() if unknown else ast.IsNot()], [_load("U")])


def _args(*names: str) -> ast.arguments:
    return ast.arguments([], [_at.arg(_ident(n)) for n in names], None, [], [], None, [])


def _def(name: str, params: Sequence[str], body: list[ast.stmt]) -> ast.FunctionDef:
    """A function of the generated module; UNKNOWN is one of its locals (the fastest lookup)."""
    start = _assign("U", _load("UNKNOWN"))
    return _at.FunctionDef(_ident(name), _args(*params), [start, *body], [], None)


class _Lowerer:
    """Builds the module: the run function and one function per derive expression or call."""

    def __init__(self, compiled: CompiledPack, parameters: Mapping[str, Any]) -> None:
        self.compiled = compiled
        self.parameters = parameters
        self.namespace: dict[str, object] = dict(_RUNTIME)
        self.functions: list[ast.stmt] = []
        self.counter = 0
        self.situation_locals: dict[str, str] = {}  #: fact → local of its (fact, None) value
        self.loan_locals: dict[str, str] = {}  #: fact → local of its (fact, loan) value
        #: the single-loan function (``module_one``) being built, else None
        self.single: _Single | None = None

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return _ident(f"{prefix}_{self.counter}")

    def constant(self, value: object) -> ast.expr:
        """A value as a constant of the tree; other values become a global of the module."""
        if _is_scalar(value):
            return _at.Constant(value)
        if isinstance(value, list | tuple) and all(_is_scalar(v) for v in value):
            return _at.Tuple([_at.Constant(v) for v in value], ast.Load())
        name = self.fresh("k")
        self.namespace[name] = value
        return _load(name)

    # --- the run function

    def module(self) -> ast.Module:
        compiled = self.compiled
        body: list[ast.stmt] = [_assign("get", _at.Attribute(_load("values"), "get", ast.Load()))]
        body.append(
            _assign("remember", _at.Attribute(_load("derivations"), "setdefault", ast.Load()))
        )
        for level in range(compiled.max_level + 1):
            body += self.level(level)
        body.append(_at.Return(None))
        run = _def("run", ("values", "loans", "indexes", "derivations", "fire"), body)
        return ast.Module([*self.functions, run], [])

    def module_one(self) -> ast.Module:
        """The run function for a situation with exactly one loan (the common case).

        There is no loop and no working-memory lookup: every value a test or an expression
        reads is a local of the function, read from the situation once (an input fact) or set
        where a rule derives it (a derived fact), and a derive expression is code inline. The
        facts derived go to ``values`` and ``derivations`` as in ``module``'s function; the
        input facts are not copied anywhere (``run`` reads them into memory only when asked).
        """
        single = self.single = _Single()
        for crule in self.compiled.rules:
            if isinstance(crule.rule.then, Derive):
                single.derivers[(crule.rule.then.fact, crule.rule.about == "loan")] += 1
        body: list[ast.stmt] = [
            _assign("remember", _at.Attribute(_load("derivations"), "setdefault", ast.Load()))
        ]
        try:
            for level in range(self.compiled.max_level + 1):
                body += self.level_one(level)
        finally:
            self.single = None
        body = [*single.prelude, *body, _at.Return(None)]
        params = ("situation", "loan", "loanid", "values", "derivations", "fire")
        return ast.Module([*self.functions, _def("one", params, body)], [])

    def level_one(self, level: int) -> list[ast.stmt]:
        """``level`` for one loan: the situation rules, then the loan's, in the pack's order."""
        assert self.single is not None
        rules = [(i, c) for i, c in enumerate(self.compiled.rules) if c.stage == level]
        ordered = [r for r in rules if r[1].rule.about != "loan"]
        ordered += [r for r in rules if r[1].rule.about == "loan"]
        rules_of: list[Lowering] = []
        for index, crule in ordered:
            bound = crule.rule.about == "loan"
            self.single.bound = bound
            # the rule index alone: with one loan, it says which Firing (``Program.firing``)
            fire: list[ast.stmt] = [_at.Expr(_call("fire", _at.Constant(index)))]
            then = crule.rule.then
            movable = True
            if isinstance(then, Derive):
                fire += self.derive_one(index, bound)
                movable = self.single.derivers[(then.fact, bound)] == 1
            rules_of.append((self.branch_terms(index, loan=bound), fire, movable))
        out = _shared_tests(rules_of)
        for fact, at in self.compiled.levels.items():  # ``close`` for one loan
            if at != level + 1:
                continue
            scoped = fact.startswith("loan.")
            local = self.value_local(fact, scoped)
            key = _key(fact, "loanid" if scoped else None)
            mark = _at.Assign([_at.Subscript(_load("values"), key, ast.Store())], _load("U"))
            out.append(_at.If(_is(_load(local), unknown=True), [mark], []))
        return out

    def value_local(self, fact: str, per_loan: bool) -> str:
        """The single-loan function's local holding the value of ``(fact, loan id or None)`` as
        an expression sees it (UNKNOWN when unknown); read or initialised in the prelude."""
        single = self.single
        assert single is not None
        local = single.values.get((fact, per_loan))
        if local is not None:
            return local
        path = _input_path(fact, per_loan)
        if path is not None:
            raw = self.input_local(fact, per_loan, path)
            local = self.fresh("x")
            plain = _at.Compare(_call("type", _load(raw)), [ast.In()], [_load("plain")])
            as_seen = _at.IfExp(plain, _load(raw), _call("value_of", _load(raw)))
            single.prelude.append(_assign(local, as_seen))  # value_of(None) is UNKNOWN
        elif fact in self.compiled.levels:  # derived: unknown until a rule derives it
            local = self.fresh("d")
            single.prelude.append(_assign(local, _load("U")))
        else:  # no such value in memory (``get`` would give UNKNOWN)
            local = "U"
        single.values[(fact, per_loan)] = local
        return local

    def input_local(self, fact: str, per_loan: bool, path: tuple[str, ...]) -> str:
        """The local holding an input fact as the situation has it: None when it is null or
        missing (``Memory.from_situation`` reads UNKNOWN), each path prefix looked up once."""
        single = self.single
        assert single is not None
        local = single.inputs.get((fact, per_loan))
        if local is None:
            parent = self.node_local(per_loan, path[:-1])
            local = single.inputs[(fact, per_loan)] = self.fresh("v")
            single.prelude.append(
                _assign(local, _call_method(parent, "get", _at.Constant(path[-1])))
            )
        return local

    def node_local(self, per_loan: bool, prefix: tuple[str, ...]) -> str:
        """The local holding the object at ``prefix`` as a dict: a copy of any other mapping,
        empty for anything else (there is nothing inside it to read), so that every read is
        ``dict.get``."""
        single = self.single
        assert single is not None
        local = single.nodes.get((per_loan, prefix))
        if local is None:
            if prefix:
                parent = self.node_local(per_loan, prefix[:-1])
                local = self.fresh("n")
                read = _call_method(parent, "get", _at.Constant(prefix[-1]))
                single.prelude.append(_assign(local, read))
            else:
                local = "loan" if per_loan else "situation"
            kind = _call("type", _load(local))
            other = _at.Compare(kind, [ast.IsNot()], [_load("dict")])
            as_dict = _assign(local, _call("mapping", _load(local)))
            single.prelude.append(_at.If(other, [as_dict], []))
            single.nodes[(per_loan, prefix)] = local
        return local

    def test_local(self, fact: str, per_loan: bool) -> tuple[str, str, bool]:
        """(local, what it holds when unknown, whether tests need a known-value guard)."""
        single = self.single
        if single is None:
            general = (self.loan_locals if per_loan else self.situation_locals)[fact]
            return general, "NEVER", fact in self.compiled.levels
        path = _input_path(fact, per_loan)
        if path is None:  # derived or absent: UNKNOWN when unknown, always guarded
            return self.value_local(fact, per_loan), "U", True
        local = single.tests.get((fact, per_loan))
        if local is None:
            raw = self.input_local(fact, per_loan, path)
            local = single.tests[(fact, per_loan)] = self.fresh("s")
            missing = _at.BoolOp(
                ast.Or(),
                [_at.Compare(_load(raw), [ast.Is()], [_at.Constant(None)]), _is(_load(raw), True)],
            )
            never = _at.IfExp(missing, _load("NEVER"), _load(raw))
            single.prelude.append(_assign(local, never))
        return local, "NEVER", False

    def derive_one(self, index: int, bound: bool) -> list[ast.stmt]:
        """``derive`` for one loan: the expression inline, the derived value kept in a local."""
        rule = self.compiled.rules[index].rule
        then = rule.then
        assert isinstance(then, Derive)
        unit = self.compiled.facts[then.fact].unit
        if isinstance(then.expr, Literal_) and _is_scalar(
            known := normalise(then.expr.value, unit)
        ):
            value: ast.expr = _at.Constant(known)  # the same every time: normalised now
        else:
            value = self.normalised(self.expr(then.expr, None), unit)
            value = self.exact_integers(then.expr, value)
        local = self.value_local(then.fact, bound)
        key = _key(then.fact, "loanid" if bound else None)
        record = _at.Tuple([_at.Constant(rule.id), _load("value")], ast.Load())
        remember = _at.Call(_load("remember"), [_load("key"), _at.List([], ast.Load())], [])
        store = _at.Assign(
            [_at.Subscript(_load("values"), _load("key"), ast.Store())], _load("value")
        )
        conflict = _call(
            "conflict",
            _load("derivations"),
            _load("key"),
            _at.Constant(rule.id),
            _load(local),
            _load("value"),
        )
        refuse = _at.If(
            _at.Compare(_load(local), [ast.NotEq()], [_load("value")]),
            [_at.Expr(conflict)],
            [],
        )
        first: list[ast.stmt] = [_assign(local, _load("value")), store]
        assert self.single is not None
        out: list[ast.stmt] = [_assign("value", value), _assign("key", key)]
        if self.single.derivers[(then.fact, bound)] == 1:
            # the only rule deriving this value, once: nothing to add to, nothing to refuse
            only = _at.List([record], ast.Load())
            out.append(
                _at.Assign([_at.Subscript(_load("derivations"), _load("key"), ast.Store())], only)
            )
            known = first
        else:
            out.append(
                _at.Expr(_at.Call(_at.Attribute(remember, "append", ast.Load()), [record], []))
            )
            known = [_at.If(_is(_load(local), unknown=True), first, [refuse])]
        if isinstance(value, ast.Constant):  # a known constant (UNKNOWN is never one)
            return [*out, *known]
        return [*out, _at.If(_is(_load("value"), unknown=False), known, [])]

    def exact_integers(self, node: Node, general: ast.expr) -> ast.expr:
        """``a + b``, ``a - b``, ``a * b`` of two integers without a call: the sum, difference
        or product itself when it is in the engine's range, which ``arithmetic`` and
        ``normalise`` (for every unit) leave unchanged; anything else takes ``general``."""
        if not (isinstance(node, Binary) and node.op in ("+", "-", "*")):
            return general
        operands: list[ast.expr] = []
        checks: list[ast.expr] = []
        for operand in (node.left, node.right):
            if isinstance(operand, Literal_) and type(operand.value) is int:
                operands.append(_at.Constant(operand.value))
            elif isinstance(operand, Name) and not operand.name.startswith("params."):
                operands.append(self.name(operand.name, None))
                kind = _call("type", operands[-1])
                checks.append(_at.Compare(kind, [ast.Is()], [_load("int")]))
            else:
                return general
        result = _at.NamedExpr(
            _store("exact"), _at.BinOp(operands[0], _BINOPS[node.op], operands[1])
        )
        bounds = [_at.Constant(INT64_MIN), _at.Constant(-INT64_MIN)]
        checks.append(_at.Compare(bounds[0], [ast.Lt(), ast.Lt()], [result, bounds[1]]))
        return _at.IfExp(_at.BoolOp(ast.And(), checks), _load("exact"), general)

    def level(self, level: int) -> list[ast.stmt]:
        rules = [(i, c) for i, c in enumerate(self.compiled.rules) if c.stage == level]
        out: list[ast.stmt] = []
        # situation values this level's tests read: final since the previous level closed
        for fact in self._read(rules, loan=False):
            if fact not in self.situation_locals:
                local = self.situation_locals[fact] = self.fresh("s")
                out += _read_for_tests(local, self._get(fact, None))
        per_loan: list[int] = []
        for index, crule in rules:
            if crule.rule.about == "loan":
                per_loan.append(index)
                continue
            fire: list[ast.stmt] = [_at.Expr(_call("fire", self._firing(index)))]
            if isinstance(crule.rule.then, Derive):
                fire += self.derive(index, loan=False)
            out.append(_at.If(self.condition(index, loan=False), fire, []))
        if per_loan:
            out.append(self.loan_loop(per_loan))
        out += self.close(level)
        return out

    def _read(self, rules: Iterable[tuple[int, Any]], loan: bool) -> list[str]:
        """The facts the rules' tests read in one scope, in order."""
        found: dict[str, None] = {}
        for _, crule in rules:
            bound = crule.rule.about == "loan"
            for branch in crule.branches:
                for pattern in branch.patterns:
                    for test in pattern.tests:  # an entity pattern tests several facts
                        per_loan = bound and test.fact.startswith("loan.")
                        if per_loan == loan:
                            found[test.fact] = None
        return list(found)

    def _get(self, fact: str, loan: str | None) -> ast.expr:
        """``values.get((fact, loan), U)``; ``loan`` names the local that holds the loan id."""
        return _at.Call(_load("get"), [_key(fact, loan), _load("U")], [])

    def _firing(self, index: int) -> ast.expr:
        return _at.Tuple([_at.Constant(index), _at.Constant(-1), _at.Constant(None)], ast.Load())

    def loan_loop(self, indexes: list[int]) -> ast.For:
        """The level's per-loan rules, in the pack's order, inside one loop over the loans.

        For one loan the rules run in the reference's order, so every (fact, loan) gets its
        derivations in the same order; only a conflict could tell the loops apart (which one
        is reported first), and ``run`` hands those to the reference to report.
        """
        rules = [(i, self.compiled.rules[i]) for i in indexes]
        body: list[ast.stmt] = []
        self.loan_locals = {}
        for fact in self._read(rules, loan=True):
            local = self.loan_locals[fact] = self.fresh("l")
            body += _read_for_tests(local, self._get(fact, "loan"))
        for index, crule in rules:
            firing = _at.Tuple([_at.Constant(index), _load("index"), _load("loan")], ast.Load())
            fire: list[ast.stmt] = [_at.Expr(_call("fire", firing))]
            if isinstance(crule.rule.then, Derive):
                fire += self.derive(index, loan=True)
            body.append(_at.If(self.condition(index, loan=True), fire, []))
        target = _at.Tuple([_store("index"), _store("loan")], ast.Store())
        pairs = _call("zip", _load("indexes"), _load("loans"))
        return _at.For(target, pairs, body, [])

    def condition(self, index: int, loan: bool) -> ast.expr:
        """Any branch holds (``reference.branch_holds``), three-valued."""
        return _any_branch(self.branch_terms(index, loan))

    def branch_terms(self, index: int, loan: bool) -> list[list[ast.expr]]:
        """Each branch's tests (all must hold), three-valued."""
        branches: list[list[ast.expr]] = []
        for branch in self.compiled.rules[index].branches:
            terms: list[ast.expr] = []
            for pattern in branch.patterns:
                # "the fact is present" (no tests) holds: every fact is, known or unknown. An
                # entity pattern tests several input facts: each fact's tests are one group.
                by_fact: dict[str, list[Test]] = {}
                for test in pattern.tests:
                    by_fact.setdefault(test.fact, []).append(test)
                for fact, tests in by_fact.items():
                    per_loan = loan and fact.startswith("loan.")
                    local, unknown, guarded = self.test_local(fact, per_loan)
                    terms += self.tests(local, tests, guarded, unknown)
            branches.append(terms)
        return branches

    def tests(
        self, local: str, tests: Sequence[Test], derived: bool, unknown: str = "NEVER"
    ) -> list[ast.expr]:
        """``reference.test_holds`` for each test, one known-value guard shared by a pattern.

        A derived fact is often unknown: its tests keep the guard, cheaper than comparing with
        NEVER (a call of its Python methods); an input fact's tests go without where they can.
        """
        if any(t.op == "unknown" for t in tests):
            return [_is_marker(local, unknown, True)] + [
                _at.Constant(False) for t in tests if t.op != "unknown"
            ]
        terms: list[ast.expr] = []
        for test in tests:
            if test.op == "known":
                continue
            expected = self.constant(test.expected)
            if test.op == "between":  # low <= value <= high
                low, high = (self.constant(bound) for bound in test.expected)
                terms.append(_at.Compare(low, [ast.LtE(), ast.LtE()], [_load(local), high]))
                continue
            if test.op == "not_between":  # value < low or value > high
                low, high = (self.constant(bound) for bound in test.expected)
                outside: list[ast.expr] = [
                    _at.Compare(_load(local), [ast.Lt()], [low]),
                    _at.Compare(_load(local), [ast.Gt()], [high]),
                ]
                terms.append(_at.BoolOp(ast.Or(), outside))
                continue
            if test.op in ("contains", "not_contains"):
                op: ast.cmpop = ast.In() if test.op == "contains" else ast.NotIn()
                terms.append(_at.Compare(expected, [op], [_load(local)]))
            else:
                terms.append(_at.Compare(_load(local), [_COMPARE_AST[test.op]], [expected]))
        unguarded = all(_false_when_unknown(t) for t in tests if t.op != "known")
        if derived or not terms or not unguarded:
            terms.insert(0, _is_marker(local, unknown, False))
        return terms

    def derive(self, index: int, loan: bool) -> list[ast.stmt]:
        """``Memory.derive`` inline: compute, normalise by unit, record, store or refuse."""
        rule = self.compiled.rules[index].rule
        then = rule.then
        assert isinstance(then, Derive)
        function = self.expression(then.expr)
        binding: ast.expr = _load("loan") if loan else _at.Constant(None)
        unit = self.compiled.facts[then.fact].unit
        computed = _call(function, _load("get"), binding, _load("loans"))
        key = _key(then.fact, "loan" if loan else None)
        record = _at.Tuple([_at.Constant(rule.id), _load("value")], ast.Load())
        remember = _at.Call(_load("remember"), [_load("key"), _at.List([], ast.Load())], [])
        store = _at.Assign(
            [_at.Subscript(_load("values"), _load("key"), ast.Store())], _load("value")
        )
        refuse = _at.If(
            _at.Compare(_load("old"), [ast.NotEq()], [_load("value")]),
            [
                _at.Expr(
                    _call(
                        "conflict",
                        _load("derivations"),
                        _load("key"),
                        _at.Constant(rule.id),
                        _load("old"),
                        _load("value"),
                    )
                )
            ],
            [],
        )
        return [
            _assign("value", self.normalised(computed, unit)),
            _assign("key", key),
            _at.Expr(_at.Call(_at.Attribute(remember, "append", ast.Load()), [record], [])),
            _at.If(
                _is(_load("value"), unknown=False),
                [
                    _assign("old", _at.Call(_load("get"), [_load("key"), _load("U")], [])),
                    _at.If(_is(_load("old"), unknown=True), [store], [refuse]),
                ],
                [],
            ),
        ]

    def normalised(self, computed: ast.expr, unit: str) -> ast.expr:
        """``normalise(value, unit)``; for a text or boolean fact only a number is changed, so a
        value of the fact's own type skips the call (the common case, and exactly the same)."""
        normal = _call("normalise", _load("value"), _at.Constant(unit))
        own = {"text": "str", "date": "str", "boolean": "bool"}.get(unit)
        if own is None:
            return _call("normalise", computed, _at.Constant(unit))
        kind = _call("type", _at.NamedExpr(_store("value"), computed))
        same = _at.Compare(kind, [ast.Is()], [_load(own)])
        return _at.IfExp(same, _load("value"), normal)

    def close(self, level: int) -> list[ast.stmt]:
        """``Memory.close`` for the facts of the next level: unknown wherever none was derived."""
        out: list[ast.stmt] = []
        per_loan: list[ast.stmt] = []
        for fact, at in self.compiled.levels.items():
            if at != level + 1:
                continue
            scoped = fact.startswith("loan.")
            key = _key(fact, "loan" if scoped else None)
            mark = _at.If(
                _is(_at.Call(_load("get"), [key, _load("U")], []), unknown=True),
                [_at.Assign([_at.Subscript(_load("values"), key, ast.Store())], _load("U"))],
                [],
            )
            (per_loan if scoped else out).append(mark)
        if per_loan:
            out.append(_at.For(_store("loan"), _load("loans"), per_loan, []))
        return out

    # --- derive expressions (``engine.pack.expr.compilation``'s semantics, as code)

    def expression(self, node: Node) -> str:
        """A function ``(get, loan, loans)`` of the module computing a derive expression."""
        function = self.fresh("expr")
        body: list[ast.stmt] = [_at.Return(self.expr(node, None))]
        self.functions.append(_def(function, ("get", "loan", "loans"), body))
        return function

    def expr(self, node: Node, each: str | None) -> ast.expr:
        """One node; ``each`` names the local holding an aggregate's current loan, if inside one."""
        if isinstance(node, Literal_):
            return self.constant(node.value)
        if isinstance(node, Name):
            return self.name(node.name, each)
        if isinstance(node, Unary):
            operand = self.expr(node.operand, each)
            return _call("not_" if node.op == "not" else "minus", operand)
        if isinstance(node, Binary):
            left, right = self.expr(node.left, each), self.expr(node.right, each)
            if node.op in ("and", "or"):
                return self.kleene(node.op == "or", left, right)
            helper = "compare" if node.op in ("==", "!=", "<", "<=", ">", ">=") else "arithmetic"
            return _call(helper, _at.Constant(node.op), left, right)
        return self.call(node, each)

    def name(self, name: str, each: str | None) -> ast.expr:
        if name.startswith("params."):
            parameter = name.removeprefix("params.")
            if parameter not in self.parameters:  # refused by the checker; fail alike anyway
                missing = self.fresh("missing")
                self.namespace[missing] = _raiser(KeyError(parameter))
                return _call(missing)
            return self.constant(_value(self.parameters[parameter]))
        single = self.single
        if single is not None:  # a local; ``each`` is the one loan, when inside an aggregate
            per_loan = name.startswith("loan.") and (each is not None or single.bound)
            local = self.value_local(name, per_loan)
            for used in single.used:
                used.add(local)
            return _load(local)
        key = _key(name, (each or "loan") if name.startswith("loan.") else None)
        return _call("value_of", _at.Call(_load("get"), [key, _load("U")], []))

    def kleene(self, decisive: bool, left: ast.expr, right: ast.expr) -> ast.expr:
        """``a or b`` / ``a and b`` of three-valued logic; ``b`` only computed when needed."""
        a, b = self.fresh("t"), self.fresh("t")
        both_bool = _at.BoolOp(
            ast.And(),
            [_call("isinstance", _load(x), _load("bool")) for x in (a, b)],
        )
        otherwise = _at.IfExp(both_bool, _at.Constant(not decisive), _load("U"))
        second = _at.IfExp(
            _at.Compare(_at.NamedExpr(_store(b), right), [ast.Is()], [_at.Constant(decisive)]),
            _at.Constant(decisive),
            otherwise,
        )
        return _at.IfExp(
            _at.Compare(_at.NamedExpr(_store(a), left), [ast.Is()], [_at.Constant(decisive)]),
            _at.Constant(decisive),
            second,
        )

    def call(self, node: Call, each: str | None) -> ast.expr:
        """A call becomes a function of its own: every call turns ArithmeticError into UNKNOWN."""
        function = self.fresh("call")
        inner = "each" if each is not None else None
        body: list[ast.stmt]
        single = self.single
        if single is not None:
            single.used.append(set())  # the locals it reads become its parameters
        if single is not None and node.func in AGGREGATES:  # over the one loan
            value = self.fresh("v")
            one = _at.List([_load(value)], ast.Load())
            body = [
                _assign(value, self.expr(node.args[0], "each")),
                _at.If(_is(_load(value), unknown=True), [_at.Return(_load("U"))], []),
                _at.Return(_call("finite", _at.Call(self.function(node.func), [one], []))),
            ]
        elif node.func in AGGREGATES:
            current = self.fresh("loan")
            items = self.fresh("items")
            value = self.fresh("v")
            body = [
                _assign(items, _at.List([], ast.Load())),
                _at.For(
                    _store(current),
                    _load("loans"),
                    [
                        _assign(value, self.expr(node.args[0], current)),
                        _at.If(_is(_load(value), unknown=True), [_at.Return(_load("U"))], []),
                        _at.Expr(_call_method(items, "append", _load(value))),
                    ],
                    [],
                ),
                _at.Return(_call("finite", _at.Call(self.function(node.func), [_load(items)], []))),
            ]
        elif node.func == "coalesce":
            value = self.fresh("v")
            body = []
            for arg in node.args:
                body += [
                    _assign(value, self.expr(arg, inner)),
                    _at.If(_is(_load(value), unknown=False), [_at.Return(_load(value))], []),
                ]
            body.append(_at.Return(_load("U")))
        elif node.func == "if":
            test = self.fresh("v")
            condition, then, other = node.args
            body = [
                _assign(test, self.expr(condition, inner)),
                _at.If(
                    _at.Compare(_load(test), [ast.Is()], [_at.Constant(True)]),
                    [_at.Return(self.expr(then, inner))],
                    [],
                ),
                _at.If(
                    _at.Compare(_load(test), [ast.Is()], [_at.Constant(False)]),
                    [_at.Return(self.expr(other, inner))],
                    [],
                ),
                _at.Return(_load("U")),
            ]
        else:
            args = _at.List([self.expr(arg, inner) for arg in node.args], ast.Load())
            body = [_at.Return(_call("strict", self.function(node.func), args))]
        guarded = _at.Try(
            body,
            [_at.ExceptHandler(_load("ArithmeticError"), None, [_at.Return(_load("U"))])],
            [],
            [],
        )
        if single is not None:
            params = sorted(single.used.pop())
            self.functions.append(_def(function, params, [guarded]))
            return _call(function, *map(_load, params))
        self.functions.append(_def(function, ("get", "loan", "loans", "each"), [guarded]))
        current_each: ast.expr = _load(each) if each is not None else _at.Constant(None)
        return _call(function, _load("get"), _load("loan"), _load("loans"), current_each)

    def function(self, func: str) -> ast.expr:
        table = _AGGREGATE_FNS if func in AGGREGATES else _STRICT_FNS
        name = self.fresh("fn")
        self.namespace[name] = table[func]
        return _load(name)


@dataclass
class _Single:
    """What ``module_one`` keeps while it builds the single-loan function."""

    prelude: list[ast.stmt] = field(default_factory=list)  #: reads, before the first level
    nodes: dict[tuple[bool, tuple[str, ...]], str] = field(default_factory=dict)  #: prefixes
    inputs: dict[tuple[str, bool], str] = field(default_factory=dict)  #: input fact → local
    tests: dict[tuple[str, bool], str] = field(default_factory=dict)  #: … as tests see it
    values: dict[tuple[str, bool], str] = field(default_factory=dict)  #: … as expressions do
    used: list[set[str]] = field(default_factory=list)  #: locals read by the calls being built
    bound: bool = False  #: whether the rule being lowered is about the loan
    #: (fact, about the loan) → how many rules derive it
    derivers: Counter[tuple[str, bool]] = field(default_factory=Counter)


@functools.cache
def _input_paths() -> Mapping[tuple[str, bool], tuple[str, ...]]:
    """(fact, per loan) → its path in the situation (or the loan), for every input fact."""
    return {(name, not situation): path for name, situation, path in input_paths()}


def _input_path(fact: str, per_loan: bool) -> tuple[str, ...] | None:
    return _input_paths().get((fact, per_loan))


def _any_branch(branches: list[list[ast.expr]]) -> ast.expr:
    """Any branch holds, each branch all its tests (none: it holds)."""
    conditions = [
        _at.Constant(True) if not t else t[0] if len(t) == 1 else _at.BoolOp(ast.And(), t)
        for t in branches
    ]
    return conditions[0] if len(conditions) == 1 else _at.BoolOp(ast.Or(), conditions)


#: a rule as ``_shared_tests`` takes it: (its branches' tests, what it does, whether it may move)
Lowering = tuple[list[list[ast.expr]], list[ast.stmt], bool]


def _shared_tests(rules: list[Lowering]) -> list[ast.stmt]:
    """A level's rules, as ``if condition: body`` each, where rules of one branch that have a
    test in common with others run under one ``if`` of that test (tested once, and the rules
    skipped together when it fails).

    Which rules of a level run first cannot be seen: every test reads facts final since the
    previous level, and firings are sorted. Only the order of the rules deriving the same
    value can (its derivations, and which value it gets): those rules are not ``movable`` and
    keep their place. Tests have no effects, so a test taken out of a rule is the same test.
    """
    keys = [
        [ast.dump(t) for t in branches[0]] if movable and len(branches) == 1 else []
        for branches, _, movable in rules
    ]
    shared = Counter(k for row in keys for k in set(row))
    groups: dict[str, tuple[ast.If, list[Lowering]]] = {}
    out: list[ast.stmt] = []
    for (branches, body, movable), row in zip(rules, keys, strict=True):
        best = max(row, key=lambda k: shared[k], default=None)
        if best is None or shared[best] < 2:
            out.append(_at.If(_any_branch(branches), body, []))
            continue
        at = row.index(best)
        rest = branches[0][:at] + branches[0][at + 1 :]
        if best not in groups:
            groups[best] = (_at.If(branches[0][at], [], []), [])
            out.append(groups[best][0])
        groups[best][1].append(([rest], body, movable))
    for test, members in groups.values():  # the rules of a group may share another test
        test.body = _shared_tests(members)
    return out


def _false_when_unknown(test: Test) -> bool:
    """Whether a test is false for NEVER (an unknown value) without a guard: every comparison
    with NEVER is false, and so is ``in`` over plain items (each compared with ``==``)."""
    if test.op in ("==", "!=", "<", "<=", ">", ">=", "contains", "between", "not_between"):
        return True
    if test.op == "in":
        return isinstance(test.expected, list | tuple) and all(map(_is_scalar, test.expected))
    return False  # not_in, not_contains: their negation would be true


def _read_for_tests(local: str, value: ast.expr) -> list[ast.stmt]:
    """``local = value``, NEVER when the value is unknown."""
    unknown = _at.If(_is(_load(local), unknown=True), [_assign(local, _load("NEVER"))], [])
    return [_assign(local, value), unknown]


def _is_marker(local: str, marker: str, unknown: bool) -> ast.Compare:
    """``local is marker`` (unknown) or ``local is not marker``: NEVER or U, as the local holds."""
    return _at.Compare(_load(local), [ast.Is() if unknown else ast.IsNot()], [_load(marker)])


def _is_scalar(value: object) -> TypeGuard[str | int | float | bool | None]:
    return value is None or type(value) in (str, int, float, bool)


def _call_method(owner: str, method: str, *args: ast.expr) -> ast.Call:
    return _at.Call(_at.Attribute(_load(owner), _ident(method), ast.Load()), list(args), [])


def _raiser(error: Exception) -> Callable[[], object]:
    def fail() -> object:
        raise error

    return fail


# --- reading a situation ------------------------------------------------------------------------


Reader = Callable[[Mapping[str, Any]], tuple[dict[Key, Any], list[str]]]


@functools.cache
def _reader() -> Reader:
    """``Memory.from_situation`` as straight-line code over the input vocabulary (same values,
    same order): every path prefix is looked up once, not once per fact."""
    body: list[ast.stmt] = [
        _assign("values", _at.Dict([], [])),
        _assign("loans", _at.Subscript(_load("situation"), _at.Constant("loans"), ast.Load())),
    ]
    ids = _at.ListComp(
        _at.Subscript(_load("loan"), _at.Constant("id"), ast.Load()),
        [ast.comprehension(_store("loan"), _load("loans"), [], 0)],
    )
    body.append(_assign("ids", ids))
    nodes: dict[tuple[bool, tuple[str, ...]], str] = {}  #: (per loan, prefix) → its local
    situation_steps: list[ast.stmt] = []
    loan_steps: list[ast.stmt] = []
    stores: list[ast.stmt] = []
    loan_stores: list[ast.stmt] = []
    count = 0

    def step(parent: str, part: str) -> ast.expr:
        """``parent.get(part)`` for a dict, else ``_child``: None or UNKNOWN when missing."""
        get = _call_method(parent, "get", _at.Constant(part))
        slow = _call("child", _load(parent), _at.Constant(part))
        is_dict = _at.Compare(_call("type", _load(parent)), [ast.Is()], [_load("dict")])
        return _at.IfExp(is_dict, get, slow)

    def node(per_loan: bool, prefix: tuple[str, ...]) -> str:
        nonlocal count
        if not prefix:
            return "loan" if per_loan else "situation"
        found = nodes.get((per_loan, prefix))
        if found is None:
            parent = node(per_loan, prefix[:-1])
            count += 1
            found = nodes[(per_loan, prefix)] = _ident(f"n_{count}")
            steps = loan_steps if per_loan else situation_steps
            steps.append(_assign(found, step(parent, prefix[-1])))
        return found

    for name, situation_scope, path in input_paths():
        parent = node(not situation_scope, path[:-1])
        read = _assign("v", step(parent, path[-1]))
        known = _at.IfExp(
            _at.Compare(_load("v"), [ast.Is()], [_at.Constant(None)]), _load("U"), _load("v")
        )
        key = _key(name, None if situation_scope else "loanid")
        store = _at.Assign([_at.Subscript(_load("values"), key, ast.Store())], known)
        if situation_scope:
            stores += [read, store]
        else:  # every loan's facts after the situation's, loan by loan (Memory's order)
            loan_stores += [read, store]
    # every loan's prefixes, once: rows of (loan id, loan, prefix nodes...)
    columns = _loan_row(nodes)
    row_value = _at.Tuple(
        [_at.Subscript(_load("loan"), _at.Constant("id"), ast.Load()), *map(_load, columns)],
        ast.Load(),
    )
    per_loan = _at.For(
        _store("loan"),
        _load("loans"),
        [*loan_steps, _at.Expr(_call_method("rows", "append", row_value))],
        [],
    )
    # the loop variables name every prefix; the rows hold them in the same order
    target = _at.Tuple([_store("loanid"), *map(_store, columns)], ast.Store())
    loan_loop = _at.For(target, _load("rows"), loan_stores, [])
    several = [_assign("rows", _at.List([], ast.Load())), per_loan, *stores, loan_loop]
    # one loan, the common case: no loops at all
    first = _at.Subscript(_load("loans"), _at.Constant(0), ast.Load())
    single: list[ast.stmt] = [
        _assign("loan", first),
        _assign("loanid", _at.Subscript(_load("loan"), _at.Constant("id"), ast.Load())),
        *loan_steps,
    ]
    single += [*stores, *loan_stores]
    one = _at.Compare(_call("len", _load("loans")), [ast.Eq()], [_at.Constant(1)])
    body += [*situation_steps, _at.If(one, single, several)]
    body.append(_at.Return(_at.Tuple([_load("values"), _load("ids")], ast.Load())))
    module = ast.Module([_def("read", ("situation",), body)], [])
    namespace: dict[str, object] = {
        "__builtins__": {},
        "UNKNOWN": UNKNOWN,
        "child": _child,
        "type": type,
        "len": len,
        "dict": dict,
    }
    exec(compile(module, "<xieshang situation reader>", "exec"), namespace)
    reader: Reader = namespace["read"]  # type: ignore[assignment]
    return reader


def _loan_row(nodes: Mapping[tuple[bool, tuple[str, ...]], str]) -> list[str]:
    """The locals of every loan prefix, in the order they were made (``loan`` itself first)."""
    return ["loan", *(local for (per_loan, _), local in nodes.items() if per_loan)]


ExpressionFn = Callable[[Callable[[Key, object], object], str | None, Sequence[str]], object]


def lower_expression(node: Node, parameters: Mapping[str, Any]) -> ExpressionFn:
    """One derive expression alone, as ``lower`` makes it: ``(values.get, loan, loans) → value``
    with exactly ``Memory.compute``'s result (the tests compare them on random trees)."""
    lowerer = _Lowerer(None, parameters)  # type: ignore[arg-type]  # expressions never read it
    name = lowerer.expression(node)
    module = ast.Module(lowerer.functions, [])
    namespace = lowerer.namespace
    namespace["__builtins__"] = {}
    exec(compile(module, "<xieshang expression>", "exec"), namespace)
    function: ExpressionFn = namespace[name]  # type: ignore[assignment]
    return function


def _build(
    compiled: CompiledPack, make: Callable[[_Lowerer], ast.Module], name: str, filename: str
) -> Any:
    """Lower with ``make`` and return the module's function ``name`` (``compile()`` of an
    ``ast`` tree; the module only defines functions, and runs with empty ``__builtins__``)."""
    lowerer = _Lowerer(compiled, {n: p.value for n, p in compiled.pack.parameters.items()})
    collector.pause()  # a large pack makes ~60 tree nodes per rule, none cyclic: the collector
    try:  # would walk the whole heap again and again for nothing (most of the time, measured)
        code = compile(make(lowerer), filename, "exec")
    finally:
        collector.resume()
    namespace = lowerer.namespace
    namespace["__builtins__"] = {}
    exec(code, namespace)  # no text was ever parsed
    return namespace[name]


def lower(compiled: CompiledPack) -> Program:
    """Lower a compiled pack to Python: the single-loan function now, the general one when a
    situation with another number of loans first needs it (``Program.function``)."""
    name = f"<xieshang pack {compiled.pack.name}>"
    one: LoweredOne = _build(compiled, lambda lowerer: lowerer.module_one(), "one", name)
    levels = range(compiled.max_level + 1)
    rules = tuple(
        (
            c.stage,
            c.rule.id,
            c.rule.then.fact if isinstance(c.rule.then, Derive) else None,
            c.rule.about == "loan",
        )
        for c in compiled.rules
    )
    closing = tuple(
        tuple(f for f, at in compiled.levels.items() if at == level + 1) for level in levels
    )
    return Program(compiled, one, rules, closing)
