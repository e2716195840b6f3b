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
        if ins.kind.startswith("read") and ins.source is not None:
            # a one-hot expanded read (ir.Instruction.source): the algorithm evaluates phi at
            # each sample's own label only, so a division by 0 there is its error; the other
            # terms of the expansion are multiplied by y_c = 0 (total reciprocal, 1/0 := 0)
            evaluate([bmean(ins.source)], backend, values, x, y, strict=True)
            (val,) = evaluate([bmean(ins.body)], backend, values, x, y, strict=False)
        elif ins.kind.startswith("read"):
            (val,) = evaluate([bmean(ins.body)], backend, values, x, y, strict=True)
        else:
            (val,) = evaluate([ins.body], backend, values, strict=True)
        values[ins.target.name] = val
    return values
