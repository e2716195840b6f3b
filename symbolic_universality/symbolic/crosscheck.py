"""Cross-check of the symbolic backends' semantics against the exact backend.

A proof on the algebra or SMT backend takes *both* sides of an obligation from that
backend: if its ``relu`` (say) were the identity, both sides would be wrong in the same
way and the identity would still hold. So before a unit's obligations count, both sides
are evaluated at a random rational point -- random data, one-hot labels, random register
contents, a random fresh input -- and compared with the values the *exact* backend
(Fractions, ``graph.evaluate`` unpruned, the reference interpreter, :mod:`.reference`)
computes at the same point. A disagreement makes the unit's obligation an ``error``
("semantics cross-check"), never a proof.

The symbolic values are evaluated by substitution: sympy expressions by a memoised exact
evaluator written here (``Heaviside(z, 0) = [z > 0]``, ``recip(0) = 0``), z3 terms by z3's
own model evaluator (``ModelRef.eval`` on a model holding exactly the point, no model
completion: a term with a symbol outside the point does not evaluate to a number and is a
disagreement), falling back to ``z3.substitute`` and ``z3.simplify``.
"""

from __future__ import annotations

import random
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import numpy as np
import sympy as sp
import z3

from ..backends import dag
from ..backends.scalars import EXACT
from ..backends.symbolic import Recip
from ..extension.compiler import Extension
from ..graph.evaluate import evaluate
from . import reference
from .obligations import Obligation, _step_registers, predicted_state

__all__ = ["MAX_ENTRIES", "cross_check", "symbolic_value", "z3_point"]

MAX_ENTRIES = 256


def _rand(rng: random.Random) -> Fraction:
    return Fraction(rng.randint(-9, 9), rng.randint(1, 5))


def _sym_eval(e: Any, env: dict[str, Fraction], memo: dict[int, Fraction]) -> Fraction:
    if isinstance(e, (int, Fraction)):
        return Fraction(e)
    key = id(e)
    hit = memo.get(key)
    if hit is not None:
        return hit
    if e.is_Rational:
        out = Fraction(int(e.p), int(e.q))
    elif e.is_Symbol:
        out = env[e.name]
    elif e.is_Add:
        out = sum((_sym_eval(a, env, memo) for a in e.args), Fraction(0))
    elif e.is_Mul:
        out = Fraction(1)
        for a in e.args:
            out *= _sym_eval(a, env, memo)
    elif e.is_Pow and e.args[1].is_Integer:
        base = _sym_eval(e.args[0], env, memo)
        k = int(e.args[1])
        out = Fraction(0) if base == 0 and k < 0 else base ** k
    elif isinstance(e, sp.Heaviside):
        z = _sym_eval(e.args[0], env, memo)
        h0 = Fraction(0) if len(e.args) < 2 else _sym_eval(e.args[1], env, memo)
        out = Fraction(1) if z > 0 else (h0 if z == 0 else Fraction(0))
    elif isinstance(e, Recip):
        z = _sym_eval(e.args[0], env, memo)
        out = Fraction(0) if z == 0 else 1 / z
    else:
        raise ValueError(f"cannot evaluate {type(e).__name__} in the cross-check")
    memo[key] = out
    return out


def z3_point(env: dict[str, Fraction]) -> z3.ModelRef:
    """A z3 model holding exactly the point ``env`` (each name a ``Real``)."""
    m = z3.Model()
    for nm, v in env.items():
        m.update_value(z3.Real(nm), z3.RealVal(f"{v.numerator}/{v.denominator}"))
    return m


def symbolic_value(bname: str, e: Any, env: dict[str, Fraction],
                   memo: dict[int, Fraction] | None = None,
                   model: z3.ModelRef | None = None) -> Fraction:
    """The exact value of a backend expression at the point ``env`` (name -> rational);
    ``model`` is :func:`z3_point` of ``env`` (z3 terms: evaluated by z3, in C)."""
    if isinstance(e, (int, Fraction)):
        return Fraction(e)
    if isinstance(e, dag.Expr):
        return dag.evaluate_at([e], env, {} if memo is None else memo)[0]
    if bname == "algebra":
        return _sym_eval(e, env, {} if memo is None else memo)
    term = e if isinstance(e, z3.ExprRef) else z3.RealVal(str(e))
    if model is not None:
        val = model.eval(term, model_completion=False)
        if z3.is_rational_value(val):
            return Fraction(val.as_fraction())
    names = {str(d) for d in _z3_vars(term)}
    pairs = [(z3.Real(nm), z3.RealVal(str(env[nm]))) for nm in names]
    val = z3.simplify(z3.substitute(term, *pairs) if pairs else term)
    if not z3.is_rational_value(val):
        raise ValueError(f"z3 term does not evaluate to a rational: {val}")
    return Fraction(val.as_fraction())


def _z3_vars(term: z3.ExprRef) -> set[z3.ExprRef]:
    seen: set[int] = set()
    out = set()
    stack = [term]
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_const(t) and t.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            out.add(t)
        stack.extend(t.children())
    return out


def _names(prefix: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [prefix]
    return [prefix + "_" + "_".join(str(i) for i in idx) for idx in np.ndindex(*shape)]


def cross_check(ext: Extension, bname: str, obligations: list[Obligation], k: int | str,
                n: int, labels: tuple[int, ...] | None, *, eta: Fraction | None = None,
                seed: int = 0, mode: str = "free") -> dict[str, Any]:
    """Evaluate both sides of each obligation at one random rational point on the symbolic
    backend and on the exact backend (see the module docstring). Returns ``{"status":
    "agree"|"disagree"|"skipped", "entries": m, ...}`` (``block``, ``detail`` on a
    disagreement)."""
    rng = random.Random(f"{seed}:{k}:{labels}:{bname}")
    K = ext.K
    d, c = ext.net.d, ext.net.c
    step = K if k == "final" else int(k)
    env: dict[str, Fraction] = {}
    x = np.empty((n, d), dtype=object)
    for idx in np.ndindex(n, d):
        x[idx] = env[f"x_{idx[0]}_{idx[1]}"] = _rand(rng)
    labs = labels if labels is not None else tuple(rng.randrange(c) for _ in range(n))
    y = np.empty((n, c), dtype=object)
    for i in range(n):
        for j in range(c):
            y[i, j] = env[f"y_{i}_{j}"] = Fraction(int(labs[i] == j))
    regs: dict[str, np.ndarray] = {}
    for ins in ext.program.instructions:
        if ins.step < step:
            shape = ins.target.shape
            vals = np.empty(shape, dtype=object)
            for idx, nm in zip(np.ndindex(*shape) if shape else [()],
                               _names(f"r_{ins.target.name}", shape), strict=True):
                vals[idx] = env[nm] = _rand(rng)
            regs[ins.target.name] = vals
    if mode == "data":  # the registers are the program's values on this data set
        from ..program.interpreter import run_program

        try:
            regs = run_program(ext.program, x, y, EXACT)
        except Exception as exc:  # noqa: BLE001
            return {"status": "skipped", "entries": 0,
                    "detail": f"the algorithm is undefined at this point: {exc}"}
    xs = np.array([_rand(rng) for _ in range(d)], dtype=object)
    for j in range(d):
        env[f"xs_{j}"] = xs[j]
    run_eta = Fraction(ext.eta if eta is None else eta)
    theta = predicted_state(ext, step, regs, EXACT)
    exact: dict[str, tuple[list[Fraction], list[Fraction]]] = {}
    try:
        if k == "final":
            vals = evaluate([ext.f_main, *ext.aux], EXACT, theta, xs.reshape(1, -1), None)
            f_ref = reference.forward(ext.net, theta["w"], xs, EXACT)
            exact["T2.F_main"] = (list(np.asarray(vals[0], dtype=object).reshape(-1)),
                                  list(np.asarray(f_ref, dtype=object).reshape(-1)))
            aux = [v for h in vals[1:] for v in np.asarray(h, dtype=object).reshape(-1)]
            exact["T2.F_aux"] = (aux, [Fraction(0)] * len(aux))
        else:
            grads = ext.gradient_nodes()
            names = [nm for nm in ext.shapes if grads[nm] is not None]
            values = evaluate([grads[nm] for nm in names], EXACT, theta, x, y, prune=False)
            new = dict(theta)
            for nm, v in zip(names, values, strict=True):
                new[nm] = theta[nm] - np.asarray(v, dtype=object).reshape(ext.shapes[nm]) \
                    * run_eta
            if step < K:
                after = _step_registers(ext, step, regs, SimpleNamespace(x=x, y=y), EXACT)
                expected = predicted_state(ext, step + 1, after, EXACT)
            else:
                expected = dict(theta)
                g = reference.mean_grad(ext.net, theta["w"], x, y, EXACT)
                expected["w"] = theta["w"] - g * run_eta
            for nm in ext.shapes:
                exact[nm] = (list(np.asarray(new[nm], dtype=object).reshape(-1)),
                             list(np.asarray(expected[nm], dtype=object).reshape(-1)))
    except Exception as exc:  # noqa: BLE001 - the exact backend is undefined here
        return {"status": "skipped", "entries": 0,
                "detail": f"the exact backend could not evaluate this point: {exc}"}
    pairs = [(ob, i) for ob in obligations if ob.block in exact for i in range(len(ob.got))]
    if len(pairs) > MAX_ENTRIES:
        pairs = rng.sample(pairs, MAX_ENTRIES)
    memo: dict[int, Fraction] = {}
    model = z3_point(env) if bname == "smt" else None
    for ob, i in pairs:
        eg, ee = exact[ob.block]
        for side, sym, ref in (("GD side", ob.got[i], eg[i]), ("predicted side",
                                                                ob.expected[i], ee[i])):
            try:
                val = symbolic_value(bname, sym, env, memo, model)
            except (ValueError, KeyError) as exc:
                return {"status": "disagree", "entries": len(pairs), "block": ob.block,
                        "detail": f"{ob.names[i]} ({side}) cannot be evaluated: {exc}"}
            if val != Fraction(ref):
                return {"status": "disagree", "entries": len(pairs), "block": ob.block,
                        "detail": f"{ob.names[i]} ({side}): the {bname} backend's expression "
                                  f"evaluates to {val} at a random rational point, the exact "
                                  f"backend gives {ref} (activation semantics differ)"}
    return {"status": "agree", "entries": len(pairs)}
