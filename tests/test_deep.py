"""Deep programs: nothing depends on Python's recursion limit (issue 10, items 3 and 6).

The graph evaluator, the zero analysis of pruning, reverse-mode AD, the distributing
builders (``vdot``, ``bsum``), topological sort and rebuild all walk the graph with explicit
stacks. The tests run deep graphs under a recursion limit far below their depth; expected
values are computed by hand (sums of a chain) or by the independent plain-NumPy reference
of ``zoo.references`` (gd's weights).

gd ``T = 100`` on ``linear``/``tiny`` is measured in ``bench/`` (about 20 s pruned); the test
suite runs ``T = 40`` (about 3 s) under the reduced limit.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from fractions import Fraction as F

import numpy as np

from symbolic_universality.backends.scalars import EXACT, NUMERIC
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.graph import core as g
from symbolic_universality.graph.autodiff import gradients
from symbolic_universality.graph.evaluate import evaluate
from symbolic_universality.networks.mlp import parse_network
from symbolic_universality.pipeline import prepare, verify_exact
from symbolic_universality.program.tracer import trace
from symbolic_universality.symbolic.data import parse_classes
from symbolic_universality.symbolic.prover import prove_extension
from symbolic_universality.zoo.algorithms import ALGORITHMS

DEPTH = 3000  # nodes in a chain: far beyond the limit set below


@contextlib.contextmanager
def shallow_stack(extra: int = 150) -> Iterator[None]:
    """Python's recursion limit set to the current depth plus ``extra`` frames."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + extra)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _chain(start: g.Node, step: g.Node, length: int) -> g.Node:
    v = start
    for _ in range(length):
        v = g.add(v, step)
    return v


def test_a_deep_chain_evaluates_under_a_small_recursion_limit():
    p = g.param("p", (2,))
    out = g.vdot(_chain(p, p, DEPTH), p)  # vdot distributes over the whole chain
    theta = {"p": np.array([F(1, 2), F(-3)], dtype=object)}
    expected = (DEPTH + 1) * (F(1, 4) + F(9))  # <(N+1) p, p> by hand
    with shallow_stack():
        for prune in (False, True):
            (v,) = evaluate([out], EXACT, theta, prune=prune)
            assert v == expected
        (v,) = evaluate([out], NUMERIC, {"p": np.array([0.5, -3.0])}, prune=True)
        assert abs(float(v) - float(expected)) < 1e-9 * float(expected)


def test_deep_chains_over_samples_differentiate_and_reduce_without_recursion():
    x = g.data_x(2)
    p = g.param("p", (2,))
    # a batched chain x + p + p + ... : its sum over samples goes through bsum's rewrites
    loss = g.bmean(g.scale(g.vdot(_chain(x, p, DEPTH), _chain(x, p, DEPTH)), F(1, 2)))
    with shallow_stack():
        (grad,) = gradients(loss, [p]).values()
        xs = np.array([[F(1), F(2)], [F(-1), F(1, 3)]], dtype=object)
        pv = np.array([F(1, 5), F(0)], dtype=object)
        (val,) = evaluate([grad], EXACT, {"p": pv}, xs, None, prune=True)
        (rebuilt,) = g.rebuild([grad], {})
    # L = mean_i 1/2 |x_i + N p|^2, dL/dp = N mean_i (x_i + N p), N = DEPTH
    n = DEPTH
    expected = [n * sum(xs[i, j] + n * pv[j] for i in range(2)) / 2 for j in range(2)]
    assert list(val) == expected
    assert rebuilt is grad  # nothing replaced: the same graph


def test_gd_T40_on_linear_verifies_exactly_under_a_small_recursion_limit():
    job = prepare("gd", "linear", "tiny", None, T=40)
    with shallow_stack(250):
        report = verify_exact(job, prune=True)
    assert report.status == "verified", report.message
    assert report.reference_equal is True  # w = A(D) of the independent reference
    assert report.gd_steps == 41 and report.inert_after_K is True


def test_gd_from_zero_weights_is_proved_by_the_smt_backend():
    """Issue 10 item 6: gd from w0 = 0 with T = 2 used to crash z3 (term minus 0-d array)."""
    net = parse_network("linear", 2, 2)
    w0 = [0] * net.n_params
    program = trace(ALGORITHMS["gd"].traced, 2, 2, name="gd", net=net, T=2, w0=w0)
    ext = compile_extension(net, program)
    report = prove_extension(ext, n=3, classes=parse_classes("0,1,0", 3, 2), backends=["smt"],
                             algorithm="gd", options={"T": 2, "w0": w0})
    assert report.status == "verified", report.message
    assert report.backend_status("smt") == "verified"


def test_symbolic_backends_evaluate_a_deep_chain_without_recursion_in_the_evaluator():
    """The algebra (sympy) and SMT (z3) backends run the same iterative evaluator."""
    import sympy as sp
    import z3

    from symbolic_universality.backends.symbolic import SYMPY, Z3

    p = g.param("p", ())
    q = g.param("q", ())
    out = g.mul(_chain(p, q, DEPTH), q)  # (p + N q) q
    a, b = sp.symbols("a b")
    with shallow_stack():
        (v,) = evaluate([out], SYMPY, {"p": np.asarray(a, dtype=object),
                                       "q": np.asarray(b, dtype=object)}, prune=True)
    assert sp.expand(v.item() - (a + DEPTH * b) * b) == 0
    za, zb = z3.Reals("za zb")
    with shallow_stack():
        (v,) = evaluate([out], Z3, {"p": np.asarray(za, dtype=object),
                                    "q": np.asarray(zb, dtype=object)}, prune=True)
    solver = z3.Solver()
    solver.add(v.item() != (za + DEPTH * zb) * zb)
    assert solver.check() == z3.unsat


# ------------------------------------------- the scheduled evaluation and its memo


def test_scheduled_and_lazy_evaluations_give_the_same_values(monkeypatch):
    """The scheduled passes and the lazy coroutines compute the same gradients."""
    from symbolic_universality.graph import evaluate as ev
    from symbolic_universality.verify.steps import gd_step

    job = prepare("gd", "mlp:2-3-2:relu", "tiny", None, T=2)
    ext, x, y = job.extension, job.data.x, job.data.y
    states = []
    for lazy in (False, True):
        if lazy:
            def refuse(self, p, outputs):
                raise g.GraphError("scheduled evaluation switched off by the test")

            monkeypatch.setattr(ev.Evaluator, "_values_scheduled", refuse)
        theta = {k: v.copy() for k, v in ext.theta0.items()}
        path = []
        for _ in range(ext.K + 1):
            theta = gd_step(ext, theta, x, y, ext.eta, EXACT, prune=True)
            path.append(theta)
        states.append(path)
    for a, b in zip(*states, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_the_memo_of_the_last_evaluation_sees_every_change_of_a_binding():
    p = g.param("p", (2,))
    q = g.param("q", (2,))
    out = g.vdot(g.add(p, q), q)
    pv = np.array([F(1), F(2)], dtype=object)
    qv = np.array([F(3), F(-1)], dtype=object)
    (v1,) = evaluate([out], EXACT, {"p": pv, "q": qv}, prune=True)
    assert v1 == (1 + 3) * 3 + (2 - 1) * (-1)
    pv[0] = F(5)  # a new entry in the same array
    (v2,) = evaluate([out], EXACT, {"p": pv, "q": qv}, prune=True)
    assert v2 == (5 + 3) * 3 + (2 - 1) * (-1)
    fp, fq = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    (w1,) = evaluate([out], NUMERIC, {"p": fp, "q": fq}, prune=True)
    fq *= 2  # the same float array changed in place
    (w2,) = evaluate([out], NUMERIC, {"p": fp, "q": fq}, prune=True)
    assert float(w1) == 11.0 and float(w2) == (1 + 6) * 6 + (2 - 2) * (-2)
    w2[()] = 99.0  # the caller's array is its own: the memo is not touched
    (w3,) = evaluate([out], NUMERIC, {"p": fp, "q": fq}, prune=True)
    assert float(w3) == 42.0
