"""What a document template sees: a plain, data-only view of one decision (docs/documents.md).

Only strings, booleans, lists and mappings of them: no Python object with methods of its own,
no JSON ids where a person reads (loans are named as the pack names them: 借呗, the lender's
name). Every figure is already written with its unit ("¥2,200.00", "4 个月", "4 months"), and an
unknown one is a blank to fill in ("¥____"), never 0. The plan's figures are the advice's
``plan`` (``Decision.plan()``), so every document quotes the same numbers as the advice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.core.values import UNKNOWN
from engine.pack.template import format_value

if TYPE_CHECKING:
    from engine.decision import Decision
    from engine.documents.model import DocumentPack

#: The names a template may use (checked when it is loaded).
CONTEXT_NAMES = frozenset(
    {
        "lang",
        "as_of",
        "title",
        "blank",
        "pack",
        "borrower",
        "budget",
        "situation",
        "collection",
        "loans",
        "loan",
        "today",
    }
)
BLANK = "____"  #: a figure not known: a blank the person fills in by hand
NONE = "—"  #: a figure the plan's strategy does not have (a pause has no monthly payment)
MONEY_BLANK = f"¥{BLANK}"
TODAY = 3  #: recommendations quoted in full on the plan (the "today" card, SPEC §7.3)


def money(value: Any) -> str:
    """``¥1,234.00``; unknown is ``¥____`` (the same in every locale).

    >>> money(1500), money(None)
    ('¥1,500.00', '¥____')
    """
    if value is None or value is UNKNOWN or isinstance(value, bool):
        return MONEY_BLANK
    return format_value(value, "money", {})  # a number: no words needed


def months(value: Any, words: Mapping[str, str]) -> str:
    """A number of months with its unit (``words``: the engine's messages in the reader's
    locale); unknown is a blank.

    >>> en = {"documents.one_month": "{n} month", "documents.months": "{n} months"}
    >>> months(4, en), months(1, en), months(None, en)
    ('4 months', '1 month', '____ months')
    """
    known = isinstance(value, int | float) and not isinstance(value, bool)
    one = known and round(value) == 1
    return words["documents.one_month" if one else "documents.months"].format(
        n=str(round(value)) if known else BLANK
    )


def shown(value: Any, unit: str, words: Mapping[str, str]) -> Any:
    """A fact's value for a template, by its unit: booleans stay booleans (None when unknown),
    money and percentages are written with their unit or as a blank, text is one line."""
    if value is UNKNOWN:
        value = None
    if unit == "boolean":
        return value if isinstance(value, bool) else None
    if unit == "money":
        return money(value)
    if value is None:
        if unit == "percent":
            return f"{BLANK}%"
        if unit in ("date", "days", "integer", "number"):
            return BLANK
        return ""
    return format_value(value, unit, words)


def build_context(decision: Decision, pack: DocumentPack) -> dict[str, Any]:
    """The context every template of one decision gets (``loan`` is set per document)."""
    locale = decision.locale
    words = decision.ruleset.pack.words(locale)
    facts = decision.ruleset.compiled.facts
    memory = decision.memory
    situation = decision.situation
    plan = decision.plan()
    by_id = {entry["loan_id"]: entry for entry in plan["loans"]}

    def label(group: str, code: Any) -> str:
        if code is None:
            return ""
        return str(pack.labels.get(group, {}).get(str(code), {}).get(locale, code))

    def fact_value(named: Any, loan: str | None) -> Any:
        name = str(named.get(locale) if isinstance(named, Mapping) else named)
        return shown(memory.get(name, loan), facts[name].unit, words)

    recommended: dict[str, set[str]] = {}  # loan id → action codes (situation actions: all)
    for rec in decision.recommendations:
        for loan_id in rec.loan_ids or memory.loans:
            recommended.setdefault(loan_id, set()).add(rec.action)

    borrower = situation.get("borrower", {})
    loans = []
    for raw in situation["loans"]:
        loan_id = raw["id"]
        status = raw.get("status", {})
        entry = by_id.get(loan_id, {})

        def figure(field: str, shown: str, entry: Mapping[str, Any] = entry) -> str:
            skip = pack.not_applicable.get(field, ())
            return NONE if entry.get(field) is None and entry.get("strategy") in skip else shown

        extra = {field: fact_value(named, loan_id) for field, named in pack.facts["loan"].items()}
        kind = extra.get("lender_kind") or "unknown"
        if not extra.get("complaint_route"):
            extra["complaint_route"] = pack.complaint_routes.get(kind, {}).get(locale, "")
        loans.append(
            {
                "product": label("product", raw.get("product")),
                "lender_kind_label": label("lender_kind", kind),
                "lender_given": bool(raw.get("lender")),  # else ``lender`` is a description
                "balance": money(raw.get("outstanding_balance")),
                "overdue": money(raw.get("overdue_amount")),
                "monthly_payment": money(raw.get("monthly_payment")),
                "rate": shown(raw.get("annual_rate"), "percent", words),
                "next_due_date": raw.get("next_due_date") or BLANK,
                "first_missed_due_date": raw.get("first_missed_due_date") or BLANK,
                "legal": label("legal", status.get("legal", "none")),
                "legal_notice_date": status.get("legal_notice_date") or BLANK,
                "hearing_date": status.get("hearing_date") or "",
                "actions": sorted(recommended.get(loan_id, set())),
                "plan": {
                    "strategy": entry.get("strategy") or "",
                    "strategy_label": label("strategy", entry.get("strategy")),
                    "pay_now": money(entry.get("pay_now")),
                    "pays_now": bool(entry.get("pay_now")),
                    "monthly_payment": figure(
                        "monthly_payment", money(entry.get("monthly_payment"))
                    ),
                    "months": figure("months", months(entry.get("months"), words)),
                    "months_at_contract_rate": months(entry.get("months_at_contract_rate"), words),
                    "monthly_interest": money(entry.get("monthly_interest")),
                    "covers_interest": entry.get("covers_interest"),
                    "why": entry.get("why") or "",
                },
                **extra,
            }
        )
    income = borrower.get("monthly_income")
    essentials = borrower.get("monthly_essential_expenses")
    left = income - essentials if income is not None and essentials is not None else None
    conduct = situation.get("collection_conduct", {})
    return {
        "lang": locale,
        "as_of": situation["as_of"],
        "title": "",
        "blank": BLANK,
        "pack": {"name": decision.ruleset.name, "version": decision.ruleset.version},
        "borrower": {
            "monthly_income": money(income),
            "essentials": money(essentials),
            "savings": money(borrower.get("liquid_savings")),
            "dependants": str(borrower["dependants"]) if "dependants" in borrower else BLANK,
            "hardship": [label("hardship", code) for code in borrower.get("hardship", [])],
            "evidence": [label("evidence", code) for code in borrower.get("hardship_evidence", [])],
            "income_change": label("income_change", borrower.get("income_change")),
        },
        "budget": {
            "income": money(income),
            "essentials": money(essentials),
            "left": money(None if left is None else abs(left)),
            "short": left is not None and left < 0,
            "for_debts": money(plan["budget"]),
            "allocated": money(plan["allocated"]),
        },
        "situation": {
            field: fact_value(named, None) for field, named in pack.facts["situation"].items()
        },
        # every conduct the situation format knows: true only when the situation says so
        "collection": {
            name.removeprefix("collection_conduct."): conduct.get(
                name.removeprefix("collection_conduct.")
            )
            is True
            for name in sorted(facts)
            if name.startswith("collection_conduct.")
        },
        "loans": loans,
        "loan": None,
        "today": [
            {"title": rec.title, "message": rec.message} for rec in decision.recommendations[:TODAY]
        ],
    }
