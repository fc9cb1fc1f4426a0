"""``rules lint`` on big packs: the same findings as the pairwise definition, with linear work."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.audit import linting as lint_module
from engine.audit.linting import (
    ALWAYS_KNOWN,
    KnownFacts,
    _branches,
    _consequence_key,
    implies,
    lint,
    strict_names,
)
from engine.compile.compiler import Test as BranchTest
from engine.compile.compiler import dnf
from engine.pack.model import URGENCY_ORDER, Leaf, Recommend, Rule
from tests.packgen import generate_pack, write_feature_pack

pytestmark = pytest.mark.slow  # scale tests: `make test-fast` leaves them out

AUTHORING_PACK = Path(__file__).resolve().parent / "fixtures" / "audit" / "lintpack"

SITUATION_LEAVES = (
    '{fact: borrower.monthly_income, op: ">", value: 1000}',
    '{fact: borrower.monthly_income, op: ">", value: 2000}',
    '{fact: borrower.distress, op: "==", value: true}',
    '{fact: plans.expects_shortfall, op: "==", value: true}',
    "{fact: borrower.dependants, op: known}",
)
LOAN_LEAVES = (
    '{fact: loan.days_overdue, op: ">", value: 0}',
    '{fact: loan.product, op: "==", value: jiebei}',
)


def random_rules(rng: random.Random, n: int) -> str:
    """Rules over a tiny vocabulary, so that duplicates and shadowing are frequent."""
    items = []
    for i in range(n):
        about = rng.choice(["situation", "loan"])
        pool = SITUATION_LEAVES + (LOAN_LEAVES if about == "loan" else ())
        leaves = rng.sample(pool, rng.randint(1, 3))
        shape = rng.random()
        if shape < 0.1:
            when = ""
        elif shape < 0.4 or len(leaves) == 1:
            when = f"    when: {{all: [{', '.join(leaves)}]}}\n"
        elif shape < 0.7:
            when = f"    when: {{any: [{', '.join(leaves)}]}}\n"
        else:
            when = f"    when: {{all: [{leaves[0]}, {{any: [{', '.join(leaves[1:])}]}}]}}\n"
        action = rng.choice(["build_budget", "stay_calm", "be_honest"])
        items.append(
            f"  - id: r{i}\n    title: {{en: t, zh-CN: 标题}}\n    source: guide §2.1\n"
            f"    about: {about}\n{when}"
            f"    recommend: {{action: {action}, priority: {rng.choice([10, 20, 30])},"
            f" urgency: {rng.choice(['this_week', 'ongoing'])},"
            " title: {en: t, zh-CN: 标题}, message: {en: m, zh-CN: 信息}}\n"
        )
    return "rules:\n" + "".join(items)


def pairwise(rules: list[Rule]) -> list[tuple[str, str, str]]:
    """Duplicates and shadowing by their definition, comparing every pair of rules."""
    found: list[tuple[str, str, str]] = []
    duplicate: set[str] = set()
    for i, a in enumerate(rules):
        for b in rules[:i]:
            same = a.about == b.about and _consequence_key(a) == _consequence_key(b)
            if same and set(_branches(a)) == set(_branches(b)):
                duplicate.add(a.id)
                found.append(("lint_duplicate_rule", a.id, b.id))
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
            if set(_branches(a)) != set(_branches(b)) and implies(a, b):
                found.append(("lint_shadowed", a.id, b.id))
                break
    return found


@pytest.mark.parametrize("seed", range(6))
def test_duplicates_and_shadowing_match_the_pairwise_definition(
    seed: int, make_pack: Callable[..., Path]
) -> None:
    rules = engine.load_rules([make_pack(random_rules(random.Random(seed), 150))])
    expected = pairwise(list(rules.pack.rules))
    assert len({code for code, _a, _b in expected}) == 2  # both kinds occur
    got = []
    for finding in lint(rules):
        if finding.code in ("lint_duplicate_rule", "lint_shadowed"):
            first, second = finding.message.split("'")[1], finding.message.split("'")[3]
            got.append((finding.code, first, second))
    assert sorted(got) == sorted(expected)


def test_lint_work_grows_linearly_with_the_pack(tmp_path: Path, monkeypatch: Any) -> None:
    """800 generated rules: a bounded number of DNF expansions and canonical encodings per rule.

    Before, every pair of rules for one action was compared (about 80 DNF expansions per rule
    here, and 51 s for 5,000 rules).
    """
    generate_pack(tmp_path / "big", 800)
    rules = engine.load_rules([tmp_path / "big"])
    counts = {"dnf": 0, "canonical_json": 0}
    for name in counts:
        real = getattr(lint_module, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            counts[_name] += 1
            return _real(*args)

        monkeypatch.setattr(lint_module, name, counted)
    lint(rules)
    assert counts["dnf"] <= 3 * 800, counts
    assert counts["canonical_json"] <= 3 * 800, counts


# --- KnownFacts: a worklist, equal to scanning every derived fact until nothing changes ----------


def scan_closure(known_facts: KnownFacts, branch: list[BranchTest], always: set[str]) -> set[str]:
    """The closure by its definition: every rule re-applied to every derived fact until stable."""
    k = known_facts
    tests = list(branch)
    known = set(ALWAYS_KNOWN) | always
    while True:
        before = (len(known), len(tests))
        known |= {t.fact for t in tests if t.op != "unknown"}
        truthy = {t.fact for t in tests if t.op == "==" and t.expected is True}
        for fact in list(known):  # (d)
            group = k.derivers.get(fact)
            if group:
                known |= set.intersection(
                    *(strict_names(d.expr, fact in truthy) for _, d, _ in group)
                )
        for fact, group in k.derivers.items():  # (c)
            for rule, derive, alternatives in group:
                for alt in alternatives:
                    if not all(k.follows(t, tests, known) for t in alt):
                        continue
                    ctx_known = known | {t.fact for t in alt if t.op != "unknown"}
                    if fact not in known and k.expr_known(derive.expr, ctx_known, tests + alt):
                        known.add(fact)
                    if fact not in truthy and k.surely_true(derive.expr, ctx_known, tests + alt):
                        tests.append(
                            BranchTest(
                                fact, "==", True, Leaf(fact, "==", True, None, rule.location)
                            )
                        )
                        truthy.add(fact)
            if fact not in known and k._covered(group, tests, known):
                known.add(fact)
        if (len(known), len(tests)) == before:
            return known


@pytest.mark.parametrize("which", ["default", "features", "authoring"])
def test_known_facts_worklist_equals_the_full_scan(which: str, tmp_path: Path) -> None:
    if which == "default":
        rules = engine.load_rules()
    elif which == "features":
        rules = engine.load_rules([write_feature_pack(tmp_path / "features")])
    else:
        rules = engine.load_rules([AUTHORING_PACK])
    pack_rules = list(rules.pack.rules)
    params = {name: p.value for name, p in rules.pack.parameters.items()}
    known = KnownFacts(pack_rules, rules.compiled.facts, params)
    always = scan_closure(known, [], set())
    assert always == known.always
    compared = 0
    for rule in pack_rules:
        for branch in dnf(rule.when) if rule.when is not None else [[]]:
            assert known.closure(branch) == scan_closure(known, branch, always), rule.id
            compared += 1
    assert compared >= 10


def test_known_facts_work_grows_linearly_with_derived_facts(tmp_path: Path) -> None:
    """600 derived facts, each read by one rule's placeholder: lint looks at each a few times.

    Before, every closure scanned every derived fact until nothing changed (35 s for 2,000
    such rules; quadratic).
    """
    n = 600
    items = []
    for i in range(n):
        items.append(
            f"  - id: d{i}\n    title: {{en: d, zh-CN: 标题}}\n    source: guide §5.1\n"
            f'    when: {{fact: borrower.monthly_income, op: ">", value: {i}}}\n'
            f'    derive: {{fact: x{i}, value: "borrower.monthly_income - {i}", unit: money}}\n'
            f"  - id: r{i}\n    title: {{en: r, zh-CN: 标题}}\n    source: guide §5.1\n"
            f'    when: {{fact: x{i}, op: ">", value: 0}}\n'
            f"    recommend: {{action: build_budget, priority: {i}, urgency: ongoing,"
            f" title: {{en: t, zh-CN: 标题}},"
            f' message: {{en: "v {{x{i}}}", zh-CN: "值 {{x{i}}}"}}}}\n'
        )
    root = tmp_path / "derives"
    root.mkdir()
    (root / "pack.yaml").write_text("pack:\n  name: derives\n  version: 1.0.0\n", encoding="utf-8")
    for k in range(0, n, 200):
        chunk = "".join(items[k : k + 200])
        (root / f"rules_{k // 200}.yaml").write_text("rules:\n" + chunk, encoding="utf-8")
    rules = engine.load_rules([root])
    calls = 0
    real = KnownFacts.follows

    def follows(self: KnownFacts, *args: Any) -> bool:
        nonlocal calls
        calls += 1
        return real(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KnownFacts, "follows", follows)
        findings = lint(rules)
    assert not [f for f in findings if f.code == "lint_placeholder_may_be_unknown"]
    assert calls <= 10 * n, calls
