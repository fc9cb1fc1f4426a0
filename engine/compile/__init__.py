"""Compile: a checked pack to durable_rules rulesets (DNF, levels, sharding) and the
data-only on-disk cache of compiled packs.
"""
