"""The plan's dates as an iCalendar file (RFC 5545, written by the ``icalendar`` library).

Events, all-day: each loan's next due date, the court's deadlines and the hearing, the lump sum
to pay today, each plan instalment, and a review date. The words come from the pack
(``calendar:`` in documents.yaml, ``{name}``-style placeholders). Deterministic: every UID is
derived from the event's content and DTSTAMP is the situation's ``as_of``, never the clock, so
the same decision always gives the same bytes.
"""

from __future__ import annotations

import calendar as months_calendar
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import icalendar

from engine.pack.template import TemplateError, placeholders, render

#: The placeholders each event's text may use (checked when the pack's documents load).
EVENT_FIELDS: Mapping[str, frozenset[str]] = {
    "due": frozenset({"name", "amount"}),
    "court_deadline": frozenset({"name"}),
    "appeal_deadline": frozenset({"name"}),
    "hearing": frozenset({"name"}),
    "pay_now": frozenset({"name", "amount"}),
    "instalment": frozenset({"name", "amount", "number", "count"}),
    "review": frozenset(),
}
MAX_INSTALMENTS = 60  #: events per loan at most (the pack's plan ceiling is 60 months)


@dataclass(frozen=True, order=True)
class Event:
    """One all-day event: its date, kind, the loan's position, the instalment number, the text."""

    day: dt.date
    kind: str
    loan_index: int
    number: int
    summary: str


def add_months(day: dt.date, count: int) -> dt.date:
    """The same day ``count`` months later, or the month's last day when it is shorter.

    >>> add_months(dt.date(2026, 1, 31), 1), add_months(dt.date(2026, 11, 28), 3)
    (datetime.date(2026, 2, 28), datetime.date(2027, 2, 28))
    """
    month = day.month - 1 + count
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, months_calendar.monthrange(year, month)[1]))


def events(
    context: Mapping[str, Any],
    raw_loans: list[Mapping[str, Any]],
    words: Mapping[str, Any],
    plan: Mapping[str, Any],
) -> list[Event]:
    """The events of one decision, in date order.

    ``context`` is the template context (names and figures as shown), ``raw_loans`` the
    situation's loans and ``plan`` the advice's plan (for the number of instalments).
    """
    locale = context["lang"]
    as_of = dt.date.fromisoformat(context["as_of"])
    texts = words.get("events", {})
    open_ended = int(words.get("open_ended_instalments", 3))

    def text(kind: str, **values: str) -> str:
        template = texts.get(kind, {}).get(locale, kind)
        return render(template, lambda name: values[name])

    def date(value: Any) -> dt.date | None:
        try:
            return dt.date.fromisoformat(value) if isinstance(value, str) and value else None
        except ValueError:
            return None

    out: list[Event] = []
    entries = {entry["loan_id"]: entry for entry in plan["loans"]}
    for index, (raw, loan) in enumerate(zip(raw_loans, context["loans"], strict=True)):
        name = loan["name"]
        due = date(raw.get("next_due_date"))
        if due is not None and due >= as_of:
            out.append(
                Event(due, "due", index, 0, text("due", name=name, amount=loan["monthly_payment"]))
            )
        for kind in ("court_deadline", "appeal_deadline"):
            day = date(loan.get(kind))
            if day is not None and day >= as_of:
                out.append(Event(day, kind, index, 0, text(kind, name=name)))
        hearing = date(loan["hearing_date"])
        if hearing is not None and hearing >= as_of:
            out.append(Event(hearing, "hearing", index, 0, text("hearing", name=name)))
        entry = entries.get(raw["id"], {})
        if entry.get("pay_now"):
            out.append(
                Event(
                    as_of,
                    "pay_now",
                    index,
                    0,
                    text("pay_now", name=name, amount=loan["plan"]["pay_now"]),
                )
            )
        if entry.get("monthly_payment") and entry.get("strategy") not in (None, "court"):
            count = min(entry.get("months") or open_ended, MAX_INSTALMENTS)
            first = due if due is not None and due > as_of else add_months(as_of, 1)
            for number in range(1, count + 1):
                out.append(
                    Event(
                        add_months(first, number - 1),
                        "instalment",
                        index,
                        number,
                        text(
                            "instalment",
                            name=name,
                            amount=loan["plan"]["monthly_payment"],
                            number=str(number),
                            count=str(count),
                        ),
                    )
                )
    review = as_of + dt.timedelta(days=int(words.get("review_after_days", 30)))
    out.append(Event(review, "review", -1, 0, text("review")))
    return sorted(out)


def check_words(words: Mapping[str, Any]) -> list[str]:
    """Problems with the pack's calendar texts (unknown placeholders, bad braces)."""
    problems = []
    for kind, by_locale in words.get("events", {}).items():
        allowed = EVENT_FIELDS.get(kind)
        if allowed is None:
            problems.append(f"unknown calendar event {kind!r} (known: {', '.join(EVENT_FIELDS)})")
            continue
        for locale, template in by_locale.items():
            try:
                unknown = set(placeholders(str(template))) - allowed
            except TemplateError as exc:
                problems.append(f"calendar event {kind!r} ({locale}): {exc.message}")
                continue
            if unknown:
                problems.append(
                    f"calendar event {kind!r} ({locale}): unknown placeholder"
                    f" {{{sorted(unknown)[0]}}}; allowed: {', '.join(sorted(allowed)) or 'none'}"
                )
    return problems


def render_calendar(
    context: Mapping[str, Any],
    raw_loans: list[Mapping[str, Any]],
    words: Mapping[str, Any],
    plan: Mapping[str, Any],
) -> str:
    as_of = dt.date.fromisoformat(context["as_of"])
    stamp = dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", f"-//xieshang//{context['pack']['name']} {context['pack']['version']}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", str(words.get("name", {}).get(context["lang"], "xieshang")))
    for event in events(context, raw_loans, words, plan):
        loan_id = raw_loans[event.loan_index]["id"] if event.loan_index >= 0 else ""
        key = f"{event.kind}|{loan_id}|{event.day.isoformat()}|{event.number}|{event.summary}"
        item = icalendar.Event()
        item.add("uid", f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@xieshang")
        item.add("dtstamp", stamp)
        item.add("dtstart", event.day)
        item.add("dtend", event.day + dt.timedelta(days=1))
        item.add("summary", event.summary)
        item.add("categories", [event.kind])
        cal.add_component(item)
    return bytes(cal.to_ical()).decode("utf-8")
