"""Base networks: MLPs given by layer sizes and an activation; weights as one vector ``w``.

Layout of ``w`` (fixed, shared with the plain references of ``zoo.references``):
for each layer in order, ``W_l`` (``out x in``, row-major), then ``b_l`` (``out``),
unless ``bias=False``. Hidden layers use the activation, the output layer is affine.

Activations and their derivative conventions, stated once for the whole toolkit:

============  ===========================  ====================================
activation    value                        derivative (graph op)
============  ===========================  ====================================
identity      ``z``                        ``1``
relu          ``max(0, z)``                ``step(z)``: 1 if ``z > 0``, else 0 (ReLU'(0) = 0)
sat           ``min(1, max(0, z))``        ``dsat(z)``: 1 if ``0 < z < 1``, else 0
square        ``z**2``                     ``2 z``
tanh          float only                   ``1 - tanh(z)**2``
sigmoid       float only                   ``s(z) (1 - s(z))``
============  ===========================  ====================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import UsageError
from ..graph import core as g
from ..graph.core import Node

ACTIVATIONS = ("identity", "relu", "sat", "square", "tanh", "sigmoid")
EXACT_ACTIVATIONS = ("identity", "relu", "sat", "square")


class NetworkSpecError(UsageError):
    """A network specification that cannot be parsed or does not fit the data."""


@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``."""

    sizes: tuple[int, ...]
    activation: str = "relu"
    bias: bool = True

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(s < 1 for s in self.sizes):
            raise NetworkSpecError(f"layer sizes {self.sizes} need at least two positive entries")
        if self.activation not in ACTIVATIONS:
            raise NetworkSpecError(
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )

    @property
    def d(self) -> int:
        return self.sizes[0]

    @property
    def c(self) -> int:
        return self.sizes[-1]

    @property
    def exact(self) -> bool:
        return self.activation in EXACT_ACTIVATIONS or len(self.sizes) == 2

    def layers(self) -> list[tuple[int, int, int, int]]:
        """``(offset of W, n_out, n_in, offset of b or -1)`` for each layer."""
        out, off = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w_off = off
            off += n_out * n_in
            b_off = -1
            if self.bias:
                b_off = off
                off += n_out
            out.append((w_off, n_out, n_in, b_off))
        return out

    @property
    def n_params(self) -> int:
        return sum(o * i + (o if self.bias else 0)
                   for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def describe(self) -> str:
        arch = "-".join(str(s) for s in self.sizes)
        if len(self.sizes) == 2:
            return f"linear {arch}{'' if self.bias else ' (no bias)'} ({self.n_params} weights)"
        return f"mlp {arch} {self.activation} ({self.n_params} weights)"

    # ------------------------------------------------------------ graph forms

    def forward(self, w: Node, x: Node) -> Node:
        """The network's output ``f(x; w)`` as a graph (per sample)."""
        return self._forward(w, x)[0]

    def _forward(self, w: Node, x: Node) -> tuple[Node, list[tuple[Node, Node]]]:
        if w.shape != (self.n_params,):
            raise NetworkSpecError(f"weights of shape {w.shape}, expected ({self.n_params},)")
        h = x
        cache: list[tuple[Node, Node]] = []
        layers = self.layers()
        for idx, (w_off, n_out, n_in, b_off) in enumerate(layers):
            W = g.reshape(g.slice_(w, w_off, w_off + n_out * n_in), (n_out, n_in))
            z = g.matmul(W, h)
            if b_off >= 0:
                z = g.add(z, g.slice_(w, b_off, b_off + n_out))
            cache.append((h, z))
            h = z if idx == len(layers) - 1 else activate(self.activation, z)
        return h, cache


def activate(activation: str, z: Node) -> Node:
    """Apply an activation (see the table in the module docstring)."""
    if activation == "identity":
        return z
    if activation == "square":
        return g.power(z, 2)
    return g.unary(activation, z)


_MLP_RE = re.compile(r"^mlp:(\d+(?:-\d+)+)(?::([a-z]+))?$")


def parse_network(spec: str, d: int, c: int) -> MLP:
    """Parse ``linear``, ``linear-nobias`` or ``mlp:4-5-3:relu`` and check it fits ``d``, ``c``."""
    spec = spec.strip()
    if spec.startswith("cnn:"):  # convolutional/residual networks (networks.cnn)
        from .cnn import parse_cnn
        return parse_cnn(spec, d, c)  # type: ignore[return-value]
    if spec in ("linear", "linear-nobias"):
        return MLP((d, c), "identity", bias=spec == "linear")
    m = _MLP_RE.match(spec)
    if not m:
        raise NetworkSpecError(
            f"cannot read network spec {spec!r}; write 'linear' or 'mlp:SIZES:ACT' "
            "such as 'mlp:4-5-3:relu'"
        )
    sizes = tuple(int(s) for s in m.group(1).split("-"))
    act = m.group(2) or "relu"
    net = MLP(sizes, act)
    if sizes[0] != d or sizes[-1] != c:
        raise NetworkSpecError(
            f"network {spec!r} maps {sizes[0]} inputs to {sizes[-1]} outputs but the data set "
            f"has {d} features and {c} classes; use mlp:{d}-...-{c}"
        )
    return net


def loss_gradient(net: MLP, w: Node, x: Node, y: Node) -> Node:
    """Per-sample gradient ``J(x; w)^T (f(x; w) - y)`` of ``1/2 |f(x; w) - y|^2`` as a graph.

    Derived by the toolkit's one reverse-mode differentiation (``graph.autodiff``)
    in per-sample mode; affine in ``y``, which the tracer exploits (section 2).
    """
    from ..graph.autodiff import gradients

    r = g.sub(net.forward(w, x), y)
    loss = g.scale(g.vdot(r, r), Fraction(1, 2))
    grad = gradients(loss, [w], per_sample=True)[w]
    if grad is None:
        raise NetworkSpecError("the network output does not depend on its weights")
    return grad
