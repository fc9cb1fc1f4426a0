"""Tests of engine.pack.expr: the derive expression language (parse, types, evaluation, printing)."""

from __future__ import annotations

import copy
import datetime
import pickle
import re
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pack import expr
from engine.pack.expr import (
    UNKNOWN,
    Binary,
    Call,
    ExprSyntaxError,
    ExprTypeError,
    Literal_,
    Name,
    Node,
    Type,
    Unary,
    compile_expr,
    evaluate,
    infer_type,
    names,
    parse,
    to_source,
    uses_aggregate,
)


def sexpr(node: Node) -> str:
    """A compact prefix form of a tree, to assert its shape."""
    if isinstance(node, Literal_):
        return repr(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Unary):
        return f"({node.op} {sexpr(node.operand)})"
    if isinstance(node, Binary):
        return f"({node.op} {sexpr(node.left)} {sexpr(node.right)})"
    return f"({node.func} {' '.join(sexpr(a) for a in node.args)})"


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("0.5", 0.5),
        ("007", 7),
        ("'a b'", "a b"),
        ('"x"', "x"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("''", ""),
        ("true", True),
        ("false", False),
    ],
)
def test_literals(text: str, value: object) -> None:
    node = parse(text)
    assert isinstance(node, Literal_)
    assert type(node.value) is type(value)
    assert node.value == value


def test_literals_of_different_types_are_different() -> None:
    assert parse("1") != parse("1.0")
    assert parse("1") != parse("true")
    assert parse("1") == parse(" 1 ")
    assert len({parse("1"), parse("1.0"), parse("true")}) == 3


@pytest.mark.parametrize(
    "text", ["borrower.monthly_income", "loan.status.legal", "as_of", "params.x_1", "_a.b2"]
)
def test_names(text: str) -> None:
    assert parse(text) == Name(text)


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("a - b - c", "(- (- a b) c)"),
        ("a - (b - c)", "(- a (- b c))"),
        ("a / b * c", "(* (/ a b) c)"),
        ("-a * b", "(* (- a) b)"),
        ("-(a + b)", "(- (+ a b))"),
        ("a - -b", "(- a (- b))"),
        ("--a", "(- (- a))"),
        ("a + b < c * d", "(< (+ a b) (* c d))"),
        ("a or b and c", "(or a (and b c))"),
        ("(a or b) and c", "(and (or a b) c)"),
        ("a and b or c and d", "(or (and a b) (and c d))"),
        ("not a == b", "(not (== a b))"),
        ("not a and b", "(and (not a) b)"),
        ("a and not b", "(and a (not b))"),
        ("not not a", "(not (not a))"),
        ("(a < b) == c", "(== (< a b) c)"),
        ("a == b or c != d and e >= 1", "(or (== a b) (and (!= c d) (>= e 1)))"),
        ("a <= b", "(<= a b)"),
        ("a > b", "(> a b)"),
        ("min(a, 1, b + 2)", "(min a 1 (+ b 2))"),
        ("round(x)", "(round x)"),
        ("round(x, 2)", "(round x 2)"),
        ("if(a > 0, 'y', 'n')", "(if (> a 0) 'y' 'n')"),
        ("coalesce(a, 0)", "(coalesce a 0)"),
        ("sum_loans(loan.balance)", "(sum_loans loan.balance)"),
        ("count_loans(loan.days_overdue > 30)", "(count_loans (> loan.days_overdue 30))"),
        ("days_between(a, add_days(b, -1))", "(days_between a (add_days b (- 1)))"),
        ("\tfloor( x )\n+ ceil(y)", "(+ (floor x) (ceil y))"),
        ("abs(-x)", "(abs (- x))"),
    ],
)
def test_structure_and_precedence(text: str, shape: str) -> None:
    assert sexpr(parse(text)) == shape


def test_columns() -> None:
    node = parse("a + b * max(c, 2)")
    assert isinstance(node, Binary) and node.column == 3
    assert isinstance(node.left, Name) and node.left.column == 1
    right = node.right
    assert isinstance(right, Binary) and right.column == 7
    call = right.right
    assert isinstance(call, Call) and call.column == 9
    assert [a.column for a in call.args] == [13, 16]
    not_node = parse("  not x")
    assert isinstance(not_node, Unary) and not_node.column == 3


def test_tree_is_immutable() -> None:
    node = parse("a + 1")
    assert isinstance(node, Binary)
    with pytest.raises(AttributeError):
        node.op = "-"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("(a + b", "expected ')' to close '(' at column 1, found end of expression", 7),
        ("max(a, b c)", "expected ')' to close '(' at column 4, found 'c'", 10),
        ("a + b)", "unexpected ')' at column 6", 6),
        ("", "empty expression", 1),
        ("   ", "empty expression", 1),
        ("1 +", "unexpected end of expression", 4),
        ("a b", "unexpected 'b' at column 3", 3),
        ("a not b", "unexpected 'not' at column 3", 3),
        (
            "a < b < c",
            "comparisons cannot be chained ('<' at column 7): combine them with 'and'",
            7,
        ),
        (
            "a == b != c",
            "comparisons cannot be chained ('!=' at column 8): combine them with 'and'",
            8,
        ),
        ("sqrt(2)", "unknown function 'sqrt'", 1),
        ("1 + mx(a, b)", "unknown function 'mx' (did you mean 'max'?)", 5),
        ("min(a)", "min() takes at least 2 arguments, got 1", 1),
        ("coalesce(a)", "coalesce() takes at least 2 arguments, got 1", 1),
        ("abs(a, b)", "abs() takes 1 argument, got 2", 1),
        ("abs()", "abs() takes 1 argument, got 0", 1),
        ("if(a, b)", "if() takes 3 arguments, got 2", 1),
        ("round(x, 1, 2)", "round() takes 1 or 2 arguments, got 3", 1),
        ("round(x, 7)", "round() digits must be a whole number from 0 to 6", 10),
        ("round(x, y)", "round() digits must be a whole number from 0 to 6", 10),
        ("round(x, 1.0)", "round() digits must be a whole number from 0 to 6", 10),
        ("round(x, -1)", "round() digits must be a whole number from 0 to 6", 10),
        ("round(x, true)", "round() digits must be a whole number from 0 to 6", 10),
        ("min(a, )", "unexpected ')' at column 8", 8),
        ("'abc", "unterminated string starting at column 1", 1),
        (
            "x == 'a\\nb'",
            "unsupported escape '\\n' at column 8: only \\', \\\" and \\\\ are allowed",
            8,
        ),
        ("1e5", "bad number '1e5' at column 1: write plain decimals such as 12 or 0.5", 1),
        ("x + 1.", "bad number '1.' at column 5: write plain decimals such as 12 or 0.5", 5),
        ("1.2.3", "bad number '1.2.3' at column 1: write plain decimals such as 12 or 0.5", 1),
        (".5", "unexpected character '.' at column 1: numbers start with a digit, e.g. 0.5", 1),
        ("a = 1", "unexpected character '=' at column 3: use '==' to compare", 3),
        ("True", "unexpected 'True' at column 1: names and keywords are lower case", 1),
        ("Borrower.x", "unexpected 'Borrower.x' at column 1: names and keywords are lower case", 1),
        ("a == not b", "'not' at column 6 needs parentheses here: write (not ...)", 6),
        ("-not a", "'not' at column 2 needs parentheses here: write (not ...)", 2),
        ("a.", "unexpected character '.' at column 2", 2),
        ("a % 2", "unexpected character '%' at column 3", 3),
        ("x ＋ 1", "unexpected character '＋' at column 3", 3),
    ],
)
def test_syntax_errors(text: str, message: str, column: int) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    assert (info.value.message, info.value.column) == (message, column)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "a.__class__",
        "__builtins__",
        "x[0]",
        "lambda",
        "lambda x: x",
        "1e5",
        "'a'.upper()",
        "os.system('ls')",
        "eval('1')",
        "exec('1')",
        "open('f')",
        "a if b else c",
        "a ** 2",
        "a // 2",
        "{}",
        "[1, 2]",
        "a; b",
        "f'{a}'",
        "import os",
        "x.y()",
        "min(a, b).real",
        "0x10",
        "1_000",
        "a @ b",
        "`a`",
        "a is b",
        "a in b",
        "None",
        "if",
        "true.x",
    ],
)
def test_whitelist_refuses(text: str) -> None:
    with pytest.raises(ExprSyntaxError):
        parse(text)


# --- limits -------------------------------------------------------------------------------------


def test_length_limit() -> None:
    assert parse("1" + " " * 1999) == Literal_(1)
    with pytest.raises(ExprSyntaxError) as info:
        parse("1" + " " * 2000)
    assert info.value.message == "expression is too long (2001 characters, at most 2000)"
    assert info.value.column == 2001


def test_depth_limit_unary() -> None:
    """Signs nest like parentheses: 50 levels are allowed, the 51st is refused."""
    assert sexpr(parse("-" * 50 + "x")).count("(-") == 50
    with pytest.raises(ExprSyntaxError, match="nests deeper than 50 levels"):
        parse("-" * 51 + "x")


def test_depth_limit_parentheses() -> None:
    assert parse("(" * 50 + "x" + ")" * 50) == Name("x")
    with pytest.raises(ExprSyntaxError, match="nests deeper than 50 levels") as info:
        parse("(" * 51 + "x" + ")" * 51)
    assert info.value.column == 51


def test_a_flat_chain_is_not_nesting() -> None:
    """``1 + 1 + … + 1`` does not nest, however long: only the part limit bounds it."""
    assert evaluate(parse(" + ".join(["1"] * 51)), lambda _: UNKNOWN) == 51
    longest = " + ".join(["1"] * 250)  # 499 parts
    assert evaluate(parse(longest), lambda _: UNKNOWN) == 250
    assert compile_expr(parse(longest))(lambda _: UNKNOWN) == 250
    assert evaluate(parse(" and ".join(["true"] * 200)), lambda _: UNKNOWN) is True
    with pytest.raises(ExprSyntaxError) as info:
        parse(" + ".join(["1"] * 251))
    assert info.value.message == "expression has more than 500 parts"


def test_depth_limit_nested_chain() -> None:
    """Parentheses around a chain's right operand do nest."""
    nested = "1" + " + (1" * 50 + ")" * 50
    assert evaluate(parse(nested), lambda _: UNKNOWN) == 51
    with pytest.raises(ExprSyntaxError, match="nests deeper than 50 levels"):
        parse("1" + " + (1" * 51 + ")" * 51)


def test_deep_input_is_a_syntax_error_not_a_crash() -> None:
    for text in ["-" * 1900 + "x", "(" * 999 + "x" + ")" * 999, "not " * 400 + "x"]:
        with pytest.raises(ExprSyntaxError):
            parse(text)


def test_node_limit() -> None:
    node = parse("min(" + ", ".join(["1"] * 499) + ")")
    assert isinstance(node, Call) and len(node.args) == 499
    with pytest.raises(ExprSyntaxError) as info:
        parse("min(" + ", ".join(["1"] * 500) + ")")
    assert info.value.message == "expression has more than 500 parts"


# --- names and aggregates -----------------------------------------------------------------------


def test_names_in_order_without_repeats() -> None:
    node = parse("b + a * b + params.k - coalesce(a, c)")
    assert names(node) == [("b", False), ("a", False), ("params.k", False), ("c", False)]


def test_names_inside_aggregates_are_flagged() -> None:
    node = parse("x + sum_loans(loan.balance * params.r) + count_loans(loan.late and x > 1)")
    assert names(node) == [
        ("x", False),
        ("loan.balance", True),
        ("params.r", True),
        ("loan.late", True),
        ("x", True),
    ]


def test_names_of_literal() -> None:
    assert names(parse("1 + 'a'")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sum_loans(loan.a)", True),
        ("1 + if(x, max_loans(loan.a), 0)", True),
        ("min_loans(loan.d)", True),
        ("count_loans(loan.late)", True),
        ("min(a, b) + max(c, d)", False),
        ("sum_loans", False),  # a plain (unknown) name, not a call
    ],
)
def test_uses_aggregate(text: str, expected: bool) -> None:
    assert uses_aggregate(parse(text)) is expected


# --- types --------------------------------------------------------------------------------------

TYPES: Mapping[str, Type] = {
    "borrower.monthly_income": "number",
    "borrower.monthly_essential_expenses": "number",
    "borrower.distress": "boolean",
    "borrower.hardship": "list",
    "locale": "text",
    "as_of": "date",
    "disposable_income": "number",
    "params.penalty_multiplier": "number",
    "params.grace_days": "number",
    "loan.outstanding_balance": "number",
    "loan.next_due_date": "date",
    "loan.lender": "text",
    "loan.status.in_collection": "boolean",
}


def check(text: str, *, loan_scope: bool = False) -> Type:
    return infer_type(parse(text), TYPES.get, in_loan_scope=loan_scope)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("borrower.monthly_income - borrower.monthly_essential_expenses", "number"),
        ("disposable_income * params.penalty_multiplier / 2", "number"),
        ("-disposable_income", "number"),
        ("'text'", "text"),
        ("true", "boolean"),
        ("not borrower.distress or disposable_income < 0", "boolean"),
        ("locale == 'en'", "boolean"),
        ("borrower.distress != false", "boolean"),
        ("as_of >= '2026-11-28'", "boolean"),
        ("'2026-11-28' < as_of", "boolean"),
        ("min(1, disposable_income, 2.5)", "number"),
        ("max(as_of, '2026-01-01')", "date"),
        ("abs(disposable_income)", "number"),
        ("round(disposable_income, 2)", "number"),
        ("floor(1.5) + ceil(1.5)", "number"),
        ("days_between(as_of, '2027-01-01')", "number"),
        ("add_days(as_of, params.grace_days)", "date"),
        ("add_days('2026-01-31', 1)", "date"),
        ("coalesce(disposable_income, 0)", "number"),
        ("coalesce(borrower.hardship, borrower.hardship)", "list"),
        ("if(borrower.distress, 'yes', locale)", "text"),
        ("if(borrower.distress, as_of, '2026-01-01')", "date"),
        ("sum_loans(loan.outstanding_balance)", "number"),
        ("sum_loans(loan.outstanding_balance * params.penalty_multiplier)", "number"),
        ("max_loans(loan.outstanding_balance)", "number"),
        ("min_loans(loan.next_due_date)", "date"),
        ("count_loans(loan.status.in_collection and disposable_income > 0)", "number"),
        ("count_loans(days_between(as_of, loan.next_due_date) <= 3)", "number"),
    ],
)
def test_infer_type(text: str, expected: Type) -> None:
    assert check(text) == expected


def test_loan_names_in_loan_scope() -> None:
    assert check("loan.outstanding_balance * 2", loan_scope=True) == "number"
    assert check("days_between(as_of, loan.next_due_date)", loan_scope=True) == "number"


@pytest.mark.parametrize(
    ("text", "loan_scope", "message", "column"),
    [
        ("x + 1", False, "unknown fact 'x'", 1),
        ("1 + params.nope", False, "unknown parameter 'nope'", 5),
        ("locale + 1", False, "'+' needs numbers, got text", 8),
        ("1 * true", False, "'*' needs numbers, got boolean", 3),
        (
            "as_of - as_of",
            False,
            "'-' needs numbers, got date (use add_days(date, n) or days_between(from, to))",
            7,
        ),
        ("-locale", False, "'-' needs a number, got text", 1),
        ("not 1", False, "'not' needs a boolean, got number", 1),
        ("borrower.distress and 1", False, "'and' needs booleans, got number", 19),
        ("1 or true", False, "'or' needs booleans, got number", 3),
        ("locale == 1", False, "'==' compares values of one type, got text and number", 8),
        ("as_of == 'soon'", False, "'==' compares values of one type, got date and text", 7),
        ("true < false", False, "'<' needs numbers or dates, got boolean", 6),
        ("locale > 'a'", False, "'>' needs numbers or dates, got text", 8),
        ("borrower.hardship == borrower.hardship", False, "'==' cannot compare lists", 19),
        ("min(1, locale)", False, "min() needs numbers or dates of one type, got number, text", 1),
        (
            "max(true, false)",
            False,
            "max() needs numbers or dates of one type, got boolean, boolean",
            1,
        ),
        ("abs(locale)", False, "abs() needs a number, got text", 5),
        ("round(as_of)", False, "round() needs a number, got date", 7),
        ("floor(true)", False, "floor() needs a number, got boolean", 7),
        (
            "days_between(as_of, 3)",
            False,
            "days_between() needs dates, got number (argument 2)",
            21,
        ),
        (
            "days_between('x', as_of)",
            False,
            "days_between() needs dates, got text (argument 1)",
            14,
        ),
        ("add_days(3, 1)", False, "add_days() needs a date first, got number", 10),
        ("add_days(as_of, '1')", False, "add_days() needs a number of days, got text", 17),
        ("coalesce(1, 'a')", False, "coalesce() needs arguments of one type, got number, text", 1),
        ("if(1, 2, 3)", False, "if() needs a boolean condition, got number", 4),
        (
            "if(true, 1, 'a')",
            False,
            "if() branches must have the same type, got number and text",
            1,
        ),
        (
            "loan.outstanding_balance > 0",
            False,
            "loan.outstanding_balance is per loan: use it "
            "inside sum_loans(...) or write an about: loan rule",
            1,
        ),
        (
            "1 + sum_loans(loan.outstanding_balance)",
            True,
            "sum_loans is only allowed in about: situation rules",
            5,
        ),
        ("count_loans(true)", True, "count_loans is only allowed in about: situation rules", 1),
        (
            "sum_loans(max_loans(loan.outstanding_balance))",
            False,
            "max_loans cannot be used inside another aggregate",
            11,
        ),
        ("sum_loans(loan.lender)", False, "sum_loans() needs number, got text", 11),
        (
            "max_loans(loan.status.in_collection)",
            False,
            "max_loans() needs number or date, got boolean",
            11,
        ),
        (
            "count_loans(loan.outstanding_balance)",
            False,
            "count_loans() needs boolean, got number",
            13,
        ),
    ],
)
def test_type_errors(text: str, loan_scope: bool, message: str, column: int) -> None:
    with pytest.raises(ExprTypeError) as info:
        check(text, loan_scope=loan_scope)
    assert (info.value.message, info.value.column) == (message, column)


def test_type_of_decides_parameters() -> None:
    seen: list[str] = []

    def type_of(name: str) -> Type | None:
        seen.append(name)
        return "number"

    assert infer_type(parse("params.a + b"), type_of, in_loan_scope=False) == "number"
    assert seen == ["params.a", "b"]


# --- evaluation ---------------------------------------------------------------------------------


def lookup_in(facts: Mapping[str, object]) -> Callable[[str], object]:
    return lambda name: facts.get(name, UNKNOWN)


def run(text: str, loans: tuple[Mapping[str, object], ...] = (), **facts: object) -> object:
    """Evaluate text; a keyword's ``__`` stands for ``.`` (``params__k`` is ``params.k``)."""
    return evaluate(
        parse(text),
        lookup_in({k.replace("__", "."): v for k, v in facts.items()}),
        [lookup_in(loan) for loan in loans],
    )


def same(actual: object, expected: object) -> bool:
    """Equal and of the same type, so that 3 and 3.0 (and 1 and True) differ."""
    return type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("7 - 10", -3),
        ("6 / 3", 2.0),
        ("1 / 4", 0.25),
        ("0.5 + 0.25", 0.75),
        ("2 * 1.5", 3.0),
        ("-(2 - 5)", 3),
        ("3 > 2", True),
        ("3 >= 3.0", True),
        ("2 != 2", False),
        ("'a' == 'a'", True),
        ("'a' < 'b'", True),
        ("true == false", False),
        ("not false", True),
        ("min(3, 1.5, 2)", 1.5),
        ("max(3, 1.5, 2)", 3),
        ("abs(-2.5)", 2.5),
        ("abs(-2)", 2),
        ("floor(2.7)", 2),
        ("floor(-2.5)", -3),
        ("ceil(2.1)", 3),
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("round(2.4)", 2),
        ("round(1.005, 2)", 1.01),
        ("round(2.675, 2)", 2.68),
        ("round(7, 2)", 7.0),
        ("round(7)", 7),
        ("round(1.23456789, 6)", 1.234568),
        ("if(1 < 2, 'y', 'n')", "y"),
        ("if(1 > 2, 'y', 'n')", "n"),
        ("coalesce(1, 2)", 1),
        ("'2026-11-28' < '2026-12-01'", True),
        ("monthly_interest(20000, 0.1825)", 20000 * 0.1825 / 12),
        ("monthly_interest(0, 0.2)", 0.0),
        ("months_to_repay(12000, 1000, 0)", 12),
        ("months_to_repay(12001, 1000, 0)", 13),
        ("months_to_repay(12000, 1000, 0.12)", 13),
        ("months_to_repay(20000, 900, 0.1825)", 28),
        ("months_to_repay(0, 100, 0.2)", 0),
        ("months_to_repay(-5, 100, 0.2)", 0),
    ],
)
def test_evaluate_known(text: str, expected: object) -> None:
    assert same(run(text), expected)


def test_evaluate_facts_and_params() -> None:
    facts = {"borrower.monthly_income": 5000, "borrower.monthly_essential_expenses": 2800}
    text = "borrower.monthly_income - borrower.monthly_essential_expenses"
    assert same(evaluate(parse(text), lookup_in(facts)), 2200)
    assert same(run("params.k * 2", params__k=1.5), 3.0)


@pytest.mark.parametrize(
    "text",
    [
        "x + 1",
        "1 - x",
        "x * 0",
        "-x",
        "x == x",
        "x != 1",
        "x < 1",
        "not x",
        "min(1, x)",
        "max(x, 1)",
        "abs(x)",
        "round(x, 2)",
        "floor(x)",
        "ceil(x)",
        "days_between(x, '2026-01-01')",
        "add_days(x, 1)",
        "add_days('2026-01-01', x)",
        "coalesce(x, x)",
        "if(x, 1, 2)",
        "if(x > 0, 1, 1)",
        "monthly_interest(x, 0.1)",
        "monthly_interest(100, x)",
        "months_to_repay(x, 100, 0.1)",
        "months_to_repay(100, x, 0.1)",
        "months_to_repay(100, 10, x)",
    ],
)
def test_unknown_propagates(text: str) -> None:
    assert run(text) is UNKNOWN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("coalesce(x, 2, 3)", 2),
        ("coalesce(x, y, 'z')", "z"),
        ("coalesce(x, 1 / 0, 4)", 4),
        ("if(true, 1, x)", 1),
        ("if(false, x, 2)", 2),
        ("if(true, 1, 1 / 0)", 1),
        ("x > 1 and false", False),
        ("false and x > 1", False),
        ("x > 1 or true", True),
        ("true or x > 1", True),
        ("true and true", True),
        ("false or false", False),
    ],
)
def test_unknown_is_absorbed(text: str, expected: object) -> None:
    assert same(run(text), expected)


@pytest.mark.parametrize(
    "text",
    [
        "x > 1 and true",
        "true and x > 1",
        "x > 1 or false",
        "false or x > 1",
        "not (x > 1)",
        "coalesce(x, y)",
        "if(true, x, 1)",
        "if(false, 1, x)",
    ],
)
def test_kleene_unknown(text: str) -> None:
    assert run(text) is UNKNOWN


def test_if_evaluates_only_the_chosen_branch() -> None:
    asked: list[str] = []

    def lookup(name: str) -> object:
        asked.append(name)
        return {"c": True, "a": 1}.get(name, UNKNOWN)

    assert evaluate(parse("if(c, a, b)"), lookup) == 1
    assert asked == ["c", "a"]


def test_coalesce_stops_at_first_known() -> None:
    asked: list[str] = []

    def lookup(name: str) -> object:
        asked.append(name)
        return 5 if name == "b" else UNKNOWN

    assert evaluate(parse("coalesce(a, b, c)"), lookup) == 5
    assert asked == ["a", "b"]


@pytest.mark.parametrize(
    "text", ["1 / 0", "1.5 / 0.0", "x / (y - y)", "coalesce(1 / 0, 2 / 0)", "round(1 / 0)"]
)
def test_division_by_zero_is_unknown(text: str) -> None:
    assert run(text, x=3, y=2) is UNKNOWN


@pytest.mark.parametrize(
    "text",
    [
        "x * x",  # overflows to inf
        "x * x - x * x",  # an unknown step stays unknown
        "big * 0.5",  # int too large for a float
        "big / 3",
        "round(big, 2)",
        "add_days('2026-01-01', big)",
        "add_days('9999-12-31', 1)",
    ],
)
def test_non_finite_results_are_unknown(text: str) -> None:
    assert run(text, x=1e200, big=10**400) is UNKNOWN


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_inputs_are_unknown(value: float) -> None:
    assert run("x", x=value) is UNKNOWN
    assert run("coalesce(x, 1)", x=value) == 1


def test_wrongly_typed_values_are_unknown() -> None:
    assert run("x + 1", x="1") is UNKNOWN
    assert run("x + 1", x=True) is UNKNOWN
    assert run("not x", x=0) is UNKNOWN
    assert run("x < 1", x="a") is UNKNOWN
    assert run("x == 1", x=None) is UNKNOWN
    assert run("x and true", x=1) is UNKNOWN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("days_between('2026-11-01', '2026-11-28')", 27),
        ("days_between('2026-11-28', '2026-11-01')", -27),
        ("days_between('2024-02-28', '2024-03-01')", 2),
        ("days_between(as_of, due)", 12),
        ("add_days(as_of, 30)", "2026-12-28"),
        ("add_days(as_of, -28)", "2026-10-31"),
        ("add_days(as_of, 2.0)", "2026-11-30"),
        ("add_days(as_of, 1) > as_of", True),
        ("add_days(as_of, 3) == due", False),
        ("max(as_of, due)", "2026-12-10"),
        ("min(as_of, due)", "2026-11-28"),
    ],
)
def test_dates(text: str, expected: object) -> None:
    assert same(run(text, as_of="2026-11-28", due="2026-12-10"), expected)


@pytest.mark.parametrize(
    "value", ["2026-02-30", "28/11/2026", "20261128", "", "2026-11-28T10:00", 20261128]
)
def test_bad_dates_are_unknown(value: object) -> None:
    assert run("days_between(d, '2026-12-01')", d=value) is UNKNOWN
    assert run("add_days(d, 1)", d=value) is UNKNOWN


def test_add_days_needs_whole_days() -> None:
    assert run("add_days('2026-01-01', 1.5)") is UNKNOWN


def test_date_objects_from_lookup_become_iso_text() -> None:
    day = datetime.date(2026, 11, 28)
    assert same(run("d", d=day), "2026-11-28")
    assert same(run("add_days(d, 3)", d=day), "2026-12-01")
    assert same(run("d == '2026-11-28'", d=day), True)


LOANS = (
    {"loan.balance": 1000, "loan.days": 10, "loan.due": "2026-12-01", "loan.late": True},
    {"loan.balance": 2500.5, "loan.days": 0, "loan.due": "2026-11-30", "loan.late": False},
    {"loan.balance": 300, "loan.days": 45, "loan.due": "2027-01-15", "loan.late": True},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sum_loans(loan.balance)", 3800.5),
        ("sum_loans(loan.days)", 55),
        ("max_loans(loan.days)", 45),
        ("min_loans(loan.balance)", 300),
        ("min_loans(loan.due)", "2026-11-30"),
        ("max_loans(loan.due)", "2027-01-15"),
        ("count_loans(loan.late)", 2),
        ("count_loans(loan.days > limit)", 1),
        ("sum_loans(loan.days * k)", 110),
        ("count_loans(days_between(as_of, loan.due) <= 3)", 2),
        ("sum_loans(if(loan.late, loan.balance, 0))", 1300),
        ("limit + count_loans(true)", 33),
    ],
)
def test_aggregates(text: str, expected: object) -> None:
    assert same(run(text, LOANS, limit=30, k=2, as_of="2026-11-28"), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sum_loans(loan.balance)", 0),
        ("count_loans(loan.late)", 0),
        ("max_loans(loan.balance)", UNKNOWN),
        ("min_loans(loan.due)", UNKNOWN),
    ],
)
def test_aggregates_over_no_loans(text: str, expected: object) -> None:
    assert same(run(text, ()), expected)


@pytest.mark.parametrize(
    "text",
    [
        "sum_loans(loan.balance)",
        "max_loans(loan.balance)",
        "min_loans(loan.balance)",
        "count_loans(loan.late)",
        "count_loans(loan.balance > 100)",
        "sum_loans(loan.balance * unknown_fact)",
    ],
)
def test_aggregates_with_an_unknown_element(text: str) -> None:
    loans = ({"loan.balance": 5, "loan.late": True}, {"loan.days": 3})
    assert run(text, loans) is UNKNOWN


def test_aggregate_coalesce_per_loan() -> None:
    loans: tuple[dict[str, object], ...] = ({"loan.balance": 5}, {})
    assert same(run("sum_loans(coalesce(loan.balance, 0))", loans), 5)


def test_loan_names_outside_an_aggregate_use_lookup() -> None:
    text = "loan.balance + sum_loans(loan.balance)"
    assert same(run(text, LOANS[:1], loan__balance=7), 1007)


def test_evaluate_is_repeatable_and_pure() -> None:
    node = parse("sum_loans(loan.balance) / count_loans(true)")
    first = run(to_source(node), LOANS)
    assert first == pytest.approx(3800.5 / 3)
    assert evaluate(node, lookup_in({}), [lookup_in(loan) for loan in LOANS]) == first


# --- UNKNOWN ------------------------------------------------------------------------------------


def test_unknown_sentinel() -> None:
    assert repr(UNKNOWN) == "UNKNOWN"
    assert not UNKNOWN
    assert type(UNKNOWN)() is UNKNOWN
    assert copy.copy(UNKNOWN) is UNKNOWN
    assert copy.deepcopy([UNKNOWN])[0] is UNKNOWN
    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN


# --- printing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("(a+b)*2", "(a + b) * 2"),
        ("a+(b*2)", "a + b * 2"),
        ("a-(b-c)", "a - (b - c)"),
        ("(a-b)-c", "a - b - c"),
        ("a/(b*c)", "a / (b * c)"),
        ("-(a)", "-a"),
        ("-(-a)", "-(-a)"),
        ("--a", "-(-a)"),
        ("-(a*b)", "-(a * b)"),
        ("a*-b", "a * -b"),
        ("not(a==b)", "not a == b"),
        ("(not a)==b", "(not a) == b"),
        ("not(a and b)", "not (a and b)"),
        ("(not a) and b", "not a and b"),
        ("a and (b or c)", "a and (b or c)"),
        ("(a and b) or c", "a and b or c"),
        ("(a < b) == (c < d)", "(a < b) == (c < d)"),
        ("a == (b + 1)", "a == b + 1"),
        ("min( a ,b,1.50 )", "min(a, b, 1.5)"),
        ('"it\'s"', "'it\\'s'"),
        ("'a\\\\b'", "'a\\\\b'"),
        ("'say \\\"hi\\\"'", "'say \"hi\"'"),
        ("0.0000001", "0.0000001"),
        ("100000000000000000000000.0", "100000000000000000000000.0"),
        ("2.0", "2.0"),
        ("true or false", "true or false"),
        ("if(a, 'x', coalesce(b, 'y'))", "if(a, 'x', coalesce(b, 'y'))"),
        ("a + (not b)", "a + (not b)"),
        ("-(not a)", "-(not a)"),
    ],
)
def test_to_source(text: str, canonical: str) -> None:
    node = parse(text)
    assert to_source(node) == canonical
    assert parse(canonical) == node
    assert to_source(parse(canonical)) == canonical


def test_round_trip_ignores_columns() -> None:
    node = parse("   a  +b")
    again = parse(to_source(node))
    assert again == node
    assert isinstance(node, Binary) and isinstance(again, Binary)
    assert (node.column, again.column) == (7, 3)


_LEAVES = st.one_of(
    st.integers(0, 10**6).map(Literal_),
    st.floats(1e-6, 1e6).map(Literal_),  # printed without exponent, so keep the text short
    st.text("ab'\"\\ x", max_size=4).map(Literal_),
    st.booleans().map(Literal_),
    st.sampled_from(["a", "b.c", "params.d"]).map(Name),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Unary, st.sampled_from(["-", "not"]), children),
        st.builds(Binary, st.sampled_from(sorted(expr._BINARY_PREC)), children, children),
        st.builds(Call, st.just("min"), st.tuples(children, children)),
        st.builds(Call, st.just("if"), st.tuples(children, children, children)),
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(_LEAVES, _extend, max_leaves=12))
def test_round_trip_of_any_tree(node: Node) -> None:
    text = to_source(node)
    assert parse(text) == node
    assert to_source(parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        # a payment at or below a month's interest never clears the balance: the debt grows
        "months_to_repay(38000, 245, 0.18)",
        "months_to_repay(12000, 100, 0.1)",  # exactly the interest
        "months_to_repay(1000, 0, 0.1)",
        "months_to_repay(1000, -5, 0)",
        "months_to_repay(1000, 10, -0.1)",
        "monthly_interest(1000, -0.1)",
        "months_to_repay(1000000000, 0.0001, 0)",  # more months than anyone lives
        "months_to_repay(1000000000 * 1000000000 * 1000000000, 0.000001, 10)",  # huge: unknown
    ],
)
def test_finance_functions_unknown_when_never_repaid(text: str) -> None:
    assert run(text) is UNKNOWN
    assert compile_expr(parse(text))(lambda _n: UNKNOWN) is UNKNOWN


def test_months_to_repay_clears_the_balance() -> None:
    """The month count is the least n whose payments clear the balance at the rate."""
    for balance, monthly, rate in [(20000, 900, 0.1825), (52000, 1000, 0.18), (620, 700, 0.2)]:
        months = run(f"months_to_repay({balance}, {monthly}, {rate})")
        assert isinstance(months, int)
        owed = float(balance)
        for _ in range(months - 1):
            owed = owed * (1 + rate / 12) - monthly
        assert owed > 0  # not cleared one month earlier
        assert owed * (1 + rate / 12) - monthly <= 1e-6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("months_to_repay(1, 2)", "months_to_repay"),
        ("monthly_interest('a', 0.1)", "monthly_interest() needs a number, got text"),
        ("months_to_repay(1, true, 0.1)", "months_to_repay() needs a number, got boolean"),
    ],
)
def test_finance_functions_typecheck(text: str, message: str) -> None:
    with pytest.raises(expr.ExprError, match=re.escape(message)):
        infer_type(parse(text), lambda _n: "number", in_loan_scope=False)
