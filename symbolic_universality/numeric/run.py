"""Float64 gradient descent on the extension at scale (construction.md section 6, "numeric").

The gradient is the graph's own reverse-mode derivative (``Extension.gradient_nodes``)
evaluated by the one evaluator of ``graph.evaluate`` on the float64 backend: vectorised
over the samples, in chunks of ``chunk`` rows (bounded memory) and with ``prune=True``
(a product with an exactly-zero factor is not evaluated; with the gates exactly 0 or 1
this skips every head that is switched off). Nothing here knows the construction's
update rules: GD is ``theta - eta * grad L(theta)``, nothing else.

With ``prune=True`` a product ``0 * v`` is taken to be ``0`` even when ``v`` is not
finite (exact arithmetic; IEEE would give ``nan`` for ``v = inf``). On finite values the
results are bit for bit those of the unpruned evaluation.

BLAS threads: the chunks make many small matrix products, for which multi-threaded
OpenBLAS costs more than it gains (on the 2-core benchmark machine, 2 threads made the
bench instance 10x slower under load). The functions here therefore limit BLAS to
``threads`` threads (default :data:`DEFAULT_THREADS` = 1) while they evaluate, through
``threadpoolctl`` when it is installed (it comes with scikit-learn); ``threads=None``
leaves the libraries' setting alone.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import NUMERIC
from ..extension.compiler import Extension
from ..graph import core as g
from ..graph.core import GraphError, Node
from ..graph.evaluate import evaluate

#: Rows of samples per chunk (measured best on the bench instance: with the compiled
#: gradient, chunks of 1024 rows keep the per-sample intermediates in the L2 cache; CPU
#: seconds at n = 10^4: 0.15 s against 0.40 s with 4096 rows).
DEFAULT_CHUNK = 1024
#: BLAS threads while evaluating (see the module docstring).
DEFAULT_THREADS: int | None = 1

State = dict[str, np.ndarray]


def float_state(theta: Mapping[str, Any]) -> State:
    """``theta`` (exact or float) as float64 arrays (Fractions rounded to nearest)."""
    return {name: NUMERIC.asarray(value).copy() for name, value in theta.items()}


_THETA0: dict[int, tuple[weakref.ref[Extension], State]] = {}


def initial_state(ext: Extension) -> State:
    """``theta_0`` of ``ext`` in float64 (rounded once per extension, then copied)."""
    key = id(ext)
    found = _THETA0.get(key)
    if found is None or found[0]() is not ext:
        found = _THETA0[key] = (weakref.ref(ext, lambda _: _THETA0.pop(key, None)),
                                float_state(ext.theta0))
    return {name: value.copy() for name, value in found[1].items()}


def as_float_data(x: np.ndarray, y: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Inputs and labels as C-contiguous float64 arrays."""
    xf = np.ascontiguousarray(NUMERIC.asarray(x))
    yf = None if y is None else np.ascontiguousarray(NUMERIC.asarray(y))
    return xf, yf


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit BLAS to ``threads`` threads inside the block (no-op for ``None``)."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def gradient(ext: Extension, theta: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray,
             *, chunk: int | None = DEFAULT_CHUNK, prune: bool = True,
             threads: int | None = DEFAULT_THREADS, compiled: bool = True) -> State:
    """``dL/dtheta`` for every block (zeros where ``L`` does not depend on the block).

    All gradient nodes are evaluated in one pass over the samples: with ``prune=True`` and
    ``compiled=True`` (the defaults) by straight-line code compiled once per pattern of
    zeros (:mod:`.compiled`), otherwise by ``graph.evaluate``.
    """
    grads = ext.gradient_nodes()
    names = [n for n in ext.shapes if grads[n] is not None]
    nodes = [grads[n] for n in names]
    with blas_threads(threads):
        program = _compiled_gradient(nodes) if prune and compiled else None
        if program is not None:
            values = program.values(theta, x, y, chunk=chunk)
        else:
            values = evaluate(nodes, NUMERIC, theta, x, y, prune=prune, chunk=chunk)
    out = {n: np.zeros(ext.shapes[n]) for n in ext.shapes}
    for n, v in zip(names, values, strict=True):
        out[n] = np.asarray(v, dtype=np.float64).reshape(ext.shapes[n])
    return out


def _compiled_gradient(nodes: list[Node]) -> Any:
    """The compiled program of the gradient nodes, or ``None`` if the graph has an
    operation the compiler does not handle (then ``graph.evaluate`` is used)."""
    from .compiled import compiled

    try:
        return compiled(nodes)
    except GraphError:
        return None


def gd_step(ext: Extension, theta: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray,
            *, eta: Fraction | float | None = None, chunk: int | None = DEFAULT_CHUNK,
            prune: bool = True, threads: int | None = DEFAULT_THREADS,
            compiled: bool = True) -> State:
    """One plain GD step ``theta - eta grad L(theta)`` in float64 (``eta`` default ``ext.eta``)."""
    rate = float(ext.eta if eta is None else eta)
    grads = gradient(ext, theta, x, y, chunk=chunk, prune=prune, threads=threads,
                     compiled=compiled)
    return {n: theta[n] - rate * grads[n] for n in ext.shapes}


@dataclass
class Trajectory:
    """The states ``theta_0 .. theta_steps`` (or only the last) and the time of every step."""

    states: list[State]
    seconds: list[float] = field(default_factory=list)

    @property
    def final(self) -> State:
        return self.states[-1]


def run_gd(ext: Extension, x: np.ndarray, y: np.ndarray, steps: int, *,
           theta: Mapping[str, Any] | None = None, chunk: int | None = DEFAULT_CHUNK,
           prune: bool = True, keep: bool = True, threads: int | None = DEFAULT_THREADS,
           callback: Callable[[int, State], None] | None = None,
           compiled: bool = True) -> Trajectory:
    """``steps`` float GD steps on the extension from ``theta`` (default ``theta_0``).

    ``callback(k, theta_k)`` is called before every step and once at the end; with
    ``keep=False`` only the final state is kept.
    """
    with blas_threads(threads):  # once for the run: entering threadpoolctl costs ~3 ms
        return _run_gd(ext, x, y, steps, theta, chunk, prune, keep, callback, compiled)


def _run_gd(ext: Extension, x: np.ndarray, y: np.ndarray, steps: int,
            theta: Mapping[str, Any] | None, chunk: int | None, prune: bool, keep: bool,
            callback: Callable[[int, State], None] | None, compiled: bool) -> Trajectory:
    threads = None  # already limited by run_gd
    x, y = as_float_data(x, y)
    state = initial_state(ext) if theta is None else float_state(theta)
    traj = Trajectory([state])
    from ..progress import bar

    with bar(steps, f"float64 GD on {ext.program.name}", "step") as advance:
        for k in range(steps):
            if callback is not None:
                callback(k, state)
            t0 = time.perf_counter()
            state = gd_step(ext, state, x, y, chunk=chunk, prune=prune, threads=threads,
                            compiled=compiled)
            traj.seconds.append(time.perf_counter() - t0)
            advance(1)
            if keep:
                traj.states.append(state)
            else:
                traj.states = [state]
    if callback is not None:
        callback(steps, state)
    return traj


def forward(ext: Extension, theta: Mapping[str, np.ndarray], x: np.ndarray, *,
            chunk: int | None = DEFAULT_CHUNK, prune: bool = False,
            threads: int | None = DEFAULT_THREADS) -> tuple[np.ndarray, list[np.ndarray]]:
    """``F_main`` (n, c) and the aux heads at ``theta`` on inputs ``x`` (no labels needed).

    ``prune=False`` by default: a switched-off head is then computed as ``0 * value``,
    so its exact zero is observed, not assumed.
    """
    xf, _ = as_float_data(x)
    with blas_threads(threads):
        vals = evaluate([ext.f_main, *ext.aux], NUMERIC, theta, xf, None, prune=prune,
                        chunk=chunk)
    return np.asarray(vals[0]), [np.asarray(v) for v in vals[1:]]


# ----------------------------------------------------------------------- gates


def gate_nodes(ext: Extension) -> dict[str, Node]:
    """The gate values of the extension's graph, found structurally.

    A gate is a largest unbatched subexpression of ``F`` whose parameters are one gate's
    coefficients (``gate.<g>.a``, ``gate.<g>.b``) and clock flags; it is named ``<g>``
    (``g0 .. g<K-1>``, ``G``).
    """
    outputs = [ext.f_main, *ext.aux]
    order = g.topological(outputs)
    params: dict[int, frozenset[str]] = {}
    for node in order:
        if node.op == "param":
            params[node.id] = frozenset([node.attrs["name"]])
        else:
            params[node.id] = frozenset().union(*(params[i.id] for i in node.inputs))

    def gate_of(node: Node) -> str | None:
        if node.batched:
            return None
        names = params[node.id]
        gates = {n.split(".")[1] for n in names if n.startswith("gate.")}
        others = [n for n in names if not n.startswith(("gate.", "clock."))]
        if len(gates) != 1 or others:
            return None
        (gname,) = gates
        if {f"gate.{gname}.a", f"gate.{gname}.b"} <= names:
            return gname
        return None

    found: dict[str, Node] = {}
    for node in order:
        for inp in node.inputs:
            gname = gate_of(inp)
            if gname is not None and gate_of(node) != gname:
                found.setdefault(gname, inp)
    return found


def gate_values(ext: Extension, theta: Mapping[str, np.ndarray],
                nodes: Mapping[str, Node] | None = None) -> dict[str, float]:
    """The value of every gate at ``theta`` (float64; see :func:`gate_nodes`)."""
    nodes = gate_nodes(ext) if nodes is None else nodes
    names = list(nodes)
    vals = evaluate([nodes[n] for n in names], NUMERIC, theta)
    return {n: float(np.asarray(v).reshape(-1)[0]) for n, v in zip(names, vals, strict=True)}


def expected_gates(ext: Extension, k: int) -> dict[str, float]:
    """Lemma *isolation*: before step ``k``, ``g_j = [j = k]`` and ``G = [k >= K]``."""
    out = {f"g{j}": 1.0 if j == k else 0.0 for j in range(ext.K)}
    out["G"] = 1.0 if k >= ext.K else 0.0
    return out


def expected_flags(ext: Extension, k: int) -> dict[str, float]:
    """The thermometer before step ``k``: ``z_j = 1`` for ``j <= min(k, K)``, else 0."""
    return {f"clock.z{j}": 1.0 if j <= min(k, ext.K) else 0.0 for j in range(ext.K + 1)}
