"""Locales as data: a pack's texts are written per locale, in the locales its ``pack.yaml``
declares (``locales:``, default ``[zh-CN, en]``); this module checks a text's locales against
them, for every reader of pack texts (rules, plan, questions, documents)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.errors import RuleError, did_you_mean
from engine.source import Location


def locale_errors(
    text: Mapping[str, Any],
    locales: Sequence[str],
    label: str,
    locate: Callable[..., Location],
    code: str = "text_locale",
) -> list[RuleError]:
    """A text's locales against the pack's: one error per missing locale (located at the text)
    and one per locale the pack does not declare (located at its key). ``locate(*keys)`` is where
    the text, or a key inside it, is written."""
    errors = [
        RuleError(
            locate(),
            code,
            f"{label}: no '{locale}' text",
            f"the pack's locales are {', '.join(locales)}: write the text in each",
        )
        for locale in locales
        if locale not in text
    ]
    errors += [
        RuleError(
            locate(locale),
            code,
            f"{label}: '{locale}' is not one of the pack's locales ({', '.join(locales)})",
            did_you_mean(str(locale), locales) or "declare it in pack.yaml's 'locales:'",
        )
        for locale in text
        if locale not in locales
    ]
    return errors
