"""Cross-entropy as the main loss (issue 14 item 3): compensation, exactness up to K, T3 in
float64, prove, the torch export, the CLI.

Expected values come from hand computations on the worked example's data (Fractions),
from PyTorch (``F.cross_entropy``, ``torch.softmax``), and from seeded faults that the named
check must catch."""

from __future__ import annotations

from fractions import Fraction as Fr

import numpy as np
import pytest

import symbolic_universality as su
from symbolic_universality.backends.flint import FLINT
from symbolic_universality.backends.scalars import EXACT, NUMERIC, IrrationalError
from symbolic_universality.cli import main
from symbolic_universality.pipeline import prepare, verify_exact
from symbolic_universality.verify.faults import run_fault
from symbolic_universality.verify.steps import gd_step

# construction.md section 5: x = (1,2), (-1,1), (3,-2); y = e1, e2, e1
X = [(1, 2), (-1, 1), (3, -2)]
Y = [0, 1, 0]


def _hand_reads() -> tuple[np.ndarray, np.ndarray]:
    """mean_i (y_i - 1/2) x_i^T and mean_i 1 x_i^T, by hand (c = 2 classes)."""
    raw = np.zeros((2, 2), dtype=object)
    ones = np.zeros((2, 2), dtype=object)
    for (a, b), lab in zip(X, Y, strict=True):
        for cls in range(2):
            yc = Fr(1 if lab == cls else 0) - Fr(1, 2)
            raw[cls, 0] += yc * a / 3
            raw[cls, 1] += yc * b / 3
            ones[cls, 0] += Fr(a, 3)
            ones[cls, 1] += Fr(b, 3)
    return raw, ones


def test_step_0_writes_the_cross_entropy_read_and_its_compensation():
    job = prepare("worked", "linear-nobias", "tiny", loss="ce")
    ext = job.extension
    assert ext.loss_kind == "ce"
    assert "R2_ones" in {i.target.name for i in ext.program.instructions}
    assert ext.K == 2  # the compensating read runs with R2 (T4)
    new = gd_step(ext, ext.theta0, job.data.x, job.data.y, ext.eta, EXACT)
    raw, ones = _hand_reads()
    got_raw = np.asarray(new["reg.R2"], dtype=object)
    got_ones = np.asarray(new["reg.R2_ones"], dtype=object)
    # the register's layout may be the transpose of (class, feature): compare as sets of
    # positions the way the program reads it, through R + R_ones / 2 = mean y x^T
    plain = got_raw + got_ones * Fr(1, 2)
    mean_yx = np.zeros((2, 2), dtype=object)
    for (a, b), lab in zip(X, Y, strict=True):
        mean_yx[lab, 0] += Fr(a, 3)
        mean_yx[lab, 1] += Fr(b, 3)
    assert sorted(map(str, got_raw.reshape(-1))) == sorted(map(str, raw.reshape(-1)))
    assert sorted(map(str, got_ones.reshape(-1))) == sorted(map(str, ones.reshape(-1)))
    assert sorted(map(str, plain.reshape(-1))) == sorted(map(str, mean_yx.reshape(-1)))


def test_worked_example_verifies_exactly_with_T3_in_float():
    r = verify_exact(prepare("worked", "linear-nobias", "tiny", loss="ce"), oracle="both")
    assert r.status == "verified", r.message
    # A(D) is the worked example's (construction.md section 5), whatever the loss
    assert r.final_weights == ["49/225", "1/45", "-11/225", "23/450"]
    t3 = r.property("T3")
    assert t3.status == "verified" and "float64" in t3.detail
    assert r.steps[-1].t3_float and r.steps[-1].moved_set == "verified"


@pytest.mark.parametrize("network", ["linear", "mlp:4-5-3:relu"])
def test_gd_verifies_on_every_backend(network):
    r = su.verify("gd", network, "iris", samples=12, options={"T": 2}, loss="ce",
                  backends="exact,numeric,torch")
    assert r.status == "verified", r.summary()
    assert r.certificate()["loss"] == "ce"


def test_uncompensated_cross_entropy_is_refuted_at_step_0():
    res = run_fault("ce_uncompensated")
    assert res.ok, res


def test_T3_float_check_catches_a_wrong_base_gradient(monkeypatch):
    from symbolic_universality.zoo import references as ref

    real = ref.network_grad

    def squared_instead(net, w, x, y, loss="mse"):
        return real(net, w, x, y, loss="mse")  # the wrong loss for the plain GD step

    monkeypatch.setattr(ref, "network_grad", squared_instead)
    r = verify_exact(prepare("gd", "linear", "iris", samples=12, T=1, loss="ce"))
    assert r.status == "refuted"
    assert r.first_failure == f"step {r.gd_steps} (float64)"


def test_cross_entropy_gradient_reference_equals_torch():
    torch = pytest.importorskip("torch")
    from symbolic_universality.networks.mlp import parse_network
    from symbolic_universality.zoo import references as ref

    net = parse_network("mlp:3-4-3:relu", 3, 3)
    rng = np.random.default_rng(0)
    w = rng.normal(size=net.n_params)
    x = rng.normal(size=(5, 3)) * 3
    lab = np.array([0, 2, 1, 1, 0])
    y = np.eye(3)[lab]
    got = ref.network_grad(net, w, x, y, loss="ce")
    wt = torch.tensor(w, requires_grad=True)
    out = torch.as_tensor(ref.network_forward(net, w, x))  # forward only, for the shapes
    assert out.shape == (5, 3)
    # the same MLP written in torch
    W1 = wt[:12].reshape(4, 3)
    b1 = wt[12:16]
    W2 = wt[16:28].reshape(3, 4)
    b2 = wt[28:31]
    h = torch.relu(torch.as_tensor(x) @ W1.T + b1)
    logits = h @ W2.T + b2
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(lab))
    loss.backward()
    assert np.allclose(got, wt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_exact_backends_take_exp_and_log_only_at_their_rational_points():
    for b in (EXACT, FLINT):
        if b is None:
            continue
        one = b.unary("exp", b.asarray(np.array([Fr(0)], dtype=object)))
        assert one[0] == 1
        assert b.unary("log", b.asarray(np.array([Fr(1)], dtype=object)))[0] == 0
        with pytest.raises(IrrationalError, match="irrational"):
            b.unary("exp", b.asarray(np.array([Fr(1, 3)], dtype=object)))
        soft = b.rows("softmax", b.asarray(np.array([[Fr(5), Fr(5), Fr(5)]], dtype=object)))
        assert [Fr(str(v)) for v in soft[0]] == [Fr(1, 3)] * 3
        with pytest.raises(IrrationalError):
            b.rows("softmax", b.asarray(np.array([[Fr(0), Fr(1)]], dtype=object)))


def test_float_softmax_is_stable_and_equals_torch():
    torch = pytest.importorskip("torch")
    z = np.array([[1000.0, 999.0, -50.0], [0.0, 0.0, 0.0], [-800.0, -801.0, -799.0]])
    got = NUMERIC.rows("softmax", z)
    want = torch.softmax(torch.as_tensor(z), dim=-1).numpy()
    assert np.all(np.isfinite(got)) and np.allclose(got, want, rtol=1e-15, atol=0)
    lse = NUMERIC.rows("logsumexp", z)
    assert np.allclose(lse, torch.logsumexp(torch.as_tensor(z), dim=-1).numpy(), rtol=1e-15)


def test_numeric_run_with_large_logits_does_not_overflow():
    # gd diverges on digits with lr = 1/10 (outputs ~ 7e4): exp would overflow without
    # the row maximum; T3 must still compare finite numbers
    r = su.run("gd", "mlp:8-6-3:relu", synthetic="n=64,d=8,c=3,seed=1",
               options={"T": 3, "lr": 1}, loss="ce")
    assert "inf" not in r.summary().split("T3  step of w")[1].split("\n")[0], r.summary()


def test_prove_cross_entropy_for_every_data_set():
    r = su.prove("gd", "linear", d=2, c=2, options={"T": 1}, loss="ce")
    assert r.status == "verified", r.summary()
    assert r.certificate()["loss"] == "ce"


def test_prove_refutes_the_uncompensated_construction():
    from symbolic_universality.verify.faults import inject

    with inject("ce_uncompensated"):
        r = su.prove("worked", "linear-nobias", d=2, c=2, loss="ce", backends=("algebra",))
    assert r.status == "refuted", r.summary()


def test_cli_loss_flag(capsys):
    assert main(["verify", "-a", "worked", "-n", "linear-nobias", "--loss", "ce"]) == 0
    assert "cross-entropy" in capsys.readouterr().out
    assert main(["verify", "--loss", "hinge"]) == 2
    assert "invalid choice: 'hinge'" in capsys.readouterr().err


def test_api_refuses_an_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        su.verify("worked", "linear-nobias", loss="hinge")


def test_a_torch_cnn_with_cross_entropy_verifies_and_loads_back():
    """The issue's researcher: a small CNN in PyTorch, cross-entropy, momentum vs plain GD."""
    torch = pytest.importorskip("torch")
    from symbolic_universality.networks.torch_import import from_torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(8, 3)).double()
    net = from_torch(module, torch.zeros(1, 1, 4, 4, dtype=torch.float64))
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(9, 16))
    labels = np.arange(9) % 3
    for alg in ("gd_cnn", "momentum"):
        r = su.verify(alg, net, (x, labels), options={"T": 2}, loss="ce",
                      backends="exact,torch")
        assert r.status == "verified", r.summary()
    w = [Fr(v) for v in r.report.final_weights]
    module.load_state_dict(net.to_torch_state_dict(w))
    out = module(torch.as_tensor(x, dtype=torch.float64).reshape(-1, 1, 4, 4)).detach().numpy()
    from symbolic_universality.zoo import references as ref

    want = ref.network_forward(net, np.array(w, dtype=object), np.asarray(x, dtype=object))
    assert np.allclose(out, np.asarray(want, dtype=float), rtol=1e-12)


def test_prove_checks_the_compensation_of_this_program(monkeypatch):
    """A wrong compensation coefficient leaves every GD step consistent with the (wrong)
    compiled program; prove must still refute it, by the per-program identity."""
    from symbolic_universality.extension import compiler, crossentropy

    real = crossentropy.cross_entropy_program
    monkeypatch.setattr(compiler, "cross_entropy_program",
                        lambda program: real(program, coef=Fr(0)))
    r = su.prove("gd", "linear", d=2, c=2, options={"T": 1}, loss="ce", backends=("algebra",))
    assert r.status == "refuted", r.summary()
    assert "CE comp." in r.message


def test_compensation_identity_holds_for_the_library():
    from symbolic_universality.extension.crossentropy import check_compensation

    for alg, net in (("worked", "linear-nobias"), ("gd", "mlp:2-3-2:relu"),
                     ("momentum", "linear"), ("nesterov", "linear")):
        ext = su.compile(alg, net, "tiny", loss="ce").extension
        status, detail = check_compensation(ext.source_program, ext.program)
        assert status == "verified", (alg, detail)


def test_dag_softmax_atom_equal_rows_flint_and_sympy():
    """The DAG backend's softmax (backends.dag.softmax): 1/c on a row of one interned value,
    otherwise an uninterpreted atom of its row that FLINT and sympy read the same way."""
    import sympy as sp

    from symbolic_universality.backends import dag
    from symbolic_universality.backends.symbolic import Softmax
    from symbolic_universality.symbolic.recheck import recheck_dag

    a, b = dag.symbol("a"), dag.symbol("b")  # no dag.reset(): other modules hold nodes
    assert dag.softmax([a + b, b + a, a + b]) == [dag.const(Fr(1, 3))] * 3
    s0, s1 = dag.softmax([a, b])
    assert s0 is dag.softmax([a, b])[0] and s0 is not s1  # interned, index matters
    (sym,) = dag.to_sympy([s0])
    assert sym == Softmax(sp.Integer(0), sp.Symbol("a"), sp.Symbol("b"))
    # (a + b) s0 - a s0 = b s0 as polynomials in the atom; s0 and s1 stay distinct
    assert recheck_dag([((a + b) * s0 - a * s0, b * s0, set())]) is True
    assert recheck_dag([(s0, s1, set())]) is None
    with pytest.raises(dag.IrrationalError):
        dag.evaluate_at([s0], {"a": Fr(1), "b": Fr(2)})
    assert dag.evaluate_at([s0], {"a": Fr(2), "b": Fr(2)}) == [Fr(1, 2)]
