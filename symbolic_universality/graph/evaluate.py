"""Evaluate a graph on a scalar backend, over samples, lazily and exactly.

The evaluator is written once for every backend (exact rationals, float64, sympy):
values are NumPy arrays, a batched node's value carries a leading sample axis.

**Pruning** (``prune=True``) is one exact rule of arithmetic, not a rule about the
construction: a product (``mul``, ``matmul``, ``outer``, inner product) one of whose
factors is exactly zero is exactly zero, so its other factor is not evaluated.
A zero is tracked as the sentinel ``ZERO`` through the operations that map 0 to 0
(activations with ``f(0) = 0``, reshapes, sums). With the gates of the construction
exactly 0 or 1 this skips every head that is switched off, and every adjoint that
would be multiplied by a switched-off gate. ``prune=False`` evaluates everything.
Whether a node is ``ZERO`` is decided before any per-sample value is computed: unbatched
values are evaluated, the rest follows from the rules above (:meth:`Evaluator._is_zero`).
So a product is skipped whichever of its factors is zero, and only the reductions over
samples that some unpruned path needs are computed. On float64 the rule ``0 * v = 0``
differs from IEEE only for ``v`` infinite or ``nan``.

Samples may be processed in chunks (bounded memory): all needed reductions over samples
(``bmean``, ``bsum``, ``bdot``) are accumulated chunk by chunk in one pass, and the
unbatched rest of the graph is then evaluated once. The first chunk is a short probe
whose computations are recorded; the other chunks replay the record without walking the
graph and free every intermediate after its last use. ``bdot`` is one matrix product
(BLAS), taken in the faster orientation. Chunked and unchunked evaluations agree exactly
on the exact backend; on float64 the sums over samples are grouped differently.

**Plans.** The first evaluation of a list of outputs builds a :class:`Plan` (cached, keyed
by the outputs' ids): the topological order, the reductions over samples, and a
*common-subexpression* map sending every node to one representative of its structural
class (same operation, same attributes, representatives of the same inputs). Two such
nodes compute the same value on every backend, so the value is computed once (bit for bit
the same results). A pruned evaluation also leaves its decisions in the plan (what is
zero, which reductions are needed, the record of the first chunk), indexed by the
zero-ness of the unbatched values they followed from; the next evaluation whose values
are zero in the same places reuses them instead of walking the graph again (GD on the
extension visits the same gate patterns run after run). The values computed are the same
either way.

**Two strategies, one set of values.** A fresh evaluation of unbatched outputs (the
gradient of a GD step, the common case) is *scheduled* (:meth:`Evaluator._values_scheduled`):
a few passes over the plan's representatives as flat index lists (zero-ness in
topological order, the needed reductions, the batched computations they need chunk by
chunk, then the rest), with no walk per node. An unbatched value that uses no reduction
and whose leaves are bound to the same entries as in the plan's last evaluation (the
same number objects; equal copies for float arrays) is that evaluation's value: between
two GD steps only the parameters the active heads write change. Everything else (batched
outputs, an evaluator asked twice, an error in a branch the lazy evaluation would not
take) is evaluated *lazily*, by coroutines on an explicit stack (:meth:`Evaluator._run`),
with the decision reuse above.

**No recursion.** Neither strategy recurses per node, nor do topological sort, rebuild,
reverse-mode AD or the distributing builders of ``graph.core``: a program's depth never
meets Python's recursion limit (``tests/test_deep.py`` runs deep graphs under a small
one). Every value is kept an array (:func:`as_array`): NumPy hands back a 0-d result
unwrapped, and a bare z3 term minus an array is a z3 parser error.

**Backends** supply the arithmetic, and may convert at the boundary: bindings, data and
constants go in through ``bind``/``data``/``asarray``, results come out through
``export``, matrix products go through ``matmul`` (the FLINT backend of
``backends.flint`` computes in ``fmpq``/``fmpq_mat`` and hands back Fractions).
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Generator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import Backend, BackendError
from .core import GraphError, Node
from .plan import (
    _ANNIHILATE_BINARY,
    _ANNIHILATOR,
    _CONCAT,
    _K_CONST,
    _K_DATA,
    _K_LATER,
    _K_PARAM,
    _LEAF,
    _OTHER,
    _PRESERVING,
    _SUM,
    _ZERO_PRESERVING_UNARY,
    REDUCTIONS,
    Plan,
    _Decisions,
    _DecisionTree,
    _Flat,
    _zero_by_rule,
    plan,
)


def as_array(v: Any) -> np.ndarray:
    """``v`` as an array; a scalar (a Fraction, a z3 or sympy term) as a 0-d object array.

    NumPy hands back the *item* of an operation on 0-d object arrays (``-a``, ``a + b``);
    a bare z3 term then meets an array in the next operation (``term - array``), where z3
    tries to parse the array as a numeral. The evaluator keeps every value an array.
    """
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (np.generic, float, int, bool)) and not isinstance(v, np.object_):
        return np.asarray(v)
    out = np.empty((), dtype=object)
    out[()] = v
    return out


class _Bindings(dict):  # type: ignore[type-arg]
    """Leaf bindings converted to the backend's arrays on first use (``Backend.bind``)."""

    def __init__(self, backend: Backend, raw: Mapping[str, Any]) -> None:
        super().__init__()
        self._backend, self._raw_values = backend, raw

    def __contains__(self, name: object) -> bool:
        return name in self._raw_values

    def __missing__(self, name: str) -> Any:
        val = self._backend.bind(self._raw_values[name])
        self[name] = val
        return val


def _snapshot(value: Any) -> Any:
    """What :func:`_unchanged` compares a later binding with (``None``: always changed)."""
    if not isinstance(value, np.ndarray):
        return None
    if value.dtype == object:
        return (value.shape, list(value.flat))  # the entries themselves (immutable numbers)
    return (value.shape, value.copy())


def _unchanged(snap: Any, value: Any) -> bool:
    """Whether ``value`` is the binding of ``snap`` (same entries, by identity or value)."""
    if snap is None or not isinstance(value, np.ndarray) or value.shape != snap[0]:
        return False
    old = snap[1]
    if isinstance(old, list):
        return value.dtype == object and all(map(operator.is_, old, value.flat))
    return value.dtype == old.dtype and bool(np.array_equal(old, value))


class _Zero:
    """Sentinel for an exactly-zero value (see the module docstring)."""

    def __repr__(self) -> str:
        return "ZERO"


ZERO = _Zero()

#: Exact zero checks of unbatched values on object arrays are limited to this many entries.
SMALL_ZERO_LIMIT = 4096
#: Rows of the first chunk, evaluated lazily to record the computations the others replay.
PROBE_ROWS = 64
_COMPUTE, _ALIAS, _REDUCE = 0, 1, 2  # kinds of recorded steps
_EVAL, _ZQ = 0, 1  # requests of the evaluation coroutines (see Evaluator._run)
_MISS = object()  # not memoised


# constants converted to a backend's arrays, by (backend, node id); node ids are never reused
_CONSTANTS: OrderedDict[tuple[Backend, int], Any] = OrderedDict()
_CONSTANT_CACHE_SIZE = 512




class Evaluator:
    """Evaluates nodes for one binding of leaves and one data set.

    ``bindings`` maps parameter and register names to arrays; ``x``/``y`` are the
    inputs and one-hot labels (n rows) or ``None`` when the graph uses none.
    """

    def __init__(
        self,
        backend: Backend,
        bindings: Mapping[str, Any],
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        *,
        prune: bool = False,
        chunk: int | None = None,
        strict: bool = False,
    ) -> None:
        self.backend = backend
        self.strict = strict
        self.prune = prune
        self._raw = bindings
        self.bindings = _Bindings(backend, bindings)
        self.x = backend.data(x)
        self.y = backend.data(y)
        self.n = 0 if x is None else int(x.shape[0])
        self.chunk = chunk or max(self.n, 1)
        self._unbatched: dict[int, Any] = {}
        self._batched: dict[int, Any] = {}
        self._rows: slice = slice(0, self.n)
        self._m = self.n
        self._canon: dict[int, Node] = {}
        self._after: frozenset[int] = frozenset()
        self._zeros: dict[int, bool] = {}
        self._pending: set[int] = set()  # not known to be zero until more reductions are known
        self._settled = True  # no reduction is being decided: "not zero" answers are final
        # zero-ness of the unbatched values computed while deciding (see _reuse)
        self._log: list[tuple[Node, bool]] | None = None
        # (node, kind, source): what the probe chunk computed, replayed by the other chunks
        self._record: list[tuple[Node, int, int]] | None = None

    # ------------------------------------------------------------------ public

    def values(self, outputs: Sequence[Node]) -> list[Any]:
        """Values of ``outputs`` (arrays; a pruned zero is materialised)."""
        p = plan(outputs)
        if (not self._unbatched and not self._zeros and not self._canon
                and not any(o.batched for o in outputs)):
            if p.nested:
                raise GraphError("nested reductions over samples are not supported")
            try:
                return self._values_scheduled(p, outputs)
            except (GraphError, BackendError):
                # e.g. a leaf without a binding, or a strict reciprocal of 0, that only a
                # pruned branch reads: the lazy evaluation below decides (and reports) it
                # as it always did
                self._reset()
        if not self._canon:
            self._canon, self._after = p.canon, p.after
        else:
            self._canon = {**self._canon, **p.canon}
            self._after = self._after | p.after
        reductions = [n for n in p.reductions if n.id not in self._unbatched]
        if reductions:
            self._settled = False
            if p.nested:
                raise GraphError("nested reductions over samples are not supported")
            if self.prune:
                self._reductions_pruned(p, outputs, reductions)
            else:
                self._reduce(reductions)
        self._settled = True
        batched_out = [o for o in outputs if o.batched]
        results: dict[int, Any] = {}
        if batched_out:
            parts: dict[int, list[Any]] = {o.id: [] for o in batched_out}
            for rows in self._chunks():
                self._enter(rows)
                for o in batched_out:
                    parts[o.id].append(self._materialise(o, self._eval(o)))
            for o in batched_out:
                results[o.id] = np.concatenate(parts[o.id], axis=0)
        for o in outputs:
            if not o.batched:
                v = self._materialise(o, self._eval(o))
                if isinstance(v, np.ndarray) and not v.flags.writeable:
                    v = v.copy()  # a cached constant: the caller gets its own array
                results[o.id] = v
        export = self.backend.export
        return [export(results[o.id]) for o in outputs]

    def value(self, node: Node) -> Any:
        return self.values([node])[0]

    def _reset(self) -> None:
        self._unbatched, self._batched, self._zeros = {}, {}, {}
        self._canon, self._after = {}, frozenset()
        self._pending = set()
        self._settled, self._log, self._record = True, None, None

    # ------------------------------------------------------- scheduled evaluation

    def _values_scheduled(self, p: Plan, outputs: Sequence[Node]) -> list[Any]:
        """Unbatched ``outputs`` in four passes over the plan, with no graph walk per node.

        1. In topological order: the zero-ness of every representative by the rules of
           the module docstring, evaluating every unbatched value that uses no reduction
           and is not already known to be zero (a reduction counts as nonzero unless its
           input is zero, as in :meth:`_is_zero`);
        2. the reductions that the outputs need (those not under a zero product);
        3. the batched computations they need, in topological order, evaluated chunk by
           chunk of samples (each intermediate dropped after its last use), the
           reductions accumulated over the chunks;
        4. the zero-ness of what uses a reduction, now that their values are known, and
           the values the outputs need, in topological order.

        The values are those of the lazy evaluation (the same operations on the same
        inputs; the same chunks of samples); only unbatched values that a zero product
        would have skipped may be computed in pass 1, and they cost no per-sample work.
        """
        self._canon, self._after = p.canon, p.after
        f = p.flat
        nodes, inputs, rules = f.nodes, f.inputs, f.rule
        after, batched = f.after, f.batched
        count = len(nodes)
        prune = self.prune
        zero = [False] * count
        ub = self._unbatched
        small_zero = self._small_zero
        # pass 1 (an unbatched value whose leaves are bound to the same entries as in the
        # last evaluation of this plan is that evaluation's value: it uses no data)
        key = (self.backend, prune)
        last_snaps, last_vals = p.last.get(key, ({}, [None] * count))
        snaps: dict[str, Any] = {}
        vals: list[Any] = [None] * count
        dirty = [True] * count
        raw = self._raw
        for i, kind, rule, ins in f.pass1:
            if kind == _K_LATER:  # batched or using a reduction: zero-ness only
                if prune and (
                    (rule == _ANNIHILATOR and (zero[ins[0]] or zero[ins[1]]))
                    or (rule == _PRESERVING and zero[ins[0]])
                    or (rule == _SUM and zero[ins[0]] and zero[ins[1]])
                    or (rule == _CONCAT and all(zero[j] for j in ins))
                ):
                    zero[i] = True
                    if not batched[i]:
                        ub[nodes[i].id] = ZERO
                continue
            if kind == _K_DATA:
                continue
            node = nodes[i]
            if kind == _K_PARAM:
                name = node.attrs["name"]
                if name in raw:
                    if name not in snaps:
                        snaps[name] = _snapshot(raw[name])
                    dirty[i] = not _unchanged(last_snaps.get(name), raw[name])
            elif kind == _K_CONST:
                dirty[i] = False
            else:
                for j in ins:
                    if dirty[j]:
                        break
                else:
                    dirty[i] = False
                if prune and rule != _OTHER and _zero_by_rule(rule, ins, zero):
                    zero[i] = True
                    ub[node.id] = ZERO
                    continue
            v = None if dirty[i] else last_vals[i]
            if v is None:
                if rule == _LEAF:
                    v = self._leaf(node)
                else:
                    v = self._apply(node, [ub[nodes[j].id] for j in ins])
                    if prune and v is not ZERO and small_zero(v):
                        v = ZERO
            if v is ZERO:
                zero[i] = True
            ub[node.id] = v
            vals[i] = v
        p.last[key] = (snaps, vals)
        # pass 2
        out_pos = [f.position[p.canon[o.id].id] for o in outputs]
        needed: list[int] = []
        seen = [False] * count
        stack = list(out_pos)
        while stack:
            i = stack.pop()
            if seen[i] or zero[i] or not after[i]:
                continue
            seen[i] = True
            if f.reduction[i]:
                needed.append(i)
            else:
                stack.extend(inputs[i])
        needed.sort()
        # pass 3
        if needed:
            self._reduce_scheduled(f, needed, zero)
        # pass 4
        if prune:
            for i in f.after_ops:
                zero[i] = _zero_by_rule(rules[i], inputs[i], zero)
        todo: list[int] = []
        seen = [False] * count
        stack = list(out_pos)
        while stack:
            i = stack.pop()
            if seen[i] or zero[i] or not after[i] or f.reduction[i]:
                continue
            seen[i] = True
            todo.append(i)
            stack.extend(inputs[i])
        todo.sort()
        for i in todo:
            node = nodes[i]
            vals = [ZERO if zero[j] else ub[nodes[j].id] for j in inputs[i]]
            v = self._apply(node, vals)
            if prune and v is not ZERO and small_zero(v):
                v = ZERO
            zero[i] = v is ZERO
            ub[node.id] = v
        results = []
        export = self.backend.export
        for o, i in zip(outputs, out_pos, strict=True):
            if zero[i]:
                results.append(self.backend.export_zeros(o.shape))
                continue
            v = export(ub[nodes[i].id])
            if v is ub[nodes[i].id] and isinstance(v, np.ndarray):
                v = v.copy()  # shared with the next evaluation: the caller gets its own
            results.append(v)
        return results

    def _reduce_scheduled(self, f: _Flat, needed: list[int], zero: list[bool]) -> None:
        """Pass 3 of :meth:`_values_scheduled`: the needed reductions over all chunks."""
        nodes, inputs, batched = f.nodes, f.inputs, f.batched
        count = len(nodes)
        seen = [False] * count
        stack = [j for i in needed for j in inputs[i]]
        work: list[int] = []
        while stack:
            i = stack.pop()
            if seen[i] or zero[i] or not batched[i]:
                continue
            seen[i] = True
            work.append(i)
            stack.extend(inputs[i])
        # the reductions in topological order among the computations: each accumulated
        # as soon as its inputs are there, so that they can be dropped after it
        is_red = f.reduction
        work.extend(needed)
        work.sort()
        last: dict[int, int] = {}
        for step, i in enumerate(work):
            for j in inputs[i]:
                if batched[j]:
                    last[j] = step
        dead: dict[int, list[int]] = {}
        for j, step in last.items():
            dead.setdefault(step, []).append(nodes[j].id)
        ub = self._unbatched
        acc: dict[int, Any] = {}
        chunks = self._chunks()
        if len(chunks) > 1:  # the chunks of the lazy evaluation (same grouping of sums)
            probe = min(PROBE_ROWS, self.chunk)
            chunks = [slice(0, probe)] + [slice(i, min(i + self.chunk, self.n))
                                          for i in range(probe, self.n, self.chunk)]
        for rows in chunks:
            self._enter(rows)
            memo = self._batched

            def value(j: int, memo: dict[int, Any] = memo) -> Any:
                if zero[j]:
                    return ZERO
                n = nodes[j]
                return memo[n.id] if batched[j] else ub[n.id]

            for step, i in enumerate(work):
                node = nodes[i]
                if is_red[i]:
                    part = self._reduce_values(node, *[value(j) for j in inputs[i]])
                    self._accumulate(acc, node, part)
                elif f.rule[i] == _LEAF:
                    memo[node.id] = self._leaf(node)
                else:
                    memo[node.id] = self._apply(node, [value(j) for j in inputs[i]])
                for d in dead.get(step, ()):
                    if d != node.id:
                        memo.pop(d, None)
        self._batched = {}
        for i in needed:
            r = nodes[i]
            val = acc.get(r.id, ZERO)
            if val is not ZERO and r.op == "bmean":
                val = val * self.backend.scalar(Fraction(1, max(self.n, 1)))
            if val is not ZERO:
                val = np.asarray(val)
                if self.prune and self._small_zero(val):
                    val = ZERO
            ub[r.id] = val
            zero[i] = val is ZERO

    def _reduce_values(self, r: Node, a: Any, b: Any = None) -> Any:
        """One chunk's part of reduction ``r`` from its inputs' values."""
        if r.op in ("bmean", "bsum"):
            return ZERO if a is ZERO else np.asarray(a).sum(axis=0)
        if a is ZERO or b is ZERO:
            return ZERO
        m = self._m
        a2 = np.asarray(a).reshape(m, -1)
        b2 = np.asarray(b).reshape(m, -1)
        mm = self.backend.matmul
        if a2.shape[1] < b2.shape[1]:
            # the same product, the wider factor transposed first (a much faster BLAS call)
            return mm(b2.T, a2).T.reshape(r.shape)
        return mm(a2.T, b2).reshape(r.shape)

    def _reductions_pruned(self, p: Plan, outputs: Sequence[Node], reductions: list[Node]
                           ) -> None:
        """Decide which reductions are needed, then compute them (see :meth:`_reuse`)."""
        fresh = not self._unbatched and not self._zeros
        if fresh:
            tree = p.memo.setdefault(self.backend, _DecisionTree())
            self._log = []  # from the start: the lookup evaluates a prefix of the log
            found = self._reuse(tree)
            if found is not None:
                self._log = None
                self._reduce([n for n in reductions if n.id in found.needed], found.schedule)
                return
        needed = self._needed(outputs)
        todo = [n for n in reductions if n.id in needed]
        schedule = self._reduce(todo) if todo else []
        if fresh:
            # what followed from zero-ness alone (not from the values of reductions)
            zeros = {k: v for k, v in self._zeros.items()
                     if k not in self._after or (v and k not in self._unbatched)}
            tree.insert(_Decisions(self._log or [], zeros, frozenset(needed), schedule))
            self._log = None

    def _reuse(self, tree: _DecisionTree) -> _Decisions | None:
        """The decisions of an earlier evaluation of the same plan, if they still hold.

        What is pruned, which reductions are needed and the record of the first chunk are
        functions of the zero-ness of the unbatched values computed while deciding them
        (``_log``, in the order they were computed). If every one of them is zero exactly
        as in an earlier evaluation, the decisions are the same and are reused without
        walking the graph. Each value is evaluated only if all earlier ones agreed, i.e.
        only when the walk itself would have evaluated it.
        """
        found = tree.lookup(lambda node: self._eval(node) is ZERO)
        if found is None:
            return None
        for k, v in found.zeros.items():
            self._zeros.setdefault(k, v)
        return found

    def _needed(self, outputs: Sequence[Node]) -> set[int]:
        """Ids of the reductions that ``outputs`` need: those not under a pruned product."""
        needed: set[int] = set()
        seen: set[int] = set()
        stack = [self._canon[o.id] for o in outputs]
        while stack:
            node = stack.pop()
            if node.id in seen or node.id not in self._after:
                continue
            seen.add(node.id)
            if self._is_zero(node):
                continue
            if node.op in REDUCTIONS:
                needed.add(node.id)
                continue
            stack.extend(self._canon[i.id] for i in node.inputs)
        return needed

    # --------------------------------------------------------------- internals

    def _chunks(self) -> list[slice]:
        if self.n == 0:
            return [slice(0, 0)]
        return [slice(i, min(i + self.chunk, self.n)) for i in range(0, self.n, self.chunk)]

    def _enter(self, rows: slice) -> None:
        self._rows = rows
        self._m = rows.stop - rows.start
        self._batched = {}

    def _reduce(self, reductions: list[Node],
                schedule: list[tuple[Node, int, int, tuple[int, ...]]] | None = None
                ) -> list[tuple[Node, int, int, tuple[int, ...]]]:
        """Accumulate ``reductions`` over all chunks of samples in one pass; the schedule.

        The first chunk (a short probe of at most ``PROBE_ROWS`` rows when there are
        several) is evaluated lazily while the batched computations are recorded; the other
        chunks replay the record, dropping each intermediate after its last use (bounded
        memory, no graph walk per chunk). The record is the same for every chunk: which
        batched values are pruned depends only on the unbatched ones. Given a
        ``schedule`` (from an earlier evaluation with the same decisions) every chunk
        replays it. The chunks, hence the grouping of the sums, are the same either way.
        """
        acc: dict[int, Any] = {}
        chunks = self._chunks()
        if len(chunks) > 1:
            probe = min(PROBE_ROWS, self.chunk)
            chunks = [slice(0, probe)] + [slice(i, min(i + self.chunk, self.n))
                                          for i in range(probe, self.n, self.chunk)]
        replay = chunks
        if schedule is None:
            self._record = []
            self._enter(chunks[0])
            for r in reductions:
                self._accumulate(acc, r, self._reduce_chunk(r))
                self._record.append((r, _REDUCE, -1))
            schedule = self._schedule(self._record)
            self._record = None
            replay = chunks[1:]
        if replay:
            for rows in replay:
                self._enter(rows)
                memo = self._batched
                for node, kind, source, dead in schedule:
                    if kind == _COMPUTE:
                        memo[node.id] = self._run(self._compute_g(node))
                    elif kind == _ALIAS:
                        memo[node.id] = memo[source]
                    else:
                        self._accumulate(acc, node, self._reduce_chunk(node))
                    for i in dead:
                        memo.pop(i, None)
        self._batched = {}
        for r in reductions:
            val = acc.get(r.id, ZERO)
            if val is not ZERO and r.op == "bmean":
                val = val * self.backend.scalar(Fraction(1, max(self.n, 1)))
            if val is not ZERO:
                val = np.asarray(val)
                if self.prune and self._small_zero(val):
                    val = ZERO
            self._unbatched[r.id] = val
        self._pending.clear()
        return schedule

    @staticmethod
    def _accumulate(acc: dict[int, Any], r: Node, part: Any) -> None:
        if part is ZERO:
            acc.setdefault(r.id, ZERO)
        elif acc.get(r.id, ZERO) is ZERO:
            acc[r.id] = part
        else:
            acc[r.id] = acc[r.id] + part

    def _schedule(self, record: list[tuple[Node, int, int]]
                  ) -> list[tuple[Node, int, int, tuple[int, ...]]]:
        """The recorded steps with, after each, the batched values no longer needed."""
        last: dict[int, int] = {}
        for pos, (node, _, _) in enumerate(record):
            for inp in node.inputs:
                rep = self._canon.get(inp.id, inp)
                if rep.batched:
                    last[rep.id] = pos
        dead: dict[int, list[int]] = {}
        for node_id, pos in last.items():
            dead.setdefault(pos, []).append(node_id)
        return [(node, kind, source, tuple(dead.get(pos, ())))
                for pos, (node, kind, source) in enumerate(record)]

    def _reduce_chunk(self, r: Node) -> Any:
        if r.op in ("bmean", "bsum"):
            v = self._eval(r.inputs[0])
            if v is ZERO:
                return ZERO
            return np.asarray(v).sum(axis=0)
        a_node, b_node = r.inputs
        if self.prune and (self._is_zero(a_node) or self._is_zero(b_node)):
            return ZERO
        a = self._eval(a_node)
        if a is ZERO:
            return ZERO
        b = self._eval(b_node)
        if b is ZERO:
            return ZERO
        m = self._m
        a2 = np.asarray(a).reshape(m, -1)
        b2 = np.asarray(b).reshape(m, -1)
        mm = self.backend.matmul
        if a2.shape[1] < b2.shape[1]:
            # the same product, the wider factor transposed first (a much faster BLAS call)
            return mm(b2.T, a2).T.reshape(r.shape)
        return mm(a2.T, b2).reshape(r.shape)

    def _small_zero(self, val: Any) -> bool:
        if not self.backend.exact:
            return self.backend.is_zero(val)  # cheap on machine numbers, whatever the size
        return np.size(val) <= SMALL_ZERO_LIMIT and self.backend.is_zero(val)

    def _full_shape(self, node: Node) -> tuple[int, ...]:
        return ((self._m,) if node.batched else ()) + node.shape

    def _materialise(self, node: Node, v: Any) -> Any:
        if v is ZERO:
            return self.backend.zeros(self._full_shape(node))
        return v

    def _memo_value(self, node: Node) -> Any:
        """The memoised value of ``node``'s representative, or ``_MISS``."""
        node = self._canon.get(node.id, node)
        memo = self._batched if node.batched else self._unbatched
        return memo.get(node.id, _MISS)

    def _eval(self, node: Node) -> Any:
        """The value of ``node`` (``ZERO`` when pruned), by an explicit stack (no recursion)."""
        v = self._memo_value(node)
        if v is not _MISS:
            return v
        return self._run(self._eval_g(node))

    def _run(self, gen: Generator[tuple[int, Node], Any, Any]) -> Any:
        """Drive the coroutines of an evaluation with an explicit stack.

        A coroutine (``_eval_g``, ``_compute_g``, ``_is_zero_g``) yields ``(_EVAL, node)``
        or ``(_ZQ, node)`` when it needs a value or a zero-ness, and is resumed with the
        answer. Each request is answered from the memo when it can be, otherwise by a new
        coroutine pushed on the stack: the depth of the graph never becomes the depth of
        Python's call stack, and the order of the computations is that of the plain
        recursive evaluation (so the logged decisions are the same).
        """
        stack = [gen]
        send: Any = None
        zeros = self._zeros
        prune = self.prune
        while True:
            try:
                kind, node = stack[-1].send(send)
            except StopIteration as stop:
                stack.pop()
                if not stack:
                    return stop.value
                send = stop.value
                continue
            if kind == _EVAL:
                send = self._memo_value(node)
                if send is _MISS:
                    send = None
                    stack.append(self._eval_g(node))
            elif not prune:
                send = False
            else:
                send = zeros.get(node.id)
                if send is None:
                    stack.append(self._is_zero_g(node))

    def _eval_g(self, node: Node) -> Generator[tuple[int, Node], Any, Any]:
        node = self._canon.get(node.id, node)
        memo = self._batched if node.batched else self._unbatched
        v = memo.get(node.id, _MISS)
        if v is not _MISS:
            return v
        if self._zeros.get(node.id):
            v = ZERO
        else:
            v = yield from self._compute_g(node)
            if v is not ZERO and not isinstance(v, np.ndarray):
                v = as_array(v)  # numpy returns a 0-d operation's result unwrapped
        if node.batched:
            if v is ZERO:
                self._zeros[node.id] = True  # the same for every chunk: never recomputed
            elif self._record is not None:
                self._record.append(self._recorded(node, v))
        if (
            self.prune
            and v is not ZERO
            and not node.batched
            and node.op not in ("param", "reg", "const")
            and self._small_zero(v)
        ):
            v = ZERO
        memo[node.id] = v
        if self._log is not None and not node.batched and node.id not in self._after:
            self._log.append((node, v is ZERO))
        return v

    def _recorded(self, node: Node, v: Any) -> tuple[Node, int, int]:
        """A record entry: an alias when ``v`` is one of the inputs' values (``a + 0``)."""
        for inp in node.inputs:
            rep = self._canon.get(inp.id, inp)
            if rep.batched and self._batched.get(rep.id) is v:
                return node, _ALIAS, rep.id
        return node, _COMPUTE, -1

    def _is_zero(self, node: Node) -> bool:
        """Whether ``node`` evaluates to the pruned ``ZERO``, computing no batched value.

        An unbatched node that uses no reduction is evaluated (as the lazy evaluation would);
        otherwise the answer follows from the inputs by the rules of the module docstring
        (a reduction not yet computed counts as nonzero unless its input is zero). For a
        batched node it is the same for every chunk of samples and is computed once.
        Iterative (see :meth:`_run`).
        """
        if not self.prune:
            return False
        z = self._zeros.get(node.id)
        if z is not None:
            return z
        return self._run(self._is_zero_g(node))

    def _is_zero_g(self, node: Node) -> Generator[tuple[int, Node], Any, bool]:
        z = self._zeros.get(node.id)
        if z is not None:
            return z
        rep = self._canon.get(node.id, node)
        if rep is not node:
            z = yield (_ZQ, rep)
            if rep.id in self._zeros:
                self._zeros[node.id] = z
            return z
        if not node.batched and node.id not in self._after:
            z = (yield (_EVAL, node)) is ZERO
        elif node.op in REDUCTIONS and node.id in self._unbatched:
            z = self._unbatched[node.id] is ZERO
        else:
            if node.id in self._pending:
                return False
            z = yield from self._zero_of_g(node)
            if not z and node.id in self._after and not self._settled:
                # may still turn out zero once the reductions are computed
                self._pending.add(node.id)
                return False
        self._zeros[node.id] = z
        return z

    def _zero_of_g(self, node: Node) -> Generator[tuple[int, Node], Any, bool]:
        op, ins = node.op, node.inputs
        if not ins:
            return False
        if op in _ANNIHILATE_BINARY:
            a_node, b_node = ins
            if a_node.batched and not b_node.batched:
                return bool((yield (_ZQ, b_node)) or (yield (_ZQ, a_node)))
            return bool((yield (_ZQ, a_node)) or (yield (_ZQ, b_node)))
        if op in ("add", "sub"):
            return bool((yield (_ZQ, ins[0])) and (yield (_ZQ, ins[1])))
        if op in _ZERO_PRESERVING_UNARY or (op == "pow" and node.attrs["k"] >= 1):
            return bool((yield (_ZQ, ins[0])))
        if op == "concat":
            for i in ins:
                if not (yield (_ZQ, i)):
                    return False
            return True
        return False

    def _constant(self, node: Node) -> Any:
        """A constant in the backend's arrays (converted once if the backend allows it)."""
        if not getattr(self.backend, "cache_constants", False):
            return self.backend.asarray(node.attrs["value"])
        key = (self.backend, node.id)
        val = _CONSTANTS.get(key)
        if val is None:
            val = self.backend.asarray(node.attrs["value"])
            if val is node.attrs["value"]:
                val = val.copy()
            val.flags.writeable = False  # shared by every evaluation (see values())
            _CONSTANTS[key] = val
            while len(_CONSTANTS) > _CONSTANT_CACHE_SIZE:
                _CONSTANTS.popitem(last=False)
        return val

    def _leaf(self, node: Node) -> Any:
        op = node.op
        if op in ("param", "reg"):
            name = node.attrs["name"]
            if name not in self.bindings:
                raise GraphError(f"no value bound for {op} {name!r}")
            val = self.bindings[name]
            if np.shape(val) != node.shape:
                raise GraphError(f"{op} {name!r} has shape {np.shape(val)}, expected {node.shape}")
        elif op == "const":
            val = self._constant(node)
        elif op == "x":
            if self.x is None:
                raise GraphError("the graph reads inputs x but none were given")
            return self.x[self._rows]
        elif op == "y":
            if self.y is None:
                raise GraphError("the graph reads labels y but none were given")
            return self.y[self._rows]
        elif op == "inv_n":
            return np.full(self._m, self.backend.scalar(Fraction(1, max(self.n, 1))),
                           dtype=self.backend.zeros(()).dtype)
        else:
            raise GraphError(f"unknown leaf {op!r}")
        if self.prune and self._small_zero(val):
            return ZERO
        return val

    def _align(self, node: Node, v: Any, ndim: int) -> Any:
        """Give a batched value of lower per-sample rank trailing unit axes (for broadcasting)."""
        if node.batched and len(node.shape) < ndim:
            return np.asarray(v).reshape((self._m,) + node.shape + (1,) * (ndim - len(node.shape)))
        return v

    def _compute_g(self, node: Node) -> Generator[tuple[int, Node], Any, Any]:
        """The value of ``node`` from its inputs' (a coroutine of :meth:`_run`)."""
        op = node.op
        if not node.inputs:
            return self._leaf(node)
        if op in REDUCTIONS:
            if node.id in self._unbatched:
                return self._unbatched[node.id]
            if (yield (_ZQ, node)):
                return ZERO
            if plan([node]).nested:
                raise GraphError("nested reductions over samples are not supported")
            self._reduce([node])
            return self._unbatched[node.id]
        if op in _ANNIHILATE_BINARY:
            a_node, b_node = node.inputs
            first, second = (a_node, b_node) if not a_node.batched or b_node.batched else (
                b_node, a_node)
            if self.prune and ((yield (_ZQ, first)) or (yield (_ZQ, second))):
                return ZERO
            v1 = yield (_EVAL, first)
            if v1 is ZERO:
                return ZERO
            v2 = yield (_EVAL, second)
            if v2 is ZERO:
                return ZERO
            a, b = (v1, v2) if first is a_node else (v2, v1)
            return self._binary(node, a, b)
        vals = []
        for i in node.inputs:
            vals.append((yield (_EVAL, i)))
        return self._apply(node, vals)

    def _apply(self, node: Node, vals: list[Any]) -> Any:
        """The value of a non-leaf, non-reduction ``node`` from its inputs' values."""
        op = node.op
        if op in _ANNIHILATE_BINARY:
            a, b = vals
            if a is ZERO or b is ZERO:
                return ZERO
            return self._binary(node, a, b)
        if op == "concat":
            if all(v is ZERO for v in vals):
                return ZERO
            vals = [self._materialise(i, v) for i, v in zip(node.inputs, vals, strict=True)]
            if node.batched:
                vals = [v if i.batched else np.broadcast_to(v, (self._m,) + i.shape)
                        for i, v in zip(node.inputs, vals, strict=True)]
            return np.concatenate(vals, axis=-1)
        if op in ("add", "sub"):
            a_node, b_node = node.inputs
            a, b = vals
            full = self._full_shape(node)
            if a is ZERO and b is ZERO:
                return ZERO
            if b is ZERO and self._full_shape(a_node) == full:
                return a
            if a is ZERO and self._full_shape(b_node) == full:
                return b if op == "add" else as_array(-np.asarray(b))
            a, b = self._materialise(a_node, a), self._materialise(b_node, b)
            nd = len(node.shape)
            a, b = self._align(a_node, a, nd), self._align(b_node, b, nd)
            return as_array(a + b if op == "add" else a - b)
        if op in REDUCTIONS:
            raise GraphError(f"a reduction ({op}) reached the elementwise evaluation")
        # unary operations
        (a_node,) = node.inputs
        (a,) = vals
        if a is ZERO:
            if op in _ZERO_PRESERVING_UNARY or (op == "pow" and node.attrs["k"] >= 1):
                return ZERO
            a = self._materialise(a_node, a)
        return as_array(self._unary(node, a_node, a))

    def _binary(self, node: Node, a: Any, b: Any) -> Any:
        op = node.op
        an, bn = node.inputs
        a, b = np.asarray(a), np.asarray(b)
        if op == "mul":
            nd = len(node.shape)
            return np.asarray(self._align(an, a, nd) * self._align(bn, b, nd))
        if op == "vdot":
            prod = self._align(an, a, len(node.shape)) * b if an.shape == bn.shape else a * b
            total = getattr(self.backend, "total", None)  # an n-ary sum (backends.dag)
            if node.batched:
                rows = np.asarray(prod).reshape(self._m, -1)
                if total is not None:
                    out = np.empty(self._m, dtype=object)
                    for i in range(self._m):
                        out[i] = total(rows[i])
                    return out
                return np.asarray(rows.sum(axis=1))
            return np.asarray(total(prod) if total is not None else np.sum(prod))
        if op == "outer":
            return np.asarray(a[..., :, None] * b[..., None, :])
        if op == "matmul":
            return self._matmul(an, bn, a, b)
        raise GraphError(f"unexpected binary operation {op!r}")

    def _matmul(self, an: Node, bn: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        va, vb = len(an.shape) == 1, len(bn.shape) == 1
        mm = self.backend.matmul
        if not an.batched and not bn.batched:
            if a.ndim == 2:
                return mm(a, b)
            return np.asarray(a @ b)
        if an.batched and not bn.batched and va:
            return mm(a, b)  # (m,k) @ (k,) or (k,l)
        if not an.batched and bn.batched and vb:
            return mm(b, a.T)  # rows x_i -> (A x_i)
        if an.batched and bn.batched and va and vb:
            return np.asarray((a * b).sum(axis=-1))
        a3 = a[..., None, :] if va else a
        b3 = b[..., :, None] if vb else b
        out = np.matmul(a3, b3)
        if vb:
            out = out[..., 0]
        if va:
            out = out[..., 0, :] if not vb else out[..., 0]
        return np.asarray(out)

    def _unary(self, node: Node, a_node: Node, a: Any) -> Any:
        op = node.op
        a = np.asarray(a)
        if op == "neg":
            return np.asarray(-a)
        if op == "scale":
            return np.asarray(a * self.backend.scalar(node.attrs["factor"]))
        if op == "transpose":
            return np.swapaxes(a, -1, -2)
        if op == "reshape":
            return a.reshape(self._full_shape(node))
        if op == "sum":
            if a_node.batched:
                return np.asarray(a.reshape(self._m, -1).sum(axis=1))
            return np.asarray(np.sum(a))
        if op == "broadcast":
            full = self._full_shape(node)
            src = a.reshape(a.shape + (1,) * len(node.shape)) if a_node.batched else a
            return np.broadcast_to(src, full).copy()
        if op == "slice":
            return a[..., node.attrs["start"]:node.attrs["stop"]]
        if op == "pad":
            out = self.backend.zeros(self._full_shape(node))
            start = node.attrs["start"]
            out[..., start:start + a_node.shape[0]] = a
            return out
        if op == "recip" and self.strict:
            return np.asarray(self.backend.unary(op, a, strict=True))
        if op in ("softmax", "logsumexp"):  # over the last (class) axis, per sample
            return np.asarray(self.backend.rows(op, a))
        return np.asarray(self.backend.unary(op, a, **node.attrs))


def evaluate(
    outputs: Sequence[Node],
    backend: Backend,
    bindings: Mapping[str, Any],
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    *,
    prune: bool = False,
    chunk: int | None = None,
    strict: bool = False,
) -> list[Any]:
    """Values of ``outputs`` for the given leaf bindings and data (see :class:`Evaluator`).

    ``strict=True`` makes the reciprocal unit refuse 0 (the algorithm itself divides by 0);
    otherwise it is total with ``1/0 := 0`` (the extension at states where registers are 0).
    """
    return Evaluator(backend, bindings, x, y, prune=prune, chunk=chunk, strict=strict).values(
        outputs)
