"""T1..T6 as checks of every run, the moved-set prediction, kink margins (issue 11, items 1, 2).

Expected values are derived by hand from construction.md (section 5's worked example), not
copied from the code's output.
"""

from __future__ import annotations

import types
import warnings
from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.graph import core as g
from symbolic_universality.pipeline import compile_algorithm, prepare
from symbolic_universality.verify import kinks, properties
from symbolic_universality.verify.certificate import certificate
from symbolic_universality.verify.faults import inject
from symbolic_universality.verify.steps import check_exact
from symbolic_universality.zoo.datasets import load_dataset

NAMES = ["T1", "T2", "T3", "T4", "T5", "T6", "trajectory", "moved set", "kink margin", "oracle"]


@pytest.fixture(scope="module")
def worked():
    return prepare("worked", "linear-nobias", "tiny")


def _check(job, **kw):
    kw.setdefault("references", {"numpy reference": job.reference_weights()})
    kw.setdefault("oracle", "off")
    return check_exact(job.extension, job.data.x, job.data.y, held_out=job.held_out, **kw)


def test_every_property_is_reported_by_name(worked):
    rep = _check(worked)
    assert rep.status == "verified", rep.message
    assert [p.name for p in rep.properties] == NAMES
    st = {p.name: p.status for p in rep.properties}
    assert all(st[n] == "verified" for n in ("T1", "T2", "T3", "T4", "T5", "trajectory",
                                            "moved set", "kink margin"))
    assert st["T6"] == "skipped" and st["oracle"] == "skipped"
    cert = certificate(rep)
    assert [p["name"] for p in cert["properties"]] == NAMES
    assert cert["reference_results"] == {"numpy reference": True}
    assert cert["first_failure"] == ""
    assert all("kink" in s and "moved_set" in s and "oracle" in s for s in cert["steps"])


def test_depth_is_recomputed_from_the_bodies_T4(worked):
    # worked: R1, R2 read at step 0 (no register inputs), W from both: depth 2
    assert properties.program_depth(worked.extension.program) == 2
    ncm = compile_algorithm("ncm", prepare("ncm", "linear", "tiny").net)
    # ncm: count and sums (reads), then the output from both: depth 2
    assert properties.program_depth(ncm.program) == 2
    assert properties.check_depth(worked.extension).status == "verified"


def test_T5_walks_the_graph_and_finds_a_fixed_constant(worked):
    ext = compile_extension(worked.net, worked.extension.program)
    assert properties.check_trainable(ext).status == "verified"
    ext.f_main = g.add(ext.f_main, g.mul(g.const(F(1, 3)), ext.f_main))  # a fixed 1/3
    p = properties.check_trainable(ext)
    assert p.status == "refuted" and "fixed constant 1/3" in p.detail
    rep = check_exact(ext, worked.data.x, worked.data.y, oracle="off", kinks=False)
    assert rep.status == "refuted" and rep.first_failure == "T5"
    assert rep.message.startswith("refuted: T5:")


def test_T6_data_independence():
    net = prepare("worked", "linear-nobias", "iris", 6).net
    a, b = load_dataset("iris", 6), load_dataset("iris", 9)
    ok = properties.check_data_independence(lambda ds: compile_algorithm("worked", net), a, b)
    assert ok.status == "verified", ok.detail
    assert properties.check_data_independence(lambda ds: None, a, a).status == "skipped"

    def leaky(ds):
        ext = compile_algorithm("worked", net)
        return compile_extension(net, ext.program, eta=F(1, 4 + ds.n % 2))

    bad = properties.check_data_independence(leaky, a, b)
    assert bad.status == "refuted" and "eta differs" in bad.detail
    rep = check_exact(leaky(a), a.x, a.y, data_independence=bad, oracle="off")
    assert rep.status == "refuted" and rep.first_failure == "T6"


def test_moved_set_is_predicted_from_the_program_and_layout(worked):
    """construction.md section 5: at step 0 exactly z_1, the entries of R1, the nonzero entries
    of R2 = mean y x^T (rows (4/3, 0) and (-1/3, 1/3): entry [0, 1] is zero) and the constants
    c of the unlabelled-read and clock heads move; at step 1 exactly z_2, W and the constants c
    of the output and clock heads."""
    from symbolic_universality.backends.scalars import EXACT
    from symbolic_universality.program.interpreter import run_program

    ext = worked.extension
    regs = run_program(ext.program, worked.data.x, worked.data.y, EXACT)
    step0 = properties.predicted_moved(ext, 0, regs)
    all4 = {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert step0 == {"clock.z1": {()}, "reg.R1": all4, "reg.R2": {(0, 0), (1, 0), (1, 1)},
                     "head.R1.c": {()}, "head.clock0.c": {()}}
    step1 = properties.predicted_moved(ext, 1, regs)
    assert step1 == {"clock.z2": {()}, "w": {(0,), (1,), (2,), (3,)}, "head.w.c": {()},
                     "head.clock1.c": {()}}


def test_references_each_recorded_and_all_required_for_T1(worked):
    good = worked.reference_weights()
    rep = _check(worked, references={"numpy reference": good, "concrete run": good + 1})
    assert rep.reference_results == {"numpy reference": True, "concrete run": False}
    assert rep.reference_equal is False
    assert rep.status == "refuted" and rep.first_failure == "T1"
    assert "concrete run" in rep.message and rep.message.startswith("refuted: T1:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = check_exact(worked.extension, worked.data.x, worked.data.y, reference_w=good,
                          oracle="off")
    assert old.reference_results == {"numpy reference": True} and old.reference_equal is True
    none = check_exact(worked.extension, worked.data.x, worked.data.y, oracle="off")
    assert none.reference_equal is None and none.status == "verified"


def test_a_refutation_names_the_first_failed_check_not_what_passed(worked):
    with inject("gate_margin"):
        rep = _check(prepare("worked", "linear-nobias", "tiny"))
    assert rep.first_failure == "step 0 clock.z0"
    # gate 0 = sat((z0 - z1) - 1/2) = 1/2 at step 0; its clock head h = 1/2 (c + 0) = -2,
    # dL/dz0 = h (c + z1 e) dg/dz0 = (-2)(-4)(1) + read heads: z0 moves, predicted 1
    assert rep.message.startswith("refuted: step 0: clock.z0 expected 1, got ")
    for word in ("every step matches", "registers match", "verified"):
        assert word not in rep.message


def test_gates_on_the_kinks_are_refuted_by_the_kink_margin(worked):
    rep = _check(worked)
    # flat-gates lemma: arguments -2 and 2, so the smallest distance outside [0, 1] is 1
    assert [s.min_gate_margin for s in rep.steps] == ["1", "1", "1"]
    with inject("gate_on_kinks"):
        job = prepare("worked", "linear-nobias", "tiny")
        bad = _check(job)
        hidden = _check(job, kinks=False)
    assert bad.status == "refuted" and bad.first_failure == "kink margin"
    assert bad.steps[0].kink == "refuted" and bad.steps[0].min_gate_margin == "0"
    assert "below the flat-gates margin 1" in bad.message
    # without the kink check the exact checker alone is fooled (sat'(0) = sat'(1) = 0)
    assert hidden.status == "verified"


def test_a_live_unit_on_a_kink_is_unknown_a_dead_one_is_not():
    p, q = g.param("p", ()), g.param("q", ())
    fake = types.SimpleNamespace(f_main=g.mul(p, g.unary("relu", q)), aux=[], K=1)
    x = np.zeros((1, 1), dtype=object)
    live = kinks.check_kinks(fake, {"p": np.array(F(1), dtype=object),
                                    "q": np.array(F(0), dtype=object)}, x, 0)
    assert live.status == "unknown" and live.at_kink == 1
    dead = kinks.check_kinks(fake, {"p": np.array(F(0), dtype=object),
                                    "q": np.array(F(0), dtype=object)}, x, 0)
    assert dead.status == "verified"  # multiplied by an exact zero: no convention used


def test_certificate_is_json_with_the_new_fields(worked):
    import json

    with inject("fixed_gate_coefficient"):
        rep = _check(prepare("worked", "linear-nobias", "tiny"))
    cert = json.loads(json.dumps(certificate(rep)))
    assert cert["status"] == "refuted" and cert["first_failure"] == "T5"
    t5 = next(p for p in cert["properties"] if p["name"] == "T5")
    assert t5["status"] == "refuted" and "fixed factor 4" in t5["detail"]
    assert set(cert["oracle"]) == {"engines", "status", "detail", "mode"}
