"""The public API of the audit and authoring tools (docs/audit.md): why and why not, decision
records and replay, lint, pack diffs, one rule's view, YAML test cases and their coverage, and
the views of their reports for ``engine.render_as`` (``LintReport``, ``Explanation``, ...).

With the façade (``engine``) this is all the command line imports (the import contract in
pyproject.toml). Each name is imported from its module on first use, so ``advise`` pays only
for what it uses (YAML test cases import the YAML parser; a cached-pack ``advise`` does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine._lazy import lazy_names

__all__ = [
    "AuditLog",
    "CaseResult",
    "CompareDocument",
    "Comparison",
    "CoverageReport",
    "DiffReport",
    "ExplainDocument",
    "Explanation",
    "LineRefused",
    "LintReport",
    "NearMiss",
    "NearMisses",
    "ReplayReport",
    "RuleReport",
    "TestReport",
    "check_documents",
    "check_questions",
    "compare",
    "coverage_report_lines",
    "diff_corpus",
    "explain",
    "find_rule",
    "json_lines",
    "lint",
    "lint_exit_code",
    "load_cases",
    "make_record",
    "measure_coverage",
    "near_misses",
    "parse_json_line",
    "read_log",
    "render_diff_text",
    "render_explain_text",
    "render_near_misses_text",
    "render_replay_text",
    "render_show_text",
    "replay",
    "replay_failed",
    "run_cases",
    "show_rule",
    "test_files",
]

if TYPE_CHECKING:
    from engine.audit.coverage import measure as measure_coverage
    from engine.audit.coverage import report_lines as coverage_report_lines
    from engine.audit.diffing import diff_corpus, render_diff_text
    from engine.audit.linting import exit_code as lint_exit_code
    from engine.audit.linting import lint
    from engine.audit.records import (
        AuditLog,
        LineRefused,
        json_lines,
        make_record,
        parse_json_line,
        read_log,
        render_replay_text,
        replay,
        replay_failed,
    )
    from engine.audit.reports import (
        CoverageReport,
        DiffReport,
        LintReport,
        ReplayReport,
        RuleReport,
        TestReport,
    )
    from engine.audit.ruleview import find_rule, render_show_text, show_rule
    from engine.audit.testing import CaseResult, load_cases, run_cases, test_files
    from engine.documents import check_documents
    from engine.interview import check_book as check_questions
    from engine.present import Comparison, Explanation, NearMisses
    from engine.whynot import (
        CompareDocument,
        ExplainDocument,
        NearMiss,
        compare,
        explain,
        near_misses,
        render_explain_text,
        render_near_misses_text,
    )

_WHERE = {
    "engine.audit.coverage": {
        "measure_coverage": "measure",
        "coverage_report_lines": "report_lines",
    },
    "engine.audit.diffing": {"diff_corpus": "diff_corpus", "render_diff_text": "render_diff_text"},
    "engine.documents": {"check_documents": "check_documents"},
    "engine.interview": {"check_questions": "check_book"},
    "engine.audit.linting": {"lint": "lint", "lint_exit_code": "exit_code"},
    "engine.present": {name: name for name in ("Comparison", "Explanation", "NearMisses")},
    "engine.audit.reports": {
        name: name
        for name in (
            "CoverageReport",
            "DiffReport",
            "LintReport",
            "ReplayReport",
            "RuleReport",
            "TestReport",
        )
    },
    "engine.audit.records": {
        name: name
        for name in (
            "AuditLog",
            "LineRefused",
            "json_lines",
            "make_record",
            "parse_json_line",
            "read_log",
            "render_replay_text",
            "replay",
            "replay_failed",
        )
    },
    "engine.audit.ruleview": {n: n for n in ("find_rule", "render_show_text", "show_rule")},
    "engine.audit.testing": {n: n for n in ("CaseResult", "load_cases", "run_cases", "test_files")},
    "engine.whynot": {
        n: n
        for n in (
            "CompareDocument",
            "ExplainDocument",
            "NearMiss",
            "compare",
            "explain",
            "near_misses",
            "render_explain_text",
            "render_near_misses_text",
        )
    },
}

__getattr__ = lazy_names(
    __name__,
    {name: (module, attr) for module, names in _WHERE.items() for name, attr in names.items()},
    globals(),
)
