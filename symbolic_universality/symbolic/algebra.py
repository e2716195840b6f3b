"""The algebra prover: each obligation as a polynomial identity (sympy backend).

An obligation ``got_i = expected_i`` (entries of one parameter block after one GD step)
is proved when, for every entry, both sides are the same sympy expression tree
(structural identity), or the canonical normal form (:mod:`.normal`) of the
difference is the zero polynomial, or is zero in every case of the sign conditions
(case analysis over the step atoms). With symbolic labels the identity is first tried
for *real* label indicators (stronger than one-hot); failing that, each one-hot
assignment is substituted and decided separately.

Otherwise the obligation is not proved. The prover then searches a concrete rational
counterexample whose exact replay (:mod:`.replay`) confirms the mismatch: ``refuted``;
or reports ``unknown`` (never verified).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp

from .normal import DagNormalizer, Generator, NormalFormError, NormalFormTooLarge, Normalizer, Poly
from .obligations import Obligation
from .verdict import Verdict

__all__ = ["DagProof", "abbreviate", "decide_dag", "decide_obligation", "is_dag", "prove_algebra",
           "shared_nodes"]

#: Common subexpressions smaller than this many DAG nodes are not abbreviated.
MIN_ABBREVIATE = 4


def _subexpressions(exprs: list[Any]) -> dict[sp.Basic, int]:
    """Every composite subexpression of ``exprs`` (each object once) with its DAG size."""
    sizes: dict[int, int] = {}
    out: dict[sp.Basic, int] = {}
    for root in exprs:
        if not isinstance(root, sp.Basic):
            continue
        stack: list[tuple[sp.Basic, bool]] = [(root, False)]
        while stack:
            e, done = stack.pop()
            if id(e) in sizes:
                continue
            if not e.args:
                sizes[id(e)] = 1
                continue
            if not done:
                stack.append((e, True))
                stack.extend((a, False) for a in e.args if id(a) not in sizes)
                continue
            size = 1 + sum(sizes.get(id(a), 1) for a in e.args)
            sizes[id(e)] = size
            if e.is_Add or e.is_Mul or e.is_Pow:
                out[e] = max(out.get(e, 0), size)
    return out


def _maximal(exprs: list[Any], common: set[sp.Basic]) -> set[sp.Basic]:
    """The members of ``common`` reached from ``exprs`` without passing through another."""
    out: set[sp.Basic] = set()
    seen: set[int] = set()
    stack = [e for e in exprs if isinstance(e, sp.Basic)]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if e in common:
            out.add(e)
            continue
        stack.extend(a for a in e.args if id(a) not in seen)
    return out


def abbreviate(got: list[Any], expected: list[Any]) -> tuple[list[Any], list[Any], int]:
    """Replace every *maximal* composite subexpression that occurs (structurally) on both
    sides by a fresh symbol ``_cse<i>`` (the normal form on the graph with shared
    subexpressions: equal parts are not expanded). Sound: an identity in the fresh symbols
    holds for every value of them, in particular for the abbreviated values. Step and
    reciprocal atoms are kept (their rules need their arguments); their arguments are
    abbreviated like everything else. Returns the new sides and the number of symbols."""
    left = _subexpressions(got)
    right = _subexpressions(expected)
    common = {e for e, size in left.items() if size >= MIN_ABBREVIATE and e in right}
    # keep only subexpressions that are maximal on *both* sides: one side using a common
    # subexpression whole while the other uses its parts would hide the identity
    for _ in range(64):
        ml, mr = _maximal(got, common), _maximal(expected, common)
        if ml == mr:
            break
        common -= ml ^ mr
    else:
        return got, expected, 0
    if not common:
        return got, expected, 0
    names: dict[sp.Basic, sp.Symbol] = {}
    memo: dict[int, Any] = {}

    def rebuild(e: Any) -> Any:
        if not isinstance(e, sp.Basic) or not e.args:
            return e
        hit = memo.get(id(e))
        if hit is not None:
            return hit
        if e in common:
            out = names.get(e)
            if out is None:
                out = names[e] = sp.Symbol(f"_cse{len(names)}")
        else:
            new = [rebuild(a) for a in e.args]
            out = e if all(a is b for a, b in zip(new, e.args, strict=True)) else e.func(*new)
        memo[id(e)] = out
        return out

    return [rebuild(e) for e in got], [rebuild(e) for e in expected], len(names)


def _label_assignments(norm: Normalizer, n: int, c: int
                       ) -> list[dict[int, Fraction]]:
    ids = {}
    for i in range(n):
        for k in range(c):
            g = Generator("sym", name=f"y_{i}_{k}")
            ids[(i, k)] = norm.gen(g)
    out = []
    for labels in itertools.product(range(c), repeat=n):
        out.append({ids[(i, k)]: Fraction(1 if labels[i] == k else 0)
                    for i in range(n) for k in range(c)})
    return out


def decide_obligation(ob: Obligation, norm: Normalizer, *, n: int, c: int,
                      budget: int = 256) -> tuple[bool | None, str, str]:
    """``(True, method, "")`` if proved; ``(None, method, detail)`` if not decided.

    First with the common subexpressions of the two sides abbreviated (:func:`abbreviate`;
    ``ob.abbreviated`` then holds the sides as proved, which the certificate and the
    second checker use), then per entry with its own, then fully expanded."""
    pairs = [(nm, a, b) for nm, a, b in zip(ob.names, ob.got, ob.expected, strict=True)
             if a != b]
    if not pairs:
        return True, "structural identity", ""
    got, exp, count = abbreviate([a for _, a, _ in pairs], [b for _, _, b in pairs])
    short = Normalizer()
    proved_got: list[Any] = []
    proved_exp: list[Any] = []
    total = 0
    full = 0
    for (nm, a, b), ga, eb in zip(pairs, got, exp, strict=True):
        # 1. abbreviated with the obligation's common subexpressions, 2. with this entry's
        # own, 3. fully expanded
        tries = [(ga, eb, count)] if count else []
        if count:
            tries.append(None)
        tries.append((a, b, 0))
        for t in tries:
            if t is None:
                g1, e1, c1 = abbreviate([a], [b])
                if not c1:
                    continue
                t = (g1[0], e1[0], c1)
            ok, _, detail = _decide(ob, short if t[2] else norm, [nm], [t[0]], [t[1]], n=n,
                                    c=c, budget=budget)
            if ok:
                proved_got.append(t[0])
                proved_exp.append(t[1])
                total += t[2]
                full += not t[2]
                break
        else:
            return None, "case analysis", detail
    ob.abbreviated = (proved_got, proved_exp, total)
    if full == len(pairs):
        return True, "normal form", ""
    return True, (f"normal form on shared subexpressions ({len(pairs) - full} of "
                  f"{len(pairs)} entries abbreviated)"), ""


def _decide(ob: Obligation, norm: Normalizer, names: list[str], gots: list[Any],
            exps: list[Any], *, n: int, c: int, budget: int) -> tuple[bool | None, str, str]:
    residues: list[tuple[str, Poly]] = []
    structural = 0
    for name, a, b in zip(names, gots, exps, strict=True):
        if a == b:  # the same expression tree: equal for every value of every symbol
            structural += 1
            continue
        p = norm.difference(a, b)
        if p:
            residues.append((name, p))
    if not residues:
        method = "structural identity" if structural == len(names) else "normal form"
        return True, method, ""
    for name, p in residues:
        r = norm.decide_zero(p, budget)
        if r is True:
            continue
        if ob.labels is None:
            ok = True
            for values in _label_assignments(norm, n, c):
                q = norm.substitute(p, values)
                if q and norm.decide_zero(q, budget) is not True:
                    ok = False
                    break
            if ok:
                continue
        size = len(p)
        return None, "case analysis", f"{name}: difference has {size} non-zero terms"
    return True, "case analysis", ""


def prove_algebra(ob: Obligation, norm: Normalizer, *, n: int, c: int,
                  find_counterexample: Callable[[Obligation], dict | None] | None = None,
                  dag_norm: Any = None) -> Verdict:
    """Prove one obligation by the normal form (see the module docstring)."""
    t0 = time.perf_counter()
    try:
        if is_dag(ob):
            ok, method, detail = decide_dag(ob, dag_norm if dag_norm is not None else
                                            DagNormalizer(), norm, n=n, c=c)
        else:
            ok, method, detail = decide_obligation(ob, norm, n=n, c=c)
    except NormalFormTooLarge as exc:
        return Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "algebra", "unknown",
                       time.perf_counter() - t0, "normal form too large", str(exc))
    except NormalFormError as exc:
        return Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "algebra", "error",
                       time.perf_counter() - t0, "normal form", str(exc))
    if ok:
        return Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "algebra", "proved",
                       time.perf_counter() - t0, method)
    cex = find_counterexample(ob) if find_counterexample is not None else None
    if cex is None:
        return Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "algebra", "unknown",
                       time.perf_counter() - t0, f"not an identity ({method})",
                       detail + "; no counterexample confirmed by exact replay")
    return Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "algebra", "refuted",
                   time.perf_counter() - t0, f"not an identity ({method}); counterexample "
                   "replayed exactly", detail, counterexample=cex)


# ------------------------------------------------------------------ interned DAG values


def is_dag(ob: Obligation) -> bool:
    """Whether the obligation's sides are values of :mod:`..backends.dag`."""
    from ..backends.dag import Expr

    return any(isinstance(v, Expr) for v in (*ob.got, *ob.expected))


def shared_nodes(lefts: list[Any], rights: list[Any]) -> set[int]:
    """The ids of the composite nodes (sums, products) reached from both ``lefts`` and
    ``rights``, maximal from the right side (the abbreviations of :func:`decide_dag`).
    Step and reciprocal atoms are never abbreviated (their rules need their arguments);
    their arguments are, like everything else."""
    from ..backends.dag import Expr, Term, children, postorder

    left = {node.id for node in postorder([v for v in lefts if isinstance(v, Expr)])}
    out: set[int] = set()
    seen: set[int] = set()
    stack = [v for v in rights if isinstance(v, Expr)]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        composite = ((isinstance(node, Expr) and (len(node.terms) > 1 or (
            node.terms and node.const != 0)))
            or (isinstance(node, Term) and node.kind == "mul"))
        if composite and node.id in left:
            out.add(node.id)
            continue
        stack.extend(ch for ch in children(node) if ch.id not in seen)
    return out


@dataclass
class DagProof:
    """How the algebra prover decided a DAG obligation, entry by entry (for the certificate
    and the second checker): ``identical`` entries had the same canonical form (the same
    interned node); ``expanded`` entries ``(name, got, expected, opaque)`` were decided by
    the normal form with the nodes in ``opaque`` abbreviated (``cases``: by case analysis);
    ``sympy`` entries ``(name, got, expected)`` by the sympy path (:func:`decide_obligation`)
    after conversion."""

    identical: int = 0
    #: entries ``(name, got, expected, opaque)`` whose collected forms are one node
    #: (:func:`..backends.dag.collect`); the second checker expands them with ``opaque``
    collected: list[tuple[str, Any, Any, frozenset[int]]] = field(default_factory=list)
    expanded: list[tuple[str, Any, Any, frozenset[int], bool]] = field(default_factory=list)
    sympy: list[tuple[str, Any, Any]] = field(default_factory=list)


def _zero_or_cases(ob: Obligation, norm: Normalizer, p: Poly, *, n: int, c: int,
                   budget: int) -> bool:
    if not p:
        return True
    if norm.decide_zero(p, budget) is True:
        return True
    if ob.labels is None:
        for values in _label_assignments(norm, n, c):
            q = norm.substitute(p, values)
            if q and norm.decide_zero(q, budget) is not True:
                return False
        return True
    return False


def decide_dag(ob: Obligation, dnorm: Any, norm: Normalizer, *, n: int, c: int,
               budget: int = 256) -> tuple[bool | None, str, str]:
    """Decide an obligation whose sides are interned DAG values (:mod:`..backends.dag`).

    Per entry: the same canonical form (the same interned node) is an identity, and so is
    the same form after like products are collected (:func:`..backends.dag.collect`,
    distributivity); otherwise the difference is expanded on demand
    (:class:`.normal.DagNormalizer`), first with the subexpressions common to all the
    obligation's sides abbreviated, then with this entry's own, then fully (each capped at
    ``MAX_TERMS``), and tested for zero (case analysis over the step atoms, then per one-hot
    label assignment). An entry still undecided goes to the sympy path
    (:func:`decide_obligation`, converted with :func:`..backends.dag.to_sympy`) so that
    nothing loses proving power. ``ob.dag_proof`` records how each entry was decided
    (:class:`DagProof`)."""
    from ..backends.dag import collect, to_dag, to_sympy

    proof = DagProof()
    ob.dag_proof = proof
    pairs = []
    for nm, a, b in zip(ob.names, ob.got, ob.expected, strict=True):
        a, b = to_dag(a), to_dag(b)
        if a is b:
            proof.identical += 1
        else:
            pairs.append((nm, a, b))
    if not pairs:
        return True, "canonical form (identical interned DAG nodes)", ""
    common = shared_nodes([a for _, a, _ in pairs], [b for _, _, b in pairs])
    cga = collect([a for _, a, _ in pairs])
    cgb = collect([b for _, _, b in pairs])
    rest = []
    frozen = frozenset(common)
    for (nm, a, b), ca, cb in zip(pairs, cga, cgb, strict=True):
        if ca is cb:
            proof.collected.append((nm, a, b, frozen))
        else:
            rest.append((nm, a, b))
    left: list[tuple[str, Any, Any]] = []
    too_large = ""
    for nm, a, b in rest:
        tries: list[set[int]] = [common] if common else []
        own = shared_nodes([a], [b])
        if own and own != common:
            tries.append(own)
        tries.append(set())
        for opaque in tries:
            try:
                p = dnorm.dag_difference(a, b, opaque)
                ok = _zero_or_cases(ob, dnorm, p, n=n, c=c, budget=budget)
            except NormalFormTooLarge as exc:
                too_large = str(exc)
                continue
            if ok:
                proof.expanded.append((nm, a, b, frozenset(opaque), bool(p)))
                break
        else:
            left.append((nm, a, b))
        dnorm.clear()
    if left:
        got = to_sympy([a for _, a, _ in left])
        exp = to_sympy([b for _, _, b in left])
        sub = Obligation(ob.step, ob.block, ob.lemma, ob.labels, ob.mode,
                         [nm for nm, _, _ in left], got, exp, list(ob.premises))
        try:
            ok, method, detail = decide_obligation(sub, norm, n=n, c=c, budget=budget)
        except NormalFormTooLarge:
            if too_large:
                raise NormalFormTooLarge(too_large) from None
            raise
        if not ok:
            return ok, method, detail
        sgot, sexp, _count = sub.abbreviated or (got, exp, 0)
        proof.sympy.extend(zip(sub.names, sgot, sexp, strict=True))
    parts = [f"{proof.identical} of {len(ob.names)} entries identical canonical forms"]
    if proof.collected:
        parts.append(f"{len(proof.collected)} identical after collecting like products")
    if proof.expanded:
        cases = sum(x[4] for x in proof.expanded)
        parts.append(f"{len(proof.expanded)} by the normal form on the DAG"
                     + (f" ({cases} by case analysis)" if cases else ""))
    if proof.sympy:
        parts.append(f"{len(proof.sympy)} by the sympy normal form")
    return True, "canonical DAG form: " + ", ".join(parts), ""
