"""Locales as data: a pack's texts are written per locale, in the locales its ``pack.yaml``
declares (``locales:``, default ``[zh-CN, en]``); this module checks a text's locales against
them, for every reader of pack texts (rules, plan, questions, documents)."""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import RuleError, XieshangError, did_you_mean
from engine.core.source import Location

if TYPE_CHECKING:
    from engine.core.yamlsource import SourceMap


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


# --- the engine's words ---------------------------------------------------------------------
#
# Every word the engine itself writes for a person (headings, urgency, "yes", the interview's
# prompts, ...) is a message: ``engine/core/messages/<locale>.yaml``, nested mappings whose leaves
# are texts, read as dotted keys (``advice.heading``). A pack may give ``messages/<locale>.yaml``
# at its root: its keys replace the engine's for that locale, and for a locale the engine has no
# file for it must give every key. A locale the pack declares that ends up without every key is
# refused when the pack loads (no fallback to another language: a person reading French should
# not meet a Chinese heading). The result is part of the checked ``Pack``, so rendering reads no
# YAML.

MESSAGES_DIR = "messages"  #: the folder of message files, in the engine and at a pack's root
REFERENCE_LOCALE = "en"  #: the engine file whose keys (and placeholders) every locale has
_ENGINE_MESSAGES = Path(__file__).resolve().parent / MESSAGES_DIR


def message_files(folder: Path) -> list[Path]:
    """The message files of a folder, by locale: ``<locale>.yaml``."""
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def flat_messages(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Each leaf of nested mappings with its path: ``(("advice", "heading"), "Advice")``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from flat_messages(value, (*path, str(key)))
    else:
        yield path, data


def placeholders_of(text: str) -> frozenset[str]:
    """The ``{name}`` fields of a message (``str.format`` syntax).

    >>> sorted(placeholders_of("{n} of {count}"))
    ['count', 'n']
    """
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


@functools.cache
def engine_messages() -> Mapping[str, Mapping[str, str]]:
    """The engine's messages by locale, as dotted keys in the reference file's order.

    The shipped files are checked by ``tests/test_locales.py`` (same keys and placeholders as
    the reference); a broken one here is an installation error, not a pack's.
    """
    from engine.core.yamlsource import load_yaml

    out: dict[str, dict[str, str]] = {}
    for path in message_files(_ENGINE_MESSAGES):
        data, _smap, errors = load_yaml(path.read_bytes(), path.as_posix())
        if errors or not isinstance(data, dict):
            raise XieshangError(f"{path}: not a mapping of messages")
        out[path.stem] = {".".join(k): str(v) for k, v in flat_messages(data)}
    return out


def resolve_messages(
    locales: Sequence[str],
    given: Mapping[str, tuple[Any, SourceMap]],
    locales_at: Location,
) -> tuple[dict[str, dict[str, str]], list[RuleError]]:
    """Each locale's complete messages: the engine's, with the pack's own ``given`` (by locale:
    the file's data and source map) over them. ``locales_at`` is where the pack declares its
    locales (where a locale without messages is reported when the pack gave no file for it)."""
    engine = engine_messages()
    reference = engine[REFERENCE_LOCALE]
    errors: list[RuleError] = []
    out: dict[str, dict[str, str]] = {}
    for locale, (_data, smap) in given.items():
        if locale not in locales:
            errors.append(
                RuleError(
                    Location(smap.file, 1, 1),
                    "messages_locale",
                    f"messages for '{locale}', which is not one of the pack's locales"
                    f" ({', '.join(locales)})",
                    "declare it in pack.yaml's 'locales:', or name the file <locale>.yaml",
                )
            )
    for locale in locales:
        merged = dict(engine.get(locale, {}))
        where = locales_at
        if locale in given:
            data, smap = given[locale]
            where = Location(smap.file, 1, 1)
            errors += _merge(merged, data, smap, reference)
        missing = [key for key in reference if key not in merged]
        if missing:
            shown = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
            errors.append(
                RuleError(
                    where,
                    "messages_missing",
                    f"locale '{locale}' has no engine messages for {len(missing)} keys: {shown}",
                    f"give them in the pack's {MESSAGES_DIR}/{locale}.yaml"
                    f" (the keys of engine/{MESSAGES_DIR}/{REFERENCE_LOCALE}.yaml)",
                )
            )
            continue
        out[locale] = {key: merged[key] for key in reference}
    return out, errors


def _merge(
    merged: dict[str, str], data: Any, smap: SourceMap, reference: Mapping[str, str]
) -> list[RuleError]:
    """Put a pack's message file over ``merged``; the problems of its keys and texts."""
    if not isinstance(data, dict):
        return [RuleError(Location(smap.file, 1, 1), "messages_shape", "expected a mapping")]
    errors: list[RuleError] = []
    for path, value in flat_messages(data):
        key = ".".join(path)
        at = smap.locate(path)
        if key not in reference:
            hint = did_you_mean(key, list(reference))
            errors.append(RuleError(at, "messages_key", f"unknown message '{key}'", hint))
        elif not isinstance(value, str) or not value.strip():
            errors.append(RuleError(at, "messages_text", f"'{key}': expected a non-empty text"))
        elif placeholders_of(value) != placeholders_of(reference[key]):
            wanted = ", ".join(f"{{{n}}}" for n in sorted(placeholders_of(reference[key])))
            errors.append(
                RuleError(
                    at,
                    "messages_text",
                    f"'{key}': the placeholders must be {wanted or 'none'}",
                    f"as in engine/{MESSAGES_DIR}/{REFERENCE_LOCALE}.yaml: {reference[key]!r}",
                )
            )
        else:
            merged[key] = value
    return errors
