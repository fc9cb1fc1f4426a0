"""Why and why not, stage 2: the explanation document of an action or a rule (``explain``).

For each binding of each rule that recommends, adjusts or suppresses the action (or of the one
rule asked about): whether it fired, its condition tree with flips, the derived facts it read,
each explained in turn by the rules that derived it (to ``MAX_DEPTH``), and its input facts.
Every explanation is a JSON-ready ``dict`` (``schemas/explain.schema.json``).
"""

from __future__ import annotations

from typing import Any

from engine.checks import facts_read
from engine.errors import UsageError, did_you_mean
from engine.model import Adjust, Derive, Recommend, Rule, Suppress
from engine.situation import situation_digest
from engine.values import UNKNOWN
from engine.version import __version__
from engine.whynot.flips import (
    _bindings_of,
    _Context,
    condition_node,
    prune_flips,
    smallest_change,
)
from engine.whynot.subject import DecisionView
from engine.whynot.values import jsonable

MAX_DEPTH = 12  #: how deep derived-fact explanations go (derivation chains are short in practice)


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
        "title": rule.title[ctx.decision.locale],
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


def resolve_target(decision: DecisionView, target: str) -> tuple[str, str]:
    """``("action", code)`` or ``("rule", id)``; UsageError with a hint for anything else."""
    pack = decision.ruleset.pack
    if target in pack.actions:
        return "action", target
    if any(r.id == target for r in pack.rules):
        return "rule", target
    hint = did_you_mean(target, [*pack.actions, *(r.id for r in pack.rules)])
    message = f"'{target}' is neither an action code nor a rule id of {pack.name}"
    raise UsageError(f"{message}; {hint}" if hint else message)


def _header(decision: DecisionView) -> dict[str, Any]:
    ruleset = decision.ruleset
    return {
        "schema_version": 1,
        "engine": {"name": "xieshang", "version": __version__},
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "digest": ruleset.digest},
        "situation_digest": situation_digest(dict(decision.situation)),
        "as_of": decision.situation["as_of"],
        "locale": decision.locale,
    }


def _action_state(decision: DecisionView, action: str) -> dict[str, Any]:
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


def explain(decision: DecisionView, target: str) -> dict[str, Any]:
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


def _suppression_reasons(decision: DecisionView, items: list[dict[str, Any]]) -> list[str]:
    reasons = {s.rule_id: s.reason for s in decision.suppressed}
    return [reasons.get(item["rule_id"], "") for item in items]
