"""Learning algorithms written as ordinary Python over traced values.

Each algorithm has an independent plain-NumPy reference in ``zoo.references``
(written from the mathematics, not from the tracer); the checker compares both.

* ``gd``: ``T`` steps of full-batch GD on the squared loss of the base network,
  learning rate ``lr``, from the algorithm's own seeded rational ``w0``;
* ``perceptron``: one-vs-rest batch perceptron on a linear network (``T`` epochs);
* ``ncm``: nearest class mean written as a linear classifier; uses the reciprocal unit
  (division by the class frequencies);
* ``worked``: the two-step GD program of construction.md section 5, written as reads;
* the library (issue 14): ``momentum`` (heavy ball), ``nesterov``, ``gd_wd`` (weight
  decay), ``sign_gd``, ``ridge_richardson`` and ``ridge`` (closed form, reciprocal unit),
  ``diag_lda``, ``random_search`` (seeded candidates, select-based argmin),
  ``perceptron_sep`` (stops once separated, bound ``T``), ``logreg`` (cross-entropy, float
  only) and ``gd_cnn`` (``gd`` on a convolutional base network).

Each entry of :data:`ALGORITHMS` states its depth ``K`` as a function of its options
(``AlgorithmEntry.depth`` and ``depth_formula``; property T4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..networks.mlp import MLP
from ..program import lang
from ..program.tracer import Traced, TracedData
from . import references as ref


def _frac(v: Any) -> Fraction:
    """An option for the plain references (the traced algorithms apply the float policy)."""
    if isinstance(v, float):
        return Fraction(repr(v))
    return Fraction(v)


def gd(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 10), seed: int = 0,
       w0: Any = None) -> Traced:
    """``T`` steps of full-batch gradient descent on ``mean_i 1/2 |f(x_i; w) - y_i|^2``."""
    if w0 is None:
        w0 = ref.network_initial_weights(net, seed=seed)
    w = data.const(np.asarray(w0, dtype=object), "w0")
    rate = data.const(data.number(lr), "lr")
    for t in range(T):
        grad = data.mean(lambda x, y, w=w: lang.loss_grad(net, w, x, y), name=f"grad{t}")
        w = w - rate * grad
    return w


def perceptron(data: TracedData, net: MLP, T: int = 3, lr: Any = 1) -> Traced:
    """One-vs-rest batch perceptron from 0; a margin ``t s <= 0`` counts as a mistake."""
    _need_linear(net, "perceptron")
    w = data.const(np.zeros(net.n_params, dtype=int), "w_init")
    rate = data.const(data.number(lr), "lr")
    two, one = data.const(2, "2"), data.const(1, "1")

    for t in range(T):
        def update(x: Traced, y: Traced, w: Traced = w) -> Traced:
            s = lang.forward(net, w, x)
            target = two * y - one
            mistake = one - lang.step(target * s)
            mt = mistake * target
            return lang.concat([lang.outer(mt, x), mt])

        w = w + rate * data.mean(update, name=f"update{t}")
    return w


def ncm(data: TracedData, net: MLP) -> Traced:
    """Nearest class mean: ``W_c = mu_c``, ``b_c = -1/2 |mu_c|^2`` (reciprocal unit for 1/count)."""
    _need_linear(net, "ncm")
    count = data.mean(lambda x, y: y, name="count")
    sums = data.mean(lambda x, y: lang.outer(y, x), name="sums")
    ones = data.const(np.ones(data.d, dtype=int), "ones")
    mu = sums * lang.outer(lang.recip(count), ones)
    half = data.const(Fraction(-1, 2), "-1/2")
    b = half * ((mu * mu) @ ones)
    return lang.concat([mu, b])


def worked(data: TracedData, net: MLP, lr: Any = Fraction(1, 10)) -> Traced:
    """construction.md section 5: ``W <- 2 a R2 - a^2 R2 R1``.

    ``R1 = mean x x^T`` (unlabelled read), ``R2 = mean y x^T`` (labelled read).
    """
    a = data.number(lr)
    r1 = data.mean(lambda x: lang.outer(x, x), name="R1")
    r2 = data.mean(lambda x, y: lang.outer(y, x), name="R2")
    return (data.const(2 * a, "2a") * r2 - data.const(a * a, "a^2") * (r2 @ r1)).flatten()


def _need_linear(net: MLP, name: str) -> None:
    if len(getattr(net, "sizes", ())) != 2:
        from ..networks.mlp import NetworkSpecError

        raise NetworkSpecError(f"{name} needs a linear base network; use --network linear")


@dataclass(frozen=True)
class AlgorithmEntry:
    """An algorithm with its options and its independent reference."""

    name: str
    traced: Callable[..., Traced]
    reference: Callable[..., np.ndarray]
    summary: str
    options: tuple[str, ...]
    depth: Callable[..., int] | None = None
    depth_formula: str = ""
    exact: bool = True

    def depth_of(self, **options: Any) -> int | None:
        """``K`` for these options (defaults of the algorithm's signature filled in)."""
        if self.depth is None:
            return None
        import inspect

        params = inspect.signature(self.traced).parameters
        full = {k: p.default for k, p in params.items()
                if k in self.options and p.default is not p.empty}
        full.update(options)
        return int(self.depth(**full))


def _ref_gd(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3, lr: Any = Fraction(1, 10),
            seed: int = 0, w0: Any = None) -> np.ndarray:
    lr = _frac(lr) if x.dtype == object else float(_frac(lr))
    if not hasattr(net, "sizes"):
        return ref.reference_gd_net(net, x, y, T=T, lr=lr, seed=seed, w0=w0)
    return ref.reference_gd(list(net.sizes), net.activation, x, y, T=T, lr=lr, seed=seed, w0=w0,
                            bias=net.bias)


def _ref_perceptron(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3, lr: Any = 1
                    ) -> np.ndarray:
    lr = _frac(lr) if x.dtype == object else float(_frac(lr))
    return ref.reference_perceptron(x, y, T=T, lr=lr, bias=net.bias)


def _ref_ncm(net: MLP, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return ref.reference_ncm(x, y)


def _ref_worked(net: MLP, x: np.ndarray, y: np.ndarray, lr: Any = Fraction(1, 10)
                ) -> np.ndarray:
    lr = _frac(lr) if x.dtype == object else float(_frac(lr))
    return ref.reference_gd(list(net.sizes), "identity", x, y, T=2, lr=lr, w0=0, bias=net.bias)


# ------------------------------------------------------------------ the library


def _start(data: TracedData, net: MLP, seed: int, w0: Any) -> Traced:
    if w0 is None:
        w0 = ref.network_initial_weights(net, seed=seed)
    return data.const(np.asarray(w0, dtype=object), "w0")


def _grad(data: TracedData, net: MLP, w: Traced, name: str) -> Traced:
    return data.mean(lambda x, y, w=w: lang.loss_grad(net, w, x, y), name=name)


def momentum(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 10),
             beta: Any = Fraction(1, 2), seed: int = 0, w0: Any = None) -> Traced:
    """Heavy ball: ``v <- beta v + g(w)``, ``w <- w - lr v`` from ``v = 0`` (``g``: mean grad)."""
    w = _start(data, net, seed, w0)
    rate, b = data.const(_frac(lr), "lr"), data.const(_frac(beta), "beta")
    v: Traced | None = None
    for t in range(T):
        grad = _grad(data, net, w, f"grad{t}")
        v = grad if v is None else b * v + grad
        w = w - rate * v
    return w


def nesterov(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 10),
             beta: Any = Fraction(1, 2), seed: int = 0, w0: Any = None) -> Traced:
    """Nesterov: ``v <- beta v + g(w - lr beta v)``, ``w <- w - lr v`` from ``v = 0``."""
    w = _start(data, net, seed, w0)
    rate, b = data.const(_frac(lr), "lr"), data.const(_frac(beta), "beta")
    v: Traced | None = None
    for t in range(T):
        look = w if v is None else w - rate * b * v
        grad = _grad(data, net, look, f"grad{t}")
        v = grad if v is None else b * v + grad
        w = w - rate * v
    return w


def gd_wd(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 10),
          decay: Any = Fraction(1, 10), seed: int = 0, w0: Any = None) -> Traced:
    """GD with weight decay: ``w <- w - lr (g(w) + decay w)``."""
    w = _start(data, net, seed, w0)
    rate, lam = data.const(_frac(lr), "lr"), data.const(_frac(decay), "decay")
    for t in range(T):
        w = w - rate * (_grad(data, net, w, f"grad{t}") + lam * w)
    return w


def sign_gd(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 10), seed: int = 0,
            w0: Any = None) -> Traced:
    """Sign-GD: ``w <- w - lr sign(g(w))``, ``sign(z) = step(z) - step(-z)`` (``sign(0) = 0``)."""
    w = _start(data, net, seed, w0)
    rate = data.const(_frac(lr), "lr")
    for t in range(T):
        grad = _grad(data, net, w, f"grad{t}")
        w = w - rate * (lang.step(grad) - lang.step(-grad))
    return w


def _ridge_reads(data: TracedData, net: MLP) -> dict[str, Traced]:
    reads = {"Sxx": data.mean(lambda x: lang.outer(x, x), name="Sxx"),
             "Syx": data.mean(lambda x, y: lang.outer(y, x), name="Syx")}
    if net.bias:
        reads["sx"] = data.mean(lambda x: x, name="sx")
        reads["sy"] = data.mean(lambda x, y: y, name="sy")
    return reads


def ridge_richardson(data: TracedData, net: MLP, T: int = 3, alpha: Any = Fraction(1, 100),
                     lam: Any = 1) -> Traced:
    """Ridge regression by ``T`` Richardson iterations ``Theta <- Theta + alpha (B - Theta A)``.

    ``A = mean x~ x~^T + lam I``, ``B = mean y x~^T``, ``x~ = (x, 1)``, ``Theta = [W | b]``
    from 0, written on the blocks of ``A``; all iterations are arithmetic on the four
    reads, so they inline into the output (``K = 2`` whatever ``T``).
    """
    _need_linear(net, "ridge_richardson")
    r = _ridge_reads(data, net)
    a = data.const(_frac(alpha), "alpha")
    axx = r["Sxx"] + data.const(np.eye(data.d, dtype=object) * _frac(lam), "lam*I")
    W: Traced | None = None
    b: Traced | None = None
    one_lam = data.const(1 + _frac(lam), "1+lam")
    for _ in range(T):
        if W is None:
            W = a * r["Syx"]
            b = a * r["sy"] if net.bias else None
            continue
        if net.bias:
            assert b is not None
            W, b = (W + a * (r["Syx"] - W @ axx - lang.outer(b, r["sx"])),
                    b + a * (r["sy"] - W @ r["sx"] - b * one_lam))
        else:
            W = W + a * (r["Syx"] - W @ axx)
    if W is None:
        return data.const(np.zeros(net.n_params, dtype=int), "w_init")
    return lang.concat([W, b]) if net.bias else W.flatten()


def ridge(data: TracedData, net: MLP, lam: Any = 1) -> Traced:
    """Closed-form ridge ``Theta = B A^{-1}`` by Gauss-Jordan elimination on ``[A | B^T]``.

    No pivoting is needed (``A`` is symmetric positive definite for ``lam > 0``); the
    pivots are inverted by the reciprocal unit (construction.md section 2).
    """
    _need_linear(net, "ridge")
    r = _ridge_reads(data, net)
    d, c = data.d, data.c
    lam_ = _frac(lam)
    axx = r["Sxx"] + data.const(np.eye(d, dtype=object) * lam_, "lam*I")
    syx_t = r["Syx"].T
    rows: list[Traced] = []
    for i in range(d):
        parts = [axx[i], r["sx"][i:i + 1]] if net.bias else [axx[i]]
        rows.append(lang.concat([*parts, syx_t[i]]))
    if net.bias:
        rows.append(lang.concat([r["sx"], data.const([1 + lam_], "1+lam"), r["sy"]]))
    m = len(rows)
    for k in range(m):
        pk = rows[k] * lang.recip(rows[k][k])
        rows = [pk if j == k else rows[j] - rows[j][k] * pk for j in range(m)]
    theta_t = [row[m:] for row in rows]  # Theta^T: row i is column i of [W | b]
    W = lang.concat(theta_t[:d]).reshape(d, c).T
    return lang.concat([W, theta_t[d]]) if net.bias else W.flatten()


def diag_lda(data: TracedData, net: MLP, eps: Any = Fraction(1, 10)) -> Traced:
    """Diagonal LDA, equal priors: ``W_c = mu_c / s2``, ``b_c = -1/2 sum_j mu_cj^2 / s2_j``.

    ``s2 = mean x^2 - sum_c pi_c mu_c^2 + eps`` is the pooled within-class variance
    (floored by ``eps``); the reciprocal unit divides by the counts and by ``s2``.
    """
    _need_linear(net, "diag_lda")
    count = data.mean(lambda x, y: y, name="count")
    sums = data.mean(lambda x, y: lang.outer(y, x), name="sums")
    sq = data.mean(lambda x: x * x, name="sq")
    ones_d = data.const(np.ones(data.d, dtype=int), "ones_d")
    ones_c = data.const(np.ones(data.c, dtype=int), "ones_c")
    mu = sums * lang.outer(lang.recip(count), ones_d)
    inv = lang.recip(sq - count @ (mu * mu) + data.const(_frac(eps), "eps"))
    W = mu * lang.outer(ones_c, inv)
    b = data.const(Fraction(-1, 2), "-1/2") * ((mu * mu) @ inv)
    return lang.concat([W, b])


def random_search(data: TracedData, net: MLP, M: int = 4, seed: int = 0) -> Traced:
    """The best of ``M`` seeded candidates (``references.random_candidates``) by mean squared
    loss, chosen by a running select ``better = step(L_best - L_m)`` (first one on a tie)."""
    if M < 1:
        from ..networks.mlp import NetworkSpecError

        raise NetworkSpecError("random_search needs at least one candidate; use M >= 1")
    cands = ref.random_candidates(int(net.n_params), M, seed)
    half = data.const(Fraction(1, 2), "1/2")
    best_w: Traced | None = None
    best_l: Traced | None = None
    for m in range(M):
        wm = data.const(cands[m], f"cand{m}")

        def loss(x: Traced, y: Traced, wm: Traced = wm) -> Traced:
            r = lang.forward(net, wm, x) - y
            return half * lang.dot(r, r)

        lm = data.mean(loss, name=f"loss{m}")
        if best_w is None:
            best_w, best_l = wm, lm
            continue
        better = lang.step(best_l - lm)
        best_w = lang.where(better, wm, best_w)
        best_l = lang.where(better, lm, best_l)
    assert best_w is not None
    return best_w


def perceptron_sep(data: TracedData, net: MLP, T: int = 5, lr: Any = 1, margin: Any = 1
                   ) -> Traced:
    """Batch perceptron with a margin that stops once the training set is separated.

    ``T`` is the declared bound on epochs; the stop is a select: ``go <- go * step(errors)``
    with ``errors = mean_i #{c : t_ic s_ic <= 0}``, ``w <- w + go lr mean_i m t x~``.
    """
    _need_linear(net, "perceptron_sep")
    w = data.const(np.zeros(net.n_params, dtype=int), "w_init")
    rate, mg = data.const(_frac(lr), "lr"), data.const(_frac(margin), "margin")
    two, one = data.const(2, "2"), data.const(1, "1")
    go: Traced | None = None
    for t in range(T):
        def update(x: Traced, y: Traced, w: Traced = w) -> Traced:
            target = two * y - one
            m = one - lang.step(target * lang.forward(net, w, x) - mg)
            mt = m * target
            return lang.concat([lang.outer(mt, x), mt]) if net.bias else lang.outer(mt, x)

        def errors(x: Traced, y: Traced, w: Traced = w) -> Traced:
            target = two * y - one
            return (one - lang.step(target * lang.forward(net, w, x))).sum()

        u = data.mean(update, name=f"update{t}")
        flag = lang.step(data.mean(errors, name=f"errors{t}"))
        go = flag if go is None else go * flag
        w = w + go * rate * u
    return w


def _sigmoid(a: Traced) -> Traced:
    fn = getattr(lang, "sigmoid", None)  # lang.sigmoid (float only) where the tracer has it
    if fn is not None:
        return fn(a)
    from ..graph import core as g

    return Traced(g.unary("sigmoid", a.node), a.tracer)


def logreg(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 2)) -> Traced:
    """One-vs-rest logistic regression: ``T`` GD steps on the mean binary cross-entropy of
    ``sigmoid(W x + b)`` from 0 (gradient ``mean_i (sigmoid(s_i) - y_i) x~_i^T``). Float only."""
    _need_linear(net, "logreg")
    w = data.const(np.zeros(net.n_params, dtype=int), "w_init")
    rate = data.const(_frac(lr), "lr")
    for t in range(T):
        def grad(x: Traced, y: Traced, w: Traced = w) -> Traced:
            r = _sigmoid(lang.forward(net, w, x)) - y
            return lang.concat([lang.outer(r, x), r]) if net.bias else lang.outer(r, x)

        w = w - rate * data.mean(grad, name=f"grad{t}")
    return w


def gd_cnn(data: TracedData, net: MLP, T: int = 1, lr: Any = Fraction(1, 10), seed: int = 0,
           w0: Any = None) -> Traced:
    """``gd`` on a convolutional base network (``-n cnn:...`` or ``from_torch``)."""
    if hasattr(net, "sizes"):
        from ..networks.mlp import NetworkSpecError

        raise NetworkSpecError("gd_cnn needs a convolutional base network; use e.g. "
                               "--network cnn:1x8x8-c2k3-relu-p2-fc10 (or gd for an MLP)")
    return gd(data, net, T=T, lr=lr, seed=seed, w0=w0)


# ------------------------------------------------------------- reference wrappers


def _rate(lr: Any, x: np.ndarray) -> Any:
    return _frac(lr) if x.dtype == object else float(_frac(lr))


def _ref_momentum(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3,
                  lr: Any = Fraction(1, 10), beta: Any = Fraction(1, 2), seed: int = 0,
                  w0: Any = None) -> np.ndarray:
    return ref.reference_momentum(net, x, y, T, _rate(lr, x), _rate(beta, x), seed, w0=w0)


def _ref_nesterov(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3,
                  lr: Any = Fraction(1, 10), beta: Any = Fraction(1, 2), seed: int = 0,
                  w0: Any = None) -> np.ndarray:
    return ref.reference_nesterov(net, x, y, T, _rate(lr, x), _rate(beta, x), seed, w0=w0)


def _ref_gd_wd(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3, lr: Any = Fraction(1, 10),
               decay: Any = Fraction(1, 10), seed: int = 0, w0: Any = None) -> np.ndarray:
    return ref.reference_gd_weight_decay(net, x, y, T, _rate(lr, x), _rate(decay, x), seed,
                                         w0=w0)


def _ref_sign_gd(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3, lr: Any = Fraction(1, 10),
                 seed: int = 0, w0: Any = None) -> np.ndarray:
    return ref.reference_sign_gd(net, x, y, T, _rate(lr, x), seed, w0=w0)


def _ref_ridge_richardson(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3,
                          alpha: Any = Fraction(1, 100), lam: Any = 1) -> np.ndarray:
    return ref.reference_ridge_richardson(x, y, T, _rate(alpha, x), _rate(lam, x),
                                          bias=net.bias)


def _ref_ridge(net: MLP, x: np.ndarray, y: np.ndarray, lam: Any = 1) -> np.ndarray:
    return ref.reference_ridge(x, y, _rate(lam, x), bias=net.bias)


def _ref_diag_lda(net: MLP, x: np.ndarray, y: np.ndarray, eps: Any = Fraction(1, 10)
                  ) -> np.ndarray:
    return ref.reference_diag_lda(x, y, _rate(eps, x))


def _ref_random_search(net: MLP, x: np.ndarray, y: np.ndarray, M: int = 4, seed: int = 0
                       ) -> np.ndarray:
    return ref.reference_random_search(net, x, y, M, seed)


def _ref_perceptron_sep(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 5, lr: Any = 1,
                        margin: Any = 1) -> np.ndarray:
    return ref.reference_perceptron_until_separated(x, y, T, _rate(lr, x), _rate(margin, x),
                                                    bias=net.bias)


def _ref_logreg(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 3, lr: Any = Fraction(1, 2)
                ) -> np.ndarray:
    return ref.reference_logreg(x, y, T, _rate(lr, x), bias=net.bias)


def _ref_gd_cnn(net: MLP, x: np.ndarray, y: np.ndarray, T: int = 1, lr: Any = Fraction(1, 10),
                seed: int = 0, w0: Any = None) -> np.ndarray:
    return ref.reference_gd_net(net, x, y, T=T, lr=_rate(lr, x), seed=seed, w0=w0)


def _steps_plus_one(T: int = 3, **_: Any) -> int:
    return int(T) + 1


def _two(**_: Any) -> int:
    return 2


_E = AlgorithmEntry
ALGORITHMS: dict[str, AlgorithmEntry] = {
    "gd": _E("gd", gd, _ref_gd,
             "T steps of full-batch GD on the squared loss (options T, lr, seed)",
             ("T", "lr", "seed"), _steps_plus_one, "T + 1"),
    "perceptron": _E("perceptron", perceptron, _ref_perceptron,
                     "one-vs-rest batch perceptron on a linear network (T, lr)",
                     ("T", "lr"), _steps_plus_one, "T + 1"),
    "ncm": _E("ncm", ncm, _ref_ncm,
              "nearest class mean as a linear classifier (reciprocal unit)", (), _two, "2"),
    "worked": _E("worked", worked, _ref_worked,
                 "construction.md section 5: two GD steps written as reads (lr)",
                 ("lr",), _two, "2"),
    "momentum": _E("momentum", momentum, _ref_momentum,
                   "heavy-ball momentum v <- beta v + g(w), w <- w - lr v, any network",
                   ("T", "lr", "beta", "seed"), _steps_plus_one, "T + 1"),
    "nesterov": _E("nesterov", nesterov, _ref_nesterov,
                   "Nesterov momentum, gradient at w - lr beta v, any network",
                   ("T", "lr", "beta", "seed"), _steps_plus_one, "T + 1"),
    "gd_wd": _E("gd_wd", gd_wd, _ref_gd_wd,
                "GD with weight decay w <- w - lr (g(w) + decay w), any network",
                ("T", "lr", "decay", "seed"), _steps_plus_one, "T + 1"),
    "sign_gd": _E("sign_gd", sign_gd, _ref_sign_gd,
                  "sign-GD w <- w - lr sign(g(w)), sign(0) = 0, any network",
                  ("T", "lr", "seed"), _steps_plus_one, "T + 1"),
    "ridge_richardson": _E("ridge_richardson", ridge_richardson, _ref_ridge_richardson,
                           "ridge regression by T Richardson iterations (linear network)",
                           ("T", "alpha", "lam"), _two, "2 (any T: the iterations inline)"),
    "ridge": _E("ridge", ridge, _ref_ridge,
                "closed-form ridge by Gauss-Jordan with the reciprocal unit (linear network)",
                ("lam",), _two, "2"),
    "diag_lda": _E("diag_lda", diag_lda, _ref_diag_lda,
                   "diagonal LDA, equal priors, variance floor eps (linear network, "
                   "reciprocal unit)", ("eps",), _two, "2"),
    "random_search": _E("random_search", random_search, _ref_random_search,
                        "best of M seeded candidates by squared loss, select-based argmin",
                        ("M", "seed"), _two, "2"),
    "perceptron_sep": _E("perceptron_sep", perceptron_sep, _ref_perceptron_sep,
                         "batch perceptron with margin, stops once separated (bound T epochs)",
                         ("T", "lr", "margin"), lambda T=5, **_: int(T) + 1, "T + 1"),
    "logreg": _E("logreg", logreg, _ref_logreg,
                 "one-vs-rest logistic regression by GD on cross-entropy (float only)",
                 ("T", "lr"), _steps_plus_one, "T + 1", exact=False),
    "gd_cnn": _E("gd_cnn", gd_cnn, _ref_gd_cnn,
                 "gd on a convolutional base network (cnn:... spec or from_torch)",
                 ("T", "lr", "seed"), lambda T=1, **_: int(T) + 1, "T + 1"),
}
