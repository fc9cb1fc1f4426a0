"""The loaded rule pack as typed, immutable values: what the loader hands to the compiler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.expr import Node
from engine.facts import Scope, Unit
from engine.source import Location

Urgency = Literal["immediate", "this_week", "before_due", "ongoing"]
URGENCY_ORDER: tuple[Urgency, ...] = ("immediate", "this_week", "before_due", "ongoing")
LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class LocalText:
    """A text in both locales; may hold ``{fact}`` placeholders."""

    en: str
    zh: str

    def get(self, locale: str) -> str:
        return self.en if locale == "en" else self.zh


@dataclass(frozen=True)
class Leaf:
    """``fact op expected``: one test of one fact."""

    fact: str
    op: str
    expected: Any  #: the literal, or the parameter's value; None for known/unknown
    param: str | None
    location: Location

    def describe(self) -> str:
        rhs = "" if self.op in ("known", "unknown") else f" {self.param or _show(self.expected)}"
        return f"{self.fact} {self.op}{rhs}"


@dataclass(frozen=True)
class Group:
    """``all``, ``any`` or ``not`` over sub-conditions."""

    kind: Literal["all", "any", "not"]
    items: tuple[Condition, ...]
    location: Location


Condition = Leaf | Group


@dataclass(frozen=True)
class Recommend:
    action: str
    priority: int
    urgency: Urgency
    title: LocalText
    message: LocalText


@dataclass(frozen=True)
class Derive:
    fact: str
    expr: Node
    text: str  #: the expression as written
    unit: Unit | None
    summary: bool
    location: Location  #: where the expression is written


@dataclass(frozen=True)
class Adjust:
    action: str
    by: int
    reason: LocalText


@dataclass(frozen=True)
class Suppress:
    action: str
    reason: LocalText


Consequence = Recommend | Derive | Adjust | Suppress


@dataclass(frozen=True)
class Rule:
    id: str
    title: LocalText
    source: str
    about: Scope
    when: Condition | None
    then: Consequence
    location: Location
    index: int  #: position in the pack (file order, then order in the file)

    @property
    def kind(self) -> str:
        return type(self.then).__name__.lower()


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Any
    unit: Unit | None
    source: str
    note: str
    location: Location


@dataclass(frozen=True)
class ActionSpec:
    code: str
    meaning: str
    order: int  #: tie-break position (SPEC §3 order, then pack additions)


@dataclass(frozen=True)
class Pack:
    """A validated rule pack, ready to compile."""

    name: str
    version: str
    description: str
    digest: str  #: sha256 over the rule files' paths and bytes
    files: tuple[str, ...]  #: display paths of the files that make up the pack
    rules: tuple[Rule, ...]
    parameters: Mapping[str, Parameter]
    actions: Mapping[str, ActionSpec]
    derived: Mapping[str, DerivedFact] = field(default_factory=dict)
    roots: tuple[str, ...] = ()  #: the directories or files it was loaded from, as given


@dataclass(frozen=True)
class DerivedFact:
    """A fact computed by ``derive`` rules."""

    name: str
    type: str
    unit: Unit
    rules: tuple[str, ...]  #: ids of the rules deriving it
    summary: bool


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)
