"""Progress on a terminal for long runs (tqdm), silent everywhere else.

:func:`bar` returns a callable ``advance(n=1, note="")``. It draws a tqdm bar on stderr
only when ``enabled`` is true and stderr is a terminal (so pipes, CI logs, notebooks
without a terminal and ``--quiet`` stay quiet), and a no-op otherwise. Progress is never
part of a result: it only shows how far a run is (steps done of K, obligations of N).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["bar", "enabled_by_default"]

_DEFAULT = {"enabled": True}


def enabled_by_default(value: bool | None = None) -> bool:
    """Read (or set, e.g. ``--quiet``) whether progress is drawn when a terminal is present."""
    if value is not None:
        _DEFAULT["enabled"] = bool(value)
    return _DEFAULT["enabled"]


@contextlib.contextmanager
def bar(total: int, desc: str, unit: str = "step",
        enabled: bool | None = None) -> Iterator[Callable[..., None]]:
    """A progress bar of ``total`` units (see the module docstring)."""
    on = enabled_by_default() if enabled is None else enabled
    if not on or not sys.stderr.isatty() or total <= 1:
        yield lambda n=1, note="": None
        return
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        yield lambda n=1, note="": None
        return
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
              dynamic_ncols=True) as t:
        def advance(n: int = 1, note: str = "") -> None:
            if note:
                t.set_postfix_str(note, refresh=False)
            t.update(n)

        yield advance
