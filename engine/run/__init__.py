"""Run: a compiled pack with its engine runtime (``RuleSet``), the driver, durable_rules
(``rete``), working memory, the reference evaluator and the compiled backend (``lowered``).
"""
