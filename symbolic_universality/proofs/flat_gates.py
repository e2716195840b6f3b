"""Lemma *flat gates* (construction section 4).

For every number of steps K >= 1, every step k >= 0 and every gate index j < K, on the
thermometer pattern ``z_i = [i <= k]``:

* the argument ``a (z_j - z_{j+1}) + b`` of ``g_j`` and ``a_f z_K + b_f`` of ``G`` are in {-2, 2};
* on the whole neighbourhood ``|delta| < 1/8`` of every flag the arguments stay outside
  ``[0, 1]``, so every gate keeps its 0/1 value and ``sat' = 0`` there: the derivative of
  the gate with respect to its flags and to its own coefficients ``a``, ``b`` vanishes.

Method: z3 over integers ``j, k, K`` and real perturbations (``unsat`` of the negation;
sat as ``If``), plus an honest sympy differentiation of ``sat`` as a Piecewise on the three
pairs ``(z_j, z_{j+1})`` a thermometer can show (case split).
"""

from __future__ import annotations

import time

import sympy as sp
import z3

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import (
    compiler_constants,
    gate_defaults,
    gate_margin_check,
    identity,
    rat,
    sat,
    z3_prove,
    z3_rat,
    z3_sat,
    z3_sat_prime,
)

NAME = "flat_gates"
STATEMENT = (
    "For all K >= 1, k >= 0, 0 <= j < K, on the thermometer z_i = [i <= k]: the gate arguments "
    "a(z_j - z_{j+1}) + b and a_f z_K + b_f lie in {-2, 2}; for every flag perturbation "
    "|delta| < 1/8 they stay outside [0, 1], so each gate keeps its value 0/1 and its "
    "derivatives with respect to its flags and to a, b (a_f, b_f) are 0."
)
METHOD = (
    "z3 (sat as If, flags as If(i <= k, 1, 0) + delta over integers j, k, K and reals delta): "
    "unsat of the negation; sympy diff of sat as Piecewise on the patterns 11/10/00 (case split)"
)


def prove(
    a: object | None = None,
    b: object | None = None,
    a_f: object | None = None,
    b_f: object | None = None,
    radius: object | None = None,
) -> LemmaResult:
    """Prove the flat-gates lemma for gate coefficients ``a, b`` and ``a_f, b_f``.

    ``radius`` is the flag perturbation (default the compiler's ``FLAG_RADIUS``, 1/8).
    Weakened hypotheses (e.g. ``a=1, b=-1/2``: margin below 1) must give FAILED.
    """
    t0 = time.perf_counter()
    a, b, a_f, b_f = gate_defaults(a, b, a_f, b_f)  # the compiler's constants
    radius = compiler_constants()["radius"] if radius is None else radius
    checks: list[Check] = []
    A, B, AF, BF, rad = (z3_rat(v) for v in (a, b, a_f, b_f, radius))
    j, k, K = z3.Ints("j k K")
    d1, d2, dK = z3.Reals("delta_j delta_j1 delta_K")
    index_ok = z3.And(K >= 1, k >= 0, j >= 0, j < K)

    def flag(i: z3.ArithRef, delta: z3.ArithRef | int = 0) -> z3.ArithRef:
        return z3.If(i <= k, z3.RealVal(1), z3.RealVal(0)) + delta

    two = z3.RealVal(2)
    arg0 = A * (flag(j) - flag(j + 1)) + B
    argf0 = AF * flag(K) + BF
    checks.append(
        z3_prove(
            "thermometer: g_j's argument is in {-2, 2} (all K, k, j)",
            z3.Implies(index_ok, z3.Or(arg0 == two, arg0 == -two)),
        )
    )
    checks.append(
        z3_prove(
            "thermometer: G's argument is in {-2, 2} (all K, k)",
            z3.Implies(z3.And(K >= 1, k >= 0), z3.Or(argf0 == two, argf0 == -two)),
        )
    )
    small = z3.And(d1 > -rad, d1 < rad, d2 > -rad, d2 < rad, dK > -rad, dK < rad)
    arg = A * (flag(j, d1) - flag(j + 1, d2)) + B
    argf = AF * flag(K, dK) + BF
    sp_ = z3_sat_prime(arg)
    spf = z3_sat_prime(argf)
    diff_j = z3.And(
        z3_sat(arg) == z3_sat(arg0),
        sp_ * A == 0,  # d g / d z_j
        -sp_ * A == 0,  # d g / d z_{j+1}
        sp_ * (flag(j, d1) - flag(j + 1, d2)) == 0,  # d g / d a
        sp_ == 0,  # d g / d b
        z3.Or(arg < 0, arg > 1),
    )
    checks.append(
        z3_prove(
            "neighbourhood |delta| < radius: g_j constant, dg/dz = dg/da = dg/db = 0",
            z3.Implies(z3.And(index_ok, small), diff_j),
        )
    )
    diff_f = z3.And(
        z3_sat(argf) == z3_sat(argf0),
        spf * AF == 0,
        spf * flag(K, dK) == 0,
        spf == 0,
        z3.Or(argf < 0, argf > 1),
    )
    checks.append(
        z3_prove(
            "neighbourhood |delta| < radius: G constant, dG/dz_K = dG/da_f = dG/db_f = 0",
            z3.Implies(z3.And(K >= 1, k >= 0, small), diff_f),
        )
    )
    # Honest sympy differentiation of sat (Piecewise) at the three thermometer pairs.
    za, zb, sa, sb = sp.symbols("z_j z_j1 a b")
    g = sat(sa * (za - zb) + sb)
    for pair, value in (((1, 1), 0), ((1, 0), 1), ((0, 0), 0)):
        state = {za: pair[0], zb: pair[1], sa: rat(a), sb: rat(b)}
        checks.append(identity(f"sympy: g at pattern {pair} equals {value}", g.subs(state), value))
        for v in (za, zb, sa, sb):
            checks.append(
                identity(f"sympy: dg/d{v} = 0 at pattern {pair}", sp.diff(g, v).subs(state))
            )
    zK, fa, fb = sp.symbols("z_K a_f b_f")
    G = sat(fa * zK + fb)
    for zval in (0, 1):
        state = {zK: zval, fa: rat(a_f), fb: rat(b_f)}
        checks.append(identity(f"sympy: G at z_K={zval} equals {zval}", G.subs(state), zval))
        for v in (zK, fa, fb):
            checks.append(identity(f"sympy: dG/d{v} = 0 at z_K={zval}", sp.diff(G, v).subs(state)))
    hyp = {"a": a, "b": b, "a_f": a_f, "b_f": b_f, "radius": radius}
    checks.append(gate_margin_check(a, b, a_f, b_f))
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
