"""The extension exported to PyTorch (construction.md section 6, "independent").

:func:`export` turns an :class:`~symbolic_universality.extension.compiler.Extension` into
a ``torch.nn.Module`` whose every coefficient is an ``nn.Parameter`` (one per block of
``ext.shapes``, float64, initialised from ``ext.theta0``: T5) and whose ``forward``
computes ``F_main`` and the aux heads by translating the *forward* graph (``ext.f_main``,
``ext.aux``) node by node into torch operations (structurally identical subexpressions
once, as in ``graph.evaluate.plan``). The gradient graph of the toolkit is
not used: torch's autograd differentiates independently, and plain
``torch.optim.SGD(model.parameters(), lr=float(ext.eta))`` trains the module.

Derivative conventions (``networks.mlp``), matched op by op:

* ``relu``: ``torch.relu``, whose derivative at 0 is 0 (``relu'(0) = 0``);
* ``step`` (Heaviside, ``H(0) = 0``) and ``dsat``: comparisons cast to float64, with no
  gradient (their derivative is 0 wherever it exists);
* ``sat(z) = min(1, max(0, z))``: ``torch.where((z > 0) & (z < 1), z, (z >= 1))``, so the
  derivative is 1 on the open interval ``(0, 1)`` and 0 elsewhere, as ``dsat``.
  ``torch.clamp(z, 0, 1)`` would not do: its gradient is 1 also at ``z = 0`` and ``z = 1``
  (PyTorch passes the gradient where ``min <= z <= max``). The gates' arguments are
  ``+-2`` so they would not notice, but a base network with the ``sat`` activation would;
* ``recip`` is total, ``1/0 := 0``, with derivative ``-1/z^2`` and 0 at 0 (a double
  ``torch.where``, so no ``nan`` reaches the gradient);
* ``pow`` with ``k = 0`` is the constant 1 (no ``0 * inf`` in the gradient at ``z = 0``).

Pruning (``prune=True``, the default; lemma *isolation* and the flat-gates lemma of
construction.md section 4): in every forward the module first evaluates the gates (the
unbatched ``sat`` nodes of :func:`..numeric.run.gate_nodes`) from the current parameters. A
gate whose argument is ``<= 0`` is exactly 0 *with zero derivative* (``sat`` is flat
there, and its torch translation has derivative 0 there), so a product ``gate * head`` has
value 0 and gradient 0 in every parameter whatever ``head`` is: the module replaces it by
a constant zero and never evaluates ``head`` (nor anything only ``head`` needs). The
decision is taken again in each forward, so the module is the same function of its
parameters as the unpruned one and ``torch.optim.SGD`` trains it the same way (only
``0 * v`` for a non-finite ``v`` differs: it is 0 here, ``nan`` in IEEE). An aux head known
to be zero is also left out of :meth:`ExtensionModule.loss`.

Devices: ``export(ext, device=...)`` (or ``module.to(device)``) places parameters and
constants on any torch device; ``forward`` and :func:`train` move the data there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

try:  # PyTorch is an optional dependency (extra "torch")
    import torch
    from torch import nn
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without torch
    raise ModuleNotFoundError(
        "the PyTorch export needs torch; install it with pip install torch==2.13.0",
        name=exc.name) from None

from ..backends.scalars import NUMERIC
from ..extension.compiler import Extension
from ..graph.core import GraphError, Node
from ..graph.evaluate import plan
from .run import gate_nodes

DTYPE = torch.float64
#: Samples per gradient-accumulation chunk of :func:`train` (bounded memory).
DEFAULT_TORCH_CHUNK = 8192


def _safe_name(name: str) -> str:
    return name.replace(".", "__")


class ExtensionModule(nn.Module):
    """``F(x; theta) = (F_main, F_aux)`` of an extension, every coefficient a parameter.

    ``forward(x)`` returns ``(F_main, aux)``: ``F_main`` of shape ``(m, c)`` and one tensor
    per aux head, shape ``(m,) + head shape`` (batched) or the head shape (unbatched).
    """

    def __init__(self, ext: Extension, *, prune: bool = True) -> None:
        super().__init__()
        self.names: list[str] = list(ext.shapes)
        self._attr = {name: _safe_name(name) for name in self.names}
        for name in self.names:
            value = NUMERIC.asarray(ext.theta0[name]).reshape(ext.shapes[name])
            self.register_parameter(self._attr[name], nn.Parameter(
                torch.tensor(value, dtype=DTYPE)))
        self._outputs = [ext.f_main, *ext.aux]
        # structurally identical subexpressions are translated once (graph.evaluate.plan)
        graph_plan = plan(self._outputs)
        self._order = graph_plan.order
        self._canon = graph_plan.canon
        for node in self._order:
            if node.op in ("y", "bsum", "bmean", "bdot", "inv_n"):
                raise GraphError(f"the forward graph contains {node.op!r}; it cannot be exported")
        self._const_attr: dict[int, str] = {}
        self._const_zero: dict[int, bool] = {}
        for n in self._order:
            if n.op == "const":
                self._const_attr[n.id] = f"_const_{n.id}"
                value = NUMERIC.asarray(n.attrs["value"])
                self._const_zero[n.id] = not np.any(value)
                self.register_buffer(self._const_attr[n.id], torch.tensor(
                    value, dtype=DTYPE), persistent=False)
        self.eta = ext.eta
        self.K = ext.K
        self.prune = prune
        #: the main loss: "mse" or "ce" (softmax cross-entropy, ``torch.logsumexp``)
        self.loss_kind = ext.loss_kind
        # gate (canonical node) -> the products that have it as a direct factor
        canon = self._canon
        self._gates = sorted({canon[n.id].id: canon[n.id] for n in gate_nodes(ext).values()
                              if canon[n.id].op == "sat"}.items())
        gate_ids = {gid for gid, _ in self._gates}
        self._gated: dict[int, tuple[int, int]] = {}
        for node in self._order:
            if node.op == "mul":
                for pos, inp in enumerate(node.inputs):
                    if canon[inp.id].id in gate_ids:
                        self._gated[node.id] = (canon[inp.id].id, 1 - pos)
                        break
        self._gate_order = self._needed_order(
            {gid for gid, _ in self._gates}, set())
        self._schedules: dict[frozenset[int], tuple[list[Node], set[int]]] = {}
        #: the gates found flat (exactly 0, zero derivative) in the last forward
        self.last_flat: frozenset[int] = frozenset()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _needed_order(self, roots: set[int], flat: set[int]) -> list[Node]:
        """The nodes (in evaluation order) that ``roots`` need, not entering the head of a
        product whose gate is in ``flat``."""
        canon = self._canon
        needed: set[int] = set()
        stack = list(roots)
        by_id = {n.id: n for n in self._order}
        while stack:
            nid = stack.pop()
            if nid in needed:
                continue
            needed.add(nid)
            node = by_id[nid]
            gated = self._gated.get(nid)
            if gated is not None and gated[0] in flat:
                continue  # a constant zero: neither factor is needed
            stack.extend(canon[i.id].id for i in node.inputs)
        return [n for n in self._order if n.id in needed]

    def _schedule(self, flat: frozenset[int]) -> tuple[list[Node], set[int]]:
        """Evaluation order and zeroed products for one pattern of flat gates (cached)."""
        found = self._schedules.get(flat)
        if found is None:
            roots = {self._canon[o.id].id for o in self._outputs}
            order = self._needed_order(roots, set(flat))
            zeroed = {n.id for n in order if n.id in self._gated
                      and self._gated[n.id][0] in flat}
            found = self._schedules[flat] = (order, zeroed)
        return found
    def parameter(self, name: str) -> nn.Parameter:
        """The parameter of block ``name`` (a name of ``ext.shapes``)."""
        return getattr(self, self._attr[name])

    def state(self) -> dict[str, np.ndarray]:
        """The current parameters as float64 NumPy arrays, by block name."""
        return {n: self.parameter(n).detach().cpu().numpy().copy() for n in self.names}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out, _ = self._forward(x)
        return out[0], out[1:]

    def _forward(self, x: Any) -> tuple[list[torch.Tensor], list[bool]]:
        """All outputs, and for each whether it is a pruned constant zero."""
        x = torch.as_tensor(x, dtype=DTYPE, device=self.device)
        tr = _Translator(self, x)
        if not self.prune:
            vals = tr.run(self._order, self._canon)
            self.last_flat = frozenset()
            return [vals[self._canon[o.id].id] for o in self._outputs], [False] * len(
                self._outputs)
        vals = tr.run(self._gate_order, self._canon)
        flat = frozenset(gid for gid, node in self._gates
                         if bool(vals[self._canon[node.inputs[0].id].id] <= 0))
        self.last_flat = flat
        order, zeroed = self._schedule(flat)
        vals = tr.run([n for n in order if n.id not in vals], self._canon, vals, zeroed)
        reps = [self._canon[o.id] for o in self._outputs]
        return [tr.value(r, vals) for r in reps], [r.id in tr.czero for r in reps]

    def loss(self, x: torch.Tensor, y: torch.Tensor, *, n: int | None = None,
             unbatched: bool = True) -> torch.Tensor:
        """``L`` of construction.md section 1 on ``(x, y)``.

        ``mean_i [1/2 |F_main(x_i) - y_i|^2 + 1/2 |F_aux(x_i)|^2]`` (with ``loss="ce"`` the
        first term is ``logsumexp(F_main(x_i)) - <F_main(x_i), y_i>``, which is
        ``torch.nn.functional.cross_entropy`` for one-hot ``y``); an unbatched aux head
        counts once. For gradient accumulation over chunks of a set of ``n`` samples pass
        ``n`` (the per-sample terms are divided by ``n``) and ``unbatched=False`` on all
        chunks but one.
        """
        x = torch.as_tensor(x, dtype=DTYPE, device=self.device)
        y = torch.as_tensor(y, dtype=DTYPE, device=self.device)
        m = x.shape[0]
        n = m if n is None else n
        outs, zero = self._forward(x)
        if self.loss_kind == "ce":
            f = outs[0].reshape(m, -1)
            total = (torch.logsumexp(f, dim=1) - (f * y.reshape(m, -1)).sum(dim=1)).sum() / n
        else:
            r = outs[0] - y
            total = 0.5 * (r * r).sum() / n
        for head, node, is_zero in zip(outs[1:], self._outputs[1:], zero[1:], strict=True):
            if is_zero:
                continue  # value 0 and gradient 0: the term is 0
            if node.batched:
                total = total + 0.5 * (head * head).sum() / n
            elif unbatched:
                total = total + 0.5 * (head * head).sum()
        return total


#: Operations bilinear in their two operands: with one operand exactly 0 the other's
#: derivative is multiplied by 0, so it is detached (same value, same gradient).
_BILINEAR = frozenset({"mul", "vdot", "matmul", "outer"})
#: Linear operations whose value is 0 when all (resp. the one) operands are 0.
_LINEAR_ALL = frozenset({"add", "sub", "concat"})
_LINEAR_ONE = frozenset({"neg", "scale", "reshape", "slice", "transpose", "sum", "broadcast",
                         "pad"})


class _Translator:
    """Evaluates the forward graph on torch tensors (a batched value has a leading axis)."""

    def __init__(self, module: ExtensionModule, x: torch.Tensor) -> None:
        self.module = module
        self.x = x
        self.m = int(x.shape[0])
        #: nodes whose value is exactly zero in this forward (for the bilinear rule)
        self.zero: set[int] = set()
        #: nodes that are a constant zero (pruned products and what follows from them)
        self.czero: set[int] = set()

    def run(self, order: Sequence[Node], canon: Mapping[int, Node],
            vals: dict[int, Any] | None = None,
            zeroed: set[int] | frozenset[int] = frozenset()) -> dict[int, Any]:
        vals = {} if vals is None else vals
        zero, czero = self.zero, self.czero
        track = self.module.prune
        for node in order:
            if node.id in zeroed:
                czero.add(node.id)  # a pruned product: constant 0, no gradient
                zero.add(node.id)
                vals[node.id] = None  # materialised only where a consumer needs it
                continue
            in_ids = [canon[i.id].id for i in node.inputs]
            op = node.op
            if czero and any(i in czero for i in in_ids):
                cz = [i in czero for i in in_ids]
                if op in _BILINEAR or op in _LINEAR_ONE or (op in _LINEAR_ALL and all(cz)):
                    czero.add(node.id)
                    zero.add(node.id)
                    vals[node.id] = None
                    continue
                if op in ("add", "sub"):
                    keep = 1 if cz[0] else 0
                    other = canon[node.inputs[keep].id]
                    if self.full(other) == self.full(node):  # a + 0, a - 0, 0 - b
                        v = vals[in_ids[keep]]
                        vals[node.id] = v if (op == "add" or keep == 0) else -v
                        if in_ids[keep] in zero:
                            zero.add(node.id)
                        continue
            ins = [self.value(canon[i.id], vals) for i in node.inputs]
            if track:
                if op == "param":
                    if not bool(self.module.parameter(node.attrs["name"]).detach().any()):
                        zero.add(node.id)
                elif op == "const":
                    if self.module._const_zero[node.id]:
                        zero.add(node.id)
                elif op in _BILINEAR:
                    zs = [i in zero for i in in_ids]
                    if any(zs):
                        # a*b with a = 0 exactly: value 0, gradient b da; db never counts
                        zero.add(node.id)
                        ins = [v.detach() if (not z or all(zs)) else v
                               for v, z in zip(ins, zs, strict=True)]
                elif op in _LINEAR_ALL:
                    if all(i in zero for i in in_ids):
                        zero.add(node.id)
                elif op in _LINEAR_ONE and in_ids[0] in zero:
                    zero.add(node.id)
            vals[node.id] = self.op(node, ins)
        return vals

    def value(self, node: Node, vals: Mapping[int, torch.Tensor | None]) -> torch.Tensor:
        """The value of (representative) ``node``, a constant zero materialised."""
        v = vals[node.id]
        if v is None:
            return torch.zeros(self.full(node), dtype=DTYPE, device=self.x.device)
        return v

    def full(self, node: Node) -> tuple[int, ...]:
        return ((self.m,) if node.batched else ()) + node.shape

    def align(self, node: Node, v: torch.Tensor, nd: int) -> torch.Tensor:
        if node.batched and len(node.shape) < nd:
            return v.reshape((self.m,) + node.shape + (1,) * (nd - len(node.shape)))
        return v

    def op(self, node: Node, ins: list[torch.Tensor]) -> torch.Tensor:  # noqa: C901
        op = node.op
        if op == "param":
            return self.module.parameter(node.attrs["name"])
        if op == "const":
            return getattr(self.module, self.module._const_attr[node.id])
        if op == "x":
            return self.x
        if op in ("add", "sub", "mul"):
            a_node, b_node = node.inputs
            nd = len(node.shape)
            a, b = self.align(a_node, ins[0], nd), self.align(b_node, ins[1], nd)
            return a + b if op == "add" else (a - b if op == "sub" else a * b)
        if op == "neg":
            return -ins[0]
        if op == "scale":
            return ins[0] * float(node.attrs["factor"])
        if op == "matmul":
            return self.matmul(node, ins[0], ins[1])
        if op == "outer":
            return ins[0][..., :, None] * ins[1][..., None, :]
        if op == "vdot":
            a_node, b_node = node.inputs
            a = self.align(a_node, ins[0], len(b_node.shape))
            b = self.align(b_node, ins[1], len(a_node.shape))
            prod = a * b
            if node.batched:
                return prod.reshape(self.m, -1).sum(dim=1)
            return prod.sum()
        if op == "transpose":
            return ins[0].transpose(-1, -2)
        if op == "reshape":
            return ins[0].reshape(self.full(node))
        if op == "sum":
            if node.inputs[0].batched:
                return ins[0].reshape(self.m, -1).sum(dim=1)
            return ins[0].sum()
        if op == "broadcast":
            a = ins[0]
            if node.inputs[0].batched:
                a = a.reshape(a.shape + (1,) * len(node.shape))
            return a.expand(self.full(node))
        if op == "slice":
            return ins[0][..., node.attrs["start"]:node.attrs["stop"]]
        if op == "pad":
            start, length = node.attrs["start"], node.attrs["length"]
            size = node.inputs[0].shape[0]
            return torch.nn.functional.pad(ins[0], (start, length - start - size))
        if op == "concat":
            parts = []
            for i, v in zip(node.inputs, ins, strict=True):
                if node.batched and not i.batched:
                    v = v.expand((self.m,) + i.shape)
                parts.append(v)
            return torch.cat(parts, dim=-1)
        return self.unary(node, ins[0])

    def matmul(self, node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        an, bn = node.inputs
        va, vb = len(an.shape) == 1, len(bn.shape) == 1
        if not an.batched and not bn.batched:
            return a @ b
        if an.batched and not bn.batched:
            return a @ b  # (m,k) @ (k,) / (k,l), or (m,k,l) @ (l,) / (l,p)
        if not an.batched and bn.batched and vb:
            return b @ a.T  # rows x_i -> (A x_i)
        if not an.batched:  # unbatched @ per-sample matrix
            return torch.matmul(a, b)
        if va and vb:
            return (a * b).sum(dim=-1)
        a3 = a[..., None, :] if va else a
        b3 = b[..., :, None] if vb else b
        out = torch.matmul(a3, b3)
        if vb:
            out = out[..., 0]
        if va:
            out = out[..., 0, :] if not vb else out[..., 0]
        return out

    def unary(self, node: Node, a: torch.Tensor) -> torch.Tensor:
        return unary(node.op, a, **node.attrs)


def unary(op: str, a: torch.Tensor, **attrs: Any) -> torch.Tensor:
    """An elementwise operation of the graph in torch, with the toolkit's derivatives."""
    if op == "relu":
        return torch.relu(a)
    if op == "step":
        return (a > 0).to(a.dtype)
    if op == "dsat":
        return ((a > 0) & (a < 1)).to(a.dtype)
    if op == "sat":
        return torch.where((a > 0) & (a < 1), a, (a >= 1).to(a.dtype))
    if op == "recip":
        zero = a == 0
        return torch.where(zero, torch.zeros_like(a), 1.0 / torch.where(zero, 1.0, a))
    if op == "pow":
        k = attrs["k"]
        return torch.ones_like(a).detach() if k == 0 else a ** k
    if op == "exp":
        return torch.exp(a)
    if op == "log":
        return torch.log(a)
    if op == "softmax":
        return torch.softmax(a, dim=-1)
    if op == "logsumexp":
        return torch.logsumexp(a, dim=-1)
    if op == "tanh":
        return torch.tanh(a)
    if op == "dtanh":
        return 1.0 - torch.tanh(a) ** 2
    if op == "sigmoid":
        return torch.sigmoid(a)
    if op == "dsigmoid":
        s = torch.sigmoid(a)
        return s * (1.0 - s)
    raise GraphError(f"no PyTorch translation for {op!r}")


def export(ext: Extension, *, prune: bool = True,
           device: str | torch.device | None = None) -> ExtensionModule:
    """The extension as a ``torch.nn.Module`` on ``device`` (see the module docstring)."""
    module = ExtensionModule(ext, prune=prune)
    return module if device is None else module.to(device)


def train(model: ExtensionModule, x: Any, y: Any, steps: int, *,
          lr: float | None = None, chunk: int | None = DEFAULT_TORCH_CHUNK) -> list[float]:
    """``steps`` of plain ``torch.optim.SGD`` on ``model.loss``; the seconds of every step.

    The gradient of the mean loss is accumulated over chunks of ``chunk`` samples (the
    same gradient, bounded memory; ``None``: one chunk). Data go to the model's device.
    """
    device = model.device
    x = torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)
    y = torch.as_tensor(np.asarray(y, dtype=np.float64), device=device)
    n = int(x.shape[0])
    opt = torch.optim.SGD(model.parameters(), lr=float(model.eta if lr is None else lr))
    size = n if chunk is None else chunk
    seconds = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for start in range(0, n, size):
            part = slice(start, min(start + size, n))
            loss = model.loss(x[part], y[part], n=n, unbatched=start == 0)
            if loss.requires_grad:  # else every term of this chunk is pruned: gradient 0
                loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - t0)
    return seconds


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    scale = float(np.max(np.abs(want))) if np.size(want) else 0.0
    diff = float(np.max(np.abs(got - want))) if np.size(want) else 0.0
    if not np.isfinite(diff):
        return float("inf")
    return diff / scale if scale > 0 else diff


def check_torch(ext: Extension, x: np.ndarray, y: np.ndarray, *,
                reference_w: np.ndarray | None = None, held_out: np.ndarray | None = None,
                tolerance: float = 1e-10, chunk: int | None = None,
                threads: int | None = 1, device: str | torch.device | None = None,
                prune: bool = True) -> dict[str, Any]:
    """Train the exported module for ``K`` SGD steps and compare with the references.

    ``w`` against ``reference_w`` (T1) and ``F_main(.; theta_K)`` against
    ``f(.; reference_w)`` on ``held_out`` (T2), to relative error ``tolerance``; the
    clock flags must read ``1 ... 1`` exactly and ``F_aux`` must be exactly 0. Torch runs
    on ``threads`` threads meanwhile (``None``: torch's setting), on ``device`` (default
    CPU), with the pruned module unless ``prune=False``.
    """
    from ..zoo import references as ref

    t0 = time.perf_counter()
    model = export(ext, prune=prune, device=device)
    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        train(model, x, y, ext.K, chunk=chunk)
    finally:
        torch.set_num_threads(before)
    state = model.state()
    out: dict[str, Any] = {"status": "verified", "gd_steps": ext.K,
                           "parameters": sum(p.numel() for p in model.parameters())}
    flags = [float(state[f"clock.z{j}"]) for j in range(ext.K + 1)]
    out["flags_exact"] = all(f == 1.0 for f in flags)
    failed = [] if out["flags_exact"] else ["clock flags"]
    w = state["w"]
    if reference_w is not None:
        out["weights_error"] = _relative(w, np.asarray(reference_w, dtype=np.float64))
        if not out["weights_error"] <= tolerance:
            failed.append("w_K vs the reference")
        inputs = np.asarray(held_out if held_out is not None else x[:8], dtype=np.float64)
        with torch.no_grad():
            f_main, aux = model(inputs)
        want = ref.network_forward(ext.net, np.asarray(reference_w, dtype=np.float64), inputs)
        out["forward_error"] = _relative(f_main.cpu().numpy(), want)
        out["aux_max"] = max((float(h.abs().max()) for h in aux if h.numel()), default=0.0)
        if not out["forward_error"] <= tolerance:
            failed.append("F_main vs f(.; A(D))")
        if out["aux_max"] != 0.0:
            failed.append("F_aux = 0")
    out["final_weights"] = [float(v) for v in w[:16]]
    out["seconds"] = round(time.perf_counter() - t0, 3)
    if failed:
        out["status"] = "refuted"
        out["message"] = "refuted: " + ", ".join(failed)
    else:
        out["message"] = (f"verified: {ext.K} steps of torch.optim.SGD reproduce the weights "
                          f"to relative error <= {tolerance:g}")
    return out


def parameters_by_name(model: ExtensionModule) -> Mapping[str, nn.Parameter]:
    """Block name -> parameter."""
    return {n: model.parameter(n) for n in model.names}
