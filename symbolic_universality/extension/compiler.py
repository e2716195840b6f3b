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

from ..errors import UsageError
from ..graph import core as g
from ..graph.autodiff import gradients
from ..graph.core import Node
from ..networks.mlp import MLP
from ..program.ir import Instruction, Program
from .crossentropy import LOSSES, cross_entropy_program

ETA = Fraction(1, 4)
#: gate coefficients of construction.md section 3: ``g_k = sat(a (z_k - z_{k+1}) + b)``
GATE_A = Fraction(4)
GATE_B = Fraction(-2)
#: the final gate ``G = sat(a_f z_K + b_f)``
GATE_A_FINAL = Fraction(4)
GATE_B_FINAL = Fraction(-2)
#: the clock heads' ``e`` (``z_{k+1}' = -eta c e``)
CLOCK_E = Fraction(1)
#: lemma *flat gates*: on every thermometer pattern each gate argument lies at distance at
#: least ``FLAT_MARGIN`` outside ``[0, 1]`` (the kinks of ``sat`` are 0 and 1), so a flag
#: perturbation ``|delta| < FLAG_RADIUS`` keeps every gate flat
FLAT_MARGIN = Fraction(1)
FLAG_RADIUS = Fraction(1, 8)

#: the classic negative controls (each breaks the GD trajectory itself; ``symuni prove
#: --fault`` offers these)
FAULTS = ("register_nonzero", "gate_margin", "unsaturated_gate", "ungated_coefficient")
#: every compiler-stage fault of ``verify.faults`` that ``compile_extension(fault=...)``
#: accepts; the others are caught by T4, T5 or the kink margin, not by the trajectory
ALL_FAULTS = FAULTS + (
    "gate_on_kinks", "gate_never_closes", "head_one_step_early", "w_nonzero",
    "head_constant_half", "read_scale_double", "clock_e_two", "fixed_gate_coefficient",
    "program_constant_fixed", "final_gate_open_early", "ce_uncompensated")


def head_constant(eta: object) -> object:
    """The constant ``c = -1/eta`` of write, unlabelled-read and clock heads (lemma *write*).

    Written with plain arithmetic so that the lemma scripts can call it on a sympy symbol.
    """
    return -1 / eta


def read_scale(eta: object) -> object:
    """The scale ``s = 1/eta`` of a labelled read's last layer (lemma *read*)."""
    return 1 / eta


def construction_constants(eta: object = None) -> dict[str, object]:
    """The constants the compiler builds with (the lemma scripts' defaults).

    ``eta=None`` uses ``ETA``; the head constants are functions of it.
    """
    et = ETA if eta is None else eta
    return {"a": GATE_A, "b": GATE_B, "a_f": GATE_A_FINAL, "b_f": GATE_B_FINAL, "eta": et,
            "c": head_constant(et), "s": read_scale(et), "e": CLOCK_E,
            "margin": FLAT_MARGIN, "radius": FLAG_RADIUS}


def extension_constants(ext: Extension) -> dict[str, object]:
    """The constants of a *built* extension, read from its ``theta_0`` (not from the module
    constants), so a lemma run with them is about that extension. Raises ``CompileError``
    if the gates (or the heads of one kind) do not share one value.
    """
    def one(names: list[str], what: str) -> Fraction | None:
        vals = {ext.theta0[n].item() for n in names if n in ext.theta0}
        if not vals:
            return None
        if len(vals) > 1:
            raise CompileError(f"the extension's {what} differ ({sorted(vals)}); the lemmas "
                               "assume one value (use gate_pairs for the gates)")
        return vals.pop()

    heads_c = [f"head.{h.name}.c" for h in ext.heads]
    pairs = gate_pairs(ext)
    if len(pairs) > 1:
        raise CompileError(f"the extension's step gates differ ({pairs}); the lemmas assume "
                           "one value (use gate_pairs)")
    a, b = pairs[0] if pairs else (None, None)
    return {
        "a": a,
        "b": b,
        "a_f": one(["gate.G.a"], "final gate a"), "b_f": one(["gate.G.b"], "final gate b"),
        "eta": ext.eta,
        "c": one(heads_c, "head constants c"),
        "s": one([f"head.{h.name}.s" for h in ext.heads], "read scales s"),
        "e": one([f"head.{h.name}.e" for h in ext.heads], "clock e"),
    }


def gate_pairs(ext: Extension) -> list[tuple[Fraction, Fraction]]:
    """The distinct ``(a, b)`` of the step gates ``g_k`` of a built extension, in gate order."""
    out: list[tuple[Fraction, Fraction]] = []
    for k in range(ext.K):
        pair = (ext.theta0[f"gate.g{k}.a"].item(), ext.theta0[f"gate.g{k}.b"].item())
        if pair not in out:
            out.append(pair)
    return out


# ---------------------------------------------------------------------------------------
# The seams of the construction. Each is one rule of construction.md section 3; the seeded
# faults of ``verify.faults`` replace them (monkeypatch) so no fault code lives in here.


def gate_constants(k: int | None) -> tuple[Fraction, Fraction]:
    """``(a, b)`` of gate ``g_k``, or of the final gate ``G`` for ``k=None``."""
    if k is None:
        return GATE_A_FINAL, GATE_B_FINAL
    return GATE_A, GATE_B


def gate_argument(a: Node, b: Node, z: list[Node], k: int) -> Node:
    """``a (z_k - z_{k+1}) + b`` (lemma *isolation*: ``g_k = 1`` exactly at step ``k``)."""
    return g.add(g.mul(a, g.sub(z[k], z[k + 1])), b)


def final_gate_argument(a: Node, b: Node, z: list[Node], K: int) -> Node:
    """``a_f z_K + b_f`` (``G = 1`` exactly from step ``K`` on)."""
    return g.add(g.mul(a, z[K]), b)


def gate_unit(arg: Node) -> Node:
    """The saturated unit of a gate (lemma *flat gates*)."""
    return g.unary("sat", arg)


def initial_value(block: str, name: str, position: int) -> int:
    """``theta_0`` of a register (``block='register'``, ``position`` its index among the
    registers) or of ``w`` (``block='base'``): 0 (lemmas *write*, *read*)."""
    return 0


def head_step(ins: Instruction) -> int:
    """The step whose gate opens the head of ``ins``: its ASAP step (lemma *trajectory*)."""
    return ins.step


def aux_head(gate_node: Node, c: Node, inner: Node, kind: str) -> Node:
    """``g (c + inner)``: the aux output of a write, unlabelled-read or clock head."""
    return g.mul(gate_node, g.add(c, inner))


def coefficient(new_param: Any, name: str, shape: tuple[int, ...], value: Any,
                const_node: Node) -> Node:
    """A program constant becomes a trainable coefficient (T5)."""
    return new_param(name, shape, value, "coefficient")


def make_trainable(outputs: list[Node], new_param: Any,
                   keep: frozenset[int] = frozenset()) -> dict[int, Node]:
    """Replacements that turn every fixed number left in ``F`` into a trainable parameter (T5).

    A constant (``const``, e.g. from a derivative rule) becomes ``coef.struct<i>``; a fixed
    factor (``scale``, e.g. the ``2`` of ``d/dz z^2`` or the ``1/2`` of a squared loss in a
    traced gradient) becomes a product with a parameter ``coef.factor<i>`` holding it.
    Returns the mapping for :func:`graph.core.rebuild`.
    """
    extra: dict[int, Node] = {}
    consts = [c for c in g.leaves(outputs, "const") if c.id not in keep]
    for i, cnode in enumerate(consts):
        extra[cnode.id] = new_param(f"coef.struct{i}", cnode.shape, cnode.attrs["value"],
                                    "coefficient")
    return extra


def trainable_factors(outputs: list[Node], new_param: Any,
                      keep: frozenset[int] = frozenset()) -> list[Node]:
    """Rebuild ``outputs`` with every ``scale`` node replaced by a product with a parameter.

    Nodes in ``keep`` (the base network's own graph ``f(x; w)``) are left as they are: the
    theorem extends the given network, whose own fixed numbers are part of ``f``.
    """
    scales = [n for n in g.topological(outputs) if n.op == "scale" and n.id not in keep]
    if not scales:
        return outputs
    new: dict[int, Node] = {}
    count = 0
    for node in g.topological(outputs):
        if not node.inputs or node.id in keep:
            new[node.id] = node
            continue
        ins = [new[i.id] for i in node.inputs]
        if node.op == "scale":
            p = new_param(f"coef.factor{count}", (), node.attrs["factor"], "coefficient")
            count += 1
            new[node.id] = g.mul(p, ins[0])
        elif all(a is b for a, b in zip(ins, node.inputs, strict=True)):
            new[node.id] = node
        else:
            new[node.id] = g.apply_op(node.op, ins, node.attrs)
    return [new[o.id] for o in outputs]


class CompileError(UsageError):
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
    #: the node ``f(x; w)`` of the base network inside ``F_main``: its own fixed numbers
    #: (e.g. an average pool's ``1/k``) belong to the given network, not to the extension
    base_output: Node | None = None
    #: the main loss: ``"mse"`` (squared) or ``"ce"`` (softmax cross-entropy)
    loss_kind: str = "mse"
    #: the program as traced, before the cross-entropy compensation (``program`` is the one
    #: compiled); recompile with ``compile_extension(net, ext.source_program, loss=...)``
    source_program: Program | None = None
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
                      eta: Fraction = ETA, loss: str = "mse") -> Extension:
    """Build the extension of ``net`` that runs ``program`` by plain GD (construction.md sec. 3).

    ``fault`` (one of ``ALL_FAULTS``) builds it under a seeded fault of ``verify.faults``
    (a negative control), e.g. ``gate_margin`` (gate 0 gets ``a = 1, b = -1/2``) or
    ``gate_on_kinks`` (every gate ``a = 1, b = 0``: arguments exactly on the kinks of sat).
    ``loss``: ``"mse"`` (the squared loss of section 1) or ``"ce"`` (softmax cross-entropy:
    the program is first compensated by :func:`.crossentropy.cross_entropy_program`, lemma
    *cross-entropy compensation*).
    """
    if loss not in LOSSES:
        raise CompileError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if loss == "ce" and net.c < 2:
        raise CompileError("cross-entropy needs at least 2 classes; use --loss mse")
    if fault is not None:
        if fault not in ALL_FAULTS:
            raise CompileError(f"unknown fault {fault!r}; choose one of {', '.join(ALL_FAULTS)}")
        from ..verify.faults import inject

        with inject(fault):
            ext = _compile_loss(net, program, Fraction(eta), loss)
        ext.fault = fault
        return ext
    return _compile_loss(net, program, Fraction(eta), loss)


def _compile_loss(net: MLP, program: Program, eta: Fraction, loss: str) -> Extension:
    """``_compile`` of the program, compensated first under cross-entropy."""
    compiled = cross_entropy_program(program) if loss == "ce" else program
    ext = _compile(net, compiled, eta, loss)
    ext.source_program = program
    return ext


def main_loss(f_main: Node, y: Node, loss: str) -> Node:
    """The per-sample main loss: ``1/2 |F - y|^2`` or ``log sum_c exp(F_c) - <F, y>``.

    Its gradient in ``F`` is the residual ``F - y``, resp. ``softmax(F) - y`` (lemma *read*).
    """
    if loss == "ce":
        return g.sub(g.logsumexp(f_main), g.vdot(f_main, y))
    r = g.sub(f_main, y)
    return g.scale(g.vdot(r, r), Fraction(1, 2))


def _compile(net: MLP, program: Program, eta: Fraction, loss_kind: str = "mse") -> Extension:
    if program.output.target.shape != (net.n_params,):
        raise CompileError(
            f"algorithm {program.name} outputs {program.output.target.shape[0]} weights but the "
            f"network {net.describe()} has {net.n_params}; pick a matching network"
        )
    if net.d != program.d or net.c != program.c:
        raise CompileError("network and program disagree on input or class dimension")
    K = program.depth
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

    w = new_param("w", (net.n_params,), initial_value("base", "w", 0), "base")
    z = [new_param(f"clock.z{k}", (), 1 if k == 0 else 0, "clock") for k in range(K + 1)]

    def gate(k: int) -> Node:
        a0, b0 = gate_constants(k)
        a = new_param(f"gate.g{k}.a", (), a0, "gate")
        b = new_param(f"gate.g{k}.b", (), b0, "gate")
        return gate_unit(gate_argument(a, b, z, k))

    gates = [gate(k) for k in range(K)]
    af0, bf0 = gate_constants(None)
    af = new_param("gate.G.a", (), af0, "gate")
    bf = new_param("gate.G.b", (), bf0, "gate")
    G = gate_unit(final_gate_argument(af, bf, z, K))

    # registers
    register_param: dict[str, str] = {}
    for ins in program.instructions:
        name = ins.target.name
        if ins.kind == "output":
            register_param[name] = "w"
            continue
        pname = f"reg.{name}"
        new_param(pname, ins.target.shape, initial_value("register", pname, len(register_param)),
                  "register")
        register_param[name] = pname

    # program constants -> trainable coefficients (T5)
    const_map: dict[int, Node] = {}
    bodies = [ins.body for ins in program.instructions]
    for cnode in g.leaves(bodies, "const"):
        label = cnode.attrs.get("label") or "k"
        label = "".join(ch if ch.isalnum() or ch in "_=" else "_" for ch in label)
        pname, i = f"coef.{label}", 1
        while pname in shapes:
            i += 1
            pname = f"coef.{label}.{i}"
        const_map[cnode.id] = coefficient(new_param, pname, cnode.shape, cnode.attrs["value"],
                                          cnode)
    reg_map = {r.id: nodes[register_param[r.attrs["name"]]] for r in g.leaves(bodies, "reg")}

    def body_of(ins: Instruction) -> Node:
        (out,) = g.rebuild([ins.body], {**const_map, **reg_map})
        return out

    heads: list[Head] = []
    x_node, y_node = program.x, program.y
    base_output = net.forward(w, x_node)
    base_nodes = frozenset(n.id for n in g.topological([base_output]))
    main_terms: list[Node] = [g.mul(G, base_output)]
    aux: list[Node] = []
    for ins in program.instructions:
        k = head_step(ins)
        gk = gates[k]
        target = nodes[register_param[ins.target.name]]
        body = body_of(ins)
        hname = ins.target.name
        if ins.kind == "read_labelled":
            s = new_param(f"head.{hname}.s", (), read_scale(eta), "head")
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
        c = new_param(f"head.{hname}.c", (), head_constant(eta), "head")
        h = aux_head(gk, c, g.vdot(target, body), ins.kind)
        aux.append(h)
        heads.append(Head(hname, ins.kind, k, target.attrs["name"], [f"head.{hname}.c"], h))
    for k in range(K):
        c = new_param(f"head.clock{k}.c", (), head_constant(eta), "head")
        e = new_param(f"head.clock{k}.e", (), CLOCK_E, "head")
        h = aux_head(gates[k], c, g.mul(z[k + 1], e), "clock")
        aux.append(h)
        heads.append(Head(f"clock{k}", "clock", k, f"clock.z{k + 1}",
                          [f"head.clock{k}.c", f"head.clock{k}.e"], h))

    f_main = g.add_all(main_terms)
    # any number left in F (a constant, a fixed factor) becomes a trainable parameter (T5)
    outs = [f_main, *aux, *(h.node for h in heads)]
    outs = trainable_factors(outs, new_param, base_nodes)
    extra = make_trainable(outs, new_param, base_nodes)
    if extra:
        outs = g.rebuild(outs, extra)
    f_main, aux = outs[0], outs[1:1 + len(aux)]
    for h, node in zip(heads, outs[1 + len(aux):], strict=True):
        h.node = node
    # a program constant F never reads (the 1/c added to y inside a cross-entropy read's
    # body vanishes in the head's y-derivative) is not a parameter of the extension
    used = {n.attrs["name"] for n in g.leaves([f_main, *aux], "param")}
    for name in [n for n, b in blocks.items() if b == "coefficient" and n not in used]:
        for table in (shapes, blocks, theta0, nodes):
            del table[name]
    half = Fraction(1, 2)
    terms = [g.bmean(main_loss(f_main, y_node, loss_kind))]
    for h in aux:
        terms.append(g.bmean(g.scale(g.vdot(h, h), half)))
    loss = g.add_all(terms)
    label_dependent = g.depends_on([f_main, *aux], [y_node])
    if any(n.id in label_dependent for n in (f_main, *aux)):
        raise CompileError("the extension's output depends on the label; cannot compile")
    return Extension(net, program, eta, K, shapes, blocks, theta0, f_main, list(aux), loss,
                     heads, nodes, register_param, x_node, y_node, None,
                     base_output=base_output, loss_kind=loss_kind)
