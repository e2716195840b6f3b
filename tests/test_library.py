"""The algorithm library (issue 14 item 4): every algorithm verifies exactly on two real
data sets and its GD-reproduced weights equal its independent plain-NumPy reference.

Besides the references (``zoo.references``, written from the mathematics), a few
hand-checkable facts are tested directly: momentum with ``beta = 0`` is GD, the closed-form
ridge solves its normal equations, the perceptron's stop fires, the random search picks
the smallest loss, the depth formulas give the compiled ``K``.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.networks import parse_network
from symbolic_universality.program.tracer import trace
from symbolic_universality.testing import check_against
from symbolic_universality.verify.steps import check_exact
from symbolic_universality.zoo import references as ref
from symbolic_universality.zoo.algorithms import ALGORITHMS
from symbolic_universality.zoo.datasets import load_dataset

_check = check_against


def _compile(name: str, net, **options):
    entry = ALGORITHMS[name]
    return compile_extension(net, trace(entry.traced, net.d, net.c, name=name, net=net,
                                        **options))


def _verify(name: str, network: str, dataset: str, samples: int, **options):
    data = load_dataset(dataset, samples)
    net = parse_network(network, data.d, data.c)
    ext = _compile(name, net, **options)
    reference = ALGORITHMS[name].reference(net, data.x, data.y, **options)
    report = _check(ext, data.x, data.y, reference,
                         held_out=data.x[:2] + F(1, 7))
    return report, ext, reference, data, net


CASES = [
    ("momentum", "linear", "iris", 9, {"T": 2}),
    ("momentum", "mlp:13-3-3:relu", "wine", 6, {"T": 2, "lr": F(1, 1000)}),
    ("nesterov", "linear", "iris", 9, {"T": 2}),
    ("nesterov", "linear", "breast_cancer", 6, {"T": 2, "lr": F(1, 10000)}),
    ("gd_wd", "linear", "wine", 6, {"T": 2, "lr": F(1, 10000)}),
    ("gd_wd", "mlp:4-3-3:relu", "iris", 9, {"T": 2}),
    ("sign_gd", "linear", "iris", 9, {"T": 3}),
    ("sign_gd", "linear", "breast_cancer", 6, {"T": 2}),
    ("ridge_richardson", "linear", "iris", 9, {"T": 3}),
    ("ridge_richardson", "linear", "wine", 6, {"T": 2, "alpha": F(1, 10 ** 6)}),
    ("ridge", "linear", "iris", 9, {}),
    ("ridge", "linear", "wine", 6, {"lam": F(1, 2)}),
    ("diag_lda", "linear", "iris", 9, {}),
    ("diag_lda", "linear", "wine", 9, {}),
    ("diag_lda", "linear", "breast_cancer", 6, {}),
    ("random_search", "linear", "iris", 9, {"M": 5}),
    ("random_search", "mlp:13-2-3:relu", "wine", 6, {"M": 3, "seed": 1}),
    ("perceptron_sep", "linear", "iris", 9, {"T": 3}),
    ("perceptron_sep", "linear", "breast_cancer", 6, {"T": 2, "lr": F(1, 100)}),
    ("gd_cnn", "cnn:1x4-c2k2-relu-fc3", "iris", 6, {"T": 1}),
    ("gd_cnn", "cnn:1x13-c2k3s2-relu-sp2-fc3", "wine", 6, {"T": 1, "lr": F(1, 1000)}),
]


@pytest.mark.parametrize("name, network, dataset, samples, options", CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_library_algorithm_verifies_and_equals_its_reference(name, network, dataset, samples,
                                                            options):
    report, ext, reference, data, net = _verify(name, network, dataset, samples, **options)
    assert report.status == "verified", report.message
    assert report.reference_equal is True
    assert report.final_weights_equal and report.forward_output_equal and report.aux_zero
    assert report.inert_after_K
    # the depth formula of the entry is the compiled K (T4)
    assert ALGORITHMS[name].depth_of(**options) == ext.K
    assert all(isinstance(v, F) for v in reference)


def test_every_library_entry_has_a_depth_summary_and_options():
    for name, entry in ALGORITHMS.items():
        assert entry.depth is not None and entry.depth_formula, name
        assert entry.summary and entry.name == name


def test_momentum_with_zero_beta_is_gd_and_nesterov_differs_from_heavy_ball():
    data = load_dataset("iris", 9)
    net = parse_network("linear", data.d, data.c)
    gd = ref.reference_gd_net(net, data.x, data.y, T=3, lr=F(1, 10))
    assert np.array_equal(ref.reference_momentum(net, data.x, data.y, 3, F(1, 10), 0), gd)
    hb = ref.reference_momentum(net, data.x, data.y, 3, F(1, 10), F(1, 2))
    nag = ref.reference_nesterov(net, data.x, data.y, 3, F(1, 10), F(1, 2))
    assert not np.array_equal(hb, nag) and not np.array_equal(hb, gd)
    # one step: both momenta equal GD (v_1 = g(w_0))
    assert np.array_equal(ref.reference_nesterov(net, data.x, data.y, 1, F(1, 10), F(1, 2)),
                          ref.reference_gd_net(net, data.x, data.y, T=1, lr=F(1, 10)))


def test_closed_form_ridge_solves_the_normal_equations_exactly():
    data = load_dataset("wine", 6)
    lam = F(1, 2)
    w = ref.reference_ridge(data.x, data.y, lam)
    d, c = data.d, data.c
    W, b = w[: c * d].reshape(c, d), w[c * d:]
    n = data.x.shape[0]
    # gradient of mean 1/2 |W x + b - y|^2 + lam/2 (|W|^2 + |b|^2) vanishes
    r = data.x @ W.T + b - data.y
    gW = (r.T @ data.x) / n + lam * W
    gb = r.sum(axis=0) / n + lam * b
    assert all(v == 0 for v in gW.ravel()) and all(v == 0 for v in gb)
    # Richardson iterations with a small enough alpha converge to it (float64, iris)
    iris = load_dataset("iris", 9)
    xf, yf = iris.as_float()
    exact = ref.reference_ridge(iris.x, iris.y, lam).astype(float)
    near = ref.reference_ridge_richardson(xf, yf, 3000, 0.02, 0.5)
    assert np.allclose(near, exact, atol=1e-8)
    assert np.allclose(ref.reference_ridge(xf, yf, 0.5), exact, atol=1e-12)


def test_perceptron_stop_fires_and_matters():
    """On a separable subset the stop fires before the bound; without it the margin rule
    would keep moving the weights."""
    data = load_dataset("iris", 30)
    keep = [i for i in range(30) if data.labels[i] in (0, 1)]
    x, y = data.x[keep], data.y[keep][:, :2]
    stopped = ref.reference_perceptron_until_separated(x, y, T=8, lr=1, margin=10)
    assert np.array_equal(stopped, ref.reference_perceptron_until_separated(x, y, T=3, lr=1,
                                                                           margin=10))
    assert not np.array_equal(stopped, ref.reference_perceptron_until_separated(
        x, y, T=2, lr=1, margin=10))  # the stop fired after exactly 3 epochs
    t = 2 * y - 1
    s = x @ stopped[:8].reshape(2, 4).T + stopped[8:]
    assert np.all(t * s > 0)  # separated
    # the same margin rule without the stop keeps moving (hand loop, 8 epochs)
    W, b = np.zeros((2, 4), dtype=object) * F(0), np.zeros(2, dtype=object) * F(0)
    for _ in range(8):
        m = np.where(t * (x @ W.T + b) <= 10, 1, 0) * t
        W, b = W + (m.T @ x) / len(x), b + m.sum(axis=0) / len(x)
    assert not np.array_equal(np.concatenate([W.ravel(), b]), stopped)
    # and the traced version stops the same way (the 0/1 select), exactly
    net = parse_network("linear", 4, 2)
    ext = _compile("perceptron_sep", net, T=4, lr=1, margin=10)
    report = _check(ext, x, y, stopped)
    assert report.status == "verified", report.message


def test_random_search_picks_the_smallest_loss():
    data = load_dataset("iris", 9)
    net = parse_network("linear", data.d, data.c)
    cands = ref.random_candidates(net.n_params, 6, 3)
    losses = []
    for cand in cands:
        r = ref.network_forward(net, cand, data.x) - data.y
        losses.append(sum(v * v for v in r.ravel()) / 2)
    best = ref.reference_random_search(net, data.x, data.y, M=6, seed=3)
    assert np.array_equal(best, cands[int(np.argmin(losses))])


def test_diag_lda_classifies_like_its_gaussian_rule():
    data = load_dataset("iris", 30)
    w = ref.reference_diag_lda(data.x, data.y, eps=F(1, 10))
    d, c = data.d, data.c
    scores = data.x @ w[: c * d].reshape(c, d).T + w[c * d:]
    mu = np.array([data.x[data.labels == k].mean(axis=0) for k in range(c)], dtype=object)
    resid = data.x - mu[data.labels]
    s2 = (resid * resid).sum(axis=0) / len(data.x) + F(1, 10)
    loglik = np.array([[-sum((xi - mu[k]) ** 2 / s2) / 2 for k in range(c)] for xi in data.x])
    assert np.array_equal(np.argmax(scores.astype(float), axis=1),
                          np.argmax(loglik.astype(float), axis=1))


def test_logreg_is_refused_by_the_exact_path_and_runs_in_float():
    data = load_dataset("iris", 9)
    net = parse_network("linear", data.d, data.c)
    assert ALGORITHMS["logreg"].exact is False
    with pytest.raises(ValueError, match="float only"):
        ALGORITHMS["logreg"].reference(net, data.x, data.y, T=2)
    ext = _compile("logreg", net, T=2)
    with pytest.raises(ValueError, match="no exact rational value"):
        check_exact(ext, data.x, data.y)


@pytest.mark.parametrize("dataset, samples", [("iris", 9), ("wine", 9)])
def test_logreg_verifies_in_float(dataset, samples):
    from symbolic_universality.numeric.check import check_numeric

    data = load_dataset(dataset, samples)
    net = parse_network("linear", data.d, data.c)
    lr = F(1, 100) if dataset == "iris" else F(1, 10 ** 5)
    ext = _compile("logreg", net, T=2, lr=lr)
    xf, yf = data.as_float()
    want = ALGORITHMS["logreg"].reference(net, xf, yf, T=2, lr=lr)
    report = check_numeric(ext, data.x, data.y, reference_w=want)
    assert report.status == "verified", report.message
    # the float reference is logistic regression: the cross-entropy went down
    def ce(w):
        z = xf @ w[: net.n_params - data.c].reshape(data.c, data.d).T + w[-data.c:]
        s = 1 / (1 + np.exp(-z))
        return -np.mean(np.sum(yf * np.log(s) + (1 - yf) * np.log(1 - s), axis=1))
    assert ce(want) < ce(np.zeros(net.n_params))


def test_linear_only_algorithms_refuse_other_networks():
    with pytest.raises(ValueError, match="needs a linear base network"):
        _compile("ridge", parse_network("mlp:4-3-3:relu", 4, 3))
    with pytest.raises(ValueError, match="needs a convolutional base network"):
        _compile("gd_cnn", parse_network("linear", 4, 3))
