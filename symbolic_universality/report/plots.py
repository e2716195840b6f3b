"""The report's figures (matplotlib, no pyplot state: every figure is a bare ``Figure``).

One idea per figure:

* :func:`plot_timeline`: which gates and heads are active at each GD step, what they write;
* :func:`plot_movement`: GD step x parameter block, what moved and by how much;
* :func:`plot_weights_path`: the extension's ``w`` (and the iterates its registers encode)
  against the algorithm's own iterates;
* :func:`plot_loss`: the extension's loss and, from step ``K`` on, plain GD on ``f`` alone;
* :func:`plot_diagram`: the blocks of the extension and how they are wired.

Sizes are fixed by :func:`figure_size` (pixels = inches x :data:`DPI`), so a saved PNG has a
known size. Matplotlib is imported here only; the package imports this module lazily.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .trajectory import Trajectory

DPI = 100
WIDTH = 11.0  # inches: every figure is 1100 px wide

STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 10.5,
    "ytick.labelsize": 10.5,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

#: Okabe-Ito colours (colour-blind safe), one per head kind.
KIND_COLOR = {
    "gate": "#7f7f7f",
    "read_unlabelled": "#0072B2",
    "read_labelled": "#E69F00",
    "compute": "#009E73",
    "output": "#D55E00",
    "clock": "#CC79A7",
    "base": "#333333",
}
KIND_LABEL = {
    "gate": "gate",
    "read_unlabelled": "unlabelled read",
    "read_labelled": "labelled read",
    "compute": "compute",
    "output": "output",
    "clock": "clock advance",
    "base": "base network",
}
_KIND_ORDER = ("read_unlabelled", "read_labelled", "compute", "output", "clock")
INACTIVE = "#f2f2f2"
ZERO_COLOR = "#dcdcdc"

PLOTS = ("diagram", "timeline", "movement", "weights_path", "loss")


@contextmanager
def styled() -> Iterator[None]:
    """The report's matplotlib style (a context: no global state is changed)."""
    with rc_context(STYLE):
        yield


def _figure(height: float) -> Figure:
    return Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes at :data:`DPI` (size exactly ``figsize * DPI``)."""
    buf = io.BytesIO()
    with styled():
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


# ------------------------------------------------------------------------------ sizes


def _timeline_rows(traj: Trajectory) -> int:
    return traj.K + 1 + len(traj.ext.heads) + 1


def figure_size(name: str, traj: Trajectory) -> tuple[int, int]:
    """The pixel size ``(width, height)`` of plot ``name`` for this trajectory."""
    if name == "timeline":
        h = 0.36 * _timeline_rows(traj) + 2.2
    elif name == "movement":
        h = max(4.5, 0.27 * len(traj.ext.shapes) + 2.4)
    elif name == "weights_path":
        h = 6.5
    elif name == "loss":
        h = 5.5
    elif name == "diagram":
        h = 7.0
    else:
        raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(PLOTS)}")
    return int(round(WIDTH * DPI)), int(round(h * DPI))


def _height(name: str, traj: Trajectory) -> float:
    return figure_size(name, traj)[1] / DPI


def _short(param: str) -> str:
    return param[len("reg."):] if param.startswith("reg.") else param


# ---------------------------------------------------------------------------- timeline


def _timeline_columns(traj: Trajectory) -> int:
    return min(traj.steps, traj.K + 3)


def _gate_text(value: float) -> str | None:
    """Cell text of a gate: ``on`` for exactly 1, its value if otherwise nonzero, else off."""
    if value == 0:
        return None
    return "on" if value == 1 else f"{value:.3g}"


def plot_timeline(traj: Trajectory) -> Figure:
    """(a) Which gates and heads are active at each GD step and which registers they write.

    Activity is read off the run: a gate is on where its value at ``theta_k`` is nonzero; a
    head is on where its step's gate is on. A cell names the parameter the head writes when
    that parameter really moved at that step.
    """
    ext = traj.ext
    cols = _timeline_columns(traj)
    rows: list[tuple[str, str, list[str | None]]] = []  # label, kind, cell texts (None: off)
    for k in range(ext.K):
        rows.append((f"gate g{k}", "gate", [_gate_text(traj.gates[f"g{k}"][j])
                                             for j in range(cols)]))
    rows.append(("gate G (final)", "gate", [_gate_text(traj.gates["G"][j]) for j in range(cols)]))
    heads = sorted(ext.heads, key=lambda h: (h.step, _KIND_ORDER.index(h.kind), h.name))
    for h in heads:
        cells: list[str | None] = []
        for j in range(cols):
            if not traj.gates[f"g{h.step}"][j]:
                cells.append(None)
                continue
            moved = traj.moves[j][h.writes].entries > 0
            cells.append(_short(h.writes) if moved else "(no change)")
        label = f"{h.name}  ({KIND_LABEL[h.kind]}, step {h.step})"
        rows.append((label, h.kind, cells))
    base_cells: list[str | None] = []
    for j in range(cols):
        if not traj.gates["G"][j]:
            base_cells.append(None)
        else:
            base_cells.append("w" if traj.moves[j]["w"].entries else "(no change)")
    rows.append(("f(x; w): plain GD on w", "base", base_cells))

    with styled():
        fig = _figure(_height("timeline", traj))
        ax = fig.add_subplot()
        n = len(rows)
        for i, (_, kind, cells) in enumerate(rows):
            yy = n - 1 - i
            for j, text in enumerate(cells):
                on = text is not None
                ax.add_patch(Rectangle((j - 0.46, yy - 0.4), 0.92, 0.8,
                                       facecolor=KIND_COLOR[kind] if on else INACTIVE,
                                       edgecolor="white", linewidth=1))
                if on:
                    size = 10 if len(text) <= 10 else 8.5
                    ax.text(j, yy, text, ha="center", va="center", color="white",
                            fontsize=size, fontweight="bold")
        ax.set_xlim(-0.6, cols - 0.4)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_yticks(range(n))
        ax.set_yticklabels([r[0] for r in reversed(rows)])
        ax.set_xticks(range(cols))
        ax.set_xticklabels([f"{j}\n(= K)" if j == ext.K else str(j) for j in range(cols)])
        ax.set_xlabel(r"GD step k (the step from $\theta_k$ to $\theta_{k+1}$)")
        ax.axvline(ext.K - 0.5, color="black", linestyle="--", linewidth=1.2)
        gate_sep = n - (ext.K + 1) - 0.5
        head_sep = 0.5
        for yy in (gate_sep, head_sep):
            ax.axhline(yy, color="#999999", linewidth=0.8)
        ax.tick_params(axis="both", length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        fig.suptitle(f"Step timeline: plain GD runs the {ext.program.name} program in "
                     f"K = {ext.K} steps", x=0.01, ha="left", fontweight="bold")
        ax.set_title(f"read off the run ({traj.arithmetic}); right of the dashed line the "
                     "program is done and only f trains", loc="left", fontsize=11,
                     fontweight="normal")
        kinds = ["gate", *[k for k in _KIND_ORDER if any(h.kind == k for h in ext.heads)],
                 "base"]
        handles = [Patch(facecolor=KIND_COLOR[k], label=KIND_LABEL[k]) for k in kinds]
        handles.append(Patch(facecolor=INACTIVE, edgecolor="#bbbbbb", label="off (gate = 0)"))
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8),
                   frameon=False)
    return fig


# ---------------------------------------------------------------------------- movement


def _block_groups(names: list[str], blocks: dict[str, str]) -> list[tuple[str, int, int]]:
    """Consecutive runs ``(block, first row, last row)`` of ``names``."""
    out: list[tuple[str, int, int]] = []
    for i, nm in enumerate(names):
        b = blocks[nm]
        if out and out[-1][0] == b:
            out[-1] = (b, out[-1][1], i)
        else:
            out.append((b, i, i))
    return out


def plot_movement(traj: Trajectory) -> Figure:
    """(b) GD step x parameter block: the largest ``|Δ|`` of the block (log colour scale).

    Exactly-zero changes are grey; a black frame marks what the lemmas predict to move
    (steps ``0..K-1``: the writes of the program; step ``K``: plain GD on ``w``), a red
    cross a move they did not predict. The number in a cell is ``entries moved / size``.
    """
    ext = traj.ext
    names = list(ext.shapes)
    cols = ext.K + 1
    mags = np.zeros((len(names), cols))
    for j in range(cols):
        for i, nm in enumerate(names):
            mags[i, j] = traj.moves[j][nm].max_abs
    finite = np.isfinite(mags)
    positive = mags[finite & (mags > 0)]
    if positive.size:  # overflow in a broken float run: show it as the largest change
        mags = np.where(finite, mags, float(positive.max()))
    with styled():
        fig = _figure(_height("movement", traj))
        ax = fig.add_subplot()
        ax.set_facecolor("white")
        mid: float | None = None
        if positive.size:
            lo, hi = float(positive.min()), float(positive.max())
            if lo == hi:
                lo, hi = lo / 10, hi * 10
            norm = LogNorm(vmin=lo, vmax=hi)
            mid = float(np.sqrt(lo * hi))
            masked = np.ma.masked_where(mags == 0, mags)
            cmap = _cmap("viridis").with_extremes(bad=ZERO_COLOR)
            im = ax.imshow(masked, aspect="auto", cmap=cmap, norm=norm,
                           interpolation="nearest", extent=(-0.5, cols - 0.5, len(names) - 0.5,
                                                            -0.5))
            cb = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.01)
            cb.set_label("max |Δθ| over the block's entries (log scale)")
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            cb.ax.yaxis.set_minor_formatter(FuncFormatter(_minor_125))
        else:
            ax.imshow(np.zeros_like(mags), cmap=_cmap("Greys"), vmin=0, vmax=4, aspect="auto")
        annotate = len(names) * cols <= 400
        for j in range(cols):
            pred = traj.predicted[j] if j < len(traj.predicted) else set()
            for i, nm in enumerate(names):
                mv = traj.moves[j][nm]
                if nm in pred:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="black", linewidth=1.8, zorder=3))
                elif mv.entries:
                    ax.plot([j - 0.4], [i], marker="x", color="red", markersize=9, mew=2.2,
                            zorder=4)
                if annotate and mv.entries:
                    light = mid is None or mags[i, j] < mid
                    ax.text(j, i, f"{mv.entries}/{mv.size}", ha="center", va="center",
                            fontsize=8.5, color="white" if light else "black")
        ax.set_xticks(range(cols))
        ax.set_xticklabels([f"{j}\n(= K)" if j == ext.K else str(j) for j in range(cols)])
        ax.set_xlabel(r"GD step k ($\theta_k \to \theta_{k+1}$); step K is the first "
                      "plain-GD step of f")
        ax.set_xticks(np.arange(-0.5, cols, 1.0), minor=True)
        ax.set_yticks(np.arange(-0.5, len(names), 1.0), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=9)
        ax.tick_params(axis="both", length=0)
        for b, first, last in _block_groups(names, ext.blocks):
            if first > 0:
                ax.axhline(first - 0.5, color="black", linewidth=0.8)
            ax.text(cols - 0.45, (first + last) / 2, f" {b}", ha="left", va="center",
                    fontsize=10, fontstyle="italic", clip_on=False)
        fig.suptitle("Movement map: what each GD step changed, and by how much", x=0.01,
                     ha="left", fontweight="bold")
        ax.set_title(f"true GD on the whole extension ({traj.arithmetic}); "
                     "cell text: entries moved / entries in the block", loc="left",
                     fontsize=11, fontweight="normal")
        handles = [
            Patch(facecolor=ZERO_COLOR, label="no change (exactly 0)"),
            Patch(facecolor="none", edgecolor="black", linewidth=1.6,
                  label="predicted to move by the lemmas"),
            Line2D([], [], marker="x", color="red", linestyle="none", mew=2,
                   label="moved, not predicted"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


def _minor_125(value: float, _pos: int) -> str:
    """Label a minor log tick only at 2 and 5 times a power of ten."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** np.floor(np.log10(value) + 1e-12)
    return f"{value:g}" if round(mantissa, 6) in (2.0, 5.0) else ""


def _cmap(name: str) -> Any:
    from matplotlib import colormaps

    return colormaps[name].copy()


# ------------------------------------------------------------------------ weights' path


def _pick_coordinates(paths: list[np.ndarray], limit: int) -> list[int]:
    """The ``limit`` coordinates that travel furthest over all the given paths."""
    stacked = np.vstack([np.asarray(p, dtype=np.float64) for p in paths])
    spread = stacked.max(axis=0) - stacked.min(axis=0)
    order = np.argsort(-spread, kind="stable")
    return sorted(int(i) for i in order[:limit])


def plot_weights_path(traj: Trajectory, iterates: np.ndarray | None = None,
                      decoded: list[np.ndarray | None] | None = None, limit: int = 5
                      ) -> Figure:
    """(c) The extension's ``w`` block at each ``theta_k`` against the algorithm's iterates.

    ``iterates`` (rows ``w_0..w_T``) are the algorithm's own (``gd``: ``reference_gd_path``);
    ``decoded[k]`` is the iterate read off the extension's registers at ``theta_k``. Without
    iterates the target is ``A(D)`` alone. At most ``limit`` coordinates are drawn (those that
    move most), one colour each.
    """
    ext = traj.ext
    K = ext.K
    w_ext = np.array([np.asarray(traj.thetas[k]["w"], dtype=np.float64) for k in range(K + 1)])
    a_of_d = np.asarray(traj.a_of_d, dtype=np.float64)
    its = None if iterates is None else np.asarray(iterates, dtype=np.float64)
    dec = decoded or []
    dec_pts = [(k, np.asarray(v, dtype=np.float64)) for k, v in enumerate(dec[: K + 1])
               if v is not None]
    paths = [w_ext, a_of_d[None, :]] + ([its] if its is not None else [])
    coords = _pick_coordinates(paths, limit)
    colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
    with styled():
        fig = _figure(_height("weights_path", traj))
        ax = fig.add_subplot()
        for ci, j in enumerate(coords):
            col = colors[ci % len(colors)]
            if its is not None:
                ax.plot(range(len(its)), its[:, j], color=col, linewidth=7, alpha=0.28,
                        solid_capstyle="round")
            ax.plot(range(K + 1), w_ext[:, j], color=col, linewidth=1.5, marker="s",
                    markersize=7)
            if dec_pts:
                ax.plot([k for k, _ in dec_pts], [v[j] for _, v in dec_pts], linestyle="none",
                        marker="o", markersize=13, markerfacecolor="none",
                        markeredgecolor=col, markeredgewidth=1.8)
            ax.hlines(a_of_d[j], -0.3, K, color=col, linestyle=":", linewidth=1)
        ymin, ymax = ax.get_ylim()
        ax.set_ylim(ymin, ymax + 0.06 * (ymax - ymin))
        label_y = _spread([float(a_of_d[j]) for j in coords], 0.055 * (ymax - ymin))
        for ci, j in enumerate(coords):
            ax.annotate(f"w[{j}]", xy=(K, a_of_d[j]), xytext=(K + 0.12, label_y[ci]),
                        textcoords="data", va="center", color=colors[ci % len(colors)],
                        fontsize=11, fontweight="bold",
                        arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.6})
        handles = [Line2D([], [], color="black", marker="s", linewidth=1.5,
                          label=r"extension's w block at $\theta_k$ (true GD)")]
        if its is not None:
            handles.insert(0, Line2D([], [], color="black", linewidth=7, alpha=0.28,
                                     label=f"algorithm's own iterate $w_t$ "
                                           f"(t = 0..{len(its) - 1})"))
        if dec_pts:
            handles.append(Line2D([], [], linestyle="none", marker="o", markersize=12,
                                  markerfacecolor="none", markeredgecolor="black",
                                  markeredgewidth=1.8,
                                  label=r"$w_k$ decoded from $\theta_k$: "
                                        "coef.w0 − coef.lr · Σ grad registers"))
        handles.append(Line2D([], [], color="black", linestyle=":", label="A(D)"))
        ax.legend(handles=handles, loc="best", framealpha=0.9)
        ax.set_xticks(range(K + 1))
        ax.set_xticklabels([f"{k}\n(= K)" if k == K else str(k) for k in range(K + 1)])
        ax.set_xlim(-0.3, K + 0.7)
        ax.set_xlabel(r"GD step k of the extension (state $\theta_k$)  /  iteration t of "
                      "the algorithm")
        ax.set_ylabel("weight value")
        shown = (f"all {len(a_of_d)} weights" if len(coords) == len(a_of_d)
                 else f"the {len(coords)} of {len(a_of_d)} weights that move most")
        fig.suptitle("The weights' path: gradient descent on the extension against the "
                     "algorithm's own iterates", x=0.01, ha="left", fontweight="bold")
        ax.set_title(f"{shown}; the extension keeps w = 0 until its output step, then "
                     "writes A(D) in one step", loc="left", fontsize=11, fontweight="normal")
        note = _path_note(traj, its, dec_pts, w_ext, a_of_d)
        ax.text(0.0, -0.16, note, transform=ax.transAxes, fontsize=10.5, va="top")
    return fig


def _spread(values: list[float], gap: float) -> list[float]:
    """Label positions near ``values`` at least ``gap`` apart (same order as ``values``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed: dict[int, float] = {}
    last = -np.inf
    for i in order:
        y = max(values[i], last + gap)
        placed[i] = y
        last = y
    return [placed[i] for i in range(len(values))]


def _path_note(traj: Trajectory, its: np.ndarray | None,
               dec_pts: list[tuple[int, np.ndarray]], w_ext: np.ndarray,
               a_of_d: np.ndarray) -> str:
    K = traj.K
    exact_w = bool(np.array_equal(np.asarray(traj.thetas[K]["w"]), np.asarray(traj.a_of_d)))
    parts = [f"w block at θ_K equals A(D): {'yes' if exact_w else 'NO'}"]
    if dec_pts and its is not None:
        err = max(float(np.max(np.abs(v - its[k]))) for k, v in dec_pts if k < len(its))
        ok = "exactly" if err == 0 else f"max error {err:.2e}"
        parts.append(f"iterates decoded from the registers match the reference ({ok})")
    parts.append(f"arithmetic: {traj.arithmetic}")
    return ";  ".join(parts)


# ---------------------------------------------------------------------------------- loss


def plot_loss(traj: Trajectory) -> Figure:
    """(d) The extension's loss ``L(theta_k)`` and, from ``K`` on, plain GD on ``f`` alone."""
    K = traj.K
    ks = np.arange(len(traj.losses))
    with styled():
        fig = _figure(_height("loss", traj))
        ax = fig.add_subplot()
        ax.plot(ks, traj.losses, color="#0072B2", marker="o", linewidth=2,
                label=r"extension: $L(\theta_k)$, plain GD on all parameters")
        if traj.base_losses:
            kb = np.arange(K, K + len(traj.base_losses))
            ax.plot(kb, traj.base_losses, color="#D55E00", marker="x", markersize=11, mew=2,
                    linestyle="--", linewidth=1.5,
                    label=r"base network f alone: plain GD on w from $w_K$ = A(D)")
        values = [v for v in traj.losses + traj.base_losses if np.isfinite(v)]
        log = bool(values) and min(values) > 0
        if log:
            ax.set_yscale("log")
            if max(values) / min(values) < 1e3:  # few decades: label 1-2-5 ticks plainly
                ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
        ax.axvline(K - 0.5, color="black", linestyle=":", linewidth=1)
        ax.axvspan(-0.5, K - 0.5, color="#eeeeee", zorder=0)
        pre = [v for v in traj.losses[:K] if np.isfinite(v)]
        low = bool(pre) and _axes_fraction(ax, max(pre), log) < 0.5
        ax.text(K / 2 - 0.5, 0.96 if low else 0.04, "running the program\n(each active aux "
                "head adds\n½(1/η)² to the loss)", transform=ax.get_xaxis_transform(),
                ha="center", va="top" if low else "bottom", fontsize=10)
        ax.text(K - 0.4, 0.96, "  from step K the extension is inert: only w moves (T3)",
                transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=10)
        ax.set_xticks(ks)
        ax.set_xticklabels([f"{k}\n(= K)" if k == K else str(k) for k in ks])
        ax.set_xlim(-0.5, ks[-1] + 0.5)
        ax.set_xlabel(r"GD step k (the loss at the state $\theta_k$ before the step)")
        ax.set_ylabel("mean loss")
        ax.set_title("Loss of the extension and of the base network after K", loc="left")
        ax.legend(loc="best", framealpha=0.9)
        same = coincide_after_k(traj)
        if same is not None:
            word = ("DIFFERENT" if not same else "identical" if traj.exact
                    else "equal up to rounding")
            ax.text(0.0, -0.22, f"for k ≥ K the two losses are {word} "
                    f"({traj.arithmetic}); total time of the run {traj.seconds:.2f} s",
                    transform=ax.transAxes, fontsize=10.5, va="top")
    return fig


def _axes_fraction(ax: Any, value: float, log: bool) -> float:
    """Where ``value`` sits on the y axis, as a fraction of its height (0 bottom, 1 top)."""
    lo, hi = ax.get_ylim()
    if log:
        lo, hi, value = np.log10(lo), np.log10(hi), np.log10(value)
    return float((value - lo) / (hi - lo)) if hi != lo else 0.5


def coincide_after_k(traj: Trajectory) -> bool | None:
    """Whether the extension's ``w`` path equals plain GD on ``f`` from step ``K`` on
    (exactly for an exact run; up to float64 rounding, ``rtol = 1e-9``, for a float run,
    whose two computations sum in different orders)."""
    if not traj.base_path:
        return None
    K = traj.K
    for j, w in enumerate(traj.base_path):
        if K + j >= len(traj.thetas):
            break
        got, want = np.asarray(traj.thetas[K + j]["w"]), np.asarray(w)
        if traj.exact:
            if not np.array_equal(got, want):
                return False
        elif not np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-9,
                             atol=1e-12):
            return False
    return True


# ------------------------------------------------------------------------------- diagram


def _box(ax: Any, xy: tuple[float, float], wh: tuple[float, float], title: str, body: str,
         color: str) -> None:
    x, y = xy
    w, h = wh
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.01,rounding_size=0.015",
                                facecolor=color + "22", edgecolor=color, linewidth=2))
    ax.text(x + w / 2, y + h - 0.022, title, ha="center", va="top", fontsize=12,
            fontweight="bold", color=color)
    if body:
        ax.text(x + w / 2, y + h - 0.075, body, ha="center", va="top", fontsize=9.5,
                family="monospace", linespacing=1.35)


def _arrow(ax: Any, a: tuple[float, float], b: tuple[float, float], label: str = "",
           color: str = "#333333", style: str = "-|>", rad: float = 0.0, dashed: bool = False,
           label_xy: tuple[float, float] | None = None) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=16, color=color,
                                 linewidth=1.6, linestyle="--" if dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}"))
    if label:
        mx, my = label_xy or ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        ax.text(mx, my, label, ha="center", va="center", fontsize=9.5, color=color,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})


def _listing(items: list[str], limit: int = 6) -> str:
    if len(items) <= limit:
        return "\n".join(items)
    return "\n".join([*items[: limit - 1], f"... (+{len(items) - limit + 1} more)"])


def plot_diagram(traj: Trajectory) -> Figure:
    """(e) The blocks of the extension (base network, clock, gates, heads, registers)."""
    ext = traj.ext
    K = ext.K
    regs = [n for n, b in ext.blocks.items() if b == "register"]
    reg_lines = [f"{_short(n)}: {'x'.join(map(str, ext.shapes[n])) or 'scalar'}" for n in regs]
    reg_lines.append(f"w (output): {ext.shapes['w'][0]}")
    head_lines = [f"step {h.step}: {h.name} ({KIND_LABEL[h.kind]})" for h in
                  sorted(ext.heads, key=lambda h: (h.step, _KIND_ORDER.index(h.kind)))
                  if h.kind != "clock"]
    n_coef = sum(1 for b in ext.blocks.values() if b == "coefficient")
    n_labelled = sum(1 for h in ext.heads if h.kind == "read_labelled")
    base = "\n".join(textwrap.fill(part, 22) for part in
                     ext.net.describe().replace(" (", "\n(").split("\n"))
    with styled():
        fig = _figure(_height("diagram", traj))
        ax = fig.add_subplot()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        c = KIND_COLOR
        _box(ax, (0.01, 0.66), (0.17, 0.28), "input x",
             "one sample\n(label y enters\nthe loss only)", "#555555")
        _box(ax, (0.01, 0.12), (0.17, 0.38), "clock flags",
             f"z0 .. z{K}\nθ_0: 1 0 .. 0\nbefore step k:\nk+1 ones\n(thermometer)",
             c["clock"])
        _box(ax, (0.24, 0.12), (0.19, 0.38), "gates",
             f"g_k = sat(4Δ_k − 2)\nΔ_k = z_k − z_k+1\non at step k < {K}\n\n"
             f"G = sat(4 z_{K} − 2)\non from step {K}\n(saturated: ∇ = 0)", c["gate"])
        _box(ax, (0.24, 0.66), (0.19, 0.28), "base network f", f"{base}\nw = 0 at θ_0", c["base"])
        _box(ax, (0.49, 0.12), (0.25, 0.32), f"heads ({len(ext.heads)})",
             _listing(head_lines, 7) + f"\n+ {K} clock-advance heads", c["read_unlabelled"])
        _box(ax, (0.49, 0.54), (0.25, 0.30), f"registers ({len(regs)} + w)",
             _listing(reg_lines, 5) + f"\n+ {n_coef} trainable coefficients", c["output"])
        _box(ax, (0.80, 0.66), (0.19, 0.28), "F_main(x)",
             "G·f(x; w)\n+ Σ g_k · (labelled\n   read heads)", c["read_labelled"])
        _box(ax, (0.80, 0.30), (0.19, 0.26), "F_aux(x)",
             "one output per\nunlabelled-read,\ncompute, output\nand clock head",
             c["compute"])
        ax.text(0.895, 0.24, "L = mean ℓ(F_main, y)\n      + ½‖F_aux‖²\n"
                f"θ ← θ − η ∇L,  η = {ext.eta}", ha="center", va="top", fontsize=10.5)
        _arrow(ax, (0.18, 0.80), (0.24, 0.80))
        _arrow(ax, (0.18, 0.67), (0.49, 0.42), "x", label_xy=(0.30, 0.573))
        _arrow(ax, (0.18, 0.30), (0.24, 0.30), "z")
        _arrow(ax, (0.335, 0.50), (0.335, 0.66), "G", label_xy=(0.335, 0.53))
        _arrow(ax, (0.43, 0.30), (0.49, 0.30), "g_k")
        _arrow(ax, (0.43, 0.90), (0.80, 0.90), "f(x; w)", label_xy=(0.465, 0.92))
        _arrow(ax, (0.57, 0.54), (0.57, 0.44), "u (inputs)", label_xy=(0.57, 0.49))
        _arrow(ax, (0.67, 0.44), (0.67, 0.54), "GD writes", color=c["output"], dashed=True,
               label_xy=(0.67, 0.49))
        if n_labelled:
            _arrow(ax, (0.74, 0.40), (0.80, 0.68), f"{n_labelled} labelled", rad=-0.2,
                   color=c["read_labelled"], label_xy=(0.77, 0.60))
        _arrow(ax, (0.74, 0.34), (0.80, 0.40), color=c["compute"])
        ax.add_patch(FancyArrowPatch((0.60, 0.12), (0.095, 0.12), arrowstyle="-|>",
                                     mutation_scale=16, color=c["clock"], linewidth=1.6,
                                     linestyle="--",
                                     connectionstyle="bar,fraction=-0.1"))
        ax.text(0.335, 0.02, "GD writes the clock: the advance head of step k sets z_k+1 = 1",
                ha="center", va="center", fontsize=9.5, color=c["clock"],
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
        fig.suptitle(f"The extension: {ext.net.describe()} running {ext.program.name}",
                     x=0.01, ha="left", fontweight="bold")
        ax.set_title(f"{ext.n_parameters} trainable parameters (every coefficient), "
                     f"K = {K} GD steps; dashed arrows: what gradient descent writes",
                     loc="left", fontsize=11, fontweight="normal")
    return fig


PLOT_FUNCTIONS: dict[str, Callable[..., Figure]] = {
    "diagram": plot_diagram,
    "timeline": plot_timeline,
    "movement": plot_movement,
    "weights_path": plot_weights_path,
    "loss": plot_loss,
}
