"""A PyTorch ``nn.Module`` as the base network: ``from_torch(module, example_input)``.

The module is read through ``torch.fx`` (symbolic tracing, then ``ShapeProp`` on the
example input for the per-sample shapes) into a :class:`~.cnn.ConvNet`, so it runs on
every backend of the toolkit (exact Fractions included) and verifies like a spec-string
network. Understood layers: ``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d`` (groups 1,
dilation 1, zero padding), ``nn.ReLU`` / ``F.relu`` / ``torch.relu`` / ``.relu()``,
``nn.Flatten`` / ``torch.flatten(x, 1)`` / ``.flatten(1)`` / ``.view`` / ``.reshape``
(keeping the batch axis), ``nn.AvgPool1d/2d`` and ``nn.MaxPool1d/2d`` and their
functional forms (no padding, no ceil mode; ``divisor_override=1`` is a sum pool),
``nn.Identity``, eval-mode ``nn.Dropout``, and the sum of two tensors (``x + g(x)``:
residual blocks). Anything else is refused with one sentence naming the layer
(:class:`TorchImportError`).

Weights ``w``: the module's parameters in ``state_dict`` order, each flattened
row-major (so ``w`` is ``cat([t.flatten() for t in state_dict().values()])`` over the
parameters); :meth:`TorchNet.to_torch_state_dict` turns a weight vector such as
``A(D)`` back into a ``state_dict`` for ``module.load_state_dict``.

The example input carries the batch axis: ``(N, C, H, W)``, ``(N, C, L)`` or ``(N, d)``;
the toolkit's per-sample input vector ``x`` is its flattening (C order), so a data set
of ``d = C H W`` features feeds the module as ``x.reshape(N, C, H, W)``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .cnn import Builder, ConvNet
from .mlp import NetworkSpecError

__all__ = ["TorchImportError", "TorchNet", "from_torch", "torch_weights"]

_SUPPORTED = ("Linear, Conv1d, Conv2d, ReLU, Flatten, AvgPool1d/2d, MaxPool1d/2d (modules or "
              "functions), Identity, "
              "view/reshape/flatten and the sum of two tensors")


class TorchImportError(NetworkSpecError):
    """The module uses a layer or a setting that ``from_torch`` cannot read."""


@dataclass(frozen=True, eq=False)
class TorchNet(ConvNet):
    """A :class:`ConvNet` read from a PyTorch module; knows how to give its weights back."""

    module_name: str = ""
    buffers: dict[str, Any] = field(default_factory=dict, compare=False)
    dtypes: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        shape = "x".join(str(s) for s in self.input_shape)
        return (f"torch {self.module_name} on {shape} inputs, {len(self.ops) - 1} layers "
                f"({self.n_params} weights)")

    def to_torch_state_dict(self, w: Any) -> dict[str, Any]:
        """A ``state_dict`` holding the weight vector ``w`` (e.g. ``A(D)``), buffers kept."""
        import torch

        flat = np.asarray(w, dtype=object).reshape(-1)
        if flat.shape != (self.n_params,):
            raise TorchImportError(f"w has {flat.shape[0]} entries but the module has "
                                   f"{self.n_params} weights")
        out: dict[str, Any] = {}
        offsets = self.offsets
        for name, shape in self.params:
            off, _ = offsets[name]
            size = int(np.prod(shape, dtype=np.int64))
            vals = [float(v) for v in flat[off:off + size]]
            out[name] = torch.tensor(vals, dtype=self.dtypes.get(name, torch.float64)
                                     ).reshape(shape)
        for name, buf in self.buffers.items():
            out[name] = buf.clone()
        return out


def torch_weights(module: Any) -> np.ndarray:
    """The module's parameters as the flat exact vector ``w`` (each float read exactly)."""
    parts: list[Fraction] = []
    names = {n for n, _ in module.named_parameters()}
    for name, t in module.state_dict().items():
        if name in names:
            parts.extend(Fraction(float(v)) for v in t.detach().double().reshape(-1).tolist())
    out = np.empty(len(parts), dtype=object)
    out[:] = parts
    return out


_POOL_ARGS = {
    "max_pool1d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "max_pool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool1d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "avg_pool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override"),
}


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[-1])
    return int(v), int(v)


def _single(v: Any) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def from_torch(module: Any, example_input: Any) -> TorchNet:
    """Read ``module`` (an ``nn.Module``) into the graph IR; see the module docstring."""
    try:
        import torch
        import torch.fx
        from torch import nn
        from torch.fx.passes.shape_prop import ShapeProp
    except ImportError as exc:  # pragma: no cover - torch is an optional extra
        raise TorchImportError("from_torch needs PyTorch; install the 'torch' extra") from exc

    if not isinstance(module, nn.Module):
        raise TorchImportError(f"from_torch reads an nn.Module, got {type(module).__name__}")
    example = torch.as_tensor(example_input)
    if example.dim() < 2:
        raise TorchImportError("the example input needs a batch axis first, e.g. shape "
                               "(1, C, H, W)")
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as exc:
        raise TorchImportError(f"torch.fx cannot trace {type(module).__name__} ({exc}); "
                               "write its forward without data-dependent Python control "
                               "flow") from None
    ShapeProp(gm).propagate(example)

    # parameters in state_dict order; tied parameters are refused
    named = dict(module.named_parameters(remove_duplicate=False))
    seen: dict[int, str] = {}
    for name, p in named.items():
        if id(p) in seen:
            raise TorchImportError(f"parameters {seen[id(p)]!r} and {name!r} are the same tensor; "
                                   "from_torch lays out every parameter once, untie them")
        seen[id(p)] = name
    state = module.state_dict()
    b = Builder(tuple(int(s) for s in example.shape[1:]))
    b.params = [(k, tuple(int(s) for s in v.shape)) for k, v in state.items() if k in named]
    buffers = {k: v.detach().clone() for k, v in state.items() if k not in named}
    dtypes = {k: v.dtype for k, v in state.items() if k in named}

    env: dict[Any, int] = {}
    out_index: int | None = None

    def shape_of(node: Any) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            raise TorchImportError(f"node {node.name} does not produce a single tensor; "
                                   f"from_torch reads {_SUPPORTED}")
        return tuple(int(s) for s in meta.shape[1:])

    def arg(node: Any, k: int = 0) -> int:
        a = node.args[k]
        if a not in env:
            raise TorchImportError(f"{node.name}: argument {k} is not a tensor computed by the "
                                   "network (constants and buffers are not supported)")
        return env[a]

    def act(node: Any) -> int:
        return b.add("act", [arg(node)], b.shape(arg(node)), name="relu")

    def flatten(node: Any, start: int, end: int) -> int:
        if start != 1 or end != -1:
            raise TorchImportError(f"{node.name}: only flatten(start_dim=1, end_dim=-1) keeps "
                                   "one vector per sample")
        return b.flatten(arg(node))

    def reshape(node: Any) -> int:
        i = arg(node)
        shape = shape_of(node)
        if int(np.prod(shape, dtype=np.int64)) != b.ops[i].size:
            raise TorchImportError(f"{node.name}: view/reshape must keep the batch axis")
        return b.add("reshape", [i], shape)

    def functional_pool(node: Any, fname: str) -> int:
        names = _POOL_ARGS[fname]
        opts = dict(zip(names, node.args[1:], strict=False))
        opts.update(node.kwargs)
        is_max = fname.startswith("max")
        one_d = fname.endswith("1d")
        kernel = opts["kernel_size"]
        stride = opts.get("stride") or kernel
        if (opts.get("ceil_mode") or opts.get("return_indices")
                or any(int(p) != 0 for p in np.atleast_1d(opts.get("padding", 0)))
                or any(int(d) != 1 for d in np.atleast_1d(opts.get("dilation", 1)))):
            raise TorchImportError(f"{node.name} ({fname}) uses padding, ceil_mode, dilation "
                                   "or indices; from_torch reads pooling without them")
        if one_d:
            k, st = (1, _single(kernel)), (1, _single(stride))
        else:
            k, st = _pair(kernel), _pair(stride)
        divisor = None if is_max else opts.get("divisor_override")
        return b.pool(arg(node), "maxpool" if is_max else "avgpool", k, st,
                      None if divisor is None else int(divisor))

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if env:
                raise TorchImportError("the module takes more than one input; from_torch reads "
                                       "forward(x) only")
            env[node] = 0
            continue
        if node.op == "output":
            res = node.args[0]
            if res not in env:
                raise TorchImportError("the module must return one tensor (its class scores)")
            out_index = env[res]
            continue
        if node.op == "get_attr":
            raise TorchImportError(f"{node.target}: a parameter or buffer used directly in "
                                   "forward is not supported; use it through a layer")
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            kind = type(mod).__name__
            name = str(node.target)
            if isinstance(mod, nn.Identity) or (isinstance(mod, nn.Dropout) and not
                                                module.training):
                env[node] = arg(node)
            elif isinstance(mod, nn.Dropout):
                raise TorchImportError(f"layer {name} (Dropout) is random in training mode; call "
                                       "module.eval() before from_torch")
            elif isinstance(mod, nn.ReLU):
                env[node] = act(node)
            elif isinstance(mod, nn.Flatten):
                env[node] = flatten(node, mod.start_dim, mod.end_dim)
            elif isinstance(mod, nn.Linear):
                i = arg(node)
                if len(b.shape(i)) != 1:
                    raise TorchImportError(f"{name} (Linear) is applied to a per-sample tensor of "
                                           f"shape {b.shape(i)}; flatten it first")
                env[node] = b.add("dense", [i], (mod.out_features,), weight=f"{name}.weight",
                                  bias=f"{name}.bias" if mod.bias is not None else None)
            elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
                if mod.groups != 1 or any(int(d) != 1 for d in mod.dilation) or \
                        mod.padding_mode != "zeros" or isinstance(mod.padding, str) and \
                        mod.padding != "valid":
                    raise TorchImportError(f"{name} ({kind}) uses groups, dilation, non-zero "
                                           "padding mode or padding='same'; from_torch reads "
                                           "plain convolutions (groups=1, dilation=1, "
                                           "integer zero padding)")
                pad = (0,) * len(mod.kernel_size) if isinstance(mod.padding, str) else \
                    mod.padding
                i = arg(node)
                bias = f"{name}.bias" if mod.bias is not None else None
                if isinstance(mod, nn.Conv1d):
                    env[node] = b.conv(i, mod.out_channels, (1, _single(mod.kernel_size)),
                                       (1, _single(mod.stride)), (0, _single(pad)),
                                       f"{name}.weight", bias)
                else:
                    env[node] = b.conv(i, mod.out_channels, _pair(mod.kernel_size),
                                       _pair(mod.stride), _pair(pad), f"{name}.weight", bias)
            elif isinstance(mod, (nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d)):
                is_max = isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d))
                bad = mod.ceil_mode or any(int(p) != 0 for p in np.atleast_1d(mod.padding))
                if is_max:
                    bad = bad or mod.return_indices or any(
                        int(d) != 1 for d in np.atleast_1d(mod.dilation))

                if bad:
                    raise TorchImportError(f"{name} ({kind}) uses padding, ceil_mode, dilation "
                                           "or indices; from_torch reads pooling without them")
                one_d = isinstance(mod, (nn.AvgPool1d, nn.MaxPool1d))
                stride = mod.stride if mod.stride is not None else mod.kernel_size
                if one_d:
                    k, s = (1, _single(mod.kernel_size)), (1, _single(stride))
                else:
                    k, s = _pair(mod.kernel_size), _pair(stride)
                divisor = None if is_max else getattr(mod, "divisor_override", None)
                env[node] = b.pool(arg(node), "maxpool" if is_max else "avgpool", k, s,
                                   None if divisor is None else int(divisor))
            else:
                raise TorchImportError(f"layer {name} ({kind}) is not supported by from_torch; "
                                       f"it reads {_SUPPORTED}")
        elif node.op == "call_function":
            fn = node.target
            fname = getattr(fn, "__name__", str(fn))
            if fn in (operator.add, torch.add):
                if len(node.args) != 2 or node.kwargs or not all(a in env for a in node.args):
                    raise TorchImportError(f"{node.name}: only the sum of two tensors of the "
                                           "network (x + g(x)) is supported")
                i, j = env[node.args[0]], env[node.args[1]]
                if b.shape(i) != b.shape(j):
                    raise TorchImportError(f"{node.name}: adds shapes {b.shape(i)} and "
                                           f"{b.shape(j)}; a residual sum needs equal shapes")
                env[node] = b.add("add", [i, j], b.shape(i))
            elif fname in _POOL_ARGS:
                env[node] = functional_pool(node, fname)
            elif fn in (torch.relu, torch.nn.functional.relu):
                env[node] = act(node)
            elif fn is torch.flatten:
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
                end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
                env[node] = flatten(node, start, end)
            else:
                raise TorchImportError(f"function {fname} (node {node.name}) is not supported by "
                                       f"from_torch; it reads {_SUPPORTED}")
        elif node.op == "call_method":
            if node.target == "relu":
                env[node] = act(node)
            elif node.target in ("view", "reshape"):
                env[node] = reshape(node)
            elif node.target == "flatten":
                start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
                end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
                env[node] = flatten(node, start, end)
            else:
                raise TorchImportError(f"method .{node.target}() (node {node.name}) is not "
                                       f"supported by from_torch; it reads {_SUPPORTED}")
        else:  # pragma: no cover - fx has no other node kinds
            raise TorchImportError(f"unexpected fx node {node.op}")
        if node in env and node.op != "placeholder":
            got, want = b.shape(env[node]), shape_of(node)
            if int(np.prod(got)) != int(np.prod(want)):
                raise TorchImportError(f"{node.name}: shape {want} in PyTorch but {got} here; "
                                       "please report this module")
    if out_index is None:
        raise TorchImportError("the module's forward returns nothing")
    if len(b.shape(out_index)) != 1:
        raise TorchImportError(f"the module returns per-sample shape {b.shape(out_index)}; "
                               "return a vector of class scores per sample (flatten it)")
    if out_index != len(b.ops) - 1:
        out_index = b.add("reshape", [out_index], b.shape(out_index))
    ops = tuple(b.ops[: out_index + 1])
    return TorchNet(ops[0].shape, ops, tuple(b.params), f"torch:{type(module).__name__}",
                    type(module).__name__, buffers, dtypes)
