"""Convolutional, pooling and residual base networks (networks.cnn), issue 14 item 1.

Expected values come from PyTorch autograd (an independent implementation) and from
hand computations; the graph forms are compared with the plain-NumPy reference
``zoo.references.cnn_forward/cnn_grad``, and ``gd`` on a CNN verifies exactly.
"""

from __future__ import annotations

import time
from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.backends.scalars import EXACT
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.graph import core as g
from symbolic_universality.graph.evaluate import evaluate
from symbolic_universality.networks import (
    Act,
    AvgPool,
    Conv,
    Dense,
    Flatten,
    MaxPool,
    NetworkSpecError,
    Residual,
    parse_cnn,
    parse_network,
    sequential,
)
from symbolic_universality.networks.mlp import loss_gradient
from symbolic_universality.program.tracer import trace
from symbolic_universality.testing import check_against
from symbolic_universality.zoo import references as ref
from symbolic_universality.zoo.algorithms import ALGORITHMS
from symbolic_universality.zoo.datasets import load_dataset

_check = check_against


def _frac(a) -> np.ndarray:
    arr = np.asarray(a)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = F(v) if not isinstance(v, float) else F(v)
    return out


def _dyadic_weights(net, seed: int = 1) -> np.ndarray:
    ints = np.random.default_rng(seed).integers(-4, 5, size=net.n_params)
    return _frac([F(int(k), 8) for k in ints])


def _graph_forward(net, w, x, backend=EXACT):
    wn, xn = g.param("w", (net.n_params,)), g.data_x(net.d)
    (out,) = evaluate([net.forward(wn, xn)], backend, {"w": w}, x, None)
    return out


def _graph_mean_grad(net, w, x, y):
    wn, xn, yn = g.param("w", (net.n_params,)), g.data_x(net.d), g.data_y(net.c)
    grad = g.bmean(loss_gradient(net, wn, xn, yn))
    (out,) = evaluate([grad], EXACT, {"w": w}, x, y)
    return np.asarray(out)


SPECS = [
    "cnn:1x8x8-c2k3-relu-p2-fc10",
    "cnn:2x5x6-c3k2s2p1-relu-ap2-fc4",
    "cnn:1x6x6-c2k3p1-relu-r(c2k3p1-relu)-mp2s1-c1k2-flat",
    "cnn:2x9-c3k3s2p1-relu-r(c3k3p1-square)-ap2-fc3",
    "cnn:1x7x7-c2k3s2-sat-mp2-fc2",
    "cnn:1x6x6-c2k2-relu-sp2-identity-fc3",
]


@pytest.mark.parametrize("spec", SPECS)
def test_graph_forward_and_gradient_equal_the_reference_exactly(spec):
    net = parse_cnn(spec)
    rng = np.random.default_rng(3)
    x = _frac(rng.integers(-3, 4, size=(4, net.d)))
    y = _frac(np.eye(net.c, dtype=int)[rng.integers(0, net.c, size=4)])
    w = _dyadic_weights(net)
    want = ref.cnn_forward(net, w, x)
    assert want.shape == (4, net.c)
    assert np.array_equal(_graph_forward(net, w, x), want)
    assert np.array_equal(_graph_mean_grad(net, w, x, y), ref.cnn_grad(net, w, x, y))
    # float64 path of the reference agrees with the exact one (dyadic inputs: exact floats)
    assert np.allclose(ref.cnn_forward(net, w.astype(float), x.astype(float)),
                       want.astype(float), atol=1e-12)


torch = pytest.importorskip("torch")


def _torch_model(spec: str):
    nn = torch.nn
    if spec == "A":  # conv2d stride/padding, max pool, residual, avg pool, linear
        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1 = nn.Conv2d(1, 2, 3, padding=1)
                self.c2 = nn.Conv2d(2, 2, 3, padding=1)
                self.c3 = nn.Conv2d(2, 3, 2, stride=2)
                self.fc = nn.Linear(3 * 3 * 3, 4)

            def forward(self, x):
                h = torch.relu(self.c1(x))
                h = h + torch.relu(self.c2(h))
                h = nn.functional.max_pool2d(h, 2, 1)
                h = self.c3(h)
                h = nn.functional.avg_pool2d(h, 1)
                return self.fc(h.flatten(1))
        layers = [Conv(2, 3, padding=1), Act("relu"),
                  Residual([Conv(2, 3, padding=1), Act("relu")]), MaxPool(2, 1),
                  Conv(3, 2, stride=2), AvgPool(1), Dense(4)]
        return A().double(), (1, 8, 8), layers
    # conv1d with stride and padding, avg pool, max pool
    class B(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(2, 3, 3, stride=2, padding=1)
            self.fc = nn.Linear(3 * 2, 3)

        def forward(self, x):
            h = nn.functional.avg_pool1d(torch.relu(self.c1(x)), 2)
            h = nn.functional.max_pool1d(h, 2, 1)
            return self.fc(h.flatten(1))
    layers = [Conv(3, 3, stride=2, padding=1), Act("relu"), AvgPool(2), MaxPool(2, 1),
              Dense(3)]
    return B().double(), (2, 11), layers


@pytest.mark.parametrize("which", ["A", "B"])
def test_reference_equals_pytorch_autograd(which):
    """Outputs and mean squared-loss gradients equal PyTorch's, exactly (dyadic data)."""
    model, shape, layers = _torch_model(which)
    net = sequential(shape, layers)
    n = 4  # mean over 4 samples: the factor 1/4 keeps every float64 value exact
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randint(-4, 5, p.shape, generator=gen).double() / 8)
    x = torch.randint(-3, 4, (n, *shape), generator=gen).double()
    y = torch.nn.functional.one_hot(torch.arange(n) % net.c, net.c).double()
    out = model(x)
    loss = 0.5 * ((out - y) ** 2).sum() / n
    loss.backward()
    # the composition lays parameters out layer by layer like the module's state_dict
    w = _frac([F(v) for p in model.parameters() for v in p.detach().reshape(-1).tolist()])
    xe = _frac(x.reshape(n, -1).numpy().astype(int))
    ye = _frac(y.numpy().astype(int))
    assert np.array_equal(ref.cnn_forward(net, w, xe), _frac(out.detach().numpy()))
    tgrad = np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])
    assert np.array_equal(ref.cnn_grad(net, w, xe, ye), _frac(tgrad))
    assert np.array_equal(_graph_forward(net, w, xe), ref.cnn_forward(net, w, xe))
    # from_torch reads the same module (functional pools included) into the same network
    from symbolic_universality.networks.torch_import import from_torch

    tnet = from_torch(model, x[:1])
    assert [o.kind for o in tnet.ops if o.kind != "reshape"] == \
        [o.kind for o in net.ops if o.kind != "reshape"]
    assert np.array_equal(ref.cnn_forward(tnet, w, xe), _frac(out.detach().numpy()))


def test_max_pool_tie_goes_to_the_first_entry_by_hand():
    """One 2x2 window with a tie: f = max(x) ; df/dx = e_first-max (relu'(0) = 0)."""
    net = sequential((1, 2, 2), [MaxPool(2), Flatten()])
    x = _frac([[1, 3, 3, 2]])
    assert np.array_equal(ref.cnn_forward(net, np.zeros(0, dtype=object), x), _frac([[3]]))
    xn = g.data_x(4)
    out = net.forward(g.param("w", (0,)), xn)
    from symbolic_universality.graph.autodiff import gradients

    dx = gradients(g.total(out), [xn], per_sample=True)[xn]
    (val,) = evaluate([dx], EXACT, {"w": np.zeros(0, dtype=object)}, x, None)
    assert list(np.asarray(val)[0]) == [0, 1, 0, 0]


def test_average_and_sum_pool_are_exact_by_hand():
    x = _frac([[1, 2, 5, 7, 0, 0, 1, 1]])
    for layer, want in ((AvgPool(2), _frac([[F(3, 4), F(7, 2)]])),  # (1+2+0+0)/4, (5+7+1+1)/4
                        (AvgPool(2, divisor=1), _frac([[3, 14]]))):
        net = sequential((1, 2, 4), [layer, Flatten()])
        assert np.array_equal(ref.cnn_forward(net, np.zeros(0, dtype=object), x), want)
        assert np.array_equal(_graph_forward(net, np.zeros(0, dtype=object), x), want)
    # the sum pool has no fixed factor (no scale node) in f
    net = parse_cnn("cnn:1x2x4-sp2-flat")
    out = net.forward(g.param("w", (0,)), g.data_x(8))
    assert not [n for n in g.topological([out]) if n.op in ("scale", "const")]


def test_conv_by_hand():
    """1-D conv, kernel (1, -1), stride 1, padding 1, bias 2: out = 2 + x[i-1] - x[i]."""
    net = sequential((1, 3), [Conv(1, 2, padding=1), Dense(1, bias=False)])
    w = _frac([1, -1, 2, 1, 1, 1, 1])  # kernel, bias, then dense weights (all ones)
    x = _frac([[5, 7, 11]])
    conv = [2 + 0 - 5, 2 + 5 - 7, 2 + 7 - 11, 2 + 11 - 0]
    assert np.array_equal(_graph_forward(net, w, x), _frac([[sum(conv)]]))
    assert np.array_equal(ref.cnn_forward(net, w, x), _frac([[sum(conv)]]))


def test_spec_equals_composition_and_layout():
    a = parse_cnn("cnn:1x8x8-c2k3-relu-p2-fc10", 64, 10)
    b = sequential((1, 8, 8), [Conv(2, 3), Act("relu"), MaxPool(2), Dense(10)])
    assert a.params == b.params == (("layer0.weight", (2, 1, 3, 3)), ("layer0.bias", (2,)),
                                    ("layer3.weight", (10, 18)), ("layer3.bias", (10,)))
    assert a.n_params == 18 + 2 + 180 + 10 == 210
    assert [o.shape for o in a.ops] == [(1, 8, 8), (2, 6, 6), (2, 6, 6), (2, 3, 3), (18,),
                                        (10,)]
    assert parse_network("cnn:1x8x8-c2k3-relu-p2-fc10", 64, 10).n_params == 210


@pytest.mark.parametrize("spec, words", [
    ("cnn:1x8x8-c2k3-tanhh-fc10", "cannot read layer 'tanhh'"),
    ("cnn:1x9x9-c2k3-fc10", "takes inputs of shape 1x9x9 = 81"),
    ("cnn:1x8x8-c2k3-fc9", "has 9 outputs but the data set has 10"),
    ("cnn:1x8x8-c2k3", "end it with a dense layer"),
    ("cnn:1x8x8-r(c3k3)-fc10", "keep the shape"),
    ("cnn:1x2x2-c1k3-fc10", "too small"),
    ("cnn:1x8x8-r(c1k3p1-fc10", "unbalanced"),
    ("cnn:relu-fc10", "must start with the input shape"),
])
def test_bad_specs_are_one_sentence_value_errors(spec, words):
    with pytest.raises(NetworkSpecError) as err:
        parse_network(spec, 64, 10)
    assert isinstance(err.value, ValueError)
    assert words in str(err.value)


def _verify_gd(spec: str, dataset: str, samples: int, T: int = 1):
    data = load_dataset(dataset, samples)
    net = parse_network(spec, data.d, data.c)
    entry = ALGORITHMS["gd"]
    ext = compile_extension(net, trace(entry.traced, net.d, net.c, name="gd", net=net, T=T))
    reference = entry.reference(net, data.x, data.y, T=T)
    return _check(ext, data.x, data.y, reference, held_out=data.x[:2] + F(1, 7))


def test_gd_on_a_cnn_verifies_exactly_on_digits():
    t0 = time.perf_counter()
    report = _verify_gd("cnn:1x8x8-c2k3-relu-p2-fc10", "digits", 10)
    assert report.status == "verified", report.message
    assert report.reference_equal and report.final_weights_equal
    assert report.forward_output_equal and report.aux_zero and report.inert_after_K
    assert time.perf_counter() - t0 < 60


def test_gd_on_a_1d_residual_cnn_verifies_exactly_on_wine():
    report = _verify_gd("cnn:1x13-c2k3s2p1-relu-r(c2k3p1-relu)-sp2-fc3", "wine", 6)
    assert report.status == "verified", report.message
    assert report.reference_equal


def test_a_wrong_reference_is_refuted():
    data = load_dataset("iris", 6)
    net = parse_network("cnn:1x4-c2k2-relu-fc3", 4, 3)
    entry = ALGORITHMS["gd"]
    ext = compile_extension(net, trace(entry.traced, net.d, net.c, name="gd", net=net, T=1))
    wrong = entry.reference(net, data.x, data.y, T=2)
    report = _check(ext, data.x, data.y, wrong)
    assert report.status == "refuted"
