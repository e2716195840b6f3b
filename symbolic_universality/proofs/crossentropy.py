"""Lemma *cross-entropy compensation* (the cross-entropy variant of construction section 1).

With softmax cross-entropy ``l(F, y) = log sum_c exp(F_c) - <F, y>`` as the main loss, before
step ``K`` every ``F_main`` entry is exactly 0 (lemma *isolation*), so the residual is
``softmax(0) - y = 1/C - y`` and a labelled read with body ``phi(u, x, y) = psi(u, x) y^T``
receives (lemma *read*, cross-entropy case) ``R' = mean_i psi(u, x_i) (y_i - 1/C)^T``. The
compiler (``extension/crossentropy.py``) adds, at the same step, the unlabelled read
``U <- mean_i phi(u, x_i, 1) = mean_i psi(u, x_i) 1^T`` and lets every later use of ``R`` read
``R + (1/C) U``. Then

* ``softmax(0) = 1/C`` (all ``C``) and ``d l / d F = softmax(F) - y`` (all ``F``, ``y``),
* ``R' + (1/C) U' = mean_i psi(u, x_i) y_i^T`` for every ``n``, ``C``, ``psi``, data,

so every later instruction reads exactly the register of the squared-loss construction, and
``K`` is unchanged (``U`` is scheduled with ``R``; T4).

Method: sympy with ``n``, ``C`` and the sizes symbolic (``Sum``), ``psi`` an undefined
function; the softmax derivative by sympy differentiation of the loss for ``C = 2, 3, 4``;
and the compiler's own transformation run on the worked example and compared exactly with
the original program's registers on random rational data (a check of the code, not only of
the algebra). Negative control: a wrong compensation coefficient (``coef != 1/C``) FAILS.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction

import sympy as sp

from ._result import FAILED, PROVED, Check, LemmaResult, make_result, run_as_script
from ._tools import identity

NAME = "crossentropy"
STATEMENT = (
    "For every n samples, C >= 2 classes, psi of any dimension, every psi and all data: "
    "softmax(0) = 1/C; d/dF [log sum exp F - <F, y>] = softmax(F) - y; with the read "
    "R' = mean_i psi(x_i)(y_i - 1/C)^T and the compensating read U' = mean_i psi(x_i) 1^T at "
    "the same step, R' + (1/C) U' = mean_i psi(x_i) y_i^T. The compiler's transformation "
    "(extension/crossentropy.py) leaves the program's output and its depth K unchanged."
)
METHOD = ("identity: sympy Sum over symbolic n, C with psi undefined; sympy diff of the loss "
          "for C = 2, 3, 4; the compiled transformation on random rational data, exactly")


def prove(coef: object | None = None) -> LemmaResult:
    """Prove the lemma; ``coef`` replaces the compensation coefficient ``1/C`` (a negative
    control, e.g. ``coef=1`` must FAIL)."""
    t0 = time.perf_counter()
    checks: list[Check] = []
    n, C = sp.symbols("n C", positive=True, integer=True)
    i, c, j = sp.symbols("i c j", integer=True)
    psi = sp.Function("psi")
    Y = sp.IndexedBase("y")
    k = 1 / C if coef is None else sp.nsimplify(coef)
    # entry (j, c) of each side; labels one-hot: the read of (y - 1/C) and of 1 are means
    # entry (j, c) of R' + coef U' - mean psi y^T, one-hot labels: a mean of per-sample terms
    summand = sp.expand(psi(i, j) * (Y[i, c] - 1 / C) + k * psi(i, j) - psi(i, j) * Y[i, c])
    checks.append(identity("R' + coef U' = mean_i psi(x_i) y_i^T (every n, C)",
                           sp.simplify(sp.Sum(summand, (i, 1, n)).doit() / n), 0))
    for cc in (2, 3, 4):
        z = sp.symbols(f"z0:{cc}")
        y = sp.symbols(f"t0:{cc}")
        loss = sp.log(sum(sp.exp(v) for v in z)) - sum(a * b for a, b in zip(z, y, strict=True))
        soft = [sp.exp(v) / sum(sp.exp(u) for u in z) for v in z]
        for m in range(cc):
            checks.append(identity(f"C = {cc}: dl/dF_{m} = softmax_{m} - y_{m}",
                                   sp.diff(loss, z[m]) - (soft[m] - y[m]), 0))
        at0 = [s.subs({v: 0 for v in z}) for s in soft]
        for m in range(cc):
            checks.append(identity(f"C = {cc}: softmax(0)_{m} = 1/C", at0[m],
                                   sp.Rational(1, cc)))
    checks.append(_compiled_check(None if coef is None else Fraction(str(sp.nsimplify(coef)))))
    hyp = {"coef": "1/C" if coef is None else coef}
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


def _compiled_check(coef: Fraction | None) -> Check:
    """The compiler's transformation on the worked example and gd on a linear network:
    its interpreter's output equals the original program's on random rational data, and the
    depth is unchanged (``coef`` replaces the ``1/C`` the transformation uses)."""
    import numpy as np

    from ..backends.scalars import EXACT
    from ..extension import crossentropy as ce
    from ..networks.mlp import parse_network
    from ..pipeline import compile_algorithm
    from ..program.interpreter import run_program

    rng = random.Random(7)
    bad: list[str] = []
    for alg, spec, opts in (("worked", "linear-nobias", {}), ("gd", "linear", {"T": 2})):
        net = parse_network(spec, 2, 2)
        prog = compile_algorithm(alg, net, **opts).program
        new = ce.cross_entropy_program(prog, coef=coef)
        x = np.array([[Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(2)]
                      for _ in range(4)], dtype=object)
        y = np.zeros((4, 2), dtype=object)
        y[:] = Fraction(0)
        for r in range(4):
            y[r, r % 2] = Fraction(1)
        # what GD writes into each labelled register under cross-entropy is the read of
        # (y - 1/C): the transformed program reads exactly that (lemma read)
        a = run_program(prog, x, y, EXACT)["w"]
        b = run_program(new, x, y, EXACT)["w"]
        if not all(u == v for u, v in zip(a, b, strict=True)):
            bad.append(f"{alg}: A(D) changed")
        if new.depth != prog.depth:
            bad.append(f"{alg}: K {prog.depth} -> {new.depth}")
    return Check("compiler's transformation keeps A(D) and K (worked, gd)",
                 PROVED if not bad else FAILED,
                 "; ".join(bad) or "equal exactly on random rational data; K unchanged")

if __name__ == "__main__":
    run_as_script(prove)
