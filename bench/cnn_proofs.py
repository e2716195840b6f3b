"""Benchmarks of ``symuni prove`` on convolutional base networks (issue 14): gd_cnn.

Each row runs ``python -m symbolic_universality prove -a gd_cnn -n cnn:... ...`` in a fresh
process (``d`` comes from the spec) and records the wall time, the CPU time of that process
(the machine is shared), the verdict and, when not verified, the verdict's message. A row
that runs past ``--timeout`` seconds is reported as TIMEOUT (never as proved).

    python bench/cnn_proofs.py                    # every row (long: fixed T=2 rows time out)
    python bench/cnn_proofs.py --only generic     # T1..T3 for every data set of every size
    python bench/cnn_proofs.py --only fixed,fault --timeout 600 --json out.json

Groups: ``generic`` (lemma lifting; steps 0..K and T2, both backends, T = 1, 2),
``fixed`` (every data set of n = 1 sample, with T1 = the independent reference of
``symbolic.reference``; T = 1, 2), ``smt`` (the fixed T = 2 rows on z3 alone with a
120 s time limit per obligation), ``fault`` (``--fault register_nonzero``: REFUTED with an
exact replay).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SPECS = {
    "plain": "cnn:1x4x4-c2k3-relu-fc2",
    "max pool": "cnn:1x4x4-c1k2-relu-p2-fc2",
    "avg pool": "cnn:1x4x4-c1k2-relu-ap2-fc2",
    "residual": "cnn:1x3x3-c1k3p1-relu-r(c1k3p1-relu)-fc2",
}


def _rows(kind: str) -> list[tuple[str, list[str]]]:
    rows = []
    for label, spec in SPECS.items():
        for T in (1, 2):
            base = ["-a", "gd_cnn", "-n", spec, "--T", str(T)]
            if kind == "generic":
                rows.append((f"generic T={T} {label} {spec}", base))
            elif kind == "fixed":
                rows.append((f"fixed n=1 T1 T={T} {label} {spec}",
                             base + ["--mode", "fixed", "--symbolic", "n=1"]))
            elif kind == "smt" and T == 2:
                rows.append((f"fixed n=1 T1 T=2 {label}, smt 120 s", base + [
                    "--mode", "fixed", "--symbolic", "n=1", "--backend", "smt",
                    "--timeout", "120000"]))
    return rows


FAULT = [(f"fault register_nonzero {spec}", ["-a", "gd_cnn", "-n", spec, "--T", "1",
                                             "--fault", "register_nonzero"])
         for spec in ("cnn:1x3-c1k2-relu-fc2", "cnn:1x4x4-c2k3-relu-fc2",
                      "cnn:1x3x3-c1k2-relu-p2s1-fc2")]
GROUPS = {"generic": _rows("generic"), "fixed": _rows("fixed"), "smt": _rows("smt"),
          "fault": FAULT}


def run_row(name: str, argv: list[str], timeout: float) -> dict[str, Any]:
    """One ``symuni prove`` run in a fresh process: wall and CPU seconds, verdict."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "symbolic_universality", "prove", *argv],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=ROOT)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        out, code = "", None
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verdict = re.search(r"^verdict: (\w+)(?: \((.*)\))?$", out, re.M)
    return {"row": name, "argv": argv, "exit": code, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "verdict": verdict.group(1) if verdict else ("TIMEOUT" if code is None else "?"),
            "message": (verdict.group(2) or "")[:200] if verdict else ""}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(GROUPS),
                   help=f"comma-separated groups: {', '.join(GROUPS)}")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per row")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    rows = []
    for group in args.only.split(","):
        if group.strip() not in GROUPS:
            p.error(f"unknown group {group!r}; choose from {', '.join(GROUPS)}")
        for name, a in GROUPS[group.strip()]:
            r = run_row(name, a, args.timeout)
            rows.append(r)
            note = "" if r["verdict"] == "VERIFIED" else f" | {r['message']}"
            print(f"| {r['row']} | {r['verdict']} | {r['wall_s']} s | {r['cpu_s']} s{note} |",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
