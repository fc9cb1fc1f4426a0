"""``RuleSet``: a loaded, checked and compiled pack with its engine runtime.

Made by ``engine.load_rules`` (the façade); read by evaluation, explanation and the audit tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.compiler import CompiledPack
from engine.model import Pack
from engine.run import Runtime


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

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.compiled)

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
