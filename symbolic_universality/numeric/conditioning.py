"""Float checks that do not cry wolf: references, their conditioning, and a three-way verdict.

A float comparison ``|got - want| <= tol |want|`` with a fixed ``tol`` refutes correct
constructions whenever the *reference* loses digits (construction.md section 6,
"numeric"): gd's labelled read ``mean_i [phi(x_i, y_i) - phi(x_i, 0)]`` cancels two terms of
size ``|J^T f|`` to leave ``|J^T y|``, which on unscaled data is 10^10 times smaller, so the
program's float64 run is off by ``1e-6`` where the extension (which never forms the
difference) is right to ``1e-16``. This module supplies

* :func:`reference_runs`: the program run in float64 in chunks of samples, together with

  - a *cancellation estimate* of each register, norm-wise: ``kappa = max mean_i(|a_i| +
    |b_i|) / max |mean_i(a_i - b_i)|`` for a body ``a - b`` or ``a + b`` (1 otherwise);
  - the same run in float32 (``FLOAT32``), whose distance from the float64 run, scaled by
    ``u64 / u32``, estimates the float64 run's error (a tie or kink that flips in float32
    shows up as a float32 run with no correct digit: *saturated*);
  - the exact run (``program.interpreter.run_program`` on Fractions of the float data, so
    the truth for the very data the float runs see) when it is affordable
    (:data:`EXACT_BUDGET`) or given;

* :func:`judge`: compares a computed block with the best reference there is (exact when it
  exists), to the tolerance ``max(tol, SAFETY * estimated reference error)``, and answers
  ``verified``, ``refuted`` or ``inconclusive`` with the reason. Inconclusive means: the
  comparison failed but the float computation is itself too ill-conditioned to decide
  (the scaled tolerance exceeds :data:`CEILING`, the float32 run is saturated, or the float
  reference disagrees with the exact run as well).

A real fault (a wrong constant, a head written one step early ...) moves a register by
O(1) relative, far beyond any tolerance below the ceiling, so it is still refuted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import EXACT, NUMERIC, FloatBackend
from ..graph.evaluate import evaluate
from ..program.interpreter import run_program
from ..program.ir import Program

#: Unit roundoffs.
U64 = float(np.finfo(np.float64).eps) / 2
U32 = float(np.finfo(np.float32).eps) / 2
#: Factor between an estimated reference error and the tolerance it allows.
SAFETY = 64.0
#: Above this scaled tolerance float cannot decide: a failed comparison is inconclusive.
CEILING = 1e-4
#: A float32 run this far (relative) from the float64 run has no correct digit.
SATURATED = 1e-2
#: Largest ``n * (sum of read sizes)`` for which the exact run is done by default (about a
#: second of Fraction arithmetic on float data; breast_cancer with mlp:30-8-2 is 9e5, 14 s).
EXACT_BUDGET = 60_000
#: Rows per chunk of the per-sample evaluation of the references.
REFERENCE_CHUNK = 512
#: Above this many per-sample register entries (``n`` times the largest read) the float
#: runs sum each read through ``graph.core.bsum``'s exact rewrites (matrix products, no
#: per-sample values) and the cancellation is estimated on :data:`KAPPA_SAMPLES` samples.
PER_SAMPLE_LIMIT = 1 << 22
KAPPA_SAMPLES = 1024


class Float32Backend(FloatBackend):
    """IEEE float32 arithmetic (a second rounding of the same run, for its conditioning)."""

    name = "float32"

    def asarray(self, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype == object:
            return np.array([float(v) for v in arr.flat], dtype=np.float32).reshape(arr.shape)
        return arr.astype(np.float32, copy=False)

    def scalar(self, value: Fraction | int) -> Any:
        return np.float32(float(value))

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    def unary(self, op: str, a: np.ndarray, **attrs: Any) -> np.ndarray:
        return np.asarray(super().unary(op, a, **attrs), dtype=np.float32)


FLOAT32 = Float32Backend()


def norm_error(got: Any, expected: Any) -> float:
    """Norm-wise relative error ``max|got - expected| / max|expected|`` (absolute if 0)."""
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return 0.0
    if a.shape != b.shape:
        a, b = a.reshape(-1), b.reshape(-1)
    diff = float(np.max(np.abs(a - b)))
    if not np.isfinite(diff):
        return float("inf")
    scale = float(np.max(np.abs(b)))
    return diff / scale if scale > 0 else diff


def _run(program: Program, x: np.ndarray, y: np.ndarray, backend: Any, chunk: int,
         magnitudes: bool, bindings: Mapping[str, Any] | None = None
         ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The program in chunks of samples; each register and its cancellation ratio.

    With ``bindings`` every instruction reads the earlier registers from there (not from
    this run): used to estimate the cancellation on a subset of the samples.
    """
    n = int(x.shape[0])
    values: dict[str, Any] = {}
    env: Any = values if bindings is None else bindings
    kappa: dict[str, float] = {}
    inv_n = 1.0 / max(n, 1)
    for ins in program.instructions:
        body = ins.body
        split = body.op in ("sub", "add") and len(body.inputs) == 2
        outs = list(body.inputs) if (split and magnitudes) else [body]
        if ins.kind.startswith("read"):
            total: Any = 0.0
            mag: Any = 0.0
            for start in range(0, max(n, 1), chunk):
                rows = slice(start, min(start + chunk, n))
                parts = evaluate(outs, backend, env, x[rows], y[rows], strict=True)
                parts = [np.asarray(p) for p in parts]
                if len(parts) == 2:
                    val = parts[0] - parts[1] if body.op == "sub" else parts[0] + parts[1]
                    mag = mag + (np.abs(parts[0]) + np.abs(parts[1])).sum(axis=0)
                else:
                    val = parts[0]
                    mag = mag + np.abs(val).sum(axis=0)
                total = total + val.sum(axis=0)
            val = np.asarray(total) * np.asarray(inv_n, dtype=np.asarray(total).dtype)
            mag = np.asarray(mag) * inv_n
        else:
            parts = [np.asarray(p) for p in evaluate(outs, backend, env, strict=True)]
            if len(parts) == 2:
                val = parts[0] - parts[1] if body.op == "sub" else parts[0] + parts[1]
                mag = np.abs(parts[0]) + np.abs(parts[1])
            else:
                val = parts[0]
                mag = np.abs(val)
        values[ins.target.name] = val
        if magnitudes:
            top = float(np.max(np.abs(val))) if np.size(val) else 0.0
            big = float(np.max(mag)) if np.size(mag) else 0.0
            own = big / top if top > 0 else (1.0 if big == 0 else float("inf"))
            # the register's own cancellation; what earlier registers' errors do to it is
            # seen by the float32 run (and the exact run), not bounded here
            kappa[ins.target.name] = max(1.0, own)
    return values, kappa


def _run_sums(program: Program, x: np.ndarray, y: np.ndarray, backend: Any,
              chunk: int = 4096) -> dict[str, np.ndarray]:
    """The program with each read ``mean_i phi_i`` as ``(sum_i phi_i) / n`` through
    ``graph.core.bsum`` (exact rewrites: sums of per-sample outer products become matrix
    products), in chunks of samples. For large ``n``: no per-sample register values."""
    from ..graph.core import bsum

    n = int(x.shape[0])
    values: dict[str, Any] = {}
    for ins in program.instructions:
        if ins.kind.startswith("read"):
            (val,) = evaluate([bsum(ins.body)], backend, values, x, y, strict=True, chunk=chunk)
            val = np.asarray(val)
            val = val * np.asarray(1.0 / max(n, 1), dtype=val.dtype)
        else:
            (val,) = evaluate([ins.body], backend, values, strict=True)
            val = np.asarray(val)
        values[ins.target.name] = val
    return values


def exact_cost(program: Program, n: int) -> int:
    """``n`` times the total size of the reads (the work unit of :data:`EXACT_BUDGET`)."""
    return n * sum(ins.target.size for ins in program.instructions
                   if ins.kind.startswith("read"))


def to_fractions(a: np.ndarray) -> np.ndarray:
    """A float array as an object array of the exactly equal Fractions."""
    arr = np.asarray(a, dtype=np.float64)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = Fraction(float(v))
    return out


@dataclass
class ReferenceRuns:
    """The program's float64, float32 and (when affordable) exact runs on the float data."""

    float64: dict[str, np.ndarray]
    kappa: dict[str, float]
    float32: dict[str, np.ndarray] | None = None
    exact: dict[str, np.ndarray] | None = None
    exact_reason: str = ""
    notes: list[str] = field(default_factory=list)

    def float32_error(self, name: str) -> float | None:
        """Relative distance of the float32 run from the float64 run (``None``: no run)."""
        if self.float32 is None or name not in self.float32:
            return None
        return norm_error(self.float32[name], self.float64[name])

    def estimate(self, name: str) -> float:
        """Estimated relative error of the float64 computation of register ``name``."""
        est = U64 * self.kappa.get(name, 1.0)
        e32 = self.float32_error(name)
        if e32 is not None and e32 < SATURATED:
            est = max(est, e32 * (U64 / U32))
        if self.exact is not None and name in self.exact:
            est = max(est, norm_error(self.float64[name], self.exact[name]))
        return est

    def saturated(self, name: str) -> bool:
        e32 = self.float32_error(name)
        return e32 is not None and not e32 < SATURATED

    def best(self, name: str) -> tuple[np.ndarray, str]:
        """The best reference value of ``name``: exact (rounded) if there is one."""
        if self.exact is not None and name in self.exact:
            return self.exact[name], "exact run"
        return self.float64[name], "float64 run"


def reference_runs(program: Program, x: np.ndarray, y: np.ndarray, *,
                   exact: bool | str | Mapping[str, Any] = "auto", float32: bool = True,
                   chunk: int = REFERENCE_CHUNK,
                   exact_budget: int = EXACT_BUDGET) -> ReferenceRuns:
    """The program's reference runs on float data ``x, y`` (see the module docstring).

    ``exact``: ``True`` (always run it), ``False`` (never), ``"auto"`` (when
    :func:`exact_cost` is at most ``exact_budget``) or the exact register values themselves
    (e.g. from the exact backend's run on the same data).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = int(x.shape[0])
    largest = max((ins.target.size for ins in program.instructions
                   if ins.kind.startswith("read")), default=0)
    big = n * largest > PER_SAMPLE_LIMIT
    with np.errstate(all="ignore"):
        if big:
            f64 = _run_sums(program, x, y, NUMERIC)
            rows = np.linspace(0, n - 1, KAPPA_SAMPLES).astype(int)
            _, kappa = _run(program, x[rows], y[rows], NUMERIC, chunk, True, bindings=f64)
            notes = [f"cancellation estimated on {KAPPA_SAMPLES} of {n} samples"]
        else:
            f64, kappa = _run(program, x, y, NUMERIC, chunk, True)
            notes = []
        runs = ReferenceRuns(f64, kappa, notes=notes)
        if float32:
            try:
                x32, y32 = x.astype(np.float32), y.astype(np.float32)
                runs.float32 = (_run_sums(program, x32, y32, FLOAT32) if big else
                                _run(program, x32, y32, FLOAT32, chunk, False)[0])
            except ValueError as exc:  # e.g. a division by a float32 zero (strict recip)
                runs.notes.append(f"float32 run failed: {exc}")
    cost = exact_cost(program, int(x.shape[0]))
    if isinstance(exact, Mapping):
        runs.exact = {k: NUMERIC.asarray(v) for k, v in exact.items()}
        runs.exact_reason = "exact registers given"
    elif exact is True or (exact == "auto" and cost <= exact_budget):
        try:
            ex = run_program(program, to_fractions(x), to_fractions(y), EXACT)
        except ValueError as exc:  # a float-only operation (tanh, sigmoid): no exact run
            runs.exact_reason = f"no exact run ({exc})"
        else:
            runs.exact = {k: NUMERIC.asarray(v) for k, v in ex.items()}
            runs.exact_reason = "exact run on the float data"
    else:
        runs.exact_reason = (f"no exact run (cost n * reads = {cost} > {exact_budget})"
                             if exact == "auto" else "no exact run (not asked for)")
    return runs


@dataclass
class Judgement:
    """One float comparison: the error, the tolerance it was held to, and the verdict."""

    status: str  # "verified", "refuted" or "inconclusive"
    error: float
    tolerance: float
    reference: str
    reason: str = ""


def judge(got: Any, want: Any, *, tolerance: float, estimate: float = 0.0,
          reference: str = "float64 run", saturated: bool = False,
          float_vs_exact: float | None = None, what: str = "") -> Judgement:
    """Compare ``got`` with ``want`` to ``max(tolerance, SAFETY * estimate)``.

    ``estimate`` is the estimated relative error of the computation (of the reference);
    ``float_vs_exact`` the float reference's own distance from the exact run, if known.
    """
    err = norm_error(got, want)
    tol = max(tolerance, SAFETY * estimate) if np.isfinite(estimate) else float("inf")
    if np.isfinite(err) and err <= tol:
        if err > tolerance and err > CEILING:
            # agreement only within a tolerance so loose it says nothing: fewer than four
            # correct digits is no evidence either way
            return Judgement("inconclusive", err, tol, reference,
                             f"{what} is {err:.3g} from the {reference}: within the "
                             f"conditioning-scaled tolerance {tol:.2g}, but an error above "
                             f"{CEILING:g} leaves float64 nothing to decide")
        return Judgement("verified", err, tol, reference)
    reasons = []
    if reference == "exact run":
        # the truth is known: only a float reference that misses it too excuses a miss
        if float_vs_exact is not None and float_vs_exact > min(tol, CEILING):
            reasons.append(f"the float64 reference of {what} is itself {float_vs_exact:.2g} "
                           "from the exact run (float cannot decide here)")
    else:
        if tol > CEILING:
            reasons.append(f"the float computation of {what} is ill-conditioned (estimated "
                           f"error {estimate:.2g}, tolerance {tol:.2g} > {CEILING:g})")
        if saturated:
            reasons.append(f"the float32 run of {what} has no correct digit (a tie, kink or "
                           "cancellation that float cannot resolve)")
    if reasons and np.isfinite(err):
        return Judgement("inconclusive", err, tol, reference,
                         f"{what} is {err:.3g} from the {reference}, but " + "; ".join(reasons))
    return Judgement("refuted", err, tol, reference,
                     f"{what} is {err:.3g} from the {reference} (tolerance {tol:.2g})")

__all__ = ["CEILING", "EXACT_BUDGET", "FLOAT32", "Float32Backend", "Judgement",
           "ReferenceRuns", "SAFETY", "exact_cost", "judge", "norm_error", "reference_runs",
           "to_fractions"]
