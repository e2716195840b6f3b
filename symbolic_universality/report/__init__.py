"""Seeing gradient descent run an algorithm: plots and an HTML report (the ``plot`` extra).

:func:`write_report` is what ``symuni verify ... --report DIR`` and ``symuni demo --report
DIR`` call. It runs true GD on the job's extension (:func:`trajectory.run_trajectory`),
draws the five figures of :mod:`.plots` and writes them as PNG files beside one
self-contained ``index.html``.

Matplotlib is imported only when a report is drawn, so importing this package (which the
CLI's plugin loader does) never needs it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .trajectory import Trajectory, run_trajectory

__all__ = ["FILENAMES", "Trajectory", "build_figures", "run_trajectory", "write_report"]

#: plot name -> file written in the report directory
FILENAMES: dict[str, str] = {
    "diagram": "diagram.png",
    "timeline": "timeline.png",
    "movement": "movement.png",
    "weights_path": "weights_path.png",
    "loss": "loss.png",
}

_TITLES: dict[str, tuple[str, str]] = {
    "diagram": ("The extension's blocks",
                "Base network, clock flags, gates, heads and registers, and how they are wired. "
                "Every coefficient drawn here is a trainable parameter."),
    "timeline": ("Step timeline",
                 "Which gate is on at each GD step (read off the run) and, for each head, the "
                 "parameter it wrote at that step."),
    "movement": ("Movement map",
                 "GD step x parameter block: colour = largest |change| of the block (log scale), "
                 "grey = exactly unchanged, black frame = predicted by the lemmas."),
    "weights_path": ("The weights' path",
                     "The extension's w block at every state against the algorithm's own "
                     "iterates (for gd also the iterates decoded from the registers)."),
    "loss": ("Loss after K",
             "The extension's loss along true GD and, from step K on, plain GD on the base "
             "network alone: the two coincide (T3)."),
}


def _require_matplotlib() -> None:
    """Raise a one-sentence ``ModuleNotFoundError`` when the ``plot`` extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ModuleNotFoundError(
            "the report needs the optional dependency matplotlib, which "
            "pip install 'symbolic_universality[plot]' installs", name="matplotlib") from None


def build_figures(job: Any, traj: Trajectory) -> dict[str, Any]:
    """The five matplotlib figures of ``job`` (name -> ``Figure``), in report order."""
    _require_matplotlib()
    from . import plots
    from .trajectory import algorithm_iterates, decoded_gd_iterates

    iterates = algorithm_iterates(job.algorithm, job.extension, traj.x, traj.y, job.options)
    decoded = decoded_gd_iterates(traj) if job.algorithm == "gd" else None
    return {
        "diagram": plots.plot_diagram(traj),
        "timeline": plots.plot_timeline(traj),
        "movement": plots.plot_movement(traj),
        "weights_path": plots.plot_weights_path(traj, iterates, decoded),
        "loss": plots.plot_loss(traj),
    }


def _rules_text(extra: Mapping[str, Any]) -> str | None:
    algebra = extra.get("algebra")
    if not isinstance(algebra, Mapping):
        return None
    rules = algebra.get("rules")
    if not rules:
        return None
    if isinstance(rules, str):
        return rules
    if isinstance(rules, Mapping):
        return "\n".join(f"{k}: {v}" for k, v in rules.items())
    if isinstance(rules, (list, tuple)):
        return "\n".join(str(r) for r in rules)
    return str(rules)


def write_report(job: Any, report: Any, outdir: str | Path, extra: Mapping[str, Any] | None
                 ) -> Path:
    """Write the plots (PNG) and ``index.html`` into ``outdir``; return the page's path.

    ``job`` is a :class:`pipeline.Job`, ``report`` the exact checker's
    :class:`verify.steps.Report` (or ``None`` when it did not run), ``extra`` the other
    backends' results (name -> dict); ``extra["algebra"]["rules"]``, when present, is shown
    as the GD update rules.
    """
    _require_matplotlib()
    from . import html, plots

    t0 = time.perf_counter()
    extra = dict(extra or {})
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    ext, data = job.extension, job.data
    traj = run_trajectory(ext, data.x, data.y)
    figs = build_figures(job, traj)
    page_figs = []
    for name, fig in figs.items():
        png = plots.to_png(fig)
        filename = FILENAMES[name]
        (out / filename).write_bytes(png)
        title, caption = _TITLES[name]
        page_figs.append(html.Figure(name, filename, png, title, caption))
    summary = {
        "algorithm": job.algorithm + (f" {job.options}" if job.options else ""),
        "base network": job.net.describe(),
        "data": f"{data.name} (n = {data.n}, d = {data.d}, c = {data.c})",
        "extension": f"{ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
                     f"eta = {ext.eta}",
        "plots computed with": f"{traj.arithmetic}, {traj.steps} true GD steps "
                               f"({traj.seconds:.2f} s)",
        "exact checker": "not run" if report is None else
        f"{report.status} in {report.seconds} s",
    }
    notes = list(traj.notes)
    if not traj.exact and report is not None:
        notes.append("the verdict and the per-step table are the exact checker's")
    summary["report written in"] = f"{time.perf_counter() - t0:.2f} s"
    page = html.render(
        title=f"symuni report: {job.algorithm} on {job.net.describe()}, data {data.name}",
        summary=summary, report=report, program=ext.program.describe(), figures=page_figs,
        extra=extra, rules=_rules_text(extra), notes=notes)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
