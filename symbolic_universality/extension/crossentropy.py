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
from typing import Any

import numpy as np

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
        body, source = ins.body, ins.source
        if uses:
            # every later use of a compensated register reads R + (1/c) R_ones, in the body
            # and in the one-hot source the interpreter checks divisions on
            (body,) = g.rebuild([body], dict(uses))
            if source is not None:
                (source,) = g.rebuild([source], dict(uses))
        if ins.kind != "read_labelled":
            out.append(Instruction(ins.kind, ins.target, body, ins.label, ins.step, source))
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
                               + "  (cross-entropy: y - 1/c)", ins.step, source))
        target = Register(uname, ins.target.shape)
        out.append(Instruction("read_unlabelled", target, summed,
                               f"{uname} <- mean_i phi(x_i, 1)  (cross-entropy compensation "
                               f"of {name})", ins.step))
        reg_nodes = [r for r in g.leaves([i.body for i in program.instructions]
                                         + [i.source for i in program.instructions
                                            if i.source is not None], "reg")
                     if r.attrs["name"] == name]
        fixed = g.add(g.reg(name, ins.target.shape),
                      g.mul(g.reg(uname, ins.target.shape),
                            g.const(comp, label=f"1/c of {name}")))
        for r in reg_nodes:
            uses[r.id] = fixed
    return Program(program.name, program.d, program.c, out, dict(program.options), program.x,
                   program.y, list(program.float_constants))


def check_compensation(source: Program, compiled: Program) -> tuple[str, str]:
    """The compensation of ``compiled`` (``cross_entropy_program(source)``), proved for this
    program: ``(status, detail)``, status ``verified`` | ``refuted``.

    Registers are free symbols; a compensated register ``R`` of ``compiled`` holds ``R_raw``
    and its ``R_ones``, standing for ``R = R_raw + (1/c) R_ones`` of ``source``. In one generic
    sample (``x`` symbols, ``y`` each one-hot ``e_k``) two identities are checked (sympy):

    * every labelled read: ``phi'(y) + (1/c) phi_ones = phi(y)`` (so by the lemma *lifting*,
      linearity of the mean, ``R_raw + (1/c) R_ones = mean_i phi(u, x_i, y_i)`` on every
      data set, given the registers it reads);
    * every other instruction: its compiled body equals its source body (the rewritten uses
      ``R_raw + c' R_ones`` read the source's ``R`` exactly when ``c' = 1/c``).

    By induction over the instructions the compiled program computes every register of the
    source program on every data set (lemma *cross-entropy compensation*, for this program).
    """
    from ..backends import dag
    from ..backends.dag import DAG
    from ..graph.core import bmean
    from ..graph.evaluate import evaluate
    from ..symbolic.data import input_symbols, register_symbols
    from ..symbolic.normal import DagNormalizer, NormalFormError

    c = source.c
    inv_c = Fraction(1, c)
    by_name = {i.target.name: i for i in compiled.instructions}
    comp = {i.target.name for i in source.instructions if i.kind == "read_labelled"}
    if not comp:
        return "verified", "no labelled read: nothing to compensate"
    src_regs: dict[str, np.ndarray] = {}
    new_regs: dict[str, np.ndarray] = {}
    for ins in source.instructions:
        name, shape = ins.target.name, ins.target.shape
        sym = DAG.asarray(register_symbols(DAG, name, shape))
        new_regs[name] = sym
        if name in comp:
            if ones_register(name) not in by_name:
                return "refuted", f"labelled read {name} has no compensating read"
            ones = DAG.asarray(register_symbols(DAG, ones_register(name), shape))
            new_regs[ones_register(name)] = ones
            src_regs[name] = np.asarray(sym + ones * inv_c, dtype=object)
        else:
            src_regs[name] = sym
    x = DAG.asarray(input_symbols(DAG, source.d).reshape(1, -1))
    labels = [DAG.asarray(np.array([[int(j == k) for j in range(c)]], dtype=object))
              for k in range(c)]
    y_generic = DAG.asarray(np.array([[dag.symbol(f"y_0_{j}") for j in range(c)]],
                                     dtype=object))

    def value(node: Any, regs: dict[str, np.ndarray], y: np.ndarray | None,
              read: bool) -> np.ndarray:
        if read:
            (v,) = evaluate([bmean(node)], DAG, regs, x, y)
        else:
            (v,) = evaluate([node], DAG, regs)
        return np.asarray(v, dtype=object).reshape(-1)

    def differ(a: np.ndarray, b: np.ndarray) -> tuple[int, Any] | None:
        """The first entry whose two sides differ as functions: the same interned value, or
        the same after collecting like products, is an identity; otherwise the normal form
        of the difference (hash-consed expressions, backends.dag; softmax atoms opaque)."""
        norm = DagNormalizer()
        a = [dag.to_dag(u) for u in a]
        b = [dag.to_dag(v) for v in b]
        collected = dag.collect(a + b)  # one pass over the DAG for every entry
        for idx, (u, v) in enumerate(zip(a, b, strict=True)):
            if u is v or collected[idx] is collected[len(a) + idx]:
                continue
            try:
                d = norm.dag_difference(u, v)
            except NormalFormError:  # too large for the normal form: sympy expands it
                import sympy as sp

                su, sv = dag.to_sympy([u, v])
                diff = sp.expand(su - sv)
                if diff != 0:
                    return idx, diff
                continue
            if d:
                return idx, norm.to_sympy(d)
        return None

    def sides(ins: Any, new: Any, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(compiled, source) values of one instruction's body for the label ``y``; a
        compensated read adds ``(1/c)`` times its ``R_ones`` read."""
        read = ins.kind.startswith("read")
        got = value(new.body, new_regs, y, read)
        if ins.target.name in comp:
            ones = by_name[ones_register(ins.target.name)]
            got = np.asarray(got + value(ones.body, new_regs, y, True) * inv_c, dtype=object)
        return got, value(ins.body, src_regs, y, read)

    checked = 0
    for ins in source.instructions:
        name = ins.target.name
        new = by_name.get(name)
        if new is None or new.step != ins.step or new.kind != ins.kind:
            return "refuted", f"instruction {name} changed its kind or step"
        if name in comp and by_name[ones_register(name)].step != ins.step:
            return "refuted", f"{ones_register(name)} runs at another step than {name}"
        cases = labels[:1]
        if ins.kind == "read_labelled":
            # a generic label vector first (an identity for every real y covers every
            # one-hot y at once); only if that fails, each one-hot label in turn
            got, want = sides(ins, new, y_generic)
            if differ(got, want) is None:
                checked += len(want)
                continue
            cases = labels
        for y in cases:
            got, want = sides(ins, new, y)
            bad = differ(got, want)
            if bad is not None:
                what = ("phi(y - 1/c) + (1/c) phi(1) - phi(y)" if name in comp else
                        "compiled body - source body")
                text = str(bad[1])
                text = text if len(text) <= 160 else text[:157] + "..."
                return "refuted", f"{name}[{bad[0]}]: {what} = {text}, not 0"
            checked += len(want)
    return "verified", (f"the compiled program computes every register of the source on every "
                        f"data set: {len(comp)} compensated labelled reads, "
                        f"{len(source.instructions)} instructions, {checked} entries checked "
                        "as identities in one generic sample (registers free; lemma "
                        "crossentropy for this program)")
