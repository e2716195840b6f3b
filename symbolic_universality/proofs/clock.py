"""Lemma *clock* (construction section 4): the advance head sets the next flag to 1.

The clock head of step k is ``h = g_k (c + z_{k+1} e)`` with the honest gate
``g_k = sat(a (z_k - z_{k+1}) + b)`` (its second flag *is* the target flag). At the
thermometer state ``z_k = 1``, ``z_{k+1} = 0`` with ``e = 1`` and ``c = -1/eta``, one GD step
on ``h^2 / 2`` gives ``z_{k+1}' = -eta c e = 1`` exactly, ``e' = e``, ``c' = (1 - eta) c``, and
``z_k``, ``a``, ``b`` unchanged. After the step the flags read ``1 1``: ``g_k`` closes (0)
and the next gate ``g_{k+1} = sat(a (z_{k+1} - z_{k+2}) + b)`` opens (1).

Method: sympy differentiation of ``h^2/2`` with sat as a Piecewise, eta a positive
symbol (so it holds for every eta > 0, in particular eta = 1/4); identity checks.
"""

from __future__ import annotations

import time

import sympy as sp

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import (
    compiler_constants,
    eta_symbol,
    gate_defaults,
    gate_margin_check,
    gd_update,
    head_constant,
    identity,
    rat,
    sat,
)

NAME = "clock"
STATEMENT = (
    "For every eta > 0: the advance head h = g_k (c + z_{k+1} e), g_k = sat(a(z_k - z_{k+1}) + b), "
    "at z_k = 1, z_{k+1} = 0, e = 1, c = -1/eta, a = 4, b = -2: one GD step on h^2/2 gives "
    "z_{k+1}' = -eta c e = 1 exactly, e' = e, c' = (1 - eta) c, z_k, a, b unchanged; "
    "afterwards g_k = 0 and g_{k+1} = 1."
)
METHOD = "identity: sympy diff of h^2/2 with sat as Piecewise (honest gate), eta symbolic"


def prove(
    c: object | None = None,
    e: object | None = None,
    a: object | None = None,
    b: object | None = None,
    eta: object | None = None,
) -> LemmaResult:
    """Prove the clock lemma; ``c=None`` means the construction's ``c = -1/eta``.

    A wrong constant (e.g. ``c=-3``) or a wrong ``e`` must give FAILED.
    """
    t0 = time.perf_counter()
    a, b, _, _ = gate_defaults(a, b)  # the compiler's constants
    et = eta_symbol(eta)
    cval = head_constant(et) if c is None else rat(c)
    e = compiler_constants()["e"] if e is None else e
    zk, zk1, zk2, sa, sb, sc, se = sp.symbols("z_k z_k1 z_k2 a b c e")
    h = sat(sa * (zk - zk1) + sb) * (sc + zk1 * se)
    E = h**2 / 2
    state = {zk: 1, zk1: 0, sc: cval, se: rat(e), sa: rat(a), sb: rat(b)}
    checks: list[Check] = []
    new = {v: gd_update(E, v, et).subs(state) for v in (zk, zk1, sa, sb, sc, se)}
    checks.append(identity("z_{k+1}' = 1", new[zk1], 1))
    checks.append(identity("c' = (1 - eta) c", new[sc], (1 - et) * cval))
    checks.append(identity("e' = e", new[se], rat(e)))
    for v in (zk, sa, sb):
        checks.append(identity(f"{v}' = {v}", new[v], state[v]))
    after = {zk: new[zk], zk1: new[zk1], zk2: 0, sa: new[sa], sb: new[sb]}
    checks.append(identity("after the step g_k = 0", sat(sa * (zk - zk1) + sb).subs(after), 0))
    checks.append(identity("after the step g_{k+1} = 1", sat(sa * (zk1 - zk2) + sb).subs(after), 1))
    hyp = {"c": "-1/eta" if c is None else c, "e": e, "a": a, "b": b,
           "eta": "symbolic" if eta is None else eta}
    checks.append(gate_margin_check(a, b))
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
