"""Lemma *one-hot reduction* (construction section 2): per-sample terms become labelled reads.

For one-hot labels ``y_i = e_{d_i}`` (``1 <= d_i <= C``) and any per-sample function
``phi(u, x, y)``:

    mean_i phi(u, x_i, y_i) = sum_c mean_i y_ic phi(u, x_i, e_c),

i.e. a sum over classes of labelled reads with ``psi_c(u, x) = phi(u, x, e_c)``. With
real-valued labels the identity fails in general; only terms affine in ``y``,
``phi = A(u, x) + sum_c y_c B_c(u, x)``, are readable (an unlabelled read of ``A`` plus
labelled reads of ``B``), and for those it holds for every real ``y``.

Method: identities with symbolic ``n`` and ``C`` (sympy Sum, Kronecker delta labels,
exchange of the two finite sums by ``Sum.reorder``, the hypothesis ``1 <= d_i <= C``
applied to the resulting Piecewise), and a case split over the one-hot vectors for a
``phi`` that is an arbitrary (undefined) function of the whole label vector (C = 2).
"""

from __future__ import annotations

import time

import sympy as sp
from sympy import KroneckerDelta as KD

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import identity, settle

NAME = "one_hot"
STATEMENT = (
    "For one-hot labels y_i = e_{d_i} (1 <= d_i <= C) and every phi: mean_i phi(u, x_i, y_i) = "
    "sum_c mean_i y_ic phi(u, x_i, e_c) (for all n, C); with real labels only terms affine "
    "in y, phi = A(u, x) + sum_c y_c B_c(u, x), reduce to reads (and they do for every y)."
)
METHOD = (
    "identity (symbolic n, C; Kronecker-delta labels; Sum.reorder for the exchange of sums; "
    "the label-range hypothesis applied to the Piecewise) and case split over one-hot vectors"
)


def prove(one_hot: bool = True) -> LemmaResult:
    """Prove the one-hot reduction. ``one_hot=False`` drops the hypothesis that labels
    are one-hot (real label vectors) for a general ``phi``: must give FAILED."""
    t0 = time.perf_counter()
    checks: list[Check] = []
    c, i = sp.symbols("c i", integer=True)
    d = sp.Symbol("d", integer=True, positive=True)
    r = sp.Symbol("r", integer=True, nonnegative=True)
    n = sp.Symbol("n", integer=True, positive=True)
    C = d + r  # C >= d: the label d is one of the C classes
    u, x = sp.symbols("u x")
    phi = sp.Function("phi")  # phi(u, x, c) stands for phi(u, x, e_c)
    X, Dl, Y = sp.IndexedBase("x"), sp.IndexedBase("d"), sp.IndexedBase("Y")
    # 1. one sample, symbolic C: sum_c y_c phi(u, x, e_c) = phi(u, x, e_d) = phi(u, x, y)
    checks.append(identity("one sample, all C: sum_c [c = d] phi(u, x, e_c) = phi(u, x, e_d)",
                           sp.Sum(KD(c, d) * phi(u, x, c), (c, 1, C)), phi(u, x, d)))
    # 2. the mean, symbolic n and C (labels d_i with 1 <= d_i <= Cs for every i)
    Cs = sp.Symbol("C", integer=True, positive=True)
    lhs = sp.Sum(phi(u, X[i], Dl[i]), (i, 1, n)) / n
    rhs = sp.Sum(KD(c, Dl[i]) * phi(u, X[i], c), (i, 1, n), (c, 1, Cs)) / n
    swapped = rhs.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.reorder((i, c)))
    in_range = sp.And(Dl[i] >= 1, Cs >= Dl[i])

    def labels_in_range(e: sp.Expr) -> sp.Expr:
        return e.replace(
            lambda p: isinstance(p, sp.Piecewise) and p.args[0].cond == in_range,
            lambda p: p.args[0].expr,
        )

    inner_done = swapped.replace(
        lambda e: isinstance(e, sp.Sum) and e.limits[0][0] == c,
        lambda e: labels_in_range(sp.Sum(e.function, e.limits[0]).doit())
        if len(e.limits) == 1 else sp.Sum(labels_in_range(
            sp.Sum(e.function, e.limits[0]).doit()), *e.limits[1:]),
    )
    # concrete instance (exact): n = 4, C = 3, phi nonlinear in y, one-hot labels
    xs, ds = [sp.Rational(1, 2), 3, -2, sp.Rational(5, 3)], [1, 3, 3, 2]

    def phi_c(uu: sp.Expr, xx: sp.Expr, yv: tuple) -> sp.Expr:
        return (uu * xx + yv[0] - 2 * yv[1] + 3 * yv[2]) ** 2 + yv[0] * yv[2] + xx**3 * yv[1]

    def e(cc: int) -> tuple:
        return tuple(int(cc == j) for j in (1, 2, 3))

    uu = sp.Rational(7, 4)
    lhs_c = sum(phi_c(uu, xv, e(dv)) for xv, dv in zip(xs, ds, strict=True)) / 4
    rhs_c = sum(sum(e(dv)[cc - 1] * phi_c(uu, xv, e(cc)) for xv, dv in zip(xs, ds, strict=True))
                / 4 for cc in (1, 2, 3))
    checks.append(identity("exact instance n = 4, C = 3, phi nonlinear in y", lhs_c, rhs_c))
    checks.append(identity("mean, all n and C: mean_i phi(u,x_i,y_i) = sum_c mean_i y_ic "
                           "phi(u,x_i,e_c)", lhs, settle(inner_done)))
    # 3. phi an arbitrary function of the whole label vector (C = 2): case split
    y1, y2 = sp.symbols("y1 y2")
    Phi = sp.Function("Phi")
    gap = Phi(u, x, y1, y2) - (y1 * Phi(u, x, 1, 0) + y2 * Phi(u, x, 0, 1))
    if one_hot:
        for y in ((1, 0), (0, 1)):
            checks.append(identity(f"case y = {y}: phi(u,x,y) = sum_c y_c phi(u,x,e_c)",
                                   gap.subs({y1: y[0], y2: y[1]})))
    else:
        checks.append(identity("real labels y: phi(u,x,y) = sum_c y_c phi(u,x,e_c)", gap))
    # 4. real labels, phi affine in y: the reduction holds for every real y
    A, B = sp.Function("A"), sp.Function("B")
    lhs4 = (sp.Sum(A(u, X[i]) + sp.Sum(Y[i, c] * B(u, X[i], c), (c, 1, Cs)), (i, 1, n)) / n)
    rhs4 = (sp.Sum(A(u, X[i]), (i, 1, n)) / n
            + sp.Sum(Y[i, c] * B(u, X[i], c), (i, 1, n), (c, 1, Cs)).reorder((i, c)) / n)
    checks.append(identity("real labels, affine phi: mean phi = mean A + sum_c mean y_c B_c",
                           sp.expand(lhs4), rhs4))
    return make_result(NAME, STATEMENT, METHOD, checks, {"one_hot": one_hot},
                       time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
