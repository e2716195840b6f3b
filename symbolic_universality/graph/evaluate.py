"""Evaluate a graph on a scalar backend, over samples, lazily and exactly.

The evaluator is written once for every backend (exact rationals, float64, sympy):
values are NumPy arrays, a batched node's value carries a leading sample axis.

**Pruning** (``prune=True``) is one exact rule of arithmetic, not a rule about the
construction: a product (``mul``, ``matmul``, ``outer``, inner product) one of whose
factors is exactly zero is exactly zero, so its other factor is not evaluated.
A zero is tracked as the sentinel ``ZERO`` through the operations that map 0 to 0
(activations with ``f(0) = 0``, reshapes, sums). With the gates of the construction
exactly 0 or 1 this skips every head that is switched off, and every adjoint that
would be multiplied by a switched-off gate. ``prune=False`` evaluates everything.

Samples may be processed in chunks (bounded memory): all reductions over samples
(``bmean``, ``bsum``, ``bdot``) are accumulated chunk by chunk in one pass, and the
unbatched rest of the graph is then evaluated once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import Backend
from .core import GraphError, Node, topological

REDUCTIONS = ("bmean", "bsum", "bdot")
_ANNIHILATE_BINARY = ("mul", "matmul", "outer", "vdot", "bdot")
_ZERO_PRESERVING_UNARY = (
    "neg", "scale", "relu", "step", "sat", "dsat", "tanh", "transpose", "reshape", "sum",
    "broadcast", "slice", "pad", "bsum", "bmean",
)


class _Zero:
    """Sentinel for an exactly-zero value (see the module docstring)."""

    def __repr__(self) -> str:
        return "ZERO"


ZERO = _Zero()


class Evaluator:
    """Evaluates nodes for one binding of leaves and one data set.

    ``bindings`` maps parameter and register names to arrays; ``x``/``y`` are the
    inputs and one-hot labels (n rows) or ``None`` when the graph uses none.
    """

    def __init__(
        self,
        backend: Backend,
        bindings: Mapping[str, Any],
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        *,
        prune: bool = False,
        chunk: int | None = None,
        strict: bool = False,
    ) -> None:
        self.backend = backend
        self.strict = strict
        self.prune = prune
        self.bindings = {k: backend.asarray(v) if not isinstance(v, np.ndarray) else v
                         for k, v in bindings.items()}
        self.x = x
        self.y = y
        self.n = 0 if x is None else int(x.shape[0])
        self.chunk = chunk or max(self.n, 1)
        self._unbatched: dict[int, Any] = {}
        self._batched: dict[int, Any] = {}
        self._rows: slice = slice(0, self.n)
        self._m = self.n

    # ------------------------------------------------------------------ public

    def values(self, outputs: Sequence[Node]) -> list[Any]:
        """Values of ``outputs`` (arrays; a pruned zero is materialised)."""
        order = topological(outputs)
        reductions = [n for n in order if n.op in REDUCTIONS and n.id not in self._unbatched]
        if reductions:
            self._reduce(reductions)
        batched_out = [o for o in outputs if o.batched]
        results: dict[int, Any] = {}
        if batched_out:
            parts: dict[int, list[Any]] = {o.id: [] for o in batched_out}
            for rows in self._chunks():
                self._enter(rows)
                for o in batched_out:
                    parts[o.id].append(self._materialise(o, self._eval(o)))
            for o in batched_out:
                results[o.id] = np.concatenate(parts[o.id], axis=0)
        for o in outputs:
            if not o.batched:
                results[o.id] = self._materialise(o, self._eval(o))
        return [results[o.id] for o in outputs]

    def value(self, node: Node) -> Any:
        return self.values([node])[0]

    # --------------------------------------------------------------- internals

    def _chunks(self) -> list[slice]:
        if self.n == 0:
            return [slice(0, 0)]
        return [slice(i, min(i + self.chunk, self.n)) for i in range(0, self.n, self.chunk)]

    def _enter(self, rows: slice) -> None:
        self._rows = rows
        self._m = rows.stop - rows.start
        self._batched = {}

    def _reduce(self, reductions: list[Node]) -> None:
        ids = {r.id for r in reductions}
        for r in reductions:
            for inner in topological(list(r.inputs)):
                if inner.id in ids:
                    raise GraphError("nested reductions over samples are not supported")
        acc: dict[int, Any] = {}
        for rows in self._chunks():
            self._enter(rows)
            for r in reductions:
                part = self._reduce_chunk(r)
                if part is ZERO:
                    acc.setdefault(r.id, ZERO)
                elif acc.get(r.id, ZERO) is ZERO:
                    acc[r.id] = part
                else:
                    acc[r.id] = acc[r.id] + part
        for r in reductions:
            val = acc.get(r.id, ZERO)
            if val is not ZERO and r.op == "bmean":
                val = val * self.backend.scalar(Fraction(1, max(self.n, 1)))
            if val is not ZERO:
                val = np.asarray(val)
                if self.prune and self._small_zero(val):
                    val = ZERO
            self._unbatched[r.id] = val

    def _reduce_chunk(self, r: Node) -> Any:
        if r.op in ("bmean", "bsum"):
            v = self._eval(r.inputs[0])
            if v is ZERO:
                return ZERO
            return np.asarray(v).sum(axis=0)
        a_node, b_node = r.inputs
        a = self._eval(a_node)
        if a is ZERO:
            return ZERO
        b = self._eval(b_node)
        if b is ZERO:
            return ZERO
        m = self._m
        a2 = np.asarray(a).reshape(m, -1)
        b2 = np.asarray(b).reshape(m, -1)
        return (a2.T @ b2).reshape(r.shape)

    def _small_zero(self, val: Any) -> bool:
        return np.size(val) <= 4096 and self.backend.is_zero(val)

    def _full_shape(self, node: Node) -> tuple[int, ...]:
        return ((self._m,) if node.batched else ()) + node.shape

    def _materialise(self, node: Node, v: Any) -> Any:
        if v is ZERO:
            return self.backend.zeros(self._full_shape(node))
        return v

    def _eval(self, node: Node) -> Any:
        memo = self._batched if node.batched else self._unbatched
        v = memo.get(node.id, None)
        if v is not None or node.id in memo:
            return v
        v = self._compute(node)
        if (
            self.prune
            and v is not ZERO
            and not node.batched
            and node.op not in ("param", "reg", "const")
            and self._small_zero(v)
        ):
            v = ZERO
        memo[node.id] = v
        return v

    def _leaf(self, node: Node) -> Any:
        op = node.op
        if op in ("param", "reg"):
            name = node.attrs["name"]
            if name not in self.bindings:
                raise GraphError(f"no value bound for {op} {name!r}")
            val = self.bindings[name]
            if np.shape(val) != node.shape:
                raise GraphError(f"{op} {name!r} has shape {np.shape(val)}, expected {node.shape}")
        elif op == "const":
            val = self.backend.asarray(node.attrs["value"])
        elif op == "x":
            if self.x is None:
                raise GraphError("the graph reads inputs x but none were given")
            return self.x[self._rows]
        elif op == "y":
            if self.y is None:
                raise GraphError("the graph reads labels y but none were given")
            return self.y[self._rows]
        elif op == "inv_n":
            return np.full(self._m, self.backend.scalar(Fraction(1, max(self.n, 1))),
                           dtype=self.backend.zeros(()).dtype)
        else:
            raise GraphError(f"unknown leaf {op!r}")
        if self.prune and self._small_zero(val):
            return ZERO
        return val

    def _align(self, node: Node, v: Any, ndim: int) -> Any:
        """Give a batched value of lower per-sample rank trailing unit axes (for broadcasting)."""
        if node.batched and len(node.shape) < ndim:
            return np.asarray(v).reshape((self._m,) + node.shape + (1,) * (ndim - len(node.shape)))
        return v

    def _compute(self, node: Node) -> Any:
        op = node.op
        if not node.inputs:
            return self._leaf(node)
        if op in REDUCTIONS:
            if node.id in self._unbatched:
                return self._unbatched[node.id]
            self._reduce([node])
            return self._unbatched[node.id]
        if op in _ANNIHILATE_BINARY:
            a_node, b_node = node.inputs
            first, second = (a_node, b_node) if not a_node.batched or b_node.batched else (
                b_node, a_node)
            v1 = self._eval(first)
            if v1 is ZERO:
                return ZERO
            v2 = self._eval(second)
            if v2 is ZERO:
                return ZERO
            a, b = (v1, v2) if first is a_node else (v2, v1)
            return self._binary(node, a, b)
        if op == "concat":
            vals = [self._eval(i) for i in node.inputs]
            if all(v is ZERO for v in vals):
                return ZERO
            vals = [self._materialise(i, v) for i, v in zip(node.inputs, vals, strict=True)]
            if node.batched:
                vals = [v if i.batched else np.broadcast_to(v, (self._m,) + i.shape)
                        for i, v in zip(node.inputs, vals, strict=True)]
            return np.concatenate(vals, axis=-1)
        if op in ("add", "sub"):
            a_node, b_node = node.inputs
            a, b = self._eval(a_node), self._eval(b_node)
            full = self._full_shape(node)
            if a is ZERO and b is ZERO:
                return ZERO
            if b is ZERO and self._full_shape(a_node) == full:
                return a
            if a is ZERO and self._full_shape(b_node) == full:
                return b if op == "add" else -np.asarray(b)
            a, b = self._materialise(a_node, a), self._materialise(b_node, b)
            nd = len(node.shape)
            a, b = self._align(a_node, a, nd), self._align(b_node, b, nd)
            return np.asarray(a + b if op == "add" else a - b)
        # unary operations
        (a_node,) = node.inputs
        a = self._eval(a_node)
        if a is ZERO:
            if op in _ZERO_PRESERVING_UNARY or (op == "pow" and node.attrs["k"] >= 1):
                return ZERO
            a = self._materialise(a_node, a)
        return self._unary(node, a_node, a)

    def _binary(self, node: Node, a: Any, b: Any) -> Any:
        op = node.op
        an, bn = node.inputs
        a, b = np.asarray(a), np.asarray(b)
        if op == "mul":
            nd = len(node.shape)
            return np.asarray(self._align(an, a, nd) * self._align(bn, b, nd))
        if op == "vdot":
            prod = self._align(an, a, len(node.shape)) * b if an.shape == bn.shape else a * b
            if node.batched:
                return np.asarray(np.asarray(prod).reshape(self._m, -1).sum(axis=1))
            return np.asarray(np.sum(prod))
        if op == "outer":
            return np.asarray(a[..., :, None] * b[..., None, :])
        if op == "matmul":
            return self._matmul(an, bn, a, b)
        raise GraphError(f"unexpected binary operation {op!r}")

    def _matmul(self, an: Node, bn: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        va, vb = len(an.shape) == 1, len(bn.shape) == 1
        if not an.batched and not bn.batched:
            return np.asarray(a @ b)
        if an.batched and not bn.batched and va:
            return np.asarray(a @ b)  # (m,k) @ (k,) or (k,l)
        if not an.batched and bn.batched and vb:
            return np.asarray(b @ a.T)  # rows x_i -> (A x_i)
        if an.batched and bn.batched and va and vb:
            return np.asarray((a * b).sum(axis=-1))
        a3 = a[..., None, :] if va else a
        b3 = b[..., :, None] if vb else b
        out = np.matmul(a3, b3)
        if vb:
            out = out[..., 0]
        if va:
            out = out[..., 0, :] if not vb else out[..., 0]
        return np.asarray(out)

    def _unary(self, node: Node, a_node: Node, a: Any) -> Any:
        op = node.op
        a = np.asarray(a)
        if op == "neg":
            return np.asarray(-a)
        if op == "scale":
            return np.asarray(a * self.backend.scalar(node.attrs["factor"]))
        if op == "transpose":
            return np.swapaxes(a, -1, -2)
        if op == "reshape":
            return a.reshape(self._full_shape(node))
        if op == "sum":
            if a_node.batched:
                return np.asarray(a.reshape(self._m, -1).sum(axis=1))
            return np.asarray(np.sum(a))
        if op == "broadcast":
            full = self._full_shape(node)
            src = a.reshape(a.shape + (1,) * len(node.shape)) if a_node.batched else a
            return np.broadcast_to(src, full).copy()
        if op == "slice":
            return a[..., node.attrs["start"]:node.attrs["stop"]]
        if op == "pad":
            out = self.backend.zeros(self._full_shape(node))
            start = node.attrs["start"]
            out[..., start:start + a_node.shape[0]] = a
            return out
        if op == "recip" and self.strict:
            return np.asarray(self.backend.unary(op, a, strict=True))
        return np.asarray(self.backend.unary(op, a, **node.attrs))


def evaluate(
    outputs: Sequence[Node],
    backend: Backend,
    bindings: Mapping[str, Any],
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    *,
    prune: bool = False,
    chunk: int | None = None,
    strict: bool = False,
) -> list[Any]:
    """Values of ``outputs`` for the given leaf bindings and data (see :class:`Evaluator`).

    ``strict=True`` makes the reciprocal unit refuse 0 (the algorithm itself divides by 0);
    otherwise it is total with ``1/0 := 0`` (the extension at states where registers are 0).
    """
    return Evaluator(backend, bindings, x, y, prune=prune, chunk=chunk, strict=strict).values(
        outputs)
