"""``symuni prove`` and ``symuni rules``: arguments, then :func:`api.prove` / :func:`api.rules`.

``prove`` exits 0 only when every obligation is proved by every backend asked for; 1
refuted or unknown; 2 usage. Network and sizes: ``--network`` as in ``symuni verify``;
``--symbolic n=N,d=D[,c=C]``. An ``mlp:D-...-C`` spec fixes ``d`` and ``c``; for
``linear``/``linear-nobias`` ``d`` comes from ``--symbolic`` and ``c`` from ``c=`` there,
default 2.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from ..errors import UsageError
from ..extension.compiler import FAULTS
from ..symbolic.frontend import DEFAULT_C, DEFAULT_TIMEOUT_MS
from . import (
    EXIT_OK,
    add_problem_arguments,
    algorithm_options,
    finish,
    jobs_arg,
    nonnegative_int_arg,
    path_arg,
    positive_float_arg,
    positive_fraction_arg,
    positive_int_arg,
)

MODES = ("free", "data")
DEFAULT_BUDGET_S = 600.0


def _backends(text: str) -> list[str]:
    if text == "both":
        return ["algebra", "smt"]
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names:
        raise UsageError("--backend needs algebra, smt or both")
    for b in names:
        if b not in ("algebra", "smt"):
            raise UsageError(f"unknown backend {b!r}; choose algebra, smt or both")
    return names


def _common(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p, dataset=False)
    p.add_argument("--symbolic", required=True, metavar="n=N,d=D",
                   help="symbolic data: N samples of dimension D (c=C classes for linear "
                        f"networks, default {DEFAULT_C})")
    p.add_argument("--registers", choices=MODES, default="free",
                   help="free: earlier registers as symbols (all register contents; default); "
                        "data: registers as expressions in the data")
    p.add_argument("--budget", type=positive_float_arg, default=DEFAULT_BUDGET_S, metavar="S",
                   help="algebra time limit in seconds per obligation and for registers as "
                        f"data expressions (T1, --registers data; default "
                        f"{DEFAULT_BUDGET_S:g}); beyond it: unknown")


def setup_prove(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p, dataset=False)
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
    p.add_argument("--budget", type=positive_float_arg, default=DEFAULT_BUDGET_S, metavar="S",
                   help="algebra time limit in seconds per unit of work (one GD step for one "
                        f"label choice; default {DEFAULT_BUDGET_S:g}); the unit runs in its own "
                        "process and is stopped safely; beyond it: unknown")
    p.add_argument("--classes", default=None,
                   help="fixed mode labels: all (every class assignment; default), symbolic "
                        "(one proof for every one-hot labelling) or one class per sample, "
                        "e.g. 0,1,0")
    p.add_argument("--backend", default="both", help="algebra, smt or both (default both)")
    p.add_argument("--timeout", type=positive_int_arg, default=DEFAULT_TIMEOUT_MS, metavar="MS",
                   help=f"z3 time limit per obligation in ms (default {DEFAULT_TIMEOUT_MS}); "
                        "a time-out is reported unknown")
    p.add_argument("--json", metavar="FILE", type=path_arg,
                   help="write the certificate as JSON")
    p.add_argument("--smtlib", metavar="DIR", type=path_arg,
                   help="write every SMT obligation as SMT-LIB2")
    p.add_argument("--jobs", type=jobs_arg, default="auto",
                   help="worker processes for independent units of work: a number, or auto "
                        "(default: one per core this process may use)")
    p.add_argument("--cvc5", action="store_true",
                   help="re-decide every SMT obligation z3 proves with cvc5 as well, from the "
                        "same SMT-LIB text (proved only if both answer unsat; needs cvc5)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local processes (default) or a dask.distributed cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="dask scheduler address, e.g. tcp://127.0.0.1:8786 (--executor dask)")
    p.add_argument("--fault", choices=FAULTS, default=None,
                   help="break the construction on purpose (negative control)")
    p.add_argument("--eta", type=positive_fraction_arg, default=None,
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
    p.add_argument("--step", type=nonnegative_int_arg, default=None,
                   help="only this step (default: all)")
    p.add_argument("--format", choices=("text", "latex"), default="text")
    p.add_argument("--output", metavar="FILE", type=path_arg, help="write the rules to FILE")


def run_prove(args: argparse.Namespace) -> int:
    """prove every GD step of an extension for every data set (algebra and/or SMT)"""
    from ..files import check_writable, remove_stale

    if args.json:
        check_writable(args.json, "certificate")
    try:  # any failure, a usage error too, removes the certificate it would have replaced
        result = _prove(args)
    except BaseException:
        remove_stale(args.json)
        raise
    if args.smtlib and result.status != "error":
        print(f"SMT-LIB obligations written to {args.smtlib} (index.json lists them)")
    code = finish(result, args.json)
    return code


def _prove(args: argparse.Namespace) -> Any:
    """The options read and checked, then :func:`api.prove` (the result, not yet written)."""
    from .. import api
    from ..files import check_writable_folder
    from ..symbolic.data import SymbolicSpecError, parse_symbolic

    if args.smtlib:
        from pathlib import Path

        from ..errors import OutputError

        check_writable_folder(args.smtlib, "SMT-LIB folder")
        try:
            Path(args.smtlib).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write the SMT-LIB folder {args.smtlib!r}: "
                              f"{exc.strerror or exc}; choose another path") from None
    generic = args.mode == "generic"
    if args.symbolic is None and not generic:
        raise UsageError("--mode fixed needs --symbolic n=N,d=D (the data set size)")
    if args.reference:
        raise UsageError("prove checks T1 against the built-in algorithms' own references "
                         "only; check your reference with symuni verify -a ALG -n NET -d DATA "
                         f"--reference {args.reference} (exact, on a data set)")
    text = args.symbolic or "n=1"
    given_n = None
    if generic:  # one generic sample: only d= and c= matter
        parts = [q for q in text.split(",") if q.strip()]
        if args.symbolic:  # the user's own n=, which this mode does not use
            given_n = next((q.strip() for q in parts if re.match(r"\s*n\s*=", q)), None)
        text = ",".join(["n=1", *(q for q in parts if not re.match(r"\s*n\s*=", q))])
    try:
        sizes = parse_symbolic(text)
    except SymbolicSpecError as exc:  # quote what the user typed, not the rewritten text
        raise SymbolicSpecError(str(exc).replace(repr(text), repr(args.symbolic))) from None
    if given_n is not None:
        print(f"note: the generic mode proves every data set of every size; {given_n} is "
              f"not used (--mode fixed --symbolic {args.symbolic} proves that size only)")
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    if generic and args.registers != "free":
        raise UsageError("--mode generic needs --registers free; use --mode fixed for data")
    if generic and args.classes not in (None, "symbolic"):
        raise UsageError("--classes applies to --mode fixed; the generic mode covers every "
                         "label of one generic sample")
    backends = _backends(args.backend)
    return api.prove(
        args.algorithm, args.network, n=sizes.n, d=sizes.d, c=sizes.c,
        options=algorithm_options(args), backends=backends,
        classes=args.classes or ("symbolic" if generic else "all"), mode=args.mode,
        registers=args.registers, timeout_ms=args.timeout, budget_s=args.budget,
        jobs=args.jobs, smtlib_dir=args.smtlib, fault=args.fault, eta=args.eta,
        reference=not args.no_reference, float_constants=args.float_constants,
        loss=args.loss,
        executor=args.executor, scheduler=args.scheduler, recheck=not args.no_recheck,
        cvc5=args.cvc5)


def run_rules(args: argparse.Namespace) -> int:
    """print the exact GD update rule of each step for symbolic data"""
    from .. import api
    from ..files import check_writable, write_text
    from ..symbolic.data import parse_symbolic

    if args.output:
        check_writable(args.output, "rules file")
    sizes = parse_symbolic(args.symbolic)
    found = api.rules(args.algorithm, args.network, n=sizes.n, d=sizes.d, c=sizes.c,
                      options=algorithm_options(args), classes=args.classes,
                      registers=args.registers, step=args.step, budget_s=args.budget,
                      loss=args.loss)
    text = found.latex if args.format == "latex" else found.text
    if args.output:
        write_text(args.output, text, "rules file")
        print(f"rules written to {args.output}")
    else:
        print(text)
    return EXIT_OK
