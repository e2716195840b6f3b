"""``symuni``: the command line.

Subcommands: ``demo`` (the main job), ``list``, ``verify``. Exit codes: 0 only for a
``verified`` verdict; 1 for ``refuted`` or ``unknown``; 2 for bad input or an error
(one sentence on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Subcommands added by later stages register themselves here: name -> (setup, run).
EXTRA_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None],
                                Callable[[argparse.Namespace], int]]] = {}


class CLIError(ValueError):
    """A usage problem reported as one sentence."""


def _fraction(text: str) -> Fraction:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an exact number; write it as 1/10 or 0.1") from None


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return v


def add_problem_arguments(p: argparse.ArgumentParser, *, dataset: bool = True) -> None:
    """``--algorithm``, ``--network`` (and ``--dataset``, ``--samples``) plus algorithm options."""
    p.add_argument("--algorithm", "-a", default="gd", help="algorithm name (see `symuni list`)")
    p.add_argument("--network", "-n", default="linear",
                   help="base network: linear, linear-nobias or mlp:4-5-3:relu")
    if dataset:
        p.add_argument("--dataset", "-d", default="tiny", help="data set (see `symuni list`)")
        p.add_argument("--samples", type=_positive_int, default=None,
                       help="deterministic stratified subset of N samples")
    p.add_argument("--T", dest="T", type=_positive_int, default=None,
                   help="iterations of gd / epochs of perceptron")
    p.add_argument("--lr", type=_fraction, default=None, help="learning rate (exact, e.g. 1/10)")
    p.add_argument("--seed", type=int, default=None, help="seed of gd's initial weights")


def algorithm_options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("T", "lr", "seed") if getattr(args, k, None) is not None}


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def _short(names: list[str], limit: int = 6) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... (+{len(names) - limit})"


def print_report(report: Any) -> None:
    """The per-step table and the final verdict of an exact check."""
    rows = []
    for s in report.steps:
        verdict = s.status if s.mismatch is None else f"{s.status}: {s.mismatch.sentence()}"
        rows.append([str(s.step), _short(s.written, 4), f"{s.moved_entries} in {_short(s.moved)}",
                     verdict])
    _print_table(rows, ["step", "written", "parameters moved", "verdict"])
    print()
    checks = [
        ("T1  w_K = A(D) (interpreter)", report.final_weights_equal),
        ("    A(D) = independent NumPy reference", report.reference_equal),
        ("T2  F_main = f(.; A(D)) on train + held-out inputs", report.forward_output_equal),
        ("T2  F_aux = 0", report.aux_zero),
        ("T3  step K moves only w, as plain GD on f", report.inert_after_K),
    ]
    for label, ok in checks:
        mark = "n/a" if ok is None else ("yes" if ok else "NO")
        print(f"  {label:<52} {mark}")
    print()
    print(f"verdict: {report.status.upper()} ({report.message}; {report.seconds} s)")


def write_certificate(report: Any, path: str, extra: dict[str, Any] | None = None) -> None:
    from .verify.certificate import certificate

    data = certificate(report, extra)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from .networks.mlp import ACTIVATIONS
    from .zoo.algorithms import ALGORITHMS
    from .zoo.datasets import DATASETS

    print("algorithms:")
    for a in ALGORITHMS.values():
        print(f"  {a.name:<12} {a.summary}")
    print("networks:")
    print("  linear          affine d -> c with bias (W row-major, then b)")
    print("  linear-nobias   W x")
    print(f"  mlp:D-H-...-C:ACT   ACT in {', '.join(ACTIVATIONS)} (tanh, sigmoid: numeric only)")
    print("datasets:")
    for name in DATASETS:
        print(f"  {name}")
    print("  (--samples N takes a deterministic stratified subset)")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from .pipeline import prepare, verify_exact

    backends = [b.strip() for b in args.backend.split(",")]
    job = prepare(args.algorithm, args.network, args.dataset, args.samples,
                  **algorithm_options(args))
    ext = job.extension
    print(f"algorithm {args.algorithm} on {job.net.describe()}, data {job.data.name} "
          f"(n = {job.data.n}, d = {job.data.d}, c = {job.data.c})")
    print(f"extension: {ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
          f"eta = {ext.eta}")
    print()
    report = None
    extra: dict[str, Any] = {}
    status = "verified"
    for backend in backends:
        runner = BACKEND_RUNNERS.get(backend)
        if runner is None and backend != "exact":
            raise CLIError(f"unknown backend {backend!r}; choose from exact, "
                           f"{', '.join(sorted(BACKEND_RUNNERS)) or '(none installed)'}")
        if backend == "exact":
            report = verify_exact(job, prune=args.prune)
            print_report(report)
            if report.status != "verified":
                status = report.status
        else:
            result = runner(job, args)
            extra[backend] = result
            if result.get("status") != "verified":
                status = result.get("status", "unknown") if status == "verified" else status
    if report is not None:
        report.backends = backends
        report.status = status if report.status == "verified" else report.status
    if args.json:
        if report is None:
            from .verify.certificate import minimal_report

            report = minimal_report(job, status, backends)
        write_certificate(report, args.json, extra)
        print(f"certificate written to {args.json}")
    if args.report:
        write_html_report(job, report, args.report, extra)
    final = report.status if report is not None else status
    return EXIT_OK if final == "verified" else EXIT_FAILED


# Backends beyond "exact" register here: name -> run(job, args) -> dict with "status".
BACKEND_RUNNERS: dict[str, Callable[[Any, argparse.Namespace], dict[str, Any]]] = {}


def cmd_demo(args: argparse.Namespace) -> int:
    from .pipeline import prepare, verify_exact

    job = prepare("worked", "linear-nobias", "tiny", None)
    ext, data = job.extension, job.data
    print("symbolic_universality demo: gradient descent that runs a learning algorithm")
    print("=" * 76)
    print(f"network    f(x; W) = W x, {job.net.describe()}")
    print("algorithm  two steps of full-batch GD on f from W = 0, learning rate 1/10,")
    print("           written as a program (construction.md section 5):")
    for line in ext.program.describe().splitlines()[1:]:
        print("          " + line)
    print("data       " + "; ".join(
        f"x = ({', '.join(str(v) for v in data.x[i])}), y = e_{int(data.labels[i]) + 1}"
        for i in range(data.n)))
    print(f"extension  {ext.n_parameters} trainable parameters (every coefficient), "
          f"K = {ext.K} GD steps, eta = {ext.eta}")
    print("=" * 76)
    print()
    report = verify_exact(job)
    print_report(report)
    if report.status == "verified":
        print()
        print("A(D) = W = [" + ", ".join(report.final_weights) + "] (row-major), reached by "
              "plain gradient descent on the extension.")
    if args.json:
        write_certificate(report, args.json)
        print(f"certificate written to {args.json}")
    if args.report:
        write_html_report(job, report, args.report, {})
    return EXIT_OK if report.status == "verified" else EXIT_FAILED


def write_html_report(job: Any, report: Any, outdir: str, extra: dict[str, Any]) -> None:
    """``--report DIR``: plots and one HTML page (needs the ``plot`` extra: matplotlib)."""
    try:
        from .report import write_report
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"--report needs the optional dependency {exc.name!r}; install it with "
            "pip install 'symbolic_universality[plot]'") from None
    path = write_report(job, report, outdir, extra)
    print(f"report written to {path}")


# --------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symuni",
        description="Compile a learning algorithm into a network extension that plain gradient "
                    "descent runs, and check it step by step.",
    )
    parser.add_argument("--version", action="version", version=f"symuni {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="the main job: the worked example end to end")
    p.add_argument("--json", metavar="FILE", help="write the certificate as JSON")
    p.add_argument("--report", metavar="DIR", help="write plots and an HTML report to DIR")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("list", help="available algorithms, networks and data sets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("verify", help="check an algorithm's extension step by step")
    add_problem_arguments(p)
    p.add_argument("--json", metavar="FILE", help="write the certificate as JSON")
    p.add_argument("--backend", default="exact",
                   help="comma-separated checkers to run (default: exact)")
    p.add_argument("--report", metavar="DIR", help="write plots and an HTML report to DIR")
    p.add_argument("--prune", action="store_true",
                   help="skip products with an exactly-zero factor (exact; faster)")
    p.set_defaults(func=cmd_verify)

    for name, (setup, run) in EXTRA_COMMANDS.items():
        p = sub.add_parser(name, help=getattr(run, "__doc__", "") or name)
        setup(p)
        p.set_defaults(func=run)
    return parser


PLUGINS = (
    "symbolic_universality.proofs.cli",     # symuni proofs (issue 4)
    "symbolic_universality.symbolic.cli",   # symuni prove / rules, backends algebra, smt
    "symbolic_universality.numeric.cli",    # symuni run, backend numeric, torch
    "symbolic_universality.report.cli",     # --report DIR
)


def _load_plugins() -> None:
    """Import the optional stages that register commands or backends (if present)."""
    import importlib

    for module in PLUGINS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``symuni`` and ``python -m symbolic_universality``."""
    _load_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("symuni: interrupted", file=sys.stderr)
        return 130
    except (ValueError, ImportError) as exc:
        msg = str(exc).strip() or type(exc).__name__
        if len(msg) > 1 and msg[0] == msg[-1] and msg[0] in "'\"":
            msg = msg[1:-1]
        print(f"symuni: error: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
