"""Load and check: a pack's files read and built into the model, checked stage by stage
(``checks``); situations read, validated and normalised.
"""
