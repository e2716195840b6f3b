"""Convolutional and residual base networks, built from the graph's linear-algebra ops.

A :class:`ConvNet` is a small directed acyclic graph of layers (``ops``) on a per-sample
input of shape ``(C, L)`` (1-D) or ``(C, H, W)`` (2-D), flattened channel-first
(C order, as ``torch.flatten`` does) into the toolkit's input vector ``x`` of length ``d``.
Every layer is written with the existing graph operations only (slices, pads,
reshapes, transposes, concatenation, matrix products, sums and the activations of
``networks.mlp``), with no constant node, so every backend (exact Fractions, sympy,
z3, float64) evaluates it unchanged and the compiler needs no new coefficient (T5).

Layers
------

============  ==============================================================================
layer         meaning
============  ==============================================================================
conv          ``out[o, i, j] = b[o] + sum_{c,u,v} W[o, c, u, v] xp[c, i s_h + u, j s_w + v]``
              (``xp``: the input zero-padded by ``p`` on each side; 1-D is the case ``H = 1``)
dense         ``W h + b`` on the flattened input (``W`` is ``out x in``)
act           an activation of ``networks.mlp`` (identity, relu, sat, square)
avgpool       mean of each ``k x k`` window (stride ``s``, default ``k``; no padding): exact;
              its fixed factor ``1/k^2`` is a ``scale`` node of ``f`` (PyTorch's AvgPool has
              no parameter either). With ``divisor = 1`` it is a *sum* pool (PyTorch:
              ``AvgPool2d(..., divisor_override=1)``), which has no fixed factor at all: use it
              when the compiler makes every fixed factor of ``F`` trainable (T5), since a
              trainable ``1/k^2`` inside ``f`` would move at step ``K`` and break T3
maxpool       max of each window, as a fold ``m <- m + relu(a - m)`` over the window in
              row-major order (``max(a, b) = b + relu(a - b)``)
flatten       changes only the logical shape (the graph value is always the flat vector)
add           ``x + g(x)``: the join of a residual block
============  ==============================================================================

Derivative conventions (stated once): ``relu'(0) = 0`` (the graph's ``step``); a max
pool passes the gradient of a window to its *first* maximal entry in row-major window
order (at a tie ``a = m`` the fold keeps ``m``, since ``relu'(0) = 0``), which is also
PyTorch's CPU convention; an average pool spreads it as ``1/k^2``.

Weights ``w``: the parameter tensors in :attr:`ConvNet.params` order (name, shape),
each row-major; a conv weight is ``(out, in, kh, kw)`` (``(out, in, k)`` in 1-D) and a
dense weight ``(out, in)``, as in PyTorch, so ``w`` is the concatenation of a
``state_dict``'s tensors in order. A parameter used by two layers is shared.

Spec strings (``parse_cnn``)
----------------------------

``cnn:SHAPE-LAYER-LAYER-...``, ``SHAPE`` = ``CxHxW`` (2-D) or ``CxL`` (1-D), layers:

* ``c<O>k<K>[s<S>][p<P>]``: convolution, ``O`` output channels, kernel ``K`` (square),
  stride ``S`` (default 1), zero padding ``P`` (default 0), with a bias;
* ``relu``, ``sat``, ``square``, ``identity``: an activation;
* ``p<K>[s<S>]`` or ``mp<K>[s<S>]``: max pooling; ``ap<K>[s<S>]``: average pooling;
  ``sp<K>[s<S>]``: sum pooling (stride default ``K``);
* ``flat``: flatten (implicit before ``fc``);
* ``fc<N>``: a dense layer with ``N`` outputs and a bias;
* ``r(LAYER-LAYER-...)``: a residual block ``x + g(x)`` (``g`` must keep the shape).

The network's output must be a vector of length ``c``; e.g.
``cnn:1x8x8-c2k3-relu-p2-fc10`` (digits: 64 features, 10 classes) and
``cnn:1x8x8-c2k3p1-relu-r(c2k3p1-relu)-ap2-fc10``.

Composition in Python: ``sequential((1, 8, 8), [Conv(2, 3), Act("relu"), MaxPool(2),
Dense(10)])`` with the layer classes below; :class:`Residual` nests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..graph import core as g
from ..graph.core import Node
from .mlp import EXACT_ACTIVATIONS, NetworkSpecError, activate

__all__ = [
    "Act", "AvgPool", "Conv", "ConvNet", "Dense", "Flatten", "MaxPool", "Op", "Residual",
    "parse_cnn", "sequential",
]

CNN_ACTIVATIONS = ("identity", "relu", "sat", "square")
Shape = tuple[int, ...]


# ------------------------------------------------------------------------ the DAG


@dataclass(frozen=True)
class Op:
    """One layer of a :class:`ConvNet`: ``kind``, its input ops, per-sample output shape.

    ``attrs`` (by kind): conv: ``weight``, ``bias`` (parameter names or None),
    ``kernel``, ``stride``, ``padding`` (pairs ``(h, w)``), ``in3`` (input as
    ``(C, H, W)``); dense: ``weight``, ``bias``; act: ``name``; avgpool/maxpool:
    ``kernel``, ``stride``, ``in3`` (avgpool also ``divisor``: ``kh kw`` for a mean, 1 for a
    sum); input/flatten/reshape/add: nothing.
    """

    kind: str
    inputs: tuple[int, ...]
    shape: Shape
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class ConvNet:
    """A base network given as a DAG of layers (see the module docstring).

    ``ops[0]`` is the input, ``ops[-1]`` the output; ``params`` lists the parameter
    tensors in the layout of ``w``.
    """

    input_shape: Shape
    ops: tuple[Op, ...]
    params: tuple[tuple[str, Shape], ...]
    spec: str = ""

    def __post_init__(self) -> None:
        if not self.ops or self.ops[0].kind != "input":
            raise NetworkSpecError("a ConvNet starts with its input op")
        if len(self.ops[-1].shape) != 1:
            raise NetworkSpecError(
                f"the network ends with shape {self.ops[-1].shape}; end it with a dense layer "
                "(fc<N>) or a flatten so that its output is a vector of class scores")
        names = [n for n, _ in self.params]
        if len(set(names)) != len(names):
            raise NetworkSpecError("a parameter name appears twice in the layout")
        known = set(names)
        for op in self.ops:
            for key in ("weight", "bias"):
                name = op.attrs.get(key)
                if name is not None and name not in known:
                    raise NetworkSpecError(f"layer {op.kind} uses parameter {name!r} which is "
                                           "not in the layout")
            if any(i >= len(self.ops) or i < 0 for i in op.inputs):
                raise NetworkSpecError("a layer takes an input that comes after it")

    # ---------------------------------------------------------------- the network API

    @property
    def d(self) -> int:
        return int(np.prod(self.input_shape, dtype=np.int64))

    @property
    def c(self) -> int:
        return self.ops[-1].size

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(s, dtype=np.int64)) for _, s in self.params)

    @property
    def offsets(self) -> dict[str, tuple[int, Shape]]:
        """``name -> (offset in w, shape)``."""
        out, off = {}, 0
        for name, shape in self.params:
            out[name] = (off, shape)
            off += int(np.prod(shape, dtype=np.int64))
        return out

    @property
    def bias(self) -> bool:
        return any(op.attrs.get("bias") is not None for op in self.ops)

    @property
    def activation(self) -> str:
        """The activation of the hidden layers if there is one kind, else ``mixed``."""
        names = {op.attrs["name"] for op in self.ops if op.kind == "act"}
        if "maxpool" in {op.kind for op in self.ops}:
            names.add("relu")
        if not names:
            return "identity"
        return names.pop() if len(names) == 1 else "mixed"

    @property
    def exact(self) -> bool:
        return all(op.attrs["name"] in EXACT_ACTIVATIONS for op in self.ops if op.kind == "act")

    def describe(self) -> str:
        kinds = [op.kind for op in self.ops[1:] if op.kind not in ("reshape", "flatten")]
        label = self.spec or "-".join(kinds)
        shape = "x".join(str(s) for s in self.input_shape)
        return f"cnn {label} on {shape} inputs ({self.n_params} weights)"

    def param_slice(self, w: Node, name: str) -> Node:
        off, shape = self.offsets[name]
        return g.slice_(w, off, off + int(np.prod(shape, dtype=np.int64)))

    def forward(self, w: Node, x: Node) -> Node:
        """The network's output ``f(x; w)`` as a graph (per sample; flat vector of ``c``)."""
        if w.shape != (self.n_params,):
            raise NetworkSpecError(f"weights of shape {w.shape}, expected ({self.n_params},)")
        if x.shape != (self.d,):
            raise NetworkSpecError(f"input of shape {x.shape}, expected ({self.d},)")
        vals: list[Node] = []
        for op in self.ops:
            ins = [vals[i] for i in op.inputs]
            vals.append(self._build(op, ins, w, x))
        return vals[-1]

    def _build(self, op: Op, ins: list[Node], w: Node, x: Node) -> Node:
        a = op.attrs
        if op.kind == "input":
            return x
        if op.kind in ("flatten", "reshape"):
            return ins[0]
        if op.kind == "act":
            return activate(a["name"], ins[0])
        if op.kind == "add":
            return g.add(ins[0], ins[1])
        if op.kind == "dense":
            n_out, n_in = self.offsets[a["weight"]][1]
            W = g.reshape(self.param_slice(w, a["weight"]), (n_out, n_in))
            z = g.matmul(W, ins[0])
            if a.get("bias") is not None:
                z = g.add(z, self.param_slice(w, a["bias"]))
            return z
        if op.kind == "conv":
            return _conv_graph(op, ins[0], self.param_slice(w, a["weight"]),
                               None if a.get("bias") is None else self.param_slice(w, a["bias"]))
        if op.kind in ("avgpool", "maxpool"):
            return _pool_graph(op, ins[0])
        raise NetworkSpecError(f"unknown layer kind {op.kind!r}")


# ------------------------------------------------------------- graph building blocks


def _select(v: Node, R: int, L: int, B: int, start: int, count: int, step: int) -> Node:
    """View the flat ``v`` as ``(R, L, B)`` and keep ``[r, start + j step, b]``, ``j < count``.

    Only reshapes, transposes, a zero pad and slices (exact linear maps); returns the
    flat ``(R, count, B)`` block.
    """
    if start == 0 and count == L and step == 1:
        return v
    if R == 1 and step == 1:
        return g.slice_(v, start * B, (start + count) * B)
    t = g.flatten(g.transpose(g.reshape(v, (R, L * B)))) if R > 1 else v  # [l, b, r]
    if step == 1:
        s = g.slice_(t, start * B * R, (start + count) * B * R)  # [j, b, r]
        return g.flatten(g.transpose(g.reshape(s, (count * B, R))))
    need = (start + count * step) * B * R
    if need > t.shape[0]:
        t = g.pad(t, 0, need)
    s = g.slice_(t, start * B * R, need)  # [j, t, b, r]
    s = g.flatten(g.transpose(g.reshape(s, (count, step * B * R))))  # [t, b, r, j]
    s = g.slice_(s, 0, B * R * count)  # [b, r, j]
    if B > 1:
        s = g.flatten(g.transpose(g.reshape(s, (B, R * count))))  # [r, j, b]
    return s


def _grid(v: Node, C: int, H: int, W: int, u: int, k: int, sh: int, sw: int,
          Ho: int, Wo: int) -> Node:
    """``[c, i, j] -> v[c, u + i sh, k + j sw]`` of the flat ``(C, H, W)`` tensor ``v``."""
    cols = _select(v, C * H, W, 1, k, Wo, sw)  # (C*H, Wo)
    return _select(cols, C, H, Wo, u, Ho, sh)  # (C, Ho, Wo)


def _pad2d(v: Node, C: int, H: int, W: int, ph: int, pw: int) -> Node:
    """Zero-pad the flat ``(C, H, W)`` tensor by ``ph`` rows and ``pw`` columns on each side."""
    if pw:
        Wp = W + 2 * pw
        if C * H == 1:
            v = g.pad(v, pw, Wp)
        else:
            t = g.flatten(g.transpose(g.reshape(v, (C * H, W))))  # [w, ch]
            t = g.pad(t, pw * C * H, Wp * C * H)
            v = g.flatten(g.transpose(g.reshape(t, (Wp, C * H))))
        W = Wp
    if ph:
        Hp = H + 2 * ph
        if C == 1:
            v = g.pad(v, ph * W, Hp * W)
        else:
            t = g.flatten(g.transpose(g.reshape(v, (C, H * W))))  # [hw, c]
            t = g.pad(t, ph * W * C, Hp * W * C)
            v = g.flatten(g.transpose(g.reshape(t, (Hp * W, C))))
    return v


def _conv_graph(op: Op, h: Node, weight: Node, bias: Node | None) -> Node:
    C, H, W = op.attrs["in3"]
    kh, kw = op.attrs["kernel"]
    sh, sw = op.attrs["stride"]
    ph, pw = op.attrs["padding"]
    O = op.shape[0]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    P = Ho * Wo
    xp = _pad2d(h, C, H, W, ph, pw)
    grids = {(u, k): _grid(xp, C, Hp, Wp, u, k, sh, sw, Ho, Wo)
             for u in range(kh) for k in range(kw)}
    rows = [g.slice_(grids[u, k], c * P, (c + 1) * P)
            for c in range(C) for u in range(kh) for k in range(kw)]
    cols = g.reshape(g.concat(rows), (C * kh * kw, P))  # row c*kh*kw + u*kw + k
    kmat = g.reshape(weight, (O, C * kh * kw))
    out = g.matmul(kmat, cols)  # (O, P)
    if bias is not None:
        rep = g.reshape(g.concat([bias] * P), (P, O)) if P > 1 else g.reshape(bias, (1, O))
        out = g.add(out, g.transpose(rep))
    return g.flatten(out)


def _pool_graph(op: Op, h: Node) -> Node:
    C, H, W = op.attrs["in3"]
    kh, kw = op.attrs["kernel"]
    sh, sw = op.attrs["stride"]
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    windows = [_grid(h, C, H, W, u, k, sh, sw, Ho, Wo) for u in range(kh) for k in range(kw)]
    if op.kind == "avgpool":
        divisor = op.attrs.get("divisor") or kh * kw
        return g.scale(g.add_all(windows), Fraction(1, divisor))
    m = windows[0]
    for a in windows[1:]:
        m = g.add(m, g.unary("relu", g.sub(a, m)))  # max(a, m) = m + relu(a - m)
    return m


# ------------------------------------------------------------- composition in Python


@dataclass(frozen=True)
class Conv:
    """A 1-D or 2-D convolution (the rank of its input decides); square kernel."""

    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    bias: bool = True


@dataclass(frozen=True)
class Dense:
    out: int
    bias: bool = True


@dataclass(frozen=True)
class Act:
    name: str = "relu"


@dataclass(frozen=True)
class AvgPool:
    """Mean over each window; ``divisor=1`` makes it a sum pool (no fixed factor)."""

    kernel: int
    stride: int | None = None
    divisor: int | None = None


@dataclass(frozen=True)
class MaxPool:
    kernel: int
    stride: int | None = None


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Residual:
    """``x + g(x)`` with ``g`` the layers given (which must keep the shape)."""

    layers: tuple[Any, ...]

    def __init__(self, layers: Sequence[Any]) -> None:
        object.__setattr__(self, "layers", tuple(layers))


def as3(shape: Shape, what: str) -> tuple[int, int, int, bool]:
    """``(C, H, W, is_1d)`` of a spatial shape ``(C, L)`` or ``(C, H, W)``."""
    if len(shape) == 2:
        return shape[0], 1, shape[1], True
    if len(shape) == 3:
        return shape[0], shape[1], shape[2], False
    raise NetworkSpecError(f"{what} needs a (C, L) or (C, H, W) input, got shape {shape}; "
                           "put it before the flatten/dense layers")


class Builder:
    """Appends layers to a DAG, allotting parameters in call order (used by the parsers)."""

    def __init__(self, input_shape: Shape) -> None:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) not in (1, 2, 3) or any(s < 1 for s in shape):
            raise NetworkSpecError(f"input shape {input_shape} must be (d,), (C, L) or "
                                   "(C, H, W) with positive entries")
        self.ops: list[Op] = [Op("input", (), shape)]
        self.params: list[tuple[str, Shape]] = []

    def add(self, kind: str, inputs: Sequence[int], shape: Shape, **attrs: Any) -> int:
        if any(s < 1 for s in shape):
            raise NetworkSpecError(f"layer {kind} would produce the empty shape {shape}; the "
                                   "input is too small for this kernel/stride")
        self.ops.append(Op(kind, tuple(inputs), tuple(int(s) for s in shape), attrs))
        return len(self.ops) - 1

    def param(self, name: str, shape: Shape) -> str:
        self.params.append((name, tuple(shape)))
        return name

    def shape(self, i: int) -> Shape:
        return self.ops[i].shape

    def conv(self, i: int, out: int, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int], weight: str, bias: str | None) -> int:
        C, H, W, one_d = as3(self.shape(i), "a convolution")
        Ho = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1
        Wo = (W + 2 * padding[1] - kernel[1]) // stride[1] + 1
        shape = (out, Wo) if one_d else (out, Ho, Wo)
        return self.add("conv", [i], shape, weight=weight, bias=bias, kernel=kernel,
                        stride=stride, padding=padding, in3=(C, H, W))

    def pool(self, i: int, kind: str, kernel: tuple[int, int], stride: tuple[int, int],
             divisor: int | None = None) -> int:
        C, H, W, one_d = as3(self.shape(i), "a pooling layer")
        Ho, Wo = (H - kernel[0]) // stride[0] + 1, (W - kernel[1]) // stride[1] + 1
        if min(kernel) < 1 or min(stride) < 1 or (divisor is not None and divisor < 1):
            raise NetworkSpecError("pooling needs kernel >= 1, stride >= 1 and divisor >= 1")
        extra = {"divisor": divisor or kernel[0] * kernel[1]} if kind == "avgpool" else {}
        return self.add(kind, [i], (C, Wo) if one_d else (C, Ho, Wo), kernel=kernel,
                        stride=stride, in3=(C, H, W), **extra)

    def layer(self, i: int, layer: Any, name: str) -> int:
        """Append one composition layer after op ``i``; returns the new last op."""
        if isinstance(layer, Conv):
            C, _, _, one_d = as3(self.shape(i), "a convolution")
            k, s, p = layer.kernel, layer.stride, layer.padding
            if k < 1 or s < 1 or p < 0:
                raise NetworkSpecError(f"convolution {layer} needs kernel >= 1, stride >= 1, "
                                       "padding >= 0")
            kshape = (layer.out_channels, C, k) if one_d else (layer.out_channels, C, k, k)
            wname = self.param(f"{name}.weight", kshape)
            bname = self.param(f"{name}.bias", (layer.out_channels,)) if layer.bias else None
            if one_d:
                return self.conv(i, layer.out_channels, (1, k), (1, s), (0, p), wname, bname)
            return self.conv(i, layer.out_channels, (k, k), (s, s), (p, p), wname, bname)
        if isinstance(layer, Dense):
            i = self.flatten(i)
            n_in = self.shape(i)[0]
            wname = self.param(f"{name}.weight", (layer.out, n_in))
            bname = self.param(f"{name}.bias", (layer.out,)) if layer.bias else None
            return self.add("dense", [i], (layer.out,), weight=wname, bias=bname)
        if isinstance(layer, Act):
            if layer.name not in CNN_ACTIVATIONS:
                raise NetworkSpecError(f"unknown activation {layer.name!r} in a cnn; choose one "
                                       f"of {', '.join(CNN_ACTIVATIONS)}")
            return self.add("act", [i], self.shape(i), name=layer.name)
        if isinstance(layer, (AvgPool, MaxPool)):
            kind = "avgpool" if isinstance(layer, AvgPool) else "maxpool"
            k = layer.kernel
            s = layer.stride or k
            _, _, _, one_d = as3(self.shape(i), "a pooling layer")
            return self.pool(i, kind, (1, k) if one_d else (k, k), (1, s) if one_d else (s, s),
                             getattr(layer, "divisor", None))
        if isinstance(layer, Flatten):
            return self.flatten(i)
        if isinstance(layer, Residual):
            j = i
            for n, sub in enumerate(layer.layers):
                j = self.layer(j, sub, f"{name}.{n}")
            if self.shape(j) != self.shape(i):
                raise NetworkSpecError(f"residual block {name} maps shape {self.shape(i)} to "
                                       f"{self.shape(j)}; x + g(x) needs g to keep the shape "
                                       "(use padding (k-1)/2 and as many channels as its input)")
            return self.add("add", [i, j], self.shape(i))
        raise NetworkSpecError(f"unknown layer {layer!r}; use Conv, Dense, Act, AvgPool, "
                               "MaxPool, Flatten or Residual")

    def flatten(self, i: int) -> int:
        if len(self.shape(i)) == 1:
            return i
        return self.add("flatten", [i], (self.ops[i].size,))

    def build(self, spec: str = "") -> ConvNet:
        return ConvNet(self.ops[0].shape, tuple(self.ops), tuple(self.params), spec)


def sequential(input_shape: Shape, layers: Sequence[Any], spec: str = "") -> ConvNet:
    """A ConvNet from a list of layers (parameters named ``layer<i>.weight/.bias``)."""
    b = Builder(input_shape)
    i = 0
    for n, layer in enumerate(layers):
        i = b.layer(i, layer, f"layer{n}")
    return b.build(spec)


# ------------------------------------------------------------------- spec strings

_CONV = re.compile(r"^c(\d+)k(\d+)(?:s(\d+))?(?:p(\d+))?$")
_POOL = re.compile(r"^(mp|ap|sp|p)(\d+)(?:s(\d+))?$")
_FC = re.compile(r"^fc(\d+)$")
_SHAPE = re.compile(r"^\d+(?:x\d+){1,2}$")


def _split(text: str) -> list[str]:
    """Split on ``-`` outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise NetworkSpecError(f"unbalanced ')' in cnn spec {text!r}")
        if ch == "-" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise NetworkSpecError(f"unbalanced '(' in cnn spec {text!r}")
    parts.append(cur)
    return parts


def _layers(tokens: list[str], spec: str) -> list[Any]:
    out: list[Any] = []
    for tok in tokens:
        if tok.startswith("r(") and tok.endswith(")"):
            out.append(Residual(_layers(_split(tok[2:-1]), spec)))
            continue
        if m := _CONV.match(tok):
            out.append(Conv(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1),
                            int(m.group(4) or 0)))
            continue
        if m := _POOL.match(tok):
            k = int(m.group(2))
            s = int(m.group(3)) if m.group(3) else None
            kind = m.group(1)
            out.append(AvgPool(k, s) if kind == "ap" else AvgPool(k, s, 1) if kind == "sp"
                       else MaxPool(k, s))
            continue
        if m := _FC.match(tok):
            out.append(Dense(int(m.group(1))))
            continue
        if tok in CNN_ACTIVATIONS:
            out.append(Act(tok))
            continue
        if tok == "flat":
            out.append(Flatten())
            continue
        raise NetworkSpecError(
            f"cannot read layer {tok!r} of {spec!r}; layers are c<O>k<K>[s<S>][p<P>], relu, "
            "sat, square, identity, p<K>/mp<K>/ap<K>/sp<K>[s<S>], flat, fc<N>, r(...)")
    return out


def parse_cnn(spec: str, d: int | None = None, c: int | None = None) -> ConvNet:
    """Parse ``cnn:SHAPE-LAYER-...`` (grammar in the module docstring); check ``d``, ``c``."""
    spec = spec.strip()
    if not spec.startswith("cnn:"):
        raise NetworkSpecError(f"a cnn spec starts with 'cnn:', got {spec!r}")
    tokens = _split(spec[4:])
    if not tokens or not _SHAPE.match(tokens[0]):
        raise NetworkSpecError(
            f"cnn spec {spec!r} must start with the input shape CxHxW or CxL, e.g. "
            "cnn:1x8x8-c2k3-relu-p2-fc10")
    shape = tuple(int(s) for s in tokens[0].split("x"))
    layers = _layers(tokens[1:], spec)
    if any(isinstance(t, Conv) and (t.kernel < 1 or t.stride < 1) for t in layers):
        raise NetworkSpecError(f"kernels and strides in {spec!r} must be at least 1")
    net = sequential(shape, layers, spec=spec[4:])
    if d is not None and net.d != d:
        raise NetworkSpecError(
            f"network {spec!r} takes inputs of shape {tokens[0]} = {net.d} features but the "
            f"data set has {d}; choose a shape with {d} entries")
    if c is not None and net.c != c:
        raise NetworkSpecError(
            f"network {spec!r} has {net.c} outputs but the data set has {c} classes; end it "
            f"with fc{c}")
    return net
