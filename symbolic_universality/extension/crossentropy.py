"""The cross-entropy variant of the construction: the program the compiler builds for it.

With softmax cross-entropy as the main loss, ``l(F, y) = log sum_c exp(F_c) - <F, y>``, the
residual of ``F_main`` is ``softmax(F_main) - y``. Before step ``K`` every ``F_main`` entry is
exactly 0 (lemma *isolation*: ``G = 0``, every other read is gated off, the active read's
register is 0), and ``softmax(0) = 1/c`` exactly, so the residual is ``1/c - y`` (lemma
*read*, cross-entropy case). One GD step on a labelled read with body
``phi(u, x, y)`` (linear in ``y``) therefore writes

    ``R' = mean_i phi(u, x_i, y_i - 1/c)  =  mean_i phi(u, x_i, y_i) - (1/c) mean_i phi(u, x_i, 1)``

instead of ``mean_i phi(u, x_i, y_i)``. The compiler compensates the ``1/c`` term (lemma
*cross-entropy compensation*, ``proofs/crossentropy.py``): next to each labelled read ``R``
it adds an unlabelled read ``R_ones <- mean_i phi(u, x_i, 1)`` at the same step (so ``K`` is
unchanged, T4), and every later use of ``R`` reads ``R + (1/c) R_ones``, which is
``mean_i phi(u, x_i, y_i)`` again. The ``1/c`` is a program constant, hence a trainable
coefficient like every other (T5). :func:`cross_entropy_program` returns that program; its
interpreter gives the registers GD on the cross-entropy extension visits, and its output
is the same ``A(D)`` (T1 compares it with the user's own function run concretely).
"""

from __future__ import annotations

from fractions import Fraction

from ..graph import core as g
from ..graph.core import Node
from ..program.ir import Instruction, Program, Register

LOSSES = ("mse", "ce")
LOSS_NAMES = {"mse": "squared loss 1/2 |F_main - y|^2",
              "ce": "softmax cross-entropy log sum exp F_main - <F_main, y>"}

__all__ = ["LOSSES", "LOSS_NAMES", "cross_entropy_program", "ones_register"]


def ones_register(name: str) -> str:
    """The name of the compensating unlabelled read of labelled read ``name``."""
    return f"{name}_ones"


def cross_entropy_program(program: Program, *, coef: Fraction | None = None) -> Program:
    """The program whose GD under cross-entropy reproduces ``program`` (module docstring).

    Relies on lemma *read* (cross-entropy case: residual ``1/c - y``) and lemma
    *cross-entropy compensation* (``R + (1/c) R_ones = mean phi(u, x, y)``). A program with
    no labelled read is returned unchanged (its reads see no residual). ``coef`` replaces
    the compensation's ``1/c`` (the lemma's negative control only).
    """
    labelled = [ins for ins in program.instructions if ins.kind == "read_labelled"]
    if not labelled:
        return program
    c = program.c
    y = program.y
    assert y is not None
    inv_c = Fraction(1, c)
    comp = inv_c if coef is None else Fraction(coef)
    shift = g.sub(y, g.const([inv_c] * c, label="1/c"))
    ones = g.const([1] * c, label="ones")
    taken = {ins.target.name for ins in program.instructions}
    uses: dict[int, Node] = {}
    out: list[Instruction] = []
    for ins in program.instructions:
        body = ins.body
        if uses:
            (body,) = g.rebuild([body], dict(uses))
        if ins.kind != "read_labelled":
            out.append(Instruction(ins.kind, ins.target, body, ins.label, ins.step, ins.source))
            continue
        name = ins.target.name
        uname = ones_register(name)
        while uname in taken:
            uname += "_"
        taken.add(uname)
        (shifted,) = g.rebuild([body], {y.id: shift})
        (summed,) = g.rebuild([body], {y.id: ones})
        out.append(Instruction(ins.kind, ins.target, shifted,
                               (ins.label or f"{name} <- mean_i phi(x_i, y_i)")
                               + "  (cross-entropy: y - 1/c)", ins.step, ins.source))
        target = Register(uname, ins.target.shape)
        out.append(Instruction("read_unlabelled", target, summed,
                               f"{uname} <- mean_i phi(x_i, 1)  (cross-entropy compensation "
                               f"of {name})", ins.step))
        reg_nodes = [r for r in g.leaves([i.body for i in program.instructions], "reg")
                     if r.attrs["name"] == name]
        fixed = g.add(g.reg(name, ins.target.shape),
                      g.mul(g.reg(uname, ins.target.shape),
                            g.const(comp, label=f"1/c of {name}")))
        for r in reg_nodes:
            uses[r.id] = fixed
    return Program(program.name, program.d, program.c, out, dict(program.options), program.x,
                   program.y, list(program.float_constants))
