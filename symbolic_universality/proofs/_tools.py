"""Shared machinery for the lemma proofs: sat, GD steps, identity and z3 checks.

Every identity check is honest in both directions:

* ``PROVED``  -- the difference of the two sides simplifies to ``0``;
* ``FAILED``  -- it does not, and a concrete instance (small integers for
  shapes and counts, random polynomials for the undefined functions, random
  rationals for every symbol, respecting their assumptions) evaluates the
  difference to a nonzero rational: a genuine counterexample to the claim;
* ``UNKNOWN`` -- neither.

z3 checks assert the negation of a claim: ``unsat`` is PROVED, ``sat`` is FAILED
(with the model as counterexample), ``unknown`` (including a time-out) is UNKNOWN.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from fractions import Fraction

import sympy as sp
import z3
from sympy.core.function import AppliedUndef

from ._result import FAILED, PROVED, UNKNOWN, Check

# ---------------------------------------------------------------------------
# activations


def sat(z: sp.Expr) -> sp.Expr:
    """Saturated linear unit sat(z) = min(1, max(0, z)) as a sympy Piecewise.

    sympy differentiates a Piecewise branch by branch, so sat'(z) = 1 on 0 < z < 1
    and 0 on the saturated branches; the construction only evaluates it away from
    the kinks 0 and 1 (the flat-gates lemma), where this derivative is the true one.
    """
    return sp.Piecewise((0, z <= 0), (z, z < 1), (1, True))


def z3_sat(z: z3.ArithRef) -> z3.ArithRef:
    """sat(z) = min(1, max(0, z)) as a z3 term."""
    return z3.If(z <= 0, z3.RealVal(0), z3.If(z >= 1, z3.RealVal(1), z))


def z3_sat_prime(z: z3.ArithRef) -> z3.ArithRef:
    """sat'(z): 1 on the open interval (0, 1), 0 on the saturated region (kinks included)."""
    return z3.If(z3.And(z > 0, z < 1), z3.RealVal(1), z3.RealVal(0))


# ---------------------------------------------------------------------------
# sympy helpers


def rat(x: object) -> sp.Expr:
    """Exact sympy number from an int, Fraction, str or sympy expression."""
    if isinstance(x, Fraction):
        return sp.Rational(x.numerator, x.denominator)
    return sp.nsimplify(x, rational=True) if isinstance(x, float) else sp.sympify(x)


def eta_symbol(eta: object | None) -> sp.Expr:
    """The step size: a positive symbol (all η > 0) if ``eta`` is None, else its exact value."""
    return sp.Symbol("eta", positive=True) if eta is None else rat(eta)


def fill_indexed(expr: sp.Expr, base: sp.IndexedBase, value: Callable[..., sp.Expr]) -> sp.Expr:
    """Replace every entry ``base[idx]`` (bound or free indices) by ``value(*idx)``."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == base,
        lambda e: value(*e.indices),
    )


def zero_indexed(expr: sp.Expr, *bases: sp.IndexedBase) -> sp.Expr:
    """Set every entry of the given registers to 0 (the register is all zero)."""
    for b in bases:
        expr = fill_indexed(expr, b, lambda *_: sp.Integer(0))
    return expr


def at_function(
    expr: sp.Expr, app: sp.Expr, value: sp.Expr, derivatives: dict[sp.Symbol, sp.Expr]
) -> sp.Expr:
    """Evaluate an undefined function application ``app`` (e.g. a gate) at the state:
    first-order derivatives ``d app/d v`` by ``derivatives[v]``, then ``app`` by ``value``."""
    for v, d in derivatives.items():
        expr = expr.subs(sp.Derivative(app, v), d)
    return expr.subs(app, value)


def gd_update(loss: sp.Expr, param: sp.Expr, eta: sp.Expr) -> sp.Expr:
    """One GD step on ``loss`` for ``param``: ``param - eta * d loss / d param`` (unevaluated state)."""
    return param - eta * sp.diff(loss, param)


def settle(expr: sp.Expr) -> sp.Expr:
    """Evaluate sums, Kronecker deltas and piecewise branches as far as sympy can."""
    expr = expr.doit()
    return sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr


# ---------------------------------------------------------------------------
# refutation by instantiation


def _rand_rational(rng: random.Random, positive: bool = False) -> sp.Rational:
    while True:
        q = sp.Rational(rng.randint(-9, 9), rng.randint(1, 5))
        if q != 0 and (not positive or q > 0):
            return q


def _poly_lambda(rng: random.Random, arity: int) -> sp.Lambda:
    xs = sp.symbols(f"t0:{arity}")
    body = sp.Integer(rng.randint(1, 5))
    for i, x in enumerate(xs):
        body += rng.randint(1, 4) * x
        for y in xs[i:]:
            body += rng.randint(-2, 3) * x * y
    return sp.Lambda(xs, body)


def instantiate(expr: sp.Expr, rng: random.Random) -> tuple[sp.Expr, dict[str, str]]:
    """A random concrete instance of ``expr`` (see the module docstring)."""
    witness: dict[str, str] = {}
    ints = {}
    for s in sorted(expr.free_symbols, key=str):
        if isinstance(s, sp.Symbol) and s.is_integer:
            lo = 1 if s.is_positive else 0 if s.is_nonnegative else -2
            ints[s] = sp.Integer(rng.randint(lo, lo + 2))
            witness[str(s)] = str(ints[s])
    expr = expr.subs(ints)
    funcs = sorted({type(a) for a in expr.atoms(AppliedUndef)}, key=str)
    for f in funcs:
        arity = max(len(a.args) for a in expr.atoms(AppliedUndef) if type(a) is f)
        lam = _poly_lambda(rng, arity)
        witness[str(f)] = str(lam)
        expr = expr.replace(f, lambda *args, _lam=lam: _lam(*args))
    expr = settle(expr)
    idx = {}
    for e in sorted(expr.atoms(sp.Indexed), key=str):
        idx[e] = _rand_rational(rng)
        witness[str(e)] = str(idx[e])
    expr = expr.subs(idx)
    rest = {}
    for s in sorted(expr.free_symbols, key=str):
        rest[s] = _rand_rational(rng, positive=bool(s.is_positive))
        witness[str(s)] = str(rest[s])
    expr = sp.simplify(settle(expr.subs(rest)))
    return expr, witness


def refute(expr: sp.Expr, trials: int = 6, seed: int = 0) -> dict[str, str] | None:
    """Search for an instance where ``expr`` is a nonzero number; return it or None."""
    for t in range(trials):
        rng = random.Random(seed * 1000 + t)
        try:
            value, witness = instantiate(expr, rng)
        except Exception:  # noqa: BLE001 - an instance that sympy cannot evaluate is no witness
            continue
        if value.is_number and value.is_comparable and value != 0:
            witness["value of lhs - rhs"] = str(value)
            return witness
    return None


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def identity(name: str, lhs: sp.Expr, rhs: sp.Expr = sp.Integer(0)) -> Check:
    """Check ``lhs == rhs`` as an identity in all symbols and undefined functions."""
    diff = settle(sp.sympify(lhs) - sp.sympify(rhs))
    red = sp.expand(diff)
    if red != 0:
        red = sp.simplify(red)
    if red == 0:
        return Check(name, PROVED, "identity: lhs - rhs simplifies to 0")
    witness = refute(red)
    if witness is not None:
        return Check(name, FAILED, _short(f"not an identity, counterexample {witness}"))
    return Check(name, UNKNOWN, _short(f"lhs - rhs = {red} neither simplified to 0 nor refuted"))


def identities(
    prefix: str, pairs: Iterable[tuple[str, sp.Expr, sp.Expr]]
) -> list[Check]:
    """Several :func:`identity` checks, names prefixed."""
    return [identity(f"{prefix}{n}", lhs, rhs) for n, lhs, rhs in pairs]


# ---------------------------------------------------------------------------
# z3


def z3_prove(name: str, claim: z3.BoolRef, timeout_ms: int = 20000) -> Check:
    """Prove ``claim`` for all values of its free constants: ``unsat`` of its negation."""
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(z3.Not(claim))
    res = solver.check()
    if res == z3.unsat:
        return Check(name, PROVED, "unsat of the negation (z3)")
    if res == z3.sat:
        model = solver.model()
        cex = ", ".join(f"{d.name()}={model[d]}" for d in sorted(model.decls(), key=str))
        return Check(name, FAILED, _short(f"z3 counterexample: {cex}"))
    return Check(name, UNKNOWN, f"z3 returned unknown ({solver.reason_unknown()})")


def z3_rat(x: object) -> z3.ArithRef:
    """Exact z3 rational from an int, Fraction or sympy Rational."""
    q = Fraction(str(rat(x)))
    return z3.RealVal(f"{q.numerator}/{q.denominator}")
