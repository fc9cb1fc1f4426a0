"""Rank: recommendations scored, suppressed and ordered; the plan; each rule's conditions
evaluated once per binding into a typed tree (``conditions``) that every explanation reads.
"""
