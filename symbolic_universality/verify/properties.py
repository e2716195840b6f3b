"""The theorem's properties T1..T6 as checks of a run (construction.md section 1).

Each check is computed independently of the stage it checks:

* :func:`program_depth` (T4): the longest chain of dependent instructions, from the
  register leaves of the instruction bodies (a graph walk), not from the scheduler;
* :func:`check_trainable` (T5): every leaf of ``F``'s graph (``graph.core`` nodes) is a
  parameter that GD updates; no constant, no fixed factor, no unbound register; found by
  walking the graph, not from the compiler's bookkeeping;
* :func:`check_data_independence` (T6): the extension built twice, from two data sets,
  has the same graph (a structural fingerprint), the same ``theta_0`` and ``eta``;
* :func:`predicted_moved` (the moved set of each step): from the program (an ASAP schedule
  recomputed here), the compiler's layout (which parameter holds which register, which head
  constants exist) and the register values; never from the observed moves.

:class:`Property` is the record of one check (name, status, detail) in the report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..graph import core as g

VERIFIED, REFUTED, UNKNOWN, SKIPPED = "verified", "refuted", "unknown", "skipped"
PROPERTY_NAMES = ("T1", "T2", "T3", "T4", "T5", "T6")


@dataclass
class Property:
    """One checked property: ``status`` verified | refuted | unknown | skipped."""

    name: str
    status: str
    detail: str = ""


# ------------------------------------------------------------------------------- T4


def asap_steps(program: Any) -> dict[str, int]:
    """An ASAP step per register, from the bodies' register leaves (independent scheduler)."""
    steps: dict[str, int] = {}
    for ins in program.instructions:
        deps = {n.attrs["name"] for n in g.topological([ins.body]) if n.op == "reg"}
        unknown = deps - set(steps)
        if unknown:
            raise ValueError(f"instruction {ins.target.name} reads {sorted(unknown)} before "
                             "they are written")
        steps[ins.target.name] = 1 + max((steps[d] for d in deps), default=-1)
    return steps


def program_depth(program: Any) -> int:
    """The depth of the program: its longest chain of dependent instructions (T4)."""
    steps = asap_steps(program)
    return 1 + max(steps.values(), default=-1)


def check_depth(ext: Any) -> Property:
    """T4: ``K`` equals the program's depth, and each head opens at its instruction's step."""
    depth = program_depth(ext.program)
    if ext.K != depth:
        return Property("T4", REFUTED, f"K = {ext.K} but the program's depth (longest chain of "
                        f"dependent instructions) is {depth}")
    steps = asap_steps(ext.program)
    for head in ext.heads:
        if head.kind == "clock":
            continue
        if head.step != steps.get(head.name, head.step):
            return Property("T4", REFUTED, f"head {head.name} opens at step {head.step}, its "
                            f"instruction's ASAP step is {steps[head.name]}")
    return Property("T4", VERIFIED, f"K = {ext.K} = depth of {len(ext.program.instructions)} "
                    "instructions")


# ------------------------------------------------------------------------------- T5


def check_trainable(ext: Any) -> Property:
    """T5: walk ``F_main`` and the aux heads; every leaf must be data (``x``) or a parameter
    that GD updates (a block of ``ext.shapes`` with a gradient node); no ``const`` leaf,
    no ``scale`` node (a fixed factor), no unbound register."""
    outs = [ext.f_main, *ext.aux]
    nodes = g.topological(outs)
    base = getattr(ext, "base_output", None)
    # the given network's own fixed numbers (an average pool's 1/k) are part of f, not of
    # the extension; everything else in F must be a parameter
    exempt = {n.id for n in g.topological([base])} if base is not None else set()
    bad: list[str] = []
    for n in nodes:
        if n.id in exempt:
            continue
        if n.op == "const":
            bad.append(f"a fixed constant {_value(n.attrs['value'])} (node #{n.id})")
        elif n.op == "scale":
            bad.append(f"a fixed factor {n.attrs['factor']} (scale node #{n.id})")
        elif n.op == "reg":
            bad.append(f"an unbound register {n.attrs['name']!r}")
        elif n.op in ("y", "inv_n"):
            bad.append(f"a {n.op} leaf in F")
    params = {n.attrs["name"]: n for n in nodes if n.op == "param"}
    grads = ext.gradient_nodes()
    for name, node in params.items():
        if name not in ext.shapes:
            bad.append(f"parameter {name!r} is not among the trained blocks")
        elif tuple(node.shape) != tuple(ext.shapes[name]):
            bad.append(f"parameter {name!r} has shape {node.shape}, trained as "
                       f"{ext.shapes[name]}")
        elif name not in grads:
            bad.append(f"parameter {name!r} gets no gradient")
    if bad:
        return Property("T5", REFUTED, f"F holds {len(bad)} coefficient(s) that are not "
                        f"trainable parameters; first: {bad[0]}")
    return Property("T5", VERIFIED, f"every one of the {len(params)} coefficient blocks of F "
                    "is a trained parameter (graph walk: no constant, no fixed factor)")


def _value(arr: Any) -> str:
    flat = list(np.asarray(arr, dtype=object).flat)
    return str(flat[0]) if len(flat) == 1 else f"array of {len(flat)}"


# ------------------------------------------------------------------------------- T6


def fingerprint(ext: Any) -> str:
    """A structural hash of the extension: graph of F and of the loss (ops, shapes, attributes,
    wiring by position), parameter blocks with their ``theta_0``, ``eta`` and ``K``."""
    h = hashlib.sha256()
    outs = [ext.f_main, *ext.aux, ext.loss]
    pos: dict[int, int] = {}
    for i, n in enumerate(g.topological(outs)):
        pos[n.id] = i
        attrs = sorted((k, _attr(v)) for k, v in n.attrs.items())
        h.update(repr((n.op, n.shape, n.batched, attrs, [pos[j.id] for j in n.inputs])).encode())
    h.update(repr([pos[o.id] for o in outs]).encode())
    for name, shape in ext.shapes.items():
        h.update(repr((name, shape, ext.blocks.get(name),
                       [str(v) for v in np.asarray(ext.theta0[name], dtype=object).flat])
                      ).encode())
    h.update(repr((str(ext.eta), ext.K)).encode())
    return h.hexdigest()


def _attr(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return (v.shape, [str(e) for e in v.flat])
    return str(v)


def _first_difference(a: Any, b: Any) -> str:
    if str(a.eta) != str(b.eta):
        return f"eta differs: {a.eta} vs {b.eta}"
    if a.K != b.K:
        return f"K differs: {a.K} vs {b.K}"
    if list(a.shapes.items()) != list(b.shapes.items()):
        only = sorted(set(a.shapes) ^ set(b.shapes))
        return f"parameter blocks differ ({only[:3] or 'shapes'})"
    for name in a.shapes:
        if not np.array_equal(np.asarray(a.theta0[name], dtype=object),
                              np.asarray(b.theta0[name], dtype=object)):
            return f"theta_0 of {name} differs"
    return "the graphs of F differ"


def check_data_independence(build: Callable[[Any], Any], data_a: Any, data_b: Any) -> Property:
    """T6: ``build(data_a)`` and ``build(data_b)`` (two extensions built from two different data
    sets, e.g. ``lambda ds: compile_algorithm(name, net)`` or a pipeline that sees the data)
    must be identical: same graph, ``theta_0`` and ``eta`` (:func:`fingerprint`).

    ``data_a``/``data_b`` are whatever ``build`` takes (a ``zoo.datasets.Dataset`` in the
    pipeline); they should differ (e.g. two sample sizes), otherwise the check is vacuous and
    is reported as skipped.
    """
    if data_a is data_b:
        return Property("T6", SKIPPED, "the two data sets are the same object: nothing checked")
    ea, eb = build(data_a), build(data_b)
    fa, fb = fingerprint(ea), fingerprint(eb)
    if fa != fb:
        return Property("T6", REFUTED, "the extension built from two data sets differs: "
                        + _first_difference(ea, eb))
    return Property("T6", VERIFIED, f"built twice from two data sets: identical (graph, "
                    f"theta_0, eta = {ea.eta}; fingerprint {fa[:12]})")


# ------------------------------------------------------------------------- moved set


def predicted_moved(ext: Any, k: int, registers: dict[str, Any],
                    base_gradient: np.ndarray | None = None) -> dict[str, set[tuple[int, ...]]]:
    """The entries GD step ``k`` moves, predicted from the program and the compiler's layout.

    For ``k < K``: the nonzero entries of every register written at step ``k`` (ASAP, here),
    the flag ``z_{k+1}``, the constant ``c`` of each write/unlabelled-read head of step ``k``
    and of the clock head ``k`` (``c' = (1 - eta) c``; lemmas *write*, *read*, *clock*).
    For ``k = K``: the entries of ``w`` where ``base_gradient`` (plain GD on ``f``) is nonzero.
    """
    out: dict[str, set[tuple[int, ...]]] = {}

    def nonzero(name: str, value: Any) -> None:
        arr = np.asarray(value, dtype=object).reshape(ext.shapes[name])
        idx = {tuple(int(i) for i in ix) for ix, v in np.ndenumerate(arr) if v != 0}
        if idx:
            out.setdefault(name, set()).update(idx)

    if k >= ext.K:
        if base_gradient is not None:
            nonzero("w", base_gradient)
        return out
    steps = asap_steps(ext.program)
    for ins in ext.program.instructions:
        if steps[ins.target.name] != k:
            continue
        param = ext.register_param[ins.target.name]
        nonzero(param, registers[ins.target.name])
        if ins.kind != "read_labelled":
            c = f"head.{ins.target.name}.c"
            if c in ext.shapes:
                nonzero(c, ext.theta0[c] * Fraction(ext.eta))
    out.setdefault(f"clock.z{k + 1}", set()).add(())
    c = f"head.clock{k}.c"
    if c in ext.shapes:
        nonzero(c, ext.theta0[c] * Fraction(ext.eta))
    return out


def moved_entries(old: dict[str, np.ndarray], new: dict[str, np.ndarray], order: list[str]
                  ) -> dict[str, set[tuple[int, ...]]]:
    """The entries that differ between two states."""
    out: dict[str, set[tuple[int, ...]]] = {}
    for name in order:
        diff = np.asarray(old[name] != new[name], dtype=bool).reshape(np.shape(old[name]))
        idx = {tuple(int(i) for i in ix) for ix in np.argwhere(diff)} if diff.ndim else (
            {()} if bool(diff) else set())
        if idx:
            out[name] = idx
    return out


def compare_moved(k: int, observed: dict[str, set[tuple[int, ...]]],
                  predicted: dict[str, set[tuple[int, ...]]], order: list[str]) -> str | None:
    """The first entry that moved without being predicted to, or the reverse; None if equal."""
    for name in order:
        o, p = observed.get(name, set()), predicted.get(name, set())
        if o != p:
            extra = sorted(o - p)
            if extra:
                return (f"step {k}: {name}{list(extra[0])} moved, the program and layout predict "
                        f"it does not")
            return (f"step {k}: {name}{list(sorted(p - o)[0])} did not move, the program and "
                    "layout predict it does")
    return None
