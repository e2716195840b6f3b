"""Scalar backends for the graph evaluator: exact rationals and float64.

Every backend represents a tensor as a NumPy array: ``dtype=object`` holding
``fractions.Fraction`` for the exact backend (never a float), ``float64`` for the
numeric one. The linear algebra (``+``, ``*``, ``@``, sums) is NumPy's on both;
a backend supplies only the elementwise nonlinearities and conversions.

Derivative conventions (stated once, used everywhere; see ``networks.activations``):
``step(z) = 1 if z > 0 else 0`` (Heaviside with ``H(0) = 0``), so ``relu'(0) = 0``;
``dsat(z) = 1 if 0 < z < 1 else 0`` is the derivative of ``sat(z) = min(1, max(0, z))``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np


class BackendError(ValueError):
    """An operation the backend cannot carry out exactly (with the reason)."""


class Backend:
    """Interface of a scalar backend (see the module docstring)."""

    name = "abstract"
    exact = False
    #: ``asarray`` of a constant is a pure function of its value, so the evaluator may
    #: convert each constant once and share the (read-only) result between evaluations.
    cache_constants = False

    def asarray(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def bind(self, value: Any) -> np.ndarray:
        """A leaf binding in the backend's arrays (arrays are taken as they are by default)."""
        return value if isinstance(value, np.ndarray) else self.asarray(value)

    def data(self, value: np.ndarray | None) -> np.ndarray | None:
        """The inputs or labels in the backend's arrays (as given by default)."""
        return value

    def export(self, value: Any) -> Any:
        """A value handed back by the evaluator (as computed by default)."""
        return value

    def export_zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        """``export(zeros(shape))``, the value handed back for a pruned zero."""
        return self.export(self.zeros(shape))

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for a matrix ``a`` and a matrix or vector ``b`` (NumPy's by default)."""
        return np.asarray(a @ b)

    def scalar(self, value: Fraction | int) -> Any:
        raise NotImplementedError

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def is_zero(self, arr: np.ndarray) -> bool:
        raise NotImplementedError

    def rows(self, op: str, a: np.ndarray) -> np.ndarray:
        """``softmax`` or ``logsumexp`` over the last (class) axis of ``a``.

        Exactly (this default): a row whose entries are all equal has ``softmax = 1/c``
        (lemma *read*, cross-entropy case: ``softmax(0) = 1/c``); any other row goes through
        the backend's ``exp``, which an exact rational backend refuses (irrational).
        """
        arr = np.asarray(a, dtype=object)
        c = arr.shape[-1]
        flat = arr.reshape(-1, c)
        if op == "softmax":
            out = np.empty(flat.shape, dtype=object)
        elif op == "logsumexp":
            out = np.empty((flat.shape[0],), dtype=object)
        else:
            raise BackendError(f"unknown row operation {op!r}")
        for i, row in enumerate(flat):
            if all(bool(v == row[0]) for v in row[1:]):
                if op == "softmax":
                    out[i, :] = [self.scalar(Fraction(1, c))] * c
                    continue
                if c == 1:
                    out[i] = row[0]
                    continue
            e = self.unary("exp", np.asarray(row, dtype=object))
            total = e[0]
            for v in e[1:]:
                total = total + v
            if op == "softmax":
                out[i, :] = [v / total for v in e]
            else:
                out[i] = self.unary("log", np.asarray([total], dtype=object))[0]
        return out.reshape(arr.shape if op == "softmax" else arr.shape[:-1])

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        raise NotImplementedError


def _map(fn: Any, a: np.ndarray) -> np.ndarray:
    out = np.empty(np.shape(a), dtype=object)
    for idx, v in np.ndenumerate(np.asarray(a, dtype=object)):
        out[idx] = fn(v)
    return out


_ZERO = Fraction(0)
_ONE = Fraction(1)


RECIP_ZERO = (
    "the algorithm divided by exactly 0 (for class means, as in ncm or diag_lda: a class "
    "with no sample); "
    "make sure every class occurs in the data (a larger --samples for verify, a larger "
    "--symbolic n= for prove)"
)


#: the exact backends' refusal of exp/log off their rational points
IRRATIONAL = ("'{op}' is float-only here: {op}({v}) is irrational (exp(q) is rational only "
              "at q = 0 and log(q) only at q = 1, Lindemann); the exact run stops here: use "
              "--backend numeric, or check this step in float (with --loss ce the step after "
              "K is checked in float64)")


class IrrationalError(BackendError):
    """An exact backend was asked for exp or log at a point where the value is irrational."""


def exact_exp_log(op: str, v: Any, zero: Any, one: Any) -> Any:
    """``exp(0) = 1`` and ``log(1) = 0`` exactly; any other rational argument is refused.

    This is what lets the cross-entropy construction run exactly up to step ``K``: before
    ``K`` every ``F_main`` entry is exactly 0 (lemma *isolation*), so ``softmax(0) = 1/c``
    is exact (lemma *read*, cross-entropy case).
    """
    if op == "exp" and v == 0:
        return one
    if op == "log" and v == 1:
        return zero
    raise IrrationalError(IRRATIONAL.format(op=op, v=v))


def _exact_recip(v: Fraction) -> Fraction:
    # the reciprocal unit is total: 1/0 := 0 (so F is defined at theta_0, where registers are 0)
    return 1 / v if v != 0 else _ZERO


class ExactBackend(Backend):
    """Exact rational arithmetic: object arrays of ``Fraction``."""

    name = "exact"
    exact = True
    cache_constants = True

    def asarray(self, value: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=object)
        return _map(_to_fraction, arr)

    def scalar(self, value: Fraction | int) -> Fraction:
        return Fraction(value)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(_ZERO)
        return out

    def is_zero(self, arr: np.ndarray) -> bool:
        return all(v == 0 for v in np.asarray(arr, dtype=object).flat)

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        if op == "relu":
            return _map(lambda v: v if v > 0 else _ZERO, a)
        if op == "step":
            return _map(lambda v: _ONE if v > 0 else _ZERO, a)
        if op == "sat":
            return _map(lambda v: _ZERO if v <= 0 else (_ONE if v >= 1 else v), a)
        if op == "dsat":
            return _map(lambda v: _ONE if 0 < v < 1 else _ZERO, a)
        if op == "recip":
            if attrs.get("strict") and any(v == 0 for v in np.asarray(a).flat):
                raise BackendError(RECIP_ZERO)
            return _map(_exact_recip, a)
        if op == "pow":
            k = attrs["k"]
            return _map(lambda v: v**k, a)
        if op in ("exp", "log"):
            return _map(lambda v: exact_exp_log(op, v, _ZERO, _ONE), a)
        raise BackendError(
            f"'{op}' is float-only (it has no exact rational value); run it with the numeric "
            "backend (--backend numeric), or use relu, sat or step for an exact run"
        )


def _to_fraction(v: Any) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    if isinstance(v, str):
        return Fraction(v)
    raise BackendError(f"the exact backend takes only rationals, got {v!r} ({type(v).__name__})")


def float_rows(op: str, a: np.ndarray) -> np.ndarray:
    """``softmax`` or ``logsumexp`` over the last axis in float64, with the row maximum
    subtracted first (no overflow for any finite logits)."""
    m = np.max(a, axis=-1, keepdims=True)
    e = np.exp(a - m)
    total = e.sum(axis=-1, keepdims=True)
    if op == "softmax":
        return e / total
    if op == "logsumexp":
        return (np.log(total) + m)[..., 0]
    raise BackendError(f"unknown row operation {op!r}")


class FloatBackend(Backend):
    """IEEE float64 arithmetic on NumPy arrays."""

    name = "numeric"
    exact = False
    cache_constants = True

    def asarray(self, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype == object:
            return np.array([float(v) for v in arr.flat], dtype=np.float64).reshape(arr.shape)
        return arr.astype(np.float64, copy=False)

    def scalar(self, value: Fraction | int) -> float:
        return float(value)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=np.float64)

    def is_zero(self, arr: np.ndarray) -> bool:
        return not np.any(arr)

    def rows(self, op: str, a: np.ndarray) -> np.ndarray:
        """Stable ``softmax``/``logsumexp`` over the last axis (the row maximum first)."""
        return float_rows(op, np.asarray(a, dtype=np.float64))

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        if op in ("softmax", "logsumexp"):
            return float_rows(op, np.asarray(a, dtype=np.float64))
        a = np.asarray(a, dtype=np.float64)
        if op == "relu":
            return np.where(a > 0, a, 0.0)
        if op == "step":
            return (a > 0).astype(np.float64)
        if op == "sat":
            return np.clip(a, 0.0, 1.0)
        if op == "dsat":
            return ((a > 0) & (a < 1)).astype(np.float64)
        if op == "recip":
            if attrs.get("strict") and np.any(a == 0):
                raise BackendError(RECIP_ZERO)
            safe = np.where(a == 0, 1.0, a)
            return np.where(a == 0, 0.0, 1.0 / safe)
        if op == "pow":
            return a ** attrs["k"]
        if op == "tanh":
            return np.tanh(a)
        if op == "dtanh":
            return 1.0 - np.tanh(a) ** 2
        if op == "sigmoid":
            return 0.5 * (1.0 + np.tanh(0.5 * a))
        if op == "dsigmoid":
            s = 0.5 * (1.0 + np.tanh(0.5 * a))
            return s * (1.0 - s)
        if op == "exp":
            return np.exp(a)
        if op == "log":
            return np.log(a)
        raise BackendError(f"unknown elementwise operation {op!r}")


EXACT = ExactBackend()
NUMERIC = FloatBackend()

__all__ = ["Backend", "BackendError", "ExactBackend", "FloatBackend", "EXACT", "NUMERIC"]
