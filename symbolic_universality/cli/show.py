"""``symuni show``: the traced program and the extension in their typed text form."""

from __future__ import annotations

import argparse

from . import EXIT_OK, add_problem_arguments, algorithm_options


def setup(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p)
    p.add_argument("--what", choices=("program", "extension", "both"), default="both",
                   help="what to print (default: both)")


def run(args: argparse.Namespace) -> int:
    """print the traced program and the extension, typed and shape-annotated"""
    from .. import api

    c = api.compile(args.algorithm, args.network, args.dataset, samples=args.samples,
                    label=args.label, options=algorithm_options(args),
                    float_constants=args.float_constants, loss=args.loss)
    parts = {"program": [str(c.program)], "extension": [str(c.extension)],
             "both": [str(c.program), str(c.extension)]}[args.what]
    print("\n\n".join(parts))
    return EXIT_OK
