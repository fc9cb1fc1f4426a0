"""The audit and authoring reports as documents of the presentation layer, and their renderers
(registered by name in ``engine.present.registry.TABLE``): lint, diff, coverage, test results,
replay and one rule's view.

They live in the audit package because they read its types; the registry names the renderers
as strings, so nothing below imports this package. The reports are for the people who write
rule packs, in English whatever locale is asked for. Text comes from each tool's own renderer,
unchanged; JSON is each report's data as ``render_json`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from engine.audit.coverage import report_lines
from engine.audit.diffing import render_diff_text
from engine.audit.records import render_replay_text
from engine.audit.ruleview import render_show_text
from engine.present.rendering import render_json

if TYPE_CHECKING:
    from engine.audit.coverage import Coverage
    from engine.audit.linting import Finding
    from engine.audit.records import Damage, ReplayResult
    from engine.audit.testing import CaseResult
    from engine.run.ruleset import RuleSet


@dataclass(frozen=True)
class LintReport:
    kind: ClassVar[str] = "lint"
    pack: str  #: the pack's name, for the summary line
    findings: Sequence[Finding]


@dataclass(frozen=True)
class DiffReport:
    """``engine.audit.diffing.diff_corpus``'s report."""

    kind: ClassVar[str] = "diff"
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CoverageReport:
    """Rule and condition coverage, and the minimums asked for (``--min-coverage`` ...)."""

    kind: ClassVar[str] = "coverage"
    coverage: Coverage
    min_rules: float | None = None
    min_conditions: float | None = None

    @property
    def below(self) -> bool:
        """Whether a coverage is below its minimum."""
        return report_lines(self.coverage, self.min_rules, self.min_conditions)[1]


@dataclass(frozen=True)
class TestReport:
    """The results of a pack's YAML test cases, with their coverage when asked for."""

    __test__: ClassVar[bool] = False  # not a pytest test class
    kind: ClassVar[str] = "tests"
    results: Sequence[CaseResult]
    verbose: bool = False  #: text: list passing cases too
    coverage: CoverageReport | None = None

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.results)


@dataclass(frozen=True)
class ReplayReport:
    kind: ClassVar[str] = "replay"
    ruleset: RuleSet
    results: Sequence[ReplayResult]
    damaged: Sequence[Damage] = ()


@dataclass(frozen=True)
class RuleReport:
    """One rule as ``rules show`` sees it (``engine.audit.ruleview.show_rule``)."""

    kind: ClassVar[str] = "rule"
    data: Mapping[str, Any]


def as_json(view: DiffReport | RuleReport, locale: str | None) -> str:
    """A report that is JSON-ready data already."""
    return render_json(dict(view.data))


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
