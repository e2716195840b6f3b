"""Tests of the report package: the GD run it draws, the PNG files and the HTML page."""

from __future__ import annotations

import base64
import re
import struct
import sys
import time
from fractions import Fraction as F
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from symbolic_universality import cli  # noqa: E402
from symbolic_universality.pipeline import prepare, verify_exact  # noqa: E402
from symbolic_universality.report import (  # noqa: E402
    FILENAMES,
    plots,
    run_trajectory,
    write_report,
)
from symbolic_universality.report.trajectory import (  # noqa: E402
    algorithm_iterates,
    decoded_gd_iterates,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (the IHDR chunk right after the signature)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG file"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def worked_job():
    return prepare("worked", "linear-nobias", "tiny", None)


@pytest.fixture(scope="module")
def worked_traj(worked_job):
    return run_trajectory(worked_job.extension, worked_job.data.x, worked_job.data.y)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, float]:
    """``symuni demo --report DIR``: the directory and the wall time it took."""
    out = tmp_path_factory.mktemp("demo_report")
    t0 = time.perf_counter()
    code = cli.main(["demo", "--report", str(out)])
    assert code == 0
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------ the recorded run


def test_trajectory_matches_worked_example(worked_traj) -> None:
    """construction.md section 5, computed by hand there: what moves at each step."""
    t = worked_traj
    assert t.exact and t.K == 2
    assert list(t.thetas[2]["w"]) == [F(49, 225), F(1, 45), F(-11, 225), F(23, 450)]
    assert list(t.thetas[3]["w"]) == [F(487, 1350), F(13, 135), F(-119, 1800), F(409, 5400)]
    assert set(t.moved(0)) == {"clock.z1", "reg.R1", "reg.R2", "head.R1.c", "head.clock0.c"}
    assert t.moves[0]["reg.R2"].entries == 3  # mean y x^T has one zero entry
    assert set(t.moved(1)) == {"w", "clock.z2", "head.w.c", "head.clock1.c"}
    assert t.moved(2) == ["w"]
    assert t.predicted[:3] == [set(t.moved(k)) for k in range(3)]
    # R1 goes from 0 to [[11/3, -5/3], [-5/3, 3]]: the largest change is 11/3
    assert t.moves[0]["reg.R1"].max_abs == pytest.approx(11 / 3)


def test_gates_and_losses(worked_traj) -> None:
    t = worked_traj
    assert t.gates["g0"][:4] == [1.0, 0.0, 0.0, 0.0]
    assert t.gates["g1"][:4] == [0.0, 1.0, 0.0, 0.0]
    assert t.gates["G"][:4] == [0.0, 0.0, 1.0, 1.0]
    assert t.active_heads(0) == ["R1", "R2", "clock0"]
    # theta_0: two aux heads at -1/eta = -4 (R1, clock0) pay 1/2 * 16 each, F_main = 0: 1/2
    assert t.losses[0] == pytest.approx(16.5)
    # after K the extension's loss is plain GD on f's loss, and its w path is f's GD path
    assert t.losses[t.K:] == t.base_losses
    assert plots.coincide_after_k(t) is True


def test_coincidence_detects_a_difference(worked_traj) -> None:
    """The T3 comparison of the loss plot can fail: a perturbed base path is flagged."""
    t = worked_traj
    bad = SimpleNamespace(**{**t.__dict__})
    bad.base_path = [w.copy() for w in t.base_path]
    bad.base_path[1][0] += F(1, 1000)
    bad.K = t.K
    assert plots.coincide_after_k(bad) is False


def test_decoded_gd_iterates_equal_reference() -> None:
    job = prepare("gd", "linear", "tiny", None, T=2)
    traj = run_trajectory(job.extension, job.data.x, job.data.y, extra_steps=0)
    its = algorithm_iterates("gd", job.extension, traj.x, traj.y, job.options)
    dec = decoded_gd_iterates(traj)
    assert its is not None and len(its) == 3
    for k in range(3):
        assert dec[k] is not None
        assert np.array_equal(dec[k], its[k])
    assert dec[job.extension.K] is None  # no fourth gradient register
    assert np.array_equal(traj.thetas[job.extension.K]["w"], its[-1])


def test_float_trajectory_agrees_with_exact(worked_job, worked_traj) -> None:
    ft = run_trajectory(worked_job.extension, worked_job.data.x, worked_job.data.y,
                        exact=False)
    assert not ft.exact
    assert ft.gates == worked_traj.gates
    for k in range(len(ft.thetas)):
        np.testing.assert_allclose(ft.thetas[k]["w"].astype(float),
                                   [float(v) for v in worked_traj.thetas[k]["w"]], rtol=1e-12)
    assert [set(ft.moved(k)) for k in range(3)] == [set(worked_traj.moved(k)) for k in range(3)]


# ------------------------------------------------------------------------ the files


def test_write_report_files(tmp_path, worked_job, worked_traj) -> None:
    report = verify_exact(worked_job)
    rules = "w <- w - eta * dL/dw   (symbolic rule text)"
    path = write_report(worked_job, report, tmp_path / "r",
                        {"algebra": {"status": "verified", "rules": rules}})
    assert path == tmp_path / "r" / "index.html"
    page = path.read_text(encoding="utf-8")
    for name, filename in FILENAMES.items():
        f = tmp_path / "r" / filename
        assert f.is_file() and f.stat().st_size > 5000, filename
        assert png_size(f) == plots.figure_size(name, worked_traj), filename
        assert f'href="{filename}"' in page
        # the embedded copy is the very same PNG
        assert base64.b64encode(f.read_bytes()).decode("ascii") in page
    assert page.count("data:image/png;base64,") == len(FILENAMES)
    assert "symbolic rule text" in page and "GD update rules" in page
    assert "VERIFIED" in page and "49/225" in page
    assert "algebra" in page  # the other backend's row


def test_report_without_rules_or_exact_report(tmp_path, worked_job) -> None:
    path = write_report(worked_job, None, tmp_path, {"smt": {"status": "unknown"}})
    page = path.read_text(encoding="utf-8")
    assert "GD update rules" not in page
    assert "Per-step table" not in page
    assert "unknown" in page
    assert all((tmp_path / f).is_file() for f in FILENAMES.values())


def test_html_escapes_text(tmp_path, worked_job) -> None:
    path = write_report(worked_job, None, tmp_path, {"algebra": {"rules": "<script>x</script>"}})
    page = path.read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page


# ------------------------------------------------------------------------------ CLI


def test_demo_report_via_cli(demo_run: tuple[Path, float]) -> None:
    demo_dir, seconds = demo_run
    assert seconds < 20
    page = (demo_dir / "index.html").read_text(encoding="utf-8")
    referenced = set(re.findall(r'href="([^"]+\.png)"', page))
    assert referenced == set(FILENAMES.values())
    for filename in FILENAMES.values():
        f = demo_dir / filename
        width, height = png_size(f)
        assert width == int(plots.WIDTH * plots.DPI) and height >= 400


def test_verify_report_via_cli(tmp_path, capsys) -> None:
    code = cli.main(["verify", "-a", "ncm", "-n", "linear", "-d", "iris", "--samples", "9",
                     "--report", str(tmp_path)])
    assert code == 0
    assert f"report written to {tmp_path / 'index.html'}" in capsys.readouterr().out
    assert (tmp_path / "index.html").is_file()
    assert all((tmp_path / f).stat().st_size > 0 for f in FILENAMES.values())


def test_unknown_plot_name_is_refused(worked_traj) -> None:
    with pytest.raises(ValueError, match="unknown plot"):
        plots.figure_size("histogram", worked_traj)


# ------------------------------------------------------------------ broken extensions


def test_refuted_run_is_reported(tmp_path) -> None:
    """A broken extension (gate margin 1/2): the plots show unpredicted moves, page says so."""
    job = prepare("worked", "linear-nobias", "tiny", None, fault="gate_margin")
    report = verify_exact(job)
    assert report.status == "refuted"
    traj = run_trajectory(job.extension, job.data.x, job.data.y, extra_steps=1)
    unpredicted = set(traj.moved(0)) - traj.predicted[0]
    assert {"clock.z0", "gate.g0.a", "gate.g0.b"} <= unpredicted
    page = write_report(job, report, tmp_path, {}).read_text(encoding="utf-8")
    assert "REFUTED" in page and "clock.z0 expected 1, got -3" in page


def test_exploding_exact_run_falls_back_to_float(tmp_path) -> None:
    """Gates without their saturated unit: the rationals explode; the report stays fast."""
    job = prepare("worked", "linear-nobias", "tiny", None, fault="unsaturated_gate")
    t0 = time.perf_counter()
    traj = run_trajectory(job.extension, job.data.x, job.data.y)
    assert time.perf_counter() - t0 < 15
    assert not traj.exact
    assert any("stopped" in n for n in traj.notes)
    assert traj.gates["g0"][0] == 2.0  # the unsaturated argument itself, not 0/1
    page = write_report(job, None, tmp_path, {}).read_text(encoding="utf-8")
    assert "float64" in page


def test_missing_matplotlib_is_one_sentence(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["demo", "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symuni: error: the report needs the optional dependency matplotlib")
    assert "Traceback" not in err
    assert not (tmp_path / "index.html").exists()
