"""Lemma *read* (construction section 4): one GD step of a read head, on the mean loss.

Labelled read: ``F_main(x) = G f(x; w) + g s R^T psi(u, x; p) + g2 O(x; q)`` (``R`` of shape
``m x C``, ``psi`` any function, ``s`` the trainable scale of psi's last layer, ``G f`` the
base network and ``g2 O`` any other labelled read). With ``R = 0``, ``g = 1``, ``grad g = 0``
and every other ``F_main`` term gated off (``G = g2 = 0`` with zero gradients), the
residual at every ``x_i`` is ``-y_i`` for the squared loss and ``1/C - y_i`` for softmax
cross-entropy (labels with ``sum_c y_ic = 1``), so one GD step on the mean loss gives

* squared loss:  ``R' = eta s mean_i psi(u, x_i) y_i^T``,
* cross-entropy: ``R' = eta s mean_i psi(u, x_i) (y_i - 1/C)^T``,

and ``u``, ``p``, ``s``, the gates' inputs and the gated-off terms' parameters do not move.
With ``s = 1/eta`` (the construction) ``R`` receives exactly the mean.

Unlabelled read: ``h(x) = g (c + <R, psi(u, x; p)>)``, aux loss ``mean_i h(x_i)^2 / 2``:
``R' = -eta c mean_i psi(u, x_i)``, ``c' = (1 - eta) c``, ``u``, ``p`` unchanged.

Method: ``psi``, ``f``, ``O`` undefined sympy Functions; the number of samples ``n``, of
classes ``C`` and psi's dimension ``m`` symbolic (sympy ``Sum``); gradients by sympy
differentiation of the mean loss; each update checked as an identity.
"""

from __future__ import annotations

import time

import sympy as sp
from sympy.simplify.simplify import factor_sum

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import at_function, eta_symbol, fill_indexed, gd_update, identity, settle

NAME = "read"
STATEMENT = (
    "For all n samples, C classes, psi of any dimension m, all psi, data x_i, y_i: with R = 0, "
    "g = 1, grad g = 0 and every other F_main term gated off, the residual is -y_i (squared "
    "loss) or 1/C - y_i (softmax cross-entropy, sum_c y_ic = 1) and one GD step on the mean "
    "loss gives R' = eta s mean_i psi(u, x_i) y_i^T (resp. eta s mean_i psi(u, x_i)(y_i - 1/C)^T"
    "), u, psi's parameters p, the scale s, the gate inputs and the gated-off terms' "
    "parameters unchanged. Unlabelled: h = g(c + <R, psi(u, x)>) gives R' = -eta c "
    "mean_i psi(u, x_i), c' = (1 - eta) c, u and p unchanged."
)
METHOD = (
    "identity: sympy diff of the mean loss (symbolic n, C, m via Sum; psi, f, O undefined "
    "functions; gates undefined with given value/derivatives); simplify(update - claim) == 0"
)


def _labels_sum_to_one(expr: sp.Expr, Y: sp.IndexedBase, c: sp.Symbol, C: sp.Expr) -> sp.Expr:
    """Apply the hypothesis sum_{c=1}^{C} y_ic = 1: constant factors are pulled out of
    every sum over c, then each remaining ``Sum(Y[i, c], (c, 1, C))`` is replaced by 1."""
    expr = expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: factor_sum(e))

    def is_label_sum(e: sp.Basic) -> bool:
        return (
            isinstance(e, sp.Sum)
            and len(e.limits) == 1
            and e.limits[0] == (c, 1, C)
            and isinstance(e.function, sp.Indexed)
            and e.function.base == Y
            and e.function.indices[-1] == c
            and not e.function.indices[0].has(c)
        )

    return settle(expr.replace(is_label_sum, lambda e: sp.Integer(1)))


def _label_adjust(Y: sp.IndexedBase, C: sp.Expr):  # noqa: ANN202 - an Adjust callable
    """Refutation instances respect sum_c y_ic = 1 (the last label entry of a full row is set)."""

    def adjust(idx: dict, ints: dict) -> dict:
        n_value = sp.sympify(C).subs(ints)
        if not n_value.is_Integer:  # the claim does not involve C: pick C large, no constraint
            return idx
        n_classes = int(n_value)
        rows: dict = {}
        for e in idx:
            if e.base == Y:
                rows.setdefault(e.indices[0], []).append(e)
        for entries in rows.values():
            if len(entries) >= n_classes:
                entries.sort(key=lambda e: int(e.indices[1]))
                idx[entries[-1]] = 1 - sum(idx[e] for e in entries[:-1])
        return idx

    return adjust


def _labelled(loss: str, eta: sp.Expr, others_gated_off: bool, R0_zero: bool) -> list[Check]:
    i, a, c = sp.symbols("i a c", integer=True)
    al, ga = sp.symbols("alpha gamma", integer=True, positive=True)
    r1, r2 = sp.symbols("r1 r2", integer=True, nonnegative=True)
    n = sp.Symbol("n", integer=True, positive=True)
    m, C = al + r1, ga + r2  # alpha, gamma are generic entries of the m x C register
    R, Y, V = sp.IndexedBase("R"), sp.IndexedBase("Y"), sp.IndexedBase("V")
    psi, f, O = sp.Function("psi"), sp.Function("f"), sp.Function("O")
    u, p, w, q, s = sp.symbols("u p w q s")
    za, zb, zc, zd = sp.symbols("z_k z_k1 z_K z_j")
    G = sp.Function("G")(zc)
    g = sp.Function("g")(za, zb)
    g2 = sp.Function("g2")(zd)

    def F(cc: sp.Expr) -> sp.Expr:
        own = g * s * sp.Sum(R[a, cc] * psi(a, i, u, p), (a, 1, m))
        return G * f(cc, i, w) + own + g2 * O(cc, i, q)

    if loss == "squared":
        per_sample = sp.Sum((F(c) - Y[i, c]) ** 2 / 2, (c, 1, C))
        label = "squared loss"
    else:
        lse = sp.log(sp.Sum(sp.exp(F(c)), (c, 1, C)))
        per_sample = -sp.Sum(Y[i, c] * (F(c) - lse), (c, 1, C))
        label = "cross-entropy"
    L = sp.Sum(per_sample, (i, 1, n)) / n
    other = 0 if others_gated_off else 1

    def state(expr: sp.Expr) -> sp.Expr:
        if R0_zero:
            expr = fill_indexed(expr, R, lambda *_: sp.Integer(0))
        else:
            expr = fill_indexed(expr, R, lambda *ix: V[ix])
        expr = at_function(expr, G, sp.Integer(other), {zc: 0})
        expr = at_function(expr, g2, sp.Integer(other), {zd: 0})
        expr = at_function(expr, g, sp.Integer(1), {za: 0, zb: 0})
        expr = settle(expr)
        if loss != "squared":  # hypothesis: one-hot (or any probability) labels
            expr = _labels_sum_to_one(expr, Y, c, C)
        return expr

    checks: list[Check] = []
    adj = None if loss == "squared" else _label_adjust(Y, C)
    ii = sp.Symbol("i0", integer=True, positive=True)
    gm = sp.Symbol("gamma", integer=True, positive=True)
    # the residual d loss_i / d F_gamma at the state
    Fs = sp.IndexedBase("F")
    if loss == "squared":
        li = sp.Sum((Fs[c] - Y[ii, c]) ** 2 / 2, (c, 1, C))
        want_res = -Y[ii, gm]
    else:
        li = -sp.Sum(Y[ii, c] * (Fs[c] - sp.log(sp.Sum(sp.exp(Fs[a]), (a, 1, C)))), (c, 1, C))
        want_res = 1 / C - Y[ii, gm]
    Fi = settle(F(gm).subs(i, ii))
    checks.append(identity(f"{label}: F_main(x_i)_gamma = 0 at the state", state(Fi), 0, adj))
    res = settle(sp.diff(li, Fs[gm]))
    res = state(fill_indexed(res, Fs, lambda *_: sp.Integer(0)))
    checks.append(
        identity(f"{label}: residual dl/dF_gamma at F = 0 is {want_res}", res, want_res, adj)
    )
    mean_py = sp.Sum(psi(al, i, u, p) * Y[i, ga], (i, 1, n)) / n
    if loss == "squared":
        want = eta * s * mean_py
    else:
        want = eta * s * (mean_py - sp.Sum(psi(al, i, u, p), (i, 1, n)) / (n * C))
    claims = {R[al, ga]: want}
    for prm in (R[al, ga], u, p, s, w, q, za, zb, zc, zd):
        new = state(gd_update(L, prm, eta))
        old = claims.get(prm, prm)
        txt = "R'[alpha,gamma] = eta s mean psi y" + ("" if loss == "squared" else " - 1/C")
        what = txt if prm == R[al, ga] else f"{prm}' = {prm}"
        checks.append(identity(f"{label}: {what}", new, old, adj))
    return checks


def _unlabelled(eta: sp.Expr, R0_zero: bool) -> list[Check]:
    i = sp.Symbol("i", integer=True)
    al = sp.Symbol("alpha", integer=True, positive=True)
    r1 = sp.Symbol("r1", integer=True, nonnegative=True)
    n = sp.Symbol("n", integer=True, positive=True)
    m = al + r1
    R, V = sp.IndexedBase("R"), sp.IndexedBase("V")
    psi = sp.Function("psi")
    u, p, c, za, zb = sp.symbols("u p c z_k z_k1")
    g = sp.Function("g")(za, zb)
    h = g * (c + sp.Sum(R[i] * psi(i, sp.Symbol("x_j"), u, p), (i, 1, m)))
    j = sp.Symbol("j", integer=True)
    L = sp.Sum((h**2 / 2).subs(sp.Symbol("x_j"), j), (j, 1, n)) / n

    def state(expr: sp.Expr) -> sp.Expr:
        expr = settle(expr)
        if R0_zero:
            expr = fill_indexed(expr, R, lambda *_: sp.Integer(0))
        else:
            expr = fill_indexed(expr, R, lambda *ix: V[ix])
        return settle(at_function(expr, g, sp.Integer(1), {za: 0, zb: 0}))

    claims = {
        R[al]: -eta * c * sp.Sum(psi(al, j, u, p), (j, 1, n)) / n,
        c: (1 - eta) * c,
    }
    names = {R[al]: "R'[alpha] = -eta c mean psi_alpha(u, x_i)", c: "c' = (1 - eta) c"}
    checks = []
    for prm in (R[al], c, u, p, za, zb):
        new = state(gd_update(L, prm, eta))
        checks.append(identity("unlabelled: " + names.get(prm, f"{prm}' = {prm}"),
                               new, claims.get(prm, prm)))
    return checks


def prove(
    others_gated_off: bool = True,
    R0_zero: bool = True,
    eta: object | None = None,
) -> LemmaResult:
    """Prove the read lemma (labelled with squared loss and cross-entropy; unlabelled).

    ``others_gated_off=False``: the base network and another labelled read are active
    in F_main; ``R0_zero=False``: the register starts nonzero. Both must give FAILED.
    """
    t0 = time.perf_counter()
    et = eta_symbol(eta)
    checks = _labelled("squared", et, others_gated_off, R0_zero)
    checks += _labelled("cross_entropy", et, others_gated_off, R0_zero)
    checks += _unlabelled(et, R0_zero)
    hyp = {"others_gated_off": others_gated_off, "R0_zero": R0_zero,
           "eta": "symbolic" if eta is None else eta}
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
