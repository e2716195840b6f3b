"""A PyTorch module as the base network (networks.torch_import), issue 14 item 2.

The module itself (PyTorch's forward and autograd) is the independent side of every
comparison: the graph read by ``from_torch`` must compute the same outputs and
gradients, exactly on dyadic weights and integer inputs (where float64 is exact).
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from symbolic_universality.backends.scalars import EXACT, NUMERIC  # noqa: E402
from symbolic_universality.extension.compiler import compile_extension  # noqa: E402
from symbolic_universality.graph import core as g  # noqa: E402
from symbolic_universality.graph.evaluate import evaluate  # noqa: E402
from symbolic_universality.networks.mlp import loss_gradient  # noqa: E402
from symbolic_universality.networks.torch_import import (  # noqa: E402
    TorchImportError,
    from_torch,
    torch_weights,
)
from symbolic_universality.program.tracer import trace  # noqa: E402
from symbolic_universality.testing import check_against  # noqa: E402
from symbolic_universality.zoo import references as ref  # noqa: E402
from symbolic_universality.zoo.algorithms import ALGORITHMS  # noqa: E402
from symbolic_universality.zoo.datasets import load_dataset  # noqa: E402

_check = check_against


class SmallCNN(nn.Module):
    """Declared out of use order (fc before conv) so the state_dict order matters."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * 3 * 3, classes)
        self.conv = nn.Conv2d(1, 2, 3)
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()

    def forward(self, x):
        h = torch.relu(self.conv(x.view(-1, 1, 8, 8)))
        return self.fc(self.flat(self.pool(h)))


class Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(1, 2, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.AvgPool1d(2), nn.Identity())
        self.sum = nn.AvgPool2d((1, 1), divisor_override=1)  # a (trivial) sum pool
        self.res = nn.Conv1d(2, 2, 3, padding=1)
        self.head = nn.Linear(2 * 3, 3)

    def forward(self, x):
        h = self.body(x)
        h = h + self.res(h).relu()  # a residual block x + g(x)
        h = self.sum(h.view(-1, 2, 1, 3))
        return self.head(torch.flatten(h, 1))


def SumPoolNet() -> nn.Module:  # noqa: N802 (a model factory)
    return nn.Sequential(nn.Conv2d(2, 3, 2), nn.ReLU(), nn.AvgPool2d(2, divisor_override=1),
                         nn.MaxPool2d((1, 2), stride=1), nn.Flatten(), nn.Linear(3 * 2 * 1, 2))


def _dyadic(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randint(-4, 5, p.shape, generator=gen).double() / 8)
    return model


def _frac(a) -> np.ndarray:
    arr = np.asarray(a)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = F(v.item() if hasattr(v, "item") else v)
    return out


def _graph_forward(net, w, x, backend):
    wn, xn = g.param("w", (net.n_params,)), g.data_x(net.d)
    (out,) = evaluate([net.forward(wn, xn)], backend, {"w": w}, x, None)
    return np.asarray(out)


@pytest.mark.parametrize("make, shape", [(SmallCNN, (64,)), (Conv1dNet, (1, 11)),
                                         (SumPoolNet, (2, 5, 5))])
def test_round_trip_module_and_graph_agree_exactly_and_in_float64(make, shape):
    model = _dyadic(make().double())
    n = 4
    x = torch.randint(-3, 4, (n, *shape), generator=torch.Generator().manual_seed(2)).double()
    net = from_torch(model, x[:1])
    assert [name for name, _ in net.params] == [k for k in model.state_dict()]
    w = torch_weights(model)
    xe = _frac(x.reshape(n, -1).numpy().astype(int))
    want = model(x)
    exact = _graph_forward(net, w, xe, EXACT)
    assert np.array_equal(exact, _frac(want.detach().numpy()))
    assert np.array_equal(ref.network_forward(net, w, xe), exact)
    flo = _graph_forward(net, w.astype(float), x.reshape(n, -1).numpy(), NUMERIC)
    assert np.array_equal(flo, want.detach().numpy())
    # gradient of the mean squared loss: graph autodiff == PyTorch autograd, exactly
    y = nn.functional.one_hot(torch.arange(n) % net.c, net.c).double()
    (0.5 * ((want - y) ** 2).sum() / n).backward()
    tgrad = np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])
    wn, xn, yn = g.param("w", (net.n_params,)), g.data_x(net.d), g.data_y(net.c)
    (grad,) = evaluate([g.bmean(loss_gradient(net, wn, xn, yn))], EXACT, {"w": w}, xe,
                       _frac(y.numpy().astype(int)))
    assert np.array_equal(np.asarray(grad), _frac(tgrad))
    # the state_dict round trip
    sd = net.to_torch_state_dict(w)
    assert list(sd) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(sd[k], v)


def test_the_torch_cnn_verifies_and_a_of_d_loads_back():
    data = load_dataset("digits", 10)
    model = SmallCNN().double()
    net = from_torch(model, torch.zeros(1, 64, dtype=torch.float64))
    entry = ALGORITHMS["gd"]
    ext = compile_extension(net, trace(entry.traced, net.d, net.c, name="gd", net=net, T=1))
    a_of_d = entry.reference(net, data.x, data.y, T=1)
    report = _check(ext, data.x, data.y, a_of_d, held_out=data.x[:2] + F(1, 3))
    assert report.status == "verified", report.message
    assert report.reference_equal and report.forward_output_equal and report.inert_after_K
    model.load_state_dict(net.to_torch_state_dict(a_of_d))
    got = model(torch.tensor(data.x.astype(float))).detach().numpy()
    want = ref.network_forward(net, a_of_d, data.x).astype(float)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert not np.allclose(got, 0)


class _Wrap(nn.Module):
    def __init__(self, inner, fn=None):
        super().__init__()
        self.inner = inner
        self.fn = fn

    def forward(self, x):
        h = self.inner(x)
        return self.fn(h) if self.fn is not None else h


@pytest.mark.parametrize("model, words", [
    (nn.Sequential(nn.Linear(4, 3), nn.Tanh()), "layer 1 (Tanh) is not supported"),
    (nn.Sequential(nn.Conv1d(2, 2, 3, groups=2), nn.Flatten()), "uses groups"),
    (nn.Sequential(nn.Conv1d(2, 2, 3), nn.BatchNorm1d(2), nn.Flatten()),
     "layer 1 (BatchNorm1d) is not supported"),
    (_Wrap(nn.Linear(4, 3), torch.sigmoid), "function sigmoid"),
    (nn.Sequential(nn.Conv1d(2, 2, 3), nn.MaxPool1d(2, padding=1), nn.Flatten()),
     "uses padding"),
    (nn.Sequential(nn.Conv1d(2, 2, 3)), "return a vector of class scores"),
    (_Wrap(nn.Linear(4, 3), lambda h: h * 2), "function mul"),
    (nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)), "call module.eval()"),
])
def test_unsupported_layers_are_refused_with_a_sentence(model, words):
    shape = (1, 4) if isinstance(model, _Wrap) else (1, 2, 6)
    if isinstance(model, nn.Sequential) and isinstance(model[0], nn.Linear):
        shape = (1, 4)
    with pytest.raises(TorchImportError) as err:
        from_torch(model.double(), torch.zeros(shape, dtype=torch.float64))
    assert isinstance(err.value, ValueError)
    assert words in str(err.value)
