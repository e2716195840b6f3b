"""construction.md section 5, number by number (the expected values are the spec's, by hand)."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.backends.scalars import EXACT
from symbolic_universality.pipeline import prepare, verify_exact
from symbolic_universality.program.interpreter import run_program
from symbolic_universality.verify.steps import gd_step


@pytest.fixture(scope="module")
def job():
    return prepare("worked", "linear-nobias", "tiny")


def test_program_shape_and_depth(job):
    prog = job.extension.program
    kinds = [(i.target.name, i.kind, i.step) for i in prog.instructions]
    assert kinds == [("R1", "read_unlabelled", 0), ("R2", "read_labelled", 0), ("w", "output", 1)]
    assert job.extension.K == 2
    assert job.extension.eta == F(1, 4)


def test_true_gd_trajectory_matches_the_spec(job):
    ext = job.extension
    x, y = job.data.x, job.data.y
    theta = {n: v.copy() for n, v in ext.theta0.items()}
    # step 0: R1 = mean x x^T, flags 1 1 0
    new = gd_step(ext, theta, x, y, ext.eta)
    assert new["reg.R1"].tolist() == [[F(11, 3), F(-5, 3)], [F(-5, 3), F(3)]]
    # R2 = mean y x^T = (1/3)[(1,2)+(3,-2); (-1,1)] has one zero entry
    assert new["reg.R2"].tolist() == [[F(4, 3), F(0)], [F(-1, 3), F(1, 3)]]
    assert [new[f"clock.z{k}"] for k in range(3)] == [1, 1, 0]
    moved0 = {n for n in ext.shapes if np.any(new[n] != theta[n])}
    assert moved0 == {"clock.z1", "reg.R1", "reg.R2", "head.R1.c", "head.clock0.c"}
    assert int(np.sum(new["reg.R2"] != 0)) == 3
    theta = new
    # step 1: W = A(D), flags 1 1 1
    new = gd_step(ext, theta, x, y, ext.eta)
    assert new["w"].tolist() == [F(49, 225), F(1, 45), F(-11, 225), F(23, 450)]
    assert [new[f"clock.z{k}"] for k in range(3)] == [1, 1, 1]
    moved1 = {n for n in ext.shapes if np.any(new[n] != theta[n])}
    assert moved1 == {"w", "clock.z2", "head.w.c", "head.clock1.c"}
    theta = new
    # step 2 moves only W: one plain GD step of f with eta = 1/4
    new = gd_step(ext, theta, x, y, ext.eta)
    assert new["w"].tolist() == [F(487, 1350), F(13, 135), F(-119, 1800), F(409, 5400)]
    assert {n for n in ext.shapes if np.any(new[n] != theta[n])} == {"w"}


def test_interpreter_gives_A_of_D(job):
    regs = run_program(job.extension.program, job.data.x, job.data.y, EXACT)
    assert regs["w"].tolist() == [F(49, 225), F(1, 45), F(-11, 225), F(23, 450)]


def test_checker_verifies_with_pruning_and_without(job):
    for prune in (False, True):
        report = verify_exact(job, prune=prune)
        assert report.status == "verified", report.message
        assert report.final_weights_equal and report.forward_output_equal and report.aux_zero
        assert report.inert_after_K and report.reference_equal
        assert [s.step for s in report.steps] == [0, 1, 2]
