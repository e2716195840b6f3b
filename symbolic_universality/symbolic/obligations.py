"""The proof obligations of the trajectory theorem, on a symbolic backend.

For each GD step ``k`` and each parameter block ``B`` the obligation is

    ``GD(theta_hat_k)[B] = theta_hat_{k+1}[B]``            (``k < K``, trajectory theorem)
    ``GD(theta_hat_K)[B] = theta_hat_K[B] - eta [B = w] grad L_f(w)``    (``k = K``, T3)

for every data set (the data are symbols). The left side is computed by the toolkit's one
gradient graph (``Extension.gradient_nodes()``) on the symbolic backend, the right side by
the lemmas' prediction (``Extension.predicted``) with the registers filled in by the
reference interpreter (``program.interpreter``) -- or, at step ``K``, by the independent
backpropagation of :mod:`.reference`. At ``theta_hat_K`` two more obligations state T2
(``F_main(xs) = f(xs; w)``, every aux head ``= 0``, at a fresh input ``xs``) and, with
registers as data expressions, one states T1 (``A(D)`` by the program equals the
independent reference algorithm; :func:`build_reference`).

Registers (``mode``):

* ``free`` (default): the registers written before step ``k`` are *symbols* ``r_...``; the
  obligation then holds for all data **and all register contents**, which is the
  induction step of the trajectory theorem in full generality and implies the ``data``
  form by substitution. Much smaller expressions.
* ``data``: the registers are the program's values on the symbolic data (expressions in
  ``x_i_j``, ``y_i_k``), exactly the states GD visits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import Backend
from ..extension.compiler import Extension
from ..graph.core import bmean
from ..graph.evaluate import evaluate
from ..program.interpreter import run_program
from . import reference
from .data import SymbolicData, input_symbols, register_symbols

MODES = ("free", "data")

__all__ = ["MODES", "Obligation", "StepBuild", "build_final", "build_reference", "build_step",
           "lemma_of", "predicted_state", "step_written"]


@dataclass
class Obligation:
    """One claim: every entry of ``got`` equals the entry of ``expected`` for all data."""

    step: int
    block: str
    lemma: str
    labels: tuple[int, ...] | None
    mode: str
    names: list[str]
    got: list[Any]
    expected: list[Any]
    premises: list[Any] = field(default_factory=list)
    #: set by the algebra prover: the sides with their common subexpressions abbreviated
    abbreviated: Any = None
    #: set by the algebra prover on DAG values: how each entry was decided (``DagProof``)
    dag_proof: Any = None

    @property
    def key(self) -> str:
        tag = "ysym" if self.labels is None else "y" + "".join(str(k) for k in self.labels)
        return f"step{self.step}.{tag}.{self.block}"


@dataclass
class StepBuild:
    """The values of one step on one backend: ``theta_hat_k``, ``GD(theta_hat_k)``, prediction."""

    step: int
    theta: dict[str, np.ndarray]
    new: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    obligations: list[Obligation]


def _register_sources(ext: Extension) -> dict[str, tuple[int, ...]]:
    return {ins.target.name: ins.target.shape for ins in ext.program.instructions}


def predicted_state(ext: Extension, k: int, registers: dict[str, Any], backend: Backend
                    ) -> dict[str, np.ndarray]:
    """``theta_hat_k`` on ``backend`` with symbolic register contents.

    Flags, gates, head constants come from ``Extension.predicted`` itself (called with
    zero registers, which it needs as exact numbers); the registers written at steps
    ``< k`` are then set to ``registers`` exactly as ``Extension.predicted`` sets them
    (lemmas *write*, *read*, *clock*, *persistence*).
    """
    zeros = {name: np.zeros(shape, dtype=int) for name, shape in _register_sources(ext).items()}
    zeros.setdefault("w", np.zeros(ext.shapes["w"], dtype=int))
    theta = {n: backend.asarray(v) for n, v in ext.predicted(k, zeros).items()}
    for head in ext.heads:
        if head.step < k and head.kind != "clock":
            src = "w" if head.writes == "w" else head.writes[len("reg."):]
            val = np.asarray(registers[src], dtype=object).reshape(ext.shapes[head.writes])
            theta[head.writes] = backend.asarray(val)
    return theta


def step_written(ext: Extension, k: int) -> list[str]:
    """Blocks the lemmas say step ``k`` writes (as in ``verify.steps``)."""
    if k >= ext.K:
        return ["w (plain GD on f)"]
    out = [ext.register_param[i.target.name] for i in ext.program.by_step().get(k, [])]
    out.append(f"clock.z{k + 1}")
    return out


def lemma_of(ext: Extension, k: int, block: str) -> str:
    """The lemma of construction.md section 4 an obligation instantiates."""
    if k >= ext.K:
        return "T3 inertness: plain GD on f" if block == "w" else "T3 inertness: persistence"
    kinds = {h.writes: h.kind for h in ext.heads if h.step == k}
    consts = {p for h in ext.heads if h.step == k for p in h.params}
    if block in kinds:
        kind = kinds[block]
        if kind == "clock":
            return "clock"
        return "read" if kind.startswith("read") else "write"
    if block in consts:
        return "write (head constant)"
    if block.startswith("gate."):
        return "flat gates"
    return "persistence (isolation)"


def _gd_values(ext: Extension, theta: dict[str, np.ndarray], data: SymbolicData,
               eta: Fraction, backend: Backend) -> dict[str, np.ndarray]:
    """``theta - eta grad L(theta)`` by the extension's reverse-mode gradient graph."""
    grads = ext.gradient_nodes()
    names = [n for n in ext.shapes if grads[n] is not None]
    values = evaluate([grads[n] for n in names], backend, theta, data.x, data.y, prune=True)
    rate = backend.scalar(eta)
    new = dict(theta)
    for n, v in zip(names, values, strict=True):
        upd = np.asarray(np.asarray(v, dtype=object).reshape(ext.shapes[n]) * rate, dtype=object)
        new[n] = np.asarray(theta[n] - upd, dtype=object).reshape(ext.shapes[n])
    return new


def _program_values(ext: Extension, data: SymbolicData, backend: Backend) -> dict[str, Any]:
    return run_program(ext.program, data.x, data.y, backend)


def _step_registers(ext: Extension, k: int, current: dict[str, Any], data: SymbolicData,
                    backend: Backend) -> dict[str, Any]:
    """The registers written at step ``k``, computed as the reference interpreter does."""
    out = dict(current)
    for ins in ext.program.by_step().get(k, []):
        if ins.kind.startswith("read"):
            (val,) = evaluate([bmean(ins.body)], backend, current, data.x, data.y, strict=True)
        else:
            (val,) = evaluate([ins.body], backend, current, strict=True)
        out[ins.target.name] = val
    return out


def free_registers(ext: Extension, k: int, backend: Backend) -> dict[str, Any]:
    """Symbols for every register written at a step ``< k``."""
    out: dict[str, Any] = {}
    for ins in ext.program.instructions:
        if ins.step < k:
            out[ins.target.name] = backend.asarray(
                register_symbols(backend, ins.target.name, ins.target.shape))
    return out


def _entries(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i) for i in idx)}]" for idx in np.ndindex(*shape)]


def _flat(a: Any) -> list[Any]:
    return list(np.asarray(a, dtype=object).reshape(-1))


def build_step(ext: Extension, backend: Backend, data: SymbolicData, k: int, *,
               mode: str = "free", eta: Fraction | None = None,
               program_values: dict[str, Any] | None = None) -> StepBuild:
    """The obligations of GD step ``k`` (``0 <= k <= K``) for one label choice.

    ``program_values`` (``mode="data"``) may pass the interpreter's registers to reuse.
    """
    if mode not in MODES:
        raise ValueError(f"unknown register mode {mode!r}; choose free or data")
    run_eta = Fraction(ext.eta if eta is None else eta)
    if mode == "data":
        values = program_values if program_values is not None else _program_values(
            ext, data, backend)
        current = values
        after = values
    else:
        current = free_registers(ext, k, backend)
        after = _step_registers(ext, k, current, data, backend) if k < ext.K else current
    theta = predicted_state(ext, k, current, backend)
    new = _gd_values(ext, theta, data, run_eta, backend)
    if k < ext.K:
        expected = predicted_state(ext, k + 1, after, backend)
    else:
        expected = dict(theta)
        g = reference.mean_grad(ext.net, theta["w"], data.x, data.y, backend,
                                loss=ext.loss_kind)
        expected["w"] = np.asarray(theta["w"] - g * backend.scalar(run_eta), dtype=object)
    obligations = []
    for name, shape in ext.shapes.items():
        obligations.append(Obligation(
            k, name, lemma_of(ext, k, name), data.labels, mode, _entries(name, shape),
            _flat(new[name]), _flat(expected[name]), list(data.premises)))
    return StepBuild(k, theta, new, expected, obligations)


def build_final(ext: Extension, backend: Backend, data: SymbolicData, *, mode: str = "free",
                program_values: dict[str, Any] | None = None) -> list[Obligation]:
    """T2 at ``theta_hat_K``, at a fresh input ``xs`` (lemma *isolation*: ``G = 1``, every
    ``g_k = 0``):

    * ``T2.F_main``: ``F_main(xs; theta_hat_K) = f(xs; w)`` (``f`` by the independent forward
      pass of :mod:`.reference`);
    * ``T2.F_aux``: every aux head is 0 at ``xs``.
    """
    K = ext.K
    out: list[Obligation] = []
    if mode == "data":
        values = program_values if program_values is not None else _program_values(
            ext, data, backend)
    else:
        values = free_registers(ext, K, backend)
    theta = predicted_state(ext, K, values, backend)
    xs = backend.asarray(input_symbols(backend, ext.net.d))
    vals = evaluate([ext.f_main, *ext.aux], backend, theta, xs.reshape(1, -1), None,
                    prune=True)
    f_main = _flat(vals[0])
    f_ref = _flat(reference.forward(ext.net, theta["w"], xs, backend))
    out.append(Obligation(K, "T2.F_main", "T2 forward output (isolation)", data.labels, mode,
                          [f"F_main[{j}]" for j in range(len(f_main))], f_main, f_ref,
                          list(data.premises)))
    aux = [v for h in vals[1:] for v in _flat(h)]
    if aux:
        out.append(Obligation(K, "T2.F_aux", "T2 aux heads vanish (isolation)", data.labels,
                              mode, [f"aux[{j}]" for j in range(len(aux))], aux,
                              [backend.scalar(0)] * len(aux), list(data.premises)))
    return out


def build_reference(ext: Extension, backend: Backend, data: SymbolicData, algorithm: str,
                    options: dict[str, Any] | None = None,
                    program_values: dict[str, Any] | None = None) -> list[Obligation]:
    """T1: the program's ``A(D)`` (the interpreter on symbolic data; by the trajectory
    theorem the ``w`` of ``theta_K``) equals the independent reference algorithm of
    :mod:`.reference`. Registers are data expressions here, whose size grows with the
    program's depth. Empty if the algorithm has no reference."""
    ref_w = reference.reference_weights(algorithm, ext.net, data.x, data.y, backend,
                                        **(options or {}))
    if ref_w is None:
        return []
    prog = program_values if program_values is not None else _program_values(
        ext, data, backend)
    w = _flat(np.asarray(prog["w"], dtype=object))
    return [Obligation(ext.K, "T1.reference", "T1 A(D) = independent reference", data.labels,
                       "data", _entries("w", (len(w),)), w, _flat(ref_w),
                       list(data.premises))]
