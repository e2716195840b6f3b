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

**Soundness.** Nothing about a traced value is decided at trace time. Comparisons
(``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``) trace to 0/1 values built from the
Heaviside unit (``a > b`` is ``step(a - b)``, ``a == b`` is
``(1 - step(a - b)) (1 - step(b - a))``); ``bool()``, ``hash()``, ``in``, ``float()``,
``int()`` on a traced value are refused with one sentence. Integer indices are
bounds-checked (negative ones count from the end, as in NumPy), slices follow
NumPy. Scalars and NumPy-broadcastable shapes are broadcast by explicit graph
nodes, so the compiler never meets a shape mismatch. NumPy ufuncs and functions
either map to the ``lang`` function that computes the same thing or are refused
naming it. A Python float is refused (``float_constants="refuse"``) or read as its
shortest decimal and recorded on the program (``"exact"``).
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import UsageError
from ..graph import core as g
from ..graph.core import GraphError, Node
from .ir import Instruction, Program, Register
from .schedule import schedule

FLOAT_CONSTANT_MODES = ("refuse", "exact")


class TraceError(UsageError):
    """The algorithm does something gradient descent on a mean loss cannot reproduce."""


_ORDER = (
    "gradient descent on a mean loss sees the data only as an empirical distribution, so an "
    "algorithm may only use per-sample averages (data.mean); {what} would make it depend on "
    "single samples or their order, which no extension can reproduce (construction.md sec. 1)"
)

BOOL_REFUSAL = (
    "a traced value has no truth value while tracing (if/while/and/or/not on it, or "
    "'x in [...]', would be decided at trace time, not by the network); compute both "
    "branches and select with lang.where(a > b, x, y), comparisons giving 0/1 via lang.step"
)
HASH_REFUSAL = (
    "a traced value cannot be a dictionary key or a set member (membership would be decided "
    "by object identity at trace time, not by value); keep traced values in lists and "
    "select with lang.where"
)
NUMBER_REFUSAL = (
    "a traced value has no number while tracing ({what} would freeze one value into the "
    "program); keep it traced and use lang functions on it"
)
NESTED_MEAN = (
    "data.mean cannot be nested (a mean inside the function of another mean is a double sum "
    "over samples, which no read computes); compute the inner mean first, outside"
)

# the active tracer (lets lang lift plain numbers while tracing)
_ACTIVE: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "symuni_active_tracer", default=None)


def active_tracer() -> Tracer | None:
    """The tracer of the ``trace`` call in progress, if any."""
    return _ACTIVE.get()


# --------------------------------------------------------------------------- constants


def float_refusal(value: float) -> TraceError:
    """The sentence refusing a Python float in an exact run (names the constant and the fix)."""
    f = float(value)
    frac = Fraction(repr(f))
    why = (f"is not exact (its value is the binary fraction {Fraction(f)})" if Fraction(f) != frac
           else "is not allowed in an exact run (a float is a binary approximation in general)")
    return TraceError(
        f"the Python float {f!r} {why}; write it as Fraction({frac.numerator}, "
        f"{frac.denominator}) or the string '{f!r}', or pass float_constants='exact' "
        f"(CLI: --float-constants exact) to read every float as its shortest decimal"
    )


def exact_array(value: Any, float_constants: str = "refuse",
                record: list[tuple[float, Fraction]] | None = None) -> np.ndarray:
    """``value`` (number, string, nested list, array) as an object array of ``Fraction``.

    ints, bools, ``Fraction`` and decimal strings are exact; a Python or NumPy float is
    refused (``float_constants="refuse"``) or read by its shortest decimal ``repr``
    (``"exact"``: 0.1 -> 1/10), each conversion appended to ``record``.
    """
    if float_constants not in FLOAT_CONSTANT_MODES:
        raise TraceError(f"float_constants must be one of {', '.join(FLOAT_CONSTANT_MODES)}, "
                         f"got {float_constants!r}")
    if _contains_value(value):
        raise TraceError("a list or array holding traced values is not a constant; combine "
                         "traced values with lang.concat, arithmetic or reshape")
    try:
        arr = np.asarray(value, dtype=object)
    except ValueError as exc:
        raise TraceError(f"constant {value!r} is not a rectangular array of numbers") from exc
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        if isinstance(v, (bool, np.bool_)):
            out[idx] = Fraction(int(v))
        elif isinstance(v, Fraction):
            out[idx] = v
        elif isinstance(v, (int, np.integer)):
            out[idx] = Fraction(int(v))
        elif isinstance(v, (float, np.floating)):
            f = float(v)
            if not np.isfinite(f):
                raise TraceError(f"the constant {f!r} is not a finite number")
            if float_constants == "refuse":
                raise float_refusal(f)
            out[idx] = Fraction(repr(f))
            if record is not None:
                record.append((f, out[idx]))
        elif isinstance(v, str):
            try:
                out[idx] = Fraction(v)
            except ValueError as exc:
                raise TraceError(f"the string {v!r} is not a number; write a decimal such as "
                                 "'0.1' or a fraction such as '1/10'") from exc
        else:
            raise TraceError(f"constant {v!r} ({type(v).__name__}) is not a number; give an "
                             "int, a Fraction or a decimal string")
    return out


def _contains_value(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_contains_value(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(_contains_value(v) for v in value.flat)
    return _is_value(value)


def _is_value(v: Any) -> bool:
    """A traced or a concrete value (both carry ``_symuni_value``)."""
    return getattr(type(v), "_symuni_value", False)


def _as_const(value: Any, label: str = "") -> Node:
    """A constant node, under the float policy of the active tracer (refuse by default)."""
    tracer = _ACTIVE.get()
    mode = tracer.float_constants if tracer is not None else "refuse"
    record = tracer.float_records if tracer is not None else None
    return g.const(exact_array(value, mode, record), label=label)


# --------------------------------------------------------------------------- shapes


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcast shape of operands of at most two axes (else a TraceError)."""
    try:
        out = tuple(int(s) for s in np.broadcast_shapes(*shapes))
    except ValueError as exc:
        raise TraceError(
            f"shapes {' and '.join(str(s) for s in shapes)} do not broadcast (NumPy rules); "
            "reshape one of them"
        ) from exc
    if len(out) > 2:
        raise TraceError(f"values have at most two axes; broadcasting gives shape {out}")
    return out


def broadcast_to(node: Node, shape: tuple[int, ...]) -> Node:
    """``node`` repeated into ``shape`` by explicit graph nodes (NumPy broadcasting)."""
    shape = tuple(shape)
    if node.shape == shape:
        return node
    if node.size == 1:
        scalar = g.reshape(node, ()) if node.shape != () else node
        return g.broadcast(scalar, shape) if shape != () else scalar
    if len(shape) == 2:
        m, n = shape
        if node.shape in ((n,), (1, n)):
            row = g.reshape(node, (n,))
            return g.reshape(g.concat([row] * m), (m, n))
        if node.shape == (m, 1):
            col = g.reshape(node, (m,))
            return g.transpose(g.reshape(g.concat([col] * n), (n, m)))
    raise TraceError(f"shape {node.shape} does not broadcast to {shape}")


def normalize_index(key: Any, shape: tuple[int, ...]) -> tuple[tuple[Any, ...], list[int],
                                                                tuple[int, ...]]:
    """Check an index against ``shape`` (NumPy semantics, integers and slices only).

    Returns the key as a tuple of ints and slices (one per axis), the row-major flat
    positions it selects and the shape of the result. An integer out of range is
    refused (``-n <= i < n``; negative ones count from the end); slices clamp as in NumPy.
    """
    if shape == ():
        raise TraceError("a scalar value cannot be indexed")
    parts = key if isinstance(key, tuple) else (key,)
    if len(parts) > len(shape):
        raise TraceError(f"too many indices ({len(parts)}) for a value of shape {shape}")
    norm: list[Any] = []
    axes: list[list[int]] = []
    out_shape: list[int] = []
    for ax, part in enumerate(parts + (slice(None),) * (len(shape) - len(parts))):
        n = shape[ax]
        if isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)):
            i = int(part)
            if not -n <= i < n:
                raise TraceError(
                    f"index {i} is out of range for axis {ax} of length {n} (valid: "
                    f"{-n}..{n - 1}; negative indices count from the end)"
                )
            i = i + n if i < 0 else i
            norm.append(i)
            axes.append([i])
        elif isinstance(part, slice):
            for bound in (part.start, part.stop, part.step):
                if bound is not None and (not isinstance(bound, (int, np.integer))
                                          or isinstance(bound, (bool, np.bool_))):
                    raise TraceError(f"slice bounds must be Python integers, got {part!r}")
            idx = list(range(*part.indices(n)))
            if not idx:
                raise TraceError(f"the slice {part!r} of an axis of length {n} is empty")
            norm.append(part)
            axes.append(idx)
            out_shape.append(len(idx))
        else:
            raise TraceError(
                f"index {part!r} is not supported: index traced values with integers and "
                "slices only (no arrays, masks, None or Ellipsis)"
            )
    strides = [int(np.prod(shape[a + 1:], dtype=np.int64)) for a in range(len(shape))]
    flat = [sum(i * s for i, s in zip(combo, strides, strict=True))
            for combo in itertools.product(*axes)]
    return tuple(norm), flat, tuple(out_shape)


def gather(node: Node, flat: list[int], out_shape: tuple[int, ...]) -> Node:
    """The entries at row-major positions ``flat`` of ``node``, shaped ``out_shape``."""
    vec = g.flatten(node) if node.shape != (node.size,) else node
    runs: list[tuple[int, int]] = []
    for p in flat:
        if runs and runs[-1][1] == p:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    out = g.concat([g.slice_(vec, a, b) for a, b in runs])
    return g.reshape(out, out_shape)


def is_boolean(node: Node) -> bool:
    """Whether ``node`` provably takes only the values 0 and 1 (for ``lang.where``).

    Steps, 0/1 constants, products of 0/1 values, ``1 - b`` and the linear rearrangements
    (reshape, slice, transpose, broadcast, concat) of 0/1 values.
    """
    op = node.op
    if op == "step":
        return True
    if op == "const":
        return all(v in (0, 1) for v in node.attrs["value"].flat)
    if op == "mul":
        return is_boolean(node.inputs[0]) and is_boolean(node.inputs[1])
    if op == "sub":
        a, b = node.inputs
        return _is_one(a) and is_boolean(b)
    if op in ("reshape", "slice", "transpose", "broadcast", "pad"):
        return is_boolean(node.inputs[0])
    if op == "concat":
        return all(is_boolean(i) for i in node.inputs)
    return False


def _is_one(node: Node) -> bool:
    if node.op in ("broadcast", "reshape"):
        return _is_one(node.inputs[0])
    return g.is_const_value(node, 1)


def _graph(fn: Callable[..., Node], *args: Any) -> Node:
    try:
        return fn(*args)
    except GraphError as exc:
        raise TraceError(str(exc)) from exc


# --------------------------------------------------------------------------- values


class ValueSurface:
    """What traced and concrete values share word for word: refusals, ``len``.

    ``Traced`` (here) and ``program.concrete.Concrete`` inherit it, so the two readings of
    the user's function refuse exactly the same things with exactly the same sentences.
    """

    __slots__ = ()

    def _refuse_op(self, *_: Any) -> Any:
        raise TraceError("floor division and remainder are not network-computable; "
                         "use / (with lang.recip for traced divisors)")

    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __divmod__ = _refuse_op

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TraceError("traced values are immutable; build a new value with lang.concat, "
                         "lang.where or arithmetic")

    def __len__(self) -> int:
        shape: tuple[int, ...] = self.shape  # type: ignore[attr-defined]
        if shape == ():
            raise TraceError("a traced scalar has no length")
        return shape[0]


class Traced(ValueSurface):
    """A traced value: wraps a graph node; arithmetic builds the graph (never resolved)."""

    __array_priority__ = 1000
    _symuni_value = True

    def __init__(self, node: Node, tracer: Tracer) -> None:
        self.node = node
        self.tracer = tracer

    # -- structure
    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    @property
    def size(self) -> int:
        return self.node.size

    def _lift(self, other: Any) -> Node:
        return lift(other, self.tracer)

    def _wrap(self, node: Node) -> Traced:
        return Traced(node, self.tracer)

    # -- arithmetic (NumPy broadcasting by explicit nodes)
    def _binary(self, op: str, a: Node, b: Node) -> Traced:
        return self._wrap(binary(op, a, b))

    def __add__(self, o: Any) -> Traced:
        return self._binary("add", self.node, self._lift(o))

    def __radd__(self, o: Any) -> Traced:
        return self._binary("add", self._lift(o), self.node)

    def __sub__(self, o: Any) -> Traced:
        return self._binary("sub", self.node, self._lift(o))

    def __rsub__(self, o: Any) -> Traced:
        return self._binary("sub", self._lift(o), self.node)

    def __mul__(self, o: Any) -> Traced:
        return self._binary("mul", self.node, self._lift(o))

    def __rmul__(self, o: Any) -> Traced:
        return self._binary("mul", self._lift(o), self.node)

    def __truediv__(self, o: Any) -> Traced:
        return self._binary("mul", self.node, reciprocal_of(o, self.tracer))

    def __rtruediv__(self, o: Any) -> Traced:
        return self._binary("mul", self._lift(o), g.unary("recip", self.node))

    def __neg__(self) -> Traced:
        return self._wrap(g.neg(self.node))

    def __pos__(self) -> Traced:
        return self

    def __abs__(self) -> Traced:
        from . import lang

        return lang.abs(self)

    def __matmul__(self, o: Any) -> Traced:
        return self._wrap(_graph(g.matmul, self.node, self._lift(o)))

    def __rmatmul__(self, o: Any) -> Traced:
        return self._wrap(_graph(g.matmul, self._lift(o), self.node))

    def __pow__(self, k: Any) -> Traced:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
            raise TraceError(
                f"only non-negative integer powers are network-computable, got {k!r}; for "
                "1/a use lang.recip(a) or a division"
            )
        return self._wrap(g.power(self.node, int(k)))

    def __rpow__(self, base: Any) -> Traced:
        raise TraceError("a power with a traced exponent is not network-computable; for "
                         "e**a use the float-only lang.exp(a)")

    # -- comparisons: 0/1 values by the Heaviside unit (never decided at trace time)
    def __gt__(self, o: Any) -> Traced:  # type: ignore[override]
        return self._wrap(compare(">", self.node, self._lift(o)))

    def __ge__(self, o: Any) -> Traced:  # type: ignore[override]
        return self._wrap(compare(">=", self.node, self._lift(o)))

    def __lt__(self, o: Any) -> Traced:  # type: ignore[override]
        return self._wrap(compare("<", self.node, self._lift(o)))

    def __le__(self, o: Any) -> Traced:  # type: ignore[override]
        return self._wrap(compare("<=", self.node, self._lift(o)))

    def __eq__(self, o: Any) -> Traced:  # type: ignore[override]
        return self._wrap(compare("==", self.node, self._lift(o)))

    def __ne__(self, o: Any) -> Traced:  # type: ignore[override]
        return self._wrap(compare("!=", self.node, self._lift(o)))

    # -- logic on 0/1 values
    def _logic(self, op: str, o: Any = None, reflected: bool = False) -> Traced:
        a = self.node
        b = None if o is None else self._lift(o)
        return self._wrap(logic(op, a, b))

    def __and__(self, o: Any) -> Traced:
        return self._logic("and", o)

    def __rand__(self, o: Any) -> Traced:
        return self._logic("and", o)

    def __or__(self, o: Any) -> Traced:
        return self._logic("or", o)

    def __ror__(self, o: Any) -> Traced:
        return self._logic("or", o)

    def __invert__(self) -> Traced:
        return self._logic("not")

    def __xor__(self, o: Any) -> Traced:
        return self._logic("xor", o)

    __rxor__ = __xor__

    # -- NumPy protocol
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from . import lang

        return lang.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        from . import lang

        return lang.apply_function(func, args, kwargs)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TraceError("a traced value cannot become a NumPy array (its entries are not "
                         "known while tracing); combine traced values with lang.concat, "
                         "arithmetic, reshape or slicing")

    # -- shape operations
    @property
    def T(self) -> Traced:  # noqa: N802 (NumPy's name)
        if self.ndim < 2:
            return self
        return self._wrap(g.transpose(self.node))

    def sum(self, axis: int | None = None) -> Traced:
        return self._wrap(reduce_sum(self.node, axis))

    def mean(self, axis: int | None = None) -> Traced:
        n = self.size if axis is None else self.shape[axis if axis >= 0 else axis + self.ndim]
        return self._wrap(g.mul(reduce_sum(self.node, axis), g.const(Fraction(1, n),
                                                                     label=f"1/{n}")))

    def dot(self, o: Any) -> Traced:
        from . import lang

        return lang.apply_function(np.dot, (self, o), {})

    def max(self) -> Traced:
        """The largest entry (a fold of ``max(a, b) = a + relu(b - a)``)."""
        from . import lang

        entries = [self[idx] for idx in np.ndindex(*self.shape)] if self.shape else [self]
        out = entries[0]
        for e in entries[1:]:
            out = lang.maximum(out, e)
        return out

    def min(self) -> Traced:
        """The smallest entry (a fold of ``min(a, b) = a - relu(a - b)``)."""
        from . import lang

        entries = [self[idx] for idx in np.ndindex(*self.shape)] if self.shape else [self]
        out = entries[0]
        for e in entries[1:]:
            out = lang.minimum(out, e)
        return out

    def reshape(self, *shape: Any) -> Traced:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1], dtype=np.int64)) or 1
            shape = tuple(self.size // known if s == -1 else s for s in shape)
        return self._wrap(_graph(g.reshape, self.node, tuple(int(s) for s in shape)))

    def flatten(self) -> Traced:
        return self._wrap(g.flatten(self.node))

    ravel = flatten

    def __getitem__(self, key: Any) -> Traced:
        _, flat, out_shape = normalize_index(key, self.shape)
        return self._wrap(gather(self.node, flat, out_shape))

    # -- refusals: what tracing cannot decide
    def __bool__(self) -> bool:
        raise TraceError(BOOL_REFUSAL)

    def __hash__(self) -> int:
        raise TraceError(HASH_REFUSAL)

    def __contains__(self, item: Any) -> bool:
        raise TraceError(BOOL_REFUSAL)

    def __float__(self) -> float:
        raise TraceError(NUMBER_REFUSAL.format(what="float()"))

    def __int__(self) -> int:
        raise TraceError(NUMBER_REFUSAL.format(what="int()"))

    def __index__(self) -> int:
        raise TraceError(NUMBER_REFUSAL.format(what="using it as an index or a count"))

    def __complex__(self) -> complex:
        raise TraceError(NUMBER_REFUSAL.format(what="complex()"))

    def __round__(self, *args: Any) -> Any:
        raise TraceError(NUMBER_REFUSAL.format(what="round()"))

    __trunc__ = __floor__ = __ceil__ = __round__

    def __iter__(self) -> Iterator[Traced]:
        if self.shape == ():
            raise TraceError("a traced scalar cannot be iterated over")
        return iter([self[i] for i in range(self.shape[0])])

    def __copy__(self) -> Traced:
        return self

    def __deepcopy__(self, memo: Any) -> Traced:
        return self

    def __repr__(self) -> str:
        return f"Traced({self.node!r})"


def lift(other: Any, tracer: Tracer | None = None) -> Node:
    """A graph node for a traced value, a concrete value (as a constant) or a plain constant."""
    if isinstance(other, Traced):
        return other.node
    if _is_value(other):  # a concrete value met while differentiating (lang.grad)
        return other.as_constant_node()
    return _as_const(other)


def binary(op: str, a: Node, b: Node) -> Node:
    """``add``/``sub``/``mul`` with NumPy broadcasting made explicit.

    A scalar factor of a product is left as it is (the graph multiplies by scalars);
    every other shape difference becomes ``broadcast``/``concat`` nodes.
    """
    fn = {"add": g.add, "sub": g.sub, "mul": g.mul}[op]
    if a.shape == b.shape or (op == "mul" and (a.shape == () or b.shape == ())):
        return fn(a, b)
    shape = broadcast_shape(a.shape, b.shape)
    return fn(broadcast_to(a, shape), broadcast_to(b, shape))


def reciprocal_of(o: Any, tracer: Tracer) -> Node:
    """``1/o``: the reciprocal unit for a traced divisor, the exact inverse of a constant."""
    if isinstance(o, Traced):
        return g.unary("recip", o.node)
    node = lift(o, tracer)
    if node.op != "const":
        return g.unary("recip", node)
    vals = node.attrs["value"]
    if any(v == 0 for v in vals.flat):
        raise TraceError("division by the constant 0")
    inv = np.empty(vals.shape, dtype=object)
    for idx, v in np.ndenumerate(vals):
        inv[idx] = 1 / v
    return g.const(inv, label=node.attrs.get("label") or "1/k")


def _one() -> Node:
    return g.const(1, label="1")


def compare(op: str, a: Node, b: Node) -> Node:
    """The 0/1 value of ``a op b`` from Heaviside units (``step(0) = 0``).

    ``a > b = step(a - b)``, ``a < b = step(b - a)``, ``a >= b = 1 - step(b - a)``,
    ``a <= b = 1 - step(a - b)``, ``a == b = (1 - step(a - b)) (1 - step(b - a))``,
    ``a != b = 1 - (a == b)``: exact on rationals and on float64.
    """
    d = binary("sub", a, b)
    pos = g.unary("step", d)
    neg = g.unary("step", g.neg(d))
    if op == ">":
        return pos
    if op == "<":
        return neg
    if op == ">=":
        return binary("sub", _one(), neg)
    if op == "<=":
        return binary("sub", _one(), pos)
    eq = g.mul(binary("sub", _one(), pos), binary("sub", _one(), neg))
    if op == "==":
        return eq
    if op == "!=":
        return binary("sub", _one(), eq)
    raise TraceError(f"unknown comparison {op!r}")


def logic(op: str, a: Node, b: Node | None) -> Node:
    """``&``, ``|``, ``~`` on provably 0/1 values (comparisons, steps) as products."""
    for v in (a, b):
        if v is not None and not is_boolean(v):
            raise TraceError(
                "&, |, ~ and ^ need 0/1 values such as comparisons (a > b) or lang.step(a); "
                "this operand is not provably 0/1"
            )
    if op == "not":
        return binary("sub", _one(), a)
    assert b is not None
    if op == "and":
        return binary("mul", a, b)
    if op == "or":  # 1 - (1 - a)(1 - b)
        return binary("sub", _one(), binary("mul", binary("sub", _one(), a),
                                            binary("sub", _one(), b)))
    if op == "xor":  # a (1 - b) + b (1 - a), as 1 - [(1 - a(1-b)) (1 - b(1-a))]
        p = binary("mul", a, binary("sub", _one(), b))
        q = binary("mul", b, binary("sub", _one(), a))
        return binary("sub", _one(), binary("mul", binary("sub", _one(), p),
                                            binary("sub", _one(), q)))
    raise TraceError(f"unknown logical operation {op!r}")


def reduce_sum(node: Node, axis: int | None) -> Node:
    """Sum of all entries (``axis=None``) or along one axis (a product with a ones vector)."""
    if axis is None:
        return g.total(node)
    nd = len(node.shape)
    if not isinstance(axis, int) or not -nd <= axis < nd:
        raise TraceError(f"axis {axis!r} is out of range for a value of shape {node.shape}")
    axis = axis + nd if axis < 0 else axis
    if nd == 1:
        return g.total(node)
    if axis == 0:
        return g.matmul(g.const(np.ones(node.shape[0], dtype=int), label="ones"), node)
    return g.matmul(node, g.const(np.ones(node.shape[1], dtype=int), label="ones"))


# --------------------------------------------------------------------------- data


def mean_arity(fn: Callable[..., Any]) -> int:
    """1 for ``fn(x)``, 2 for ``fn(x, y)`` (parameters without defaults), else a TraceError."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError) as exc:
        raise TraceError("data.mean takes a function of (x) or of (x, y)") from exc
    nargs = len([p for p in params if p.default is inspect.Parameter.empty
                 and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
    if nargs not in (1, 2):
        raise TraceError("data.mean takes a function of (x) or of (x, y)")
    return nargs


class DataSurface:
    """What an algorithm may not do with its data (shared by traced and concrete runs)."""

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

    def __bool__(self) -> bool:
        return True

    def __hash__(self) -> int:
        return id(self)

    def __contains__(self, item: Any) -> bool:
        raise TraceError(_ORDER.format(what="testing membership in the samples"))


class TracedData(DataSurface):
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

    def number(self, value: Any) -> Fraction:
        """A Python number of the algorithm as an exact rational, under the float policy."""
        tracer = self._tracer
        arr = exact_array(value, tracer.float_constants, tracer.float_records)
        if arr.shape != ():
            raise TraceError(f"data.number takes one number, got shape {arr.shape}")
        return arr[()]


class Tracer:
    """Records the instructions of one algorithm (see the module docstring)."""

    def __init__(self, d: int, c: int, float_constants: str = "refuse") -> None:
        if float_constants not in FLOAT_CONSTANT_MODES:
            raise TraceError(f"float_constants must be one of "
                             f"{', '.join(FLOAT_CONSTANT_MODES)}, got {float_constants!r}")
        self.d = d
        self.c = c
        self.float_constants = float_constants
        self.float_records: list[tuple[float, Fraction]] = []
        self.x = g.data_x(d)
        self.y = g.data_y(c)
        self.instructions: list[Instruction] = []
        self._names: set[str] = set()
        self.in_mean = 0
        self.in_grad = 0

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

    def _emit(self, kind: str, name: str, body: Node, label: str = "",
              source: Node | None = None) -> Node:
        reg = Register(name, body.shape)
        self.instructions.append(Instruction(kind, reg, body, label, source=source))
        return g.reg(name, body.shape)

    def mean(self, fn: Callable[..., Any], name: str | None) -> Traced:
        nargs = mean_arity(fn)
        if self.in_mean:
            raise TraceError(NESTED_MEAN)
        if self.in_grad:
            raise TraceError("data.mean cannot be used inside the loss of lang.grad (a mean "
                             "is a register, not a function of w); call lang.grad inside "
                             "data.mean instead")
        xs = Traced(self.x, self)
        ys = Traced(self.y, self)
        self.in_mean += 1
        try:
            out = fn(xs, ys) if nargs == 2 else fn(xs)
        finally:
            self.in_mean -= 1
        phi = lift(out, self)
        if not phi.batched:
            return Traced(phi, self)
        if len(phi.shape) > 2:
            raise TraceError(f"a mean of shape {phi.shape}: values have at most two axes")
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
        return Traced(self._emit("read_labelled", base, body, "sum_c mean_i y_ic phi(u, x_i, e_c)",
                                 source=phi), self)

    def compute(self, value: Traced, name: str | None) -> Traced:
        if self.in_mean or self.in_grad:
            raise TraceError("data.keep cannot be used inside data.mean or lang.grad; keep the "
                             "value outside")
        node = lift(value, self)
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
    algorithm: Callable[..., Any], d: int, c: int, name: str = "", *,
    float_constants: str = "refuse", **options: Any
) -> Program:
    """Trace ``algorithm(data, **options)`` into a scheduled program.

    ``float_constants``: ``"refuse"`` (default) refuses every Python float with a sentence
    naming it; ``"exact"`` reads it by its shortest decimal (0.1 -> 1/10) and lists each
    conversion in ``program.float_constants``.
    """
    tracer = Tracer(d, c, float_constants)
    data = TracedData(tracer)
    token = _ACTIVE.set(tracer)
    try:
        out = algorithm(data, **options)
        node = lift(out, tracer)
    finally:
        _ACTIVE.reset(token)
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
                      dict(options), tracer.x, tracer.y,
                      float_constants=list(tracer.float_records))
    return schedule(program)
