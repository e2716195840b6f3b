"""ASAP scheduling of a program (construction.md section 2; theorem property T4).

An instruction runs at GD step ``1 + max(step of the instructions that wrote its
inputs)`` (step 0 when it reads no register); ``K`` is then the depth of the
program, its longest chain of dependent instructions, not its length.
"""

from __future__ import annotations

from .ir import Program


def schedule(program: Program) -> Program:
    """Fill in ``step`` for every instruction (ASAP) and return the program."""
    step_of: dict[str, int] = {}
    for ins in program.instructions:
        deps = [step_of[name] for name in ins.inputs]
        ins.step = 1 + max(deps) if deps else 0
        step_of[ins.target.name] = ins.step
    last = program.output.step
    for ins in program.instructions[:-1]:
        if ins.step > last:
            raise ValueError(f"instruction {ins.target.name} is scheduled after the output")
    return program
