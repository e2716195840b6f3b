"""The tracing frontend: an algorithm written as ordinary Python becomes a program.

The algorithm receives a :class:`TracedData` and returns its weight vector::

    def gd(data, net, T=3, lr=Fraction(1, 10), w0=...):
        w = data.const(w0, "w0")
        for _ in range(T):
            w = w - lr * data.mean(lambda x, y: lang.loss_grad(net, w, x, y))
        return w

``data.mean`` is the only way to look at the samples. What the theorem cannot
reproduce is refused here with the reason: a single sample (indexing, iteration,
``len``) or anything that depends on the order of the samples.

Each ``data.mean`` becomes reads (construction.md section 2) by the kind of its
dependence on the label ``y``, found structurally (:func:`label_dependence`):
no ``y``: one unlabelled read; linear in ``y``: one labelled read; affine: an
unlabelled read of ``phi(x, 0)`` plus a labelled read of ``phi(x, y) - phi(x, 0)``;
anything else: the one-hot expansion ``sum_c y_c phi(x, e_c)`` (a labelled read).
Arithmetic on registers between reads is inlined into the next body, so only
reads and the output take a GD step (T4: ``K`` is the depth).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from ..graph import core as g
from ..graph.core import Node
from .ir import Instruction, Program, Register
from .schedule import schedule


class TraceError(ValueError):
    """The algorithm does something gradient descent on a mean loss cannot reproduce."""


_ORDER = (
    "gradient descent on a mean loss sees the data only as an empirical distribution, so an "
    "algorithm may only use per-sample averages (data.mean); {what} would make it depend on "
    "single samples or their order, which no extension can reproduce (construction.md sec. 1)"
)


def _as_const(value: Any, label: str = "") -> Node:
    if isinstance(value, float):
        value = Fraction(repr(value))
    return g.const(value, label=label)


class Traced:
    """A traced value: wraps a graph node; arithmetic builds the graph."""

    __array_priority__ = 1000

    def __init__(self, node: Node, tracer: Tracer) -> None:
        self.node = node
        self.tracer = tracer

    # -- structure
    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    def _lift(self, other: Any) -> Node:
        if isinstance(other, Traced):
            return other.node
        return _as_const(other)

    def _wrap(self, node: Node) -> Traced:
        return Traced(node, self.tracer)

    # -- arithmetic
    def __add__(self, o: Any) -> Traced:
        return self._wrap(g.add(self.node, self._lift(o)))

    def __radd__(self, o: Any) -> Traced:
        return self._wrap(g.add(self._lift(o), self.node))

    def __sub__(self, o: Any) -> Traced:
        return self._wrap(g.sub(self.node, self._lift(o)))

    def __rsub__(self, o: Any) -> Traced:
        return self._wrap(g.sub(self._lift(o), self.node))

    def __mul__(self, o: Any) -> Traced:
        return self._wrap(g.mul(self.node, self._lift(o)))

    def __rmul__(self, o: Any) -> Traced:
        return self._wrap(g.mul(self._lift(o), self.node))

    def __truediv__(self, o: Any) -> Traced:
        if isinstance(o, Traced):
            return self._wrap(g.mul(self.node, g.unary("recip", o.node)))
        return self._wrap(g.mul(self.node, _as_const(1 / Fraction(o) if not isinstance(
            o, float) else 1 / Fraction(repr(o)))))

    def __rtruediv__(self, o: Any) -> Traced:
        return self._wrap(g.mul(self._lift(o), g.unary("recip", self.node)))

    def __neg__(self) -> Traced:
        return self._wrap(g.neg(self.node))

    def __matmul__(self, o: Any) -> Traced:
        return self._wrap(g.matmul(self.node, self._lift(o)))

    def __rmatmul__(self, o: Any) -> Traced:
        return self._wrap(g.matmul(self._lift(o), self.node))

    def __pow__(self, k: int) -> Traced:
        return self._wrap(g.power(self.node, k))

    @property
    def T(self) -> Traced:  # noqa: N802 (NumPy's name)
        return self._wrap(g.transpose(self.node))

    def sum(self) -> Traced:
        return self._wrap(g.total(self.node))

    def reshape(self, *shape: int) -> Traced:
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        return self._wrap(g.reshape(self.node, shape))

    def flatten(self) -> Traced:
        return self._wrap(g.flatten(self.node))

    def __getitem__(self, key: Any) -> Traced:
        if len(self.shape) == 1 and isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(self.shape[0])
            return self._wrap(g.slice_(self.node, start, stop))
        if len(self.shape) == 1 and isinstance(key, int):
            i = key % self.shape[0]
            return self._wrap(g.reshape(g.slice_(self.node, i, i + 1), ()))
        if len(self.shape) == 2 and isinstance(key, int):
            i = key % self.shape[0]
            n = self.shape[1]
            return self._wrap(g.slice_(g.flatten(self.node), i * n, (i + 1) * n))
        raise TraceError(
            f"index {key!r} is not supported on a traced value of shape {self.shape}; "
            "use a 1-D slice, an integer row, reshape or flatten"
        )

    # -- refusals
    def __bool__(self) -> bool:
        raise TraceError(
            "a traced value has no truth value while tracing: data-dependent branching is not "
            "network-computable; use lang.where(lang.step(a - b), x, y) instead of if/else"
        )

    def _compare(self, other: Any) -> bool:
        raise TraceError(
            "comparisons of traced values are not network-computable as such; use "
            "lang.step(a - b) (1 where a > b, else 0) and lang.where"
        )

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __float__(self) -> float:
        raise TraceError("a traced value has no number while tracing; keep it traced")

    def __iter__(self) -> Any:
        raise TraceError("iterate over a traced value by index ranges (slices) instead")

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 1

    def __repr__(self) -> str:
        return f"Traced({self.node!r})"


class TracedData:
    """The data set as the algorithm sees it: only per-sample means are available."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @property
    def d(self) -> int:
        return self._tracer.d

    @property
    def c(self) -> int:
        return self._tracer.c

    def mean(self, fn: Callable[..., Any], name: str | None = None) -> Traced:
        """``mean_i fn(x_i, y_i)`` (or ``fn(x_i)``): the reads of construction.md section 2."""
        return self._tracer.mean(fn, name)

    def const(self, value: Any, label: str = "") -> Traced:
        """A data-independent constant of the algorithm (it becomes a trainable parameter)."""
        return Traced(_as_const(value, label), self._tracer)

    def keep(self, value: Traced, name: str | None = None) -> Traced:
        """Store a value in a register by a compute instruction (costs one GD step)."""
        return self._tracer.compute(value, name)

    # -- refusals: what gradient descent on a mean loss cannot see
    def __len__(self) -> int:
        raise TraceError(_ORDER.format(what="len(data)") + "; a mean over samples needs no n")

    def __iter__(self) -> Any:
        raise TraceError(_ORDER.format(what="iterating over the samples"))

    def __getitem__(self, key: Any) -> Any:
        raise TraceError(_ORDER.format(what=f"indexing a single sample (data[{key!r}])"))

    def __getattr__(self, name: str) -> Any:
        if name in ("x", "y", "samples", "X", "Y", "n", "labels"):
            raise TraceError(_ORDER.format(what=f"reading data.{name}"))
        raise AttributeError(name)


class Tracer:
    """Records the instructions of one algorithm (see the module docstring)."""

    def __init__(self, d: int, c: int) -> None:
        self.d = d
        self.c = c
        self.x = g.data_x(d)
        self.y = g.data_y(c)
        self.instructions: list[Instruction] = []
        self._names: set[str] = set()

    def _fresh(self, name: str | None, prefix: str) -> str:
        if name is not None:
            if name in self._names:
                raise TraceError(f"register name {name!r} is used twice; registers are SSA")
            self._names.add(name)
            return name
        i = len(self._names)
        while f"{prefix}{i}" in self._names:
            i += 1
        self._names.add(f"{prefix}{i}")
        return f"{prefix}{i}"

    def _emit(self, kind: str, name: str, body: Node, label: str = "") -> Node:
        reg = Register(name, body.shape)
        self.instructions.append(Instruction(kind, reg, body, label))
        return g.reg(name, body.shape)

    def mean(self, fn: Callable[..., Any], name: str | None) -> Traced:
        nargs = len([p for p in inspect.signature(fn).parameters.values()
                     if p.default is inspect.Parameter.empty])
        if nargs not in (1, 2):
            raise TraceError("data.mean takes a function of (x) or of (x, y)")
        xs = Traced(self.x, self)
        ys = Traced(self.y, self)
        out = fn(xs, ys) if nargs == 2 else fn(xs)
        phi = out.node if isinstance(out, Traced) else _as_const(out)
        if not phi.batched:
            return Traced(phi, self)
        base = self._fresh(name, "r")
        kind = label_dependence(phi, self.y)
        if kind == "free":
            return Traced(self._emit("read_unlabelled", base, phi, "mean_i psi(u, x_i)"), self)
        if kind == "linear":
            return Traced(self._emit("read_labelled", base, phi, "mean_i phi(u, x_i) y_i"), self)
        if kind == "affine":
            zero = g.const(np.zeros(self.c, dtype=int), label="y=0")
            (phi0,) = g.rebuild([phi], {self.y.id: zero})
            u = self._emit("read_unlabelled", base + "_u", phi0, "mean_i phi(u, x_i, 0)")
            lab = self._emit("read_labelled", base + "_l", g.sub(phi, phi0),
                             "mean_i [phi(u, x_i, y_i) - phi(u, x_i, 0)]")
            return Traced(g.add(u, lab), self)
        # one-hot expansion (section 2): sum_c y_c phi(u, x, e_c)
        terms = []
        for cls in range(self.c):
            e = g.const(np.eye(self.c, dtype=int)[cls], label=f"e_{cls}")
            (phi_c,) = g.rebuild([phi], {self.y.id: e})
            terms.append(g.mul(g.vdot(self.y, e), phi_c))
        body = g.add_all(terms)
        return Traced(self._emit("read_labelled", base, body, "sum_c mean_i y_ic phi(u, x_i, e_c)"),
                      self)

    def compute(self, value: Traced, name: str | None) -> Traced:
        node = value.node if isinstance(value, Traced) else _as_const(value)
        self._check_not_per_sample(node, "data.keep")
        return Traced(self._emit("compute", self._fresh(name, "s"), node, "Phi(u)"), self)

    def _check_not_per_sample(self, node: Node, where: str) -> None:
        if node.batched:
            raise TraceError(
                f"{where} received a per-sample value (it depends on x or y outside data.mean); "
                "wrap the per-sample part in data.mean(lambda x, y: ...)"
            )


def label_dependence(phi: Node, y: Node) -> str:
    """How ``phi`` depends on ``y``: ``free``, ``linear``, ``affine`` or ``nonlinear``."""
    kind: dict[int, str] = {}
    linear_ops = ("neg", "scale", "transpose", "reshape", "sum", "broadcast", "slice", "pad")
    for node in g.topological([phi]):
        if node is y:
            kind[node.id] = "linear"
            continue
        ks = [kind[i.id] for i in node.inputs]
        dep = [k for k in ks if k != "free"]
        if not dep:
            kind[node.id] = "free"
        elif "nonlinear" in dep:
            kind[node.id] = "nonlinear"
        elif node.op in ("add", "sub", "concat"):
            kind[node.id] = "linear" if all(k == "linear" for k in ks) else "affine"
        elif node.op in linear_ops:
            kind[node.id] = ks[0]
        elif node.op in ("mul", "matmul", "outer", "vdot") and len(dep) == 1:
            kind[node.id] = dep[0]
        else:
            kind[node.id] = "nonlinear"
    return kind[phi.id]


def trace(
    algorithm: Callable[..., Any], d: int, c: int, name: str = "",
    float_constants: str = "refuse", **options: Any
) -> Program:
    """Trace ``algorithm(data, **options)`` into a scheduled program."""
    tracer = Tracer(d, c)
    data = TracedData(tracer)
    out = algorithm(data, **options)
    node = out.node if isinstance(out, Traced) else _as_const(out)
    tracer._check_not_per_sample(node, "the algorithm's result")
    if len(node.shape) != 1:
        node = g.flatten(node)
    tracer.instructions.append(
        Instruction("output", Register("w", node.shape), node, "w <- Phi(u)"))
    # keep only the instructions the output depends on (dead reads cost GD steps)
    needed = {"w"}
    kept: list[Instruction] = []
    for ins in reversed(tracer.instructions):
        if ins.target.name in needed:
            kept.append(ins)
            needed.update(ins.inputs)
    kept.reverse()
    program = Program(name or getattr(algorithm, "__name__", "algorithm"), d, c, kept,
                      dict(options), tracer.x, tracer.y)
    return schedule(program)
