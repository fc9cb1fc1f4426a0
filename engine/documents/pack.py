"""A pack's documents: ``documents/documents.yaml`` (the manifest) and its Jinja templates.

Stage: pack directory → ``DocumentPack`` (templates compiled in the sandbox) or ``RuleError``s
with file:line. The manifest says which documents the pack has and when each applies, which of
the pack's facts the templates see (by name, like ``plan:`` in pack.yaml), the labels of input
codes, the complaint routes by kind of lender and the calendar's words. Everything is data; no
template can reach Python (``engine.documents.sandbox``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.core.errors import RuleError, RuleLoadError, did_you_mean
from engine.core.source import Location
from engine.core.userfiles import MAX_YAML_BYTES, ReadProblem, read_file
from engine.documents.calendar import check_words
from engine.documents.model import LAYOUT, Condition, DocumentPack, DocumentSpec
from engine.documents.names import DOCUMENT_NAMES, TEMPLATE_DOCUMENTS
from engine.documents.sandbox import TemplateProblem, compile_template, template_environment
from engine.load.loader import DOCUMENTS_DIR
from engine.pack.model import LOCALES

MANIFEST = "documents.yaml"

_WHEN_KEYS = {"action", "strategy", "fact"}
_TOP_KEYS = {"documents", "facts", "labels", "complaint_routes", "calendar", "not_applicable"}


def documents_dir(roots: Iterable[str]) -> Path | None:
    """The first root that has ``documents/documents.yaml``."""
    for root in roots:
        folder = Path(root) / DOCUMENTS_DIR
        if (folder / MANIFEST).is_file():
            return folder
    return None


def load_document_pack(
    folder: Path, facts: Mapping[str, Any], locales: Sequence[str] = LOCALES
) -> DocumentPack:
    """Read and check a pack's documents folder; raises RuleLoadError with every problem.

    ``facts`` is the pack's facts by name (``engine.core.facts.FactSpec``: inputs and derived);
    ``locales`` the pack's: every text is written, and every template exists, in each.
    """
    from engine.core.yamlsource import load_yaml

    shown = folder.as_posix()
    manifest_file = f"{shown}/{MANIFEST}"
    errors: list[RuleError] = []
    try:
        data, smap, problems = load_yaml(
            read_file(folder / MANIFEST, MAX_YAML_BYTES), manifest_file
        )
    except ReadProblem as problem:
        raise RuleLoadError(
            [RuleError(Location(manifest_file), "documents_unreadable", problem.reason)]
        ) from None
    errors += problems
    if not isinstance(data, dict):
        if not errors:
            errors.append(
                RuleError(Location(manifest_file, 1, 1), "documents_manifest", "expected a mapping")
            )
        raise RuleLoadError(errors)

    def error(path: tuple[str | int, ...], message: str, hint: str = "") -> None:
        errors.append(RuleError(smap.locate(path), "documents_manifest", message, hint))

    for key in data:
        if key not in _TOP_KEYS:
            error((key,), f"unknown key {key!r}", did_you_mean(key, _TOP_KEYS))
    known_facts = set(facts)
    fact_map: dict[str, dict[str, Any]] = {}
    units: dict[str, str] = {}
    for scope in ("situation", "loan"):
        fields = data.get("facts", {}).get(scope, {})
        fact_map[scope] = dict(fields)
        for field, named in fields.items():
            names = named.values() if isinstance(named, dict) else [named]
            if isinstance(named, dict) and set(named) != set(locales):
                error(("facts", scope, field), f"give a fact for each of {', '.join(locales)}")
            for name in names:
                if name in known_facts:
                    units[field] = facts[name].unit
                else:
                    error(
                        ("facts", scope, field),
                        f"unknown fact {name!r}",
                        did_you_mean(str(name), known_facts),
                    )
    for wrong in check_words(data.get("calendar", {})):
        error(("calendar",), wrong)
    specs: dict[str, DocumentSpec] = {}
    declared = data.get("documents", {})
    for name in declared:
        if name not in DOCUMENT_NAMES:
            error(
                ("documents", name),
                f"unknown document {name!r}",
                did_you_mean(name, DOCUMENT_NAMES),
            )
    for name in DOCUMENT_NAMES:
        if name not in declared:
            continue
        body = declared[name] or {}
        conditions = []
        for index, alt in enumerate(body.get("when", [])):
            if not isinstance(alt, dict) or len(set(alt) & _WHEN_KEYS) != 1:
                error(
                    ("documents", name, "when", index), "expected one of action:, strategy:, fact:"
                )
                continue
            fact = alt.get("fact")
            if fact is not None and fact not in known_facts:
                error(
                    ("documents", name, "when", index),
                    f"unknown fact {fact!r}",
                    did_you_mean(str(fact), known_facts),
                )
            strategies = alt.get("strategy", ())
            conditions.append(
                Condition(
                    action=alt.get("action"),
                    strategies=tuple([strategies] if isinstance(strategies, str) else strategies),
                    fact=fact,
                    equals=alt.get("is"),
                )
            )
        title = body.get("title", {})
        if set(title) != set(locales):
            error(("documents", name), f"give a title in each of {', '.join(locales)}")
        specs[name] = DocumentSpec(
            name, bool(body.get("per_loan", False)), tuple(conditions), title
        )

    env = template_environment()
    templates: dict[str, Any] = {}
    wanted = [LAYOUT] + [
        f"{name}.{locale}.md.j2"
        for name in TEMPLATE_DOCUMENTS
        if name in specs
        for locale in locales
    ]
    for file in wanted:
        path = folder / file
        try:
            source = read_file(path, MAX_YAML_BYTES).decode("utf-8")
        except ReadProblem as problem:
            errors.append(
                RuleError(Location(f"{shown}/{file}"), "documents_template", problem.reason)
            )
            continue
        except UnicodeDecodeError as exc:
            errors.append(
                RuleError(Location(f"{shown}/{file}"), "documents_template", f"not UTF-8 ({exc})")
            )
            continue
        try:
            templates[file.removesuffix(".md.j2")] = compile_template(env, source, file)
        except TemplateProblem as problem:
            errors.append(
                RuleError(
                    Location(f"{shown}/{file}", problem.line),
                    "documents_template",
                    problem.message,
                )
            )
    if errors:
        raise RuleLoadError(errors)
    return DocumentPack(
        root=shown,
        specs=specs,
        facts=fact_map,
        units=units,
        labels=data.get("labels", {}),
        complaint_routes=data.get("complaint_routes", {}),
        calendar=data.get("calendar", {}),
        not_applicable={k: tuple(v) for k, v in data.get("not_applicable", {}).items()},
        templates=templates,
    )
