"""The GD run the report draws: true gradient descent on the extension, step by step.

:func:`run_trajectory` runs ``K + 1 + extra`` plain GD steps ``theta - eta grad L(theta)``
from ``ext.theta0`` with :func:`verify.steps.gd_step` (exact rationals, or float64 for large
problems) and records everything the plots need: every state ``theta_k``, what moved at
each step and by how much, which parameters the lemmas predicted to move, the gate values,
the loss of the extension and, from step ``K`` on, the loss of plain GD on the base network
``f`` alone (``zoo.references.network_grad``, for an MLP or a ConvNet base network),
which T3 says coincides with it.

No matplotlib here: the numbers are usable (and testable) on their own.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import EXACT, NUMERIC, Backend, float_rows
from ..extension.compiler import Extension
from ..graph.evaluate import evaluate
from ..program.interpreter import run_program
from ..verify.steps import gd_step
from ..zoo import references as ref

#: Above this many (samples x parameters) the report runs GD in float64 instead of exactly.
EXACT_LIMIT = 400_000
#: An exact run whose rationals exceed this many bits (numerator + denominator) is redone in
#: float64: a sound extension grows them by a few dozen bits per step, a broken one explodes.
EXACT_MAX_BITS = 20_000


@dataclass
class StepMove:
    """What one GD step did to one parameter block."""

    max_abs: float
    entries: int
    size: int


@dataclass
class Trajectory:
    """A recorded GD run on an extension (see the module docstring).

    ``thetas[k]`` is the state before GD step ``k`` (``theta_0 .. theta_{K+1+extra}``);
    ``moves[k][name]`` is what step ``k`` did to block ``name``; ``predicted[k]`` is the set of
    blocks the lemmas say step ``k`` moves (``k <= K``); ``gates[name][k]`` is the value of gate
    ``name`` (``g0 .. g{K-1}``, ``G``) at ``theta_k``; ``losses[k] = L(theta_k)``;
    ``base_losses[j]`` is the loss of ``f`` after ``j`` plain GD steps on ``f`` alone started at
    ``w_K`` (plotted at step ``K + j``).
    """

    ext: Extension
    x: np.ndarray
    y: np.ndarray
    exact: bool
    thetas: list[dict[str, np.ndarray]]
    moves: list[dict[str, StepMove]]
    predicted: list[set[str]]
    gates: dict[str, list[float]]
    losses: list[float]
    base_losses: list[float]
    base_path: list[np.ndarray]
    registers: dict[str, Any]
    a_of_d: np.ndarray
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def K(self) -> int:  # noqa: N802 (the paper's name)
        return self.ext.K

    @property
    def steps(self) -> int:
        """Number of GD steps taken (``len(thetas) - 1``)."""
        return len(self.thetas) - 1

    @property
    def arithmetic(self) -> str:
        """``exact rationals`` or ``float64``: how this run computed."""
        return "exact rationals" if self.exact else "float64"

    def moved(self, k: int) -> list[str]:
        """Names of the blocks GD step ``k`` moved, in ``ext.shapes`` order."""
        return [n for n, m in self.moves[k].items() if m.entries]

    def active_heads(self, k: int) -> list[str]:
        """Heads whose gate is on (nonzero) at ``theta_k``."""
        out = []
        for h in self.ext.heads:
            if self.gates[f"g{h.step}"][k] != 0:
                out.append(h.name)
        return out


def _to_float(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == object:
        return np.array([float(v) for v in arr.flat], dtype=np.float64).reshape(arr.shape)
    return arr.astype(np.float64)


def _sat(v: float) -> float:
    return min(1.0, max(0.0, v))


def gate_values(ext: Extension, theta: dict[str, np.ndarray]) -> dict[str, float]:
    """The gates ``g_k = sat(a (z_k - z_{k+1}) + b)`` and ``G = sat(a z_K + b)`` at ``theta``.

    As the compiler builds them: the ``unsaturated_gate`` fault drops the ``sat``.
    """
    clamp = _sat if ext.fault != "unsaturated_gate" else float

    def val(name: str) -> float:
        return float(np.asarray(theta[name]).reshape(()))

    out: dict[str, float] = {}
    for k in range(ext.K):
        arg = val(f"gate.g{k}.a") * (val(f"clock.z{k}") - val(f"clock.z{k + 1}")) \
            + val(f"gate.g{k}.b")
        out[f"g{k}"] = clamp(arg)
    out["G"] = clamp(val("gate.G.a") * val(f"clock.z{ext.K}") + val("gate.G.b"))
    return out


def choose_exact(ext: Extension, n: int) -> bool:
    """Exact arithmetic unless the problem is large (``n * parameters > EXACT_LIMIT``), the
    base network has an activation without exact values (tanh, sigmoid), or the main loss
    is cross-entropy (its loss values and the steps after ``K`` are irrational)."""
    return (bool(ext.net.exact) and ext.loss_kind != "ce"
            and n * ext.n_parameters <= EXACT_LIMIT)


class _OverBudget(Exception):
    """The exact run took longer than its budget (values growing without bound)."""


def run_trajectory(ext: Extension, x: np.ndarray, y: np.ndarray, *, extra_steps: int = 5,
                   exact: bool | None = None, exact_budget: float = 5.0) -> Trajectory:
    """Run ``K + 1 + extra_steps`` true GD steps on ``ext`` and record them.

    ``exact=None`` picks exact rationals for small problems (:func:`choose_exact`), float64
    otherwise; an automatic exact run that exceeds ``exact_budget`` seconds or
    :data:`EXACT_MAX_BITS` (a broken extension whose rationals grow without bound) is redone
    in float64, with a note.
    Exact runs prune products with an exactly-zero factor (pure arithmetic).
    """
    if exact is None:
        if choose_exact(ext, int(x.shape[0])):
            try:
                return _run(ext, x, y, extra_steps, True, exact_budget)
            except _OverBudget as exc:
                traj = _run(ext, x, y, extra_steps, False, None)
                traj.notes.append(f"this run used float64: the exact one was stopped ({exc})")
                return traj
        traj = _run(ext, x, y, extra_steps, False, None)
        traj.notes.append("this run used float64: " + (
            "cross-entropy's loss values and the steps after K are irrational (the exact "
            "check up to K is the verify certificate's)" if ext.loss_kind == "ce" else
            "the problem is large for exact rationals (samples x parameters > EXACT_LIMIT) "
            "or the base network has an activation without exact values"))
        return traj
    return _run(ext, x, y, extra_steps, exact, None)


def _run(ext: Extension, x: np.ndarray, y: np.ndarray, extra_steps: int, exact: bool,
         budget: float | None) -> Trajectory:
    t0 = time.perf_counter()

    def check(where: str, state: dict[str, np.ndarray] | None = None) -> None:
        if budget is None:
            return
        if time.perf_counter() - t0 > budget:
            raise _OverBudget(f"over {budget:g} s {where}")
        if state is not None and _max_bits(state) > EXACT_MAX_BITS:
            raise _OverBudget(f"rationals of over {EXACT_MAX_BITS} bits {where}")

    backend: Backend = EXACT if exact else NUMERIC
    if exact:
        xb, yb = x, y
        theta = {n: v.copy() for n, v in ext.theta0.items()}
    else:
        xb, yb = _to_float(x), _to_float(y)
        theta = {n: _to_float(v) for n, v in ext.theta0.items()}
    eta: Fraction | float = ext.eta
    with np.errstate(all="ignore"):  # a broken extension may overflow in float64
        registers = run_program(ext.program, xb, yb, backend)
        n_steps = ext.K + 1 + max(0, int(extra_steps))
        thetas = [theta]
        raw_losses = [evaluate([ext.loss], backend, theta, xb, yb, prune=exact)[0]]
        for k in range(n_steps):
            theta = gd_step(ext, theta, xb, yb, eta, backend=backend, prune=exact)
            thetas.append(theta)
            check(f"at GD step {k}", theta)
            raw_losses.append(evaluate([ext.loss], backend, theta, xb, yb, prune=exact)[0])
            check(f"at the loss after GD step {k}")
        moves: list[dict[str, StepMove]] = []
        for k in range(n_steps):
            step: dict[str, StepMove] = {}
            for name, shape in ext.shapes.items():
                old, new = thetas[k][name], thetas[k + 1][name]
                changed = np.asarray(old != new, dtype=bool).reshape(shape)
                delta = _to_float(new) - _to_float(old)
                size = int(np.prod(shape, dtype=np.int64)) if shape else 1
                step[name] = StepMove(float(np.max(np.abs(delta))) if delta.size else 0.0,
                                      int(changed.sum()), size)
            moves.append(step)
        predicted = _predicted_moves(ext, registers, thetas, xb, yb, eta, exact)
        gates: dict[str, list[float]] = {}
        for th in thetas:
            for name, v in gate_values(ext, th).items():
                gates.setdefault(name, []).append(v)
        losses = [_float_scalar(v) for v in raw_losses]
        base_path, base_losses, notes = _base_gd(ext, thetas[ext.K]["w"], xb, yb, eta,
                                                 n_steps - ext.K)
    traj = Trajectory(ext, xb, yb, exact, thetas, moves, predicted, gates, losses,
                      base_losses, base_path, registers, np.asarray(registers["w"]),
                      notes=notes)
    traj.seconds = round(time.perf_counter() - t0, 3)
    return traj


def _max_bits(theta: dict[str, np.ndarray]) -> int:
    """The largest ``bits(numerator) + bits(denominator)`` of an exact state."""
    best = 0
    for arr in theta.values():
        for v in np.asarray(arr).flat:
            best = max(best, v.numerator.bit_length() + v.denominator.bit_length())
    return best


def _float_scalar(v: Any) -> float:
    return float(np.asarray(v).reshape(()))


def _predicted_moves(ext: Extension, registers: dict[str, Any],
                     thetas: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray,
                     eta: Fraction | float, exact: bool) -> list[set[str]]:
    """Blocks the lemmas predict to move at steps ``0..K`` (``K``: plain GD on ``f``)."""
    out: list[set[str]] = []
    for k in range(ext.K):
        if exact:
            before, after = ext.predicted(k, registers), ext.predicted(k + 1, registers)
            out.append({n for n in ext.shapes
                        if np.asarray(before[n] != after[n], dtype=bool).any()})
        else:  # float registers: the same sets, read off the heads of step k
            moved = {f"clock.z{k + 1}"}
            for h in ext.heads:
                if h.step != k:
                    continue
                if f"head.{h.name}.c" in ext.shapes:
                    moved.add(f"head.{h.name}.c")
                if h.kind != "clock":
                    src = "w" if h.writes == "w" else h.writes[len("reg."):]
                    if np.any(np.asarray(registers[src]) != 0):
                        moved.add(h.writes)
            out.append(moved)
    grad = _base_grad(ext.net, thetas[ext.K]["w"], x, y)
    out.append({"w"} if np.asarray(grad != 0, dtype=bool).any() else set())
    return out


def _base_grad(net: Any, w: np.ndarray, x: np.ndarray, y: np.ndarray,
               loss: str = "mse") -> np.ndarray:
    """Mean squared-loss (or cross-entropy) gradient of the base network ``f`` alone, by the
    independent reference (``zoo.references.network_grad``: an MLP or a ConvNet)."""
    return ref.network_grad(net, w, x, y, loss=loss)


def _base_loss(net: Any, w: np.ndarray, x: np.ndarray, y: np.ndarray,
               loss: str = "mse") -> float:
    """``mean_i 1/2 |f(x_i; w) - y_i|^2`` (or the mean softmax cross-entropy) of the base
    network by the independent reference."""
    out = ref.network_forward(net, w, x)
    if loss == "ce":
        z = np.asarray(out, dtype=np.float64)
        lse = float_rows("logsumexp", z)
        return float(np.mean(lse - (z * np.asarray(y, dtype=np.float64)).sum(axis=1)))
    r = out - np.asarray(y, dtype=np.asarray(x).dtype)
    return float(np.sum(r * r) / (2 * int(x.shape[0])))


def _base_gd(ext: Extension, w_k: np.ndarray, x: np.ndarray, y: np.ndarray,
             eta: Fraction | float, steps: int
             ) -> tuple[list[np.ndarray], list[float], list[str]]:
    """Plain GD on ``f`` alone from ``w_K`` (``steps`` steps): the path and its losses."""
    net = ext.net
    rate = eta if x.dtype == object else float(eta)
    w = np.asarray(w_k)
    loss = ext.loss_kind
    path, losses = [w], [_base_loss(net, w, x, y, loss)]
    for _ in range(steps):
        w = w - rate * _base_grad(net, w, x, y, loss)
        path.append(w)
        losses.append(_base_loss(net, w, x, y, loss))
    return path, losses, []


# ------------------------------------------------------------- the algorithm's own iterates


def algorithm_iterates(algorithm: str, ext: Extension, x: np.ndarray, y: np.ndarray,
                       options: dict[str, Any]) -> np.ndarray | None:
    """The algorithm's own iterates ``w_0 .. w_T`` (rows), when it has any.

    ``gd``/``gd_cnn``: full-batch GD on any base network by the independent reference
    (``zoo.references.network_grad``) with the job's options; ``worked``: the two GD steps
    from ``W = 0`` it computes in one output. Others: ``None``.
    """
    from ..zoo.algorithms import ALGORITHMS

    net = ext.net
    if algorithm not in ("gd", "gd_cnn", "worked"):
        return None
    params = inspect.signature(ALGORITHMS[algorithm].traced).parameters
    opts = {k: (options[k] if options.get(k) is not None else params[k].default)
            for k in ("T", "lr", "seed") if k in params}
    exact = x.dtype == object
    lr = Fraction(opts["lr"]) if not isinstance(opts["lr"], float) else Fraction(repr(opts["lr"]))
    rate: Fraction | float = lr if exact else float(lr)
    if algorithm == "worked":
        if not hasattr(net, "sizes"):
            return None
        return ref.reference_gd_path(list(net.sizes), "identity", x, y, T=2, lr=rate, w0=0,
                                     bias=net.bias)
    w0 = options.get("w0")
    if w0 is None:
        w0 = ref.network_initial_weights(net, seed=int(opts["seed"]))
    if np.ndim(w0) == 0:  # a scalar fills every weight
        w0 = [w0] * int(net.n_params)
    w = np.empty(int(net.n_params), dtype=object)
    w[:] = [Fraction(v) if not isinstance(v, float) else Fraction(repr(v))
            for v in np.asarray(w0, dtype=object).reshape(-1)]
    w = w if exact else w.astype(np.float64)
    path = [w]
    for _ in range(int(opts["T"])):
        w = w - rate * _base_grad(net, w, x, y)
        path.append(w)
    return np.stack(path)


def decoded_gd_iterates(traj: Trajectory) -> list[np.ndarray | None]:
    """For ``gd``: the iterate ``w_k`` read off the extension's own parameters at ``theta_k``.

    ``w_k = coef.w0 - coef.lr * sum_{t<k} (reg.grad<t>_u + reg.grad<t>_l)``: the registers
    hold the algorithm's gradients once GD has written them. Entry ``k`` is ``None`` where
    a register needed is not written yet or the names do not fit the ``gd`` program.
    """
    ext = traj.ext
    shapes = ext.shapes
    if "coef.w0" not in shapes or "coef.lr" not in shapes:
        return [None] * len(traj.thetas)
    step_of = {h.writes: h.step for h in ext.heads}
    out: list[np.ndarray | None] = []
    for k, th in enumerate(traj.thetas):
        w = np.asarray(th["coef.w0"]).copy()
        ok = True
        t = 0
        while k > 0 and t < k:
            parts = [f"reg.grad{t}_u", f"reg.grad{t}_l"]
            present = [p for p in parts if p in shapes]
            if not present:
                break
            if any(step_of.get(p, k) >= k for p in present):
                ok = False
                break
            total = sum(np.asarray(th[p]) for p in present)
            w = w - np.asarray(th["coef.lr"]).reshape(()) * total
            t += 1
        out.append(w if ok and (k == 0 or t == k) else None)
    return out
