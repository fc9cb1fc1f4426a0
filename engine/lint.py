"""``xieshang rules lint``: problems a valid pack can still have.

Errors (the pack does something it cannot mean): ``lint_contradiction`` (a rule whose every
alternative tests one fact in ways that cannot all hold: it can never fire) and
``lint_fact_never_provided`` (a derived fact that no rule can ever derive, but rules read it).

Warnings (worth a look): ``lint_unreachable_branch`` (one alternative of a rule can never hold),
``lint_duplicate_rule``, ``lint_shadowed`` (whenever the rule fires, another rule for the same
action fires too with at least its priority and urgency, so it never changes the score),
``lint_unused_parameter``, ``lint_action_unused`` (a catalogue action no rule recommends),
``lint_target_not_recommended`` (adjust/suppress of an action no rule recommends),
``lint_derived_unused``, ``lint_placeholder_may_be_unknown`` (a template placeholder whose fact the
rule's own conditions do not guarantee known: it would show as ``?``) and ``lint_missing_locale``
(a text empty in one locale, identical in both, or in the wrong script).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
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
    Condition,
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


def always_known(node: expr.Node, known: set[str]) -> bool:
    """Whether an expression is known whenever its rule fires (a conservative guess)."""
    if isinstance(node, expr.Literal_):
        return True
    if isinstance(node, expr.Name):
        return node.name in known or node.name.startswith("params.")
    if isinstance(node, expr.Unary):
        return always_known(node.operand, known)
    if isinstance(node, expr.Binary):
        if node.op == "/":
            return False
        return always_known(node.left, known) and always_known(node.right, known)
    if node.func == "coalesce":
        return any(always_known(a, known) for a in node.args)
    if node.func == "count_loans":
        return True
    return all(always_known(a, known) for a in node.args)


def _needs_only_known(cond: Condition | None) -> list[str] | None:
    """The facts a condition made only of ``known`` tests under ``all`` needs (else None)."""
    if cond is None:
        return []
    if isinstance(cond, Leaf):
        return [cond.fact] if cond.op == "known" else None
    if cond.kind != "all":
        return None
    found: list[str] = []
    for item in cond.items:
        sub = _needs_only_known(item)
        if sub is None:
            return None
        found += sub
    return found


def _derive_known(rule: Rule, known: set[str]) -> bool:
    """Whether a derive rule surely fires, with a known value, once ``known`` facts are known."""
    assert isinstance(rule.then, Derive)
    needs = _needs_only_known(rule.when)
    return needs is not None and set(needs) <= known and always_known(rule.then.expr, known)


def _split_known(rules: list[Rule], known: set[str]) -> bool:
    """Rules deriving one fact under ``X known`` and under ``X unknown``, both with known values."""
    on_known = on_unknown = False
    for rule in rules:
        assert isinstance(rule.then, Derive)
        cond = rule.when
        if isinstance(cond, Leaf) and cond.op == "known":
            on_known |= always_known(rule.then.expr, known | {cond.fact})
        elif isinstance(cond, Leaf) and cond.op == "unknown":
            on_unknown |= always_known(rule.then.expr, known)
    return on_known and on_unknown


def known_derived(rules: Iterable[Rule], start: Iterable[str] = ALWAYS_KNOWN) -> set[str]:
    """Facts surely known: ``start``, and derived facts some rule surely derives from them."""
    known = set(start)
    derivers: dict[str, list[Rule]] = {}
    for rule in rules:
        if isinstance(rule.then, Derive):
            derivers.setdefault(rule.then.fact, []).append(rule)
    changed = True
    while changed:
        changed = False
        for fact, group in derivers.items():
            if fact in known:
                continue
            if any(_derive_known(r, known) for r in group) or _split_known(group, known):
                known.add(fact)
                changed = True
    return known


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
    out += _placeholders(rules)
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
        elif not readers and not fact.summary:
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


class _KnownFacts:
    """Which facts a rule's conditions guarantee known, following derived facts both ways."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.always = known_derived(rules)
        self.derives: dict[str, list[Derive]] = {}
        for rule in rules:
            if isinstance(rule.then, Derive):
                self.derives.setdefault(rule.then.fact, []).append(rule.then)

    def closure(self, tests: list[Test]) -> set[str]:
        known = set(self.always)
        truthy: set[str] = set()
        for t in tests:
            if t.op != "unknown":
                known.add(t.fact)
            if t.op == "==" and t.expected is True:
                truthy.add(t.fact)
        changed = True
        while changed:
            before = len(known)
            for fact in list(known):  # a known derived fact: what its expressions need
                derives = self.derives.get(fact, [])
                if derives:
                    needed = [strict_names(d.expr, fact in truthy) for d in derives]
                    known |= set.intersection(*needed)
            known |= known_derived(self.rules, known)  # known inputs: known results
            changed = len(known) != before
        return known

    def guaranteed(self, rule: Rule, fact: str) -> bool:
        """Whether every alternative of the rule's conditions makes ``fact`` known."""
        branches = dnf(rule.when) if rule.when is not None else [[]]
        return all(fact in self.closure(branch) for branch in branches)


def _placeholders(rules: list[Rule]) -> list[Finding]:
    known = _KnownFacts(rules)
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
