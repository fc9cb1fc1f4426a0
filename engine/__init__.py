"""xieshang: ranked, explained advice for borrowers overdue on Chinese consumer credit.

The public API is small: :func:`load_rules` loads, checks and compiles a rule pack, and
:func:`evaluate` turns a situation into a :class:`Decision`. Around them: reading situations,
rendering (:func:`render_as`: a document such as :class:`Advice` in a :class:`Format`, from the
registry of ``engine.present``; not named ``render``, which the module ``engine.present.rendering``
would shadow once imported), the packs and their files, batch evaluation (also on Dask), the shipped
schemas and text made safe to show. The audit and authoring tools (explain, lint, diff, records,
coverage, YAML test cases) are the public API of ``engine.audit``. The command line uses only
these two modules (the import contract in pyproject.toml).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine._lazy import lazy_names
from engine.api import Decision, RuleSet, evaluate, load_rules
from engine.core.errors import (
    EvaluationError,
    RuleLoadError,
    SituationError,
    UsageError,
    XieshangError,
    did_you_mean,
)
from engine.core.safetext import describe, json_ascii, json_text, lines, markdown_code, one_line
from engine.core.schemas import load_schema
from engine.core.userfiles import ReadProblem, kind_of, open_regular
from engine.load.checks import fact_specs
from engine.load.loader import TEST_SUFFIXES, display_root, pack_root_of
from engine.load.packs import default_pack_dir
from engine.load.situation import MAX_BYTES as MAX_SITUATION_BYTES
from engine.load.situation import (
    default_today,
    load_situation_file,
    load_situation_stream,
    parse_json_bytes,
    validate_situation,
)
from engine.pack.model import LOCALES
from engine.present import (
    Advice,
    Card,
    DocumentFiles,
    Format,
    Listing,
    Presentable,
    SchemaDoc,
    Validation,
    formats_of,
)
from engine.present import render as render_as
from engine.version import __version__

__all__ = [
    "DOCUMENT_NAMES",
    "LOCALES",
    "MAX_SITUATION_BYTES",
    "TEST_SUFFIXES",
    "Advice",
    "BatchLine",
    "BatchOptions",
    "BatchResult",
    "BatchSummary",
    "Card",
    "Decision",
    "Document",
    "DocumentFiles",
    "EvaluationError",
    "Format",
    "Interview",
    "Listing",
    "Presentable",
    "Question",
    "ReadProblem",
    "RuleLoadError",
    "RuleSet",
    "SchemaDoc",
    "ShippedPack",
    "SituationError",
    "UsageError",
    "Validation",
    "XieshangError",
    "__version__",
    "advise_shipped_lines",
    "apply_answer",
    "build_documents",
    "default_pack_dir",
    "default_today",
    "describe",
    "did_you_mean",
    "display_root",
    "evaluate",
    "evaluate_partial",
    "fact_specs",
    "forget",
    "formats_of",
    "interview_next",
    "json_ascii",
    "json_text",
    "keep_shipped_pack",
    "kind_of",
    "lines",
    "load_partial_file",
    "load_question_book",
    "load_rules",
    "load_schema",
    "load_situation_file",
    "load_situation_stream",
    "markdown_code",
    "next_questions",
    "one_line",
    "open_regular",
    "pack_root_of",
    "parse_answer",
    "parse_json_bytes",
    "read_batch_lines",
    "render_as",
    "render_card",
    "render_json",
    "render_markdown",
    "render_text",
    "run_batch",
    "shipped_line",
    "validate_situation",
    "worker_options",
]

if TYPE_CHECKING:
    from engine.batch import Line as BatchLine
    from engine.batch import Options as BatchOptions
    from engine.batch import Result as BatchResult
    from engine.batch import Summary as BatchSummary
    from engine.batch import read_lines as read_batch_lines
    from engine.batch import run_batch
    from engine.distributed import ShippedPack
    from engine.distributed import advise_lines as advise_shipped_lines
    from engine.distributed import as_line as shipped_line
    from engine.distributed import keep as keep_shipped_pack
    from engine.distributed import run_options as worker_options
    from engine.documents import DOCUMENT_NAMES, Document, build_documents
    from engine.interview import (
        Interview,
        Question,
        apply_answer,
        evaluate_partial,
        forget,
        interview_next,
        next_questions,
    )
    from engine.interview import load_book as load_question_book
    from engine.interview.answers import parse_answer
    from engine.interview.session import load_partial_file
    from engine.present.rendering import render_card, render_json, render_markdown, render_text

# Batch workers (multiprocessing), Dask, rendering, documents (Jinja2) and the interview:
# imported when first used.
__getattr__ = lazy_names(
    __name__,
    {
        "BatchLine": ("engine.batch", "Line"),
        "BatchOptions": ("engine.batch", "Options"),
        "BatchResult": ("engine.batch", "Result"),
        "BatchSummary": ("engine.batch", "Summary"),
        "read_batch_lines": ("engine.batch", "read_lines"),
        "run_batch": ("engine.batch", "run_batch"),
        "ShippedPack": ("engine.distributed", "ShippedPack"),
        "advise_shipped_lines": ("engine.distributed", "advise_lines"),
        "shipped_line": ("engine.distributed", "as_line"),
        "keep_shipped_pack": ("engine.distributed", "keep"),
        "worker_options": ("engine.distributed", "run_options"),
        "render_json": ("engine.present.rendering", "render_json"),
        "render_markdown": ("engine.present.rendering", "render_markdown"),
        "render_text": ("engine.present.rendering", "render_text"),
        "render_card": ("engine.present.rendering", "render_card"),
        "DOCUMENT_NAMES": ("engine.documents", "DOCUMENT_NAMES"),
        "Document": ("engine.documents", "Document"),
        "build_documents": ("engine.documents", "build_documents"),
        "Interview": ("engine.interview", "Interview"),
        "Question": ("engine.interview", "Question"),
        "apply_answer": ("engine.interview", "apply_answer"),
        "evaluate_partial": ("engine.interview", "evaluate_partial"),
        "forget": ("engine.interview", "forget"),
        "interview_next": ("engine.interview", "interview_next"),
        "next_questions": ("engine.interview", "next_questions"),
        "load_question_book": ("engine.interview", "load_book"),
        "parse_answer": ("engine.interview.answers", "parse_answer"),
        "load_partial_file": ("engine.interview.session", "load_partial_file"),
    },
    globals(),
)
