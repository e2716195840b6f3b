"""Progress: drawn on a terminal only, silent in pipes and with --quiet."""

from __future__ import annotations

import io
import sys

from symbolic_universality import progress
from symbolic_universality.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_is_drawn_on_a_terminal_and_not_in_a_pipe(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with progress.bar(5, "steps", enabled=True) as advance:
        for _ in range(5):
            advance(1, "ok")
    assert "steps:" in term.getvalue() and "/5" in term.getvalue()
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with progress.bar(5, "steps", enabled=True) as advance:
        advance(5)
    assert pipe.getvalue() == ""


def test_verify_shows_steps_on_a_terminal_and_quiet_silences_it(monkeypatch, capsys):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["verify", "-a", "worked", "-n", "linear-nobias"]) == 0
    assert "exact GD on worked" in term.getvalue()
    term2 = _Terminal()
    monkeypatch.setattr(sys, "stderr", term2)
    assert main(["--quiet", "verify", "-a", "worked", "-n", "linear-nobias"]) == 0
    assert term2.getvalue() == ""
    capsys.readouterr()
