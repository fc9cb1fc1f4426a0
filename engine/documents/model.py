"""A pack's documents as data: what the manifest says, and the compiled templates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LAYOUT = "layout.html.j2"  #: the HTML page every Markdown document is printed in


@dataclass(frozen=True)
class Condition:
    """One way a document applies: an action recommended, a plan strategy, or a fact's value."""

    action: str | None = None
    strategies: tuple[str, ...] = ()
    fact: str | None = None
    equals: Any = None  #: None: the fact is true, or a list that is not empty


@dataclass(frozen=True)
class DocumentSpec:
    name: str
    per_loan: bool
    when: tuple[Condition, ...]  #: any of them; empty: always
    title: Mapping[str, str]  #: by locale


@dataclass(frozen=True)
class DocumentPack:
    """A pack's documents, checked and compiled."""

    root: str
    specs: Mapping[str, DocumentSpec]  #: in DOCUMENT_NAMES order
    #: context field → fact name, or {locale: fact name}; ``loan`` and ``situation`` scopes
    facts: Mapping[str, Mapping[str, Any]]
    units: Mapping[str, str]  #: context field → the unit of its fact (money, date, boolean, ...)
    labels: Mapping[str, Mapping[str, Mapping[str, str]]]  #: group → code → locale → text
    complaint_routes: Mapping[str, Mapping[str, str]]  #: lender kind → locale → text
    calendar: Mapping[str, Any]
    #: plan figure → the strategies that have none (shown as "—", not as a blank)
    not_applicable: Mapping[str, tuple[str, ...]]
    templates: Mapping[str, Any]  #: "<name>.<locale>" → compiled jinja2 Template; and LAYOUT
