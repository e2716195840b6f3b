"""``python -m symbolic_universality.proofs [-q] [NAME ...]``: run the lemmas.

Exits 0 only if every lemma run is PROVED.
"""

from __future__ import annotations

import argparse
import sys

from . import LEMMAS, run_all


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code of :func:`run_all`."""
    parser = argparse.ArgumentParser(prog="python -m symbolic_universality.proofs",
                                     description=__doc__)
    known = [m.name for m in LEMMAS]
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="lemmas to run (default: all): " + ", ".join(known))
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown lemma(s) {unknown}; known: {known}")
    return run_all(verbose=not args.quiet, names=args.names or None)


if __name__ == "__main__":
    sys.exit(main())
