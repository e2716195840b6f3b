"""The program IR of construction.md section 2: SSA registers and four instructions.

* ``read_labelled``:   ``R <- mean_i phi(u, x_i, y_i)`` with ``phi`` linear in ``y``;
* ``read_unlabelled``: ``R <- mean_i psi(u, x_i)``;
* ``compute``:         ``S <- Phi(u)``;
* ``output``:          ``w <- Phi(u)`` (exactly one, last).

Bodies are graphs (``graph.core``) whose leaves are register references (``reg``),
constants and, for reads, the per-sample ``x`` and ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..graph.core import Node, leaves, topological

#: Graph operations with no exact rational value (float-only; the exact backend refuses them).
FLOAT_ONLY_OPS = frozenset({"tanh", "dtanh", "sigmoid", "dsigmoid", "exp", "log"})

KINDS = ("read_labelled", "read_unlabelled", "compute", "output")


@dataclass(frozen=True)
class Register:
    """A write-once register: a name and a (per-program) shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        out = 1
        for s in self.shape:
            out *= s
        return out


@dataclass
class Instruction:
    """One instruction; ``step`` is filled in by the scheduler (ASAP)."""

    kind: str
    target: Register
    body: Node
    label: str = ""
    step: int = -1
    #: for a one-hot expanded read, the body before the expansion, ``phi(u, x, y)``: the
    #: interpreter checks the divisions of the algorithm on it, at each sample's own label
    #: (the expansion's other terms are multiplied by ``y_c = 0``; a division by 0 there is
    #: not the algorithm's)
    source: Node | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the registers the body reads."""
        return tuple(sorted({n.attrs["name"] for n in leaves([self.body], "reg")}))

    def describe(self) -> str:
        arrow = {"read_labelled": "mean_i[...(x_i, y_i)]", "read_unlabelled": "mean_i[...(x_i)]",
                 "compute": "Phi(...)", "output": "Phi(...)"}[self.kind]
        uses = ", ".join(self.inputs) or "-"
        rhs = self.label or arrow
        if rhs.startswith(self.target.name + " <- "):
            rhs = rhs[len(self.target.name) + 4:]
        return f"{self.target.name} <- {rhs}  [{self.kind}; uses {uses}]"


@dataclass
class Program:
    """A traced learning algorithm: instructions in SSA order, the last one the output."""

    name: str
    d: int
    c: int
    instructions: list[Instruction]
    options: dict[str, object] = field(default_factory=dict)
    x: Node | None = None
    y: Node | None = None
    #: every Python float the tracer read as an exact rational (``float_constants="exact"``),
    #: as ``(float, Fraction)`` in the order met; empty when floats were refused.
    float_constants: list[tuple[float, Fraction]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from ..graph.core import data_x, data_y

        if self.x is None:
            self.x = data_x(self.d)
        if self.y is None:
            self.y = data_y(self.c)

    @property
    def output(self) -> Instruction:
        return self.instructions[-1]

    @property
    def registers(self) -> list[Register]:
        return [ins.target for ins in self.instructions]

    @property
    def depth(self) -> int:
        """``K``: the number of GD steps (T4), valid after scheduling."""
        return self.output.step + 1

    @property
    def float_only_ops(self) -> set[str]:
        """The float-only operations (tanh, sigmoid, exp, log) the bodies use; empty if exact."""
        nodes = topological([ins.body for ins in self.instructions])
        return {n.op for n in nodes if n.op in FLOAT_ONLY_OPS}

    def by_step(self) -> dict[int, list[Instruction]]:
        out: dict[int, list[Instruction]] = {}
        for ins in self.instructions:
            out.setdefault(ins.step, []).append(ins)
        return out

    def __str__(self) -> str:
        """The typed, shape-annotated listing of :mod:`symbolic_universality.printing`."""
        from ..printing import program_text

        return program_text(self)

    def _repr_html_(self) -> str:
        from ..printing import program_html

        return program_html(self)

    def describe(self) -> str:
        lines = [f"program {self.name}: {len(self.instructions)} instructions, depth K = "
                 f"{self.depth}"]
        for ins in self.instructions:
            lines.append(f"  step {ins.step}: {ins.describe()}")
        return "\n".join(lines)
