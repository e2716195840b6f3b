"""Lemma *order* (construction sections 1 and 4): the limit of the theorem.

1. The mean loss ``L_D(theta) = (1/n) sum_i l(theta; x_i, y_i)`` is invariant under every
   permutation of ``D`` (proved for all ``n`` and every transposition ``(p q)``, which
   generate the symmetric group) and under repeating the whole set; a ``sum``
   reduction is permutation invariant too but exposes the repetition (it doubles).
2. Hence the GD map ``theta -> theta - eta grad L_D(theta)`` and, from the same
   ``theta_0`` (T6: it does not depend on D), the whole GD trajectory of *any*
   extension are the same for ``D`` and any reordering of ``D``.
3. An order-dependent algorithm -- the online perceptron in data order -- gives two
   different weights on two orderings of the same data (exact witness with Fractions),
   while full-batch mean-loss GD gives one and the same trajectory on both (exact).
   So no extension reproduces it: its ``w`` block at ``K`` would have to equal both.

Method: sympy identities (symbolic n, p < q via positive offsets, the permuted summand
checked by a case split on i, Kronecker-delta sums), an exact Fraction witness, and z3
for the final impossibility (``unsat``).
"""

from __future__ import annotations

import time
from fractions import Fraction

import sympy as sp
import z3
from sympy import KroneckerDelta as KD

from ._result import FAILED, PROVED, Check, LemmaResult, make_result, run_as_script
from ._tools import identity, settle, z3_prove

NAME = "order"
STATEMENT = (
    "The mean loss is invariant under every permutation of D (all n) and under repeating D, "
    "so every extension's GD trajectory is the same for D and any reordering; the online "
    "perceptron gives different weights on two orderings of the same data (exact witness) "
    "while mean-loss GD gives one trajectory: no extension reproduces an order-dependent A."
)
METHOD = (
    "identity (symbolic n and transposition, case split on i, Kronecker-delta sums); exact "
    "Fraction witness; z3 unsat for the impossibility"
)

# the witness data: x in Q^2, labels +-1
ORDER_A = [((1, 0), 1), ((0, 1), -1), ((1, 1), 1)]
ORDER_B = [((1, 0), 1), ((1, 1), 1), ((0, 1), -1)]


def perceptron(data: list[tuple[tuple[int, ...], int]]) -> list[Fraction]:
    """One online pass of the perceptron from w = 0 in the given order (exact)."""
    w = [Fraction(0)] * len(data[0][0])
    for x, y in data:
        if y * sum(a * b for a, b in zip(w, x, strict=True)) <= 0:
            w = [a + y * b for a, b in zip(w, x, strict=True)]
    return w


def gd_trajectory(
    data: list[tuple[tuple[int, ...], int]], steps: int, eta: Fraction, reduction: str
) -> list[list[Fraction]]:
    """Exact GD on the squared loss of f(x; w) = <w, x>: full batch with the mean or the sum,
    or ``online`` (one sample per step, in data order)."""
    d = len(data[0][0])
    w = [Fraction(0)] * d
    traj = [list(w)]
    for k in range(steps):
        if reduction == "online":
            batch, scale = [data[k % len(data)]], Fraction(1)
        else:
            batch = data
            scale = Fraction(1, len(data)) if reduction == "mean" else Fraction(1)
        g = [Fraction(0)] * d
        for x, y in batch:
            r = sum(a * b for a, b in zip(w, x, strict=True)) - y
            g = [gi + scale * r * xi for gi, xi in zip(g, x, strict=True)]
        w = [wi - eta * gi for wi, gi in zip(w, g, strict=True)]
        traj.append(list(w))
    return traj


def prove(reduction: str = "mean", steps: int = 6) -> LemmaResult:
    """Prove the order lemma for the ``mean`` reduction. ``reduction="online"`` (per-sample
    GD in data order) or ``"sum"`` (repetition exposed) must give FAILED."""
    t0 = time.perf_counter()
    checks: list[Check] = []
    th = sp.Symbol("theta")
    i = sp.Symbol("i", integer=True)
    p, t, r, s, v = sp.symbols("p t r s v", integer=True, positive=True)
    q, n = p + t, p + t + r - 1  # 1 <= p < q <= n
    X, Y = sp.IndexedBase("x"), sp.IndexedBase("y")
    ell = sp.Function("ell")

    def li(j: sp.Expr) -> sp.Expr:
        return ell(th, X[j], Y[j])

    def reduce(total: sp.Expr, count: sp.Expr) -> sp.Expr:
        return total / count if reduction in ("mean", "online") else total

    # the transposed data set's summand, written as the original one plus two corrections
    delta = li(q) - li(p)

    def swapped_summand(j: sp.Expr) -> sp.Expr:
        return li(j) + KD(j, p) * delta - KD(j, q) * delta

    cases = {"i = p": (p, q), "i = q": (q, p), "i < p": (p - s, p - s),
             "p < i < q": (p + s, p + s), "i > q": (q + s, q + s)}
    for name, (j, tau_j) in cases.items():
        ts = {t: s + v} if name == "p < i < q" else {}
        checks.append(identity(f"case {name}: corrected summand = l(theta; x_tau(i), y_tau(i))",
                               swapped_summand(j).subs(ts), li(tau_j).subs(ts)))
    L = reduce(sp.Sum(li(i), (i, 1, n)), n)
    L_tau = reduce(sp.Sum(swapped_summand(i), (i, 1, n)), n)
    checks.append(identity("all n, all p < q: L_{(p q) D}(theta) = L_D(theta)", L_tau, L))
    checks.append(identity("hence grad L_{(p q) D} = grad L_D (same GD map)",
                           sp.diff(L_tau - L, th)))
    # repeating the whole set: D || D
    m = sp.Symbol("m", integer=True, positive=True)
    first = sp.Sum(li(i), (i, 1, m))
    second = sp.Sum(li(i - m), (i, m + 1, 2 * m)).change_index(i, i - m)  # i -> i + m
    checks.append(identity(f"{reduction} reduction: L_(D||D) = L_D (repetition invisible)",
                           settle(reduce(first + second, 2 * m)), reduce(first, m)))
    # the concrete witness
    wa, wb = perceptron(ORDER_A), perceptron(ORDER_B)
    differ = wa != wb
    checks.append(Check(
        "online perceptron: two orderings of the same data give two different weights",
        PROVED if differ else FAILED, f"A(D) = {[str(x) for x in wa]}, "
        f"A(pi D) = {[str(x) for x in wb]}"))
    eta = Fraction(1, 4)
    red = "mean" if reduction == "mean" else reduction
    ta, tb = (gd_trajectory(o, steps, eta, red) for o in (ORDER_A, ORDER_B))
    same = ta == tb
    first_diff = next((k for k in range(len(ta)) if ta[k] != tb[k]), None)
    checks.append(Check(
        f"{reduction} GD (f(x; w) = <w, x>, squared loss, eta = 1/4): the same trajectory on "
        f"both orderings for {steps} steps (exact)",
        PROVED if same else FAILED,
        "identical at every step" if same else
        f"differ at step {first_diff}: {[str(x) for x in ta[first_diff]]} vs "
        f"{[str(x) for x in tb[first_diff]]}"))
    # impossibility: one w block cannot equal both A(D) and A(pi D)
    wv = z3.Reals("w0 w1")
    claim = z3.Not(z3.And(*[wv[k] == z3.RealVal(str(wa[k])) for k in range(2)],
                          *[wv[k] == z3.RealVal(str(wb[k])) for k in range(2)]))
    checks.append(z3_prove("no common w block equals both A(D) and A(pi D)", claim))
    return make_result(NAME, STATEMENT, METHOD, checks, {"reduction": reduction, "steps": steps},
                       time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
