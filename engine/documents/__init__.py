"""Documents from one decision: call scripts, letters, a printable plan and a calendar.

``build_documents(decision)`` renders the documents that apply to a decision, in its locale,
from the rule pack's templates (``<pack>/documents/``, docs/documents.md): each quotes the
advice's plan, names loans as a person knows them, and leaves a blank to fill ("¥____") where a
figure is not known. Same decision, same bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import RuleError, RuleLoadError, UsageError, did_you_mean
from engine.core.source import Location
from engine.documents.names import DOCUMENT_NAMES

if TYPE_CHECKING:  # the template engine loads only when documents are made
    from engine.decision import Decision
    from engine.documents.model import Condition, DocumentPack, DocumentSpec

__all__ = ["DOCUMENT_NAMES", "Document", "build_documents", "check_documents"]


@dataclass(frozen=True)
class Document:
    """One file: ``name`` is the document (one of DOCUMENT_NAMES), ``filename`` where to write
    it (``call_script-jiebei.md``: per-loan documents carry the loan's id), ``content`` its text."""

    name: str
    filename: str
    media_type: str
    content: str
    loan_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "filename": self.filename,
            "media_type": self.media_type,
            "loan_id": self.loan_id,
            "content": self.content,
        }


_cache: dict[tuple[str, tuple[tuple[str, int, int], ...]], DocumentPack] = {}
_cache_lock = threading.Lock()


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.iterdir())
        if p.is_file()
    )


def document_pack(decision: Decision) -> DocumentPack:
    """The decision's pack's documents, loaded once per change of its files."""
    from engine.documents.pack import documents_dir, load_document_pack

    folder = documents_dir(decision.ruleset.pack.roots)
    if folder is None:
        roots = ", ".join(decision.ruleset.pack.roots) or decision.ruleset.name
        raise UsageError(f"the rule pack {roots} has no documents (documents/documents.yaml)")
    key = (str(folder.resolve()), _stamp(folder))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        pack = decision.ruleset.pack
        cached = load_document_pack(folder, decision.ruleset.compiled.facts, pack.locales)
        with _cache_lock:
            _cache.clear()  # one pack at a time is what a process uses
            _cache[key] = cached
    return cached


def check_documents(
    roots: Sequence[str], facts: Mapping[str, Any], messages: Mapping[str, Mapping[str, str]]
) -> list[RuleError]:
    """``rules validate``: the problems of a pack's documents (none when it has no folder).

    Loads the manifest and every template (syntax, names, Python internals), then renders each
    template against the fixture contexts of ``engine.documents.fixture`` so that a field the
    context does not have is found before a person's documents are made.
    """
    from engine.documents.fixture import render_fixtures
    from engine.documents.pack import documents_dir, load_document_pack

    folder = documents_dir(roots)
    if folder is None:
        return []
    try:
        pack = load_document_pack(folder, facts, list(messages))
    except RuleLoadError as exc:
        return list(exc.errors)
    return render_fixtures(pack, messages)


def build_documents(decision: Decision, *, only: Sequence[str] | None = None) -> list[Document]:
    """The documents that apply to ``decision``, in its locale (DOCUMENT_NAMES order; per-loan
    documents in the situation's loan order; Markdown, then HTML).

    ``only`` keeps the named documents (each one of DOCUMENT_NAMES, else UsageError); a named
    document that does not apply to the decision is simply not made. Raises UsageError when the
    pack has no documents, RuleLoadError (exit 2, file:line) when its templates are broken.
    """
    from engine.documents.context import build_context
    from engine.documents.registry import FORMATS, REGISTRY, Job, TemplateRenderError, formats_of

    wanted = list(DOCUMENT_NAMES if only is None else only)
    for name in wanted:
        if name not in DOCUMENT_NAMES:
            raise UsageError(
                f"unknown document {name!r}: expected one of {', '.join(DOCUMENT_NAMES)}"
                + (
                    f" ({did_you_mean(name, DOCUMENT_NAMES)})"
                    if did_you_mean(name, DOCUMENT_NAMES)
                    else ""
                )
            )
    pack = document_pack(decision)
    context = build_context(decision, pack)
    plan = decision.plan()
    raw_loans = list(decision.situation["loans"])
    out: list[Document] = []
    for name in DOCUMENT_NAMES:
        spec = pack.specs.get(name)
        if name not in wanted or spec is None:
            continue
        title = spec.title.get(decision.locale, name)
        targets: list[int | None] = (
            [i for i in range(len(raw_loans)) if _applies(spec, decision, i)]
            if spec.per_loan
            else ([None] if _applies(spec, decision, None) else [])
        )
        for index in targets:
            loan = None if index is None else context["loans"][index]
            loan_id = None if index is None else str(raw_loans[index]["id"])
            colon = decision.ruleset.pack.words(decision.locale)["value.colon"]
            shown_title = title if loan is None else f"{title}{colon}{loan['name']}"
            job = Job(name, pack, {**context, "loan": loan, "title": shown_title}, raw_loans, plan)
            stem = name if loan_id is None else f"{name}-{loan_id}"
            for fmt in formats_of(name):
                try:
                    content = REGISTRY[(name, fmt)](job)
                except TemplateRenderError as exc:
                    raise RuleLoadError(
                        [RuleError(Location(exc.file, exc.line), "documents_render", exc.message)]
                    ) from None
                kind = FORMATS[fmt]
                out.append(
                    Document(name, f"{stem}.{kind.extension}", kind.media_type, content, loan_id)
                )
    return out


def _applies(spec: DocumentSpec, decision: Decision, index: int | None) -> bool:
    """Whether any of the document's conditions holds (for one loan, or for the situation)."""
    if not spec.when:
        return True
    return any(_holds(condition, decision, index) for condition in spec.when)


def _holds(condition: Condition, decision: Decision, index: int | None) -> bool:
    loans = decision.memory.loans
    ids = loans if index is None else [loans[index]]
    if condition.action is not None:
        return any(
            rec.action == condition.action and (not rec.loan_ids or set(rec.loan_ids) & set(ids))
            for rec in decision.recommendations
        )
    if condition.strategies:
        entries = [e for e in decision.plan()["loans"] if e["loan_id"] in ids]
        return any(e["strategy"] in condition.strategies for e in entries)
    if condition.fact is not None:
        scopes: list[str | None] = list(ids) if condition.fact.startswith("loan.") else [None]
        values = [decision.memory.get(condition.fact, loan) for loan in scopes]
        if condition.equals is None:
            return any(v is True or (isinstance(v, list | tuple) and len(v) > 0) for v in values)
        return any(v == condition.equals for v in values)
    return False
