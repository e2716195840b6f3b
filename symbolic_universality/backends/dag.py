"""A light hash-consed expression backend for the algebra prover (no sympy while evaluating).

Every value is an interned :class:`Expr`: a canonical *linear combination*
``const + sum_i c_i t_i`` of interned *terms* ``t_i`` with non-zero rational coefficients
(Fractions), the terms sorted by their id. A term is

* a symbol (``x_0_3``, ``y_0_1``, ``r_g_5``, ``xs_2``);
* a product of at least two *factors*, each a non-product term or a *primitive* sum (an
  ``Expr`` of two or more terms, or one term and a constant, scaled so that its first
  coefficient is 1), the factors sorted by id (so ``(a b) c = a (b c) = c (b a)``);
* ``H(p)`` (``step``, Heaviside with ``H(0) = 0``) of a non-constant primitive argument
  scaled by ``1/|c_1|`` (``H(c p) = H(p)`` for ``c > 0``), with ``H^2 = H`` in products;
* ``recip(p)`` of a non-constant primitive argument (``recip(c p) = recip(p) / c``);
* ``softmax_j(z_0, ..., z_{c-1})`` (cross-entropy), an uninterpreted atom of its row
  (``factors`` the row, ``name`` the index ``j``); a row of one interned value is
  ``1/c`` (``softmax(0) = 1/c``), which is all the construction needs exactly.

Constants are folded exactly, ``0 x = 0``, ``1 x = x``; ``relu``, ``step``, ``sat``,
``dsat`` and ``recip`` of a constant are evaluated with the conventions of
``backends.scalars`` (``H(0) = 0``, ``recip(0) = 0``), of a non-constant as in
``backends.symbolic`` (``relu(z) = z H(z)``, ``sat(z) = z H(z) - (z - 1) H(z - 1)``,
``dsat(z) = H(z) H(1 - z)``). Sums are *not* distributed over products.

Every rule is an exact identity of real functions, so two values that are the same
interned object are equal for every value of every symbol: comparing canonical forms
(object identity) proves an identity soundly without expanding anything. Values that
differ are expanded on demand by :class:`symbolic.normal.DagNormalizer`.

The prover evaluates on it the obligations of every lemma of construction.md section 4
(write, read, clock, flat gates, persistence, isolation, inertness), in one generic sample
for the lemma *lifting* (section 7).

The intern tables are per process; :func:`reset` empties them between units of work
(values from before a reset stay valid, they only no longer share with new ones).
Nothing here recurses on the expression depth.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np

from .scalars import RECIP_ZERO, Backend, BackendError

__all__ = ["DAG", "DagBackend", "Expr", "IrrationalError", "Term", "children", "collect",
           "const", "postorder", "reset", "softmax", "symbol", "to_dag", "to_sympy", "total"]

_F0 = Fraction(0)
_F1 = Fraction(1)

_ids = itertools.count(1)
_terms: dict[tuple, Term] = {}
_exprs: dict[tuple, Expr] = {}


def reset() -> None:
    """Empty the intern tables (a new unit of work)."""
    _terms.clear()
    _exprs.clear()
    _collected.clear()
    _exprs[(0, 1)] = ZERO
    _exprs[(1, 1)] = ONE


class Term:
    """An interned term: ``kind`` is ``sym`` (``name``), ``mul`` (``factors``), ``H`` or
    ``recip`` (``arg``, a primitive non-constant :class:`Expr`) or ``softmax`` (``factors``
    the row of :class:`Expr`, ``name`` the index)."""

    __slots__ = ("id", "kind", "name", "factors", "arg", "_expr")

    def __init__(self, kind: str, name: str = "", factors: tuple = (), arg: Expr | None = None
                 ) -> None:
        self.id = next(_ids)
        self.kind = kind
        self.name = name
        self.factors = factors
        self.arg = arg
        self._expr: Expr | None = None

    def expr(self) -> Expr:
        """The value ``1 * self``."""
        e = self._expr
        if e is None:
            e = self._expr = _lin(_F0, {self: _F1})
        return e

    def __repr__(self) -> str:
        if self.kind == "sym":
            return self.name
        if self.kind == "mul":
            return "*".join(f"({f!r})" if isinstance(f, Expr) else repr(f)
                            for f in self.factors)
        if self.kind == "softmax":
            return f"softmax_{self.name}(" + ", ".join(repr(f) for f in self.factors) + ")"
        return f"{self.kind}({self.arg!r})"


def _term(key: tuple, kind: str, **kw: Any) -> Term:
    t = _terms.get(key)
    if t is None:
        t = _terms[key] = Term(kind, **kw)
    return t


def _lin(c: Fraction, coeffs: dict[Term, Fraction]) -> Expr:
    rows = sorted([(t.id, v.numerator, v.denominator, t, v) for t, v in coeffs.items() if v])
    # the key holds integers only (hashing a Fraction is slow)
    key = (c.numerator, c.denominator, *[r[:3] for r in rows])
    e = _exprs.get(key)
    if e is None:
        e = _exprs[key] = Expr(c, tuple((r[3], r[4]) for r in rows))
    return e


def total(values: Any) -> Expr:
    """``sum(values)`` in one pass (a long chain of ``+`` would copy the partial sums)."""
    c = _F0
    out: dict[Term, Fraction] = {}
    get = out.get
    for v in values:
        if not isinstance(v, Expr):
            v = to_dag(v)
        c += v.const
        for t, k in v.terms:
            out[t] = get(t, _F0) + k
    return _lin(c, out)


class Expr:
    """An interned canonical value ``const + sum c_i t_i`` (see the module docstring).

    ``==`` is identity of canonical forms (against a number: a constant of that value);
    arithmetic with numbers, Fractions and other ``Expr`` is exact."""

    __slots__ = ("id", "const", "terms", "_prim", "__weakref__")

    def __init__(self, c: Fraction, terms: tuple[tuple[Term, Fraction], ...]) -> None:
        self.id = next(_ids)
        self.const = c
        self.terms = terms
        self._prim: tuple[Fraction, Expr] | None = None

    # ---------------------------------------------------------------- queries

    def is_const(self) -> bool:
        return not self.terms

    def single(self) -> tuple[Term, Fraction] | None:
        """``(t, c)`` if ``self = c t``."""
        if self.const == 0 and len(self.terms) == 1:
            return self.terms[0]
        return None

    def primitive(self) -> tuple[Fraction, Expr]:
        """``self = c p`` with the first coefficient of ``p`` equal to 1 (non-constant)."""
        hit = self._prim
        if hit is None:
            c = self.terms[0][1]
            hit = self._prim = (c, self if c == 1 else self._scale(1 / c))
        return hit

    def __hash__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self is other
        if isinstance(other, (int, Fraction)) and not isinstance(other, bool):
            return not self.terms and self.const == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __bool__(self) -> bool:
        return bool(self.terms) or self.const != 0

    def __repr__(self) -> str:
        parts = [] if self.const == 0 and self.terms else [str(self.const)]
        parts += [f"{v}*{t!r}" for t, v in self.terms]
        return " + ".join(parts)

    # ---------------------------------------------------------------- arithmetic

    def _scale(self, c: Fraction) -> Expr:
        if c == 1:
            return self
        if c == 0:
            return ZERO
        return _lin(self.const * c, {t: v * c for t, v in self.terms})

    def _add(self, other: Expr, sign: int = 1) -> Expr:
        if not other.terms:
            if other.const == 0:
                return self
            return _lin(self.const + sign * other.const, dict(self.terms))
        if not self.terms and self.const == 0 and sign == 1:
            return other
        out = dict(self.terms)
        get = out.get
        if sign == 1:
            for t, v in other.terms:
                out[t] = get(t, _F0) + v
        else:
            for t, v in other.terms:
                out[t] = get(t, _F0) - v
        return _lin(self.const + sign * other.const, out)

    def _mul(self, other: Expr) -> Expr:
        if not self.terms:
            return other._scale(self.const)
        if not other.terms:
            return self._scale(other.const)
        ca, fa = _factors(self)
        cb, fb = _factors(other)
        t = _product(fa + fb)
        return _lin(_F0, {t: ca * cb})

    def __add__(self, other: Any) -> Expr:
        o = _coerce(other)
        return NotImplemented if o is None else self._add(o)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Expr:
        o = _coerce(other)
        return NotImplemented if o is None else self._add(o, -1)

    def __rsub__(self, other: Any) -> Expr:
        o = _coerce(other)
        return NotImplemented if o is None else o._add(self, -1)

    def __neg__(self) -> Expr:
        return self._scale(Fraction(-1))

    def __pos__(self) -> Expr:
        return self

    def __mul__(self, other: Any) -> Expr:
        if isinstance(other, Fraction):
            return self._scale(other)
        o = _coerce(other)
        return NotImplemented if o is None else self._mul(o)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Expr:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        if o.terms:
            return self._mul(recip(o))
        if o.const == 0:
            raise ZeroDivisionError("division of a symbolic value by 0")
        return self._scale(1 / o.const)

    def __pow__(self, k: int) -> Expr:
        return power(self, int(k))


def _factors(e: Expr) -> tuple[Fraction, list[Any]]:
    s = e.single()
    if s is not None:
        t, c = s
        return c, (list(t.factors) if t.kind == "mul" else [t])
    c, p = e.primitive()
    return c, [p]


def _product(factors: list[Any]) -> Term:
    factors.sort(key=lambda f: f.id)
    out: list[Any] = []
    prev = None
    for f in factors:
        if f is prev and isinstance(f, Term) and f.kind == "H":
            continue  # H^2 = H
        out.append(f)
        prev = f
    if len(out) == 1:
        return out[0]
    fs = tuple(out)
    return _term(("mul", tuple(f.id for f in fs)), "mul", factors=fs)


ZERO = _lin(_F0, {})
ONE = _lin(_F1, {})


def const(v: Fraction | int) -> Expr:
    """The constant ``v``."""
    return _lin(Fraction(v), {})


def symbol(name: str) -> Expr:
    """The symbol ``name``."""
    return _term(("sym", name), "sym", name=name).expr()


def _coerce(v: Any) -> Expr | None:
    if isinstance(v, Expr):
        return v
    if isinstance(v, (Fraction, int)) and not isinstance(v, bool):
        return const(v)
    if isinstance(v, np.integer):
        return const(int(v))
    return None


def to_dag(v: Any) -> Expr:
    """A value of this backend from a Fraction, an int, a decimal string, a sympy symbol or
    rational, or an :class:`Expr`."""
    if isinstance(v, Expr):
        return v
    if isinstance(v, bool):
        return const(int(v))
    if isinstance(v, (Fraction, int, np.integer)):
        return const(int(v) if isinstance(v, np.integer) else v)
    if isinstance(v, str):
        return const(Fraction(v))
    import sympy as sp

    if isinstance(v, sp.Symbol):
        return symbol(v.name)
    if isinstance(v, sp.Rational):
        return const(Fraction(int(v.p), int(v.q)))
    raise BackendError(f"the algebra backend takes only exact values, got {v!r}")


def heaviside(z: Expr) -> Expr:
    """``step(z)`` (``H(0) = 0``; ``H(c p) = H(p)`` for ``c > 0``)."""
    if not z.terms:
        return ONE if z.const > 0 else ZERO
    c = z.terms[0][1]
    p = z if c == 1 else z._scale(1 / abs(c))
    return _term(("H", p.id), "H", arg=p).expr()


def recip(z: Expr, strict: bool = False) -> Expr:
    """The total reciprocal ``recip(z)`` (``recip(0) = 0``; ``recip(c p) = recip(p) / c``)."""
    if not z.terms:
        if z.const == 0:
            if strict:
                raise BackendError(RECIP_ZERO)
            return ZERO
        return const(1 / z.const)
    c, p = z.primitive()
    return _lin(_F0, {_term(("recip", p.id), "recip", arg=p): 1 / c})


def softmax(row: list[Expr]) -> list[Expr]:
    """``softmax`` of one row: ``1/c`` each if every entry is the same interned value (equal
    as functions, so exact), else the atoms ``softmax_j(row)``."""
    c = len(row)
    if all(v is row[0] for v in row[1:]):
        return [const(Fraction(1, c))] * c
    ids = tuple(v.id for v in row)
    return [_term(("softmax", j, ids), "softmax", name=str(j), factors=tuple(row)).expr()
            for j in range(c)]


class IrrationalError(ValueError):
    """An atom with no rational value at the point (``softmax`` of an unequal row)."""


def relu(z: Expr) -> Expr:
    if not z.terms:
        return z if z.const > 0 else ZERO
    return z._mul(heaviside(z))


def sat(z: Expr) -> Expr:
    if not z.terms:
        return ZERO if z.const <= 0 else (ONE if z.const >= 1 else z)
    zm = z._add(ONE, -1)
    return z._mul(heaviside(z))._add(zm._mul(heaviside(zm)), -1)


def dsat(z: Expr) -> Expr:
    if not z.terms:
        return ONE if 0 < z.const < 1 else ZERO
    return heaviside(z)._mul(heaviside(ONE._add(z, -1)))


def power(z: Expr, k: int) -> Expr:
    if k < 0:
        raise BackendError("a negative power has no exact polynomial value; use recip")
    out = ONE
    for _ in range(k):
        out = out._mul(z)
    return out


def children(node: Any) -> tuple[Any, ...]:
    """The direct sub-nodes of an :class:`Expr` (its terms) or a :class:`Term`."""
    if isinstance(node, Expr):
        return tuple(t for t, _ in node.terms)
    if node.kind in ("mul", "softmax"):
        return node.factors
    if node.arg is not None:
        return (node.arg,)
    return ()


def postorder(roots: list[Any], stop: Any = None) -> list[Any]:
    """Every node reachable from ``roots`` once, children before parents (no recursion);
    nodes whose id is in ``stop`` (a set or a dict keyed by id: not copied) are listed but
    not entered."""
    seen: set[int] = set()
    out: list[Any] = []
    stack: list[tuple[Any, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            out.append(node)
            continue
        if node.id in seen:
            continue
        seen.add(node.id)
        stack.append((node, True))
        if stop is None or node.id not in stop:
            stack.extend((c, False) for c in children(node) if c.id not in seen)
    return out


def to_sympy(values: list[Any], rename: dict[int, str] | None = None) -> list[Any]:
    """The values as sympy expressions (memoised over the DAG; nodes whose id is in
    ``rename`` become the symbols named there)."""
    import sympy as sp

    from .symbolic import Recip, Softmax

    rename = rename or {}
    memo: dict[int, Any] = {}
    roots = [v for v in values if isinstance(v, Expr)]
    for node in postorder(roots, set(rename)):
        if node.id in rename:
            memo[node.id] = sp.Symbol(rename[node.id])
        elif isinstance(node, Expr):
            parts = [sp.Rational(node.const.numerator, node.const.denominator)]
            parts += [sp.Rational(v.numerator, v.denominator) * memo[t.id]
                      for t, v in node.terms]
            memo[node.id] = sp.Add(*parts)
        elif node.kind == "sym":
            memo[node.id] = sp.Symbol(node.name)
        elif node.kind == "mul":
            memo[node.id] = sp.Mul(*(memo[f.id] for f in node.factors))
        elif node.kind == "H":
            memo[node.id] = sp.Heaviside(memo[node.arg.id], 0, evaluate=False)
        elif node.kind == "softmax":
            memo[node.id] = Softmax(sp.Integer(int(node.name)),
                                    *(memo[f.id] for f in node.factors))
        else:
            memo[node.id] = Recip(memo[node.arg.id])
    out = []
    for v in values:
        if isinstance(v, Expr):
            out.append(memo[v.id])
        else:
            f = Fraction(v)
            out.append(sp.Rational(f.numerator, f.denominator))
    return out


def evaluate_at(values: list[Any], env: dict[str, Fraction],
                memo: dict[int, Fraction] | None = None) -> list[Fraction]:
    """The exact values at the point ``env`` (symbol name -> rational), ``H(0) = 0``,
    ``recip(0) = 0``; a ``softmax`` atom of a row with unequal values there raises
    :class:`IrrationalError` (its value is irrational)."""
    memo = {} if memo is None else memo
    roots = [v for v in values if isinstance(v, Expr) and v.id not in memo]
    for node in postorder(roots, memo):
        if node.id in memo:
            continue
        if isinstance(node, Expr):
            val = node.const
            for t, v in node.terms:
                val += v * memo[t.id]
        elif node.kind == "sym":
            val = env[node.name]
        elif node.kind == "mul":
            val = _F1
            for f in node.factors:
                val *= memo[f.id]
        elif node.kind == "H":
            val = _F1 if memo[node.arg.id] > 0 else _F0
        elif node.kind == "softmax":
            row = [memo[f.id] for f in node.factors]
            if any(v != row[0] for v in row[1:]):
                raise IrrationalError(f"softmax of the unequal row {row} is irrational")
            val = Fraction(1, len(row))
        else:
            z = memo[node.arg.id]
            val = _F0 if z == 0 else 1 / z
        memo[node.id] = val
    return [memo[v.id] if isinstance(v, Expr) else Fraction(v) for v in values]


_collected: dict[int, Expr] = {}


def _value(f: Any) -> Expr:
    return f if isinstance(f, Expr) else f.expr()


def _group(e: Expr) -> Expr:
    """One sum with its like products merged: ``sum_i c_i K f_i = K (sum_i c_i f_i)`` for
    terms that share every factor but one sum ``f_i`` (a term ``c K`` counts with
    ``f = c``), the largest group first, until nothing merges (distributivity, exact)."""
    for _ in range(64):
        if len(e.terms) < 2:
            return e
        groups: dict[tuple[int, ...], list[tuple[Term, Fraction, Any]]] = {}
        for t, c in e.terms:
            fs = t.factors if t.kind == "mul" else (t,)
            groups.setdefault(tuple(f.id for f in fs), []).append((t, c, None))
            if t.kind != "mul":
                continue
            for j, f in enumerate(fs):
                if isinstance(f, Expr) and (j == 0 or fs[j - 1] is not f):
                    key = tuple(g.id for g in fs[:j] + fs[j + 1:])
                    groups.setdefault(key, []).append((t, c, f))
        best = max(groups.items(), key=lambda kv: len(kv[1]))
        key, members = best
        used: dict[Term, tuple[Fraction, Any]] = {}
        for t, c, f in members:
            used.setdefault(t, (c, f))
        if len(used) < 2:
            return e
        inner = ZERO
        for _t, (c, f) in used.items():
            inner = inner._add(const(c) if f is None else f._scale(c))
        inner = _group(inner) if len(inner.terms) > 1 else inner
        t0, _ = next(iter(used.items()))
        fs = t0.factors if t0.kind == "mul" else (t0,)
        f0 = used[t0][1]
        rest = list(fs)
        if f0 is not None:
            rest.remove(f0)
        kval = ONE if not rest else _value(rest[0] if len(rest) == 1 else _product(rest))
        left = {t: c for t, c in e.terms if t not in used}
        merged = _lin(e.const, left)._add(kval._mul(inner))
        if merged is e:
            return e
        e = merged
    return e


def collect(values: list[Any]) -> list[Any]:
    """The values with like products merged in every sum, bottom-up over the DAG
    (:func:`_group`; memoised until :func:`reset`). Two values with the same collected
    form are equal (every rewrite is an exact identity)."""
    roots = [v for v in values if isinstance(v, Expr) and v.id not in _collected]
    done: dict[int, Any] = {}
    for node in postorder(roots, _collected):
        if isinstance(node, Expr):
            if node.id in _collected:
                continue
            out = const(node.const)
            for t, c in node.terms:
                out = out._add(done[t.id]._scale(c))
            _collected[node.id] = _group(out)
        elif node.kind == "sym":
            done[node.id] = node.expr()
        elif node.kind == "mul":
            out = ONE
            for f in node.factors:
                out = out._mul(_collected[f.id] if isinstance(f, Expr) else done[f.id])
            done[node.id] = out
        elif node.kind == "H":
            done[node.id] = heaviside(_collected[node.arg.id])
        elif node.kind == "softmax":
            done[node.id] = softmax([_collected[f.id] for f in node.factors])[int(node.name)]
        else:
            done[node.id] = recip(_collected[node.arg.id])
    return [_collected[v.id] if isinstance(v, Expr) else v for v in values]


def _mul_any(u: Any, v: Any) -> Expr:
    u = u if isinstance(u, Expr) else to_dag(u)
    v = v if isinstance(v, Expr) else to_dag(v)
    return u._mul(v)


def _map(fn: Any, a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = fn(v if isinstance(v, Expr) else to_dag(v))
    return out


class DagBackend(Backend):
    """The algebra prover's backend: interned canonical values (see the module docstring).

    Its name is ``algebra`` (the same prover, a lighter representation than sympy's)."""

    name = "algebra"
    exact = True

    def asarray(self, value: Any) -> np.ndarray:
        return _map(lambda v: v, value)

    def bind(self, value: Any) -> np.ndarray:
        return self.asarray(value)

    def data(self, value: np.ndarray | None) -> np.ndarray | None:
        return None if value is None else self.asarray(value)

    def scalar(self, value: Fraction | int) -> Expr:
        return const(value)

    def total(self, arr: Any) -> Expr:
        """The sum of every entry (one pass, see :func:`total`)."""
        return total(np.asarray(arr, dtype=object).flat)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for a matrix ``a`` and a matrix or vector ``b``, each entry one n-ary
        sum of products (:func:`total`)."""
        a = np.asarray(a, dtype=object)
        b = np.asarray(b, dtype=object)
        if a.ndim != 2 or b.ndim not in (1, 2) or a.shape[1] != b.shape[0]:
            return np.asarray(a @ b)
        if b.ndim == 1:
            out = np.empty(a.shape[0], dtype=object)
            for i in range(a.shape[0]):
                out[i] = total(_mul_any(u, v) for u, v in zip(a[i], b, strict=True))
            return out
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                out[i, j] = total(_mul_any(u, v) for u, v in zip(a[i], b[:, j], strict=True))
        return out

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        out.fill(ZERO)
        return out

    def is_zero(self, arr: np.ndarray) -> bool:
        """Structural: every entry is the constant 0 (never decides a symbolic equation)."""
        return all(v == 0 for v in np.asarray(arr, dtype=object).flat)

    def rows(self, op: str, a: np.ndarray) -> np.ndarray:
        """``softmax`` over the last axis as atoms (:func:`softmax`: ``1/c`` on a row of one
        value); ``logsumexp`` has no value here (the proofs need only its gradient)."""
        if op != "softmax":
            raise BackendError(f"'{op}' has no exact value on the DAG backend; only softmax "
                               "(an uninterpreted atom) is supported")
        arr = _map(lambda v: v, a)
        c = arr.shape[-1]
        flat = arr.reshape(-1, c)
        out = np.empty(flat.shape, dtype=object)
        for i, row in enumerate(flat):
            out[i, :] = softmax(list(row))
        return out.reshape(arr.shape)

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        if op == "relu":
            return _map(relu, a)
        if op == "step":
            return _map(heaviside, a)
        if op == "sat":
            return _map(sat, a)
        if op == "dsat":
            return _map(dsat, a)
        if op == "pow":
            k = int(attrs["k"])
            return _map(lambda v: power(v, k), a)
        if op == "recip":
            strict = bool(attrs.get("strict"))
            return _map(lambda v: recip(v, strict), a)
        raise BackendError(
            f"'{op}' has no exact symbolic value; the algebra backend supports identity, relu, "
            "sat, square and the reciprocal unit"
        )


DAG = DagBackend()
