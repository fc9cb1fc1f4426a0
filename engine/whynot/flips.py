"""Why and why not, stage 1: what would flip a rule binding's conditions.

Whether a rule fired for a binding is read from the decision's firings; the rule's condition tree
for that binding, evaluated with three-valued (Kleene) logic over the decision's working memory,
is the decision's ``RuleResult`` (``engine.rank.conditions``: made once, shared with the reasons).
A rule
fires exactly when that result is true, because the compiler's DNF keeps Kleene semantics. For a
rule that did not fire, each leaf that does not go the rule's way gets a :class:`Flip` (the
smallest change of data that makes it go the rule's way), and ``smallest_change`` picks the fewest
flips that make the whole condition true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from engine.core.operators import OPERATORS
from engine.core.values import UNKNOWN
from engine.load.checks import facts_read
from engine.pack.model import Leaf, Rule
from engine.rank.conditions import GroupResult, LeafResult, NodeResult, RuleResult
from engine.whynot.subject import DecisionView
from engine.whynot.values import _loan_of, _named, jsonable, needs_phrase, show

# --- flips ----------------------------------------------------------------------------------


@dataclass
class _Context:
    decision: DecisionView
    seen: set[tuple[str, str | None]] = field(default_factory=set)

    @property
    def compiled(self) -> Any:
        return self.decision.ruleset.compiled

    def rule(self, rule_id: str) -> tuple[int, Rule]:
        for index, crule in enumerate(self.compiled.rules):
            if crule.rule.id == rule_id:
                return index, crule.rule
        raise KeyError(rule_id)

    def fired(self, index: int, loan: str | None) -> bool:
        return any(f.rule_index == index and f.loan_id == loan for f in self.decision.firings)

    def is_derived(self, fact: str) -> bool:
        return fact in self.compiled.levels


def missing_inputs(ctx: _Context, fact: str, loan: str | None) -> list[tuple[str, str | None]]:
    """Unknown input facts that an unknown derived fact depends on (through its rules)."""
    return _inputs(ctx, fact, loan, unknown_only=True)


def input_facts(ctx: _Context, fact: str, loan: str | None) -> list[tuple[str, str | None]]:
    """The input facts a derived fact is computed from, through the rules that derived it: the
    things a person could change to change it."""
    return _inputs(ctx, fact, loan, unknown_only=False)


def _inputs(
    ctx: _Context,
    fact: str,
    loan: str | None,
    *,
    unknown_only: bool,
    trail: frozenset[str] = frozenset(),
) -> list[tuple[str, str | None]]:
    """Walk from a derived fact down to input facts. For an unknown fact every deriving rule is
    followed and only unknown inputs are kept; otherwise only the rules that derived it."""
    if fact in trail:
        return []
    if unknown_only:
        derived = ctx.decision.ruleset.pack.derived.get(fact)
        rule_ids: list[str] = list(derived.rules) if derived else []
    else:
        derivations = ctx.decision.memory.derivations.get((fact, _loan_of(fact, loan)), [])
        rule_ids = list(dict.fromkeys(r for r, _ in derivations))
    found: dict[tuple[str, str | None], None] = {}
    for rule_id in rule_ids:
        _index, rule = ctx.rule(rule_id)
        for read in facts_read(rule):
            for lid in _bindings_of(ctx, read, loan):
                if unknown_only and ctx.decision.memory.get(read, lid) is not UNKNOWN:
                    continue
                if ctx.is_derived(read):
                    deeper = _inputs(
                        ctx, read, lid, unknown_only=unknown_only, trail=trail | {fact}
                    )
                    found.update(dict.fromkeys(deeper))
                else:
                    found[(read, lid if read.startswith("loan.") else None)] = None
    return list(found)


def _bindings_of(ctx: _Context, fact: str, loan: str | None) -> list[str | None]:
    """The loans a fact is read for: the binding's loan, or every loan inside an aggregate."""
    if not fact.startswith("loan."):
        return [None]
    return [loan] if loan is not None else list(ctx.decision.memory.loans)


@dataclass(frozen=True, slots=True)
class FactRef:
    """A fact for a binding: the fact, and its loan (None for a situation fact)."""

    fact: str
    loan_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "loan_id": self.loan_id}


FlipKind = Literal["provide", "change", "remove"]


@dataclass(frozen=True, slots=True)
class Flip:
    """The smallest change of data that makes one leaf go the way its rule needs
    (``schemas/explain.schema.json``, ``flip``)."""

    fact: str
    loan_id: str | None
    kind: FlipKind  #: provide: the fact is unknown; change: another value; remove: make it unknown
    op: str  #: the test the fact must pass (a ``not`` already pushed in)
    value: Any  #: the value in that test, as JSON data
    param: str | None
    text: str  #: the change in words
    #: for a derived fact: the input facts it is computed from (None: not derived)
    inputs: tuple[FactRef, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fact": self.fact,
            "loan_id": self.loan_id,
            "kind": self.kind,
            "op": self.op,
            "value": self.value,
            "param": self.param,
        }
        if self.inputs is not None:
            out["inputs"] = [ref.as_dict() for ref in self.inputs]
        out["text"] = self.text
        return out


def flip(ctx: _Context, leaf: Leaf, value: Any, negated: bool, loan: str | None) -> Flip:
    """The smallest change that makes this leaf go the way the rule needs, in data and words."""
    op = OPERATORS[leaf.op].complement if negated else leaf.op
    needs = needs_phrase(op, leaf.expected, leaf.param)
    fact, loan_id = leaf.fact, _loan_of(leaf.fact, loan)
    refs: tuple[FactRef, ...] | None = None
    if value is UNKNOWN and op != "unknown":
        if ctx.is_derived(leaf.fact):
            inputs = missing_inputs(ctx, leaf.fact, loan)
            refs = tuple(FactRef(f, lid) for f, lid in inputs)
            by = ", ".join(ctx.decision.ruleset.pack.derived[leaf.fact].rules)
            provide = ", ".join(_named(f, lid) for f, lid in inputs) or "the inputs of those rules"
            text = f"{leaf.fact} is unknown (derived by {by}): provide {provide}"
        else:
            text = f"{leaf.fact} is unknown: provide it"
        if op != "known":
            text += f"; this rule needs {needs}"
        return Flip(fact, loan_id, "provide", op, jsonable(leaf.expected), leaf.param, text, refs)
    if op == "unknown":
        text = f"{leaf.fact} is {show(value)}; this rule applies only while it is unknown"
        return Flip(fact, loan_id, "remove", op, None, None, text)
    text = f"{leaf.fact} is {show(value)}; this rule needs {needs}"
    if ctx.is_derived(leaf.fact):
        by = _derivers_of_value(ctx, leaf.fact, loan, value)
        inputs = input_facts(ctx, leaf.fact, loan)
        refs = tuple(FactRef(f, lid) for f, lid in inputs)
        shown = ", ".join(
            f"{_named(f, lid)} = {show(ctx.decision.memory.get(f, lid))}" for f, lid in inputs[:5]
        )
        more = f" and {len(inputs) - 5} more" if len(inputs) > 5 else ""
        text += (
            f" (derived by {by} from {shown}{more})"
            if by and shown
            else (f" (derived by {by})" if by else "")
        )
    return Flip(fact, loan_id, "change", op, jsonable(leaf.expected), leaf.param, text, refs)


def _derivers_of_value(ctx: _Context, fact: str, loan: str | None, value: Any) -> str:
    key = (fact, _loan_of(fact, loan))
    derivations = ctx.decision.memory.derivations.get(key, [])
    rules = [r for r, v in derivations if v == value] or [r for r, _ in derivations]
    return ", ".join(dict.fromkeys(rules))


# --- condition trees ------------------------------------------------------------------------

T = TypeVar("T")
Flips = tuple[Flip | None, ...]  #: by leaf index: the leaf's flip, None where it needs none


def single_flips(result: RuleResult) -> list[LeafResult]:
    """Leaves that alone would make the rule's condition true if they went the way it needs."""
    if result.condition is None:
        return []
    return [
        leaf
        for leaf in result.leaves
        if not leaf.holds and result.result_if({leaf.index: not leaf.negated}) is True
    ]


def prune_flips(
    node: NodeResult, flips: Sequence[T | None], want: bool = True
) -> tuple[T | None, ...]:
    """``flips`` (by leaf index) without those of leaves whose part of the condition already
    goes the way it must."""
    kept = list(flips)
    _prune(node, kept, want)
    return tuple(kept)


def _prune(node: NodeResult, kept: list[T | None], want: bool) -> None:
    if node.result is want:
        for leaf in node.leaves():
            kept[leaf.index] = None
        return
    if isinstance(node, GroupResult):
        for item in node.items:
            _prune(item, kept, not want if node.kind == "not" else want)


def smallest_change(
    node: NodeResult, flips: Sequence[object | None], want: bool = True
) -> list[int] | None:
    """The fewest leaves (by index) whose flips make ``node`` evaluate to ``want`` (None:
    impossible)."""
    if isinstance(node, LeafResult):
        if node.result is want:
            return []
        return [node.index] if flips[node.index] is not None else None
    if node.kind == "not":
        return smallest_change(node.items[0], flips, not want)
    options = [smallest_change(item, flips, want) for item in node.items]
    conjunctive = (node.kind == "all") == want
    if conjunctive:
        if any(o is None for o in options):
            return None
        return [index for o in options for index in o or []]
    possible = [o for o in options if o is not None]
    return min(possible, key=len) if possible else None


@dataclass(frozen=True, slots=True)
class ExplainedCondition:
    """A binding's condition tree as explain shows it (``schemas/explain.schema.json``,
    ``condition``): each node's result from the decision's ``RuleResult``, whether each leaf's
    fact is derived, and a flip under each leaf that must change for the rule to fire."""

    node: NodeResult
    flips: Flips
    derived: frozenset[str]  #: the facts of the tree that rules derive

    def as_dict(self) -> dict[str, Any]:
        return self._node(self.node)

    def _node(self, node: NodeResult) -> dict[str, Any]:
        if isinstance(node, GroupResult):
            return {
                "kind": node.kind,
                "result": node.result,
                "location": node.location.short,
                "items": [self._node(item) for item in node.items],
            }
        out: dict[str, Any] = {
            "kind": "leaf",
            "index": node.index,
            "fact": node.fact,
            "loan_id": node.loan_id,
            "op": node.op,
            "expected": jsonable(node.expected),
            "param": node.param,
            "actual": jsonable(node.value),
            "known": node.known,
            "result": node.result,
            "negated": node.negated,
            "derived": node.fact in self.derived,
            "location": node.location.short,
        }
        flip = self.flips[node.index]
        if flip is not None:
            out["flip"] = flip.as_dict()
        return out


def explained_condition(
    ctx: _Context, result: RuleResult, fired: bool
) -> tuple[ExplainedCondition | None, tuple[Flip, ...] | None]:
    """The binding's condition tree for explain, and (for a rule that did not fire) the fewest
    flips that would make it fire (None when it fired or has no conditions)."""
    if result.condition is None:
        return None, None
    derived = frozenset(leaf.fact for leaf in result.leaves if ctx.is_derived(leaf.fact))
    if fired:
        return ExplainedCondition(result.condition, (None,) * len(result.leaves), derived), None
    failing = tuple(None if leaf.holds else leaf for leaf in result.leaves)
    flips = tuple(
        None if leaf is None else flip(ctx, leaf.leaf, leaf.value, leaf.negated, result.loan_id)
        for leaf in prune_flips(result.condition, failing)
    )
    change = smallest_change(result.condition, flips) or []
    to_fire = tuple(flip for flip in (flips[i] for i in change) if flip is not None)
    return ExplainedCondition(result.condition, flips, derived), to_fire
