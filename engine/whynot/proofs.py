"""Why and why not, stage 2: the explanation document of an action or a rule (``explain``).

For each binding of each rule that recommends, adjusts or suppresses the action (or of the one
rule asked about): whether it fired, its condition tree with flips, the derived facts it read,
each explained in turn by the rules that derived it (to ``MAX_DEPTH``), and its input facts.
The document is a frozen :class:`ExplainDocument`; its ``as_dict()`` is the JSON of
``schemas/explain.schema.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from engine.core.errors import UsageError, did_you_mean
from engine.core.facts import Scope
from engine.core.values import UNKNOWN
from engine.load.checks import facts_read
from engine.load.situation import situation_digest
from engine.pack.model import Adjust, Consequence, Derive, Recommend, Rule, Suppress
from engine.rank.ranking import ScoreTerm
from engine.version import __version__
from engine.whynot.flips import (
    ExplainedCondition,
    Flip,
    _bindings_of,
    _Context,
    explained_condition,
)
from engine.whynot.subject import DecisionView
from engine.whynot.values import jsonable

MAX_DEPTH = 12  #: how deep derived-fact explanations go (derivation chains are short in practice)


# --- rule bindings --------------------------------------------------------------------------


def consequence(rule: Rule) -> dict[str, Any]:
    """What a rule does, as data (``schemas/explain.schema.json``, ``consequence``)."""
    return consequence_dict(rule.then)


def consequence_dict(then: Consequence) -> dict[str, Any]:
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


@dataclass(frozen=True, slots=True)
class FactValue:
    """An input fact a rule read, for one binding, with its value (None when unknown)."""

    fact: str
    loan_id: str | None
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "loan_id": self.loan_id, "value": self.value}


@dataclass(frozen=True, slots=True)
class DerivedFact:
    """A derived fact a rule read, with its value and the rules that derived it (every deriving
    rule when it is unknown), each explained in turn."""

    fact: str
    loan_id: str | None
    value: Any  #: as JSON data; None when unknown
    known: bool
    rules: tuple[BindingExplanation, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact,
            "loan_id": self.loan_id,
            "value": self.value,
            "known": self.known,
            "rules": [rule.as_dict() for rule in self.rules],
        }


@dataclass(frozen=True, slots=True)
class BindingExplanation:
    """One rule for one binding: did it fire, its conditions, the derived facts and inputs it
    read (``schemas/explain.schema.json``, ``binding``)."""

    rule_id: str
    title: str
    source: str
    location: str
    about: Scope
    loan_id: str | None
    consequence: Consequence
    fired: bool
    #: explained in full earlier in the same tree (or too deep): nothing below is filled in
    repeated: bool = False
    derives: bool = False  #: a derive rule that fired: ``value`` is what it derived
    value: Any = None
    condition: ExplainedCondition | None = None
    to_fire: tuple[Flip, ...] | None = None  #: the fewest changes that make it fire
    derived_from: tuple[DerivedFact, ...] = ()
    inputs: tuple[FactValue, ...] = ()
    reason: str | None = None  #: for a suppressing rule: its reason

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "source": self.source,
            "location": self.location,
            "about": self.about,
            "loan_id": self.loan_id,
            "consequence": consequence_dict(self.consequence),
            "fired": self.fired,
        }
        if self.repeated:
            out["repeated"] = True
        else:
            if self.derives:
                out["value"] = self.value
            out["condition"] = None if self.condition is None else self.condition.as_dict()
            if self.to_fire is not None:
                out["to_fire"] = [change.as_dict() for change in self.to_fire]
            out["derived_from"] = [derived.as_dict() for derived in self.derived_from]
            out["inputs"] = [read.as_dict() for read in self.inputs]
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def explain_binding(
    ctx: _Context, index: int, loan: str | None, depth: int = 0
) -> BindingExplanation:
    """One rule for one binding: did it fire, its conditions, derived facts and inputs."""
    rule = ctx.compiled.rules[index].rule
    fired = ctx.fired(index, loan)
    head = BindingExplanation(
        rule_id=rule.id,
        title=rule.title[ctx.decision.locale],
        source=rule.source,
        location=rule.location.short,
        about=rule.about,
        loan_id=loan,
        consequence=rule.then,
        fired=fired,
    )
    if (rule.id, loan) in ctx.seen or depth > MAX_DEPTH:
        return dataclasses.replace(head, repeated=True)
    ctx.seen.add((rule.id, loan))
    derives = isinstance(rule.then, Derive) and fired
    value = None
    if isinstance(rule.then, Derive) and fired:
        key = (rule.then.fact, loan)
        values = [v for r, v in ctx.decision.memory.derivations.get(key, []) if r == rule.id]
        value = jsonable(values[0]) if values else None
    condition, to_fire = explained_condition(ctx, ctx.decision.condition_result(index, loan), fired)
    derived_from = tuple(
        _derived_fact(ctx, fact, lid, depth)
        for fact in facts_read(rule)
        if ctx.is_derived(fact)
        for lid in _bindings_of(ctx, fact, loan)
    )
    inputs = tuple(
        FactValue(fact, lid, jsonable(ctx.decision.memory.get(fact, lid)))
        for fact in facts_read(rule)
        if not ctx.is_derived(fact)
        for lid in _bindings_of(ctx, fact, loan)
    )
    return dataclasses.replace(
        head,
        derives=derives,
        value=value,
        condition=condition,
        to_fire=to_fire,
        derived_from=derived_from,
        inputs=inputs,
    )


def _derived_fact(ctx: _Context, fact: str, loan: str | None, depth: int) -> DerivedFact:
    value = ctx.decision.memory.get(fact, loan)
    key = (fact, loan)
    derivations = ctx.decision.memory.derivations.get(key, [])
    if value is not UNKNOWN:
        rule_ids = list(dict.fromkeys(r for r, v in derivations if v == value))
    else:
        rule_ids = list(ctx.decision.ruleset.pack.derived[fact].rules)
    return DerivedFact(
        fact,
        loan,
        jsonable(value),
        value is not UNKNOWN,
        tuple(explain_binding(ctx, ctx.rule(r)[0], loan, depth + 1) for r in rule_ids),
    )


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


@dataclass(frozen=True, slots=True)
class Header:
    """What every explanation document starts with: the engine, the rules, the situation."""

    engine_version: str
    ruleset_name: str
    ruleset_version: str
    ruleset_digest: str
    situation_digest: str
    as_of: str
    locale: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "engine": {"name": "xieshang", "version": self.engine_version},
            "ruleset": {
                "name": self.ruleset_name,
                "version": self.ruleset_version,
                "digest": self.ruleset_digest,
            },
            "situation_digest": self.situation_digest,
            "as_of": self.as_of,
            "locale": self.locale,
        }


def _header(decision: DecisionView) -> Header:
    ruleset = decision.ruleset
    return Header(
        __version__,
        ruleset.name,
        ruleset.version,
        ruleset.digest,
        situation_digest(dict(decision.situation)),
        decision.situation["as_of"],
        decision.locale,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """What was asked about: an action, a rule, or two actions compared."""

    kind: Literal["action", "rule", "compare"]
    id: str  #: the action code, the rule id, or the two action codes separated by a space

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id}


def score_term_dict(term: ScoreTerm) -> dict[str, Any]:
    return {"term": term.term, "value": term.value, "rule_id": term.rule_id, "reason": term.reason}


ActionStatus = Literal["recommended", "suppressed", "not_recommended"]


@dataclass(frozen=True, slots=True)
class ActionState:
    """An action's place in the advice (``schemas/explain.schema.json``, ``action_state``)."""

    action: str
    status: ActionStatus
    rank: int | None
    score: int | None
    urgency: str | None
    score_breakdown: tuple[ScoreTerm, ...]
    catalogue_position: int  #: 1-based: breaks score ties

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "status": self.status,
            "rank": self.rank,
            "score": self.score,
            "urgency": self.urgency,
            "score_breakdown": [score_term_dict(t) for t in self.score_breakdown],
            "catalogue_position": self.catalogue_position,
        }


def _action_state(decision: DecisionView, action: str) -> ActionState:
    rec = next((r for r in decision.recommendations if r.action == action), None)
    suppressed = [s for s in decision.suppressed if s.action == action]
    status: ActionStatus = (
        "recommended" if rec else "suppressed" if suppressed else "not_recommended"
    )
    return ActionState(
        action=action,
        status=status,
        rank=rec.rank if rec else None,
        score=rec.score if rec else None,
        urgency=rec.urgency if rec else None,
        score_breakdown=rec.score_breakdown if rec else (),
        catalogue_position=decision.ruleset.pack.actions[action].order + 1,
    )


@dataclass(frozen=True, slots=True)
class ExplainDocument:
    """Why an action or a rule fired, or why not (``schemas/explain.schema.json``)."""

    header: Header
    target: Target
    #: for an action: its state in the advice; for a rule: ``fired`` or ``not_fired``
    status: str
    action: ActionState | None  #: the action asked about, or the rule's (None: a derive rule)
    explanations: tuple[BindingExplanation, ...]
    suppressed_by: tuple[BindingExplanation, ...]  #: the suppress rules that fired, with reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.header.as_dict(),
            "target": self.target.as_dict(),
            "status": self.status,
            "action": None if self.action is None else self.action.as_dict(),
            "explanations": [item.as_dict() for item in self.explanations],
            "suppressed_by": [item.as_dict() for item in self.suppressed_by],
        }


def explain(decision: DecisionView, target: str) -> ExplainDocument:
    """The explanation document for an action code or a rule id (``schemas/explain``)."""
    kind, name = resolve_target(decision, target)
    ctx = _Context(decision)
    compiled = decision.ruleset.compiled
    explanations: list[BindingExplanation] = []
    suppressed_by: list[BindingExplanation] = []
    state: ActionState | None
    if kind == "action":
        state = _action_state(decision, name)
        status: str = state.status
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
        reasons = {s.rule_id: s.reason for s in decision.suppressed}
        suppressed_by = [
            dataclasses.replace(item, reason=reasons.get(item.rule_id, ""))
            for item in suppressed_by
        ]
    else:
        index, rule = ctx.rule(name)
        any_fired = any(ctx.fired(index, lid) for lid in bindings(ctx, rule))
        status = "fired" if any_fired else "not_fired"
        explanations = [_fresh(ctx, index, lid) for lid in bindings(ctx, rule)]
        action = getattr(rule.then, "action", None)
        state = _action_state(decision, action) if action else None
    return ExplainDocument(
        _header(decision),
        Target("action" if kind == "action" else "rule", name),
        status,
        state,
        tuple(explanations),
        tuple(suppressed_by),
    )


def _fresh(ctx: _Context, index: int, loan: str | None) -> BindingExplanation:
    """A top-level explanation: derived facts are explained in full under each one."""
    ctx.seen = set()
    return explain_binding(ctx, index, loan)
