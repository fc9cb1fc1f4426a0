"""Load YAML safely and keep the position of every value.

Stage: bytes → (plain data, ``SourceMap``). We build the data ourselves from PyYAML's events or
nodes so that (a) every mapping value and sequence item has a line and column, (b) duplicate keys
are refused instead of silently overwritten, (c) only the core YAML tags are accepted (no
``!!python/object``), and (d) aliases cannot expand into a "billion laughs" bomb. Nothing in a
file is ever turned into anything but text, numbers, booleans, lists and mappings.

Two readers give the same data and positions. The fast one builds the data straight from
libyaml's event stream in one pass (no node tree, no second parse); it accepts only plain files:
no anchors or aliases, no explicit tags, text keys each written once, numbers in range, at most
``MAX_NODES`` values nested at most ``MAX_DEPTH`` deep, one document. Anything else, and every
file without libyaml, goes to the careful reader (nodes composed by PyYAML, built one by one),
which finds and describes every problem: so each message is made by one piece of code only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.core.errors import RuleError
from engine.core.source import Location, shorten
from engine.core.userfiles import MAX_YAML_BYTES

#: A path into the loaded document: mapping keys and sequence indexes.
Path = tuple[str | int, ...]

MAX_FILE_BYTES = MAX_YAML_BYTES  #: also checked before reading (engine.core.userfiles)
MAX_NODES = 200_000  #: values built from one file, aliases counted each time they are expanded
MAX_DEPTH = 64  #: nesting of mappings and sequences (a recursive alias is infinitely deep)
INT64_MAX = 2**63 - 1  #: the engine's integers are 64-bit

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"  #: an unquoted date: kept as its ISO text
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


#: Where a value is written: (line, column) of its key (of the value itself for a sequence item
#: or the document), then (line, column) where the value's own text starts; 1-based. Plain
#: tuples: a ``Location`` is made only for the paths somebody asks about.
Position = tuple[int, int, int, int]


@dataclass
class SourceMap:
    """Where each value of one file came from."""

    file: str
    positions: dict[Path, Position] = field(default_factory=dict)
    pack_file: str = ""  #: the file as documents cite it (``Location.pack_file``); "" = ``file``
    #: values refused (a tag, a number out of range): reported once, never read as rules
    refused: set[Path] = field(default_factory=set)

    def locate(self, path: Path) -> Location:
        """The location of ``path`` (its key's, for a mapping value), or of its nearest
        ancestor that has one."""
        while path not in self.positions and path:
            path = path[:-1]
        found = self.positions.get(path)
        return self._at(found[0], found[1]) if found else self._at(1, 1)

    def locate_value(self, path: Path) -> Location:
        """Where the value at ``path`` starts (its text, not its key), else :meth:`locate`."""
        found = self.positions.get(path)
        return self._at(found[2], found[3]) if found else self.locate(path)

    def _at(self, line: int, column: int) -> Location:
        return Location(self.file, line, column, self.pack_file)


class _Builder:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.count = 0
        self.errors: list[RuleError] = []
        self._scalar = yaml.constructor.SafeConstructor()
        self._built: set[int] = set()  #: nodes built once: meeting one again is an alias
        self._alias_site: Location | None = None  #: where the alias being expanded is used

    def build(self, node: yaml.Node, path: Path) -> Any:
        if id(node) in self._built and self._alias_site is None:
            self._alias_site = self.source.locate(path)
            try:
                return self._build(node, path)
            finally:
                self._alias_site = None
        return self._build(node, path)

    def _build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(
                self._alias_site or _location(self.source.file, node),
                f"the document expands to more than {MAX_NODES:,} values"
                + (" (an alias bomb?)" if self._alias_site else ""),
            )
        if len(path) > MAX_DEPTH:
            raise _TooBig(
                self._alias_site or _location(self.source.file, node),
                f"values nest deeper than {MAX_DEPTH} levels"
                + (" (a recursive alias?)" if self._alias_site else ""),
            )
        self._built.add(id(node))
        line, column = _line_column(node)
        self.source.positions.setdefault(path, (line, column, line, column))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._bad_tag(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar_value(node, path)

    def _scalar_value(self, node: yaml.Node, path: Path) -> Any:
        if node.tag == _TIMESTAMP_TAG:
            return str(node.value)  # an unquoted date such as 2026-11-28: dates are ISO text
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node, path)
            return str(node.value)  # kept as plain text, never constructed
        try:
            value = self._scalar.construct_object(node)
            fits = _in_range(value)
        except ValueError:  # e.g. an integer of thousands of digits
            fits = False
        if not fits:
            self.source.refused.add(path)
            self._error(
                node,
                "yaml_number",
                f"number '{_short(node.value)}' is out of range",
                f"numbers must be finite, and whole numbers within ±{INT64_MAX:,}",
            )
            return str(node.value)
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            self._bad_tag(node, path)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.source.refused.add(path)
                self._error(
                    key_node,
                    "yaml_merge_key",
                    "merge keys ('<<') are not supported",
                    "write the keys out in full",
                )
                continue
            key = self.build(key_node, (*path, "<key>"))
            if not isinstance(key, str):
                shown = shorten(repr(key))
                self._error(key_node, "yaml_key_type", f"keys must be text, got {shown}")
                continue
            if key in result:
                first = self.source.locate((*path, key))
                self._error(
                    key_node,
                    "yaml_duplicate_key",
                    f"duplicate key '{shorten(key)}'",
                    f"first defined at {first}" if first else "",
                )
                continue
            self.source.positions[(*path, key)] = _entry_position(key_node, value_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _bad_tag(self, node: yaml.Node, path: Path) -> None:
        self.source.refused.add(path)
        self._error(
            node,
            "yaml_tag",
            f"tag '{_shown_tag(node.tag)}' is not allowed",
            "rule files are plain data: only text, numbers, booleans, lists and mappings",
        )

    def _error(self, node: yaml.Node, code: str, message: str, hint: str = "") -> None:
        self.errors.append(RuleError(_location(self.source.file, node), code, message, hint))


def _in_range(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -INT64_MAX - 1 <= value <= INT64_MAX
    return True


def _short(text: str) -> str:
    return text if len(text) <= 20 else f"{text[:17]}..."


def _shown_tag(tag: str) -> str:
    """A tag as written: ``!!python/object`` rather than ``tag:yaml.org,2002:python/object``."""
    prefix = "tag:yaml.org,2002:"
    return f"!!{tag.removeprefix(prefix)}" if tag.startswith(prefix) else tag


class _TooBig(Exception):
    def __init__(self, location: Location, message: str) -> None:
        self.location = location
        self.message = message


def _location(file: str, node: yaml.Node) -> Location:
    return Location(file, *_line_column(node))


def _line_column(node: yaml.Node) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


def _entry_position(key: yaml.Node, value: yaml.Node) -> Position:
    """A mapping entry's key, and where its value's text starts: after the opening quote of a
    quoted scalar."""
    quoted = isinstance(value, yaml.ScalarNode) and value.style in _QUOTES
    line, column = _line_column(value)
    return (*_line_column(key), line, column + quoted)


_QUOTES = ("'", '"')


def load_yaml(text: bytes, file: str) -> tuple[Any, SourceMap, list[RuleError]]:
    """Parse one YAML document. Returns the data, its source map and any errors.

    On a syntax error the data is ``None`` and the error carries PyYAML's line and column.

    >>> data, smap, errors = load_yaml(b"a:\\n  - 1\\n  - x\\n", "f.yaml")
    >>> data, str(smap.locate(("a", 1))), errors
    ({'a': [1, 'x']}, 'f.yaml:3:5', [])
    """
    source = SourceMap(file)
    if len(text) > MAX_FILE_BYTES:
        msg = f"file is {len(text):,} bytes; the limit is {MAX_FILE_BYTES:,}"
        return None, source, [RuleError(Location(file, 1, 1), "yaml_too_large", msg)]
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text (byte {exc.start})"
        return None, source, [RuleError(Location(file, 1, 1), "yaml_encoding", msg)]
    data = _read_plain(decoded, source)
    if data is not _FAILED:
        return data, source, []
    node = _fast_compose(decoded)
    try:
        if node is _FAILED:  # let the pure-Python composer find and describe the problem
            node = yaml.compose(decoded, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, source, [_syntax_error(file, exc)]
    except yaml.reader.ReaderError as exc:
        return None, source, [_reader_error(file, decoded, exc)]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly everything
        return None, source, [RuleError(Location(file, 1, 1), "yaml_syntax", str(exc))]
    except RecursionError:  # PyYAML's composer recurses once per level of nesting
        return None, source, [_too_deep(file, decoded)]
    if node is None:
        return None, source, []
    builder = _Builder(source)
    try:
        data = builder.build(node, ())
    except _TooBig as big:
        return None, source, [RuleError(big.location, "yaml_too_large", big.message)]
    return data, source, builder.errors


_FAILED = object()


class _NotPlain(Exception):
    """The file needs the careful reader (``load_yaml``'s node-by-node path)."""


_STR_TAG = "tag:yaml.org,2002:str"
_KEY = object()  #: a mapping's frame waits for its next key


def _read_plain(text: str, source: SourceMap) -> Any:
    """The data of a plain file, built from libyaml's events in one pass with every position
    recorded; ``_FAILED`` (and nothing recorded) when the file is not plain or libyaml is missing.
    """
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return _FAILED
    loader = loader_class(text)
    try:
        return _plain_data(loader, source.positions)
    except (yaml.YAMLError, ValueError, _NotPlain):
        source.positions.clear()
        return _FAILED
    finally:
        loader.dispose()


def _plain_data(loader: Any, positions: dict[Path, Position]) -> Any:
    """Build the document from the event stream: iterative (no recursion however deep the file),
    and giving up (``_NotPlain``) at the first thing the careful reader must see."""
    get = loader.get_event
    firsts = loader.yaml_implicit_resolvers  # plain scalars that may be something but text
    if None in firsts or loader.yaml_path_resolvers:
        raise _NotPlain  # resolvers that may retag any value: compose as PyYAML does
    if type(get()) is not yaml.StreamStartEvent:
        raise _NotPlain
    if type(get()) is yaml.StreamEndEvent:
        return None  # no document at all
    root: Any = None
    #: open collections: [the list or dict, its path, the pending key or _KEY, key line, column]
    stack: list[list[Any]] = []
    count = 0
    while True:
        event = get()
        kind = type(event)
        value: Any
        if kind is yaml.ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotPlain
            text = event.value
            plain = event.implicit[0]
            tag = _STR_TAG
            if plain and text[:1] in firsts:
                tag = loader.resolve(yaml.ScalarNode, text, event.implicit)
            count += 1
            if count > MAX_NODES:
                raise _NotPlain
            if stack and stack[-1][2] is _KEY:  # a mapping's key
                frame = stack[-1]
                if tag != _STR_TAG or text in frame[0] or len(frame[1]) >= MAX_DEPTH:
                    raise _NotPlain  # not text, written twice, or too deep
                mark = event.start_mark
                frame[2], frame[3], frame[4] = text, mark.line + 1, mark.column + 1
                continue
            if tag in (_STR_TAG, _TIMESTAMP_TAG):
                value = text
            elif tag in _SCALAR_TAGS:
                value = loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, text))
                if not _in_range(value):
                    raise _NotPlain
            else:
                raise _NotPlain
            quoted = event.style in _QUOTES
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotPlain
            if stack and stack[-1][2] is _KEY:
                raise _NotPlain  # a collection as a key
            count += 1
            if count > MAX_NODES:
                raise _NotPlain
            value = {} if kind is yaml.MappingStartEvent else []
            quoted = False
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            stack.pop()
            continue
        elif kind is yaml.DocumentEndEvent:
            if type(get()) is not yaml.StreamEndEvent:
                raise _NotPlain  # more than one document
            return root
        else:  # an alias
            raise _NotPlain
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        path: Path
        if not stack:
            path = ()
            positions[path] = (line, column, line, column)
            root = value
        else:
            frame = stack[-1]
            container = frame[0]
            if frame[2] is not None:  # a mapping's value (a sequence's frame has no key)
                path = (*frame[1], frame[2])
                positions[path] = (frame[3], frame[4], line, column + quoted)
                container[frame[2]] = value
                frame[2] = _KEY
            else:
                path = (*frame[1], len(container))
                if len(path) > MAX_DEPTH:
                    raise _NotPlain
                positions[path] = (line, column, line, column)
                container.append(value)
        if kind is yaml.MappingStartEvent:
            stack.append([value, path, _KEY, 0, 0])
        elif kind is yaml.SequenceStartEvent:
            stack.append([value, path, None, 0, 0])


def _fast_compose(text: str) -> Any:
    """Compose with libyaml when it is there (about 12× faster); ``_FAILED`` means "ask the
    pure-Python composer", which gives the detailed messages and guards against deep nesting."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return _FAILED
    try:
        depth = 0
        for event in yaml.parse(text, Loader=loader):  # iterative: checks nesting before composing
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return _FAILED
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return _FAILED


def _too_deep(file: str, text: str) -> RuleError:
    """Find, without recursion, where the nesting goes past MAX_DEPTH."""
    depth = 0
    loc = Location(file, 1, 1)
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                if mark is not None:
                    loc = Location(file, mark.line + 1, mark.column + 1)
                break
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return RuleError(loc, "yaml_too_large", f"values nest deeper than {MAX_DEPTH} levels")


def _reader_error(file: str, text: str, exc: yaml.reader.ReaderError) -> RuleError:
    before = text[: exc.position]
    line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return RuleError(
        Location(file, line, column),
        "yaml_syntax",
        f"character #x{char:04x} is not allowed in YAML ({exc.reason})",
    )


#: Hints for PyYAML's commonest problems, by a fragment of its message.
_SYNTAX_HINTS = (
    ("expected <block end>", "check the indentation: keys of one mapping must line up"),
    ("mapping values are not allowed", "check the indentation, or quote a value holding ': '"),
    ("expected ',' or '}'", "a '{' is not closed, or a value in it holds ': ' unquoted"),
    ("expected ',' or ']'", "a '[' is not closed"),
    ("found character '\\t'", "indent with spaces, not tabs"),
    ("could not find expected ':'", "a key is missing its ':', or a quote is not closed"),
    ("found unexpected end of stream", "a quote or a bracket is not closed"),
)


def _syntax_error(file: str, exc: yaml.MarkedYAMLError) -> RuleError:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    problem = exc.problem or "invalid YAML"
    context = ""
    if exc.context:
        start, where = exc.context_mark, ""
        moved = start and mark and (start.line, start.column) != (mark.line, mark.column)
        if start and moved and exc.context.startswith("while "):
            where = f" that starts at line {start.line + 1}, column {start.column + 1}"
        context = f" ({exc.context}{where})"
    hint = next((h for fragment, h in _SYNTAX_HINTS if fragment in problem), "")
    return RuleError(loc, "yaml_syntax", f"{problem}{context}", hint)
