"""The tracing frontend: reads by label dependence, ASAP depth (T4), refusals."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.backends.scalars import EXACT, NUMERIC
from symbolic_universality.networks.mlp import MLP
from symbolic_universality.program import lang
from symbolic_universality.program.interpreter import run_program
from symbolic_universality.program.tracer import TraceError, label_dependence, trace
from symbolic_universality.zoo.datasets import load_dataset


def _kinds(prog):
    return [(i.target.name, i.kind, i.step) for i in prog.instructions]


def test_reads_are_classified_by_label_dependence():
    def algo(data):
        a = data.mean(lambda x: lang.outer(x, x), name="a")              # no y
        b = data.mean(lambda x, y: lang.outer(y, x), name="b")           # linear in y
        c = data.mean(lambda x, y: y - a @ x, name="c")  # affine
        e = data.mean(lambda x, y: lang.relu(y - 1) * x[0], name="e")     # nonlinear: expansion
        return lang.concat([a + b, c, e])

    prog = trace(algo, 2, 2)
    assert _kinds(prog) == [
        ("a", "read_unlabelled", 0), ("b", "read_labelled", 0),
        ("c_u", "read_unlabelled", 1), ("c_l", "read_labelled", 1),
        ("e", "read_labelled", 0), ("w", "output", 2),
    ]
    assert prog.depth == 3


def test_interpreter_equals_direct_means_on_data():
    # independent: the same means computed with plain Python loops over the samples
    ds = load_dataset("iris", samples=6)

    def algo(data):
        m = data.mean(lambda x, y: lang.relu(y * x[0] - x[1]) + y, name="m")   # nonlinear in y
        return m * 2

    prog = trace(algo, ds.d, ds.c)
    got = run_program(prog, ds.x, ds.y, EXACT)["w"]
    expected = []
    for cls in range(ds.c):
        acc = F(0)
        for i in range(ds.n):
            yi = ds.y[i][cls]
            acc += max(F(0), yi * ds.x[i][0] - ds.x[i][1]) + yi
        expected.append(2 * acc / ds.n)
    assert got.tolist() == expected
    xf, yf = ds.as_float()
    got_f = run_program(prog, xf, yf, NUMERIC)["w"]
    assert np.allclose(got_f, [float(v) for v in expected], rtol=1e-12)


def test_depth_not_length_T4():
    # ten independent reads and a long chain of computes: depth 2, not 11
    def algo(data):
        rs = [data.mean(lambda x, k=k: x * k) for k in range(1, 11)]
        acc = rs[0]
        for r in rs[1:]:
            acc = acc * 2 + r
        return acc

    prog = trace(algo, 3, 2)
    assert len(prog.instructions) == 11
    assert prog.depth == 2

    def chain(data):
        v = data.mean(lambda x: x)
        for _ in range(3):
            v = data.mean(lambda x, v=v: x * lang.dot(v, x))
        return v

    assert trace(chain, 3, 2).depth == 5


@pytest.mark.parametrize(
    "body, fragment",
    [
        (lambda data: data[0], "single sample"),
        (lambda data: len(data), "len(data)"),
        (lambda data: [s for s in data], "iterating"),
        (lambda data: data.x, "data.x"),
    ],
)
def test_refuses_what_gd_cannot_see(body, fragment):
    with pytest.raises(TraceError, match="empirical distribution") as info:
        trace(body, 2, 2)
    assert fragment in str(info.value)


def test_refuses_branching_and_leaks():
    def branch(data):
        m = data.mean(lambda x: x)
        if m[0]:
            return m
        return m

    with pytest.raises(TraceError, match="where"):
        trace(branch, 2, 2)

    leaked = {}

    def leak(data):
        data.mean(lambda x: leaked.setdefault("x", x) * 1)
        return leaked["x"]

    with pytest.raises(TraceError, match="per-sample value"):
        trace(leak, 2, 2)

    def compare(data):
        m = data.mean(lambda x: x)
        return m if m > 0 else m

    with pytest.raises(TraceError, match="step"):
        trace(compare, 2, 2)


def test_label_dependence_kinds():
    from symbolic_universality.graph import core as g

    x, y = g.data_x(2), g.data_y(2)
    assert label_dependence(g.outer(x, x), y) == "free"
    assert label_dependence(g.outer(y, x), y) == "linear"
    assert label_dependence(g.add(g.outer(y, x), g.outer(x, x)), y) == "affine"
    assert label_dependence(g.mul(y, y), y) == "nonlinear"
    assert label_dependence(g.unary("relu", y), y) == "nonlinear"


def test_gd_program_reads_per_iteration():
    net = MLP((2, 3, 2), "relu")
    from symbolic_universality.zoo.algorithms import gd

    prog = trace(gd, 2, 2, net=net, T=2)
    # each GD step of the base network: an unlabelled read J^T f and a labelled read J^T y
    assert _kinds(prog) == [
        ("grad0_u", "read_unlabelled", 0), ("grad0_l", "read_labelled", 0),
        ("grad1_u", "read_unlabelled", 1), ("grad1_l", "read_labelled", 1),
        ("w", "output", 2),
    ]
