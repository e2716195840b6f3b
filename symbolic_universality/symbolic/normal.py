"""A canonical polynomial normal form for the algebra backend's expressions.

Every value the sympy backend produces on the construction's graphs is built from
rationals, symbols (data, labels, register contents), ``+``, ``*``, non-negative integer
powers, ``Heaviside(z, 0)`` (from relu, step, sat, dsat) and the total reciprocal
``Recip(z)``. This module maps such an expression to a polynomial over the rationals in
*generators*: the symbols and the *atoms* ``H(p)`` and ``recip(p)``, whose arguments ``p``
are themselves in normal form (so an atom is identified by its argument's normal form,
whatever expression built it). Two normalisations are applied, both exact:

* ``H(p)^k = H(p)`` for ``k >= 1`` (a step is 0 or 1) and ``H(c p) = H(p)`` for ``c > 0``;
* ``recip(c p) = recip(p) / c`` for a rational ``c != 0``; constants are evaluated
  (``H(c) = [c > 0]``, ``recip(0) = 0``).

**Identity proof.** If the normal form of ``a - b`` is the zero polynomial, then
``a = b`` for every value of every generator, in particular for the values the atoms take
on any data: a proof of ``a = b`` for all data (the atoms treated as independent
indeterminates only *strengthens* the claim). Otherwise :func:`Normalizer.decide_zero`
does a *case analysis over the sign conditions*: it picks an innermost step atom
``H(q)``, substitutes 0 and 1 (on every datum exactly one case holds; nested atoms are
re-normalised after the substitution) and recurses; zero in every case is again a proof.
A non-zero leaf is *not* a refutation (the case may be infeasible): the caller then looks
for a concrete counterexample and replays it exactly.

Memory and time are those of the expanded polynomials, built bottom-up over the
expression DAG with memoisation; coefficients are Python integers over one common
denominator per polynomial (much faster than ``sympy.expand`` or ``Fraction`` arithmetic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

from ..backends.symbolic import Recip, Softmax

Monomial = tuple[int, ...]  # sorted generator ids, repeated for powers (x^2 = (x, x))
ONE: Monomial = ()

__all__ = ["MAX_TERMS", "DagNormalizer", "Generator", "NormalFormError", "NormalFormTooLarge",
           "Normalizer", "Poly"]


class NormalFormError(ValueError):
    """An expression outside the fragment the normal form covers (with the operation)."""


class NormalFormTooLarge(NormalFormError):
    """An expanded polynomial exceeded :data:`MAX_TERMS` terms (undecided, not an error)."""


#: A product whose expansion exceeds this many terms stops the normal form (``unknown``),
#: so a failed abbreviation cannot exhaust the memory.
MAX_TERMS = 2_000_000


class Poly:
    """A polynomial ``sum_m terms[m] * m / den`` with integer ``terms`` and ``den > 0``,
    kept reduced (``gcd(den, *terms) = 1``): equal polynomials have equal representations."""

    __slots__ = ("terms", "den")

    def __init__(self, terms: dict[Monomial, int] | None = None, den: int = 1) -> None:
        t = {m: c for m, c in (terms or {}).items() if c}
        if den < 0:
            t = {m: -c for m, c in t.items()}
            den = -den
        if not t:
            den = 1
        elif den != 1:
            g = math.gcd(den, *t.values())
            if g != 1:
                t = {m: c // g for m, c in t.items()}
                den //= g
        self.terms = t
        self.den = den

    @staticmethod
    def const(c: Fraction | int) -> Poly:
        c = Fraction(c)
        return Poly({ONE: c.numerator}, c.denominator)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Poly) and self.den == other.den and self.terms == other.terms

    __hash__ = None  # type: ignore[assignment]

    def constant(self) -> Fraction | None:
        """The value if the polynomial is a constant, else ``None``."""
        if not self.terms:
            return Fraction(0)
        if set(self.terms) == {ONE}:
            return Fraction(self.terms[ONE], self.den)
        return None

    def coeff(self, m: Monomial) -> Fraction:
        return Fraction(self.terms.get(m, 0), self.den)

    def items(self) -> Iterable[tuple[Monomial, Fraction]]:
        for m, c in self.terms.items():
            yield m, Fraction(c, self.den)

    def scale(self, c: Fraction | int) -> Poly:
        c = Fraction(c)
        if c == 0:
            return Poly()
        return Poly({m: v * c.numerator for m, v in self.terms.items()}, self.den * c.denominator)

    def add(self, other: Poly, sign: int = 1) -> Poly:
        """``self + sign * other``."""
        if not other.terms:
            return self
        if not self.terms:
            return other if sign == 1 else other.scale(-1)
        L = self.den * other.den // math.gcd(self.den, other.den)
        fa, fb = L // self.den, (L // other.den) * sign
        out = {m: c * fa for m, c in self.terms.items()} if fa != 1 else dict(self.terms)
        for m, c in other.terms.items():
            v = out.get(m, 0) + c * fb
            if v:
                out[m] = v
            else:
                out.pop(m, None)
        return Poly(out, L)

    def key(self) -> tuple[tuple[Monomial, int], ...]:
        return tuple(sorted(self.terms.items()))


def _primitive(p: Poly, positive_lead: bool) -> tuple[Poly, Fraction]:
    """``p = factor * q`` with ``q`` integer and primitive (leading coefficient ``> 0`` if
    ``positive_lead``, else only the content removed); returns ``(q, factor)``."""
    g = math.gcd(*p.terms.values())
    lead = max(p.terms)
    if positive_lead and p.terms[lead] < 0:
        g = -g
    q = Poly({m: c // g for m, c in p.terms.items()})
    return q, Fraction(g, p.den)


@dataclass(frozen=True)
class Generator:
    """A generator of the polynomial ring: a symbol or an atom over a primitive argument."""

    kind: str  # sym | H | recip
    name: str = ""
    arg: tuple[tuple[Monomial, int], ...] = ()

    @property
    def boolean(self) -> bool:
        return self.kind == "H"


class Normalizer:
    """Converts sympy expressions to canonical polynomials (see the module docstring)."""

    #: a lower cap than :data:`MAX_TERMS` for this normalizer (``None``: the global one)
    max_terms: int | None = None

    def __init__(self) -> None:
        self.gens: list[Generator] = []
        self._ids: dict[Generator, int] = {}
        self._memo: dict[sp.Basic, Poly] = {}
        self._boolean: set[int] = set()

    # ------------------------------------------------------------ generators

    def gen(self, g: Generator) -> int:
        i = self._ids.get(g)
        if i is None:
            i = len(self.gens)
            self.gens.append(g)
            self._ids[g] = i
            if g.boolean:
                self._boolean.add(i)
        return i

    def var(self, g: Generator) -> Poly:
        return Poly({(self.gen(g),): 1})

    def heaviside(self, p: Poly) -> Poly:
        """``H(p)`` with ``H(0) = 0``; ``H(c q) = H(q)`` for ``c > 0``."""
        c = p.constant()
        if c is not None:
            return Poly.const(1 if c > 0 else 0)
        q, _ = _primitive(p, positive_lead=False)
        return self.var(Generator("H", arg=q.key()))

    def recip(self, p: Poly) -> Poly:
        """``recip(p)`` (``1/p``, ``recip(0) = 0``); ``recip(c q) = recip(q) / c``."""
        c = p.constant()
        if c is not None:
            return Poly.const(0 if c == 0 else 1 / c)
        q, factor = _primitive(p, positive_lead=True)
        return self.var(Generator("recip", arg=q.key())).scale(1 / factor)

    # ------------------------------------------------------------ arithmetic

    def _mono_mul(self, a: Monomial, b: Monomial) -> Monomial:
        r = tuple(sorted(a + b))
        if len(set(r)) == len(r):
            return r
        boolean = self._boolean
        out: list[int] = []
        prev = -1
        for g in r:
            if g == prev and g in boolean:
                continue  # H^2 = H
            out.append(g)
            prev = g
        return tuple(out)

    def mul(self, p: Poly, q: Poly) -> Poly:
        if not p.terms or not q.terms:
            return Poly()
        a, b = (p.terms, q.terms) if len(p.terms) <= len(q.terms) else (q.terms, p.terms)
        if self.max_terms is not None and len(a) * len(b) > self.max_terms:
            raise NormalFormTooLarge(f"an expanded product of {len(a)} by {len(b)} terms "
                                     f"(the cap is {self.max_terms})")
        out: dict[Monomial, int] = {}
        get = out.get
        mono = self._mono_mul
        for m1, c1 in a.items():
            for m2, c2 in b.items():
                m = mono(m1, m2) if m1 and m2 else (m1 or m2)
                out[m] = get(m, 0) + c1 * c2
        cap = MAX_TERMS if self.max_terms is None else min(self.max_terms, MAX_TERMS)
        if len(out) > cap:
            raise NormalFormTooLarge(
                f"an expanded product has {len(out)} terms (more than {cap})")
        return Poly(out, p.den * q.den)

    def power(self, p: Poly, k: int) -> Poly:
        out = Poly.const(1)
        base = p
        while k:
            if k & 1:
                out = self.mul(out, base)
            k >>= 1
            if k:
                base = self.mul(base, base)
        return out

    # ------------------------------------------------------------ conversion

    def poly(self, expr: object) -> Poly:
        """The normal form of ``expr`` (a sympy expression, a Fraction or an int)."""
        if isinstance(expr, (Fraction, int)):
            return Poly.const(expr)
        if not isinstance(expr, sp.Basic):
            raise NormalFormError(f"cannot normalise {expr!r} ({type(expr).__name__})")
        hit = self._memo.get(expr)
        if hit is not None:
            return hit
        out = self._convert(expr)
        self._memo[expr] = out
        return out

    def _convert(self, e: sp.Basic) -> Poly:
        if e.is_Rational:
            return Poly({ONE: int(e.p)}, int(e.q))
        if e.is_Symbol:
            return self.var(Generator("sym", name=e.name))
        if e.is_Add:
            out = Poly()
            for a in e.args:
                out = out.add(self.poly(a))
            return out
        if e.is_Mul:
            out = Poly.const(1)
            for a in e.args:
                out = self.mul(out, self.poly(a))
                if not out:
                    return out
            return out
        if e.is_Pow:
            base, exp = e.args
            if exp.is_Integer and int(exp) >= 0:
                return self.power(self.poly(base), int(exp))
            if exp.is_Integer and base.is_Rational:
                return Poly.const(Fraction(int(base.p), int(base.q)) ** int(exp))
            raise NormalFormError(f"power {e} is not a polynomial power")
        if isinstance(e, sp.Heaviside):
            if len(e.args) != 2 or e.args[1] != 0:
                raise NormalFormError(f"{e}: only Heaviside(z, 0) (H(0) = 0) is supported")
            return self.heaviside(self.poly(e.args[0]))
        if isinstance(e, Recip):
            return self.recip(self.poly(e.args[0]))
        if isinstance(e, Softmax):
            # an uninterpreted atom, identified by the normal forms of its arguments
            j, *z = e.args
            key = repr((int(j), tuple(self.poly(v).key() for v in z)))
            name = f"softmax:{key}"
            self.__dict__.setdefault("_softmax", {})[name] = e
            return self.var(Generator("sym", name=name))
        raise NormalFormError(f"cannot normalise {type(e).__name__}: {e}")

    def difference(self, a: object, b: object) -> Poly:
        """The normal form of ``a - b``."""
        return self.poly(a).add(self.poly(b), -1)

    # ------------------------------------------------------------ back to sympy

    def gen_expr(self, i: int) -> sp.Expr:
        g = self.gens[i]
        if g.kind == "sym":
            atom = self.__dict__.get("_softmax", {}).get(g.name)
            if atom is not None and not isinstance(atom, sp.Basic):  # a DAG softmax term
                from ..backends.dag import to_sympy

                atom = to_sympy([atom.expr()])[0]
            return atom if atom is not None else sp.Symbol(g.name)
        arg = self.to_sympy(Poly(dict(g.arg)))
        if g.kind == "H":
            return sp.Heaviside(arg, 0, evaluate=False)
        return Recip(arg)

    def to_sympy(self, p: Poly) -> sp.Expr:
        """An expanded sympy expression equal to the polynomial ``p``."""
        terms = []
        for m, c in sorted(p.items()):
            factors: list[sp.Expr] = [sp.Rational(c.numerator, c.denominator)]
            for g in m:
                factors.append(self.gen_expr(g))
            terms.append(sp.Mul(*factors))
        return sp.Add(*terms)

    # ------------------------------------------------------------ case analysis

    def _arg_gens(self, g: int) -> set[int]:
        return {h for m, _ in self.gens[g].arg for h in m}

    def generators_of(self, p: Poly) -> set[int]:
        """Every generator in ``p``, including those inside atom arguments."""
        seen: set[int] = set()
        stack = [g for m in p.terms for g in m]
        while stack:
            g = stack.pop()
            if g in seen:
                continue
            seen.add(g)
            stack.extend(self._arg_gens(g))
        return seen

    def substitute(self, p: Poly, values: dict[int, Fraction]) -> Poly:
        """``p`` with the generators of ``values`` replaced by numbers (atoms re-normalised)."""
        touched: set[int] = set()
        for g in range(len(self.gens)):
            if g in values or (self._arg_gens(g) & touched):
                touched.add(g)
        cache: dict[int, Poly] = {}

        def image(g: int) -> Poly:
            hit = cache.get(g)
            if hit is not None:
                return hit
            if g in values:
                out = Poly.const(values[g])
            elif g not in touched:
                out = Poly({(g,): 1})
            else:
                gen = self.gens[g]
                arg = sub(Poly(dict(gen.arg)))
                out = self.heaviside(arg) if gen.kind == "H" else self.recip(arg)
                if any(h in values for m in out.terms for h in m):
                    out = sub(out)  # the rebuilt atom is one of the substituted generators
            cache[g] = out
            return out

        def sub(q: Poly) -> Poly:
            if not any(g in touched for m in q.terms for g in m):
                return q
            out = Poly()
            for m, c in q.items():
                term = Poly.const(c)
                for g in m:
                    term = self.mul(term, image(g))
                    if not term:
                        break
                out = out.add(term)
            return out

        return sub(p)

    def decide_zero(self, p: Poly, budget: int = 256) -> bool | None:
        """``True`` if ``p`` vanishes for every real value of its symbols (case analysis over
        the step atoms, innermost first); ``None`` if some case leaves a non-zero polynomial
        or the budget of cases is exhausted (not a refutation: the case may be infeasible)."""
        counter = [budget]

        def rec(q: Poly) -> bool | None:
            if not q:
                return True
            if counter[0] <= 0:
                return None
            atoms = [g for g in self.generators_of(q) if self.gens[g].kind == "H"]
            if not atoms:
                return None
            innermost = [g for g in atoms
                         if not any(self.gens[h].kind != "sym" for h in self._arg_gens(g))]
            pick = min(innermost or atoms)
            counter[0] -= 1
            for v in (Fraction(0), Fraction(1)):
                r = rec(self.substitute(q, {pick: v}))
                if r is not True:
                    return r
            return True

        return rec(p)

    def atoms(self, p: Poly) -> list[sp.Expr]:
        """The step and reciprocal atoms of ``p`` as sympy expressions (for reports)."""
        return [self.gen_expr(g) for g in sorted(self.generators_of(p))
                if self.gens[g].kind != "sym"]


class DagNormalizer(Normalizer):
    """The normal form of the interned values of :mod:`..backends.dag` (and of sympy
    expressions, as :class:`Normalizer`): the same generators, rules and case analysis.

    ``dag_poly(e, opaque)`` expands ``e`` bottom-up over its DAG (no recursion), except the
    nodes whose id is in ``opaque``: each of those is a fresh generator ``_dag<id>`` (an
    abbreviation of a subexpression common to both sides of an identity: sound, since an
    identity in the fresh generators holds for every value of them)."""

    def __init__(self) -> None:
        super().__init__()
        self._dmemo: dict[int, Poly] = {}

    def poly(self, expr: object) -> Poly:
        from ..backends.dag import Expr

        if isinstance(expr, Expr):
            return self.dag_poly(expr)
        return super().poly(expr)

    def clear(self) -> None:
        """Forget the memoised expansions (between obligations: they can be large)."""
        self._dmemo.clear()

    def dag_poly(self, e: Any, opaque: set[int] | None = None,
                 memo: dict[int, Poly] | None = None) -> Poly:
        from ..backends.dag import Expr, children

        if not isinstance(e, Expr):
            return Poly.const(Fraction(e))
        if memo is None:
            memo = self._dmemo if not opaque else {}
        opaque = opaque or set()
        stack: list[tuple[Any, bool]] = [(e, False)]
        while stack:
            node, done = stack.pop()
            nid = node.id
            if nid in memo:
                continue
            if not done:
                if nid in opaque:
                    memo[nid] = self.var(Generator("sym", name=f"_dag{nid}"))
                    continue
                stack.append((node, True))
                stack.extend((c, False) for c in children(node) if c.id not in memo)
                continue
            if isinstance(node, Expr):
                out = Poly.const(node.const)
                for t, v in node.terms:
                    out = out.add(memo[t.id].scale(v))
            elif node.kind == "sym":
                out = self.var(Generator("sym", name=node.name))
            elif node.kind == "mul":
                out = Poly.const(1)
                for f in node.factors:
                    out = self.mul(out, memo[f.id])
            elif node.kind == "H":
                out = self.heaviside(memo[node.arg.id])
            elif node.kind == "softmax":
                # an uninterpreted atom, identified by the normal forms of its row (as the
                # sympy path identifies Softmax atoms)
                key = repr((int(node.name), tuple(memo[f.id].key() for f in node.factors)))
                name = f"softmax:{key}"
                self.__dict__.setdefault("_softmax", {}).setdefault(name, node)
                out = self.var(Generator("sym", name=name))
            else:
                out = self.recip(memo[node.arg.id])
            memo[nid] = out
        return memo[e.id]

    def dag_difference(self, a: Any, b: Any, opaque: set[int] | None = None) -> Poly:
        """The normal form of ``a - b`` (``opaque`` nodes abbreviated)."""
        memo: dict[int, Poly] | None = None if not opaque else {}
        return self.dag_poly(a, opaque, memo).add(self.dag_poly(b, opaque, memo), -1)
