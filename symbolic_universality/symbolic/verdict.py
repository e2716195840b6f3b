"""The verdict of one obligation on one backend (shared by the algebra and SMT provers).

``proved``  -- an identity (algebra: the normal form of the difference is 0, or 0 in every
              case of the sign conditions; SMT: the negation is ``unsat``);
``refuted`` -- a concrete rational counterexample whose *exact replay* confirms the mismatch;
``unknown`` -- neither (a time-out, a solver ``unknown``, a non-zero normal form with no
              confirmed counterexample): never reported as verified;
``error``   -- the backend could not process the obligation (with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("proved", "refuted", "unknown", "error")

__all__ = ["STATUSES", "Verdict", "combine"]


@dataclass
class Verdict:
    """Outcome of one obligation (see the module docstring)."""

    key: str
    step: int
    block: str
    lemma: str
    labels: tuple[int, ...] | None
    backend: str
    status: str
    seconds: float
    method: str = ""
    detail: str = ""
    sha256: str | None = None
    file: str | None = None
    counterexample: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key, "step": self.step, "block": self.block, "lemma": self.lemma,
            "labels": None if self.labels is None else list(self.labels),
            "status": self.status, "seconds": round(self.seconds, 4), "method": self.method,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.sha256:
            out["smtlib_sha256"] = self.sha256
        if self.file:
            out["file"] = self.file
        if self.counterexample:
            out["counterexample"] = self.counterexample
        return out


def combine(statuses: list[str]) -> str:
    """``verified`` if every obligation is proved; else ``refuted`` > ``error`` > ``unknown``."""
    if all(s == "proved" for s in statuses):
        return "verified"
    if "refuted" in statuses:
        return "refuted"
    if "error" in statuses:
        return "error"
    return "unknown"
