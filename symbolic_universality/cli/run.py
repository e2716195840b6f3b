"""``symuni run``: float64 GD on the extension at scale, through :func:`api.run`.

On a data set (``--dataset``, default ``tiny``) or on synthetic data
(``--synthetic n=100000,d=32,c=10``, which refuses ``--dataset``/``--samples``/``--label``:
it makes its own data), with the checks of :mod:`..numeric.check`, per-step timings and the
time of the direct reference run.
"""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..numeric.check import DEFAULT_TOLERANCE
from ..numeric.run import DEFAULT_CHUNK, DEFAULT_THREADS
from . import (
    add_problem_arguments,
    algorithm_options,
    finish,
    nonnegative_int_arg,
    path_arg,
    positive_float_arg,
    positive_int_arg,
)

#: ``--dataset`` when neither it nor ``--synthetic`` is given
DEFAULT_DATASET = "tiny"


def setup_run(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p)
    # None = not given, so that --synthetic can refuse an explicit --dataset/--samples/--label
    p.set_defaults(dataset=None)
    p.add_argument("--synthetic", metavar="SPEC", default=None,
                   help="synthetic Gaussian blobs instead of --dataset, e.g. n=100000,d=32,c=10")
    p.add_argument("--extra", type=nonnegative_int_arg, default=1,
                   help="GD steps after K (checked as plain GD on f; default 1)")
    p.add_argument("--chunk", type=positive_int_arg, default=DEFAULT_CHUNK,
                   help=f"samples per chunk of the evaluator (default {DEFAULT_CHUNK})")
    p.add_argument("--no-prune", action="store_true",
                   help="evaluate every product, also those with an exactly-zero factor")
    p.add_argument("--tolerance", type=positive_float_arg, default=DEFAULT_TOLERANCE,
                   help=f"relative error allowed against the float references "
                        f"(default {DEFAULT_TOLERANCE:g})")
    p.add_argument("--threads", type=nonnegative_int_arg, default=DEFAULT_THREADS,
                   help="BLAS threads for the extension and the reference (default "
                        f"{DEFAULT_THREADS}; 0 keeps the library default)")
    p.add_argument("--json", metavar="FILE", type=path_arg, help="write the result as JSON")


def cmd_run(args: argparse.Namespace) -> int:
    """float64 GD on the extension at scale, checked against the float references"""
    from .. import api
    from ..files import check_writable, remove_stale

    if args.synthetic is not None:
        given = [flag for flag, value in (("--dataset", args.dataset), ("--samples", args.samples),
                                          ("--label", args.label)) if value is not None]
        if given:
            raise UsageError(
                f"--synthetic makes its own data, so {' and '.join(given)} would be ignored; "
                "drop " + ("it" if len(given) == 1 else "them") + " (the size goes in "
                "--synthetic n=...,d=...,c=...) or drop --synthetic to run on the data set")
    dataset = DEFAULT_DATASET if args.dataset is None else args.dataset
    if args.json:
        check_writable(args.json, "result")
    try:
        result = api.run(args.algorithm, args.network, dataset, samples=args.samples,
                         label=args.label, options=algorithm_options(args),
                         synthetic=args.synthetic, extra=args.extra, chunk=args.chunk,
                         prune=not args.no_prune, tolerance=args.tolerance,
                         threads=args.threads or None, float_constants=args.float_constants,
                         loss=args.loss)
    except BaseException:
        remove_stale(args.json)
        raise
    return finish(result, args.json, what="result")
