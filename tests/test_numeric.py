"""The float64 backend at scale: numeric check, pruning, chunking, CLI (issue 5).

Expected values come from independent computations (the exact backend, the plain-NumPy
references, the program's own float run), never from the code under test.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from symbolic_universality.backends.scalars import EXACT, NUMERIC, BackendError
from symbolic_universality.cli import _commands, main
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.graph import core as g
from symbolic_universality.graph.evaluate import evaluate, plan
from symbolic_universality.numeric.check import check_numeric, relative_error
from symbolic_universality.numeric.conditioning import CEILING, judge, norm_error, reference_runs
from symbolic_universality.numeric.instances import job_instance, parse_synthetic, run_check
from symbolic_universality.numeric.run import (
    expected_flags,
    expected_gates,
    float_state,
    gate_nodes,
    gate_values,
    gd_step,
    run_gd,
)
from symbolic_universality.pipeline import prepare
from symbolic_universality.verify.steps import gd_step as exact_gd_step

CASES = {
    "gd": ("gd", "mlp:4-5-3:relu", "iris", 24, {"T": 3}),
    "perceptron": ("perceptron", "linear", "iris", 24, {"T": 3}),
    "ncm": ("ncm", "linear", "iris", 24, {}),
    "worked": ("worked", "linear-nobias", "tiny", None, {}),
}


@pytest.fixture(scope="module")
def jobs():
    return {name: prepare(a, n, d, s, **o) for name, (a, n, d, s, o) in CASES.items()}


# ------------------------------------------------------------------ the check


@pytest.mark.parametrize("name", list(CASES))
def test_numeric_check_verifies_small_cases(jobs, name):
    report = run_check(job_instance(jobs[name]), extra=1)
    assert report.status == "verified", report.failures
    assert report.flags_exact and report.gates_exact and report.inert_exact
    assert report.weights_error <= 1e-12 and report.register_error <= 1e-9
    assert report.forward_error <= 1e-12 and report.aux_max == 0.0
    assert len(report.steps) == jobs[name].extension.K
    data = report.as_dict()
    for key in ("weights_error", "register_error", "forward_error", "aux_max", "inert_error",
                "gd_seconds", "steps", "status"):
        assert key in data


def test_flags_and_gates_are_bit_exact_at_every_step(jobs):
    ext = jobs["gd"].extension
    x, y = jobs["gd"].data.as_float()
    nodes = gate_nodes(ext)
    assert set(nodes) == {f"g{k}" for k in range(ext.K)} | {"G"}
    traj = run_gd(ext, x, y, ext.K + 2)
    for k, theta in enumerate(traj.states):
        for name, want in expected_flags(ext, k).items():
            assert theta[name].dtype == np.float64
            assert float(theta[name]) == want  # exactly, not approximately
        assert gate_values(ext, theta, nodes) == expected_gates(ext, k)
        for name in ext.shapes:
            if ext.blocks[name] == "gate":
                assert theta[name] == float(ext.theta0[name])  # gate coefficients never move


@pytest.mark.parametrize("fault", ["register_nonzero", "gate_margin", "unsaturated_gate"])
def test_negative_controls_are_not_verified(jobs, fault):
    job = jobs["gd"]
    inst = job_instance(job)
    inst.extension = compile_extension(job.net, job.extension.program, fault=fault)
    report = run_check(inst, extra=1)
    assert report.status == "refuted"
    assert report.failures
    if fault != "register_nonzero":
        assert report.gates_exact is False


def test_wrong_reference_is_refuted(jobs):
    inst = job_instance(jobs["worked"])
    inst.reference_w = inst.reference_w * (1 + 1e-6)
    report = run_check(inst)
    assert report.status == "refuted" and report.weights_error > 1e-9


def test_numeric_agrees_with_exact_on_the_worked_example(jobs):
    job = jobs["worked"]
    ext = job.extension
    x, y = job.data.x, job.data.y
    xf, yf = job.data.as_float()
    exact = {k: v.copy() for k, v in ext.theta0.items()}
    num = float_state(ext.theta0)
    for _ in range(ext.K + 1):
        exact = exact_gd_step(ext, exact, x, y, ext.eta, EXACT, prune=True)
        num = gd_step(ext, num, xf, yf)
        for name in ext.shapes:
            want = NUMERIC.asarray(exact[name])
            assert relative_error(num[name], want) <= 1e-12, name
    w = [Fraction(487, 1350), Fraction(13, 135), Fraction(-119, 1800), Fraction(409, 5400)]
    assert list(exact["w"]) == w  # step K moved w by one plain GD step (construction.md 5)
    assert np.max(np.abs(num["w"] - np.array([float(v) for v in w]))) <= 1e-15


def test_check_numeric_without_reference_uses_the_program(jobs):
    job = jobs["ncm"]
    x, y = job.data.as_float()
    report = check_numeric(job.extension, x, y, extra_steps=0)
    assert report.status == "verified" and report.weights_error is None
    assert report.interpreter_weights_error <= 1e-12 and report.inert_exact is None


# ---------------------------------------------------------- evaluator: chunks


def _gradient_outputs(ext):
    grads = ext.gradient_nodes()
    names = [n for n in ext.shapes if grads[n] is not None]
    return names, [grads[n] for n in names]


@pytest.mark.parametrize("prune", [False, True])
def test_chunked_evaluation_equals_unchunked_exactly(jobs, prune):
    job = jobs["gd"]
    ext = job.extension
    _, outs = _gradient_outputs(ext)
    theta = {k: v.copy() for k, v in ext.theta0.items()}
    theta = exact_gd_step(ext, theta, job.data.x, job.data.y, ext.eta, prune=True)
    whole = evaluate(outs, EXACT, theta, job.data.x, job.data.y, prune=prune)
    for chunk in (1, 5, 7, 100):
        parts = evaluate(outs, EXACT, theta, job.data.x, job.data.y, prune=prune, chunk=chunk)
        for a, b in zip(parts, whole, strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))


def test_chunked_float_evaluation_matches_unchunked(jobs):
    job = jobs["gd"]
    ext = job.extension
    x, y = job.data.as_float()
    _, outs = _gradient_outputs(ext)
    theta = run_gd(ext, x, y, 2).final
    whole = evaluate(outs, NUMERIC, theta, x, y, prune=True)
    plain = evaluate(outs, NUMERIC, theta, x, y, prune=False)
    for chunk in (1, 3, 10):
        parts = evaluate(outs, NUMERIC, theta, x, y, prune=True, chunk=chunk)
        for a, b, c in zip(parts, whole, plain, strict=True):
            assert relative_error(a, b) <= 1e-13
            assert relative_error(b, c) == 0.0  # pruning changes no bit on finite values


def test_reused_decisions_give_the_same_values(jobs):
    """Evaluations of one plan at states with different gates, in any order, reuse earlier
    pruning decisions only when they hold: the values equal the unpruned ones each time."""
    job = jobs["gd"]
    ext = job.extension
    x, y = job.data.as_float()
    _, outs = _gradient_outputs(ext)
    states = run_gd(ext, x, y, ext.K + 1).states
    for k in (3, 1, 3, 0, 4, 1, 2):
        for chunk in (None, 7):
            pruned = evaluate(outs, NUMERIC, states[k], x, y, prune=True, chunk=chunk)
            plain = evaluate(outs, NUMERIC, states[k], x, y, prune=False, chunk=chunk)
            for a, b in zip(pruned, plain, strict=True):
                assert np.array_equal(a, b), k
    again = run_gd(ext, x, y, ext.K + 1).states
    for s1, s2 in zip(states, again, strict=True):
        assert all(np.array_equal(s1[n], s2[n]) for n in ext.shapes)


def test_large_run_in_chunks_matches_the_reference():
    report = run_check(_synthetic("n=3000,d=5,c=3,seed=2", "mlp:5-7-3:relu"), chunk=256)
    assert report.status == "verified", report.failures
    assert report.weights_error <= 1e-12


def _synthetic(spec, network):
    from symbolic_universality.numeric.instances import synthetic_instance

    return synthetic_instance(spec, "gd", network, {"T": 2, "lr": Fraction(1, 100)})


# -------------------------------------------------------- evaluator: pruning


def test_a_product_with_a_zero_factor_is_not_evaluated():
    x_leaf = g.data_x(2)
    z = g.param("z", (2,))
    bad = g.bsum(g.unary("recip", x_leaf))  # strict: dividing by the 0 in x raises
    x = np.array([[1.0, 0.0], [2.0, 3.0]])
    for product in (g.vdot(z, bad), g.vdot(bad, z)):
        (v,) = evaluate([product], NUMERIC, {"z": np.zeros(2)}, x, strict=True, prune=True)
        assert v == 0.0
        with pytest.raises(BackendError):
            evaluate([product], NUMERIC, {"z": np.zeros(2)}, x, strict=True, prune=False)
    (v,) = evaluate([g.vdot(z, bad)], NUMERIC, {"z": np.ones(2)}, np.array([[1.0, 2.0]]),
                    strict=True, prune=True)
    assert v == 1.5


def test_common_subexpressions_are_computed_once():
    x_leaf = g.data_x(3)
    w = g.param("w", (2, 3))
    a = g.unary("relu", g.matmul(w, x_leaf))
    b = g.unary("relu", g.matmul(w, x_leaf))  # the same value built twice
    out = g.bsum(g.add(a, b))
    p = plan([out])
    assert p.canon[a.id] is p.canon[b.id]
    assert sum(1 for n in p.order if n.op == "matmul") == 1
    xv = np.arange(12.0).reshape(4, 3) - 5
    wv = np.arange(6.0).reshape(2, 3) / 7
    (v,) = evaluate([out], NUMERIC, {"w": wv}, xv)
    want = 2 * np.maximum(xv @ wv.T, 0).sum(axis=0)
    assert np.array_equal(v, want)


# ------------------------------------------------------------------------ CLI


def test_cli_registers_run_and_backends():
    assert "run" in _commands()
    from symbolic_universality.api import BACKENDS

    assert "numeric" in BACKENDS and "torch" in BACKENDS


def test_verify_backend_numeric(tmp_path, capsys):
    cert = tmp_path / "c.json"
    code = main(["verify", "--backend", "numeric", "-a", "worked", "-n", "linear-nobias",
                 "-d", "tiny", "--json", str(cert)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "VERIFIED" in out
    import json

    data = json.loads(cert.read_text())
    assert data["backend_results"]["numeric"]["status"] == "verified"


def test_symuni_run_synthetic(capsys):
    code = main(["run", "-a", "gd", "-n", "mlp:4-6-3:relu", "--T", "2", "--lr", "1/50",
                 "--synthetic", "n=2000,d=4,c=3", "--extra", "2", "--chunk", "500"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verdict: VERIFIED" in out and "direct reference run" in out


def test_symuni_run_dataset_and_bad_spec(capsys):
    assert main(["run", "-a", "perceptron", "-d", "iris", "--samples", "15", "--T", "2"]) == 0
    assert main(["run", "--synthetic", "n=10,q=3"]) == 2
    assert "cannot read --synthetic" in capsys.readouterr().err
    assert parse_synthetic("n=5, d=2 ,c=3") == {"n": 5, "d": 2, "c": 3, "seed": 0}


# ------------------------------------------ float checks that do not cry wolf (issue 11.6)

@pytest.fixture(scope="module")
def wine_job():
    # the case of issue 11: gd's labelled read cancels |J^T f| ~ 7e16 down to |J^T y| ~ 2e6
    return prepare("gd", "mlp:13-8-3:relu", "wine", 30)


def test_cancelling_reference_is_not_a_refutation(wine_job):
    inst = job_instance(wine_job)
    report = run_check(inst, extra=1)
    assert report.status == "verified", report.message
    assert report.exact_reference  # 30 samples: the exact run is affordable and used
    assert report.register_error <= 1e-12  # the extension is right to the last digits


def test_the_float_reference_really_is_the_inaccurate_side(wine_job):
    # independent of the check: the program's float64 run against its exact run on the
    # same (float) data, and the extension's float registers against the same exact run
    ext = wine_job.extension
    x, y = wine_job.data.as_float()
    refs = reference_runs(ext.program, x, y, exact=True)
    off = norm_error(refs.float64["grad1_l"], refs.exact["grad1_l"])
    assert off > 1e-9  # the fixed-tolerance check compared with this and cried wolf
    assert refs.kappa["grad1_l"] > 1e8  # and the cancellation estimate sees why
    assert refs.estimate("grad1_l") >= off / 64  # the tolerance covers the true error
    theta = run_gd(ext, x, y, ext.K).final
    assert norm_error(theta["reg.grad1_l"], refs.exact["grad1_l"]) <= 1e-13


def test_breast_cancer_run_is_not_refuted():
    job = prepare("gd", "mlp:30-8-2:relu", "breast_cancer", None)
    report = run_check(job_instance(job), extra=1)
    assert report.status == "verified", report.message
    assert not report.exact_reference  # 569 samples: judged by the conditioning estimates


def test_small_seeded_fault_is_still_refuted(wine_job):
    # eta off by one part in a million: every register moves by ~1e-6, far below any
    # float noise of a well-conditioned register, far above the tolerance of 1e-9
    inst = job_instance(wine_job)
    inst.extension = replace(wine_job.extension, eta=wine_job.extension.eta * Fraction(
        1_000_001, 1_000_000))
    report = run_check(inst, extra=1)
    assert report.status == "refuted"
    assert report.judgements["registers"].status == "refuted"
    assert report.judgements["registers"].reference == "exact run"
    assert any(s.status == "refuted" for s in report.steps)


@pytest.mark.parametrize("fault", ["register_nonzero", "ungated_coefficient"])
def test_seeded_compiler_faults_are_refuted_by_the_named_check(wine_job, fault):
    inst = job_instance(wine_job)
    inst.extension = compile_extension(wine_job.net, wine_job.extension.program, fault=fault)
    report = run_check(inst, extra=1)
    assert report.status == "refuted"
    assert report.steps[0].status == "refuted"  # caught at the first step already
    assert report.judgements["w_K vs the program's run"].status == "refuted"


def test_small_fault_without_exact_run_is_refuted():
    job = prepare("gd", "mlp:30-8-2:relu", "breast_cancer", None)
    inst = job_instance(job)
    inst.extension = replace(job.extension, eta=job.extension.eta * Fraction(1001, 1000))
    report = run_check(inst, extra=1)
    assert report.status == "refuted" and not report.exact_reference


def test_judge_three_ways():
    want = np.array([1.0, -2.0, 4.0])
    # norm-wise: an entry that cancels (here 1e-3 of the block's norm) may be off in its
    # own relative terms as long as the block is right
    assert judge(want + [1e-12, 0, 0], want, tolerance=1e-9).status == "verified"
    assert judge(want * 1.001, want, tolerance=1e-9).status == "refuted"
    # the reference is estimated to carry 1e-7 of error: 1e-6 is within 64 x that
    assert judge(want * (1 + 1e-6), want, tolerance=1e-9, estimate=1e-7).status == "verified"
    # too ill-conditioned for float to decide: inconclusive, with the reason
    j = judge(want * 1.5, want, tolerance=1e-9, estimate=CEILING, what="reg.r")
    assert j.status == "inconclusive" and "ill-conditioned" in j.reason
    j = judge(want * 1.5, want, tolerance=1e-9, saturated=True, what="reg.r")
    assert j.status == "inconclusive" and "float32" in j.reason
    # against the exact run a miss is a refutation unless float misses the truth too
    assert judge(want * 1.5, want, tolerance=1e-9, reference="exact run",
                 float_vs_exact=1e-15).status == "refuted"
    assert judge(want * 1.5, want, tolerance=1e-9, reference="exact run", estimate=1e-3,
                 float_vs_exact=0.4).status == "inconclusive"
    assert judge([np.nan, 0, 0], want, tolerance=1e-9, estimate=1.0).status == "refuted"


# ------------------------------------ compiled straight-line plan (issue 12 item 3)


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_gradient_agrees_with_the_evaluator(jobs, name):
    from symbolic_universality.numeric.compiled import compiled

    ext = jobs[name].extension
    x, y = jobs[name].data.as_float()
    fast = run_gd(ext, x, y, ext.K + 1, compiled=True)
    slow = run_gd(ext, x, y, ext.K + 1, compiled=False, chunk=5)
    for a, b in zip(fast.states, slow.states, strict=True):
        for block in ext.shapes:
            assert relative_error(a[block], b[block]) <= 1e-12, block
    grads = ext.gradient_nodes()
    program = compiled([grads[n] for n in ext.shapes if grads[n] is not None])
    assert 1 <= program.compiled_patterns <= ext.K + 2  # one per gate pattern, then reused


def test_compiled_gradient_in_chunks_is_the_exact_gradient(jobs):
    # independent of both float evaluators: the exact backend's gradient on the same data
    from symbolic_universality.numeric.run import gradient

    job = jobs["gd"]
    ext = job.extension
    xf, yf = job.data.as_float()
    theta = {k: v.copy() for k, v in ext.theta0.items()}
    for _ in range(2):
        theta = exact_gd_step(ext, theta, job.data.x, job.data.y, ext.eta, EXACT, prune=True)
    grads = ext.gradient_nodes()
    names = [n for n in ext.shapes if grads[n] is not None]
    exact = evaluate([grads[n] for n in names], EXACT, theta, job.data.x, job.data.y)
    got = gradient(ext, float_state(theta), xf, yf, chunk=7)
    for n, want in zip(names, exact, strict=True):
        assert relative_error(got[n], NUMERIC.asarray(want).reshape(ext.shapes[n])) <= 1e-12


@pytest.mark.parametrize("limit", [None, 1])
def test_error_estimates_cover_the_float_references_true_error(wine_job, monkeypatch, limit):
    # both ways of running the reference (per-sample chunks; sums through bsum's rewrites
    # with the cancellation estimated on a subset): the estimated error, times the safety
    # factor, bounds the float64 run's true distance from the exact run
    from symbolic_universality.numeric import conditioning

    if limit is not None:
        monkeypatch.setattr(conditioning, "PER_SAMPLE_LIMIT", limit)
        monkeypatch.setattr(conditioning, "KAPPA_SAMPLES", 16)
    from symbolic_universality.program.interpreter import run_program

    x, y = wine_job.data.as_float()
    program = wine_job.extension.program
    refs = reference_runs(program, x, y, exact=False)  # estimates without the exact run
    exact = run_program(program, conditioning.to_fractions(x), conditioning.to_fractions(y),
                        EXACT)
    for name, value in exact.items():
        true = norm_error(refs.float64[name], NUMERIC.asarray(value))
        assert true <= conditioning.SAFETY * refs.estimate(name) + 1e-15, name
