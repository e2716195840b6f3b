"""The compiled extension: T5, T6, the three algorithms, negative controls."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.graph import core as g
from symbolic_universality.pipeline import compile_algorithm, prepare, verify_exact
from symbolic_universality.verify.steps import check_exact
from symbolic_universality.zoo.datasets import load_dataset


def test_every_coefficient_is_a_trainable_parameter_T5():
    for args in (("worked", "linear-nobias", "tiny"), ("ncm", "linear", "tiny"),
                 ("gd", "mlp:2-3-2:relu", "tiny")):
        ext = prepare(*args).extension
        outputs = [ext.f_main, *ext.aux]
        assert g.leaves(outputs, "const") == []
        assert g.leaves(outputs, "reg") == []
        params = {n.attrs["name"] for n in g.leaves(outputs, "param")}
        assert params <= set(ext.shapes)
        # every head constant, gate coefficient and program constant is a parameter
        assert any(n.startswith("coef.") for n in ext.shapes) or args[0] == "worked"
        assert {f"gate.g{k}.a" for k in range(ext.K)} <= params


def test_T5_is_a_checked_property_of_every_run():
    from symbolic_universality.verify.properties import check_trainable

    for args in (("worked", "linear-nobias", "tiny"), ("gd", "mlp:2-3-2:relu", "tiny")):
        ext = prepare(*args).extension
        assert check_trainable(ext).status == "verified"
    # the traced gradient's fixed factor 1/2 (squared loss) became a trainable coefficient
    gd = prepare("gd", "mlp:2-3-2:relu", "tiny").extension
    assert g.topological([gd.f_main, *gd.aux]) and not [
        n for n in g.topological([gd.f_main, *gd.aux]) if n.op == "scale"]
    assert any(n.startswith("coef.factor") for n in gd.shapes)


def test_T6_rebuild_from_two_data_sets_is_identical():
    from symbolic_universality.verify.properties import check_data_independence

    job = prepare("ncm", "linear", "wine", samples=12)
    res = check_data_independence(lambda ds: compile_algorithm("ncm", job.net),
                                  load_dataset("wine", 6), load_dataset("wine", 15))
    assert res.status == "verified", res.detail


def test_gates_on_the_kinks_of_sat_are_refuted_by_verify():
    rep = _faulty("gate_on_kinks")
    assert rep.status == "refuted" and rep.first_failure == "kink margin"


def test_extension_does_not_depend_on_the_data_T6():
    a = prepare("perceptron", "linear", "iris", samples=9, T=2).extension
    b = prepare("perceptron", "linear", "iris", samples=30, T=2).extension
    assert list(a.shapes.items()) == list(b.shapes.items())
    for name in a.shapes:
        assert np.array_equal(a.theta0[name], b.theta0[name])
    # one extension, compiled once without data, verifies on two different data sets
    job = prepare("ncm", "linear", "wine", samples=12)
    ext = compile_algorithm("ncm", job.net)
    for samples in (6, 15):
        ds = load_dataset("wine", samples)
        from symbolic_universality.zoo.references import reference_ncm

        rep = check_exact(ext, ds.x, ds.y, references={"numpy reference": reference_ncm(ds.x,
                                                                                       ds.y)})
        assert rep.status == "verified", rep.message
        assert rep.reference_results == {"numpy reference": True}


@pytest.mark.parametrize(
    "algorithm, network, dataset, samples, options",
    [
        ("gd", "mlp:4-5-3:relu", "iris", 30, {"T": 3}),
        ("perceptron", "linear", "breast_cancer", 40, {}),
        ("ncm", "linear", "wine", 30, {}),
    ],
)
def test_issue_instances_verify_and_match_reference(algorithm, network, dataset, samples,
                                                    options):
    job = prepare(algorithm, network, dataset, samples, **options)
    report = verify_exact(job)
    assert report.status == "verified", report.message
    assert report.reference_equal is True
    assert report.final_weights_equal and report.forward_output_equal and report.aux_zero
    assert report.gd_steps == job.extension.K
    assert [s.step for s in report.steps] == list(range(job.extension.K + 1))
    assert all(p.status in ("verified", "skipped") for p in report.properties), report.properties


def test_ncm_with_a_missing_class_is_a_clear_error():
    from symbolic_universality.backends.scalars import BackendError

    job = prepare("ncm", "linear", "tiny")
    x, y = job.data.x[[0, 2]], job.data.y[[0, 2]]  # only class 0 left
    with pytest.raises(BackendError, match="every class"):
        check_exact(job.extension, x, y)


# ------------------------------------------------------------------ negative controls


def _faulty(fault: str):
    job = prepare("worked", "linear-nobias", "tiny")
    ext = compile_extension(job.net, job.extension.program, fault=fault)
    return check_exact(ext, job.data.x, job.data.y,
                       references={"numpy reference": job.reference_weights()})


def test_register_initialised_nonzero_is_refuted_at_its_write():
    rep = _faulty("register_nonzero")
    assert rep.status == "refuted"
    assert rep.mismatch.step == 0 and rep.mismatch.parameter == "reg.R1"
    # GD adds the read to the stale 1: 1 + eta * (-c) * 11/3 * ... = 1 + ... != 11/3
    assert rep.mismatch.expected == "11/3"


def test_gate_margin_below_one_is_refuted_at_step_zero():
    rep = _faulty("gate_margin")
    assert rep.status == "refuted" and rep.mismatch.step == 0
    wrong = set(rep.steps[-1].mismatched)
    # a half-open gate writes the clock at half strength and is not flat: it moves itself
    assert {"clock.z1", "gate.g0.a", "gate.g0.b"} <= wrong


def test_unsaturated_gate_is_refuted_at_step_zero_in_w():
    rep = _faulty("unsaturated_gate")
    assert rep.status == "refuted"
    assert (rep.mismatch.step, rep.mismatch.parameter) == (0, "w")


def test_head_constant_outside_the_gate_is_refuted():
    rep = _faulty("ungated_coefficient")
    assert rep.status == "refuted"
    assert (rep.mismatch.step, rep.mismatch.parameter) == (0, "head.w.c")
    assert rep.mismatch.got == "-3"  # (1 - eta) * (-1/eta): it moved at step 0, too early


def test_wrong_step_size_is_refuted_at_the_clock():
    job = prepare("worked", "linear-nobias", "tiny")
    rep = verify_exact(job, eta=F(1, 5))
    assert rep.status == "refuted"
    assert (rep.mismatch.step, rep.mismatch.parameter) == (0, "clock.z1")
    assert rep.mismatch.got == "4/5"  # -eta c = (1/5)(4)


def test_unknown_fault_is_refused():
    job = prepare("worked", "linear-nobias", "tiny")
    with pytest.raises(ValueError, match="unknown fault"):
        compile_extension(job.net, job.extension.program, fault="nope")
