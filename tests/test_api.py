"""The front door: the public API, a user's own algorithm and data, the CLI over them.

Expected weights come from hand-written Fraction references in this file (or the
user's own reference in examples/), never from the toolkit's reading of the program.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import symbolic_universality as su
from symbolic_universality.api import combine, parse_option
from symbolic_universality.cli import main
from symbolic_universality.errors import UsageError
from symbolic_universality.pipeline import load_callable, resolve_data
from symbolic_universality.zoo.datafiles import DataFileError, load_file

ROOT = Path(__file__).resolve().parents[1]
MOMENTUM = str(ROOT / "examples" / "momentum.py")
FLOWERS = str(ROOT / "examples" / "flowers.csv")


def momentum_by_hand(x, y, T, lr, beta):
    """Heavy-ball momentum on a linear network, written again here from the mathematics."""
    n, d = x.shape
    c = y.shape[1]
    w = [[Fraction(0)] * (d + 1) for _ in range(c)]  # row k: W_k then b_k
    v = [[Fraction(0)] * (d + 1) for _ in range(c)]
    for _ in range(T):
        g = [[Fraction(0)] * (d + 1) for _ in range(c)]
        for i in range(n):
            xi = [*x[i], Fraction(1)]
            for k in range(c):
                r = sum(w[k][j] * xi[j] for j in range(d + 1)) - y[i][k]
                for j in range(d + 1):
                    g[k][j] += r * xi[j] / n
        v = [[beta * v[k][j] + g[k][j] for j in range(d + 1)] for k in range(c)]
        w = [[w[k][j] - lr * v[k][j] for j in range(d + 1)] for k in range(c)]
    return [w[k][j] for k in range(c) for j in range(d)] + [w[k][d] for k in range(c)]


# ------------------------------------------------------------------- user algorithm


def test_momentum_from_a_user_file_verifies_from_python():
    res = su.verify(f"{MOMENTUM}:momentum", "linear", FLOWERS, options={"T": 3, "beta": "1/2"},
                    reference=f"{MOMENTUM}:momentum_reference")
    assert res.status == "verified", res.summary()
    ds = load_file(FLOWERS)
    expected = momentum_by_hand(ds.x, ds.y, 3, Fraction(1, 10), Fraction(1, 2))
    assert [Fraction(v) for v in res.report.final_weights] == expected
    cert = res.certificate()
    assert cert["status"] == "verified"
    assert "concrete run" in cert["references_compared"]
    assert "user reference" in cert["references_compared"]
    assert res.summary().splitlines()[-1].startswith("verdict: VERIFIED")
    assert "<table>" in res._repr_html_()


def test_momentum_as_a_callable_and_from_the_cli(tmp_path, capsys):
    fn, _ = load_callable(f"{MOMENTUM}:momentum")
    assert su.verify(fn, "linear", "iris", samples=12, options={"T": 2}).status == "verified"
    cert = tmp_path / "m.json"
    code = main(["verify", "-a", f"{MOMENTUM}:momentum", "-n", "linear", "-d", FLOWERS,
                 "--option", "T=2", "--option", "beta=1/3", "--json", str(cert)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("certificate written")
    data = json.loads(cert.read_text())
    ds = load_file(FLOWERS)
    assert [Fraction(v) for v in data["final_weights"]] == momentum_by_hand(
        ds.x, ds.y, 2, Fraction(1, 10), Fraction(1, 3))
    assert data["options"] == {"T": "2", "beta": "1/3"}


def test_a_module_path_algorithm_loads():
    fn, source = load_callable("symbolic_universality.zoo.algorithms:worked")
    assert source == "symbolic_universality.zoo.algorithms" and callable(fn)


@pytest.mark.parametrize("spec, words", [
    ("nosuchfile.py:f", "does not exist"),
    (f"{MOMENTUM}:nosuch", "has no function 'nosuch'"),
    ("no_such_pkg_zz.mod:f", "cannot import module"),
    ("momentom", "unknown algorithm"),
    ("a.py:", "cannot read algorithm"),
])
def test_bad_algorithm_specs_are_one_sentence(spec, words, capsys):
    assert main(["verify", "-a", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_syntax_error_in_a_user_file(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(data):\n    return (\n")
    assert main(["verify", "-a", f"{bad}:f"]) == 2
    assert "syntax error" in capsys.readouterr().err


def test_a_user_file_imports_a_module_beside_it(tmp_path):
    """As with ``python file.py``: a helper module in the same folder is importable."""
    (tmp_path / "helpers_mod_x7.py").write_text("RATE = '1/4'\n")
    (tmp_path / "alg.py").write_text(
        "from helpers_mod_x7 import RATE\n"
        "from symbolic_universality.zoo.algorithms import worked\n\n"
        "def mine(data, net, lr=RATE):\n    return worked(data, net, lr=lr)\n")
    fn, source = load_callable(f"{tmp_path / 'alg.py'}:mine")
    assert fn.__name__ == "mine" and source.endswith("alg.py")


def test_unknown_and_missing_options(capsys):
    assert main(["verify", "-a", f"{MOMENTUM}:momentum", "--option", "gamma=1"]) == 2
    assert "has no option 'gamma'" in capsys.readouterr().err
    assert main(["verify", "-a", "gd", "--option", "T=2", "--T", "3"]) == 2
    assert "given twice" in capsys.readouterr().err


def test_python_float_option_is_refused_or_read_exactly():
    with pytest.raises(UsageError, match="Python float"):
        su.verify("gd", "linear", "tiny", options={"lr": 0.1, "T": 1})


@pytest.mark.parametrize("text, value", [("T=5", 5), ("lr=1/10", Fraction(1, 10)),
                                         ("lr=0.1", Fraction(1, 10)), ("b=-2.5e-1",
                                                                      Fraction(-1, 4))])
def test_options_are_exact(text, value):
    name, v = parse_option(text)
    assert v == value and type(v) is type(value)


@pytest.mark.parametrize("text", ["T", "=3", "lr=abc", "lr=1/0", "2x=1"])
def test_bad_options(text):
    with pytest.raises(UsageError):
        parse_option(text)


# ----------------------------------------------------------------------- data files


def test_csv_decimals_are_exact(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n0.1,2,cat\n1.25,-3,dog\n2,1/3,cat\n")
    ds = load_file(p)
    assert ds.x[0, 0] == Fraction(1, 10) and ds.x[1, 0] == Fraction(5, 4)
    assert ds.x[2, 1] == Fraction(1, 3)
    assert list(ds.labels) == [0, 1, 0] and ds.feature_names == ("a", "b")


def test_a_users_csv_verifies_exactly(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("x1,x2,y\n0.5,1.2,0\n-0.3,0.7,1\n1.1,-0.4,0\n0.2,0.9,1\n")
    res = su.verify("gd", "linear", str(p), options={"T": 2})
    assert res.status == "verified", res.summary()
    # gd's own reference on the exact decimals the file holds
    from symbolic_universality.zoo import references as ref

    ds = load_file(p)
    assert ds.x[1, 0] == Fraction(-3, 10)
    expected = ref.reference_gd([2, 2], "identity", ds.x, ds.y, T=2, lr=Fraction(1, 10),
                                seed=0)
    assert [Fraction(v) for v in res.report.final_weights] == list(expected)


@pytest.mark.parametrize("content, words", [
    ("a,b\n1,2\n3\n", "row 3 has 1 cells"),
    ("a,b,label\n0.1,x,cat\n1,2,dog\n", "column 'b' holds 'x'"),
    ("a,label\n1,7\n2,7\n", "only one class"),
    ("", "is empty"),
    ("a,b,label\n", "no samples"),
    ("a,b,label\n1,nan,0\n2,3,1\n", "not a number"),
])
def test_malformed_csv_is_one_sentence(tmp_path, content, words, capsys):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(DataFileError, match=re.escape(words)):
        load_file(p)
    assert main(["verify", "-d", str(p)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_missing_label_column(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(DataFileError, match="no column named 'kind'"):
        load_file(p, label="kind")
    with pytest.raises(DataFileError, match="no label column 5"):
        load_file(p, label=5)


def test_npz_and_npy(tmp_path):
    x = np.array([[1, 2], [3, 4], [5, 6], [7, 9]])
    lab = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x=x, y=lab)
    ds = load_file(tmp_path / "d.npz")
    assert ds.x[3, 1] == 9 and list(ds.labels) == [0, 1, 0, 1]
    np.save(tmp_path / "x.npy", x / 4)
    np.save(tmp_path / "y.npy", lab)
    ds = load_file(tmp_path / "x.npy", label=str(tmp_path / "y.npy"))
    assert ds.x[0, 1] == Fraction(1, 2)
    with pytest.raises(DataFileError, match="labels file too"):
        load_file(tmp_path / "x.npy")
    np.savez(tmp_path / "bad.npz", a=x)
    with pytest.raises(DataFileError, match="needs the features as 'x'"):
        load_file(tmp_path / "bad.npz")


def test_arrays_as_data():
    ds = resolve_data(([[1, 2], [3, 4], [0, 1]], ["a", "b", "a"]))
    assert ds.c == 2 and ds.x[1, 0] == 3


# ---------------------------------------------------------------- verdicts and files


def test_combined_verdict_names_the_backend_that_is_not_verified():
    status, why = combine({"exact": {"status": "verified"},
                           "smt": {"status": "unknown", "reason": "too large"}})
    assert status == "unknown" and why.startswith("smt unknown: too large")
    status, why = combine({"exact": {"status": "refuted", "mismatch": {
        "step": 0, "parameter": "reg.R1", "index": [0], "expected": "0", "got": "1"}},
        "smt": {"status": "unknown"}})
    assert status == "refuted" and "step 0: reg.R1[0] expected 0, got 1" in why
    assert "also not verified: smt" in why
    assert combine({"exact": {"status": "verified"}})[0] == "verified"


def test_an_unknown_backend_never_ends_in_verified(capsys):
    code = main(["verify", "-a", "perceptron", "-d", "wine", "--samples", "12", "--T", "1",
                 "--backend", "exact,smt"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert out[-1].startswith("verdict: UNKNOWN (smt unknown")


@pytest.mark.parametrize("argv, words", [
    (["verify", "--json", "/proc/no/c.json"], "cannot write the certificate"),
    (["verify", "--json", ""], "the path is empty"),
    (["run", "--tolerance", "nan"], "positive finite"),
    (["run", "--tolerance", "-1"], "positive finite"),
    (["prove", "--symbolic", "n=2,d=2", "--jobs", "-5"], "must be at least 1"),
    (["prove", "--symbolic", "n=2,d=2", "--budget", "0"], "positive finite"),
])
def test_usage_and_file_errors_exit_2(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_report_onto_a_file_and_rules_into_a_new_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["verify", "--report", str(f)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    out = tmp_path / "new" / "deeper" / "rules.txt"
    assert main(["rules", "-a", "worked", "-n", "linear-nobias", "--symbolic", "n=3,d=2",
                 "--output", str(out)]) == 0
    assert out.read_text().startswith("GD update rules")


def test_failed_run_removes_the_stale_certificate(tmp_path, monkeypatch):
    cert = tmp_path / "c.json"
    cert.write_text('{"status": "verified"}')
    import symbolic_universality.api as api

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "verify", boom)
    assert main(["verify", "--json", str(cert)]) == 130
    assert not cert.exists()


# ------------------------------------------------------------------------ layering


def test_no_stage_package_imports_the_cli():
    pkg = ROOT / "symbolic_universality"
    for stage in ("symbolic", "numeric", "proofs", "report", "verify", "program", "graph",
                  "extension", "backends", "zoo", "networks"):
        for f in (pkg / stage).glob("*.py"):
            tree = ast.parse(f.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    mod = node.module or ""
                    names = [a.name for a in node.names]
                    assert not (mod.endswith("cli") or "cli" in names and node.level >= 1
                                and not mod), f"{f} imports the CLI"
                    assert "symbolic_universality.cli" not in mod, f"{f} imports the CLI"


# -------------------------------------------------------------------------- README


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Verify your own algorithm")
    return text[start:text.index("\n## ", start + 5)]


def test_readme_example_runs_as_written(tmp_path):
    section = _readme_section()
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)
    bash = [b for lang, b in blocks if lang == "bash"]
    python = [b for lang, b in blocks if lang == "python"]
    assert bash and len(python) == 2
    for cmd in bash:
        line = cmd.replace("\\\n", " ").strip()
        assert line.startswith("symuni ")
        args = line.split()[1:]
        done = subprocess.run([sys.executable, "-m", "symbolic_universality", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "verdict: VERIFIED" in done.stdout
    (ROOT / "momentum.json").unlink(missing_ok=True)
    script = tmp_path / "readme_example.py"
    script.write_text(python[0] + "\n" + python[1])
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "['concrete run', 'user reference']" in done.stdout
    (ROOT / "momentum.json").unlink(missing_ok=True)


# ------------------------------------------------------------------------ prove


def test_prove_reports_t4_t5_t6_and_a_t5_fault_refutes_it():
    ok = su.prove("worked", "linear-nobias", d=2, backends=("algebra",))
    assert ok.status == "verified", ok.summary()
    names = {p["name"]: p["status"] for p in ok.certificate()["properties"]}
    assert names["T4"] == names["T5"] == names["T6"] == "verified"
    bad = su.prove("worked", "linear-nobias", d=2, backends=("algebra",),
                   fault="program_constant_fixed")
    assert bad.status == "refuted" and bad.message.startswith("refuted: T5")
    assert bad.summary().splitlines()[-1].startswith("verdict: REFUTED (refuted: T5")


def test_prove_for_one_labelling_says_so():
    r = su.prove("worked", "linear-nobias", mode="fixed", n=2, d=2, classes="0,0",
                 backends=("smt",))
    assert "labelled" in r.message and "not every labelling" in r.message
    assert r.certificate()["scope"]["complete"] is False
    assert "for every data set of n = 2 samples;" not in r.summary()


def test_an_exception_in_the_users_code_is_one_sentence(tmp_path, capsys):
    f = tmp_path / "mine.py"
    f.write_text("def bad(data):\n    return undefined_name\n")
    assert main(["verify", "-a", f"{f}:bad"]) == 2
    err = capsys.readouterr().err
    assert "raised NameError" in err and "mine.py line 2" in err
    assert len(err.strip().splitlines()) == 1
