"""Lemma *write* (construction section 4): one GD step of a compute/output head.

For ``h = g (c + <S, Phi(u; p)>)`` (Frobenius inner product, ``S`` of any shape ``m``,
``Phi`` any function) with ``g = 1``, ``grad g = 0`` and ``S = 0``, one GD step on
``E = 1/2 h^2`` gives ``S' = -eta c Phi(u; p)`` entrywise, ``c' = (1 - eta) c``, and leaves
``u``, ``p``, the gate's coefficients and flags unchanged. With ``g = 0`` and
``grad g = 0`` the head adds nothing to any gradient, whatever ``S``.

Method: ``Phi`` is an undefined sympy Function (so the result holds for all of them),
``S`` an IndexedBase of symbolic length ``m = alpha + r`` entered through a symbolic
``Sum``, ``u`` and ``p`` generic coordinates of the input registers and of Phi's
parameters, the gate an undefined function of (a, b, z_k, z_{k+1}) whose value and
first derivatives are the hypotheses; gradients by sympy differentiation of ``E``,
then each claimed update checked as an identity.
"""

from __future__ import annotations

import time

import sympy as sp

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import at_function, eta_symbol, fill_indexed, gd_update, identity, settle

NAME = "write"
STATEMENT = (
    "For every register shape m, every Phi, u, p, c and eta: if g = 1, grad g = 0 and S = 0, "
    "one GD step on E = h^2/2, h = g (c + <S, Phi(u; p)>), gives S' = -eta c Phi(u; p), "
    "c' = (1 - eta) c, u' = u, p' = p, and the gate's a, b, z_k, z_{k+1} unchanged; "
    "if g = 0 and grad g = 0, grad E = 0 for every S."
)
METHOD = (
    "identity: sympy diff of h^2/2 with Phi undefined, S of symbolic length (Sum), gate an "
    "undefined function with given value/derivatives; simplify(update - claim) == 0"
)


def prove(
    S0_zero: bool = True,
    gate: object = 1,
    grad_gate_zero: bool = True,
    eta: object | None = None,
) -> LemmaResult:
    """Prove the write lemma. ``S0_zero=False`` assumes ``S != 0`` (arbitrary entries),
    ``gate`` the open gate's value, ``grad_gate_zero=False`` a gate with nonzero
    derivatives; ``eta=None`` proves it for a symbolic eta > 0."""
    t0 = time.perf_counter()
    checks: list[Check] = []
    et = eta_symbol(eta)
    i = sp.Symbol("i", integer=True)
    alpha = sp.Symbol("alpha", integer=True, positive=True)
    r = sp.Symbol("r", integer=True, nonnegative=True)
    m = alpha + r  # the register has m >= alpha entries; alpha is a generic entry
    S, V = sp.IndexedBase("S"), sp.IndexedBase("V")
    Phi = sp.Function("Phi")
    u, p, c, a, b, zk, zk1 = sp.symbols("u p c a b z_k z_k1")
    g = sp.Function("gate")(a, b, zk, zk1)
    h = g * (c + sp.Sum(S[i] * Phi(i, u, p), (i, 1, m)))
    E = h**2 / 2
    params = [S[alpha], c, u, p, a, b, zk, zk1]
    dgs = {v: (0 if grad_gate_zero else sp.Symbol(f"dgate_d{v}")) for v in (a, b, zk, zk1)}

    def state(expr: sp.Expr, gval: object, s_zero: bool) -> sp.Expr:
        expr = settle(expr)
        if s_zero:
            expr = fill_indexed(expr, S, lambda *_: sp.Integer(0))
        else:
            expr = fill_indexed(expr, S, lambda *ix: V[ix])
        return at_function(expr, g, sp.sympify(gval), dgs)

    claims = {
        S[alpha]: -et * c * Phi(alpha, u, p),
        c: (1 - et) * c,
    }
    for prm in params:
        new = state(gd_update(E, prm, et), gate, S0_zero)
        old = state(prm, gate, S0_zero) if prm == S[alpha] else prm
        want = claims.get(prm, old)
        what = "S'[alpha] = -eta c Phi_alpha(u; p)" if prm == S[alpha] else (
            "c' = (1 - eta) c" if prm == c else f"{prm}' = {prm}")
        checks.append(identity(f"g = {gate}: {what}", new, want))
    # closed gate: nothing moves, for an arbitrary register content
    for prm in params:
        grad = state(sp.diff(E, prm), 0, False)
        checks.append(identity(f"g = 0: dE/d{prm} = 0 for any S", grad))
    hyp = {"S0_zero": S0_zero, "gate": gate, "grad_gate_zero": grad_gate_zero,
           "eta": "symbolic" if eta is None else eta}
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
