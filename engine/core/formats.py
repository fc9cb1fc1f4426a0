"""Every output format, in one enum: the presentation registry (``engine.present``) and the
pack's document templates (``engine.documents.registry``) both key their renderers by it.

On the ground floor so that both can import it without importing each other.
"""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """An output format (declaration order is the order choices are listed in)."""

    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"
    ics = "ics"  #: iCalendar
