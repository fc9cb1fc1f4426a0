"""The public API: ``load_rules`` and ``evaluate``, used by the CLI, the test runner and users.

The façade: ``RuleSet`` (engine/run/ruleset.py) and ``Decision`` (engine/decision.py) are defined
below it and re-exported here; no module below imports this one (the import contract in
pyproject.toml, docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.compile import packcache
from engine.compile.compiler import CompileError, compile_pack
from engine.core.collector import pause, paused, resume
from engine.core.errors import RuleLoadError, UsageError
from engine.decision import Decision, RunTrace
from engine.load.checks import check_pack
from engine.load.loader import collect_files, pack_digest, read_pack
from engine.load.packs import default_pack_dir
from engine.load.situation import check_dates, default_today, normalise, validate_and_normalise
from engine.rank.ranking import Ranking, rank
from engine.run import lowered
from engine.run.driver import run
from engine.run.ruleset import RuleSet

__all__ = ["BACKENDS", "Decision", "RuleSet", "evaluate", "load_rules"]

#: ``rete``: durable_rules, the engine of record; ``compiled``: the pack lowered to Python
#: (``engine.run.lowered``), proven equal to it by the agreement tests
BACKENDS = ("rete", "compiled")


def load_rules(paths: Sequence[str | Path] | None = None) -> RuleSet:
    """Load, check and compile a rule pack (the built-in ``jiebei`` pack when no path is given).

    Raises RuleLoadError carrying every problem found, each with its file:line:col. The result
    holds engine memory until it is closed or garbage-collected (see ``RuleSet``).
    """
    roots = tuple(str(p) for p in paths) if paths else (str(default_pack_dir()),)
    files, missing = collect_files(roots)
    digest = pack_digest(files)
    key = None if missing else packcache.pack_key(roots, files, digest)
    cached = packcache.get(key) if key else None
    if cached is not None:
        return RuleSet(*cached)
    with _collector_paused():
        raw = read_pack(roots)
        pack, errors = check_pack(raw, pack_digest(raw.files), roots)
        if pack is None:
            raise RuleLoadError(errors)
        try:
            compiled = compile_pack(pack)
        except CompileError as exc:
            raise RuleLoadError(exc.errors) from exc
    if key and pack.digest == digest:  # the files did not change while they were read
        packcache.put(key, pack, compiled)
    return RuleSet(pack, compiled)


def _collector_paused() -> contextlib.AbstractContextManager[None]:
    """Loading a pack makes hundreds of thousands of objects and frees almost none, so the cyclic
    garbage collector only scans them again and again (about 40% of a 10,000-rule load): it is
    paused for the load, as ``packcache`` pauses it to decode a cached pack, and for an
    evaluation (``engine.core.collector``)."""
    return paused()


def evaluate(
    ruleset: RuleSet,
    situation: Mapping[str, Any],
    *,
    today: dt.date | None = None,
    locale: str | None = None,
    budget: int | None = None,
    validated: bool = False,
    backend: str = "rete",
) -> Decision:
    """Evaluate one situation with durable_rules and rank the result.

    ``situation`` is the parsed JSON object; it is validated unless ``validated`` says the caller
    did so already (``engine.load.situation.load_situation_bytes`` validates). ``locale`` overrides
    the situation's own (without either: the pack's first locale); it must be one of the pack's
    locales (``RuleSet.pack.locales``). Raises UsageError for a locale the pack does not have,
    SituationError for invalid input, EvaluationError when the rules conflict at run time.
    ``today`` is the ``as_of`` of a situation without one (default: the date in China,
    ``engine.load.situation.default_today``); dates are checked against ``as_of`` even when
    ``validated``, so an evaluation never sees a notice dated after it. ``backend`` is one of
    ``BACKENDS``: the same decision either way; ``budget`` only bounds the Rete path (the
    compiled one runs each rule once per loan, level by level, so it cannot loop).
    """
    # thousands of objects and no garbage cycles: the collector paused (``engine.core.collector``;
    # pause/resume written out: the context manager's calls cost more than the pause at 20 rules)
    pause()
    try:
        return _evaluate(ruleset, situation, today, locale, budget, validated, backend)
    finally:
        resume()


def _evaluate(
    ruleset: RuleSet,
    situation: Mapping[str, Any],
    today: dt.date | None,
    locale: str | None,
    budget: int | None,
    validated: bool,
    backend: str,
) -> Decision:
    if backend not in BACKENDS:
        allowed = ", ".join(repr(name) for name in BACKENDS)
        raise UsageError(f"unknown backend {backend!r}: expected one of {allowed}")
    if locale is not None and locale not in ruleset.pack.locales:
        raise UsageError(_unknown_locale(locale, ruleset))
    day = today or default_today()
    checked: Mapping[str, Any] = situation
    if validated:
        checked = dict(situation)
        check_dates(checked, "<situation>", day)
        normal = normalise(checked, day)
    else:  # checked and copied in one walk of a valid situation
        normal = validate_and_normalise(situation, "<situation>", day)
    # the situation's own locale, else the pack's default (zh-CN for a pack declaring none)
    chosen = locale or checked.get("locale") or ruleset.pack.locales[0]
    if chosen not in ruleset.pack.locales:
        raise UsageError(_unknown_locale(chosen, ruleset))
    if backend == "compiled":
        if ruleset.runtime.closed:  # the same contract as the Rete path (``RuleSet.close``)
            raise ValueError("the rule set was closed; load the rules again to evaluate")
        result = lowered.run(ruleset.program(), normal)
    else:
        result = run(ruleset.runtime, normal, budget=budget)
    ranking: Ranking = rank(ruleset.compiled, result.firings, result.memory, chosen)
    return Decision(
        ruleset,
        normal,
        chosen,
        tuple(result.firings),
        result.memory,
        tuple(ranking.recommendations),
        tuple(ranking.suppressed),
        RunTrace(result),
        ranking.condition_results,
    )


def _unknown_locale(locale: str, ruleset: RuleSet) -> str:
    allowed = ", ".join(repr(name) for name in ruleset.pack.locales)
    return f"unknown locale {locale!r}: expected one of {allowed}"
