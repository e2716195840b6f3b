"""Independent references on any scalar backend (sympy, z3, exact): no graph, no autodiff.

A hand-written forward pass and backpropagation of the base network -- an MLP
(``networks.mlp``) or a convolutional/residual ``ConvNet`` (``networks.cnn``: conv with
stride and padding, average/sum/max pooling, residual adds, flatten, dense) -- on object
arrays, with the nonlinearities taken from the backend (so the ``H(0) = 0`` conventions are
those of ``backends.scalars``; the derivative conventions are stated once, in the ConvNet
section below), and the zoo's algorithms written from their mathematics. They give the
*expected* side of the obligations that the trajectory theorem alone does not predict:

* step ``K`` (T3, the *inertness* part of the trajectory theorem): ``w`` moves by
  ``-eta`` times the mean gradient of ``1/2 |f(x_i; w) - y_i|^2`` computed here
  (:func:`mean_grad`; ``loss="ce"``: the softmax cross-entropy, residual ``softmax(o) - y``);
* T2 (lemma *isolation*): ``F_main(x; theta_K) = f(x; w)`` with ``f`` computed here;
* T1: the program's output ``A(D)`` equals :func:`reference_weights`.

Nothing here shares code with ``graph.autodiff``, ``program.tracer`` or the graph builders
of ``networks.cnn`` (only the layout of ``w``, ``ConvNet.offsets``, and its op list are
read); the tests compare it with the Fraction-only ``zoo.references`` on rational data
and with PyTorch autograd in float64.
"""

from __future__ import annotations

import inspect
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import Backend
from ..errors import UsageError
from ..networks.mlp import MLP
from ..zoo import references as zref

__all__ = ["LOSSES", "REFERENCES", "ReferenceInputError", "forward", "mean_grad",
           "reference_weights", "residual", "sample_grad", "softmax"]


class ReferenceInputError(UsageError):
    """The independent reference cannot compute this network or loss (one sentence)."""


def _is_mlp(net: Any) -> bool:
    return hasattr(net, "layers") and hasattr(net, "sizes")


def _obj(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=object)


def _total(terms: list[Any], backend: Backend) -> Any:
    """``sum(terms)`` (the backend's 0 for no term)."""
    if not terms:
        return backend.scalar(0)
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


# ------------------------------------------------------------------------ activations


def _apply(name: str, z: np.ndarray, backend: Backend) -> np.ndarray:
    """An activation of ``networks.mlp`` on the backend (its ``H(0) = 0`` conventions)."""
    if name == "identity":
        return z
    if name == "square":
        return _obj(z * z)
    return _obj(backend.unary(name, z))


def _apply_grad(name: str, z: np.ndarray, backend: Backend) -> np.ndarray:
    """The derivative of the activation at ``z`` (``relu' = step``, ``sat' = dsat``)."""
    if name == "identity":
        return np.full(z.shape, backend.scalar(1), dtype=object)
    if name == "square":
        return _obj(z * backend.scalar(2))
    if name == "relu":
        return _obj(backend.unary("step", z))
    if name == "sat":
        return _obj(backend.unary("dsat", z))
    raise ReferenceInputError(f"activation {name!r} has no exact reference; use identity, relu, "
                          "sat or square")


# ------------------------------------------------------------------------------- MLP


def _layers(net: MLP, w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    w = _obj(w).reshape(-1)
    out = []
    for w_off, n_out, n_in, b_off in net.layers():
        W = w[w_off:w_off + n_out * n_in].reshape(n_out, n_in)
        b = w[b_off:b_off + n_out] if b_off >= 0 else None
        out.append((W, b))
    return out


def _mlp_forward_cache(net: MLP, w: np.ndarray, x: np.ndarray, backend: Backend
                       ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    layers = _layers(net, w)
    h = _obj(x)
    zs, acts = [], [h]
    for idx, (W, b) in enumerate(layers):
        z = _obj(W @ h)
        if b is not None:
            z = _obj(z + b)
        zs.append(z)
        h = z if idx == len(layers) - 1 else _apply(net.activation, z, backend)
        acts.append(h)
    return zs, acts


def _mlp_backward(net: MLP, w: np.ndarray, zs: list[np.ndarray], acts: list[np.ndarray],
                  delta: np.ndarray, backend: Backend) -> np.ndarray:
    """``J(x; w)^T delta`` by backpropagation, ``delta = dL/df``."""
    layers = _layers(net, w)
    parts: list[np.ndarray] = []
    for k in range(len(layers) - 1, -1, -1):
        W, b = layers[k]
        gW = _obj(np.outer(delta, acts[k])).reshape(-1)
        block = [gW] + ([delta] if b is not None else [])
        parts = block + parts
        if k > 0:
            delta = _obj((delta @ W) * _apply_grad(net.activation, zs[k - 1], backend))
    return np.concatenate([_obj(p).reshape(-1) for p in parts])


# ------------------------------------------------------------------------- ConvNet
#
# Written from the formulas of the ``networks.cnn`` module docstring, per sample, on
# object arrays of shape (C, H, W) (a 1-D layer is the case H = 1), by explicit index
# loops over the valid (unpadded) positions: nothing of the graph builders there is used,
# only the layout of ``w`` (``ConvNet.offsets``) and the op list (kinds and attributes).
#
# Derivative conventions (stated once; the same as the graph's, see networks.cnn):
# * activations: relu' = step with step(0) = 0, sat' = dsat (0 at 0 and 1), square' = 2 z;
# * max pool: the fold m <- m + relu(a - m) over the window in row-major order (the
#   network's own definition, max(a, m) = m + relu(a - m)), differentiated through relu:
#   dm'/dm = 1 - step(a - m), dm'/da = step(a - m). At a tie a = m, step(0) = 0 keeps the
#   gradient on the earlier entry, so a window's gradient goes to its first maximal entry;
# * average pool: each window's gradient spread as 1/divisor (divisor = kh kw for a mean,
#   1 for a sum pool);
# * residual add: the gradient goes to both summands; flatten/reshape: the identity.


def _param(net: Any, w: np.ndarray, name: str) -> np.ndarray:
    off, shape = net.offsets[name]
    size = int(np.prod(shape, dtype=np.int64))
    return w[off:off + size].reshape(shape)


def _kernel4(net: Any, w: np.ndarray, op: Any) -> np.ndarray:
    C = op.attrs["in3"][0]
    kh, kw = op.attrs["kernel"]
    return _param(net, w, op.attrs["weight"]).reshape(-1, C, kh, kw)


def _conv_taps(op: Any, i: int, j: int) -> list[tuple[int, int, int, int]]:
    """``(u, v, r, s)``: kernel tap ``(u, v)`` of output ``(i, j)`` reads input ``(r, s)``
    (only the taps that fall inside the unpadded input; the padding contributes 0)."""
    _, H, W = op.attrs["in3"]
    kh, kw = op.attrs["kernel"]
    sh, sw = op.attrs["stride"]
    ph, pw = op.attrs["padding"]
    out = []
    for u in range(kh):
        r = i * sh + u - ph
        if not 0 <= r < H:
            continue
        for v in range(kw):
            s = j * sw + v - pw
            if 0 <= s < W:
                out.append((u, v, r, s))
    return out


def _out_hw(op: Any, padded: bool) -> tuple[int, int]:
    _, H, W = op.attrs["in3"]
    kh, kw = op.attrs["kernel"]
    sh, sw = op.attrs["stride"]
    ph, pw = op.attrs["padding"] if padded else (0, 0)
    return (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1


def _pool_window(op: Any, i: int, j: int) -> list[tuple[int, int]]:
    """The input positions of pooling window ``(i, j)`` in row-major window order."""
    kh, kw = op.attrs["kernel"]
    sh, sw = op.attrs["stride"]
    return [(i * sh + u, j * sw + v) for u in range(kh) for v in range(kw)]


def _conv_forward(net: Any, w: np.ndarray, op: Any, h: np.ndarray, backend: Backend
                  ) -> np.ndarray:
    C, H, W = op.attrs["in3"]
    x3 = h.reshape(C, H, W)
    K = _kernel4(net, w, op)
    O = K.shape[0]
    Ho, Wo = _out_hw(op, True)
    bias = op.attrs.get("bias")
    b = _param(net, w, bias) if bias is not None else None
    out = np.empty((O, Ho, Wo), dtype=object)
    for o in range(O):
        for i in range(Ho):
            for j in range(Wo):
                terms = [K[o, c, u, v] * x3[c, r, s]
                         for (u, v, r, s) in _conv_taps(op, i, j) for c in range(C)]
                if b is not None:
                    terms.append(b[o])
                out[o, i, j] = _total(terms, backend)
    return out.reshape(-1)


def _pool_forward(op: Any, h: np.ndarray, backend: Backend) -> np.ndarray:
    C, H, W = op.attrs["in3"]
    x3 = h.reshape(C, H, W)
    Ho, Wo = _out_hw(op, False)
    out = np.empty((C, Ho, Wo), dtype=object)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                vals = [x3[c, r, s] for r, s in _pool_window(op, i, j)]
                if op.kind == "avgpool":
                    out[c, i, j] = _total(vals, backend) * backend.scalar(
                        Fraction(1, op.attrs["divisor"]))
                else:
                    m = vals[0]
                    for a in vals[1:]:
                        m = m + _obj(backend.unary("relu", _obj([a - m])))[0]
                    out[c, i, j] = m
    return out.reshape(-1)


def _cnn_forward_all(net: Any, w: np.ndarray, x: np.ndarray, backend: Backend
                     ) -> list[np.ndarray]:
    """The (flat) value of every op of the ConvNet for one sample ``x``."""
    w = _obj(w).reshape(-1)
    vals: list[np.ndarray] = []
    for op in net.ops:
        a = op.attrs
        ins = [vals[i] for i in op.inputs]
        if op.kind == "input":
            out = _obj(x).reshape(-1)
        elif op.kind in ("flatten", "reshape"):
            out = ins[0]
        elif op.kind == "act":
            out = _apply(a["name"], ins[0], backend)
        elif op.kind == "add":
            out = _obj(ins[0] + ins[1])
        elif op.kind == "dense":
            out = _obj(_param(net, w, a["weight"]) @ ins[0])
            if a.get("bias") is not None:
                out = _obj(out + _param(net, w, a["bias"]))
        elif op.kind == "conv":
            out = _conv_forward(net, w, op, ins[0], backend)
        elif op.kind in ("avgpool", "maxpool"):
            out = _pool_forward(op, ins[0], backend)
        else:
            raise ReferenceInputError(f"the independent reference has no rule for layer kind "
                                  f"{op.kind!r}; use conv, dense, act, pools, add, flatten")
        vals.append(out)
    return vals


def _maxpool_backward(op: Any, h: np.ndarray, dout: np.ndarray, backend: Backend
                      ) -> np.ndarray:
    """Backward of the fold ``m <- m + relu(a - m)`` (see the conventions above)."""
    C, H, W = op.attrs["in3"]
    x3 = h.reshape(C, H, W)
    Ho, Wo = _out_hw(op, False)
    g3 = dout.reshape(C, Ho, Wo)
    dx: dict[tuple[int, int, int], list[Any]] = {}
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                pos = _pool_window(op, i, j)
                ms = [x3[c, pos[0][0], pos[0][1]]]  # running maxima m_0 .. m_{k-1}
                gates = []  # step(a_t - m_{t-1}) for t >= 1
                for r, s in pos[1:]:
                    diff = _obj([x3[c, r, s] - ms[-1]])
                    gates.append(_obj(backend.unary("step", diff))[0])
                    ms.append(ms[-1] + _obj(backend.unary("relu", diff))[0])
                gm = g3[c, i, j]  # adjoint of the current running maximum
                for t in range(len(pos) - 1, 0, -1):
                    r, s = pos[t]
                    through = gm * gates[t - 1]  # the part that goes to a_t
                    dx.setdefault((c, r, s), []).append(through)
                    gm = gm - through  # gm (1 - step(a_t - m_{t-1}))
                r, s = pos[0]
                dx.setdefault((c, r, s), []).append(gm)
    out = np.empty((C, H, W), dtype=object)
    for idx in np.ndindex(C, H, W):
        out[idx] = _total(dx.get(idx, []), backend)
    return out.reshape(-1)


def _avgpool_backward(op: Any, dout: np.ndarray, backend: Backend) -> np.ndarray:
    C, H, W = op.attrs["in3"]
    Ho, Wo = _out_hw(op, False)
    g3 = dout.reshape(C, Ho, Wo)
    share = backend.scalar(Fraction(1, op.attrs["divisor"]))
    dx: dict[tuple[int, int, int], list[Any]] = {}
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                for r, s in _pool_window(op, i, j):
                    dx.setdefault((c, r, s), []).append(g3[c, i, j] * share)
    out = np.empty((C, H, W), dtype=object)
    for idx in np.ndindex(C, H, W):
        out[idx] = _total(dx.get(idx, []), backend)
    return out.reshape(-1)


def _conv_backward(net: Any, w: np.ndarray, op: Any, h: np.ndarray, dout: np.ndarray,
                   backend: Backend, put: Any) -> np.ndarray:
    C, H, W = op.attrs["in3"]
    x3 = h.reshape(C, H, W)
    K = _kernel4(net, w, op)
    O, _, kh, kw = K.shape
    Ho, Wo = _out_hw(op, True)
    g3 = dout.reshape(O, Ho, Wo)
    dK: dict[tuple[int, int, int, int], list[Any]] = {}
    dx: dict[tuple[int, int, int], list[Any]] = {}
    for o in range(O):
        for i in range(Ho):
            for j in range(Wo):
                go = g3[o, i, j]
                for (u, v, r, s) in _conv_taps(op, i, j):
                    for c in range(C):
                        dK.setdefault((o, c, u, v), []).append(go * x3[c, r, s])
                        dx.setdefault((c, r, s), []).append(go * K[o, c, u, v])
    gK = np.empty((O, C, kh, kw), dtype=object)
    for idx in np.ndindex(O, C, kh, kw):
        gK[idx] = _total(dK.get(idx, []), backend)
    put(op.attrs["weight"], gK)
    if op.attrs.get("bias") is not None:
        put(op.attrs["bias"], _obj([_total(list(g3[o].reshape(-1)), backend)
                                    for o in range(O)]))
    out = np.empty((C, H, W), dtype=object)
    for idx in np.ndindex(C, H, W):
        out[idx] = _total(dx.get(idx, []), backend)
    return out.reshape(-1)


def _cnn_backward(net: Any, w: np.ndarray, vals: list[np.ndarray], delta: np.ndarray,
                  backend: Backend) -> np.ndarray:
    """``J(x; w)^T delta`` by reverse accumulation over the ops, ``delta = dL/df``."""
    w = _obj(w).reshape(-1)
    ops = net.ops
    grads: dict[str, list[np.ndarray]] = {}
    adj: list[list[np.ndarray]] = [[] for _ in ops]
    adj[-1].append(_obj(delta).reshape(-1))

    def put(name: str, v: np.ndarray) -> None:
        grads.setdefault(name, []).append(_obj(v).reshape(-1))

    for k in range(len(ops) - 1, 0, -1):
        op = ops[k]
        if not adj[k]:
            continue
        dk = adj[k][0]
        for more in adj[k][1:]:
            dk = _obj(dk + more)
        a, ins = op.attrs, op.inputs
        if op.kind in ("flatten", "reshape"):
            adj[ins[0]].append(dk)
        elif op.kind == "act":
            adj[ins[0]].append(_obj(dk * _apply_grad(a["name"], vals[ins[0]], backend)))
        elif op.kind == "add":
            adj[ins[0]].append(dk)
            adj[ins[1]].append(dk)
        elif op.kind == "dense":
            Wd = _param(net, w, a["weight"])
            put(a["weight"], np.outer(dk, vals[ins[0]]))
            if a.get("bias") is not None:
                put(a["bias"], dk)
            adj[ins[0]].append(_obj(dk @ Wd))
        elif op.kind == "conv":
            adj[ins[0]].append(_conv_backward(net, w, op, vals[ins[0]], dk, backend, put))
        elif op.kind == "maxpool":
            adj[ins[0]].append(_maxpool_backward(op, vals[ins[0]], dk, backend))
        elif op.kind == "avgpool":
            adj[ins[0]].append(_avgpool_backward(op, dk, backend))
        else:
            raise ReferenceInputError(f"the independent reference has no rule for layer kind "
                                  f"{op.kind!r}; use conv, dense, act, pools, add, flatten")
    parts = []
    for name, shape in net.params:
        size = int(np.prod(shape, dtype=np.int64))
        blocks = grads.get(name)
        if not blocks:
            parts.append(np.full(size, backend.scalar(0), dtype=object))
            continue
        total = blocks[0]
        for more in blocks[1:]:
            total = _obj(total + more)
        parts.append(total)
    if not parts:
        return np.empty(0, dtype=object)
    return np.concatenate(parts)


# ---------------------------------------------------------------- any base network


LOSSES = ("mse", "ce")


def forward(net: Any, w: np.ndarray, x: np.ndarray, backend: Backend) -> np.ndarray:
    """``f(x; w)`` for one input ``x`` of shape ``(d,)`` (an MLP or a ``ConvNet``)."""
    if _is_mlp(net):
        return _mlp_forward_cache(net, w, x, backend)[1][-1]
    return _cnn_forward_all(net, w, x, backend)[-1]


def softmax(o: np.ndarray, backend: Backend) -> np.ndarray:
    """``softmax(o)_c = exp(o_c) / sum_k exp(o_k)``: the backend's row ``softmax``
    (``Backend.rows``: ``1/c`` on a row of equal entries, exactly; on the symbolic backends an
    exact atom, the same function of its arguments as in GD's graph, so the two sides of a T3
    obligation meet; stable in float). Its meaning, ``exp`` over the sum of ``exp``, is
    checked against ``exp`` of the backend by the tests."""
    return _obj(backend.rows("softmax", _obj(o).reshape(1, -1))[0])


def residual(o: np.ndarray, y: np.ndarray, backend: Backend, loss: str = "mse"
             ) -> np.ndarray:
    """``dL/do`` of one sample: ``o - y`` for ``1/2 |o - y|^2`` (``mse``) or
    ``softmax(o) - y`` for the softmax cross-entropy ``-sum_c y_c log softmax(o)_c``
    (``ce``; for a one-hot, or any ``y`` summing to 1)."""
    if loss == "mse":
        return _obj(_obj(o) - _obj(y))
    if loss == "ce":
        return _obj(softmax(o, backend) - _obj(y))
    raise ReferenceInputError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def sample_grad(net: Any, w: np.ndarray, x: np.ndarray, y: np.ndarray, backend: Backend,
                loss: str = "mse") -> np.ndarray:
    """Gradient in ``w`` of one sample's loss (``1/2 |f(x; w) - y|^2`` for ``mse``, the
    softmax cross-entropy for ``ce``) by backpropagation: ``J(x; w)^T residual``."""
    if _is_mlp(net):
        zs, acts = _mlp_forward_cache(net, w, x, backend)
        return _mlp_backward(net, w, zs, acts, residual(acts[-1], y, backend, loss), backend)
    vals = _cnn_forward_all(net, w, x, backend)
    return _cnn_backward(net, w, vals, residual(vals[-1], y, backend, loss), backend)


def mean_grad(net: Any, w: np.ndarray, X: np.ndarray, Y: np.ndarray, backend: Backend,
              *, loss: str = "mse") -> np.ndarray:
    """``mean_i`` of :func:`sample_grad` over the rows of ``X``, ``Y`` (``loss``: ``mse``,
    the squared loss ``1/2 |f - y|^2``, or ``ce``, the softmax cross-entropy)."""
    if loss not in LOSSES:
        raise ReferenceInputError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    n = X.shape[0]
    total = sample_grad(net, w, X[0], Y[0], backend, loss)
    for i in range(1, n):
        total = _obj(total + sample_grad(net, w, X[i], Y[i], backend, loss))
    return _obj(total * backend.scalar(Fraction(1, n)))


# ------------------------------------------------------------------ algorithms


def _defaults(fn: Any) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _gd(net: Any, X: np.ndarray, Y: np.ndarray, backend: Backend, *, T: int, lr: Any,
        w0: Any) -> np.ndarray:
    w = backend.asarray(np.asarray(w0, dtype=object).reshape(-1))
    rate = backend.scalar(Fraction(lr))
    for _ in range(T):
        w = np.asarray(w - mean_grad(net, w, X, Y, backend) * rate, dtype=object)
    return w


def ref_gd(net: Any, X: np.ndarray, Y: np.ndarray, backend: Backend, T: int = 3,
           lr: Any = Fraction(1, 10), seed: int = 0, w0: Any = None) -> np.ndarray:
    """``T`` steps of full-batch GD from the zoo's seeded ``w0`` (``zoo.algorithms.gd``)."""
    if w0 is None:
        w0 = zref.network_initial_weights(net, seed=seed)
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
    "gd_cnn": ref_gd,
    "worked": ref_worked,
    "ncm": ref_ncm,
    "perceptron": ref_perceptron,
}


def reference_weights(algorithm: str, net: Any, X: np.ndarray, Y: np.ndarray,
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
