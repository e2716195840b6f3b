"""``symuni check``, its cache, JUnit output, ``pytest --symuni`` and the testing helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from symbolic_universality.cli import main
from symbolic_universality.errors import UsageError
from symbolic_universality.suite import load_instances
from symbolic_universality.testing import assert_refuted, assert_verified

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    """A copy of examples/ (the sample project and the files it points at)."""
    dst = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", dst, ignore=shutil.ignore_patterns(".symuni-cache"))
    return dst / "project"


def test_sample_project_passes_and_the_second_run_hits_the_cache(project, tmp_path, capsys):
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.json"
    assert main(["check", str(project), "--junit", str(junit), "--json", str(summary)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("verdict: VERIFIED (3 of 3")
    data = json.loads(summary.read_text())
    assert data["ok"] and data["cached"] == 0
    by_name = {o["name"]: o for o in data["outcomes"]}
    assert by_name["negative-control-register-nonzero"]["status"] == "refuted"
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "0"
    assert main(["check", str(project), "--json", str(summary)]) == 0
    assert json.loads(summary.read_text())["cached"] == 3
    capsys.readouterr()


def test_changing_the_algorithm_source_invalidates_the_cache(project, tmp_path):
    summary = tmp_path / "s.json"
    assert main(["check", str(project), "--only", "momentum-on-flowers", "--json",
                 str(summary)]) == 0
    src = project.parent / "momentum.py"
    src.write_text(src.read_text().replace("v = beta * v + grad", "v = beta * v + 2 * grad"))
    assert main(["check", str(project), "--only", "momentum-on-flowers", "--json",
                 str(summary)]) == 1  # the user's own reference now disagrees
    out = json.loads(summary.read_text())["outcomes"][0]
    assert out["cached"] is False and out["status"] == "refuted"
    assert "user reference" in out["message"]


def test_the_cache_never_turns_a_failure_into_a_pass(project, tmp_path):
    cfg = project / "pyproject.toml"
    cfg.write_text(cfg.read_text().replace('expect = "refuted"\n', ""))  # now expected verified
    summary, cache = tmp_path / "s.json", tmp_path / "cache"
    argv = ["check", str(project), "--only", "negative-control-register-nonzero",
            "--cache-dir", str(cache), "--json", str(summary)]
    assert main(argv) == 1
    assert main(argv) == 1  # cached refutation is still a failure
    assert json.loads(summary.read_text())["cached"] == 1
    (entry,) = cache.glob("*.json")
    doc = json.loads(entry.read_text())
    doc["payload"]["status"] = "verified"  # tampered: the digest no longer matches
    entry.write_text(json.dumps(doc))
    assert main(argv) == 1
    assert json.loads(summary.read_text())["cached"] == 0


@pytest.mark.parametrize("body, words", [
    ("[[tool.symuni.instance]]\nname='a'\n", "has no algorithm"),
    ("[[tool.symuni.instance]]\nalgorithm='gd'\nexpect='maybe'\n", "expect = 'maybe'"),
    ("[[tool.symuni.instance]]\nalgorithm='gd'\nbackends=['gpu']\n", "unknown backend"),
    ("[[tool.symuni.instance]]\nalgorithm='gd'\ncolour=1\n", "unknown key 'colour'"),
    ("[tool.symuni\n", "not valid TOML"),
])
def test_malformed_configuration_is_one_sentence(tmp_path, body, words, capsys):
    (tmp_path / "symuni.toml").write_text(body.replace("tool.symuni.", ""))
    if "TOML" not in words:
        with pytest.raises(UsageError, match=words.replace("[", r"\[")):
            load_instances(tmp_path / "symuni.toml")
    assert main(["check", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err


def test_pytest_plugin_collects_instances_with_readable_ids(project, tmp_path):
    cfg = project / "pyproject.toml"
    bad = cfg.read_text() + ('\n[[tool.symuni.instance]]\nname = "broken"\nalgorithm = "ncm"\n'
                             'data = "wine"\nsamples = 9\nfault = "register_nonzero"\n')
    cfg.write_text(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--symuni", "--symuni-config", str(cfg),
         "--symuni-no-lemmas", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path),
         str(empty)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert "3 passed" in out and "1 failed" in out, out
    assert "symuni::broken" in out
    assert "expected verified, got refuted" in out
    assert "step 0" in out


def test_testing_helpers_pin_the_check():
    assert_verified("worked", "linear-nobias", "tiny")
    assert_refuted("worked", "linear-nobias", "tiny", fault="register_nonzero", check="step 0")
    with pytest.raises(AssertionError, match="not by 'T5'"):
        assert_refuted("worked", "linear-nobias", "tiny", fault="register_nonzero", check="T5")
    with pytest.raises(AssertionError, match="expected VERIFIED"):
        assert_verified("worked", "linear-nobias", "tiny", fault="register_nonzero")


def test_an_instance_may_declare_cross_entropy(tmp_path, capsys):
    cfg = tmp_path / "symuni.toml"
    cfg.write_text("[[instance]]\nname = 'ce'\nalgorithm = 'worked'\n"
                   "network = 'linear-nobias'\nloss = 'ce'\n"
                   "[[instance]]\nname = 'bad'\nalgorithm = 'worked'\n"
                   "network = 'linear-nobias'\nloss = 'hinge'\nexpect = 'verified'\n")
    (inst, bad) = load_instances(cfg)
    assert inst.loss == "ce"
    assert main(["check", str(cfg), "--only", "ce", "--no-cache"]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    assert main(["check", str(cfg), "--only", "bad", "--no-cache"]) != 0
    assert "unknown loss 'hinge'" in capsys.readouterr().out
