"""Naive symbolic differentiation, the baseline of the exact backend's benchmark.

The whole extended loss ``L`` of construction.md section 1 is built as one flat sympy
expression in every parameter (the forward graph evaluated on sympy objects, data as
rationals), then ``sympy.diff(L, p)`` is taken for every scalar parameter ``p`` and each GD
step substitutes the current state into those derivatives. Activations are ``Piecewise``
expressions whose derivatives follow the toolkit's conventions (``relu'(0) = 0``, ``sat'``
is 1 only on ``(0, 1)``); sympy's ``Heaviside(0) = 1/2`` is avoided on purpose.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from symbolic_universality.backends.scalars import Backend, BackendError
from symbolic_universality.extension.compiler import Extension
from symbolic_universality.graph.evaluate import evaluate


def _map(fn: Any, a: np.ndarray) -> np.ndarray:
    out = np.empty(np.shape(a), dtype=object)
    for idx, v in np.ndenumerate(np.asarray(a, dtype=object)):
        out[idx] = fn(v)
    return out


def _sym(v: Any) -> Any:
    if isinstance(v, Fraction):
        return sympy.Rational(v.numerator, v.denominator)
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    return sympy.sympify(v)


class SympyBackend(Backend):
    """Object arrays of sympy expressions (only what the forward graph of ``L`` needs)."""

    name = "sympy"
    exact = True

    def asarray(self, value: Any) -> np.ndarray:
        return _map(_sym, np.asarray(value, dtype=object))

    def scalar(self, value: Fraction | int) -> Any:
        return _sym(Fraction(value))

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(sympy.Integer(0))
        return out

    def is_zero(self, arr: np.ndarray) -> bool:
        return all(v == 0 for v in np.asarray(arr, dtype=object).flat)

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        zero, one = sympy.Integer(0), sympy.Integer(1)
        if op == "relu":
            return _map(lambda z: sympy.Piecewise((z, z > 0), (zero, True)), a)
        if op == "step":
            return _map(lambda z: sympy.Piecewise((one, z > 0), (zero, True)), a)
        if op == "sat":
            return _map(lambda z: sympy.Piecewise((zero, z <= 0), (one, z >= 1), (z, True)), a)
        if op == "dsat":
            return _map(lambda z: sympy.Piecewise((one, (z > 0) & (z < 1)), (zero, True)), a)
        if op == "recip":
            return _map(lambda z: sympy.Piecewise((zero, sympy.Eq(z, 0)), (1 / z, True)), a)
        if op == "pow":
            return _map(lambda z: z ** attrs["k"], a)
        raise BackendError(f"no sympy form for {op!r}")


SYMPY = SympyBackend()


def symbols(ext: Extension) -> tuple[dict[str, np.ndarray], list[sympy.Symbol], list[tuple]]:
    """One sympy symbol per scalar parameter: block arrays, the flat list, (block, index)."""
    blocks: dict[str, np.ndarray] = {}
    flat: list[sympy.Symbol] = []
    where: list[tuple] = []
    for name, shape in ext.shapes.items():
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape) if shape else [()]:
            s = sympy.Symbol(f"{name}{list(idx) if idx else ''}")
            arr[idx] = s
            flat.append(s)
            where.append((name, idx))
        blocks[name] = arr
    return blocks, flat, where


def naive_gd(ext: Extension, x: np.ndarray, y: np.ndarray, steps: int,
             deadline: float | None = None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """``steps`` exact GD steps by naive symbolic differentiation; the state and the timings.

    Raises ``TimeoutError`` once ``deadline`` (a ``time.perf_counter`` value) has passed.
    """
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    blocks, flat, where = symbols(ext)
    (loss,) = evaluate([ext.loss], SYMPY, blocks, x, y)
    loss = sympy.sympify(np.asarray(loss).reshape(()).item())
    times["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    derivs = []
    for s in flat:
        derivs.append(sympy.diff(loss, s))
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError("sympy.diff")
    times["diff"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = {n: np.asarray(v, dtype=object).copy() for n, v in ext.theta0.items()}
    eta = sympy.Rational(ext.eta.numerator, ext.eta.denominator)
    for _ in range(steps):
        subs = {s: _sym(state[name][idx]) for s, (name, idx) in zip(flat, where, strict=True)}
        grads = []
        for d in derivs:
            grads.append(sympy.nsimplify(d.xreplace(subs)))
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError("substitution")
        new = {n: v.copy() for n, v in state.items()}
        for gval, (name, idx) in zip(grads, where, strict=True):
            r = sympy.Rational(state[name][idx].numerator, state[name][idx].denominator) \
                if isinstance(state[name][idx], Fraction) else _sym(state[name][idx])
            v = r - eta * gval
            if not v.is_Rational:
                raise ValueError(f"the substituted derivative is not a number: {v}")
            new[name][idx] = Fraction(int(v.p), int(v.q))
        state = new
    times["substitute"] = time.perf_counter() - t0
    return state, times
