"""Running sympy work under a time budget where it can be stopped safely: a forked process.

sympy has no time-out of its own, and an asynchronous exception (SIGALRM) raised inside
it can leave its caches corrupt or crash the interpreter. :func:`run_with_budget` runs
the work in a forked child instead; past the budget the child is terminated, nothing in
this process was interrupted, and :class:`BudgetExceeded` is raised.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["BudgetExceeded", "run_with_budget"]


class BudgetExceeded(Exception):
    """The work did not finish within its budget (it was stopped in its own process)."""


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, re-raised there
        try:
            conn.send(("error", exc))
        except Exception:  # the exception itself does not pickle
            conn.send(("error", RuntimeError(traceback.format_exc(limit=3))))
    finally:
        conn.close()


def run_with_budget(fn: Callable[..., Any], *args: Any, seconds: float | None,
                    **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, in a forked child when ``seconds`` is given.

    Raises :class:`BudgetExceeded` when the child runs past ``seconds`` (it is then
    terminated), and re-raises in this process whatever ``fn`` raised in the child.
    """
    if seconds is None:
        return fn(*args, **kwargs)
    mp = multiprocessing.get_context("fork")
    parent, child = mp.Pipe(duplex=False)
    proc = mp.Process(target=_child, args=(child, fn, args, kwargs), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(seconds):
            raise BudgetExceeded(f"not finished within {seconds:g} s")
        kind, value = parent.recv()
    except EOFError:
        raise RuntimeError("the budgeted computation died without an answer") from None
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        parent.close()
    if kind == "error":
        raise value
    return value
