"""Renderers of what is about a pack or its files (registered in ``registry.TABLE``): a shipped
schema, a pack's rules or facts, a passed validation, and the documents made from a decision.
"""

from __future__ import annotations

from typing import Any

from engine.load.checks import fact_specs
from engine.present.kinds import DocumentFiles, Listing, SchemaDoc, Validation
from engine.present.rendering import render_json


def schema_json(doc: SchemaDoc, locale: str | None) -> str:
    return render_json(dict(doc.schema))


def _rules(listing: Listing) -> list[dict[str, Any]]:
    return [
        {
            "id": rule.id,
            "kind": rule.kind,
            "target": getattr(rule.then, "action", None) or getattr(rule.then, "fact", ""),
            "about": rule.about,
            "source": rule.source,
            "location": rule.location.short,
        }
        for rule in listing.ruleset.pack.rules
    ]


def _facts(listing: Listing) -> list[dict[str, Any]]:
    return [
        {
            "name": fact.name,
            "unit": fact.unit,
            "derived": fact.derived,
            "enum": list(fact.enum) if fact.enum else None,
        }
        for fact in fact_specs(listing.ruleset.pack).values()
    ]


def list_text(listing: Listing, locale: str | None) -> str:
    """Tab-separated rows, one rule (or fact) a line: easy to ``cut`` and ``grep``."""
    if listing.facts:
        rows = [
            f"{f['name']}\t{f['unit']}\t{'derived' if f['derived'] else 'input'}"
            + (f"\t{'|'.join(f['enum'])}" if f["enum"] else "")
            for f in _facts(listing)
        ]
    else:
        rows = [
            f"{r['id']}\t{r['kind']} {r['target']}\t{r['about']}\t{r['source']}\t{r['location']}"
            for r in _rules(listing)
        ]
    return "\n".join(rows) + "\n"


def list_json(listing: Listing, locale: str | None) -> str:
    if listing.facts:
        return render_json({"facts": _facts(listing)})
    return render_json({"rules": _rules(listing)})


def _validated(doc: Validation) -> dict[str, Any]:
    if doc.ruleset is None:
        return {"files": doc.files, "ok": True, "errors_elsewhere": doc.others}
    pack = doc.ruleset.pack
    return {
        "pack": pack.name,
        "version": pack.version,
        "rules": len(pack.rules),
        "files": len(pack.files),
        "parameters": len(pack.parameters),
        "engine_rulesets": len(doc.ruleset.compiled.shards),
        "ok": True,
    }


def validation_text(doc: Validation, locale: str | None) -> str:
    v = _validated(doc)
    if doc.ruleset is None:
        return (
            f"{v['files']} file(s): ok ({v['errors_elsewhere']} error(s) elsewhere in the pack)\n"
        )
    shards = v["engine_rulesets"]
    return (
        f"{v['pack']} {v['version']}: {v['rules']} rules in {v['files']}"
        f" files, {v['parameters']} parameters, {shards} engine ruleset"
        f"{'s' if shards != 1 else ''}: ok\n"
    )


def validation_json(doc: Validation, locale: str | None) -> str:
    return render_json(_validated(doc))


def documents_text(made: DocumentFiles, locale: str | None) -> str:
    """The files, one a line: where they were written, else their names."""
    if made.folder is None:
        return "".join(f"{d.filename}\n" for d in made.documents)
    return "".join(f"{made.folder / d.filename}\n" for d in made.documents)


def documents_json(made: DocumentFiles, locale: str | None) -> str:
    """Every document with its content (``xieshang serve``'s ``POST /v1/documents``)."""
    return render_json({"documents": [d.as_dict() for d in made.documents]})
