"""Reverse-mode differentiation, written once, as a graph-to-graph transformation.

``gradients(output, wrt)`` returns, for each node of ``wrt``, a node computing the
derivative of the scalar ``output`` with respect to it. The derivative graph is an
ordinary graph, so the same evaluator runs it on exact rationals, sympy objects or
float64 arrays: one differentiation for every backend (architecture.md).

Two modes:

* ``per_sample=False`` (the loss): the adjoint of an unbatched node that is used by
  batched nodes is summed over the samples (``bsum``);
* ``per_sample=True``: adjoints stay per sample; this is how a traced algorithm takes
  the per-sample gradient of its base network, and how a labelled read is transposed.

Derivative conventions (``networks.activations``): ``relu' = step`` with
``step(0) = 0``; ``sat' = dsat`` (1 on the open interval ``(0, 1)``); ``step'`` = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import core as g
from .core import GraphError, Node

_NO_ADJOINT = ("step", "dsat", "x", "y", "inv_n", "param", "const", "reg")


def gradients(
    output: Node,
    wrt: Sequence[Node],
    *,
    seed: Node | None = None,
    per_sample: bool = False,
) -> dict[Node, Node | None]:
    """Derivative nodes of ``output`` with respect to each node of ``wrt``.

    ``seed`` is the adjoint of ``output`` (default: the constant 1 via a scale).
    A node of ``wrt`` that ``output`` does not depend on maps to ``None``.
    """
    if output.shape != () and seed is None:
        raise GraphError("gradients of a non-scalar output need a seed")
    order = g.topological([output])
    relevant = g.depends_on([output], wrt)
    adj: dict[int, Node] = {}
    if seed is None:
        seed = g.const(1, label="seed")
    adj[output.id] = seed
    for node in reversed(order):
        a = adj.get(node.id)
        if a is None or node.op in _NO_ADJOINT:
            continue
        for inp, contrib in _vjp(node, a, relevant, per_sample):
            if contrib is None:
                continue
            prev = adj.get(inp.id)
            adj[inp.id] = contrib if prev is None else g.add(prev, contrib)
    return {w: adj.get(w.id) for w in wrt}


def _unbroadcast(adj: Node, target: Node, per_sample: bool) -> Node:
    if target.shape == () and adj.shape != ():
        adj = g.total(adj)
    if not per_sample and adj.batched and not target.batched:
        adj = g.bsum(adj)
    return adj


def _vjp(node: Node, adj: Node, relevant: set[int], per_sample: bool) -> list[tuple[Node, Node]]:
    op = node.op
    ins = node.inputs
    out: list[tuple[Node, Node]] = []

    def want(i: int) -> bool:
        return ins[i].id in relevant

    def emit(i: int, contrib: Node) -> None:
        out.append((ins[i], _unbroadcast(contrib, ins[i], per_sample)))

    if op == "add":
        for i in (0, 1):
            if want(i):
                emit(i, adj)
    elif op == "sub":
        if want(0):
            emit(0, adj)
        if want(1):
            emit(1, g.neg(adj))
    elif op == "mul":
        a, b = ins
        if want(0):
            emit(0, g.mul(b, adj) if b.shape == () or b.shape == adj.shape else g.mul(adj, b))
        if want(1):
            emit(1, g.mul(a, adj) if a.shape == () or a.shape == adj.shape else g.mul(adj, a))
    elif op == "neg":
        emit(0, g.neg(adj))
    elif op == "scale":
        emit(0, g.scale(adj, node.attrs["factor"]))
    elif op == "matmul":
        a, b = ins
        va, vb = len(a.shape) == 1, len(b.shape) == 1
        if want(0):
            if va and vb:
                ga = g.mul(adj, b)
            elif va:
                ga = g.matmul(b, adj)  # (k,l)@(l,)
            elif vb:
                ga = g.outer(adj, b)
            else:
                ga = g.matmul(adj, g.transpose(b))
            emit(0, ga)
        if want(1):
            if va and vb:
                gb = g.mul(adj, a)
            elif va:
                gb = g.outer(a, adj)
            else:
                gb = g.matmul(g.transpose(a), adj) if not vb else g.matmul(adj, a)
            emit(1, gb)
    elif op == "outer":
        a, b = ins
        if want(0):
            emit(0, g.matmul(adj, b))
        if want(1):
            emit(1, g.matmul(a, adj))
    elif op == "vdot":
        a, b = ins
        if want(0):
            emit(0, g.mul(adj, b))
        if want(1):
            emit(1, g.mul(adj, a))
    elif op == "transpose":
        emit(0, g.transpose(adj))
    elif op == "reshape":
        emit(0, g.reshape(adj, ins[0].shape))
    elif op == "sum":
        emit(0, g.broadcast(adj, ins[0].shape))
    elif op == "broadcast":
        emit(0, g.total(adj))
    elif op == "slice":
        emit(0, g.pad(adj, node.attrs["start"], ins[0].shape[0]))
    elif op == "pad":
        start = node.attrs["start"]
        emit(0, g.slice_(adj, start, start + ins[0].shape[0]))
    elif op == "concat":
        off = 0
        for i, part in enumerate(ins):
            if want(i):
                emit(i, g.slice_(adj, off, off + part.shape[0]))
            off += part.shape[0]
    elif op == "bsum":
        emit(0, adj)
    elif op == "bmean":
        emit(0, g.mul(g.inv_n(), adj))
    elif op == "relu":
        emit(0, g.mul(adj, g.unary("step", ins[0])))
    elif op == "sat":
        emit(0, g.mul(adj, g.unary("dsat", ins[0])))
    elif op == "pow":
        k = node.attrs["k"]
        if k == 0:
            return out
        emit(0, g.mul(adj, g.scale(g.power(ins[0], k - 1), k)))
    elif op == "recip":
        r = node
        emit(0, g.neg(g.mul(adj, g.mul(r, r))))
    elif op == "tanh":
        emit(0, g.mul(adj, g.unary("dtanh", ins[0])))
    elif op == "sigmoid":
        emit(0, g.mul(adj, g.unary("dsigmoid", ins[0])))
    elif op == "exp":
        emit(0, g.mul(adj, node))
    elif op == "logsumexp":
        emit(0, g.mul(adj, g.softmax(ins[0])))
    elif op == "softmax":
        # J^T a = s * (a - <a, s>), s = softmax(z)
        emit(0, g.mul(node, g.sub(adj, g.vdot(adj, node))))
    elif op == "log":
        emit(0, g.mul(adj, g.unary("recip", ins[0])))
    elif op == "dtanh":
        t = g.unary("tanh", ins[0])
        emit(0, g.mul(adj, g.scale(g.mul(t, node), -2)))
    elif op == "dsigmoid":
        s = g.unary("sigmoid", ins[0])
        emit(0, g.mul(adj, g.mul(node, g.sub(g.const(1), g.scale(s, 2)))))
    elif op == "bdot":
        raise GraphError("second derivatives through a sum over samples are not supported")
    else:
        raise GraphError(f"no derivative rule for {op!r}")
    return out
