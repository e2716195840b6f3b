"""The SMT prover: each obligation's negation in z3, as an SMT-LIB2 script.

An obligation (entries ``got_i = expected_i`` of one parameter block, z3 terms over the
data symbols; ReLU, sat, Heaviside and select are ``ite``; numbers are exact rationals)
becomes the script

    (set-logic QF_NRA) (declare-fun x_0_0 () Real) ... (assert premises)
    (assert (or (distinct got_0 expected_0) ...)) (check-sat)

written by z3 itself (``Solver.to_smt2``). The script is what is solved, hashed (sha256)
and optionally saved (``--smtlib DIR``), so the certificate names exactly the formula that
was decided; ``cvc5_check`` re-decides the same text with cvc5.

z3 decides it with three strategies in turn, the time limit split between them: its
default solver; the tactic ``(then (using-params simplify :som true) smt)`` (the
sum-of-monomials simplification first -- both sides of an identity usually normalise to
the same polynomial in the data and the ``ite`` terms -- then the SMT core with its
nonlinear real arithmetic); and ``(then elim-term-ite (using-params simplify :som true)
smt)`` (the ``ite`` terms replaced by fresh variables and their defining clauses first).
All are equivalence-preserving; the script itself is the unsimplified formula, and the
first definite answer (``unsat`` or ``sat``) is taken.

``unsat`` = proved; ``sat`` = a model, decoded into a rational data set and replayed
exactly (:mod:`.replay`) -- only a confirmed replay is ``refuted``; ``unknown`` or a
time-out (``timeout_ms`` per obligation) = ``unknown``, never verified.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import z3

from ..backends.symbolic import to_z3
from .obligations import Obligation

LOGIC = "QF_NRA"
#: with uninterpreted functions (the softmax atoms of the cross-entropy construction)
LOGIC_UF = "QF_UFNRA"
TACTIC = "(then (using-params simplify :som true) smt)"
TACTIC_ITE = "(then elim-term-ite (using-params simplify :som true) smt)"
STRATEGIES = ("default", "som", "elim-ite")

__all__ = ["LOGIC", "SolveResult", "cvc5_check", "decode_data", "sha256", "smtlib_text",
           "solve_many", "solve_smtlib"]


def negation(ob: Obligation) -> z3.BoolRef:
    """``Or(got_i != expected_i)``: satisfiable iff the obligation fails on some data."""
    terms = [to_z3(a) != to_z3(b) for a, b in zip(ob.got, ob.expected, strict=True)]
    return z3.Or(terms) if len(terms) != 1 else terms[0]


def _to_smt2(premises: list[z3.BoolRef], formula: z3.BoolRef) -> str:
    """z3's own SMT-LIB2 printing of ``(assert p) ... (assert formula) (check-sat)``: the
    same call as ``Solver.to_smt2`` makes, without asserting into a solver first (which
    runs z3's preprocessing on the formula: seconds on a large obligation)."""
    ctx = formula.ctx
    premises = [p if isinstance(p, z3.BoolRef) else z3.BoolVal(bool(p), ctx) for p in premises]
    v = (z3.Ast * len(premises))()
    for i, p in enumerate(premises):
        v[i] = p.as_ast()
    return z3.Z3_benchmark_to_smtlib_string(ctx.ref(), "benchmark generated from python API",
                                            "", "unknown", "", len(premises), v,
                                            formula.as_ast())


def smtlib_text(ob: Obligation) -> str:
    """The SMT-LIB2 script of the obligation's negation (see the module docstring)."""
    body = _to_smt2(list(ob.premises), negation(ob))
    # cross-entropy's softmax atoms are uninterpreted functions (backends.symbolic)
    logic = LOGIC_UF if "(declare-fun softmax" in body else LOGIC
    header = (f"; obligation {ob.key}: {ob.lemma}\n"
              f"; decided by z3: default solver, then {TACTIC}, then {TACTIC_ITE}\n"
              f"(set-logic {logic})\n")
    return header + body


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class SolveResult:
    """z3's answer on one script: ``unsat`` | ``sat`` | ``unknown`` (+ model, reason, time)."""

    answer: str
    seconds: float
    model: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    strategy: str = ""


def _value(v: z3.ExprRef) -> Fraction:
    if z3.is_rational_value(v):
        return Fraction(v.as_fraction())
    if z3.is_algebraic_value(v):
        return Fraction(v.approx(30).as_fraction())
    raise ValueError(f"model value {v} is not a number")


def _solver(strategy: str) -> z3.Solver:
    """z3's default solver, :data:`TACTIC` or :data:`TACTIC_ITE` (see module docstring)."""
    if strategy == "default":
        return z3.Solver()
    som = z3.Then(z3.With(z3.Tactic("simplify"), som=True), z3.Tactic("smt"))
    if strategy == "som":
        return som.solver()
    return z3.Then(z3.Tactic("elim-term-ite"), som).solver()


def solve_smtlib(text: str, timeout_ms: int) -> SolveResult:
    """Decide one script with z3 under a per-obligation time limit (milliseconds), split
    between the :data:`STRATEGIES`; ``unknown`` unless one of them answers."""
    t0 = time.perf_counter()
    reasons = []
    budget = max(1, int(timeout_ms))
    for i, strategy in enumerate(STRATEGIES):
        left = budget - int((time.perf_counter() - t0) * 1000)
        share = max(1, left // (len(STRATEGIES) - i))
        try:
            s = _solver(strategy)
            s.set("timeout", share)
            s.from_string(text)
            r = s.check()
        except z3.Z3Exception as exc:
            reasons.append(f"{strategy}: z3 error {exc}")
            continue
        if r == z3.unsat:
            return SolveResult("unsat", time.perf_counter() - t0, strategy=strategy)
        if r == z3.sat:
            m = s.model()
            values: dict[str, str] = {}
            for decl in m.decls():
                try:
                    values[decl.name()] = str(_value(m[decl]))
                except ValueError:
                    continue
            return SolveResult("sat", time.perf_counter() - t0, values, strategy=strategy)
        reasons.append(f"{strategy}: {s.reason_unknown()}")
    return SolveResult("unknown", time.perf_counter() - t0, reason="; ".join(reasons))


def _worker(args: tuple[str, int]) -> SolveResult:
    return solve_smtlib(*args)


def solve_many(texts: list[str], timeout_ms: int, jobs: int = 1) -> list[SolveResult]:
    """Decide independent scripts, sequentially or in ``jobs`` worker processes (spawned;
    a crashed worker makes the remaining answers ``unknown``, never ``unsat``)."""
    if jobs <= 1 or len(texts) <= 1:
        return [solve_smtlib(t, timeout_ms) for t in texts]
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            return list(pool.map(_worker, [(t, timeout_ms) for t in texts], chunksize=4))
    except Exception as exc:  # noqa: BLE001 - a broken pool must not pass as a proof
        return [SolveResult("unknown", 0.0, reason=f"worker pool failed: {exc}")
                for _ in texts]


def decode_data(model: dict[str, str], n: int, d: int, c: int,
                labels: tuple[int, ...] | None) -> tuple[np.ndarray, tuple[int, ...],
                                                         np.ndarray, dict[str, str]]:
    """The rational data set of a model: ``x`` ``(n, d)``, the labels, a fresh input ``xs``
    and the register values (free mode; for the report only). Unconstrained symbols are 0."""
    x = np.empty((n, d), dtype=object)
    for i in range(n):
        for j in range(d):
            x[i, j] = Fraction(model.get(f"x_{i}_{j}", "0"))
    if labels is None:
        labs = []
        for i in range(n):
            vals = [Fraction(model.get(f"y_{i}_{k}", "0")) for k in range(c)]
            labs.append(max(range(c), key=lambda k, v=vals: v[k]))
        labels = tuple(labs)
    xs = np.array([Fraction(model.get(f"xs_{j}", "0")) for j in range(d)], dtype=object)
    regs = {k: v for k, v in model.items() if k.startswith("r_")}
    return x, labels, xs, regs


def cvc5_check(text: str, timeout_ms: int = 60_000) -> str:
    """Re-decide an SMT-LIB2 script with cvc5: ``unsat`` | ``sat`` | ``unknown``."""
    import cvc5

    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    solver.setOption("tlimit-per", str(int(timeout_ms)))
    parser = cvc5.InputParser(solver)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "obligation")
    sm = parser.getSymbolManager()
    answer = "unknown"
    while True:
        cmd = parser.nextCommand()
        if cmd.isNull():
            break
        out = cmd.invoke(solver, sm).strip()
        if out in ("sat", "unsat", "unknown"):
            answer = out
    return answer


def describe_model(model: dict[str, Any], limit: int = 12) -> str:
    items = sorted(model.items())
    text = ", ".join(f"{k} = {v}" for k, v in items[:limit])
    return text + (", ..." if len(items) > limit else "")
