"""Differential fuzzer: traced program vs concrete execution of the same function (issue 9).

Random small programs over the language (``fuzz_programs``: arithmetic with constants on
either side, broadcasting, matmul, relu, step, where, comparisons, slicing, means,
one-hot expansions, guarded division) are traced; the reference interpreter's ``A(D)``
(``program.interpreter.run_program``) must equal the concrete execution
(``program.concrete.execute``) on random rational data, or both must report the same
division by 0. 60 programs are also compiled and checked by true exact GD (``check_exact``)
with the concrete result as the reference.

Every shrunk failure found while writing the tracer is kept below as a regression test.
"""

from __future__ import annotations

from fractions import Fraction as F
from typing import Any

import numpy as np
from fuzz_programs import C, D, algorithm, datasets, programs
from hypothesis import HealthCheck, given, settings

from symbolic_universality.backends.scalars import EXACT, BackendError
from symbolic_universality.extension.compiler import compile_extension
from symbolic_universality.networks.mlp import MLP
from symbolic_universality.program.concrete import ConcreteError, execute
from symbolic_universality.program.interpreter import run_program
from symbolic_universality.program.tracer import TraceError, trace
from symbolic_universality.verify.steps import check_exact

NET = MLP((D, C), "identity")


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "value", [F(v) for v in fn()]
    except (BackendError, ConcreteError) as exc:
        if "divided by exactly 0" in str(exc):
            return "divided by 0", None
        return f"error {type(exc).__name__}: {exc}", None
    except TraceError as exc:
        return f"refused: {exc}", None
    except Exception as exc:  # noqa: BLE001 (a crash is an outcome to compare too)
        return f"crashed {type(exc).__name__}: {exc}", None


def oracle(alg: Any, x: np.ndarray, y: np.ndarray, allow_refusal: bool = False,
           **options: Any) -> str | None:
    """``None`` when tracing + interpreting gives exactly what executing the function gives.

    A disagreement (other weights, or one side computing a value where the other refuses
    or fails) is described in a sentence. A program both sides refuse agrees; with
    ``allow_refusal`` so does any program the tracer refuses (nothing is verified then).
    The fuzzer's programs are all in the language, so for them a refusal is a finding.
    """
    d, c = x.shape[1], y.shape[1]

    def traced() -> Any:
        return run_program(trace(alg, d, c, **options), x, y, EXACT)["w"]

    t = _outcome(traced)
    if allow_refusal and t[0].startswith("refused"):
        return None
    e = _outcome(lambda: execute(alg, x, y, **options))
    if t[0].startswith("refused") and e[0].startswith("refused"):
        return None
    if t != e:
        return f"traced {t[0]} {t[1]} but executed {e[0]} {e[1]}"
    return None


def compile_oracle(alg: Any, x: np.ndarray, y: np.ndarray, net: MLP = NET,
                   **options: Any) -> str | None:
    """``None`` when the compiled extension verifies exactly against the concrete run."""
    try:
        program = trace(alg, x.shape[1], y.shape[1], **options)
    except TraceError:
        return None
    ref = execute(alg, x, y, **options)
    try:
        ext = compile_extension(net, program)
        report = check_exact(ext, x, y, reference_w=ref)
    except Exception as exc:  # noqa: BLE001 (any crash of the compiler is a finding)
        return f"compiling or checking failed: {type(exc).__name__}: {exc}"
    if report.status != "verified" or report.reference_equal is not True:
        return f"not verified against the concrete run: {report.message}"
    return None


@settings(max_examples=500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), datasets())
def test_traced_equals_executed(program: tuple, data: tuple) -> None:
    x, y = data
    problem = oracle(algorithm(program), x, y)
    assert problem is None, f"{program!r}: {problem}"


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(max_regs=3, depth=3), datasets(max_n=3))
def test_compiled_verifies_against_execution(program: tuple, data: tuple) -> None:
    x, y = data
    alg = algorithm(program)
    if _outcome(lambda: execute(alg, x, y))[0] != "value":
        return  # the algorithm itself is undefined on these data (a division by 0)
    problem = compile_oracle(alg, x, y)
    assert problem is None, f"{program!r}: {problem}"


# ------------------------------------------------------------- regressions (shrunk failures)

def _data(xs: list[list[int]], classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[F(v) for v in row] for row in xs], dtype=object)
    y = np.array([[F(int(k == cls)) for k in range(C)] for cls in classes], dtype=object)
    return x, y


X0, Y0 = _data([[1, -1, 0], [2, 2, 0], [0, 3, -1]], [0, 1, 0])
ALL_CLASS_0 = _data([[-2, -2, -2], [-2, -2, -2]], [0, 0])
K = F(-2)

REGRESSIONS = [
    # scalar constant on the left of a vector inside a mean (compiler shape mismatch before)
    (("prog", [("mean", ("k", (), F(2), (F(2),), ("x",), "+"))], [0]), X0, Y0),
    # 1 - y: an affine read whose y = 0 part is a broadcast scalar
    (("prog", [("mean", ("k", (), F(1), (F(1),), ("y",), "-"))], [0]), X0, Y0),
    # division discarded by the select where the divisor is 0
    (("prog", [("mean", ("gdiv", ("x",), ("relu", ("x",))))], [0]), X0, Y0),
    # ~(a >= b) on constants: 1 - step broadcast from a scalar 1 is still 0/1
    (("prog", [("not", ">=", ("const", (3,), (K, K, K)), ("const", (3,), (K, K, K)))], [0]),
     *ALL_CLASS_0),
    # a division in a one-hot expanded read, by 0 only at the class the sample does not have
    (("prog", [("mean", ("div", ("add", ("const", (2, 3), (K,) * 6), ("const", (), (K,))),
                         ("abs", ("elem", ("outer", ("y",), ("x",)), 0, 0))))], [0]),
     *ALL_CLASS_0),
    # a division by 0 in an entry that indexing then drops: an error on both sides
    (("prog", [("mean", ("add", ("idx", ("div", ("const", (2,), (K, K)), ("y",)), 0),
                         ("x",)))], [0]), *ALL_CLASS_0),
    # the gradient of a loss that does not use v, at a point that divides by 0: zero (the
    # traced gradient never evaluates the point)
    (("prog", [("mean", ("add", ("const", (3,), (K, K, K)),
                         ("grad", ("div", ("const", (3,), (K, K, K)), ("x",)),
                          ("const", (), (K,)))))], [0]), *_data([[0, 1, 1], [2, 2, 2]], [0, 1])),
    # a read dividing by 0 that the result does not use: no error on either side
    (("prog", [("add", ("const", (), (K,)), ("const", (), (K,))),
               ("mean", ("div", ("const", (), (K,)), ("add", ("idx", ("x",), 0),
                                                      ("const", (), (F(2),)))))], [0]),
     *ALL_CLASS_0),
]


def test_regressions() -> None:
    for program, x, y in REGRESSIONS:
        alg = algorithm(program)
        assert oracle(alg, x, y) is None, program
        if _outcome(lambda alg=alg, x=x, y=y: execute(alg, x, y))[0] == "value":
            assert compile_oracle(alg, x, y) is None, program
