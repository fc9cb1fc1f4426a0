"""What ranking and the advice document read of a pack's rules, worked out once per pack.

For every firing, the ranking reads its rule's consequence (action, priority, urgency, texts)
and a reason reads the rule's conditions (each test, where it is written) and the derived facts
it uses. All of that depends on the pack alone, so :func:`pack_table` works it out once per
compiled pack and keeps it while the pack lives, instead of once per firing: reading it is then
an index into a tuple.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.load.checks import leaves
from engine.pack.model import URGENCY_ORDER, Adjust, Consequence, Leaf, Recommend, Rule, Suppress
from engine.pack.template import literal

if TYPE_CHECKING:
    from engine.compile.compiler import CompiledPack


#: One leaf condition of a rule, as a reason shows it (``LeafResult.as_dict``) but for the value
#: it reads and its result: (fact, whether it is a ``loan.*`` fact, operator, expected value,
#: ``leaf.location.short``). A plain tuple: a reason unpacks it in one step (a named tuple would
#: take the slow way).
LeafTest = tuple[str, bool, str, Any, str]


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What ranking and reasons read of one rule (of the compiled pack, by index)."""

    rule: Rule
    then: Consequence
    location: str  #: ``rule.location.short``
    #: every leaf of its conditions, in written order (``engine.rank.conditions`` numbers them so)
    leaves: tuple[LeafTest, ...]
    #: the derived facts it reads (``CompiledRule.reads`` in order), each with whether it is a
    #: ``loan.*`` fact: a reason lists their values
    derived: tuple[tuple[str, bool], ...]
    urgency: int  #: a recommendation's urgency as its index in ``URGENCY_ORDER`` (else -1)
    recommends: str | None  #: the action it recommends (None: it does not recommend)
    ranks: bool  #: it adjusts or suppresses an action (else it derives a fact, or recommends)


@dataclass(frozen=True, slots=True)
class PackTable:
    """One compiled pack's :class:`RuleFacts`, by rule index, and its action order."""

    rules: tuple[RuleFacts, ...]
    action_order: dict[str, int]  #: action → its place in the catalogue (SPEC §3, then the pack)
    #: the facts that name a loan, each with the character that stands for it while messages
    #: are compared (``engine.rank.ranking``): the loan id, and the plan's ``name`` facts
    loan_markers: dict[str, str]
    #: the situation's derived facts the advice's ``summary`` shows, in the pack's rule order
    summary: tuple[str, ...]
    #: locale → :func:`fixed_texts`, made on first use
    fixed: dict[str, tuple[FixedTexts, ...]] = field(default_factory=dict)


#: A rule's texts in one locale that are fixed (the same for every firing), None where not:
#: its recommendation's title and message, and its own title (a reason's)
FixedTexts = tuple[str | None, str | None, str | None]


def fixed_texts(table: PackTable, locale: str) -> tuple[FixedTexts, ...]:
    """Per rule, its :data:`FixedTexts` in ``locale``. A text is fixed when it has no
    placeholder; a message also needs no ``common`` line and no loan marker character (then one
    firing's message is the text itself, ``engine.rank.ranking._messages``)."""
    made = table.fixed.get(locale)
    if made is None:
        markers = tuple(table.loan_markers.values())
        made = table.fixed[locale] = tuple(_fixed(f, locale, markers) for f in table.rules)
    return made


def _fixed(facts: RuleFacts, locale: str, markers: tuple[str, ...]) -> FixedTexts:
    then = facts.then
    rule_title = literal(facts.rule.title[locale])
    if not isinstance(then, Recommend):
        return None, None, rule_title
    message = literal(then.message[locale]) if then.common is None else None
    if message is not None and any(marker in message for marker in markers):
        message = None
    return literal(then.title[locale]), message, rule_title


def pack_table(compiled: CompiledPack) -> PackTable:
    """The table of ``compiled``: made on first use, then kept as long as the pack lives."""
    key = id(compiled)
    found = _TABLES.get(key)
    if found is not None and found[0]() is compiled:
        return found[1]
    with _MAKING:
        found = _TABLES.get(key)
        if found is not None and found[0]() is compiled:
            return found[1]
        table = _make(compiled)
        # the entry goes when the pack goes; the table holds no reference to the pack itself
        _TABLES[key] = (weakref.ref(compiled, lambda _: _TABLES.pop(key, None)), table)
        return table


_TABLES: dict[int, tuple[weakref.ref[CompiledPack], PackTable]] = {}
_MAKING = threading.Lock()


def _make(compiled: CompiledPack) -> PackTable:
    levels = compiled.levels
    rules = []
    for crule in compiled.rules:
        rule = crule.rule
        then = rule.then
        rules.append(
            RuleFacts(
                rule=rule,
                then=then,
                location=rule.location.short,
                leaves=tuple(_leaf_test(leaf) for leaf in leaves(rule.when)),
                derived=tuple((f, f.startswith("loan.")) for f in crule.reads if f in levels),
                urgency=URGENCY_ORDER.index(then.urgency) if isinstance(then, Recommend) else -1,
                recommends=then.action if isinstance(then, Recommend) else None,
                ranks=isinstance(then, Adjust | Suppress),
            )
        )
    markers = {"loan.id": "\x00"}
    plan = compiled.pack.plan
    if plan is not None and plan.name is not None:
        for index, fact in enumerate(plan.name.values(), start=1):
            markers.setdefault(fact, chr(index))
    order = {name: action.order for name, action in compiled.pack.actions.items()}
    summary = tuple(
        name
        for name, fact in compiled.pack.derived.items()
        if fact.summary and not name.startswith("loan.")
    )
    return PackTable(tuple(rules), order, markers, summary)


def _leaf_test(leaf: Leaf) -> LeafTest:
    return (leaf.fact, leaf.fact.startswith("loan."), leaf.op, leaf.expected, leaf.location.short)
