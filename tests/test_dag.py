"""The hash-consed DAG backend of the algebra prover (backends/dag.py) and its decisions.

Expected values come from hand derivations (the identities below) and from plain Fraction
arithmetic at random points, never from the backend itself.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from symbolic_universality.backends import dag
from symbolic_universality.backends.dag import DAG, const, symbol
from symbolic_universality.symbolic.algebra import decide_dag, prove_algebra
from symbolic_universality.symbolic.normal import DagNormalizer, Normalizer
from symbolic_universality.symbolic.obligations import Obligation
from symbolic_universality.symbolic.recheck import _dag_flint, recheck_dag

x, y, z = symbol("x"), symbol("y"), symbol("z")


def _ob(got: list, expected: list, labels: tuple[int, ...] | None = (0,)) -> Obligation:
    return Obligation(0, "w", "test", labels, "free", [f"e{i}" for i in range(len(got))],
                      got, expected)


def _decide(got: list, expected: list) -> bool | None:
    ok, _, _ = decide_dag(_ob(got, expected), DagNormalizer(), Normalizer(), n=1, c=2)
    return ok


def test_equal_expressions_built_in_different_orders_are_one_node() -> None:
    assert (x + y) * z is z * (y + x)
    assert (x * y) * z is x * (z * y)
    assert 2 * (x + y) * z is (x + y) * (2 * z)          # contents factored out of a sum
    assert (x + y) - y is x and x - x is dag.ZERO and x - x == 0
    assert Fraction(1, 2) * x + Fraction(1, 2) * x is x
    assert x * 1 is x and x * 0 == 0 and 0 * x == 0
    assert (x + 1) * (x + 1) is (x + 1) ** 2
    # H(c p) = H(p) for c > 0 (and not for c < 0); H(x)^2 = H(x)
    H = dag.heaviside
    assert H(2 * x + 2 * y) is H(x + y)
    assert H(-x) is not H(x)
    assert H(x) * H(x) is H(x)
    # relu and step of constants, H(0) = 0, recip(0) = 0
    assert dag.relu(const(-3)) == 0 and dag.relu(const(Fraction(5, 2))) == Fraction(5, 2)
    assert H(const(0)) == 0 and H(const(1)) == 1
    assert dag.recip(const(0)) == 0 and dag.recip(const(4)) == Fraction(1, 4)
    assert dag.recip(2 * x) is Fraction(1, 2) * dag.recip(x)


def test_different_expressions_are_different_nodes() -> None:
    assert x * y is not x * x
    assert x + y is not x + 2 * y
    assert (x + y) * z is not x * z + y * z       # sums are not distributed
    assert x != y and (x + y) != 0


def test_values_at_a_point_match_fraction_arithmetic() -> None:
    rng = random.Random(3)
    for _ in range(20):
        vx, vy, vz = (Fraction(rng.randint(-9, 9), rng.randint(1, 4)) for _ in range(3))
        e = dag.relu(x * y - z) * (x + 3) - dag.sat(y) + dag.recip(z + 1)
        want = (max(vx * vy - vz, 0) * (vx + 3) - min(1, max(0, vy))
                + (0 if vz + 1 == 0 else 1 / (vz + 1)))
        assert dag.evaluate_at([e], {"x": vx, "y": vy, "z": vz})[0] == want


def test_backend_arrays_and_matmul() -> None:
    W = DAG.asarray(np.array([[symbol("a"), 2], [Fraction(1, 3), symbol("b")]], dtype=object))
    v = DAG.asarray(np.array([x, y], dtype=object))
    out = DAG.matmul(W, v)
    assert out[0] is symbol("a") * x + 2 * y
    assert out[1] is Fraction(1, 3) * x + symbol("b") * y
    assert DAG.is_zero(DAG.zeros((2, 2))) and not DAG.is_zero(W)


def test_identities_that_need_expansion_are_proved() -> None:
    assert _decide([(x + y) * (x + y)], [x * x + 2 * x * y + y * y]) is True
    # a shared sub-term used whole on one side and distributed on the other
    s = x * y + z
    assert _decide([s * (x + 1)], [s * x + s]) is True
    # H^2 = H after expansion, and H(2x) = H(x)
    H = dag.heaviside
    assert _decide([(x + y) * H(2 * x) * H(x)], [x * H(x) + y * H(x)]) is True


def test_a_dropped_term_is_not_proved() -> None:
    """Soundness: a seeded wrong obligation (the cross term of a square dropped)."""
    assert _decide([(x + y) * (x + y)], [x * x + y * y]) is not True
    v = prove_algebra(_ob([(x + y) * (x + y)], [x * x + y * y]), Normalizer(), n=1, c=2)
    assert v.status == "unknown"
    # a wrong coefficient deep inside a shared subexpression
    s = x * y + z
    assert _decide([s * (x + 1)], [s * x + s + x * z * Fraction(1, 10**9)]) is not True


def test_flint_recheck_from_the_dag() -> None:
    s = x * y + z
    assert recheck_dag([((x + y) * (x + y), x * x + 2 * x * y + y * y, frozenset())]) is True
    # s is one node on the left but its terms are spread into the right side's sum: with
    # s abbreviated (a free symbol) the difference is not zero; the checker then expands
    assert not _dag_flint([(s * (x + 1), s * x + s)], frozenset({s.id}))[0].is_zero()
    assert _dag_flint([(s * (x + 1), s * x + s)], frozenset())[0].is_zero()
    assert recheck_dag([(s * (x + 1), s * x + s, frozenset({s.id}))]) is True
    assert recheck_dag([(s * (x + 1), s * x + s, frozenset())]) is True
    t = dag.relu(s)
    assert recheck_dag([(t * (x + 1), t * x + t, frozenset({t.id}))]) is True
    assert recheck_dag([((x + y) * (x + y), x * x + y * y, frozenset())]) is None


@pytest.mark.parametrize("network,T,fault", [
    ("mlp:2-3-2:relu", 2, None),
    ("mlp:3-2-2:relu", 1, None),
    ("mlp:2-3-2:relu", 1, "read_scale_double"),
    ("linear", 3, "gate_margin"),
])
def test_dag_and_sympy_paths_agree(monkeypatch, network: str, T: int, fault: str | None
                                   ) -> None:
    from symbolic_universality.api import prove
    from symbolic_universality.symbolic import prover

    out = {}
    for path in ("dag", "sympy"):
        monkeypatch.setattr(prover, "ALGEBRA_BACKEND", path)
        r = prove("gd", network, options=[f"T={T}"], backends=["algebra"], budget_s=None,
                  d=2 if network == "linear" else None,
                  fault=fault)
        out[path] = (r.status, [(v.key, v.status) for v in r.report.verdicts])
        if fault is not None:
            assert r.status == "refuted"
            bad = [v for v in r.report.verdicts if v.status == "refuted"]
            assert bad and all(v.counterexample and v.counterexample.get("replay")
                               for v in bad)
        else:
            assert r.status == "verified"
    assert out["dag"] == out["sympy"]
