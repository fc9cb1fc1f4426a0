"""Why and why not: proof trees, failing conditions with what would flip them, near misses.

Pure functions over a finished :class:`~engine.api.Decision` (its memory, firings and compiled
pack); nothing here decides what fires. Whether a rule fired for a binding is read from the
decision's firings; the rule's original condition tree is then evaluated with three-valued (Kleene)
logic over the decision's working memory to show each leaf's actual and expected values. A rule
fires exactly when that evaluation is true, because the compiler's DNF keeps Kleene semantics.

Every explanation is a JSON-ready ``dict`` (``schemas/explain.schema.json``); the text renderers
at the bottom only read those dicts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.checks import facts_read, leaves
from engine.errors import UsageError, did_you_mean
from engine.explain import Truth, combine, leaf_truth
from engine.expr import UNKNOWN
from engine.model import Adjust, Condition, Derive, Leaf, Recommend, Rule, Suppress
from engine.operators import OPERATORS
from engine.situation import situation_digest

if TYPE_CHECKING:
    from engine.api import Decision

MAX_DEPTH = 12  #: how deep derived-fact explanations go (derivation chains are short in practice)

_PHRASES = {
    ">": "more than {v}",
    ">=": "at least {v}",
    "<": "less than {v}",
    "<=": "at most {v}",
    "==": "{v}",
    "!=": "anything but {v}",
    "in": "one of {v}",
    "not_in": "none of {v}",
    "contains": "it to include {v}",
    "not_contains": "it not to include {v}",
}


# --- values ---------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A memory value as JSON data: UNKNOWN → None, dates → ISO text."""
    if value is UNKNOWN:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def show(value: Any) -> str:
    """A value as it is written in rules: true, 3, "refused", ["a", "b"]."""
    if value is UNKNOWN or value is None:
        return "unknown"
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))


def needs_phrase(op: str, expected: Any, param: str | None) -> str:
    """What a leaf with operator ``op`` needs, in words: ``more than 0``, ``one of "a", "b"``."""
    if op == "known":
        return "it to be known"
    if op == "unknown":
        return "it to be unknown"
    items = expected if isinstance(expected, list | tuple) else [expected]
    shown = ", ".join(show(v) for v in items)
    if param:
        shown = f"{param} ({shown})"
    return _PHRASES[op].format(v=shown)


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


def leaf_values(rule: Rule, decision: Decision, loan: str | None) -> dict[int, Any]:
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
    decision: Decision
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


def missing_inputs(
    ctx: _Context, fact: str, loan: str | None, trail: frozenset[str] = frozenset()
) -> list[tuple[str, str | None]]:
    """Unknown input facts that an unknown derived fact depends on (through its rules)."""
    if fact in trail:
        return []
    found: dict[tuple[str, str | None], None] = {}
    derived = ctx.decision.ruleset.pack.derived.get(fact)
    for rule_id in derived.rules if derived else ():
        _index, rule = ctx.rule(rule_id)
        for read in facts_read(rule):
            bindings = _bindings_of(ctx, read, loan)
            for lid in bindings:
                if ctx.decision.memory.get(read, lid) is not UNKNOWN:
                    continue
                if ctx.is_derived(read):
                    for item in missing_inputs(ctx, read, lid, trail | {fact}):
                        found[item] = None
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
        text += f" (derived by {by})" if by else ""
    change["text"] = text
    return change


def _named(fact: str, loan: str | None) -> str:
    return f"{fact} (loan {loan})" if loan is not None else fact


def _loan_of(fact: str, loan: str | None) -> str | None:
    return loan if fact.startswith("loan.") else None


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


# --- rule bindings --------------------------------------------------------------------------


def consequence(rule: Rule) -> dict[str, Any]:
    then = rule.then
    if isinstance(then, Recommend):
        return {
            "kind": "recommend",
            "action": then.action,
            "priority": then.priority,
            "urgency": then.urgency,
        }
    if isinstance(then, Adjust):
        return {"kind": "adjust", "action": then.action, "by": then.by}
    if isinstance(then, Suppress):
        return {"kind": "suppress", "action": then.action}
    assert isinstance(then, Derive)
    return {"kind": "derive", "fact": then.fact, "expression": then.text, "unit": then.unit}


def bindings(ctx: _Context, rule: Rule) -> list[str | None]:
    return list(ctx.decision.memory.loans) if rule.about == "loan" else [None]


def explain_binding(ctx: _Context, index: int, loan: str | None, depth: int = 0) -> dict[str, Any]:
    """One rule for one binding: did it fire, its conditions, derived facts and inputs."""
    rule = ctx.compiled.rules[index].rule
    fired = ctx.fired(index, loan)
    out: dict[str, Any] = {
        "rule_id": rule.id,
        "title": rule.title.get(ctx.decision.locale),
        "source": rule.source,
        "location": rule.location.short,
        "about": rule.about,
        "loan_id": loan,
        "consequence": consequence(rule),
        "fired": fired,
    }
    if (rule.id, loan) in ctx.seen or depth > MAX_DEPTH:
        out["repeated"] = True
        return out
    ctx.seen.add((rule.id, loan))
    if isinstance(rule.then, Derive) and fired:
        key = (rule.then.fact, loan)
        values = [v for r, v in ctx.decision.memory.derivations.get(key, []) if r == rule.id]
        out["value"] = jsonable(values[0]) if values else None
    node = condition_node(ctx, rule.when, loan, fired, [0]) if rule.when is not None else None
    out["condition"] = node
    if not fired and node is not None:
        prune_flips(node)
        change = smallest_change(node) or []
        out["to_fire"] = [leaf["flip"] for leaf in change]
    out["derived_from"] = [
        _derived_node(ctx, fact, lid, depth)
        for fact in facts_read(rule)
        if ctx.is_derived(fact)
        for lid in _bindings_of(ctx, fact, loan)
    ]
    out["inputs"] = [
        {"fact": fact, "loan_id": lid, "value": jsonable(ctx.decision.memory.get(fact, lid))}
        for fact in facts_read(rule)
        if not ctx.is_derived(fact)
        for lid in _bindings_of(ctx, fact, loan)
    ]
    return out


def _derived_node(ctx: _Context, fact: str, loan: str | None, depth: int) -> dict[str, Any]:
    value = ctx.decision.memory.get(fact, loan)
    key = (fact, loan)
    derivations = ctx.decision.memory.derivations.get(key, [])
    if value is not UNKNOWN:
        rule_ids = list(dict.fromkeys(r for r, v in derivations if v == value))
    else:
        rule_ids = list(ctx.decision.ruleset.pack.derived[fact].rules)
    return {
        "fact": fact,
        "loan_id": loan,
        "value": jsonable(value),
        "known": value is not UNKNOWN,
        "rules": [explain_binding(ctx, ctx.rule(r)[0], loan, depth + 1) for r in rule_ids],
    }


# --- targets and documents -------------------------------------------------------------------


def resolve_target(decision: Decision, target: str) -> tuple[str, str]:
    """``("action", code)`` or ``("rule", id)``; UsageError with a hint for anything else."""
    pack = decision.ruleset.pack
    if target in pack.actions:
        return "action", target
    if any(r.id == target for r in pack.rules):
        return "rule", target
    hint = did_you_mean(target, [*pack.actions, *(r.id for r in pack.rules)])
    message = f"'{target}' is neither an action code nor a rule id of {pack.name}"
    raise UsageError(f"{message}; {hint}" if hint else message)


def _header(decision: Decision) -> dict[str, Any]:
    ruleset = decision.ruleset
    return {
        "schema_version": 1,
        "engine": {"name": "xieshang", "version": __version__},
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "digest": ruleset.digest},
        "situation_digest": situation_digest(dict(decision.situation)),
        "as_of": decision.situation["as_of"],
        "locale": decision.locale,
    }


def _action_state(decision: Decision, action: str) -> dict[str, Any]:
    rec = next((r for r in decision.recommendations if r.action == action), None)
    suppressed = [s for s in decision.suppressed if s.action == action]
    state: dict[str, Any] = {
        "action": action,
        "status": "recommended" if rec else "suppressed" if suppressed else "not_recommended",
        "rank": rec.rank if rec else None,
        "score": rec.score if rec else None,
        "urgency": rec.urgency if rec else None,
        "score_breakdown": [
            {"term": t.term, "value": t.value, "rule_id": t.rule_id, "reason": t.reason}
            for t in (rec.score_breakdown if rec else ())
        ],
        "catalogue_position": decision.ruleset.pack.actions[action].order + 1,
    }
    return state


def explain(decision: Decision, target: str) -> dict[str, Any]:
    """The explanation document for an action code or a rule id (``schemas/explain``)."""
    kind, name = resolve_target(decision, target)
    ctx = _Context(decision)
    compiled = decision.ruleset.compiled
    doc = _header(decision)
    doc["target"] = {"kind": kind, "id": name}
    explanations: list[dict[str, Any]] = []
    suppressed_by: list[dict[str, Any]] = []
    if kind == "action":
        state = _action_state(decision, name)
        doc["status"] = state["status"]
        doc["action"] = state
        for index, crule in enumerate(compiled.rules):
            then = crule.rule.then
            if isinstance(then, Recommend) and then.action == name:
                explanations += [_fresh(ctx, index, lid) for lid in bindings(ctx, crule.rule)]
        for index, crule in enumerate(compiled.rules):
            then = crule.rule.then
            if isinstance(then, Adjust | Suppress) and then.action == name:
                fired = [lid for lid in bindings(ctx, crule.rule) if ctx.fired(index, lid)]
                target_list = suppressed_by if isinstance(then, Suppress) else explanations
                target_list += [_fresh(ctx, index, lid) for lid in fired]
        for item, sup in zip(
            suppressed_by, _suppression_reasons(decision, suppressed_by), strict=True
        ):
            item["reason"] = sup
    else:
        index, rule = ctx.rule(name)
        any_fired = any(ctx.fired(index, lid) for lid in bindings(ctx, rule))
        doc["status"] = "fired" if any_fired else "not_fired"
        explanations = [_fresh(ctx, index, lid) for lid in bindings(ctx, rule)]
        action = getattr(rule.then, "action", None)
        doc["action"] = _action_state(decision, action) if action else None
    doc["explanations"] = explanations
    doc["suppressed_by"] = suppressed_by
    return doc


def _fresh(ctx: _Context, index: int, loan: str | None) -> dict[str, Any]:
    """A top-level explanation: derived facts are explained in full under each one."""
    ctx.seen = set()
    return explain_binding(ctx, index, loan)


def _suppression_reasons(decision: Decision, items: list[dict[str, Any]]) -> list[str]:
    reasons = {s.rule_id: s.reason for s in decision.suppressed}
    return [reasons.get(item["rule_id"], "") for item in items]


def compare(decision: Decision, first: str, second: str) -> dict[str, Any]:
    """Why ``first`` ranks above (or below) ``second``, term by term."""
    for code in (first, second):
        if code not in decision.ruleset.pack.actions:
            hint = did_you_mean(code, decision.ruleset.pack.actions)
            message = f"'{code}' is not an action code"
            raise UsageError(f"{message}; {hint}" if hint else message)
    a, b = _action_state(decision, first), _action_state(decision, second)
    doc = _header(decision)
    doc["target"] = {"kind": "compare", "id": f"{first} {second}"}
    terms = []
    for term in ("priority", "adjustment"):
        ta = [t for t in a["score_breakdown"] if t["term"] == term]
        tb = [t for t in b["score_breakdown"] if t["term"] == term]
        for i in range(max(len(ta), len(tb))):
            terms.append(
                {
                    "term": term,
                    "a": ta[i] if i < len(ta) else None,
                    "b": tb[i] if i < len(tb) else None,
                }
            )
    higher, decided_by, sentence = _verdict(a, b)
    doc["compare"] = {
        "a": a,
        "b": b,
        "terms": terms,
        "higher": higher,
        "decided_by": decided_by,
        "summary": sentence,
    }
    return doc


def _verdict(a: dict[str, Any], b: dict[str, Any]) -> tuple[str | None, str, str]:
    name_a, name_b = a["action"], b["action"]
    if a["rank"] is None or b["rank"] is None:
        if a["rank"] is None and b["rank"] is None:
            return None, "not_recommended", f"neither {name_a} nor {name_b} is recommended"
        shown, missing = (a, b) if b["rank"] is None else (b, a)
        return (
            shown["action"],
            "not_recommended",
            f"{shown['action']} is recommended (rank {shown['rank']}); {missing['action']} is"
            f" {missing['status'].replace('_', ' ')}",
        )
    first, second = (a, b) if a["rank"] < b["rank"] else (b, a)
    if first["score"] != second["score"]:
        diff = first["score"] - second["score"]
        return (
            first["action"],
            "score",
            f"{first['action']} (rank {first['rank']}) ranks above {second['action']}"
            f" (rank {second['rank']}): its score {first['score']} is {diff} more than"
            f" {second['score']}",
        )
    if first["catalogue_position"] != second["catalogue_position"]:
        return (
            first["action"],
            "catalogue_order",
            f"both score {first['score']}; the tie is broken by the action catalogue order"
            f" (SPEC §3): {first['action']} is #{first['catalogue_position']},"
            f" {second['action']} #{second['catalogue_position']}",
        )
    return (
        first["action"],
        "rule_id",
        f"both score {first['score']} at the same catalogue position; the tie is broken by"
        " the primary rule id",
    )


def near_misses(decision: Decision) -> list[dict[str, Any]]:
    """Recommend rules one condition short, for actions not recommended nor suppressed.

    One condition short: flipping exactly one leaf (the way the rule needs it) would make the
    rule's condition tree true under Kleene logic, and at least one other leaf already goes the
    rule's way (so a one-condition rule that does not apply is not "almost"). Each entry lists
    every such single change.
    """
    ctx = _Context(decision)
    taken = {r.action for r in decision.recommendations} | {s.action for s in decision.suppressed}
    order = decision.ruleset.pack.actions
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for index, crule in enumerate(decision.ruleset.compiled.rules):
        rule = crule.rule
        then = rule.then
        if not isinstance(then, Recommend) or then.action in taken or rule.when is None:
            continue
        rule_leaves = list(leaves(rule.when))
        polarity = list(leaf_polarity(rule.when))
        for lid in bindings(ctx, rule):
            if ctx.fired(index, lid):
                continue
            values = leaf_values(rule, decision, lid)
            flips = single_flips(rule, values)
            holding = [
                leaf_truth(leaf, values[i]) is (not polarity[i])
                for i, leaf in enumerate(rule_leaves)
            ]
            if not flips or not any(holding):
                continue  # a rule with nothing yet in its favour is not "almost"
            changes = []
            for i in flips:
                leaf = rule_leaves[i]
                change = flip(ctx, leaf, values[i], polarity[i], lid)
                change["location"] = leaf.location.short
                change["actual"] = jsonable(values[i])
                changes.append(change)
            entry = {
                "action": then.action,
                "rule_id": rule.id,
                "location": rule.location.short,
                "loan_id": lid,
                "priority": then.priority,
                "changes": changes,
            }
            key = (
                -then.priority,
                order[then.action].order,
                rule.id,
                decision.memory.loan_index(lid),
            )
            found.append((key, entry))
    return [entry for _, entry in sorted(found, key=lambda kv: kv[0])]


# --- text -----------------------------------------------------------------------------------

_MARK = {True: "✓", False: "✗", None: "?"}


def _leaf_text(node: dict[str, Any]) -> str:
    rhs = ""
    if node["op"] not in ("known", "unknown"):
        rhs = f" {node['param']}" if node["param"] else f" {show(node['expected'])}"
        if node["param"]:
            rhs += f" ({show(node['expected'])})"
    actual = show(node["actual"]) if node["known"] else "unknown"
    return f"{node['fact']} {node['op']}{rhs}   [actual: {actual}]"


def _condition_lines(node: dict[str, Any], indent: str) -> list[str]:
    mark = _MARK[node["result"]]
    if node["kind"] == "leaf":
        lines = [f"{indent}{mark} {_leaf_text(node)}  {node['location']}"]
        if "flip" in node:
            lines.append(f"{indent}    → {node['flip']['text']}")
        return lines
    lines = [f"{indent}{mark} {node['kind']}:"]
    for item in node["items"]:
        lines += _condition_lines(item, indent + "    ")
    return lines


def _binding_head(item: dict[str, Any]) -> str:
    where = f", loan {item['loan_id']}" if item["loan_id"] is not None else ""
    state = "fired" if item["fired"] else "did not fire"
    return f"rule {item['rule_id']} ({item['location']}, {item['source']}{where}): {state}"


def binding_lines(item: dict[str, Any], indent: str = "  ") -> list[str]:
    """A rule binding's explanation as indented lines (proof tree or why-not)."""
    lines = [f"{indent}← {_binding_head(item)}"]
    inner = indent + "    "
    if item.get("repeated"):
        lines[0] += " (explained above)"
        return lines
    con = item["consequence"]
    if con["kind"] == "derive" and item["fired"]:
        lines.append(f"{inner}derives {con['fact']} = {show(item.get('value'))}")
    if item["condition"] is None:
        lines.append(f"{inner}(no conditions: always applies)")
    else:
        lines += _condition_lines(item["condition"], inner)
    if not item["fired"] and item.get("to_fire"):
        lines.append(f"{inner}to make it fire:")
        lines += [f"{inner}  - {change['text']}" for change in item["to_fire"]]
    for derived in item["derived_from"]:
        where = f" (loan {derived['loan_id']})" if derived["loan_id"] is not None else ""
        lines.append(f"{inner}← derived fact {derived['fact']}{where} = {show(derived['value'])}")
        for sub in derived["rules"]:
            lines += binding_lines(sub, inner + "  ")
    if item["inputs"]:
        shown = ", ".join(
            f"{_named(i['fact'], i['loan_id'])} = {show(i['value'])}" for i in item["inputs"]
        )
        lines.append(f"{inner}← inputs: {shown}")
    return lines


def render_explain_text(doc: dict[str, Any]) -> str:
    if "compare" in doc:
        return render_compare_text(doc)
    target = doc["target"]
    lines: list[str] = []
    state = doc.get("action")
    if target["kind"] == "action":
        assert state is not None
        head = f"{target['id']}: {state['status'].replace('_', ' ')}"
        if state["rank"] is not None:
            head += f", rank {state['rank']}, score {state['score']}"
            terms = " + ".join(
                f"{t['value']} ({t['term']}, {t['rule_id']})" for t in state["score_breakdown"]
            )
            head += f" = {terms}"
        lines.append(head)
    else:
        head = f"rule {target['id']}: {doc['status'].replace('_', ' ')}"
        if state is not None:
            head += f" (action {state['action']}: {state['status'].replace('_', ' ')})"
        lines.append(head)
    for item in doc["suppressed_by"]:
        lines.append(f"  suppressed by {item['rule_id']}: {item.get('reason', '')}")
        lines += binding_lines(item, "    ")
    if target["kind"] == "action" and not doc["explanations"]:
        lines.append(f"  no rule of {doc['ruleset']['name']} recommends {target['id']}")
    for item in doc["explanations"]:
        lines += binding_lines(item)
    return "\n".join(lines) + "\n"


def render_compare_text(doc: dict[str, Any]) -> str:
    cmp = doc["compare"]
    a, b = cmp["a"], cmp["b"]
    lines = [cmp["summary"]]

    def cell(term: dict[str, Any] | None) -> str:
        return f"{term['value']:+d} {term['rule_id']}" if term else "-"

    def state(side: dict[str, Any]) -> str:
        if side["rank"] is None:
            return str(side["status"]).replace("_", " ")
        return f"rank {side['rank']}, score {side['score']}"

    cells = [cell(t["a"]) for t in cmp["terms"]] + [a["action"], state(a)]
    width = max(len(c) for c in cells)
    lines.append(f"  {'term':<12}{a['action']:<{width + 2}}{b['action']}")
    for term in cmp["terms"]:
        lines.append(f"  {term['term']:<12}{cell(term['a']):<{width + 2}}{cell(term['b'])}")
    lines.append(f"  {'total':<12}{state(a):<{width + 2}}{state(b)}")
    lines.append(
        f"  {'catalogue':<12}{'#' + str(a['catalogue_position']):<{width + 2}}"
        f"#{b['catalogue_position']}"
    )
    return "\n".join(lines) + "\n"


def render_near_misses_text(items: list[dict[str, Any]], locale: str) -> str:
    """The near-miss section appended to ``advise`` text and Markdown output."""
    if not items:
        return ""
    head = "差一个条件就会建议:" if locale == "zh-CN" else "One condition short:"
    lines = [head]
    for item in items:
        where = f", loan {item['loan_id']}" if item["loan_id"] is not None else ""
        lines.append(f"  {item['action']} (rule {item['rule_id']}{where})")
        lines += [f"    - {c['text']}" for c in item["changes"]]
    return "\n".join(lines) + "\n"
