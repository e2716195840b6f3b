"""Benchmarks of the numeric and exact backends: ``python bench/run.py [--quick]``.

Prints one table of ratios, each measured side by side in this run (every measurement in
a fresh process, the two sides interleaved, the best of ``--repeats`` runs):

* **overhead**: float64 GD on the extension for ``K`` steps with the NumPy backend
  against the direct plain-NumPy run of the same algorithm (``references.reference_gd``);
  synthetic blobs ``n = 100000, d = 32``, 10 classes, base ``mlp:32-64-10:relu``, gd with
  ``T = 10`` (``lr = 1/1000``). Limit 1.0, goal <= 1.25;
* **torch**: the NumPy backend against plain torch autograd + ``torch.optim.SGD`` on the
  exported module (same instance, CPU, float64). Goal <= 1.0;
* **exact vs sympy**: the exact backend (graph AD, then ``K`` GD steps on rationals)
  against naive symbolic differentiation (``sympy.diff`` of the whole flattened loss for
  every parameter, then substitution of the state) on the worked example and on gd
  ``T = 2`` on ``mlp:2-3-2:relu`` (3 samples). Goal >= 100x;
* **size**: trainable parameters of the extension against ``p`` plus the registers;
* **exact vs direct exact run** (``--only exactdirect``): exact GD on the extension for
  ``K`` steps (FLINT or Fraction arithmetic, pruned or not; and the whole ``check_exact``)
  against the same algorithm run directly in exact rationals (``zoo.references``), gd
  ``linear`` T = 20 and gd ``mlp:4-5-3:relu`` T = 6 on 30 iris samples. Goal <= 3;
* **deep** (``--only deep``): the whole exact check of gd T = 100 on ``linear``/``tiny``.

Peak memory is the resident set of each measuring process. Timed results are checked:
the weights of both sides must agree (relative error printed). Every measuring process
runs with one BLAS / torch thread unless ``--threads`` says otherwise: on a shared
machine multi-threaded BLAS timings vary by factors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

FULL = {"n": 100_000, "d": 32, "c": 10, "h": 64, "T": 10, "lr": "1/1000", "seed": 0}
QUICK = {**FULL, "n": 10_000}


def worker(task: str, spec: dict[str, Any], threads: int | None, timeout: float) -> dict[str, Any]:
    """Run one task of ``workers.TASKS`` in a fresh process; its JSON result."""
    env = dict(os.environ)
    if threads:  # 0 or None: the libraries' default
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task, json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{task} took longer than {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"{task} failed: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest successful run (or the first error)."""
    ok = [r for r in runs if "error" not in r]
    return min(ok, key=lambda r: r["seconds"]) if ok else runs[0]


def rel_error(a: list[float], b: list[float]) -> float:
    import numpy as np

    x, y = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(y))), 1e-300))


def fmt_s(r: dict[str, Any]) -> str:
    if "error" in r:
        return "error"
    s = f"{r['seconds']:.3f} s"
    if r.get("timed_out"):
        s = ">= " + s
    return s


def fmt_mem(r: dict[str, Any]) -> str:
    if "peak_rss_mb" not in r:
        return "-"
    return f"{r['peak_rss_mb']:.0f} MB"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    spec = dict(QUICK if args.quick else FULL)
    if args.n:
        spec["n"] = args.n
    spec["threads"] = args.threads
    spec["torch_chunk"] = args.torch_chunk
    repeats = args.repeats or (1 if args.quick else 3)
    only = set(args.only.split(",")) if args.only else {"overhead", "torch", "small-n", "sympy",
                                                         "size", "exactdirect", "deep"}
    out: dict[str, Any] = {"spec": spec, "repeats": repeats, "rows": []}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if only & {"overhead", "torch"}:
        runs: dict[str, list[dict[str, Any]]] = {"ext": [], "ref": [], "tuned": []}
        for i in range(repeats):
            log(f"[{i + 1}/{repeats}] NumPy backend, reference_gd, tuned NumPy ...")
            runs["ext"].append(worker("numpy-extension", spec, args.threads, args.timeout))
            runs["ref"].append(worker("numpy-reference", spec, args.threads, args.timeout))
            runs["tuned"].append(worker("numpy-tuned", spec, args.threads, args.timeout))
        ext, ref, tuned = best(runs["ext"]), best(runs["ref"]), best(runs["tuned"])
        out["numpy_extension"], out["numpy_reference"], out["numpy_tuned"] = ext, ref, tuned
        if "error" not in ext and "error" not in ref:
            out["rows"].append({
                "name": "overhead: NumPy backend / reference_gd (float)",
                "ours": fmt_s(ext), "baseline": fmt_s(ref),
                "ratio": ext["seconds"] / ref["seconds"], "goal": "<= 1.25 (limit 1.0)",
                "met": ext["seconds"] / ref["seconds"] <= 1.25,
                "memory": f"{fmt_mem(ext)} / {fmt_mem(ref)}",
                "check": f"w rel. error {rel_error(ext['w'], ref['w']):.1e}"})
            if "error" not in tuned:
                out["rows"].append({
                    "name": "  (context) NumPy backend / hand-tuned NumPy GD",
                    "ours": fmt_s(ext), "baseline": fmt_s(tuned),
                    "ratio": ext["seconds"] / tuned["seconds"], "goal": "-", "met": None,
                    "memory": f"{fmt_mem(ext)} / {fmt_mem(tuned)}",
                    "check": f"w rel. error {rel_error(ext['w'], tuned['w']):.1e}"})
        else:
            out["rows"].append({"name": "overhead", "error": ext.get("error") or ref.get("error")})
    if "torch" in only:
        out["rows"].extend(torch_rows(spec, repeats, args, log))
    if "small-n" in only:
        out["rows"].extend(small_n_rows(spec, repeats, args, log, quick=args.quick))
    if "torch-unpruned" in only:
        t_runs = []
        for i in range(args.torch_repeats):
            log(f"[{i + 1}/{args.torch_repeats}] torch autograd + SGD on the exported module ...")
            t_runs.append(worker("torch-extension", spec, args.threads, args.timeout))
        tor, ext = best(t_runs), out["numpy_extension"]
        out["torch_extension"] = tor
        if "error" not in tor and "error" not in ext:
            ratio = ext["seconds"] / tor["seconds"]
            out["rows"].append({
                "name": "torch: NumPy backend / torch autograd + SGD", "ours": fmt_s(ext),
                "baseline": fmt_s(tor), "ratio": ratio, "goal": "<= 1.0", "met": ratio <= 1.0,
                "memory": f"{fmt_mem(ext)} / {fmt_mem(tor)}",
                "check": f"w rel. error {rel_error(ext['w'], tor['w']):.1e}"})
        else:
            out["rows"].append({"name": "torch", "error": tor.get("error") or ext.get("error")})
    if "sympy" in only:
        for case in ("worked", "gd-mlp223"):
            s_spec = {"case": case, "timeout": args.sympy_timeout}
            ex_runs = []
            for i in range(repeats):
                log(f"[{i + 1}/{repeats}] exact backend on {case} ...")
                ex_runs.append(worker("exact-backend", s_spec, args.threads, args.timeout))
            log(f"naive sympy on {case} (up to {args.sympy_timeout:.0f} s) ...")
            naive = worker("sympy-naive", s_spec, args.threads, args.sympy_timeout + 120)
            ex = best(ex_runs)
            out[f"exact_{case}"], out[f"sympy_{case}"] = ex, naive
            if "error" in ex or "error" in naive:
                out["rows"].append({"name": f"exact vs sympy ({case})",
                                    "error": ex.get("error") or naive.get("error")})
                continue
            speedup = naive["seconds"] / ex["seconds"]
            same = "timed out" if naive.get("timed_out") else (
                "same state" if naive["state"] == ex["state"] else "STATES DIFFER")
            out["rows"].append({
                "name": f"exact: sympy naive / exact backend ({case}, K={ex['steps']})",
                "ours": fmt_s(ex), "baseline": fmt_s(naive),
                "ratio": speedup, "ratio_prefix": ">= " if naive.get("timed_out") else "",
                "goal": ">= 100x", "met": speedup >= 100,
                "memory": f"{fmt_mem(ex)} / {fmt_mem(naive)}", "check": same})
    if "exactdirect" in only:
        out["rows"].extend(exact_direct_rows(args, repeats, log, out))
    if "deep" in only:
        out["rows"].extend(deep_rows(args, log, out))
    if "size" in only:
        out["rows"].extend(size_rows(spec))
    return out


#: The instances of issue 12's "exact checking near the algorithm's own cost" (iris, 30).
EXACT_DIRECT = [
    {"algorithm": "gd", "network": "linear", "dataset": "iris", "samples": 30, "T": 20},
    {"algorithm": "gd", "network": "mlp:4-5-3:relu", "dataset": "iris", "samples": 30, "T": 6},
]
#: (label, backend, prune, mode): the rows of each instance; the first is the goal row.
EXACT_VARIANTS = [
    ("flint, pruned, K GD steps", "flint", True, "steps"),
    ("fraction, pruned, K GD steps", "fraction", True, "steps"),
    ("flint, unpruned, K GD steps", "flint", False, "steps"),
    ("fraction, unpruned, K GD steps", "fraction", False, "steps"),
    ("flint, whole check_exact, pruned", "flint", True, "verify"),
]


def exact_direct_rows(args: argparse.Namespace, repeats: int, log: Any,
                      out: dict[str, Any]) -> list[dict[str, Any]]:
    """Exact GD on the extension against the same algorithm run directly in exact rationals.

    For each instance, the direct run and every variant are interleaved in each repeat
    (fresh processes), the best of ``repeats`` kept. Goal: the first variant <= 3x.
    """
    rows: list[dict[str, Any]] = []
    for inst in EXACT_DIRECT:
        tag = f"gd {inst['network']} T={inst['T']}, iris {inst['samples']}"
        runs: dict[str, list[dict[str, Any]]] = {"direct": []}
        for i in range(repeats):
            log(f"[{i + 1}/{repeats}] exact direct run and exact extension, {tag} ...")
            runs["direct"].append(worker("exact-direct", inst, args.threads, args.timeout))
            for label, backend, prune, mode in EXACT_VARIANTS:
                spec = {**inst, "backend": backend, "prune": prune, "mode": mode}
                runs.setdefault(label, []).append(
                    worker("exact-extension", spec, args.threads, args.timeout))
        direct = best(runs["direct"])
        out[f"exact_direct {tag}"] = {k: best(v) for k, v in runs.items()}
        for j, (label, _, _, _) in enumerate(EXACT_VARIANTS):
            ours = best(runs[label])
            if "error" in ours or "error" in direct:
                rows.append({"name": f"exact vs direct ({tag}, {label})",
                             "error": ours.get("error") or direct.get("error")})
                continue
            ratio = ours["seconds"] / direct["seconds"]
            check = "same w" if ours["w"] == direct["w"] else "W DIFFERS"
            if ours.get("ad_seconds") is not None:
                check += f"; AD once {ours['ad_seconds']:.3f} s"
            rows.append({
                "name": f"exact {label} / direct exact run ({tag})" if j == 0 else
                        f"  ({label})",
                "ours": fmt_s(ours), "baseline": fmt_s(direct), "ratio": ratio,
                "goal": "<= 3" if j == 0 else "-", "met": ratio <= 3 if j == 0 else None,
                "memory": f"{fmt_mem(ours)} / {fmt_mem(direct)}", "check": check})
    return rows


def deep_rows(args: argparse.Namespace, log: Any, out: dict[str, Any]) -> list[dict[str, Any]]:
    """gd T = 100 on linear/tiny: the whole exact check (issue 10 item 3), FLINT, pruned."""
    inst = {"algorithm": "gd", "network": "linear", "dataset": "tiny", "T": 100,
            "backend": "flint", "prune": True, "mode": "verify"}
    log("deep program: verify gd T=100 on linear/tiny ...")
    ours = worker("exact-extension", inst, args.threads, args.timeout)
    direct = worker("exact-direct", inst, args.threads, args.timeout)
    out["deep gd T=100"] = {"ours": ours, "direct": direct}
    if "error" in ours or "error" in direct:
        return [{"name": "deep: verify gd T=100 linear/tiny",
                 "error": ours.get("error") or direct.get("error")}]
    return [{"name": "deep: verify gd T=100 linear/tiny (K=101) / direct exact run",
             "ours": fmt_s(ours), "baseline": fmt_s(direct),
             "ratio": ours["seconds"] / direct["seconds"], "goal": "verified",
             "met": ours["status"] == "verified", "memory": f"{fmt_mem(ours)} / {fmt_mem(direct)}",
             "check": ours["status"] + ("; same w" if ours["w"] == direct["w"] else
                                        "; W DIFFERS")}]



def fmt_wc(r: dict[str, Any]) -> str:
    """Wall and CPU seconds of a run."""
    if "error" in r:
        return "error"
    return f"{r['seconds']:.3f} s (CPU {r.get('cpu_seconds', float('nan')):.3f} s)"


def _interleaved(tasks: list[str], spec: dict[str, Any], repeats: int,
                 args: argparse.Namespace, log: Any) -> dict[str, dict[str, Any]]:
    """Each task ``repeats`` times, interleaved (so load changes hit all sides alike);
    the best run of each (by CPU seconds when measured, else wall)."""
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tasks}
    for i in range(repeats):
        log(f"[{i + 1}/{repeats}] n = {spec['n']}: {', '.join(tasks)} ...")
        for t in tasks:
            runs[t].append(worker(t, spec, args.threads, args.timeout))
    out = {}
    for t, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        out[t] = min(ok, key=lambda r: r.get("cpu_seconds", r["seconds"])) if ok else rs[0]
        out[t]["runs"] = [(round(r.get("seconds", 0), 4), round(r.get("cpu_seconds", 0), 4))
                          for r in ok]
    return out


def _ratio_row(name: str, ours: dict[str, Any], base: dict[str, Any], goal: float | None,
               basis: str) -> dict[str, Any]:
    if "error" in ours or "error" in base:
        return {"name": name, "error": ours.get("error") or base.get("error")}
    key = "cpu_seconds" if basis == "cpu" else "seconds"
    other = "seconds" if basis == "cpu" else "cpu_seconds"
    ratio = ours[key] / base[key]
    alt = ours.get(other, float("nan")) / base.get(other, float("nan"))
    return {"name": name, "ours": fmt_wc(ours), "baseline": fmt_wc(base), "ratio": ratio,
            "goal": "-" if goal is None else f"<= {goal:g} ({basis})",
            "met": None if goal is None else ratio <= goal,
            "memory": f"{fmt_mem(ours)} / {fmt_mem(base)}",
            "check": f"{'wall' if basis == 'cpu' else 'CPU'} ratio {alt:.2f}; "
                     f"w rel. error {rel_error(ours['w'], base['w']):.1e}"}


def torch_rows(spec: dict[str, Any], repeats: int, args: argparse.Namespace,
               log: Any) -> list[dict[str, Any]]:
    """Issue 12 item 2: the pruned torch export trained by SGD / plain torch GD on the MLP."""
    best_runs = _interleaved(["torch-pruned", "torch-plain"], spec, repeats, args, log)
    ours, base = best_runs["torch-pruned"], best_runs["torch-plain"]
    return [_ratio_row(f"torch export (pruned) / plain torch GD, n={spec['n']}", ours, base,
                       1.5, "wall")]


def small_n_rows(spec: dict[str, Any], repeats: int, args: argparse.Namespace, log: Any,
                 quick: bool = False) -> list[dict[str, Any]]:
    """Issue 12 item 3: the NumPy backend against plain torch GD and the hand-tuned direct
    NumPy run, at n = 10^4 and 10^5, wall and CPU seconds side by side."""
    rows = []
    for n in ((10_000,) if quick else (10_000, 100_000)):
        s = {**spec, "n": n}
        r = _interleaved(["numpy-extension", "numpy-tuned", "torch-plain"], s, repeats, args,
                         log)
        ext, tuned, tor = r["numpy-extension"], r["numpy-tuned"], r["torch-plain"]
        if n == 10_000:
            rows.append(_ratio_row(f"NumPy backend / plain torch GD, n={n}", ext, tor, 1.25,
                                   "wall"))
            rows.append(_ratio_row(f"NumPy backend / hand-tuned NumPy GD, n={n}", ext, tuned,
                                   1.25, "wall"))
        else:
            rows.append(_ratio_row(f"NumPy backend / plain torch GD, n={n}", ext, tor, None,
                                   "wall"))
            rows.append(_ratio_row(f"NumPy backend / hand-tuned NumPy GD, n={n}", ext, tuned,
                                   1.0, "cpu"))
    return rows


def size_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Trainable parameters of the extension against ``p`` plus the total register size."""
    from workers import exact_case, instance

    rows = []
    cases = [("bench instance", instance(spec)[0])]
    cases += [(c, exact_case(c)[0]) for c in ("worked", "gd-mlp223")]
    for name, ext in cases:
        p = ext.net.n_params
        regs = sum(ins.target.size for ins in ext.program.instructions if ins.kind != "output")
        kinds: dict[str, int] = {}
        for block, kind in ext.blocks.items():
            size = 1
            for s in ext.shapes[block]:
                size *= s
            kinds[kind] = kinds.get(kind, 0) + size
        rows.append({
            "name": f"size: parameters / (p + registers) ({name})",
            "ours": str(ext.n_parameters), "baseline": f"{p} + {regs}",
            "ratio": ext.n_parameters / (p + regs), "goal": "-", "met": None, "memory": "-",
            "check": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))})
    return rows


def print_table(result: dict[str, Any]) -> None:
    header = ["measurement", "ours", "baseline", "ratio", "goal", "met", "peak memory", "check"]
    rows = []
    for r in result["rows"]:
        if "error" in r:
            rows.append([r["name"], "-", "-", "-", "-", "-", "-", r["error"]])
            continue
        ratio = r["ratio"]
        text = f"{r.get('ratio_prefix', '')}{ratio:.0f}x" if ratio >= 100 else f"{ratio:.2f}"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "no")
        rows.append([r["name"], r["ours"], r["baseline"], text, r["goal"], met, r["memory"],
                     r["check"]])
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def machine() -> str:
    cores = os.cpu_count()
    try:
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "?"
    import numpy

    return (f"{platform.machine()} {cores} cores, Python {platform.python_version()}, "
            f"NumPy {numpy.__version__}, load average {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="n = 10000, one repeat, sympy cut off after 30 s")
    parser.add_argument("--n", type=int, default=None, help="samples of the bench instance")
    parser.add_argument("--repeats", type=int, default=None, help="runs per measurement")
    parser.add_argument("--torch-repeats", type=int, default=1, help="runs of the torch side")
    parser.add_argument("--torch-chunk", type=int, default=8192,
                        help="samples per gradient-accumulation chunk in torch")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS / torch threads of every measuring process (default 1: "
                             "reproducible on a shared machine; 0 keeps the libraries' default)")
    parser.add_argument("--only", default=None,
                        help="comma list of overhead,torch,small-n,sympy,size,exactdirect,deep "
                             "(and torch-unpruned: the old row, ~1 min per run at n = 10^5)")
    parser.add_argument("--sympy-timeout", type=float, default=None,
                        help="seconds before naive sympy is cut off (reported as a bound)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    parser.add_argument("--json", default=None, help="write all measurements as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("TASK", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        from workers import TASKS

        task, spec = args.worker
        print(json.dumps(TASKS[task](json.loads(spec))))
        return 0
    if args.sympy_timeout is None:
        args.sympy_timeout = 30.0 if args.quick else 600.0
    if args.only and "torch-unpruned" in args.only and "overhead" not in args.only:
        args.only += ",overhead"
    t0 = time.perf_counter()
    result = measure(args)
    result["machine"] = machine()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    spec = result["spec"]
    print(f"bench instance: synthetic n={spec['n']}, d={spec['d']}, c={spec['c']}, "
          f"mlp:{spec['d']}-{spec['h']}-{spec['c']}:relu, gd T={spec['T']} lr={spec['lr']}; "
          f"best of {result['repeats']}")
    print(f"machine: {result['machine']}; threads per process: "
          f"{args.threads or 'library default'}")
    print()
    print_table(result)
    print()
    print(f"bench took {result['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
