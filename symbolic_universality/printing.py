"""Typed, shape-annotated text forms of a program and an extension (``symuni show``).

In the spirit of JAX's ``make_jaxpr``: one line per instruction, with its GD step (T4:
instructions of one step run in the same step), its kind, the register it writes with
its exact type and shape, what it reads, and the size of its body. Types: ``Q`` an exact
rational (every backend), ``R`` a real that only the float backends compute (a body using
``tanh``, ``sigmoid``, ``exp``, ``log``). The grammar::

    program NAME (d = D, c = C; K = K GD steps)
      in   x : Q[D]   y : onehot[C]
      STEP  KIND             REG : TYPE[SHAPE]  <- RHS      uses REGS  (N nodes: OPS)
      ...
      out  w : TYPE[P]

    extension of NAME on NET: P trainable parameters, K = K GD steps, eta = ETA
      block  PARAM : Q[SHAPE] = INIT
      ...
      head   NAME  step S  KIND  writes PARAM  with PARAMS
      gate   g_k = sat(a (z_k - z_{k+1}) + b) ...
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

import numpy as np

from .graph import core as g

__all__ = ["extension_html", "extension_text", "program_html", "program_text"]

FLOAT_ONLY_OPS = frozenset({"tanh", "dtanh", "sigmoid", "dsigmoid", "exp", "log"})
_RHS = {"read_labelled": "mean_i phi(u, x_i) y_i", "read_unlabelled": "mean_i psi(u, x_i)",
        "compute": "Phi(u)", "output": "Phi(u)"}


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]" if shape else "[]"


def _type(body: Any) -> str:
    ops = {n.op for n in g.topological([body])}
    return "R" if ops & FLOAT_ONLY_OPS else "Q"


def _ops(body: Any) -> tuple[int, str]:
    nodes = g.topological([body])
    counts = Counter(n.op for n in nodes if n.op not in ("const", "reg", "x", "y", "param"))
    top = ", ".join(f"{op}" + (f"*{k}" if k > 1 else "") for op, k in counts.most_common(5))
    more = len(counts) - 5
    return len(nodes), top + (f", +{more} more" if more > 0 else "")


def program_text(program: Any) -> str:
    """The program as typed lines (see the module docstring)."""
    lines = [f"program {program.name} (d = {program.d}, c = {program.c}; "
             f"K = {program.depth} GD steps)",
             f"  in   x : Q[{program.d}]   y : onehot[{program.c}]"]
    width = max(len(f"{i.target.name} : {_type(i.body)}{_shape(i.target.shape)}")
                for i in program.instructions)
    for ins in program.instructions:
        reg = f"{ins.target.name} : {_type(ins.body)}{_shape(ins.target.shape)}"
        nodes, ops = _ops(ins.body)
        uses = ", ".join(ins.inputs) or "-"
        lines.append(f"  {ins.step:<4} {ins.kind:<16} {reg:<{width}}  <- "
                     f"{_RHS[ins.kind]:<24} uses {uses}  ({nodes} nodes: {ops})")
    out = program.output
    lines.append(f"  out  w : {_type(out.body)}{_shape(out.target.shape)}")
    conv = getattr(program, "float_constants", None)
    if conv:
        lines.append("  float constants read exactly: " + ", ".join(f"{f!r} -> {q}"
                                                                 for f, q in conv))
    return "\n".join(lines)


def _init(value: Any) -> str:
    arr = np.asarray(value, dtype=object)
    flat = list(arr.reshape(-1))
    if not flat:
        return "[]"
    if all(v == flat[0] for v in flat):
        return str(flat[0]) if arr.ndim == 0 else f"all {flat[0]}"
    shown = ", ".join(str(v) for v in flat[:4])
    return f"[{shown}{', ...' if len(flat) > 4 else ''}]"


def extension_text(ext: Any) -> str:
    """The extension's blocks, parameters (type, shape, theta_0), heads and gates."""
    lines = [f"extension of {ext.program.name} on {ext.net.describe()}: {ext.n_parameters} "
             f"trainable parameters, K = {ext.K} GD steps, eta = {ext.eta}"]
    width = max(len(n) for n in ext.shapes)
    for name, shape in ext.shapes.items():
        block = ext.blocks.get(name, "?")
        lines.append(f"  {block:<11} {name:<{width}} : Q{_shape(shape):<8} = "
                     f"{_init(ext.theta0[name])}")
    for head in sorted(ext.heads, key=lambda h: (h.step, h.kind == "clock", h.name)):
        lines.append(f"  head  {head.name:<14} step {head.step:<3} {head.kind:<16} "
                     f"writes {head.writes:<16} with {', '.join(head.params)}")
    gates = [n for n in ext.shapes if n.startswith("gate.") and n.endswith(".a")]
    lines.append(f"  gates {len(gates)}: g_k = sat(a (z_k - z_(k+1)) + b) for k < K, "
                 "G = sat(a z_K + b) (flat-gates lemma)")
    if getattr(ext, "loss_kind", "mse") == "ce":
        lines.append("  loss  softmax cross-entropy log sum exp F_main - <F_main, y>; each "
                     "labelled read R has its compensating read R_ones (R + R_ones / c; "
                     "lemma crossentropy)")
    return "\n".join(lines)


def _pre(text: str) -> str:
    return f"<pre style='font-size:11px'>{html.escape(text)}</pre>"


def program_html(program: Any) -> str:
    return _pre(program_text(program))


def extension_html(ext: Any) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(ext.blocks.get(n, '?'))}</td><td>{html.escape(n)}</td>"
        f"<td>{html.escape(_shape(s))}</td><td>{html.escape(_init(ext.theta0[n]))}</td></tr>"
        for n, s in ext.shapes.items())
    return (f"<div><p><b>extension</b> of {html.escape(ext.program.name)} on "
            f"{html.escape(ext.net.describe())}: {ext.n_parameters} parameters, K = {ext.K}, "
            f"eta = {ext.eta}</p><table><tr><th>block</th><th>parameter</th><th>shape</th>"
            f"<th>theta_0</th></tr>{rows}</table></div>")
