"""Independent references on any scalar backend (sympy, z3, exact): no graph, no autodiff.

A hand-written forward pass and backpropagation of the base network on object arrays,
with the nonlinearities taken from the backend (so the H(0) = 0 conventions are those of
``backends.scalars``), and the zoo's algorithms written from their mathematics. They give
the *expected* side of the obligations that the trajectory theorem alone does not predict:

* step ``K`` (T3, the *inertness* part of the trajectory theorem): ``w`` moves by
  ``-eta`` times the mean gradient of ``1/2 |f(x_i; w) - y_i|^2`` computed here;
* T2: ``F_main(x; theta_K) = f(x; w)`` with ``f`` computed here;
* T1: the program's output ``A(D)`` equals :func:`reference_weights`.

Nothing here shares code with ``graph.autodiff`` or ``program.tracer``; the tests compare
it with the Fraction-only ``zoo.references`` on rational data.
"""

from __future__ import annotations

import inspect
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import Backend
from ..networks.mlp import MLP
from ..zoo import references as zref

__all__ = ["forward", "mean_grad", "reference_weights", "REFERENCES"]


def _layers(net: MLP, w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    w = np.asarray(w, dtype=object).reshape(-1)
    out = []
    for w_off, n_out, n_in, b_off in net.layers():
        W = w[w_off:w_off + n_out * n_in].reshape(n_out, n_in)
        b = w[b_off:b_off + n_out] if b_off >= 0 else None
        out.append((W, b))
    return out


def _act(net: MLP, z: np.ndarray, backend: Backend) -> np.ndarray:
    a = net.activation
    if a == "identity":
        return z
    if a == "square":
        return np.asarray(z * z, dtype=object)
    return np.asarray(backend.unary(a, z), dtype=object)


def _act_grad(net: MLP, z: np.ndarray, backend: Backend) -> np.ndarray:
    a = net.activation
    if a == "identity":
        return np.full(z.shape, backend.scalar(1), dtype=object)
    if a == "square":
        return np.asarray(z * backend.scalar(2), dtype=object)
    if a == "relu":
        return np.asarray(backend.unary("step", z), dtype=object)
    if a == "sat":
        return np.asarray(backend.unary("dsat", z), dtype=object)
    raise ValueError(f"activation {a!r} has no exact reference")


def _forward_cache(net: MLP, w: np.ndarray, x: np.ndarray, backend: Backend
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    layers = _layers(net, w)
    h = np.asarray(x, dtype=object)
    zs, acts = [], [h]
    for idx, (W, b) in enumerate(layers):
        z = np.asarray(W @ h, dtype=object)
        if b is not None:
            z = np.asarray(z + b, dtype=object)
        zs.append(z)
        h = z if idx == len(layers) - 1 else _act(net, z, backend)
        acts.append(h)
    return zs, acts


def forward(net: MLP, w: np.ndarray, x: np.ndarray, backend: Backend) -> np.ndarray:
    """``f(x; w)`` for one input ``x`` of shape ``(d,)``."""
    return _forward_cache(net, w, x, backend)[1][-1]


def residual(out: np.ndarray, y: np.ndarray, backend: Backend, loss: str = "mse"
             ) -> np.ndarray:
    """``dl/dout``: ``out - y`` (squared loss) or ``softmax(out) - y`` (cross-entropy; the
    backend's ``softmax``, an exact atom on the symbolic backends)."""
    y = np.asarray(y, dtype=object)
    if loss == "ce":
        soft = backend.rows("softmax", np.asarray(out, dtype=object).reshape(1, -1))[0]
        return np.asarray(soft - y, dtype=object)
    return np.asarray(out - y, dtype=object)


def sample_grad(net: MLP, w: np.ndarray, x: np.ndarray, y: np.ndarray, backend: Backend,
                loss: str = "mse") -> np.ndarray:
    """Gradient in ``w`` of ``1/2 |f(x; w) - y|^2`` (or of the cross-entropy, ``loss="ce"``)
    by backpropagation (one sample)."""
    layers = _layers(net, w)
    zs, acts = _forward_cache(net, w, x, backend)
    delta = residual(acts[-1], y, backend, loss)
    parts: list[np.ndarray] = []
    for k in range(len(layers) - 1, -1, -1):
        W, b = layers[k]
        gW = np.asarray(np.outer(delta, acts[k]), dtype=object).reshape(-1)
        block = [gW] + ([delta] if b is not None else [])
        parts = block + parts
        if k > 0:
            delta = np.asarray((delta @ W) * _act_grad(net, zs[k - 1], backend), dtype=object)
    return np.concatenate([np.asarray(p, dtype=object).reshape(-1) for p in parts])


def mean_grad(net: MLP, w: np.ndarray, X: np.ndarray, Y: np.ndarray, backend: Backend,
              loss: str = "mse") -> np.ndarray:
    """``mean_i`` of :func:`sample_grad` over the rows of ``X``, ``Y``."""
    n = X.shape[0]
    total = sample_grad(net, w, X[0], Y[0], backend, loss)
    for i in range(1, n):
        total = np.asarray(total + sample_grad(net, w, X[i], Y[i], backend, loss),
                           dtype=object)
    return np.asarray(total * backend.scalar(Fraction(1, n)), dtype=object)


# ------------------------------------------------------------------ algorithms


def _defaults(fn: Any) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _gd(net: MLP, X: np.ndarray, Y: np.ndarray, backend: Backend, *, T: int, lr: Any,
        w0: Any) -> np.ndarray:
    w = backend.asarray(np.asarray(w0, dtype=object).reshape(-1))
    rate = backend.scalar(Fraction(lr))
    for _ in range(T):
        w = np.asarray(w - mean_grad(net, w, X, Y, backend) * rate, dtype=object)
    return w


def ref_gd(net: MLP, X: np.ndarray, Y: np.ndarray, backend: Backend, T: int = 3,
           lr: Any = Fraction(1, 10), seed: int = 0, w0: Any = None) -> np.ndarray:
    """``T`` steps of full-batch GD from the zoo's seeded ``w0`` (``zoo.algorithms.gd``)."""
    if w0 is None:
        w0 = zref.initial_weights(list(net.sizes), seed=seed, bias=net.bias)
    return _gd(net, X, Y, backend, T=T, lr=lr, w0=w0)


def ref_worked(net: MLP, X: np.ndarray, Y: np.ndarray, backend: Backend,
               lr: Any = Fraction(1, 10)) -> np.ndarray:
    """construction.md section 5: two GD steps on ``f`` from ``W = 0``."""
    lin = MLP(tuple(net.sizes), "identity", bias=net.bias)
    return _gd(lin, X, Y, backend, T=2, lr=lr, w0=[0] * net.n_params)


def ref_ncm(net: MLP, X: np.ndarray, Y: np.ndarray, backend: Backend) -> np.ndarray:
    """Nearest class mean: ``W_c = mu_c``, ``b_c = -1/2 |mu_c|^2`` (reciprocal unit)."""
    n = X.shape[0]
    inv = backend.scalar(Fraction(1, n))
    count = np.asarray(Y.sum(axis=0) * inv, dtype=object)
    sums = np.asarray((Y.T @ X) * inv, dtype=object)
    r = np.asarray(backend.unary("recip", count, strict=True), dtype=object)
    mu = np.asarray(sums * r[:, None], dtype=object)
    b = np.asarray((mu * mu).sum(axis=1) * backend.scalar(Fraction(-1, 2)), dtype=object)
    return np.concatenate([mu.reshape(-1), b])


def ref_perceptron(net: MLP, X: np.ndarray, Y: np.ndarray, backend: Backend, T: int = 3,
                   lr: Any = 1) -> np.ndarray:
    """Batch one-vs-rest perceptron from 0; ``t s <= 0`` is a mistake (``1 - step(t s)``)."""
    n, d = X.shape
    c = Y.shape[1]
    W = backend.zeros((c, d))
    b = backend.zeros((c,)) if net.bias else None
    rate = backend.scalar(Fraction(lr)) * backend.scalar(Fraction(1, n))
    t = np.asarray(Y * backend.scalar(2) - backend.scalar(1), dtype=object)
    for _ in range(T):
        s = np.asarray(X @ W.T, dtype=object)
        if b is not None:
            s = np.asarray(s + b, dtype=object)
        mistake = np.asarray(
            backend.unary("step", np.asarray(t * s, dtype=object)) * backend.scalar(-1)
            + backend.scalar(1), dtype=object)
        mt = np.asarray(mistake * t, dtype=object)
        W = np.asarray(W + (mt.T @ X) * rate, dtype=object)
        if b is not None:
            b = np.asarray(b + mt.sum(axis=0) * rate, dtype=object)
    parts = [W.reshape(-1)] + ([b] if b is not None else [])
    return np.concatenate(parts)


REFERENCES: dict[str, Any] = {
    "gd": ref_gd,
    "worked": ref_worked,
    "ncm": ref_ncm,
    "perceptron": ref_perceptron,
}


def reference_weights(algorithm: str, net: MLP, X: np.ndarray, Y: np.ndarray,
                      backend: Backend, **options: Any) -> np.ndarray | None:
    """``A(D)`` on symbolic (or exact) data by the independent reference, or ``None``.

    Options default as in the traced algorithm of ``zoo.algorithms`` (its signature).
    """
    fn = REFERENCES.get(algorithm)
    if fn is None:
        return None
    from ..zoo.algorithms import ALGORITHMS

    opts = _defaults(ALGORITHMS[algorithm].traced)
    opts = {k: v for k, v in opts.items() if k in inspect.signature(fn).parameters}
    opts.update(options)
    return fn(net, X, Y, backend, **opts)
