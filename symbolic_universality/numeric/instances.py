"""Float problem instances for the numeric checks: a job or synthetic data, with references.

``symuni run`` and ``symuni verify --backend numeric,torch`` (through the public API)
build an :class:`Instance`, run :func:`run_check` (float64 GD on the extension, checked by
:mod:`.check`) or :func:`.torch_export.check_torch`, and render :func:`numeric_text`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from ..report.text import table
from .check import DEFAULT_TOLERANCE, NumericReport, check_numeric
from .run import DEFAULT_CHUNK, DEFAULT_THREADS, blas_threads


@dataclass
class Instance:
    """A float problem instance: the extension, float data, held-out inputs, the reference."""

    name: str
    extension: Any
    x: np.ndarray
    y: np.ndarray
    held_out: np.ndarray
    reference_w: np.ndarray | None
    reference_seconds: float | None


def parse_synthetic(spec: str) -> dict[str, int]:
    """``n=100000,d=32,c=10[,seed=0]`` -> ``{"n": ..., "d": ..., "c": ..., "seed": ...}``."""
    out = {"n": 1000, "d": 8, "c": 3, "seed": 0}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in out:
            raise UsageError(f"cannot read --synthetic {spec!r}; write it as "
                               "n=100000,d=32,c=10 (optionally seed=0)")
        try:
            out[key] = int(value)
        except ValueError:
            raise UsageError(f"--synthetic {key}={value!r} is not a whole number") from None
    if out["n"] < 1 or out["d"] < 1 or out["c"] < 2:
        raise UsageError("--synthetic needs n >= 1, d >= 1 and c >= 2")
    return out


def synthetic_instance(spec: str, algorithm: Any, network: str, options: dict[str, Any],
                       *, reference: bool = True, held: int = 3,
                       threads: int | None = DEFAULT_THREADS,
                       float_constants: str = "refuse", loss: str = "mse") -> Instance:
    """Gaussian blobs (``zoo.datasets.synthetic``), the extension and the float reference.

    The held-out inputs are ``held`` further samples of the same draw; the reference runs
    (and is timed) with ``threads`` BLAS threads, like the extension.
    """
    from ..networks.mlp import parse_network
    from ..pipeline import compile_algorithm, concrete_weights, resolve_algorithm
    from ..zoo.datasets import synthetic

    s = parse_synthetic(spec)
    x_all, y_all, _ = synthetic(s["n"] + held, s["d"], s["c"], s["seed"])
    x, y = x_all[: s["n"]], y_all[: s["n"]]
    net = parse_network(network, s["d"], s["c"])
    alg = resolve_algorithm(algorithm)
    ext = compile_algorithm(alg, net, float_constants=float_constants, loss=loss, **options)
    ref_w, ref_s = None, None
    if reference:
        with blas_threads(threads):
            t0 = time.perf_counter()
            if alg.reference is not None:
                ref_w = alg.reference(net, x, y, **options)
            else:  # the user's own function, executed in float64 (not traced)
                ref_w = concrete_weights(alg, net, options, x, y, exact=False,
                                         float_constants=float_constants)
            ref_s = time.perf_counter() - t0
    name = f"synthetic(n={s['n']}, d={s['d']}, c={s['c']}, seed={s['seed']})"
    return Instance(name, ext, x, y, x_all[s["n"]:], ref_w, ref_s)


def job_instance(job: Any, *, reference: bool = True,
                 threads: int | None = DEFAULT_THREADS) -> Instance:
    """A prepared ``pipeline.Job`` as a float instance (data rounded to float64 once)."""
    from ..backends.scalars import NUMERIC

    x, y = job.data.as_float()
    ref_w, ref_s = None, None
    if reference:
        with blas_threads(threads):
            t0 = time.perf_counter()
            ref_w = job.reference_weights(x, y)
            ref_s = time.perf_counter() - t0
    held = NUMERIC.asarray(job.held_out) if len(job.held_out) else x[:3]
    return Instance(job.data.name, job.extension, x, y, held, ref_w, ref_s)


def run_check(inst: Instance, *, extra: int = 1, chunk: int | None = DEFAULT_CHUNK,
              prune: bool = True, tolerance: float = DEFAULT_TOLERANCE,
              verbose: bool = False, threads: int | None = DEFAULT_THREADS) -> NumericReport:
    """:func:`.check.check_numeric` on an instance (overflow warnings of faulty runs muted)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return check_numeric(inst.extension, inst.x, inst.y, reference_w=inst.reference_w,
                             reference_seconds=inst.reference_seconds,
                             held_out=inst.held_out, extra_steps=extra, chunk=chunk,
                             prune=prune, tolerance=tolerance, dataset=inst.name,
                             verbose=verbose, threads=threads)


def _err(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2e}"


def _yes(v: bool | None) -> str:
    return "n/a" if v is None else ("yes" if v else "NO")


def numeric_text(report: NumericReport) -> str:
    """The per-step table and the checks of a numeric run, as text."""
    rows = []
    for s in report.steps:
        rows.append([str(s.step), f"{s.seconds:.3f}", _yes(s.flags_exact), _yes(s.gates_exact),
                     _yes(s.unwritten_exact), f"{s.state_error:.1e}", s.status])
    out = [table(rows, ["step", "seconds", "flags exact", "gates exact", "unwritten = 0",
                        "max rel. error", "verdict"]), ""]
    tol = report.tolerance
    lines = [
        ("clock flags bit-exact 0.0/1.0 at every step", _yes(report.flags_exact)),
        ("gates bit-exact 0.0/1.0 at every step", _yes(report.gates_exact)),
        (f"registers vs the {report.register_reference or 'program float run'}",
         _err(report.register_error)),
        ("T1  w_K vs the float reference (rel. error)", _err(report.weights_error)),
        (f"T2  F_main vs f(.; A(D)) on {report.forward_inputs} held-out inputs",
         _err(report.forward_error)),
        ("T2  max |F_aux| (must be exactly 0)", _err(report.aux_max)),
        (f"T3  {report.extra_steps} step(s) after K: only w moves", _yes(report.inert_exact)),
        ("T3  step of w vs plain GD on f (rel. error)", _err(report.inert_error)),
    ]
    out += [f"  {label:<56} {mark}" for label, mark in lines]
    out += [f"  (tolerance {tol:g})", ""]
    ref = report.reference_seconds
    timing = f"GD on the extension: {report.gd_seconds:.3f} s for K = {report.gd_steps} steps"
    if ref:
        timing += (f"; direct reference run: {ref:.3f} s "
                   f"(ratio {report.gd_seconds / ref:.2f})")
    out.append(timing)
    out += [f"  ! {failure}" for failure in report.failures[:5]]
    out += [f"  ? inconclusive: {why}" for why in report.inconclusive[:5]]
    out += [f"  note: {note}" for note in report.notes if note]
    out.append(f"numeric: {report.status.upper()} ({report.message}; {report.seconds} s)")
    return "\n".join(out)


def numeric_backend(job: Any, *, chunk: int | None = None,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``verify(..., backends=["numeric"])``: the float64 check of :mod:`.check`."""
    report = run_check(job_instance(job), extra=1, chunk=chunk or DEFAULT_CHUNK)
    if log is not None:
        log("numeric backend: float64 GD on the extension (NumPy, chunked, pruned)")
        log(numeric_text(report))
    return report.as_dict()


def torch_backend(job: Any, *, device: str | None = None,
                  log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``verify(..., backends=["torch"])``: the extension trained by ``torch.optim.SGD``."""
    from .torch_export import check_torch

    inst = job_instance(job)
    result = check_torch(inst.extension, inst.x, inst.y, reference_w=inst.reference_w,
                         held_out=inst.held_out, device=device)
    if log is not None:
        log("torch backend: the extension exported to PyTorch, trained by torch.optim.SGD")
        for key in ("weights_error", "forward_error", "aux_max", "flags_exact", "seconds"):
            log(f"  {key:<16} {result.get(key)}")
        log(f"torch: {str(result['status']).upper()} ({result['message']})")
    return result
