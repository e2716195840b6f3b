"""Lemma *persistence* (construction section 4): a closed head never moves again.

Let a head have exclusive parameters ``q`` (its constant, register, psi/Phi parameters,
scale, ...), read shared inputs ``u``, and be multiplied by a gate ``g`` (any function of
flags and coefficients). If ``g = 0`` and ``grad g = 0`` at ``theta``, then for every head
body ``H`` and every loss ``l``:

* as an aux head (``E = (g H(q, u))^2 / 2`` plus any other terms) it contributes 0 to every
  partial derivative of ``L``;
* as an ``F_main`` term (``l(g M(q, u, x_i) + O(x_i), y_i)`` averaged over the data, with
  any other terms ``O``) it contributes 0 to every partial derivative of ``L``;

so ``q' = q``. By induction on k: if the gate stays 0 with zero gradient at every step
``k >= k0`` (flat gates + isolation on the thermometer), ``q_k = q_{k0}`` for all ``k >= k0``.

Method: ``H``, ``M``, ``O``, the loss ``l`` and the rest of ``L`` undefined sympy
functions, the number of samples symbolic; gradients by sympy differentiation;
identity checks, then the induction step ``q_{k+1} = q_k`` for a symbolic k.
"""

from __future__ import annotations

import time

import sympy as sp

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import at_function, eta_symbol, gd_update, identity, settle

NAME = "persistence"
STATEMENT = (
    "For every head body H, loss l, other terms and n: if the head's gate has g = 0 and "
    "grad g = 0 at theta, the head contributes 0 to every partial derivative of the loss "
    "(as an aux head and as an F_main term), so its exclusive parameters do not move; "
    "by induction on k, a head whose gate stays closed keeps its parameters for ever."
)
METHOD = (
    "identity: sympy diff with H, M, O, l, the rest of L undefined functions (symbolic n); "
    "induction step q_{k+1} = q_k for symbolic k"
)


def prove(gate: object = 0, grad_gate_zero: bool = True, eta: object | None = None) -> LemmaResult:
    """Prove the persistence lemma. ``gate=1`` (an open gate) or ``grad_gate_zero=False``
    (a gate that is not flat) must give FAILED."""
    t0 = time.perf_counter()
    et = eta_symbol(eta)
    q1, q2, u, z1, z2, a, b, o = sp.symbols("q1 q2 u z1 z2 a b o")
    i = sp.Symbol("i", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    Y = sp.IndexedBase("Y")
    g = sp.Function("gate")(a, b, z1, z2)
    H, M, O = sp.Function("H"), sp.Function("M"), sp.Function("O")
    Rest = sp.Function("Rest")(u, z1, z2, a, b, o)  # every other head: never contains q
    loss = sp.Function("ell")
    derivs = {v: (0 if grad_gate_zero else sp.Symbol(f"dgate_d{v}")) for v in (a, b, z1, z2)}
    L_aux = (g * H(q1, q2, u)) ** 2 / 2 + Rest
    L_main = sp.Sum(loss(g * M(q1, q2, u, i) + O(i, u, o), Y[i]), (i, 1, n)) / n + Rest
    checks: list[Check] = []
    for label, L, Lrest in (("aux head", L_aux, Rest), ("F_main term", L_main, None)):
        if Lrest is None:  # the same loss with the head removed
            Lrest = sp.Sum(loss(O(i, u, o), Y[i]), (i, 1, n)) / n + Rest
        for v in (q1, q2):
            new = at_function(settle(gd_update(L, v, et)), g, sp.sympify(gate), derivs)
            checks.append(identity(f"{label}: exclusive parameter {v}' = {v}", new, v))
        for v in (u, z1, z2, a, b, o):
            got = at_function(settle(sp.diff(L, v)), g, sp.sympify(gate), derivs)
            want = settle(sp.diff(Lrest, v))
            checks.append(identity(f"{label}: contribution to dL/d{v} is 0", got, want))
    # induction: q_k = q_{k0} and a zero gradient at step k give q_{k+1} = q_{k0}, for symbolic k
    k = sp.Symbol("k", integer=True, nonnegative=True)
    qk, qk0 = sp.Function("q")(k), sp.Symbol("q_k0")
    grad_k = at_function(settle(sp.diff(L_aux, q1)), g, sp.sympify(gate), derivs)
    step = (qk - et * grad_k.subs(q1, qk)).subs(qk, qk0)
    checks.append(identity("induction step: q_k = q_k0 implies q_{k+1} = q_k0", step, qk0))
    hyp = {"gate": gate, "grad_gate_zero": grad_gate_zero,
           "eta": "symbolic" if eta is None else eta}
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
