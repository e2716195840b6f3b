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
from collections.abc import Callable
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


def at_function(
    expr: sp.Expr, app: sp.Expr, value: sp.Expr, derivatives: dict[sp.Symbol, sp.Expr]
) -> sp.Expr:
    """Evaluate an undefined function application ``app`` (e.g. a gate) at the state:
    first-order derivatives ``d app/d v`` by ``derivatives[v]``, then ``app`` by ``value``."""
    for v, d in derivatives.items():
        expr = expr.subs(sp.Derivative(app, v), d)
    return expr.subs(app, value)


def gd_update(loss: sp.Expr, param: sp.Expr, eta: sp.Expr) -> sp.Expr:
    """One GD step on ``loss`` for ``param``: ``param - eta * d loss / d param``."""
    return param - eta * sp.diff(loss, param)


def _cheap_sum(e: sp.Basic) -> bool:
    """Sums worth evaluating: Kronecker-delta sums, constant summands, numeric ranges.
    (Other sums with symbolic bounds are left alone: sympy's search for a closed form
    is slow and never needed here.)"""
    if not isinstance(e, sp.Sum):
        return False
    if e.function.has(sp.KroneckerDelta) or not e.function.has(*e.variables):
        return True
    return all((hi - lo).is_Integer for _, lo, hi in e.limits)


def _eval_sum(e: sp.Sum) -> sp.Expr:
    """Evaluate a cheap sum: finite ranges term by term (no expansion), the rest by doit."""
    if not all((hi - lo).is_Integer for _, lo, hi in e.limits):
        return e.doit()
    body = e.function
    for v, lo, hi in e.limits:
        body = sp.Add(*[body.subs(v, lo + t) for t in range(int(hi - lo) + 1)])
    return body


def settle(expr: sp.Expr) -> sp.Expr:
    """Evaluate derivatives, Kronecker-delta sums, finite sums and piecewise branches."""
    expr = sp.sympify(expr)
    if expr.has(sp.Derivative):
        expr = expr.replace(lambda e: isinstance(e, sp.Derivative), lambda e: e.doit())
    for _ in range(4):
        new = expr.replace(_cheap_sum, _eval_sum)
        if new == expr:
            break
        expr = new
    return sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr


# ---------------------------------------------------------------------------
# refutation by instantiation


def _rand_rational(rng: random.Random, positive: bool = False) -> sp.Rational:
    while True:
        q = sp.Rational(rng.randint(-9, 9), rng.choice((1, 2, 3, 4, 5, 8, 16)))
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


Adjust = Callable[[dict, dict], dict]


def instantiate(
    expr: sp.Expr, rng: random.Random, adjust: Adjust | None = None
) -> tuple[sp.Expr, dict[str, str]]:
    """A random concrete instance of ``expr`` (see the module docstring).

    ``adjust(indexed_values, integer_values)`` may modify the chosen values of the
    indexed atoms so that the instance satisfies a hypothesis (e.g. labels summing to 1).
    """
    witness: dict[str, str] = {}
    ints = {}
    for s in sorted(expr.free_symbols, key=str):
        if isinstance(s, sp.Symbol) and s.is_integer:
            lo = 1 if s.is_positive else 0 if s.is_nonnegative else -2
            ints[s] = sp.Integer(rng.randint(lo, lo + 1))
            witness[str(s)] = str(ints[s])
    expr = expr.subs(ints)
    expr = settle(expr)
    # functions that are differentiation variables (d l / d O(x)) are instantiated last
    wrt = {type(v) for d in expr.atoms(sp.Derivative) for v in d.variables}
    funcs = sorted({type(a) for a in expr.atoms(AppliedUndef)}, key=lambda f: (f in wrt, str(f)))
    for f in funcs:
        apps = [a for a in expr.atoms(AppliedUndef) if type(a) is f]
        if not apps:
            continue
        lam = _poly_lambda(rng, max(len(a.args) for a in apps))
        witness[str(f)] = str(lam)
        expr = expr.replace(f, lambda *args, _lam=lam: _lam(*args))
        expr = expr.replace(
            lambda e: isinstance(e, (sp.Derivative, sp.Subs)), lambda e: e.doit()
        )
    expr = settle(expr)
    idx = {}
    for e in sorted(expr.atoms(sp.Indexed), key=str):
        idx[e] = _rand_rational(rng)
    if adjust is not None:
        idx = adjust(idx, ints)
    for e, v in idx.items():
        witness[str(e)] = str(v)
    expr = expr.subs(idx)
    rest = {}
    for s in sorted(expr.free_symbols, key=str):
        rest[s] = _rand_rational(rng, positive=bool(s.is_positive))
        witness[str(s)] = str(rest[s])
    return settle(expr.subs(rest)), witness


def _nonzero(value: sp.Expr) -> bool:
    """True if the closed number ``value`` is certainly nonzero (exact for rationals;
    otherwise by sympy's adaptive-precision evaluation to 30 correct digits)."""
    if value.is_Rational:
        return value != 0
    if not value.is_number:
        return False
    try:
        v = sp.N(value, 30, strict=True)
    except Exception:  # noqa: BLE001 - precision could not be guaranteed: no witness
        return False
    return bool(v.is_comparable and abs(v) > sp.Float("1e-20"))


def refute(
    expr: sp.Expr, trials: int = 6, seed: int = 0, adjust: Adjust | None = None
) -> dict[str, str] | None:
    """Search for an instance where ``expr`` is a nonzero number; return it or None."""
    for t in range(trials):
        rng = random.Random(seed * 1000 + t)
        try:
            value, witness = instantiate(expr, rng, adjust)
        except Exception:  # noqa: BLE001 - an instance that sympy cannot evaluate is no witness
            continue
        if _nonzero(value):
            witness["value of lhs - rhs"] = str(value)
            return witness
    return None


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def identity(
    name: str, lhs: sp.Expr, rhs: sp.Expr | int = 0, adjust: Adjust | None = None
) -> Check:
    """Check ``lhs == rhs`` as an identity in all symbols and undefined functions.

    ``adjust`` makes refutation instances satisfy the claim's hypotheses (see
    :func:`instantiate`), so that a reported counterexample is a genuine one."""
    diff = settle(sp.sympify(lhs) - sp.sympify(rhs))
    if diff == 0:
        return Check(name, PROVED, "identity: lhs - rhs simplifies to 0")
    if sp.count_ops(diff) > 60:  # large: a quick instance first, it refutes most false claims
        witness = refute(diff, trials=1, adjust=adjust)
        if witness is not None:
            return Check(name, FAILED, _short(f"not an identity, counterexample {witness}"))
    red = sp.expand(diff)
    if red != 0:
        red = sp.simplify(red)
    if red == 0:
        return Check(name, PROVED, "identity: lhs - rhs simplifies to 0")
    witness = refute(red, adjust=adjust)
    if witness is not None:
        return Check(name, FAILED, _short(f"not an identity, counterexample {witness}"))
    return Check(name, UNKNOWN, _short(f"lhs - rhs = {red} neither simplified to 0 nor refuted"))


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


# ---------------------------------------------------------------------------
# the compiler's constants (a lemma is about the extension that is built)


def compiler_constants() -> dict[str, object]:
    """The constants ``extension.compiler`` builds with: gate ``a, b``, final gate ``a_f,
    b_f``, clock ``e``, the flat-gates ``margin`` and ``radius`` (read at call time)."""
    from ..extension import compiler

    c = compiler.construction_constants()
    return {k: c[k] for k in ("a", "b", "a_f", "b_f", "e", "margin", "radius")}


def gate_defaults(a: object, b: object, a_f: object = None, b_f: object = None
                  ) -> tuple[object, object, object, object]:
    """Fill in the gate coefficients left as ``None`` from :func:`compiler_constants`."""
    c = compiler_constants()
    return (c["a"] if a is None else a, c["b"] if b is None else b,
            c["a_f"] if a_f is None else a_f, c["b_f"] if b_f is None else b_f)


def head_constant(eta: sp.Expr) -> sp.Expr:
    """The compiler's head constant ``c`` as a function of ``eta`` (``compiler.head_constant``)."""
    from ..extension import compiler

    return sp.sympify(compiler.head_constant(eta))


def read_scale(eta: sp.Expr) -> sp.Expr:
    """The compiler's labelled-read scale ``s`` as a function of ``eta``."""
    from ..extension import compiler

    return sp.sympify(compiler.read_scale(eta))


def gate_margin_check(a: object, b: object, a_f: object | None = None,
                      b_f: object | None = None) -> Check:
    """Lemma *flat gates*' margin: on every thermometer pattern the gate arguments
    (``b`` and ``a + b`` for ``g_k``; ``b_f`` and ``a_f + b_f`` for ``G``) lie outside
    ``[0, 1]`` by at least the compiler's ``FLAT_MARGIN``. On or near a kink of sat the
    derivative is a convention, and no lemma may rest on it (FAILED, not PROVED)."""
    margin = rat(compiler_constants()["margin"])
    args = {"g_k (pattern 1 1 or 0 0)": rat(b), "g_k (pattern 1 0)": rat(a) + rat(b)}
    if a_f is not None and b_f is not None:
        args.update({"G (z_K = 0)": rat(b_f), "G (z_K = 1)": rat(a_f) + rat(b_f)})
    name = f"gate arguments lie outside [0, 1] by >= the flat-gates margin {margin}"
    for where, v in args.items():
        if not v.is_Rational:
            return Check(name, UNKNOWN, f"argument of {where} is symbolic: {v}")
        dist = -v if v < 0 else v - 1 if v > 1 else sp.Integer(0)
        if dist < margin:
            return Check(name, FAILED, f"argument of {where} is {v}, at distance {dist} "
                         f"outside [0, 1] (kinks of sat at 0 and 1)")
    return Check(name, PROVED, "every argument is a number outside [0, 1] by the margin")
