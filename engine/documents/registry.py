"""Renderers of the pack's document templates by (document, format), the format being the
presentation layer's ``Format`` (``engine.core.formats``); ``engine.present`` renders the other
output.

A renderer turns one ``Job`` (a decision's context, the pack's documents, which document and,
for a per-loan document, which loan) into the text of one file. Template documents have a
Markdown renderer (the pack's ``<name>.<locale>.md.j2``) and an HTML one (that Markdown made
into HTML by markdown-it, raw HTML off, inside the pack's autoescaped ``layout.html.j2`` with its
print CSS); the calendar has an iCalendar renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.formats import Format
from engine.documents.calendar import render_calendar
from engine.documents.model import LAYOUT, DocumentPack
from engine.documents.names import TEMPLATE_DOCUMENTS
from engine.documents.sandbox import render_template


@dataclass(frozen=True)
class Job:
    """One document to render: everything a renderer may read, nothing it may change."""

    name: str
    pack: DocumentPack
    context: Mapping[str, Any]  #: the data-only template context, ``loan`` set if per loan
    raw_loans: list[Mapping[str, Any]]  #: the situation's loans (the calendar reads their dates)
    plan: Mapping[str, Any]  #: the advice's plan


@dataclass(frozen=True)
class FileType:
    extension: str
    media_type: str


#: The formats documents are written in (``engine.core.formats.Format``, the presentation layer's),
#: and the files they make.
FORMATS: Mapping[Format, FileType] = {
    Format.markdown: FileType("md", "text/markdown; charset=utf-8"),
    Format.html: FileType("html", "text/html; charset=utf-8"),
    Format.ics: FileType("ics", "text/calendar; charset=utf-8"),
}

Renderer = Callable[[Job], str]


class TemplateRenderError(Exception):
    """A template failed while rendering: ``file`` and ``line`` say where."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(message)
        self.file, self.line, self.message = file, line, message


def render_markdown(job: Job) -> str:
    from engine.documents.sandbox import TemplateProblem

    key = f"{job.name}.{job.context['lang']}"
    try:
        text = render_template(job.pack.templates[key], dict(job.context), f"{key}.md.j2")
    except TemplateProblem as problem:
        file = f"{job.pack.root}/{key}.md.j2"
        raise TemplateRenderError(file, problem.line, problem.message) from None
    return text.rstrip("\n") + "\n"


def _markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    parser.validateLink = lambda url: False  # type: ignore[method-assign]  # no links at all
    return str(parser.render(text))


def render_html(job: Job) -> str:
    from markupsafe import Markup

    from engine.documents.sandbox import TemplateProblem

    # markdown-it with raw HTML off made this HTML from escaped Markdown: trusted as markup
    body = Markup(_markdown_to_html(render_markdown(job)))
    context = {**job.context, "body": body}
    try:
        page = render_template(job.pack.templates[LAYOUT], context, LAYOUT)
    except TemplateProblem as problem:
        file = f"{job.pack.root}/{LAYOUT}"
        raise TemplateRenderError(file, problem.line, problem.message) from None
    return page.rstrip("\n") + "\n"


def render_ics(job: Job) -> str:
    return render_calendar(job.context, job.raw_loans, job.pack.calendar, job.plan)


REGISTRY: dict[tuple[str, Format], Renderer] = {
    **{(name, Format.markdown): render_markdown for name in TEMPLATE_DOCUMENTS},
    **{(name, Format.html): render_html for name in TEMPLATE_DOCUMENTS},
    ("calendar", Format.ics): render_ics,
}


def formats_of(name: str) -> list[Format]:
    """The formats a document is written in, in FORMATS order."""
    return [fmt for fmt in FORMATS if (name, fmt) in REGISTRY]
