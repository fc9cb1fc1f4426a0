"""The documents the presentation layer renders: one small frozen view per kind.

A view holds what its renderers read and nothing else; its ``kind`` is its key in
``engine.present.registry.TABLE``. Views are cheap to make (no import happens until a renderer
runs), so the command line builds one and hands it to ``render``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from engine.decision import Decision
    from engine.documents import Document
    from engine.run.ruleset import RuleSet
    from engine.whynot import CompareDocument, ExplainDocument, NearMiss


@dataclass(frozen=True)
class Advice:
    """A decision as advice: the today card (text, Markdown) or the SPEC §4 document (JSON)."""

    kind: ClassVar[str] = "advice"
    decision: Decision
    top: int | None = None
    trace: bool = False
    show_all: bool = False
    sources: bool = False
    near_misses: bool = False

    @cached_property
    def document(self) -> dict[str, Any]:
        """The advice document (``Decision.to_advice``), made once: the decision record of
        ``advise --audit-log`` reuses what ``--format json`` showed."""
        return self.decision.to_advice(self.top, self.trace, self.near_misses)


@dataclass(frozen=True)
class Card:
    """The today card as data (``xieshang serve``'s page places its texts itself)."""

    kind: ClassVar[str] = "card"
    decision: Decision


@dataclass(frozen=True)
class NearMisses:
    """The actions one condition short (``engine.whynot.near_misses``), their locale and the
    engine's words in it (``Pack.words``)."""

    kind: ClassVar[str] = "near_misses"
    items: Sequence[NearMiss]
    locale: str
    words: Mapping[str, str]


@dataclass(frozen=True)
class Explanation:
    """Why an action or rule fired, or why not (``engine.whynot.explain``)."""

    kind: ClassVar[str] = "explain"
    data: ExplainDocument


@dataclass(frozen=True)
class Comparison:
    """Why one action ranks where it does against another (``engine.whynot.compare``)."""

    kind: ClassVar[str] = "compare"
    data: CompareDocument


@dataclass(frozen=True)
class SchemaDoc:
    """A shipped JSON Schema (``engine.core.schemas.load_schema``)."""

    kind: ClassVar[str] = "schema"
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Listing:
    """A pack's rules, or with ``facts`` its fact vocabulary (``rules list``)."""

    kind: ClassVar[str] = "list"
    ruleset: RuleSet
    facts: bool = False


@dataclass(frozen=True)
class Validation:
    """``rules validate`` passed: the pack, or only the named files (``others``: the errors
    left in the rest of the pack, not reported)."""

    kind: ClassVar[str] = "validation"
    ruleset: RuleSet | None
    files: int = 0
    others: int = 0


@dataclass(frozen=True)
class DocumentFiles:
    """Documents made from a decision; ``folder`` where they were written, if they were."""

    kind: ClassVar[str] = "documents"
    documents: Sequence[Document]
    folder: Path | None = field(default=None)
