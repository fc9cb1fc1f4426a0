"""Situation input: every hardening class refuses with a precise JSON path and a clear message."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import SituationError, UsageError
from engine.load.situation import (
    MAX_BYTES,
    MAX_DEPTH,
    canonical_json,
    load_situation_bytes,
    load_situation_file,
    normalise,
    situation_digest,
    validate_situation,
)

FIXTURES = Path(__file__).parent / "fixtures" / "situations"
MINIMAL: dict[str, Any] = {
    "schema_version": 1,
    "loans": [{"id": "jiebei", "product": "jiebei"}],
}


def _doc(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    doc.update(changes)
    return doc


def _loan(**fields: Any) -> dict[str, Any]:
    return {"id": "jiebei", "product": "jiebei", **fields}


def _bytes(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _raw_loan_field(field: str, literal: str) -> bytes:
    """A situation with one loan whose ``field`` is the raw JSON text ``literal``."""
    head = '{"schema_version": 1, "loans": [{"id": "a", "product": "jiebei", '
    return (head + f'"{field}": {literal}' + "}]}").encode()


def _refused(data: bytes, source: str = "s.json") -> SituationError:
    with pytest.raises(SituationError) as info:
        load_situation_bytes(data, source)
    err = info.value
    assert err.source == source
    assert str(err).startswith(f"{source}: {err.path}: ")
    assert err.exit_code == 2
    return err


def _assert_refused(data: bytes, path: str, *words: str) -> SituationError:
    err = _refused(data)
    assert err.path == path, err
    for word in words:
        assert word in err.detail, (word, err.detail)
    return err


# --- accepted input ----------------------------------------------------------------------------


def test_minimal_situation_is_accepted() -> None:
    assert load_situation_bytes(_bytes(MINIMAL), "s.json") == MINIMAL


def test_spec_example_file_is_accepted() -> None:
    situation = load_situation_file(FIXTURES / "spec_example.json")
    assert situation["loans"][0]["lender"] == "重庆蚂蚁消费金融有限公司"
    assert situation["borrower"]["distress"] is False


def test_utf8_bom_is_accepted() -> None:
    assert (FIXTURES / "bom.json").read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_situation_file(FIXTURES / "bom.json") == MINIMAL
    assert load_situation_bytes(b"\xef\xbb\xbf" + _bytes(MINIMAL), "<stdin>") == MINIMAL


def test_crlf_line_ends_are_accepted() -> None:
    assert b"\r\n" in (FIXTURES / "crlf.json").read_bytes()
    assert load_situation_file(FIXTURES / "crlf.json") == MINIMAL
    crlf = json.dumps(MINIMAL, indent=2).replace("\n", "\r\n").encode()
    assert load_situation_bytes(crlf, "s.json") == MINIMAL


def test_every_field_of_the_spec_example_round_trips() -> None:
    raw = json.loads((FIXTURES / "spec_example.json").read_text(encoding="utf-8"))
    assert validate_situation(raw, "<api>") == raw


# --- bytes and text ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.json", "whitespace_only.json"])
def test_empty_or_whitespace_file(name: str) -> None:
    with pytest.raises(SituationError) as info:
        load_situation_file(FIXTURES / name)
    assert info.value.path == "$"
    assert "empty input" in info.value.detail


@pytest.mark.parametrize("data", [b"", b"   ", b"\r\n\t \n", b"\xef\xbb\xbf"])
def test_empty_bytes(data: bytes) -> None:
    _assert_refused(data, "$", "empty input", "expected a JSON object")


def test_malformed_json_gives_line_and_column() -> None:
    with pytest.raises(SituationError) as info:
        load_situation_file(FIXTURES / "malformed.json")
    err = info.value
    assert err.path == "$"
    assert err.detail == "line 4 column 3: invalid JSON: Expecting ',' delimiter"
    assert err.source == str(FIXTURES / "malformed.json")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{"schema_version": 1,}', "line 1 column 22"),
        (b'{\n  "schema_version": 1\n  "loans": []\n}', "line 3 column 3"),
        (b"{'schema_version': 1}", "line 1 column 2"),
        (b'{"schema_version": 1} {}', "line 1 column 23"),
        (b'{"schema_version": 1, "loans": [', "line 1 column 33"),
    ],
)
def test_malformed_json_variants(data: bytes, where: str) -> None:
    _assert_refused(data, "$", where, "invalid JSON")


def test_malformed_json_with_crlf_counts_lines() -> None:
    data = b'{\r\n  "schema_version": 1\r\n  "loans": []\r\n}'
    _assert_refused(data, "$", "line 3 column 3", "invalid JSON")


def test_invalid_utf8_gives_byte_offset() -> None:
    with pytest.raises(SituationError) as info:
        load_situation_file(FIXTURES / "invalid_utf8.json")
    assert info.value.path == "$"
    assert "invalid UTF-8 at byte offset 68 (line 3)" in info.value.detail


def test_invalid_utf8_offset_counts_the_bom() -> None:
    err = _assert_refused(b'\xef\xbb\xbf{"a": "\xc3"}', "$", "invalid UTF-8")
    assert "byte offset 10 " in err.detail
    err = _assert_refused(b'{"a": "\xc3"}', "$", "invalid UTF-8")
    assert "byte offset 7 " in err.detail


def test_utf16_is_refused_by_name() -> None:
    data = b"\xff\xfe" + json.dumps(MINIMAL).encode("utf-16-le")
    _assert_refused(data, "$", "UTF-16", "expected UTF-8")


def test_oversized_input_names_limit_and_size() -> None:
    data = b"{" + b" " * MAX_BYTES + b"}"
    _assert_refused(data, "$", f"{MAX_BYTES + 2} bytes", f"limit of {MAX_BYTES} bytes")


def test_oversized_file_names_limit_and_size(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (MAX_BYTES + 10) + _bytes(MINIMAL))
    with pytest.raises(SituationError) as info:
        load_situation_file(path)
    size = path.stat().st_size
    assert info.value.path == "$"
    assert f"input is {size} bytes" in info.value.detail
    assert f"limit of {MAX_BYTES} bytes" in info.value.detail


def test_input_at_exactly_the_limit_is_read() -> None:
    body = _bytes(MINIMAL)
    assert load_situation_bytes(body + b" " * (MAX_BYTES - len(body)), "s.json") == MINIMAL


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(UsageError, match=r"no such file: .*nope\.json") as info:
        load_situation_file(missing)
    assert info.value.exit_code == 2


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        load_situation_file(tmp_path)


def test_dash_is_just_a_file_name() -> None:
    with pytest.raises(UsageError, match="no such file: -"):
        load_situation_file("-")


# --- JSON values the engine refuses ------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(literal: str) -> None:
    data = f'{{"schema_version": 1, "borrower": {{"monthly_income": {literal}}}, "loans": []}}'
    _assert_refused(data.encode(), "$.borrower.monthly_income", "finite number", literal)


def test_nan_in_a_python_dict_is_refused() -> None:
    doc = _doc(borrower={"liquid_savings": float("nan")})
    with pytest.raises(SituationError) as info:
        validate_situation(doc, "<api>")
    assert info.value.path == "$.borrower.liquid_savings"
    assert "finite number" in info.value.detail


@pytest.mark.parametrize(
    "literal",
    ["1" * 41, "-" + "9" * 40, "0." + "1" * 39, "1" * 5000, "1e" + "0" * 39],
)
def test_very_long_number_literals_are_refused(literal: str) -> None:
    data = _raw_loan_field("overdue_amount", literal)
    err = _assert_refused(data, "$.loans[0].overdue_amount", "number literal")
    assert f"{len(literal)} characters long" in err.detail
    assert "at most 40" in err.detail


def test_number_literal_of_40_characters_is_converted() -> None:
    literal = "0." + "0" * 37 + "1"
    assert len(literal) == 40
    data = _raw_loan_field("overdue_amount", literal)
    assert load_situation_bytes(data, "s.json")["loans"][0]["overdue_amount"] == 1e-38


def test_float_literal_beyond_double_range_is_refused() -> None:
    data = b'{"schema_version": 1, "plans": {"offer_monthly": 1e400}, "loans": []}'
    _assert_refused(data, "$.plans.offer_monthly", "too large to represent", "1e400")


@pytest.mark.parametrize(
    ("loan", "path", "words"),
    [
        (
            _loan(outstanding_balance=2**53 + 1),
            "$.loans[0].outstanding_balance",
            ("≤ 1000000000", str(2**53 + 1)),
        ),
        (_loan(overdue_amount=-(2**60)), "$.loans[0].overdue_amount", ("≥ 0",)),
        (_loan(monthly_payment=1e300), "$.loans[0].monthly_payment", ("≤ 1000000000", "1e+300")),
        (_loan(days_overdue=10**15), "$.loans[0].days_overdue", ("an integer ≤ 36500",)),
        (_loan(annual_rate=18.25), "$.loans[0].annual_rate", ("≤ 10", "18.25")),
    ],
)
def test_numbers_beyond_the_schema_range(
    loan: dict[str, Any], path: str, words: tuple[str, ...]
) -> None:
    _assert_refused(_bytes(_doc(loans=[loan])), path, "expected", *words)


def test_big_integer_schema_version() -> None:
    _assert_refused(b'{"schema_version": 9007199254740993, "loans": []}', "$.schema_version")


def test_deep_nesting_within_recursion_limit_names_the_limit() -> None:
    depth = MAX_DEPTH + 5
    nested = "[" * depth + "]" * depth
    data = f'{{"schema_version": 1, "loans": [], "x": {nested}}}'.encode()
    err = _refused(data)
    assert err.path.startswith("$.x[0][0]")
    assert err.path.count("[") == MAX_DEPTH - 1
    assert f"at most {MAX_DEPTH} levels" in err.detail


@pytest.mark.parametrize("depth", [2_000, 200_000])
def test_deep_nesting_beyond_recursion_limit(depth: int) -> None:
    data = ("[" * depth + "]" * depth).encode()
    _assert_refused(data, "$", f"at most {MAX_DEPTH} levels")


def test_nesting_at_the_limit_is_structurally_fine() -> None:
    nested: object = 1
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    # Accepted by the structural walk, then refused by the schema as an unknown field.
    _assert_refused(_bytes(_doc(x=nested)), "$.x", "unknown field 'x'")


def test_duplicate_keys_are_refused_not_last_one_wins() -> None:
    data = b'{"schema_version": 1, "loans": [{"id": "a", "id": "b", "product": "jiebei"}]}'
    _assert_refused(data, "$.loans[0].id", "duplicate key 'id' in one JSON object")


def test_duplicate_top_level_keys_are_refused() -> None:
    data = b'{"schema_version": 1, "loans": [], "schema_version": 1}'
    _assert_refused(data, "$.schema_version", "duplicate key 'schema_version'")


def test_unpaired_surrogate_is_refused() -> None:
    data = _raw_loan_field("lender", '"\\ud800"')
    _assert_refused(data, "$.loans[0].lender", "surrogate")


def test_non_json_python_values_are_refused() -> None:
    with pytest.raises(SituationError) as info:
        validate_situation(_doc(borrower={"dependants": {1, 2}}), "<api>")
    assert info.value.path == "$.borrower.dependants"
    assert "not a JSON value" in info.value.detail
    with pytest.raises(SituationError, match="not a string"):
        validate_situation(_doc(borrower={1: 2}), "<api>")


# --- top level and schema_version --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "got"),
    [(b"[]", "an array"), (b'"situation"', '"situation"'), (b"42", "42"), (b"null", "null")],
)
def test_top_level_must_be_an_object(data: bytes, got: str) -> None:
    _assert_refused(data, "$", "expected a JSON object at the top level", f"got {got}")


def test_missing_schema_version() -> None:
    err = _assert_refused(b'{"loans": []}', "$.schema_version", "missing required field")
    assert "expected 1" in err.detail


@pytest.mark.parametrize(("value", "shown"), [(2, "2"), ("1", '"1"'), (True, "true"), (0, "0")])
def test_wrong_schema_version(value: object, shown: str) -> None:
    _assert_refused(
        _bytes(_doc(schema_version=value)),
        "$.schema_version",
        f"unsupported schema_version {shown}",
        "schema_version 1",
    )


def test_schema_version_is_checked_before_other_fields() -> None:
    data = _bytes({"borrower": {"typo": 1}, "schema_version": 2, "loans": []})
    _assert_refused(data, "$.schema_version", "unsupported")


# --- schema: types, unknown fields, enums, dates, counts ---------------------------------------


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        (
            _doc(borrower={"monthly_income": "abc"}),
            "$.borrower.monthly_income",
            'expected a number ≥ 0, got "abc"',
        ),
        (_doc(borrower={"dependants": 1.5}), "$.borrower.dependants", "expected an integer ≥ 0"),
        (
            _doc(borrower={"distress": "no"}),
            "$.borrower.distress",
            'expected true or false, got "no"',
        ),
        (_doc(borrower=[]), "$.borrower", "expected an object, got an array"),
        (_doc(loans={}), "$.loans", "expected an array, got an object"),
        (_doc(loans=["jiebei"]), "$.loans[0]", 'expected an object, got "jiebei"'),
        (_doc(loans=[_loan(id=7)]), "$.loans[0].id", "expected a string, got 7"),
        (_doc(as_of=20261128), "$.as_of", "expected a string, got 20261128"),
        (_doc(borrower={"monthly_income": None}), "$.borrower.monthly_income", "got null"),
    ],
)
def test_wrong_types(doc: dict[str, Any], path: str, message: str) -> None:
    _assert_refused(_bytes(doc), path, message)


@pytest.mark.parametrize(
    ("field", "section"),
    [
        ("monthly_income", "borrower"),
        ("can_pay_now", "plans"),
    ],
)
def test_booleans_are_not_numbers(field: str, section: str) -> None:
    for value, shown in ((True, "true"), (False, "false")):
        doc = _doc(**{section: {field: value}})
        _assert_refused(_bytes(doc), f"$.{section}.{field}", "expected a number", f"got {shown}")


@pytest.mark.parametrize(
    ("field", "value"), [("days_overdue", True), ("outstanding_balance", False)]
)
def test_booleans_are_not_numbers_in_loans(field: str, value: bool) -> None:
    doc = _doc(loans=[_loan(**{field: value})])
    _assert_refused(_bytes(doc), f"$.loans[0].{field}", "expected a", f"got {json.dumps(value)}")


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        (
            _doc(borrower={"monthly_incom": 6000}),
            "$.borrower.monthly_incom",
            "unknown field 'monthly_incom' (did you mean 'monthly_income'?)",
        ),
        (_doc(as_off="2026-11-28"), "$.as_off", "unknown field 'as_off' (did you mean 'as_of'?)"),
        (
            _doc(loans=[_loan(status={"in_colection": True})]),
            "$.loans[0].status.in_colection",
            "did you mean 'in_collection'?",
        ),
        (
            _doc(loans=[_loan(arrangement={"status": "agreed", "in_writting": True})]),
            "$.loans[0].arrangement.in_writting",
            "did you mean 'in_writing'?",
        ),
        (
            _doc(collection_conduct={"zzz": True}),
            "$.collection_conduct.zzz",
            "unknown field 'zzz' (expected one of: calls_at_night,",
        ),
        (_doc(**{"odd key": 1}), '$["odd key"]', "unknown field 'odd key'"),
    ],
)
def test_unknown_fields_at_any_depth(doc: dict[str, Any], path: str, message: str) -> None:
    _assert_refused(_bytes(doc), path, message)


def test_first_unknown_field_in_document_order_is_reported() -> None:
    data = b'{"schema_version": 1, "zeta": 1, "loans": [], "alpha": 2}'
    _assert_refused(data, "$.zeta", "unknown field 'zeta'")


@pytest.mark.parametrize(
    ("doc", "path", "words"),
    [
        (_doc(locale="fr"), "$.locale", ('expected one of "zh-CN", "en", got "fr"',)),
        (_doc(locale="zh-cn"), "$.locale", ("did you mean 'zh-CN'?",)),
        (_doc(loans=[_loan(product="jiebeii")]), "$.loans[0].product", ("did you mean 'jiebei'?",)),
        (
            _doc(borrower={"hardship": ["job_loss", "job_loss"]}),
            "$.borrower.hardship[1]",
            ('duplicate value "job_loss"', "also at $.borrower.hardship[0]"),
        ),
        (_doc(loans=[_loan(id="a b")]), "$.loans[0].id", ("expected a string matching",)),
        (_doc(loans=[_loan(id="")]), "$.loans[0].id", ('expected a non-empty string, got ""',)),
        (_doc(loans=[_loan(lender="x" * 201)]), "$.loans[0].lender", ("at most 200", "201")),
    ],
)
def test_other_schema_keywords(doc: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    _assert_refused(_bytes(doc), path, *words)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("as_of", "2026-02-30"),
        ("as_of", "2026-13-01"),
        ("next_due_date", "2026-02-30"),
        ("first_missed_due_date", "2026-13-01"),
        ("legal_notice_date", "2025-02-29"),
        ("next_due_date", "2026-00-10"),
        ("first_missed_due_date", "2026-04-31"),
    ],
)
def test_impossible_dates_in_every_date_field(field: str, value: str) -> None:
    if field == "as_of":
        doc, path = _doc(as_of=value), "$.as_of"
    elif field == "legal_notice_date":
        doc, path = _doc(loans=[_loan(status={field: value})]), f"$.loans[0].status.{field}"
    else:
        doc, path = _doc(loans=[_loan(**{field: value})]), f"$.loans[0].{field}"
    _assert_refused(_bytes(doc), path, f"'{value}' is not a real date (expected YYYY-MM-DD)")


@pytest.mark.parametrize("value", ["28/11/2026", "2026-1-5", "20261128", "2026-11-28T00:00", ""])
def test_badly_formatted_dates(value: str) -> None:
    _assert_refused(_bytes(_doc(as_of=value)), "$.as_of", "expected a date YYYY-MM-DD")


def test_leap_day_is_a_real_date() -> None:
    assert load_situation_bytes(_bytes(_doc(as_of="2028-02-29")), "s.json")["as_of"] == "2028-02-29"


def test_too_many_loans() -> None:
    loans = [_loan(id=f"loan{i}") for i in range(51)]
    _assert_refused(_bytes(_doc(loans=loans)), "$.loans", "too many loans: 51 (at most 50)")


def test_fifty_loans_are_accepted() -> None:
    loans = [_loan(id=f"loan{i}") for i in range(50)]
    assert len(load_situation_bytes(_bytes(_doc(loans=loans)), "s.json")["loans"]) == 50


def test_no_loans() -> None:
    _assert_refused(_bytes(_doc(loans=[])), "$.loans", "expected at least 1 loan, got 0")


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"schema_version": 1}, "$.loans"),
        (_doc(loans=[{"id": "a"}]), "$.loans[0].product"),
        (_doc(loans=[{"product": "jiebei"}]), "$.loans[0].id"),
    ],
)
def test_missing_required_fields(doc: dict[str, Any], path: str) -> None:
    field = path.rsplit(".", 1)[1]
    _assert_refused(_bytes(doc), path, f"missing required field '{field}'")


def test_duplicate_loan_ids() -> None:
    loans = [_loan(), _loan(product="huabei"), _loan(id="other")]
    _assert_refused(
        _bytes(_doc(loans=loans)),
        "$.loans[1].id",
        "duplicate loan id 'jiebei' (also at $.loans[0].id)",
    )


def test_duplicate_loan_id_after_an_earlier_schema_error() -> None:
    loans = [_loan(days_overdue=-1), _loan()]
    _assert_refused(_bytes(_doc(loans=loans)), "$.loans[0].days_overdue", "≥ 0")


def test_errors_are_reported_in_document_order() -> None:
    doc = {
        "schema_version": 1,
        "loans": [_loan(annual_rate="high"), _loan(id="x", product="nope")],
        "borrower": {"monthly_income": -1},
    }
    _assert_refused(_bytes(doc), "$.loans[0].annual_rate", 'got "high"')
    doc = {
        "borrower": {"monthly_income": -1},
        "schema_version": 1,
        "loans": [_loan(annual_rate="high")],
    }
    _assert_refused(_bytes(doc), "$.borrower.monthly_income", "expected a number ≥ 0, got -1")


def test_report_is_deterministic() -> None:
    doc = {
        "schema_version": 1,
        "borrower": {"a": 1, "b": 2, "monthly_income": "x"},
        "loans": [_loan(c=3)],
    }
    messages = {str(_refused(_bytes(doc))) for _ in range(5)}
    assert messages == {
        "s.json: $.borrower.a: unknown field 'a' (expected one of: monthly_income, income_change, "
        "monthly_essential_expenses, liquid_savings, dependants, age, student, hardship, hardship_evidence, "
        "distress); 1 more unknown field here: 'b'"
    }


def test_validate_situation_returns_the_document() -> None:
    doc = _doc()
    assert validate_situation(doc, "<api>") is doc


# --- normalise, canonical JSON, digest ---------------------------------------------------------


def test_normalise_defaults_as_of_and_locale_only() -> None:
    situation = _doc()
    result = normalise(situation, datetime.date(2026, 11, 28))
    assert result == {**situation, "as_of": "2026-11-28", "locale": "zh-CN"}
    assert situation == MINIMAL  # input untouched
    assert result["loans"] is not situation["loans"]


def test_normalise_keeps_given_values() -> None:
    situation = _doc(as_of="2026-01-02", locale="en")
    assert normalise(situation, datetime.date(2026, 11, 28)) == situation


def test_normalise_accepts_a_datetime() -> None:
    result = normalise(_doc(), datetime.datetime(2026, 11, 28, 23, 59))
    assert result["as_of"] == "2026-11-28"


def test_canonical_json() -> None:
    text = canonical_json({"b": [1, 2.5, None], "a": {"借": "呗", "z": True}})
    assert text == '{"a":{"z":true,"借":"呗"},"b":[1,2.5,null]}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_digest_is_stable_across_key_order() -> None:
    one = {"schema_version": 1, "loans": [{"id": "a", "product": "jiebei"}], "locale": "en"}
    two = {"locale": "en", "loans": [{"product": "jiebei", "id": "a"}], "schema_version": 1}
    digest = situation_digest(one)
    assert digest == situation_digest(two)
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    assert digest != situation_digest({**one, "locale": "zh-CN"})


def test_digest_of_the_spec_example_from_file_and_dict_agree() -> None:
    from_file = load_situation_file(FIXTURES / "spec_example.json")
    reordered = json.loads(json.dumps(from_file, sort_keys=True))
    assert situation_digest(from_file) == situation_digest(reordered)


# --- robustness: nothing but SituationError escapes --------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_situation_or_a_situation_error(data: bytes) -> None:
    try:
        load_situation_bytes(data, "fuzz.json")
    except SituationError as err:
        assert err.path.startswith("$")


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_arbitrary_json_gives_a_situation_or_a_situation_error(value: object) -> None:
    for doc in (value, {**MINIMAL, "borrower": value}):
        try:
            validate_situation(doc, "<api>")
        except SituationError as err:
            assert err.path.startswith("$")
        try:
            load_situation_bytes(json.dumps(doc).encode(), "fuzz.json")
        except SituationError as err:
            assert err.path.startswith("$")
