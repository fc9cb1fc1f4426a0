"""Renderers of advice, the today card and near misses (registered in ``registry.TABLE``).

They wrap ``engine.present.rendering`` and ``engine.whynot``'s text without changing a byte of what
those write: the words and layout live there.
"""

from __future__ import annotations

from engine.core.errors import UsageError
from engine.core.safetext import markdown_code
from engine.decision import Decision
from engine.present.kinds import Advice, Card, NearMisses
from engine.present.rendering import render_card, render_json, render_markdown, render_text
from engine.whynot import near_misses, render_near_misses_text


def _decision(decision: Decision, locale: str | None) -> Decision:
    """The decision to render in ``locale`` (None: its own), without evaluating again."""
    return decision if locale is None else decision.in_locale(locale)


def advice_text(advice: Advice, locale: str | None) -> str:
    decision = _decision(advice.decision, locale)
    text = render_text(
        decision, advice.top, advice.trace, show_all=advice.show_all, sources=advice.sources
    )
    return text + _near_miss_section(advice, locale, markdown=False)


def advice_markdown(advice: Advice, locale: str | None) -> str:
    decision = _decision(advice.decision, locale)
    text = render_markdown(
        decision, advice.top, advice.trace, show_all=advice.show_all, sources=advice.sources
    )
    return text + _near_miss_section(advice, locale, markdown=True)


def advice_json(advice: Advice, locale: str | None) -> str:
    if locale is None or locale == advice.decision.locale:
        return render_json(advice.document)
    other = _decision(advice.decision, locale)
    return render_json(other.to_advice(advice.top, advice.trace, advice.near_misses))


def _near_miss_section(advice: Advice, locale: str | None, markdown: bool) -> str:
    """``--near-misses`` after the text or Markdown advice, set off by a blank line."""
    if not advice.near_misses:
        return ""
    decision = _decision(advice.decision, locale)
    words = decision.ruleset.pack.words(decision.locale)
    shown = NearMisses(near_misses(decision), decision.locale, words)
    text = (near_misses_markdown if markdown else near_misses_text)(shown, locale)
    return f"\n{text}" if text else ""


def card_json(card: Card, locale: str | None) -> str:
    return render_json(render_card(_decision(card.decision, locale)))


# Near misses have no JSON of their own: the advice document carries them (``--near-misses``).


def near_misses_text(shown: NearMisses, locale: str | None) -> str:
    if locale is not None and locale != shown.locale:
        raise UsageError(f"these near misses are in {shown.locale}, not {locale}")
    return render_near_misses_text(shown.items, shown.words)


def near_misses_markdown(shown: NearMisses, locale: str | None) -> str:
    """The text section as a code block: shown verbatim, never read as markup."""
    text = near_misses_text(shown, locale)
    return f"{markdown_code(text.strip(chr(10)))}\n" if text else ""
