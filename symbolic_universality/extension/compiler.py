"""The compiler of construction.md section 3: (base network, program) -> extension.

The extension ``F(x; theta) = (F_main, F_aux)`` has these parameter blocks, all
trainable (T5) and none depending on the data (T6):

* ``w``: the base weights, initialised to 0; also the output register;
* ``clock.z0 .. clock.zK``: the thermometer flags, ``z0 = 1``, the rest 0;
* ``gate.g<k>.a/b`` (``a = 4``, ``b = -2``) and ``gate.G.a/b``: gates in saturated units,
  ``g_k = sat(a (z_k - z_{k+1}) + b)``, ``G = sat(a z_K + b)`` (lemmas *flat gates*, *isolation*);
* ``reg.<name>``: one register per program value, initialised to 0;
* ``head.<name>.c`` (``-1/eta``) for write, unlabelled-read and clock heads, ``head.<name>.s``
  (``1/eta``) for labelled reads, ``head.clock<k>.e`` (1) (lemmas *write*, *read*, *clock*);
* ``coef.<label>``: every constant of the program's bodies.

``F_main(x) = G f(x; w) + sum_{labelled reads} g_k s M(u, x) R`` where
``M(u, x) R = grad_y <R, phi(u, x, y)>`` is the transpose of the (affine) read; for
``phi = psi y^T`` it is section 3's ``R^T psi``. Aux heads: ``g_k (c + <S, Phi(u)>)``,
``g_k (c + <R, psi(u, x)>)`` and ``g_k (c + z_{k+1} e)``.

The predicted trajectory ``theta_hat_k`` is :meth:`Extension.predicted`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..graph import core as g
from ..graph.autodiff import gradients
from ..graph.core import Node
from ..networks.mlp import MLP
from ..program.ir import Instruction, Program

ETA = Fraction(1, 4)
GATE_A = Fraction(4)
GATE_B = Fraction(-2)

FAULTS = ("register_nonzero", "gate_margin", "unsaturated_gate", "ungated_coefficient")


class CompileError(ValueError):
    """The program cannot be compiled (with the reason and the fix)."""


@dataclass
class Head:
    """One head of the extension: which step it is active, what it writes."""

    name: str
    kind: str  # compute | output | read_unlabelled | read_labelled | clock
    step: int
    writes: str  # the parameter it writes
    params: list[str]
    node: Node


@dataclass
class Extension:
    """The compiled extension: graph, parameter blocks, theta_0, eta and K."""

    net: MLP
    program: Program
    eta: Fraction
    K: int
    shapes: dict[str, tuple[int, ...]]
    blocks: dict[str, str]
    theta0: dict[str, np.ndarray]
    f_main: Node
    aux: list[Node]
    loss: Node
    heads: list[Head]
    param_nodes: dict[str, Node]
    register_param: dict[str, str]
    x: Node
    y: Node
    fault: str | None = None
    _grads: dict[str, Node | None] | None = field(default=None, repr=False)

    @property
    def n_parameters(self) -> int:
        return int(sum(int(np.prod(s, dtype=np.int64)) if s else 1 for s in self.shapes.values()))

    def gradient_nodes(self) -> dict[str, Node | None]:
        """``dL/dtheta`` for every block, by the one reverse-mode pass of ``graph.autodiff``."""
        if self._grads is None:
            names = list(self.shapes)
            grads = gradients(self.loss, [self.param_nodes[n] for n in names])
            self._grads = {n: grads[self.param_nodes[n]] for n in names}
        return self._grads

    def __str__(self) -> str:
        """Blocks, parameters, heads and gates (:mod:`symbolic_universality.printing`)."""
        from ..printing import extension_text

        return extension_text(self)

    def _repr_html_(self) -> str:
        from ..printing import extension_html

        return extension_html(self)

    def head_constant_after_write(self) -> Fraction:
        return (1 - self.eta) * (-1 / self.eta)

    def predicted(self, k: int, registers: dict[str, Any]) -> dict[str, np.ndarray]:
        """``theta_hat_k`` for ``0 <= k <= K``: the state before GD step ``k``.

        Registers written at steps ``< k`` hold their program values (``registers``,
        from the reference interpreter), the flags read ``k + 1`` ones, the constant of
        every head used at a step ``< k`` is scaled by ``(1 - eta)``; the rest is theta_0
        (lemmas *write*, *read*, *clock*, *persistence*; the *trajectory theorem*).
        """
        if not 0 <= k <= self.K:
            raise ValueError(f"predicted state k={k} outside 0..K={self.K}")
        theta = {n: v.copy() for n, v in self.theta0.items()}
        for j in range(min(k, self.K) + 1):
            theta[f"clock.z{j}"] = _frac_array(1, ())
        for head in self.heads:
            if head.step >= k:
                continue
            if head.kind != "clock":
                reg_name = head.writes
                src = "w" if reg_name == "w" else reg_name[len("reg."):]
                theta[reg_name] = _frac_array(registers[src], self.shapes[reg_name])
            cname = f"head.{head.name}.c"
            if cname in theta:
                theta[cname] = theta[cname] * (1 - self.eta)
        return theta


def _frac_array(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = g.to_fraction_array(value)
    return arr.reshape(shape)


def compile_extension(net: MLP, program: Program, *, fault: str | None = None,
                      eta: Fraction = ETA) -> Extension:
    """Build the extension of ``net`` that runs ``program`` by plain GD (construction.md sec. 3).

    ``fault`` breaks the construction on purpose for negative controls: one of
    ``register_nonzero`` (first register starts at 1), ``gate_margin`` (gate 0 gets
    ``a = 1, b = -1/2``: on-argument 1/2, a margin below 1), ``unsaturated_gate``
    (gates without their saturated unit), ``ungated_coefficient`` (the output head's
    constant placed outside the gate).
    """
    if fault is not None and fault not in FAULTS:
        raise CompileError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    if program.output.target.shape != (net.n_params,):
        raise CompileError(
            f"algorithm {program.name} outputs {program.output.target.shape[0]} weights but the "
            f"network {net.describe()} has {net.n_params}; pick a matching network"
        )
    if net.d != program.d or net.c != program.c:
        raise CompileError("network and program disagree on input or class dimension")
    K = program.depth
    eta = Fraction(eta)
    shapes: dict[str, tuple[int, ...]] = {}
    blocks: dict[str, str] = {}
    theta0: dict[str, np.ndarray] = {}
    nodes: dict[str, Node] = {}

    def new_param(name: str, shape: tuple[int, ...], init: Any, block: str) -> Node:
        if name in shapes:
            raise CompileError(f"parameter {name!r} defined twice")
        shapes[name] = tuple(shape)
        blocks[name] = block
        theta0[name] = np.broadcast_to(g.to_fraction_array(init), shape).copy()
        nodes[name] = g.param(name, shape)
        return nodes[name]

    w = new_param("w", (net.n_params,), 0, "base")
    z = [new_param(f"clock.z{k}", (), 1 if k == 0 else 0, "clock") for k in range(K + 1)]

    def gate(k: int) -> Node:
        a0, b0 = GATE_A, GATE_B
        if fault == "gate_margin" and k == 0:
            a0, b0 = Fraction(1), Fraction(-1, 2)
        a = new_param(f"gate.g{k}.a", (), a0, "gate")
        b = new_param(f"gate.g{k}.b", (), b0, "gate")
        arg = g.add(g.mul(a, g.sub(z[k], z[k + 1])), b)
        return arg if fault == "unsaturated_gate" else g.unary("sat", arg)

    gates = [gate(k) for k in range(K)]
    af = new_param("gate.G.a", (), GATE_A, "gate")
    bf = new_param("gate.G.b", (), GATE_B, "gate")
    G_arg = g.add(g.mul(af, z[K]), bf)
    G = G_arg if fault == "unsaturated_gate" else g.unary("sat", G_arg)

    # registers
    register_param: dict[str, str] = {}
    for ins in program.instructions:
        name = ins.target.name
        if ins.kind == "output":
            register_param[name] = "w"
            continue
        pname = f"reg.{name}"
        init = 0
        if fault == "register_nonzero" and not register_param:
            init = 1
        new_param(pname, ins.target.shape, init, "register")
        register_param[name] = pname

    # program constants -> trainable coefficients (T5)
    const_map: dict[int, Node] = {}
    used_labels: set[str] = set()
    bodies = [ins.body for ins in program.instructions]
    for cnode in g.leaves(bodies, "const"):
        label = cnode.attrs.get("label") or "k"
        label = "".join(ch if ch.isalnum() or ch in "_=" else "_" for ch in label)
        pname, i = f"coef.{label}", 1
        while pname in shapes:
            i += 1
            pname = f"coef.{label}.{i}"
        used_labels.add(pname)
        const_map[cnode.id] = new_param(pname, cnode.shape, cnode.attrs["value"], "coefficient")
    reg_map = {r.id: nodes[register_param[r.attrs["name"]]] for r in g.leaves(bodies, "reg")}

    def body_of(ins: Instruction) -> Node:
        (out,) = g.rebuild([ins.body], {**const_map, **reg_map})
        return out

    heads: list[Head] = []
    x_node, y_node = program.x, program.y
    main_terms: list[Node] = [g.mul(G, net.forward(w, x_node))]
    aux: list[Node] = []
    for ins in program.instructions:
        k = ins.step
        gk = gates[k]
        target = nodes[register_param[ins.target.name]]
        body = body_of(ins)
        hname = ins.target.name
        if ins.kind == "read_labelled":
            s = new_param(f"head.{hname}.s", (), 1 / eta, "head")
            lin = gradients(g.vdot(target, body), [y_node], seed=s, per_sample=True)[y_node]
            if lin is None:
                raise CompileError(f"labelled read {hname} does not depend on the label")
            if y_node.id in g.depends_on([lin], [y_node]):
                raise CompileError(f"labelled read {hname} is not affine in the label")
            contrib = g.mul(gk, lin)
            main_terms.append(contrib)
            heads.append(Head(hname, ins.kind, k, target.attrs["name"], [f"head.{hname}.s"],
                              contrib))
            continue
        c = new_param(f"head.{hname}.c", (), -1 / eta, "head")
        inner = g.add(c, g.vdot(target, body))
        if fault == "ungated_coefficient" and ins.kind == "output":
            h = g.add(c, g.mul(gk, g.vdot(target, body)))
        else:
            h = g.mul(gk, inner)
        aux.append(h)
        heads.append(Head(hname, ins.kind, k, target.attrs["name"], [f"head.{hname}.c"], h))
    for k in range(K):
        c = new_param(f"head.clock{k}.c", (), -1 / eta, "head")
        e = new_param(f"head.clock{k}.e", (), 1, "head")
        h = g.mul(gates[k], g.add(c, g.mul(z[k + 1], e)))
        aux.append(h)
        heads.append(Head(f"clock{k}", "clock", k, f"clock.z{k + 1}",
                          [f"head.clock{k}.c", f"head.clock{k}.e"], h))

    f_main = g.add_all(main_terms)
    # any constant left in F (e.g. from a derivative rule) is a trainable coefficient too (T5)
    leftovers = [n for n in g.leaves([f_main, *aux], "const")]
    if leftovers:
        extra = {}
        for i, cnode in enumerate(leftovers):
            extra[cnode.id] = new_param(f"coef.struct{i}", cnode.shape, cnode.attrs["value"],
                                        "coefficient")
        f_main, *aux = g.rebuild([f_main, *aux], extra)
        for h in heads:
            (h.node,) = g.rebuild([h.node], extra)
    half = Fraction(1, 2)
    r = g.sub(f_main, y_node)
    terms = [g.bmean(g.scale(g.vdot(r, r), half))]
    for h in aux:
        terms.append(g.bmean(g.scale(g.vdot(h, h), half)))
    loss = g.add_all(terms)
    label_dependent = g.depends_on([f_main, *aux], [y_node])
    if any(n.id in label_dependent for n in (f_main, *aux)):
        raise CompileError("the extension's output depends on the label; cannot compile")
    return Extension(net, program, eta, K, shapes, blocks, theta0, f_main, aux, loss, heads,
                     nodes, register_param, x_node, y_node, fault)
