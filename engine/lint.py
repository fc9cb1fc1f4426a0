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

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import expr
from engine.checks import facts_read, leaves
from engine.compiler import Test, dnf
from engine.diffing import parameters_used, texts
from engine.facts import FactSpec
from engine.model import (
    URGENCY_ORDER,
    Adjust,
    Derive,
    Leaf,
    LocalText,
    Recommend,
    Rule,
    Suppress,
)
from engine.operators import OPERATORS
from engine.situation import canonical_json
from engine.source import Location
from engine.template import TemplateError, placeholders

if TYPE_CHECKING:
    from engine.api import RuleSet

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
    if test.op in ("known", "unknown"):
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
    value_tests = [t for t in tests if t.op not in ("known", "unknown")]
    if spec.type == "list":
        has = {canonical_json(t.expected) for t in value_tests if t.op == "contains"}
        lacks = {canonical_json(t.expected) for t in value_tests if t.op == "not_contains"}
        both = sorted(has & lacks)
        return f"{tests[0].fact} both contains and not_contains {both[0]}" if both else None
    candidates = _candidates(value_tests, spec)
    if candidates is not None:
        if not any(
            all(OPERATORS[t.op].test(c, t.expected) for t in value_tests) for c in candidates
        ):
            return _conflict_text(value_tests)
        return None
    return _interval_conflict(value_tests, spec)


def _candidates(tests: list[Test], spec: FactSpec) -> list[Any] | None:
    if spec.type == "boolean":
        return [True, False]
    sets = [
        [t.expected] if t.op == "==" else list(t.expected) for t in tests if t.op in ("==", "in")
    ]
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
    integral = spec.unit in ("days", "integer")
    low: tuple[Any, bool] | None = None  # (bound, strict)
    high: tuple[Any, bool] | None = None
    for t in tests:
        v = t.expected
        if t.op in (">", ">=") and isinstance(v, int | float | str):
            bound = (
                (math.floor(v) + 1, False)
                if integral and t.op == ">" and not isinstance(v, str)
                else (v, t.op == ">")
            )
            if low is None or bound[0] > low[0] or (bound[0] == low[0] and bound[1]):
                low = bound
        elif t.op in ("<", "<=") and isinstance(v, int | float | str):
            bound = (
                (math.ceil(v) - 1, False)
                if integral and t.op == "<" and not isinstance(v, str)
                else (v, t.op == "<")
            )
            if high is None or bound[0] < high[0] or (bound[0] == high[0] and bound[1]):
                high = bound
    if low is None or high is None:
        return None
    if low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])):
        return _conflict_text([t for t in tests if t.op in (">", ">=", "<", "<=")])
    if low[0] == high[0]:
        point = low[0]
        if any(not OPERATORS[t.op].test(point, t.expected) for t in tests):
            return _conflict_text(tests)
    return None


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
    for template in (text.en, text.zh):
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


def _duplicates(rules: list[Rule]) -> list[Finding]:
    out: list[Finding] = []
    duplicate: set[str] = set()
    for i, a in enumerate(rules):
        for b in rules[:i]:
            if a.about != b.about or _consequence_key(a) != _consequence_key(b):
                continue
            if set(_branches(a)) == set(_branches(b)):
                duplicate.add(a.id)
                out.append(
                    Finding(
                        a.location,
                        "warning",
                        "lint_duplicate_rule",
                        f"rule '{a.id}' duplicates rule '{b.id}' ({b.location.short}):"
                        " same conditions and consequence",
                    )
                )
    for a in rules:
        if not isinstance(a.then, Recommend) or a.id in duplicate:
            continue
        for b in rules:
            if b is a or not isinstance(b.then, Recommend) or b.about != a.about:
                continue
            if b.then.action != a.then.action or b.then.priority < a.then.priority:
                continue
            if URGENCY_ORDER.index(b.then.urgency) > URGENCY_ORDER.index(a.then.urgency):
                continue
            if set(_branches(a)) == set(_branches(b)) or not implies(a, b):
                continue
            out.append(
                Finding(
                    a.location,
                    "warning",
                    "lint_shadowed",
                    f"rule '{a.id}' is shadowed by '{b.id}' ({b.location.short}): whenever it"
                    f" fires, '{b.id}' recommends {a.then.action} too with priority"
                    f" {b.then.priority} ≥ {a.then.priority}, so it never changes the score",
                )
            )
            break
    return out


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
            in_plan |= {plan.name.en, plan.name.zh}
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
            first = next(r for r in rules if r.id == fact.rules[0])
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
        self.always: set[str] = set()
        self.per_loan = {f for f in ALWAYS_KNOWN if f.startswith("loan.")}
        while True:  # what holds for every binding, and so for every loan inside aggregates
            known = self.closure([])
            per_loan = {f for f in known if f.startswith("loan.")}
            if per_loan == self.per_loan:
                break
            self.per_loan = per_loan
        self.always = known

    def guaranteed(self, rule: Rule, fact: str) -> bool:
        """Whether every alternative of the rule's conditions makes ``fact`` surely known."""
        branches = dnf(rule.when) if rule.when is not None else [[]]
        return all(fact in self.closure(branch) for branch in branches)

    def closure(self, branch: list[Test]) -> set[str]:
        """The facts surely known whenever every test of ``branch`` holds."""
        tests = list(branch)
        known = set(ALWAYS_KNOWN) | self.always
        while True:
            before = (len(known), len(tests))
            known |= {t.fact for t in tests if t.op != "unknown"}
            truthy = {t.fact for t in tests if t.op == "==" and t.expected is True}
            for fact in list(known):  # (d) a known derived fact: what all its expressions need
                group = self.derivers.get(fact)
                if group:
                    needs = [strict_names(d.expr, fact in truthy) for _r, d, _b in group]
                    known |= set.intersection(*needs)
            for fact, group in self.derivers.items():  # (c)
                for rule, derive, alternatives in group:
                    for alt in alternatives:
                        if not all(self.follows(t, tests, known) for t in alt):
                            continue
                        ctx_known = known | {t.fact for t in alt if t.op != "unknown"}
                        ctx_tests = tests + alt
                        if fact not in known and self.expr_known(derive.expr, ctx_known, ctx_tests):
                            known.add(fact)
                        if fact not in truthy and self.surely_true(
                            derive.expr, ctx_known, ctx_tests
                        ):
                            tests.append(_synthetic(fact, "==", True, rule.location))
                            truthy.add(fact)
                if fact not in known and self._covered(group, tests, known):
                    known.add(fact)
            if (len(known), len(tests)) == before:
                return known

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
    en, zh = text.en.strip(), text.zh.strip()
    if not en or not zh:
        missing = "en" if not en else "zh-CN"
        return f"the {missing} text is empty: {text.zh if not en else text.en!r}"
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
