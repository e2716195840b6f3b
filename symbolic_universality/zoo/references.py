"""Independent plain-NumPy reference implementations of the learning algorithms.

Written from the mathematics alone, to cross-check the compiler.  The same code runs

* exactly, on object arrays of :class:`fractions.Fraction` (chosen when the data ``x``
  has object dtype; every other array and constant is then converted to Fractions and a
  float anywhere raises ``TypeError``), and
* in float64, when ``x`` is any other numeric array (Fractions are then rounded to float).

Only ``+``, ``-``, ``*``, ``@``, ``np.sum`` and comparisons are used (and one division in
:func:`reference_ncm`); constants go through :func:`_const`, so no float literal ever
enters the exact path.

Network layout (shared with the compiler): a network is a list of layer sizes
``[d, h1, ..., c]`` with a hidden activation ``act`` in :data:`ACTIVATIONS`; the output
layer is always the identity.  The flat weight vector is, for each layer in order, ``W_l``
(shape ``out x in``, row-major) followed by ``b_l`` (shape ``out``; omitted with
``bias=False``).  A linear network is ``[d, c]``.

Activation conventions: ``relu(z) = max(0, z)`` with ``relu'(z) = 1 if z > 0 else 0``;
``sat(z) = min(1, max(0, z))`` with ``sat'(z) = 1 if 0 < z < 1 else 0``;
``square(z) = z**2`` with derivative ``2 z``; identity with derivative ``1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "activate",
    "activate_grad",
    "initial_weights",
    "mlp_forward",
    "mlp_grad",
    "mlp_loss",
    "n_params",
    "pack_weights",
    "reference_gd",
    "reference_gd_path",
    "reference_ncm",
    "reference_online_perceptron",
    "reference_perceptron",
    "unpack_weights",
]

#: Hidden activations understood by the references (``tanh``, ``sigmoid``: float path only).
ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "sat", "square", "tanh", "sigmoid")
FLOAT_ONLY_ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid")


def _float_only(act: str, exact: bool) -> None:
    if exact and act in FLOAT_ONLY_ACTIVATIONS:
        raise ValueError(
            f"the activation {act!r} is float-only (it has no exact rational value); run it "
            "with float64 arrays (--backend numeric) or use relu, sat or square"
        )

Scalar = Fraction | int | float | str
Layer = tuple[np.ndarray, np.ndarray | None]


# --------------------------------------------------------------------------- numbers


def _is_exact(a: object) -> bool:
    """True when ``a`` is an object array (the exact Fraction path)."""
    return np.asarray(a).dtype == object


def _exact_scalar(value: object, what: str) -> Fraction:
    if type(value) is Fraction:
        return value
    if isinstance(value, Integral):
        return Fraction(int(value))
    if isinstance(value, Fraction):
        return Fraction(value)
    if isinstance(value, str):
        return Fraction(value)
    raise TypeError(
        f"{what} holds {value!r} of type {type(value).__name__}, but exact (object-dtype) "
        "computation accepts only Fractions and integers; convert it to a Fraction "
        "or run the float path with float64 arrays."
    )


def _const(value: Scalar, exact: bool, what: str = "a constant") -> Fraction | float:
    """A scalar in the arithmetic of the run: a Fraction when exact, a float otherwise.

    Fractions, integers and strings such as ``"1/10"`` stay exact; a float is refused in
    the exact path (it would silently turn every result into a float).
    """
    if exact:
        return _exact_scalar(value, what)
    if isinstance(value, str):
        return float(Fraction(value))
    return float(value)


def _as_array(values: object, exact: bool, what: str) -> np.ndarray:
    """``values`` as an object array of Fractions (exact) or a float64 array."""
    arr = np.asarray(values)
    if not exact:
        return np.asarray(arr, dtype=np.float64)
    flat = [_exact_scalar(v, what) for v in arr.ravel()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(arr.shape)


def _zeros(shape: int | tuple[int, ...], exact: bool) -> np.ndarray:
    if exact:
        return np.full(shape, Fraction(0), dtype=object)
    return np.zeros(shape, dtype=np.float64)


def _indicator(cond: np.ndarray, exact: bool) -> np.ndarray:
    """1 where ``cond`` holds, 0 elsewhere, in the arithmetic of the run."""
    return np.where(cond, _const(1, exact), _const(0, exact))


# --------------------------------------------------------------------------- layout


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    out = list(sizes)
    if len(out) < 2 or any(isinstance(s, bool) or not isinstance(s, Integral) for s in out):
        raise ValueError(
            f"sizes must list at least two integer layer widths [d, ..., c], got {sizes!r}."
        )
    if any(s < 1 for s in out):
        raise ValueError(f"every layer width in sizes must be positive, got {sizes!r}.")
    return [int(s) for s in out]


def _check_act(act: str) -> str:
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return act


def n_params(sizes: Sequence[int], bias: bool = True) -> int:
    """Number of weights ``p`` of the network ``sizes`` (biases included unless ``bias=False``)."""
    s = _check_sizes(sizes)
    return sum(o * i + (o if bias else 0) for i, o in zip(s[:-1], s[1:], strict=True))


def unpack_weights(sizes: Sequence[int], w: np.ndarray, bias: bool = True) -> list[Layer]:
    """Split the flat vector ``w`` into ``[(W_1, b_1), ...]`` following the layout.

    ``W_l`` has shape ``(out, in)``; ``b_l`` has shape ``(out,)`` or is ``None`` when
    ``bias=False``.  The blocks are views of ``w``.
    """
    s = _check_sizes(sizes)
    w = np.asarray(w)
    p = n_params(s, bias)
    if w.shape != (p,):
        raise ValueError(
            f"the network {s} {'with' if bias else 'without'} biases has {p} weights, "
            f"but w has shape {w.shape}; pass a flat vector of length {p}."
        )
    layers: list[Layer] = []
    k = 0
    for i, o in zip(s[:-1], s[1:], strict=True):
        weight = w[k : k + o * i].reshape(o, i)
        k += o * i
        b = None
        if bias:
            b = w[k : k + o]
            k += o
        layers.append((weight, b))
    return layers


def pack_weights(layers: Sequence[Layer]) -> np.ndarray:
    """Inverse of :func:`unpack_weights`: ``W_1`` row-major, ``b_1``, ``W_2``, ``b_2``, ..."""
    parts: list[np.ndarray] = []
    for weight, b in layers:
        parts.append(np.asarray(weight).ravel())
        if b is not None:
            parts.append(np.asarray(b).ravel())
    return np.concatenate(parts)


def initial_weights(sizes: Sequence[int], seed: int = 0, bias: bool = True) -> np.ndarray:
    """Deterministic small rational starting weights ``k / 8``, ``k`` in ``-4..4``.

    ``k = numpy.random.default_rng(seed).integers(-4, 5, size=p)``; returns an object array
    of Fractions of length ``p = n_params(sizes, bias)``.
    """
    p = n_params(sizes, bias)
    ints = np.random.default_rng(seed).integers(-4, 5, size=p)
    out = np.empty(p, dtype=object)
    out[:] = [Fraction(int(k), 8) for k in ints]
    return out


# --------------------------------------------------------------------------- activations


def activate(act: str, z: np.ndarray) -> np.ndarray:
    """Apply the hidden activation ``act`` elementwise to ``z`` (exact or float)."""
    _check_act(act)
    exact = _is_exact(z)
    _float_only(act, exact)
    zero, one = _const(0, exact), _const(1, exact)
    if act == "identity":
        return z
    if act == "tanh":
        return np.tanh(z)
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if act == "relu":
        return np.where(z > zero, z, zero)
    if act == "sat":
        return np.where(z >= one, one, np.where(z > zero, z, zero))
    return z * z  # square


def activate_grad(act: str, z: np.ndarray) -> np.ndarray:
    """Derivative of ``act`` at ``z`` (``relu'(0) = 0``; ``sat'`` is 0 at 0 and at 1)."""
    _check_act(act)
    exact = _is_exact(z)
    _float_only(act, exact)
    zero, one = _const(0, exact), _const(1, exact)
    if act == "identity":
        return _indicator(np.ones(np.shape(z), dtype=bool), exact)
    if act == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if act == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if act == "relu":
        return _indicator(z > zero, exact)
    if act == "sat":
        return _indicator((z > zero) & (z < one), exact)
    return _const(2, exact) * z  # square


# --------------------------------------------------------------------------- networks


def _prepare(
    sizes: Sequence[int], act: str, w: object, x: object, y: object | None, bias: bool
) -> tuple[bool, list[Layer], np.ndarray, np.ndarray | None]:
    s = _check_sizes(sizes)
    _check_act(act)
    exact = _is_exact(x)
    xa = _as_array(x, exact, "x")
    if xa.ndim != 2 or xa.shape[1] != s[0]:
        raise ValueError(f"x must have shape (n, {s[0]}) for sizes {s}, got {xa.shape}.")
    ya = None
    if y is not None:
        ya = _as_array(y, exact, "y")
        if ya.shape != (xa.shape[0], s[-1]):
            raise ValueError(
                f"y must have shape ({xa.shape[0]}, {s[-1]}) to match x and sizes {s}, "
                f"got {ya.shape}."
            )
    layers = unpack_weights(s, _as_array(w, exact, "w"), bias)
    return exact, layers, xa, ya


def _forward_all(
    layers: list[Layer], act: str, x: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations ``z_l`` and activations ``a_l`` (``a_0 = x``, last layer identity)."""
    zs: list[np.ndarray] = []
    acts = [x]
    a = x
    last = len(layers) - 1
    for k, (weight, b) in enumerate(layers):
        z = a @ weight.T
        if b is not None:
            z = z + b
        zs.append(z)
        a = z if k == last else activate(act, z)
        acts.append(a)
    return zs, acts


def mlp_forward(
    sizes: Sequence[int], act: str, w: np.ndarray, x: np.ndarray, bias: bool = True
) -> np.ndarray:
    """Outputs ``f(x_i; w)`` of the network for a batch ``x`` of shape ``(n, d)``: ``(n, c)``."""
    _, layers, xa, _ = _prepare(sizes, act, w, x, None, bias)
    return _forward_all(layers, act, xa)[1][-1]


def mlp_loss(
    sizes: Sequence[int],
    act: str,
    w: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    bias: bool = True,
) -> Fraction | float:
    """Mean over samples of ``1/2 ||f(x_i; w) - y_i||^2``."""
    exact, layers, xa, ya = _prepare(sizes, act, w, x, y, bias)
    assert ya is not None
    r = _forward_all(layers, act, xa)[1][-1] - ya
    scale = _const(Fraction(1, 2 * xa.shape[0]), exact)
    return scale * np.sum(r * r)


def output_residual(out: np.ndarray, y: np.ndarray, loss: str, exact: bool) -> np.ndarray:
    """``dl/dout`` per sample: ``out - y`` (squared loss) or ``softmax(out) - y`` (softmax
    cross-entropy ``log sum_c exp(out_c) - <out, y>``).

    Exactly, ``softmax`` is rational only on rows whose entries are all equal (then it is
    ``1/c``); any other row is refused. In float the row maximum is subtracted first.
    """
    if loss == "mse":
        return out - y
    if loss != "ce":
        raise ValueError(f"unknown loss {loss!r}; choose mse or ce.")
    rows, c = out.shape
    if exact:
        soft = np.empty(out.shape, dtype=object)
        for i in range(rows):
            if any(v != out[i, 0] for v in out[i]):
                raise ValueError("the softmax of an output row with unequal entries is "
                                 "irrational; compute this cross-entropy gradient in float.")
            soft[i, :] = Fraction(1, c)
        return soft - y
    z = np.asarray(out, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True) - np.asarray(y, dtype=np.float64)


def mlp_grad(
    sizes: Sequence[int],
    act: str,
    w: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    bias: bool = True,
    loss: str = "mse",
) -> np.ndarray:
    """Gradient in ``w`` of the mean over samples of ``1/2 ||f(x_i; w) - y_i||^2``
    (``loss="ce"``: of the softmax cross-entropy, :func:`output_residual`).

    Hand-written backpropagation; returns a flat vector in the weight layout.
    """
    exact, layers, xa, ya = _prepare(sizes, act, w, x, y, bias)
    assert ya is not None
    zs, acts = _forward_all(layers, act, xa)
    delta = output_residual(acts[-1], ya, loss, exact) * _const(Fraction(1, xa.shape[0]),
                                                                exact)  # dL/dz_L, (n, c)
    grads: list[Layer] = []
    for k in range(len(layers) - 1, -1, -1):
        weight, b = layers[k]
        g_weight = delta.T @ acts[k]
        g_b = np.sum(delta, axis=0) if b is not None else None
        grads.append((g_weight, g_b))
        if k > 0:
            delta = (delta @ weight) * activate_grad(act, zs[k - 1])
    return pack_weights(grads[::-1])


# --------------------------------------------------------------------------- algorithms


def _check_steps(T: int) -> int:
    if isinstance(T, bool) or not isinstance(T, Integral) or T < 0:
        raise ValueError(f"T must be a non-negative integer number of steps, got {T!r}.")
    return int(T)


def reference_gd_path(
    sizes: Sequence[int],
    act: str,
    x: np.ndarray,
    y: np.ndarray,
    T: int = 3,
    lr: Scalar = Fraction(1, 10),
    seed: int = 0,
    *,
    w0: object = None,
    bias: bool = True,
) -> np.ndarray:
    """All iterates of ``T`` steps of full-batch GD on the mean squared loss.

    ``w_{k+1} = w_k - lr * mlp_grad(sizes, act, w_k, x, y)`` from ``w0`` (default
    :func:`initial_weights` ``(sizes, seed)``; a scalar ``w0`` such as ``0`` fills every
    weight).  Returns an array of shape ``(T + 1, p)`` whose row ``k`` is ``w_k``.
    """
    T = _check_steps(T)
    exact = _is_exact(x)
    p = n_params(sizes, bias)
    if w0 is None:
        w0 = initial_weights(sizes, seed, bias)
    elif np.ndim(w0) == 0:
        w0 = np.full(p, w0, dtype=object)
    w = _as_array(w0, exact, "w0")
    step = _const(lr, exact, "lr")
    path = [w]
    for _ in range(T):
        w = w - step * mlp_grad(sizes, act, w, x, y, bias)
        path.append(w)
    return np.stack(path)


def reference_gd(
    sizes: Sequence[int],
    act: str,
    x: np.ndarray,
    y: np.ndarray,
    T: int = 3,
    lr: Scalar = Fraction(1, 10),
    seed: int = 0,
    *,
    w0: object = None,
    bias: bool = True,
) -> np.ndarray:
    """The final iterate ``w_T`` of :func:`reference_gd_path` (a flat weight vector)."""
    return reference_gd_path(sizes, act, x, y, T, lr, seed, w0=w0, bias=bias)[-1]


def _linear_data(x: object, y: object) -> tuple[bool, np.ndarray, np.ndarray]:
    exact = _is_exact(x)
    xa = _as_array(x, exact, "x")
    ya = _as_array(y, exact, "y")
    if xa.ndim != 2 or ya.ndim != 2 or xa.shape[0] != ya.shape[0] or xa.shape[0] == 0:
        raise ValueError(
            f"x and y must be 2-D with the same positive number of rows, "
            f"got shapes {xa.shape} and {ya.shape}."
        )
    return exact, xa, ya


def reference_perceptron(
    x: np.ndarray, y: np.ndarray, T: int = 3, lr: Scalar = 1, bias: bool = True
) -> np.ndarray:
    """One-vs-rest batch perceptron on the linear network ``[d, c]`` from ``W = 0, b = 0``.

    Each of ``T`` epochs: ``s_i = W x_i + b``, ``t_ic = 2 y_ic - 1``, ``m_ic = 1`` if
    ``t_ic s_ic <= 0`` (a mistake; margin 0 counts) else 0, then
    ``W_c += lr mean_i m_ic t_ic x_i`` and ``b_c += lr mean_i m_ic t_ic``.
    Depends on the data only through its empirical distribution (not on the order).
    Returns the flat ``w`` (``W`` row-major, then ``b`` unless ``bias=False``).
    """
    T = _check_steps(T)
    exact, xa, ya = _linear_data(x, y)
    n, d = xa.shape
    c = ya.shape[1]
    zero, one = _const(0, exact), _const(1, exact)
    step = _const(lr, exact, "lr") * _const(Fraction(1, n), exact)
    t = _const(2, exact) * ya - one
    weight = _zeros((c, d), exact)
    b = _zeros(c, exact) if bias else None
    for _ in range(T):
        s = xa @ weight.T
        if b is not None:
            s = s + b
        mt = _indicator(t * s <= zero, exact) * t
        weight = weight + step * (mt.T @ xa)
        if b is not None:
            b = b + step * np.sum(mt, axis=0)
    return pack_weights([(weight, b)])


def reference_online_perceptron(
    x: np.ndarray, y: np.ndarray, lr: Scalar = 1, bias: bool = True
) -> np.ndarray:
    """One pass of the ORDER-DEPENDENT online one-vs-rest perceptron from ``W = 0, b = 0``.

    For ``i = 1..n`` in the given order: ``s = W x_i + b``, ``t = 2 y_i - 1``,
    ``m_c = 1`` if ``t_c s_c <= 0`` else 0; ``W_c += lr m_c t_c x_i``, ``b_c += lr m_c t_c``.
    Reordering the samples can change the result, which no gradient descent on a mean
    loss can reproduce (it sees only the empirical distribution).
    """
    exact, xa, ya = _linear_data(x, y)
    n, d = xa.shape
    c = ya.shape[1]
    zero, one = _const(0, exact), _const(1, exact)
    step = _const(lr, exact, "lr")
    weight = _zeros((c, d), exact)
    b = _zeros(c, exact) if bias else None
    for i in range(n):
        s = weight @ xa[i]
        if b is not None:
            s = s + b
        t = _const(2, exact) * ya[i] - one
        mt = _indicator(t * s <= zero, exact) * t
        weight = weight + step * (mt[:, None] * xa[i][None, :])
        if b is not None:
            b = b + step * mt
    return pack_weights([(weight, b)])


def reference_ncm(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nearest class mean as a linear classifier ``[d, c]`` with biases.

    ``mu_c = (mean_i y_ic x_i) / (mean_i y_ic)``, ``W_c = mu_c``, ``b_c = -1/2 ||mu_c||^2``,
    so ``argmax_c (W x + b)_c = argmin_c ||x - mu_c||``.  Returns the flat ``w``.

    Raises:
        ValueError: if some class has no sample (its mean is undefined).
    """
    exact, xa, ya = _linear_data(x, y)
    zero = _const(0, exact)
    inv_n = _const(Fraction(1, xa.shape[0]), exact)
    r = inv_n * (ya.T @ xa)  # mean_i y_ic x_i, (c, d)
    m = inv_n * np.sum(ya, axis=0)  # mean_i y_ic, (c,)
    empty = [k for k in range(ya.shape[1]) if m[k] == zero]
    if empty:
        raise ValueError(
            f"class(es) {empty} have no sample in y, so their mean is undefined; "
            "give reference_ncm at least one sample of every class."
        )
    mu = r / m[:, None]
    b = -_const(Fraction(1, 2), exact) * np.sum(mu * mu, axis=1)
    return pack_weights([(mu, b)])


# --------------------------------------------------------------- convolutional networks
#
# The reference for ``networks.cnn.ConvNet``, written from the formulas of that module's
# docstring with NumPy slicing and ``tensordot`` on 4-D arrays ``(n, C, H, W)`` (a 1-D
# layer is the case ``H = 1``), independently of the graph construction there (which
# uses reshape/transpose/pad gathers).  Backward pass by hand, per layer.  Conventions:
# ``relu'(0) = 0``; a max pool sends a window's gradient to its first maximal entry in
# row-major window order; an average pool spreads it as ``1/divisor`` (``divisor = kh kw``
# for a mean, 1 for a sum pool).


def _cnn_prepare(net: object, w: object, x: object) -> tuple[bool, np.ndarray, np.ndarray]:
    exact = _is_exact(x)
    xa = _as_array(x, exact, "x")
    d, p = net.d, net.n_params  # type: ignore[attr-defined]
    if xa.ndim != 2 or xa.shape[1] != d:
        raise ValueError(f"x must have shape (n, {d}) for this network, got {xa.shape}.")
    wa = _as_array(w, exact, "w")
    if wa.shape != (p,):
        raise ValueError(f"the network has {p} weights but w has shape {wa.shape}.")
    return exact, wa, xa


def _cnn_param(net: object, w: np.ndarray, name: str) -> np.ndarray:
    off, shape = net.offsets[name]  # type: ignore[attr-defined]
    size = int(np.prod(shape))
    return w[off : off + size].reshape(shape)


def _windows(ho: int, wo: int, u: int, v: int, sh: int, sw: int) -> tuple[slice, slice]:
    return slice(u, u + sh * (ho - 1) + 1, sh), slice(v, v + sw * (wo - 1) + 1, sw)


def _cnn_forward_all(net: object, w: np.ndarray, x: np.ndarray, exact: bool
                     ) -> list[np.ndarray]:
    """The value of every op as an ``(n, size)`` array (flat, channel-first)."""
    n = x.shape[0]
    vals: list[np.ndarray] = []
    for op in net.ops:  # type: ignore[attr-defined]
        a = op.attrs
        ins = [vals[i] for i in op.inputs]
        if op.kind == "input":
            out = x
        elif op.kind in ("flatten", "reshape"):
            out = ins[0]
        elif op.kind == "act":
            out = activate(a["name"], ins[0])
        elif op.kind == "add":
            out = ins[0] + ins[1]
        elif op.kind == "dense":
            out = ins[0] @ _cnn_param(net, w, a["weight"]).T
            if a.get("bias") is not None:
                out = out + _cnn_param(net, w, a["bias"])
        elif op.kind == "conv":
            C, H, W = a["in3"]
            (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
            kernel = _cnn_param(net, w, a["weight"]).reshape(-1, C, kh, kw)
            xp = _zeros((n, C, H + 2 * ph, W + 2 * pw), exact)
            xp[:, :, ph : ph + H, pw : pw + W] = ins[0].reshape(n, C, H, W)
            ho, wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
            o4 = _zeros((n, kernel.shape[0], ho, wo), exact)
            for u in range(kh):
                for v in range(kw):
                    rs, cs = _windows(ho, wo, u, v, sh, sw)
                    patch = xp[:, :, rs, cs]  # (n, C, ho, wo)
                    o4 = o4 + np.tensordot(patch, kernel[:, :, u, v], axes=([1], [1])
                                           ).transpose(0, 3, 1, 2)
            if a.get("bias") is not None:
                o4 = o4 + _cnn_param(net, w, a["bias"])[None, :, None, None]
            out = o4.reshape(n, -1)
        elif op.kind in ("avgpool", "maxpool"):
            out = _pool_forward(op, ins[0], exact)
        else:
            raise ValueError(f"the reference has no rule for layer kind {op.kind!r}")
        vals.append(out)
    return vals


def _pool_patches(op: object, h: np.ndarray) -> tuple[list[tuple[slice, slice]], np.ndarray,
                                                        tuple[int, int]]:
    C, H, W = op.attrs["in3"]  # type: ignore[attr-defined]
    (kh, kw), (sh, sw) = op.attrs["kernel"], op.attrs["stride"]  # type: ignore[attr-defined]
    ho, wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    wins = [_windows(ho, wo, u, v, sh, sw) for u in range(kh) for v in range(kw)]
    return wins, h.reshape(h.shape[0], C, H, W), (ho, wo)


def _pool_forward(op: object, h: np.ndarray, exact: bool) -> np.ndarray:
    wins, h4, _ = _pool_patches(op, h)
    if op.kind == "avgpool":  # type: ignore[attr-defined]
        total = sum((h4[:, :, rs, cs] for rs, cs in wins[1:]), h4[:, :, wins[0][0], wins[0][1]])
        out = total * _const(Fraction(1, op.attrs["divisor"]), exact)  # type: ignore[attr-defined]
    else:
        out = h4[:, :, wins[0][0], wins[0][1]]
        for rs, cs in wins[1:]:
            out = np.maximum(out, h4[:, :, rs, cs])
    return out.reshape(h.shape[0], -1)


def _pool_backward(op: object, h: np.ndarray, out: np.ndarray, dout: np.ndarray, exact: bool
                   ) -> np.ndarray:
    wins, h4, (ho, wo) = _pool_patches(op, h)
    n, C = h4.shape[0], h4.shape[1]
    d4 = _zeros(h4.shape, exact)
    g4 = dout.reshape(n, C, ho, wo)
    if op.kind == "avgpool":  # type: ignore[attr-defined]
        share = g4 * _const(Fraction(1, op.attrs["divisor"]), exact)  # type: ignore[attr-defined]
        for rs, cs in wins:
            d4[:, :, rs, cs] = d4[:, :, rs, cs] + share
    else:
        m = out.reshape(n, C, ho, wo)
        taken = np.zeros(m.shape, dtype=bool)
        zero = _const(0, exact)
        for rs, cs in wins:  # row-major window order: the first maximal entry wins
            first = (h4[:, :, rs, cs] == m) & ~taken
            d4[:, :, rs, cs] = d4[:, :, rs, cs] + np.where(first, g4, zero)
            taken |= first
    return d4.reshape(n, -1)


def cnn_forward(net: object, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Outputs ``f(x_i; w)`` of a ``networks.cnn.ConvNet`` for a batch ``x`` ``(n, d)``."""
    exact, wa, xa = _cnn_prepare(net, w, x)
    return _cnn_forward_all(net, wa, xa, exact)[-1]


def cnn_grad(net: object, w: np.ndarray, x: np.ndarray, y: np.ndarray,
             loss: str = "mse") -> np.ndarray:
    """Gradient in ``w`` of ``mean_i 1/2 ||f(x_i; w) - y_i||^2`` for a ConvNet (hand backprop;
    ``loss="ce"``: softmax cross-entropy, :func:`output_residual`)."""
    exact, wa, xa = _cnn_prepare(net, w, x)
    ya = _as_array(y, exact, "y")
    n = xa.shape[0]
    ops = net.ops  # type: ignore[attr-defined]
    vals = _cnn_forward_all(net, wa, xa, exact)
    if ya.shape != vals[-1].shape:
        raise ValueError(f"y must have shape {vals[-1].shape}, got {ya.shape}.")
    grad = _zeros(wa.shape, exact)
    adj: list[np.ndarray | None] = [None] * len(ops)
    adj[-1] = output_residual(vals[-1], ya, loss, exact) * _const(Fraction(1, n), exact)

    def send(i: int, v: np.ndarray) -> None:
        adj[i] = v if adj[i] is None else adj[i] + v

    def put(name: str, v: np.ndarray) -> None:
        off, shape = net.offsets[name]  # type: ignore[attr-defined]
        size = int(np.prod(shape))
        grad[off : off + size] = grad[off : off + size] + np.asarray(v).reshape(-1)

    for k in range(len(ops) - 1, 0, -1):
        op, dk = ops[k], adj[k]
        if dk is None:
            continue
        a = op.attrs
        ins = op.inputs
        if op.kind in ("flatten", "reshape"):
            send(ins[0], dk)
        elif op.kind == "act":
            send(ins[0], dk * activate_grad(a["name"], vals[ins[0]]))
        elif op.kind == "add":
            send(ins[0], dk)
            send(ins[1], dk)
        elif op.kind == "dense":
            weight = _cnn_param(net, wa, a["weight"])
            put(a["weight"], dk.T @ vals[ins[0]])
            if a.get("bias") is not None:
                put(a["bias"], np.sum(dk, axis=0))
            send(ins[0], dk @ weight)
        elif op.kind == "conv":
            C, H, W = a["in3"]
            (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
            kernel = _cnn_param(net, wa, a["weight"]).reshape(-1, C, kh, kw)
            O = kernel.shape[0]
            ho, wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
            d4 = dk.reshape(n, O, ho, wo)
            xp = _zeros((n, C, H + 2 * ph, W + 2 * pw), exact)
            xp[:, :, ph : ph + H, pw : pw + W] = vals[ins[0]].reshape(n, C, H, W)
            dxp = _zeros(xp.shape, exact)
            dker = _zeros(kernel.shape, exact)
            for u in range(kh):
                for v in range(kw):
                    rs, cs = _windows(ho, wo, u, v, sh, sw)
                    patch = xp[:, :, rs, cs]
                    dker[:, :, u, v] = np.tensordot(d4, patch, axes=([0, 2, 3], [0, 2, 3]))
                    back = np.tensordot(d4, kernel[:, :, u, v], axes=([1], [0]))  # n,ho,wo,C
                    dxp[:, :, rs, cs] = dxp[:, :, rs, cs] + back.transpose(0, 3, 1, 2)
            put(a["weight"], dker)
            if a.get("bias") is not None:
                put(a["bias"], np.sum(d4, axis=(0, 2, 3)))
            send(ins[0], dxp[:, :, ph : ph + H, pw : pw + W].reshape(n, -1))
        elif op.kind in ("avgpool", "maxpool"):
            send(ins[0], _pool_backward(op, vals[ins[0]], vals[k], dk, exact))
        else:
            raise ValueError(f"the reference has no rule for layer kind {op.kind!r}")
    return grad


# --------------------------------------------------------------- any base network


def _is_mlp(net: object) -> bool:
    return hasattr(net, "sizes")


def network_forward(net: object, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``f(x_i; w)`` for any base network: an MLP (:func:`mlp_forward`) or a ConvNet."""
    if _is_mlp(net):
        return mlp_forward(list(net.sizes), net.activation, w, x,  # type: ignore[attr-defined]
                           bias=net.bias)  # type: ignore[attr-defined]
    return cnn_forward(net, w, x)


def network_grad(net: object, w: np.ndarray, x: np.ndarray, y: np.ndarray,
                 loss: str = "mse") -> np.ndarray:
    """Mean squared-loss (or ``loss="ce"`` cross-entropy) gradient for any base network
    (:func:`mlp_grad` or :func:`cnn_grad`)."""
    if _is_mlp(net):
        return mlp_grad(list(net.sizes), net.activation, w, x, y,  # type: ignore[attr-defined]
                        bias=net.bias, loss=loss)  # type: ignore[attr-defined]
    return cnn_grad(net, w, x, y, loss=loss)


def seeded_weights(p: int, seed: int = 0) -> np.ndarray:
    """:func:`initial_weights` for ``p`` weights of any network: ``k / 8``, ``k`` in ``-4..4``."""
    ints = np.random.default_rng(seed).integers(-4, 5, size=p)
    out = np.empty(p, dtype=object)
    out[:] = [Fraction(int(k), 8) for k in ints]
    return out


def network_initial_weights(net: object, seed: int = 0) -> np.ndarray:
    """The seeded start of ``gd`` for any base network (equals :func:`initial_weights`)."""
    return seeded_weights(int(net.n_params), seed)  # type: ignore[attr-defined]


def reference_gd_net(net: object, x: np.ndarray, y: np.ndarray, T: int = 3,
                     lr: Scalar = Fraction(1, 10), seed: int = 0, *, w0: object = None
                     ) -> np.ndarray:
    """``T`` steps of full-batch GD on the mean squared loss of any base network.

    ``w_{k+1} = w_k - lr * network_grad(net, w_k, x, y)`` from ``w0`` (default
    :func:`network_initial_weights`; a scalar fills every weight).
    """
    T = _check_steps(T)
    exact = _is_exact(x)
    p = int(net.n_params)  # type: ignore[attr-defined]
    if w0 is None:
        w0 = network_initial_weights(net, seed)
    elif np.ndim(w0) == 0:
        w0 = np.full(p, w0, dtype=object)
    w = _as_array(w0, exact, "w0")
    step = _const(lr, exact, "lr")
    for _ in range(T):
        w = w - step * network_grad(net, w, x, y)
    return w


# --------------------------------------------------------------- the algorithm library
#
# Plain NumPy from the formulas in each docstring (exact on Fraction object arrays,
# float64 otherwise), independent of the traced versions in ``zoo.algorithms``.


def _start(net: object, x: np.ndarray, seed: int, w0: object) -> tuple[bool, np.ndarray]:
    exact = _is_exact(x)
    p = int(net.n_params)  # type: ignore[attr-defined]
    if w0 is None:
        w0 = network_initial_weights(net, seed)
    elif np.ndim(w0) == 0:
        w0 = np.full(p, w0, dtype=object)
    return exact, _as_array(w0, exact, "w0")


def reference_momentum(net: object, x: np.ndarray, y: np.ndarray, T: int = 3,
                       lr: Scalar = Fraction(1, 10), beta: Scalar = Fraction(1, 2),
                       seed: int = 0, *, w0: object = None) -> np.ndarray:
    """Heavy-ball momentum: ``v_0 = 0``, ``v_{t+1} = beta v_t + g(w_t)``,
    ``w_{t+1} = w_t - lr v_{t+1}``, ``g`` the mean squared-loss gradient."""
    T = _check_steps(T)
    exact, w = _start(net, x, seed, w0)
    lr_, beta_ = _const(lr, exact, "lr"), _const(beta, exact, "beta")
    v = _zeros(w.shape, exact)
    for _ in range(T):
        v = beta_ * v + network_grad(net, w, x, y)
        w = w - lr_ * v
    return w


def reference_nesterov(net: object, x: np.ndarray, y: np.ndarray, T: int = 3,
                       lr: Scalar = Fraction(1, 10), beta: Scalar = Fraction(1, 2),
                       seed: int = 0, *, w0: object = None) -> np.ndarray:
    """Nesterov momentum (Sutskever et al. 2013): ``v_{t+1} = beta v_t + g(w_t - lr beta v_t)``,
    ``w_{t+1} = w_t - lr v_{t+1}``, from ``v_0 = 0``."""
    T = _check_steps(T)
    exact, w = _start(net, x, seed, w0)
    lr_, beta_ = _const(lr, exact, "lr"), _const(beta, exact, "beta")
    v = _zeros(w.shape, exact)
    for _ in range(T):
        look = w - lr_ * beta_ * v
        v = beta_ * v + network_grad(net, look, x, y)
        w = w - lr_ * v
    return w


def reference_gd_weight_decay(net: object, x: np.ndarray, y: np.ndarray, T: int = 3,
                              lr: Scalar = Fraction(1, 10), decay: Scalar = Fraction(1, 10),
                              seed: int = 0, *, w0: object = None) -> np.ndarray:
    """GD on ``L(w) + decay/2 |w|^2``: ``w_{t+1} = w_t - lr (g(w_t) + decay w_t)``."""
    T = _check_steps(T)
    exact, w = _start(net, x, seed, w0)
    lr_, lam = _const(lr, exact, "lr"), _const(decay, exact, "decay")
    for _ in range(T):
        w = w - lr_ * (network_grad(net, w, x, y) + lam * w)
    return w


def reference_sign_gd(net: object, x: np.ndarray, y: np.ndarray, T: int = 3,
                      lr: Scalar = Fraction(1, 10), seed: int = 0, *, w0: object = None
                      ) -> np.ndarray:
    """Sign-GD: ``w_{t+1} = w_t - lr sign(g(w_t))`` with ``sign(0) = 0``."""
    T = _check_steps(T)
    exact, w = _start(net, x, seed, w0)
    lr_ = _const(lr, exact, "lr")
    zero, one = _const(0, exact), _const(1, exact)
    for _ in range(T):
        grad = network_grad(net, w, x, y)
        sign = np.where(grad > zero, one, np.where(grad < zero, -one, zero))
        w = w - lr_ * sign
    return w


def _ridge_system(x: np.ndarray, y: np.ndarray, lam: Scalar, bias: bool
                  ) -> tuple[bool, np.ndarray, np.ndarray]:
    """``A = mean x~ x~^T + lam I`` and ``B = mean y x~^T`` with ``x~ = (x, 1)`` (or ``x``)."""
    exact, xa, ya = _linear_data(x, y)
    n = xa.shape[0]
    if bias:
        ones = np.full((n, 1), _const(1, exact), dtype=xa.dtype)
        xa = np.concatenate([xa, ones], axis=1)
    inv_n = _const(Fraction(1, n), exact)
    m = xa.shape[1]
    eye = _indicator(np.eye(m, dtype=bool), exact)
    A = inv_n * (xa.T @ xa) + _const(lam, exact, "lam") * eye
    B = inv_n * (ya.T @ xa)
    return exact, A, B


def _theta_to_w(theta: np.ndarray, bias: bool) -> np.ndarray:
    """``Theta = [W | b]`` (``c x (d+1)``) -> the linear network's ``w`` (W row-major, b)."""
    if bias:
        return pack_weights([(theta[:, :-1], theta[:, -1])])
    return pack_weights([(theta, None)])


def reference_ridge_richardson(x: np.ndarray, y: np.ndarray, T: int = 3,
                               alpha: Scalar = Fraction(1, 100), lam: Scalar = 1,
                               bias: bool = True) -> np.ndarray:
    """Ridge regression ``min mean_i 1/2 |W x_i + b - y_i|^2 + lam/2 (|W|^2 + |b|^2)`` by
    ``T`` Richardson iterations ``Theta_{t+1} = Theta_t + alpha (B - Theta_t A)`` from 0."""
    T = _check_steps(T)
    exact, A, B = _ridge_system(x, y, lam, bias)
    theta = _zeros(B.shape, exact)
    a = _const(alpha, exact, "alpha")
    for _ in range(T):
        theta = theta + a * (B - theta @ A)
    return _theta_to_w(theta, bias)


def _solve_exact(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``X`` with ``A X = B`` by Gaussian elimination with partial pivoting and back
    substitution, on Fractions (``A`` square and invertible)."""
    m = A.shape[0]
    M = np.concatenate([A.copy(), B.copy()], axis=1)
    for k in range(m):
        piv = max(range(k, m), key=lambda i: abs(M[i, k]))
        if M[piv, k] == 0:
            raise ValueError("the ridge system is singular; use lam > 0")
        if piv != k:
            M[[k, piv]] = M[[piv, k]]
        for i in range(k + 1, m):
            f = M[i, k] / M[k, k]
            M[i] = M[i] - f * M[k]
    X = np.empty((m, B.shape[1]), dtype=object)
    for i in range(m - 1, -1, -1):
        rhs = M[i, m:] - M[i, i + 1 : m] @ X[i + 1 :] if i < m - 1 else M[i, m:]
        X[i] = rhs / M[i, i]
    return X


def reference_ridge(x: np.ndarray, y: np.ndarray, lam: Scalar = 1, bias: bool = True
                    ) -> np.ndarray:
    """Closed-form ridge: ``Theta = B A^{-1}`` (same ``A``, ``B`` as the Richardson version)."""
    exact, A, B = _ridge_system(x, y, lam, bias)
    if exact:
        theta = _solve_exact(A, B.T).T  # A symmetric: Theta^T = A^{-1} B^T
    else:
        theta = np.linalg.solve(A, B.T).T
    return _theta_to_w(theta, bias)


def reference_diag_lda(x: np.ndarray, y: np.ndarray, eps: Scalar = Fraction(1, 10)
                       ) -> np.ndarray:
    """Diagonal LDA with equal priors as a linear classifier ``[d, c]``.

    ``mu_c`` the class means, ``s2_j = mean_i (x_ij - mu_{y_i j})^2 + eps`` the pooled
    within-class variance of feature ``j`` (floored by ``eps``);
    ``W_cj = mu_cj / s2_j``, ``b_c = -1/2 sum_j mu_cj^2 / s2_j``, so ``argmax_c (W x + b)_c``
    is the class of largest Gaussian likelihood with a shared diagonal covariance.
    """
    exact, xa, ya = _linear_data(x, y)
    labels = [int(np.argmax([v == 1 for v in row])) for row in ya]
    c = ya.shape[1]
    n, d = xa.shape
    mu = _zeros((c, d), exact)
    for k in range(c):
        rows = [i for i in range(n) if labels[i] == k]
        if not rows:
            raise ValueError(f"class {k} has no sample, so its mean is undefined; give "
                             "diag_lda at least one sample of every class.")
        mu[k] = np.sum(xa[rows], axis=0) * _const(Fraction(1, len(rows)), exact)
    resid = xa - mu[labels]
    s2 = np.sum(resid * resid, axis=0) * _const(Fraction(1, n), exact) + _const(eps, exact)
    W = mu / s2[None, :]
    b = -_const(Fraction(1, 2), exact) * np.sum(mu * mu / s2[None, :], axis=1)
    return pack_weights([(W, b)])


def random_candidates(p: int, M: int, seed: int = 0) -> np.ndarray:
    """The fixed candidate list of the random search: ``M`` rows of ``k / 4``,
    ``k = default_rng(seed).integers(-4, 5, size=(M, p))`` (exact Fractions)."""
    ints = np.random.default_rng(seed).integers(-4, 5, size=(M, p))
    out = np.empty((M, p), dtype=object)
    for idx, k in np.ndenumerate(ints):
        out[idx] = Fraction(int(k), 4)
    return out


def reference_random_search(net: object, x: np.ndarray, y: np.ndarray, M: int = 4,
                            seed: int = 0) -> np.ndarray:
    """The candidate of :func:`random_candidates` with the smallest mean squared loss
    ``mean_i 1/2 |f(x_i; w) - y_i|^2`` (the first one on a tie)."""
    exact = _is_exact(x)
    cands = random_candidates(int(net.n_params), M, seed)  # type: ignore[attr-defined]
    ya = _as_array(y, exact, "y")
    losses = []
    for cand in cands:
        w = _as_array(cand, exact, "candidate")
        r = network_forward(net, w, x) - ya
        losses.append(np.sum(r * r) * _const(Fraction(1, 2 * ya.shape[0]), exact))
    best = min(range(M), key=lambda m: (losses[m], m))
    return _as_array(cands[best], exact, "candidate")


def reference_perceptron_until_separated(x: np.ndarray, y: np.ndarray, T: int = 5,
                                         lr: Scalar = 1, margin: Scalar = 1,
                                         bias: bool = True) -> np.ndarray:
    """One-vs-rest batch perceptron with a margin that stops once the set is separated.

    Epoch ``t < T`` (``T`` is the declared bound): ``s_i = W x_i + b``, ``t_ic = 2 y_ic - 1``;
    if ``t_ic s_ic > 0`` for every ``i, c`` (separated) stop; else
    ``W_c += lr mean_i m_ic t_ic x_i``, ``b_c += lr mean_i m_ic t_ic`` with
    ``m_ic = 1`` iff ``t_ic s_ic <= margin``. From ``W = 0, b = 0``.
    """
    T = _check_steps(T)
    exact, xa, ya = _linear_data(x, y)
    n, d = xa.shape
    c = ya.shape[1]
    zero, one = _const(0, exact), _const(1, exact)
    mg = _const(margin, exact, "margin")
    step = _const(lr, exact, "lr") * _const(Fraction(1, n), exact)
    t = _const(2, exact) * ya - one
    weight = _zeros((c, d), exact)
    b = _zeros(c, exact) if bias else None
    for _ in range(T):
        s = xa @ weight.T
        if b is not None:
            s = s + b
        if np.all(t * s > zero):
            break
        mt = _indicator(t * s <= mg, exact) * t
        weight = weight + step * (mt.T @ xa)
        if b is not None:
            b = b + step * np.sum(mt, axis=0)
    return pack_weights([(weight, b)])


def reference_logreg(x: np.ndarray, y: np.ndarray, T: int = 3, lr: Scalar = Fraction(1, 2),
                     bias: bool = True) -> np.ndarray:
    """One-vs-rest logistic regression by ``T`` GD steps on the mean binary cross-entropy
    ``-mean_i sum_c [y_ic log s_ic + (1 - y_ic) log(1 - s_ic)]``, ``s = sigmoid(W x + b)``,
    from 0: ``W <- W - lr mean_i (s_i - y_i) x_i^T``, ``b <- b - lr mean_i (s_i - y_i)``.

    Float only: the sigmoid has no exact rational value.
    """
    if _is_exact(x):
        raise ValueError("logreg is float only (the sigmoid of a rational is not rational); "
                         "check it with the numeric backend, not the exact one")
    T = _check_steps(T)
    _, xa, ya = _linear_data(x, y)
    n, d = xa.shape
    c = ya.shape[1]
    weight = np.zeros((c, d))
    b = np.zeros(c) if bias else None
    rate = float(Fraction(lr)) if not isinstance(lr, float) else lr
    for _ in range(T):
        z = xa @ weight.T + (b if b is not None else 0.0)
        r = 1.0 / (1.0 + np.exp(-z)) - ya
        weight = weight - rate * (r.T @ xa) / n
        if b is not None:
            b = b - rate * r.sum(axis=0) / n
    return pack_weights([(weight, b)])
