"""Lemma *forward output* (T2): at ``theta_K`` the extension computes ``f(x; A(D))``.

At ``theta_hat_K`` (= ``theta_K`` by the trajectory lemma) every flag is 1, so every step
gate reads the pattern 1 1 and is 0, and the final gate reads ``z_K = 1`` and is 1. For
every input ``x`` (not only the training inputs), every class ``gamma`` and whatever the
registers hold: ``F_main(x)_gamma = f(x; w)_gamma`` with ``w = A(D)`` (T1), and every aux
output is 0 -- the clock, compute, output and unlabelled-read heads alike.

Method: a representative extension (one head of every kind, two labelled reads, the base
network; honest sat gates; Phi/psi/f undefined; registers of symbolic length with
arbitrary contents; the class index symbolic) evaluated at a free symbol ``x``;
identity checks.
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

NAME = "forward_output"
STATEMENT = (
    "At theta_K (all flags 1): for every input x and class gamma, F_main(x)_gamma = "
    "f(x; w)_gamma with w = A(D), and F_aux(x) = 0 for every head (clock, compute, output, "
    "unlabelled read), whatever the registers hold (T2)."
)
METHOD = "identity: honest sat gates at flags 1 1 and z_K = 1, x a free symbol, Phi/psi/f undefined"


def prove(
    a: object | None = None,
    b: object | None = None,
    a_f: object | None = None,
    b_f: object | None = None,
    at_step: str = "K",
    eta: object | None = None,
) -> LemmaResult:
    """Prove T2. ``at_step="K-1"`` evaluates one step too early (the last step's heads
    still open, registers of that step 0, ``z_K = 0``); it and e.g. ``b_f=-4`` (a final
    gate that does not open) must give FAILED."""
    t0 = time.perf_counter()
    a, b, a_f, b_f = gate_defaults(a, b, a_f, b_f)  # the compiler's constants
    et = eta_symbol(eta)
    c0 = head_constant(et)
    x = sp.Symbol("x")
    gamma = sp.Symbol("gamma", integer=True, positive=True)
    if at_step == "K":
        M = _model.build((1, 1), True, (1 - et) * c0, rat(a), rat(b), rat(a_f), rat(b_f), 1,
                         read_scale(et))
    elif at_step == "K-1":
        M = _model.build((1, 0), False, c0, rat(a), rat(b), rat(a_f), rat(b_f), 0, read_scale(et))
    else:
        raise ValueError("at_step must be 'K' or 'K-1'")
    want_w = sp.IndexedBase("A_D")[M.alpha]
    checks: list[Check] = []
    F = sp.Add(*[t(gamma, x) for t in M.main])
    checks.append(identity("F_main(x)_gamma = f(x; A(D))_gamma for every x",
                           settle(M.at_state(F)), M.f(gamma, x, want_w)))
    names = ("clock", "compute", "output", "unlabelled read")
    for name, h in zip(names, M.aux, strict=True):
        checks.append(identity(f"aux output of the {name} head is 0 at every x",
                               settle(M.at_state(h(x)))))
    hyp = {"a": a, "b": b, "a_f": a_f, "b_f": b_f, "at_step": at_step,
           "eta": "symbolic" if eta is None else eta}
    checks.append(gate_margin_check(a, b, a_f, b_f))
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
