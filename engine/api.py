"""The public API: ``load_rules`` and ``evaluate``, used by the CLI, the test runner and users."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import __version__, packcache
from engine.checks import check_pack
from engine.compiler import CompiledPack, CompileError, compile_pack
from engine.decision import Ranking, Recommendation, Suppression, rank
from engine.errors import RuleLoadError, UsageError
from engine.expr import UNKNOWN
from engine.loader import collect_files, pack_digest, read_pack
from engine.memory import Firing, Memory
from engine.model import LOCALES, Pack
from engine.packs import default_pack_dir
from engine.run import Runtime, run
from engine.situation import (
    check_dates,
    default_today,
    normalise,
    situation_digest,
    validate_situation,
)


@dataclass
class RuleSet:
    """A loaded, checked and compiled rule pack, ready to evaluate situations.

    Threads may share one RuleSet: each evaluation has its own engine state, and one that fails
    cannot disturb the others. Its engine rulesets (memory in durable_rules) are freed by
    ``close()``, by leaving a ``with`` block, or when the RuleSet is garbage-collected; the
    rule sets of one pack loaded several times share them. Evaluating after ``close()`` raises
    ValueError.
    """

    pack: Pack
    compiled: CompiledPack
    runtime: Runtime = field(init=False)

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.compiled)

    def close(self) -> None:
        """Free the engine rulesets now (idempotent); running evaluations still finish."""
        self.runtime.close()

    def __enter__(self) -> RuleSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def version(self) -> str:
        return self.pack.version

    @property
    def digest(self) -> str:
        return self.pack.digest


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


@dataclass(frozen=True)
class Decision:
    """One evaluation's outcome: ranked recommendations and all that is needed to explain them."""

    ruleset: RuleSet
    situation: Mapping[str, Any]  #: normalised (as_of and locale filled in)
    locale: str
    firings: tuple[Firing, ...]
    memory: Memory
    recommendations: tuple[Recommendation, ...]
    suppressed: tuple[Suppression, ...]
    trace: tuple[dict[str, Any], ...] = ()

    def fired_rules(self) -> list[str]:
        rules = self.ruleset.compiled.rules
        return list(dict.fromkeys(rules[f.rule_index].rule.id for f in self.firings))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, fact in self.ruleset.pack.derived.items():  # in the pack's rule order
            if fact.summary and not name.startswith("loan."):
                value = self.memory.get(name, None)
                out[name] = None if value is UNKNOWN else value
        return out

    def plan(self) -> dict[str, Any]:
        """The advice's ``plan`` (SPEC §7.2), from the facts the pack's ``plan:`` names."""
        from engine.plan import build_plan

        return build_plan(self.ruleset.compiled, self.memory, self.locale)

    def derived(self) -> dict[str, Any]:
        situation: dict[str, Any] = {}
        loans: dict[str, dict[str, Any]] = {}
        for (fact, loan), derivations in sorted(
            self.memory.derivations.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            value = self.memory.values.get((fact, loan), UNKNOWN)
            shown = None if value is UNKNOWN else value
            rules = [r for r, v in derivations if v == value] or [r for r, _ in derivations]
            entry = {"value": shown, "rules": list(dict.fromkeys(rules))}
            if loan is None:
                situation[fact] = entry
            else:
                loans.setdefault(loan, {})[fact] = entry
        ordered = {lid: loans[lid] for lid in self.memory.loans if lid in loans}
        return {"situation": situation, "loans": ordered}

    def to_advice(
        self, top: int | None = None, trace: bool = False, near_misses: bool = False
    ) -> dict[str, Any]:
        """The advice document of SPEC §4 (valid against schemas/advice.schema.json).

        ``near_misses`` adds the actions one condition short (``engine.whynot.near_misses``).
        """
        recs = self.recommendations[:top] if top else self.recommendations
        advice = {
            "schema_version": 1,
            "engine": {"name": "xieshang", "version": __version__},
            "ruleset": {
                "name": self.ruleset.name,
                "version": self.ruleset.version,
                "digest": self.ruleset.digest,
            },
            "situation_digest": situation_digest(dict(self.situation)),
            "as_of": self.situation["as_of"],
            "locale": self.locale,
            "summary": self.summary(),
            "plan": self.plan(),
            "recommendations": [recommendation_dict(r) for r in recs],
            "suppressed": [
                {
                    "action": s.action,
                    "rule_id": s.rule_id,
                    "reason": s.reason,
                    "location": s.location,
                }
                for s in self.suppressed
            ],
            "derived": self.derived(),
        }
        if near_misses:
            from engine.whynot import near_misses as find_near_misses

            advice["near_misses"] = find_near_misses(self)
        if trace:
            advice["trace"] = list(self.trace)
        return advice


def recommendation_dict(r: Recommendation) -> dict[str, Any]:
    return {
        "rank": r.rank,
        "action": r.action,
        "score": r.score,
        "urgency": r.urgency,
        "title": r.title,
        "message": r.message,
        "loan_ids": list(r.loan_ids),
        "score_breakdown": [
            {
                "term": t.term,
                "value": t.value,
                "rule_id": t.rule_id,
                **({"reason": t.reason} if t.reason else {}),
            }
            for t in r.score_breakdown
        ],
        "reasons": [
            {
                "rule_id": x.rule_id,
                "title": x.title,
                "source": x.source,
                "location": x.location,
                "loan_id": x.loan_id,
                "conditions": [c.as_dict() for c in x.conditions],
                "derived_from": [
                    {"fact": d.fact, "loan_id": d.loan_id, "value": d.value, "rule_id": d.rule_id}
                    for d in x.derived_from
                ],
            }
            for x in r.reasons
        ],
    }


def evaluate(
    ruleset: RuleSet,
    situation: Mapping[str, Any],
    *,
    today: dt.date | None = None,
    locale: str | None = None,
    budget: int | None = None,
    validated: bool = False,
) -> Decision:
    """Evaluate one situation with durable_rules and rank the result.

    ``situation`` is the parsed JSON object; it is validated unless ``validated`` says the caller
    did so already (``engine.situation.load_situation_bytes`` validates). ``locale`` overrides the
    situation's own; it must be one of ``LOCALES``. Raises UsageError for an unknown locale,
    SituationError for invalid input, EvaluationError when the rules conflict at run time.
    ``today`` is the ``as_of`` of a situation without one (default: the date in China,
    ``engine.situation.default_today``); dates are checked against ``as_of`` even when
    ``validated``, so an evaluation never sees a notice dated after it.
    """
    if locale is not None and locale not in LOCALES:
        allowed = ", ".join(repr(name) for name in LOCALES)
        raise UsageError(f"unknown locale {locale!r}: expected one of {allowed}")
    day = today or default_today()
    if validated:
        checked = dict(situation)
        check_dates(checked, "<situation>", day)
    else:
        checked = validate_situation(situation, "<situation>", today=day)
    normal = normalise(checked, day)
    chosen = locale or normal["locale"]
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
        tuple(result.trace),
    )
