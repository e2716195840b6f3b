"""The tensor expression graph: nodes, shape rules and the node builders.

A node is one operation on per-sample tensors. ``shape`` is the per-sample shape
(at most two axes); ``batched`` says whether the node varies with the sample (it
then carries a leading sample axis at evaluation time). Unbatched nodes are the
parameters, constants and everything computed from them alone.

The builders (``add``, ``mul``, ``vdot``, ``bsum`` ...) apply a few exact algebraic
rewrites that keep per-sample outer products from being materialised:

* ``vdot(S, outer(a, b)) = vdot(a, S @ b)``, and ``vdot`` distributes over
  ``add``, ``sub``, ``neg``, ``concat``, ``pad``, ``reshape`` and scalar factors;
* ``bsum(outer(a, b)) = bdot(a, b)`` (a matrix product over the sample axis), and
  ``bsum`` distributes over the same linear operations.

They are identities of linear algebra, valid on every backend; nothing in them
knows about the construction.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

Shape = tuple[int, ...]

_ids = itertools.count()


class GraphError(ValueError):
    """A graph was built with inconsistent shapes or an unsupported operation."""


class Node:
    """One operation of the graph (see the module docstring for ``shape``/``batched``)."""

    __slots__ = ("op", "inputs", "attrs", "shape", "batched", "id", "__weakref__")

    def __init__(
        self,
        op: str,
        inputs: Sequence[Node],
        shape: Shape,
        batched: bool,
        **attrs: Any,
    ) -> None:
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.shape = tuple(int(s) for s in shape)
        self.batched = batched
        self.id = next(_ids)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def __repr__(self) -> str:
        extra = ""
        if "name" in self.attrs:
            extra = f" {self.attrs['name']!r}"
        return f"<{self.op}{extra} {self.shape}{' batched' if self.batched else ''} #{self.id}>"

    # Nodes are used as dictionary keys by identity.
    __hash__ = object.__hash__


# --------------------------------------------------------------------------- leaves


def param(name: str, shape: Shape) -> Node:
    """A trainable parameter block (unbatched)."""
    return Node("param", (), shape, False, name=name)


def const(value: Any, label: str = "") -> Node:
    """A constant (an exact rational array); the compiler turns each into a parameter (T5)."""
    arr = to_fraction_array(value)
    return Node("const", (), arr.shape, False, value=arr, label=label)


def reg(name: str, shape: Shape) -> Node:
    """A reference to a program register (a leaf of an instruction body)."""
    return Node("reg", (), shape, False, name=name)


def data_x(d: int) -> Node:
    """The per-sample input ``x`` (batched)."""
    return Node("x", (), (d,), True)


def data_y(c: int) -> Node:
    """The per-sample one-hot label ``y`` (batched)."""
    return Node("y", (), (c,), True)


def inv_n() -> Node:
    """The per-sample weight ``1/n`` of a mean (batched scalar; ``n`` is bound at evaluation)."""
    return Node("inv_n", (), (), True)


def to_fraction_array(value: Any) -> np.ndarray:
    """Convert ints, Fractions, decimal strings or nested lists into an object array of Fractions.

    Floats are refused: an exact construction never takes a float as a coefficient.
    """
    arr = np.asarray(value, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, Fraction):
            out[idx] = v
        elif isinstance(v, (int, np.integer)):
            out[idx] = Fraction(int(v))
        elif isinstance(v, str):
            out[idx] = Fraction(v)
        else:
            raise GraphError(
                f"constant {v!r} is not exact; give it as an int, a Fraction or a decimal string"
            )
    return out


# --------------------------------------------------------------------------- helpers


def _both(a: Node, b: Node) -> bool:
    return a.batched or b.batched


def _elementwise_shape(a: Node, b: Node, op: str) -> Shape:
    if a.shape == b.shape:
        return a.shape
    if a.shape == ():
        return b.shape
    if b.shape == ():
        return a.shape
    raise GraphError(f"{op}: shapes {a.shape} and {b.shape} do not match (only scalars broadcast)")


def is_const_value(node: Node, value: int) -> bool:
    """True when ``node`` is a constant whose every entry equals ``value``."""
    return node.op == "const" and all(v == value for v in node.attrs["value"].flat)


# --------------------------------------------------------------------------- builders


def add(a: Node, b: Node) -> Node:
    return Node("add", (a, b), _elementwise_shape(a, b, "add"), _both(a, b))


def sub(a: Node, b: Node) -> Node:
    return Node("sub", (a, b), _elementwise_shape(a, b, "sub"), _both(a, b))


def mul(a: Node, b: Node) -> Node:
    return Node("mul", (a, b), _elementwise_shape(a, b, "mul"), _both(a, b))


def neg(a: Node) -> Node:
    if a.op == "neg":
        return a.inputs[0]
    return Node("neg", (a,), a.shape, a.batched)


def scale(a: Node, factor: Fraction | int) -> Node:
    """Multiply by a fixed rational number (used by derivative rules, not a coefficient of F)."""
    f = Fraction(factor)
    if f == 1:
        return a
    return Node("scale", (a,), a.shape, a.batched, factor=f)


def add_all(nodes: Iterable[Node]) -> Node:
    nodes = list(nodes)
    if not nodes:
        raise GraphError("sum of no terms")
    out = nodes[0]
    for n in nodes[1:]:
        out = add(out, n)
    return out


def matmul(a: Node, b: Node) -> Node:
    """Per-sample matrix product with NumPy's 1-D/2-D conventions."""
    sa, sb = a.shape, b.shape
    if len(sa) not in (1, 2) or len(sb) not in (1, 2):
        raise GraphError(f"matmul needs 1-D or 2-D operands, got {sa} and {sb}")
    if sa[-1] != sb[0]:
        raise GraphError(f"matmul: inner dimensions differ ({sa} @ {sb})")
    shape = sa[:-1] + sb[1:]
    return Node("matmul", (a, b), shape, _both(a, b))


def outer(a: Node, b: Node) -> Node:
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise GraphError(f"outer needs two vectors, got {a.shape} and {b.shape}")
    return Node("outer", (a, b), (a.shape[0], b.shape[0]), _both(a, b))


def transpose(a: Node) -> Node:
    if len(a.shape) != 2:
        raise GraphError(f"transpose needs a matrix, got shape {a.shape}")
    if a.op == "transpose":
        return a.inputs[0]
    return Node("transpose", (a,), (a.shape[1], a.shape[0]), a.batched)


def reshape(a: Node, shape: Shape) -> Node:
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != a.size:
        raise GraphError(f"cannot reshape {a.shape} into {shape}")
    if shape == a.shape:
        return a
    if a.op == "reshape":
        return reshape(a.inputs[0], shape)
    return Node("reshape", (a,), shape, a.batched, shape_to=shape)


def flatten(a: Node) -> Node:
    return reshape(a, (a.size,))


def total(a: Node) -> Node:
    """Sum of all per-sample entries (a per-sample scalar)."""
    if a.shape == ():
        return a
    return Node("sum", (a,), (), a.batched)


def broadcast(a: Node, shape: Shape) -> Node:
    """A scalar repeated into ``shape``."""
    if a.shape != ():
        raise GraphError("only scalars broadcast")
    if shape == ():
        return a
    return Node("broadcast", (a,), shape, a.batched, shape_to=tuple(shape))


def slice_(a: Node, start: int, stop: int) -> Node:
    if len(a.shape) != 1 or not 0 <= start <= stop <= a.shape[0]:
        raise GraphError(f"bad slice [{start}:{stop}] of shape {a.shape}")
    if start == 0 and stop == a.shape[0]:
        return a
    return Node("slice", (a,), (stop - start,), a.batched, start=start, stop=stop)


def pad(a: Node, start: int, length: int) -> Node:
    """Embed a vector at ``start`` in a zero vector of ``length`` (the adjoint of a slice)."""
    if len(a.shape) != 1 or start + a.shape[0] > length:
        raise GraphError(f"bad pad of shape {a.shape} at {start} into {length}")
    if start == 0 and a.shape[0] == length:
        return a
    return Node("pad", (a,), (length,), a.batched, start=start, length=length)


def concat(parts: Sequence[Node]) -> Node:
    parts = list(parts)
    for p in parts:
        if len(p.shape) != 1:
            raise GraphError(f"concat needs vectors, got shape {p.shape}")
    if len(parts) == 1:
        return parts[0]
    length = sum(p.shape[0] for p in parts)
    return Node("concat", parts, (length,), any(p.batched for p in parts))


def unary(op: str, a: Node, **attrs: Any) -> Node:
    """Elementwise operation: relu, step, sat, dsat, recip, pow; float-only tanh, dtanh, sigmoid,
    dsigmoid, exp, log."""
    if op not in UNARY_OPS:
        raise GraphError(f"unknown elementwise operation {op!r}")
    return Node(op, (a,), a.shape, a.batched, **attrs)


UNARY_OPS = frozenset(
    {"relu", "step", "sat", "dsat", "tanh", "dtanh", "sigmoid", "dsigmoid", "recip", "pow",
     "exp", "log", "softmax"}
)


def softmax(a: Node) -> Node:
    """``exp(a) / sum(exp(a))`` over a vector (per sample): the residual's first term under
    cross-entropy. Exact only where every entry is equal (then ``1/c``)."""
    if len(a.shape) != 1:
        raise GraphError(f"softmax needs a vector, got shape {a.shape}")
    return unary("softmax", a)


def logsumexp(a: Node) -> Node:
    """``log sum_c exp(a_c)`` of a vector (per sample), a scalar; its derivative is
    :func:`softmax` (no ``exp`` or ``log`` node, so float backends evaluate it stably)."""
    if len(a.shape) != 1:
        raise GraphError(f"logsumexp needs a vector, got shape {a.shape}")
    return Node("logsumexp", (a,), (), a.batched)


def power(a: Node, k: int) -> Node:
    if not isinstance(k, int) or k < 0:
        raise GraphError(f"only non-negative integer powers are network-computable, got {k!r}")
    if k == 1:
        return a
    return unary("pow", a, k=k)


# ----------------------------------------------------------------- inner products


def _identity(v: Node) -> Node:
    return v


#: Results of the distributing builders, by their operands' ids (node ids are never reused;
#: an entry lives as long as its result does). The same call returns the same node, so a
#: rewrite applied to a shared subgraph is shared too (no copy per use).
_VDOT_MEMO: weakref.WeakValueDictionary[tuple[int, int], Node] = weakref.WeakValueDictionary()
_BSUM_MEMO: weakref.WeakValueDictionary[int, Node] = weakref.WeakValueDictionary()


def _distribute(rule: Callable[..., Any], memo: Any, key: Callable[..., Any],
                root: tuple[Node, ...]) -> Node:
    """Apply a distributing rewrite by an explicit stack (no recursion per node).

    ``rule(*args)`` returns a finished node, or ``(combine, [child args ...])``: the result
    is ``combine`` of the children's results, each child rewritten by the same rule.
    """
    tasks: list[tuple[int, Any]] = [(0, root)]
    results: list[Node] = []
    while tasks:
        kind, payload = tasks.pop()
        if kind == 0:
            k = key(*payload)
            done = memo.get(k)
            if done is not None:
                results.append(done)
                continue
            out = rule(*payload)
            if isinstance(out, Node):
                memo[k] = out
                results.append(out)
                continue
            combine, children = out
            tasks.append((1, (combine, len(children), k)))
            tasks.extend((0, c) for c in reversed(children))
        else:
            combine, count, k = payload
            args = results[len(results) - count:]
            del results[len(results) - count:]
            out = combine(*args)
            memo[k] = out
            results.append(out)
    return results[0]


def vdot(s: Node, phi: Node) -> Node:
    """Frobenius inner product ``<s, phi>`` per sample, with the exact rewrites of the module."""
    return _distribute(_vdot_rule, _VDOT_MEMO, _pair_key, (s, phi))


def _pair_key(a: Node, b: Node) -> tuple[int, int]:
    return (a.id, b.id)


def _vdot_rule(s: Node, phi: Node) -> Any:
    if s.shape != phi.shape:
        raise GraphError(f"inner product of shapes {s.shape} and {phi.shape}")
    op = phi.op
    ins = phi.inputs
    if op == "add":
        return add, [(s, ins[0]), (s, ins[1])]
    if op == "sub":
        return sub, [(s, ins[0]), (s, ins[1])]
    if op == "neg":
        return neg, [(s, ins[0])]
    if op == "scale":
        factor = phi.attrs["factor"]
        return (lambda v: scale(v, factor)), [(s, ins[0])]
    if op == "mul" and ins[0].shape == () and phi.shape != ():
        return (lambda v: mul(ins[0], v)), [(s, ins[1])]
    if op == "mul" and ins[1].shape == () and phi.shape != ():
        return (lambda v: mul(ins[1], v)), [(s, ins[0])]
    if op == "reshape" and not s.batched:
        return _identity, [(reshape(s, ins[0].shape), ins[0])]
    if op == "pad" and not s.batched:
        start = phi.attrs["start"]
        return _identity, [(slice_(s, start, start + ins[0].shape[0]), ins[0])]
    if op == "concat" and not s.batched:
        children, off = [], 0
        for part in ins:
            children.append((slice_(s, off, off + part.shape[0]), part))
            off += part.shape[0]
        return (lambda *terms: add_all(terms)), children
    if op == "outer" and not s.batched:
        a, b = ins
        return _identity, [(a, matmul(s, b))]
    return Node("vdot", (s, phi), (), _both(s, phi))


# ----------------------------------------------------------------------- reductions


def bsum(a: Node) -> Node:
    """Sum over the samples (unbatched result), with the exact rewrites of the module."""
    if not a.batched:
        raise GraphError("bsum of an unbatched node")
    return _distribute(_bsum_rule, _BSUM_MEMO, _node_key, (a,))


def _node_key(a: Node) -> int:
    return a.id


def _bsum_rule(a: Node) -> Any:
    op = a.op
    if op in ("add", "sub"):
        x, y = a.inputs
        if x.batched and y.batched:
            return (lambda u, v: Node(op, (u, v), a.shape, False)), [(x,), (y,)]
    if op in ("neg", "reshape", "pad", "slice", "scale", "transpose", "sum"):
        return (lambda u: Node(op, (u,), a.shape, False, **a.attrs)), [(a.inputs[0],)]
    if op == "outer":
        x, y = a.inputs
        if x.batched and y.batched:
            return bdot(x, y)
        if not x.batched:
            return (lambda u: outer(x, u)), [(y,)]
        return (lambda u: outer(u, y)), [(x,)]
    if op == "mul":
        x, y = a.inputs
        if not x.batched:
            return (lambda u: mul(x, u)), [(y,)]
        if not y.batched:
            return (lambda u: mul(u, y)), [(x,)]
        if x.shape == () and y.shape != ():
            return bdot(x, y)
        if y.shape == () and x.shape != ():
            return bdot(y, x)
    if op == "matmul":
        x, y = a.inputs
        if not x.batched:
            return (lambda u: matmul(x, u)), [(y,)]
        if not y.batched:
            return (lambda u: matmul(u, y)), [(x,)]
    return Node("bsum", (a,), a.shape, False)


def bdot(a: Node, b: Node) -> Node:
    """``sum_i a_i (x) b_i`` over samples: shape ``a.shape + b.shape`` (a product over samples)."""
    if not (a.batched and b.batched):
        raise GraphError("bdot needs two batched operands")
    if len(a.shape) + len(b.shape) > 2:
        raise GraphError(f"bdot result of rank > 2 ({a.shape}, {b.shape})")
    return Node("bdot", (a, b), a.shape + b.shape, False)


def bmean(a: Node) -> Node:
    """Mean over the samples (the mean loss of construction.md section 1)."""
    if not a.batched:
        return a
    return Node("bmean", (a,), a.shape, False)


# ---------------------------------------------------------------- graph utilities


def topological(outputs: Sequence[Node]) -> list[Node]:
    """All nodes reachable from ``outputs``, inputs before users."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(o, False) for o in reversed(list(outputs))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node.id in seen:
            continue
        seen.add(node.id)
        stack.append((node, True))
        for inp in reversed(node.inputs):
            if inp.id not in seen:
                stack.append((inp, False))
    return order


def leaves(outputs: Sequence[Node], op: str) -> list[Node]:
    """Leaves of kind ``op`` (param, const, reg, x, y) reachable from ``outputs``."""
    return [n for n in topological(outputs) if n.op == op]


def depends_on(outputs: Sequence[Node], targets: Iterable[Node]) -> set[int]:
    """Ids of the nodes (reachable from outputs) whose value depends on any of ``targets``."""
    target_ids = {t.id for t in targets}
    dep: set[int] = set()
    for node in topological(outputs):
        if node.id in target_ids or any(i.id in dep for i in node.inputs):
            dep.add(node.id)
    return dep


def rebuild(outputs: Sequence[Node], mapping: dict[int, Node]) -> list[Node]:
    """Copy the graph of ``outputs`` with the nodes whose ids are in ``mapping`` replaced.

    The copy goes through the builders, so the rewrites apply to the new graph.
    """
    new: dict[int, Node] = dict(mapping)
    for node in topological(outputs):
        if node.id in new:
            continue
        if not node.inputs:
            new[node.id] = node
            continue
        ins = [new[i.id] for i in node.inputs]
        if all(a is b for a, b in zip(ins, node.inputs, strict=True)):
            new[node.id] = node
        else:
            new[node.id] = apply_op(node.op, ins, node.attrs)
    return [new[o.id] for o in outputs]


def apply_op(op: str, ins: Sequence[Node], attrs: dict[str, Any]) -> Node:
    """Build a node of kind ``op`` on new inputs (through the builders)."""
    if op in ("add", "sub", "mul", "matmul", "outer", "vdot", "bdot"):
        fn = {"add": add, "sub": sub, "mul": mul, "matmul": matmul, "outer": outer,
              "vdot": vdot, "bdot": bdot}[op]
        return fn(ins[0], ins[1])
    if op == "neg":
        return neg(ins[0])
    if op == "scale":
        return scale(ins[0], attrs["factor"])
    if op == "transpose":
        return transpose(ins[0])
    if op == "reshape":
        return reshape(ins[0], attrs["shape_to"])
    if op == "sum":
        return total(ins[0])
    if op == "broadcast":
        return broadcast(ins[0], attrs["shape_to"])
    if op == "slice":
        return slice_(ins[0], attrs["start"], attrs["stop"])
    if op == "pad":
        return pad(ins[0], attrs["start"], attrs["length"])
    if op == "concat":
        return concat(ins)
    if op == "bsum":
        return bsum(ins[0])
    if op == "bmean":
        return bmean(ins[0])
    if op == "logsumexp":
        return logsumexp(ins[0])
    if op in UNARY_OPS:
        return unary(op, ins[0], **attrs)
    raise GraphError(f"cannot rebuild operation {op!r}")
