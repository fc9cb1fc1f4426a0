"""Why and why not, stage 1: one rule binding's condition tree and what would flip it.

Whether a rule fired for a binding is read from the decision's firings; the rule's original
condition tree is then evaluated with three-valued (Kleene) logic over the decision's working
memory to show each leaf's actual and expected values. A rule fires exactly when that evaluation
is true, because the compiler's DNF keeps Kleene semantics. For a rule that did not fire, each
failing leaf gets a flip (the smallest change of data that makes it go the rule's way), and
``smallest_change`` picks the fewest flips that make the whole condition true.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.checks import facts_read, leaves
from engine.explain import Truth, combine, leaf_truth
from engine.model import Condition, Leaf, Rule
from engine.operators import OPERATORS
from engine.values import UNKNOWN
from engine.whynot.subject import DecisionView
from engine.whynot.values import _loan_of, _named, jsonable, needs_phrase, show

# --- condition trees ------------------------------------------------------------------------


def truth(
    cond: Condition, values: Mapping[int, Any], forced: Mapping[int, Truth], counter: list[int]
) -> Truth:
    """Kleene truth of a condition; leaves are numbered in written order (``counter``)."""
    if isinstance(cond, Leaf):
        index = counter[0]
        counter[0] += 1
        if index in forced:
            return forced[index]
        return leaf_truth(cond, values[index])
    return combine(kind=cond.kind, results=[truth(c, values, forced, counter) for c in cond.items])


def leaf_values(rule: Rule, decision: DecisionView, loan: str | None) -> dict[int, Any]:
    return {i: decision.memory.get(leaf.fact, loan) for i, leaf in enumerate(leaves(rule.when))}


def leaf_polarity(cond: Condition | None, negated: bool = False) -> Iterator[bool]:
    """For each leaf in written order: whether it sits under an odd number of ``not``."""
    if cond is None:
        return
    if isinstance(cond, Leaf):
        yield negated
        return
    for item in cond.items:
        yield from leaf_polarity(item, negated ^ (cond.kind == "not"))


def single_flips(rule: Rule, values: Mapping[int, Any]) -> list[int]:
    """Leaves that alone would make the rule's condition true if they went the way it needs."""
    if rule.when is None:
        return []
    polarity = list(leaf_polarity(rule.when))
    found = []
    for index, negated in enumerate(polarity):
        current = leaf_truth(list(leaves(rule.when))[index], values[index])
        wanted = not negated
        if current is wanted:
            continue
        if truth(rule.when, values, {index: wanted}, [0]) is True:
            found.append(index)
    return found


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


def flip(ctx: _Context, leaf: Leaf, value: Any, negated: bool, loan: str | None) -> dict[str, Any]:
    """The smallest change that makes this leaf go the way the rule needs, in data and words."""
    op = OPERATORS[leaf.op].complement if negated else leaf.op
    needs = needs_phrase(op, leaf.expected, leaf.param)
    change: dict[str, Any] = {"fact": leaf.fact, "loan_id": _loan_of(leaf.fact, loan)}
    if value is UNKNOWN and op != "unknown":
        change.update(kind="provide", op=op, value=jsonable(leaf.expected), param=leaf.param)
        if ctx.is_derived(leaf.fact):
            inputs = missing_inputs(ctx, leaf.fact, loan)
            change["inputs"] = [{"fact": f, "loan_id": lid} for f, lid in inputs]
            by = ", ".join(ctx.decision.ruleset.pack.derived[leaf.fact].rules)
            provide = ", ".join(_named(f, lid) for f, lid in inputs) or "the inputs of those rules"
            text = f"{leaf.fact} is unknown (derived by {by}): provide {provide}"
        else:
            text = f"{leaf.fact} is unknown: provide it"
        if op != "known":
            text += f"; this rule needs {needs}"
        change["text"] = text
        return change
    if op == "unknown":
        change.update(kind="remove", op=op, value=None, param=None)
        change["text"] = f"{leaf.fact} is {show(value)}; this rule applies only while it is unknown"
        return change
    change.update(kind="change", op=op, value=jsonable(leaf.expected), param=leaf.param)
    text = f"{leaf.fact} is {show(value)}; this rule needs {needs}"
    if ctx.is_derived(leaf.fact):
        by = _derivers_of_value(ctx, leaf.fact, loan, value)
        inputs = input_facts(ctx, leaf.fact, loan)
        change["inputs"] = [{"fact": f, "loan_id": lid} for f, lid in inputs]
        shown = ", ".join(
            f"{_named(f, lid)} = {show(ctx.decision.memory.get(f, lid))}" for f, lid in inputs[:5]
        )
        more = f" and {len(inputs) - 5} more" if len(inputs) > 5 else ""
        text += (
            f" (derived by {by} from {shown}{more})"
            if by and shown
            else (f" (derived by {by})" if by else "")
        )
    change["text"] = text
    return change


def _derivers_of_value(ctx: _Context, fact: str, loan: str | None, value: Any) -> str:
    key = (fact, _loan_of(fact, loan))
    derivations = ctx.decision.memory.derivations.get(key, [])
    rules = [r for r, v in derivations if v == value] or [r for r, _ in derivations]
    return ", ".join(dict.fromkeys(rules))


def condition_node(
    ctx: _Context,
    cond: Condition,
    loan: str | None,
    fired: bool,
    counter: list[int],
    negated: bool = False,
) -> dict[str, Any]:
    """The condition as a tree: each leaf with actual, expected, result and (if failing) a flip."""
    if isinstance(cond, Leaf):
        index = counter[0]
        counter[0] += 1
        value = ctx.decision.memory.get(cond.fact, loan)
        result = leaf_truth(cond, value)
        node: dict[str, Any] = {
            "kind": "leaf",
            "index": index,
            "fact": cond.fact,
            "loan_id": _loan_of(cond.fact, loan),
            "op": cond.op,
            "expected": jsonable(cond.expected),
            "param": cond.param,
            "actual": jsonable(value),
            "known": value is not UNKNOWN,
            "result": result,
            "negated": negated,
            "derived": ctx.is_derived(cond.fact),
            "location": cond.location.short,
        }
        if not fired and result is not (not negated):
            node["flip"] = flip(ctx, cond, value, negated, loan)
        return node
    items = [
        condition_node(ctx, c, loan, fired, counter, negated ^ (cond.kind == "not"))
        for c in cond.items
    ]
    return {
        "kind": cond.kind,
        "result": combine(cond.kind, [i["result"] for i in items]),
        "location": cond.location.short,
        "items": items,
    }


def prune_flips(node: dict[str, Any], want: bool = True) -> None:
    """Drop the flips of leaves whose part of the condition already goes the way it must."""
    if node["result"] is want:
        for leaf in _leaf_nodes(node):
            leaf.pop("flip", None)
        return
    if node["kind"] == "not":
        prune_flips(node["items"][0], not want)
    elif node["kind"] != "leaf":
        for item in node["items"]:
            prune_flips(item, want)


def _leaf_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if node["kind"] == "leaf":
        yield node
        return
    for item in node["items"]:
        yield from _leaf_nodes(item)


def smallest_change(node: dict[str, Any], want: bool = True) -> list[dict[str, Any]] | None:
    """The fewest leaves whose flips make ``node`` evaluate to ``want`` (None: impossible)."""
    if node["kind"] == "leaf":
        if node["result"] is want:
            return []
        return [node] if "flip" in node else None
    if node["kind"] == "not":
        return smallest_change(node["items"][0], not want)
    options = [smallest_change(item, want) for item in node["items"]]
    conjunctive = (node["kind"] == "all") == want
    if conjunctive:
        if any(o is None for o in options):
            return None
        return [leaf for o in options for leaf in o or []]
    possible = [o for o in options if o is not None]
    return min(possible, key=len) if possible else None
