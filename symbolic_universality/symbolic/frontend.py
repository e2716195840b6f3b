"""What the public API needs of the symbolic stage besides the prover itself.

* :func:`network_for`: the base network of a spec for symbolic data of given sizes (an
  ``mlp:`` or ``cnn:`` spec fixes ``d`` and ``c`` itself);
* :func:`proof_text`: a proof report as the per-step table, final checks and verdict;
* :func:`symbolic_backend`: the ``algebra``/``smt`` backends of ``verify``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..networks.cnn import ConvNet, parse_cnn
from ..networks.mlp import MLP, parse_network
from ..report.text import short, table

if TYPE_CHECKING:
    from .data import SymbolicSpec
    from .prover import ProofReport

DEFAULT_C = 2
DEFAULT_TIMEOUT_MS = 10_000
MAX_VERIFY_D = 8
MAX_VERIFY_PARAMS = 2_000
VERIFY_SAMPLES = 3


def network_for(spec: str, sizes: SymbolicSpec) -> MLP | ConvNet:
    """The base network of ``spec`` for symbolic data of ``sizes``.

    An ``mlp:D-...-C`` spec fixes ``d`` and ``c``, a ``cnn:SHAPE-...`` spec fixes ``d`` (the
    product of its input shape) and ``c`` (its last layer): ``--symbolic d=``/``c=`` may be
    left out, and a value that disagrees is refused with one sentence. ``linear`` and
    ``linear-nobias`` take ``d`` from ``sizes`` (required) and ``c`` (default
    :data:`DEFAULT_C`).
    """
    from .data import SymbolicSpecError

    text = spec.strip()
    m = re.match(r"^mlp:(\d+(?:-\d+)+)", text)
    if text.startswith("cnn:"):
        net = parse_cnn(text)
        shape = "x".join(str(v) for v in net.input_shape)
        if sizes.d is not None and sizes.d != net.d:
            raise SymbolicSpecError(
                f"--symbolic d={sizes.d} but the network {spec!r} takes inputs of shape "
                f"{shape} = {net.d} features; use d={net.d} or leave d= out")
        if sizes.c is not None and sizes.c != net.c:
            raise SymbolicSpecError(
                f"--symbolic c={sizes.c} but the network {spec!r} has {net.c} outputs; use "
                f"c={net.c} or leave c= out")
        return net
    if m:
        dims = [int(v) for v in m.group(1).split("-")]
        d, c = dims[0], dims[-1]
        if sizes.d is not None and sizes.d != d:
            raise SymbolicSpecError(
                f"--symbolic d={sizes.d} but the network {spec!r} takes {d} inputs; "
                f"use d={d}")
        if sizes.c is not None and sizes.c != c:
            raise SymbolicSpecError(
                f"--symbolic c={sizes.c} but the network {spec!r} has {c} outputs; use c={c}")
    else:
        if sizes.d is None:
            raise SymbolicSpecError(
                f"the network {spec!r} needs the input size from --symbolic: e.g. "
                "--symbolic d=2 (generic mode; c=C for the classes) or --symbolic n=3,d=2 "
                "(--mode fixed)")
        d, c = sizes.d, sizes.c or DEFAULT_C
    return parse_network(spec, d, c)


def _cell(report: ProofReport, step: Any, backend: str) -> str:
    bs = step.backends.get(backend)
    if bs is None:
        return "-"
    if bs.status == "verified":
        return f"verified {bs.proved}/{bs.obligations} ({bs.seconds:.2f} s)"
    return f"{bs.status} ({bs.proved}/{bs.obligations} proved, {bs.seconds:.2f} s)"


def _mark(statuses: list[str]) -> str:
    if all(s == "verified" for s in statuses):
        return "yes"
    return "NO" if "refuted" in statuses else "unknown"


def proof_text(report: ProofReport) -> str:
    """Per-step table, the final checks and the verdict, as text."""
    out: list[str] = []
    rows = []
    for s in report.steps:
        moved = f"{s.moved_entries} in {short(s.moved, 4)}"
        if not s.moved_known:
            moved = "not computed (unit did not finish)"
        elif s.status != "verified":  # GD is not shown to move these: say whose they are
            moved = "predicted: " + moved
        rows.append([str(s.step), short(s.written, 3), moved,
                     *[_cell(report, s, b) for b in report.backends]])
    out += [table(rows, ["step", "written", "moved (for some data)", *report.backends]), ""]
    final_status: dict[str, list[str]] = {}
    for v in report.verdicts:
        if v.block.startswith("T"):
            final_status.setdefault(v.block, []).append(v.status)
    labels = {"T2.F_main": "T2  F_main(xs) = f(xs; w) at theta_K (fresh input xs)",
              "T2.F_aux": "T2  F_aux(xs) = 0",
              "T1.reference": "T1  A(D) by the program = independent reference"}
    for block, label in labels.items():
        sts = final_status.get(block)
        mark = "n/a" if not sts else ("yes" if all(s == "proved" for s in sts) else
                                      ("NO" if "refuted" in sts else "unknown"))
        out.append(f"  {label:<58} {mark}")
    traj = [s.status for s in report.steps]
    out.append(f"  {'T1  w_K = A(D): trajectory theorem, steps 0..K-1':<58} {_mark(traj[:-1])}")
    out.append(f"  {'T3  step K moves only w, as plain GD on f':<58} {_mark(traj[-1:])}")
    if report.skipped:
        out.append(f"  skipped {len(report.skipped)} class assignment(s) on which the algorithm is "
              f"undefined: {report.skipped[0]['reason']}")
    for h in getattr(report, "lifting", []) or []:
        out.append(f"  lifting: {h['hypothesis']}: {h['detail']}")
    scope = getattr(report, "scope_text", "")
    if scope:
        out.append(f"  scope: {scope}")
    for a in getattr(report, "assumptions", []) or []:
        out.append(f"  assumed: {a}")
    checks = getattr(report, "crosschecks", []) or []
    bad = [c for c in checks if c.get("status") == "disagree"]
    if checks:
        out.append("  semantics cross-check (exact backend at random rational points): "
                   + ("DISAGREES: " + bad[0]["detail"] if bad else "agrees"))
    out += ["", f"prove: {report.status.upper()} ({report.message}; {report.seconds} s)"]
    return "\n".join(out)



def symbolic_backend(job: Any, backend: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS,
                     log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``verify(..., backends=["algebra"|"smt"])``: prove the job's extension for symbolic data.

    Steps 0..K and T2 for all data of ``n = min(3, samples)`` symbolic samples of the job's
    dimension and every one-hot labelling; too large an instance is ``unknown``, never
    verified.
    """
    from .data import parse_classes
    from .prover import prove_extension

    ext = job.extension
    n = min(VERIFY_SAMPLES, job.data.n)
    d = job.data.d
    scope = (f"the job's extension: steps 0..K and T2 proved for all data of n={n} "
             f"symbolic samples of dimension d={d} and every one-hot labelling")
    if d > MAX_VERIFY_D or ext.n_parameters > MAX_VERIFY_PARAMS:
        return {"status": "unknown", "backend": backend, "scope": scope,
                "reason": f"too large for a symbolic proof (d = {d} > {MAX_VERIFY_D} or "
                          f"{ext.n_parameters} > {MAX_VERIFY_PARAMS} parameters); "
                          "use symuni prove with a smaller network"}
    t0 = time.perf_counter()
    classes = parse_classes("symbolic", n, job.data.c)
    report = prove_extension(ext, n=n, classes=classes, backends=[backend],
                             algorithm=job.algorithm, options=job.options,
                             timeout_ms=timeout_ms,
                             reference=False)
    status = report.status
    first = report.first_failure()
    if log is not None:
        log(f"[{backend}] {scope}: {status} ({len(report.verdicts)} obligations, "
            f"{time.perf_counter() - t0:.1f} s)")
    return {
        "status": status, "backend": backend, "scope": scope,
        "obligations": len(report.verdicts),
        "proved": sum(v.status == "proved" for v in report.verdicts),
        "seconds": report.seconds,
        "steps": [{"step": s.step, "status": s.status,
                   "obligations": s.backends[backend].obligations,
                   "seconds": s.backends[backend].seconds} for s in report.steps],
        "first_failure": None if first is None else first.as_dict(),
        "message": report.message,
        "reason": report.message if status == "unknown" else "",
    }

