"""The numeric check (construction.md section 6, "numeric"): float64 GD on the extension.

Plain float64 gradient descent on the whole extended loss (:mod:`.run`), at scale, and
at every step ``k`` a comparison of ``theta_k`` with the predicted state ``theta_hat_k``
(``Extension.predicted``) whose registers are filled by the float run of the program
itself (``program.interpreter.run_program`` on ``NUMERIC``):

* bit-exact: the clock flags (a ``0.0 / 1.0`` thermometer), the gate coefficients, the
  gate values (``g_j = [j = k]``, ``G = [k >= K]``, exactly ``0.0`` or ``1.0``) and every
  register not yet written (still exactly ``0.0``);
* to relative error ``tolerance`` (default ``1e-9``, in the max norm of each block): the
  written registers, the head constants and the coefficients (the float run of the
  program computes a labelled read as a difference ``phi(x, y) - phi(x, 0)``, so its
  registers carry that cancellation; ``1e-11`` is typical);
* at ``K``: ``w`` against the algorithm's independent plain-NumPy reference run
  (``zoo.references``, float) (T1); ``F_main(.; theta_K)`` against ``f(.; A(D))`` on
  held-out inputs, and ``F_aux = 0`` exactly (T2);
* for each extra step after ``K``: every block but ``w`` bit-exact unchanged and the step
  of ``w`` equal to one plain GD step of ``f`` (``references.mlp_grad``) (T3).

The status is ``verified`` only if every check passes, ``refuted`` otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import NUMERIC
from ..extension.compiler import Extension
from ..graph.core import bsum
from ..graph.evaluate import evaluate
from ..program.interpreter import run_program
from ..program.ir import Program
from ..zoo import references as ref
from .run import (
    DEFAULT_CHUNK,
    DEFAULT_THREADS,
    State,
    as_float_data,
    blas_threads,
    expected_flags,
    expected_gates,
    float_state,
    forward,
    gate_nodes,
    gate_values,
    gd_step,
)

DEFAULT_TOLERANCE = 1e-9


def relative_error(got: Any, expected: Any) -> float:
    """``max|got - expected| / max|expected|`` (the absolute error when ``expected = 0``)."""
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return 0.0
    diff = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    if not np.isfinite(diff):
        return float("inf")
    return diff / scale if scale > 0 else diff


def bit_equal(got: Any, expected: Any) -> bool:
    """Every entry identical as a float64 (``-0.0 == 0.0``; ``nan`` never equal)."""
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(a == b))


@dataclass
class NumericStep:
    """What one GD step produced: the state after it compared with the prediction."""

    step: int
    seconds: float
    flags_exact: bool
    gates_exact: bool
    unwritten_exact: bool
    state_error: float
    worst_block: str
    status: str
    gates: dict[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass
class NumericReport:
    """Everything the numeric check established (``as_dict`` goes into the certificate)."""

    status: str
    algorithm: str
    network: str
    dataset: str
    samples: int
    gd_steps: int
    extra_steps: int
    parameters: int
    eta: str
    tolerance: float
    chunk: int | None
    prune: bool
    steps: list[NumericStep] = field(default_factory=list)
    flags_exact: bool | None = None
    gates_exact: bool | None = None
    register_error: float | None = None
    weights_error: float | None = None
    interpreter_weights_error: float | None = None
    forward_error: float | None = None
    forward_inputs: int = 0
    aux_max: float | None = None
    inert_error: float | None = None
    inert_exact: bool | None = None
    gd_seconds: float = 0.0
    extra_seconds: float = 0.0
    reference_seconds: float | None = None
    interpreter_seconds: float = 0.0
    interpreter: str = ""
    seconds: float = 0.0
    message: str = ""
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Above this many per-sample register entries (``n`` times the largest read) the program's
#: float run sums its reads through the exact ``bsum`` rewrites instead of ``bmean``.
INTERPRETER_LIMIT = 1 << 23


def interpret(program: Program, x: np.ndarray, y: np.ndarray,
              chunk: int | None = DEFAULT_CHUNK) -> tuple[dict[str, np.ndarray], str]:
    """The float64 run of the program itself, and how it was computed.

    ``program.interpreter.run_program`` on ``NUMERIC`` (``"run_program"``) when the
    per-sample values of its reads fit in ``INTERPRETER_LIMIT`` entries: ``bmean``
    materialises every per-sample value (an ``n x size`` array for a per-sample gradient).
    Beyond, the same instructions with each read ``mean_i phi_i`` evaluated as
    ``(sum_i phi_i) / n`` through ``graph.core.bsum``, whose exact rewrites turn sums of
    per-sample outer products into matrix products, in chunks of samples
    (``"chunked sums"``). Caveat: the rewrites also split a sum of differences into a
    difference of sums, so a read written as ``phi(x, y) - phi(x, 0)`` can lose digits to
    cancellation there (the extension computes its registers without that difference).
    """
    n = int(x.shape[0])
    largest = max((ins.target.size for ins in program.instructions
                   if ins.kind.startswith("read")), default=0)
    if n * largest <= INTERPRETER_LIMIT:
        return run_program(program, x, y, NUMERIC), "run_program"
    values: dict[str, Any] = {}
    inv_n = float(Fraction(1, max(n, 1)))
    for ins in program.instructions:
        if ins.kind.startswith("read"):
            (val,) = evaluate([bsum(ins.body)], NUMERIC, values, x, y, strict=True, chunk=chunk)
            val = np.asarray(val) * inv_n
        else:
            (val,) = evaluate([ins.body], NUMERIC, values, strict=True)
        values[ins.target.name] = val
    return values, "chunked sums"


class Predictor:
    """``theta_hat_k`` in float64, with the registers written before ``k`` from ``registers``.

    The skeleton (flags, gates, head constants, coefficients) is ``Extension.predicted``'s,
    computed exactly and rounded once per block.
    """

    def __init__(self, ext: Extension, registers: Mapping[str, Any]) -> None:
        self.ext = ext
        self.registers = registers
        zero = Fraction(0)
        self._zeros = {ins.target.name: np.full(ins.target.shape, zero, dtype=object)
                       for ins in ext.program.instructions}
        self._theta0 = float_state(ext.theta0)
        self._register_blocks = set(ext.register_param.values())

    def __call__(self, k: int) -> State:
        ext = self.ext
        exact = ext.predicted(k, self._zeros)
        theta: State = {}
        for name in ext.shapes:
            if name in self._register_blocks:
                theta[name] = np.zeros(ext.shapes[name])
            elif np.array_equal(exact[name], ext.theta0[name]):
                theta[name] = self._theta0[name]
            else:
                theta[name] = NUMERIC.asarray(exact[name])
        for pname in written_before(ext, k):
            src = register_of(ext, pname)
            theta[pname] = np.asarray(self.registers[src], dtype=np.float64).reshape(
                ext.shapes[pname])
        return theta


def written_before(ext: Extension, k: int) -> list[str]:
    """Parameter blocks of the registers written at steps ``< k`` (``w`` included)."""
    return [h.writes for h in ext.heads if h.kind != "clock" and h.step < k]


def register_of(ext: Extension, pname: str) -> str:
    """The program register held by parameter block ``pname``."""
    for reg, p in ext.register_param.items():
        if p == pname:
            return reg
    raise KeyError(pname)


def compare_state(ext: Extension, k: int, theta: State, expected: State
                  ) -> tuple[bool, bool, bool, float, str, list[str]]:
    """``(flags exact, gate coefficients exact, unwritten exact, max error, worst, failures)``."""
    written = set(written_before(ext, k))
    registers = set(ext.register_param.values())
    flags_ok = gates_ok = unwritten_ok = True
    worst, worst_name = 0.0, ""
    failures: list[str] = []
    for name in ext.shapes:
        got, exp = theta[name], expected[name]
        block = ext.blocks[name]
        if block in ("clock", "gate") or (name in registers and name not in written):
            if not bit_equal(got, exp):
                failures.append(f"step {k}: {name} is {_show(got)}, expected exactly "
                                f"{_show(exp)}")
                if block == "clock":
                    flags_ok = False
                elif block == "gate":
                    gates_ok = False
                else:
                    unwritten_ok = False
            continue
        err = relative_error(got, exp)
        if err > worst or not np.isfinite(err):
            worst, worst_name = err, name
    return flags_ok, gates_ok, unwritten_ok, worst, worst_name, failures


def _show(v: Any) -> str:
    arr = np.asarray(v, dtype=np.float64).reshape(-1)
    if arr.size <= 3:
        return "[" + ", ".join(repr(float(a)) for a in arr) + "]"
    return f"[{float(arr[0])!r}, ... ({arr.size} entries)]"


def check_numeric(
    ext: Extension,
    x: np.ndarray,
    y: np.ndarray,
    *,
    reference_w: np.ndarray | None = None,
    reference_seconds: float | None = None,
    held_out: np.ndarray | None = None,
    extra_steps: int = 1,
    chunk: int | None = DEFAULT_CHUNK,
    prune: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    dataset: str = "",
    verbose: bool = False,
    threads: int | None = DEFAULT_THREADS,
) -> NumericReport:
    """Run float64 GD on the extension for ``K + extra_steps`` steps and check it.

    ``reference_w`` is ``A(D)`` by the independent float reference (T1 is checked against
    the program's own float run when it is ``None``); ``held_out`` are inputs for T2
    (default: the first training inputs). BLAS runs on ``threads`` threads (see
    :mod:`.run`).
    """
    with blas_threads(threads):
        return _check(ext, x, y, reference_w, reference_seconds, held_out, extra_steps, chunk,
                      prune, tolerance, dataset, verbose)


def _check(ext: Extension, x: np.ndarray, y: np.ndarray, reference_w: np.ndarray | None,
           reference_seconds: float | None, held_out: np.ndarray | None, extra_steps: int,
           chunk: int | None, prune: bool, tolerance: float, dataset: str, verbose: bool
           ) -> NumericReport:
    t_start = time.perf_counter()
    xf, yf = as_float_data(x, y)
    assert yf is not None
    net, program = ext.net, ext.program
    report = NumericReport("verified", program.name, net.describe(), dataset, int(xf.shape[0]),
                           ext.K, extra_steps, ext.n_parameters, str(ext.eta), tolerance, chunk,
                           prune, reference_seconds=reference_seconds)
    t0 = time.perf_counter()
    registers, report.interpreter = interpret(program, xf, yf, chunk)
    report.interpreter_seconds = round(time.perf_counter() - t0, 4)
    predicted = Predictor(ext, registers)
    gates = gate_nodes(ext)
    theta = float_state(ext.theta0)
    all_flags = all_gates = True

    def gates_at(k: int, state: State) -> tuple[bool, dict[str, float]]:
        vals = gate_values(ext, state, gates)
        want = expected_gates(ext, k)
        ok = set(vals) == set(want) and all(
            np.float64(vals[n]) == np.float64(want[n]) for n in want)
        if not ok:
            report.failures.append(
                f"before step {k}: gates {_fmt_gates(vals)}, expected {_fmt_gates(want)}")
        return ok, vals

    ok0, _ = gates_at(0, theta)
    all_gates &= ok0
    for k in range(ext.K):
        t0 = time.perf_counter()
        theta = gd_step(ext, theta, xf, yf, chunk=chunk, prune=prune, threads=None)
        seconds = time.perf_counter() - t0
        expected = predicted(k + 1)
        flags_ok, coef_ok, unwritten_ok, err, worst, fails = compare_state(
            ext, k + 1, theta, expected)
        flags_ok &= all(bit_equal(theta[n], v) for n, v in expected_flags(ext, k + 1).items())
        g_ok, g_vals = gates_at(k + 1, theta)
        ok = flags_ok and coef_ok and g_ok and unwritten_ok and err <= tolerance
        report.failures.extend(fails)
        if err > tolerance:
            report.failures.append(f"step {k}: {worst} has relative error {err:.3g} "
                                   f"> {tolerance:g}")
        report.steps.append(NumericStep(k, round(seconds, 4), flags_ok, coef_ok and g_ok,
                                        unwritten_ok, err, worst,
                                        "verified" if ok else "refuted", g_vals))
        all_flags &= flags_ok
        all_gates &= coef_ok and g_ok
        report.gd_seconds += seconds
        if verbose:
            print(f"  step {k}: {seconds:.3f} s, max relative error {err:.2e} ({worst})",
                  flush=True)
    report.gd_seconds = round(report.gd_seconds, 4)
    report.flags_exact, report.gates_exact = all_flags, all_gates

    # T1: registers and w
    report.register_error = max(
        (relative_error(theta[p], np.asarray(registers[r]).reshape(ext.shapes[p]))
         for r, p in ext.register_param.items()), default=0.0)
    report.interpreter_weights_error = relative_error(theta["w"], registers["w"])
    if reference_w is not None:
        report.weights_error = relative_error(theta["w"], np.asarray(reference_w, float))
    a_of_d = np.asarray(reference_w if reference_w is not None else registers["w"], float)

    # T2: forward output at theta_K on held-out inputs, aux exactly zero
    inputs = NUMERIC.asarray(held_out) if held_out is not None and len(held_out) else xf[:8]
    report.forward_inputs = int(inputs.shape[0])
    f_main, aux = forward(ext, theta, inputs, chunk=chunk, prune=False, threads=None)
    try:
        want = ref.mlp_forward(list(net.sizes), net.activation, a_of_d, inputs, bias=net.bias)
        report.forward_error = relative_error(f_main, want)
    except ValueError:  # an activation the references do not implement (tanh, sigmoid)
        report.forward_error = None
    report.aux_max = max((float(np.max(np.abs(h))) if np.size(h) else 0.0 for h in aux),
                         default=0.0)

    # T3: after K, GD moves only w, as plain GD on f
    inert_ok = True
    inert_err: float | None = 0.0
    t0 = time.perf_counter()
    for j in range(extra_steps):
        k = ext.K + j
        new = gd_step(ext, theta, xf, yf, chunk=chunk, prune=prune, threads=None)
        for name in ext.shapes:
            if name != "w" and not bit_equal(new[name], theta[name]):
                inert_ok = False
                report.failures.append(f"step {k}: {name} moved after K")
        g_ok, _ = gates_at(k + 1, new)
        all_gates &= g_ok
        try:
            grad_f = ref.mlp_grad(list(net.sizes), net.activation, theta["w"], xf, yf,
                                  bias=net.bias)
            if inert_err is not None:
                inert_err = max(inert_err, relative_error(new["w"] - theta["w"],
                                                          -float(ext.eta) * grad_f))
        except ValueError:  # an activation the references do not implement
            inert_err = None
        theta = new
    report.extra_seconds = round(time.perf_counter() - t0, 4)
    report.gates_exact = all_gates
    if extra_steps:
        report.inert_exact, report.inert_error = inert_ok, inert_err

    _verdict(report)
    report.seconds = round(time.perf_counter() - t_start, 3)
    return report


def _fmt_gates(vals: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in sorted(vals.items())) + "}"


def _verdict(report: NumericReport) -> None:
    tol = report.tolerance
    checks = {
        "clock flags bit-exact": report.flags_exact,
        "gates bit-exact 0/1": report.gates_exact,
        "every step matches the prediction": all(s.status == "verified" for s in report.steps),
        "registers match the program's float run": _within(report.register_error, tol),
        "w_K matches the reference run": _within(report.weights_error, tol),
        "w_K matches the program's float run": _within(report.interpreter_weights_error, tol),
        "F_main(theta_K) = f(.; A(D)) on held-out inputs": _within(report.forward_error, tol),
        "F_aux(theta_K) = 0 exactly": report.aux_max == 0.0,
        "after K only w moves": report.inert_exact,
        "after K w moves as plain GD on f": _within(report.inert_error, tol),
    }
    failed = [name for name, ok in checks.items() if ok is False]
    if failed:
        report.status = "refuted"
        report.message = "refuted: " + "; ".join(failed)
    else:
        report.message = (f"verified: {report.gd_steps} float64 GD steps on {report.samples} "
                          f"samples reproduce {report.algorithm} to relative error <= {tol:g}; "
                          "flags and gates bit-exact")


def _within(err: float | None, tol: float) -> bool | None:
    if err is None:
        return None
    return bool(np.isfinite(err) and err <= tol)
