"""``symuni``: the command line, a thin shell over :mod:`symbolic_universality.api`.

Subcommands: ``demo`` (the main job), ``list``, ``verify``, ``prove``, ``rules``, ``run``,
``proofs``, ``faults``. Exit codes: 0 only for a ``verified`` verdict; 1 for ``refuted``,
``unknown``, ``inconclusive`` or ``skipped``; 2 for bad input or a file that cannot be
written (one sentence on stderr, never a traceback); 130 when interrupted.

Each subcommand is a row of :data:`COMMANDS`: a function adding its arguments and a
function running it through the API. No stage package imports this module.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from .. import __version__
from ..errors import UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

CLIError = UsageError


# ------------------------------------------------------------------ argument types


class _Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors and exit 2 (its own default is also 2)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        print(f"symuni: error: {message} (see symuni {self.prog.split()[-1]} --help)"
              if " " in self.prog else f"symuni: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def fraction_arg(text: str) -> Fraction:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an exact number; write it as 1/10 or 0.1") from None


def _bounded(read: Callable[[str], Any], what: str, ok: Callable[[Any], bool],
             bound: str) -> Callable[[str], Any]:
    """An argparse type: ``read`` the text (else "not a WHAT"), then require ``ok`` (BOUND)."""
    def parse(text: str) -> Any:
        try:
            v = read(text)
        except (ValueError, ZeroDivisionError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return v

    return parse


positive_fraction_arg = _bounded(Fraction, "an exact number; write it as 1/10 or 0.1",
                                 lambda v: v > 0, "positive")
positive_int_arg = _bounded(int, "a whole number", lambda v: v >= 1, "at least 1")


def jobs_arg(text: str) -> int | str:
    """``--jobs``: a whole number at least 1, or ``auto`` (every core this process may use)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int_arg(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; give a number of processes or auto") from None


nonnegative_int_arg = _bounded(int, "a whole number", lambda v: v >= 0, "0 or more")
positive_float_arg = _bounded(float, "a number", lambda v: math.isfinite(v) and v > 0,
                              "a positive finite number")


def path_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty; give a file or folder name")
    return text


def add_problem_arguments(p: argparse.ArgumentParser, *, dataset: bool = True) -> None:
    """``--algorithm``, ``--network`` (and ``--dataset``, ``--samples``) plus options."""
    p.add_argument("--algorithm", "-a", default="gd",
                   help="built-in name (see `symuni list`), path/to/file.py:function or "
                        "package.module:function")
    p.add_argument("--network", "-n", default="linear",
                   help="base network: linear, linear-nobias or mlp:4-5-3:relu")
    if dataset:
        p.add_argument("--dataset", "-d", default="tiny",
                       help="built-in data set (see `symuni list`) or a .csv/.npz/.npy file")
        p.add_argument("--label", default=None,
                       help="CSV: the label column (name or 0-based index; default: a column "
                            "named label/class/target/y, else the last); .npy: the labels file")
        p.add_argument("--samples", type=positive_int_arg, default=None,
                       help="deterministic stratified subset of N samples")
    p.add_argument("--option", "-o", action="append", default=[], metavar="NAME=VALUE",
                   help="an option of the algorithm (repeatable); values are exact: 5, 1/10, "
                        "0.1")
    p.add_argument("--reference", default=None, metavar="FILE.py:FUNCTION",
                   help="your own independent reference reference(x, y, **options) -> A(D)")
    p.add_argument("--float-constants", choices=("refuse", "exact"), default="refuse",
                   help="a Python float in the algorithm: refuse (default) or read it as its "
                        "shortest decimal (listed in the output)")
    p.add_argument("--loss", choices=("mse", "ce"), default="mse",
                   help="the extension's main loss: mse (squared, default) or ce (softmax "
                        "cross-entropy: exact up to step K, T3 in float64)")
    p.add_argument("--T", dest="T", type=positive_int_arg, default=None,
                   help="iterations of gd / epochs of perceptron (same as --option T=...)")
    p.add_argument("--lr", type=positive_fraction_arg, default=None,
                   help="learning rate, exact, e.g. 1/10 (same as --option lr=...)")
    p.add_argument("--seed", type=nonnegative_int_arg, default=None,
                   help="seed of gd's initial weights (0 or more)")


def algorithm_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--T/--lr/--seed`` and every ``--option`` as one dict (each name at most once)."""
    from ..api import parse_option

    out: dict[str, Any] = {k: getattr(args, k) for k in ("T", "lr", "seed")
                           if getattr(args, k, None) is not None}
    for item in getattr(args, "option", None) or []:
        k, v = parse_option(item)
        if k in out:
            raise UsageError(f"option {k!r} is given twice; give each option once")
        out[k] = v
    return out


def finish(result: Any, json_path: str | None, *, what: str = "certificate") -> int:
    """Print the summary (its last line is the verdict), write the certificate, exit code."""
    from ..files import remove_stale

    print(result.summary())
    if json_path:
        if result.status in ("verified", "refuted", "unknown", "inconclusive", "skipped"):
            result.write(json_path)
            print(f"{what} written to {json_path}")
        else:
            remove_stale(json_path)
    return EXIT_OK if result.status == "verified" else EXIT_FAILED


# ----------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from ..networks.mlp import ACTIVATIONS
    from ..report.text import table
    from ..zoo.algorithms import ALGORITHMS
    from ..zoo.datasets import DATASETS

    print("algorithms (or your own: path/to/file.py:function, package.module:function):")
    rows = []
    for a in ALGORITHMS.values():
        depth = getattr(a, "depth_formula", "") or "-"
        exact = "" if getattr(a, "exact", True) or "float only" in a.summary else " (float only)"
        rows.append([a.name, ", ".join(a.options) or "-", depth, a.summary + exact])
    print("\n".join("  " + line for line in table(rows, ["name", "options", "K (GD steps)",
                                                          "what it does"]).splitlines()))
    print("networks:")
    print("  linear          affine d -> c with bias (W row-major, then b)")
    print("  linear-nobias   W x")
    print("  cnn:CxHxW-...   convolutional, e.g. cnn:1x8x8-c4k3-relu-p2-fc10 (docs/api.md)")
    print(f"  mlp:D-H-...-C:ACT   ACT in {', '.join(ACTIVATIONS)} (tanh, sigmoid: numeric only)")
    print("datasets (or a .csv, .npz or .npy file of your own):")
    for name in DATASETS:
        print(f"  {name}")
    print("  (--samples N takes a deterministic stratified subset)")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from .. import api
    from ..files import check_writable, check_writable_folder, remove_stale

    if args.json:
        check_writable(args.json, "certificate")
    if args.report:
        check_writable_folder(args.report, "report")
    try:
        result = api.verify(args.algorithm, args.network, args.dataset, samples=args.samples,
                            label=args.label, options=algorithm_options(args),
                            backends=args.backend, reference=args.reference,
                            float_constants=args.float_constants, prune=args.prune,
                            loss=args.loss,
                            timeout_ms=args.timeout, device=args.device, oracle=args.oracle)
    except BaseException:
        remove_stale(args.json)
        raise
    code = finish(result, args.json)
    if args.report:
        write_html_report(result.job, result.report, args.report, result.backend_results)
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    from .. import api
    from ..files import check_writable, check_writable_folder

    if args.json:
        check_writable(args.json, "certificate")
    if args.report:
        check_writable_folder(args.report, "report")
    result = api.verify("worked", "linear-nobias", "tiny")
    job = result.job
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
    print(api.exact_text(result.report))
    if result.status == "verified":
        print()
        print("A(D) = W = [" + ", ".join(result.report.final_weights) + "] (row-major), "
              "reached by plain gradient descent on the extension.")
    print()
    print(result.verdict_line)
    if args.json:
        result.write(args.json)
        print(f"certificate written to {args.json}")
    if args.report:
        write_html_report(job, result.report, args.report, {})
    return EXIT_OK if result.status == "verified" else EXIT_FAILED


def write_html_report(job: Any, report: Any, outdir: str, extra: dict[str, Any]) -> None:
    """``--report DIR``: plots and one HTML page, written into a temporary folder first.

    Needs the ``plot`` extra (matplotlib). The folder appears complete or not at all.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from ..errors import OutputError

    try:
        from ..report import write_report
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"--report needs the optional dependency {exc.name!r}; install it with "
            "pip install 'symbolic_universality[plot]'") from None
    target = Path(outdir)
    if target.exists() and not target.is_dir():
        raise OutputError(f"--report {outdir!r} is a file, not a folder; give a folder name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise OutputError(f"cannot write the report folder {outdir!r}: "
                          f"{exc.strerror or exc}; choose another path") from None
    try:
        write_report(job, report, tmp, extra)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write the report folder {outdir!r}: "
                          f"{exc.strerror or exc}; choose another path") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"report written to {target / 'index.html'}")


# ------------------------------------------------------------------------- parser


def _setup_verify(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p)
    p.add_argument("--json", metavar="FILE", type=path_arg, help="write the certificate as JSON")
    p.add_argument("--backend", default="exact",
                   help="comma-separated checkers: exact, numeric, torch, algebra, smt "
                        "(default: exact)")
    p.add_argument("--report", metavar="DIR", type=path_arg,
                   help="write plots and an HTML report to DIR")
    p.add_argument("--prune", dest="prune", action="store_true", default=True,
                   help="skip products with an exactly-zero factor (exact; the default)")
    p.add_argument("--no-prune", dest="prune", action="store_false",
                   help="evaluate every product (slower; the independent gradient oracle "
                        "cross-checks the pruned run anyway)")
    p.add_argument("--timeout", type=positive_int_arg, default=10_000, metavar="MS",
                   help="z3 time limit per obligation for --backend smt (default 10000)")
    p.add_argument("--oracle", choices=("auto", "torch", "sympy", "both", "off"),
                   default="auto",
                   help="the independent gradient oracle of the exact backend (default auto)")
    p.add_argument("--device", default=None,
                   help="torch device of --backend torch, e.g. cpu or cuda (default: cpu)")


def _setup_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="FILE", type=path_arg, help="write the certificate as JSON")
    p.add_argument("--report", metavar="DIR", type=path_arg,
                   help="write plots and an HTML report to DIR")


def _commands() -> dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                                   Callable[[argparse.Namespace], int]]]:
    from . import check, faults, proofs, prove, run, show

    return {
        "demo": ("the main job: the worked example end to end", _setup_demo, cmd_demo),
        "list": ("available algorithms, networks and data sets", lambda p: None, cmd_list),
        "verify": ("check an algorithm's extension step by step", _setup_verify, cmd_verify),
        "prove": ("prove every GD step for all data (sympy, z3)", prove.setup_prove,
                  prove.run_prove),
        "rules": ("the exact GD update rule of each step", prove.setup_rules, prove.run_rules),
        "run": ("float64 GD on the extension at scale", run.setup_run, run.cmd_run),
        "show": ("print the traced program and the extension (typed, with shapes)",
                 show.setup, show.run),
        "proofs": ("machine-check every lemma of the construction", proofs.setup, proofs.run),
        "check": ("verify every construction a project declares ([tool.symuni])",
                  check.setup, check.run),
        "faults": ("the catalogue of seeded faults and the check that catches each",
                   faults.setup, faults.run),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="symuni",
        description="Compile a learning algorithm into a network extension that plain gradient "
                    "descent runs, and check it step by step.",
    )
    parser.add_argument("--version", action="version", version=f"symuni {__version__}")
    parser.add_argument("--quiet", dest="no_progress", action="store_true",
                        help="no progress bars (they are drawn only on a terminal anyway)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (helptext, setup, run) in _commands().items():
        p = sub.add_parser(name, help=helptext, description=helptext)
        setup(p)
        p.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``symuni`` and ``python -m symbolic_universality``."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from ..progress import enabled_by_default

    enabled_by_default(not args.no_progress)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("symuni: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, ImportError, OSError, RecursionError) as exc:
        msg = str(exc).strip() or type(exc).__name__
        if isinstance(exc, RecursionError):
            msg = "the program is too deep for this build (Python's recursion limit)"
        if len(msg) > 1 and msg[0] == msg[-1] and msg[0] in "'\"":
            msg = msg[1:-1]
        print(f"symuni: error: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
