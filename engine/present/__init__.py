"""The presentation stage: every output document rendered from one registry by (kind, format).

``render(document, format, locale)`` turns one of the views of ``kinds`` (advice, an
explanation, a lint report, ...) into text, Markdown, JSON (or, for the pack's document
templates, HTML and iCalendar: ``engine.documents.registry`` keys those by the same
:class:`Format`, from ``engine.core.formats``). ``formats_of(kind)`` says which formats a kind has;
the command line builds its ``--format`` choices from it. Only the registry and the views load
with this package: each renderer module is imported when first used.
"""

from __future__ import annotations

from engine.core.formats import Format
from engine.present.kinds import (
    Advice,
    Card,
    Comparison,
    DocumentFiles,
    Explanation,
    Listing,
    NearMisses,
    SchemaDoc,
    Validation,
)
from engine.present.registry import TABLE, Presentable, formats_of, kinds, render, renderer

__all__ = [
    "TABLE",
    "Advice",
    "Card",
    "Comparison",
    "DocumentFiles",
    "Explanation",
    "Format",
    "Listing",
    "NearMisses",
    "Presentable",
    "SchemaDoc",
    "Validation",
    "formats_of",
    "kinds",
    "render",
    "renderer",
]
