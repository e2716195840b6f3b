"""The exact step checker (construction.md section 6, "exact").

True gradient descent on the whole extended loss, by the graph's reverse-mode
differentiation evaluated on exact rationals, compared at every step with the
predicted state ``theta_hat`` of the *trajectory theorem*:

* for ``k = 0 .. K-1``: every parameter of ``GD(theta_k)`` equals ``theta_hat_{k+1}``
  and the set of moved entries equals the predicted set;
* at ``K``: ``w = A(D)`` (T1); ``F_main(.; theta_K) = f(.; A(D))`` on the training inputs
  and on held-out inputs, ``F_aux = 0`` (T2);
* step ``K``: only ``w`` moves, exactly as one plain GD step of ``f`` (T3), the latter
  computed by the independent backprop of ``zoo.references``.

Nothing here uses the lemmas to compute a gradient; they only predict.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.flint import arithmetic_of, exact_backend
from ..backends.scalars import EXACT, Backend
from ..extension.compiler import Extension
from ..graph.evaluate import evaluate
from ..program.interpreter import run_program
from ..zoo import references as ref

PARAM_ORDER_NOTE = "parameters are compared in the order of Extension.shapes"


@dataclass
class Mismatch:
    """The first disagreement between true GD and the prediction."""

    step: int
    parameter: str
    index: list[int]
    expected: str
    got: str

    def sentence(self) -> str:
        where = f"{self.parameter}{self.index}" if self.index else self.parameter
        return f"step {self.step}: {where} expected {self.expected}, got {self.got}"


@dataclass
class StepReport:
    """One GD step: what the lemmas say it writes, what moved, the verdict."""

    step: int
    status: str
    written: list[str]
    moved: list[str]
    moved_entries: int
    predicted_moved_entries: int
    seconds: float
    mismatch: Mismatch | None = None
    mismatched: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything the exact checker established (becomes the JSON certificate)."""

    status: str
    algorithm: str
    network: str
    dataset: str
    samples: int
    gd_steps: int
    parameters: int
    eta: str
    steps: list[StepReport] = field(default_factory=list)
    final_weights_equal: bool | None = None
    reference_equal: bool | None = None
    forward_output_equal: bool | None = None
    aux_zero: bool | None = None
    inert_after_K: bool | None = None
    backends: list[str] = field(default_factory=lambda: ["exact"])
    mismatch: Mismatch | None = None
    message: str = ""
    final_weights: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exact_backend: str = "fraction"  # the arithmetic of GD on the extension: flint | fraction
    exact_backend_note: str = ""  # why Fractions were used when FLINT was asked for

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(v: Any) -> str:
    return str(v)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a != b, dtype=bool).reshape(np.shape(a))


def _first_mismatch(step: int, got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                    order: list[str]) -> Mismatch | None:
    for name in order:
        diff = _changed(got[name], expected[name])
        if diff.any():
            idx = tuple(int(i) for i in np.argwhere(diff)[0]) if diff.ndim else ()
            return Mismatch(step, name, list(idx), _fmt(expected[name][idx]),
                            _fmt(got[name][idx]))
    return None


def _moved(old: dict[str, np.ndarray], new: dict[str, np.ndarray], order: list[str]
           ) -> tuple[list[str], int]:
    names, count = [], 0
    for name in order:
        c = int(_changed(old[name], new[name]).sum())
        if c:
            names.append(name)
            count += c
    return names, count


def gd_step(ext: Extension, theta: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
            eta: Fraction, backend: Backend = EXACT, prune: bool = False,
            chunk: int | None = None) -> dict[str, np.ndarray]:
    """One plain GD step ``theta - eta grad L(theta)`` on the whole extended loss."""
    grads = ext.gradient_nodes()
    names = [n for n in ext.shapes if grads[n] is not None]
    values = evaluate([grads[n] for n in names], backend, theta, x, y, prune=prune, chunk=chunk)
    rate = backend.export(backend.scalar(eta))  # values come back in the caller's numbers
    new = dict(theta)
    for n, v in zip(names, values, strict=True):
        v = np.asarray(v)
        if not any(v.flat):  # theta - eta * 0 = theta (no rational arithmetic)
            new[n] = np.asarray(theta[n]).copy().reshape(ext.shapes[n])
            continue
        new[n] = np.asarray(theta[n] - rate * v).reshape(ext.shapes[n])
    return new


def forward_outputs(ext: Extension, theta: dict[str, np.ndarray], x: np.ndarray,
                    backend: Backend = EXACT) -> tuple[np.ndarray, list[np.ndarray]]:
    """``F_main`` and the aux heads at ``theta`` on inputs ``x`` (no labels needed)."""
    vals = evaluate([ext.f_main, *ext.aux], backend, theta, x, None)
    return vals[0], vals[1:]


def check_exact(
    ext: Extension,
    x: np.ndarray,
    y: np.ndarray,
    *,
    reference_w: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    dataset: str = "",
    eta: Fraction | None = None,
    prune: bool = False,
    backend: str | Backend | None = None,
) -> Report:
    """Run true exact GD on the extension and check every step (see the module docstring).

    ``eta`` overrides the step size GD runs with (the heads were built for ``ext.eta``;
    a different value is a negative control). ``backend`` chooses the exact arithmetic of
    GD on the extension: ``None``/``"flint"`` python-flint when importable (else Fractions,
    said in the report), ``"fraction"`` the Fraction reference; the report's
    ``exact_backend`` records which one ran.
    """
    gd_backend, note = exact_backend(backend)
    t_start = time.perf_counter()
    program, net = ext.program, ext.net
    run_eta = Fraction(ext.eta if eta is None else eta)
    report = Report("verified", program.name, net.describe(), dataset, int(x.shape[0]), ext.K,
                    ext.n_parameters, str(run_eta))
    report.exact_backend = arithmetic_of(gd_backend)
    report.exact_backend_note = note
    order = list(ext.shapes)
    registers = run_program(program, x, y, EXACT)
    a_of_d = registers["w"]
    if reference_w is not None:
        report.reference_equal = bool(np.array_equal(a_of_d, reference_w))
    theta = {n: v.copy() for n, v in ext.theta0.items()}
    by_step = program.by_step()
    for k in range(ext.K + 1):
        t0 = time.perf_counter()
        new = gd_step(ext, theta, x, y, run_eta, gd_backend, prune=prune)
        if k < ext.K:
            expected = ext.predicted(k + 1, registers)
            written = [ext.register_param[i.target.name] for i in by_step.get(k, [])]
            written.append(f"clock.z{k + 1}")
        else:
            expected = dict(theta)
            grad_f = ref.mlp_grad(list(net.sizes), net.activation, theta["w"], x, y,
                                  bias=net.bias)
            expected["w"] = theta["w"] - run_eta * grad_f
            written = ["w (plain GD on f)"]
        moved, moved_n = _moved(theta, new, order)
        _, pred_n = _moved(theta, expected, order)
        mismatch = _first_mismatch(k, new, expected, order)
        status = "verified" if mismatch is None else "refuted"
        wrong = [n for n in order if _changed(new[n], expected[n]).any()]
        report.steps.append(StepReport(k, status, written, moved, moved_n, pred_n,
                                       round(time.perf_counter() - t0, 4), mismatch, wrong))
        if mismatch is not None:
            report.status = "refuted"
            report.mismatch = mismatch
            report.message = f"refuted at {mismatch.sentence()}"
            if k == ext.K:
                report.inert_after_K = False
            break
        if k == ext.K:
            report.inert_after_K = True
        theta = new
        if k == ext.K - 1:
            _check_final(report, ext, theta, a_of_d, x, held_out, gd_backend)
    report.final_weights = [str(v) for v in a_of_d]
    if report.status == "verified" and not all(
        v is not False for v in (report.final_weights_equal, report.forward_output_equal,
                                 report.aux_zero, report.reference_equal, report.inert_after_K)
    ):
        report.status = "refuted"
    if report.status == "verified":
        report.message = (f"verified: {ext.K} GD steps reproduce {program.name}'s weights "
                          f"exactly; step {ext.K} is plain GD on f")
    elif not report.message:
        failed = [k for k in ("final_weights_equal", "forward_output_equal", "aux_zero",
                              "reference_equal") if getattr(report, k) is False]
        report.message = "refuted: " + ", ".join(failed)
    report.seconds = round(time.perf_counter() - t_start, 3)
    return report


def _check_final(report: Report, ext: Extension, theta: dict[str, np.ndarray],
                 a_of_d: np.ndarray, x: np.ndarray, held_out: np.ndarray | None,
                 backend: Backend = EXACT) -> None:
    """T1 and T2 at ``theta_K`` (lemma *forward output*)."""
    net = ext.net
    report.final_weights_equal = bool(np.array_equal(theta["w"], a_of_d))
    inputs = x if held_out is None or len(held_out) == 0 else np.concatenate([x, held_out])
    f_main, aux = forward_outputs(ext, theta, inputs, backend)
    expected = ref.mlp_forward(list(net.sizes), net.activation, a_of_d, inputs, bias=net.bias)
    report.forward_output_equal = bool(np.array_equal(f_main, expected))
    report.aux_zero = all(all(v == 0 for v in np.asarray(h).flat) for h in aux)
