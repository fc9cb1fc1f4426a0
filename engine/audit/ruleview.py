"""``xieshang rules show``: one rule in readable form, with its YAML, parameters and test cases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.audit.diffing import parameters_used
from engine.core.errors import UsageError, did_you_mean
from engine.load.checks import facts_read
from engine.load.packs import builtin_rules_dir
from engine.pack.model import Condition, Leaf, Rule
from engine.whynot import consequence, jsonable

if TYPE_CHECKING:
    from engine.audit.testing import CaseResult
    from engine.run.ruleset import RuleSet


def find_rule(ruleset: RuleSet, rule_id: str) -> Rule:
    for rule in ruleset.pack.rules:
        if rule.id == rule_id:
            return rule
    hint = did_you_mean(rule_id, [r.id for r in ruleset.pack.rules])
    message = f"no rule '{rule_id}' in {ruleset.name}"
    raise UsageError(f"{message}; {hint}" if hint else message)


def condition_lines(cond: Condition | None, indent: str = "  ") -> list[str]:
    if cond is None:
        return [f"{indent}(always)"]
    if isinstance(cond, Leaf):
        return [f"{indent}{cond.describe()}"]
    lines = [f"{indent}{cond.kind}:"]
    for item in cond.items:
        lines += condition_lines(item, indent + "  ")
    return lines


def _file(display: str) -> Path | None:
    candidates = [Path(display)]
    if display.startswith("rules/"):
        with contextlib.suppress(FileNotFoundError):
            candidates.append(builtin_rules_dir().parent / display)
    return next((p for p in candidates if p.is_file()), None)


def yaml_text(rule: Rule) -> str:
    """The rule's own lines in its YAML file (from its ``- id:`` item to the next item)."""
    path = _file(rule.location.file)
    if path is None or rule.location.line <= 0:
        return ""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = rule.location.line - 1
    while start > 0 and not lines[start].lstrip().startswith("- "):
        start -= 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and (len(line) - len(line.lstrip())) <= indent:
            break
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def show_rule(
    ruleset: RuleSet, rule_id: str, results: Iterable[CaseResult] | None = None
) -> dict[str, Any]:
    rule = find_rule(ruleset, rule_id)
    pack = ruleset.pack
    params = []
    for name in parameters_used(rule):
        p = pack.parameters[name]
        params.append(
            {
                "name": name,
                "value": jsonable(p.value),
                "source": p.source,
                "note": p.note,
                "location": p.location.short,
            }
        )
    derived_read = [
        {"fact": f, "rules": list(pack.derived[f].rules)}
        for f in facts_read(rule)
        if f in pack.derived
    ]
    read_by: list[str] = []
    target = getattr(rule.then, "fact", None)
    if target:
        read_by = [r.id for r in pack.rules if target in facts_read(r) and r.id != rule.id]
    cases = []
    ran = 0
    for result in results or ():
        ran += 1
        decision = result.decision
        if decision is None:
            continue
        index = next(
            i for i, c in enumerate(decision.ruleset.compiled.rules) if c.rule.id == rule.id
        )
        fired = [f for f in decision.firings if f.rule_index == index]
        if fired:
            cases.append(
                {
                    "name": result.case.name,
                    "location": result.case.location.short,
                    "loan_ids": [f.loan_id for f in fired if f.loan_id is not None],
                }
            )
    return {
        "rule_id": rule.id,
        "location": rule.location.short,
        "kind": rule.kind,
        "about": rule.about,
        "title": dict(rule.title),
        "source": rule.source,
        "when": condition_lines(rule.when),
        "consequence": consequence(rule),
        "parameters": params,
        "derived_facts_read": derived_read,
        "read_by": read_by,
        "yaml": yaml_text(rule),
        "cases": cases,
        "cases_run": ran,
    }


def render_show_text(view: dict[str, Any]) -> str:
    con = view["consequence"]
    what = ", ".join(f"{k} {v}" for k, v in con.items() if k != "kind")
    lines = [
        f"rule {view['rule_id']}  ({view['location']})",
        f"  title:   {view['title']['en']} / {view['title']['zh-CN']}",
        f"  source:  {view['source']}",
        f"  about:   {view['about']}"
        + (" (evaluated once per loan)" if view["about"] == "loan" else ""),
        f"  {con['kind']}: {what}",
        "  when:",
        *[f"  {line}" for line in view["when"]],
    ]
    if view["parameters"]:
        lines.append("  parameters used:")
        lines += [
            f"    {p['name']} = {p['value']}  ({p['source']}; {p['location']})"
            for p in view["parameters"]
        ]
    else:
        lines.append("  parameters used: none")
    for d in view["derived_facts_read"]:
        lines.append(f"  reads derived fact {d['fact']} ← {', '.join(d['rules'])}")
    if view["read_by"]:
        lines.append(f"  read by: {', '.join(view['read_by'])}")
    lines.append(f"  covered by {len(view['cases'])} of {view['cases_run']} test cases:")
    for case in view["cases"]:
        loans = f" (loans {', '.join(case['loan_ids'])})" if case["loan_ids"] else ""
        lines.append(f"    {case['location']}: {case['name']}{loans}")
    if view["yaml"]:
        lines.append("  source text:")
        lines += [f"    {line}" for line in view["yaml"].splitlines()]
    return "\n".join(lines) + "\n"
