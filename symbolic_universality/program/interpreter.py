"""Reference interpreter: run a program directly on data, exactly or in float64.

This is the algorithm ``A`` itself (no network, no gradient descent): reads are
means over the samples, computes are evaluated on the registers. Its register
values fill the predicted trajectory; its output is ``A(D)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.scalars import Backend
from ..graph.evaluate import evaluate
from .ir import Program


def run_program(
    program: Program, x: np.ndarray, y: np.ndarray, backend: Backend
) -> dict[str, Any]:
    """All register values of ``program`` on data ``(x, y)``; the output under its name."""
    from ..graph.core import bmean

    values: dict[str, Any] = {}
    for ins in program.instructions:
        if ins.kind.startswith("read"):
            # a one-hot expanded read is evaluated at the sample's own label (ir.Instruction)
            body = ins.source if ins.source is not None else ins.body
            (val,) = evaluate([bmean(body)], backend, values, x, y, strict=True)
        else:
            (val,) = evaluate([ins.body], backend, values, strict=True)
        values[ins.target.name] = val
    return values
