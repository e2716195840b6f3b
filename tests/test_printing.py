"""Printed forms of programs and extensions (``symuni show``), snapshot-tested.

A change of the printed form shows up here in review. To accept an intended change, run
``SYMUNI_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_printing.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
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


def test_latex_rules_match_the_snapshot_with_comma_separated_indices():
    """``symuni rules --format latex``: every multi-index reads ``x_{1,0}``, never ``x_{1 0}``.

    Step 0 of the worked example on n = 2 samples of classes 0, 1 (section 5, by hand):
    ``R1 = mean_i x_i x_i^T`` and ``R2 = mean_i y_i x_i^T`` (only sample 0 is of class 0)."""
    r = su.rules("worked", "linear-nobias", n=2, d=2, classes="0,1")
    tex = r.latex + "\n"
    assert r"\mathtt{reg.R1}_{0,1} &\leftarrow \frac{x_{0,0} x_{0,1}}{2} + " \
        r"\frac{x_{1,0} x_{1,1}}{2}" in tex
    assert r"\mathtt{reg.R2}_{0,0} &\leftarrow \frac{x_{0,0}}{2}" in tex
    assert r"r^{\mathtt{R1}}_{0,0}" in tex  # a register content at step 1
    assert not re.search(r"_\{[^{}]*\d \d[^{}]*\}", tex)  # no space-separated index
    path = SNAPSHOTS / "worked_rules.tex"
    if os.environ.get("SYMUNI_UPDATE_SNAPSHOTS"):
        path.write_text(tex)
    assert tex == path.read_text()


def test_latex_symbol_names():
    from symbolic_universality.symbolic.rules import latex_symbol

    assert latex_symbol("x_1_0") == "x_{1,0}"
    assert latex_symbol("x_10_2") == "x_{10,2}"
    assert latex_symbol("y_0_1") == "y_{0,1}"
    assert latex_symbol("xs_3") == r"\mathit{xs}_{3}"
    assert latex_symbol("r_grad0_u_3", {"grad0_u": 1}) == r"r^{\mathtt{grad0\_u}}_{3}"
    assert latex_symbol("r_R1_0_1", {"R1": 2}) == r"r^{\mathtt{R1}}_{0,1}"
    assert latex_symbol("r_count", {"count": 0}) == r"r^{\mathtt{count}}"
    # a register name ending in digits is split by its rank, not by guessing
    assert latex_symbol("r_w_2_5", {"w_2": 1}) == r"r^{\mathtt{w\_2}}_{5}"
    assert latex_symbol("theta") is None
