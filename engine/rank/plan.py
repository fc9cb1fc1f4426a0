"""The advice's ``plan`` (SPEC §7.2): one entry per loan, read from the facts the pack's
``plan:`` names. The engine computes nothing here: the pack's rules derive every figure once, and
this module only collects them (unknown → null) and fills each entry's ``why`` sentence from the
reason code its rules derived. A pack without ``plan:`` gets an empty plan.
"""

from __future__ import annotations

from typing import Any

from engine.compile.compiler import CompiledPack
from engine.core.values import UNKNOWN
from engine.pack.model import PLAN_LOAN_FIELDS
from engine.rank.ranking import Renderer
from engine.run.memory import Memory


def build_plan(compiled: CompiledPack, memory: Memory, locale: str) -> dict[str, Any]:
    spec = compiled.pack.plan
    if spec is None:
        return {"budget": None, "allocated": None, "loans": []}
    renderer = Renderer(compiled, memory, locale)

    def value(fact: str, loan: str | None) -> Any:
        got = memory.get(fact, loan)
        return None if got is UNKNOWN else got

    entries = []
    for loan in memory.loans:
        entry: dict[str, Any] = {"loan_id": loan}
        for field in PLAN_LOAN_FIELDS:
            entry[field] = value(spec.loan[field], loan)
        code = entry["why"]
        template = spec.why.get(code) if isinstance(code, str) else None
        entry["why"] = None if template is None else renderer.text(template, loan)
        entries.append(entry)
    return {
        "budget": value(spec.budget, None),
        "allocated": value(spec.allocated, None),
        "loans": entries,
    }
