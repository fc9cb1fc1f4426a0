"""Coverage of the default rule pack (rules/jiebei), derived from the rules' own citations.

* every action of the SPEC §3 catalogue is recommended by at least one rule;
* every guide section §1.3–§5.3 is cited by at least one rule;
* every rule fires in some YAML case, and does not fire in another;
* no rule text shows the guide's example number, and 95188 only comes after the in-app route;
* all YAML cases pass, and at least 20 of them are end-to-end scenarios;
* the pack lints clean (no errors, no warnings), every rule fires in some case and at least
  97% of the conditions are seen both true and false.

Each assertion prints what is missing.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

import engine
from engine.audit.coverage import measure
from engine.audit.linting import lint
from engine.audit.testing import CaseResult, load_cases, run_cases
from engine.audit.testing import test_files as find_test_files
from engine.pack.catalogue import CATALOGUE
from engine.pack.model import Adjust, Recommend, Suppress

PACK_DIR = Path(__file__).resolve().parent.parent / "rules" / "jiebei"
GUIDE_SECTIONS = ("1.3", "2.1", "2.2", "3.1", "3.2", "4.1", "4.2", "4.3", "5.1", "5.2", "5.3")
MIN_SCENARIOS = 20
MIN_CONDITION_COVERAGE = 97.0
FAKE_NUMBER = "4001001000"

# Situation-level aggregates over the loan list (counts and sums with defaults). They are defined
# for every situation, so they fire in every case; every other rule must also have a case where it
# does not fire.
ALWAYS_DEFINED = frozenset(
    {
        "derive_income_word_zh",  # how the income is called: defined for every situation
        "derive_income_word_en",
        "derive_loan_count",
        "derive_overdue_loan_count",
        "derive_any_overdue",
        "derive_unsecured_count",
        "derive_secured_count",
        "derive_alipay_loan_count",
        "derive_estimable_overdue_count",
        "derive_scheduled_loan_count",
        "derive_total_overdue",
        "derive_total_outstanding",
        "derive_max_days_overdue",
        "derive_supervised_loan_count",
        "derive_microloan_count",
        "derive_unclear_lender_count",
        "derive_open_overdue_count",
        "derive_collectors_calling_count",
        "derive_balances_given",
        "derive_overdue_amounts_given",
        "derive_overdue_alipay_count",
        "derive_plan_commitments",
        "derive_plan_share_base",
        # every loan has a plan entry, so every loan has a reason code (SPEC §7.2)
        "derive_loan_plan_why",
        # every loan has a name a person knows (the plan's text output)
        "derive_loan_name_zh",
        "derive_loan_name_en",
    }
)


@cache
def ruleset() -> engine.RuleSet:
    return engine.load_rules([PACK_DIR])


@cache
def results() -> tuple[CaseResult, ...]:
    cases = load_cases(find_test_files([PACK_DIR / "tests"]))
    return tuple(run_cases(ruleset(), cases))


def _cited_sections(source: str) -> set[str]:
    return set(re.findall(r"guide §(\d+\.\d+)", source))


def test_every_catalogue_action_is_recommended() -> None:
    recommended = {r.then.action for r in ruleset().pack.rules if isinstance(r.then, Recommend)}
    missing = [code for code, _meaning, _guide in CATALOGUE if code not in recommended]
    assert not missing, f"catalogue actions no rule recommends: {missing}"


def test_pack_actions_are_recommended() -> None:
    recommended = {r.then.action for r in ruleset().pack.rules if isinstance(r.then, Recommend)}
    catalogue = {code for code, _m, _g in CATALOGUE}
    extra = [a for a in ruleset().pack.actions if a not in catalogue and a not in recommended]
    assert not extra, f"pack actions no rule recommends: {extra}"


def test_adjust_and_suppress_name_recommended_actions() -> None:
    recommended = {r.then.action for r in ruleset().pack.rules if isinstance(r.then, Recommend)}
    dangling = [
        r.id
        for r in ruleset().pack.rules
        if isinstance(r.then, Adjust | Suppress) and r.then.action not in recommended
    ]
    assert not dangling, f"adjust/suppress rules on actions nothing recommends: {dangling}"


def test_every_guide_section_is_cited() -> None:
    cited: set[str] = set()
    for rule in ruleset().pack.rules:
        cited |= _cited_sections(rule.source)
    missing = [f"§{s}" for s in GUIDE_SECTIONS if s not in cited]
    assert not missing, f"guide sections no rule cites: {missing}"


def test_every_guide_section_has_a_recommendation() -> None:
    cited: set[str] = set()
    for rule in ruleset().pack.rules:
        if isinstance(rule.then, Recommend):
            cited |= _cited_sections(rule.source)
    missing = [f"§{s}" for s in GUIDE_SECTIONS if s not in cited]
    assert not missing, f"guide sections no recommending rule cites: {missing}"


@pytest.mark.slow  # every shipped case
def test_every_rule_fires_in_some_case() -> None:
    fired = {rid for r in results() if r.decision for rid in r.decision.fired_rules()}
    never = sorted(r.id for r in ruleset().pack.rules if r.id not in fired)
    assert not never, f"rules that fire in no YAML case: {never}"


@pytest.mark.slow  # every shipped case
def test_every_rule_has_a_case_where_it_does_not_fire() -> None:
    all_ids = [r.id for r in ruleset().pack.rules]
    quiet: set[str] = set()
    for result in results():
        if result.decision is not None:
            quiet |= set(all_ids) - set(result.decision.fired_rules())
    always = sorted(rid for rid in all_ids if rid not in quiet and rid not in ALWAYS_DEFINED)
    assert not always, (
        f"rules that fire in every YAML case (add a case where they do not): {always}"
    )


def test_only_aggregates_are_unconditional() -> None:
    rules = {r.id: r for r in ruleset().pack.rules}
    unconditional = sorted(rid for rid, r in rules.items() if r.when is None)
    unexpected = [rid for rid in unconditional if rid not in ALWAYS_DEFINED]
    assert not unexpected, f"rules without 'when' that are not listed aggregates: {unexpected}"
    stale = sorted(rid for rid in ALWAYS_DEFINED if rid not in rules or rules[rid].when is not None)
    assert not stale, f"ALWAYS_DEFINED lists rules that are gone or now conditional: {stale}"


def _texts(rule: engine.pack.model.Rule) -> list[tuple[str, str]]:
    texts = [rule.title]
    then = rule.then
    if isinstance(then, Recommend):
        texts += [then.title, then.message]
    elif isinstance(then, Adjust | Suppress):
        texts.append(then.reason)
    out = []
    for text in texts:
        out += list(text.items())
    return out


def _all_texts() -> list[tuple[str, str, str]]:
    out = [(rule.id, loc, text) for rule in ruleset().pack.rules for loc, text in _texts(rule)]
    # derived text facts (service routes, court steps, plan notes) are shown inside messages
    for rule in ruleset().pack.rules:
        then = rule.then
        if hasattr(then, "text"):
            out.append((rule.id, "expr", then.text))
    return out


def test_no_fake_example_number() -> None:
    bad = [(rid, loc) for rid, loc, text in _all_texts() if FAKE_NUMBER in text.replace(" ", "")]
    assert not bad, f"texts showing the guide's example number {FAKE_NUMBER}: {bad}"


def test_95188_only_after_the_in_app_route() -> None:
    bad = []
    for rid, loc, text in _all_texts():
        if "95188" not in text:
            continue
        before = text[: text.index("95188")]
        in_app = (
            ("我的" in before and "客服" in before)
            if loc == "zh-CN"
            else ("我的" in before and "客服" in before)
            or re.search(r"\bin-app\b", before) is not None
        )
        words = {"zh-CN": ("自己", "手动"), "en": ("yourself",)}.get(
            loc, ("自己", "手动", "yourself")
        )
        self_typed = any(word in text for word in words)  # an expression may be in either
        if not (in_app and self_typed):
            bad.append((rid, loc))
    assert not bad, f"texts giving 95188 without the in-app route first / 'type it yourself': {bad}"


def test_no_grace_period_promised() -> None:
    pattern = re.compile(
        r"(\d+)\s*(-| )?(day|天)s?\s*(grace|宽限)|宽限期\s*\d+|grace period of \d+", re.I
    )
    bad = [(rid, loc) for rid, loc, text in _all_texts() if pattern.search(text)]
    assert not bad, f"texts naming a specific grace period: {bad}"


def test_every_rule_cites_a_source() -> None:
    bad = [
        r.id
        for r in ruleset().pack.rules
        if not re.fullmatch(
            r"(guide §\d+\.\d+|brief \d+\.\d+)(; (guide §\d+\.\d+|brief \d+\.\d+))*", r.source
        )
    ]
    assert not bad, f"rules whose source is not 'guide §x.y' / 'brief n.m' separated by '; ': {bad}"


def test_all_yaml_cases_pass() -> None:
    failed = [f"{r.case.location} {r.case.name}: {r.failures}" for r in results() if not r.passed]
    assert not failed, "failing YAML cases:\n" + "\n".join(failed)


def test_enough_scenarios() -> None:
    scenarios = [r.case.name for r in results() if r.case.name.startswith("scenario:")]
    assert len(scenarios) >= MIN_SCENARIOS, (
        f"only {len(scenarios)} 'scenario:' cases; at least {MIN_SCENARIOS} are required"
    )


def test_examples_are_used_by_cases() -> None:
    examples = sorted((PACK_DIR.parent.parent / "examples").glob("*.json"))
    assert len(examples) >= 6, f"only {len(examples)} example situations in examples/"
    used = set()
    for path in find_test_files([PACK_DIR / "tests"]):
        used |= set(re.findall(r"examples/([\w.-]+\.json)", path.read_text(encoding="utf-8")))
    unused = [p.name for p in examples if p.name not in used]
    assert not unused, f"example situations no YAML case uses: {unused}"


def test_pack_lints_clean() -> None:
    findings = lint(ruleset())
    assert not findings, "lint findings:\n" + "\n".join(str(f) for f in findings)


@pytest.mark.slow  # every shipped case
def test_rule_and_condition_coverage() -> None:
    cov = measure(ruleset(), results())
    never = [rule_id for rule_id, cases in cov.rules.items() if not cases]
    assert cov.rule_percent == 100.0, f"rules no YAML case fires: {never}"
    uncovered = [
        f"{leaf.location}: {leaf.rule_id}: {leaf.description} (seen {sorted(leaf.seen)})"
        for leaf in cov.leaves
        if not leaf.covered
    ]
    assert cov.condition_percent >= MIN_CONDITION_COVERAGE, (
        f"condition coverage {cov.condition_percent:.1f}% < {MIN_CONDITION_COVERAGE}%; not seen"
        " both true and false:\n" + "\n".join(uncovered)
    )
