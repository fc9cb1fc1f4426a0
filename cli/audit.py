"""Audit and authoring commands: explain, replay, rules coverage/lint/diff/show (issue 4)."""

from __future__ import annotations
