"""Exact GD update rules of the extension, for all data: ``symuni rules``.

Each step's rule is ``theta_{k+1} = theta_k - eta grad L(theta_k)`` evaluated at the
predicted state ``theta_hat_k`` on the sympy backend with symbolic data -- the toolkit's
one gradient graph, not the lemmas -- and printed in the canonical normal form of
:mod:`.normal` (expanded; ``Heaviside(z, 0)`` is the step with ``H(0) = 0``). With
``mode="free"`` the registers written at earlier steps appear as symbols ``r_...``, so the
rule is the step's update as a function of the current state and the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from ..backends.symbolic import SYMPY
from ..extension.compiler import Extension
from .data import make_data
from .normal import Normalizer
from .obligations import build_step, lemma_of, step_written

__all__ = ["Rule", "StepRules", "format_rules", "update_rules"]


@dataclass
class Rule:
    """One parameter entry's new value after a GD step."""

    name: str
    block: str
    lemma: str
    expr: sp.Expr
    moved: bool


@dataclass
class StepRules:
    """The rules of one step: the moved entries, and how many stayed put."""

    step: int
    written: list[str]
    rules: list[Rule] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def update_rules(ext: Extension, *, n: int, labels: tuple[int, ...] | None = None,
                 mode: str = "free", steps: list[int] | None = None,
                 eta: Fraction | None = None) -> list[StepRules]:
    """The update rule of every step in ``steps`` (default ``0 .. K``) on symbolic data."""
    data = make_data(SYMPY, n, ext.net.d, ext.net.c, labels)
    norm = Normalizer()
    out = []
    for k in steps if steps is not None else range(ext.K + 1):
        if not 0 <= k <= ext.K:
            raise ValueError(f"step {k} outside 0..K={ext.K}")
        build = build_step(ext, SYMPY, data, k, mode=mode, eta=eta)
        sr = StepRules(k, step_written(ext, k))
        for ob in build.obligations:
            old = np.asarray(build.theta[ob.block], dtype=object).reshape(-1)
            moved_block = False
            for name, new, before in zip(ob.names, ob.got, old, strict=True):
                moved = bool(norm.difference(new, before))
                if moved:
                    moved_block = True
                    sr.rules.append(Rule(name, ob.block, lemma_of(ext, k, ob.block),
                                         norm.to_sympy(norm.poly(new)), True))
            if not moved_block:
                sr.unchanged.append(ob.block)
        out.append(sr)
    return out


def _latex_name(name: str) -> str:
    base, _, idx = name.partition("[")
    text = r"\mathtt{" + base.replace("_", r"\_") + "}"
    if idx:
        text += "_{" + idx.rstrip("]") + "}"
    return text


def format_rules(rules: list[StepRules], fmt: str = "text", header: str = "") -> str:
    """Rules as plain text (sympy's ``sstr``) or a LaTeX ``align*`` per step."""
    if fmt not in ("text", "latex"):
        raise ValueError(f"unknown format {fmt!r}; choose text or latex")
    lines: list[str] = []
    if header:
        prefix = "% " if fmt == "latex" else ""
        lines.extend(prefix + h for h in header.splitlines())
        lines.append("")
    for sr in rules:
        written = ", ".join(sr.written)
        if fmt == "text":
            lines.append(f"step {sr.step} (writes {written}):")
            for r in sr.rules:
                lines.append(f"  {r.name} <- {sp.sstr(r.expr)}    [{r.lemma}]")
            lines.append(f"  unchanged: {', '.join(sr.unchanged) or '-'}")
        else:
            lines.append(f"% step {sr.step} (writes {written})")
            lines.append(r"\begin{align*}")
            body = [f"{_latex_name(r.name)} &\\leftarrow {sp.latex(r.expr)}" for r in sr.rules]
            lines.append(" \\\\\n".join(body))
            lines.append(r"\end{align*}")
            lines.append(f"% unchanged: {', '.join(sr.unchanged) or '-'}")
        lines.append("")
    return "\n".join(lines)
