"""The FLINT exact backend against the Fraction reference (issue 12 item 1).

Both compute with exact canonical rationals, so every GD step on the extension must give
the same Fractions, bit for bit: checked on every parameter after every step, for the
built-in algorithms on two data sets, pruned and unpruned.
"""

from __future__ import annotations

import random
from fractions import Fraction as F

import numpy as np
import pytest

from symbolic_universality.backends import flint as fl
from symbolic_universality.backends.scalars import EXACT
from symbolic_universality.pipeline import prepare, verify_exact
from symbolic_universality.verify.steps import gd_step

pytestmark = pytest.mark.skipif(not fl.AVAILABLE, reason="python-flint is not installed")

CASES = [
    ("gd", "linear", "tiny", None, {"T": 3}),
    ("gd", "linear", "iris", 12, {"T": 2}),
    ("gd", "mlp:4-3-3:relu", "iris", 9, {"T": 2}),
    ("perceptron", "linear", "tiny", None, {"T": 2}),
    ("perceptron", "linear", "iris", 12, {"T": 2}),
    ("ncm", "linear", "tiny", None, {}),
    ("ncm", "linear", "iris", 12, {}),
    ("worked", "linear-nobias", "tiny", None, {}),
    ("worked", "linear-nobias", "iris", 9, {}),
]


def _is_fraction_array(a: np.ndarray) -> bool:
    return all(type(v) is F for v in np.asarray(a).flat)


@pytest.mark.parametrize("algorithm,network,dataset,samples,options", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_flint_and_fraction_gd_agree_bit_for_bit(algorithm, network, dataset, samples,
                                                 options):
    try:
        job = prepare(algorithm, network, dataset, samples, **options)
    except ValueError as exc:  # e.g. worked needs a 2-feature network
        pytest.skip(str(exc))
    ext, x, y = job.extension, job.data.x, job.data.y
    prune_modes = (True, False) if dataset == "tiny" else (True,)
    for prune in prune_modes:
        ref = {k: v.copy() for k, v in ext.theta0.items()}
        fast = {k: v.copy() for k, v in ext.theta0.items()}
        for step in range(ext.K + 1):
            ref = gd_step(ext, ref, x, y, ext.eta, EXACT, prune=prune)
            fast = gd_step(ext, fast, x, y, ext.eta, fl.FLINT, prune=prune)
            for name in ext.shapes:
                assert _is_fraction_array(fast[name]), name
                assert np.array_equal(ref[name], fast[name]), (step, name, prune)


def test_fmpq_mat_products_equal_object_products():
    rng = random.Random(7)

    def rat() -> F:
        return F(rng.randint(-50, 50), rng.randint(1, 30))

    for m, k, n in ((5, 7, 3), (1, 9, 9), (12, 4, 1)):
        a = np.array([[rat() for _ in range(k)] for _ in range(m)], dtype=object)
        b = np.array([[rat() for _ in range(n)] for _ in range(k)], dtype=object)
        fa, fb = fl.FLINT.asarray(a), fl.FLINT.asarray(b)
        got = fl.FLINT.export(fl.FLINT.matmul(fa, fb))
        assert np.array_equal(got, a @ b) and _is_fraction_array(got)
        got_v = fl.FLINT.export(fl.FLINT.matmul(fa, fb[:, 0]))
        assert np.array_equal(got_v, a @ b[:, 0])


def test_the_exact_checker_uses_flint_by_default_and_records_it():
    job = prepare("ncm", "linear", "tiny")
    default = verify_exact(job)
    assert default.status == "verified" and default.exact_backend == "flint"
    reference = verify_exact(job, backend="fraction")
    assert reference.status == "verified" and reference.exact_backend == "fraction"
    assert default.final_weights == reference.final_weights
    assert default.as_dict()["exact_backend"] == "flint"


def test_without_flint_the_checker_falls_back_to_fractions_and_says_so(monkeypatch):
    monkeypatch.setattr(fl, "FLINT", None)
    monkeypatch.setattr(fl, "IMPORT_ERROR", "python-flint is not importable (test)")
    backend, note = fl.exact_backend(None)
    assert backend is EXACT and "not importable" in note
    report = verify_exact(prepare("worked", "linear-nobias", "tiny"))
    assert report.status == "verified" and report.exact_backend == "fraction"
    assert "not importable" in report.exact_backend_note


def test_an_unknown_exact_backend_is_one_clear_sentence():
    with pytest.raises(ValueError, match="choose one of flint, fraction"):
        fl.exact_backend("decimal")


def test_the_certificate_names_the_exact_arithmetic():
    from symbolic_universality.verify.certificate import certificate

    report = verify_exact(prepare("worked", "linear-nobias", "tiny"), backend="fraction")
    assert certificate(report)["exact_backend"] == "fraction"
    report = verify_exact(prepare("worked", "linear-nobias", "tiny"))
    assert certificate(report)["exact_backend"] == "flint"
