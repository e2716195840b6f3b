"""The numeric check (construction.md section 6, "numeric"): float64 GD on the extension.

Plain float64 gradient descent on the whole extended loss (:mod:`.run`), at scale, and
at every step ``k`` a comparison of ``theta_k`` with the predicted state ``theta_hat_k``
(``Extension.predicted``) whose registers are filled by the best reference run of the
program there is (:func:`.conditioning.reference_runs`): its exact run on the float data
when that is affordable (or given), else its float64 run:

* bit-exact: the clock flags (a ``0.0 / 1.0`` thermometer), the gate coefficients, the
  gate values (``g_j = [j = k]``, ``G = [k >= K]``, exactly ``0.0`` or ``1.0``) and every
  register not yet written (still exactly ``0.0``);
* norm-wise (max norm of each block), to ``max(tolerance, SAFETY * e)`` where ``e`` is the
  estimated error of the reference computation of that block (its cancellation, its
  float32 run, its distance from the exact run): the written registers, the head
  constants and the coefficients. gd's labelled read is a difference
  ``phi(x, y) - phi(x, 0)`` that cancels 10 digits on unscaled data: a fixed tolerance
  refuted correct constructions there (issue 11);
* at ``K``: ``w`` against the algorithm's independent plain-NumPy reference run
  (``zoo.references``, float) (T1); ``F_main(.; theta_K)`` against ``f(.; A(D))`` on
  held-out inputs, and ``F_aux = 0`` exactly (T2);
* for each extra step after ``K``: every block but ``w`` bit-exact unchanged and the step
  of ``w`` equal to one plain GD step of ``f`` (``references.mlp_grad``) (T3), to a
  tolerance scaled by the cancellation of ``w_{k+1} - w_k``.

The status is ``verified`` only if every check passes; ``refuted`` if one fails;
``inconclusive`` (with the reason in ``message`` and ``inconclusive``) if none fails but
one could not be decided because the float computation is too ill-conditioned (a tie or
kink that flips in float, a cancellation beyond ``CEILING``) and no exact run settles it.
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
from .conditioning import (
    U32,
    U64,
    Judgement,
    ReferenceRuns,
    judge,
    norm_error,
    reference_runs,
)
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
    inconclusive: list[str] = field(default_factory=list)
    judgements: dict[str, Judgement] = field(default_factory=dict)
    register_tolerance: float | None = None
    register_reference: str = ""
    exact_reference: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Above this many per-sample register entries (``n`` times the largest read) the program's
#: float run sums its reads through the exact ``bsum`` rewrites instead of ``bmean``.
INTERPRETER_LIMIT = 1 << 23


def interpret(program: Program, x: np.ndarray, y: np.ndarray,
              chunk: int | None = DEFAULT_CHUNK) -> tuple[dict[str, np.ndarray], str]:
    """The float64 run of the program itself, and how it was computed.

    (Kept for callers; :func:`check_numeric` now uses :func:`.conditioning.reference_runs`,
    which also estimates the run's error and adds the float32 and exact runs.)

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


def compare_state(ext: Extension, k: int, theta: State, expected: State,
                  tolerance: float = DEFAULT_TOLERANCE, refs: ReferenceRuns | None = None
                  ) -> tuple[bool, bool, bool, float, str, list[str], list[Judgement]]:
    """Compare ``theta_k`` with ``theta_hat_k``.

    ``(flags exact, gate coefficients exact, unwritten exact, max error, worst block,
    failures, judgements)``: clock, gate and unwritten register blocks must be bit-exact;
    every other block is judged norm-wise (:func:`.conditioning.judge`), a written register
    to the tolerance scaled by its reference's estimated error (``refs``).
    """
    written = set(written_before(ext, k))
    registers = set(ext.register_param.values())
    reg_of = {p: r for r, p in ext.register_param.items()}
    flags_ok = gates_ok = unwritten_ok = True
    worst, worst_name = 0.0, ""
    failures: list[str] = []
    judged: list[Judgement] = []
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
        if refs is not None and name in reg_of and reg_of[name] in refs.float64:
            reg = reg_of[name]
            off = (norm_error(refs.float64[reg], refs.exact[reg])
                   if refs.exact is not None and reg in refs.exact else None)
            j = judge(got, exp, tolerance=tolerance, estimate=refs.estimate(reg),
                      reference=refs.best(reg)[1], saturated=refs.saturated(reg),
                      float_vs_exact=off, what=name)
        else:
            j = judge(got, exp, tolerance=tolerance, reference="prediction", what=name)
        judged.append(j)
        if j.error > worst or not np.isfinite(j.error):
            worst, worst_name = j.error, name
    return flags_ok, gates_ok, unwritten_ok, worst, worst_name, failures, judged


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
    exact: bool | str | Mapping[str, Any] = "auto",
    float32: bool = True,
) -> NumericReport:
    """Run float64 GD on the extension for ``K + extra_steps`` steps and check it.

    ``reference_w`` is ``A(D)`` by the independent float reference (T1 is checked against
    the program's own float run when it is ``None``); ``held_out`` are inputs for T2
    (default: the first training inputs). BLAS runs on ``threads`` threads (see
    :mod:`.run`). ``exact`` and ``float32`` choose the reference runs the float results are
    judged against (:func:`.conditioning.reference_runs`): the exact run (``"auto"``: when
    affordable; or the exact registers themselves), and the float32 run that estimates the
    float64 run's rounding error. A comparison that fails only because the float
    computation is too ill-conditioned to decide makes the report ``inconclusive``.
    """
    with blas_threads(threads):
        return _check(ext, x, y, reference_w, reference_seconds, held_out, extra_steps, chunk,
                      prune, tolerance, dataset, verbose, exact, float32)


def _check(ext: Extension, x: np.ndarray, y: np.ndarray, reference_w: np.ndarray | None,
           reference_seconds: float | None, held_out: np.ndarray | None, extra_steps: int,
           chunk: int | None, prune: bool, tolerance: float, dataset: str, verbose: bool,
           exact: bool | str | Mapping[str, Any] = "auto", float32: bool = True
           ) -> NumericReport:
    t_start = time.perf_counter()
    xf, yf = as_float_data(x, y)
    assert yf is not None
    net, program = ext.net, ext.program
    report = NumericReport("verified", program.name, net.describe(), dataset, int(xf.shape[0]),
                           ext.K, extra_steps, ext.n_parameters, str(ext.eta), tolerance, chunk,
                           prune, reference_seconds=reference_seconds)
    t0 = time.perf_counter()
    refs = reference_runs(program, xf, yf, exact=exact, float32=float32)
    report.interpreter = "per-sample chunks" + (
        ", float32" if refs.float32 is not None else "") + (
        ", exact" if refs.exact is not None else "")
    report.exact_reference = refs.exact is not None
    report.notes.append(refs.exact_reason)
    report.notes.extend(refs.notes)
    report.interpreter_seconds = round(time.perf_counter() - t0, 4)
    registers = {name: refs.best(name)[0] for name in refs.float64}
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
        flags_ok, coef_ok, unwritten_ok, err, worst, fails, judged = compare_state(
            ext, k + 1, theta, expected, tolerance, refs)
        flags_ok &= all(bit_equal(theta[n], v) for n, v in expected_flags(ext, k + 1).items())
        g_ok, g_vals = gates_at(k + 1, theta)
        report.failures.extend(fails)
        bad = [j for j in judged if j.status == "refuted"]
        unsure = [j for j in judged if j.status == "inconclusive"]
        report.failures.extend(f"step {k}: {j.reason}" for j in bad)
        report.inconclusive.extend(f"step {k}: {j.reason}" for j in unsure)
        exact_ok = flags_ok and coef_ok and g_ok and unwritten_ok
        status = ("refuted" if not exact_ok or bad else
                  "inconclusive" if unsure else "verified")
        report.steps.append(NumericStep(k, round(seconds, 4), flags_ok, coef_ok and g_ok,
                                        unwritten_ok, err, worst, status, g_vals))
        all_flags &= flags_ok
        all_gates &= coef_ok and g_ok
        report.gd_seconds += seconds
        if verbose:
            print(f"  step {k}: {seconds:.3f} s, max relative error {err:.2e} ({worst})",
                  flush=True)
    report.gd_seconds = round(report.gd_seconds, 4)
    report.flags_exact, report.gates_exact = all_flags, all_gates

    # T1: registers and w, against the best reference (exact when there is one)
    reg_judged = [_judge_register(ext, theta, r, p, tolerance, refs)
                  for r, p in ext.register_param.items()]
    report.register_error = max((j.error for j in reg_judged), default=0.0)
    report.register_tolerance = max((j.tolerance for j in reg_judged), default=tolerance)
    report.register_reference = refs.best("w")[1] if "w" in refs.float64 else "float64 run"
    report.judgements["registers"] = _worst(reg_judged)
    w_judged = _judge_register(ext, theta, "w", "w", tolerance, refs)
    report.interpreter_weights_error = w_judged.error
    report.judgements["w_K vs the program's run"] = w_judged
    est_w = refs.estimate("w")
    if reference_w is not None:
        ref_w = np.asarray(reference_w, float)
        j = judge(theta["w"], ref_w, tolerance=tolerance, estimate=est_w,
                  reference="reference run", saturated=refs.saturated("w"),
                  what="w_K (vs the independent reference)")
        report.weights_error = j.error
        report.judgements["w_K vs the reference run"] = j
    a_of_d = np.asarray(reference_w if reference_w is not None else refs.best("w")[0], float)

    # T2: forward output at theta_K on held-out inputs, aux exactly zero
    inputs = NUMERIC.asarray(held_out) if held_out is not None and len(held_out) else xf[:8]
    report.forward_inputs = int(inputs.shape[0])
    f_main, aux = forward(ext, theta, inputs, chunk=chunk, prune=False, threads=None)
    try:
        want = ref.network_forward(net, a_of_d, inputs)
        est_f = est_w + _perturbation_estimate(
            lambda w, xx: ref.network_forward(net, w, xx), a_of_d, inputs, want)
        j = judge(f_main, want, tolerance=tolerance, estimate=est_f,
                  reference="f(.; A(D))", what="F_main(theta_K)")
        report.forward_error = j.error
        report.judgements["F_main(theta_K) = f(.; A(D))"] = j
    except ValueError:  # an activation the references do not implement (tanh, sigmoid)
        report.forward_error = None
    report.aux_max = max((float(np.max(np.abs(h))) if np.size(h) else 0.0 for h in aux),
                         default=0.0)

    # T3: after K, GD moves only w, as plain GD on f
    inert_ok = True
    inert_j: list[Judgement] = []
    t0 = time.perf_counter()
    for j_step in range(extra_steps):
        k = ext.K + j_step
        new = gd_step(ext, theta, xf, yf, chunk=chunk, prune=prune, threads=None)
        for name in ext.shapes:
            if name != "w" and not bit_equal(new[name], theta[name]):
                inert_ok = False
                report.failures.append(f"step {k}: {name} moved after K")
        g_ok, _ = gates_at(k + 1, new)
        all_gates &= g_ok
        try:
            def grad_of(w: np.ndarray, xx: np.ndarray) -> np.ndarray:
                return ref.network_grad(net, w, xx, yf, loss=ext.loss_kind)

            grad_f = grad_of(theta["w"], xf)
            step = new["w"] - theta["w"]
            want_step = -float(ext.eta) * grad_f
            # new - theta cancels |w| down to |step|; the gradient has its own conditioning
            scale = float(np.max(np.abs(want_step))) if want_step.size else 0.0
            kappa = float(np.max(np.abs(theta["w"]))) / scale if scale > 0 else 1.0
            est = U64 * (1.0 + kappa) + _perturbation_estimate(grad_of, theta["w"], xf, grad_f)
            inert_j.append(judge(step, want_step, tolerance=tolerance, estimate=est,
                                 reference="plain GD on f", what=f"the step {k} of w"))
        except ValueError:  # an activation the references do not implement
            inert_j = []
            break
        theta = new
    report.extra_seconds = round(time.perf_counter() - t0, 4)
    report.gates_exact = all_gates
    if extra_steps:
        report.inert_exact = inert_ok
        report.inert_error = max((j.error for j in inert_j), default=None) if inert_j else None
        if inert_j:
            report.judgements["after K w moves as plain GD on f"] = _worst(inert_j)

    _verdict(report)
    report.seconds = round(time.perf_counter() - t_start, 3)
    return report


def _judge_register(ext: Extension, theta: State, reg: str, pname: str, tolerance: float,
                    refs: ReferenceRuns) -> Judgement:
    want, source = refs.best(reg)
    off = norm_error(refs.float64[reg], refs.exact[reg]) if refs.exact is not None else None
    return judge(theta[pname], np.asarray(want).reshape(ext.shapes[pname]),
                 tolerance=tolerance, estimate=refs.estimate(reg), reference=source,
                 saturated=refs.saturated(reg), float_vs_exact=off, what=pname)


def _worst(judged: list[Judgement]) -> Judgement:
    rank = {"refuted": 2, "inconclusive": 1, "verified": 0}
    return max(judged, key=lambda j: (rank[j.status], j.error))


def _perturbation_estimate(fn: Any, w: np.ndarray, xx: np.ndarray, value: np.ndarray) -> float:
    """Relative change of ``fn(w, x)`` when ``w`` and ``x`` are rounded to float32, times
    ``u64 / u32``: the first-order conditioning of ``fn`` (0 when float32 saturates)."""
    try:
        with np.errstate(all="ignore"):
            w32 = np.asarray(w, np.float64).astype(np.float32).astype(np.float64)
            x32 = np.asarray(xx, np.float64).astype(np.float32).astype(np.float64)
            e32 = norm_error(fn(w32, x32), value)
    except (ValueError, FloatingPointError):
        return 0.0
    return e32 * (U64 / U32) if np.isfinite(e32) else 1.0


def _fmt_gates(vals: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in sorted(vals.items())) + "}"


def _verdict(report: NumericReport) -> None:
    """``refuted`` if a check failed, else ``inconclusive`` if float could not decide one."""
    exact_checks = {
        "clock flags bit-exact": report.flags_exact,
        "gates bit-exact 0/1": report.gates_exact,
        "F_aux(theta_K) = 0 exactly": report.aux_max == 0.0,
        "after K only w moves": report.inert_exact,
    }
    failed = [name for name, ok in exact_checks.items() if ok is False]
    step_bad = [s for s in report.steps if s.status == "refuted"]
    if step_bad:
        failed.append(f"step {step_bad[0].step} does not match the prediction "
                      f"({step_bad[0].worst_block}: {step_bad[0].state_error:.3g})")
    unsure = []
    for name, j in report.judgements.items():
        if j.status == "refuted":
            failed.append(f"{name}: {j.reason}")
        elif j.status == "inconclusive":
            unsure.append(f"{name}: {j.reason}")
    unsure += report.inconclusive[:1] if not unsure else []
    if failed:
        report.status = "refuted"
        report.message = "refuted: " + "; ".join(failed)
    elif unsure or any(s.status == "inconclusive" for s in report.steps):
        report.status = "inconclusive"
        report.message = "inconclusive: " + "; ".join(unsure or report.inconclusive[:1])
    else:
        where = "the exact run" if report.exact_reference else "the float references"
        report.message = (f"verified: {report.gd_steps} float64 GD steps on {report.samples} "
                          f"samples reproduce {report.algorithm} against {where} (norm-wise "
                          f"relative error <= {report.tolerance:g}, or the tolerance scaled by "
                          "the reference's conditioning); flags and gates bit-exact")


def _within(err: float | None, tol: float) -> bool | None:
    if err is None:
        return None
    return bool(np.isfinite(err) and err <= tol)
