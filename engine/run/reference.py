"""A pure-Python evaluation of the same compiled conditions, level by level.

It exists to check durable_rules (the agreement tests run both and compare what fired) and to
explain decisions. It evaluates exactly what the compiler produced: the DNF branches, the patterns
and their tests, with the same stratified treatment of unknown derived facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.compile.compiler import Branch, CompiledPack, Test
from engine.core.operators import truth
from engine.core.values import UNKNOWN
from engine.pack.model import Derive
from engine.run.driver import RunResult
from engine.run.memory import Firing, Memory


def test_holds(test: Test, value: Any) -> bool:
    """Whether one compiled test passes for a fact value (UNKNOWN when the fact is unknown)."""
    return truth(test.op, value, test.expected, UNKNOWN) is True


def branch_holds(branch: Branch, memory: Memory, loan: str | None) -> bool:
    return all(
        test_holds(test, memory.get(test.fact, loan))
        for pattern in branch.patterns
        for test in pattern.tests
    )


def reference_run(compiled: CompiledPack, situation: Mapping[str, Any]) -> RunResult:
    """Evaluate without the engine: rules of level 0 first, then close level 1, and so on."""
    memory = Memory.from_situation(situation)
    parameters = {n: p.value for n, p in compiled.pack.parameters.items()}
    firings: list[Firing] = []
    for level in range(compiled.max_level + 1):
        for index, crule in enumerate(compiled.rules):
            if crule.stage != level:
                continue
            bindings = memory.loans if crule.rule.about == "loan" else [None]
            for loan in bindings:
                if any(branch_holds(b, memory, loan) for b in crule.branches):
                    firings.append(Firing(index, memory.loan_index(loan), loan))
                    if isinstance(crule.rule.then, Derive):
                        memory.derive(crule.rule, loan, parameters, compiled.facts)
        for fact, fact_level in compiled.levels.items():
            if fact_level == level + 1:
                memory.close(fact, fact.startswith("loan."))
    return RunResult(sorted(firings), memory)
