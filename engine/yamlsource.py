"""Load YAML safely and keep the position of every value.

Stage: bytes → (plain data, ``SourceMap``). PyYAML's composer gives nodes with marks; we build the
data ourselves from those nodes so that (a) every mapping value and sequence item has a line and
column, (b) duplicate keys are refused instead of silently overwritten, (c) only the core YAML tags
are accepted (no ``!!python/object``), and (d) aliases cannot expand into a "billion laughs" bomb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import RuleError
from engine.source import Location

#: A path into the loaded document: mapping keys and sequence indexes.
Path = tuple[str | int, ...]

MAX_FILE_BYTES = 2_000_000
MAX_NODES = 200_000  #: values built from one file, aliases counted each time they are expanded
MAX_DEPTH = 64  #: nesting of mappings and sequences (a recursive alias is infinitely deep)

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass
class SourceMap:
    """Where each value of one file came from."""

    file: str
    positions: dict[Path, Location] = field(default_factory=dict)

    def locate(self, path: Path) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, Location(self.file, 1, 1))


class _Builder:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.count = 0
        self.errors: list[RuleError] = []
        self._scalar = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(path) > MAX_DEPTH:
            raise _TooBig(node)
        self.source.positions.setdefault(path, _location(self.source.file, node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._bad_tag(node)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node)
            return None
        return self._scalar.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            self._bad_tag(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, (*path, "<key>"))
            if not isinstance(key, str):
                self._error(key_node, "yaml_key_type", f"keys must be text, got {key!r}")
                continue
            if key in result:
                first = self.source.positions.get((*path, key))
                self._error(
                    key_node,
                    "yaml_duplicate_key",
                    f"duplicate key '{key}'",
                    f"first defined at {first}" if first else "",
                )
                continue
            self.source.positions[(*path, key)] = _location(self.source.file, key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _bad_tag(self, node: yaml.Node) -> None:
        self._error(
            node,
            "yaml_tag",
            f"tag '{node.tag}' is not allowed",
            "rule files are plain data: only text, numbers, booleans, lists and mappings",
        )

    def _error(self, node: yaml.Node, code: str, message: str, hint: str = "") -> None:
        self.errors.append(RuleError(_location(self.source.file, node), code, message, hint))


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _location(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


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
    try:
        node = yaml.compose(decoded, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, source, [_syntax_error(file, exc)]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly everything
        return None, source, [RuleError(Location(file, 1, 1), "yaml_syntax", str(exc))]
    if node is None:
        return None, source, []
    builder = _Builder(source)
    try:
        data = builder.build(node, ())
    except _TooBig as big:
        msg = (
            f"the document expands to more than {MAX_NODES:,} values or nests deeper than"
            f" {MAX_DEPTH} levels (an alias bomb or a recursive alias?)"
        )
        return None, source, [RuleError(_location(file, big.node), "yaml_too_large", msg)]
    return data, source, builder.errors


def _syntax_error(file: str, exc: yaml.MarkedYAMLError) -> RuleError:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    problem = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context else ""
    return RuleError(loc, "yaml_syntax", f"{problem}{context}")
