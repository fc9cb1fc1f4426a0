"""Why and why not: proof trees, failing conditions with what would flip them, near misses.

Pure functions over a finished :class:`~engine.decision.Decision` (its memory, firings, compiled
pack and its evaluated conditions, ``Decision.condition_result``: the ``RuleResult`` trees of
``engine.rank.conditions``, made once and shared with the reasons); nothing here decides what fires.
Every explanation is a frozen document whose ``as_dict()`` is its JSON
(``schemas/explain.schema.json``; near misses: the advice's ``near_misses``); the text
renderers read that.

The stages, one module each: ``values`` (values in JSON and words), ``flips`` (what would flip a
binding's conditions), ``proofs`` (``explain``: the document for an action or a rule),
``ranking`` (``compare`` of two actions), ``nearmiss`` (``near_misses``) and ``text`` (the
renderers).
"""

from __future__ import annotations

from engine.whynot.flips import (
    ExplainedCondition,
    FactRef,
    Flip,
    explained_condition,
    flip,
    missing_inputs,
    prune_flips,
    single_flips,
    smallest_change,
)
from engine.whynot.nearmiss import NearMiss, NearMissChange, near_misses
from engine.whynot.proofs import (
    MAX_DEPTH,
    ActionState,
    BindingExplanation,
    DerivedFact,
    ExplainDocument,
    FactValue,
    Header,
    Target,
    bindings,
    consequence,
    explain,
    explain_binding,
    resolve_target,
)
from engine.whynot.ranking import CompareDocument, Comparison, TermPair, compare
from engine.whynot.text import (
    binding_lines,
    render_compare_text,
    render_explain_text,
    render_near_misses_text,
)
from engine.whynot.values import jsonable, needs_phrase, show

__all__ = [
    "MAX_DEPTH",
    "ActionState",
    "BindingExplanation",
    "CompareDocument",
    "Comparison",
    "DerivedFact",
    "ExplainDocument",
    "ExplainedCondition",
    "FactRef",
    "FactValue",
    "Flip",
    "Header",
    "NearMiss",
    "NearMissChange",
    "Target",
    "TermPair",
    "binding_lines",
    "bindings",
    "compare",
    "consequence",
    "explain",
    "explain_binding",
    "explained_condition",
    "flip",
    "jsonable",
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
]
