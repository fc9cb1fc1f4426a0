"""Load a rule pack: files → YAML with positions → schema check → typed ``Pack``.

Every problem found is collected as a ``RuleError`` with its file:line:col; the semantic checks in
``engine.checks`` run after this stage, and ``load_pack`` raises one ``RuleLoadError``
holding them all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError

from engine import expr
from engine.errors import RuleError, did_you_mean
from engine.model import (
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
from engine.schemas import validator
from engine.source import Location
from engine.yamlsource import Path as DocPath
from engine.yamlsource import SourceMap, load_yaml

RULE_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")


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
    parameters: dict[str, Parameter] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def display_root(root: Path, given: str) -> str:
    """How a root is shown: as given, normalised; the built-in pack as ``rules/<name>``."""
    from engine.packs import builtin_rules_dir

    try:
        builtin = builtin_rules_dir()
        if root.resolve().parent == builtin.resolve():
            return f"rules/{root.name}"
    except FileNotFoundError:  # pragma: no cover - only in a broken install
        pass
    return Path(os.path.normpath(given)).as_posix()


def collect_files(roots: Iterable[str | Path]) -> tuple[list[PackFile], list[RuleError]]:
    """The rule files under each root (a directory or one file), sorted; tests are left out."""
    files: list[PackFile] = []
    errors: list[RuleError] = []
    for given in roots:
        root = Path(given)
        shown = display_root(root, str(given))
        if root.is_file():
            files.append(PackFile(root, shown, root.name, root.read_bytes()))
        elif root.is_dir():
            for path in _rule_files(root):
                rel = path.relative_to(root).as_posix()
                files.append(PackFile(path, f"{shown}/{rel}", rel, path.read_bytes()))
        else:
            errors.append(RuleError(Location(shown), "pack_not_found", "no such file or directory"))
    return files, errors


def _rule_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or not path.name.endswith(RULE_SUFFIXES):
            continue
        if path.name.endswith(TEST_SUFFIXES) or rel.parts[0] == "tests":
            continue
        yield path


def pack_digest(files: Iterable[PackFile]) -> str:
    """sha256 over every rule file's path inside its root and its bytes, in path order."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.relative):
        digest.update(item.relative.encode() + b"\0" + item.data + b"\0")
    return f"sha256:{digest.hexdigest()}"


def read_pack(roots: Iterable[str | Path]) -> RawPack:
    """Read and schema-check every file; build typed rules from the parts that passed."""
    raw = RawPack()
    raw.files, raw.errors = collect_files(roots)
    for item in raw.files:
        data, smap, errors = load_yaml(item.data, item.display)
        raw.errors.extend(errors)
        if data is None:
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
        _read_document(raw, data, smap)
    return raw


def schema_errors(kind: str, data: Any, smap: SourceMap) -> tuple[list[RuleError], set[DocPath]]:
    """Schema errors mapped to lines, and the paths of the invalid items (to skip later)."""
    errors: list[RuleError] = []
    bad: set[DocPath] = set()
    for error in validator(kind).iter_errors(data):
        path = tuple(error.absolute_path)
        bad.add(path[:2])
        errors.append(_schema_error(error, path, smap))
    return errors, bad


def _read_document(raw: RawPack, data: Any, smap: SourceMap) -> None:
    errors, bad = schema_errors("rules", data, smap)
    raw.errors.extend(errors)
    if not isinstance(data, dict) or () in bad:
        return
    if "pack" in data and ("pack",) not in bad:
        raw.packs.append((data["pack"], smap.locate(("pack",))))
    for name, spec in data.get("parameters", {}).items():
        if ("parameters", name) in bad or ("parameters",) in bad:
            continue
        _add_parameter(raw, name, spec, smap)
    for i, spec in enumerate(data.get("rules", [])):
        if ("rules", i) not in bad and ("rules",) not in bad:
            raw.rules.append(_rule(spec, ("rules", i), smap, len(raw.rules)))


def _add_parameter(raw: RawPack, name: str, spec: dict[str, Any], smap: SourceMap) -> None:
    loc = smap.locate(("parameters", name))
    if name in raw.parameters:
        first = raw.parameters[name].location
        raw.errors.append(
            RuleError(
                loc,
                "param_duplicate",
                f"parameter '{name}' is defined twice",
                f"first defined at {first}",
            )
        )
        return
    raw.parameters[name] = Parameter(
        name, spec["value"], spec.get("unit"), spec["source"], spec.get("note", ""), loc
    )


def _schema_error(error: ValidationError, path: DocPath, smap: SourceMap) -> RuleError:
    error = _deepest(error)
    path = tuple(error.absolute_path)
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    message, hint = custom or error.message, ""
    if error.validator == "additionalProperties":
        extra = _extra_keys(error)
        if extra:
            allowed = list(error.schema.get("properties", {}))
            path = (*path, extra[0])
            message = f"unknown key '{extra[0]}'"
            hint = did_you_mean(extra[0], allowed) or f"allowed keys: {', '.join(allowed)}"
    elif error.validator == "enum" and isinstance(error.instance, str):
        hint = did_you_mean(error.instance, [str(v) for v in error.validator_value])
    where = "/".join(str(p) for p in path)
    text = f"{where}: {message}" if where else message
    return RuleError(smap.locate(path), "rule_schema_error", text, hint)


def _deepest(error: ValidationError) -> ValidationError:
    """Follow oneOf/anyOf errors into the branch that got furthest, unless ours has a message."""
    while error.context and not (isinstance(error.schema, dict) and "x-error" in error.schema):
        error = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
    return error


def _extra_keys(error: ValidationError) -> list[str]:
    allowed = set(error.schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    return sorted(k for k in instance if k not in allowed)


def _text(spec: dict[str, str]) -> LocalText:
    return LocalText(en=spec["en"], zh=spec["zh-CN"])


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
        return Recommend(
            r["action"], r["priority"], r["urgency"], _text(r["title"]), _text(r["message"])
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
    try:
        node: expr.Node = expr.parse(source)
    except expr.ExprSyntaxError:
        node = expr.parse("0")  # placeholder: engine.checks reports the syntax error
    location = smap.locate((*path, "derive", "value"))
    return Derive(d["fact"], node, source, d.get("unit"), bool(d.get("summary", False)), location)


def _literal_source(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
