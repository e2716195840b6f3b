"""The lifting lemma's hypothesis, checked on the graphs themselves (generic-sample proofs).

**Lemma (lifting; construction.md section 7, docs/theory.md).** Let ``G(theta; D)`` be a
graph evaluated on a data set ``D = ((x_1, y_1), ..., (x_n, y_n))`` of any size ``n``. If
``G`` is *mean-affine* -- ``G(theta; D) = A(theta) + sum_j B_j(theta) mean_i v_j(theta,
x_i, y_i)`` with ``A``, ``B_j``, ``v_j`` reduction-free -- then

    ``G(theta; D) = mean_i G(theta; {(x_i, y_i)})``

(the value on ``D`` is the mean of the values on the one-sample data sets), because
``A + sum_j B_j mean_i v_ij = mean_i (A + sum_j B_j v_ij)`` and on one sample a mean is
the value itself. So an identity ``G(theta; {(x, y)}) = P(theta, x, y)`` in one generic
sample, with ``P`` mean-affine too, lifts to ``G(theta; D) = mean_i P(theta, x_i, y_i)``
on every data set of every size.

:func:`mean_affine` decides the hypothesis *structurally*, by one pass over the graph,
tagging each node:

* ``C``  -- unbatched, no reduction over samples in its cone (a function of ``theta``);
* ``B(d)`` -- batched (per sample), homogeneous of degree ``d`` in ``inv_n = 1/n``: its
  value at sample ``i`` on ``D`` is ``n^-d`` times its value on the one-sample set
  ``{(x_i, y_i)}`` (``x``, ``y`` are ``B(0)``, ``inv_n`` is ``B(1)``; products add degrees;
  sums need equal degrees; a nonlinear unit needs degree 0);
* ``M``  -- unbatched and affine in means: ``bmean`` of a ``B(0)``, ``bsum`` of a ``B(1)``,
  ``bdot`` of degrees summing to 1; ``M + M``, ``M + C``, ``C * M`` and the linear
  reshapings stay ``M``;
* anything else (a product of two means, a unit applied to a mean, a mean used per sample,
  a ``bsum`` without its ``1/n``, mixed degrees) is *not* mean-affine, and the lifting
  lemma does not apply: the generic mode then refuses to claim every data set.

Every output of the gradient graph and every register prediction must be ``C`` or ``M``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..graph.core import Node, topological

__all__ = ["LiftingCheck", "check_extension", "mean_affine"]

_LINEAR_UNARY = frozenset(("neg", "scale", "reshape", "transpose", "slice", "pad", "sum",
                           "broadcast"))
_NONLINEAR_UNARY = frozenset(("relu", "step", "sat", "dsat", "tanh", "dtanh", "sigmoid",
                              "dsigmoid", "recip", "pow", "exp", "log", "softmax",
                              "logsumexp"))
_BILINEAR = frozenset(("mul", "matmul", "outer", "vdot"))
_BAD = ("X", -1)


@dataclass
class LiftingCheck:
    """The outcome of the structural check: ``ok`` and, if not, the first offending node."""

    ok: bool
    outputs: int
    nodes: int
    reason: str = ""

    def sentence(self) -> str:
        if self.ok:
            return (f"mean-affine: {self.outputs} output(s), {self.nodes} nodes checked "
                    "(lifting lemma hypothesis holds)")
        return f"not mean-affine: {self.reason}"


def _tag(node: Node, ins: list[tuple[str, int]]) -> tuple[tuple[str, int], str]:
    op = node.op
    if op in ("param", "const", "reg"):
        return ("C", 0), ""
    if op in ("x", "y"):
        return ("B", 0), ""
    if op == "inv_n":
        return ("B", 1), ""
    if any(t == _BAD for t in ins):
        return _BAD, ""
    kinds = [t[0] for t in ins]
    if op in _LINEAR_UNARY:
        return ins[0], ""
    if op in _NONLINEAR_UNARY:
        t = ins[0]
        if t[0] == "C" or t == ("B", 0):
            return t, ""
        return _BAD, f"{op} applied to a {'mean' if t[0] == 'M' else '1/n-weighted value'}"
    if op in ("add", "sub", "concat"):
        if all(k == "C" for k in kinds):
            return ("C", 0), ""
        if all(k in ("C", "M") for k in kinds):
            return ("M", 0), ""
        if "M" in kinds:
            return _BAD, f"{op} of a mean with a per-sample value"
        degs = {t[1] if t[0] == "B" else 0 for t in ins}
        if len(degs) != 1:
            return _BAD, f"{op} of per-sample values of different 1/n degrees {sorted(degs)}"
        return ("B", degs.pop()), ""
    if op in _BILINEAR:
        a, b = ins
        if a[0] == "C" and b[0] == "C":
            return ("C", 0), ""
        if "M" in (a[0], b[0]):
            if "B" in (a[0], b[0]):
                return _BAD, f"{op} of a mean with a per-sample value"
            if a[0] == "M" and b[0] == "M":
                return _BAD, f"{op} of two means (not affine in the means)"
            return ("M", 0), ""
        return ("B", (a[1] if a[0] == "B" else 0) + (b[1] if b[0] == "B" else 0)), ""
    if op == "bmean":
        if ins[0] == ("B", 0):
            return ("M", 0), ""
        return _BAD, f"bmean of {ins[0]}"
    if op == "bsum":
        if ins[0] == ("B", 1):
            return ("M", 0), ""
        return _BAD, f"bsum of a value of 1/n degree {ins[0][1]} (a sum, not a mean)"
    if op == "bdot":
        a, b = ins
        if a[0] == "B" and b[0] == "B" and a[1] + b[1] == 1:
            return ("M", 0), ""
        return _BAD, f"bdot of degrees {a} and {b} (not a mean)"
    return _BAD, f"operation {op!r} is not covered by the lifting lemma"


def mean_affine(outputs: Sequence[Node]) -> LiftingCheck:
    """Whether every output is ``C`` or ``M`` (see the module docstring)."""
    order = topological(list(outputs))
    tags: dict[int, tuple[str, int]] = {}
    for node in order:
        t, why = _tag(node, [tags[i.id] for i in node.inputs])
        tags[node.id] = t
        if t == _BAD and why:
            return LiftingCheck(False, len(outputs), len(order), f"{node!r}: {why}")
    for o in outputs:
        if tags[o.id][0] not in ("C", "M"):
            return LiftingCheck(False, len(outputs), len(order),
                                f"output {o!r} is per-sample ({tags[o.id]}), not a mean")
    return LiftingCheck(True, len(outputs), len(order))


def check_extension(ext: object) -> list[tuple[str, LiftingCheck]]:
    """The hypotheses of the lifting lemma for one extension:

    * the gradient graph (every block's ``dL/dtheta``) is mean-affine;
    * every register prediction is: a read is ``bmean`` of a reduction-free per-sample
      body, a compute/output body is reduction-free and unbatched (``C``).
    """
    from ..graph.core import bmean

    grads = ext.gradient_nodes()  # type: ignore[attr-defined]
    out = [("gradient graph dL/dtheta",
            mean_affine([g for g in grads.values() if g is not None]))]
    bodies = []
    for ins in ext.program.instructions:  # type: ignore[attr-defined]
        bodies.append(bmean(ins.body) if ins.kind.startswith("read") else ins.body)
    out.append(("register predictions (reads: mean of a per-sample body)", mean_affine(bodies)))
    return out
