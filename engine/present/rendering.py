"""Render a decision for people: plain text (for someone under stress) and Markdown.

Ranked, short, one action per block, the reasons one level down. JSON output is
``Decision.to_advice()``; it is not built here.

Every piece of text from the decision (titles, messages, reasons, labels, loan ids) passes through
one neutraliser per format before it is placed (``engine.core.safetext``): ``one_line`` for text,
``markdown`` (``markdown_line`` for message lines) for Markdown, ``json_text`` for JSON. Messages
are split into lines at ``\n`` only, the line break rule packs write; values filled into them are
single lines already (``engine.pack.template.format_value``), so no text from a situation can add a
line or an item.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core.safetext import json_text, markdown, markdown_code, markdown_line, one_line
from engine.core.values import UNKNOWN
from engine.decision import Decision
from engine.pack.template import format_value
from engine.rank.ranking import Recommendation

TODAY = 3  #: recommendations shown in full by default (SPEC 7.3, the "today" card)
LATER = 5  #: recommendations listed by title after them


def _words(decision: Decision, section: str = "advice") -> dict[str, str]:
    """One section of the engine's messages in the decision's locale, by key in the section
    (``engine/core/messages/<locale>.yaml``)."""
    words = decision.ruleset.pack.words(decision.locale)
    prefix = section + "."
    return {k.removeprefix(prefix): v for k, v in words.items() if k.startswith(prefix)}


def summary_lines(decision: Decision) -> list[str]:
    """``label value`` for each summary fact, labelled by its deriving rule's title."""
    lines = []
    pack = decision.ruleset.pack
    titles = {r.id: r.title for r in pack.rules}
    w = _words(decision)
    for name, value in decision.summary().items():
        if value is None:
            continue  # unknown: nothing useful to show a person
        fact = pack.derived[name]
        label = titles[fact.rules[0]][decision.locale]
        shown = format_value(value, fact.unit, decision.ruleset.pack.words(decision.locale))
        if fact.unit == "days":  # a figure always has its unit (money and percent carry theirs)
            shown = w["one_day"] if value == 1 else w["days"].format(n=shown)
        lines.append(f"{label}: {shown}")
    return lines


def plan_lines(decision: Decision) -> list[str]:
    """The advice's plan for a person: the budget, then one line per loan that has a reason."""
    plan = decision.plan()
    w = _words(decision)

    def money(value: object) -> str:
        return format_value(
            UNKNOWN if value is None else value,
            "money",
            decision.ruleset.pack.words(decision.locale),
        )

    lines = []
    if plan["budget"] == 0 and not plan["allocated"]:
        lines.append(w["no_budget"])  # not "¥0.00 a month; the plan uses ¥0.00"
    elif plan["budget"] is not None:
        lines.append(
            w["budget"].format(
                budget=money(plan["budget"]),
                # an unknown sum is said in words, never shown as "?"
                allocated=w["not_known"] if plan["allocated"] is None else money(plan["allocated"]),
            )
        )
    # loans with the same sentence and nothing to pay today share one line naming them all
    named: dict[str, list[str]] = {}
    for entry in plan["loans"]:
        if not entry["why"]:
            continue
        name = _loan_name(decision, entry["loan_id"])
        if entry["pay_now"]:
            today = w["pay_today"].format(amount=money(entry["pay_now"]))
            lines.append(f"{name} ({today}): {entry['why']}")
            continue
        if entry["why"] not in named:
            named[entry["why"]] = []
            lines.append(entry["why"])  # a placeholder, replaced below
        named[entry["why"]].append(name)
    joiner = decision.ruleset.pack.words(decision.locale)["value.list_joiner"]
    return [f"{joiner.join(named[line])}: {line}" if line in named else line for line in lines]


def _loan_name(decision: Decision, loan_id: str) -> str:
    """The pack's name for a loan (its plan ``name`` fact), else the lender's, else the id."""
    spec = decision.ruleset.pack.plan
    if spec is not None and spec.name is not None:
        named = decision.memory.get(spec.name[decision.locale], loan_id)
        if isinstance(named, str) and named:
            return named
    lenders = {loan["id"]: loan.get("lender") for loan in decision.situation["loans"]}
    lender = lenders.get(loan_id)
    return f"{loan_id} ({lender})" if lender else loan_id


def _tag(decision: Decision, rec: Recommendation, show: Callable[[str], str], sources: bool) -> str:
    """Urgency and the loans as a person knows them; the action code only with ``--sources``."""
    parts = [_words(decision, "urgency")[rec.urgency]]
    if rec.loan_ids:
        parts.append(", ".join(_loan_name(decision, loan_id) for loan_id in rec.loan_ids))
    if sources:
        parts.append(rec.action)
    return show(" · ".join(parts))


def _reason_lines(rec: Recommendation, show: Callable[[str], str], sources: bool) -> list[str]:
    """Each reason's title; with ``--sources`` also its citation and the rule ids behind it."""
    seen: dict[str, tuple[str, list[str]]] = {}
    for reason in rec.reasons:
        _, rule_ids = seen.setdefault(reason.title, (reason.source, []))
        if reason.rule_id not in rule_ids:
            rule_ids.append(reason.rule_id)
    if not sources:
        return [show(title) for title in seen]
    return [
        show(f"{title} ({source}; {', '.join(rule_ids)})")
        for title, (source, rule_ids) in seen.items()
    ]


def _message_lines(rec: Recommendation, show: Callable[[str], str]) -> list[str]:
    """A message's lines: split at ``\n`` only (``str.splitlines`` also splits at ``\v``,
    ``\x1c``, ``\x85``, U+2028 and more, which must show as escapes, not as new lines)."""
    return [show(line) for line in rec.message.split("\n")]


@dataclass(frozen=True)
class _View:
    """What a text or Markdown output shows: some recommendations in full, some by title."""

    full: list[Recommendation]
    titles: list[Recommendation]
    crisis: bool  # the distress card (SPEC 7.3)
    more: bool  # some recommendation is not shown in full: say how to see them all


def _view(decision: Decision, top: int | None, show_all: bool) -> _View:
    """SPEC 7.3: by default the "today" card (``TODAY`` in full, ``LATER`` titles); for a person
    in crisis (the pack's ``crisis:``) only the pack's crisis actions: crisis support, court
    deadlines and who can help. ``--top N`` shows the first
    N in full (with or without ``--all``); ``--all`` shows every recommendation in full."""
    recs = list(decision.recommendations)
    if top:
        return _View(recs[:top], [], False, False)
    if show_all:
        return _View(recs, [], False, False)
    crisis = decision.ruleset.pack.crisis
    if crisis is not None and decision.memory.get(crisis.when, None) is True:
        shown = [r for r in recs if r.action in crisis.actions][:TODAY]
        if shown:
            return _View(shown, [], True, len(recs) > len(shown))
    return _View(recs[:TODAY], recs[TODAY : TODAY + LATER], False, len(recs) > TODAY)


def _more_line(w: dict[str, str], view: _View, decision: Decision) -> str:
    """How to see everything: on the crisis card, also that the rest can wait."""
    return w["crisis_more" if view.crisis else "more"].format(count=len(decision.recommendations))


def _left_out(decision: Decision, sources: bool) -> list[str]:
    """Suppressed recommendations: the pack's reason in words; the action code with --sources."""
    if sources:
        return [f"{s.action} ({s.reason})" for s in decision.suppressed]
    return list(dict.fromkeys(s.reason for s in decision.suppressed))


def render_text(
    decision: Decision,
    top: int | None = None,
    trace: bool = False,
    *,
    show_all: bool = False,
    sources: bool = False,
) -> str:
    w = _words(decision)
    show = one_line
    view = _view(decision, top, show_all)
    pack = decision.ruleset.pack
    out = [
        show(
            f"{w['heading']} · {w['as_of']} {decision.situation['as_of']} · "
            f"{w['rules']} {pack.name} {pack.version}"
        )
    ]
    # the crisis card shows nothing but the crisis actions: no figures, no plan (SPEC 7.3)
    summary = [] if view.crisis else summary_lines(decision)
    if summary:
        out.append(f"{w['summary']}:")
        out += [f"  - {show(line)}" for line in summary]
    out.append("")
    if not view.full:
        out.append(w["nothing"])
    elif not (top or show_all):
        out += [w["crisis" if view.crisis else "today"] + ":", ""]
    for number, rec in enumerate(view.full, 1):
        out.append(f"{number}. {show(rec.title)}  [{_tag(decision, rec, show, sources)}]")
        out += [f"   {line}" for line in _message_lines(rec, show)]
        reasons = _reason_lines(rec, show, sources)
        out.append(f"   {w['why']}: {reasons[0]}")
        out += [f"   {' ' * len(w['why'])}  {r}" for r in reasons[1:]]
        out.append("")
    if view.titles:
        out.append(w["later"])
        out += [
            f"{number}. {show(r.title)}  [{_tag(decision, r, show, sources)}]"
            for number, r in enumerate(view.titles, len(view.full) + 1)
        ]
        out.append("")
    if view.more:
        out += [_more_line(w, view, decision), ""]
    plan = [] if view.crisis else plan_lines(decision)
    if plan:
        out += [f"{w['plan']}:", *(f"  - {show(line)}" for line in plan), ""]
    if decision.suppressed and not view.crisis:
        out += [f"{w['suppressed']}: {show('; '.join(_left_out(decision, sources)))}", ""]
    if trace:
        out += ["trace:", *(f"  {_json_line(e)}" for e in decision.trace), ""]
    out.append(w["footer"])
    return "\n".join(out) + "\n"


def _json_line(value: Any) -> str:
    return json_text(json.dumps(value, ensure_ascii=False))


def render_markdown(
    decision: Decision,
    top: int | None = None,
    trace: bool = False,
    *,
    show_all: bool = False,
    sources: bool = False,
) -> str:
    w = _words(decision)
    show = markdown
    view = _view(decision, top, show_all)
    pack = decision.ruleset.pack
    out = [
        f"# {w['heading']} ({show(decision.situation['as_of'])})",
        "",
        f"*{w['rules']}: {show(pack.name)} {show(pack.version)}*",
        "",
    ]
    summary = [] if view.crisis else summary_lines(decision)
    if summary:
        out += [f"**{w['summary']}:** " + " · ".join(show(line) for line in summary), ""]
    if not view.full:
        out += [w["nothing"], ""]
    elif not (top or show_all):
        out += [f"**{w['crisis' if view.crisis else 'today']}:**", ""]
    for number, rec in enumerate(view.full, 1):
        title, tag = show(rec.title), _tag(decision, rec, show, sources)
        out += [f"## {number}. {title}", "", f"*{tag}*", ""]
        out += [*_message_lines(rec, markdown_line), ""]
        out += [f"- {w['why']}: {r}" for r in _reason_lines(rec, show, sources)]
        out.append("")
    if view.titles:
        out += [f"**{w['later']}**", ""]
        out += [
            f"{number}. {show(r.title)} *{_tag(decision, r, show, sources)}*"
            for number, r in enumerate(view.titles, len(view.full) + 1)
        ]
        out.append("")
    if view.more:
        out += [show(_more_line(w, view, decision)), ""]
    plan = [] if view.crisis else plan_lines(decision)
    if plan:
        out += [f"## {w['plan']}", "", *(f"- {show(line)}" for line in plan), ""]
    if decision.suppressed and not view.crisis:
        out += [f"**{w['suppressed']}:**", ""]
        if sources:
            # action codes are lower_snake_case (the pack schema): safe inside a code span
            out += [f"- `{one_line(s.action)}`: {show(s.reason)}" for s in decision.suppressed]
        else:
            out += [f"- {show(reason)}" for reason in _left_out(decision, sources)]
        out.append("")
    if trace:
        out += [markdown_code("\n".join(_json_line(e) for e in decision.trace), "json"), ""]
    out.append(f"> {w['footer']}")
    return "\n".join(out) + "\n"


def render_json(advice: dict[str, Any]) -> str:
    """Canonical, stable JSON: same input, same bytes. Control and formatting characters are
    written as ``\\uXXXX`` escapes (``json`` leaves U+007F-U+009F, U+2028 and the like raw)."""
    return json_text(json.dumps(advice, ensure_ascii=False, indent=2, sort_keys=False)) + "\n"


def render_card(decision: Decision) -> dict[str, Any]:
    """The today card of :func:`render_text` as data, for ``xieshang serve``'s page
    (``POST /v1/advise?format=card``): the same selection (SPEC 7.3: three in full, five titles,
    the distress card), the same words, summary and plan lines, no rule ids or action codes. The
    texts are as the rules wrote them: the page places them as text, never as markup.
    """
    w = _words(decision)
    view = _view(decision, None, False)
    pack = decision.ruleset.pack

    def item(rec: Recommendation) -> dict[str, Any]:
        return {
            "rank": rec.rank,
            "title": rec.title,
            "tag": _tag(decision, rec, str, False),
            "message": rec.message.split("\n"),
            "why": _reason_lines(rec, str, False),
        }

    return {
        "locale": decision.locale,
        "heading": f"{w['heading']} · {w['as_of']} {decision.situation['as_of']}",
        "rules": f"{w['rules']} {pack.name} {pack.version}",
        "summary": [] if view.crisis else summary_lines(decision),  # the crisis card: nothing else
        "crisis": view.crisis,
        "today_heading": w["crisis" if view.crisis else "today"],
        "today": [item(rec) for rec in view.full],
        "later_heading": w["later"],
        "later": [
            {"rank": r.rank, "title": r.title, "tag": _tag(decision, r, str, False)}
            for r in view.titles
        ],
        "total": len(decision.recommendations),
        "nothing": w["nothing"] if not view.full else "",
        "plan_heading": w["plan"],
        "plan": [] if view.crisis else plan_lines(decision),
        "left_out": [] if view.crisis else _left_out(decision, False),
        "footer": w["footer"],
    }
