"""Evaluation plans: what one list of outputs needs, computed once and cached.

A :class:`Plan` holds the topological order of the outputs' graph, the reductions over
samples, and the *common-subexpression* map sending every node to one representative of
its structural class (same operation, same attributes, representatives of the same
inputs): two such nodes compute the same value on every backend. Its flat form
(:class:`_Flat`, index lists and zero rules) drives the scheduled evaluation of
``graph.evaluate``; its memos keep the decisions of earlier pruned evaluations
(:class:`_DecisionTree`) and the unbatched values of the last scheduled one (``last``).
The zero rules are those of ``graph.evaluate``'s module docstring (pruning).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .core import Node, topological

REDUCTIONS = ("bmean", "bsum", "bdot")
_ANNIHILATE_BINARY = ("mul", "matmul", "outer", "vdot", "bdot")
_ZERO_PRESERVING_UNARY = frozenset((
    "neg", "scale", "relu", "step", "sat", "dsat", "tanh", "transpose", "reshape", "sum",
    "broadcast", "slice", "pad", "bsum", "bmean",
))

_PLAN_CACHE_SIZE = 32
_DECISIONS_PER_PLAN = 64
_IDENTICAL_LEAVES = ("x", "y", "inv_n")


#: Constant arrays up to this many entries are shared by value; larger ones by identity.
_SHARE_BY_VALUE = 64


def _attr_key(value: Any) -> Any:
    """A hashable stand-in for an attribute value (small arrays by their entries)."""
    if isinstance(value, np.ndarray):
        if value.size > _SHARE_BY_VALUE:  # hashing many Fractions costs more than it saves
            return ("array id", id(value))
        return ("array", value.shape, str(value.dtype), tuple(value.flat))
    if isinstance(value, list):
        return tuple(_attr_key(v) for v in value)
    return value


class _Decisions:
    """What a pruned evaluation decided, for the next evaluation of the same plan.

    ``log``: the unbatched values computed while deciding, each with whether it was zero;
    ``zeros``: the zero-ness found for batched and reduction-dependent nodes; ``needed``:
    the reductions computed; ``schedule``: the record of the first chunk (with the values
    to drop after each step).
    """

    __slots__ = ("log", "zeros", "needed", "schedule")

    def __init__(self, log: list[tuple[Node, bool]], zeros: dict[int, bool],
                 needed: frozenset[int], schedule: list[tuple[Node, int, int, tuple[int, ...]]]
                 ) -> None:
        self.log = log
        self.zeros = zeros
        self.needed = needed
        self.schedule = schedule


class _DecisionTree:
    """Earlier decisions of one plan, indexed by the zero-ness of the logged values.

    Decisions are a deterministic function of the zero-ness of the values in their log,
    taken in order; two logs agree up to the first value found zero in one and not in the
    other. So the logs form a tree: each inner position tests one value, each leaf holds
    decisions. Looking up evaluates the tested values along one path only.
    """

    __slots__ = ("test", "branches", "decisions", "size")

    def __init__(self) -> None:
        self.test: Node | None = None
        self.branches: dict[bool, _DecisionTree] = {}
        self.decisions: _Decisions | None = None
        self.size = 0

    def insert(self, found: _Decisions) -> None:
        if self.size >= _DECISIONS_PER_PLAN:
            self.test, self.branches, self.decisions, self.size = None, {}, None, 0
        here = self
        for node, was_zero in found.log:
            if here.decisions is not None or (here.test is not None and here.test is not node):
                return  # not a deterministic continuation: keep the tree as it is
            here.test = node
            here = here.branches.setdefault(was_zero, _DecisionTree())
        if here.test is None:
            here.decisions = found
            self.size += 1

    def lookup(self, is_zero: Any) -> _Decisions | None:
        here: _DecisionTree | None = self
        while here is not None and here.test is not None:
            here = here.branches.get(bool(is_zero(here.test)))
        return None if here is None else here.decisions


class Plan:
    """What one list of outputs needs, computed once (see the module docstring).

    ``order`` lists the representatives in topological order; ``canon`` maps the id of
    every reachable node to its representative; ``reductions`` are the representatives
    that reduce over samples; ``after`` holds the ids of the representatives that are or
    use a reduction; ``nested`` is true when a reduction's inputs contain another.
    """

    __slots__ = ("outputs", "order", "canon", "reductions", "after", "nested", "memo", "_flat",
                 "last")

    def __init__(self, outputs: Sequence[Node]) -> None:
        self.outputs = tuple(outputs)
        canon: dict[int, Node] = {}
        table: dict[Any, Node] = {}
        order: list[Node] = []
        for node in topological(self.outputs):
            key = self._key(node, canon)
            rep = table.get(key) if key is not None else None
            if rep is None:
                rep = node
                if key is not None:
                    table[key] = node
                order.append(node)
            canon[node.id] = rep
        self.canon = canon
        self.order = order
        self.reductions = [n for n in order if n.op in REDUCTIONS]
        after: set[int] = set()
        nested = False
        for node in order:
            if any(canon[i.id].id in after for i in node.inputs):
                after.add(node.id)
                if node.op in REDUCTIONS:
                    nested = True
            elif node.op in REDUCTIONS:
                after.add(node.id)
        self.after = frozenset(after)
        self.nested = nested
        # per backend: earlier pruned evaluations' decisions (see Evaluator._reuse)
        self.memo: dict[Any, _DecisionTree] = {}
        self._flat: _Flat | None = None
        # per (backend, prune): the leaf snapshots and unbatched values of the last
        # scheduled evaluation (see Evaluator._values_scheduled)
        self.last: dict[Any, tuple[dict[str, Any], list[Any]]] = {}

    @property
    def flat(self) -> _Flat:
        """The representatives as index arrays (built on first use, see :class:`_Flat`)."""
        if self._flat is None:
            self._flat = _Flat(self)
        return self._flat

    @staticmethod
    def _key(node: Node, canon: dict[int, Node]) -> Any:
        if node.op in _IDENTICAL_LEAVES:
            return (node.op, node.shape)
        try:
            attrs = tuple(sorted((k, _attr_key(v)) for k, v in node.attrs.items()
                                 if not (k == "label" and node.op == "const")))
            key = (node.op, node.shape, node.batched, attrs,
                   tuple(canon[i.id].id for i in node.inputs))
            hash(key)
        except TypeError:  # an attribute without a structural key: no sharing
            return None
        return key


_LEAF, _ANNIHILATOR, _SUM, _PRESERVING, _CONCAT, _OTHER = range(6)  # zero rules (_Flat)
# kinds of positions for the first scheduled pass: batched leaves (x, y, 1/n), parameter and
# register leaves, constants, unbatched computations using no reduction, the rest
_K_DATA, _K_PARAM, _K_CONST, _K_COMPUTE, _K_LATER = range(5)


class _Flat:
    """A plan's representatives as flat lists, for the scheduled evaluation.

    ``inputs[i]`` are the positions (in ``plan.order``) of the representatives of node
    ``i``'s inputs; ``rule[i]`` is how its zero-ness follows from theirs (the rules of the
    module docstring); ``after``, ``batched`` and ``reduction`` are per-position flags.
    """

    __slots__ = ("nodes", "inputs", "rule", "after", "batched", "reduction", "position",
                 "after_ops", "pass1")

    def __init__(self, p: Plan) -> None:
        self.nodes = list(p.order)
        self.position = {n.id: i for i, n in enumerate(self.nodes)}
        pos, canon = self.position, p.canon
        self.inputs = [tuple(pos[canon[i.id].id] for i in n.inputs) for n in self.nodes]
        rule = []
        for n in self.nodes:
            op = n.op
            if not n.inputs:
                rule.append(_LEAF)
            elif op in _ANNIHILATE_BINARY:
                rule.append(_ANNIHILATOR)
            elif op in ("add", "sub"):
                rule.append(_SUM)
            elif op in _ZERO_PRESERVING_UNARY or (op == "pow" and n.attrs["k"] >= 1):
                rule.append(_PRESERVING)
            elif op == "concat":
                rule.append(_CONCAT)
            else:
                rule.append(_OTHER)
        self.rule = rule
        self.after = [n.id in p.after for n in self.nodes]
        self.batched = [n.batched for n in self.nodes]
        self.reduction = [n.op in REDUCTIONS for n in self.nodes]
        self.after_ops = [i for i, n in enumerate(self.nodes)
                          if self.after[i] and not self.reduction[i]]
        kinds = []
        for i, n in enumerate(self.nodes):
            if not n.inputs:
                kinds.append(_K_DATA if n.batched else (_K_CONST if n.op == "const" else _K_PARAM))
            elif n.batched or self.after[i]:
                kinds.append(_K_LATER)
            else:
                kinds.append(_K_COMPUTE)
        #: (position, kind, zero rule, input positions) for the first scheduled pass
        self.pass1 = list(zip(range(len(self.nodes)), kinds, rule, self.inputs, strict=True))


def _zero_by_rule(rule: int, ins: tuple[int, ...], zero: list[bool]) -> bool:
    if rule == _ANNIHILATOR:
        return zero[ins[0]] or zero[ins[1]]
    if rule == _SUM:
        return zero[ins[0]] and zero[ins[1]]
    if rule == _PRESERVING:
        return zero[ins[0]]
    if rule == _CONCAT:
        return all(zero[i] for i in ins)
    return False


_PLANS: OrderedDict[tuple[int, ...], Plan] = OrderedDict()


def plan(outputs: Sequence[Node]) -> Plan:
    """The (cached) :class:`Plan` of ``outputs``."""
    key = tuple(o.id for o in outputs)
    found = _PLANS.get(key)
    if found is not None:
        _PLANS.move_to_end(key)
        return found
    made = Plan(outputs)
    _PLANS[key] = made
    while len(_PLANS) > _PLAN_CACHE_SIZE:
        _PLANS.popitem(last=False)
    return made
