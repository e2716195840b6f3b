"""Concrete execution: the user's algorithm run directly on the data, not traced.

:func:`execute` calls the *same* function the tracer traces, with a
:class:`ConcreteData` whose ``mean(fn)`` really averages ``fn(x_i, y_i)`` over the
samples, one sample at a time, and with :class:`Concrete` values that compute
numbers: exact rationals (object arrays of ``Fraction``) or float64. Its result is
``A(D)`` by the user's own code, so the trajectory theorem's T1 can be checked
against it instead of against the traced program's interpretation: a tracer defect
can no longer make "verified" mean another algorithm (issue 9, dual execution).

Semantics (the language's, stated once; the traced program computes the same):

* arithmetic, ``@``, indexing and slicing are NumPy's on arrays of at most two axes
  (integer indices bounds-checked, slices clamped); comparisons give 0/1 numbers;
* ``relu(0) = 0``, ``step(0) = 0``, ``sat(z) = min(1, max(0, z))``, ``where`` selects;
* division (``/``, ``lang.recip``) by 0 marks the entry *undefined* rather than failing
  at once (the value is the total reciprocal's 0). Elementwise operations keep undefined
  entries in place; an operation that moves or combines entries (indexing, slicing,
  sums, products, broadcasting from another shape) makes the whole value undefined
  ("mixed"). ``lang.where`` discards the branch it does not select: all of it for a
  scalar condition, entry by entry for a branch of the condition's shape (not what was
  mixed in). These are exactly the divisions the traced ``where`` can rewrite safely.
  An undefined value that reaches the result or a truth test is the error "the algorithm
  divided by exactly 0"; one that goes into a mean or ``data.keep`` (evaluated on its own,
  as the interpreter evaluates every read the result uses) is undefined for good;
* a Python float in an exact run is refused (``float_constants="refuse"``) or read by its
  shortest decimal (``"exact"``), exactly as the tracer does; ``tanh``, ``sigmoid``,
  ``exp``, ``log``, ``softmax`` and tanh/sigmoid networks are float-only;
* ``lang.forward`` and ``lang.loss_grad`` use the independent plain-NumPy network code of
  ``zoo.references`` (``mlp_forward``, hand-written backprop ``mlp_grad``) on one sample;
  ``lang.grad(fn, w)`` differentiates ``fn`` by the graph's reverse-mode AD
  (``graph.autodiff``) on constants: the loss is built as a graph in which every concrete
  value is a constant and ``w`` a placeholder, and evaluated exactly (or in float64).
  That is independent of the tracer and the compiler but shares ``graph.autodiff`` with
  them (the AD itself is checked by the step checker, which compares true GD with the
  lemmas' predictions).

The refusals of the data surface (``len(data)``, iterating or indexing the samples,
nested means, per-sample values leaking out of a mean) are the tracer's, with the same
sentences (:class:`~.tracer.TraceError`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import EXACT, NUMERIC, BackendError
from ..errors import UsageError
from ..graph import core as g
from ..networks.mlp import MLP
from .tracer import (
    _ACTIVE,
    HASH_REFUSAL,
    NESTED_MEAN,
    DataSurface,
    Traced,
    TraceError,
    Tracer,
    ValueSurface,
    broadcast_shape,
    exact_array,
    mean_arity,
    normalize_index,
)

__all__ = ["Concrete", "ConcreteData", "ConcreteError", "execute", "execute_with_record"]

_ZERO = Fraction(0)
_ONE = Fraction(1)
MIXED, HARD = 1, 2

DIVIDED_BY_ZERO = (
    "the algorithm divided by exactly 0 (for class means, as in ncm or diag_lda: a class "
    "with no sample); make sure every "
    "divisor is nonzero, e.g. every class occurs in the data, or discard that branch with "
    "lang.where(n > 0, s / n, 0)"
)
FLOAT_ONLY = (
    "'{op}' is float-only (it has no exact rational value); run it with the numeric backend "
    "(--backend numeric), or use relu, sat or step for an exact run"
)
WHERE_COND = (
    "lang.where needs a 0/1 condition such as a comparison (n > 0), lang.step(a) or their "
    "combination with & | ~; for a general value v use (v != 0)"
)


class ConcreteError(UsageError):
    """The algorithm, executed on the data, did something undefined (with the reason)."""


@dataclass
class _Run:
    exact: bool
    float_constants: str
    d: int
    c: int
    records: list[tuple[float, Fraction]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    in_mean: int = 0
    in_grad: int = 0
    #: ids of the graph constants made from undefined values (lang.grad's AD on constants)
    undefined_consts: set[int] = field(default_factory=set)


_RUN: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("symuni_concrete_run",
                                                                  default=None)


def active_run() -> _Run | None:
    """The concrete execution in progress, if any."""
    return _RUN.get()


def _run() -> _Run:
    run = _RUN.get()
    if run is None:
        raise TraceError("concrete values exist only inside concrete.execute")
    return run


def _arr(run: _Run, v: Any) -> np.ndarray:
    if run.exact:
        return np.asarray(v, dtype=object)
    return np.asarray(v, dtype=np.float64)


def _numbers(run: _Run, value: Any) -> np.ndarray:
    """A plain constant in the numbers of the run (Fractions, under the float policy)."""
    if run.exact:
        return exact_array(value, run.float_constants, run.records)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return np.asarray(value, dtype=np.float64)
    arr = exact_array(value, "exact", None)
    return np.asarray(arr, dtype=np.float64) if arr.size else np.zeros(arr.shape)


class Concrete(ValueSurface):
    """A concrete value: numbers, the mask of its undefined entries, per-sample or not."""

    __array_priority__ = 1000
    _symuni_value = True

    def __init__(self, val: Any, bad: Any = None, sample: bool = False,
                 mixed: int = 0) -> None:
        run = _run()
        self.val = _arr(run, val)
        self.bad = (np.zeros(self.val.shape, dtype=bool) if bad is None
                    else np.broadcast_to(np.asarray(bad, dtype=bool), self.val.shape).copy())
        self.sample = sample
        #: 0: undefined entries (if any) are in place; 1 (MIXED): an undefined entry was mixed
        #: into the whole value; 2 (HARD): a read or keep divided by 0 (nothing discards it)
        self.mixed = int(mixed)
        if self.val.ndim > 2:
            raise TraceError(f"values have at most two axes, got shape {self.val.shape}")

    # -- structure
    @property
    def shape(self) -> tuple[int, ...]:
        return self.val.shape

    @property
    def ndim(self) -> int:
        return self.val.ndim

    @property
    def size(self) -> int:
        return int(self.val.size)

    @property
    def undefined(self) -> bool:
        """Whether some division by 0 reached this value (in an entry or mixed in)."""
        return bool(self.mixed) or bool(self.bad.any())

    def as_constant_node(self) -> g.Node:
        """This value as an exact graph constant (for ``lang.grad``'s AD on constants).

        An undefined value is recorded: the gradient is undefined if it uses the constant.
        """
        run = _run()
        if run.exact:
            node = g.const(self.val)
        else:
            out = np.empty(self.val.shape, dtype=object)
            for idx, v in np.ndenumerate(self.val):
                out[idx] = Fraction(float(v))  # the float's exact binary value
            node = g.const(out)
        if self.undefined:
            run.undefined_consts.add(node.id)
        return node

    # -- arithmetic
    def _bin(self, op: str, o: Any, reflected: bool = False) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        b = as_concrete(o)
        a, b = (b, self) if reflected else (self, b)
        return _binary(op, a, b)

    def __add__(self, o: Any) -> Any:
        return self._bin("add", o)

    def __radd__(self, o: Any) -> Any:
        return self._bin("add", o, True)

    def __sub__(self, o: Any) -> Any:
        return self._bin("sub", o)

    def __rsub__(self, o: Any) -> Any:
        return self._bin("sub", o, True)

    def __mul__(self, o: Any) -> Any:
        return self._bin("mul", o)

    def __rmul__(self, o: Any) -> Any:
        return self._bin("mul", o, True)

    def __truediv__(self, o: Any) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        if not isinstance(o, Concrete):
            k = as_concrete(o)
            if any(v == 0 for v in k.val.flat):
                raise TraceError("division by the constant 0")
            return _binary("mul", self, unary("recip", k))
        return _binary("mul", self, unary("recip", o))

    def __rtruediv__(self, o: Any) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        return _binary("mul", as_concrete(o), unary("recip", self))

    def __neg__(self) -> Concrete:
        return Concrete(-self.val, self.bad, self.sample, self.mixed)

    def __pos__(self) -> Concrete:
        return self

    def __abs__(self) -> Concrete:
        return absolute(self)

    def __matmul__(self, o: Any) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        return matmul(self, as_concrete(o))

    def __rmatmul__(self, o: Any) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        return matmul(as_concrete(o), self)

    def __pow__(self, k: Any) -> Concrete:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
            raise TraceError(
                f"only non-negative integer powers are network-computable, got {k!r}; for "
                "1/a use lang.recip(a) or a division"
            )
        k = int(k)
        if _run().exact:
            val = _map(lambda v: v ** k, self.val)
        else:
            val = self.val ** k
        return Concrete(val, self.bad, self.sample, self.mixed)

    def __rpow__(self, base: Any) -> Any:
        raise TraceError("a power with a traced exponent is not network-computable; for "
                         "e**a use the float-only lang.exp(a)")

    # -- comparisons (0/1 numbers)
    def _cmp(self, op: str, o: Any) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        return compare(op, self, o)

    def __gt__(self, o: Any) -> Any:
        return self._cmp(">", o)

    def __ge__(self, o: Any) -> Any:
        return self._cmp(">=", o)

    def __lt__(self, o: Any) -> Any:
        return self._cmp("<", o)

    def __le__(self, o: Any) -> Any:
        return self._cmp("<=", o)

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return self._cmp("==", o)

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        return self._cmp("!=", o)

    # -- logic on 0/1 values
    def _logic(self, op: str, o: Any = None) -> Any:
        if isinstance(o, Traced):
            return NotImplemented
        a = self
        b = None if o is None else as_concrete(o)
        for v in (a, b):
            if v is not None and not all(e in (0, 1) for e in v.val.flat):
                raise TraceError(
                    "&, |, ~ and ^ need 0/1 values such as comparisons (a > b) or "
                    "lang.step(a); this operand is not 0/1"
                )
        if op == "not":
            return _binary("sub", as_concrete(1), a)
        assert b is not None
        ta, tb = a.val == 1, b.val == 1
        mask = {"and": ta & tb, "or": ta | tb, "xor": ta ^ tb}[op]
        bad, mixed = _positional(broadcast_shape(a.shape, b.shape), a, b)
        return _from_mask(mask, bad, a.sample or b.sample, mixed)

    def __and__(self, o: Any) -> Any:
        return self._logic("and", o)

    __rand__ = __and__

    def __or__(self, o: Any) -> Any:
        return self._logic("or", o)

    __ror__ = __or__

    def __xor__(self, o: Any) -> Any:
        return self._logic("xor", o)

    __rxor__ = __xor__

    def __invert__(self) -> Any:
        return self._logic("not")

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
    def T(self) -> Concrete:  # noqa: N802 (NumPy's name)
        if self.ndim < 2:
            return self
        return Concrete(self.val.T, None, self.sample, _mixed(self))

    def sum(self, axis: int | None = None) -> Concrete:
        if self.shape == ():
            return self
        if axis is not None:
            if not isinstance(axis, int) or not -self.ndim <= axis < self.ndim:
                raise TraceError(f"axis {axis!r} is out of range for a value of shape "
                                 f"{self.shape}")
        return Concrete(np.sum(self.val, axis=axis), None, self.sample, _mixed(self))

    def mean(self, axis: int | None = None) -> Concrete:
        s = self.sum(axis)
        n = self.size if axis is None else self.shape[axis]
        return _binary("mul", s, as_concrete(Fraction(1, n)))

    def dot(self, o: Any) -> Any:
        from . import lang

        return lang.apply_function(np.dot, (self, o), {})

    def max(self) -> Concrete:
        if self.shape == ():
            return self
        return Concrete(np.max(self.val), None, self.sample, _mixed(self))

    def min(self) -> Concrete:
        if self.shape == ():
            return self
        return Concrete(np.min(self.val), None, self.sample, _mixed(self))

    def reshape(self, *shape: Any) -> Concrete:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            val = self.val.reshape(shape)
        except ValueError as exc:
            raise TraceError(f"cannot reshape {self.shape} into {shape}") from exc
        if val.shape == self.shape:
            return self
        return Concrete(val, None, self.sample, _mixed(self))

    def flatten(self) -> Concrete:
        if self.ndim == 1:
            return self
        return Concrete(self.val.reshape(-1), None, self.sample, _mixed(self))

    ravel = flatten

    def __getitem__(self, key: Any) -> Concrete:
        norm, flat, out_shape = normalize_index(key, self.shape)
        if out_shape == self.shape and flat == list(range(self.size)):
            return self  # the identity selection (the graph adds no node)
        return Concrete(self.val[norm], None, self.sample, _mixed(self))

    # -- plain Python on numbers
    def _one_number(self, what: str) -> Any:
        if self.undefined:
            raise ConcreteError(DIVIDED_BY_ZERO)
        if self.size != 1:
            raise TraceError(f"{what} of a value with {self.size} entries is ambiguous")
        return self.val.reshape(-1)[0]

    def __bool__(self) -> bool:
        return bool(self._one_number("the truth value") != 0)

    def __float__(self) -> float:
        return float(self._one_number("float()"))

    def __int__(self) -> int:
        return int(self._one_number("int()"))

    def __index__(self) -> int:
        v = self._one_number("an index")
        if v != int(v):
            raise TypeError(f"{v} is not an integer")
        return int(v)

    def __hash__(self) -> int:
        raise TraceError(HASH_REFUSAL)

    def __iter__(self) -> Iterator[Concrete]:
        if self.shape == ():
            raise TraceError("a traced scalar cannot be iterated over")
        return iter([self[i] for i in range(self.shape[0])])

    def __copy__(self) -> Concrete:
        return self

    def __deepcopy__(self, memo: Any) -> Concrete:
        return self

    def __repr__(self) -> str:
        return f"Concrete({self.val!r})"


def as_concrete(value: Any) -> Concrete:
    """A concrete value of the run for a concrete value or a plain constant."""
    if isinstance(value, Concrete):
        return value
    if isinstance(value, Traced):
        raise TraceError("a traced value met a concrete execution; trace and execute the "
                         "algorithm separately")
    return Concrete(_numbers(_run(), value))


def _map(fn: Callable[[Any], Any], a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = fn(v)
    return out


def _positional(shape: tuple[int, ...], *ops: Concrete) -> tuple[np.ndarray, bool]:
    """Undefined entries of an elementwise result: an operand of the result's shape keeps
    its entries in place; one broadcast from another shape mixes them in (see ``where``)."""
    bad = np.zeros(shape, dtype=bool)
    mixed = 0
    for o in ops:
        mixed = max(mixed, o.mixed)
        if o.shape == shape:
            bad = bad | o.bad
        elif o.bad.any():
            mixed = max(mixed, MIXED)
    return bad, mixed


def _mixed(*ops: Concrete) -> int:
    """After an operation that moves or combines entries, any undefined entry is mixed in."""
    return max([o.mixed for o in ops] + [MIXED if o.bad.any() else 0 for o in ops])


def _from_mask(mask: Any, bad: Any, sample: bool, mixed: int = 0) -> Concrete:
    run = _run()
    mask = np.asarray(mask, dtype=bool)
    if run.exact:
        val = _map(lambda m: _ONE if m else _ZERO, mask)
    else:
        val = mask.astype(np.float64)
    return Concrete(val, bad, sample, mixed)


def _binary(op: str, a: Concrete, b: Concrete) -> Concrete:
    shape = broadcast_shape(a.shape, b.shape)
    if op == "add":
        val = a.val + b.val
    elif op == "sub":
        val = a.val - b.val
    else:
        val = a.val * b.val
    bad, mixed = _positional(shape, a, b)
    return Concrete(val, bad, a.sample or b.sample, mixed)


def compare(op: str, a: Any, b: Any) -> Concrete:
    """``a op b`` as 0/1 numbers (entries compared exactly)."""
    a, b = as_concrete(a), as_concrete(b)
    shape = broadcast_shape(a.shape, b.shape)
    va, vb = a.val, b.val
    mask = {">": va > vb, ">=": va >= vb, "<": va < vb, "<=": va <= vb,
            "==": va == vb, "!=": va != vb}[op]
    bad, mixed = _positional(shape, a, b)
    return _from_mask(mask, bad, a.sample or b.sample, mixed)


def truthy(a: Any) -> Concrete:
    """NumPy's truth of each entry (nonzero) as 0/1."""
    return compare("!=", a, 0)


def matmul(a: Concrete, b: Concrete) -> Concrete:
    sa, sb = a.shape, b.shape
    if len(sa) not in (1, 2) or len(sb) not in (1, 2):
        raise TraceError(f"matmul needs 1-D or 2-D operands, got {sa} and {sb}")
    if sa[-1] != sb[0]:
        raise TraceError(f"matmul: inner dimensions differ ({sa} @ {sb})")
    return Concrete(a.val @ b.val, None, a.sample or b.sample, _mixed(a, b))


def _relu(v: Any) -> Any:
    return v if v > 0 else _ZERO


def unary(op: str, a: Any) -> Concrete:
    """An elementwise lang operation on a concrete value (conventions of the module)."""
    a = as_concrete(a)
    run = _run()
    v, bad = a.val, a.bad
    if op == "recip":
        zero = v == 0
        if run.exact:
            val = _map(lambda e: 1 / e if e != 0 else _ZERO, v)
        else:
            val = np.where(zero, 0.0, 1.0 / np.where(zero, 1.0, v))
        return Concrete(val, bad | zero, a.sample, a.mixed)
    if run.exact:
        if op == "relu":
            val = _map(_relu, v)
        elif op == "step":
            val = _map(lambda e: _ONE if e > 0 else _ZERO, v)
        elif op == "sat":
            val = _map(lambda e: _ZERO if e <= 0 else (_ONE if e >= 1 else e), v)
        else:
            raise ConcreteError(FLOAT_ONLY.format(op=op))
        return Concrete(val, bad, a.sample, a.mixed)
    if op == "relu":
        val = np.maximum(v, 0.0)
    elif op == "step":
        val = (v > 0).astype(np.float64)
    elif op == "sat":
        val = np.minimum(np.maximum(v, 0.0), 1.0)
    elif op == "tanh":
        val = np.tanh(v)
    elif op == "sigmoid":
        val = 1.0 / (1.0 + np.exp(-v))
    elif op == "exp":
        val = np.exp(v)
    elif op == "log":
        val = np.log(v)
    else:
        raise TraceError(f"unknown elementwise operation {op!r}")
    return Concrete(val, bad, a.sample, a.mixed)


def softmax(a: Any) -> Concrete:
    a = as_concrete(a)
    if _run().exact:
        raise ConcreteError(FLOAT_ONLY.format(op="softmax"))
    e = np.exp(a.val - np.max(a.val))
    return Concrete(e / np.sum(e), None, a.sample, _mixed(a))


def absolute(a: Any) -> Concrete:
    a = as_concrete(a)
    return Concrete(_map(abs, a.val) if _run().exact else np.abs(a.val), a.bad, a.sample,
                    a.mixed)


def sign(a: Any) -> Concrete:
    a = as_concrete(a)
    if _run().exact:
        val = _map(lambda e: _ONE if e > 0 else (-_ONE if e < 0 else _ZERO), a.val)
    else:
        val = np.sign(a.val)
    return Concrete(val, a.bad, a.sample, a.mixed)


def maximum(a: Any, b: Any) -> Concrete:
    """Elementwise ``max(a, b)`` (both operands' undefined entries count: ``a + relu(b - a)``)."""
    a, b = as_concrete(a), as_concrete(b)
    shape = broadcast_shape(a.shape, b.shape)
    bad, mixed = _positional(shape, a, b)
    return Concrete(np.where(b.val > a.val, b.val, a.val), bad, a.sample or b.sample, mixed)


def minimum(a: Any, b: Any) -> Concrete:
    """Elementwise ``min(a, b)`` (both operands' undefined entries count: ``a - relu(a - b)``)."""
    a, b = as_concrete(a), as_concrete(b)
    shape = broadcast_shape(a.shape, b.shape)
    bad, mixed = _positional(shape, a, b)
    return Concrete(np.where(b.val < a.val, b.val, a.val), bad, a.sample or b.sample, mixed)


def where(cond: Any, a: Any, b: Any) -> Concrete:
    """Select ``a`` where ``cond`` is 1 and ``b`` where it is 0.

    The branch not selected is discarded with its undefined entries: all of it for a
    scalar ``cond``; entry by entry for a branch of ``cond``'s shape, except what an
    operation moving or combining entries mixed in, which stays undefined (exactly the
    divisions the traced ``lang.where`` can rewrite, see its docstring).
    """
    cond, a, b = as_concrete(cond), as_concrete(a), as_concrete(b)
    if not all(e in (0, 1) for e in cond.val.flat):
        raise TraceError(WHERE_COND)
    shape = broadcast_shape(cond.shape, a.shape, b.shape)
    take = cond.val == 1
    val = np.where(np.broadcast_to(take, shape), a.val, b.val)
    bad, mixed = _positional(shape, cond)
    for branch, keep in ((a, take), (b, ~take)):
        if cond.shape == ():
            if not keep:  # discarded whole, except a read's division by 0
                mixed = max(mixed, HARD if branch.mixed == HARD else 0)
                continue
            part, part_mixed = _positional(shape, branch)
        elif branch.shape == cond.shape:
            remaining = branch.bad & keep
            part = remaining if branch.shape == shape else np.zeros(shape, dtype=bool)
            part_mixed = max(branch.mixed,
                             MIXED if branch.shape != shape and remaining.any() else 0)
        else:
            part, part_mixed = np.zeros(shape, dtype=bool), _mixed(branch)
        bad = bad | part
        mixed = max(mixed, part_mixed)
    return Concrete(val, bad, cond.sample or a.sample or b.sample, mixed)


def outer(a: Any, b: Any) -> Concrete:
    a, b = as_concrete(a), as_concrete(b)
    if a.ndim != 1 or b.ndim != 1:
        raise TraceError(f"outer needs two vectors, got {a.shape} and {b.shape}")
    return Concrete(np.multiply.outer(a.val, b.val), None, a.sample or b.sample, _mixed(a, b))


def dot(a: Any, b: Any) -> Concrete:
    a, b = as_concrete(a), as_concrete(b)
    if a.shape != b.shape:
        raise TraceError(f"inner product of shapes {a.shape} and {b.shape}")
    return Concrete(np.sum(a.val * b.val), None, a.sample or b.sample, _mixed(a, b))


def concat(parts: Sequence[Any]) -> Concrete:
    cs = [as_concrete(p) for p in parts]
    if len(cs) == 1 and cs[0].ndim == 1:
        return cs[0]
    val = np.concatenate([c.val.reshape(-1) for c in cs])
    return Concrete(val, None, any(c.sample for c in cs), _mixed(*cs))


def _net_args(net: MLP, w: Concrete, x: Concrete) -> None:
    if w.shape != (net.n_params,):
        raise TraceError(f"weights of shape {w.shape}, expected ({net.n_params},)")
    if x.shape != (net.d,):
        raise TraceError(f"matmul: inner dimensions differ (network input {net.d}, x of "
                         f"shape {x.shape})")
    deep = len(getattr(net, "sizes", ())) > 2
    if _run().exact and net.activation in ("tanh", "sigmoid") and deep:
        raise ConcreteError(FLOAT_ONLY.format(op=net.activation))


def forward(net: MLP, w: Any, x: Any) -> Concrete:
    """``f(x; w)`` by the plain-NumPy network of ``zoo.references`` (one sample)."""
    from ..zoo import references as ref

    w, x = as_concrete(w), as_concrete(x)
    _net_args(net, w, x)
    if hasattr(net, "sizes"):
        out = ref.mlp_forward(list(net.sizes), _ref_act(net), w.val, x.val[None, :],
                              bias=net.bias)[0]
    else:  # any other base network (networks.cnn.ConvNet)
        out = ref.network_forward(net, w.val, x.val[None, :])[0]
    return Concrete(out, None, w.sample or x.sample, _mixed(w, x))


def loss_grad(net: MLP, w: Any, x: Any, y: Any) -> Concrete:
    """Gradient of ``1/2 |f(x; w) - y|^2`` by the hand-written backprop of ``zoo.references``."""
    from ..zoo import references as ref

    w, x, y = as_concrete(w), as_concrete(x), as_concrete(y)
    _net_args(net, w, x)
    if y.shape != (net.c,):
        raise TraceError(f"labels of shape {y.shape}, expected ({net.c},)")
    if hasattr(net, "sizes"):
        out = ref.mlp_grad(list(net.sizes), _ref_act(net), w.val, x.val[None, :],
                           y.val[None, :], bias=net.bias)
    else:  # any other base network (networks.cnn.ConvNet)
        out = ref.network_grad(net, w.val, x.val[None, :], y.val[None, :])
    return Concrete(out, None, w.sample or x.sample or y.sample, _mixed(w, x, y))


def _ref_act(net: MLP) -> str:
    return "identity" if len(net.sizes) == 2 else net.activation


def grad(fn: Callable[[Any], Any], w: Any) -> Concrete:
    """``d fn(v)/dv`` at ``w`` by the graph's reverse-mode AD on constants (module docstring)."""
    from ..graph.evaluate import evaluate
    from . import lang

    run = _run()
    w = as_concrete(w)
    if run.in_grad:
        raise TraceError("lang.grad cannot be nested (no second derivatives); differentiate "
                         "one loss at a time")
    tracer = Tracer(run.d, run.c, run.float_constants if run.exact else "exact")
    token = _ACTIVE.set(tracer)
    run.in_grad += 1
    try:
        node = lang.gradient_node(fn, w.as_constant_node(), tracer)
    finally:
        run.in_grad -= 1
        _ACTIVE.reset(token)
    if run.exact:
        run.records.extend(tracer.float_records)
    if any(n.batched for n in g.topological([node])):
        raise TraceError("lang.grad's loss used the data directly; pass the sample through "
                         "the enclosing data.mean")
    backend = EXACT if run.exact else NUMERIC
    # undefined if the gradient uses an undefined value or divides by 0 (as the traced
    # gradient graph would, evaluated strictly where the result is used)
    mixed = MIXED if any(n.id in run.undefined_consts for n in g.topological([node])) else 0
    try:
        (val,) = evaluate([node], backend, {}, strict=True)
    except BackendError as exc:
        if "divided by exactly 0" not in str(exc):
            raise ConcreteError(str(exc)) from exc
        (val,) = evaluate([node], backend, {}, strict=False)
        mixed = MIXED
    return Concrete(val, None, True if run.in_mean else w.sample, mixed)


# --------------------------------------------------------------------------- data


class ConcreteData(DataSurface):
    """The data set as the algorithm sees it in a concrete run (the surface of TracedData)."""

    def __init__(self, run: _Run, x: np.ndarray, y: np.ndarray) -> None:
        self._run = run
        self._x = x
        self._y = y

    @property
    def d(self) -> int:
        return self._run.d

    @property
    def c(self) -> int:
        return self._run.c

    def _name(self, name: str | None) -> None:
        if name is not None:
            if name in self._run.names:
                raise TraceError(f"register name {name!r} is used twice; registers are SSA")
            self._run.names.add(name)

    def mean(self, fn: Callable[..., Any], name: str | None = None) -> Concrete:
        """``mean_i fn(x_i, y_i)`` (or ``fn(x_i)``), one sample at a time."""
        run = self._run
        nargs = mean_arity(fn)
        if run.in_mean:
            raise TraceError(NESTED_MEAN)
        if run.in_grad:
            raise TraceError("data.mean cannot be used inside the loss of lang.grad (a mean "
                             "is a register, not a function of w); call lang.grad inside "
                             "data.mean instead")
        self._name(name)
        n = self._x.shape[0]
        total: Any = None
        undefined = False
        depends = False
        first: Concrete | None = None
        run.in_mean += 1
        try:
            for i in range(n):
                xi = Concrete(self._x[i], sample=True)
                yi = Concrete(self._y[i], sample=True)
                out = as_concrete(fn(xi, yi) if nargs == 2 else fn(xi))
                if first is None:
                    first = out
                elif out.shape != first.shape:
                    raise TraceError(f"data.mean's function returned shapes {first.shape} and "
                                     f"{out.shape} for different samples")
                depends = depends or out.sample
                total = out.val if total is None else total + out.val
                undefined = undefined or out.undefined
        finally:
            run.in_mean -= 1
        assert first is not None
        if not depends:
            return first  # a constant's mean is the constant (no read: nothing is evaluated)
        val = total * Fraction(1, n) if run.exact else total / n
        # a read is evaluated on its own: nothing after it discards its division by 0 (an
        # error once the value is used, as the interpreter evaluates only used reads)
        return Concrete(val, None, False, HARD if undefined else 0)

    def const(self, value: Any, label: str = "") -> Concrete:
        """A data-independent constant of the algorithm."""
        return as_concrete(value)

    def keep(self, value: Any, name: str | None = None) -> Concrete:
        """Store a value (the identity on numbers; refusals as the tracer's)."""
        if self._run.in_mean or self._run.in_grad:
            raise TraceError("data.keep cannot be used inside data.mean or lang.grad; keep the "
                             "value outside")
        self._name(name)
        v = as_concrete(value)
        _check_not_per_sample(v, "data.keep")
        return Concrete(v.val, None, False, HARD if v.undefined else 0)

    def number(self, value: Any) -> Any:
        """A Python number of the algorithm in the run's numbers, under the float policy."""
        arr = _numbers(self._run, value)
        if arr.shape != ():
            raise TraceError(f"data.number takes one number, got shape {arr.shape}")
        return arr[()]


def _check_not_per_sample(v: Concrete, where: str) -> None:
    if v.sample:
        raise TraceError(
            f"{where} received a per-sample value (it depends on x or y outside data.mean); "
            "wrap the per-sample part in data.mean(lambda x, y: ...)"
        )


def _data(x: Any, y: Any, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    if exact:
        try:
            xa, ya = exact_array(x, "refuse"), exact_array(y, "refuse")
        except TraceError as exc:
            raise ConcreteError(f"an exact execution needs rational data: {exc}") from exc
    else:
        xa = np.asarray(exact_array(x, "exact") if np.asarray(x).dtype == object else x,
                        dtype=np.float64)
        ya = np.asarray(exact_array(y, "exact") if np.asarray(y).dtype == object else y,
                        dtype=np.float64)
    if xa.ndim != 2 or ya.ndim != 2 or xa.shape[0] != ya.shape[0]:
        raise ConcreteError(f"data must be x of shape (n, d) and one-hot y of shape (n, c) "
                            f"with the same n, got {xa.shape} and {ya.shape}")
    if xa.shape[0] == 0:
        raise ConcreteError("the data set has no samples")
    return xa, ya


def execute_with_record(
    algorithm: Callable[..., Any], x: np.ndarray, y: np.ndarray, *, exact: bool = True,
    float_constants: str = "refuse", **options: Any
) -> tuple[np.ndarray, list[tuple[float, Fraction]]]:
    """:func:`execute`, also returning the floats read as exact rationals ``(float, Fraction)``."""
    xa, ya = _data(x, y, exact)
    exact_array(0, float_constants)  # validates the mode
    run = _Run(exact, float_constants, int(xa.shape[1]), int(ya.shape[1]))
    token = _RUN.set(run)
    try:
        data = ConcreteData(run, xa, ya)
        out = as_concrete(algorithm(data, **options))
        _check_not_per_sample(out, "the algorithm's result")
        if out.undefined:
            raise ConcreteError(DIVIDED_BY_ZERO)
        flat = out.val.reshape(-1)
    finally:
        _RUN.reset(token)
    if exact:
        res = np.empty(flat.shape, dtype=object)
        res[:] = [Fraction(v) for v in flat]
        return res, list(run.records)
    return np.asarray(flat, dtype=np.float64), list(run.records)


def execute(
    algorithm: Callable[..., Any], x: np.ndarray, y: np.ndarray, *, exact: bool = True,
    float_constants: str = "refuse", **options: Any
) -> np.ndarray:
    """``A(D)`` by running ``algorithm(data, **options)`` directly on the data ``(x, y)``.

    ``x``: shape ``(n, d)``, ``y``: one-hot rows ``(n, c)``. ``exact=True``: object arrays
    of ``Fraction`` (floats in the data refused); ``exact=False``: float64. Returns the
    result flattened to 1-D (Fractions when exact, float64 otherwise). ``float_constants``
    as in :func:`~.tracer.trace`. Raises :class:`~.tracer.TraceError` for what the tracer
    refuses on the data surface and :class:`ConcreteError` for an undefined computation
    (a division by 0 that reaches the result).
    """
    return execute_with_record(algorithm, x, y, exact=exact, float_constants=float_constants,
                               **options)[0]
