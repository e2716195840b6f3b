"""An independent gradient oracle (construction.md section 6, "exact"; issue 11, item 3).

The exact checker differentiates the extended loss with ``graph.autodiff`` and evaluates it
with ``graph.evaluate``. This module computes the same gradient by a second implementation
that shares no code with either:

* :class:`Interpreter` maps the graph IR (``graph.core`` nodes: only their ``op``, ``attrs``
  and ``inputs`` are read) onto an array module: **torch** in float64, differentiated by
  ``torch.func.grad`` (PyTorch's own derivative rules: ``clamp``'s gradient is 1 *on* its
  bounds, ``relu'(0) = 0``), or **sympy** expressions differentiated by ``sympy.diff``
  (exact, for tiny instances);
* the loss is rebuilt here from ``F_main`` and the aux heads as construction.md section 1
  defines it, ``L = (1/n) sum_i [1/2 |F_main(x_i) - y_i|^2 + sum_h 1/2 h(x_i)^2]``; the
  compiler's loss node is not used.

:func:`oracle_gradient` returns ``dL/dtheta`` at a state; :func:`compare` matches it against
the gradient the checker's GD used (``(theta_k - theta_{k+1}) / eta`` of the prediction, or
the graph-autodiff gradient at a perturbed neighbour of ``theta_hat_k``, where a term that is
multiplied by a zero register at ``theta_hat_k`` itself is not zero). A disagreement names
the parameter. It relies on no lemma.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..graph.core import Node, topological

#: the oracle runs by default ("auto") for extensions with at most this many parameters
ORACLE_LIMIT = 5000
#: ... and the exact sympy oracle for at most this many parameters and samples
SYMPY_PARAMS = 40
SYMPY_SAMPLES = 4
#: a float (torch) oracle disagreement at theta_hat is re-decided, entry by entry, by the
#: exact sympy oracle up to this many parameters, samples and disagreeing entries
TIEBREAK_PARAMS = 2000
TIEBREAK_SAMPLES = 16
TIEBREAK_ENTRIES = 32
#: relative tolerance of the float64 oracle (per parameter block, scaled by its largest entry)
RTOL = 1e-7


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


class OracleError(RuntimeError):
    """The oracle met a graph it cannot interpret."""


# ------------------------------------------------------------------------- array modules


class _Torch:
    """float64 torch values; every value carries a leading sample axis (1 when unbatched)."""

    def __init__(self, dtype: str = "float64") -> None:
        import torch

        self.t = torch
        self.dtype = getattr(torch, dtype)

    def leaf(self, value: Any) -> Any:
        return self.t.as_tensor(np.asarray(value, dtype=np.float64)).to(self.dtype)

    def logsumexp_rows(self, a: Any) -> Any:
        return self.t.logsumexp(a, dim=1)

    def number(self, q: Fraction) -> float:
        return float(q)

    def unary(self, op: str, a: Any, attrs: dict[str, Any], exact: Any = None) -> Any:
        """``exact``: the exact argument (from :class:`_Exact`), which decides the branches of
        the piecewise units, so that a float rounding near a kink cannot flip them; on a kink
        itself PyTorch's own rules apply (``clamp`` passes the gradient, ``relu'(0) = 0``)."""
        t = self.t
        if exact is not None and op in ("relu", "step", "sat", "dsat", "recip"):
            pos = self._mask(exact, lambda v: v > 0, a)
            if op == "relu":
                return t.where(pos, a, t.zeros_like(a))
            if op == "step":
                return pos.to(a.dtype)
            lo = self._mask(exact, lambda v: v < 0, a)
            hi = self._mask(exact, lambda v: v > 1, a)
            if op == "sat":
                return t.where(lo, t.zeros_like(a), t.where(hi, t.ones_like(a), a))
            if op == "dsat":
                inside = self._mask(exact, lambda v: 0 < v < 1, a)
                return inside.to(a.dtype)
            zero = self._mask(exact, lambda v: v == 0, a)
            safe = t.where(zero, t.ones_like(a), a)
            return t.where(zero, t.zeros_like(a), 1 / safe)
        if op == "relu":
            return t.relu(a)
        if op == "step":
            return (a > 0).to(a.dtype)
        if op == "sat":
            return t.clamp(a, 0.0, 1.0)
        if op == "dsat":
            return ((a > 0) & (a < 1)).to(a.dtype)
        if op == "tanh":
            return t.tanh(a)
        if op == "dtanh":
            return 1 - t.tanh(a) ** 2
        if op == "sigmoid":
            return t.sigmoid(a)
        if op == "dsigmoid":
            s = t.sigmoid(a)
            return s * (1 - s)
        if op == "recip":
            safe = t.where(a == 0, t.ones_like(a), a)
            return t.where(a == 0, t.zeros_like(a), 1 / safe)
        if op == "pow":
            return a ** int(attrs["k"])
        raise OracleError(f"no torch rule for {op!r}")

    def _mask(self, exact: np.ndarray, test: Any, like: Any) -> Any:
        m = np.vectorize(lambda v: bool(test(v)), otypes=[bool])(exact)
        return self.t.as_tensor(m).reshape(tuple(like.shape)) if m.size == like.numel() else (
            self.t.as_tensor(m).expand(tuple(like.shape)))

    def concat(self, parts: list[Any]) -> Any:
        m = max(p.shape[0] for p in parts)
        parts = [p.expand((m,) + tuple(p.shape[1:])) for p in parts]
        return self.t.cat(parts, dim=-1)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        return self.t.zeros(shape, dtype=self.t.float64)

    def pad(self, a: Any, start: int, length: int) -> Any:
        left, right = start, length - start - a.shape[-1]
        return self.t.nn.functional.pad(a, (left, right))

    def sum_rows(self, a: Any) -> Any:
        return a.sum(dim=0, keepdim=True)

    def full_rows(self, n: int, value: Any) -> Any:
        return self.t.full((n,), float(value), dtype=self.t.float64)

    def swap(self, a: Any) -> Any:
        return a.transpose(-1, -2)

    def expand(self, a: Any, shape: tuple[int, ...]) -> Any:
        return a.expand(shape).clone()


class _Exact:
    """Fractions in NumPy object arrays: the exact forward pass that decides the branches of
    the torch pass (no derivatives are taken here)."""

    def leaf(self, value: Any) -> Any:
        return np.asarray(value, dtype=object)

    def number(self, q: Fraction) -> Fraction:
        return Fraction(q)

    def unary(self, op: str, a: Any, attrs: dict[str, Any], exact: Any = None) -> Any:
        one, zero = Fraction(1), Fraction(0)

        def f(v: Any) -> Any:
            if op == "relu":
                return v if v > 0 else zero
            if op == "step":
                return one if v > 0 else zero
            if op == "sat":
                return zero if v <= 0 else v if v < 1 else one
            if op == "dsat":
                return one if 0 < v < 1 else zero
            if op == "recip":
                return zero if v == 0 else 1 / Fraction(v)
            if op == "pow":
                return Fraction(v) ** int(attrs["k"])
            raise OracleError(f"no exact rule for {op!r}")

        return np.vectorize(f, otypes=[object])(a)

    def concat(self, parts: list[Any]) -> Any:
        m = max(p.shape[0] for p in parts)
        parts = [np.broadcast_to(p, (m,) + p.shape[1:]) for p in parts]
        return np.concatenate(parts, axis=-1)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        out = np.empty(shape, dtype=object)
        out.fill(Fraction(0))
        return out

    def pad(self, a: Any, start: int, length: int) -> Any:
        out = self.zeros(a.shape[:-1] + (length,))
        out[..., start:start + a.shape[-1]] = a
        return out

    def sum_rows(self, a: Any) -> Any:
        return a.sum(axis=0, keepdims=True)

    def full_rows(self, n: int, value: Any) -> Any:
        out = np.empty((n,), dtype=object)
        out.fill(value)
        return out

    def swap(self, a: Any) -> Any:
        return np.swapaxes(a, -1, -2)

    def expand(self, a: Any, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(a, shape).copy()


class _Sympy:
    """sympy expressions in NumPy object arrays (exact); the same layout as :class:`_Torch`."""

    def __init__(self) -> None:
        import sympy

        self.sp = sympy

    def leaf(self, value: Any) -> Any:
        arr = np.asarray(value, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        for i, v in np.ndenumerate(arr):
            out[i] = self.sp.sympify(v) if not isinstance(v, Fraction) else self.sp.Rational(
                v.numerator, v.denominator)
        return out

    def number(self, q: Fraction) -> Any:
        return self.sp.Rational(q.numerator, q.denominator)

    def logsumexp_rows(self, a: Any) -> Any:
        sp = self.sp
        out = np.empty((a.shape[0],), dtype=object)
        for i in range(a.shape[0]):
            out[i] = sp.log(sum(sp.exp(v) for v in a[i]))
        return out

    def unary(self, op: str, a: Any, attrs: dict[str, Any], exact: Any = None) -> Any:
        sp = self.sp

        def f(v: Any) -> Any:
            if op == "relu":
                return sp.Piecewise((v, v > 0), (0, True))
            if op == "step":
                return sp.Piecewise((1, v > 0), (0, True))
            if op == "sat":
                return sp.Piecewise((0, v <= 0), (v, v < 1), (1, True))
            if op == "dsat":
                return sp.Piecewise((1, sp.And(v > 0, v < 1)), (0, True))
            if op == "recip":
                return sp.Piecewise((0, sp.Eq(v, 0)), (1 / v, True))
            if op == "pow":
                return v ** int(attrs["k"])
            raise OracleError(f"no exact sympy rule for {op!r}")

        return np.vectorize(f, otypes=[object])(a)

    def concat(self, parts: list[Any]) -> Any:
        m = max(p.shape[0] for p in parts)
        parts = [np.broadcast_to(p, (m,) + p.shape[1:]) for p in parts]
        return np.concatenate(parts, axis=-1)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        out = np.empty(shape, dtype=object)
        out.fill(self.sp.Integer(0))
        return out

    def pad(self, a: Any, start: int, length: int) -> Any:
        out = self.zeros(a.shape[:-1] + (length,))
        out[..., start:start + a.shape[-1]] = a
        return out

    def sum_rows(self, a: Any) -> Any:
        return a.sum(axis=0, keepdims=True)

    def full_rows(self, n: int, value: Any) -> Any:
        out = np.empty((n,), dtype=object)
        out.fill(value)
        return out

    def swap(self, a: Any) -> Any:
        return np.swapaxes(a, -1, -2)

    def expand(self, a: Any, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(a, shape).copy()


# ---------------------------------------------------------------------------- interpreter


class Interpreter:
    """Evaluate graph nodes with an array module (see the module docstring).

    Every value has the leading sample axis: ``n`` rows for a batched node, 1 otherwise.
    """

    def __init__(self, xp: Any, params: Mapping[str, Any], x: Any, y: Any, n: int,
                 exact_args: Mapping[int, Any] | None = None) -> None:
        self.xp = xp
        self.params = params
        self.x, self.y, self.n = x, y, n
        self.exact_args = exact_args or {}
        self.memo: dict[int, Any] = {}

    def run(self, outputs: list[Node]) -> list[Any]:
        for node in topological(outputs):
            if node.id not in self.memo:
                self.memo[node.id] = self._node(node, [self.memo[i.id] for i in node.inputs])
        return [self.memo[o.id] for o in outputs]

    def _align(self, v: Any, node: Node, rank: int) -> Any:
        extra = rank - len(node.shape)
        if extra <= 0:
            return v
        return v.reshape(tuple(v.shape) + (1,) * extra)

    def _node(self, node: Node, ins: list[Any]) -> Any:
        op, xp = node.op, self.xp
        if op == "param":
            return self.params[node.attrs["name"]][None]
        if op == "const":
            return xp.leaf(node.attrs["value"])[None]
        if op == "x":
            return self.x
        if op == "y":
            return self.y
        if op == "inv_n":
            return xp.full_rows(self.n, xp.number(Fraction(1, max(self.n, 1))))
        if op == "reg":
            raise OracleError(f"unbound register {node.attrs['name']!r} in the extension")
        if op in ("add", "sub", "mul"):
            a, b = node.inputs
            rank = len(node.shape)
            va, vb = self._align(ins[0], a, rank), self._align(ins[1], b, rank)
            return va + vb if op == "add" else va - vb if op == "sub" else va * vb
        if op == "neg":
            return -ins[0]
        if op == "scale":
            return ins[0] * xp.number(Fraction(node.attrs["factor"]))
        if op == "vdot":
            prod = ins[0] * ins[1]
            return prod.reshape(prod.shape[0], -1).sum(1)
        if op == "matmul":
            return self._matmul(node, ins[0], ins[1])
        if op == "outer":
            a, b = ins
            return a[..., :, None] * b[..., None, :]
        if op == "transpose":
            return xp.swap(ins[0])
        if op == "reshape":
            return ins[0].reshape((ins[0].shape[0],) + tuple(node.attrs["shape_to"]))
        if op == "sum":
            v = ins[0]
            return v.reshape(v.shape[0], -1).sum(1)
        if op == "broadcast":
            v = ins[0]
            shape = tuple(node.attrs["shape_to"])
            return xp.expand(v.reshape((v.shape[0],) + (1,) * len(shape)), (v.shape[0],) + shape)
        if op == "slice":
            return ins[0][..., node.attrs["start"]:node.attrs["stop"]]
        if op == "pad":
            return xp.pad(ins[0], node.attrs["start"], node.attrs["length"])
        if op == "concat":
            return xp.concat(list(ins))
        if op == "bsum":
            return xp.sum_rows(ins[0])
        if op == "bmean":
            return xp.sum_rows(ins[0]) * xp.number(Fraction(1, max(self.n, 1)))
        if op == "bdot":
            a, b = ins
            prod = a.reshape(a.shape[0], -1)[:, :, None] * b.reshape(b.shape[0], -1)[:, None, :]
            return xp.sum_rows(prod).reshape((1,) + tuple(node.shape))
        return xp.unary(op, ins[0], node.attrs, self.exact_args.get(node.id))

    @staticmethod
    def _matmul(node: Node, a: Any, b: Any) -> Any:
        an, bn = node.inputs
        va, vb = len(an.shape) == 1, len(bn.shape) == 1
        if va and vb:
            return (a * b).sum(-1)
        if vb:  # (m, k, l) @ (m, l)
            if a.shape[0] == 1:  # one matrix for every sample: (m, l) @ (l, k)
                return b @ Interpreter._t(a[0])
            return (a @ b[..., None])[..., 0]
        if va:  # (m, k) @ (m, k, l)
            if b.shape[0] == 1:
                return a @ b[0]
            return (a[..., None, :] @ b)[..., 0, :]
        return a @ b

    @staticmethod
    def _t(m: Any) -> Any:
        return m.T if isinstance(m, np.ndarray) else m.transpose(0, 1)


def _loss(interp: Interpreter, ext: Any, y: Any) -> Any:
    """construction.md section 1's mean loss, written here from F_main and the aux heads."""
    f_main, *aux = interp.run([ext.f_main, *ext.aux])
    if getattr(ext, "loss_kind", "mse") == "ce":
        # softmax cross-entropy: log sum_c exp(F_c) - <F, y>, per sample
        rows = f_main.reshape(f_main.shape[0], -1)
        per = interp.xp.logsumexp_rows(rows) - (rows * y.reshape(rows.shape)).sum(1)
    else:
        r = f_main - y
        per = (r * r).reshape(r.shape[0], -1).sum(1) / 2
    for h in aux:
        hv = h.reshape(h.shape[0], -1)
        per = per + (hv * hv).sum(1) / 2
    return per.sum() / interp.n


# ----------------------------------------------------------------------------- gradients


def torch_gradient(ext: Any, theta: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                   exact_branches: bool = True, dtype: str = "float64"
                   ) -> dict[str, np.ndarray]:
    """``dL/dtheta`` at ``theta`` in float64 by ``torch.func.grad`` over the interpreter.

    ``exact_branches``: decide the branches of the piecewise units on the exact arguments
    (at ``theta_hat_k``, where ties such as ``relu(0)`` are structural and float rounding
    could flip them); off at a random perturbed state, where no argument sits on a kink."""
    import torch
    from torch.func import grad

    xp = _Torch(dtype)
    names = list(ext.shapes)
    xt, yt = xp.leaf(_floats(x)), xp.leaf(_floats(y))
    n = int(x.shape[0])
    with torch.no_grad():
        start = {k: xp.leaf(_floats(theta[k])).reshape(ext.shapes[k]) for k in names}
    exact_args: dict[int, Any] = {}
    if exact_branches:
        # only units whose float argument is within rounding of a kink need the exact one
        units = [nd for nd in topological([ext.f_main, *ext.aux]) if nd.op in _PIECEWISE]
        with torch.no_grad():
            args = Interpreter(xp, start, xt, yt, n).run([u.inputs[0] for u in units])
        near = []
        for u, a in zip(units, args, strict=True):
            scale = 1.0 + float(a.abs().max()) if a.numel() else 1.0
            if any(bool(((a - kink).abs() <= 1e-9 * scale).any()) for kink in _KINKS[u.op]):
                near.append(u)
        exact_args = _exact_arguments(ext, theta, x, y, near) if near else {}

    def loss(params: dict[str, Any]) -> Any:
        return _loss(Interpreter(xp, params, xt, yt, n, exact_args), ext, yt)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small graphs: threads only add contention (50x on 2 cores)
    try:
        g = grad(loss)(start)
    finally:
        torch.set_num_threads(threads)
    return {k: g[k].detach().numpy().reshape(ext.shapes[k]) for k in names}


_PIECEWISE = ("relu", "step", "sat", "dsat", "recip")


_KINKS = {"relu": (0.0,), "step": (0.0,), "sat": (0.0, 1.0), "dsat": (0.0, 1.0),
          "recip": (0.0,)}


def _exact_arguments(ext: Any, theta: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                     units: list[Node] | None = None) -> dict[int, Any]:
    """The exact arguments of the piecewise units ``units`` (default: every one of F), by
    :class:`_Exact`, by node id."""
    xp = _Exact()
    params = {k: np.asarray(v, dtype=object).reshape(ext.shapes[k]) for k, v in theta.items()}
    interp = Interpreter(xp, params, np.asarray(x, dtype=object), np.asarray(y, dtype=object),
                         int(x.shape[0]))
    if units is None:
        units = [nd for nd in topological([ext.f_main, *ext.aux]) if nd.op in _PIECEWISE]
    if not units:
        return {}
    values = interp.run([u.inputs[0] for u in units])
    return {u.id: v for u, v in zip(units, values, strict=True)}


def sympy_gradient(ext: Any, theta: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                   numeric: bool = False, only: set[tuple[str, tuple]] | None = None
                   ) -> dict[str, np.ndarray]:
    """``dL/dtheta`` at ``theta`` exactly: the loss flattened into one sympy expression in
    the parameters, ``sympy.diff`` by each, then the state substituted (Fractions out).

    ``numeric=True`` (cross-entropy away from ``softmax(0)``, where the gradient is
    irrational): each entry is evaluated to 30 digits and returned as a float64.
    ``only``: differentiate by these entries ``(block, index)`` only (the others are
    ``None``)."""
    import sympy as sp

    xp = _Sympy()
    symbols: dict[str, np.ndarray] = {}
    values: dict[Any, Any] = {}
    for name, shape in ext.shapes.items():
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape) if shape else [()]:
            s = sp.Symbol(f"{name}{list(idx)}")
            arr[idx] = s
            values[s] = xp.leaf(np.asarray(theta[name], dtype=object)[idx]).item()
        symbols[name] = arr
    n = int(x.shape[0])
    L = _loss(Interpreter(xp, symbols, xp.leaf(x), xp.leaf(y), n), ext, xp.leaf(y))
    out: dict[str, np.ndarray] = {}
    for name, arr in symbols.items():
        g = np.empty(arr.shape, dtype=object)
        for idx, s in np.ndenumerate(arr):
            if only is not None and (name, tuple(idx)) not in only:
                g[idx] = None
                continue
            d = sp.diff(L, s).xreplace(values)
            if numeric:
                g[idx] = float(sp.piecewise_fold(d).evalf(30))
                continue
            d = sp.nsimplify(sp.piecewise_fold(d)) if not d.is_Rational else d
            if not d.is_Rational:
                raise OracleError(f"sympy left d L / d {s} = {d} unevaluated")
            g[idx] = Fraction(int(d.p), int(d.q))
        out[name] = g
    return out


def _floats(a: Any) -> np.ndarray:
    return np.vectorize(float, otypes=[np.float64])(np.asarray(a, dtype=object)) if np.size(
        a) else np.zeros(np.shape(a))


# ----------------------------------------------------------------------------- comparing


@dataclass
class Disagreement:
    """The first parameter where the oracle and the checker's gradient differ."""

    step: int
    parameter: str
    index: list[int]
    oracle: str
    checker: str
    where: str  # "theta_hat" | "perturbed"
    engine: str  # torch | sympy
    #: the float oracle's own rounding explains the gap (its float32 run is much further
    #: off than the gap): float cannot decide, the disagreement is not a refutation
    rounding: bool = False
    #: the exact sympy oracle, run as a tie-breaker, agrees with the checker exactly
    exact_agrees: bool = False

    def sentence(self) -> str:
        at = f"{self.parameter}{self.index}" if self.index else self.parameter
        place = "theta_hat" if self.where == "theta_hat" else "a perturbed neighbour of theta_hat"
        return (f"step {self.step}: gradient of {at} at {place}: {self.engine} oracle "
                f"{self.oracle}, checker {self.checker}")


def _bad_mask(o: Any, c: Any, engine: str) -> np.ndarray:
    """Which entries of one block disagree: exactly (sympy) or beyond ``RTOL`` (torch)."""
    o = np.asarray(o)
    c = np.asarray(c, dtype=object)
    if engine == "sympy":
        return np.asarray(o != c, dtype=bool).reshape(np.shape(c))
    cf = _floats(c)
    of = np.asarray(o, dtype=np.float64).reshape(cf.shape)
    scale = max(1.0, float(np.max(np.abs(cf), initial=0.0)),
                float(np.max(np.abs(of), initial=0.0)))
    return ~(np.abs(of - cf) <= RTOL * scale)


def compare(step: int, order: list[str], oracle: Mapping[str, np.ndarray],
            checker: Mapping[str, np.ndarray], where: str, engine: str) -> Disagreement | None:
    """The first disagreement (exact for sympy, ``RTOL`` per block for torch), else None."""
    for name in order:
        o = np.asarray(oracle[name])
        c = np.asarray(checker[name], dtype=object)
        bad = _bad_mask(o, c, engine)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
            ov = o[idx] if o.ndim else o.item()
            cv = c[idx] if c.ndim else c.item()
            return Disagreement(step, name, list(idx), _short(ov), _short(cv), where, engine)
    return None


def disagreeing(order: list[str], oracle: Mapping[str, np.ndarray],
                checker: Mapping[str, np.ndarray], engine: str) -> list[tuple[str, tuple]]:
    """Every disagreeing entry ``(block, index)`` (the tolerance of :func:`compare`)."""
    out = []
    for name in order:
        bad = _bad_mask(oracle[name], checker[name], engine)
        out.extend((name, tuple(int(i) for i in ix)) for ix in np.argwhere(bad))
    return out


def _short(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.12g}"
    return str(v)


def perturbation(ext: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """A small random dyadic perturbation of every parameter (entries in ``[-1/64, 1/64]``):
    inside the flat-gates radius (gates keep their 0/1 values), registers no longer zero."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in ext.shapes.items():
        vals = rng.integers(-8, 9, size=shape if shape else ())
        arr = np.empty(shape, dtype=object)
        for idx, v in np.ndenumerate(np.asarray(vals)):
            arr[idx] = Fraction(int(v), 512)
        out[name] = arr
    return out
