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

__all__ = ["Rule", "StepRules", "format_rules", "latex_symbol", "update_rules"]


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
    #: rank of every program register, to split ``r_<register>_<index>`` symbol names
    registers: dict[str, int] = field(default_factory=dict)


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
        sr = StepRules(k, step_written(ext, k), registers={
            ins.target.name: len(ins.target.shape) for ins in ext.program.instructions})
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


def _indices(parts: list[str]) -> str:
    return "_{" + ",".join(parts) + "}" if parts else ""


def _latex_name(name: str) -> str:
    r"""A parameter entry ``reg.R1[0,1]`` as ``\mathtt{reg.R1}_{0,1}``."""
    base, _, idx = name.partition("[")
    text = r"\mathtt{" + base.replace("_", r"\_") + "}"
    if idx:
        text += _indices([i.strip() for i in idx.rstrip("]").split(",")])
    return text


def latex_symbol(name: str, registers: dict[str, int] | None = None) -> str | None:
    r"""The LaTeX of a data or register symbol (names of :mod:`.data`), its indices comma
    separated so that ``x_{1,0}`` (sample 1, feature 0) never reads as ``x_{10}``:

    * ``x_i_j`` -> ``x_{i,j}``, ``y_i_k`` -> ``y_{i,k}``, ``xs_j`` -> ``\mathit{xs}_{j}``;
    * ``r_<register>_<index>`` -> ``r^{\mathtt{<register>}}_{<index>}``, the index having as
      many parts as the register's rank in ``registers`` (else: its trailing integers).

    ``None`` for any other name (sympy's own rendering is kept).
    """
    parts = name.split("_")
    if parts[0] in ("x", "y") and len(parts) == 3 and all(p.isdigit() for p in parts[1:]):
        return parts[0] + _indices(parts[1:])
    if parts[0] == "xs" and len(parts) == 2 and parts[1].isdigit():
        return r"\mathit{xs}" + _indices(parts[1:])
    if parts[0] == "r" and len(parts) >= 2:
        reg, idx = _split_register(name[2:], registers or {})
        return r"r^{\mathtt{" + reg.replace("_", r"\_") + "}}" + _indices(idx)
    return None


def _split_register(rest: str, registers: dict[str, int]) -> tuple[str, list[str]]:
    """``<register>_<i>_<j>`` -> (register, [i, j]) by the register's rank (longest name
    first), else by its trailing integers."""
    for reg, rank in sorted(registers.items(), key=lambda kv: -len(kv[0])):
        if rank == 0 and rest == reg:
            return reg, []
        if rank > 0 and rest.startswith(reg + "_"):
            idx = rest[len(reg) + 1:].split("_")
            if len(idx) == rank and all(p.isdigit() for p in idx):
                return reg, idx
    body = rest.split("_")
    k = len(body)
    while k > 1 and body[k - 1].isdigit():
        k -= 1
    return "_".join(body[:k]), body[k:]


def _symbol_names(rules: list[StepRules]) -> dict[sp.Symbol, str]:
    out: dict[sp.Symbol, str] = {}
    for sr in rules:
        for r in sr.rules:
            for sym in r.expr.free_symbols:
                if isinstance(sym, sp.Symbol) and sym not in out:
                    tex = latex_symbol(sym.name, sr.registers)
                    if tex is not None:
                        out[sym] = tex
    return out


def format_rules(rules: list[StepRules], fmt: str = "text", header: str = "") -> str:
    """Rules as plain text (sympy's ``sstr``) or a LaTeX ``align*`` per step (multi-indices
    comma separated: :func:`latex_symbol`, ``\\mathtt{reg.R1}_{0,1}``)."""
    if fmt not in ("text", "latex"):
        raise ValueError(f"unknown format {fmt!r}; choose text or latex")
    lines: list[str] = []
    names = _symbol_names(rules) if fmt == "latex" else {}
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
            body = [f"{_latex_name(r.name)} &\\leftarrow "
                    f"{sp.latex(r.expr, symbol_names=names)}" for r in sr.rules]
            lines.append(" \\\\\n".join(body))
            lines.append(r"\end{align*}")
            lines.append(f"% unchanged: {', '.join(sr.unchanged) or '-'}")
        lines.append("")
    return "\n".join(lines)
