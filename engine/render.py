"""Render a decision for people: plain text (for someone under stress) and Markdown.

Ranked, short, one action per block, the reasons one level down. JSON output is
``Decision.to_advice()``; it is not built here.

Every piece of text from the decision (titles, messages, reasons, labels, loan ids) passes through
one neutraliser per format before it is placed (``engine.safetext``): ``one_line`` for text,
``markdown`` (``markdown_line`` for message lines) for Markdown, ``json_text`` for JSON. Messages
are split into lines at ``\n`` only, the line break rule packs write; values filled into them are
single lines already (``engine.template.format_value``), so no text from a situation can add a
line or an item.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.decision import Decision
from engine.ranking import Recommendation
from engine.safetext import json_text, markdown, markdown_code, markdown_line, one_line
from engine.template import format_value
from engine.values import UNKNOWN

_URGENCY = {
    "en": {
        "immediate": "now",
        "this_week": "this week",
        "before_due": "before the due date",
        "ongoing": "ongoing",
    },
    "zh-CN": {
        "immediate": "立即",
        "this_week": "本周内",
        "before_due": "到期前",
        "ongoing": "长期",
    },
}
_WORDS = {
    "en": {
        "heading": "Advice",
        "as_of": "as of",
        "rules": "rules",
        "summary": "Summary",
        "why": "Why",
        "loans": "loans",
        "nothing": "No recommendation applies to this situation.",
        "suppressed": "Left out",
        "later": "Also worth doing (all {count} in full: --top {count}):",
        "footer": "General guidance from published rules, not legal"
        " advice. Check every figure with your lender, or with the court's papers"
        " once a court has decided.",
        "plan": "Your plan",
        "budget": "For unsecured debts: {budget} a month; the plan uses {allocated}",
        "today": "pay {amount} today",
        "not_known": "an amount not known (some payments were not given)",
    },
    "zh-CN": {
        "heading": "建议",
        "as_of": "日期",
        "rules": "规则包",
        "summary": "概况",
        "why": "原因",
        "loans": "贷款",
        "nothing": "没有适用于此情况的建议。",
        "suppressed": "未列出",
        "later": "之后还可以做（查看全部 {count} 条的详情：--top {count}）：",
        "footer": "以上是基于公开规则的一般性建议，不是法律意见；所有金额请以贷款方显示为准；"
        "法院已经判决或支付令已生效的，以法院文书为准。",
        "plan": "你的还款计划",
        "budget": "每月可用于无抵押债务 {budget}，计划用 {allocated}",
        "today": "今天先还 {amount}",
        "not_known": "多少未知（有的月供没有给出）",
    },
}


DETAILED = 6  #: recommendations shown in full in the text format when --top is not given


def _words(locale: str) -> dict[str, str]:
    return _WORDS["en" if locale == "en" else "zh-CN"]


def summary_lines(decision: Decision) -> list[str]:
    """``label value`` for each summary fact, labelled by its deriving rule's title."""
    lines = []
    pack = decision.ruleset.pack
    titles = {r.id: r.title for r in pack.rules}
    for name, value in decision.summary().items():
        if value is None:
            continue  # unknown: nothing useful to show a person
        fact = pack.derived[name]
        label = titles[fact.rules[0]].get(decision.locale)
        lines.append(f"{label}: {format_value(value, fact.unit, decision.locale)}")
    return lines


def plan_lines(decision: Decision) -> list[str]:
    """The advice's plan for a person: the budget, then one line per loan that has a reason."""
    plan = decision.plan()
    w = _words(decision.locale)

    def money(value: object) -> str:
        return format_value(UNKNOWN if value is None else value, "money", decision.locale)

    lines = []
    if plan["budget"] is not None:
        lines.append(
            w["budget"].format(
                budget=money(plan["budget"]),
                # an unknown sum is said in words, never shown as "?"
                allocated=w["not_known"] if plan["allocated"] is None else money(plan["allocated"]),
            )
        )
    for entry in plan["loans"]:
        if not entry["why"]:
            continue
        name = _loan_name(decision, entry["loan_id"])
        today = (
            f" ({w['today'].format(amount=money(entry['pay_now']))})" if entry["pay_now"] else ""
        )
        lines.append(f"{name}{today}: {entry['why']}")
    return lines


def _loan_name(decision: Decision, loan_id: str) -> str:
    """The pack's name for a loan (its plan ``name`` fact), else the lender's, else the id."""
    spec = decision.ruleset.pack.plan
    if spec is not None and spec.name is not None:
        named = decision.memory.get(spec.name.get(decision.locale), loan_id)
        if isinstance(named, str) and named:
            return named
    lenders = {loan["id"]: loan.get("lender") for loan in decision.situation["loans"]}
    lender = lenders.get(loan_id)
    return f"{loan_id} ({lender})" if lender else loan_id


def _tag(rec: Recommendation, locale: str, show: Callable[[str], str]) -> str:
    parts = [_URGENCY["en" if locale == "en" else "zh-CN"][rec.urgency]]
    if rec.loan_ids:
        parts.append(", ".join(rec.loan_ids))
    return show(" · ".join(parts))


def _reason_lines(rec: Recommendation, show: Callable[[str], str]) -> list[str]:
    seen: dict[str, str] = {}
    for reason in rec.reasons:
        seen.setdefault(reason.title, reason.source)
    return [show(f"{title} ({source})") for title, source in seen.items()]


def _message_lines(rec: Recommendation, show: Callable[[str], str]) -> list[str]:
    """A message's lines: split at ``\n`` only (``str.splitlines`` also splits at ``\v``,
    ``\x1c``, ``\x85``, U+2028 and more, which must show as escapes, not as new lines)."""
    return [show(line) for line in rec.message.split("\n")]


def render_text(decision: Decision, top: int | None = None, trace: bool = False) -> str:
    w = _words(decision.locale)
    show = one_line
    recs = decision.recommendations[:top] if top else decision.recommendations
    pack = decision.ruleset.pack
    out = [
        show(
            f"{w['heading']} · {w['as_of']} {decision.situation['as_of']} · "
            f"{w['rules']} {pack.name} {pack.version}"
        )
    ]
    summary = summary_lines(decision)
    if summary:
        out.append(f"{w['summary']}:")
        out += [f"  - {show(line)}" for line in summary]
    out.append("")
    if not recs:
        out.append(w["nothing"])
    # Someone under stress reads the first few; the rest are listed by title (--top N: all in full).
    detailed = recs if top else recs[:DETAILED]
    for rec in detailed:
        out.append(f"{rec.rank}. {show(rec.title)}  [{_tag(rec, decision.locale, show)}]")
        out += [f"   {line}" for line in _message_lines(rec, show)]
        reasons = _reason_lines(rec, show)
        out.append(f"   {w['why']}: {reasons[0]}")
        out += [f"   {' ' * len(w['why'])}  {r}" for r in reasons[1:]]
        out.append("")
    if len(recs) > len(detailed):
        out.append(w["later"].format(count=len(recs)))
        out += [
            f"{r.rank}. {show(r.title)}  [{_tag(r, decision.locale, show)}]"
            for r in recs[len(detailed) :]
        ]
        out.append("")
    plan = plan_lines(decision)
    if plan:
        out += [f"{w['plan']}:", *(f"  - {show(line)}" for line in plan), ""]
    if decision.suppressed:
        left = "; ".join(f"{s.action} ({s.reason})" for s in decision.suppressed)
        out += [f"{w['suppressed']}: {show(left)}", ""]
    if trace:
        out += ["trace:", *(f"  {_json_line(e)}" for e in decision.trace), ""]
    out.append(w["footer"])
    return "\n".join(out) + "\n"


def _json_line(value: Any) -> str:
    return json_text(json.dumps(value, ensure_ascii=False))


def render_markdown(decision: Decision, top: int | None = None, trace: bool = False) -> str:
    w = _words(decision.locale)
    show = markdown
    recs = decision.recommendations[:top] if top else decision.recommendations
    pack = decision.ruleset.pack
    out = [
        f"# {w['heading']} ({show(decision.situation['as_of'])})",
        "",
        f"*{w['rules']}: {show(pack.name)} {show(pack.version)}*",
        "",
    ]
    summary = summary_lines(decision)
    if summary:
        out += [f"**{w['summary']}:** " + " · ".join(show(line) for line in summary), ""]
    if not recs:
        out += [w["nothing"], ""]
    for rec in recs:
        title, tag = show(rec.title), _tag(rec, decision.locale, show)
        out += [f"## {rec.rank}. {title}", "", f"*{tag}*", ""]
        out += [*_message_lines(rec, markdown_line), ""]
        out += [f"- {w['why']}: {r}" for r in _reason_lines(rec, show)]
        out.append("")
    plan = plan_lines(decision)
    if plan:
        out += [f"## {w['plan']}", "", *(f"- {show(line)}" for line in plan), ""]
    if decision.suppressed:
        out += [f"**{w['suppressed']}:**", ""]
        # action codes are lower_snake_case (the pack schema): safe inside a code span
        out += [f"- `{one_line(s.action)}`: {show(s.reason)}" for s in decision.suppressed]
        out.append("")
    if trace:
        out += [markdown_code("\n".join(_json_line(e) for e in decision.trace), "json"), ""]
    out.append(f"> {w['footer']}")
    return "\n".join(out) + "\n"


def render_json(advice: dict[str, Any]) -> str:
    """Canonical, stable JSON: same input, same bytes. Control and formatting characters are
    written as ``\\uXXXX`` escapes (``json`` leaves U+007F-U+009F, U+2028 and the like raw)."""
    return json_text(json.dumps(advice, ensure_ascii=False, indent=2, sort_keys=False)) + "\n"
