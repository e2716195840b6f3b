"""Float64 execution of the extension at scale, its numeric check, and the PyTorch export.

* :mod:`.run`: GD on the extension with the float64 backend (chunked, pruned);
* :mod:`.check`: the numeric check of construction.md section 6;
* :mod:`.torch_export`: the extension as a ``torch.nn.Module`` (needs PyTorch);
* :mod:`.cli`: ``symuni run`` and the ``numeric`` / ``torch`` verify backends.
"""

from .check import NumericReport, check_numeric
from .run import DEFAULT_CHUNK, forward, gate_values, gd_step, gradient, run_gd

__all__ = [
    "DEFAULT_CHUNK",
    "NumericReport",
    "check_numeric",
    "forward",
    "gate_values",
    "gd_step",
    "gradient",
    "run_gd",
]
