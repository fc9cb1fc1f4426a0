"""The documents the engine can build (a light module: importing it loads no template engine)."""

from __future__ import annotations

#: Every document, in the order they are written. ``calendar`` is made in Python
#: (engine.documents.calendar); the others from the pack's templates, one per locale:
#: ``documents/<name>.<locale>.md.j2`` (Markdown; the HTML is made from it).
DOCUMENT_NAMES: tuple[str, ...] = (
    "plan",
    "calendar",
    "call_script",
    "hardship_statement",
    "instalment_request",
    "complaint_letter",
    "fee_dispute",
    "credit_report_dispute",
    "relatives_message",
)
TEMPLATE_DOCUMENTS = tuple(name for name in DOCUMENT_NAMES if name != "calendar")
