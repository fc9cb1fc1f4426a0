"""Stage 1 of the expression language: tokenising text, on demand, for the parser.

Tokens come one at a time so that errors are reported in the order of the text. Only plain
decimal numbers, quoted text with three escapes, lower-case names and the operators of the
language exist; anything else is an ``ExprSyntaxError`` with a hint where one helps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Final, Literal, NamedTuple

from engine.pack.expr.nodes import ExprSyntaxError


class _Token(NamedTuple):
    kind: Literal["lit", "name", "op", "end"]
    text: str  #: as written
    column: int
    value: bool | int | float | str = ""  #: for literals


_SPACE: Final = " \t\r\n"
_NUMBER: Final = re.compile(r"[0-9][0-9A-Za-z_.]*")  # greedy, so that 1e5 is one bad number
_PLAIN_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPERATOR: Final = re.compile(r"<=|>=|==|!=|[-+*/<>(),]")
_ESCAPED: Final = frozenset("\\'\"")
_WORD_OPS: Final = frozenset({"and", "or", "not"})
_BOOLS: Final = {"true": True, "false": False}


def _tokenize(text: str) -> Iterator[_Token]:
    """Tokens on demand, so errors come in the order of the text; ends with an ``end`` token."""
    pos = 0
    while pos < len(text):
        if text[pos] in _SPACE:
            pos += 1
            continue
        token = _scan(text, pos)
        yield token
        pos += len(token.text)
    yield _Token("end", "", len(text) + 1)


def _scan(text: str, pos: int) -> _Token:
    if text[pos] in "'\"":
        return _scan_string(text, pos)
    if match := _NUMBER.match(text, pos):
        return _number(match.group(), pos + 1)
    if match := _WORD.match(text, pos):
        return _word(match.group(), pos + 1)
    if match := _OPERATOR.match(text, pos):
        return _Token("op", match.group(), pos + 1)
    raise _bad_character(text, pos)


def _number(text: str, column: int) -> _Token:
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ExprSyntaxError(
            f"bad number '{text}' at column {column}: write plain decimals such as 12 or 0.5",
            column,
        )
    value = float(text) if "." in text else int(text)
    if not math.isfinite(value):
        raise ExprSyntaxError(f"number too large at column {column}", column)
    return _Token("lit", text, column, value)


def _word(text: str, column: int) -> _Token:
    if text != text.lower():
        raise ExprSyntaxError(
            f"unexpected '{text}' at column {column}: names and keywords are lower case", column
        )
    if text in _WORD_OPS:
        return _Token("op", text, column)
    if text in _BOOLS:
        return _Token("lit", text, column, _BOOLS[text])
    return _Token("name", text, column)


def _scan_string(text: str, pos: int) -> _Token:
    quote, i, chars = text[pos], pos + 1, []
    while i < len(text) and text[i] != quote:
        if text[i] == "\\" and i + 1 < len(text):
            if text[i + 1] not in _ESCAPED:
                raise ExprSyntaxError(
                    f"unsupported escape '\\{text[i + 1]}' at column {i + 1}: "
                    "only \\', \\\" and \\\\ are allowed",
                    i + 1,
                )
            i += 1
        chars.append(text[i])
        i += 1
    if i >= len(text):
        raise ExprSyntaxError(f"unterminated string starting at column {pos + 1}", pos + 1)
    return _Token("lit", text[pos : i + 1], pos + 1, "".join(chars))


def _bad_character(text: str, pos: int) -> ExprSyntaxError:
    char, column = text[pos], pos + 1
    message = f"unexpected character '{char}' at column {column}"
    if char == "=":
        message += ": use '==' to compare"
    elif char == "." and text[pos + 1 : pos + 2].isdigit():
        message += ": numbers start with a digit, e.g. 0.5"
    return ExprSyntaxError(message, column)


def _unexpected(token: _Token) -> ExprSyntaxError:
    if token.kind == "end":
        return ExprSyntaxError("unexpected end of expression", token.column)
    return ExprSyntaxError(f"unexpected '{token.text}' at column {token.column}", token.column)
