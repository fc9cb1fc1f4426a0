"""No page-fault pathology: the engine's per-state memory is reused, not re-faulted (issue 14).

Each durable_rules state allocates ≈12.5 KB per rule and frees it when the evaluation ends. With
glibc's default, dynamic malloc thresholds that memory went back to the kernel after every
evaluation and was faulted in again by the next: at 1,000 rules about 3,000 minor page faults
per evaluation, most of its time. ``rete.tune_allocator`` fixes the thresholds; these tests count
page faults (``getrusage``), never time.
"""

from __future__ import annotations

import datetime
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.api import RuleSet, load_rules
from engine.load.situation import normalise
from engine.run.driver import run
from engine.run.rete import NO_MALLOC_TUNING, tune_allocator
from tests.packgen import generate_pack, matching_situation

pytestmark = pytest.mark.slow  # a 1,000-rule pack and subprocesses: make test, not make test-fast

TODAY = datetime.date(2026, 11, 28)
WARM_UP, MEASURED = 20, 100
#: minor page faults per evaluation allowed on average; without the tuning it was ≈3,000
FAULTS_PER_EVALUATION = 50


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@pytest.fixture(scope="module")
def pack_1000(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    root = tmp_path_factory.mktemp("faults") / "gen1000"
    generate_pack(root, 1000)
    return load_rules([root])


@pytest.mark.skipif(not hasattr(os, "confstr"), reason="needs os.confstr to detect glibc")
def test_evaluations_of_a_1000_rule_pack_do_not_fault_pages_in(pack_1000: RuleSet) -> None:
    if not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("the tuning and this pathology are glibc's")
    for loans in (1, 3):
        situation = normalise(matching_situation(loans), TODAY)
        for _ in range(WARM_UP):
            run(pack_1000.runtime, situation)
        before = minor_faults()
        for _ in range(MEASURED):
            result = run(pack_1000.runtime, situation)
        per_evaluation = (minor_faults() - before) / MEASURED
        assert result.firings, "the pack fires on the matching situation"
        assert per_evaluation < FAULTS_PER_EVALUATION, (loans, per_evaluation)


def _tuning_in_subprocess(env: dict[str, str]) -> str:
    code = textwrap.dedent(
        """
        from engine.run.rete import tune_allocator
        print(tune_allocator(), tune_allocator())
        """
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    clean.pop(NO_MALLOC_TUNING, None)
    clean.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return done.stdout.strip()


def test_the_tuning_is_on_by_default_on_glibc_and_can_be_switched_off() -> None:
    glibc = bool(os.confstr("CS_GNU_LIBC_VERSION")) if hasattr(os, "confstr") else False
    assert _tuning_in_subprocess({}) == ("True True" if glibc else "False False")
    assert _tuning_in_subprocess({NO_MALLOC_TUNING: "1"}) == "False False"
    # a user's own malloc settings win: the engine does not override them
    assert _tuning_in_subprocess({"MALLOC_TRIM_THRESHOLD_": "1000000"}) == "False False"
    assert _tuning_in_subprocess({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=9"}) == (
        "False False"
    )


def test_the_tuning_is_decided_once_per_process() -> None:
    assert tune_allocator() is tune_allocator()
