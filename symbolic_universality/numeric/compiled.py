"""The gradient graph compiled to straight-line NumPy code, once per pattern of zeros.

``graph.evaluate`` walks the gradient graph (thousands of nodes for the bench instance)
node by node, deciding at every node whether a factor is exactly zero: a fixed cost of
several milliseconds per GD step, whatever the number of samples. GD on the extension
visits few *patterns of zeros* (lemma *isolation*, construction.md section 4: before step
``k`` exactly the gate ``g_k`` is open and the registers of steps ``>= k`` are zero), so
this module compiles, once per pattern, the evaluation into generated Python functions of
straight-line array code (one statement per node, local variables, ``del`` after the last
use) and only runs them afterwards:

1. ``before(P)``: every unbatched node that uses no reduction over samples (parameters,
   gates, their derivatives ...), evaluated without pruning (they are small);
2. the *pattern* is which of those values are exactly zero; for a new pattern the zeros are
   propagated by the evaluator's rules (a product with a zero factor is zero, a sum of
   zeros is zero, zero-preserving unary operations: ``graph.evaluate``'s rules), the
   reductions the outputs need are found, and two functions are generated:
3. ``chunk(x, y, m, inv, U)``: the needed batched nodes on ``m`` rows of samples and the
   partial sums of every needed reduction (``bdot`` as one BLAS product in its faster
   orientation, decided at compile time);
4. ``after(U, R)``: the unbatched nodes that use the reductions, and the outputs.

Soundness: a node is skipped only when it is zero by those rules given the zeros of step 1,
i.e. when ``graph.evaluate(prune=True)`` would skip it too; everything else is computed.
So the values are those of the pruned evaluator up to the grouping of the sums over
samples (chunks of different sizes), i.e. to rounding; with the ``0 * v := 0`` convention
for non-finite ``v`` of the pruned evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import NUMERIC
from ..graph.core import GraphError, Node
from ..graph.evaluate import plan

REDUCTIONS = ("bmean", "bsum", "bdot")
_ANNIHILATE = ("mul", "matmul", "outer", "vdot", "bdot")
_ZERO_UNARY = frozenset((
    "neg", "scale", "relu", "step", "sat", "dsat", "tanh", "transpose", "reshape", "sum",
    "broadcast", "slice", "pad", "bsum", "bmean",
))
#: Compiled patterns kept per graph.
MAX_PATTERNS = 64


def _pad(a: np.ndarray, full: tuple[int, ...], start: int, size: int) -> np.ndarray:
    out = np.zeros(full)
    out[..., start:start + size] = a
    return out


def _mm(a: np.ndarray, b: np.ndarray, va: bool, vb: bool) -> np.ndarray:
    a3 = a[..., None, :] if va else a
    b3 = b[..., :, None] if vb else b
    out = np.matmul(a3, b3)
    if vb:
        out = out[..., 0]
    if va:
        out = out[..., 0, :] if not vb else out[..., 0]
    return out


class _Emitter:
    """Python source for the nodes of one function (see :meth:`expr`)."""

    def __init__(self, compiled: CompiledGraph, batched_rows: str = "m") -> None:
        self.c = compiled
        self.lines: list[str] = []
        self.m = batched_rows

    def var(self, node: Node) -> str:
        return f"v{node.id}"

    def full(self, node: Node) -> str:
        shape = tuple(node.shape)
        if node.batched:
            return f"({self.m},) + {shape!r}"
        return repr(shape)

    def zeros(self, node: Node) -> str:
        return f"np.zeros({self.full(node)})"

    def operand(self, node: Node, zero: set[int]) -> str:
        rep = self.c.canon[node.id]
        return self.zeros(rep) if rep.id in zero else self.var(rep)

    def align(self, node: Node, code: str, nd: int) -> str:
        rep = self.c.canon[node.id]
        if rep.batched and len(rep.shape) < nd:
            shape = tuple(rep.shape) + (1,) * (nd - len(rep.shape))
            return f"{code}.reshape(({self.m},) + {shape!r})"
        return code

    def expr(self, node: Node, zero: set[int]) -> str:  # noqa: C901 - one case per operation
        op, ins = node.op, [self.c.canon[i.id] for i in node.inputs]
        if op == "param":
            return f"P[{node.attrs['name']!r}]"
        if op == "const":
            return self.c.constant(node)
        if op == "x":
            return "x"
        if op == "y":
            return "y"
        if op == "inv_n":
            return f"np.full({self.m}, inv)"
        if op in REDUCTIONS:
            raise GraphError("a reduction inside a compiled function")  # handled by caller
        a = [self.operand(i, zero) for i in ins]
        nd = len(node.shape)
        if op in ("add", "sub"):
            za, zb = (ins[0].id in zero), (ins[1].id in zero)
            same = [i.batched == node.batched and i.shape == node.shape for i in ins]
            if zb and same[0]:
                return a[0]
            if za and same[1]:
                return a[1] if op == "add" else f"-{a[1]}"
            sym = "+" if op == "add" else "-"
            return f"({self.align(ins[0], a[0], nd)} {sym} {self.align(ins[1], a[1], nd)})"
        if op == "mul":
            return f"({self.align(ins[0], a[0], nd)} * {self.align(ins[1], a[1], nd)})"
        if op == "vdot":
            if node.batched:
                return f"({a[0]} * {a[1]}).reshape({self.m}, -1).sum(axis=1)"
            return f"np.sum({a[0]} * {a[1]})"
        if op == "outer":
            return f"({a[0]}[..., :, None] * {a[1]}[..., None, :])"
        if op == "matmul":
            an, bn = ins
            va, vb = len(an.shape) == 1, len(bn.shape) == 1
            if not an.batched and not bn.batched:
                return f"({a[0]} @ {a[1]})"
            if an.batched and not bn.batched and va:
                return f"({a[0]} @ {a[1]})"
            if not an.batched and bn.batched and vb:
                return f"({a[1]} @ {a[0]}.T)"
            if an.batched and bn.batched and va and vb:
                return f"({a[0]} * {a[1]}).sum(axis=-1)"
            return f"_mm({a[0]}, {a[1]}, {va}, {vb})"
        if op == "concat":
            parts = []
            for i, code in zip(ins, a, strict=True):
                if node.batched and not i.batched:
                    code = f"np.broadcast_to({code}, ({self.m},) + {tuple(i.shape)!r})"
                parts.append(code)
            return f"np.concatenate([{', '.join(parts)}], axis=-1)"
        (src,) = a
        (a_node,) = ins
        if op == "neg":
            return f"(-{src})"
        if op == "scale":
            return f"({src} * {float(Fraction(node.attrs['factor']))!r})"
        if op == "transpose":
            return f"np.swapaxes({src}, -1, -2)"
        if op == "reshape":
            return f"{src}.reshape({self.full(node)})"
        if op == "sum":
            if a_node.batched:
                return f"{src}.reshape({self.m}, -1).sum(axis=1)"
            return f"np.sum({src})"
        if op == "broadcast":
            if a_node.batched:
                shape = tuple(a_node.shape) + (1,) * len(node.shape)
                src = f"{src}.reshape(({self.m},) + {shape!r})"
            return f"np.broadcast_to({src}, {self.full(node)})"
        if op == "slice":
            return f"{src}[..., {node.attrs['start']}:{node.attrs['stop']}]"
        if op == "pad":
            return (f"_pad({src}, {self.full(node)}, {node.attrs['start']}, "
                    f"{a_node.shape[0]})")
        return f"UN({op!r}, {src}, **{self.c.attrs(node)})"


class CompiledGraph:
    """Outputs of a float64 graph on data, compiled per pattern of zeros (module docstring)."""

    def __init__(self, outputs: Sequence[Node]) -> None:
        self.outputs = list(outputs)
        p = plan(self.outputs)
        self.canon = p.canon
        self.order = p.order
        self.after = p.after
        if p.nested:
            raise GraphError("nested reductions over samples are not supported")
        self._names: dict[str, Any] = {"np": np, "UN": NUMERIC.unary, "_mm": _mm,
                                       "_pad": _pad}
        self.before_nodes = [n for n in self.order if not n.batched and n.id not in self.after]
        # the other nodes with inputs, and their inputs' representatives (for _compile)
        self._rest = [(n, [self.canon[i.id].id for i in n.inputs]) for n in self.order
                      if (n.batched or n.id in self.after) and n.inputs]
        # the values whose zero-ness can prune something: before-nodes used by a node
        # outside the before part, or outputs (the pattern is read from these only)
        before_ids = {n.id for n in self.before_nodes}
        frontier = {self.canon[i.id].id for n in self.order if n.id not in before_ids
                    for i in n.inputs} | {self.canon[o.id].id for o in self.outputs}
        self._frontier = [k for k, n in enumerate(self.before_nodes) if n.id in frontier]
        # before() returns every value and, computed inline, the pattern of zeros
        tests = [f"v{n.id} == 0" if n.shape == () else f"not v{n.id}.any()"
                 for n in (self.before_nodes[k] for k in self._frontier)]
        values = "(" + "".join(f"v{n.id}, " for n in self.before_nodes) + ")"
        self._before = self._function(
            "before", ["P"], self.before_nodes, set(),
            [self.canon[n.id] for n in self.before_nodes],
            result=f"{values}, (" + "".join(f"bool({t}), " for t in tests) + ")")
        self._patterns: dict[tuple[bool, ...], tuple[Any, Any, list[Node], list[Node],
                                                     list[int]]] = {}
        self.compiled_patterns = 0

    # -------------------------------------------------------------- code generation

    def constant(self, node: Node) -> str:
        name = f"c{node.id}"
        if name not in self._names:
            val = NUMERIC.asarray(node.attrs["value"]).copy()
            val.flags.writeable = False
            self._names[name] = val
        return name

    def attrs(self, node: Node) -> str:
        name = f"a{node.id}"
        self._names.setdefault(name, dict(node.attrs))
        return name

    def _function(self, name: str, args: list[str], nodes: list[Node], zero: set[int],
                  returns: list[Node], prologue: Sequence[str] = (),
                  epilogue: Sequence[str] = (), result: str | None = None,
                  keep: set[int] | None = None) -> Any:
        """Generate ``def name(*args)`` computing ``nodes`` in order, freeing dead values."""
        em = _Emitter(self)
        lines = [f"def {name}({', '.join(args)}):", *("    " + s for s in prologue)]
        last: dict[int, int] = {}
        for pos, node in enumerate(nodes):
            for inp in node.inputs:
                last[self.canon[inp.id].id] = pos
        keep = set(keep or ()) | {r.id for r in returns}
        defined = {n.id for n in nodes}
        dies: dict[int, list[int]] = {}
        for i, at in last.items():
            if i in defined and i not in keep:
                dies.setdefault(at, []).append(i)
        for pos, node in enumerate(nodes):
            lines.append(f"    v{node.id} = {em.expr(node, zero)}")
            dead = [i for i in dies.get(pos, ()) if i != node.id]
            if dead:
                lines.append("    del " + ", ".join(f"v{i}" for i in sorted(dead)))
        lines.extend("    " + s for s in epilogue)
        if result is None:
            result = "(" + "".join(f"v{r.id}, " for r in returns) + ")"
        lines.append(f"    return {result}")
        src = "\n".join(lines) + "\n"
        scope: dict[str, Any] = {}
        exec(compile(src, f"<compiled {name}>", "exec"), self._names, scope)  # noqa: S102
        return scope[name]

    def _compile(self, zero_before: set[int]) -> tuple[Any, Any, list[Node], list[Node],
                                                        list[int]]:
        canon = self.canon
        zero = set(zero_before)
        for node, ins in self._rest:
            op = node.op
            if op in _ANNIHILATE:
                if any(i in zero for i in ins):
                    zero.add(node.id)
            elif op in ("add", "sub", "concat"):
                if all(i in zero for i in ins):
                    zero.add(node.id)
            elif (op in _ZERO_UNARY or (op == "pow" and node.attrs["k"] >= 1)) \
                    and ins[0] in zero:
                zero.add(node.id)
        # what the outputs need, not entering zeros
        needed: set[int] = set()
        stack = [canon[o.id] for o in self.outputs]
        by_id = {n.id: n for n in self.order}
        while stack:
            node = stack.pop()
            if node.id in needed or node.id in zero:
                continue
            needed.add(node.id)
            stack.extend(by_id[canon[i.id].id] for i in node.inputs)
        reductions = [n for n in self.order if n.op in REDUCTIONS and n.id in needed]
        # batched nodes the reductions need
        bneed: set[int] = set()
        stack = [canon[i.id] for r in reductions for i in r.inputs]
        while stack:
            node = stack.pop()
            if node.id in bneed or node.id in zero or not node.batched:
                continue
            bneed.add(node.id)
            stack.extend(by_id[canon[i.id].id] for i in node.inputs)
        bnodes = [n for n in self.order if n.id in bneed]
        before_ids = {n.id for n in self.before_nodes}
        used_before = sorted({canon[i.id].id for n in bnodes + reductions for i in n.inputs
                              if canon[i.id].id in before_ids and canon[i.id].id not in zero})
        prologue = [f"v{i} = U[{k}]" for k, i in enumerate(used_before)]
        epilogue = []
        for k, r in enumerate(reductions):
            ins = [canon[i.id] for i in r.inputs]
            if any(not i.batched for i in ins):
                raise GraphError("a reduction over samples of an unbatched value")
            if r.op in ("bsum", "bmean"):
                epilogue.append(f"r{k} = v{ins[0].id}.sum(axis=0)")
            else:
                wa = int(np.prod(ins[0].shape, dtype=np.int64))
                wb = int(np.prod(ins[1].shape, dtype=np.int64))
                a2, b2 = f"v{ins[0].id}.reshape(m, {wa})", f"v{ins[1].id}.reshape(m, {wb})"
                if wa < wb:
                    epilogue.append(f"r{k} = ({b2}.T @ {a2}).T.reshape({tuple(r.shape)!r})")
                else:
                    epilogue.append(f"r{k} = ({a2}.T @ {b2}).reshape({tuple(r.shape)!r})")
        red_inputs = {canon[i.id].id for r in reductions for i in r.inputs}
        chunk_fn = self._function(
            "chunk", ["x", "y", "m", "inv", "U"], bnodes, zero, [], prologue, epilogue,
            "(" + "".join(f"r{k}, " for k in range(len(reductions))) + ")", keep=red_inputs)
        # the unbatched nodes after the reductions
        anodes = [n for n in self.order if n.id in needed and n.id in self.after
                  and n.op not in REDUCTIONS]
        red_pro = [f"v{r.id} = R[{k}]" for k, r in enumerate(reductions)]
        used_after = sorted({canon[i.id].id for n in anodes for i in n.inputs
                             if canon[i.id].id in before_ids and canon[i.id].id not in zero}
                            | {canon[o.id].id for o in self.outputs
                               if canon[o.id].id in before_ids and canon[o.id].id not in zero})
        pro = [f"v{i} = U[{k}]" for k, i in enumerate(used_after)] + red_pro
        out_codes = []
        em = _Emitter(self, "0")
        for o in self.outputs:
            rep = canon[o.id]
            out_codes.append(em.zeros(rep) if rep.id in zero else f"v{rep.id}")
        after_fn = self._function("after", ["U", "R"], anodes, zero, [], pro, [],
                                  "(" + "".join(c + ", " for c in out_codes) + ")",
                                  keep={canon[o.id].id for o in self.outputs})
        before_pos = {n.id: k for k, n in enumerate(self.before_nodes)}
        return (chunk_fn, after_fn, reductions,
                [by_id[i] for i in used_before], [before_pos[i] for i in used_after])

    # ------------------------------------------------------------------- evaluation

    def values(self, bindings: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray | None,
               chunk: int | None = None) -> list[np.ndarray]:
        """The outputs' values (float64 arrays) at ``bindings`` on the samples ``x, y``."""
        with np.errstate(all="ignore"):
            before, key = self._before(bindings)
        found = self._patterns.get(key)
        if found is None:
            zero = {self.before_nodes[k].id for k, z in zip(self._frontier, key, strict=True)
                    if z}
            found = self._compile(zero)
            self.compiled_patterns += 1
            if len(self._patterns) >= MAX_PATTERNS:
                self._patterns.pop(next(iter(self._patterns)))
            self._patterns[key] = found
        chunk_fn, after_fn, reductions, used_before, used_after = found
        pos = {n.id: k for k, n in enumerate(self.before_nodes)}
        u_chunk = [before[pos[n.id]] for n in used_before]
        n = int(x.shape[0])
        size = chunk or max(n, 1)
        inv = 1.0 / max(n, 1)
        acc: list[Any] | None = None
        if reductions:
            for start in range(0, n, size):
                stop = min(start + size, n)
                parts = chunk_fn(x[start:stop], None if y is None else y[start:stop],
                                 stop - start, inv, u_chunk)
                acc = list(parts) if acc is None else [a + b for a, b in
                                                        zip(acc, parts, strict=True)]
            if acc is None:
                acc = [np.zeros(r.shape) for r in reductions]
            acc = [a * inv if r.op == "bmean" else a
                   for a, r in zip(acc, reductions, strict=True)]
        outs = after_fn([before[k] for k in used_after], acc or [])
        return [np.asarray(v, dtype=np.float64) for v in outs]


_CACHE: dict[tuple[int, ...], CompiledGraph] = {}


def compiled(outputs: Sequence[Node]) -> CompiledGraph:
    """The (cached) :class:`CompiledGraph` of ``outputs``."""
    key = tuple(o.id for o in outputs)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= 16:
            _CACHE.pop(next(iter(_CACHE)))
        found = _CACHE[key] = CompiledGraph(outputs)
    return found


__all__ = ["CompiledGraph", "compiled"]
