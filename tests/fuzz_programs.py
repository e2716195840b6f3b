"""Random small programs over the algorithm language, for the differential fuzzer.

A program is a *recipe*: nested tuples (printable, shrinkable by hypothesis, and
storable as a regression test). :func:`algorithm` turns a recipe into an ordinary
algorithm ``fn(data)`` written with the language's operators and ``lang`` functions,
so the very same function is traced and executed concretely.

Shapes: ``x`` has ``D = 3`` features, ``y`` is one-hot over ``C = 2`` classes; values
are scalars, vectors of length 2 or 3, and 2 x 3 matrices.
"""

from __future__ import annotations

from fractions import Fraction as F
from typing import Any

import numpy as np
from hypothesis import strategies as st

from symbolic_universality.program import lang

D, C = 3, 2
N_OUT = D * C + C  # the weights of the linear base network 3 -> 2 with biases

SMALL = [F(v) for v in (-2, -1, 0, 1, 2, 3)] + [F(1, 2), F(-1, 3), F(3, 2)]
NONZERO = [v for v in SMALL if v != 0]
CMPS = (">", ">=", "<", "<=", "==", "!=")
SLICES_3_TO_2 = ((0, 2, None), (1, 3, None), (None, None, 2), (None, None, -2), (-2, None, None))


# --------------------------------------------------------------------------- building


def _cmp(op: str, a: Any, b: Any) -> Any:
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == "==":
        return a == b
    return a != b


def _const(shape: tuple[int, ...], vals: tuple[F, ...]) -> np.ndarray:
    return np.array(vals, dtype=object).reshape(shape)


def build(r: tuple, env: dict[str, Any]) -> Any:
    """The value of recipe ``r`` (traced or concrete, whichever ``env`` holds)."""
    op = r[0]
    b = lambda i: build(r[i], env)  # noqa: E731
    if op == "x":
        return env["x"]
    if op == "v":
        return env["v"]
    if op == "grad":  # the per-sample gradient of a scalar loss of v (lang.grad)
        body = r[2]
        return lang.grad(lambda v: build(body, {**env, "v": v}), b(1))
    if op == "keep":
        return env["data"].keep(b(1))
    if op == "y":
        return env["y"]
    if op == "reg":
        return env["regs"][r[1]]
    if op == "const":
        return env["data"].const(_const(r[1], r[2]))
    if op == "k":  # a Python number or a NumPy array on the left of an operator
        k = r[2] if r[1] == () else _const(r[1], r[3])
        a = b(4)
        return {"+": lambda: k + a, "-": lambda: k - a, "*": lambda: k * a}[r[5]]()
    if op in ("add", "sub", "mul"):
        x, y = b(1), b(2)
        return x + y if op == "add" else (x - y if op == "sub" else x * y)
    if op == "neg":
        return -b(1)
    if op == "square":
        return b(1) ** 2
    if op == "relu":
        return lang.relu(b(1))
    if op == "step":
        return lang.step(b(1))
    if op == "sat":
        return lang.sat(b(1))
    if op == "abs":
        return np.abs(b(1))
    if op == "sign":
        return np.sign(b(1))
    if op == "max0":
        return np.maximum(b(1), 0)
    if op == "min":
        return lang.minimum(b(1), b(2))
    if op == "cmp":
        return _cmp(r[1], b(2), b(3))
    if op == "where":
        return lang.where(_cmp(r[1], b(2), b(3)), b(4), b(5))
    if op == "npwhere":
        return np.where(_cmp(r[1], b(2), b(3)), b(4), b(5))
    if op == "and":
        return _cmp(r[1], b(2), b(3)) & _cmp(r[4], b(5), b(6))
    if op == "or":
        return _cmp(r[1], b(2), b(3)) | _cmp(r[4], b(5), b(6))
    if op == "not":
        return ~_cmp(r[1], b(2), b(3))
    if op == "gdiv":  # division a select discards where the divisor is 0
        den = b(2)
        return lang.where(den > 0, b(1) / den, 0)
    if op == "cdiv":
        return b(1) / r[2]
    if op == "div":
        return b(1) / b(2)
    if op == "idx":
        return b(1)[r[2]]
    if op == "slice":
        return b(1)[slice(*r[2])]
    if op == "rev":
        return b(1)[::-1]
    if op == "row":
        return b(1)[r[2]]
    if op == "col":
        return b(1)[:, r[2]]
    if op == "elem":
        return b(1)[r[2], r[3]]
    if op == "sub2d":
        return b(1)[slice(*r[2]), slice(*r[3])]
    if op == "sum":
        return b(1).sum()
    if op == "rowsum":
        return b(1).sum(axis=1)
    if op == "colsum":
        return b(1).sum(axis=0)
    if op == "matvec":
        return b(1) @ b(2)
    if op == "tmatvec":
        return b(1).T @ b(2)
    if op == "max":
        return b(1).max()
    if op == "min_all":
        return b(1).min()
    if op == "colmean":
        return b(1).mean(axis=0)
    if op == "vdot":
        return b(1) @ b(2)
    if op == "ldot":
        return lang.dot(b(1), b(2))
    if op == "outer":
        return lang.outer(b(1), b(2))
    if op == "mean":
        body = r[1]
        if _uses_y(body):
            return env["data"].mean(lambda x, y: build(body, {**env, "x": x, "y": y}))
        return env["data"].mean(lambda x: build(body, {**env, "x": x}))
    raise AssertionError(f"unknown recipe {op!r}")


def _uses_y(r: Any) -> bool:
    if isinstance(r, tuple):
        if r and r[0] == "y":
            return True
        return any(_uses_y(p) for p in r[1:])
    return False


def algorithm(program: tuple) -> Any:
    """The algorithm of a program recipe ``("prog", [register recipes], [output registers])``."""
    _, regs, outs = program

    def fn(data: Any) -> Any:
        env: dict[str, Any] = {"data": data, "regs": []}
        for r in regs:
            env["regs"].append(build(r, env))
        parts = [env["regs"][i] for i in outs]
        flat = lang.concat(parts + [data.const(np.zeros(N_OUT, dtype=int))])
        return flat[:N_OUT]

    fn.__name__ = "fuzzed"
    return fn


# --------------------------------------------------------------------------- generating

SHAPES = ((), (3,), (2,), (2, 3))


def _vals(draw: Any, shape: tuple[int, ...], pool: list[F] = SMALL) -> tuple[F, ...]:
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return tuple(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))


def gen(draw: Any, shape: tuple[int, ...], regs: list[tuple[int, ...]], in_mean: bool,
        depth: int, in_grad: bool = False) -> tuple:
    """A recipe of the given shape (registers ``regs`` defined so far).

    ``in_grad``: the body of a ``lang.grad`` loss, where ``v`` (shape (3,)) is the variable
    (no divisions there: the concrete run evaluates a gradient at once, see concrete.grad).
    """
    leaves: list[tuple] = []
    if in_grad:
        leaves += {(3,): [("v",)] * 3, (): [("idx", ("v",), 1)], (2,): [("slice", ("v",),
                                                                         (0, 2, None))],
                   (2, 3): [("outer", ("y",), ("v",))]}[shape]
    if in_mean:  # the sample, in every shape
        leaves += {(3,): [("x",)], (2,): [("y",)], (): [("idx", ("x",), 0), ("idx", ("y",), 1)],
                   (2, 3): [("outer", ("y",), ("x",))]}[shape]
    leaves += [("reg", i) for i, s in enumerate(regs) if s == shape]
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        if leaves and draw(st.integers(0, 2)) > 0:
            return draw(st.sampled_from(leaves))
        return ("const", shape, _vals(draw, shape))
    sub = lambda s: gen(draw, s, regs, in_mean, depth - 1, in_grad)  # noqa: E731
    small = lambda: draw(st.sampled_from([shape, ()]))  # noqa: E731
    ops = ["add", "sub", "mul", "k", "neg", "relu", "step", "abs", "sign", "max0", "min", "cmp",
           "where", "npwhere", "gdiv", "cdiv", "div", "and", "not", "square", "sat"]
    if shape == ():
        ops += ["idx", "idx", "elem", "sum", "vdot", "ldot", "max", "min_all"]
    if shape == (2,):
        ops += ["matvec", "col", "slice", "rowsum"]
    if shape == (3,):
        ops += ["row", "rev", "colsum", "tmatvec", "colmean"]
    if shape == (2, 3):
        ops += ["outer", "outer", "sub2d"]
    if not in_mean:
        ops += ["mean"] * 4
    if in_mean and not in_grad and shape == (3,):
        ops += ["grad"] * 5
    if in_grad:
        ops = [o for o in ops if o not in ("gdiv", "cdiv", "div")]
    op = draw(st.sampled_from(ops))
    if op in ("add", "sub", "mul"):
        if draw(st.booleans()):
            return (op, sub(shape), sub(small()))
        return (op, sub(small()), sub(shape))
    if op == "k":
        kshape = draw(st.sampled_from([(), shape]))
        return ("k", kshape, draw(st.sampled_from(SMALL)), _vals(draw, kshape), sub(shape),
                draw(st.sampled_from("+-*")))
    if op in ("neg", "relu", "step", "abs", "sign", "max0", "square", "sat"):
        return (op, sub(shape))
    if op == "min":
        return (op, sub(shape), sub(small()))
    if op == "cmp":
        return (op, draw(st.sampled_from(CMPS)), sub(shape), sub(small()))
    if op in ("where", "npwhere"):
        return (op, draw(st.sampled_from(CMPS)), sub(shape), sub(small()), sub(shape),
                sub(small()))
    if op == "and":
        return (draw(st.sampled_from(["and", "or"])), draw(st.sampled_from(CMPS)), sub(shape),
                sub(small()), draw(st.sampled_from(CMPS)), sub(shape), sub(small()))
    if op == "not":
        return (op, draw(st.sampled_from(CMPS)), sub(shape), sub(small()))
    if op == "gdiv":
        return (op, sub(shape), sub(small()))
    if op == "cdiv":
        return (op, sub(shape), draw(st.sampled_from(NONZERO)))
    if op == "div":
        return (op, sub(shape), sub(small()))
    if op == "idx":
        n = draw(st.sampled_from([2, 3]))
        return (op, sub((n,)), draw(st.integers(-n, n - 1)))
    if op == "elem":
        return (op, sub((2, 3)), draw(st.integers(-2, 1)), draw(st.integers(-3, 2)))
    if op in ("sum", "max", "min_all"):
        return (op, sub(draw(st.sampled_from(SHAPES[1:]))))
    if op == "tmatvec":
        return (op, sub((2, 3)), sub((2,)))
    if op == "colmean":
        return (op, sub((2, 3)))
    if op in ("vdot", "ldot"):
        return (op, sub((3,)), sub((3,)))
    if op == "matvec":
        return (op, sub((2, 3)), sub((3,)))
    if op == "col":
        return (op, sub((2, 3)), draw(st.integers(-3, 2)))
    if op == "slice":
        return (op, sub((3,)), draw(st.sampled_from(SLICES_3_TO_2)))
    if op == "rowsum":
        return (op, sub((2, 3)))
    if op == "colsum":
        return (op, sub((2, 3)))
    if op == "row":
        return (op, sub((2, 3)), draw(st.integers(-2, 1)))
    if op == "rev":
        return (op, sub((3,)))
    if op == "outer":
        return (op, sub((2,)), sub((3,)))
    if op == "sub2d":
        return (op, sub((2, 3)), draw(st.sampled_from([(0, 2, None), (None, None, -1),
                                                        (-2, None, None)])),
                draw(st.sampled_from([(0, 3, None), (None, None, -1), (-3, 5, None)])))
    if op == "mean":
        return ("mean", gen(draw, shape, regs, True, depth - 1))
    if op == "grad":
        return ("grad", sub((3,)), gen(draw, (), regs, True, depth - 1, in_grad=True))
    raise AssertionError(op)


@st.composite
def programs(draw: Any, max_regs: int = 3, depth: int = 3) -> tuple:
    """A program recipe: registers (mostly means) and the registers its output lists."""
    shapes: list[tuple[int, ...]] = []
    regs: list[tuple] = []
    for _ in range(draw(st.integers(1, max_regs))):
        shape = draw(st.sampled_from(SHAPES))
        kind = draw(st.integers(0, 7))
        if kind > 1:
            r = ("mean", gen(draw, shape, shapes, True, depth))
        elif kind == 1:
            r = ("keep", gen(draw, shape, shapes, False, depth))
        else:
            r = gen(draw, shape, shapes, False, depth)
        regs.append(r)
        shapes.append(shape)
    outs = draw(st.lists(st.integers(0, len(regs) - 1), min_size=1, max_size=3))
    return ("prog", regs, outs)


@st.composite
def datasets(draw: Any, max_n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Random rational data: ``n`` samples of ``D`` features, one-hot labels over ``C``."""
    n = draw(st.integers(2, max_n))
    xv = draw(st.lists(st.sampled_from(SMALL + [F(5, 4), F(-2, 3)]), min_size=n * D,
                       max_size=n * D))
    x = np.array(xv, dtype=object).reshape(n, D)
    cls = draw(st.lists(st.integers(0, C - 1), min_size=n, max_size=n))
    y = np.empty((n, C), dtype=object)
    for i in range(n):
        for k in range(C):
            y[i, k] = F(int(cls[i] == k))
    return x, y
