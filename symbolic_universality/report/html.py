"""The self-contained HTML page of a report (no external files needed to view it).

Plots are embedded as base64 ``data:`` URIs and also linked to the PNG files written
beside ``index.html``. Everything the page shows is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1180px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.95em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.verdict { display: inline-block; padding: 0.25em 0.8em; border-radius: 4px; color: white;
           font-weight: bold; }
.verified { background: #1a7f37; } .refuted { background: #cf222e; }
.unknown, .error, .none { background: #9a6700; }
.yes { color: #1a7f37; font-weight: bold; } .no { color: #cf222e; font-weight: bold; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.9em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.92em; color: #444; }
.muted { color: #666; font-size: 0.9em; }
"""


@dataclass
class Figure:
    """One plot of the page: its file name, PNG bytes, heading and caption."""

    name: str
    filename: str
    png: bytes
    title: str
    caption: str


def _e(v: Any) -> str:
    return html.escape(str(v))


def _mark(v: bool | None) -> str:
    if v is None:
        return '<span class="muted">n/a</span>'
    return '<span class="yes">yes</span>' if v else '<span class="no">NO</span>'


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; cells are inserted as given (escape them first)."""
    head = ""
    if header:
        head = "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>"
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for ``png``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(*, title: str, summary: Mapping[str, Any], report: Any, program: str,
           figures: Sequence[Figure], extra: Mapping[str, Any], rules: str | None,
           notes: Sequence[str]) -> str:
    """The whole page as a string (see the module docstring)."""
    status = str(getattr(report, "status", None) or summary.get("status", "none"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p><span class="verdict {_e(status)}">{_e(status.upper())}</span> '
        f"{_e(getattr(report, 'message', '') or '')}</p>",
        "<h2>Summary</h2>",
        _table(None, [[f"<b>{_e(k)}</b>", _e(v)] for k, v in summary.items()]),
    ]
    if report is not None and getattr(report, "steps", None):
        parts.append("<h2>Certificate</h2>")
        checks = [
            ("T1", "w_K = A(D) (reference interpreter)", report.final_weights_equal),
            ("", "A(D) = independent NumPy reference", report.reference_equal),
            ("T2", "F_main = f(.; A(D)) on training and held-out inputs",
             report.forward_output_equal),
            ("T2", "F_aux = 0", report.aux_zero),
            ("T3", "step K moves only w, as plain GD on f", report.inert_after_K),
        ]
        parts.append(_table(["", "claim", "holds"],
                            [[_e(a), _e(b), _mark(c)] for a, b, c in checks]))
        if report.final_weights:
            shown = report.final_weights[:24]
            more = len(report.final_weights) - len(shown)
            text = ", ".join(shown) + (f", ... (+{more})" if more > 0 else "")
            parts.append(f"<p>A(D) = [{_e(text)}]</p>")
        parts.append("<h2>Per-step table (exact checker)</h2>")
        rows = []
        for s in report.steps:
            verdict = s.status if s.mismatch is None else f"{s.status}: {s.mismatch.sentence()}"
            rows.append([_e(s.step), _e(", ".join(s.written)), _e(s.moved_entries),
                         _e(s.predicted_moved_entries), _e(", ".join(s.moved)),
                         _e(verdict), _e(s.seconds)])
        parts.append(_table(["step", "written (lemmas)", "entries moved", "predicted",
                             "parameters moved", "verdict", "seconds"], rows))
    if extra:
        parts.append("<h2>Other backends</h2>")
        rows = []
        for name, res in extra.items():
            res = res if isinstance(res, Mapping) else {"status": res}
            msg = res.get("message") or res.get("detail") or ""
            rows.append([_e(name), _e(res.get("status", "?")), _e(msg)])
        parts.append(_table(["backend", "status", "message"], rows))
    parts.append("<h2>The program</h2>")
    parts.append(f"<pre>{_e(program)}</pre>")
    if rules:
        parts.append("<h2>GD update rules (algebra backend)</h2>")
        parts.append(f"<pre>{_e(rules)}</pre>")
    parts.append("<h2>Plots</h2>")
    for fig in figures:
        parts.append(
            f'<figure id="{_e(fig.name)}"><h3>{_e(fig.title)}</h3>'
            f'<img src="{data_uri(fig.png)}" alt="{_e(fig.title)}">'
            f'<figcaption>{_e(fig.caption)} (file: <a href="{_e(fig.filename)}">'
            f"{_e(fig.filename)}</a>)</figcaption></figure>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
