"""An independent second checker of algebra verdicts: python-flint ``fmpq_mpoly``.

The algebra backend (:mod:`.normal`) proves ``got = expected`` with its own hand-written
polynomial arithmetic. This module re-decides the same obligation from the same sympy
expressions with a different implementation: FLINT's multivariate polynomials over the
rationals. It shares no arithmetic with :mod:`.normal`; only the *rules* of the fragment
are the same, each an exact identity:

* a step atom ``Heaviside(z, 0)`` (``H(0) = 0``) and a reciprocal ``Recip(z)``
  (``recip(0) = 0``) are indeterminates identified by the canonical form of their
  argument: ``H(c p) = H(p)`` for ``c > 0`` (``p`` divided by ``|lc(p)|``) and
  ``recip(c p) = recip(p) / c`` (``p`` monic); constant arguments are evaluated;
* ``H^k = H`` for ``k >= 1`` (the exponents of step atoms are clamped to 1, a ring
  homomorphism modulo ``H^2 - H``, so clamping the final polynomial suffices);
* a non-zero difference is split on an innermost step atom (``0`` and ``1`` substituted in
  the sympy expressions, which are then re-converted), as the first checker does.

:func:`recheck` returns ``True`` (the difference is zero, in every case), ``None``
(not confirmed) -- never a refutation: a non-zero case may be infeasible.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy as sp

from ..backends.symbolic import Recip, Softmax

__all__ = ["CHECKER", "available", "recheck", "recheck_dag"]

CHECKER = "python-flint fmpq_mpoly"


def available() -> bool:
    """Whether python-flint is installed."""
    try:
        import flint  # noqa: F401
    except ImportError:
        return False
    return True


def _depth(e: sp.Basic) -> int:
    """Nesting depth of step/reciprocal/softmax atoms inside ``e`` (0 for none)."""
    return max((1 + max(_depth(v) for v in _atom_args(a))
                for a in e.atoms(sp.Heaviside, Recip, Softmax) if a is not e), default=0)


def _atom_args(a: sp.Basic) -> tuple[sp.Basic, ...]:
    """The arguments an atom depends on (a softmax atom: its row, not its index)."""
    return tuple(a.args[1:]) if isinstance(a, Softmax) else (a.args[0],)


class _Flint:
    """One conversion context: the symbols and atoms of one set of expressions."""

    def __init__(self, exprs: Sequence[sp.Basic]) -> None:
        import flint

        self.flint = flint
        syms: set[sp.Symbol] = set()
        atoms: set[sp.Basic] = set()
        for e in exprs:
            syms |= e.free_symbols
            atoms |= e.atoms(sp.Heaviside, Recip, Softmax)
        self.symbols = sorted(syms, key=lambda s: s.name)
        self.atom_list = sorted(atoms, key=lambda a: (max(_depth(v) for v in _atom_args(a)),
                                                      sp.srepr(a)))
        names = [s.name for s in self.symbols] + [f"_a{i}" for i in range(len(self.atom_list))]
        self.nv = max(1, len(names))
        if not names:
            names = ["_unused"]
        self.ctx = flint.fmpq_mpoly_ctx.get(tuple(names), "lex")
        gens = self.ctx.gens()
        self.sym_var = {s: gens[i] for i, s in enumerate(self.symbols)}
        self.boolean: set[int] = set()
        self.atom_value: dict[sp.Basic, Any] = {}
        self.keys: dict[tuple[str, Any], Any] = {}
        self.memo: dict[sp.Basic, Any] = {}
        base = len(self.symbols)
        for i, a in enumerate(self.atom_list):  # innermost first
            if isinstance(a, Softmax):
                # an uninterpreted atom, identified by its index and its row's polynomials
                key = ("S", int(a.args[0]),
                       tuple(str(self.clamp(self.conv(v))) for v in a.args[1:]))
                self.atom_value[a] = self.keys.setdefault(key, gens[base + i])
                continue
            arg = self.clamp(self.conv(a.args[0]))
            self.atom_value[a] = self._atom(a, arg, base + i, gens[base + i])

    def const(self, c: Fraction | int) -> Any:
        c = Fraction(c)
        return self.ctx.from_dict({(0,) * self.nv: self.flint.fmpq(c.numerator, c.denominator)})

    def _atom(self, a: sp.Basic, arg: Any, index: int, var: Any) -> Any:
        fl = self.flint
        if arg.is_constant():
            c = Fraction(str(arg.leading_coefficient())) if not arg.is_zero() else Fraction(0)
            if isinstance(a, sp.Heaviside):
                return self.const(1 if c > 0 else 0)
            return self.const(0 if c == 0 else 1 / c)
        lc = arg.leading_coefficient()
        if isinstance(a, sp.Heaviside):
            if len(a.args) != 2 or a.args[1] != 0:
                raise ValueError(f"{a}: only Heaviside(z, 0) is in the fragment")
            norm = arg / (lc if lc > 0 else -lc)
            key = ("H", str(norm))
            if key not in self.keys:
                self.keys[key] = var
                self.boolean.add(index)
            return self.keys[key]
        norm = arg / lc
        key = ("R", str(norm))
        if key not in self.keys:
            self.keys[key] = var
        return self.keys[key] * fl.fmpq(1) / lc

    def clamp(self, p: Any) -> Any:
        """``p`` modulo ``H^2 - H`` for every step atom ``H``."""
        if not self.boolean or p.is_zero():
            return p
        out: dict[tuple[int, ...], Any] = {}
        changed = False
        for m, c in p.to_dict().items():
            mm = tuple(min(e, 1) if i in self.boolean else e for i, e in enumerate(m))
            changed |= mm != m
            out[mm] = out.get(mm, 0) + c
        if not changed:
            return p
        return self.ctx.from_dict({m: c for m, c in out.items() if c != 0})

    def conv(self, e: Any) -> Any:
        if isinstance(e, (int, Fraction)):
            return self.const(e)
        hit = self.memo.get(e)
        if hit is not None:
            return hit
        if e.is_Rational:
            out = self.const(Fraction(int(e.p), int(e.q)))
        elif e.is_Symbol:
            out = self.sym_var[e]
        elif e.is_Add:
            out = self.const(0)
            for a in e.args:
                out = out + self.conv(a)
        elif e.is_Mul:
            out = self.const(1)
            for a in e.args:
                out = out * self.conv(a)
        elif e.is_Pow and e.args[1].is_Integer and int(e.args[1]) >= 0:
            out = self.conv(e.args[0]) ** int(e.args[1])
        elif e.is_Pow and e.args[1].is_Integer and e.args[0].is_Rational:
            out = self.const(Fraction(int(e.args[0].p), int(e.args[0].q)) ** int(e.args[1]))
        elif isinstance(e, (sp.Heaviside, Recip, Softmax)):
            out = self.atom_value[e]
        else:
            raise ValueError(f"cannot convert {type(e).__name__} for the FLINT re-check")
        self.memo[e] = out
        return out


def _sympify(v: Any) -> sp.Basic:
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    return sp.sympify(v)


def recheck(got: Sequence[Any], expected: Sequence[Any], budget: int = 64) -> bool | None:
    """Re-decide ``got[i] = expected[i]`` for all ``i`` with FLINT (see the module doc)."""
    pairs = [(_sympify(a), _sympify(b)) for a, b in zip(got, expected, strict=True)]
    pairs = [(a, b) for a, b in pairs if a != b]
    if not pairs:
        return True
    counter = [budget]

    def rec(diffs: list[sp.Basic]) -> bool | None:
        diffs = [d for d in diffs if d != 0]
        if not diffs:
            return True
        ctx = _Flint(diffs)
        left = []
        for d in diffs:
            if not ctx.clamp(ctx.conv(d)).is_zero():
                left.append(d)
        if not left:
            return True
        if counter[0] <= 0:
            return None
        steps = [a for a in ctx.atom_list if isinstance(a, sp.Heaviside)
                 and not a.args[0].atoms(sp.Heaviside, Recip)
                 and not ctx.atom_value[a].is_constant()]
        if not steps:
            return None
        pick = ctx.atom_value[steps[0]]
        same = [a for a in steps if ctx.atom_value[a] == pick]
        counter[0] -= 1
        for v in (sp.Integer(0), sp.Integer(1)):
            sub = {a: v for a in same}
            r = rec([d.xreplace(sub) for d in left])
            if r is not True:
                return r
        return True

    return rec([a - b for a, b in pairs])


def _dag_flint(pairs: Sequence[tuple[Any, Any]], opaque: frozenset[int] | set[int]
               ) -> list[Any]:
    """Each ``a - b`` as a clamped ``fmpq_mpoly`` (one FLINT context and one conversion of
    every node for all the pairs), converted from the DAG values directly (the nodes in
    ``opaque`` are indeterminates ``_o<id>``; step and reciprocal atoms are indeterminates
    identified by FLINT's canonical form of their argument)."""
    import flint

    from ..backends.dag import Expr, postorder

    roots = [v for ab in pairs for v in ab if isinstance(v, Expr)]
    nodes = postorder(roots, set(opaque))
    names: list[str] = []
    index: dict[int, int] = {}
    syms: dict[str, int] = {}
    for node in nodes:
        if node.id in opaque:
            index[node.id] = len(names)
            names.append(f"_o{node.id}")
        elif not isinstance(node, Expr) and node.kind == "sym":
            if node.name not in syms:
                syms[node.name] = len(names)
                names.append(node.name)
            index[node.id] = syms[node.name]
        elif not isinstance(node, Expr) and node.kind in ("H", "recip", "softmax"):
            index[node.id] = len(names)
            names.append(f"_a{node.id}")
    nv = max(1, len(names))
    ctx = flint.fmpq_mpoly_ctx.get(tuple(names) if names else ("_unused",), "lex")
    gens = ctx.gens()
    zero_exp = (0,) * nv
    boolean: set[int] = set()

    def const(c: Fraction) -> Any:
        return ctx.from_dict({zero_exp: flint.fmpq(c.numerator, c.denominator)})

    def clamp(p: Any) -> Any:
        if not boolean or p.is_zero():
            return p
        out: dict[tuple[int, ...], Any] = {}
        changed = False
        for m, c in p.to_dict().items():
            mm = tuple(min(e, 1) if i in boolean else e for i, e in enumerate(m))
            changed |= mm != m
            out[mm] = out.get(mm, 0) + c
        if not changed:
            return p
        return ctx.from_dict({m: c for m, c in out.items() if c != 0})

    keys: dict[tuple[str, str], Any] = {}
    val: dict[int, Any] = {}
    for node in nodes:
        if node.id in opaque:
            val[node.id] = gens[index[node.id]]
        elif isinstance(node, Expr):
            out = const(node.const)
            for t, v in node.terms:
                out = out + val[t.id] * flint.fmpq(v.numerator, v.denominator)
            val[node.id] = out
        elif node.kind == "sym":
            val[node.id] = gens[index[node.id]]
        elif node.kind == "mul":
            out = const(Fraction(1))
            for f in node.factors:
                out = out * val[f.id]
            val[node.id] = out
        elif node.kind == "softmax":
            # an uninterpreted atom, identified by FLINT's canonical forms of its row
            row = tuple(str(clamp(val[f.id])) for f in node.factors)
            if all(r == row[0] for r in row[1:]):
                val[node.id] = const(Fraction(1, len(row)))
                continue
            key = ("S", repr((node.name, row)))
            if key not in keys:
                keys[key] = gens[index[node.id]]
            val[node.id] = keys[key]
        else:
            arg = clamp(val[node.arg.id])
            if arg.is_constant():
                c = Fraction(str(arg.leading_coefficient())) if not arg.is_zero() \
                    else Fraction(0)
                if node.kind == "H":
                    val[node.id] = const(Fraction(1 if c > 0 else 0))
                else:
                    val[node.id] = const(Fraction(0) if c == 0 else 1 / c)
                continue
            lc = arg.leading_coefficient()
            if node.kind == "H":
                key = ("H", str(arg / (lc if lc > 0 else -lc)))
                if key not in keys:
                    keys[key] = gens[index[node.id]]
                    boolean.add(index[node.id])
                val[node.id] = keys[key]
            else:
                key = ("R", str(arg / lc))
                if key not in keys:
                    keys[key] = gens[index[node.id]]
                val[node.id] = keys[key] * flint.fmpq(1) / lc
    out = []
    for a, b in pairs:
        va = val[a.id] if isinstance(a, Expr) else const(Fraction(a))
        vb = val[b.id] if isinstance(b, Expr) else const(Fraction(b))
        out.append(clamp(va - vb))
    return out


def recheck_dag(items: Sequence[tuple[Any, Any, Any]], budget: int = 64) -> bool | None:
    """Re-decide ``a = b`` for every ``(a, b, opaque)`` of DAG values (:mod:`..backends.dag`)
    with FLINT, converting the DAG directly (no sympy, no :mod:`.normal`): the nodes in
    ``opaque`` are the same abbreviations the first checker used (an identity in them holds
    for every value of them). A non-zero difference is re-decided by :func:`recheck` on the
    sympy form (its own case analysis over the step atoms). ``True`` or ``None``."""
    from ..backends.dag import to_sympy

    groups: dict[frozenset[int], list[tuple[Any, Any]]] = {}
    for a, b, opaque in items:
        groups.setdefault(frozenset(opaque), []).append((a, b))
    for opaque, pairs in groups.items():
        for (a, b), diff in zip(pairs, _dag_flint(pairs, opaque), strict=True):
            if diff.is_zero():
                continue
            # an abbreviation one side uses whole and the other in parts: expand it
            if opaque and _dag_flint([(a, b)], frozenset())[0].is_zero():
                continue
            sa, sb = to_sympy([a, b])
            if recheck([sa], [sb], budget) is not True:
                return None
    return True
