"""CLI plugin: ``symuni prove``, ``symuni rules`` and the verify backends ``algebra``, ``smt``.

Imported by ``symbolic_universality.cli`` if present; registers

* ``cli.EXTRA_COMMANDS["prove"]``: for-all-data proofs of every GD step (exit 0 only when
  every obligation is proved by every backend asked for; 1 refuted or unknown; 2 usage);
* ``cli.EXTRA_COMMANDS["rules"]``: the exact update rules, as text or LaTeX;
* ``cli.BACKEND_RUNNERS["algebra"]``, ``["smt"]``: ``symuni verify --backend exact,algebra,smt``
  proves the steps of the *same* extension (the job's network) for symbolic data of
  ``n = min(3, samples)`` samples of the job's dimension ``d``, with symbolic one-hot
  labels (covering every class assignment), steps and T2 (T1 against the reference is the
  exact backend's check on the job's data); data sets with ``d > MAX_VERIFY_D`` or
  extensions with more than ``MAX_VERIFY_PARAMS`` parameters are reported ``unknown``
  (too large for a symbolic proof), never verified.

Network and sizes: ``--network`` as in ``symuni verify``; ``--symbolic n=N,d=D[,c=C]``.
An ``mlp:D-...-C`` spec fixes ``d`` and ``c``; for ``linear``/``linear-nobias`` ``d`` comes
from ``--symbolic`` and ``c`` from ``c=`` there, default 2.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import cli
from ..extension.compiler import FAULTS, compile_extension
from ..networks.mlp import MLP, parse_network

if TYPE_CHECKING:  # the solvers are imported only when a command runs (fast `symuni demo`)
    from .data import SymbolicSpec
    from .prover import ProofReport

MODES = ("free", "data")

DEFAULT_C = 2
DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_BUDGET_S = 600.0
MAX_VERIFY_D = 8
MAX_VERIFY_PARAMS = 2_000
VERIFY_SAMPLES = 3

__all__ = ["network_for", "run_prove", "run_rules", "setup_prove", "setup_rules"]


def network_for(spec: str, sizes: SymbolicSpec) -> MLP:
    """The base network of ``spec`` for symbolic data of ``sizes`` (see the module docstring)."""
    from .data import SymbolicSpecError

    m = re.match(r"^mlp:(\d+(?:-\d+)+)", spec.strip())
    if m:
        dims = [int(v) for v in m.group(1).split("-")]
        d, c = dims[0], dims[-1]
        if sizes.d is not None and sizes.d != d:
            raise SymbolicSpecError(
                f"--symbolic d={sizes.d} but the network {spec!r} takes {d} inputs; "
                f"use d={d}")
        if sizes.c is not None and sizes.c != c:
            raise SymbolicSpecError(
                f"--symbolic c={sizes.c} but the network {spec!r} has {c} outputs; use c={c}")
    else:
        if sizes.d is None:
            raise SymbolicSpecError(
                f"the network {spec!r} needs the input size from --symbolic, e.g. n=3,d=2")
        d, c = sizes.d, sizes.c or DEFAULT_C
    return parse_network(spec, d, c)


def _backends(text: str) -> list[str]:
    if text == "both":
        return ["algebra", "smt"]
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names:
        raise cli.CLIError("--backend needs algebra, smt or both")
    for b in names:
        if b not in ("algebra", "smt"):
            raise cli.CLIError(f"unknown backend {b!r}; choose algebra, smt or both")
    return names


def _common(p: argparse.ArgumentParser) -> None:
    cli.add_problem_arguments(p, dataset=False)
    p.add_argument("--symbolic", required=True, metavar="n=N,d=D",
                   help="symbolic data: N samples of dimension D (c=C classes for linear "
                        f"networks, default {DEFAULT_C})")
    p.add_argument("--registers", choices=MODES, default="free",
                   help="free: earlier registers as symbols (all register contents; default); "
                        "data: registers as expressions in the data")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, metavar="S",
                   help="algebra time limit in seconds per obligation and for registers as "
                        f"data expressions (T1, --registers data; default "
                        f"{DEFAULT_BUDGET_S:g}); beyond it: unknown")


def setup_prove(p: argparse.ArgumentParser) -> None:
    cli.add_problem_arguments(p, dataset=False)
    p.add_argument("--mode", choices=("generic", "fixed"), default="generic",
                   help="generic (default): one generic sample, lifted to every data set of "
                        "every size (lemma lifting); fixed: every data set of n samples "
                        "(--symbolic n=N)")
    p.add_argument("--symbolic", default=None, metavar="n=N,d=D",
                   help="fixed mode: N samples of dimension D (c=C classes for linear "
                        f"networks, default {DEFAULT_C}); generic mode: only d= and c= are "
                        "read (linear networks)")
    p.add_argument("--registers", choices=MODES, default="free",
                   help="free: earlier registers as symbols (all register contents; default; "
                        "the only choice in generic mode); data: registers as expressions "
                        "in the data (fixed mode)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, metavar="S",
                   help="algebra time limit in seconds per unit of work (one GD step for one "
                        f"label choice; default {DEFAULT_BUDGET_S:g}); the unit runs in its own "
                        "process and is stopped safely; beyond it: unknown")
    p.add_argument("--classes", default=None,
                   help="fixed mode labels: all (every class assignment; default), symbolic "
                        "(one proof for every one-hot labelling) or one class per sample, "
                        "e.g. 0,1,0")
    p.add_argument("--backend", default="both", help="algebra, smt or both (default both)")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_MS, metavar="MS",
                   help=f"z3 time limit per obligation in ms (default {DEFAULT_TIMEOUT_MS}); "
                        "a time-out is reported unknown")
    p.add_argument("--json", metavar="FILE", help="write the certificate as JSON")
    p.add_argument("--smtlib", metavar="DIR", help="write every SMT obligation as SMT-LIB2")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes for independent units of work (default 1)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local processes (default) or a dask.distributed cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="dask scheduler address, e.g. tcp://127.0.0.1:8786 (--executor dask)")
    p.add_argument("--fault", choices=FAULTS, default=None,
                   help="break the construction on purpose (negative control)")
    p.add_argument("--eta", type=cli._fraction, default=None,
                   help="run GD with this step size instead of the construction's "
                        "(negative control)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip T1 (program output = independent reference algorithm; fixed "
                        "mode only)")
    p.add_argument("--no-recheck", action="store_true",
                   help="skip the FLINT re-check of algebra proofs")


def setup_rules(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--classes", default="symbolic",
                   help="labels: symbolic (default: y_i_k symbols) or one class per sample")
    p.add_argument("--step", type=int, default=None, help="only this step (default: all)")
    p.add_argument("--format", choices=("text", "latex"), default="text")
    p.add_argument("--output", metavar="FILE", help="write the rules to FILE")


def _compile(args: argparse.Namespace) -> tuple[Any, MLP, SymbolicSpec, dict[str, Any]]:
    from ..pipeline import compile_algorithm
    from .data import parse_symbolic

    sizes = parse_symbolic(args.symbolic)
    net = network_for(args.network, sizes)
    options = cli.algorithm_options(args)
    ext = compile_algorithm(args.algorithm, net, **options)
    fault = getattr(args, "fault", None)
    if fault is not None:
        ext = compile_extension(net, ext.program, fault=fault)
    return ext, net, sizes, options


def _cell(report: ProofReport, step: Any, backend: str) -> str:
    bs = step.backends.get(backend)
    if bs is None:
        return "-"
    return f"{bs.status} {bs.proved}/{bs.obligations} ({bs.seconds:.2f} s)"


def _mark(statuses: list[str]) -> str:
    if all(s == "verified" for s in statuses):
        return "yes"
    return "NO" if "refuted" in statuses else "unknown"


def print_proof(report: ProofReport) -> None:
    """Per-step table, the final checks and the verdict."""
    rows = []
    for s in report.steps:
        rows.append([str(s.step), cli._short(s.written, 3),
                     f"{s.moved_entries} in {cli._short(s.moved, 4)}",
                     *[_cell(report, s, b) for b in report.backends]])
    cli._print_table(rows, ["step", "written", "moved (for some data)", *report.backends])
    print()
    final_status: dict[str, list[str]] = {}
    for v in report.verdicts:
        if v.block.startswith("T"):
            final_status.setdefault(v.block, []).append(v.status)
    labels = {"T2.F_main": "T2  F_main(xs) = f(xs; w) at theta_K (fresh input xs)",
              "T2.F_aux": "T2  F_aux(xs) = 0",
              "T1.reference": "T1  A(D) by the program = independent reference"}
    for block, label in labels.items():
        sts = final_status.get(block)
        mark = "n/a" if not sts else ("yes" if all(s == "proved" for s in sts) else
                                      ("NO" if "refuted" in sts else "unknown"))
        print(f"  {label:<58} {mark}")
    traj = [s.status for s in report.steps]
    print(f"  {'T1  w_K = A(D): trajectory theorem, steps 0..K-1':<58} {_mark(traj[:-1])}")
    print(f"  {'T3  step K moves only w, as plain GD on f':<58} {_mark(traj[-1:])}")
    if report.skipped:
        print(f"  skipped {len(report.skipped)} class assignment(s) on which the algorithm is "
              f"undefined: {report.skipped[0]['reason']}")
    print()
    print(f"verdict: {report.status.upper()} ({report.message}; {report.seconds} s)")


def run_prove(args: argparse.Namespace) -> int:
    """prove every GD step of an extension for every data set (algebra and/or SMT)"""
    from .data import parse_classes
    from .prover import certificate, prove_extension

    generic = args.mode == "generic"
    if args.symbolic is None:
        if not generic:
            raise cli.CLIError("--mode fixed needs --symbolic n=N,d=D (the data set size)")
        args.symbolic = "n=1"
    elif generic:  # only d= and c= matter: one generic sample
        args.symbolic = ",".join(["n=1"] + [p for p in args.symbolic.split(",")
                                            if p.strip() and not p.strip().startswith("n")])
    ext, net, sizes, options = _compile(args)
    backends = _backends(args.backend)
    if args.timeout < 1:
        raise cli.CLIError("--timeout must be at least 1 ms")
    if not args.budget > 0 or args.budget == float("inf"):
        raise cli.CLIError("--budget must be a positive finite number of seconds")
    if args.jobs < 1:
        raise cli.CLIError("--jobs must be at least 1")
    if args.executor == "dask" and not args.scheduler:
        raise cli.CLIError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    if generic and args.registers != "free":
        raise cli.CLIError("--mode generic needs --registers free; use --mode fixed for data")
    if generic and args.classes not in (None, "symbolic"):
        raise cli.CLIError("--classes applies to --mode fixed; the generic mode covers every "
                           "label of one generic sample")
    classes = (parse_classes(args.classes, sizes.n, net.c) if not generic
               else parse_classes("symbolic", 1, net.c))
    if generic:
        print(f"algorithm {args.algorithm} on {net.describe()}, generic mode: one generic "
              f"sample (x in Q^{net.d}, y one-hot of {net.c} classes), lifted to every data "
              "set of every size")
    else:
        print(f"algorithm {args.algorithm} on {net.describe()}, symbolic data n = {sizes.n}, "
              f"d = {net.d}, c = {net.c}, labels: {classes.describe()}")
    print(f"extension: {ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
          f"eta = {ext.eta}" + (f" (GD run with eta = {args.eta})" if args.eta else "")
          + (f", fault {args.fault}" if args.fault else ""))
    print(f"backends: {', '.join(backends)}; registers {args.registers}; "
          f"z3 time limit {args.timeout} ms per obligation; jobs {args.jobs}"
          + (f"; dask at {args.scheduler}" if args.executor == "dask" else ""))
    print()
    recipe = {"algorithm": args.algorithm, "network": args.network, "d": net.d, "c": net.c,
              "options": options, "fault": args.fault}
    report = prove_extension(
        ext, n=sizes.n if not generic else 1, classes=classes, backends=backends,
        algorithm=args.algorithm, options=options, mode=args.registers, eta=args.eta,
        timeout_ms=args.timeout, smtlib_dir=args.smtlib, jobs=args.jobs,
        reference=not args.no_reference, budget_s=args.budget, fault=args.fault,
        scope=args.mode, executor=args.executor, scheduler=args.scheduler, recipe=recipe,
        recheck=not args.no_recheck)
    print_proof(report)
    for h in report.lifting:
        print(f"  lifting: {h['hypothesis']}: {h['detail']}")
    print(f"  scope: {report.scope_text}")
    for a in report.assumptions:
        print(f"  assumed: {a}")
    bad = [c for c in report.crosschecks if c.get("status") == "disagree"]
    if report.crosschecks:
        print(f"  semantics cross-check (exact backend at random rational points): "
              f"{'DISAGREES: ' + bad[0]['detail'] if bad else 'agrees'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(certificate(report), indent=2) + "\n")
        print(f"certificate written to {args.json}")
    if args.smtlib:
        print(f"SMT-LIB obligations written to {args.smtlib} (index.json lists them)")
    return cli.EXIT_OK if report.status == "verified" else cli.EXIT_FAILED


def run_rules(args: argparse.Namespace) -> int:
    """print the exact GD update rule of each step for symbolic data"""
    from .data import parse_classes
    from .prover import BudgetExceeded, time_budget
    from .rules import format_rules, update_rules

    ext, net, sizes, _ = _compile(args)
    classes = parse_classes(args.classes, sizes.n, net.c)
    if classes.mode == "all":
        raise cli.CLIError("rules need one label choice: --classes symbolic or e.g. 0,1,0")
    labels = None if classes.symbolic else classes.assignments[0]
    steps = None if args.step is None else [args.step]
    try:
        with time_budget(args.budget if args.registers == "data" else None):
            rules = update_rules(ext, n=sizes.n, labels=labels, mode=args.registers,
                                 steps=steps)
    except BudgetExceeded:
        raise cli.CLIError(f"the rules with registers as data expressions exceed the "
                           f"{args.budget:g} s budget; use --registers free") from None
    header = (f"GD update rules: algorithm {args.algorithm}, {net.describe()}, K = {ext.K}, "
              f"eta = {ext.eta}\n"
              f"data: n = {sizes.n} samples x_i_j (sample i, feature j), labels "
              f"{'y_i_k (one-hot)' if labels is None else classes.describe()}; "
              f"registers {args.registers}"
              + (" (r_<register>_<index>: contents written at earlier steps)"
                 if args.registers == "free" else "")
              + "\nHeaviside(z, 0) is the step with H(0) = 0; recip(0) = 0")
    text = format_rules(rules, args.format, header)
    if args.output:
        Path(args.output).write_text(text)
        print(f"rules written to {args.output}")
    else:
        print(text)
    return cli.EXIT_OK


# ------------------------------------------------------------------ verify backends


def _verify_runner(backend: str) -> Any:
    def run(job: Any, args: argparse.Namespace) -> dict[str, Any]:
        from .data import parse_classes
        from .prover import prove_extension

        ext = job.extension
        n = min(VERIFY_SAMPLES, job.data.n)
        d = job.data.d
        scope = (f"the job's extension: steps 0..K and T2 proved for all data of n={n} "
                 f"symbolic samples of dimension d={d} and every one-hot labelling")
        if d > MAX_VERIFY_D or ext.n_parameters > MAX_VERIFY_PARAMS:
            return {"status": "unknown", "backend": backend, "scope": scope,
                    "reason": f"too large for a symbolic proof (d = {d} > {MAX_VERIFY_D} or "
                              f"{ext.n_parameters} > {MAX_VERIFY_PARAMS} parameters); "
                              "use symuni prove with a smaller network"}
        t0 = time.perf_counter()
        classes = parse_classes("symbolic", n, job.data.c)
        report = prove_extension(ext, n=n, classes=classes, backends=[backend],
                                 algorithm=job.algorithm, options=job.options,
                                 timeout_ms=getattr(args, "timeout", DEFAULT_TIMEOUT_MS),
                                 reference=False)
        status = report.status
        first = report.first_failure()
        print(f"[{backend}] {scope}: {status} ({len(report.verdicts)} obligations, "
              f"{time.perf_counter() - t0:.1f} s)")
        return {
            "status": status, "backend": backend, "scope": scope,
            "obligations": len(report.verdicts),
            "proved": sum(v.status == "proved" for v in report.verdicts),
            "seconds": report.seconds,
            "steps": [{"step": s.step, "status": s.status,
                       "obligations": s.backends[backend].obligations,
                       "seconds": s.backends[backend].seconds} for s in report.steps],
            "first_failure": None if first is None else first.as_dict(),
            "message": report.message,
        }

    run.__doc__ = f"symbolic proof of every step on the {backend} backend"
    return run


cli.EXTRA_COMMANDS["prove"] = (setup_prove, run_prove)
cli.EXTRA_COMMANDS["rules"] = (setup_rules, run_rules)
cli.BACKEND_RUNNERS["algebra"] = _verify_runner("algebra")
cli.BACKEND_RUNNERS["smt"] = _verify_runner("smt")
