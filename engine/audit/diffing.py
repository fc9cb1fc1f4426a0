"""What changed between two rule packs, what that does to advice, and which rules are to blame.

A rule's *definition* is everything about it except where it is written (file, line, index): two
rules with the same id and definition behave the same. Parameters are compared by value; a rule
that uses a changed parameter has changed. An action's change in the advice is attributed to the
changed rules that recommend, adjust or suppress it, or that derive (transitively) a fact those
rules read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.api import evaluate
from engine.core.values import canonical_json
from engine.load.checks import facts_read, leaves
from engine.load.situation import default_today
from engine.pack import expr
from engine.pack.model import (
    Adjust,
    Condition,
    Derive,
    Leaf,
    LocalText,
    Pack,
    Recommend,
    Rule,
    Suppress,
)
from engine.pack.template import TemplateError, placeholders
from engine.whynot import jsonable

# --- rule definitions -----------------------------------------------------------------------


def _text(text: LocalText) -> dict[str, str]:
    return dict(text)


def _condition(cond: Condition) -> dict[str, Any]:
    if isinstance(cond, Leaf):
        rhs = {"param": cond.param} if cond.param else {"value": jsonable(cond.expected)}
        return {"fact": cond.fact, "op": cond.op, **rhs}
    return {cond.kind: [_condition(c) for c in cond.items]}


def rule_definition(rule: Rule) -> dict[str, Any]:
    """The rule as data, without positions; parameters by name (their values are compared apart)."""
    then = rule.then
    if isinstance(then, Recommend):
        body: dict[str, Any] = {
            "recommend": {
                "action": then.action,
                "priority": then.priority,
                "urgency": then.urgency,
                "title": _text(then.title),
                "message": _text(then.message),
            }
        }
        if then.common is not None:
            body["recommend"]["common"] = _text(then.common)
    elif isinstance(then, Adjust):
        body = {"adjust": {"action": then.action, "by": then.by, "reason": _text(then.reason)}}
    elif isinstance(then, Suppress):
        body = {"suppress": {"action": then.action, "reason": _text(then.reason)}}
    else:
        assert isinstance(then, Derive)
        body = {
            "derive": {
                "fact": then.fact,
                "value": then.text,
                "unit": then.unit,
                "summary": then.summary,
            }
        }
    return {
        "id": rule.id,
        "title": _text(rule.title),
        "source": rule.source,
        "about": rule.about,
        "when": _condition(rule.when) if rule.when else None,
        **body,
    }


def texts(rule: Rule) -> list[LocalText]:
    then = rule.then
    found = [rule.title]
    if isinstance(then, Recommend):
        found += [then.title, then.message]
        if then.common is not None:
            found.append(then.common)
    elif isinstance(then, Adjust | Suppress):
        found.append(then.reason)
    return found


def parameters_used(rule: Rule) -> list[str]:
    """Parameters a rule reads: in conditions, in its expression and in its texts."""
    names = [leaf.param for leaf in leaves(rule.when) if leaf.param]
    if isinstance(rule.then, Derive):
        names += [n for n, _ in expr.names(rule.then.expr) if n.startswith("params.")]
    for text in texts(rule):
        for template in text.values():
            try:
                names += [n for n in placeholders(template) if n.startswith("params.")]
            except TemplateError:
                continue
    return list(dict.fromkeys(n.removeprefix("params.") for n in names))


def _digest(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:16]


def manifest(pack: Pack) -> dict[str, Any]:
    """A compact fingerprint of a pack: per rule, its definition hash and parameters used; and
    every parameter's value. Stored in decision records so replay can say which rules changed."""
    return {
        "rules": {
            rule.id: {
                "definition": _digest(rule_definition(rule)),
                "parameters": parameters_used(rule),
            }
            for rule in pack.rules
        },
        "parameters": {name: jsonable(p.value) for name, p in sorted(pack.parameters.items())},
    }


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    change: str  #: added | removed | changed
    details: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "change": self.change, "details": list(self.details)}

    def __str__(self) -> str:
        extra = f" ({'; '.join(self.details)})" if self.details else ""
        return f"{self.rule_id}: {self.change}{extra}"


def rule_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[RuleChange]:
    """Rule-level differences between two manifests (see :func:`manifest`), in rule id order."""
    changes: list[RuleChange] = []
    old_rules, new_rules = old["rules"], new["rules"]
    old_params, new_params = old["parameters"], new["parameters"]
    for rule_id in sorted(set(old_rules) | set(new_rules)):
        if rule_id not in new_rules:
            changes.append(RuleChange(rule_id, "removed"))
            continue
        if rule_id not in old_rules:
            changes.append(RuleChange(rule_id, "added"))
            continue
        before, after = old_rules[rule_id], new_rules[rule_id]
        details = []
        if before["definition"] != after["definition"]:
            details.append("definition changed")
        for name in after["parameters"]:
            was, now = old_params.get(name), new_params.get(name)
            if canonical_json(was) != canonical_json(now):
                details.append(f"parameter {name}: {_show(was)} → {_show(now)}")
        if details:
            changes.append(RuleChange(rule_id, "changed", tuple(details)))
    return changes


def parameter_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    found = []
    for name in sorted(set(old["parameters"]) | set(new["parameters"])):
        was, now = old["parameters"].get(name), new["parameters"].get(name)
        if canonical_json(was) != canonical_json(now):
            found.append(f"{name}: {_show(was)} → {_show(now)}")
    return found


def _show(value: Any) -> str:
    return "absent" if value is None else canonical_json(value)


# --- attribution ----------------------------------------------------------------------------


def relevant_rules(pack: Pack) -> dict[str, set[str]]:
    """action → ids of the rules that can change it: its recommend/adjust/suppress rules and the
    rules deriving (transitively) any fact those read."""
    derivers: dict[str, list[Rule]] = {}
    for rule in pack.rules:
        if isinstance(rule.then, Derive):
            derivers.setdefault(rule.then.fact, []).append(rule)
    out: dict[str, set[str]] = {}
    for rule in pack.rules:
        action = getattr(rule.then, "action", None)
        if action is None:
            continue
        found = out.setdefault(action, set())
        found.add(rule.id)
        todo = list(facts_read(rule))
        seen: set[str] = set()
        while todo:
            fact = todo.pop()
            if fact in seen:
                continue
            seen.add(fact)
            for deriver in derivers.get(fact, []):
                found.add(deriver.id)
                todo += facts_read(deriver)
    return out


def attribute(
    action: str, changed: Iterable[str], packs: Iterable[Pack], mentioned: Iterable[str] = ()
) -> list[str]:
    """The changed rules that can explain a change to ``action``, sorted."""
    relevant: set[str] = set(mentioned)
    for pack in packs:
        relevant |= relevant_rules(pack).get(action, set())
    return sorted(set(changed) & relevant)


# --- advice differences ---------------------------------------------------------------------


def advice_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """How the recommendations of two advice documents differ, action by action.

    ``change`` is ``added``, ``removed``, ``reranked`` (its rank moved) or ``changed`` (same rank;
    score, urgency, title, message or loans differ); suppression changes are ``suppressed`` and
    ``unsuppressed``.
    """
    before = {r["action"]: r for r in old["recommendations"]}
    after = {r["action"]: r for r in new["recommendations"]}
    order = [r["action"] for r in new["recommendations"]] + [
        r["action"] for r in old["recommendations"] if r["action"] not in after
    ]
    changes: list[dict[str, Any]] = []
    for action in order:
        was, now = before.get(action), after.get(action)
        entry: dict[str, Any] = {"action": action, "old": _brief(was), "new": _brief(now)}
        if was is None:
            entry["change"] = "added"
        elif now is None:
            entry["change"] = "removed"
        elif was["rank"] != now["rank"]:
            entry["change"] = "reranked"
        else:
            fields = [
                k
                for k in ("score", "urgency", "title", "message", "loan_ids", "score_breakdown")
                if was[k] != now[k]
            ]
            if not fields:
                continue
            entry["change"] = "changed"
            entry["fields"] = fields
        changes.append(entry)
    old_sup = {s["action"] for s in old["suppressed"]}
    new_sup = {s["action"] for s in new["suppressed"]}
    for action in sorted(new_sup - old_sup):
        changes.append({"action": action, "change": "suppressed", "old": None, "new": None})
    for action in sorted(old_sup - new_sup):
        changes.append({"action": action, "change": "unsuppressed", "old": None, "new": None})
    return changes


def _brief(rec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    return {"rank": rec["rank"], "score": rec["score"]}


def rules_in_advice(advice: Mapping[str, Any], action: str) -> list[str]:
    """Rule ids an advice document names for an action (reasons, score terms, suppressions)."""
    found: list[str] = []
    for rec in advice["recommendations"]:
        if rec["action"] == action:
            found += [r["rule_id"] for r in rec["reasons"]]
            found += [t["rule_id"] for t in rec["score_breakdown"]]
    found += [s["rule_id"] for s in advice["suppressed"] if s["action"] == action]
    return list(dict.fromkeys(found))


def describe_change(change: Mapping[str, Any]) -> str:
    old: Any = change.get("old")
    new: Any = change.get("new")
    kind = change["change"]
    if kind == "added":
        text = f"+ {change['action']} added at rank {new['rank']} (score {new['score']})"
    elif kind == "removed":
        text = f"- {change['action']} removed (was rank {old['rank']}, score {old['score']})"
    elif kind == "reranked":
        text = (
            f"~ {change['action']} rank {old['rank']} → {new['rank']}"
            f" (score {old['score']} → {new['score']})"
        )
    elif kind == "changed":
        text = f"~ {change['action']} changed: {', '.join(change['fields'])}"
    else:
        text = f"~ {change['action']} {kind}"
    because = change.get("because")
    if because:
        text += f"  because: {', '.join(because)}"
    elif because is not None:
        text += "  (no changed rule touches it: moved by the other changes)"
    return text


# --- corpus diff ----------------------------------------------------------------------------


def diff_corpus(
    old_ruleset: Any, new_ruleset: Any, situations: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Evaluate every situation with both packs; report advice changes with their causes.

    ``situations`` holds (label, parsed situation); each is evaluated with the same ``today``.
    """
    today = default_today()
    old_m, new_m = manifest(old_ruleset.pack), manifest(new_ruleset.pack)
    changes = rule_changes(old_m, new_m)
    changed_ids = [c.rule_id for c in changes]
    packs = (old_ruleset.pack, new_ruleset.pack)
    results = []
    for label, situation in situations:
        old = evaluate(old_ruleset, situation, today=today).to_advice()
        new = evaluate(new_ruleset, situation, today=today).to_advice()
        items = advice_changes(old, new)
        for item in items:
            item["because"] = attribute(item["action"], changed_ids, packs)
        results.append({"situation": label, "changes": items})
    return {
        "old": _ruleset(old_ruleset),
        "new": _ruleset(new_ruleset),
        "rule_changes": [c.as_dict() for c in changes],
        "parameter_changes": parameter_changes(old_m, new_m),
        "situations": results,
        "changed": sum(1 for r in results if r["changes"]),
    }


def _ruleset(ruleset: Any) -> dict[str, str]:
    return {"name": ruleset.name, "version": ruleset.version, "digest": ruleset.digest}


def render_diff_text(report: Mapping[str, Any]) -> str:
    old, new = report["old"], report["new"]
    lines = [
        f"rules: {old['name']} {old['version']} ({old['digest'][:19]}…) → "
        f"{new['name']} {new['version']} ({new['digest'][:19]}…)"
    ]
    if report["rule_changes"]:
        lines.append("rule changes:")
        lines += [
            f"  {RuleChange(c['rule_id'], c['change'], tuple(c['details']))}"
            for c in report["rule_changes"]
        ]
    else:
        lines.append("rule changes: none")
    if report["parameter_changes"]:
        lines.append("parameter changes: " + "; ".join(report["parameter_changes"]))
    for item in report["situations"]:
        if not item["changes"]:
            continue
        lines.append(f"{item['situation']}:")
        lines += [f"  {describe_change(c)}" for c in item["changes"]]
    total = len(report["situations"])
    lines.append(f"{report['changed']} of {total} situations change")
    return "\n".join(lines) + "\n"
