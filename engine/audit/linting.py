"""``xieshang rules lint``: problems a valid pack can still have.

Errors (the pack does something it cannot mean): ``lint_contradiction`` (a rule whose every
alternative tests one fact in ways that cannot all hold: it can never fire) and
``lint_fact_never_provided`` (a derived fact that no rule can ever derive, but rules read it).

Warnings (worth a look): ``lint_unreachable_branch`` (one alternative of a rule can never hold),
``lint_duplicate_rule``, ``lint_shadowed`` (whenever the rule fires, another rule for the same
action fires too with at least its priority and urgency, so it never changes the score),
``lint_unused_parameter``, ``lint_action_unused`` (a catalogue action no rule recommends),
``lint_target_not_recommended`` (adjust/suppress of an action no rule recommends),
``lint_derived_unused``, ``lint_placeholder_may_be_unknown`` (a template placeholder whose fact is
not surely known when the rule fires, by the analysis of ``KnownFacts``: it would show as ``?``) and
``lint_missing_locale`` (a text empty in one locale, identical in both, or in the wrong script).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.audit.diffing import parameters_used, texts
from engine.compile.compiler import Test, dnf
from engine.core.facts import FactSpec
from engine.core.operators import OPERATORS, Bound
from engine.core.source import Location
from engine.core.values import canonical_json
from engine.load.checks import facts_read, leaves
from engine.pack import expr
from engine.pack.model import (
    URGENCY_ORDER,
    Adjust,
    Derive,
    Leaf,
    LocalText,
    Recommend,
    Rule,
    Suppress,
)
from engine.pack.template import TemplateError, placeholders

if TYPE_CHECKING:
    from engine.run.ruleset import RuleSet

ALWAYS_KNOWN = frozenset({"as_of", "locale", "loan.id", "loan.product"})
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z]{3,}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_VERB = {"adjust": "adjusts", "suppress": "suppresses"}


@dataclass(frozen=True, order=True)
class Finding:
    location: Location
    severity: str  #: error | warning
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {self.code}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        loc = self.location
        return {
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


# --- contradictions -------------------------------------------------------------------------


def _show(test: Test) -> str:
    if OPERATORS[test.op].operand == "none":
        return f"{test.fact} {test.op}"
    return f"{test.fact} {test.op} {canonical_json(test.expected)}"


def conflict(tests: list[Test], spec: FactSpec) -> str | None:
    """Why tests on one fact cannot all hold (None if they can)."""
    if len(tests) < 2:
        return None
    ops = {t.op for t in tests}
    if "unknown" in ops and ops != {"unknown"}:
        other = next(t for t in tests if t.op != "unknown")
        return f"'{tests[0].fact} unknown' and '{_show(other)}' cannot both hold"
    value_tests = [t for t in tests if OPERATORS[t.op].operand != "none"]
    if spec.type == "list":
        return _complement_conflict(value_tests)
    candidates = _candidates(value_tests, spec)
    if candidates is not None:
        if not any(
            all(OPERATORS[t.op].test(c, t.expected) for t in value_tests) for c in candidates
        ):
            return _conflict_text(value_tests)
        return None
    return _interval_conflict(value_tests, spec)


def _complement_conflict(tests: list[Test]) -> str | None:
    """A test beside its own complement with the same value (``contains v``, ``not_contains v``)."""
    seen = {(t.op, canonical_json(t.expected)) for t in tests}
    for op, value in sorted(seen):
        complement = OPERATORS[op].complement
        if (complement, value) in seen:
            return f"{tests[0].fact} both {op} and {complement} {value}"
    return None


def _candidates(tests: list[Test], spec: FactSpec) -> list[Any] | None:
    if spec.type == "boolean":
        return [True, False]
    sets = [admits(t.expected) for t in tests if (admits := OPERATORS[t.op].values) is not None]
    if sets:
        return [v for v in sets[0] if all(_member(v, s) for s in sets[1:])] or []
    if spec.enum:
        return list(spec.enum)
    return None


def _member(value: Any, items: list[Any]) -> bool:
    return any(canonical_json(value) == canonical_json(item) for item in items)


def _conflict_text(tests: list[Test]) -> str:
    return " and ".join(f"'{_show(t)}'" for t in tests) + " cannot all hold"


def _interval_conflict(tests: list[Test], spec: FactSpec) -> str | None:
    """A conflict among the intervals the tests confine the value to (the table's ``bounds``)."""
    integral = spec.unit in ("days", "integer")
    low: Bound | None = None
    high: Bound | None = None
    bounded = []
    for t in tests:
        confine = OPERATORS[t.op].bounds
        if confine is None:
            continue
        lower, upper = confine(t.expected)
        if any(b is not None and _orderable(b[0]) for b in (lower, upper)):
            bounded.append(t)
        if lower is not None and _orderable(lower[0]):
            bound = _integral(lower, integral, math.floor, 1)
            if low is None or bound[0] > low[0] or (bound[0] == low[0] and bound[1]):
                low = bound
        if upper is not None and _orderable(upper[0]):
            bound = _integral(upper, integral, math.ceil, -1)
            if high is None or bound[0] < high[0] or (bound[0] == high[0] and bound[1]):
                high = bound
    if low is None or high is None:
        return None
    if low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])):
        return _conflict_text(bounded)
    if low[0] == high[0]:
        point = low[0]
        if any(not OPERATORS[t.op].test(point, t.expected) for t in tests):
            return _conflict_text(tests)
    return None


def _orderable(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _integral(bound: Bound, integral: bool, rounding: Callable[[float], int], step: int) -> Bound:
    """A strict bound on an integer fact as the inclusive one it means (``> 2.5`` is ``>= 3``)."""
    value, strict = bound
    if integral and strict and not isinstance(value, str):
        return (rounding(value) + step, False)
    return bound


def branch_conflict(branch: list[Test], facts: Mapping[str, FactSpec]) -> tuple[Test, str] | None:
    by_fact: dict[str, list[Test]] = {}
    for test in branch:
        by_fact.setdefault(test.fact, []).append(test)
    for fact, tests in by_fact.items():
        why = conflict(tests, facts[fact])
        if why:
            return tests[0], why
    return None


# --- helpers --------------------------------------------------------------------------------


def _key(test: Test) -> tuple[str, str, str]:
    return (test.fact, test.op, canonical_json(test.expected))


def _branches(rule: Rule) -> list[frozenset[tuple[str, str, str]]]:
    if rule.when is None:
        return [frozenset()]
    return [frozenset(_key(t) for t in branch) for branch in dnf(rule.when)]


def implies(a: Rule, b: Rule) -> bool:
    """Whether ``a``'s conditions imply ``b``'s (syntactically: each branch of ``a`` holds every
    test of some branch of ``b``)."""
    bb = _branches(b)
    return all(any(other <= mine for other in bb) for mine in _branches(a))


def _consequence_key(rule: Rule) -> tuple[Any, ...]:
    then = rule.then
    if isinstance(then, Recommend):
        return ("recommend", then.action, then.priority, then.urgency)
    if isinstance(then, Adjust):
        return ("adjust", then.action, then.by)
    if isinstance(then, Suppress):
        return ("suppress", then.action)
    assert isinstance(then, Derive)
    return ("derive", then.fact, then.text)


def _template_names(text: LocalText) -> list[str]:
    names: list[str] = []
    for template in text.values():
        try:
            names += placeholders(template)
        except TemplateError:
            continue
    return list(dict.fromkeys(names))


# --- the checks ------------------------------------------------------------------------------


def lint(ruleset: RuleSet) -> list[Finding]:
    """Every finding, sorted by position."""
    pack = ruleset.pack
    facts = ruleset.compiled.facts
    rules = list(pack.rules)
    out: list[Finding] = []
    never: set[str] = set()
    for rule in rules:
        if rule.when is None:
            continue
        branches = dnf(rule.when)
        problems = [branch_conflict(b, facts) for b in branches]
        if all(problems):
            test, why = problems[0]  # type: ignore[misc]
            out.append(
                Finding(
                    test.leaf.location,
                    "error",
                    "lint_contradiction",
                    f"rule '{rule.id}' can never fire: {why}",
                )
            )
            never.add(rule.id)
        else:
            for problem in problems:
                if problem:
                    out.append(
                        Finding(
                            problem[0].leaf.location,
                            "warning",
                            "lint_unreachable_branch",
                            f"rule '{rule.id}': one alternative can never hold: {problem[1]}",
                        )
                    )
    out += _duplicates(rules)
    out += _parameters(ruleset)
    out += _actions(ruleset, rules)
    out += _facts(ruleset, rules, never)
    out += _placeholders(ruleset, rules)
    out += _locales(rules)
    return sorted(set(out))


_Branch = frozenset[tuple[str, str, str]]
#: subsets of a branch worth enumerating to find the branches it contains (2**12 lookups); a
#: longer branch is compared with each candidate instead
_SUBSET_LIMIT = 12


def _duplicates(rules: list[Rule]) -> list[Finding]:
    """Duplicate and shadowed rules, by index lookups rather than by comparing every pair.

    Each rule's branches are computed once. Duplicates share one key (scope, consequence and
    branch set). A rule ``b`` can shadow ``a`` only if every branch of ``a`` contains a branch
    of ``b``: the candidates are found by looking up the subsets of ``a``'s branches in an index
    of the branches of the rules for the same action, so the work grows with the rules that
    could shadow, not with the size of the pack.
    """
    branches = [_branches(rule) for rule in rules]
    sets = [frozenset(b) for b in branches]
    out: list[Finding] = []
    duplicate: set[str] = set()
    same: dict[tuple[Any, ...], list[int]] = {}
    for i, a in enumerate(rules):
        earlier = same.setdefault((a.about, _consequence_key(a), sets[i]), [])
        for j in earlier:
            b = rules[j]
            duplicate.add(a.id)
            out.append(
                Finding(
                    a.location,
                    "warning",
                    "lint_duplicate_rule",
                    f"rule '{a.id}' duplicates rule '{b.id}' ({b.location.as_given}):"
                    " same conditions and consequence",
                )
            )
        earlier.append(i)
    # (scope, action) → branch → the positions of the recommending rules that have it
    index: dict[tuple[str, str], dict[_Branch, list[int]]] = {}
    for j, b in enumerate(rules):
        if isinstance(b.then, Recommend):
            by_branch = index.setdefault((b.about, b.then.action), {})
            for branch in sets[j]:
                by_branch.setdefault(branch, []).append(j)
    for i, a in enumerate(rules):
        if not isinstance(a.then, Recommend) or a.id in duplicate:
            continue
        by_branch = index[(a.about, a.then.action)]
        shadow = _first_shadow(i, rules, sets, branches[i], by_branch)
        if shadow is None:
            continue
        b = rules[shadow]
        assert isinstance(b.then, Recommend)
        out.append(
            Finding(
                a.location,
                "warning",
                "lint_shadowed",
                f"rule '{a.id}' is shadowed by '{b.id}' ({b.location.as_given}): whenever it"
                f" fires, '{b.id}' recommends {a.then.action} too with priority"
                f" {b.then.priority} ≥ {a.then.priority}, so it never changes the score",
            )
        )
    return out


def _first_shadow(
    i: int,
    rules: list[Rule],
    sets: list[frozenset[_Branch]],
    mine: list[_Branch],
    by_branch: dict[_Branch, list[int]],
) -> int | None:
    """The first rule (in pack order) that shadows rule ``i``, or None (see ``_duplicates``)."""
    a = rules[i]
    assert isinstance(a.then, Recommend)
    candidates: set[int] | None = None
    if not mine:  # no branch to contain anything: every rule for the action qualifies
        candidates = {j for positions in by_branch.values() for j in positions}
    for branch in mine:  # b must have, for each branch of a, a branch contained in it
        inside = _contained(branch, by_branch)
        candidates = inside if candidates is None else candidates & inside
        if not candidates:
            return None
    for j in sorted(candidates or ()):
        b = rules[j]
        assert isinstance(b.then, Recommend)
        if j == i or b.then.priority < a.then.priority:
            continue
        if URGENCY_ORDER.index(b.then.urgency) > URGENCY_ORDER.index(a.then.urgency):
            continue
        if sets[j] != sets[i]:
            return j
    return None


def _contained(branch: _Branch, by_branch: dict[_Branch, list[int]]) -> set[int]:
    """The positions of the rules with a branch that is a subset of ``branch``."""
    found: set[int] = set()
    if len(branch) <= _SUBSET_LIMIT:
        tests = sorted(branch)
        for size in range(len(tests) + 1):
            for subset in itertools.combinations(tests, size):
                found.update(by_branch.get(frozenset(subset), ()))
    else:
        for other, positions in by_branch.items():
            if other <= branch:
                found.update(positions)
    return found


def _parameters(ruleset: RuleSet) -> list[Finding]:
    used = {name for rule in ruleset.pack.rules for name in parameters_used(rule)}
    return [
        Finding(
            param.location,
            "warning",
            "lint_unused_parameter",
            f"parameter '{name}' is not used by any rule",
        )
        for name, param in ruleset.pack.parameters.items()
        if name not in used
    ]


def _pack_location(ruleset: RuleSet) -> Location:
    files = ruleset.pack.files
    manifest = next((f for f in files if f.endswith(("pack.yaml", "pack.yml"))), None)
    return Location(manifest or (files[0] if files else "."), 1, 1)


def _actions(ruleset: RuleSet, rules: list[Rule]) -> list[Finding]:
    recommended = {r.then.action for r in rules if isinstance(r.then, Recommend)}
    out = [
        Finding(
            _pack_location(ruleset),
            "warning",
            "lint_action_unused",
            f"catalogue action '{code}' is not recommended by any rule",
        )
        for code in ruleset.pack.actions
        if code not in recommended
    ]
    for rule in rules:
        if isinstance(rule.then, Adjust | Suppress) and rule.then.action not in recommended:
            out.append(
                Finding(
                    rule.location,
                    "warning",
                    "lint_target_not_recommended",
                    f"rule '{rule.id}' {_VERB[rule.kind]} '{rule.then.action}',"
                    " which no rule recommends",
                )
            )
    return out


def _facts(ruleset: RuleSet, rules: list[Rule], never: set[str]) -> list[Finding]:
    out: list[Finding] = []
    derived = ruleset.pack.derived
    by_id = {rule.id: rule for rule in rules}
    reads: dict[str, list[Rule]] = {}
    for rule in rules:
        names = list(facts_read(rule))
        for text in texts(rule):
            names += [n for n in _template_names(text) if not n.startswith("params.")]
        for name in dict.fromkeys(names):
            reads.setdefault(name, []).append(rule)
    plan = ruleset.pack.plan
    in_plan: set[str] = set()
    if plan is not None:  # the plan document reads its facts and its why sentences' facts
        in_plan = {plan.budget, plan.allocated, *plan.loan.values()}
        if plan.name is not None:
            in_plan |= set(plan.name.values())
        for text in plan.why.values():
            in_plan |= {n for n in _template_names(text) if not n.startswith("params.")}
    for name, fact in derived.items():
        readers = [r for r in reads.get(name, []) if r.id not in fact.rules]
        if all(rule_id in never for rule_id in fact.rules) and readers:
            for reader in readers:
                loc = next((lf.location for lf in leaves(reader.when) if lf.fact == name), None)
                out.append(
                    Finding(
                        loc or reader.location,
                        "error",
                        "lint_fact_never_provided",
                        f"rule '{reader.id}' reads '{name}', which no rule can ever derive"
                        f" (derived only by {', '.join(fact.rules)}, which can never fire)",
                    )
                )
        elif not readers and not fact.summary and name not in in_plan:
            first = by_id[fact.rules[0]]
            out.append(
                Finding(
                    first.location,
                    "warning",
                    "lint_derived_unused",
                    f"derived fact '{name}' is read by no rule, template or summary",
                )
            )
    return out


# --- placeholders: which facts are surely known when a rule fires -----------------------------


def strict_names(node: expr.Node, truthy: bool = False) -> set[str]:
    """Names that must be known for the expression to be known (or, with ``truthy``, true)."""
    if isinstance(node, expr.Name):
        return set() if node.name.startswith("params.") else {node.name}
    if isinstance(node, expr.Literal_):
        return set()
    if isinstance(node, expr.Unary):
        return strict_names(node.operand, truthy and node.op != "not")
    if isinstance(node, expr.Binary):
        if node.op == "and" and truthy:
            return strict_names(node.left, True) | strict_names(node.right, True)
        if node.op in ("and", "or"):
            return set()
        return strict_names(node.left) | strict_names(node.right)
    if node.func in ("coalesce", "if") or node.func in expr.AGGREGATES:
        return set()
    return set().union(*(strict_names(a) for a in node.args))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _synthetic(fact: str, op: str, expected: Any, location: Location) -> Test:
    return Test(fact, op, expected, Leaf(fact, op, expected, None, location))


_DerivingRule = tuple[Rule, Derive, list[list[Test]]]


class KnownFacts:
    """Which facts are surely known when a rule fires: a sound, conservative analysis.

    In one alternative (DNF branch) of a rule's conditions a fact is surely known when

    (a) the branch tests it (any test but ``unknown``);
    (b) it is a required input: ``as_of``, ``locale``, ``loan.id``, ``loan.product``;
    (c) it is derived, and some rule deriving it surely fires with a known value: every test of
        one alternative of that rule's conditions follows from the branch (``x > 5`` gives
        ``x > 0`` and ``x known``; ``== a`` gives ``in [a, b]``; a rule with no ``when`` always
        fires), and its expression is surely known given the branch and that alternative (below);
        or the deriving rules' single tests of one fact cover all of its values (``== v`` and
        ``!= v``, ``in`` and ``not_in``, ``known`` and ``unknown``), each with a surely known
        expression;
    (d) a derived fact the branch makes known needs it: every expression deriving that fact needs
        it to be known (for a fact tested ``== true``, both sides of an ``and`` too).

    A derived boolean fact whose sure deriving rule's expression is surely *true* (``x > 0 or ...``
    with ``x > 0`` in the branch) counts as tested ``== true``. The whole is a fixpoint.

    An expression is surely known when every name it reads is (parameters always are), except:
    ``coalesce`` needs one surely known argument; ``a / b`` also needs ``b`` surely non-zero (a
    non-zero literal or parameter, or a fact whose tests exclude 0); a per-loan aggregate needs its
    argument surely known for *every* loan (by (b) and (c) with no tests), since one loan's
    conditions say nothing about the others. ``if(c, a, b)`` needs all three. ``months_to_repay``
    is never surely known (a payment at or below the interest never clears the balance).
    (Overflow to infinity is not considered: input amounts are bounded by the situation schema,
    and dates are checked to be real dates.)
    """

    def __init__(
        self, rules: list[Rule], facts: Mapping[str, FactSpec], params: Mapping[str, Any]
    ) -> None:
        self.facts = facts
        self.params = params
        self.derivers: dict[str, list[_DerivingRule]] = {}
        for rule in rules:
            if isinstance(rule.then, Derive):
                branches = dnf(rule.when) if rule.when is not None else [[]]
                self.derivers.setdefault(rule.then.fact, []).append((rule, rule.then, branches))
        # What to look at again when something new holds about a fact F (see ``_fixpoint``):
        # on a new test of F, every derived fact whose rules test or read F (or that is F);
        # on F becoming known, those that could then follow without any test of their own
        # values: alternatives with only known/unknown tests, and groups that cover every value.
        self.on_test: dict[str, set[str]] = {}
        self.on_known: dict[str, set[str]] = {}
        for fact, group in self.derivers.items():
            for ref in _refs(group) | {fact}:
                self.on_test.setdefault(ref, set()).add(fact)
            watch = {fact}
            for _rule, derive, alternatives in group:
                for alt in alternatives:
                    if not _valued(alt):
                        watch |= {t.fact for t in alt} | _names(derive)
            single = [(t, d) for _r, d, alts in group for alt in alts if len(alt) == 1 for t in alt]
            for leaf, derive in single:
                same = [t for t, _d in single if t.fact == leaf.fact]
                if any(t.op == "known" for t in same) or len(_valued(same)) >= 2:
                    watch |= {leaf.fact} | _names(derive)
            for ref in watch:
                self.on_known.setdefault(ref, set()).add(fact)
        self._needs: dict[tuple[str, bool], set[str]] = {}
        self.always: set[str] = set()
        self.always_tests: list[Test] = []
        self.per_loan = {f for f in ALWAYS_KNOWN if f.startswith("loan.")}
        while True:  # what holds for every binding, and so for every loan inside aggregates
            known, tests = self._fixpoint([], everything=True)
            per_loan = {f for f in known if f.startswith("loan.")}
            if per_loan == self.per_loan:
                break
            self.per_loan = per_loan
        self.always, self.always_tests = known, tests[:]

    def guaranteed(self, rule: Rule, fact: str) -> bool:
        """Whether every alternative of the rule's conditions makes ``fact`` surely known."""
        branches = dnf(rule.when) if rule.when is not None else [[]]
        return all(fact in self.closure(branch) for branch in branches)

    def closure(self, branch: list[Test]) -> set[str]:
        """The facts surely known whenever every test of ``branch`` holds."""
        return self._fixpoint(branch, everything=False)[0]

    def _fixpoint(self, branch: list[Test], everything: bool) -> tuple[set[str], list[Test]]:
        """Rules (a) to (d) applied until nothing changes, by a worklist.

        Starting from what holds with no tests at all (``always``; computed with
        ``everything``), a derived fact is looked at again only when something it depends on
        changed: a new test of a fact its rules test or read, or a fact becoming known that
        could make one of its rules follow (``on_known``, and ``armed``: rules whose value
        tests already follow and that wait for a name to be known). Every step only adds facts
        and tests, so the result is that of scanning everything until nothing changes.
        """
        tests = [*self.always_tests, *branch]
        known = set(ALWAYS_KNOWN) | self.always
        truthy = {t.fact for t in self.always_tests}
        pending: set[str] = set(self.derivers) if everything else set()
        armed: dict[str, set[str]] = {}  #: fact → derived facts to look at when it is known
        changed: list[tuple[str, bool]] = [(f, False) for f in known] if everything else []

        def learn(fact: str, test: Test | None = None) -> None:
            if test is not None:
                tests.append(test)
                if test.op == "==" and test.expected is True:
                    truthy.add(fact)
            if test is None or test.op != "unknown":
                known.add(fact)
            changed.append((fact, test is not None))

        for test in branch:
            if test.op != "unknown":
                known.add(test.fact)
            if test.op == "==" and test.expected is True:
                truthy.add(test.fact)
            changed.append((test.fact, True))
        while changed or pending:
            while changed:
                fact, tested = changed.pop()
                pending |= self.on_known.get(fact, set()) | armed.get(fact, set())
                if tested:
                    pending |= self.on_test.get(fact, set())
                if fact in known and fact in self.derivers:  # (d)
                    for name in self._needed(fact, fact in truthy) - known:
                        learn(name)
            if pending:
                self._derive(pending.pop(), tests, known, truthy, learn, armed)
        return known, tests

    def _needed(self, fact: str, truthy: bool) -> set[str]:
        """(d): the names every expression deriving ``fact`` needs (to be true, with ``truthy``)."""
        needs = self._needs.get((fact, truthy))
        if needs is None:
            group = self.derivers[fact]
            needs = set.intersection(*(strict_names(d.expr, truthy) for _r, d, _b in group))
            self._needs[(fact, truthy)] = needs
        return needs

    def _derive(
        self,
        fact: str,
        tests: list[Test],
        known: set[str],
        truthy: set[str],
        learn: Callable[..., None],
        armed: dict[str, set[str]],
    ) -> None:
        """(c) for one derived fact: a deriving rule surely fires with a known (or true) value.

        Alternatives whose value tests are all matched by tests on the same facts are "armed":
        they are looked at again when a name they test as known, or read, becomes known.
        """
        group = self.derivers[fact]
        tested = {t.fact for t in tests}
        for rule, derive, alternatives in group:
            for alt in alternatives:
                if all(t.fact in tested for t in _valued(alt)):
                    for name in {t.fact for t in alt} | _names(derive):
                        armed.setdefault(name, set()).add(fact)
                if not all(self.follows(t, tests, known) for t in alt):
                    continue
                ctx_known = known | {t.fact for t in alt if t.op != "unknown"}
                ctx_tests = tests + alt
                if fact not in known and self.expr_known(derive.expr, ctx_known, ctx_tests):
                    learn(fact)
                if fact not in truthy and self.surely_true(derive.expr, ctx_known, ctx_tests):
                    learn(fact, _synthetic(fact, "==", True, rule.location))
        if fact not in known and self._covered(group, tests, known):
            learn(fact)

    def follows(self, test: Test, tests: list[Test], known: set[str]) -> bool:
        """Whether ``test`` surely holds when ``tests`` hold and ``known`` facts are known."""
        if test.op == "known":
            return test.fact in known
        same = [t for t in tests if t.fact == test.fact]
        if test.op == "unknown":
            return any(t.op == "unknown" for t in same)
        if test.fact not in known:
            return False
        values = [t for t in same if t.op not in ("known", "unknown")]
        opposite = _synthetic(
            test.fact, OPERATORS[test.op].complement, test.expected, test.leaf.location
        )
        return conflict([*values, opposite], self.facts[test.fact]) is not None

    def _covered(self, group: list[_DerivingRule], tests: list[Test], known: set[str]) -> bool:
        """Whether single-test deriving rules on one fact together cover all its values."""
        by_fact: dict[str, list[Test]] = {}
        for _rule, derive, alternatives in group:
            for alt in alternatives:
                if len(alt) != 1:
                    continue
                leaf = alt[0]
                ctx = known | ({leaf.fact} if leaf.op != "unknown" else set())
                if self.expr_known(derive.expr, ctx, tests + alt):
                    by_fact.setdefault(leaf.fact, []).append(leaf)
        for fact, found in by_fact.items():
            ops = {t.op for t in found}
            same = [t for t in tests if t.fact == fact]
            unknown_here = any(t.op == "unknown" for t in same)
            if not (fact in known or "unknown" in ops):
                continue  # the fact may be unknown, and no rule covers that case
            if unknown_here or "known" in ops:
                return True
            values = [t for t in same if t.op not in ("known", "unknown")]
            opposites = [
                _synthetic(fact, OPERATORS[t.op].complement, t.expected, t.leaf.location)
                for t in found
                if t.op not in ("known", "unknown")
            ]
            if opposites and conflict([*values, *opposites], self.facts[fact]) is not None:
                return True
        return False

    def expr_known(self, node: expr.Node, known: set[str], tests: list[Test]) -> bool:
        """Whether the expression's value is surely known (see the class docstring)."""
        if isinstance(node, expr.Literal_):
            return True
        if isinstance(node, expr.Name):
            return node.name.startswith("params.") or node.name in known
        if isinstance(node, expr.Unary):
            return self.expr_known(node.operand, known, tests)
        if isinstance(node, expr.Binary):
            both = self.expr_known(node.left, known, tests) and self.expr_known(
                node.right, known, tests
            )
            return both and (node.op != "/" or self.nonzero(node.right, known, tests))
        if node.func == "coalesce":
            return any(self.expr_known(a, known, tests) for a in node.args)
        if node.func in expr.PARTIAL:
            return False  # may be unknown with every argument known (a payment that never clears)
        if node.func in expr.AGGREGATES:
            every_loan = {f for f in known if not f.startswith("loan.")} | self.per_loan
            situation = [t for t in tests if not t.fact.startswith("loan.")]
            return all(self.expr_known(a, every_loan, situation) for a in node.args)
        return all(self.expr_known(a, known, tests) for a in node.args)

    def nonzero(self, node: expr.Node, known: set[str], tests: list[Test]) -> bool:
        """Whether the expression is surely a number other than 0."""
        if isinstance(node, expr.Literal_):
            return _is_number(node.value) and node.value != 0
        if not isinstance(node, expr.Name):
            return False
        if node.name.startswith("params."):
            value = self.params.get(node.name.removeprefix("params."))
            return _is_number(value) and value != 0
        return self.follows(_synthetic(node.name, "!=", 0, _NOWHERE), tests, known)

    def surely_true(self, node: expr.Node, known: set[str], tests: list[Test]) -> bool:
        """Whether a boolean expression is surely true (a few simple shapes only)."""
        if isinstance(node, expr.Literal_):
            return node.value is True
        if isinstance(node, expr.Name):
            if node.name.startswith("params."):
                return self.params.get(node.name.removeprefix("params.")) is True
            return self.follows(_synthetic(node.name, "==", True, _NOWHERE), tests, known)
        if isinstance(node, expr.Binary):
            if node.op == "or":
                return self.surely_true(node.left, known, tests) or self.surely_true(
                    node.right, known, tests
                )
            if node.op == "and":
                return self.surely_true(node.left, known, tests) and self.surely_true(
                    node.right, known, tests
                )
            if node.op in OPERATORS and isinstance(node.right, expr.Literal_):
                fact = _tested_fact(node.left)
                value = node.right.value
                return fact is not None and self.follows(
                    _synthetic(fact, node.op, value, _NOWHERE), tests, known
                )
        return False


_NOWHERE = Location("<lint>", 1, 1)


def _valued(tests: list[Test]) -> list[Test]:
    """The tests of a value (not ``known``/``unknown``): they follow only from other such tests."""
    return [t for t in tests if t.op not in ("known", "unknown")]


def _names(derive: Derive) -> set[str]:
    """The facts a derive expression reads (parameters left out)."""
    return {n for n, _ in expr.names(derive.expr) if not n.startswith("params.")}


def _refs(group: list[_DerivingRule]) -> set[str]:
    """Every fact the rules deriving one fact test or read."""
    refs: set[str] = set()
    for _rule, derive, alternatives in group:
        refs |= {t.fact for alt in alternatives for t in alt} | _names(derive)
    return refs


def _tested_fact(node: expr.Node) -> str | None:
    """The fact an expression equals whenever that fact is known: ``x`` or ``coalesce(x, ...)``."""
    if isinstance(node, expr.Call) and node.func == "coalesce":
        node = node.args[0]
    if isinstance(node, expr.Name) and not node.name.startswith("params."):
        return node.name
    return None


def _placeholders(ruleset: RuleSet, rules: list[Rule]) -> list[Finding]:
    params = {name: p.value for name, p in ruleset.pack.parameters.items()}
    known = KnownFacts(rules, ruleset.compiled.facts, params)
    out: list[Finding] = []
    for rule in rules:
        names = [n for text in texts(rule) for n in _template_names(text)]
        for name in dict.fromkeys(names):
            if name.startswith("params.") or known.guaranteed(rule, name):
                continue
            out.append(
                Finding(
                    rule.location,
                    "warning",
                    "lint_placeholder_may_be_unknown",
                    f"rule '{rule.id}': '{{{name}}}' may be unknown when the rule fires (shown"
                    f" as '?'); add a condition such as {{fact: {name}, op: known}}",
                )
            )
    return out


def _locales(rules: list[Rule]) -> list[Finding]:
    out: list[Finding] = []
    for rule in rules:
        for text in texts(rule):
            problem = locale_problem(text)
            if problem:
                out.append(
                    Finding(
                        rule.location,
                        "warning",
                        "lint_missing_locale",
                        f"rule '{rule.id}': {problem}",
                    )
                )
    return out


def locale_problem(text: LocalText) -> str | None:
    for locale, written in text.items():
        if not written.strip():
            other = next((t for loc, t in text.items() if loc != locale and t.strip()), "")
            return f"the {locale} text is empty: {other!r}"
    if "en" not in text or "zh-CN" not in text:
        return None  # the checks below compare the English and the Chinese texts
    en, zh = text["en"].strip(), text["zh-CN"].strip()
    bare_en, bare_zh = _PLACEHOLDER.sub("", en), _PLACEHOLDER.sub("", zh)
    if en == zh and (_WORD.search(bare_en) or _CJK.search(bare_en)):
        return f"the en and zh-CN texts are identical: {en!r}"
    if _WORD.search(bare_zh) and not _CJK.search(bare_zh) and _CJK.search(bare_en) is None:
        return f"the zh-CN text has no Chinese: {zh!r}"
    if _CJK.search(bare_en) and not _WORD.search(bare_en):
        return f"the en text has no English: {en!r}"
    return None


def exit_code(findings: list[Finding], strict: bool) -> int:
    if any(f.severity == "error" for f in findings):
        return 2
    if strict and findings:
        return 1
    return 0
