"""``symuni proofs``: run every lemma script of construction.md section 4."""

from __future__ import annotations

import argparse


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict lines")


def run(args: argparse.Namespace) -> int:
    """prove every lemma of the construction (exit 0 only if all are PROVED)"""
    from ..proofs import run_all

    return run_all(verbose=not args.quiet)
