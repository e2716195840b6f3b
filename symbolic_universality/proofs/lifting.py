"""Lemma *lifting* (construction.md section 7): one generic sample proves every data set.

Statement. Let ``G(theta; D)`` be *mean-affine* in the data: ``G(theta; D) = A(theta) +
sum_j B_j(theta) mean_i v_j(theta, x_i, y_i)`` with ``A``, ``B_j``, ``v_j`` free of
reductions over samples. Then for every data set ``D`` of every size ``n``

    ``G(theta; D) = mean_i G(theta; {(x_i, y_i)})``.

Hence if a GD step's obligation ``theta - eta grad L(theta; {(x, y)}) = P(theta, x, y)``
holds as an identity in one generic sample (``x`` free, ``y`` any one-hot vector, the
earlier registers free symbols in ``theta``), with ``P`` mean-affine, it holds on every
data set: both sides are means of the one-sample sides.

Checks (method): (1) the identity ``A + B (1/n) sum_i v_i = (1/n) sum_i (A + B v_i)`` for
symbolic ``n`` (sympy ``Sum``, undefined functions); (2) the structural hypothesis on the
compiled extension's gradient graph and register predictions (:mod:`..symbolic.lifting`);
(3) exactly (Fractions), on the worked example's extension, the gradient on a 3-sample
data set equals the mean of the gradients on its three one-sample data sets.

Negative control ``reduction="sum"``: a loss that sums over samples instead of averaging
(``bsum``) is not mean-affine (the structural check says so) and its gradient on ``D`` is
``n`` times the mean of the one-sample gradients: FAILED.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import sympy as sp

from ._result import FAILED, PROVED, Check, LemmaResult, make_result, run_as_script
from ._tools import identity

NAME = "lifting"
STATEMENT = (
    "A mean-affine graph G(theta; D) = A(theta) + sum_j B_j(theta) mean_i v_j(theta, x_i, y_i) "
    "equals mean_i G(theta; {(x_i, y_i)}) on every data set of every size; so a GD step's "
    "obligation proved in one generic sample (registers free) holds for every data set."
)
METHOD = (
    "sympy identity with symbolic n (Sum, undefined functions); structural check of the "
    "compiled gradient graph (symbolic/lifting.py); exact Fraction check on 3 samples"
)


def _loss_graph(reduction: str) -> tuple[object, object, object]:
    """``L = red_i 1/2 (<w, x_i> - y_i)^2`` for a scalar output (the negative control)."""
    from ..graph import core as g
    from ..graph.autodiff import gradients

    w = g.param("w", (2,))
    x, y = g.data_x(2), g.data_y(1)
    r = g.sub(g.matmul(g.reshape(w, (1, 2)), x), y)
    per = g.scale(g.vdot(r, r), Fraction(1, 2))
    loss = g.bmean(per) if reduction == "mean" else g.bsum(per)
    return loss, w, gradients(loss, [w])[w]


def _exact_check(grad: object, theta: dict, x: np.ndarray, y: np.ndarray) -> tuple[bool, str]:
    from ..backends.scalars import EXACT
    from ..graph.evaluate import evaluate

    (full,) = evaluate([grad], EXACT, theta, x, y)
    singles = [evaluate([grad], EXACT, theta, x[i:i + 1], y[i:i + 1])[0]
               for i in range(x.shape[0])]
    mean = sum((np.asarray(s, dtype=object) for s in singles[1:]),
               np.asarray(singles[0], dtype=object)) * Fraction(1, x.shape[0])
    full = np.asarray(full, dtype=object).reshape(-1)
    mean = np.asarray(mean, dtype=object).reshape(-1)
    for a, b in zip(full, mean, strict=True):
        if a != b:
            return False, f"gradient on D = {a}, mean of one-sample gradients = {b}"
    return True, "equal entry by entry"


def prove(reduction: str = "mean") -> LemmaResult:
    """Prove the lemma; ``reduction="sum"`` is the negative control (FAILED)."""
    from ..networks.mlp import parse_network
    from ..pipeline import compile_algorithm
    from ..symbolic.lifting import check_extension, mean_affine

    t0 = time.perf_counter()
    checks: list[Check] = []
    n = sp.Symbol("n", positive=True, integer=True)
    i = sp.Symbol("i", integer=True)
    th = sp.Symbol("theta")
    A, B, v = sp.Function("A"), sp.Function("B"), sp.Function("v")
    lhs = A(th) + B(th) * sp.Sum(v(th, i), (i, 1, n)) / n
    checks.append(identity("A + B mean_i v_i = mean_i (A + B v_i) (symbolic n)",
                           sp.expand(sp.Sum(A(th) + B(th) * v(th, i), (i, 1, n)).doit()
                                     .expand() / n - lhs.doit().expand()), 0))
    net = parse_network("linear-nobias", 2, 2)
    ext = compile_algorithm("worked", net)
    for name, res in check_extension(ext):
        checks.append(Check(f"worked extension: {name} mean-affine",
                            PROVED if res.ok else FAILED, res.sentence()))
    loss, w, grad = _loss_graph(reduction)
    res = mean_affine([grad])
    checks.append(Check(f"toy loss ({reduction} over samples): gradient mean-affine",
                        PROVED if res.ok else FAILED, res.sentence()))
    x = np.array([[Fraction(1), Fraction(2)], [Fraction(-1), Fraction(1)],
                  [Fraction(3), Fraction(-2)]], dtype=object)
    y = np.array([[Fraction(1)], [Fraction(0)], [Fraction(1)]], dtype=object)
    theta = {"w": np.array([Fraction(1, 3), Fraction(-1, 2)], dtype=object)}
    ok, detail = _exact_check(grad, theta, x, y)
    checks.append(Check(f"toy loss ({reduction}): grad L(D) = mean_i grad L({{(x_i, y_i)}}), "
                        "exact, n = 3", PROVED if ok else FAILED, detail))
    ext_grads = ext.gradient_nodes()
    regs = {}
    for j, ins in enumerate(ext.program.instructions):  # registers of steps < 1: any values
        vals = np.empty(ins.target.shape, dtype=object)
        for t, idx in enumerate(np.ndindex(*ins.target.shape)):
            vals[idx] = Fraction((3 * t + j) % 7 - 3, 1 + t % 3)
        regs[ins.target.name] = vals
    theta_w = ext.predicted(1, regs)
    yy = np.array([[Fraction(0), Fraction(1)], [Fraction(1), Fraction(0)],
                   [Fraction(0), Fraction(1)]], dtype=object)
    bad = []
    for name, node in ext_grads.items():
        if node is None:
            continue
        ok, detail = _exact_check(node, theta_w, x, yy)
        if not ok:
            bad.append(f"{name}: {detail}")
    checks.append(Check("worked extension at theta_hat_1: every block's gradient on D = mean "
                        "of the one-sample gradients (exact, n = 3)",
                        FAILED if bad else PROVED, "; ".join(bad[:2])))
    return make_result(NAME, STATEMENT, METHOD, checks, {"reduction": reduction},
                       time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
