"""Renderers of the audit and authoring reports (registered in ``registry.TABLE``): explain,
compare, lint, diff, coverage, test results, replay and one rule's view.

The reports are for the people who write rule packs, in English whatever locale is asked for.
Text comes from each tool's own renderer (``engine.whynot``, ``engine.diffing``,
``engine.records``, ``engine.ruleview``, ``engine.coverage``), unchanged; JSON is each
document's data as ``render_json`` writes it.
"""

from __future__ import annotations

from typing import Any

from engine.coverage import report_lines
from engine.diffing import render_diff_text
from engine.present.kinds import (
    Comparison,
    CoverageReport,
    DiffReport,
    Explanation,
    LintReport,
    ReplayReport,
    RuleReport,
    TestReport,
)
from engine.records import render_replay_text
from engine.render import render_json
from engine.ruleview import render_show_text
from engine.whynot import render_compare_text, render_explain_text


def as_json(view: Explanation | Comparison | DiffReport | RuleReport, locale: str | None) -> str:
    """A report that is JSON-ready data already."""
    return render_json(dict(view.data))


def explain_text(view: Explanation, locale: str | None) -> str:
    return render_explain_text(dict(view.data))


def compare_text(view: Comparison, locale: str | None) -> str:
    return render_compare_text(dict(view.data))


def lint_text(report: LintReport, locale: str | None) -> str:
    errors = sum(1 for f in report.findings if f.severity == "error")
    lines = [str(f) for f in report.findings]
    lines.append(f"{report.pack}: {errors} errors, {len(report.findings) - errors} warnings")
    return "\n".join(lines) + "\n"


def lint_json(report: LintReport, locale: str | None) -> str:
    return render_json({"findings": [f.as_dict() for f in report.findings]})


def diff_text(report: DiffReport, locale: str | None) -> str:
    return render_diff_text(report.data)


def coverage_text(report: CoverageReport, locale: str | None) -> str:
    lines = report_lines(report.coverage, report.min_rules, report.min_conditions)[0]
    return "\n".join(lines) + "\n"


def _coverage_doc(report: CoverageReport) -> dict[str, Any]:
    return {**report.coverage.as_dict(), "below_minimum": report.below}


def coverage_json(report: CoverageReport, locale: str | None) -> str:
    return render_json(_coverage_doc(report))


def tests_text(report: TestReport, locale: str | None) -> str:
    """Failures (and with ``verbose`` passes) one per line, the count, then the coverage."""
    lines = []
    for result in report.results:
        if result.passed:
            if report.verbose:
                lines.append(f"ok    {result.case.location.short}: {result.case.name}")
            continue
        lines.append(f"FAIL  {result.case.location.short}: {result.case.name}")
        lines += [f"      {failure}" for failure in result.failures]
    lines.append(f"{len(report.results) - report.failed} passed, {report.failed} failed")
    text = "\n".join(lines) + "\n"
    return text if report.coverage is None else text + coverage_text(report.coverage, locale)


def tests_json(report: TestReport, locale: str | None) -> str:
    doc: dict[str, Any] = {
        "passed": len(report.results) - report.failed,
        "failed": report.failed,
        "cases": [
            {
                "name": r.case.name,
                "location": r.case.location.short,
                "passed": r.passed,
                "failures": list(r.failures),
            }
            for r in report.results
        ],
    }
    if report.coverage is not None:
        doc["coverage"] = _coverage_doc(report.coverage)
    return render_json(doc)


def replay_text(report: ReplayReport, locale: str | None) -> str:
    return render_replay_text(list(report.results), report.ruleset, list(report.damaged))


def replay_json(report: ReplayReport, locale: str | None) -> str:
    ruleset = report.ruleset
    return render_json(
        {
            "ruleset": {"name": ruleset.name, "version": ruleset.version, "digest": ruleset.digest},
            "records": [r.as_dict() for r in report.results],
            "damaged": [d.as_dict() for d in report.damaged],
        }
    )


def rule_text(report: RuleReport, locale: str | None) -> str:
    return render_show_text(dict(report.data))
