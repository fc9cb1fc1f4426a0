"""The action catalogue of SPEC §3: stable public codes, in tie-break order.

These codes are public identifiers (tests, integrations and audits depend on them). A rule pack may
add codes in ``pack.yaml``; it may not rename or remove these.
"""

from __future__ import annotations

#: (code, meaning, guide sections) in SPEC §3 order; the order breaks score ties.
CATALOGUE: tuple[tuple[str, str, str], ...] = (
    (
        "crisis_support",
        "distress: show 12356 (mental health), 110/120 if in danger, before any money advice",
        "beyond",
    ),
    (
        "scam_alert_agency",
        "paid 代理协商/债务优化/征信修复/停息挂账代办 offers are scams; negotiation is free",
        "beyond",
    ),
    (
        "scam_alert_fake_service",
        'suspicious "official" contact: hang up, verify in the app, report to 96110/110',
        "beyond",
    ),
    ("no_debt_forgiveness_policy", 'there is no "debt-clearing" national policy', "beyond"),
    ("avoid_new_loans", "do not borrow to repay (以贷养贷)", "§5.1 + beyond"),
    (
        "respond_to_court",
        "lawsuit notice / payment order: verify via 12368, act within 15 days, legal aid 12348",
        "beyond",
    ),
    ("join_mediation", "take part in pre-suit mediation", "beyond"),
    (
        "enforcement_rights",
        "judgment/enforcement: declare assets, seek settlement, living costs are protected",
        "§1.2 + beyond",
    ),
    ("confirm_overdue_details", "check overdue amount, due date and breakdown in the app", "§2.1"),
    ("read_agreement", "read the agreement: APR, penalty rate, fees, default terms", "§2.1"),
    (
        "pay_now",
        "can pay the overdue amount now: pay at once in the app, penalty interest accrues daily",
        "beyond",
    ),
    ("build_budget", "budget: essentials first, then what can be offered", "§2.1, §5.1"),
    ("prioritize_debts", "several debts: secured/essential first, share the rest fairly", "beyond"),
    (
        "notify_lender_early",
        "shortfall foreseen before the due date: contact the lender now",
        "§4.1",
    ),
    (
        "contact_lender",
        "overdue and not yet in contact: contact customer service (我的 → 客服)",
        "§2.2, §3.1",
    ),
    (
        "use_official_channels",
        "only in-app service or a number you typed yourself; never numbers from search results",
        "§3.1 + beyond",
    ),
    ("prepare_for_call", "prepare ID, contract, overdue amount, budget, hardship evidence", "§3.2"),
    (
        "propose_installments",
        "propose a concrete instalment plan (amount × months from the budget)",
        "§4.2",
    ),
    ("request_extension", "short, temporary shortfall: ask for an extension", "§4.1, §4.2"),
    ("request_penalty_waiver", "ask for penalty-interest relief", "§4.1"),
    (
        "request_personalized_installments",
        "credit cards only: 个性化分期 (up to 60 months)",
        "beyond",
    ),
    ("be_honest", "state finances truthfully; never fake documents", "§4.3"),
    ("stay_calm", "calm and polite; know your rights", "§3.2"),
    (
        "get_agreement_in_writing",
        "confirm any arrangement in writing / in the app; keep records",
        "beyond",
    ),
    ("keep_arrangement", "keep to an agreed plan; if it broke, renegotiate at once", "beyond"),
    (
        "escalate_complaint",
        "lender refuses any arrangement despite documented hardship: complain, then 12378",
        "beyond",
    ),
    (
        "report_abusive_collection",
        "abusive collection: record it, complain to the lender, 12378; threats → 110",
        "§3.2 + beyond",
    ),
    (
        "protect_third_parties",
        "relatives/contacts were contacted: they owe nothing; complain",
        "beyond",
    ),
    ("pay_only_official", "never pay to a personal or unfamiliar account", "beyond"),
    ("challenge_fees", 'challenge "collection" or "service" fees', "beyond"),
    (
        "credit_report_check",
        "check the credit report (free twice a year), dispute errors",
        "§1.3 + beyond",
    ),
    (
        "credit_record_facts",
        "how the credit record works (kept 5 years after repayment)",
        "§1.3 + beyond",
    ),
    ("set_reminders", "repayment reminders; keep the auto-debit source funded", "§5.2"),
    ("learn_money_management", "build money-management skills", "§5.3"),
    (
        "seek_free_advice",
        "over-indebted: free help (12348 legal aid, lender hardship team)",
        "beyond",
    ),
)
