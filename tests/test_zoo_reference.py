"""Tests of the data sets and the plain-NumPy reference algorithms.

Expected values are derived by hand (the derivation is in the comments), not copied from
the code's output.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.zoo.datasets import (
    DATASETS,
    Dataset,
    held_out,
    load_dataset,
    stratified_indices,
    synthetic,
)
from symbolic_universality.zoo.references import (
    activate,
    activate_grad,
    initial_weights,
    mlp_forward,
    mlp_grad,
    mlp_loss,
    n_params,
    pack_weights,
    reference_gd,
    reference_gd_path,
    reference_ncm,
    reference_online_perceptron,
    reference_perceptron,
    unpack_weights,
)


def fr(*values: object) -> list[F]:
    return [F(v) for v in values]


def as_list(a: np.ndarray) -> list[object]:
    return list(np.asarray(a).ravel())


def all_fractions(a: np.ndarray) -> bool:
    return all(type(v) is F for v in np.asarray(a).ravel())


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return load_dataset("tiny")


# ----------------------------------------------------------------------------- datasets


def test_tiny_is_the_worked_example(tiny: Dataset) -> None:
    assert tiny.name == "tiny"
    assert (tiny.n, tiny.d, tiny.c) == (3, 2, 2)
    assert [as_list(row) for row in tiny.x] == [fr(1, 2), fr(-1, 1), fr(3, -2)]
    assert [as_list(row) for row in tiny.y] == [fr(1, 0), fr(0, 1), fr(1, 0)]
    assert list(tiny.labels) == [0, 1, 0]
    assert all_fractions(tiny.x) and all_fractions(tiny.y)


@pytest.mark.parametrize(
    ("name", "n", "d", "c"),
    [
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
        ("digits", 1797, 64, 10),
    ],
)
def test_sklearn_shapes(name: str, n: int, d: int, c: int) -> None:
    ds = load_dataset(name)
    assert (ds.n, ds.d, ds.c) == (n, d, c)
    assert ds.x.shape == (n, d) and ds.y.shape == (n, c) and ds.labels.shape == (n,)
    assert ds.x.dtype == object and ds.y.dtype == object
    assert all_fractions(ds.x[:5]) and all_fractions(ds.y[:5])
    assert len(ds.feature_names) == d
    # one-hot consistent with the labels
    assert all(ds.y[i, ds.labels[i]] == 1 and sum(ds.y[i]) == 1 for i in range(0, n, 7))


def test_datasets_listed() -> None:
    assert DATASETS == ("tiny", "iris", "wine", "breast_cancer", "digits")


def test_iris_is_exact() -> None:
    iris = load_dataset("iris")
    # iris row 0 is 5.1, 3.5, 1.4, 0.2 (the published decimals) and belongs to setosa
    assert as_list(iris.x[0]) == [F(51, 10), F(7, 2), F(7, 5), F(1, 5)]
    assert as_list(iris.y[0]) == [F(1), F(0), F(0)]
    assert all_fractions(iris.x)
    # the rationals are the decimals, not the nearest binary floats
    assert iris.x[0, 0] != F(5.1)
    xf, yf = iris.as_float()
    assert xf.dtype == np.float64 and yf.dtype == np.float64
    assert xf[0, 0] == 5.1 and yf[0, 0] == 1.0


def test_dataset_arrays_are_read_only() -> None:
    iris = load_dataset("iris")
    with pytest.raises(ValueError):
        iris.x[0, 0] = F(0)


def test_dataset_rejects_floats() -> None:
    with pytest.raises(TypeError, match="exact"):
        Dataset("bad", np.array([[0.5]]), np.array([[F(1)]], dtype=object), np.array([0]), 1)


def test_stratified_subset_iris() -> None:
    iris = load_dataset("iris")
    assert list(iris.labels) == [0] * 50 + [1] * 50 + [2] * 50
    sub = load_dataset("iris", samples=7)
    # round robin over classes 0, 1, 2 takes rows 0, 50, 100, 1, 51, 101, 2
    assert list(sub.labels) == [0, 1, 2, 0, 1, 2, 0]
    expected_rows = [0, 50, 100, 1, 51, 101, 2]
    assert [as_list(r) for r in sub.x] == [as_list(iris.x[i]) for i in expected_rows]
    assert sub.n == 7 and sub.c == 3 and sub.d == 4


def test_stratified_subset_skips_exhausted_classes() -> None:
    wine = load_dataset("wine")
    assert list(np.bincount(wine.labels)) == [59, 71, 48]
    # 48 full rounds take 144 (48 each, class 2 is then exhausted); the remaining 6
    # alternate between classes 0 and 1: counts 51, 51, 48
    sub = load_dataset("wine", samples=150)
    assert list(np.bincount(sub.labels)) == [51, 51, 48]
    assert list(sub.labels[144:]) == [0, 1, 0, 1, 0, 1]
    assert list(np.bincount(load_dataset("wine", samples=178).labels)) == [59, 71, 48]
    # tiny: class 0 = rows 0, 2; class 1 = row 1 -> order 0, 1, 2
    assert list(stratified_indices(np.array([0, 1, 0]), 2, 3)) == [0, 1, 2]
    assert list(stratified_indices(np.array([1, 1, 0, 0]), 2, 3)) == [2, 0, 3]


def test_dataset_errors() -> None:
    with pytest.raises(ValueError) as err:
        load_dataset("irs")
    assert str(err.value) == (
        "unknown dataset 'irs'; choose one of: tiny, iris, wine, breast_cancer, digits"
    )
    with pytest.raises(ValueError, match=r"samples=2 is too few .*'iris'.* at least 3"):
        load_dataset("iris", samples=2)
    with pytest.raises(ValueError, match=r"samples=151 exceeds the 150 samples .* at most 150"):
        load_dataset("iris", samples=151)
    with pytest.raises(ValueError, match=r"at least 2"):
        load_dataset("tiny", samples=1)
    with pytest.raises(ValueError, match=r"count=121 exceeds the 120 samples"):
        held_out("iris", 30, 121)
    with pytest.raises(ValueError, match="negative"):
        held_out("iris", 30, -1)
    with pytest.raises(ValueError, match="unknown dataset"):
        held_out("nope", 3, 1)


def test_held_out() -> None:
    iris = load_dataset("iris")
    # samples=30 takes rows 0..9, 50..59, 100..109; the first rows outside are 10, 11, ...
    out = held_out("iris", 30, 5)
    assert out.shape == (5, 4) and all_fractions(out)
    assert [as_list(r) for r in out] == [as_list(iris.x[i]) for i in range(10, 15)]
    # samples=3 takes rows 0, 50, 100: row 1 of iris is 4.9, 3.0, 1.4, 0.2
    assert as_list(held_out("iris", 3, 1)[0]) == [F(49, 10), F(3), F(7, 5), F(1, 5)]
    t = held_out("tiny", 3, 3)
    assert [as_list(r) for r in t] == [[F(1, 2), F(-3)], [F(0), F(0)], [F(5), F(7, 3)]]
    more = held_out("tiny", None, 8)
    train = {tuple(r) for r in load_dataset("tiny").x}
    assert not train & {tuple(r) for r in more}
    assert len({tuple(r) for r in more}) == 8
    assert held_out("wine", 10, 0).shape == (0, 13)


def test_synthetic() -> None:
    x, y, labels = synthetic(20, 3, 4, seed=1)
    assert x.shape == (20, 3) and y.shape == (20, 4) and labels.shape == (20,)
    assert x.dtype == np.float64 and y.dtype == np.float64
    assert np.array_equal(y, np.eye(4)[labels]) and list(labels[:5]) == [0, 1, 2, 3, 0]
    x2, y2, _ = synthetic(20, 3, 4, seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, synthetic(20, 3, 4, seed=2)[0])


# ----------------------------------------------------------------------------- layout


def test_layout() -> None:
    assert n_params([4, 3, 3]) == 4 * 3 + 3 + 3 * 3 + 3
    assert n_params([4, 3, 3], bias=False) == 21
    assert n_params([2, 2]) == 6
    w = np.arange(n_params([2, 3, 1]))
    (w1, b1), (w2, b2) = unpack_weights([2, 3, 1], w)
    assert w1.tolist() == [[0, 1], [2, 3], [4, 5]] and b1.tolist() == [6, 7, 8]
    assert w2.tolist() == [[9, 10, 11]] and b2.tolist() == [12]
    assert pack_weights(unpack_weights([2, 3, 1], w)).tolist() == w.tolist()
    layers = unpack_weights([2, 2], np.arange(4), bias=False)
    assert layers[0][0].tolist() == [[0, 1], [2, 3]] and layers[0][1] is None
    with pytest.raises(ValueError, match="has 6 weights"):
        unpack_weights([2, 2], np.arange(5))


def test_initial_weights() -> None:
    w = initial_weights([4, 3, 3], seed=5)
    assert w.shape == (27,) and all_fractions(w)
    assert all(8 % v.denominator == 0 and -F(1, 2) <= v <= F(1, 2) for v in w)
    assert as_list(w) == as_list(initial_weights([4, 3, 3], seed=5))
    assert initial_weights([2, 2], bias=False).shape == (4,)


def test_activations_conventions() -> None:
    z = np.array([F(-1), F(0), F(1, 2), F(1), F(2)], dtype=object)
    assert as_list(activate("relu", z)) == fr(0, 0, F(1, 2), 1, 2)
    assert as_list(activate_grad("relu", z)) == fr(0, 0, 1, 1, 1)
    assert as_list(activate("sat", z)) == fr(0, 0, F(1, 2), 1, 1)
    assert as_list(activate_grad("sat", z)) == fr(0, 0, 1, 0, 0)
    assert as_list(activate("square", z)) == fr(1, 0, F(1, 4), 1, 4)
    assert as_list(activate_grad("square", z)) == fr(-2, 0, 1, 2, 4)
    assert as_list(activate_grad("identity", z)) == fr(1, 1, 1, 1, 1)
    assert all_fractions(activate_grad("sat", z)) and all_fractions(activate("relu", z))
    with pytest.raises(ValueError, match="unknown activation"):
        activate("gelu", z)
    with pytest.raises(ValueError, match="float-only"):  # tanh and sigmoid: float64 only
        activate("tanh", z)
    zf = np.array([-1.0, 0.0, 2.0])
    assert np.allclose(activate("tanh", zf), np.tanh(zf))
    assert np.allclose(activate_grad("sigmoid", zf),
                       np.exp(-zf) / (1 + np.exp(-zf)) ** 2)


# ----------------------------------------------------------------------------- networks


def test_forward_by_hand() -> None:
    # W1 = [[1, -1], [2, 1]], b1 = [0, -1], W2 = [[3, -2]], b2 = [1/2]
    w = np.array(fr(1, -1, 2, 1, 0, -1, 3, -2, F(1, 2)), dtype=object)
    x = np.array([fr(1, 2), fr(0, 0)], dtype=object)
    # x=(1,2): z1 = (-1, 3), a1 = (0, 3), f = -6 + 1/2 = -11/2
    # x=(0,0): z1 = (0, -1), a1 = (0, 0), f = 1/2
    out = mlp_forward([2, 2, 1], "relu", w, x)
    assert out.shape == (2, 1) and as_list(out) == [F(-11, 2), F(1, 2)]
    # identity hidden layer: x=(1,2): a1 = z1 = (-1, 3): f = -3 - 6 + 1/2
    assert mlp_forward([2, 2, 1], "identity", w, x)[0, 0] == F(-17, 2)


def test_grad_by_hand_square() -> None:
    # f = c (a x + b1)^2 + b2 with w = (a, b1, c, b2) = (1/2, 1, 3, -1); x = 2, y = 1:
    # z = 2, h = 4, f = 11, r = f - y = 10; df/da = c 2z x = 24, df/db1 = 12, df/dc = 4
    w = np.array(fr(F(1, 2), 1, 3, -1), dtype=object)
    x = np.array([[F(2)]], dtype=object)
    y = np.array([[F(1)]], dtype=object)
    g = mlp_grad([1, 1, 1], "square", w, x, y)
    assert as_list(g) == fr(240, 120, 40, 10) and all_fractions(g)
    assert mlp_loss([1, 1, 1], "square", w, x, y) == 50


def test_grad_kink_conventions_and_mean() -> None:
    w = np.array(fr(1, 0, 1, 0), dtype=object)  # f = relu/sat(x) for a 1-1-1 net
    # relu at z = 0: relu'(0) = 0, f = 0, r = -1 -> only b2 gets -1
    g = mlp_grad(
        [1, 1, 1], "relu", w, np.array([[F(0)]], dtype=object), np.array([[F(1)]], dtype=object)
    )
    assert as_list(g) == fr(0, 0, 0, -1)
    # sat at z = 1: sat(1) = 1, sat'(1) = 0, r = 1 -> grad (0, 0, a=1, 1)
    g = mlp_grad(
        [1, 1, 1], "sat", w, np.array([[F(1)]], dtype=object), np.array([[F(0)]], dtype=object)
    )
    assert as_list(g) == fr(0, 0, 1, 1)
    # mean over samples: x = 0 (y=1) gives (0, 0, 0, -1); x = 1/2 (y=0) gives z = a = f = r
    # = 1/2 and (r x, r, r a, r) = (1/4, 1/2, 1/4, 1/2); mean = (1/8, 1/4, 1/8, -1/4)
    x = np.array([[F(0)], [F(1, 2)]], dtype=object)
    y = np.array([[F(1)], [F(0)]], dtype=object)
    assert as_list(mlp_grad([1, 1, 1], "sat", w, x, y)) == [F(1, 8), F(1, 4), F(1, 8), F(-1, 4)]


def _hidden_preactivations(sizes: list[int], w: np.ndarray, x: np.ndarray, act: str) -> list:
    # The output layer is the identity, so a truncated network outputs the pre-activations
    # of its last layer; the layout is layer by layer, so its weights are a prefix of w.
    zs = []
    for k in range(1, len(sizes) - 1):
        prefix = sizes[: k + 1]
        zs.append(mlp_forward(prefix, act, w[: n_params(prefix)], x))
    return zs


@pytest.mark.parametrize("act", ["relu", "sat", "square", "identity"])
def test_grad_matches_central_differences(act: str) -> None:
    sizes = [3, 5, 4, 2]
    p = n_params(sizes)
    for seed in range(100):  # first draw whose pre-activations are away from the kinks
        rng = np.random.default_rng(seed)
        w = rng.normal(size=p) * 0.7
        x = rng.normal(size=(6, 3))
        y = rng.normal(size=(6, 2))
        zs = np.concatenate([z.ravel() for z in _hidden_preactivations(sizes, w, x, act)])
        if np.min(np.abs(zs)) > 1e-3 and np.min(np.abs(zs - 1)) > 1e-3:
            break
    else:  # pragma: no cover
        pytest.fail("no kink-free draw found")
    g = mlp_grad(sizes, act, w, x, y)
    assert g.dtype == np.float64 and g.shape == (p,)
    eps = 1e-6
    fd = np.empty(p)
    for j in range(p):
        e = np.zeros(p)
        e[j] = eps
        fd[j] = (mlp_loss(sizes, act, w + e, x, y) - mlp_loss(sizes, act, w - e, x, y)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    if act in ("relu", "sat"):  # the draw must actually exercise both sides of the kinks
        assert np.any(zs < 0) and np.any(zs > 0)


# ----------------------------------------------------------------------------- GD


def test_gd_worked_example(tiny: Dataset) -> None:
    # Section 5 of the construction: f(x; W) = W x, two GD steps from W = 0, lr = 1/10.
    # grad = W R1 - R2 with R1 = mean x x^T = [[11/3, -5/3], [-5/3, 3]],
    # R2 = mean y x^T = [[4/3, 0], [-1/3, 1/3]]; W1 = a R2, W2 = 2a R2 - a^2 R2 R1,
    # R2 R1 = [[44/9, -20/9], [-16/9, 14/9]] -> W2 = [49/225, 1/45, -11/225, 23/450].
    w2 = reference_gd([2, 2], "identity", tiny.x, tiny.y, T=2, lr=F(1, 10), w0=0, bias=False)
    assert as_list(w2) == [F(49, 225), F(1, 45), F(-11, 225), F(23, 450)]
    assert all_fractions(w2)
    # One more plain GD step with the extension's step size 1/4 (construction.md):
    # W3 = W2 - 1/4 (W2 R1 - R2); W2 R1 - R2 = [[-386/675, -8/27], [...]] etc.
    w3 = reference_gd([2, 2], "identity", tiny.x, tiny.y, T=1, lr=F(1, 4), w0=w2, bias=False)
    assert as_list(w3) == [F(487, 1350), F(13, 135), F(-119, 1800), F(409, 5400)]
    # ... and with lr = 1/10 the third step: W2 + 1/10 (386/675, 8/27) in row 0
    w3b = reference_gd([2, 2], "identity", tiny.x, tiny.y, T=3, lr=F(1, 10), w0=0, bias=False)
    assert as_list(w3b)[:2] == [F(49, 225) + F(386, 6750), F(1, 45) + F(8, 270)]


def test_gd_with_bias_one_step(tiny: Dataset) -> None:
    # from 0: grad = -mean y [x; 1]: W1 = 1/10 R2, b1 = 1/10 mean y = 1/10 (2/3, 1/3)
    w1 = reference_gd([2, 2], "identity", tiny.x, tiny.y, T=1, w0=0)
    assert as_list(w1) == [F(2, 15), F(0), F(-1, 30), F(1, 30), F(1, 15), F(1, 30)]


def test_gd_path(tiny: Dataset) -> None:
    path = reference_gd_path([2, 3, 2], "relu", tiny.x, tiny.y, T=3, seed=4)
    assert path.shape == (4, n_params([2, 3, 2])) and all_fractions(path)
    assert as_list(path[0]) == as_list(initial_weights([2, 3, 2], seed=4))
    assert as_list(path[-1]) == as_list(
        reference_gd([2, 3, 2], "relu", tiny.x, tiny.y, T=3, seed=4)
    )
    for k in range(3):
        g = mlp_grad([2, 3, 2], "relu", path[k], tiny.x, tiny.y)
        assert as_list(path[k + 1]) == as_list(path[k] - F(1, 10) * g)
    assert reference_gd_path([2, 2], "relu", tiny.x, tiny.y, T=0).shape == (1, 6)


@pytest.mark.parametrize("act", ["identity", "relu", "sat", "square"])
def test_exact_and_float_agree(act: str) -> None:
    ds = load_dataset("iris", samples=9)
    sizes = [4, 3, 3]
    exact = reference_gd(sizes, act, ds.x, ds.y, T=2, lr=F(1, 100), seed=1)
    assert exact.dtype == object and all_fractions(exact)
    xf, yf = ds.as_float()
    flt = reference_gd(sizes, act, xf, yf, T=2, lr=F(1, 100), seed=1)
    assert flt.dtype == np.float64
    np.testing.assert_allclose(exact.astype(np.float64), flt, rtol=1e-12, atol=1e-12)
    for f in (reference_perceptron, reference_online_perceptron, reference_ncm):
        np.testing.assert_allclose(f(ds.x, ds.y).astype(np.float64), f(xf, yf), rtol=1e-12)


def test_exact_path_refuses_floats(tiny: Dataset) -> None:
    with pytest.raises(TypeError, match="Fraction"):
        reference_gd([2, 2], "identity", tiny.x, tiny.y, T=1, lr=0.1)
    with pytest.raises(TypeError, match="Fraction"):
        mlp_forward([2, 2], "identity", np.zeros(6), tiny.x)


# ----------------------------------------------------------------------------- perceptron, ncm


def test_perceptron_by_hand(tiny: Dataset) -> None:
    # epoch 1: W = 0, b = 0 so every margin is 0 and every (i, c) is a mistake;
    # t = (1,-1), (-1,1), (1,-1): W_0 = 1/3 (x1 - x2 + x3) = (5/3, -1/3), W_1 = -W_0,
    # b_0 = 1/3 (1 - 1 + 1) = 1/3, b_1 = -1/3
    one = [F(5, 3), F(-1, 3), F(-5, 3), F(1, 3), F(1, 3), F(-1, 3)]
    assert as_list(reference_perceptron(tiny.x, tiny.y, T=1)) == one
    # epoch 2: s_0 = W_0 x + b_0 = 4/3, -5/3, 6 for the three samples and s_1 = -s_0, so
    # every t_ic s_ic = 4/3, 5/3, 6 > 0: no mistake, nothing moves.
    assert as_list(reference_perceptron(tiny.x, tiny.y, T=3)) == one
    # lr scales the first epoch; without bias W_0 is unchanged by the missing b
    assert as_list(reference_perceptron(tiny.x, tiny.y, T=1, lr=F(1, 2)))[0] == F(5, 6)
    assert as_list(reference_perceptron(tiny.x, tiny.y, T=1, bias=False)) == one[:4]
    assert as_list(reference_perceptron(tiny.x, tiny.y, T=0)) == [F(0)] * 6


def test_ncm_by_hand(tiny: Dataset) -> None:
    # class 0: (1,2), (3,-2) -> mu_0 = (2, 0), b_0 = -1/2 * 4 = -2
    # class 1: (-1,1)        -> mu_1 = (-1, 1), b_1 = -1/2 * 2 = -1
    w = reference_ncm(tiny.x, tiny.y)
    assert as_list(w) == fr(2, 0, -1, 1, -2, -1) and all_fractions(w)
    y = np.array([fr(1, 0), fr(1, 0), fr(1, 0)], dtype=object)
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have no sample"):
        reference_ncm(tiny.x, y)


def test_ncm_is_nearest_class_mean() -> None:
    ds = load_dataset("iris", samples=15)
    w = reference_ncm(ds.x, ds.y)
    scores = mlp_forward([4, 3], "identity", w, ds.x)
    means = []
    for k in range(3):
        rows = [ds.x[i] for i in range(ds.n) if ds.labels[i] == k]
        means.append(sum(rows[1:], rows[0]) * F(1, len(rows)))
    for i in range(ds.n):
        dist = [sum((ds.x[i] - m) * (ds.x[i] - m)) for m in means]
        # ||x - mu||^2 = ||x||^2 - 2 (mu.x - ||mu||^2 / 2): minimal distance = maximal score
        for k in range(3):
            assert dist[k] == sum(ds.x[i] * ds.x[i]) - 2 * scores[i, k]


def test_online_perceptron_is_order_dependent(tiny: Dataset) -> None:
    # order 1, 2, 3: x1 all mistakes -> W_0 = (1,2), b_0 = 1, W_1 = -W_0, b_1 = -1;
    # x2 = (-1,1), t = (-1,1): s = (2, -2), both mistakes -> W_0 = (2,1), b_0 = 0, W_1 = -W_0,
    # b_1 = 0; x3 = (3,-2): s_0 = 4, s_1 = -4, no mistakes.
    a = reference_online_perceptron(tiny.x, tiny.y)
    assert as_list(a) == fr(2, 1, -2, -1, 0, 0)
    # order 3, 2, 1: x3 all mistakes -> W_0 = (3,-2), b_0 = 1, W_1 = -W_0, b_1 = -1;
    # x2: s = (-4, 4), t = (-1, 1): no mistakes; x1: s = (0, 0) both mistakes (margin 0)
    # -> W_0 = (4, 0), b_0 = 2, W_1 = (-4, 0), b_1 = -2.
    order = [2, 1, 0]
    b = reference_online_perceptron(tiny.x[order], tiny.y[order])
    assert as_list(b) == fr(4, 0, -4, 0, 2, -2)
    # the same empirical distribution gives one batch (mean) result, whatever the order
    for f in (reference_perceptron, reference_ncm):
        assert as_list(f(tiny.x, tiny.y)) == as_list(f(tiny.x[order], tiny.y[order]))
    g1 = reference_gd([2, 3, 2], "relu", tiny.x, tiny.y, T=2)
    g2 = reference_gd([2, 3, 2], "relu", tiny.x[order], tiny.y[order], T=2)
    assert as_list(g1) == as_list(g2)
