"""CLI plugin: ``symuni run``, and the ``numeric`` and ``torch`` verify backends.

Imported by ``symbolic_universality.cli`` (see its ``PLUGINS``); registers

* ``cli.EXTRA_COMMANDS["run"]``: float64 GD on the extension for ``K`` (+ ``--extra``)
  steps on a data set or on synthetic data (``--synthetic n=100000,d=32,c=10``), with the
  checks of :mod:`.check`, per-step timings and the time of the direct reference run;
* ``cli.BACKEND_RUNNERS["numeric"]``: ``symuni verify --backend numeric ...``;
* ``cli.BACKEND_RUNNERS["torch"]``: ``symuni verify --backend torch ...`` (needs PyTorch).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import cli
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
            raise cli.CLIError(f"cannot read --synthetic {spec!r}; write it as "
                               "n=100000,d=32,c=10 (optionally seed=0)")
        try:
            out[key] = int(value)
        except ValueError:
            raise cli.CLIError(f"--synthetic {key}={value!r} is not a whole number") from None
    if out["n"] < 1 or out["d"] < 1 or out["c"] < 2:
        raise cli.CLIError("--synthetic needs n >= 1, d >= 1 and c >= 2")
    return out


def synthetic_instance(spec: str, algorithm: str, network: str, options: dict[str, Any],
                       *, reference: bool = True, held: int = 3,
                       threads: int | None = DEFAULT_THREADS) -> Instance:
    """Gaussian blobs (``zoo.datasets.synthetic``), the extension and the float reference.

    The held-out inputs are ``held`` further samples of the same draw; the reference runs
    (and is timed) with ``threads`` BLAS threads, like the extension.
    """
    from ..networks.mlp import parse_network
    from ..pipeline import algorithm_entry, compile_algorithm
    from ..zoo.datasets import synthetic

    s = parse_synthetic(spec)
    x_all, y_all, _ = synthetic(s["n"] + held, s["d"], s["c"], s["seed"])
    x, y = x_all[: s["n"]], y_all[: s["n"]]
    net = parse_network(network, s["d"], s["c"])
    ext = compile_algorithm(algorithm, net, **options)
    ref_w, ref_s = None, None
    if reference:
        with blas_threads(threads):
            t0 = time.perf_counter()
            ref_w = algorithm_entry(algorithm).reference(net, x, y, **options)
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


def print_numeric(report: NumericReport) -> None:
    """The per-step table and the checks of a numeric run."""
    rows = []
    for s in report.steps:
        rows.append([str(s.step), f"{s.seconds:.3f}", _yes(s.flags_exact), _yes(s.gates_exact),
                     _yes(s.unwritten_exact), f"{s.state_error:.1e}", s.status])
    cli._print_table(rows, ["step", "seconds", "flags exact", "gates exact",
                            "unwritten = 0", "max rel. error", "verdict"])
    print()
    tol = report.tolerance
    lines = [
        ("clock flags bit-exact 0.0/1.0 at every step", _yes(report.flags_exact)),
        ("gates bit-exact 0.0/1.0 at every step", _yes(report.gates_exact)),
        (f"registers vs the program's float run ({report.interpreter})",
         _err(report.register_error)),
        ("T1  w_K vs the plain-NumPy reference (rel. error)", _err(report.weights_error)),
        (f"T2  F_main vs f(.; A(D)) on {report.forward_inputs} held-out inputs",
         _err(report.forward_error)),
        ("T2  max |F_aux| (must be exactly 0)", _err(report.aux_max)),
        (f"T3  {report.extra_steps} step(s) after K: only w moves", _yes(report.inert_exact)),
        ("T3  step of w vs plain GD on f (rel. error)", _err(report.inert_error)),
    ]
    for label, mark in lines:
        print(f"  {label:<56} {mark}")
    print(f"  (tolerance {tol:g})")
    print()
    ref = report.reference_seconds
    timing = f"GD on the extension: {report.gd_seconds:.3f} s for K = {report.gd_steps} steps"
    if ref:
        timing += (f"; direct reference run: {ref:.3f} s "
                   f"(ratio {report.gd_seconds / ref:.2f})")
    print(timing)
    for failure in report.failures[:5]:
        print(f"  ! {failure}")
    print(f"verdict: {report.status.upper()} ({report.message}; {report.seconds} s)")


# --------------------------------------------------------------------- backends


def numeric_backend(job: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``symuni verify --backend numeric``: the float64 check of :mod:`.check`."""
    chunk = getattr(args, "chunk", None) or DEFAULT_CHUNK
    print("numeric backend: float64 GD on the extension (NumPy, chunked, pruned)")
    report = run_check(job_instance(job), extra=1, chunk=chunk)
    print_numeric(report)
    print()
    return report.as_dict()


def torch_backend(job: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``symuni verify --backend torch``: the extension trained by ``torch.optim.SGD``."""
    from .torch_export import check_torch

    inst = job_instance(job)
    print("torch backend: the extension exported to PyTorch, trained by torch.optim.SGD")
    result = check_torch(inst.extension, inst.x, inst.y, reference_w=inst.reference_w,
                         held_out=inst.held_out)
    for key in ("weights_error", "forward_error", "aux_max", "flags_exact", "seconds"):
        print(f"  {key:<16} {result.get(key)}")
    print(f"verdict: {str(result['status']).upper()} ({result['message']})")
    print()
    return result


# ------------------------------------------------------------------ symuni run


def setup_run(p: argparse.ArgumentParser) -> None:
    cli.add_problem_arguments(p)
    p.add_argument("--synthetic", metavar="SPEC", default=None,
                   help="synthetic Gaussian blobs instead of --dataset, e.g. n=100000,d=32,c=10")
    p.add_argument("--extra", type=int, default=1,
                   help="GD steps after K (checked as plain GD on f; default 1)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                   help=f"samples per chunk of the evaluator (default {DEFAULT_CHUNK})")
    p.add_argument("--no-prune", action="store_true",
                   help="evaluate every product, also those with an exactly-zero factor")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"relative error allowed against the float references "
                        f"(default {DEFAULT_TOLERANCE:g})")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="BLAS threads for the extension and the reference (default "
                        f"{DEFAULT_THREADS}; 0 keeps the library default)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")


def cmd_run(args: argparse.Namespace) -> int:
    """float64 GD on the extension at scale, checked against the float references"""
    if args.extra < 0:
        raise cli.CLIError("--extra must be 0 or more")
    if args.chunk < 1:
        raise cli.CLIError("--chunk must be at least 1")
    options = cli.algorithm_options(args)
    threads = args.threads or None
    t0 = time.perf_counter()
    if args.synthetic:
        inst = synthetic_instance(args.synthetic, args.algorithm, args.network, options,
                                  threads=threads)
    else:
        from ..pipeline import prepare

        inst = job_instance(prepare(args.algorithm, args.network, args.dataset, args.samples,
                                    **options), threads=threads)
    ext = inst.extension
    print(f"algorithm {args.algorithm} on {ext.net.describe()}, data {inst.name} "
          f"(n = {inst.x.shape[0]}, d = {inst.x.shape[1]}, c = {inst.y.shape[1]}); "
          f"set up in {time.perf_counter() - t0:.2f} s")
    print(f"extension: {ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
          f"eta = {ext.eta}; float64, chunks of {args.chunk} samples, "
          f"{'no pruning' if args.no_prune else 'pruned'}")
    print()
    report = run_check(inst, extra=args.extra, chunk=args.chunk, prune=not args.no_prune,
                       tolerance=args.tolerance, threads=threads)
    print_numeric(report)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        print(f"result written to {args.json}")
    return cli.EXIT_OK if report.status == "verified" else cli.EXIT_FAILED


cli.EXTRA_COMMANDS["run"] = (setup_run, cmd_run)
cli.BACKEND_RUNNERS["numeric"] = numeric_backend
cli.BACKEND_RUNNERS["torch"] = torch_backend
