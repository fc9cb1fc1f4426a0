"""Fixture contexts: every template rendered before it meets a person's situation.

``rules validate`` renders each template of a pack against two made-up contexts with every field
the real context has (``engine.documents.context``): one where everything is known and every
flag is true, one where nothing is known and every flag is false. A field the context does not
have, or a sandbox refusal, is an error with the template's file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.errors import RuleError
from engine.core.source import Location
from engine.documents.context import BLANK, MONEY_BLANK, months
from engine.documents.model import DocumentPack
from engine.documents.registry import REGISTRY, Job, TemplateRenderError


def fixture_context(
    pack: DocumentPack, locale: str, words: Mapping[str, str], full: bool
) -> dict[str, Any]:
    money = "¥1,234.00" if full else MONEY_BLANK
    text = "示例" if full else ""
    flag = full

    samples = {
        "boolean": flag if full else None,
        "date": "2026-12-05" if full else BLANK,
        "money": money,
        "percent": "24%" if full else f"{BLANK}%",
    }

    def extra(scope: str) -> dict[str, Any]:
        return {
            field: samples.get(pack.units.get(field, "text"), text) for field in pack.facts[scope]
        }

    loan = {
        "product": text,
        "lender_kind_label": text,
        "lender_given": flag,
        "balance": money,
        "overdue": money,
        "monthly_payment": money,
        "rate": "18.25%" if full else f"{BLANK}%",
        "next_due_date": "2026-12-10" if full else BLANK,
        "first_missed_due_date": "2026-11-10" if full else BLANK,
        "legal": text,
        "legal_notice_date": "2026-11-20" if full else BLANK,
        "hearing_date": "2026-12-15" if full else "",
        "actions": sorted(_all_actions(pack)) if full else [],
        "plan": {
            "strategy": "instalments" if full else "",
            "strategy_label": text,
            "pay_now": money,
            "pays_now": flag,
            "monthly_payment": money,
            "months": months(4 if full else None, words),
            "months_at_contract_rate": months(5 if full else None, words),
            "monthly_interest": money,
            "covers_interest": flag if full else None,
            "why": text,
        },
        **extra("loan"),
    }
    loan.setdefault("complaint_route", text)
    return {
        "lang": locale,
        "as_of": "2026-11-28",
        "title": text,
        "blank": BLANK,
        "pack": {"name": "fixture", "version": "0"},
        "borrower": {
            "monthly_income": money,
            "essentials": money,
            "savings": money,
            "dependants": "1" if full else BLANK,
            "hardship": [text] if full else [],
            "evidence": [text] if full else [],
            "income_change": text,
        },
        "budget": {
            "income": money,
            "essentials": money,
            "left": money,
            "short": flag,
            "for_debts": money,
            "allocated": money,
        },
        "situation": extra("situation"),
        "collection": {key: flag for key in _CONDUCT},
        "loans": [loan],
        "loan": loan,
        "today": [{"title": text, "message": text}] if full else [],
    }


_CONDUCT = (
    "asked_to_pay_personal_account",
    "calls_at_night",
    "contacted_third_parties",
    "demanded_fees",
    "excessive_calls",
    "impersonated_authority",
    "public_shaming",
    "pushed_new_loan",
    "threats_or_insults",
)


def _all_actions(pack: DocumentPack) -> set[str]:
    return {c.action for spec in pack.specs.values() for c in spec.when if c.action}


def render_fixtures(
    pack: DocumentPack, messages: Mapping[str, Mapping[str, str]]
) -> list[RuleError]:
    """Render every template in every locale of ``messages`` (the pack's: locale → words)."""
    errors: set[RuleError] = set()
    for locale, words in messages.items():
        for full in (True, False):
            context = fixture_context(pack, locale, words, full)
            for (name, fmt), renderer in REGISTRY.items():
                if name not in pack.specs or fmt == "ics":
                    continue
                loan = context["loan"] if pack.specs[name].per_loan else None
                job = Job(name, pack, {**context, "loan": loan}, [], {"loans": []})
                try:
                    renderer(job)
                except TemplateRenderError as exc:
                    errors.add(
                        RuleError(Location(exc.file, exc.line), "documents_render", exc.message)
                    )
    return sorted(errors)
