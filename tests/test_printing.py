"""Printed forms of programs and extensions (``symuni show``), snapshot-tested.

A change of the printed form shows up here in review. To accept an intended change, run
``SYMUNI_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_printing.py`` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import symbolic_universality as su
from symbolic_universality.cli import main

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
CASES = {
    "worked": ("worked", "linear-nobias", "tiny", {}),
    "gd_mlp": ("gd", "mlp:4-3-3:relu", "iris", {"T": 2}),
    "ncm": ("ncm", "linear", "wine", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_printed_program_and_extension_match_the_snapshot(case):
    alg, net, data, options = CASES[case]
    text = str(su.compile(alg, net, data, options=options)) + "\n"
    path = SNAPSHOTS / f"{case}.txt"
    if os.environ.get("SYMUNI_UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert text == path.read_text()


def test_the_worked_listing_reads_as_the_worked_example():
    text = str(su.compile("worked", "linear-nobias", "tiny").program)
    lines = text.splitlines()
    assert lines[0] == "program worked (d = 2, c = 2; K = 2 GD steps)"
    assert "0    read_unlabelled  R1 : Q[2,2]" in lines[2]
    assert "0    read_labelled    R2 : Q[2,2]" in lines[3]
    assert lines[4].startswith("  1    output           w : Q[4]")


def test_show_command_and_html(capsys):
    assert main(["show", "-a", "worked", "-n", "linear-nobias"]) == 0
    out = capsys.readouterr().out
    assert "program worked" in out and "extension of worked" in out
    c = su.compile("worked", "linear-nobias", "tiny")
    assert "<table>" in c._repr_html_() and "<pre" in c.program._repr_html_()
    r = su.rules("worked", "linear-nobias", n=2, d=2)
    assert r._repr_latex_().startswith("$$\\begin{align*}")
    assert str(r).startswith("GD update rules")
