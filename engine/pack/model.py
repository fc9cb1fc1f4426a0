"""The loaded rule pack as typed, immutable values: what the loader hands to the compiler."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.core.facts import Scope, Unit
from engine.core.source import Location
from engine.pack.expr import Node

Urgency = Literal["immediate", "this_week", "before_due", "ongoing"]
URGENCY_ORDER: tuple[Urgency, ...] = ("immediate", "this_week", "before_due", "ongoing")
#: The locales of a pack whose ``pack.yaml`` declares none, in its default order; also the only
#: values of a situation's own ``locale`` (SPEC §4: ``zh-CN`` or ``en``, default ``zh-CN``).
LOCALES: tuple[str, ...] = ("zh-CN", "en")
#: What a locale tag looks like (a BCP 47 language tag: ``zh-CN``, ``en``, ``fr``, ``pt-BR``).
LOCALE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


@dataclass(frozen=True)
class LocalText(Mapping[str, str]):
    """A text per locale (locale → text), in the locales its pack declares (checked at load);
    may hold ``{fact}`` placeholders. Held sorted by locale, so equal texts compare equal
    whatever order they were written in."""

    texts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, texts: Mapping[str, str]) -> LocalText:
        return cls(tuple(sorted(texts.items())))

    def __getitem__(self, locale: str) -> str:
        for key, text in self.texts:
            if key == locale:
                return text
        raise KeyError(locale)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.texts)

    def __len__(self) -> int:
        return len(self.texts)


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
    #: said once after the per-loan lines of an ``about: loan`` rule (situation facts only):
    #: what is the same for every loan is not repeated per loan
    common: LocalText | None = None


@dataclass(frozen=True)
class Derive:
    fact: str
    expr: Node  #: parsed once, by the loader (a placeholder when ``syntax_error`` is set)
    text: str  #: the expression as written
    unit: Unit | None
    summary: bool
    location: Location  #: where the expression is written
    syntax_error: tuple[int, str] | None = None  #: (column, message): the text does not parse


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


#: The fields of a plan entry (SPEC §7.2) and the unit each one's fact must have.
PLAN_LOAN_FIELDS: dict[str, Unit] = {
    "strategy": "text",
    "pay_now": "money",
    "monthly_payment": "money",
    "months": "integer",
    "months_at_contract_rate": "integer",
    "monthly_interest": "money",
    "covers_interest": "boolean",
    "why": "text",
}
#: The strategies a plan entry may name (SPEC §7.2).
PLAN_STRATEGIES: tuple[str, ...] = (
    "pay_now",
    "catch_up",
    "instalments",
    "personalized_instalments",
    "token_payment",
    "pause",
    "settlement",
    "keep_arrangement",
    "priority_debt",
    "court",
    "none",
)


@dataclass(frozen=True)
class PlanSpec:
    """The pack's ``plan:``: which derived facts make the advice's ``plan`` document.

    ``budget`` and ``allocated`` are situation facts; ``loan`` maps each entry field of
    ``PLAN_LOAN_FIELDS`` to a per-loan fact. The ``why`` field's fact holds a reason code; ``why``
    maps each code to the sentence shown, a template over that loan's facts.
    """

    budget: str
    allocated: str
    loan: Mapping[str, str]
    why: Mapping[str, LocalText]
    #: per-loan text facts naming each loan as a person knows it, by locale (text output only)
    name: LocalText | None = None


@dataclass(frozen=True)
class CrisisSpec:
    """The pack's ``crisis:``: when a person is in crisis, and what they see then (SPEC 7.3).

    When the situation fact ``when`` is true, text and Markdown show only recommendations whose
    action is in ``actions`` (in rank order, at most 3): no summary, no plan, no other advice.
    """

    when: str  #: a boolean situation fact
    actions: tuple[str, ...]  #: action codes of the catalogue or the pack


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
    plan: PlanSpec | None = None  #: the pack's ``plan:``, when it declares one
    crisis: CrisisSpec | None = None  #: the pack's ``crisis:``, when it declares one
    #: the locales every text of the pack is written in, the default first (``pack: locales:``)
    locales: tuple[str, ...] = LOCALES
    #: every engine message (``engine.core.locales``) in each of ``locales``: locale → key → text
    messages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def words(self, locale: str) -> Mapping[str, str]:
        """The engine's words in ``locale`` (one of the pack's locales), by dotted key."""
        return self.messages[locale]


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
