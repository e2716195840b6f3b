"""Concrete execution (program.concrete): the algorithm run directly on the data.

Expected values come from the independent plain-NumPy references (zoo.references), from
hand derivations, or from NumPy formulas written here; never from the tracer.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.backends.scalars import EXACT, NUMERIC, BackendError
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.networks.mlp import MLP
from symbolic_universality.program import lang
from symbolic_universality.program.concrete import ConcreteError, execute, execute_with_record
from symbolic_universality.program.interpreter import run_program
from symbolic_universality.program.tracer import TraceError, trace
from symbolic_universality.verify.steps import check_exact
from symbolic_universality.zoo import references as ref
from symbolic_universality.zoo.algorithms import ALGORITHMS
from symbolic_universality.zoo.datasets import load_dataset


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris", samples=9)


@pytest.mark.parametrize("name, net", [
    ("gd", MLP((4, 3), "identity")),
    ("gd", MLP((4, 4, 3), "relu")),
    ("gd", MLP((4, 3, 3), "sat")),
    ("perceptron", MLP((4, 3), "identity")),
    ("ncm", MLP((4, 3), "identity")),
    ("worked", MLP((4, 3), "identity", bias=False)),
])
def test_zoo_executes_to_the_independent_reference(iris, name, net):
    entry = ALGORITHMS[name]
    got = execute(entry.traced, iris.x, iris.y, net=net)
    assert got.dtype == object and all(isinstance(v, F) for v in got)
    assert list(got) == list(entry.reference(net, iris.x, iris.y))
    xf, yf = iris.as_float()
    got_f = execute(entry.traced, xf, yf, exact=False, net=net)
    assert got_f.dtype == np.float64
    assert np.allclose(got_f, entry.reference(net, xf, yf), rtol=1e-12, atol=1e-12)


def test_mean_really_averages_one_sample_at_a_time(iris):
    calls = []

    def alg(data):
        def body(x, y):
            calls.append(1)
            return lang.relu(x[0] - 5) * y
        return data.mean(body)

    got = execute(alg, iris.x, iris.y)
    assert len(calls) == iris.n
    expected = [sum((max(F(0), iris.x[i][0] - 5) * iris.y[i][k] for i in range(iris.n)), F(0))
                / iris.n for k in range(iris.c)]
    assert list(got) == expected


@pytest.mark.parametrize("body, fragment", [
    (lambda data: data[0], "single sample"),
    (lambda data: len(data), "len(data)"),
    (lambda data: [s for s in data], "iterating"),
    (lambda data: data.x, "data.x"),
    (lambda data: data.mean(lambda x: data.mean(lambda z: z)), "nested"),
    (lambda data: data.keep(data.mean(lambda x: x) * 0 + data.const([1, 2, 3, 4])) * 0 +
     _leak(data), "per-sample value"),
    (lambda data: data.mean(lambda x: x)[4], "out of range"),
])
def test_same_refusals_as_the_tracer(iris, body, fragment):
    with pytest.raises(TraceError) as traced:
        trace(body, iris.d, iris.c)
    with pytest.raises(TraceError) as executed:
        execute(body, iris.x, iris.y)
    assert fragment in str(traced.value) and fragment in str(executed.value)


def _leak(data):
    box = {}
    data.mean(lambda x: box.setdefault("x", x) * 1)
    return box["x"]


def test_floats(iris):
    def alg(data):
        return data.mean(lambda x: x) * 0.25

    with pytest.raises(TraceError, match="Fraction\\(1, 4\\)"):
        execute(alg, iris.x, iris.y)
    w, record = execute_with_record(alg, iris.x, iris.y, float_constants="exact")
    assert record == [(0.25, F(1, 4))]
    assert list(w) == [sum((iris.x[i][j] for i in range(iris.n)), F(0)) / iris.n / 4
                       for j in range(iris.d)]
    xf, yf = iris.as_float()
    with pytest.raises(ConcreteError, match="rational data"):
        execute(alg, xf, yf)
    assert np.allclose(execute(alg, xf, yf, exact=False), xf.mean(axis=0) / 4)


def test_division_by_zero_is_an_error_unless_discarded():
    x = np.array([[F(1)], [F(2)]], dtype=object)
    y = np.array([[F(1), F(0)], [F(1), F(0)]], dtype=object)  # class 1 has no sample

    def plain(data):
        return data.mean(lambda x, y: y * x[0]) / data.mean(lambda x, y: y)

    def guarded(data):
        n = data.mean(lambda x, y: y)
        return lang.where(n > 0, data.mean(lambda x, y: y * x[0]) / n, -1)

    with pytest.raises(ConcreteError, match="divided by exactly 0"):
        execute(plain, x, y)
    with pytest.raises(BackendError, match="divided by exactly 0"):
        run_program(trace(plain, 1, 2), x, y, EXACT)
    assert list(execute(guarded, x, y)) == [F(3, 2), F(-1)]
    assert list(run_program(trace(guarded, 1, 2), x, y, EXACT)["w"]) == [F(3, 2), F(-1)]


# --------------------------------------------------------------------------- lang.grad


def test_grad_of_the_squared_loss_is_loss_grad(iris):
    net = MLP((4, 3, 3), "relu")
    w0 = ref.initial_weights([4, 3, 3], seed=1)

    def alg(data):
        w = data.const(w0)

        def loss(v, x, y):
            r = lang.forward(net, v, x) - y
            return F(1, 2) * lang.dot(r, r)

        g1 = data.mean(lambda x, y: lang.grad(lambda v: loss(v, x, y), w))
        g2 = data.mean(lambda x, y: lang.loss_grad(net, w, x, y))
        return lang.concat([g1, g2])

    expected = ref.mlp_grad([4, 3, 3], "relu", w0, iris.x, iris.y)  # hand-written backprop
    got = execute(alg, iris.x, iris.y)
    p = net.n_params
    assert list(got[:p]) == list(expected) and list(got[p:]) == list(expected)
    traced = run_program(trace(alg, iris.d, iris.c), iris.x, iris.y, EXACT)["w"]
    assert list(traced) == list(got)


def test_grad_of_cross_entropy_float_only(iris):
    net = MLP((4, 3), "identity")
    w0 = ref.initial_weights([4, 3], seed=2)

    def alg(data):
        w = data.const(w0)
        ce = lambda v, x, y: -lang.dot(y, lang.log(lang.softmax(lang.forward(net, v, x))))  # noqa: E731
        return data.mean(lambda x, y: lang.grad(lambda v: ce(v, x, y), w))

    xf, yf = iris.as_float()
    wf = np.array([float(v) for v in w0])
    W, b = wf[:12].reshape(3, 4), wf[12:]
    z = xf @ W.T + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - yf) / len(xf)  # d CE / d z, averaged
    expected = np.concatenate([(delta.T @ xf).ravel(), delta.sum(axis=0)])
    got = execute(alg, xf, yf, exact=False)
    assert np.allclose(got, expected, rtol=1e-10, atol=1e-12)
    program = trace(alg, iris.d, iris.c)
    assert "exp" in program.float_only_ops  # the gradient of log is a reciprocal
    assert np.allclose(run_program(program, xf, yf, NUMERIC)["w"], expected, rtol=1e-10,
                       atol=1e-12)
    with pytest.raises(ConcreteError, match="float-only"):
        execute(alg, iris.x, iris.y)
    with pytest.raises(BackendError, match="float-only"):
        run_program(program, iris.x, iris.y, EXACT)


def test_grad_refusals(iris):
    def nested(data):
        w = data.const([1, 2, 3, 4])
        return lang.grad(lambda v: lang.grad(lambda u: lang.dot(u, u), v).sum(), w)

    def vector_loss(data):
        return lang.grad(lambda v: v * 2, data.const([1, 2]))

    for alg, fragment in ((nested, "nested"), (vector_loss, "scalar loss")):
        with pytest.raises(TraceError, match=fragment):
            trace(alg, iris.d, iris.c)
        with pytest.raises(TraceError, match=fragment):
            execute(alg, iris.x, iris.y)


# ------------------------------------------------------------- float-only functions, networks


def test_float_only_functions_match_numpy(iris):
    def alg(data):
        m = data.mean(lambda x: x) * F(1, 4)
        return lang.concat([lang.tanh(m), lang.sigmoid(m), lang.exp(m), lang.log(m),
                            lang.softmax(m), np.exp(m), np.tanh(m)])

    xf, yf = iris.as_float()
    m = xf.mean(axis=0) / 4
    sm = np.exp(m) / np.exp(m).sum()
    expected = np.concatenate([np.tanh(m), 1 / (1 + np.exp(-m)), np.exp(m), np.log(m), sm,
                               np.exp(m), np.tanh(m)])
    assert np.allclose(execute(alg, xf, yf, exact=False), expected, rtol=1e-12)
    assert np.allclose(run_program(trace(alg, iris.d, iris.c), xf, yf, NUMERIC)["w"], expected,
                       rtol=1e-12)
    with pytest.raises(ConcreteError, match="float-only"):
        execute(alg, iris.x, iris.y)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_float_only_base_networks(iris, act):
    net = MLP((4, 3, 3), act)
    gd = ALGORITHMS["gd"]
    xf, yf = iris.as_float()
    # an independent float reference: plain NumPy backprop through tanh / sigmoid
    w0 = np.array([float(v) for v in ref.initial_weights([4, 3, 3])])
    w = w0.copy()
    for _ in range(3):
        W1, b1, W2, b2 = w[:12].reshape(3, 4), w[12:15], w[15:24].reshape(3, 3), w[24:]
        z1 = xf @ W1.T + b1
        h = np.tanh(z1) if act == "tanh" else 1 / (1 + np.exp(-z1))
        dh = 1 - h ** 2 if act == "tanh" else h * (1 - h)
        out = h @ W2.T + b2
        d2 = (out - yf) / len(xf)
        d1 = (d2 @ W2) * dh
        grad = np.concatenate([(d1.T @ xf).ravel(), d1.sum(0), (d2.T @ h).ravel(), d2.sum(0)])
        w = w - 0.1 * grad
    assert np.allclose(execute(gd.traced, xf, yf, exact=False, net=net), w, rtol=1e-12)
    assert np.allclose(gd.reference(net, xf, yf), w, rtol=1e-12)
    program = trace(gd.traced, iris.d, iris.c, net=net)
    assert np.allclose(run_program(program, xf, yf, NUMERIC)["w"], w, rtol=1e-12)
    with pytest.raises(ConcreteError, match="float-only"):
        execute(gd.traced, iris.x, iris.y, net=net)
    with pytest.raises(ValueError, match="float-only"):
        gd.reference(net, iris.x, iris.y)


# --------------------------------------------------------------------------- a user's own


def momentum_gd(data, net, T=2, lr=F(1, 10), beta=F(1, 2)):
    """Heavy-ball GD written as a user would (no tracer knowledge)."""
    w = data.const(np.zeros(net.n_params, dtype=int))
    v = data.const(np.zeros(net.n_params, dtype=int))
    for _ in range(T):
        g = data.mean(lambda x, y, w=w: lang.loss_grad(net, w, x, y))
        v = beta * v + g
        w = w - lr * v
    return w


def test_momentum_gd_verifies_against_its_own_execution(iris):
    net = MLP((4, 3), "identity")
    a_of_d = execute(momentum_gd, iris.x, iris.y, net=net)
    # by hand: plain GD steps with the momentum recursion, using the independent backprop
    w, v = np.array([F(0)] * 15, dtype=object), np.array([F(0)] * 15, dtype=object)
    for _ in range(2):
        v = F(1, 2) * v + ref.mlp_grad([4, 3], "identity", w, iris.x, iris.y)
        w = w - F(1, 10) * v
    assert list(a_of_d) == list(w)
    ext = compile_extension(net, trace(momentum_gd, iris.d, iris.c, net=net))
    report = check_exact(ext, iris.x, iris.y, reference_w=a_of_d)
    assert report.status == "verified" and report.reference_equal is True


def test_float_only_networks_from_the_cli():
    """The README advertises tanh/sigmoid base networks for numeric runs; the exact path
    refuses them with a sentence (exit 2)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    base = [sys.executable, "-m", "symbolic_universality"]
    spec = ["-a", "gd", "-d", "iris", "--samples", "30", "-n"]
    run = subprocess.run(base + ["run", *spec, "mlp:4-3-3:tanh"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0 and "VERIFIED" in run.stdout, run.stdout + run.stderr
    exact = subprocess.run(base + ["verify", *spec, "mlp:4-3-3:sigmoid"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert exact.returncode == 2 and "float-only" in exact.stderr
    assert "Traceback" not in exact.stderr


def test_user_losses_by_lang_grad_compile_and_verify(iris):
    """GD on a user-defined loss (lang.grad): squared loss (affine in y) and a hinge loss
    (nonlinear in y: a one-hot expanded read) verify exactly against their execution."""
    net = MLP((4, 3), "identity")

    def squared(v, x, y):
        r = lang.forward(net, v, x) - y
        return F(1, 2) * lang.dot(r, r)

    def hinge(v, x, y):
        t = 2 * y - 1
        return lang.relu(1 - t * lang.forward(net, v, x)).sum()

    def per_sample(x, y, w, loss):
        return lang.grad(lambda v: loss(v, x, y), w)

    for loss in (squared, hinge):
        def alg(data, loss=loss):
            w = data.const(np.zeros(net.n_params, dtype=int))
            for _ in range(2):
                w = w - F(1, 4) * data.mean(lambda x, y, w=w: per_sample(x, y, w, loss))
            return w

        a_of_d = execute(alg, iris.x, iris.y)
        if loss is squared:  # independent: two plain GD steps by hand-written backprop
            w = np.array([F(0)] * 15, dtype=object)
            for _ in range(2):
                w = w - F(1, 4) * ref.mlp_grad([4, 3], "identity", w, iris.x, iris.y)
            assert list(a_of_d) == list(w)
        else:  # independent: the hinge subgradient by hand (relu'(0) = 0), per sample
            W, bias = np.full((3, 4), F(0), dtype=object), np.full(3, F(0), dtype=object)
            for _ in range(2):
                gW, gb = np.full((3, 4), F(0), dtype=object), np.full(3, F(0), dtype=object)
                for xi, yi in zip(iris.x, iris.y, strict=True):
                    t = 2 * yi - 1
                    active = np.array([F(int(v > 0)) for v in 1 - t * (W @ xi + bias)],
                                      dtype=object)
                    gW = gW - np.multiply.outer(active * t, xi)
                    gb = gb - active * t
                W, bias = W - F(1, 4) * gW / iris.n, bias - F(1, 4) * gb / iris.n
            assert list(a_of_d) == list(W.ravel()) + list(bias)
        program = trace(alg, iris.d, iris.c)
        report = check_exact(compile_extension(net, program), iris.x, iris.y, reference_w=a_of_d)
        assert report.status == "verified" and report.reference_equal is True, loss.__name__
