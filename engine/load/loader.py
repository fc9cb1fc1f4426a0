"""Load a rule pack: files → YAML with positions → schema check → typed ``Pack``.

Every problem found is collected as a ``RuleError`` with its file:line:col; the semantic checks in
``engine.load.checks`` run after this stage, and ``load_pack`` raises one ``RuleLoadError``
holding them all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import RuleError, did_you_mean
from engine.core.locales import MESSAGES_DIR
from engine.core.schemas import validator
from engine.core.source import Location, shorten
from engine.core.userfiles import MAX_YAML_BYTES, ReadProblem, read_file
from engine.load.fastschema import checker
from engine.load.packs import builtin_rules_dir
from engine.pack import expr
from engine.pack.model import (
    Adjust,
    Condition,
    Derive,
    Group,
    Leaf,
    LocalText,
    Parameter,
    Recommend,
    Rule,
    Suppress,
)

if TYPE_CHECKING:  # yaml and jsonschema load only when rule files are read
    from jsonschema.exceptions import ValidationError

    from engine.core.yamlsource import Path as DocPath
    from engine.core.yamlsource import SourceMap

RULE_SUFFIXES = (".yaml", ".yml")
DOCUMENTS_DIR = "documents"  #: a pack's document templates and their manifest, not rule files
TEST_SUFFIXES = (".test.yaml", ".test.yml")
#: The interview's questions at a pack's root: pack data, but not rules (``engine.interview``
#: reads and checks it).
QUESTIONS_FILE = "questions.yaml"


@dataclass(frozen=True)
class PackFile:
    """One file of a pack: where it is, how it is shown, and its bytes."""

    path: Path
    display: str  #: stable path shown in messages and advice
    relative: str  #: path inside its root, used for the digest
    data: bytes


@dataclass
class RawPack:
    """What the files say, before semantic checks."""

    files: list[PackFile] = field(default_factory=list)
    packs: list[tuple[dict[str, Any], Location]] = field(default_factory=list)
    #: the source map of each file that declares ``pack:`` (parallel to ``packs``)
    pack_maps: list[SourceMap] = field(default_factory=list)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  #: the roots as shown in messages
    #: files whose document, or whose ``pack:``, could not be read (errors are reported)
    unreadable: list[str] = field(default_factory=list)
    #: each rule's file and path in it (by ``Rule.index``), to point at any part of a rule
    sources: dict[int, tuple[SourceMap, DocPath]] = field(default_factory=dict)
    #: the pack's own ``messages/<locale>.yaml`` by locale: data and source map
    #: (engine.core.locales)
    messages: dict[str, tuple[Any, SourceMap]] = field(default_factory=dict)

    def locate(self, rule: Rule, *keys: str | int) -> Location:
        """Where a part of a rule is written, e.g. ``locate(rule, "recommend", "action")``."""
        source = self.sources.get(rule.index)
        if source is None:
            return rule.location
        smap, path = source
        return smap.locate((*path, *keys))


def display_root(root: Path, given: str) -> str:
    """How a root is shown: as given, normalised; the built-in pack as ``rules/<name>``."""
    try:
        builtin = builtin_rules_dir()
        if root.resolve().parent == builtin.resolve():
            return f"rules/{root.name}"
    except FileNotFoundError:  # pragma: no cover - only in a broken install
        pass
    return Path(os.path.normpath(given)).as_posix()


def pack_file(item: PackFile, cited_roots: dict[Path, str]) -> str:
    """How documents cite a rule file: by its pack, never by the path that reached it.

    ``rules/<name>/<path inside>`` for a built-in pack (as before), else ``<pack directory
    name>/<path inside>``, the directory name taken after resolving ``.``, ``..`` and symlinks;
    so advice is byte-identical whether the pack was given as ``x``, ``./x/../x`` or an absolute
    path. ``cited_roots`` caches the resolved roots of one read.
    """
    depth = len(Path(item.relative).parts)
    root = item.path.parents[depth - 1]  # a file given as the root: its folder
    cited = cited_roots.get(root)
    if cited is None:
        resolved = root.resolve()
        try:
            builtin = resolved.parent == builtin_rules_dir().resolve()
        except FileNotFoundError:  # pragma: no cover - only in a broken install
            builtin = False
        cited = cited_roots[root] = f"rules/{resolved.name}" if builtin else resolved.name
    return f"{cited}/{item.relative}"


def collect_files(
    roots: Iterable[str | Path], shown_roots: list[str] | None = None
) -> tuple[list[PackFile], list[RuleError]]:
    """The rule files under each root (a directory or one file), sorted; tests are left out.

    ``shown_roots``, when given, receives each root as it is shown in messages. Files are read
    through ``engine.core.userfiles`` (bounded, regular files only); a file that cannot be read, or
    whose name is not UTF-8, is an error naming it, and is left out.
    """
    files: list[PackFile] = []
    errors: list[RuleError] = []
    for given in roots:
        root = Path(given)
        shown = display_root(root, str(given))
        if shown_roots is not None:
            shown_roots.append(shown)
        if root.is_dir():
            try:
                paths = list(_rule_files(root))
            except _TooManyFiles as many:
                errors.append(
                    RuleError(
                        Location(shown),
                        "pack_too_large",
                        f"more than {many.limit:,} {many.what} under it",
                        "point at a pack directory (the one with pack.yaml)",
                    )
                )
                continue
            for path in paths:
                rel = path.relative_to(root).as_posix()
                _add_file(files, errors, path, f"{shown}/{_printable(rel)}", rel)
        elif root.exists() or root.is_symlink():  # one file, or something that is not a file
            _add_file(files, errors, root, shown, root.name)
        else:
            errors.append(RuleError(Location(shown), "pack_not_found", "no such file or directory"))
    return files, errors


def _add_file(
    files: list[PackFile], errors: list[RuleError], path: Path, shown: str, relative: str
) -> None:
    if _printable(relative) != relative:
        errors.append(
            RuleError(
                Location(shown),
                "pack_file_name",
                "the file name is not valid UTF-8",
                "rename the file: names are shown in messages and advice",
            )
        )
        return
    try:
        files.append(PackFile(path, shown, relative, read_file(path, MAX_YAML_BYTES)))
    except ReadProblem as problem:
        code = "yaml_too_large" if problem.too_large else "pack_unreadable"
        reason = problem.reason
        if reason == "no such file" and path.is_symlink():
            reason = "is a symlink to a missing file"
        message = f"file {reason}" if problem.too_large else f"cannot read: {reason}"
        errors.append(RuleError(Location(shown, 1, 1), code, message))


def _printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by Python as surrogates) become �."""
    return os.fsencode(name).decode("utf-8", "replace")


MAX_PACK_FILES = 2000  #: rule files one pack may hold (a guard against pointing at a home dir)
MAX_PACK_FOLDERS = 5000  #: folders walked under one root (``--rules /`` stops early)


def _rule_files(root: Path) -> Iterator[Path]:
    """The pack's rule files: hidden folders, virtualenvs, ``tests/``, nested packs (folders
    with their own pack.yaml) and the interview's ``questions.yaml`` are not part of it."""
    found: list[Path] = []
    for folders, (folder, subfolders, names) in enumerate(os.walk(root), start=1):
        if folders > MAX_PACK_FOLDERS:
            raise _TooManyFiles(MAX_PACK_FOLDERS, "folders")
        here = Path(folder)
        subfolders[:] = sorted(
            d
            for d in subfolders
            if not (
                d.startswith(".")
                or d in ("tests", "__pycache__", "node_modules")
                or (d == DOCUMENTS_DIR and here == root)  # templates (engine.documents)
                or _exists(here / d / "pyvenv.cfg")
                or _exists(here / d / "pack.yaml")
            )
        )
        for name in names:
            if name == QUESTIONS_FILE and here == root:
                continue
            if name.endswith(RULE_SUFFIXES) and not name.endswith(TEST_SUFFIXES):
                found.append(here / name)
        if len(found) > MAX_PACK_FILES:
            raise _TooManyFiles(MAX_PACK_FILES, "rule files")
    yield from sorted(found)


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a folder we may not look into has nothing in it for us."""
    try:
        return path.exists()
    except OSError:
        return False


class _TooManyFiles(Exception):
    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what


def pack_root_of(file: Path) -> Path | None:
    """The pack a rule file belongs to: the nearest folder above it holding pack.yaml."""
    for folder in file.resolve().parents:
        if (folder / "pack.yaml").is_file():
            return folder
    return None


def pack_digest(files: Iterable[PackFile]) -> str:
    """sha256 over every rule file's path inside its root and its bytes, in path order."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.relative):
        digest.update(item.relative.encode() + b"\0" + item.data + b"\0")
    return f"sha256:{digest.hexdigest()}"


def read_pack(roots: Iterable[str | Path]) -> RawPack:
    """Read and schema-check every file; build typed rules from the parts that passed."""
    from engine.core.yamlsource import load_yaml  # PyYAML loads only when rule files are read

    raw = RawPack()
    raw.files, raw.errors = collect_files(roots, raw.roots)
    raw.unreadable += [e.location.file for e in raw.errors]  # roots that are not there
    cited_roots: dict[Path, str] = {}
    for item in raw.files:
        data, smap, errors = load_yaml(item.data, item.display)
        smap.pack_file = pack_file(item, cited_roots)
        raw.errors.extend(errors)
        if data is None:
            raw.unreadable.append(item.display)
            if not errors:
                raw.errors.append(
                    RuleError(
                        Location(item.display, 1, 1),
                        "yaml_empty",
                        "the file is empty",
                        "a rule file holds 'rules:'",
                    )
                )
            continue
        parts = Path(item.relative).parts
        if len(parts) == 2 and parts[0] == MESSAGES_DIR:  # the pack's words, not rules
            raw.messages[Path(parts[1]).stem] = (data, smap)
            continue
        _read_document(raw, data, smap)
    return raw


def schema_errors(kind: str, data: Any, smap: SourceMap) -> tuple[list[RuleError], set[DocPath]]:
    """Schema errors mapped to lines, and the paths of the invalid items (to skip later)."""
    problems = schema_problems(kind, data, smap)
    return [p.error for p in problems], {p.failed[:2] for p in problems}


def _read_document(raw: RawPack, data: Any, smap: SourceMap) -> None:
    problems = schema_problems("rules", data, smap)
    raw.errors.extend(p.error for p in problems)
    if not isinstance(data, dict) or any(not p.failed for p in problems):
        raw.unreadable.append(smap.file)
        return
    failures = [(p.failed, p.keyword) for p in problems]
    failures += [(path, "yaml") for path in smap.refused]
    if "pack" in data and _failed(failures, ("pack",)):
        raw.unreadable.append(smap.file)
    elif "pack" in data:
        raw.packs.append((data["pack"], smap.locate(("pack",))))
        raw.pack_maps.append(smap)
    parameters, rules = data.get("parameters"), data.get("rules")
    for name, spec in parameters.items() if isinstance(parameters, dict) else ():
        if not _failed(failures, ("parameters", name), _PARAMETER_DETAILS):
            _add_parameter(raw, name, spec, smap)
    for i, spec in enumerate(rules if isinstance(rules, list) else ()):
        if not _failed(failures, ("rules", i), _RULE_DETAILS):
            raw.sources[len(raw.rules)] = (smap, ("rules", i))
            raw.rules.append(_rule(spec, ("rules", i), smap, len(raw.rules)))


_TEXTS = ("title", "message", "reason")
#: Keywords that only judge a value's form: the item is still read when they fail, so that its
#: other problems are found too and nothing that depends on it is reported as unknown.
_FORM_KEYWORDS = frozenset(
    {"pattern", "minLength", "maxLength", "minimum", "maximum", "not", "enum"}
)
#: Inside a parameter or a rule, the values whose form may be wrong without hiding the item.
_PARAMETER_DETAILS: frozenset[DocPath] = frozenset({("source",), ("note",)})
_RULE_DETAILS: frozenset[DocPath] = frozenset(
    {("id",), ("source",), ("title",), ("note",), ("adjust", "by")}
    | {("recommend", "priority"), ("recommend", "urgency")}
    | {(kind, text) for kind in ("recommend", "adjust", "suppress") for text in _TEXTS}
)


def _failed(
    failures: list[tuple[DocPath, str]], item: DocPath, details: frozenset[DocPath] = frozenset()
) -> bool:
    """Whether a failure (a value's path, the schema keyword it failed) makes ``item`` unreadable.

    A failure about the form of one of its ``details`` (a source, a text, a priority) leaves it
    readable; any other failure about it, inside it or about what holds it does not.
    """
    for failed, keyword in failures:
        if failed[: len(item)] != item and failed != item[: len(failed)]:
            continue
        inner = failed[len(item) :]
        if keyword in _FORM_KEYWORDS and any(inner[: len(d)] == d for d in details):
            continue
        return True
    return False


def _add_parameter(raw: RawPack, name: str, spec: dict[str, Any], smap: SourceMap) -> None:
    loc = smap.locate(("parameters", name))
    if name in raw.parameters:
        first = raw.parameters[name].location
        raw.errors.append(
            RuleError(
                loc,
                "param_duplicate",
                f"parameter '{shorten(name)}' is defined twice",
                f"first defined at {first}",
            )
        )
        return
    raw.parameters[name] = Parameter(
        name, spec["value"], spec.get("unit"), spec["source"], spec.get("note", ""), loc
    )


@dataclass(frozen=True)
class SchemaProblem:
    """One schema error: the error shown, and which value failed which keyword."""

    error: RuleError
    failed: DocPath  #: the path of the value that failed, as jsonschema reported it
    path: DocPath  #: the path the error is shown at (after following oneOf branches)
    keyword: str  #: the JSON Schema keyword that failed (``required``, ``pattern``, ...)
    key: str = ""  #: a missing property (required) or the key an unknown one may mean


def schema_problems(kind: str, data: Any, smap: SourceMap) -> list[SchemaProblem]:
    """Every schema error, without the noise that follows from another one.

    A value of the wrong type gets only that error; a misspelt key (``reasn``) is not also
    reported as the missing key it was meant to be (``reason``).
    """
    fast = checker(kind)
    if fast is not None and fast(data):  # valid input skips jsonschema (engine.load.fastschema)
        return []
    found: list[SchemaProblem] = []
    for error in validator(kind).iter_errors(data):
        found.extend(_schema_problems(error, tuple(error.absolute_path), smap))
    typed = {p.path for p in found if p.keyword == "type"}
    misspelt = {(p.path[:-1], p.key) for p in found if p.keyword == "additionalProperties"}
    return [
        p
        for p in found
        if not (p.path in typed and p.keyword != "type")
        and not (p.keyword == "required" and (p.path, p.key) in misspelt)
        and not any(p.path[: len(r)] == r for r in smap.refused)  # reported when it was read
    ]


def _schema_problems(
    error: ValidationError, failed: DocPath, smap: SourceMap
) -> list[SchemaProblem]:
    error = _deepest(error)
    path: DocPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    message, hint = _custom(error, "x-error") or error.message, _custom(error, "x-hint")
    if keyword == "propertyNames":
        path = (*path, error.instance)
    if keyword == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        return [
            _problem(
                smap,
                failed,
                (*path, extra),
                keyword,
                f"unknown key '{shorten(extra)}'",
                did_you_mean(extra, allowed) or f"allowed keys: {', '.join(allowed)}",
                _close(extra, allowed),
            )
            for extra in _extra_keys(error)
        ]
    key = ""
    if keyword == "required" and isinstance(error.instance, dict):
        key = next((k for k in error.validator_value if k not in error.instance), "")
    elif keyword == "enum" and isinstance(error.instance, str):
        allowed = [str(v) for v in error.validator_value]
        message = f"'{shorten(error.instance)}' is not an allowed value"
        hint = did_you_mean(error.instance, allowed) or f"allowed values: {', '.join(allowed)}"
    elif keyword == "oneOf" and isinstance(error.instance, dict):
        path, message = _one_of(error, path, message)
    elif keyword in _SIZES and isinstance(error.instance, list | str) and error.instance:
        what = "items" if isinstance(error.instance, list) else "characters"
        bound = "at most" if keyword.startswith("max") else "at least"
        message = f"{len(error.instance)} {what}; {bound} {error.validator_value} allowed"
    return [_problem(smap, failed, path, keyword, message, hint, key)]


#: Size keywords: their messages count, rather than repeat a long value.
_SIZES = ("maxItems", "minItems", "maxLength", "minLength")


def _problem(
    smap: SourceMap,
    failed: DocPath,
    path: DocPath,
    keyword: str,
    message: str,
    hint: str,
    key: str = "",
) -> SchemaProblem:
    where = "/".join(shorten(str(p), 40) for p in path)
    text = f"{where}: {message}" if where else message
    error = RuleError(smap.locate(path), "rule_schema_error", text, hint)
    return SchemaProblem(error, failed, path, keyword, key)


def _custom(error: ValidationError, name: str) -> str:
    """The schema's own message (``x-error``) or hint (``x-hint``) for the keyword that failed."""
    texts = error.schema.get(name, {}) if isinstance(error.schema, dict) else {}
    text = texts.get(error.validator, "") if isinstance(texts, dict) else ""
    value = error.instance
    shown = f"'{shorten(value)}'" if isinstance(value, str) else shorten(str(value))
    return str(text).replace("{value}", shown)


def _one_of(error: ValidationError, path: DocPath, message: str) -> tuple[DocPath, str]:
    """For "exactly one of these keys": say which were found, and point at the second one."""
    choices = [
        b["required"][0]
        for b in error.validator_value
        if isinstance(b, dict) and list(b) == ["required"] and len(b["required"]) == 1
    ]
    if len(choices) != len(error.validator_value):
        return path, message
    present = [k for k in choices if k in error.instance]
    if not present:
        return path, f"{message}; it has none"
    return (*path, present[1]), f"{message}; it has {' and '.join(repr(k) for k in present)}"


def _close(word: str, candidates: list[str]) -> str:
    hint = did_you_mean(word, candidates)
    return hint.split("'")[1] if hint else ""


def _deepest(error: ValidationError) -> ValidationError:
    """Follow oneOf/anyOf errors into the branch that got furthest, unless ours has a message."""
    while error.context and not _custom(error, "x-error"):
        error = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
    return error


def _extra_keys(error: ValidationError) -> list[str]:
    allowed = set(error.schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    return sorted(k for k in instance if k not in allowed)


def _text(spec: dict[str, str]) -> LocalText:
    return LocalText.of(spec)  # its locales are checked against the pack's (engine.load.checks)


def _rule(spec: dict[str, Any], path: DocPath, smap: SourceMap, index: int) -> Rule:
    when = spec.get("when")
    condition = _condition(when, (*path, "when"), smap) if when is not None else None
    return Rule(
        id=spec["id"],
        title=_text(spec["title"]),
        source=spec["source"],
        about=spec.get("about", "situation"),
        when=condition,
        then=_consequence(spec, path, smap),
        location=smap.locate((*path, "id")),
        index=index,
    )


def _condition(spec: dict[str, Any], path: DocPath, smap: SourceMap) -> Condition:
    loc = smap.locate(path)
    for kind in ("all", "any"):
        if kind in spec:
            items = tuple(_condition(c, (*path, kind, i), smap) for i, c in enumerate(spec[kind]))
            return Group(kind, items, loc)
    if "not" in spec:
        return Group("not", (_condition(spec["not"], (*path, "not"), smap),), loc)
    return Leaf(spec["fact"], spec["op"], spec.get("value"), spec.get("param"), loc)


def _consequence(
    spec: dict[str, Any], path: DocPath, smap: SourceMap
) -> Recommend | Derive | Adjust | Suppress:
    if "recommend" in spec:
        r = spec["recommend"]
        common = _text(r["common"]) if "common" in r else None
        return Recommend(
            r["action"], r["priority"], r["urgency"], _text(r["title"]), _text(r["message"]), common
        )
    if "adjust" in spec:
        a = spec["adjust"]
        return Adjust(a["action"], a["by"], _text(a["reason"]))
    if "suppress" in spec:
        s = spec["suppress"]
        return Suppress(s["action"], _text(s["reason"]))
    d = spec["derive"]
    text = d["value"]
    source = text if isinstance(text, str) else _literal_source(text)
    location = smap.locate_value((*path, "derive", "value"))
    unit, summary = d.get("unit"), bool(d.get("summary", False))
    try:  # the one parse of this expression: every later stage reads ``Derive.expr``
        return Derive(d["fact"], expr.parse(source), source, unit, summary, location)
    except expr.ExprSyntaxError as exc:  # engine.load.checks reports it
        error = (exc.column, exc.message)
        return Derive(d["fact"], expr.Literal_(0), source, unit, summary, location, error)


def _literal_source(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
