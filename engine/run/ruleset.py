"""``RuleSet``: a loaded, checked and compiled pack with its engine runtime.

Made by ``engine.load_rules`` (the façade); read by evaluation, explanation and the audit tools.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.compile.compiler import CompiledPack
from engine.pack.model import Pack
from engine.run.driver import Runtime
from engine.run.lowered import Program, lower


@dataclass
class RuleSet:
    """A loaded, checked and compiled rule pack, ready to evaluate situations.

    Threads may share one RuleSet: each evaluation has its own engine state, and one that fails
    cannot disturb the others. Its engine rulesets (memory in durable_rules) are freed by
    ``close()``, by leaving a ``with`` block, or when the RuleSet is garbage-collected; the
    rule sets of one pack loaded several times share them. Evaluating after ``close()`` raises
    ValueError.
    """

    pack: Pack
    compiled: CompiledPack
    runtime: Runtime = field(init=False)
    #: the pack lowered to Python for ``backend="compiled"`` (``engine.run.lowered``), made on
    #: first use
    _program: Program | None = field(default=None, init=False, repr=False, compare=False)
    _lowering: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.compiled)

    def program(self) -> Program:
        """The compiled backend's function for this pack: lowered once, then cached here."""
        program = self._program
        if program is None:
            with self._lowering:
                program = self._program
                if program is None:
                    program = self._program = lower(self.compiled)
        return program

    def close(self) -> None:
        """Free the engine rulesets now (idempotent); running evaluations still finish."""
        self.runtime.close()

    def __enter__(self) -> RuleSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def version(self) -> str:
        return self.pack.version

    @property
    def digest(self) -> str:
        return self.pack.digest
