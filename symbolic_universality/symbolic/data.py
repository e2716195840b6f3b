"""Symbolic data sets: ``n`` samples of dimension ``d`` as symbols, labels one-hot.

Names (shared by both backends, the SMT-LIB files and the printed rules):

* ``x_i_j``  -- feature ``j`` of sample ``i``;
* ``y_i_k``  -- the label indicator of sample ``i`` and class ``k`` (symbolic labels);
* ``r_<register>_<index>`` -- the content of a program register (``--registers free``);
* ``xs_j``   -- a fresh input (T2: the forward output on an input never seen).

Labels are given by a *class assignment* (sample ``i`` has class ``labels[i]``):
``all`` enumerates the ``c^n`` assignments, ``0,1,0`` fixes one, ``symbolic`` makes the
indicators symbols (the SMT backend assumes them one-hot; the algebra backend proves the
identity for real labels, or else per one-hot assignment).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
import z3

from ..backends.scalars import Backend

__all__ = [
    "ClassSpec",
    "SymbolicData",
    "SymbolicSpec",
    "SymbolicSpecError",
    "make_data",
    "make_symbols",
    "parse_classes",
    "parse_symbolic",
]


MAX_ASSIGNMENTS = 256


class SymbolicSpecError(ValueError):
    """A ``--symbolic`` or ``--classes`` value that cannot be read (with the fix)."""


@dataclass(frozen=True)
class SymbolicSpec:
    """Sizes of the symbolic data set: ``n`` samples, ``d`` features, ``c`` classes."""

    n: int
    d: int | None = None
    c: int | None = None

    def describe(self) -> str:
        parts = [f"n={self.n}"]
        if self.d is not None:
            parts.append(f"d={self.d}")
        if self.c is not None:
            parts.append(f"c={self.c}")
        return ",".join(parts)


def parse_symbolic(text: str) -> SymbolicSpec:
    """Read ``n=3,d=2`` (``c=...`` optional; ``d`` defaults to the network's input size)."""
    values: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"([ndc])\s*=\s*(\d+)", part)
        if not m:
            raise SymbolicSpecError(
                f"cannot read {part!r} in --symbolic {text!r}; write it as n=3,d=2")
        if int(m.group(2)) < 1:
            raise SymbolicSpecError(f"{m.group(1)} must be at least 1 in --symbolic {text!r}")
        if m.group(1) in values:
            raise SymbolicSpecError(f"{m.group(1)} is given twice in --symbolic {text!r}; give "
                                    "each of n, d, c once")
        values[m.group(1)] = int(m.group(2))
    if "n" not in values:
        raise SymbolicSpecError(f"--symbolic {text!r} gives no sample count; write n=3,d=2")
    return SymbolicSpec(values["n"], values.get("d"), values.get("c"))


@dataclass(frozen=True)
class ClassSpec:
    """How labels are chosen: ``assignments`` (tuples of class indices) or ``symbolic``."""

    mode: str  # all | fixed | symbolic
    assignments: tuple[tuple[int, ...], ...] = ()

    @property
    def symbolic(self) -> bool:
        return self.mode == "symbolic"

    def label_sets(self) -> list[tuple[int, ...] | None]:
        """One entry per label choice to prove: an assignment, or ``None`` (symbolic)."""
        return [None] if self.symbolic else list(self.assignments)

    def describe(self) -> str:
        if self.symbolic:
            return "symbolic (every one-hot assignment)"
        if self.mode == "all":
            return f"all {len(self.assignments)} assignments"
        return ",".join(str(k) for k in self.assignments[0])


def parse_classes(text: str | None, n: int, c: int) -> ClassSpec:
    """``all`` (default), ``symbolic`` or a fixed assignment such as ``0,1,0``."""
    text = (text or "all").strip()
    if text == "symbolic":
        return ClassSpec("symbolic")
    if text == "all":
        if c**n > MAX_ASSIGNMENTS:
            raise SymbolicSpecError(
                f"--classes all would enumerate {c}^{n} = {c**n} class assignments (more than "
                f"{MAX_ASSIGNMENTS}); use --classes symbolic (one proof for every one-hot "
                "labelling) or a fixed assignment such as 0,1,0")
        return ClassSpec("all", tuple(itertools.product(range(c), repeat=n)))
    try:
        labels = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise SymbolicSpecError(
            f"cannot read --classes {text!r}; write all, symbolic or one class per sample "
            "such as 0,1,0") from None
    if len(labels) != n:
        raise SymbolicSpecError(f"--classes {text!r} gives {len(labels)} labels for n={n} samples")
    if any(not 0 <= k < c for k in labels):
        raise SymbolicSpecError(f"--classes {text!r}: classes must be in 0..{c - 1}")
    return ClassSpec("fixed", (labels,))


def make_symbols(backend: Backend, names: np.ndarray) -> np.ndarray:
    """An object array of symbols (sympy ``Symbol`` or z3 ``Real``) with the given names."""
    out = np.empty(names.shape, dtype=object)
    for idx, name in np.ndenumerate(names):
        out[idx] = sp.Symbol(str(name)) if backend.name == "algebra" else z3.Real(str(name))
    return out


def _names(prefix: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = prefix + "_" + "_".join(str(i) for i in idx) if idx else prefix
    return out


@dataclass
class SymbolicData:
    """Inputs ``x`` ``(n, d)`` as symbols and labels ``y`` ``(n, c)`` on one backend."""

    backend: Backend
    n: int
    d: int
    c: int
    labels: tuple[int, ...] | None
    x: np.ndarray
    y: np.ndarray
    premises: list[Any] = field(default_factory=list)

    @property
    def label_tag(self) -> str:
        return "ysym" if self.labels is None else "y" + "".join(str(k) for k in self.labels)

    def describe_labels(self) -> str:
        if self.labels is None:
            return "symbolic one-hot labels"
        return "classes " + ",".join(str(k) for k in self.labels)


def make_data(backend: Backend, n: int, d: int, c: int, labels: tuple[int, ...] | None
              ) -> SymbolicData:
    """Symbolic inputs, and one-hot labels of ``labels`` (or symbolic indicators if ``None``).

    On the algebra backend fixed labels are numbers. On the SMT backend labels are always
    symbols ``y_i_k`` constrained by ``premises``: equal to the assignment's 0/1 values, or
    (symbolic labels) one-hot: ``y_i_k in {0, 1}`` and ``sum_k y_i_k = 1``. Keeping them
    symbols lets identical subterms of both sides of an obligation share one z3 term
    (numbers would be folded differently by the two sides' different expression trees).
    """
    x = make_symbols(backend, _names("x", (n, d)))
    premises: list[Any] = []
    if labels is None or backend.name == "smt":
        y = make_symbols(backend, _names("y", (n, c)))
        if backend.name == "smt":
            for i in range(n):
                row = [y[i, k] for k in range(c)]
                if labels is None:
                    premises.extend(z3.Or(v == 0, v == 1) for v in row)
                    premises.append(z3.Sum(row) == 1)
                else:
                    premises.extend(v == (1 if labels[i] == k else 0) for k, v in enumerate(row))
    else:
        y = backend.zeros((n, c))
        for i, k in enumerate(labels):
            y[i, k] = backend.scalar(1)
    return SymbolicData(backend, n, d, c, labels, x, y, premises)


def one_hot(labels: tuple[int, ...], c: int) -> np.ndarray:
    """Exact one-hot Fractions for a class assignment (for replays)."""
    y = np.full((len(labels), c), Fraction(0), dtype=object)
    for i, k in enumerate(labels):
        y[i, k] = Fraction(1)
    return y


def register_symbols(backend: Backend, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Symbols ``r_<name>_<index>`` standing for the content of a register."""
    return make_symbols(backend, _names(f"r_{name}", shape))


def input_symbols(backend: Backend, d: int) -> np.ndarray:
    """A fresh input ``xs_0 .. xs_{d-1}`` (T2)."""
    return make_symbols(backend, _names("xs", (d,)))
