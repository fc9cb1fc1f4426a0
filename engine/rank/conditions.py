"""The explanation model: a rule binding's condition tree evaluated once, every node annotated.

Like json-rules-engine's RuleResult: :func:`evaluate_rule` walks a rule's ``when`` for one binding
(the situation, or one loan) over the working memory of a finished evaluation and returns a
:class:`RuleResult`, a tree of the same shape in which every node carries its three-valued
(Kleene) result, and every leaf the test it made (fact, operator, expected value), the fact value
it read and whether it sits under a ``not``. Each leaf is decided by the operator table
(``engine.core.operators``: ``test`` on a known value, ``on_unknown`` on an unknown one), the same
entries the reference evaluator and the compiler use, so a rule fired exactly when its result is
true.

Nothing here decides what fired. Every reader of a condition's outcome reads this one tree: a
recommendation's reasons (``engine.rank.ranking``), explain and why-not, near misses and compare
(``engine.whynot``), condition coverage (``engine.audit.coverage``). :class:`ConditionResults`
makes each (rule, binding)'s tree when it is first asked for and keeps it, one per decision, so
readers share it and ``evaluate`` alone makes none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from engine.core.operators import OPERATORS
from engine.core.source import Location
from engine.core.values import UNKNOWN
from engine.pack.model import Condition, Group, Leaf, Rule
from engine.run.memory import Memory

if TYPE_CHECKING:
    from engine.compile.compiler import CompiledPack

Truth = bool | None  #: True, False, or None for unknown


def leaf_truth(leaf: Leaf, value: Any) -> Truth:
    """Kleene truth of one leaf for a fact value (UNKNOWN allowed), by the operator table."""
    entry = OPERATORS[leaf.op]
    return entry.on_unknown if value is UNKNOWN else entry.test(value, leaf.expected)


def combine(kind: str, results: Sequence[Truth]) -> Truth:
    """Kleene logic for ``all``, ``any`` and ``not`` over three-valued results.

    >>> combine("all", [True, None]), combine("any", [False, None, True]), combine("not", [None])
    (None, True, None)
    """
    if kind == "not":
        return None if results[0] is None else not results[0]
    if kind == "all":
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False


@dataclass(frozen=True, slots=True)
class LeafResult:
    """One leaf condition for one binding: the test, the value it read, and its result."""

    kind: ClassVar[Literal["leaf"]] = "leaf"

    leaf: Leaf
    index: int  #: position among the rule's leaves, in written order
    loan_id: str | None  #: the loan the fact was read for (None for a situation fact)
    value: Any  #: the fact's value as read; UNKNOWN when it is unknown
    result: Truth
    negated: bool  #: under an odd number of ``not``: the rule needs it false

    @property
    def fact(self) -> str:
        return self.leaf.fact

    @property
    def op(self) -> str:
        return self.leaf.op

    @property
    def expected(self) -> Any:
        return self.leaf.expected

    @property
    def param(self) -> str | None:
        return self.leaf.param

    @property
    def location(self) -> Location:
        return self.leaf.location

    @property
    def known(self) -> bool:
        return self.value is not UNKNOWN

    @property
    def actual(self) -> Any:
        """The value read, None when unknown."""
        return None if self.value is UNKNOWN else self.value

    @property
    def holds(self) -> bool:
        """Whether it already goes the way the rule needs (true, or false under a ``not``)."""
        return self.result is (not self.negated)

    def leaves(self) -> Iterator[LeafResult]:
        yield self

    def result_if(self, forced: Mapping[int, Truth]) -> Truth:
        return forced.get(self.index, self.result)

    def as_dict(self) -> dict[str, Any]:
        """The condition as the advice's reasons show it (schemas/advice.schema.json)."""
        return {
            "fact": self.fact,
            "op": self.op,
            "expected": self.expected,
            "actual": self.actual,
            "result": self.result,
            "location": self.location.short,
        }


@dataclass(frozen=True, slots=True)
class GroupResult:
    """``all``, ``any`` or ``not`` for one binding: its items' results combined."""

    group: Group
    result: Truth
    items: tuple[NodeResult, ...]

    @property
    def kind(self) -> Literal["all", "any", "not"]:
        return self.group.kind

    @property
    def location(self) -> Location:
        return self.group.location

    def leaves(self) -> Iterator[LeafResult]:
        for item in self.items:
            yield from item.leaves()

    def result_if(self, forced: Mapping[int, Truth]) -> Truth:
        """Its result if the leaves numbered in ``forced`` had those results instead."""
        return combine(self.kind, [item.result_if(forced) for item in self.items])


NodeResult = LeafResult | GroupResult


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule for one binding: its condition tree evaluated (``condition`` None: the rule has
    no conditions and always applies)."""

    rule_index: int  #: the rule's position in the compiled pack
    rule: Rule
    loan_id: str | None  #: the binding: None for the situation, else the loan
    condition: NodeResult | None
    leaves: tuple[LeafResult, ...]  #: every leaf, in written order (``leaves[i].index == i``)

    @property
    def result(self) -> Truth:
        return True if self.condition is None else self.condition.result

    def result_if(self, forced: Mapping[int, Truth]) -> Truth:
        """The result if the leaves numbered in ``forced`` had those results instead."""
        return True if self.condition is None else self.condition.result_if(forced)


def evaluate_rule(
    rule: Rule,
    memory: Memory,
    loan: str | None,
    rule_index: int = -1,
    truths: Sequence[Truth] | None = None,
) -> RuleResult:
    """The rule's condition tree for one binding, every node with its three-valued result.

    ``truths`` are its leaves' results (written order) when a reader already decided them
    (:meth:`ConditionResults.truths`): they are not decided again.
    """
    found: list[LeafResult] = []
    node = None if rule.when is None else _node(rule.when, memory, loan, False, found, truths)
    return RuleResult(rule_index, rule, loan, node, tuple(found))


def _node(
    cond: Condition,
    memory: Memory,
    loan: str | None,
    negated: bool,
    found: list[LeafResult],
    truths: Sequence[Truth] | None,
) -> NodeResult:
    if isinstance(cond, Leaf):
        value = memory.get(cond.fact, loan)
        read_for = loan if cond.fact.startswith("loan.") else None
        index = len(found)
        truth = leaf_truth(cond, value) if truths is None else truths[index]
        leaf = LeafResult(cond, index, read_for, value, truth, negated)
        found.append(leaf)
        return leaf
    inner = negated ^ (cond.kind == "not")
    items = tuple(_node(item, memory, loan, inner, found, truths) for item in cond.items)
    return GroupResult(cond, combine(cond.kind, [item.result for item in items]), items)


class ConditionResults:
    """Each (rule, binding)'s :class:`RuleResult` for one evaluation, made when first asked for
    and kept: a decision's reasons, explanations, near misses and coverage share one.

    Two threads asking for the same binding at once may both make it; both make the same tree,
    and either is kept.
    """

    __slots__ = ("_compiled", "_made", "_memory", "_truths")

    def __init__(self, compiled: CompiledPack, memory: Memory) -> None:
        self._compiled = compiled
        self._memory = memory
        self._made: dict[tuple[int, str | None], RuleResult] = {}
        #: each decided binding's leaf results, in written order: the tree's, or those the
        #: advice's reasons decided without a tree (``engine.rank.ranking.reason_document``)
        self._truths: dict[tuple[int, str | None], tuple[Truth, ...]] = {}

    def get(self, rule_index: int, loan: str | None) -> RuleResult:
        """Rule number ``rule_index`` (of the compiled pack) for ``loan`` (None: the situation)."""
        key = (rule_index, loan)
        made = self._made.get(key)
        if made is None:
            rule = self._compiled.rules[rule_index].rule
            known = self._truths.get(key)
            made = evaluate_rule(rule, self._memory, loan, rule_index, known)
            self._made[key] = made
            if known is None:
                self._truths[key] = tuple(leaf.result for leaf in made.leaves)
        return made

    def truths(self, rule_index: int, loan: str | None) -> tuple[Truth, ...] | None:
        """The results of a binding's leaves (written order) if a reader decided them."""
        return self._truths.get((rule_index, loan))

    def keep_truths(self, rule_index: int, loan: str | None, truths: tuple[Truth, ...]) -> None:
        """Keep a binding's leaf results decided without a tree, for the next reader."""
        self._truths.setdefault((rule_index, loan), truths)
