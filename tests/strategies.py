"""Hypothesis strategies derived from ``schemas/situation.schema.json``.

:func:`situations` walks the schema: ``const`` → that value, ``enum`` → ``sampled_from``, numbers
within their bounds (money kept modest: at most 1e7, integers and 2-decimal floats), booleans,
dates in 2024–2027 (a missed due date or a legal notice never after ``as_of``), arrays of enums →
unique lists, strings within their lengths (no control or formatting characters, which the
engine refuses), and objects whose optional fields are left out at random. Loans are 1..5 with
unique ids. Every value drawn is valid, so the engine must accept it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "situation.schema.json"
MONEY_MAX = 10_000_000
FIRST_DATE, LAST_DATE = datetime.date(2024, 1, 1), datetime.date(2027, 12, 31)
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
MAX_LOANS = 5

Strategy = st.SearchStrategy[Any]


def load_schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def dates() -> st.SearchStrategy[str]:
    return st.dates(FIRST_DATE, LAST_DATE).map(datetime.date.isoformat)


def numbers(schema: Mapping[str, Any]) -> Strategy:
    """Integers, and for ``number`` also floats with 2 (or, below 100, 4) decimals."""
    low = schema.get("minimum", 0)
    high = min(schema.get("maximum", MONEY_MAX), MONEY_MAX)
    ints = st.integers(int(low), int(high))
    if schema["type"] == "integer":
        return ints
    decimals = 4 if high <= 100 else 2
    scale = 10**decimals
    floats = st.integers(int(low * scale), int(high * scale)).map(lambda n: n / scale)
    return st.one_of(ints, floats)


def strings(schema: Mapping[str, Any]) -> Strategy:
    if schema.get("format") == "date":
        return dates()
    if "pattern" in schema:  # only loan ids have a pattern besides dates
        return st.text(ID_ALPHABET, min_size=1, max_size=min(schema.get("maxLength", 12), 12))
    # any Unicode text a situation accepts: CJK, quotes, backslashes, odd spaces; no control,
    # formatting or separator characters (engine.core.safetext.UNSAFE_CATEGORIES)
    return st.text(
        st.characters(exclude_categories=("Cs", "Cc", "Cf", "Zl", "Zp")),
        min_size=schema.get("minLength", 0),
        max_size=min(schema.get("maxLength", 30), 30),
    )


def from_schema(schema: Mapping[str, Any], path: str = "$") -> Strategy:
    """A strategy for the values valid against one (sub)schema of the situation schema."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return objects(schema, path)
    if kind == "array":
        return arrays(schema, path)
    if kind in ("number", "integer"):
        return numbers(schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return strings(schema)
    raise NotImplementedError(f"{path}: no strategy for schema {dict(schema)}")


def objects(schema: Mapping[str, Any], path: str) -> Strategy:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {k: from_schema(v, f"{path}.{k}") for k, v in properties.items() if k in required},
        optional={
            k: from_schema(v, f"{path}.{k}") for k, v in properties.items() if k not in required
        },
    )


def arrays(schema: Mapping[str, Any], path: str) -> Strategy:
    items = schema["items"]
    if path == "$.loans":
        return st.lists(
            objects(items, f"{path}[]"),
            min_size=max(schema.get("minItems", 1), 1),
            max_size=min(schema.get("maxItems", MAX_LOANS), MAX_LOANS),
            unique_by=lambda loan: loan["id"],
        )
    return st.lists(
        from_schema(items, f"{path}[]"),
        min_size=schema.get("minItems", 0),
        max_size=schema.get("maxItems", 5),
        unique=bool(schema.get("uniqueItems")),
    )


#: A date not after any test run's today: the as_of of a situation that gives none.
PAST_TODAY = datetime.date(2026, 11, 28)


def situations() -> st.SearchStrategy[dict[str, Any]]:
    """Valid situations (parsed JSON objects)."""
    strategy: st.SearchStrategy[dict[str, Any]] = from_schema(load_schema())
    return strategy.map(_dates_not_after_as_of)


def _dates_not_after_as_of(situation: dict[str, Any]) -> dict[str, Any]:
    """Missed due dates and legal notices moved back to ``as_of`` where they were after it."""
    as_of = situation.get("as_of", PAST_TODAY.isoformat())
    for loan in situation["loans"]:
        for holder, key in (
            (loan, "first_missed_due_date"),
            (loan.get("status"), "legal_notice_date"),
        ):
            if isinstance(holder, dict) and key in holder and holder[key] > as_of:
                holder[key] = as_of
    return situation


def situation_bytes() -> st.SearchStrategy[bytes]:
    """Valid situations as UTF-8 JSON text, in varied layouts."""
    return st.builds(
        lambda sit, indent, ascii_only: json.dumps(
            sit, indent=indent, ensure_ascii=ascii_only
        ).encode("utf-8"),
        situations(),
        st.sampled_from([None, 2]),
        st.booleans(),
    )


def mutated_bytes() -> st.SearchStrategy[bytes]:
    """Valid situation text with a few bytes changed, inserted or cut: mostly invalid input."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(situation_bytes()))
        for _ in range(draw(st.integers(1, 4))):
            where = draw(st.integers(0, len(data)))
            kind = draw(st.sampled_from(["set", "insert", "cut"]))
            byte = draw(st.integers(0, 255))
            if kind == "set" and where < len(data):
                data[where] = byte
            elif kind == "insert":
                data.insert(where, byte)
            else:
                del data[where : where + draw(st.integers(1, 20))]
        return bytes(data)

    return mutate()


def arbitrary_bytes() -> st.SearchStrategy[bytes]:
    """Anything: random bytes, random JSON values, valid and damaged situations."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode("utf-8"))
    return st.one_of(st.binary(max_size=300), json_values, mutated_bytes(), situation_bytes())


COURT_STAGES = (
    "pre_suit_mediation",
    "lawsuit_notice",
    "payment_order",
    "judgment",
    "enforcement",
    "consumption_restriction",
    "dishonest_list",
)


def court_situations() -> st.SearchStrategy[dict[str, Any]]:
    """Valid situations whose loans are at court stages, with the notice and hearing dates close to
    ``as_of`` (before and after it), so that deadlines, hearings and appeal windows are both open
    and passed; the SPEC §7.1 fields (age, student, lender_type, hearing_date, disputes_debt, …)
    come from the schema like every other field."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        situation = draw(situations())
        as_of = draw(st.dates(datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)))
        situation["as_of"] = as_of.isoformat()
        near = st.integers(-40, 40).map(lambda d: (as_of + datetime.timedelta(days=d)).isoformat())
        for loan in situation["loans"]:
            if not draw(st.booleans()):
                continue
            status = loan.setdefault("status", {})
            status["legal"] = draw(st.sampled_from(COURT_STAGES))
            if draw(st.integers(0, 3)):  # mostly known
                status["legal_notice_date"] = draw(near)
            if draw(st.booleans()):
                status["hearing_date"] = draw(near)
        return _dates_not_after_as_of(situation)  # as_of was redrawn: keep the dates valid

    return build()
