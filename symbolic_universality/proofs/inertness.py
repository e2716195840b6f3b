"""Lemma *inertness* (T3): for k >= K, GD moves only w, exactly as GD on f alone.

For ``k >= K`` the state is ``theta_hat_K`` except for ``w``: every flag is 1 (no clock
head is open, so the flags stay), every step gate is 0 with zero gradient, ``G = 1`` with
zero gradient, every register and constant as left at K. For every loss ``l`` (an
undefined function of the outputs and the labels: squared loss, cross-entropy, ...),
every ``n`` and every value of ``w``: one GD step on the whole mean loss gives

    w' = w - eta * d/dw mean_i l(f(x_i; w), y_i)      (one plain GD step of f alone),

and every other parameter is unchanged. The state keeps its form, so by induction this
holds at every step ``k >= K``: the extension is inert.

Method: the representative extension (one head of every kind, a labelled read, the
output head whose register is ``w``, the base network) with honest sat gates at flags
1 1 and ``z_K = 1``; ``l``, ``f``, Phi, psi undefined; symbolic ``n`` and register
shapes; gradients by sympy differentiation of the whole mean loss; identity checks
against the GD step of ``mean_i l(f(x_i; w), y_i)`` differentiated on its own.
"""

from __future__ import annotations

import time

import sympy as sp

from . import _model
from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import (
    eta_symbol,
    gate_defaults,
    gate_margin_check,
    head_constant,
    identity,
    rat,
    read_scale,
    settle,
)

NAME = "inertness"
STATEMENT = (
    "For every k >= K, every loss l, n and w: at theta_hat_K with any w, one GD step on the "
    "mean loss gives w' = w - eta grad_w mean_i l(f(x_i; w), y_i) (plain GD on f) and leaves "
    "every other parameter unchanged, so the state keeps its form: the extension is inert (T3)."
)
METHOD = (
    "identity: sympy diff of the whole mean loss (loss l undefined, honest sat gates at "
    "flags 1 1 and z_K = 1) compared with the GD step of f alone"
)


def prove(
    a: object | None = None,
    b: object | None = None,
    a_f: object | None = None,
    b_f: object | None = None,
    eta: object | None = None,
) -> LemmaResult:
    """Prove T3. Gates that do not close (e.g. ``b=2``) or a final gate that does not open
    (e.g. ``b_f=-4``) must give FAILED."""
    t0 = time.perf_counter()
    a, b, a_f, b_f = gate_defaults(a, b, a_f, b_f)  # the compiler's constants
    et = eta_symbol(eta)
    c0 = head_constant(et)
    # one labelled read: every labelled read enters F_main the same way (gated off)
    M = _model.build((1, 1), True, (1 - et) * c0, rat(a), rat(b), rat(a_f), rat(b_f), 1,
                     read_scale(et), labelled=1)
    # w is an arbitrary parameter value from K on: free the output register
    M.registers.pop(M.W)
    i = sp.Symbol("i", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    Y = sp.IndexedBase("Y")
    ell = sp.Function("ell")

    def mean(expr: sp.Expr) -> sp.Expr:
        return sp.Sum(expr, (i, 1, n)) / n

    F1 = sp.Add(*[t(1, i) for t in M.main])
    F2 = sp.Add(*[t(2, i) for t in M.main])
    terms = [mean(h(i) ** 2 / 2) for h in M.aux]
    terms.append(mean(ell(F1, F2, Y[i, 1], Y[i, 2])))
    w = M.W[M.alpha]
    Lf = mean(ell(M.f(1, i, w), M.f(2, i, w), Y[i, 1], Y[i, 2]))

    def grad(prm: sp.Expr) -> sp.Expr:
        key = prm.base if isinstance(prm, sp.Indexed) else prm
        return sp.Add(*[sp.diff(t, prm) for t in terms if t.has(key)])

    checks: list[Check] = []
    for prm in M.params:
        new = settle(M.at_state(prm - et * grad(prm)))
        if prm == w:
            want = settle(M.at_state(w - et * sp.diff(Lf, w)))
            checks.append(identity("w' = w - eta grad_w mean l(f(x_i; w), y_i)", new, want))
        else:
            checks.append(identity(f"{prm}' = {prm}", new, M.at_state(prm)))
    hyp = {"a": a, "b": b, "a_f": a_f, "b_f": b_f, "eta": "symbolic" if eta is None else eta}
    checks.append(gate_margin_check(a, b, a_f, b_f))
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
