"""Lemma *isolation* (construction section 4).

For every K >= 1 and every step k >= 0, with the thermometer flags ``z_i = [i <= k]``:
``g_j = sat(a (z_j - z_{j+1}) + b) = [j = k]`` for every ``j < K`` and
``G = sat(a_f z_K + b_f) = [k >= K]``. So at a step k < K exactly one gate is open
(the step's own), and from K on only the final gate is.

Method: z3 over unbounded integers ``j, k, K`` with sat as ``If``: ``unsat`` of the negation.
"""

from __future__ import annotations

import time

import z3

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import gate_defaults, gate_margin_check, z3_prove, z3_rat, z3_sat

NAME = "isolation"
STATEMENT = (
    "For all K >= 1, k >= 0 and 0 <= j < K, on the thermometer z_i = [i <= k]: "
    "g_j = [j = k] and G = [k >= K]; hence at step k < K exactly one step gate is open, "
    "and from K on none is and G = 1."
)
METHOD = "z3 over unbounded integers j, k, K (sat as If): unsat of the negation"


def prove(
    a: object | None = None,
    b: object | None = None,
    a_f: object | None = None,
    b_f: object | None = None,
    thermometer: bool = True,
) -> LemmaResult:
    """Prove the isolation lemma.

    ``thermometer=False`` drops the hypothesis that the flags form a thermometer (any
    0/1 flags with z_0 = 1): the lemma must then be FAILED.
    """
    t0 = time.perf_counter()
    a, b, a_f, b_f = gate_defaults(a, b, a_f, b_f)  # the compiler's constants
    checks: list[Check] = []
    A, B, AF, BF = (z3_rat(v) for v in (a, b, a_f, b_f))
    j, k, K, j2 = z3.Ints("j k K j2")
    one, zero = z3.RealVal(1), z3.RealVal(0)
    if thermometer:

        def flag(i: z3.ArithRef) -> z3.ArithRef:
            return z3.If(i <= k, one, zero)

        flags_ok = z3.BoolVal(True)
    else:
        zf = z3.Function("z", z3.IntSort(), z3.RealSort())

        def flag(i: z3.ArithRef) -> z3.ArithRef:
            return zf(i)

        i = z3.Int("i")
        flags_ok = z3.And(
            zf(0) == 1,
            z3.ForAll([i], z3.Or(zf(i) == 0, zf(i) == 1)),
        )

    def gate(jj: z3.ArithRef) -> z3.ArithRef:
        return z3_sat(A * (flag(jj) - flag(jj + 1)) + B)

    G = z3_sat(AF * flag(K) + BF)
    base = z3.And(K >= 1, k >= 0, flags_ok)
    checks.append(
        z3_prove(
            "g_j = [j = k] for all K, k, j < K",
            z3.Implies(z3.And(base, j >= 0, j < K), gate(j) == z3.If(j == k, one, zero)),
        )
    )
    checks.append(
        z3_prove("G = [k >= K] for all K, k", z3.Implies(base, G == z3.If(k >= K, one, zero)))
    )
    checks.append(
        z3_prove(
            "at most one step gate open: g_j = g_j2 = 1 implies j = j2",
            z3.Implies(
                z3.And(base, j >= 0, j < K, j2 >= 0, j2 < K, gate(j) == 1, gate(j2) == 1),
                j == j2,
            ),
        )
    )
    hyp = {"a": a, "b": b, "a_f": a_f, "b_f": b_f, "thermometer": thermometer}
    checks.append(gate_margin_check(a, b, a_f, b_f))
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
