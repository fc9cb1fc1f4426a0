"""Why and why not: proof trees, failing conditions with what would flip them, near misses.

Pure functions over a finished :class:`~engine.decision.Decision` (its memory, firings and compiled
pack); nothing here decides what fires. Every explanation is a JSON-ready ``dict``
(``schemas/explain.schema.json``); the text renderers only read those dicts.

The stages, one module each: ``values`` (values in JSON and words), ``flips`` (one binding's
condition tree and what would flip it), ``proofs`` (``explain``: the document for an action or
a rule), ``ranking`` (``compare`` of two actions), ``nearmiss`` (``near_misses``) and ``text``
(the renderers).
"""

from __future__ import annotations

from engine.whynot.flips import (
    condition_node,
    flip,
    leaf_polarity,
    leaf_values,
    missing_inputs,
    prune_flips,
    single_flips,
    smallest_change,
    truth,
)
from engine.whynot.nearmiss import near_misses
from engine.whynot.proofs import (
    MAX_DEPTH,
    bindings,
    consequence,
    explain,
    explain_binding,
    resolve_target,
)
from engine.whynot.ranking import compare
from engine.whynot.text import (
    binding_lines,
    render_compare_text,
    render_explain_text,
    render_near_misses_text,
)
from engine.whynot.values import jsonable, needs_phrase, show

__all__ = [
    "MAX_DEPTH",
    "binding_lines",
    "bindings",
    "compare",
    "condition_node",
    "consequence",
    "explain",
    "explain_binding",
    "flip",
    "jsonable",
    "leaf_polarity",
    "leaf_values",
    "missing_inputs",
    "near_misses",
    "needs_phrase",
    "prune_flips",
    "render_compare_text",
    "render_explain_text",
    "render_near_misses_text",
    "resolve_target",
    "show",
    "single_flips",
    "smallest_change",
    "truth",
]
