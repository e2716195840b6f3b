"""The independent reference of ``symbolic.reference`` on convolutional base networks, the
cross-entropy residual, and ``prove``/replay/report on a CNN (issue 14).

Expected values come from sources independent of the code under test: the Fraction-only
``zoo.references.cnn_forward/cnn_grad`` (NumPy slicing and ``tensordot``, written
separately), PyTorch autograd in float64 (``F.cross_entropy`` for the CE gradient), hand
computations, and the exact checker of ``verify.steps``.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
import sympy as sp

from symbolic_universality import cli
from symbolic_universality.backends.scalars import EXACT, NUMERIC, ExactBackend
from symbolic_universality.backends.symbolic import SYMPY, Z3
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.networks import (
    Act,
    AvgPool,
    Conv,
    Dense,
    MaxPool,
    Residual,
    parse_cnn,
    parse_network,
    sequential,
)
from symbolic_universality.pipeline import compile_algorithm
from symbolic_universality.symbolic import reference
from symbolic_universality.symbolic.data import (
    SymbolicSpec,
    SymbolicSpecError,
    one_hot,
    parse_classes,
)
from symbolic_universality.symbolic.frontend import network_for
from symbolic_universality.symbolic.prover import prove_extension
from symbolic_universality.symbolic.replay import replay_obligation
from symbolic_universality.verify.steps import check_exact
from symbolic_universality.zoo import references as zref
from symbolic_universality.zoo.algorithms import ALGORITHMS

SPECS = [
    "cnn:1x5x5-c2k3-relu-p2-fc3",  # max pool after relu: ties at 0 are common
    "cnn:2x5x6-c3k2s2p1-relu-ap2-fc2",
    "cnn:1x4x4-c2k3p1-relu-r(c2k3p1-relu)-mp2s1-c1k2-flat",
    "cnn:2x9-c3k3s2p1-relu-r(c3k3p1-square)-ap2-fc3",
    "cnn:1x7x7-c2k3s2-sat-mp2-fc2",
    "cnn:1x6x6-c2k2-relu-sp2-identity-fc3",
]


def _frac(a) -> np.ndarray:
    arr = np.asarray(a)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):  # plain Python ints inside (not numpy's)
        out[idx] = (v if isinstance(v, F) else F(float(v))
                    if isinstance(v, (float, np.floating)) else F(int(v)))
    return out


def _data(net, n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = _frac(rng.integers(-3, 4, size=(n, net.d)))
    y = _frac(np.eye(net.c, dtype=int)[rng.integers(0, net.c, size=n)])
    return x, y


# ------------------------------------------------------ the reference, exact data


@pytest.mark.parametrize("spec", SPECS)
def test_reference_equals_the_zoo_reference_exactly(spec):
    net = parse_cnn(spec)
    x, y = _data(net, 3, 7)
    w = zref.seeded_weights(net.n_params, 2)
    got = np.array([reference.forward(net, w, x[i], EXACT) for i in range(3)])
    assert np.array_equal(got, zref.cnn_forward(net, w, x))
    assert np.array_equal(reference.mean_grad(net, w, x, y, EXACT), zref.cnn_grad(net, w, x, y))


def test_conv_stride_padding_by_hand():
    """1-D conv, kernel (1, -1), stride 2, padding 1, bias 2, then a dense sum.

    xp = (0, 5, 7, 11, 0): windows at 0 and 2 give 2 + 0 - 5 = -3 and 2 + 7 - 11 = -2;
    d/dkernel = (0 + 7, 5 + 11) = (7, 16), d/dbias = 2, d/ddense = (-3, -2)."""
    net = sequential((1, 3), [Conv(1, 2, stride=2, padding=1), Dense(1, bias=False)])
    w = _frac([1, -1, 2, 1, 1])
    x = _frac([5, 7, 11])
    assert list(reference.forward(net, w, x, EXACT)) == [-5]
    # the gradient of 1/2 (f - y)^2 at y = 0 is f * df/dw = -5 * (7, 16, 2, -3, -2)
    g = reference.mean_grad(net, w, x.reshape(1, -1), _frac([[0]]), EXACT)
    assert list(g) == [-35, -80, -10, 15, 10]


def test_max_pool_tie_goes_to_the_first_entry():
    """max(3, 3, 1, 2) = 3; the gradient goes to the first 3 (row-major), as the graph does."""
    net = sequential((1, 2, 2), [MaxPool(2), Dense(1, bias=False)])
    w = _frac([1])
    x = _frac([[3, 3], [1, 2]]).reshape(1, -1)
    assert list(reference.forward(net, w, x[0], EXACT)) == [3]
    g = reference.mean_grad(net, w, x, _frac([[0]]), EXACT)  # f df/dw = 3 * 3
    assert list(g) == [9]
    # the input gradient: put the input in a trainable position via a conv of kernel 1
    net = sequential((1, 2, 2), [Conv(1, 1, bias=False), MaxPool(2), Dense(1, bias=False)])
    w = _frac([1, 1])
    assert list(reference.mean_grad(net, w, x, _frac([[0]]), EXACT)) == [9, 9]


def test_symbolic_backends_agree_with_exact_after_substitution():
    """The same reference on sympy/z3 symbols, then rationals substituted, equals the exact
    values (including ties in the max pool, where H(0) = 0 decides)."""
    net = parse_cnn("cnn:1x3x3-c1k2-relu-mp2s1-fc2")
    w = zref.seeded_weights(net.n_params, 4)
    x = _frac([[0, 1, 1], [0, -2, 1], [3, 0, 0]]).reshape(1, -1)
    y = _frac([[1, 0]])
    want = reference.mean_grad(net, w, x, y, EXACT)
    xs = sp.symbols("x0:9")
    sym = reference.mean_grad(net, SYMPY.asarray(w), np.array([xs], dtype=object),
                              SYMPY.asarray(y), SYMPY)
    env = {s: sp.Rational(v.numerator, v.denominator) for s, v in zip(xs, x[0], strict=True)}
    assert [F(str(sp.nsimplify(e.subs(env).doit()))) for e in sym] == list(want)
    import z3

    zs = [z3.Real(f"x{i}") for i in range(9)]
    zg = reference.mean_grad(net, w, np.array([zs], dtype=object), y, Z3)
    sub = [(s, z3.RealVal(str(v))) for s, v in zip(zs, x[0], strict=True)]
    vals = []
    for e in zg:
        if isinstance(e, F):
            vals.append(e)
        else:
            r = z3.simplify(z3.substitute(e, *sub))
            vals.append(F(r.numerator_as_long(), r.denominator_as_long()))
    assert vals == list(want)


def test_gd_cnn_reference_weights_equal_the_zoo():
    net = parse_cnn("cnn:1x4x4-c1k2-relu-ap2-fc2")
    x, y = _data(net, 2, 1)
    for T in (1, 2):
        got = reference.reference_weights("gd_cnn", net, x, y, EXACT, T=T)
        assert list(got) == list(ALGORITHMS["gd_cnn"].reference(net, x, y, T=T))
    assert list(reference.reference_weights("gd", net, x, y, EXACT, T=1)) == \
        list(zref.reference_gd_net(net, x, y, T=1))


# ------------------------------------------------------------------- PyTorch (float64)

torch = pytest.importorskip("torch")


class _Net(torch.nn.Module):
    """6x6 input: conv k3 p1 - relu - residual(conv k3 p1 - relu) - max pool 2 s1 - conv k2 -
    relu - average pool 2 s1 (``sum``: divisor 1) - linear (2 x 3 x 3 -> 3)."""

    def __init__(self, pool: str):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.c2 = torch.nn.Conv2d(2, 2, 3, padding=1)
        self.c3 = torch.nn.Conv2d(2, 2, 2)
        self.fc = torch.nn.Linear(2 * 3 * 3, 3)
        self.pool = pool

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = h + torch.relu(self.c2(h))
        h = torch.nn.functional.max_pool2d(h, 2, 1)
        h = torch.relu(self.c3(h))
        if self.pool == "avg":
            h = torch.nn.functional.avg_pool2d(h, 2, 1)
        else:
            h = torch.nn.functional.avg_pool2d(h, 2, 1, divisor_override=1)
        return self.fc(h.flatten(1))


def _torch_pair(pool: str):
    model = _Net(pool).double()
    layers = [Conv(2, 3, padding=1), Act("relu"),
              Residual([Conv(2, 3, padding=1), Act("relu")]), MaxPool(2, 1),
              Conv(2, 2), Act("relu"), AvgPool(2, 1, None if pool == "avg" else 1), Dense(3)]
    return model, sequential((1, 6, 6), layers)


def _w_of(model) -> np.ndarray:
    return np.concatenate([p.detach().reshape(-1).numpy() for p in model.parameters()])


@pytest.mark.parametrize("pool", ["avg", "sum"])
def test_reference_equals_pytorch_float64(pool):
    """Random float64 weights and inputs: outputs and the mean squared-loss gradient."""
    model, net = _torch_pair(pool)
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    n = 3
    x = torch.randn((n, 1, 6, 6), generator=gen, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.arange(n) % 3, 3).double()
    out = model(x)
    (0.5 * ((out - y) ** 2).sum() / n).backward()
    w = _w_of(model)
    xf, yf = x.reshape(n, -1).numpy(), y.numpy()
    f = np.array([reference.forward(net, w, xf[i], NUMERIC) for i in range(n)], dtype=float)
    np.testing.assert_allclose(f, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.asarray(reference.mean_grad(net, w, xf, yf, NUMERIC), dtype=float)
    tg = np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12)


def test_reference_equals_pytorch_exactly_on_dyadic_data():
    """Dyadic weights and integer inputs: every float64 value is exact, so PyTorch's numbers
    equal the exact reference's Fractions (ties in the pools included)."""
    model, net = _torch_pair("avg")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randint(-4, 5, p.shape, generator=gen).double() / 8)
    n = 2
    x = torch.randint(-2, 3, (n, 1, 6, 6), generator=gen).double()
    y = torch.nn.functional.one_hot(torch.arange(n) % 3, 3).double()
    out = model(x)
    (0.5 * ((out - y) ** 2).sum() / n).backward()
    w = _frac(_w_of(model))
    xe, ye = _frac(x.reshape(n, -1).numpy().astype(int)), _frac(y.numpy().astype(int))
    tg = np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])
    assert np.array_equal(reference.mean_grad(net, w, xe, ye, EXACT), _frac(tg))


# ------------------------------------------------------------------- cross-entropy


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_ce_gradient_equals_pytorch_cross_entropy(which):
    gen = torch.Generator().manual_seed(2)
    if which == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(),
                                    torch.nn.Linear(5, 3)).double()
        net = parse_network("mlp:4-5-3:relu", 4, 3)
        x = torch.randn((5, 4), generator=gen, dtype=torch.float64)
    else:
        model, net = _torch_pair("avg")
        x = torch.randn((5, 1, 6, 6), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    labels = torch.tensor([0, 2, 1, 2, 0])
    torch.nn.functional.cross_entropy(model(x), labels).backward()  # mean over samples
    tg = np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])
    xf = x.reshape(5, -1).numpy()
    yf = np.eye(3)[labels.numpy()]
    g = np.asarray(reference.mean_grad(net, _w_of(model), xf, yf, NUMERIC, loss="ce"),
                   dtype=float)
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12)
    # the squared loss is a different gradient (the test can fail)
    assert not np.allclose(np.asarray(reference.mean_grad(net, _w_of(model), xf, yf, NUMERIC),
                                      dtype=float), tg)


class _ExpAtZero(ExactBackend):
    """The exact backend with ``exp(0) = 1`` (and no other argument), as the lead plans."""

    def unary(self, op, a, **attrs):
        if op == "exp":
            assert all(v == 0 for v in np.asarray(a).flat)
            return np.full(np.shape(a), F(1), dtype=object)
        return super().unary(op, a, **attrs)


def test_ce_residual_at_zero_output_is_one_over_c_minus_y_exactly():
    """At ``w = 0`` the output is 0, softmax is exactly uniform: residual ``1/c - y``, so
    the CE gradient of a linear net is ``mean_i (1/c - y_i) x_i^T`` (and ``mean (1/c - y)``)."""
    net = parse_network("linear", 2, 3)
    x = _frac([[1, 2], [-1, 3]])
    y = _frac([[1, 0, 0], [0, 0, 1]])
    g = reference.mean_grad(net, _frac([0] * net.n_params), x, y, _ExpAtZero(), loss="ce")
    r = _frac([[F(1, 3) - 1, F(1, 3), F(1, 3)], [F(1, 3), F(1, 3), F(1, 3) - 1]])
    want_W = (r.T @ x) * F(1, 2)
    want_b = r.sum(axis=0) * F(1, 2)
    assert list(g) == list(want_W.reshape(-1)) + list(want_b)


def test_unknown_loss_is_one_sentence():
    net = parse_network("linear", 2, 2)
    with pytest.raises(ValueError, match="unknown loss 'hinge'; choose one of mse, ce"):
        reference.mean_grad(net, _frac([0] * 6), _frac([[1, 2]]), _frac([[1, 0]]), EXACT,
                            loss="hinge")


# ----------------------------------------------------------- prove on a CNN (short runs)


@pytest.mark.parametrize("spec,T", [
    ("cnn:1x4x4-c2k3-relu-fc2", 1),
    ("cnn:1x4x4-c1k2-relu-ap2-fc2", 2),
])
def test_prove_generic_every_step_on_a_cnn(spec, T):
    net = network_for(spec, SymbolicSpec(1))
    ext = compile_algorithm("gd_cnn", net, T=T)
    report = prove_extension(ext, n=1, classes=parse_classes("symbolic", 1, net.c),
                             backends=["algebra", "smt"], algorithm="gd_cnn",
                             options={"T": T}, scope="generic")
    assert report.status == "verified", report.message
    assert len(report.steps) == ext.K + 1 == T + 2
    proved = {v.block for v in report.verdicts if v.status == "proved"}
    assert {"T2.F_main", "T2.F_aux", "w"} <= proved


@pytest.mark.parametrize("spec,T", [("cnn:1x3x3-c1k2-relu-p2s1-fc2", 1),
                                    ("cnn:1x3-c1k3p1-relu-r(c1k3p1-relu)-fc2", 1),
                                    ("cnn:1x3x3-c1k2-relu-p2s1-fc2", 2)])
def test_prove_fixed_with_t1_on_a_pool_and_a_residual_cnn(spec, T):
    """T1 (A(D) = the independent reference), T2 and T3 for every data set of one sample
    (z3; the algebra backend and the larger instances are in bench/cnn_proofs.py)."""
    net = network_for(spec, SymbolicSpec(1))
    ext = compile_algorithm("gd_cnn", net, T=T)
    report = prove_extension(ext, n=1, classes=parse_classes("symbolic", 1, net.c),
                             backends=["smt"], algorithm="gd_cnn", options={"T": T})
    assert report.status == "verified", report.message
    assert any(v.block == "T1.reference" and v.status == "proved" for v in report.verdicts)


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cnn_spec_fixes_d_and_a_conflicting_d_is_refused(capsys):
    net = network_for("cnn:1x4x4-c2k3-relu-fc2", SymbolicSpec(1))
    assert (net.d, net.c) == (16, 2)
    assert network_for("cnn:2x3-c1k2-relu-fc3", SymbolicSpec(1, 6, 3)).d == 6
    with pytest.raises(SymbolicSpecError, match="d=15 but the network .* 16 features"):
        network_for("cnn:1x4x4-c2k3-relu-fc2", SymbolicSpec(1, 15))
    with pytest.raises(SymbolicSpecError, match="c=3 but the network .* 2 outputs"):
        network_for("cnn:1x4x4-c2k3-relu-fc2", SymbolicSpec(1, None, 3))
    code, out, err = _run(["prove", "-a", "gd_cnn", "-n", "cnn:1x4x4-c2k3-relu-fc2",
                           "--symbolic", "d=15"], capsys)
    assert code == 2 and err.count("\n") == 1 and "use d=16 or leave d= out" in err
    assert "Traceback" not in err


def test_cli_prove_a_cnn_fault_is_refuted_with_a_replayed_counterexample(capsys):
    code, out, err = _run(["prove", "-a", "gd_cnn", "-n", "cnn:1x3-c1k2-relu-fc2", "--T", "1",
                           "--fault", "register_nonzero"], capsys)
    assert code == 1, out + err
    assert "verdict: REFUTED" in out and "exact replay" in out


def test_replay_on_a_cnn_is_exact():
    """Sound extension: replaying T3 and T2 on data agrees; a wrong step size is confirmed
    as a counterexample, and the exact checker of verify.steps refutes it too."""
    net = parse_cnn("cnn:1x3x3-c1k2-relu-p2s1-fc2")
    ext = compile_algorithm("gd_cnn", net, T=1)
    x, _ = _data(net, 2, 5)
    labels = (0, 1)
    for block in ("w", "T2.F_main", "T2.F_aux"):
        r = replay_obligation(ext, ext.K, block, x, labels, xs=x[1])
        assert not r.confirmed and "agree" in r.reason, (block, r)
    r = replay_obligation(ext, ext.K, "T1.reference", x, labels, algorithm="gd_cnn",
                          options={"T": 1})
    assert not r.confirmed and "agree" in r.reason
    bad = replay_obligation(ext, 0, "reg.grad0_u", x, labels, eta=F(1, 5))
    assert bad.confirmed, bad
    assert check_exact(ext, x, _frac(one_hot(labels, 2)), eta=F(1, 5)).status == "refuted"
    broken = compile_extension(net, ext.program, fault="register_nonzero")
    assert replay_obligation(broken, 0, "reg.grad0_u", x, labels).confirmed


# ------------------------------------------------------------------ report trajectory


def test_trajectory_on_a_cnn_exact():
    from symbolic_universality.report import plots, run_trajectory
    from symbolic_universality.report.trajectory import algorithm_iterates, decoded_gd_iterates

    net = parse_cnn("cnn:1x3x3-c1k2-relu-p2s1-fc2")
    ext = compile_algorithm("gd_cnn", net, T=2)
    x, y = _data(net, 3, 9)
    traj = run_trajectory(ext, x, y, extra_steps=2, exact=True)
    K = ext.K
    assert traj.exact and traj.moved(K) == ["w"]
    assert traj.predicted[K] == {"w"}
    # plain GD on f from w_K, by zoo.references (a separate implementation), step by step
    w = traj.thetas[K]["w"]
    for j in range(3):
        assert np.array_equal(traj.base_path[j], w)
        assert np.array_equal(traj.thetas[K + j]["w"], w)
        w = w - ext.eta * zref.cnn_grad(net, w, x, y)
    assert plots.coincide_after_k(traj) is True
    r = zref.cnn_forward(net, traj.thetas[K]["w"], x) - y
    assert traj.base_losses[0] == pytest.approx(float(np.sum(r * r) / 6))
    its = algorithm_iterates("gd_cnn", ext, x, y, {"T": 2})
    dec = decoded_gd_iterates(traj)
    assert its is not None and len(its) == 3
    for k in range(3):
        assert np.array_equal(dec[k], its[k])
    assert np.array_equal(its[-1], zref.reference_gd_net(net, x, y, T=2))
    # float run: equal up to rounding, and the comparison still says so
    ft = run_trajectory(ext, x, y, extra_steps=2, exact=False)
    assert not ft.exact and plots.coincide_after_k(ft) is True


# ------------------------------------------------------------------ symuni run leftovers


@pytest.mark.parametrize("extra,words", [
    (["-d", "iris"], "so --dataset would be ignored; drop it"),
    (["-d", "tiny", "--samples", "3"], "so --dataset and --samples would be ignored"),
    (["--label", "y"], "so --label would be ignored"),
])
def test_run_refuses_a_data_set_with_synthetic(capsys, extra, words):
    code, out, err = _run(["run", "--synthetic", "n=50,d=2,c=2", *extra], capsys)
    assert code == 2 and words in err and err.count("\n") == 1 and not out


def test_run_without_dataset_still_runs_on_tiny(capsys):
    code, out, err = _run(["run", "--T", "1"], capsys)
    assert code == 0, err
    assert "on 3 samples" in out  # tiny has 3 samples
