"""Free text made safe to show: one rule for what is unsafe, one neutraliser per output format.

Text from a situation (a lender's name) and from a rule pack ends up in terminals, Markdown
renderers and JSON consumers. Characters of these Unicode categories are *unsafe* there:

* ``Cc`` controls: line breaks (``\\n \\r \\v \\f \\x1c-\\x1e \\x85``, each of which
  ``str.splitlines`` and many viewers treat as a new line) and ``ESC``, which starts terminal
  escape sequences (clear the screen, rewrite earlier lines, set the window title);
* ``Cf`` format characters: BiDi overrides and isolates that show text in another order than it
  is stored, zero-width characters that hide text, tag characters that carry invisible text;
* ``Zl``/``Zp``: the line and paragraph separators U+2028 and U+2029;
* ``Cs``: surrogates (not Unicode text at all).

The situation reader refuses them in every string (``engine.load.situation``); every output format
neutralises them again (defence in depth: rule packs and library callers that skip validation):

* :func:`one_line` for a value filled into a sentence and for error messages: every unsafe
  character, ``\\n`` included, becomes a visible escape such as ``\\x1b`` or ``\\u202e``;
* :func:`lines` for plain text that has lines of its own: the same, but ``\\n`` (and tab) kept;
* :func:`markdown` (and :func:`markdown_line` at the start of a line) for Markdown:
  :func:`one_line`, then Markdown syntax and HTML escaped, so the text shows as written and
  never becomes markup, a link, a heading, a list item or HTML;
* :func:`json_text` for JSON text: unsafe characters inside strings as ``\\uXXXX`` (``json``
  escapes only U+0000-U+001F), so JSON stays exact data and safe to print.
"""

from __future__ import annotations

import json
import re
import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_CATEGORY_NAMES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a surrogate",
}
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Names of the control characters most often met (``unicodedata.name`` has none for Cc).
_CONTROL_NAMES = {
    "\x00": "NULL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x1c": "FILE SEPARATOR",
    "\x1d": "GROUP SEPARATOR",
    "\x1e": "RECORD SEPARATOR",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
    "\x9b": "CONTROL SEQUENCE INTRODUCER",
}

#: Characters that may be unsafe: everything but printable ASCII, CJK and common punctuation
#: (a fast pre-filter; :func:`is_unsafe` decides).
_CANDIDATE = re.compile(
    r"[^\x20-\x7e\u00a0-\u00ac\u00ae-\u02ff\u2010-\u2027\u2030-\u205f"
    r"\u2070-\u2bff\u3000-\u9fff\uff00-\uffef]"
)
_MARKDOWN = re.compile(r"[\\`*_\[\]~|&<>]")
_MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: What makes a line a heading, list item, thematic break or setext underline when it starts it.
_MARKDOWN_LINE_START = re.compile(r"^(#|[+=-]|\d+(?=[.)]))")


def is_unsafe(char: str) -> bool:
    """Whether one character is a control, format, separator or surrogate character.

    >>> [is_unsafe(c) for c in "a\\n\\u202e\\u3000¥"]
    [False, True, True, False, False]
    """
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def first_unsafe(text: str) -> int | None:
    """The index of the first unsafe character of ``text``, or None."""
    for match in _CANDIDATE.finditer(text):
        if is_unsafe(match.group()):
            return match.start()
    return None


def describe(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE (an invisible formatting character)``."""
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    kind = f" ({_CATEGORY_NAMES[category]})" if category in _CATEGORY_NAMES else ""
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "")
    return f"{code} {name}{kind}" if name else f"{code}{kind}"


def escape_char(char: str) -> str:
    """A visible escape, as Python writes it: ``\\n``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape_unsafe(text: str, keep: str) -> str:
    def replace(match: re.Match[str]) -> str:
        char = match.group()
        return escape_char(char) if char not in keep and is_unsafe(char) else char

    return _CANDIDATE.sub(replace, text)


def one_line(text: str) -> str:
    """``text`` as one line without unsafe characters: each becomes a visible escape.

    >>> one_line("Ant\\n2. Pay to \\x1b[2J\\u202eme")
    'Ant\\\\n2. Pay to \\\\x1b[2J\\\\u202eme'
    """
    return _escape_unsafe(text, keep="")


def lines(text: str) -> str:
    """Like :func:`one_line`, but ``\\n`` and tabs stay (text with lines and columns of its own)."""
    return _escape_unsafe(text, keep="\n\t")


def markdown(text: str) -> str:
    """Plain text as inline Markdown that shows exactly that text, never markup or HTML.

    >>> markdown("<img src=x onerror=alert(1)> *now* [here](x)")
    '&lt;img src=x onerror=alert(1)&gt; \\\\*now\\\\* \\\\[here\\\\](x)'
    """
    return _MARKDOWN.sub(
        lambda m: _MARKDOWN_ENTITIES.get(m.group(), "\\" + m.group()), one_line(text)
    )


def markdown_line(text: str) -> str:
    """Like :func:`markdown`, for text that starts a line: nor a heading, list or code block.

    >>> markdown_line("4. Transfer"), markdown_line("# Pay"), markdown_line("    code")
    ('4\\\\. Transfer', '\\\\# Pay', 'code')
    """
    # Leading spaces would make an indented code block; a leading mark a heading or a list.
    return _MARKDOWN_LINE_START.sub(_escape_line_start, markdown(text).lstrip(" "))


def markdown_code(text: str, info: str = "") -> str:
    """``text`` as a fenced code block: shown verbatim, never parsed as Markdown or HTML. The fence
    is longer than any run of backticks inside (which would close a shorter one).

    >>> print(markdown_code("a ``` b", "json"))
    ````json
    a ``` b
    ````
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{lines(text).rstrip(chr(10))}\n{fence}"


def _escape_line_start(match: re.Match[str]) -> str:
    mark = match.group(1)
    if mark[0].isdigit():  # "1." or "1)" starts an ordered list: escape what follows the digits
        return f"{mark}\\"
    return f"\\{mark}"


def json_text(text: str) -> str:
    """JSON text with every unsafe character written as a ``\\uXXXX`` escape.

    Valid only for text that ``json.dumps`` wrote: unsafe characters then occur only inside
    strings (and U+0000-U+001F are escaped already), so the data stays exactly the same.

    >>> json_text('{"lender": "a\\u2028b\\x85"}')
    '{"lender": "a\\\\u2028b\\\\u0085"}'
    """

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        return json_escape_char(char) if char != "\n" and is_unsafe(char) else char

    return _CANDIDATE.sub(replace, text)


def json_escape_char(char: str) -> str:
    """``\\uXXXX`` (a surrogate pair above U+FFFF), as JSON escapes a character."""
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_ascii(text: str) -> str:
    """JSON text as pure ASCII: every other character as ``\\uXXXX`` (same data, any encoding)."""
    return re.sub(r"[^\x00-\x7f]", lambda m: json_escape_char(m.group()), text)


def quote(text: str) -> str:
    """A string quoted as JSON for a message, with every unsafe character escaped.

    >>> print(quote("\\x1b[2J\\u202e"))
    "\\u001b[2J\\u202e"
    """
    return json_text(json.dumps(text, ensure_ascii=False))
