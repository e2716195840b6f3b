"""Result records for the machine-checked lemmas and a plain-text printer.

A lemma is a conjunction of *checks*; each check is PROVED (an identity that
simplifies to zero, or ``unsat`` of a negated claim), FAILED (a concrete
counterexample was found and is reported), or UNKNOWN (neither: e.g. a z3
``unknown``/time-out, or an identity that neither simplified to zero nor was
refuted). A lemma is PROVED only if every check is PROVED.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

PROVED = "PROVED"
FAILED = "FAILED"
UNKNOWN = "UNKNOWN"
STATUSES = (PROVED, FAILED, UNKNOWN)


@dataclass
class Check:
    """One proof obligation of a lemma and its outcome."""

    name: str
    status: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"bad status {self.status!r}")


@dataclass
class LemmaResult:
    """Outcome of one lemma: its statement, proof method, status and details."""

    name: str
    statement: str
    method: str
    status: str
    details: str = ""
    checks: list[Check] = field(default_factory=list)
    hypotheses: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"bad status {self.status!r}")

    @property
    def proved(self) -> bool:
        """True iff the lemma is PROVED."""
        return self.status == PROVED


def combine_status(checks: list[Check]) -> str:
    """FAILED if any check failed, else UNKNOWN if any is unknown (or none ran), else PROVED."""
    if not checks:
        return UNKNOWN
    if any(c.status == FAILED for c in checks):
        return FAILED
    if any(c.status == UNKNOWN for c in checks):
        return UNKNOWN
    return PROVED


def make_result(
    name: str,
    statement: str,
    method: str,
    checks: list[Check],
    hypotheses: dict[str, Any] | None = None,
    seconds: float = 0.0,
) -> LemmaResult:
    """Assemble a :class:`LemmaResult` from its checks."""
    status = combine_status(checks)
    lines = [f"[{c.status}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in checks]
    return LemmaResult(
        name=name,
        statement=statement,
        method=method,
        status=status,
        details="\n".join(lines),
        checks=list(checks),
        hypotheses=dict(hypotheses or {}),
        seconds=seconds,
    )


def format_result(result: LemmaResult, verbose: bool = True) -> str:
    """Render a result as text: statement, method, hypotheses, checks and the verdict."""
    out = [f"== lemma {result.name} =="]
    if verbose:
        out.append("statement: " + result.statement.strip())
        out.append("method:    " + result.method.strip())
        if result.hypotheses:
            hyp = ", ".join(f"{k}={v}" for k, v in result.hypotheses.items())
            out.append("hypotheses: " + hyp)
        for c in result.checks:
            if c.status == PROVED:
                out.append(f"  [{c.status}] {c.name}")
            else:
                out.append(f"  [{c.status}] {c.name}: {c.detail}")
    out.append(f"{result.name}: {result.status} ({result.seconds:.2f} s)")
    return "\n".join(out)


def print_result(result: LemmaResult, verbose: bool = True) -> None:
    """Print :func:`format_result`."""
    print(format_result(result, verbose=verbose), flush=True)


def run_as_script(prove: Callable[[], LemmaResult]) -> NoReturn:
    """``python proofs/<lemma>.py``: print the result, exit 0 only if PROVED."""
    result = prove()
    print_result(result)
    sys.exit(0 if result.proved else 1)
