"""The FLINT exact backend: the same rationals as :class:`~.scalars.ExactBackend`, faster.

Values inside the evaluator are NumPy object arrays of python-flint ``fmpq`` (exact
rationals in C, canonical form ``p/q`` with ``q > 0`` and ``gcd(p, q) = 1``, like
``fractions.Fraction``); matrix products of object arrays go through ``fmpq_mat``
(FLINT's rational matrix product) instead of NumPy's object loop. At the boundary the
backend speaks Fractions: bindings, data and constants given as Fractions are converted
in, and every value handed back by the evaluator is converted out (:meth:`export`), so a
caller sees exactly the numbers of the Fraction backend, bit for bit. The Fraction
backend stays the reference this one is tested against (``tests/test_flint.py``).

Rational arithmetic is exact and canonical on both backends, so every operation yields
the same rational number whichever backend computes it; the conventions of
``backends.scalars`` (``step(0) = 0``, ``dsat``, ``recip(0) := 0``) are the same.

python-flint is a core dependency, but the import is guarded: :data:`AVAILABLE` says
whether it could be imported, and :func:`exact_backend` falls back to Fractions with the
reason when it cannot.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .scalars import EXACT, RECIP_ZERO, Backend, BackendError, exact_exp_log

try:  # pragma: no cover - exercised by whichever environment runs the tests
    import flint as _flint

    AVAILABLE = True
    IMPORT_ERROR = ""
except ImportError as exc:  # pragma: no cover
    _flint = None
    AVAILABLE = False
    IMPORT_ERROR = f"python-flint is not importable ({exc}); exact arithmetic uses Fractions"

#: Below this many multiply-adds a product stays a NumPy object product (no conversion).
MAT_MIN_WORK = 64

EXACT_BACKENDS = ("flint", "fraction")


def _to_fmpq(v: Any) -> Any:
    if isinstance(v, Fraction):
        return _flint.fmpq(v.numerator, v.denominator)
    if _flint is not None and isinstance(v, _flint.fmpq):
        return v
    if isinstance(v, bool):
        return _flint.fmpq(int(v))
    if isinstance(v, (int, np.integer)):
        return _flint.fmpq(int(v))
    if _flint is not None and isinstance(v, _flint.fmpz):
        return _flint.fmpq(v)
    if isinstance(v, str):
        f = Fraction(v)
        return _flint.fmpq(f.numerator, f.denominator)
    raise BackendError(f"the exact backend takes only rationals, got {v!r} ({type(v).__name__})")


def to_fraction(v: Any) -> Fraction:
    """An ``fmpq`` (or an int, a Fraction) as a ``fractions.Fraction``."""
    if isinstance(v, Fraction):
        return v
    if _flint is not None and isinstance(v, _flint.fmpq):
        return Fraction(int(v.p), int(v.q))
    return Fraction(int(v))


def _map(fn: Any, a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    if arr.size:
        out.reshape(-1)[:] = [fn(v) for v in arr.reshape(-1)]
    return out


class FlintBackend(Backend):
    """Exact rationals on python-flint (see the module docstring)."""

    name = "exact"
    exact = True
    cache_constants = True
    arithmetic = "flint"

    def __init__(self) -> None:
        if not AVAILABLE:
            raise BackendError(IMPORT_ERROR)
        self._zero = _flint.fmpq(0)
        self._one = _flint.fmpq(1)

    # ------------------------------------------------------------ conversions

    def asarray(self, value: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        if arr.size:
            fmpq, frac = _flint.fmpq, Fraction
            out.reshape(-1)[:] = [fmpq(v.numerator, v.denominator) if type(v) is frac
                                  else _to_fmpq(v) for v in arr.reshape(-1)]
        return out

    def bind(self, value: Any) -> np.ndarray:
        return self.asarray(value)

    def data(self, value: np.ndarray | None) -> np.ndarray | None:
        return None if value is None else self.asarray(value)

    def export(self, value: Any) -> Any:
        if not isinstance(value, np.ndarray):
            return to_fraction(value)
        return _map(to_fraction, value)

    def export_zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(Fraction(0))
        return out

    def scalar(self, value: Fraction | int) -> Any:
        return _to_fmpq(Fraction(value))

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(self._zero)
        return out

    def is_zero(self, arr: np.ndarray) -> bool:
        return all(v == 0 for v in np.asarray(arr, dtype=object).flat)

    # ----------------------------------------------------------------- products

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for a matrix ``a`` and a matrix or vector ``b``, by ``fmpq_mat``."""
        if a.ndim != 2 or b.ndim not in (1, 2) or a.dtype != object or b.dtype != object:
            return np.asarray(a @ b)
        m, k = a.shape
        l = 1 if b.ndim == 1 else b.shape[1]
        if m * k * l < MAT_MIN_WORK or k == 0:
            return np.asarray(a @ b)
        fa = _flint.fmpq_mat(m, k, list(a.reshape(-1)))
        fb = _flint.fmpq_mat(k, l, list(b.reshape(-1)))
        out = np.empty(m * l, dtype=object)
        out[:] = (fa * fb).entries()
        return out.reshape((m,) if b.ndim == 1 else (m, l))

    # --------------------------------------------------------------- elementwise

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        zero, one = self._zero, self._one
        if op == "relu":
            return _map(lambda v: v if v > 0 else zero, a)
        if op == "step":
            return _map(lambda v: one if v > 0 else zero, a)
        if op == "sat":
            return _map(lambda v: zero if v <= 0 else (one if v >= 1 else v), a)
        if op == "dsat":
            return _map(lambda v: one if 0 < v < 1 else zero, a)
        if op == "recip":
            if attrs.get("strict") and any(v == 0 for v in np.asarray(a).flat):
                raise BackendError(RECIP_ZERO)
            return _map(lambda v: 1 / v if v != 0 else zero, a)
        if op == "pow":
            k = int(attrs["k"])
            return _map(lambda v: v**k, a)
        if op in ("exp", "log"):
            return _map(lambda v: exact_exp_log(op, v, zero, one), a)
        raise BackendError(
            f"'{op}' has no exact rational value; use --backend numeric for tanh and sigmoid"
        )


FLINT: FlintBackend | None = FlintBackend() if AVAILABLE else None


def exact_backend(name: str | Backend | None = None) -> tuple[Backend, str]:
    """The exact scalar backend for ``name`` and a note (empty, or why Fractions are used).

    ``None`` or ``"flint"``: FLINT when python-flint is importable, else the Fraction
    backend with the reason; ``"fraction"``: the Fraction reference. A backend object is
    returned as it is.
    """
    if isinstance(name, Backend):
        return name, ""
    if name in (None, "flint"):
        if FLINT is not None:
            return FLINT, ""
        return EXACT, IMPORT_ERROR
    if name == "fraction":
        return EXACT, ""
    raise BackendError(
        f"unknown exact backend {name!r}; choose one of {', '.join(EXACT_BACKENDS)}"
    )


def arithmetic_of(backend: Backend) -> str:
    """``"flint"`` or ``"fraction"`` for an exact backend (its name otherwise)."""
    return getattr(backend, "arithmetic", "fraction" if backend is EXACT else backend.name)


__all__ = ["AVAILABLE", "EXACT_BACKENDS", "FLINT", "FlintBackend", "arithmetic_of",
           "exact_backend", "to_fraction"]
