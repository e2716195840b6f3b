"""Learning algorithms written as ordinary Python over traced values.

Each algorithm has an independent plain-NumPy reference in ``zoo.references``
(written from the mathematics, not from the tracer); the checker compares both.

* ``gd``: ``T`` steps of full-batch GD on the squared loss of the base network,
  learning rate ``lr``, from the algorithm's own seeded rational ``w0``;
* ``perceptron``: one-vs-rest batch perceptron on a linear network (``T`` epochs);
* ``ncm``: nearest class mean written as a linear classifier; uses the reciprocal unit
  (division by the class frequencies);
* ``worked``: the two-step GD program of construction.md section 5, written as reads.
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
    if isinstance(v, float):
        return Fraction(repr(v))
    return Fraction(v)


def gd(data: TracedData, net: MLP, T: int = 3, lr: Any = Fraction(1, 10), seed: int = 0,
       w0: Any = None) -> Traced:
    """``T`` steps of full-batch gradient descent on ``mean_i 1/2 |f(x_i; w) - y_i|^2``."""
    if w0 is None:
        w0 = ref.network_initial_weights(net, seed=seed)
    w = data.const(np.asarray(w0, dtype=object), "w0")
    rate = data.const(_frac(lr), "lr")
    for t in range(T):
        grad = data.mean(lambda x, y, w=w: lang.loss_grad(net, w, x, y), name=f"grad{t}")
        w = w - rate * grad
    return w


def perceptron(data: TracedData, net: MLP, T: int = 3, lr: Any = 1) -> Traced:
    """One-vs-rest batch perceptron from 0; a margin ``t s <= 0`` counts as a mistake."""
    _need_linear(net, "perceptron")
    w = data.const(np.zeros(net.n_params, dtype=int), "w_init")
    rate = data.const(_frac(lr), "lr")
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
    a = _frac(lr)
    r1 = data.mean(lambda x: lang.outer(x, x), name="R1")
    r2 = data.mean(lambda x, y: lang.outer(y, x), name="R2")
    return (data.const(2 * a, "2a") * r2 - data.const(a * a, "a^2") * (r2 @ r1)).flatten()


def _need_linear(net: MLP, name: str) -> None:
    if len(net.sizes) != 2:
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


ALGORITHMS: dict[str, AlgorithmEntry] = {
    "gd": AlgorithmEntry("gd", gd, _ref_gd,
                         "T steps of full-batch GD on the squared loss (options T, lr, seed)",
                         ("T", "lr", "seed")),
    "perceptron": AlgorithmEntry("perceptron", perceptron, _ref_perceptron,
                                 "one-vs-rest batch perceptron on a linear network (T, lr)",
                                 ("T", "lr")),
    "ncm": AlgorithmEntry("ncm", ncm, _ref_ncm,
                          "nearest class mean as a linear classifier (reciprocal unit)", ()),
    "worked": AlgorithmEntry("worked", worked, _ref_worked,
                             "construction.md section 5: two GD steps written as reads (lr)",
                             ("lr",)),
}
