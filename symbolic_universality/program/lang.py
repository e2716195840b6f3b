"""The operations an algorithm may use on its values (network-computable, section 2).

Affine maps and products come from the operators of :class:`~.tracer.Traced`;
this module adds the activations, selection, the reciprocal unit, the base
network's own forward pass and per-sample gradients, and the float-only
functions ``tanh``, ``sigmoid``, ``exp``, ``log``, ``softmax`` (the exact backend
and the provers refuse them with a sentence; a numeric run computes them).

Every function works on traced values (it builds the graph) and on the concrete
values of :mod:`.concrete` (it computes the number directly, with the same
conventions: ``step(0) = 0``, ``relu'(0) = 0``, ``sat(z) = min(1, max(0, z))``, the
strict reciprocal whose division by 0 is an error unless a ``where`` discards it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..graph import core as g
from ..networks.mlp import MLP, loss_gradient
from .tracer import (
    Traced,
    TraceError,
    active_tracer,
    binary,
    broadcast_shape,
    broadcast_to,
    compare,
    is_boolean,
    lift,
)

__all__ = [
    "relu", "step", "sat", "where", "outer", "recip", "concat", "dot", "forward", "loss_grad",
    "square", "abs", "sign", "maximum", "minimum", "clip", "grad",
    "tanh", "sigmoid", "exp", "log", "softmax",
]

def _concrete_module() -> Any:
    from . import concrete

    return concrete


def _mode(*vals: Any) -> str:
    """``traced`` if any value is traced (or a trace is active), else ``concrete``."""
    if any(isinstance(v, Traced) for v in vals):
        return "traced"
    conc = _concrete_module()
    if any(isinstance(v, conc.Concrete) for v in vals) or conc.active_run() is not None:
        return "concrete"
    if active_tracer() is not None:
        return "traced"
    raise TraceError("lang functions take the traced values of a trace or the concrete values "
                     "of an execution; call them inside the algorithm")


def _tracer(*vals: Any) -> Any:
    for v in vals:
        if isinstance(v, Traced):
            return v.tracer
    tracer = active_tracer()
    if tracer is None:
        raise TraceError("this operation needs at least one traced value")
    return tracer


def _node(v: Any) -> g.Node:
    return lift(v)


def _wrap(node: g.Node, *vals: Any) -> Traced:
    return Traced(node, _tracer(*vals))


def _unary(op: str, a: Any) -> Any:
    if _mode(a) == "concrete":
        return _concrete_module().unary(op, a)
    return _wrap(g.unary(op, _node(a)), a)


def relu(a: Any) -> Any:
    """``max(0, a)`` (derivative convention ReLU'(0) = 0)."""
    return _unary("relu", a)


def step(a: Any) -> Any:
    """Heaviside step: 1 where ``a > 0``, else 0."""
    return _unary("step", a)


def sat(a: Any) -> Any:
    """The saturated linear unit ``min(1, max(0, a))``."""
    return _unary("sat", a)


def square(a: Any) -> Any:
    return a * a if _mode(a) == "concrete" else _wrap(g.power(_node(a), 2), a)


def recip(a: Any) -> Any:
    """The reciprocal unit ``1/a``: dividing by 0 is an error (unless a ``where`` discards it)."""
    return _unary("recip", a)


def tanh(a: Any) -> Any:
    """Float-only ``tanh`` (the exact backend refuses it)."""
    return _unary("tanh", a)


def sigmoid(a: Any) -> Any:
    """Float-only logistic function ``1 / (1 + e^-a)`` (the exact backend refuses it)."""
    return _unary("sigmoid", a)


def exp(a: Any) -> Any:
    """Float-only ``e^a`` (the exact backend refuses it)."""
    return _unary("exp", a)


def log(a: Any) -> Any:
    """Float-only natural logarithm (the exact backend refuses it)."""
    return _unary("log", a)


def softmax(a: Any) -> Any:
    """Float-only ``exp(a) / sum(exp(a))`` over all entries of ``a``."""
    if _mode(a) == "concrete":
        return _concrete_module().softmax(a)
    e = exp(a)
    return e * recip(e.sum())


def abs(a: Any) -> Any:  # noqa: A001 (NumPy's name)
    """``|a| = relu(a) + relu(-a)``."""
    if _mode(a) == "concrete":
        return _concrete_module().absolute(a)
    return relu(a) + relu(-a)


def sign(a: Any) -> Any:
    """``sign(a) = step(a) - step(-a)`` (0 at 0, as NumPy)."""
    if _mode(a) == "concrete":
        return _concrete_module().sign(a)
    return step(a) - step(-a)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise ``max(a, b) = a + relu(b - a)``."""
    if _mode(a, b) == "concrete":
        return _concrete_module().maximum(a, b)
    t = _tracer(a, b)
    return Traced(_node(a), t) + relu(Traced(_node(b), t) - Traced(_node(a), t))


def minimum(a: Any, b: Any) -> Any:
    """Elementwise ``min(a, b) = a - relu(a - b)``."""
    if _mode(a, b) == "concrete":
        return _concrete_module().minimum(a, b)
    t = _tracer(a, b)
    return Traced(_node(a), t) - relu(Traced(_node(a), t) - Traced(_node(b), t))


def clip(a: Any, lo: Any, hi: Any) -> Any:
    """``min(max(a, lo), hi)`` as NumPy's ``clip``."""
    return minimum(maximum(a, lo), hi)


def where(cond: Any, a: Any, b: Any) -> Any:
    """Select ``a`` where ``cond`` is 1 and ``b`` where it is 0.

    ``cond`` must be provably 0/1: a comparison (``n > 0``), a step, or a logical
    combination of them. Network-computable as ``cond * a + (1 - cond) * b`` with product
    units. A reciprocal inside the branch a 0 entry of ``cond`` discards (entry by entry,
    or all of a branch for a scalar ``cond``) divides by ``cond * d + (1 - cond)``: the
    same divisor where the branch is taken, 1 where it is discarded. So
    ``where(n > 0, s / n, 0)`` is allowed; a 0 divisor in a selected entry is still the
    error of the strict reciprocal (the total reciprocal unit of the extension is
    unchanged).
    """
    if _mode(cond, a, b) == "concrete":
        return _concrete_module().where(cond, a, b)
    t = _tracer(cond, a, b)
    c, an, bn = _node(cond), _node(a), _node(b)
    if not is_boolean(c):
        raise TraceError(
            "lang.where needs a 0/1 condition such as a comparison (n > 0), lang.step(a) or "
            "their combination with & | ~; for a general value v use (v != 0)"
        )
    shape = broadcast_shape(c.shape, an.shape, bn.shape)
    an = _guard(an, c, positive=True)
    bn = _guard(bn, c, positive=False)
    c, an, bn = (broadcast_to(v, shape) for v in (c, an, bn))
    one = g.const(1, label="1")
    return Traced(binary("add", g.mul(c, an), g.mul(binary("sub", one, c), bn)), t)


_POSITIONAL = frozenset({"add", "sub", "mul", "neg", "scale", "relu", "step", "sat", "dsat",
                         "recip", "pow", "tanh", "dtanh", "sigmoid", "dsigmoid", "exp", "log"})


def _guard(branch: g.Node, cond: g.Node, positive: bool) -> g.Node:
    """Rewrite the reciprocals of ``branch`` that ``cond`` discards (see :func:`where`)."""
    keep = cond if positive else binary("sub", g.const(1, label="1"), cond)
    recips: list[g.Node] = []
    if cond.shape == ():
        # a scalar condition keeps or discards the whole branch
        recips = [n for n in g.topological([branch]) if n.op == "recip"]
    elif branch.shape == cond.shape:
        # only entries that stay at their position: elementwise operations of the same shape,
        # and only reciprocals no other path (a sum, a product, a slice ...) mixes in
        positional, stack, seen = [], [branch], set()
        while stack:
            n = stack.pop()
            if n.id in seen:
                continue
            seen.add(n.id)
            positional.append(n)
            if n.op in _POSITIONAL:
                stack.extend(i for i in n.inputs if i.shape == cond.shape)
        roots = [i for n in positional for i in n.inputs
                 if n.op not in _POSITIONAL or i.shape != cond.shape]
        mixed = {n.id for n in g.topological(roots)} if roots else set()
        recips = [n for n in positional if n.op == "recip" and n.id not in mixed]
    if not recips:
        return branch
    wanted = {r.id for r in recips}
    mapping: dict[int, g.Node] = {}
    for r in g.topological([branch]):  # inner reciprocals (in a divisor) first
        if r.id not in wanted:
            continue
        (d,) = g.rebuild([r.inputs[0]], mapping) if mapping else (r.inputs[0],)
        k = broadcast_to(keep, d.shape)
        safe = binary("add", g.mul(k, d), binary("sub", g.const(1, label="1"), k))
        mapping[r.id] = g.unary("recip", safe)
    (out,) = g.rebuild([branch], mapping)
    return out


def outer(a: Any, b: Any) -> Any:
    if _mode(a, b) == "concrete":
        return _concrete_module().outer(a, b)
    return _wrap(_checked(g.outer, _node(a), _node(b)), a, b)


def dot(a: Any, b: Any) -> Any:
    """Frobenius inner product."""
    if _mode(a, b) == "concrete":
        return _concrete_module().dot(a, b)
    return _wrap(_checked(g.vdot, _node(a), _node(b)), a, b)


def concat(parts: Sequence[Any]) -> Any:
    """The entries of ``parts``, each flattened, one after the other (a vector)."""
    parts = list(parts)
    if not parts:
        raise TraceError("lang.concat needs at least one part")
    if _mode(*parts) == "concrete":
        return _concrete_module().concat(parts)
    return _wrap(g.concat([g.flatten(_node(p)) for p in parts]), *parts)


def forward(net: MLP, w: Any, x: Any) -> Any:
    """The base network's output ``f(x; w)``."""
    if _mode(w, x) == "concrete":
        return _concrete_module().forward(net, w, x)
    return _wrap(_checked(net.forward, _node(w), _node(x)), w, x)


def loss_grad(net: MLP, w: Any, x: Any, y: Any) -> Any:
    """Per-sample gradient of ``1/2 |f(x; w) - y|^2`` with respect to ``w``."""
    if _mode(w, x, y) == "concrete":
        return _concrete_module().loss_grad(net, w, x, y)
    return _wrap(_checked(loss_gradient, net, _node(w), _node(x), _node(y)), w, x, y)


def grad(fn: Callable[[Any], Any], w: Any) -> Any:
    """Per-sample gradient ``d fn(v) / d v`` at ``v = w`` of a scalar loss ``fn``.

    ``fn`` is built from ``lang.forward(net, v, x)``, the label and the lang functions;
    use it inside ``data.mean``. Traced: the graph's one reverse-mode differentiation
    (``graph.autodiff.gradients``, per-sample mode) of ``fn`` on a placeholder for
    ``v``, which is then replaced by ``w``. Derivative conventions: ``relu'(0) = 0``,
    ``step' = 0``, ``sat'`` is 0 at 0 and 1.
    """
    if _mode(w) == "concrete" and not isinstance(w, Traced):
        return _concrete_module().grad(fn, w)
    t = _tracer(w)
    return Traced(gradient_node(fn, _node(w), t), t)


_placeholders = iter(range(1 << 62))


def gradient_node(fn: Callable[[Any], Any], w: g.Node, tracer: Any) -> g.Node:
    """The graph of ``d fn(v)/dv`` at ``v = w`` (see :func:`grad`)."""
    from ..graph.autodiff import gradients

    if tracer.in_grad:
        raise TraceError("lang.grad cannot be nested (no second derivatives); differentiate "
                         "one loss at a time")
    ph = g.param(f"__lang_grad_v{next(_placeholders)}", w.shape)
    tracer.in_grad += 1
    try:
        out = fn(Traced(ph, tracer))
    finally:
        tracer.in_grad -= 1
    loss = lift(out)
    if loss.shape != ():
        raise TraceError(f"lang.grad needs a scalar loss, got shape {loss.shape}; sum it "
                         "(.sum()) or take lang.dot")
    try:
        gr = gradients(loss, [ph], per_sample=True)[ph]
    except g.GraphError as exc:
        raise TraceError(f"lang.grad cannot differentiate this loss: {exc}") from exc
    if gr is None:
        return g.const(np.zeros(w.shape, dtype=int), label="0")
    if gr.shape != w.shape:
        gr = broadcast_to(gr, w.shape)
    (out_node,) = g.rebuild([gr], {ph.id: w})
    if any(n.op == "param" and n.attrs["name"] == ph.attrs["name"]
           for n in g.topological([out_node])):
        raise TraceError("the placeholder of lang.grad escaped its loss function")
    return out_node


def _checked(fn: Callable[..., g.Node], *args: Any) -> g.Node:
    try:
        return fn(*args)
    except g.GraphError as exc:
        raise TraceError(str(exc)) from exc


# --------------------------------------------------------------------------- NumPy protocol

_REFUSED_UFUNCS = {
    "sqrt": "has no network-computable exact equivalent",
    "cbrt": "has no network-computable exact equivalent",
    "floor": "is discontinuous and not network-computable; compare with lang.step instead",
    "ceil": "is discontinuous and not network-computable; compare with lang.step instead",
    "rint": "is discontinuous and not network-computable; compare with lang.step instead",
    "trunc": "is discontinuous and not network-computable; compare with lang.step instead",
    "floor_divide": "is not network-computable; use / instead",
    "remainder": "is not network-computable",
    "fmod": "is not network-computable",
    "exp2": "is not supported; use the float-only lang.exp",
    "expm1": "is not supported; use the float-only lang.exp",
    "log2": "is not supported; use the float-only lang.log",
    "log10": "is not supported; use the float-only lang.log",
    "log1p": "is not supported; use the float-only lang.log",
    "isnan": "is decided at trace time; there are no NaNs in an exact run",
    "isfinite": "is decided at trace time; there are no infinities in an exact run",
}


def _ufunc_table() -> dict[str, Callable[..., Any]]:
    return {
        "add": lambda a, b: a + b if _is_val(a) else b.__radd__(a),
        "subtract": lambda a, b: a - b if _is_val(a) else b.__rsub__(a),
        "multiply": lambda a, b: a * b if _is_val(a) else b.__rmul__(a),
        "true_divide": lambda a, b: a / b if _is_val(a) else b.__rtruediv__(a),
        "divide": lambda a, b: a / b if _is_val(a) else b.__rtruediv__(a),
        "matmul": lambda a, b: a @ b if _is_val(a) else b.__rmatmul__(a),
        "negative": lambda a: -a,
        "positive": lambda a: a,
        "absolute": abs,
        "fabs": abs,
        "sign": sign,
        "square": square,
        "power": lambda a, k: a ** k if _is_val(a) else a ** _refuse_traced_exponent(k),
        "reciprocal": recip,
        "maximum": maximum,
        "fmax": maximum,
        "minimum": minimum,
        "fmin": minimum,
        "clip": clip,
        "greater": lambda a, b: _lift_pair(a, b, ">"),
        "greater_equal": lambda a, b: _lift_pair(a, b, ">="),
        "less": lambda a, b: _lift_pair(a, b, "<"),
        "less_equal": lambda a, b: _lift_pair(a, b, "<="),
        "equal": lambda a, b: _lift_pair(a, b, "=="),
        "not_equal": lambda a, b: _lift_pair(a, b, "!="),
        "logical_and": lambda a, b: _as_val(a, b) & b,
        "logical_or": lambda a, b: _as_val(a, b) | b,
        "logical_not": lambda a: ~a,
        "exp": exp,
        "log": log,
        "tanh": tanh,
        "heaviside": _heaviside,
    }


def _is_val(v: Any) -> bool:
    return getattr(type(v), "_symuni_value", False)


def _refuse_traced_exponent(k: Any) -> Any:
    raise TraceError("a power with a traced exponent is not network-computable")


def _as_val(a: Any, other: Any) -> Any:
    """``a`` as a value of the same kind as ``other`` (so its operators apply)."""
    if _is_val(a):
        return a
    if isinstance(other, Traced):
        return Traced(lift(a), other.tracer)
    return _concrete_module().as_concrete(a)


def _lift_pair(a: Any, b: Any, op: str) -> Any:
    if _mode(a, b) == "concrete":
        return _concrete_module().compare(op, a, b)
    t = _tracer(a, b)
    return Traced(compare(op, lift(a), lift(b)), t)


def _heaviside(a: Any, h: Any) -> Any:
    if _is_val(h) or h != 0:
        raise TraceError("np.heaviside is supported only with value 0 at 0; use lang.step")
    return step(a)


def apply_ufunc(ufunc: Any, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """A NumPy ufunc on traced or concrete values: its lang equivalent, or a refusal."""
    name = getattr(ufunc, "__name__", str(ufunc))
    if method != "__call__" or kwargs:
        raise TraceError(f"np.{name}.{method} (or its out/where/dtype arguments) is not "
                         "supported on traced values; call the plain function")
    fn = _ufunc_table().get(name)
    if fn is None:
        why = _REFUSED_UFUNCS.get(name, "is not supported on traced values")
        raise TraceError(f"np.{name} {why}; the supported functions are those of "
                         "symbolic_universality.program.lang (relu, step, where, abs, sign, "
                         "maximum, ...)")
    return fn(*inputs)


def _np_where(cond: Any, a: Any = None, b: Any = None) -> Any:
    if a is None or b is None:
        raise TraceError("np.where(cond) (positions) is not supported; use "
                         "np.where(cond, a, b) or lang.where")
    if isinstance(cond, Traced) and not is_boolean(cond.node):
        cond = cond != 0  # NumPy's truth: nonzero
    elif not _is_val(cond):
        cond = np.asarray(cond) != 0
    elif not isinstance(cond, Traced):
        cond = _concrete_module().truthy(cond)
    return where(cond, a, b)


def _np_dot(a: Any, b: Any) -> Any:
    sa, sb = np.shape(a) if not _is_val(a) else a.shape, np.shape(b) if not _is_val(b) else \
        b.shape
    if sa == () or sb == ():
        return a * b if _is_val(a) else b * a
    if len(sa) == 1 and len(sb) == 1:
        return dot(a, b)
    return a @ b if _is_val(a) else b.__rmatmul__(a)


def _np_sum(a: Any, axis: Any = None, **kw: Any) -> Any:
    if kw:
        raise TraceError("np.sum with dtype/out/keepdims is not supported; use v.sum(axis)")
    return a.sum(axis)


def _np_mean(a: Any, axis: Any = None, **kw: Any) -> Any:
    if kw:
        raise TraceError("np.mean with dtype/out/keepdims is not supported; use v.mean(axis)")
    return a.mean(axis)


def _np_concatenate(parts: Sequence[Any], axis: Any = 0, **kw: Any) -> Any:
    parts = list(parts)
    shapes = [p.shape if _is_val(p) else np.shape(p) for p in parts]
    if axis != 0 or kw or any(len(s) != 1 for s in shapes):
        raise TraceError("np.concatenate is supported for vectors only; use lang.concat")
    return concat(parts)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "where": _np_where,
    "dot": _np_dot,
    "vdot": lambda a, b: dot(a, b),
    "inner": lambda a, b: _np_dot(a, b),
    "outer": lambda a, b: outer(a, b),
    "sum": _np_sum,
    "mean": _np_mean,
    "concatenate": _np_concatenate,
    "clip": lambda a, lo, hi, **kw: clip(a, lo, hi),
    "transpose": lambda a, axes=None: a.T,
    "reshape": lambda a, shape, **kw: a.reshape(shape),
    "ravel": lambda a, **kw: a.flatten(),
    "shape": lambda a: a.shape,
    "ndim": lambda a: a.ndim,
    "size": lambda a: a.size,
    "matmul": lambda a, b: a @ b if _is_val(a) else b.__rmatmul__(a),
}


def apply_function(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """A NumPy function on traced or concrete values: its lang equivalent, or a refusal."""
    name = getattr(func, "__name__", str(func))
    fn = _FUNCTIONS.get(name)
    if fn is None:
        raise TraceError(f"np.{name} is not supported on traced values; use the lang functions "
                         "(lang.where, lang.concat, lang.dot, lang.outer, lang.maximum, ...)")
    return fn(*args, **kwargs)

