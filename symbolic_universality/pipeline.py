"""The pipeline, one call per stage (architecture.md):

algorithm --trace--> program --schedule--> steps --compile--> extension
--differentiate--> GD rules --check--> report / certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .extension.compiler import Extension, compile_extension
from .networks.mlp import MLP, parse_network
from .program.tracer import trace
from .verify.steps import Report, check_exact
from .zoo.algorithms import ALGORITHMS
from .zoo.datasets import Dataset, held_out, load_dataset


class UsageError(ValueError):
    """A request that names something unknown or inconsistent (one sentence, with the fix)."""


@dataclass
class Job:
    """A compiled instance: the data, the network, the extension and the reference weights."""

    algorithm: str
    options: dict[str, Any]
    data: Dataset
    net: MLP
    extension: Extension
    held_out: np.ndarray
    samples: int | None

    def reference_weights(self, x: np.ndarray | None = None, y: np.ndarray | None = None
                          ) -> np.ndarray:
        """``A(D)`` by the independent plain-NumPy reference of ``zoo.references``."""
        x = self.data.x if x is None else x
        y = self.data.y if y is None else y
        return ALGORITHMS[self.algorithm].reference(self.net, x, y, **self.options)


def algorithm_entry(name: str) -> Any:
    if name not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def compile_algorithm(algorithm: str, net: MLP, **options: Any) -> Extension:
    """Trace, schedule and compile ``algorithm`` for ``net`` (no data involved: T6)."""
    entry = algorithm_entry(algorithm)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise UsageError(
            f"algorithm {algorithm!r} has no option {unknown[0]!r}; its options are: "
            f"{', '.join(entry.options) or 'none'}"
        )
    program = trace(entry.traced, net.d, net.c, name=algorithm, net=net, **options)
    return compile_extension(net, program)


def prepare(algorithm: str, network: str, dataset: str, samples: int | None = None,
            fault: str | None = None, **options: Any) -> Job:
    """Load the data, parse the network and compile the extension."""
    data = load_dataset(dataset, samples)
    net = parse_network(network, data.d, data.c)
    ext = compile_algorithm(algorithm, net, **options)
    if fault is not None:
        ext = compile_extension(net, ext.program, fault=fault)
    return Job(algorithm, dict(options), data, net, ext, unseen_inputs(data, samples), samples)


def unseen_inputs(data: Dataset, samples: int | None, count: int = 3) -> np.ndarray:
    """Inputs the algorithm never saw (for T2): held-out samples of the set, else shifted ones."""
    try:
        return held_out(data.name, samples, count)
    except ValueError:
        shifted = data.x[:count].copy()
        return shifted + Fraction(1, 7)


def verify_exact(job: Job, **check_options: Any) -> Report:
    """The exact checker on a prepared job, with the independent reference's weights."""
    return check_exact(job.extension, job.data.x, job.data.y,
                       reference_w=job.reference_weights(), held_out=job.held_out,
                       dataset=job.data.name, **check_options)
