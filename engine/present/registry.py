"""Renderers by (document kind, format): the one table every output goes through.

A *document* is one of the small frozen views of ``engine.present.kinds`` (advice, an
explanation, a lint report, ...); its ``kind`` names it here. :func:`render` looks up
``(kind, format)`` and calls the renderer; a pair the table does not have is a
:class:`~engine.core.errors.UsageError` that lists the formats the kind does have.

The table names each renderer as ``module:function`` and imports it on first use: reading which
formats a kind has (the CLI builds its ``--format`` choices from that at start-up) imports
nothing else, so ``xieshang --help`` and a cached-pack ``advise`` stay as cheap as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.core.errors import UsageError
from engine.core.formats import Format


class Presentable(Protocol):
    """What :func:`render` dispatches on: a document that names its kind."""

    @property
    def kind(self) -> str: ...


#: A renderer: the document and the locale asked for (None: the document's own) to text.
Renderer = Callable[[Any, str | None], str]

_ADVICE = "engine.present.advice"
_EXPLAIN = "engine.present.explanation"
_AUDIT = "engine.audit.reports"  # the audit package's own reports
_PACK = "engine.present.pack"

#: (kind, format) → "module:function". Adding a format for a kind is one line here and its function.
TABLE: Mapping[tuple[str, Format], str] = {
    ("advice", Format.text): f"{_ADVICE}:advice_text",
    ("advice", Format.json): f"{_ADVICE}:advice_json",
    ("advice", Format.markdown): f"{_ADVICE}:advice_markdown",
    ("card", Format.json): f"{_ADVICE}:card_json",
    ("near_misses", Format.text): f"{_ADVICE}:near_misses_text",
    ("near_misses", Format.markdown): f"{_ADVICE}:near_misses_markdown",
    ("explain", Format.text): f"{_EXPLAIN}:explain_text",
    ("explain", Format.json): f"{_EXPLAIN}:as_json",
    ("compare", Format.text): f"{_EXPLAIN}:compare_text",
    ("compare", Format.json): f"{_EXPLAIN}:as_json",
    ("lint", Format.text): f"{_AUDIT}:lint_text",
    ("lint", Format.json): f"{_AUDIT}:lint_json",
    ("diff", Format.text): f"{_AUDIT}:diff_text",
    ("diff", Format.json): f"{_AUDIT}:as_json",
    ("coverage", Format.text): f"{_AUDIT}:coverage_text",
    ("coverage", Format.json): f"{_AUDIT}:coverage_json",
    ("tests", Format.text): f"{_AUDIT}:tests_text",
    ("tests", Format.json): f"{_AUDIT}:tests_json",
    ("replay", Format.text): f"{_AUDIT}:replay_text",
    ("replay", Format.json): f"{_AUDIT}:replay_json",
    ("rule", Format.text): f"{_AUDIT}:rule_text",
    ("rule", Format.json): f"{_AUDIT}:as_json",
    ("schema", Format.json): f"{_PACK}:schema_json",
    ("list", Format.text): f"{_PACK}:list_text",
    ("list", Format.json): f"{_PACK}:list_json",
    ("validation", Format.text): f"{_PACK}:validation_text",
    ("validation", Format.json): f"{_PACK}:validation_json",
    ("documents", Format.text): f"{_PACK}:documents_text",
    ("documents", Format.json): f"{_PACK}:documents_json",
}

_loaded: dict[str, Renderer] = {}


def kinds() -> list[str]:
    """Every document kind, in table order."""
    return list(dict.fromkeys(kind for kind, _ in TABLE))


def formats_of(*kinds_: str) -> list[Format]:
    """The formats every one of ``kinds_`` can be rendered in, in :class:`Format` order.

    >>> [f.value for f in formats_of("advice")]
    ['text', 'json', 'markdown']
    >>> [f.value for f in formats_of("explain", "compare")]
    ['text', 'json']
    """
    unknown = [k for k in kinds_ if k not in kinds()]
    if unknown:
        raise UsageError(f"unknown document kind '{unknown[0]}' (known: {', '.join(kinds())})")
    return [fmt for fmt in Format if all((kind, fmt) in TABLE for kind in kinds_)]


def renderer(kind: str, fmt: Format | str) -> Renderer:
    """The renderer of ``(kind, fmt)``; UsageError naming the formats ``kind`` has otherwise."""
    chosen = _format(fmt, kind)
    target = TABLE.get((kind, chosen))
    if target is None:
        supported = ", ".join(f.value for f in formats_of(kind))
        raise UsageError(f"{kind} cannot be shown as {chosen.value} (formats: {supported})")
    if target not in _loaded:
        module, function = target.split(":")
        _loaded[target] = getattr(importlib.import_module(module), function)
    return _loaded[target]


def _format(fmt: Format | str, kind: str) -> Format:
    try:
        return Format(fmt)
    except ValueError:
        supported = ", ".join(f.value for f in formats_of(kind))
        raise UsageError(f"unknown format '{fmt}' for {kind} (formats: {supported})") from None


def render(document: Presentable, fmt: Format | str, locale: str | None = None) -> str:
    """``document`` as ``fmt`` text, whole (JSON ends with a newline like every other format).

    ``locale`` None renders in the document's own locale; the authoring tools' reports are in
    English whatever it says.
    """
    return renderer(document.kind, fmt)(document, locale)
