"""No verdict rests on a convention at a kink (issue 11, item 2).

The derivative rules give ``sat'(0) = sat'(1) = 0`` and ``relu'(0) = 0``: conventions. A GD
step at a state where a unit's argument sits on a kink is a statement about the convention,
not about gradient descent (PyTorch's ``clamp`` passes the gradient on its bounds). At every
predicted state ``theta_hat_k`` this module checks, by walking the extension's graph:

* **gates** (piecewise units whose argument depends on a clock flag): the argument lies
  outside ``[0, 1]`` by at least ``compiler.FLAT_MARGIN`` (lemma *flat gates*: on every
  thermometer pattern the arguments are ``-2`` or ``2``), so the gate is flat on a
  neighbourhood and its derivative is 0 whatever the convention; otherwise **refuted**;
* **other piecewise units** (``relu``, ``step``, ``sat`` in the bodies and the base network)
  that are *live*: reachable from an output through products none of whose other factor is
  a closed gate (lemmas *isolation*, *persistence*: the head is 0 on a neighbourhood) or an
  exactly-zero unbatched value (lemmas *write*, *read*: ``S = 0`` multiplies the unit's
  derivative). A live unit whose argument equals a kink on some sample makes the step's
  gradient rest on a convention: reported as **unknown** (never as verified). The one
  exception is the base network ``f`` itself at ``theta_K`` (step ``K``): T3 compares with
  plain GD on ``f``, which shares the convention; such entries are counted, not blocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import EXACT
from ..extension import compiler
from ..graph import core as g
from ..graph.core import Node
from ..graph.evaluate import evaluate

KINKS: dict[str, tuple[int, ...]] = {"sat": (0, 1), "relu": (0,), "step": (0,),
                                     "dsat": (0, 1)}
_PRODUCTS = ("mul", "vdot", "matmul", "outer")
_LINEAR = ("neg", "scale", "reshape", "slice", "pad", "transpose", "sum", "broadcast")


@dataclass
class KinkStep:
    """The kink check of one predicted state."""

    step: int
    status: str  # verified | refuted | unknown
    gates: int
    min_gate_margin: str
    live_units: int
    at_kink: int
    detail: str = ""
    base_at_kink: int = 0


def _distance_outside(v: Fraction) -> Fraction:
    """How far ``v`` lies outside ``[0, 1]`` (0 inside or on a kink)."""
    if v < 0:
        return -v
    if v > 1:
        return v - 1
    return Fraction(0)


def gate_units(ext: Any) -> list[Node]:
    """Piecewise units of ``F`` whose argument depends on a clock flag, found in the graph."""
    outs = [ext.f_main, *ext.aux]
    flags = [n for n in g.leaves(outs, "param") if n.attrs["name"].startswith("clock.z")]
    dep = g.depends_on(outs, flags)
    return [n for n in g.topological(outs) if n.op in KINKS and n.inputs[0].id in dep]


def check_kinks(ext: Any, theta: dict[str, np.ndarray], x: np.ndarray, step: int) -> KinkStep:
    """The kink check at state ``theta`` (see the module docstring)."""
    outs = [ext.f_main, *ext.aux]
    gates = gate_units(ext)
    margin = Fraction(compiler.FLAT_MARGIN)
    gate_args = evaluate([u.inputs[0] for u in gates], EXACT, theta, x, None) if gates else []
    worst: tuple[Fraction, str] | None = None
    closed: set[int] = set()
    for u, arg in zip(gates, gate_args, strict=True):
        for v in np.asarray(arg, dtype=object).flat:
            d = _distance_outside(Fraction(v))
            if worst is None or d < worst[0]:
                worst = (d, f"{u.op} gate argument {v}")
        vals = np.asarray(arg, dtype=object)
        if all(Fraction(v) < 0 and _distance_outside(Fraction(v)) >= margin for v in vals.flat):
            closed.add(u.id)
    min_margin = "none" if worst is None else str(worst[0])
    if worst is not None and worst[0] < margin:
        return KinkStep(step, "refuted", len(gates), min_margin, 0, 0,
                        f"step {step}: {worst[1]} lies {worst[0]} outside [0, 1], below the "
                        f"flat-gates margin {margin} (kinks of sat at 0 and 1)")
    live = _live_units(ext, outs, theta, x, closed, {u.id for u in gates})
    if not live:
        return KinkStep(step, "verified", len(gates), min_margin, 0, 0)
    args = evaluate([u.inputs[0] for u in live], EXACT, theta, x, None)
    w_nodes = [n for n in g.leaves(outs, "param") if n.attrs["name"] == "w"]
    on_w = g.depends_on(outs, w_nodes)
    hits = base_hits = 0
    first = ""
    for u, arg in zip(live, args, strict=True):
        vals = np.asarray(arg, dtype=object)
        kinks = KINKS[u.op]
        base = u.inputs[0].id in on_w and step >= ext.K
        for idx, v in np.ndenumerate(vals):
            if any(v == k for k in kinks):
                if base:
                    # the base network itself at theta_K: T3 compares with plain GD on f,
                    # which uses the same convention; not a property of the construction
                    base_hits += 1
                    continue
                hits += 1
                if not first:
                    where = f"sample {idx[0]}, entry {list(idx[1:])}" if u.batched else (
                        f"entry {list(idx)}")
                    first = (f"step {step}: a live {u.op} unit has its argument on the kink "
                             f"{v} ({where}); the gradient rests on the derivative convention")
    status = "unknown" if hits else "verified"
    if base_hits and not first:
        first = (f"step {step}: {base_hits} unit entries of the base network f sit on a kink "
                 "(T3 compares with plain GD on f under the same convention)")
    return KinkStep(step, status, len(gates), min_margin, len(live), hits, first, base_hits)


def _live_units(ext: Any, outs: list[Node], theta: dict[str, np.ndarray], x: np.ndarray,
                closed: set[int], gate_ids: set[int]) -> list[Node]:
    """Non-gate piecewise units reachable through factors that are not closed gates and not
    exactly-zero unbatched values (see the module docstring)."""
    order = g.topological(outs)
    # the unbatched operands of products (registers, coefficients, Phi(u)) and their values
    operands = []
    seen: set[int] = set()
    for n in order:
        if n.op in _PRODUCTS:
            for i in n.inputs:
                if not i.batched and i.id not in seen and i.id not in closed:
                    seen.add(i.id)
                    operands.append(i)
    zero: set[int] = set()
    if operands:
        vals = evaluate(operands, EXACT, theta, x, None)
        for node, v in zip(operands, vals, strict=True):
            if all(e == 0 for e in np.asarray(v, dtype=object).flat):
                zero.add(node.id)
    # exact zeros that follow structurally (a product with a zero factor, a linear map of 0)
    for n in order:
        if n.id in zero or not n.inputs:
            continue
        if n.op in _PRODUCTS and any(i.id in zero or i.id in closed for i in n.inputs):
            zero.add(n.id)
        elif n.op in _LINEAR and n.inputs[0].id in zero:
            zero.add(n.id)
        elif n.op in ("add", "sub", "concat") and all(i.id in zero for i in n.inputs):
            zero.add(n.id)
    dead = closed | zero
    live: list[Node] = []
    visited: set[int] = set()
    stack = list(outs)
    while stack:
        node = stack.pop()
        if node.id in visited:
            continue
        visited.add(node.id)
        if node.op in KINKS and node.id not in gate_ids:
            live.append(node)
        if node.op in _PRODUCTS:
            # d(a b) = da b + a db: a factor's inside matters only if the others are nonzero
            for i, inp in enumerate(node.inputs):
                others = [o for j, o in enumerate(node.inputs) if j != i]
                if inp.id not in closed and not any(o.id in dead for o in others):
                    stack.append(inp)
            continue
        stack.extend(node.inputs)
    return live
