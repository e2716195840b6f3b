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
from fractions import Fraction

from .normal import Generator, NormalFormError, Normalizer, Poly
from .obligations import Obligation
from .verdict import Verdict

__all__ = ["decide_obligation", "prove_algebra"]


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
    """``(True, method, "")`` if proved; ``(None, method, detail)`` if not decided."""
    residues: list[tuple[str, Poly]] = []
    structural = 0
    for name, a, b in zip(ob.names, ob.got, ob.expected, strict=True):
        if a == b:  # the same expression tree: equal for every value of every symbol
            structural += 1
            continue
        p = norm.difference(a, b)
        if p:
            residues.append((name, p))
    if not residues:
        method = "structural identity" if structural == len(ob.names) else "normal form"
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
                  ) -> Verdict:
    """Prove one obligation by the normal form (see the module docstring)."""
    t0 = time.perf_counter()
    try:
        ok, method, detail = decide_obligation(ob, norm, n=n, c=c)
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
