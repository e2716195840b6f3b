"""JSON certificates of a check (schema documented in README.md).

Required keys: ``status`` (verified | refuted | unknown | error), ``gd_steps`` (K),
``parameters`` (trainable parameters of the extension), ``steps`` (one entry per checked
step with ``step``, ``status``, ``moved``), ``final_weights_equal``,
``forward_output_equal``, ``backends``; since issue 11 also ``properties`` (a list of
``{name, status, detail}``: T1..T6, trajectory, moved set, kink margin, oracle),
``reference_results`` (reference name -> equal), ``first_failure`` (the label of the first
failed check, e.g. ``"step 0 clock.z1"``, ``"T5"``, ``"kink margin"``, ``"oracle"``; empty when
verified) and ``oracle`` (engines, status, detail). Each step also carries ``moved_set``,
``kink``, ``min_gate_margin``, ``live_units_at_kink`` and ``oracle``.
"""

from __future__ import annotations

import platform
from typing import Any

from .. import __version__
from .steps import Report

SCHEMA = "symbolic_universality/certificate/v1"


def certificate(report: Report, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The certificate of ``report``; ``extra`` holds per-backend results (name -> dict)."""
    data = report.as_dict()
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "status": data["status"],
        "algorithm": data["algorithm"],
        "network": data["network"],
        "dataset": data["dataset"],
        "samples": data["samples"],
        "gd_steps": data["gd_steps"],
        "parameters": data["parameters"],
        "eta": data["eta"],
        "steps": [
            {
                "step": s["step"],
                "status": s["status"],
                "moved": s["moved"],
                "moved_entries": s["moved_entries"],
                "predicted_moved_entries": s["predicted_moved_entries"],
                "written": s["written"],
                "seconds": s["seconds"],
                "mismatch": s["mismatch"],
                "moved_set": s["moved_set"],
                "kink": s["kink"],
                "min_gate_margin": s["min_gate_margin"],
                "live_units_at_kink": s["live_units_at_kink"],
                "oracle": s["oracle"],
            }
            for s in data["steps"]
        ],
        "final_weights_equal": data["final_weights_equal"],
        "reference_equal": data["reference_equal"],
        "reference_results": data["reference_results"],
        "properties": data["properties"],
        "first_failure": data["first_failure"],
        "oracle": data["oracle"],
        "forward_output_equal": data["forward_output_equal"],
        "aux_zero": data["aux_zero"],
        "inert_after_K": data["inert_after_K"],
        "final_weights": data["final_weights"],
        "backends": data["backends"],
        "exact_backend": data.get("exact_backend", "fraction"),  # flint | fraction
        "exact_backend_note": data.get("exact_backend_note", ""),
        "mismatch": data["mismatch"],
        "message": data["message"],
        "seconds": data["seconds"],
        "tool": {"name": "symbolic_universality", "version": __version__,
                 "python": platform.python_version()},
    }
    if extra:
        out["backend_results"] = extra
    return out


def minimal_report(job: Any, status: str, backends: list[str]) -> Report:
    """A report with no exact steps (when only other backends ran)."""
    ext = job.extension
    return Report(status, job.algorithm, job.net.describe(), job.data.name, job.data.n, ext.K,
                  ext.n_parameters, str(ext.eta), backends=backends,
                  message="see backend_results")
