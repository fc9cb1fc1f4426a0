"""Rule packs written for tests and benchmarks, independent of the built-in pack.

* :data:`FEATURE_RULES` — a small hand-written pack that uses every feature of the rule language
  (every operator, ``any``/``not``, params, per-loan rules, chained derivations, aggregates,
  adjust and suppress). The property tests run on it.
* :func:`generate_pack` — N generated rules over many input facts with varied thresholds, about
  a fifth of them matching :func:`matching_situation`. The scale tests and ``bench/`` use it.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACK_YAML = "pack:\n  name: {name}\n  version: 1.0.0\n"

FEATURE_PARAMETERS = """\
parameters:
  escalation_days:
    value: 30
    source: guide §1.2
  big_debt:
    value: 50000
    source: guide §2.1
  fee_note:
    value: 还款提醒
    source: guide §5.2
"""

_T = "{en: t, zh-CN: 标题}"


def _recommend(action: str, priority: int, message: str = "m") -> str:
    return (
        f"    recommend:\n      action: {action}\n      priority: {priority}\n"
        f"      urgency: this_week\n      title: {_T}\n"
        f"      message: {{en: '{message}', zh-CN: '{message}'}}\n"
    )


FEATURE_RULES = (
    """\
rules:
  - id: derive_days
    title: {en: days, zh-CN: 天数}
    source: guide §1.2
    about: loan
    derive:
      fact: loan.days
      value: coalesce(loan.days_overdue, max(days_between(loan.first_missed_due_date, as_of), 0))
      unit: days
  - id: derive_stage_late
    title: {en: stage, zh-CN: 阶段}
    source: guide §1.2
    about: loan
    when: {fact: loan.days, op: ">=", param: escalation_days}
    derive: {fact: loan.stage, value: "'late'", unit: text}
  - id: derive_stage_early
    title: {en: stage, zh-CN: 阶段}
    source: guide §1.2
    about: loan
    when: {fact: loan.days, op: "<", param: escalation_days}
    derive: {fact: loan.stage, value: "'early'", unit: text}
  - id: derive_total_overdue
    title: {en: total, zh-CN: 合计}
    source: guide §2.1
    derive:
      fact: total_overdue
      value: sum_loans(coalesce(loan.overdue_amount, 0))
      unit: money
      summary: true
  - id: derive_late_loans
    title: {en: late loans, zh-CN: 逾期笔数}
    source: guide §2.1
    derive:
      fact: late_loans
      value: count_loans(loan.stage == 'late')
      unit: integer
      summary: true
  - id: derive_max_days
    title: {en: max days, zh-CN: 最长逾期}
    source: guide §2.1
    derive: {fact: max_days, value: max_loans(loan.days), unit: days}
  - id: derive_disposable
    title: {en: disposable, zh-CN: 可支配}
    source: guide §5.1
    derive:
      fact: disposable_income
      value: round(borrower.monthly_income - borrower.monthly_essential_expenses, 2)
      unit: money
      summary: true
  - id: derive_ratio
    title: {en: ratio, zh-CN: 比例}
    source: guide §5.1
    derive:
      fact: debt_ratio
      value: if(disposable_income > 0, total_overdue / disposable_income, 99)
      unit: number
  - id: derive_due_soon
    title: {en: due soon, zh-CN: 即将到期}
    source: guide §4.1
    about: loan
    derive:
      fact: loan.due_in
      value: days_between(as_of, loan.next_due_date)
      unit: days
  - id: crisis
    title: {en: crisis, zh-CN: 危机}
    source: brief 7.7
    when: {fact: borrower.distress, op: "==", value: true}
"""
    + _recommend("crisis_support", 1000)
    + """\
  - id: contact
    title: {en: contact, zh-CN: 联系}
    source: guide §2.2
    about: loan
    when:
      all:
        - {fact: loan.days, op: ">", value: 0}
        - any:
            - {fact: contact.contacted_lender, op: "!=", value: true}
            - {fact: contact.channels_used, op: not_contains, value: hotline}
"""
    + _recommend("contact_lender", 70, "{loan.id} {loan.days} {loan.lender} {params.fee_note}")
    + """\
  - id: budget
    title: {en: budget, zh-CN: 预算}
    source: guide §2.1
    when:
      all:
        - {fact: disposable_income, op: known}
        - {fact: total_overdue, op: ">", value: 0}
"""
    + _recommend("build_budget", 50, "{disposable_income} {total_overdue} {debt_ratio}")
    + """\
  - id: pay_now
    title: {en: pay, zh-CN: 还款}
    source: guide §2.1
    when:
      all:
        - {fact: plans.can_pay_now, op: ">=", value: 100.5}
        - not: {fact: total_overdue, op: "<=", value: 0}
"""
    + _recommend("pay_now", 80)
    + """\
  - id: no_forgiveness
    title: {en: policy, zh-CN: 政策}
    source: brief 7.1
    when: {fact: plans.believes_debt_forgiveness_policy, op: "==", value: true}
"""
    + _recommend("no_debt_forgiveness_policy", 300)
    + """\
  - id: avoid_loans
    title: {en: loans, zh-CN: 以贷养贷}
    source: guide §5.1
    when:
      any:
        - {fact: plans.considering_new_loan_to_repay, op: "==", value: true}
        - {fact: collection_conduct.pushed_new_loan, op: "==", value: true}
"""
    + _recommend("avoid_new_loans", 400)
    + """\
  - id: court
    title: {en: court, zh-CN: 法院}
    source: brief 3.1
    about: loan
    when: {fact: loan.status.legal, op: in, value: [lawsuit_notice, payment_order]}
"""
    + _recommend("respond_to_court", 900, "{loan.status.legal_notice_date}")
    + """\
  - id: mediation
    title: {en: mediation, zh-CN: 调解}
    source: brief 3.2
    about: loan
    when:
      all:
        - {fact: loan.status.legal, op: "==", value: pre_suit_mediation}
        - {fact: loan.product, op: not_in, value: [mortgage, car_loan]}
"""
    + _recommend("join_mediation", 600)
    + """\
  - id: hardship_installments
    title: {en: hardship, zh-CN: 困难}
    source: guide §4.2
    when:
      all:
        - {fact: borrower.hardship, op: contains, value: job_loss}
        - {fact: late_loans, op: ">=", value: 1}
"""
    + _recommend("propose_installments", 60, "{late_loans}")
    + """\
  - id: waiver
    title: {en: waiver, zh-CN: 减免}
    source: guide §4.1
    about: loan
    when:
      all:
        - {fact: loan.stage, op: "==", value: late}
        - {fact: loan.annual_rate, op: ">", value: 0.1}
"""
    + _recommend("request_penalty_waiver", 40)
    + """\
  - id: extension
    title: {en: extension, zh-CN: 延期}
    source: guide §4.1
    about: loan
    when:
      any:
        - {fact: loan.due_in, op: "<=", value: 7}
        - {fact: loan.next_due_date, op: "<", value: '2025-01-01'}
"""
    + _recommend("request_extension", 45)
    + """\
  - id: notify_early
    title: {en: early, zh-CN: 提前}
    source: guide §4.1
    when:
      all:
        - {fact: plans.expects_shortfall, op: "==", value: true}
        - {fact: max_days, op: unknown}
"""
    + _recommend("notify_lender_early", 75)
    + """\
  - id: abuse
    title: {en: abuse, zh-CN: 暴力催收}
    source: guide §3.2
    when:
      any:
        - {fact: collection_conduct.threats_or_insults, op: "==", value: true}
        - {fact: collection_conduct.calls_at_night, op: "==", value: true}
        - {fact: collection_conduct.public_shaming, op: "==", value: true}
"""
    + _recommend("report_abusive_collection", 500)
    + """\
  - id: big_debt_priority
    title: {en: prioritise, zh-CN: 排序}
    source: guide §2.1
    when:
      any:
        - {fact: total_overdue, op: ">", param: big_debt}
        - {fact: debt_ratio, op: ">=", value: 3}
"""
    + _recommend("prioritize_debts", 55)
    + """\
  - id: budget_first_when_broke
    title: {en: broke, zh-CN: 入不敷出}
    source: guide §5.1
    when: {fact: disposable_income, op: "<", value: 0}
    adjust:
      action: build_budget
      by: 200
      reason: {en: spending exceeds income, zh-CN: 入不敷出}
  - id: contact_less_when_court
    title: {en: court first, zh-CN: 先处理法院}
    source: brief 3.1
    about: loan
    when: {fact: loan.status.legal, op: in, value: [lawsuit_notice, payment_order, judgment]}
    adjust:
      action: contact_lender
      by: -20
      reason: {en: court first, zh-CN: 先处理法院}
  - id: no_pay_when_scam
    title: {en: scam, zh-CN: 诈骗}
    source: brief 7.2
    when:
      any:
        - {fact: plans.suspicious_contact, op: "==", value: true}
        - {fact: collection_conduct.asked_to_pay_personal_account, op: "==", value: true}
    suppress:
      action: pay_now
      reason: {en: verify first, zh-CN: 先核实}
  - id: no_budget_in_crisis
    title: {en: crisis, zh-CN: 危机}
    source: brief 7.7
    when:
      all:
        - {fact: borrower.distress, op: "==", value: true}
        - not: {fact: borrower.income_change, op: in, value: [none]}
    suppress:
      action: build_budget
      reason: {en: safety first, zh-CN: 安全第一}
"""
)


def write_pack(root: Path, rules: str, parameters: str | None = None, name: str = "t") -> Path:
    """A pack directory: pack.yaml, rules.yaml and (optionally) parameters.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pack.yaml").write_text(PACK_YAML.format(name=name), encoding="utf-8")
    (root / "rules.yaml").write_text(textwrap.dedent(rules), encoding="utf-8")
    if parameters is not None:
        (root / "parameters.yaml").write_text(parameters, encoding="utf-8")
    return root


def write_feature_pack(root: Path) -> Path:
    return write_pack(root, FEATURE_RULES, FEATURE_PARAMETERS, name="features")


# --- generated packs ------------------------------------------------------------------------

#: Numeric input facts: (name, per loan, value in matching_situation).
NUMBERS: tuple[tuple[str, bool, float], ...] = (
    ("borrower.monthly_income", False, 6000),
    ("borrower.monthly_essential_expenses", False, 3800),
    ("borrower.liquid_savings", False, 500),
    ("borrower.dependants", False, 2),
    ("plans.can_pay_now", False, 300),
    ("plans.offer_monthly", False, 800),
    ("loan.outstanding_balance", True, 20000),
    ("loan.overdue_amount", True, 2100),
    ("loan.annual_rate", True, 0.18),
    ("loan.monthly_payment", True, 2100),
    ("loan.days_overdue", True, 18),
    ("loan.arrangement.monthly_payment", True, 700),
)
#: Text/boolean facts: (name, per loan, value in matching_situation, other values).
SYMBOLS: tuple[tuple[str, bool, Any, tuple[Any, ...]], ...] = (
    ("borrower.income_change", False, "reduced", ("none", "lost", "irregular")),
    ("borrower.distress", False, False, (True,)),
    ("contact.contacted_lender", False, False, (True,)),
    ("plans.expects_shortfall", False, True, (False,)),
    ("loan.product", True, "jiebei", ("huabei", "credit_card", "weilidai", "mortgage")),
    ("loan.status.legal", True, "none", ("lawsuit_notice", "judgment", "enforcement")),
    ("loan.status.in_collection", True, True, (False,)),
    ("loan.arrangement.status", True, "none", ("requested", "agreed", "broken")),
)
RULES_PER_FILE = 1000
ACTIONS = (
    "contact_lender",
    "build_budget",
    "pay_now",
    "prioritize_debts",
    "request_extension",
    "request_penalty_waiver",
    "propose_installments",
    "be_honest",
    "stay_calm",
    "set_reminders",
)


def matching_situation(loans: int = 1) -> dict[str, Any]:
    """The situation that about a fifth of a generated pack's rules match (all loans alike)."""
    situation: dict[str, Any] = {"schema_version": 1, "as_of": "2026-11-28", "locale": "en"}
    loan_template: dict[str, Any] = {"product": "jiebei"}
    for name, per_loan, value, _ in SYMBOLS:
        _put(loan_template if per_loan else situation, name, value, per_loan)
    for (
        name,
        per_loan,
        number,
    ) in NUMBERS:
        _put(loan_template if per_loan else situation, name, number, per_loan)
    situation["loans"] = [{**_copy(loan_template), "id": f"loan{i}"} for i in range(loans)]
    return situation


def _put(target: dict[str, Any], name: str, value: Any, per_loan: bool) -> None:
    parts = name.split(".")[1:] if per_loan else name.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def generated_rules(
    n: int, seed: int = 0, match_every: int = 5, numbers: tuple[str, ...] = ()
) -> Iterator[tuple[str, bool]]:
    """N rules as YAML items, with whether each one matches :func:`matching_situation`.

    Rule ``i`` matches exactly when ``i % match_every == 0``. Each rule tests one or two facts
    with a threshold drawn from a wide range (so that thresholds are mostly distinct and the
    compiler has to shard); some rules are per loan, some use ``any``/``not``, and one in eight
    adjusts instead of recommending. ``numbers`` restricts the first leaf of every rule to these
    numeric facts (many distinct tests on one fact stress the engine's fan-out limits).
    """
    rng = random.Random(seed)
    pool = tuple(x for x in NUMBERS if x[0] in numbers) or None
    for i in range(n):
        match = i % match_every == 0
        leaves = [_leaf(rng, match, pool)]
        if rng.random() < 0.4:
            # a second leaf that holds, so the rule still matches exactly when the first does
            leaves.append(_leaf(rng, True))
        per_loan = any(leaf[1] for leaf in leaves)
        body = [item for item, _ in leaves]
        if len(body) == 1:
            when = body[0]
        elif rng.random() < 0.5:
            when = "{all: [" + ", ".join(body) + "]}"
        else:
            # not(any(not a, not b)) == all(a, b)
            negs = ", ".join("{not: " + b + "}" for b in body)
            when = "{not: {any: [" + negs + "]}}"
        about = "loan" if per_loan else "situation"
        action = ACTIONS[i % len(ACTIONS)]
        head = (
            f"  - id: gen_{i}\n    title: {{en: generated {i}, zh-CN: 生成 {i}}}\n"
            f"    source: guide §2.1\n    about: {about}\n    when: {when}\n"
        )
        if i % 8 == 7:
            tail = (
                f"    adjust: {{action: {action}, by: {rng.choice([-5, 5, 10])},"
                " reason: {en: r, zh-CN: r}}\n"
            )
        else:
            tail = (
                f"    recommend:\n      action: {action}\n      priority: {rng.randrange(1000)}\n"
                f"      urgency: ongoing\n      title: {{en: 'a{i}', zh-CN: 'a{i}'}}\n"
                f"      message: {{en: 'm{i}', zh-CN: 'm{i}'}}\n"
            )
        yield head + tail, match


def _leaf(
    rng: random.Random, match: bool, pool: tuple[tuple[str, bool, float], ...] | None = None
) -> tuple[str, bool]:
    """One condition leaf that holds (or fails) on matching_situation; (yaml, per loan)."""
    if pool or rng.random() < 0.75:
        name, per_loan, value = rng.choice(pool or NUMBERS)
        scale = max(abs(value), 1.0)
        offset = round(rng.uniform(0.001, 1000.0) * scale / 100, 3) + 0.001
        op = rng.choice([">", ">=", "<", "<="])
        threshold = round(value - offset if op in (">", ">=") else value + offset, 3)
        if not match:  # flip the direction: the threshold is on the wrong side
            op = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[op]
        return f"{{fact: {name}, op: '{op}', value: {threshold}}}", per_loan
    name, per_loan, value, others = rng.choice(SYMBOLS)
    shown = _yaml(value)
    other = _yaml(rng.choice(others))
    kind = rng.randrange(3)
    if kind == 0:
        op, rhs = ("==", shown) if match else ("==", other)
    elif kind == 1:
        op, rhs = ("!=", other) if match else ("!=", shown)
    else:
        strings = [v for v in others if isinstance(v, str)]
        if not strings:
            op, rhs = ("==", shown) if match else ("!=", shown)
        else:
            items = [rng.choice(strings)]
            op = "in" if match else "not_in"
            rhs = "[" + ", ".join([*(_yaml(x) for x in items), shown]) + "]"
    return f"{{fact: {name}, op: '{op}', value: {rhs}}}", per_loan


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def generate_pack(
    root: Path, n: int, seed: int = 0, match_every: int = 5, numbers: tuple[str, ...] = ()
) -> list[bool]:
    """Write a generated pack of ``n`` rules to ``root``; returns which rules match."""
    items = list(generated_rules(n, seed, match_every, numbers))
    root.mkdir(parents=True, exist_ok=True)
    (root / "pack.yaml").write_text(PACK_YAML.format(name=f"gen{n}"), encoding="utf-8")
    for start in range(0, n, RULES_PER_FILE):  # rule files are limited in size
        chunk = "".join(item for item, _ in items[start : start + RULES_PER_FILE])
        path = root / f"rules_{start // RULES_PER_FILE:03d}.yaml"
        path.write_text("rules:\n" + chunk, encoding="utf-8")
    return [match for _, match in items]
