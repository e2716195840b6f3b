"""The command line: demo, list, verify, certificates, exit codes, one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from symbolic_universality.cli import main


def test_demo_exits_zero_and_prints_the_table(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "verdict: VERIFIED" in out
    assert "49/225, 1/45, -11/225, 23/450" in out
    for col in ("step", "written", "parameters moved", "verdict"):
        assert col in out


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("gd", "perceptron", "ncm", "iris", "wine", "breast_cancer", "digits", "mlp:"):
        assert name in out


def test_verify_writes_certificate(tmp_path):
    cert = tmp_path / "c.json"
    code = main(["verify", "--algorithm", "ncm", "--network", "linear", "--dataset", "wine",
                 "--samples", "30", "--json", str(cert)])
    assert code == 0
    data = json.loads(cert.read_text())
    assert data["status"] == "verified"
    assert data["gd_steps"] == 2
    assert data["parameters"] > 3 * 13 + 3
    assert [s["step"] for s in data["steps"]] == [0, 1, 2]
    assert all(s["status"] == "verified" and "moved" in s for s in data["steps"])
    assert data["final_weights_equal"] is True and data["forward_output_equal"] is True
    assert data["backends"] == ["exact"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["verify", "-a", "nope"], "unknown algorithm 'nope'"),
        (["verify", "-d", "irs"], "unknown dataset 'irs'"),
        (["verify", "-a", "gd", "-n", "mlp:3-5-3", "-d", "iris"], "has 4 features"),
        (["verify", "-a", "gd", "-n", "cnn", "-d", "iris"], "cannot read network spec"),
        (["verify", "-a", "ncm", "-n", "mlp:4-5-3:relu", "-d", "iris", "--samples", "9"],
         "linear base network"),
        (["verify", "-a", "ncm", "--T", "3"], "has no option 'T'"),
        (["verify", "-d", "iris", "--samples", "2"], "too few"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert err.startswith("symuni: error:") and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_bad_number_is_one_sentence_and_exit_2(capsys):
    assert main(["verify", "--lr", "fast"]) == 2
    err = capsys.readouterr().err
    assert "not an exact number" in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "symbolic_universality", "list"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("algorithms")
