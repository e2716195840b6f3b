"""Tests of the SMT backend: z3 terms, SMT-LIB obligations, time-outs, cvc5 re-checks.

Independent sources: the exact backend and exact checker (``backends.scalars``,
``verify.steps.check_exact``), cvc5 (a second solver, on the very files z3 decided),
sha256 of the files on disk, and hand-written SMT-LIB scripts with known answers.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
import z3

from symbolic_universality import cli
from symbolic_universality.backends.scalars import EXACT
from symbolic_universality.backends.symbolic import Z3, to_z3
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.networks.mlp import parse_network
from symbolic_universality.pipeline import compile_algorithm
from symbolic_universality.program.interpreter import run_program
from symbolic_universality.symbolic.data import make_data, one_hot, parse_classes
from symbolic_universality.symbolic.obligations import build_final, build_reference, build_step
from symbolic_universality.symbolic.prover import prove_extension
from symbolic_universality.symbolic.smt import (
    LOGIC,
    cvc5_check,
    smtlib_text,
    solve_many,
    solve_smtlib,
)
from symbolic_universality.verify.steps import check_exact, gd_step

TINY_X = np.array([[F(1), F(2)], [F(-1), F(1)], [F(3), F(-2)]], dtype=object)
POINTS = [F(-1), F(0), F(1, 2), F(1), F(2)]


def _value(term: object) -> F:
    t = z3.simplify(to_z3(term))
    assert z3.is_rational_value(t), t
    return F(t.as_fraction())


@pytest.mark.parametrize("op", ["relu", "step", "sat", "dsat"])
def test_z3_backend_conventions_match_exact_backend(op):
    x = z3.Real("x")
    sym = Z3.unary(op, np.array([x], dtype=object))[0]
    for v in POINTS:
        exact = EXACT.unary(op, np.array([v], dtype=object))[0]
        assert Z3.unary(op, np.array([v], dtype=object))[0] == exact  # numbers stay exact
        assert _value(z3.substitute(sym, (x, to_z3(v)))) == exact, (op, v)


def test_z3_backend_recip_and_pow():
    z = z3.Real("z")
    r = Z3.unary("recip", np.array([F(0), F(2, 3), z], dtype=object))
    assert r[0] == 0 and r[1] == F(3, 2)
    assert _value(z3.substitute(r[2], (z, to_z3(F(0))))) == 0
    assert _value(z3.substitute(r[2], (z, to_z3(F(4))))) == F(1, 4)
    p = Z3.unary("pow", np.array([z], dtype=object), k=3)[0]
    assert "**" not in p.sexpr() and "^" not in p.sexpr()


def test_z3_gradient_graph_substitutes_to_the_exact_step():
    """The extension's gradient graph evaluated on z3 terms, then the tiny data
    substituted, equals the exact checker's gd_step."""
    net = parse_network("linear-nobias", 2, 2)
    ext = compile_algorithm("worked", net)
    labels = (0, 1, 0)
    y = one_hot(labels, 2)
    data = make_data(Z3, 3, 2, 2, labels)
    regs = run_program(ext.program, TINY_X, y, EXACT)
    subs = [(data.x[i, j], to_z3(TINY_X[i, j])) for i in range(3) for j in range(2)]
    subs += [(data.y[i, k], to_z3(y[i, k])) for i in range(3) for k in range(2)]
    for k in range(ext.K + 1):
        build = build_step(ext, Z3, data, k, mode="data")
        exact = gd_step(ext, ext.predicted(k, regs), TINY_X, y, ext.eta)
        for name in ext.shapes:
            got = [_value(z3.substitute(to_z3(v), *subs)) for v in np.asarray(
                build.new[name]).flat]
            assert got == list(np.asarray(exact[name]).flat), (k, name)


# ------------------------------------------------------------ SMT-LIB obligations


def test_obligation_scripts_are_plain_smtlib():
    net = parse_network("mlp:2-3-2:relu", 2, 2)
    ext = compile_algorithm("gd", net, T=1)
    data = make_data(Z3, 2, 2, 2, None)
    ob = next(o for o in build_step(ext, Z3, data, 0).obligations
              if o.block == "reg.grad0_l")
    text = smtlib_text(ob)
    assert f"(set-logic {LOGIC})" in text and text.rstrip().endswith("(check-sat)")
    assert "(ite " in text and "(^" not in text
    assert solve_smtlib(text, 60_000).answer == "unsat"


def test_solve_smtlib_answers_and_decodes_models():
    unsat = "(set-logic QF_NRA)(declare-fun x () Real)(assert (< (* x x) 0.0))(check-sat)"
    sat = "(set-logic QF_NRA)(declare-fun x () Real)(assert (= (* x x) 2.0))(check-sat)"
    assert solve_smtlib(unsat, 10_000).answer == "unsat"
    res = solve_smtlib(sat, 10_000)
    assert res.answer == "sat"
    x = F(res.model["x"])  # an algebraic number, decoded as a close rational
    assert abs(x * x - 2) < F(1, 10**6)
    assert [r.answer for r in solve_many([unsat, sat, unsat], 10_000, jobs=2)] == [
        "unsat", "sat", "unsat"]


def _hard_obligation_text() -> str:
    """T1 on gd over a relu MLP with the registers as data expressions (nonlinear, ite)."""
    net = parse_network("mlp:2-3-2:relu", 2, 2)
    ext = compile_algorithm("gd", net, T=2)
    data = make_data(Z3, 3, 2, 2, (0, 1, 0))
    (ob,) = build_reference(ext, Z3, data, "gd", {"T": 2})
    return smtlib_text(ob)


def test_timeout_is_unknown_never_verified():
    text = _hard_obligation_text()
    res = solve_smtlib(text, 1)
    assert res.answer == "unknown" and "timeout" in res.reason
    assert solve_smtlib(text, 60_000).answer == "unsat"  # it is a true identity


def test_cli_timeout_exit_code_and_certificate(tmp_path, capsys):
    cert = tmp_path / "c.json"
    code = cli.main(["prove", "--mode", "fixed", "-a", "gd", "-n", "mlp:2-3-2:relu", "--T", "2",
                     "--symbolic", "n=3,d=2", "--classes", "0,1,0", "--backend", "smt",
                     "--timeout", "1",
                     "--json", str(cert)])
    out = capsys.readouterr().out
    assert code == 1
    assert "verdict: UNKNOWN" in out
    data = json.loads(cert.read_text())
    assert data["status"] == "unknown"
    assert data["backend_results"]["smt"]["status"] == "unknown"
    failures = [f for s in data["steps"] for f in s["backends"]["smt"]["failures"]]
    failures += data["final_checks"]["backends"]["smt"]["failures"]
    assert failures and all(f["status"] == "unknown" for f in failures)
    assert any("timeout" in f.get("detail", "") for f in failures)


# ------------------------------------------------------------------- cvc5 re-check


def _prove_to_dir(tmp: Path, fault: str | None, algorithm: str, spec: str, classes: str,
                  **options) -> tuple[object, Path]:
    net = parse_network(spec, 2, 2)
    ext = compile_algorithm(algorithm, net, **options)
    if fault:
        ext = compile_extension(net, ext.program, fault=fault)
    out = tmp / f"{algorithm}-{fault}"
    report = prove_extension(ext, n=3, classes=parse_classes(classes, 3, 2),
                             backends=["smt"], algorithm=algorithm, options=options,
                             smtlib_dir=out)
    return report, out


@pytest.mark.parametrize("case", [
    ("worked", "linear-nobias", "all", None, {}),
    ("worked", "linear-nobias", "0,1,0", "gate_margin", {}),
    ("ncm", "linear", "symbolic", None, {}),
    ("gd", "mlp:2-3-2:relu", "0,1,0", None, {"T": 1}),
])
def test_smtlib_files_recheck_under_cvc5(tmp_path, case):
    algorithm, spec, classes, fault, options = case
    report, out = _prove_to_dir(tmp_path, fault, algorithm, spec, classes, **options)
    index = json.loads((out / "index.json").read_text())
    assert len(index) == len([v for v in report.verdicts if v.backend == "smt"])
    answers = set()
    for entry in index:
        text = (out / entry["file"]).read_text()
        assert hashlib.sha256(text.encode()).hexdigest() == entry["sha256"]
        assert cvc5_check(text, 60_000) == entry["z3"], entry["file"]
        answers.add(entry["z3"])
    assert "unsat" in answers
    if fault:
        assert "sat" in answers and report.status == "refuted"
    elif algorithm == "ncm":  # undefined where a class is empty: proved, but only partial
        assert report.status == "partial" and "undefined on 2 of the class" in report.scope_text
    else:
        assert report.status == "verified"


def test_certificate_hashes_are_the_files(tmp_path, capsys):
    cert, smt = tmp_path / "c.json", tmp_path / "smt"
    code = cli.main(["prove", "--mode", "fixed", "-a", "worked", "-n", "linear-nobias",
                     "--symbolic", "n=3,d=2",
                     "--classes", "0,1,0", "--backend", "smt", "--json", str(cert),
                     "--smtlib", str(smt)])
    capsys.readouterr()
    assert code == 0
    data = json.loads(cert.read_text())
    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest() for p in smt.glob("*.smt2")}
    in_cert = {h for s in data["steps"] for h in s["backends"]["smt"]["obligation_sha256"]}
    in_cert |= set(data["final_checks"]["backends"]["smt"]["obligation_sha256"])
    assert in_cert == on_disk and len(on_disk) == len(list(smt.glob("*.smt2")))


# ------------------------------------------------------- counterexamples replayed


def test_sat_model_decoded_and_confirmed_by_the_exact_checker():
    net = parse_network("linear", 2, 2)
    base = compile_algorithm("gd", net, T=1)
    ext = compile_extension(net, base.program, fault="ungated_coefficient")
    report = prove_extension(ext, n=3, classes=parse_classes("symbolic", 3, 2),
                             backends=["smt"], algorithm="gd", options={"T": 1})
    assert report.status == "refuted"
    v = next(v for v in report.verdicts if v.status == "refuted")
    assert v.method.startswith("sat") and v.counterexample["source"] == "z3 model"
    x = np.array([[F(s) for s in row] for row in v.counterexample["x"]], dtype=object)
    y = one_hot(tuple(v.counterexample["labels"]), 2)
    exact = check_exact(ext, x, y)
    assert exact.status == "refuted"
    assert exact.mismatch.step <= v.step


def test_free_register_model_rechecked_with_data_registers():
    """With free registers z3 may pick register contents no data set produces; such a
    model is not a counterexample until the data form is decided and replayed."""
    net = parse_network("linear-nobias", 2, 2)
    base = compile_algorithm("worked", net)
    ext = compile_extension(net, base.program, fault="unsaturated_gate")
    # a generous z3 limit: on a loaded machine the data-register re-check can time out
    report = prove_extension(ext, n=3, classes=parse_classes("0,1,0", 3, 2),
                             backends=["smt"], algorithm="worked", timeout_ms=60_000)
    rechecked = [v for v in report.verdicts if "data registers" in v.method]
    assert rechecked and all(v.status == "refuted" for v in rechecked)
    assert all(v.status in ("proved", "refuted") for v in report.verdicts)


def test_t2_obligations_on_z3():
    net = parse_network("mlp:2-3-2:relu", 2, 2)
    ext = compile_algorithm("gd", net, T=1)
    data = make_data(Z3, 2, 2, 2, None)
    obs = build_final(ext, Z3, data)
    assert [o.block for o in obs] == ["T2.F_main", "T2.F_aux"]
    assert all(solve_smtlib(smtlib_text(o), 30_000).answer == "unsat" for o in obs)


@pytest.mark.parametrize("fault", [None, "gate_margin"])
def test_undecided_symbolic_labels_split_into_class_assignments(monkeypatch, fault):
    """When z3 cannot decide an obligation under the one-hot premises, each class
    assignment is decided separately (forced here by answering ``unknown`` to every
    script with one-hot premises)."""
    from symbolic_universality.symbolic import prover, smt

    def undecided_one_hot(texts, timeout_ms, jobs=1):
        real = smt.solve_many(texts, timeout_ms, jobs)
        return [smt.SolveResult("unknown", 0.0, reason="forced") if "(or (= y_0_0" in t
                else r for t, r in zip(texts, real, strict=True)]

    monkeypatch.setattr(prover, "solve_many", undecided_one_hot)
    net = parse_network("linear-nobias", 2, 2)
    ext = compile_algorithm("worked", net)
    if fault:
        ext = compile_extension(net, ext.program, fault=fault)
    report = prove_extension(ext, n=2, classes=parse_classes("symbolic", 2, 2),
                             backends=["smt"], algorithm="worked")
    methods = {v.method for v in report.verdicts}
    if fault is None:
        assert report.status == "verified"
        assert methods == {"unsat per class assignment (4 cases)"}
    else:
        assert report.status == "refuted"
        assert "sat (one class assignment), replayed exactly" in methods


# ------------------------------------------------------------------- --cvc5 (second solver)


def _worked_generic(**kw):
    net = parse_network("linear-nobias", 2, 2)
    ext = compile_algorithm("worked", net)
    return prove_extension(ext, backends=["smt"], algorithm="worked", scope="generic",
                           budget_s=None, **kw)


def test_cvc5_second_solver_is_recorded_as_a_checker():
    rep = _worked_generic(cvc5=True)
    assert rep.status == "verified", rep.message
    assert rep.checkers["smt"] == ["z3 (unsat)", "cvc5 (unsat)"]
    assert all("cvc5 unsat" in v.method for v in rep.verdicts)
    assert _worked_generic().checkers["smt"] == ["z3 (unsat)"]


def test_cvc5_missing_or_disagreeing_is_unknown_never_proved(monkeypatch):
    import sys

    from symbolic_universality.symbolic import prover

    monkeypatch.setitem(sys.modules, "cvc5", None)  # import cvc5 now raises ImportError
    rep = _worked_generic(cvc5=True)
    assert rep.status == "unknown"
    assert "cvc5 is not installed" in rep.first_failure().detail
    monkeypatch.delitem(sys.modules, "cvc5")
    monkeypatch.setattr(prover, "cvc5_check", lambda text, timeout_ms: "sat")
    rep = _worked_generic(cvc5=True)
    assert rep.status == "unknown"
    assert "the solvers disagree" in rep.first_failure().detail


def test_cli_cvc5_flag(capsys):
    code = cli.main(["prove", "-a", "worked", "-n", "linear-nobias", "--symbolic", "d=2",
                     "--backend", "smt", "--cvc5", "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "smt: z3 (unsat) + cvc5 (unsat)" in out.splitlines()[-1]


def test_cvc5_also_re_decides_the_class_assignment_split(monkeypatch):
    """An obligation proved by splitting the one-hot labels into class assignments is
    proved with --cvc5 only if cvc5 finds every case unsat too (never 'cvc5 (unsat)'
    without cvc5 having run on it)."""
    from symbolic_universality.symbolic import prover, smt

    def undecided_one_hot(texts, timeout_ms, jobs=1):
        real = smt.solve_many(texts, timeout_ms, jobs)
        return [smt.SolveResult("unknown", 0.0, reason="forced") if "(or (= y_0_0" in t
                else r for t, r in zip(texts, real, strict=True)]

    monkeypatch.setattr(prover, "solve_many", undecided_one_hot)
    net = parse_network("linear-nobias", 2, 2)
    ext = compile_algorithm("worked", net)
    run = lambda: prove_extension(ext, n=2, classes=parse_classes("symbolic", 2, 2),  # noqa: E731
                                  backends=["smt"], algorithm="worked", cvc5=True)
    report = run()
    assert report.status == "verified", report.message
    assert {v.method for v in report.verdicts} == {
        "unsat per class assignment (4 cases); cvc5 unsat"}
    seen = []
    monkeypatch.setattr(prover, "cvc5_check",
                        lambda text, timeout_ms: seen.append(text) or "unknown")
    report = run()
    assert report.status == "unknown" and seen
    assert all("cvc5 unknown" in v.method for v in report.verdicts)
