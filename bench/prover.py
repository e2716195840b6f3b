"""Benchmarks of ``symuni prove``: generic-sample proofs, growth with T, width and d, jobs.

Each row runs ``python -m symbolic_universality prove ...`` in a fresh process and records
the wall time, the CPU time of that process (user + system: the machine is shared, so
wall time alone overstates the cost), the verdict and the scope line. A row that runs past
``--timeout`` seconds is reported as such (never as proved).

    python bench/prover.py                 # every row (long: includes the digits shape)
    python bench/prover.py --only quick    # worked, gd T=3 on mlp:4-5-3, jobs 1 vs 2
    python bench/prover.py --json out.json
    python bench/prover.py --only digits-T,digits-width,digits-d,linear   # growth, deep T
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

QUICK = [
    ("worked example, both backends", ["-a", "worked", "-n", "linear-nobias",
                                       "--symbolic", "d=2"]),
    ("gd T=3 mlp:4-5-3:relu, algebra", ["-a", "gd", "-n", "mlp:4-5-3:relu", "--T", "3",
                                        "--backend", "algebra"]),
    ("gd T=3 mlp:4-5-3:relu, both", ["-a", "gd", "-n", "mlp:4-5-3:relu", "--T", "3"]),
]
GROWTH_T = [(f"gd T={t} mlp:4-5-3:relu, algebra",
             ["-a", "gd", "-n", "mlp:4-5-3:relu", "--T", str(t), "--backend", "algebra"])
            for t in (1, 2, 3, 5, 8)]
GROWTH_WIDTH = [(f"gd T=2 mlp:4-{h}-3:relu, algebra",
                 ["-a", "gd", "-n", f"mlp:4-{h}-3:relu", "--T", "2", "--backend", "algebra"])
                for h in (5, 10, 20)]
GROWTH_D = [(f"gd T=2 mlp:{d}-5-3:relu, algebra",
             ["-a", "gd", "-n", f"mlp:{d}-5-3:relu", "--T", "2", "--backend", "algebra"])
            for d in (4, 16, 64)]
JOBS = [(f"gd T=5 mlp:4-5-3:relu, algebra, --jobs {j}",
         ["-a", "gd", "-n", "mlp:4-5-3:relu", "--T", "5", "--backend", "algebra",
          "--jobs", str(j)]) for j in (1, 2)]
#: the issue's command exactly as written (default backends algebra + smt, --jobs auto = one
#: per core), then with --jobs 1 and --jobs 2 side by side; T=1 for scale
DIGITS = [("gd T=10 mlp:64-32-10:relu (digits shape), algebra + smt, --jobs auto",
           ["-a", "gd", "-n", "mlp:64-32-10:relu", "--T", "10"])] + [
          (f"gd T={t} mlp:64-32-10:relu (digits shape), algebra + smt, --jobs {j}",
           ["-a", "gd", "-n", "mlp:64-32-10:relu", "--T", str(t), "--jobs", str(j)])
          for t, j in ((1, 2), (10, 2), (10, 1))]
#: how the digits-shape proof grows with T, the hidden width and d (algebra + smt, --jobs 2)
DIGITS_T = [(f"gd T={t} mlp:64-32-10:relu, algebra + smt, --jobs 2",
             ["-a", "gd", "-n", "mlp:64-32-10:relu", "--T", str(t), "--jobs", "2"])
            for t in (1, 2, 4, 7, 10)]
DIGITS_WIDTH = [(f"gd T=2 mlp:64-{h}-10:relu, algebra + smt, --jobs 2",
                 ["-a", "gd", "-n", f"mlp:64-{h}-10:relu", "--T", "2", "--jobs", "2"])
                for h in (8, 16, 32, 64)]
DIGITS_D = [(f"gd T=2 mlp:{d}-32-10:relu, algebra + smt, --jobs 2",
             ["-a", "gd", "-n", f"mlp:{d}-32-10:relu", "--T", "2", "--jobs", "2"])
            for d in (16, 32, 64)]
LINEAR = [(f"gd T={t} linear d=2, algebra + smt, --jobs 2",
           ["-a", "gd", "-n", "linear", "--symbolic", "d=2", "--T", str(t), "--jobs", "2"])
          for t in (35, 100)]
GROUPS = {"quick": QUICK + JOBS, "T": GROWTH_T, "width": GROWTH_WIDTH, "d": GROWTH_D,
          "jobs": JOBS, "digits": DIGITS, "digits-T": DIGITS_T, "digits-width": DIGITS_WIDTH,
          "digits-d": DIGITS_D, "linear": LINEAR}


def run_row(name: str, argv: list[str], timeout: float) -> dict[str, Any]:
    """One ``symuni prove`` run in a fresh process: wall and CPU seconds, verdict, scope."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "symbolic_universality", "prove", *argv],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=ROOT)
        out, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired:
        out, code = "", None
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verdict = re.search(r"^verdict: (\w+)", out, re.M)
    scope = re.search(r"^  scope: (.*)$", out, re.M)
    return {"row": name, "argv": argv, "exit": code, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "load_after": round(os.getloadavg()[0], 2),
            "verdict": verdict.group(1) if verdict else ("TIMEOUT" if code is None else "?"),
            "scope": scope.group(1) if scope else ""}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(GROUPS),
                   help=f"comma-separated groups: {', '.join(GROUPS)}")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per row")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    rows = []
    seen = set()
    for group in args.only.split(","):
        for name, a in GROUPS[group.strip()]:
            if name in seen:
                continue
            seen.add(name)
            r = run_row(name, a, args.timeout)
            rows.append(r)
            print(f"| {r['row']} | {r['verdict']} | {r['wall_s']} s | {r['cpu_s']} s | "
                  f"{r['load_after']} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
