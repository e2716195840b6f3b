"""The one reverse-mode differentiation against independent derivatives.

Expected values come from sympy.diff of the same function written directly in
sympy (not through the graph), and from central finite differences in float64.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import sympy as sp

from symbolic_universality.backends.scalars import EXACT, NUMERIC
from symbolic_universality.graph import core as g
from symbolic_universality.graph.autodiff import gradients
from symbolic_universality.graph.evaluate import evaluate
from symbolic_universality.pipeline import prepare


def test_matrix_expression_against_sympy_diff():
    # L = mean_i 1/2 | relu(A x_i + b) @ C - y_i |^2 + <A, A> * s^3
    A, b, C, s = g.param("A", (3, 2)), g.param("b", (3,)), g.param("C", (3, 2)), g.param("s", ())
    x, y = g.data_x(2), g.data_y(2)
    h = g.unary("relu", g.add(g.matmul(A, x), b))
    r = g.sub(g.matmul(h, C), y)
    loss = g.add(g.bmean(g.scale(g.vdot(r, r), F(1, 2))),
                 g.mul(g.vdot(A, A), g.power(s, 3)))
    grads = gradients(loss, [A, b, C, s])
    rng = np.random.default_rng(3)
    vals = {k: np.array([[F(int(v), 4) for v in row] for row in rng.integers(-5, 6, size=sh)],
                        dtype=object) if len(sh) == 2 else
            np.array([F(int(v), 3) for v in rng.integers(-5, 6, size=sh)], dtype=object)
            for k, sh in (("A", (3, 2)), ("C", (3, 2)), ("b", (3,)))}
    vals["s"] = np.array(F(2, 3), dtype=object)
    X = np.array([[F(1), F(2)], [F(-3, 2), F(1, 3)], [F(2), F(-1)]], dtype=object)
    Y = np.array([[F(1), F(0)], [F(0), F(1)], [F(1), F(0)]], dtype=object)
    got = evaluate([grads[n] for n in (A, b, C, s)], EXACT, vals, X, Y)

    # independent: the same loss written in sympy, differentiated by sympy
    sA = sp.Matrix(3, 2, lambda i, j: sp.Symbol(f"A{i}{j}"))
    sb = sp.Matrix(3, 1, lambda i, j: sp.Symbol(f"b{i}"))
    sC = sp.Matrix(3, 2, lambda i, j: sp.Symbol(f"C{i}{j}"))
    ss = sp.Symbol("s")
    subs = {sA[i, j]: sp.Rational(vals["A"][i, j]) for i in range(3) for j in range(2)}
    subs |= {sC[i, j]: sp.Rational(vals["C"][i, j]) for i in range(3) for j in range(2)}
    subs |= {sb[i]: sp.Rational(vals["b"][i]) for i in range(3)}
    subs[ss] = sp.Rational(2, 3)
    total = 0
    for i in range(3):
        xi = sp.Matrix([sp.Rational(v) for v in X[i]])
        pre = sA * xi + sb
        # relu with the toolkit's convention; at the chosen point no pre-activation is 0
        hv = sp.Matrix([p if p.subs(subs) > 0 else 0 for p in pre])
        out = (hv.T * sC).T - sp.Matrix([sp.Rational(v) for v in Y[i]])
        total += sp.Rational(1, 2) * (out.T * out)[0]
    loss_s = total / 3 + sum(a * a for a in sA) * ss**3
    for name, syms, val in (("A", sA, got[0]), ("b", sb, got[1]), ("C", sC, got[2])):
        for idx, sym in enumerate(syms):
            expected = sp.diff(loss_s, sym).subs(subs)
            assert sp.Rational(str(np.asarray(val).flat[idx])) == expected, (name, idx)
    assert sp.Rational(str(got[3])) == sp.diff(loss_s, ss).subs(subs)


def test_extension_gradient_against_finite_differences():
    job = prepare("gd", "mlp:2-3-2:relu", "tiny", T=1)
    ext = job.extension
    xf, yf = job.data.as_float()
    rng = np.random.default_rng(0)
    theta = {n: rng.normal(size=s) if s else np.array(rng.normal()) for n, s in ext.shapes.items()}
    # keep gates strictly inside (0, 1) so the loss is smooth there and every head is active
    names = list(ext.shapes)
    grads = ext.gradient_nodes()
    vals = evaluate([grads[n] for n in names if grads[n] is not None], NUMERIC, theta, xf, yf)
    analytic = dict(zip([n for n in names if grads[n] is not None], vals, strict=True))
    (loss0,) = evaluate([ext.loss], NUMERIC, theta, xf, yf)
    eps = 1e-6
    checked = 0
    for n in names:
        if n not in analytic:
            continue
        flat = np.asarray(theta[n], dtype=float).reshape(-1)
        for i in range(min(flat.size, 3)):
            plus = {k: np.array(v, dtype=float, copy=True) for k, v in theta.items()}
            minus = {k: np.array(v, dtype=float, copy=True) for k, v in theta.items()}
            plus[n].reshape(-1)[i] += eps
            minus[n].reshape(-1)[i] -= eps
            (lp,) = evaluate([ext.loss], NUMERIC, plus, xf, yf)
            (lm,) = evaluate([ext.loss], NUMERIC, minus, xf, yf)
            fd = (float(lp) - float(lm)) / (2 * eps)
            an = float(np.asarray(analytic[n]).reshape(-1)[i])
            assert abs(fd - an) <= 1e-5 * max(1.0, abs(fd)), (n, i, fd, an)
            checked += 1
    assert checked > 30
    assert np.isfinite(float(loss0))


def test_pruning_changes_nothing_exactly():
    job = prepare("perceptron", "linear", "iris", samples=9, T=2)
    ext = job.extension
    x, y = job.data.x, job.data.y
    grads = ext.gradient_nodes()
    names = [n for n in ext.shapes if grads[n] is not None]
    a = evaluate([grads[n] for n in names], EXACT, ext.theta0, x, y, prune=False)
    b = evaluate([grads[n] for n in names], EXACT, ext.theta0, x, y, prune=True)
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(np.asarray(u), np.asarray(v))


def test_per_sample_gradient_of_the_base_network_matches_reference():
    from symbolic_universality.networks.mlp import MLP, loss_gradient
    from symbolic_universality.zoo.references import mlp_grad

    net = MLP((3, 4, 2), "relu")
    w, x, y = g.param("w", (net.n_params,)), g.data_x(3), g.data_y(2)
    node = loss_gradient(net, w, x, y)
    rng = np.random.default_rng(1)
    wv = np.array([F(int(v), 5) for v in rng.integers(-6, 7, size=net.n_params)], dtype=object)
    X = np.array([[F(int(v), 2) for v in row] for row in rng.integers(-4, 5, size=(4, 3))],
                 dtype=object)
    Y = np.array([[F(1), F(0)], [F(0), F(1)], [F(0), F(1)], [F(1), F(0)]], dtype=object)
    (per_sample,) = evaluate([node], EXACT, {"w": wv}, X, Y)
    for i in range(4):
        ref = mlp_grad([3, 4, 2], "relu", wv, X[i:i + 1], Y[i:i + 1])
        assert np.array_equal(per_sample[i], ref)
