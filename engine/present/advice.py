"""Renderers of advice, the today card and near misses (registered in ``registry.TABLE``).

They wrap ``engine.render`` and ``engine.whynot``'s text without changing a byte of what those
write: the words and layout live there.
"""

from __future__ import annotations

from engine.decision import Decision
from engine.errors import UsageError
from engine.present.kinds import Advice, Card, NearMisses
from engine.render import render_card, render_json, render_markdown, render_text
from engine.safetext import markdown_code
from engine.whynot import near_misses, render_near_misses_text


def _decision(decision: Decision, locale: str | None) -> Decision:
    """The decision to render in ``locale``: its texts were filled in when it was evaluated."""
    if locale is not None and locale != decision.locale:
        raise UsageError(
            f"this decision was evaluated in {decision.locale}; evaluate it with"
            f" locale={locale!r} to show it in {locale}"
        )
    return decision


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
    _decision(advice.decision, locale)
    return render_json(advice.document)


def _near_miss_section(advice: Advice, locale: str | None, markdown: bool) -> str:
    """``--near-misses`` after the text or Markdown advice, set off by a blank line."""
    if not advice.near_misses:
        return ""
    shown = NearMisses(near_misses(advice.decision), advice.decision.locale)
    text = (near_misses_markdown if markdown else near_misses_text)(shown, locale)
    return f"\n{text}" if text else ""


def card_json(card: Card, locale: str | None) -> str:
    return render_json(render_card(_decision(card.decision, locale)))


# Near misses have no JSON of their own: the advice document carries them (``--near-misses``).


def near_misses_text(shown: NearMisses, locale: str | None) -> str:
    return render_near_misses_text([dict(i) for i in shown.items], locale or shown.locale)


def near_misses_markdown(shown: NearMisses, locale: str | None) -> str:
    """The text section as a code block: shown verbatim, never read as markup."""
    text = near_misses_text(shown, locale)
    return f"{markdown_code(text.strip(chr(10)))}\n" if text else ""
