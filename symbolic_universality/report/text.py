"""Plain-text rendering shared by the summaries of every result (tables, short lists)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["short", "table"]


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A left-aligned text table with a rule under the header."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in cells[1:]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def short(names: Sequence[str], limit: int = 6) -> str:
    """``a, b, c, ... (+n)``: the first ``limit`` names and how many more."""
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... (+{len(names) - limit})"
