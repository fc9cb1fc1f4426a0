"""Renderers of explanations (registered in ``registry.TABLE``): why an action or rule fired
or not, and why one action ranks where it does against another. Text comes from
``engine.whynot``'s own renderers, unchanged; JSON is the explanation's data as ``render_json``
writes it.
"""

from __future__ import annotations

from engine.present.kinds import Comparison, Explanation
from engine.present.rendering import render_json
from engine.whynot import render_compare_text, render_explain_text


def as_json(view: Explanation | Comparison, locale: str | None) -> str:
    """A report that is JSON-ready data already."""
    return render_json(view.data.as_dict())


def explain_text(view: Explanation, locale: str | None) -> str:
    return render_explain_text(view.data)


def compare_text(view: Comparison, locale: str | None) -> str:
    return render_compare_text(view.data)
