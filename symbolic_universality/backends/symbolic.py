"""Symbolic scalar backends for the graph evaluator: sympy (algebra) and z3 (SMT).

Both run the *same* evaluator (``graph.evaluate``) on the *same* graphs as the exact
backend (the extension's loss and its reverse-mode gradient graph), with data given as
symbols, so that one evaluation yields the exact update rule of a GD step for every
data set at once.

Conventions are those of ``backends.scalars`` (stated once for the toolkit):
``step(z) = 1 if z > 0 else 0`` (Heaviside with ``H(0) = 0``), ``relu(z) = z step(z)``,
``sat(z) = min(1, max(0, z))``, ``dsat(z) = 1 if 0 < z < 1 else 0``, ``recip(0) := 0``.
On a rational argument every activation is evaluated to an exact number, so the gates of
the construction (whose arguments are numbers at every predicted state, lemma *flat
gates*) are exactly 0 or 1 and the evaluator's pruning switches the idle heads off.

* :class:`SympyBackend` (``algebra``): object arrays of sympy expressions.
  ``step(z) = Heaviside(z, 0)``, ``relu(z) = z Heaviside(z, 0)``,
  ``sat(z) = z H(z) - (z - 1) H(z - 1)``, ``dsat(z) = H(z) H(1 - z)``; a reciprocal of a
  non-numeric argument is the total function :class:`Recip` (an atom of the normal form).
* :class:`Z3Backend` (``smt``): object arrays whose entries are either exact
  :class:`fractions.Fraction` (numbers stay numbers: exact constant folding) or z3 real
  terms; ``relu``, ``step``, ``sat``, ``dsat`` and ``recip`` become ``If`` terms, integer
  powers repeated products (SMT-LIB has no ``^``).

``is_zero`` is structural on both (``True`` only for a literal zero), so pruning with
these backends never asks for the truth value of a symbolic expression.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
import z3

from .scalars import RECIP_ZERO, Backend, BackendError, exact_exp_log

__all__ = [
    "SYMPY",
    "Z3",
    "Recip",
    "SympyBackend",
    "Z3Backend",
    "heaviside",
    "to_sympy",
    "to_z3",
    "z3_value",
]


def _map(fn: Any, a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = fn(v)
    return out


# ----------------------------------------------------------------------------- sympy

_S0 = sp.Integer(0)
_S1 = sp.Integer(1)


class Recip(sp.Function):
    """The total reciprocal unit ``recip(z) = 1/z`` for ``z != 0``, ``recip(0) = 0``.

    Evaluated on numbers; unevaluated (an atom of the normal form) otherwise.
    """

    nargs = 1

    @classmethod
    def eval(cls, z: sp.Expr) -> sp.Expr | None:
        if z.is_Number:
            return _S0 if z == 0 else 1 / z
        return None

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        tex = r"\operatorname{recip}\left(" + printer._print(self.args[0]) + r"\right)"
        return tex if exp is None else f"{tex}^{{{exp}}}"

    def _sympystr(self, printer: Any) -> str:
        return "recip(" + printer._print(self.args[0]) + ")"


class Softmax(sp.Function):
    """``Softmax(j, z_0, ..., z_{c-1}) = exp(z_j) / sum_k exp(z_k)``, the cross-entropy
    residual's first term, as an exact atom.

    Evaluated to ``1/c`` when every ``z_k`` is the same expression (``softmax(0) = 1/c``,
    lemma *read*, cross-entropy case) and to its value on numbers (``evalf``); otherwise an
    atom of the normal form, identified by the normal forms of its arguments (an
    uninterpreted function: sound for identities, which then hold for every value it takes).
    """

    @classmethod
    def eval(cls, j: sp.Expr, *z: sp.Expr) -> sp.Expr | None:
        if z and all(v == z[0] for v in z[1:]):
            return sp.Rational(1, len(z))
        return None

    def _eval_evalf(self, prec: int) -> sp.Expr:
        j, *z = self.args
        e = [sp.exp(v) for v in z]
        return (e[int(j)] / sp.Add(*e)).evalf(prec)

    def _sympystr(self, printer: Any) -> str:
        j, *z = self.args
        return f"softmax_{j}(" + ", ".join(printer._print(v) for v in z) + ")"

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        j, *z = self.args
        tex = (rf"\operatorname{{softmax}}_{{{j}}}\left(" + ", ".join(printer._print(v) for v in z)
               + r"\right)")
        return tex if exp is None else f"{tex}^{{{exp}}}"


def heaviside(z: sp.Expr) -> sp.Expr:
    """``step(z)``: ``Heaviside(z, 0)`` (so ``H(0) = 0``), a number on numbers."""
    if z.is_Number:
        return _S1 if z > 0 else _S0
    # unevaluated: sympy's Heaviside.eval queries the sign of the argument, which is very
    # slow on large arguments (registers as data expressions) and decides nothing we need
    return sp.Heaviside(z, 0, evaluate=False)


def to_sympy(v: Any) -> sp.Expr:
    """An exact sympy value from a Fraction, an int, a decimal string or a sympy object."""
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, bool):
        return sp.Integer(int(v))
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, str):
        f = Fraction(v)
        return sp.Rational(f.numerator, f.denominator)
    raise BackendError(f"the algebra backend takes only exact values, got {v!r}")


def _sym_relu(z: sp.Expr) -> sp.Expr:
    if z.is_Number:
        return z if z > 0 else _S0
    return z * heaviside(z)


def _sym_sat(z: sp.Expr) -> sp.Expr:
    if z.is_Number:
        return _S0 if z <= 0 else (_S1 if z >= 1 else z)
    return z * heaviside(z) - (z - 1) * heaviside(z - 1)


def _sym_dsat(z: sp.Expr) -> sp.Expr:
    if z.is_Number:
        return _S1 if 0 < z < 1 else _S0
    return heaviside(z) * heaviside(1 - z)


class SympyBackend(Backend):
    """Exact symbolic arithmetic: object arrays of sympy expressions (see module docstring)."""

    name = "algebra"
    exact = True

    def asarray(self, value: Any) -> np.ndarray:
        return _map(to_sympy, value)

    def scalar(self, value: Fraction | int) -> sp.Expr:
        return to_sympy(Fraction(value))

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(_S0)
        return out

    def is_zero(self, arr: np.ndarray) -> bool:
        """Structural: every entry is the literal 0 (never decides a symbolic equation)."""
        return all(v == 0 for v in np.asarray(arr, dtype=object).flat)

    def rows(self, op: str, a: np.ndarray) -> np.ndarray:
        """``softmax`` as :class:`Softmax` atoms (``1/c`` on equal entries); ``logsumexp``
        as ``log(sum exp)``."""
        if op != "softmax":
            return super().rows(op, a)
        arr = np.asarray(a, dtype=object)
        c = arr.shape[-1]
        flat = arr.reshape(-1, c)
        out = np.empty(flat.shape, dtype=object)
        for i, row in enumerate(flat):
            for j in range(c):
                out[i, j] = Softmax(sp.Integer(j), *row)
        return out.reshape(arr.shape)

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        if op == "relu":
            return _map(_sym_relu, a)
        if op == "step":
            return _map(heaviside, a)
        if op == "sat":
            return _map(_sym_sat, a)
        if op == "dsat":
            return _map(_sym_dsat, a)
        if op == "pow":
            k = int(attrs["k"])
            return _map(lambda v: _S1 if k == 0 else v**k, a)
        if op == "recip":
            strict = bool(attrs.get("strict"))

            def recip(v: sp.Expr) -> sp.Expr:
                if v.is_Number and v == 0 and strict:
                    raise BackendError(RECIP_ZERO)
                return Recip(v)

            return _map(recip, a)
        if op == "exp":  # sympy evaluates exp(0) = 1 itself; otherwise an exact atom
            return _map(sp.exp, a)
        if op == "log":
            return _map(sp.log, a)
        raise BackendError(
            f"'{op}' has no exact symbolic value; the algebra backend supports identity, relu, "
            "sat, square and the reciprocal unit"
        )


# -------------------------------------------------------------------------------- z3


def z3_value(v: Fraction | int) -> z3.ArithRef:
    """An exact z3 real numeral (``z3.RealVal`` of a Fraction)."""
    f = Fraction(v)
    return z3.RealVal(f"{f.numerator}/{f.denominator}") if f.denominator != 1 else z3.RealVal(
        f.numerator)


def to_z3(v: Any) -> z3.ArithRef:
    """A z3 real term from a Fraction, an int or a z3 term."""
    if isinstance(v, z3.ExprRef):
        return v
    return z3_value(Fraction(v))


def _z3_entry(v: Any) -> Any:
    if isinstance(v, z3.ExprRef):
        return v
    if isinstance(v, Fraction):
        return v
    if isinstance(v, bool):
        return Fraction(int(v))
    if isinstance(v, (int, np.integer, str)):
        return Fraction(v if not isinstance(v, np.integer) else int(v))
    raise BackendError(f"the smt backend takes only exact values, got {v!r}")


_F0 = Fraction(0)
_F1 = Fraction(1)
_Z0 = z3.RealVal(0)
_Z1 = z3.RealVal(1)


def _z3_relu(z: Any) -> Any:
    if isinstance(z, Fraction):
        return z if z > 0 else _F0
    return z3.If(z > 0, z, _Z0)


def _z3_step(z: Any) -> Any:
    if isinstance(z, Fraction):
        return _F1 if z > 0 else _F0
    return z3.If(z > 0, _Z1, _Z0)


def _z3_sat(z: Any) -> Any:
    if isinstance(z, Fraction):
        return _F0 if z <= 0 else (_F1 if z >= 1 else z)
    return z3.If(z <= 0, _Z0, z3.If(z >= 1, _Z1, z))


def _z3_dsat(z: Any) -> Any:
    if isinstance(z, Fraction):
        return _F1 if 0 < z < 1 else _F0
    return z3.If(z3.And(z > 0, z < 1), _Z1, _Z0)


def _z3_pow(z: Any, k: int) -> Any:
    if isinstance(z, Fraction):
        return z**k
    if k == 0:
        return _F1
    out = z
    for _ in range(k - 1):
        out = out * z
    return out


class Z3Backend(Backend):
    """Exact z3 terms, numbers kept as Fractions (see the module docstring)."""

    name = "smt"
    exact = True

    def asarray(self, value: Any) -> np.ndarray:
        return _map(_z3_entry, value)

    def scalar(self, value: Fraction | int) -> Fraction:
        return Fraction(value)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(_F0)
        return out

    def is_zero(self, arr: np.ndarray) -> bool:
        """Structural: every entry is the number 0 (a z3 term is never tested for truth)."""
        for v in np.asarray(arr, dtype=object).flat:
            if isinstance(v, z3.ExprRef):
                if not (z3.is_rational_value(v) and v.numerator_as_long() == 0):
                    return False
            elif v != 0:
                return False
        return True

    def rows(self, op: str, a: np.ndarray) -> np.ndarray:
        """``softmax``: ``1/c`` on a row of equal entries, else uninterpreted functions
        ``softmax<c>_<j>`` of the row (sound for identities: congruence is all z3 may use)."""
        if op != "softmax":
            raise BackendError(f"'{op}' has no SMT encoding; use the algebra backend")
        arr = np.asarray(a, dtype=object)
        c = arr.shape[-1]
        flat = arr.reshape(-1, c)
        out = np.empty(flat.shape, dtype=object)
        fns = [z3.Function(f"softmax{c}_{j}", *([z3.RealSort()] * (c + 1))) for j in range(c)]
        for i, row in enumerate(flat):
            terms = [to_z3(v) for v in row]
            simple = [z3.simplify(t - terms[0]) for t in terms[1:]]
            if all(z3.is_rational_value(d) and d.numerator_as_long() == 0 for d in simple):
                out[i, :] = [Fraction(1, c)] * c
                continue
            for j in range(c):
                out[i, j] = fns[j](*terms)
        return out.reshape(arr.shape)

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        if op == "relu":
            return _map(_z3_relu, a)
        if op == "step":
            return _map(_z3_step, a)
        if op == "sat":
            return _map(_z3_sat, a)
        if op == "dsat":
            return _map(_z3_dsat, a)
        if op == "pow":
            k = int(attrs["k"])
            return _map(lambda v: _z3_pow(v, k), a)
        if op == "recip":
            strict = bool(attrs.get("strict"))

            def recip(v: Any) -> Any:
                if isinstance(v, Fraction):
                    if v == 0:
                        if strict:
                            raise BackendError(RECIP_ZERO)
                        return _F0
                    return 1 / v
                return z3.If(v == 0, _Z0, 1 / v)

            return _map(recip, a)
        if op in ("exp", "log"):
            def exp_log(v: Any) -> Any:
                if isinstance(v, Fraction):
                    return exact_exp_log(op, v, _F0, Fraction(1))
                simple = z3.simplify(v)
                if z3.is_rational_value(simple):
                    return exact_exp_log(op, Fraction(simple.numerator_as_long(),
                                                      simple.denominator_as_long()),
                                         _F0, Fraction(1))
                raise BackendError(f"'{op}' of a symbolic term has no SMT encoding (z3 has no "
                                   "exp or log); use the algebra backend")

            return _map(exp_log, a)
        raise BackendError(
            f"'{op}' has no exact SMT encoding; the smt backend supports identity, relu, sat, "
            "square and the reciprocal unit"
        )


SYMPY = SympyBackend()
Z3 = Z3Backend()
