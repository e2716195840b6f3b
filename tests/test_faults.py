"""The seeded-fault catalogue (issue 11, item 4): each fault is caught by its NAMED check.

A fault that the expected check does not catch, or that another check catches first, fails
here; so does a negative control that no longer comes out as pinned (a checker or prover
fault would then go unseen). Equivalent mutants are asserted to stay silent.
"""

from __future__ import annotations

import pytest

from symbolic_universality.extension import compiler
from symbolic_universality.verify import faults

pytest.importorskip("torch")  # the oracle's faults need it (a failure under CI=true)

NAMES = [f.name for f in faults.CATALOGUE]


@pytest.mark.parametrize("name", NAMES)
def test_fault_is_caught_by_its_named_check(name: str) -> None:
    res = faults.run_fault(name)
    assert res.caught_by == res.expected, (name, res)
    assert res.ok


@pytest.mark.parametrize("control", list(faults.CONTROLS))
def test_negative_controls_are_pinned(control: str) -> None:
    """Without any fault, each negative control fails exactly the pinned check (else the
    checker/prover faults that rely on it would be caught vacuously)."""
    assert faults.run_control(control) == faults.CONTROLS[control]


def test_catalogue_size_and_stages() -> None:
    assert len(faults.CATALOGUE) >= 25
    assert len(set(NAMES)) == len(NAMES)
    stages = {f.stage for f in faults.CATALOGUE}
    assert {"compiler", "pipeline", "ad", "evaluator", "tracer", "checker", "prover"} <= stages
    for f in faults.CATALOGUE:
        assert f.description and f.expected
        if f.equivalent:
            assert "EQUIVALENT MUTANT" in f.description and f.expected == "equivalent"


def test_compiler_faults_are_the_catalogue_compiler_stage() -> None:
    stage = {f.name for f in faults.CATALOGUE if f.stage == "compiler"}
    assert set(compiler.ALL_FAULTS) == stage and set(compiler.FAULTS) <= stage


def test_describe_catalogue_rows() -> None:
    rows = faults.describe_catalogue()
    assert [r["name"] for r in rows] == NAMES
    assert all(set(r) == {"name", "stage", "description", "caught_by", "equivalent"}
               for r in rows)


def test_a_fault_leaves_no_trace_after_its_block() -> None:
    before = compiler.GATE_A, compiler.gate_unit
    with faults.inject("gate_on_kinks"):
        assert compiler.GATE_A == 1
    with faults.inject("unsaturated_gate"):
        assert compiler.gate_unit is not before[1]
    assert (compiler.GATE_A, compiler.gate_unit) == before


def test_unknown_fault_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no fault"):
        faults.run_fault("nope")


def test_ci_makes_a_missing_cross_check_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    conftest = sys.modules.get("conftest") or sys.modules.get("tests.conftest")
    assert conftest is not None and hasattr(conftest, "_strict_importorskip")
    monkeypatch.setitem(sys.modules, "cvc5", None)  # import cvc5 now raises ImportError
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cross-check dependency 'cvc5'"):
        conftest._strict_importorskip("cvc5")
    assert "cvc5" in conftest.missing_cross_checks()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        conftest._strict_importorskip("cvc5")
