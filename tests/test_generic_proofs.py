"""Generic-sample proofs (every data set of every size) and their cross-checks.

Expected values come from independent computations: the lifting lemma's negative control
is a hand-built sum-reduction loss (its gradient is n times the mean, computed here with
Fractions), the faults' counterexamples are replayed by the exact checker, the FLINT
re-check and the semantics cross-check are tested by breaking the first checker / the
sympy backend on purpose.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from symbolic_universality.extension.compiler import FAULTS, compile_extension
from symbolic_universality.graph import core as g
from symbolic_universality.graph.autodiff import gradients
from symbolic_universality.networks.mlp import parse_network
from symbolic_universality.pipeline import compile_algorithm
from symbolic_universality.symbolic.data import parse_classes
from symbolic_universality.symbolic.lifting import check_extension, mean_affine
from symbolic_universality.symbolic.prover import certificate, prove_extension
from symbolic_universality.symbolic.recheck import recheck

GENERIC = "for every data set of every size"


def _ext(algorithm: str, spec: str = "linear", d: int = 2, c: int = 2, **opts: object):
    return compile_algorithm(algorithm, parse_network(spec, d, c), **opts)


def _generic(ext, algorithm, backends=("algebra",), **kw):
    return prove_extension(ext, backends=list(backends), algorithm=algorithm, scope="generic",
                           budget_s=None, **kw)


def _fixed(ext, algorithm, n, classes="all", backends=("algebra",), **kw):
    return prove_extension(ext, n=n, classes=parse_classes(classes, n, ext.net.c),
                           backends=list(backends), algorithm=algorithm, scope="fixed",
                           budget_s=None, reference=False, **kw)


# ------------------------------------------------------------------ lifting lemma


def test_sum_loss_is_not_mean_affine_and_lifting_fails_on_it() -> None:
    w = g.param("w", (2,))
    x, y = g.data_x(2), g.data_y(1)
    r = g.sub(g.matmul(g.reshape(w, (1, 2)), x), y)
    per = g.scale(g.vdot(r, r), Fraction(1, 2))
    assert mean_affine([gradients(g.bmean(per), [w])[w]]).ok
    bad = mean_affine([gradients(g.bsum(per), [w])[w]])
    assert not bad.ok and "not a mean" in bad.reason
    # a product of two means is not affine in the means
    m = g.bmean(g.total(x))
    assert not mean_affine([g.mul(m, m)]).ok
    assert not mean_affine([g.unary("relu", m)]).ok


@pytest.mark.parametrize("algorithm,spec,opts", [
    ("gd", "mlp:2-3-2:relu", {"T": 2}), ("perceptron", "linear", {"T": 2}),
    ("ncm", "linear", {}), ("worked", "linear-nobias", {})])
def test_builtin_extensions_satisfy_the_lifting_hypothesis(algorithm, spec, opts) -> None:
    ext = _ext(algorithm, spec, **opts)
    assert all(r.ok for _, r in check_extension(ext))


def test_lifting_lemma_script_and_negative_control() -> None:
    from symbolic_universality.proofs import get

    lemma = get("lifting")
    assert lemma.prove().proved
    bad = lemma.prove(**lemma.negative_control)
    assert bad.status == "FAILED"
    failed = {c.name for c in bad.checks if c.status == "FAILED"}
    assert any("mean-affine" in n for n in failed)
    assert any("grad L(D)" in n for n in failed)


# ------------------------------------------------------------------ generic vs fixed


@pytest.mark.parametrize("algorithm,spec,d,opts,n", [
    ("worked", "linear-nobias", 2, {}, 2),
    ("gd", "mlp:2-2-2:relu", 2, {"T": 1}, 1),
    ("perceptron", "linear", 2, {"T": 1}, 2),
    ("ncm", "linear", 2, {}, 2),
])
def test_generic_and_fixed_modes_agree(algorithm, spec, d, opts, n) -> None:
    ext = _ext(algorithm, spec, d=d, **opts)
    gen = _generic(ext, algorithm)
    fix = _fixed(ext, algorithm, n)
    assert gen.status == "verified", gen.message
    assert gen.scope_text.startswith(GENERIC)
    assert [s.status for s in gen.steps] == [s.status for s in fix.steps] == \
        ["verified"] * (ext.K + 1)
    assert gen.final.status == fix.final.status == "verified"
    assert "python-flint fmpq_mpoly" in gen.checkers["algebra"]
    if algorithm == "ncm":  # undefined where a class is missing: not "for all data"
        assert fix.status == "partial"
        assert "for 2 of 4 label assignments (2 skipped" in fix.scope_text
    else:
        assert fix.status == "verified"
        assert fix.scope_text == f"for every data set of n = {n} samples"


#: every other built-in (the four above are checked in full there): the smallest instance
#: of each, proved in generic mode and in fixed mode (n samples, every class assignment;
#: class means need every class present: n = c = 2)
OTHER_BUILTINS = [
    ("momentum", "mlp:2-2-2:relu", 2, {"T": 1}, 1),
    ("nesterov", "mlp:2-2-2:relu", 2, {"T": 1}, 1),
    ("gd_wd", "mlp:2-2-2:relu", 2, {"T": 1}, 1),
    ("sign_gd", "mlp:2-2-2:relu", 2, {"T": 1}, 1),
    ("ridge_richardson", "linear", 2, {"T": 2}, 1),
    ("ridge", "linear", 2, {}, 1),
    ("diag_lda", "linear", 2, {}, 2),
    ("random_search", "linear", 2, {"M": 2}, 1),
    ("perceptron_sep", "linear", 2, {"T": 2}, 1),
    ("gd_cnn", "cnn:1x3x3-c1k2-relu-fc2", None, {"T": 1}, 1),
]


def test_every_builtin_is_covered_by_a_mode_agreement_test() -> None:
    from symbolic_universality.zoo.algorithms import ALGORITHMS

    covered = {"worked", "gd", "perceptron", "ncm"} | {a for a, *_ in OTHER_BUILTINS}
    float_only = {name for name, e in ALGORITHMS.items() if not e.exact}
    assert float_only == {"logreg"}  # exp/log: no exact proof (refused, test_concrete)
    assert covered | float_only == set(ALGORITHMS)


@pytest.mark.parametrize("algorithm,spec,d,opts,n", OTHER_BUILTINS,
                         ids=[a for a, *_ in OTHER_BUILTINS])
def test_generic_and_fixed_modes_agree_on_every_builtin(algorithm, spec, d, opts, n) -> None:
    if spec.startswith("cnn:"):
        from symbolic_universality.networks.cnn import parse_cnn

        ext = compile_algorithm(algorithm, parse_cnn(spec), **opts)
    else:
        ext = _ext(algorithm, spec, d=d, **opts)
    gen = _generic(ext, algorithm)
    fix = _fixed(ext, algorithm, n)
    assert gen.status == "verified", gen.message
    assert gen.scope_text.startswith(GENERIC)
    assert [s.status for s in gen.steps] == [s.status for s in fix.steps], fix.message
    assert gen.final.status == fix.final.status == "verified"
    if fix.status != "verified":  # undefined for some class assignment: says so
        assert fix.status == "partial" and "skipped" in fix.scope_text, fix.message


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_refuted_in_both_modes_with_replay(fault) -> None:
    base = _ext("worked", "linear-nobias")
    ext = compile_extension(base.net, base.program, fault=fault)
    for report in (_generic(ext, "worked"), _fixed(ext, "worked", 2, classes="0,1")):
        assert report.status == "refuted", (fault, report.scope, report.message)
        v = report.first_failure()
        assert v.status == "refuted"
        assert "exact replay" in v.counterexample["replay"]


def test_fault_refuted_by_smt_in_both_modes() -> None:
    base = _ext("worked", "linear-nobias")
    ext = compile_extension(base.net, base.program, fault="gate_margin")
    for report in (_generic(ext, "worked", backends=("smt",)),
                   _fixed(ext, "worked", 2, classes="0,1", backends=("smt",))):
        assert report.status == "refuted", report.message
        v = report.first_failure()
        assert v.backend == "smt" and "replayed exactly" in v.method


def test_wrong_eta_refuted_generically() -> None:
    ext = _ext("worked", "linear-nobias")
    report = _generic(ext, "worked", eta=Fraction(1, 5))
    assert report.status == "refuted"


def test_ncm_one_sample_fixed_mode_is_not_verified() -> None:
    ext = _ext("ncm")
    for classes in ("all", "symbolic"):
        rep = _fixed(ext, "ncm", 1, classes=classes)
        assert rep.status != "verified", classes


# ------------------------------------------------------------------ second checker


def test_flint_recheck_is_independent_of_the_normal_form(monkeypatch) -> None:
    import sympy as sp

    a, b = sp.symbols("a b")
    H = sp.Heaviside
    assert recheck([(a + b) ** 2 * H(2 * a, 0) ** 3], [a**2 * H(a, 0) + 2 * a * b * H(a, 0)
                                                       + b**2 * H(a, 0)]) is True
    assert recheck([(a + b) ** 2], [a**2 + b**2]) is None
    # a first checker that says "zero" to everything: FLINT must stop the proof
    from symbolic_universality.symbolic import normal

    monkeypatch.setattr(normal.Normalizer, "difference", lambda self, x, y: normal.Poly())
    base = _ext("worked", "linear-nobias")
    ext = compile_extension(base.net, base.program, fault="register_nonzero")
    rep = _generic(ext, "worked", backends=("algebra",))
    assert rep.status != "verified"
    assert any("FLINT re-check disagreed" in v.method for v in rep.verdicts)


def test_flint_recheck_stops_a_wrong_dag_normal_form(monkeypatch) -> None:
    """The DAG path's expansion says "zero" to everything: FLINT (converting the DAG values
    itself) must stop the proof of the broken construction."""
    from symbolic_universality.symbolic import normal

    monkeypatch.setattr(normal.DagNormalizer, "dag_difference",
                        lambda self, x, y, opaque=None: normal.Poly())
    base = _ext("gd", "mlp:2-2-2:relu", T=1)
    ext = compile_extension(base.net, base.program, fault="read_scale_double")
    rep = _generic(ext, "gd", backends=("algebra",))
    assert rep.status != "verified"
    assert any("FLINT re-check disagreed" in v.method for v in rep.verdicts)


def test_semantics_crosscheck_catches_a_wrong_relu(monkeypatch) -> None:
    from symbolic_universality.backends import dag
    from symbolic_universality.backends import symbolic as bs

    monkeypatch.setattr(bs, "_sym_relu", lambda z: z)
    monkeypatch.setattr(dag, "relu", lambda z: z)
    ext = _ext("gd", "mlp:2-2-2:relu", T=1)
    rep = _generic(ext, "gd", backends=("algebra",))
    assert rep.status != "verified"
    assert any(v.method == "semantics cross-check" for v in rep.verdicts)


def test_semantics_crosscheck_catches_a_wrong_relu_on_smt(monkeypatch) -> None:
    """z3 terms are evaluated by z3's model evaluator at the random point; a z3 ``relu``
    that is the identity must still be caught against the exact backend."""
    from symbolic_universality.backends import symbolic as bs

    monkeypatch.setattr(bs, "_z3_relu", lambda z: z)
    ext = _ext("gd", "mlp:2-2-2:relu", T=1)
    rep = _generic(ext, "gd", backends=("smt",))
    assert rep.status != "verified"
    assert any(v.method == "semantics cross-check" for v in rep.verdicts)


def test_crosscheck_z3_point_refuses_a_symbol_outside_the_point() -> None:
    import z3

    from symbolic_universality.symbolic.crosscheck import symbolic_value, z3_point

    env = {"a": Fraction(1, 3), "b": Fraction(-2)}
    model = z3_point(env)
    a, b, c = z3.Reals("a b c")
    term = z3.If(a > 0, a * b, b) + Fraction(1, 2)
    assert symbolic_value("smt", term, env, model=model) == Fraction(1, 3) * -2 + Fraction(1, 2)
    with pytest.raises(KeyError):  # c is not in the point: never evaluated as 0
        symbolic_value("smt", a + c, env, model=model)


def test_certificate_states_scope_assumptions_and_checkers() -> None:
    ext = _ext("worked", "linear-nobias")
    cert = certificate(_generic(ext, "worked", backends=("algebra", "smt")))
    scope = cert["scope"]
    assert scope["mode"] == "generic" and scope["text"].startswith(GENERIC)
    assert any("register" in a for a in scope["assumptions"])
    assert set(scope["checkers_agreed"]) == {"algebra", "smt"}
    assert all(h["holds"] for h in scope["lifting"])


# ------------------------------------------------------------------ execution


def _summary(rep):
    return [(v.key, v.backend, v.status, v.method) for v in rep.verdicts]


def test_jobs_and_budget_processes_give_identical_results() -> None:
    ext = _ext("perceptron", T=1)
    one = _generic(ext, "perceptron", backends=("algebra", "smt"))
    two = prove_extension(ext, backends=["algebra", "smt"], algorithm="perceptron",
                          scope="generic", jobs=2, budget_s=30.0)
    assert _summary(one) == _summary(two)
    assert one.status == two.status == "verified"


def test_budget_stops_a_unit_safely() -> None:
    # large enough that a unit outlasts the 0.01 s budget (mlp:2-3-2 now proves faster
    # than the forked loop's poll, which made this test flaky)
    ext = _ext("gd", "mlp:16-8-4:relu", d=16, c=4, T=2)
    rep = prove_extension(ext, backends=["algebra"], algorithm="gd", scope="generic",
                          budget_s=0.01)
    assert rep.status == "unknown"
    assert any(v.method == "budget exceeded" for v in rep.verdicts)


def test_dask_executor_matches_local_run() -> None:
    distributed = pytest.importorskip("distributed")
    ext = _ext("worked", "linear-nobias")
    local = _generic(ext, "worked", backends=("algebra", "smt"))
    recipe = {"algorithm": "worked", "network": "linear-nobias", "d": 2, "c": 2,
              "options": {}, "fault": None}
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = prove_extension(ext, backends=["algebra", "smt"], algorithm="worked",
                                 scope="generic", executor="dask", scheduler=client,
                                 recipe=recipe, budget_s=None)
    assert _summary(remote) == _summary(local)
    assert remote.status == "verified"


def test_bad_options_are_value_errors() -> None:
    ext = _ext("worked", "linear-nobias")
    for kw in ({"jobs": 0}, {"budget_s": -1.0}, {"scope": "sometimes"},
               {"executor": "ray"}):
        with pytest.raises(ValueError):
            prove_extension(ext, backends=["algebra"], **{"scope": "generic", **kw})
    with pytest.raises(ValueError):
        prove_extension(ext, backends=["algebra"], scope="generic", mode="data")


def test_cli_generic_default_and_exit_codes(capsys) -> None:
    from symbolic_universality import cli

    assert cli.main(["prove", "-a", "worked", "-n", "linear-nobias", "--symbolic", "d=2",
                     "--backend", "algebra"]) == 0
    out = capsys.readouterr().out
    assert GENERIC in out and "VERIFIED" in out
    assert cli.main(["prove", "-a", "ncm", "-n", "linear", "--mode", "fixed",
                     "--symbolic", "n=1,d=2", "--backend", "algebra"]) == 1
    assert cli.main(["prove", "-a", "worked", "-n", "linear-nobias", "--symbolic", "d=2",
                     "--jobs", "0"]) == 2
    _ = np


def test_expansion_limit_is_unknown_not_a_crash(monkeypatch) -> None:
    from symbolic_universality.backends import dag
    from symbolic_universality.symbolic import normal

    monkeypatch.setattr(normal, "MAX_TERMS", 0)
    # the DAG path decides most entries by canonical forms: make it expand
    monkeypatch.setattr(dag, "collect", lambda values: list(values))
    ext = _ext("gd", "mlp:2-2-2:relu", T=1)
    rep = _generic(ext, "gd", backends=("algebra",))
    assert rep.status == "unknown"
    assert any(v.method == "normal form too large" for v in rep.verdicts)


def test_jobs_auto_and_bad_jobs() -> None:
    import os

    from symbolic_universality.api import resolve_jobs
    from symbolic_universality.errors import UsageError

    assert resolve_jobs("auto") == len(os.sched_getaffinity(0))
    assert resolve_jobs("2") == resolve_jobs(2) == 2
    for bad in (0, -1, True, None, 1.5, "lots", "0"):
        with pytest.raises(UsageError, match="jobs"):
            resolve_jobs(bad)


def test_moved_column_says_whose_moves_and_when_unknown() -> None:
    """The moved column lists what the *prediction* moves; on a step that is not proved it
    says "predicted:" (GD is not shown to move the same), and a unit stopped by the budget
    leaves it "not computed", never "0 in"."""
    from symbolic_universality.symbolic.frontend import proof_text

    base = _ext("worked", "linear-nobias")
    bad = compile_extension(base.net, base.program, fault="unsaturated_gate")
    text = proof_text(_generic(bad, "worked"))
    row0 = next(line for line in text.splitlines() if line.startswith("0 "))
    assert "predicted: " in row0 and "proved" in row0
    big = _ext("gd", "mlp:16-8-4:relu", d=16, c=4, T=2)
    stopped = prove_extension(big, backends=["algebra"], algorithm="gd", scope="generic",
                              budget_s=0.01)
    assert stopped.status == "unknown"
    text = proof_text(stopped)
    assert "not computed" in text and " 0 in " not in text
    cert = certificate(stopped)
    assert all(s["moved_set"].startswith("not computed") for s in cert["steps"])


def test_cli_generic_note_on_n_only_when_the_user_gave_n(capsys) -> None:
    from symbolic_universality.cli import main

    argv = ["prove", "-a", "worked", "-n", "linear-nobias", "--backend", "algebra",
            "--jobs", "1"]
    assert main([*argv, "--symbolic", "d=2"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert main([*argv, "--symbolic", "n=5,d=2"]) == 0
    assert "note: the generic mode proves every data set of every size; n=5 is not used" \
        in capsys.readouterr().out
    assert main(["prove", "-a", "gd", "-n", "mlp:2-2-2:relu", "--T", "1", "--backend",
                 "algebra", "--jobs", "1"]) == 0
    assert "note:" not in capsys.readouterr().out
