"""``symuni proofs``: run every lemma script of construction.md section 4."""

from __future__ import annotations

import argparse

from .. import cli


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict lines")


def _run(args: argparse.Namespace) -> int:
    """prove every lemma of the construction (exit 0 only if all are PROVED)"""
    from . import run_all

    return run_all(verbose=not args.quiet)


cli.EXTRA_COMMANDS["proofs"] = (_setup, _run)
