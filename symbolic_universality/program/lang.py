"""The operations an algorithm may use on traced values (network-computable, section 2).

Affine maps and products come from the operators of :class:`~.tracer.Traced`;
this module adds the activations, selection, the reciprocal unit and the base
network's own forward pass and per-sample gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..graph import core as g
from ..networks.mlp import MLP, loss_gradient
from .tracer import Traced, TraceError, _as_const

__all__ = [
    "relu", "step", "sat", "where", "outer", "recip", "concat", "dot", "forward", "loss_grad",
    "square",
]


def _node(v: Any) -> g.Node:
    return v.node if isinstance(v, Traced) else _as_const(v)


def _tracer(*vals: Any) -> Any:
    for v in vals:
        if isinstance(v, Traced):
            return v.tracer
    raise TraceError("this operation needs at least one traced value")


def _wrap(node: g.Node, *vals: Any) -> Traced:
    return Traced(node, _tracer(*vals))


def relu(a: Traced) -> Traced:
    """``max(0, a)`` (derivative convention ReLU'(0) = 0)."""
    return _wrap(g.unary("relu", _node(a)), a)


def step(a: Traced) -> Traced:
    """Heaviside step: 1 where ``a > 0``, else 0."""
    return _wrap(g.unary("step", _node(a)), a)


def sat(a: Traced) -> Traced:
    """The saturated linear unit ``min(1, max(0, a))``."""
    return _wrap(g.unary("sat", _node(a)), a)


def square(a: Traced) -> Traced:
    return _wrap(g.power(_node(a), 2), a)


def recip(a: Traced) -> Traced:
    """The reciprocal unit ``1/a`` (for exact rational algorithms that divide)."""
    return _wrap(g.unary("recip", _node(a)), a)


def where(cond: Traced, a: Any, b: Any) -> Traced:
    """Select ``a`` where ``cond`` is 1 and ``b`` where it is 0 (``cond`` must be 0/1, e.g. a step).

    Network-computable as ``cond * a + (1 - cond) * b`` with product units.
    """
    c = _node(cond)
    one = g.const(1, label="1")
    return _wrap(g.add(g.mul(c, _node(a)), g.mul(g.sub(one, c), _node(b))), cond, a, b)


def outer(a: Any, b: Any) -> Traced:
    return _wrap(g.outer(_node(a), _node(b)), a, b)


def dot(a: Any, b: Any) -> Traced:
    """Frobenius inner product."""
    return _wrap(g.vdot(_node(a), _node(b)), a, b)


def concat(parts: Sequence[Any]) -> Traced:
    return _wrap(g.concat([g.flatten(_node(p)) for p in parts]), *parts)


def forward(net: MLP, w: Traced, x: Traced) -> Traced:
    """The base network's output ``f(x; w)``."""
    return _wrap(net.forward(_node(w), _node(x)), w, x)


def loss_grad(net: MLP, w: Traced, x: Traced, y: Traced) -> Traced:
    """Per-sample gradient of ``1/2 |f(x; w) - y|^2`` with respect to ``w``."""
    return _wrap(loss_gradient(net, _node(w), _node(x), _node(y)), w, x, y)
