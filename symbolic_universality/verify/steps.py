"""The exact step checker (construction.md section 6, "exact"), with every theorem property.

True gradient descent on the whole extended loss, by the graph's reverse-mode
differentiation evaluated on exact rationals, compared at every step with the
predicted state ``theta_hat`` of the *trajectory theorem*:

* for ``k = 0 .. K-1``: every parameter of ``GD(theta_k)`` equals ``theta_hat_{k+1}``
  and the set of moved entries equals the predicted set;
* at ``K``: ``w = A(D)`` (T1); ``F_main(.; theta_K) = f(.; A(D))`` on the training inputs
  and on held-out inputs, ``F_aux = 0`` (T2);
* step ``K``: only ``w`` moves, exactly as one plain GD step of ``f`` (T3), the latter
  computed by the independent backprop of ``zoo.references``.

Around that trajectory check, every run also checks (issue 11), each by name in
``Report.properties``:

* **T4** (``properties.check_depth``): ``K`` is the program's depth, recomputed from the
  bodies; **T5** (``properties.check_trainable``): a walk of ``F``'s graph finds no fixed
  number; **T6**: given as ``data_independence`` (``properties.check_data_independence``
  builds the extension twice from two data sets), else reported as skipped;
* **moved set**: per step, the entries that moved against ``properties.predicted_moved``
  (from the program and the compiler's layout, not from the run);
* **kink margin** (``verify.kinks``): per predicted state, every gate lies outside the kinks
  of ``sat`` by the flat-gates margin (else refuted), no live piecewise unit sits on a kink
  (else unknown);
* **oracle** (``verify.oracle``): the gradient at every ``theta_hat_k`` (and at a perturbed
  neighbour) by a second, independent implementation (torch autograd in float64, sympy
  exactly on tiny instances);
* **T1** against the interpreter *and* every independent reference (``references``).

The verdict is "verified" only if every check ran and passed; a refutation's message names
the first failed check (``Report.first_failure``), never what passed. Nothing here uses
the lemmas to compute a gradient; they only predict.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.flint import arithmetic_of, exact_backend
from ..backends.scalars import EXACT, NUMERIC, Backend
from ..extension.compiler import Extension
from ..graph.evaluate import evaluate
from ..program.interpreter import run_program
from ..progress import bar
from ..zoo import references as ref
from . import kinks as kink_check
from . import oracle as oracle_mod
from . import properties
from .properties import REFUTED, SKIPPED, UNKNOWN, VERIFIED, Property

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
    moved_set: str = "not checked"  # verified | refuted | not checked
    kink: str = "not checked"  # verified | refuted | unknown | not checked
    min_gate_margin: str = ""
    live_units_at_kink: int = 0
    oracle: str = "not checked"  # verified | refuted | skipped | not checked
    #: cross-entropy: step K checked in float64 (T3), with what was found
    t3_float: str = ""


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
    reference_results: dict[str, bool] = field(default_factory=dict)
    properties: list[Property] = field(default_factory=list)
    first_failure: str = ""
    oracle: dict[str, Any] = field(default_factory=dict)
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

    def property(self, name: str) -> Property | None:
        """The checked property called ``name`` (T1..T6, moved set, kink margin, oracle)."""
        return next((p for p in self.properties if p.name == name), None)


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


def _reference_equal(a_of_d: np.ndarray, reference: np.ndarray) -> bool:
    """T1 against one independent reference: exact equality, entry by entry."""
    ref_arr = np.asarray(reference, dtype=object).reshape(np.shape(a_of_d))
    return bool(np.array_equal(a_of_d, ref_arr))


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


ORACLE_MODES = ("auto", "torch", "sympy", "both", "off")


class CheckOptionError(ValueError):
    """An option of the checker is out of range (one sentence, with the fix)."""


def _oracle_engines(mode: str, ext: Extension, n: int) -> tuple[list[str], str]:
    """The oracle engines to run, and why some are skipped (``mode`` explicit or auto)."""
    if mode not in ORACLE_MODES:
        raise CheckOptionError(f"unknown oracle {mode!r}; choose one of {', '.join(ORACLE_MODES)}")
    if mode == "off":
        return [], "oracle off"
    has_torch = oracle_mod.torch_available()
    tiny = ext.n_parameters <= oracle_mod.SYMPY_PARAMS and n <= oracle_mod.SYMPY_SAMPLES
    if mode == "auto":
        if ext.n_parameters > oracle_mod.ORACLE_LIMIT:
            return [], (f"oracle skipped: {ext.n_parameters} parameters > "
                        f"{oracle_mod.ORACLE_LIMIT} (auto limit)")
        engines = (["torch"] if has_torch else []) + (["sympy"] if tiny else [])
        why = "" if has_torch else "torch is not installed"
        return engines, why
    wanted = {"torch": ["torch"], "sympy": ["sympy"], "both": ["torch", "sympy"]}[mode]
    return wanted, ""


def check_exact(
    ext: Extension,
    x: np.ndarray,
    y: np.ndarray,
    *,
    references: dict[str, np.ndarray] | None = None,
    reference_w: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    dataset: str = "",
    eta: Fraction | None = None,
    prune: bool = False,
    chunk: int | None = None,
    oracle: str = "auto",
    kinks: bool = True,
    data_independence: Property | None = None,
    backend: str | Backend | None = None,
) -> Report:
    """Run true exact GD on the extension and check every step and T1..T6 (module docstring).

    ``references`` maps a name (e.g. ``"numpy reference"``, ``"concrete run"``) to an
    independently computed ``A(D)``; T1 requires ``w_K`` to equal the interpreter's output
    and every reference (``Report.reference_results``). ``reference_w`` is a deprecated
    alias of ``references={"numpy reference": reference_w}``. ``eta`` overrides the step
    size GD runs with (a negative control). ``oracle``: ``auto`` (torch up to
    ``oracle.ORACLE_LIMIT`` parameters, plus sympy on tiny instances), ``torch``, ``sympy``,
    ``both`` or ``off``; an engine asked for explicitly that cannot run makes the verdict
    ``unknown``. ``kinks=False`` skips the kink-margin check (then reported as skipped).
    ``data_independence``: the T6 result of ``properties.check_data_independence``.
    ``prune``/``chunk`` are passed to the evaluator of the GD steps.
    ``backend`` chooses the exact arithmetic of
    GD on the extension: ``None``/``"flint"`` python-flint when importable (else Fractions,
    said in the report), ``"fraction"`` the Fraction reference; the report's
    ``exact_backend`` records which one ran.
    """
    gd_backend, note = exact_backend(backend)
    t_start = time.perf_counter()
    refs: dict[str, np.ndarray] = dict(references or {})
    if reference_w is not None:
        warnings.warn("check_exact(reference_w=...) is deprecated; pass "
                      "references={'numpy reference': w}", DeprecationWarning, stacklevel=2)
        refs.setdefault("numpy reference", reference_w)
    program, net = ext.program, ext.net
    run_eta = Fraction(ext.eta if eta is None else eta)
    report = Report("verified", program.name, net.describe(), dataset, int(x.shape[0]), ext.K,
                    ext.n_parameters, str(run_eta))
    report.exact_backend = arithmetic_of(gd_backend)
    report.exact_backend_note = note
    engines, oracle_why = _oracle_engines(oracle, ext, int(x.shape[0]))
    failures: list[str] = []  # sentences of the failed checks, in the order they ran
    labels: list[str] = []

    def fail(label: str, sentence: str) -> None:
        labels.append(label)
        failures.append(sentence)

    # static properties first: they do not depend on the data
    t4 = properties.check_depth(ext)
    t5 = properties.check_trainable(ext)
    t6 = data_independence or Property(
        "T6", SKIPPED, "not checked in this run (pass data_independence="
        "check_data_independence(build, data_a, data_b))")
    for p in (t4, t5, t6):
        if p.status == REFUTED:
            fail(p.name, f"{p.name}: {p.detail}")

    order = list(ext.shapes)
    registers = run_program(program, x, y, EXACT)
    a_of_d = registers["w"]
    for name, w_ref in refs.items():
        report.reference_results[name] = _reference_equal(a_of_d, w_ref)
    if refs:
        report.reference_equal = all(report.reference_results.values())
    theta = {n: v.copy() for n, v in ext.theta0.items()}
    oracle_steps: list[str] = []
    oracle_failed = False
    oracle_unknown = ""
    kink_status: list[str] = []
    moved_status: list[str] = []
    stopped = False
    oracle_at = oracle_steps_for(oracle, ext.K)
    bars = contextlib.ExitStack()  # a progress bar on a terminal only (progress.py)
    advance = bars.enter_context(bar(ext.K + 1, f"exact GD on {program.name}", "step"))
    for k in range(ext.K + 1):
        t0 = time.perf_counter()
        if k == ext.K and ext.loss_kind == "ce":
            # softmax(f(x; A(D))) is irrational: T3 in float64 (construction.md section 1)
            step, new_f, grad_f = _ce_final_step(report, ext, theta, x, y, run_eta, order,
                                                 prune)
            if step.status != "verified":
                report.inert_after_K = False
                fail(f"step {k} (float64)", step.t3_float or "T3 in float64 failed")
                stopped = True
            else:
                report.inert_after_K = True
                # the moved set in float64, by block: an entry whose true gradient is 0
                # may come out as a rounding residue (1e-17) in either computation, so
                # entries of w are not compared (T3 compares w's step norm-wise)
                f64 = {n: np.asarray(v, dtype=np.float64) for n, v in theta.items()}
                observed = properties.moved_entries(f64, new_f, order)
                extra = [n for n in observed if n != "w"]
                step.moved_set = "refuted" if extra else "verified"
                moved_status.append(step.moved_set)
                if extra:
                    step.status = "refuted"
                    fail("moved set", f"moved set (float64): step {k}: {extra[0]} moved, "
                                      "only w may move after K")
                    stopped = True
            if not stopped and kinks:
                stopped = _kink_step(ext, theta, x, step, kink_status, labels, fail)
            if not stopped and engines and k in oracle_at:
                # in float64: the gradient has no rational value here
                bad = _run_oracle(ext, engines, k, theta, new_f, run_eta, x, y, order, prune)
                # float64 against float64 at a point where neither is exact: a disagreement
                # cannot say which one is wrong (the exact steps k < K check the AD)
                step.oracle = "unknown" if bad else "verified"
                oracle_steps.append("verified")
                if bad:
                    oracle_unknown = (f"step {k} (float64, cross-entropy): "
                                      f"{bad.sentence()}; float cannot decide which is right")
            elif engines:
                step.oracle = "skipped"
            step.seconds = round(time.perf_counter() - t0, 4)
            advance(1, step.status)
            break
        new = gd_step(ext, theta, x, y, run_eta, gd_backend, prune=prune, chunk=chunk)
        grad_f = None
        if k < ext.K:
            expected = ext.predicted(k + 1, registers)
            written = [ext.register_param[i.target.name] for i in program.by_step().get(k, [])]
            written.append(f"clock.z{k + 1}")
        else:
            expected = dict(theta)
            grad_f = ref.network_grad(net, theta["w"], x, y)
            expected["w"] = theta["w"] - run_eta * grad_f
            written = ["w (plain GD on f)"]
        moved, moved_n = _moved(theta, new, order)
        _, pred_n = _moved(theta, expected, order)
        mismatch = _first_mismatch(k, new, expected, order)
        wrong = [n for n in order if _changed(new[n], expected[n]).any()]
        step = StepReport(k, "verified" if mismatch is None else "refuted", written, moved,
                          moved_n, pred_n, 0.0, mismatch, wrong)
        report.steps.append(step)
        if mismatch is not None:
            report.mismatch = mismatch
            fail(f"step {k} {mismatch.parameter}", mismatch.sentence())
            if k == ext.K:
                report.inert_after_K = False
            stopped = True
        if not stopped:
            # the moved set against the program's and the layout's prediction
            observed = properties.moved_entries(theta, new, order)
            predicted = properties.predicted_moved(ext, k, registers, grad_f)
            diff = properties.compare_moved(k, observed, predicted, order)
            step.moved_set = "refuted" if diff else "verified"
            moved_status.append(step.moved_set)
            if diff:
                step.status = "refuted"
                fail("moved set", f"moved set: {diff}")
                stopped = True
        if not stopped and kinks:
            state = ext.predicted(k, registers) if k <= ext.K else theta
            stopped = _kink_step(ext, state, x, step, kink_status, labels, fail)
        if not stopped and engines and k not in oracle_at:
            step.oracle = "skipped"
        elif not stopped and engines:
            bad = _run_oracle(ext, engines, k, theta, expected, run_eta, x, y, order, prune)
            if bad is not None and bad.rounding:
                # the float oracle's own rounding explains the gap: it cannot decide
                step.oracle = "unknown"
                oracle_steps.append("verified")
                oracle_unknown = oracle_unknown or (
                    f"{bad.sentence()}, but the exact sympy oracle agrees with the checker "
                    "exactly: float64 cancellation explains the gap, the float oracle cannot "
                    "decide" if bad.exact_agrees else
                    f"{bad.sentence()}, but the float32 oracle is over ten times further "
                    "off: float64 rounding explains the gap, the float oracle cannot decide")
                bad = None
            else:
                step.oracle = "refuted" if bad else "verified"
                oracle_steps.append(step.oracle)
            if bad:
                oracle_failed = True
                step.status = "refuted"
                fail("oracle", f"oracle: {bad.sentence()}")
                stopped = True
        elif not engines:
            step.oracle = "skipped"
        step.seconds = round(time.perf_counter() - t0, 4)
        advance(1, step.status)
        if stopped:
            break
        if k == ext.K:
            report.inert_after_K = True
        theta = new
        if k == ext.K - 1:
            _check_final(report, ext, theta, a_of_d, x, held_out, gd_backend)
    bars.close()
    report.final_weights = [str(v) for v in a_of_d]

    # T1 .. T3
    t1 = _t1(report, stopped)
    t2 = _t2(report, stopped)
    t3 = _t3(report, stopped)
    for p in (t1, t2, t3):
        if p.status == REFUTED:
            fail(p.name, f"{p.name}: {p.detail}")
    traj = Property("trajectory", REFUTED if report.mismatch else (
        VERIFIED if len(report.steps) == ext.K + 1 else UNKNOWN),
        report.mismatch.sentence() if report.mismatch else
        f"GD(theta_hat_k) = theta_hat_(k+1) for k < {ext.K}; step {ext.K} plain GD on f")
    moved_p = _summary("moved set", moved_status, ext.K + 1,
                       "moved entries = the program's and the layout's prediction")
    if not kinks:
        kink_p = Property("kink margin", SKIPPED, "kink check turned off")
    else:
        kink_p = _summary("kink margin", kink_status, ext.K + 1,
                          "every gate outside [0, 1] by >= the flat-gates margin; no live "
                          "unit on a kink")
        if "unknown" in kink_status and kink_p.status != REFUTED:
            first_unknown = next(s for s in report.steps if s.kink == "unknown")
            kink_p = Property("kink margin", UNKNOWN,
                              f"step {first_unknown.step}: {first_unknown.live_units_at_kink} "
                              "live unit entries on a kink: the gradient rests on a "
                              "derivative convention")
    oracle_p = _oracle_property(engines, oracle_why, oracle, oracle_steps, oracle_failed,
                                len(oracle_at), failures)
    if oracle_p.status == VERIFIED and len(oracle_at) < ext.K + 1:
        oracle_p = Property("oracle", VERIFIED, oracle_p.detail.replace(
            "at every theta_hat_k", f"at theta_hat_k for {len(oracle_at)} of the {ext.K + 1} "
            f"steps k = {_spread(sorted(oracle_at))} (auto; oracle='torch' checks every step)"))
    if oracle_unknown and oracle_p.status == VERIFIED:
        oracle_p = Property("oracle", UNKNOWN, oracle_unknown)
    report.oracle = {"engines": engines, "status": oracle_p.status, "detail": oracle_p.detail,
                     "mode": oracle}
    report.properties = [t1, t2, t3, t4, t5, t6, traj, moved_p, kink_p, oracle_p]

    if failures:
        report.status = "refuted"
        report.first_failure = labels[0] if labels[0] != "kink margin (unknown)" else next(
            (lb for lb in labels if lb != "kink margin (unknown)"), labels[0])
        report.message = f"refuted: {failures[0]}"
    elif any(p.status == UNKNOWN for p in report.properties):
        report.status = "unknown"
        p = next(p for p in report.properties if p.status == UNKNOWN)
        report.first_failure = p.name
        report.message = f"unknown: {p.name}: {p.detail}"
    else:
        report.status = "verified"
        after = (f"step {ext.K} is plain GD on f with cross-entropy (float64)"
                 if ext.loss_kind == "ce" else f"step {ext.K} is plain GD on f")
        report.message = (f"verified: {ext.K} GD steps reproduce {program.name}'s weights "
                          f"exactly; {after}; "
                          + ", ".join(f"{p.name} {p.status}" for p in report.properties))
    report.seconds = round(time.perf_counter() - t_start, 3)
    return report


def _summary(name: str, statuses: list[str], total: int, ok: str) -> Property:
    if "refuted" in statuses:
        return Property(name, REFUTED, "see the first failure")
    if len(statuses) < total:
        return Property(name, UNKNOWN if not statuses else UNKNOWN,
                        f"checked {len(statuses)} of {total} steps (the run stopped earlier)")
    return Property(name, VERIFIED, f"{ok} at all {total} steps")


#: in ``auto`` mode, the oracle runs at every step up to this many steps, else at a spread
#: of this many (the first and last ones among them): its cost grows with K per step
ORACLE_AUTO_STEPS = 12


def oracle_steps_for(mode: str, K: int) -> set[int]:
    """The steps ``k = 0..K`` at which the oracle runs: all of them unless ``auto`` and deep."""
    if mode != "auto" or K + 1 <= ORACLE_AUTO_STEPS:
        return set(range(K + 1))
    ends = {0, 1, 2, K - 2, K - 1, K}
    rest = ORACLE_AUTO_STEPS - len(ends)
    inner = {round(3 + i * (K - 6) / (rest + 1)) for i in range(1, rest + 1)}
    return ends | inner


def _spread(ks: list[int]) -> str:
    return ", ".join(str(k) for k in ks)


def _oracle_property(engines: list[str], why: str, mode: str, steps: list[str], failed: bool,
                     total: int, failures: list[str]) -> Property:
    if failed:
        return Property("oracle", REFUTED, next(f for f in failures if f.startswith("oracle")))
    if mode == "off":
        return Property("oracle", SKIPPED, "oracle off")
    if not engines:
        # auto without torch (or over the size limit) is a skip; asked-for engines are checked
        return Property("oracle", SKIPPED, why or "no oracle engine")
    missing = [e for e in engines if e == "torch" and not oracle_mod.torch_available()]
    if missing:
        status = UNKNOWN if mode in ("torch", "both") else SKIPPED
        return Property("oracle", status, "torch is not installed: the torch oracle did not run")
    if len(steps) < total:
        return Property("oracle", UNKNOWN if not failures else SKIPPED,
                        f"checked {len(steps)} of {total} steps")
    detail = (f"{' and '.join(engines)} gradient = the checker's at every theta_hat_k and at "
              "a perturbed neighbour")
    if why:
        detail += f" ({why})"
    return Property("oracle", VERIFIED, detail)


def _run_oracle(ext: Extension, engines: list[str], k: int, theta: dict[str, np.ndarray],
                expected: dict[str, np.ndarray], eta: Fraction, x: np.ndarray, y: np.ndarray,
                order: list[str], prune: bool) -> oracle_mod.Disagreement | None:
    """The oracle at ``theta`` (= theta_hat_k) against the predicted update, then at a
    perturbed neighbour against the checker's autodiff gradient."""
    predicted_grad = {n: (np.asarray(theta[n], dtype=object) - np.asarray(expected[n],
                                                                          dtype=object)) / eta
                      for n in order}
    shift = oracle_mod.perturbation(ext, seed=k)
    nearby = {n: np.asarray(theta[n], dtype=object) + shift[n] for n in order}
    grads = ext.gradient_nodes()
    names = [n for n in order if grads[n] is not None]
    ad_nearby: dict[str, dict[str, np.ndarray]] = {}

    def autodiff_at(backend_name: str) -> dict[str, np.ndarray]:
        # the checker's own gradient (graph.autodiff + graph.evaluate) at the perturbed state:
        # exactly for the exact oracle, in float64 for the float one
        if backend_name == "sympy" and backend_name not in ad_nearby:
            # cross-entropy: the same graph on exact symbols (softmax as an exact atom),
            # evaluated to 30 digits, so the comparison with the sympy oracle is not
            # limited by the checker's own float64 rounding
            from ..backends.symbolic import SYMPY

            vals = evaluate([grads[n] for n in names], SYMPY, nearby, x, y, prune=prune)
            out = {n: np.zeros(ext.shapes[n], dtype=np.float64) for n in order}
            for n, v in zip(names, vals, strict=True):
                arr = np.asarray(v, dtype=object).reshape(ext.shapes[n])
                out[n] = np.array([float(e.evalf(30)) if hasattr(e, "evalf") else float(e)
                                   for e in arr.reshape(-1)],
                                  dtype=np.float64).reshape(arr.shape)
            ad_nearby[backend_name] = out
        if backend_name not in ad_nearby:
            backend = EXACT if backend_name == "exact" else NUMERIC
            bind = nearby if backend_name == "exact" else {
                n: oracle_mod._floats(v) for n, v in nearby.items()}
            xs = x if backend_name == "exact" else oracle_mod._floats(x)
            ys = y if backend_name == "exact" else oracle_mod._floats(y)
            vals = evaluate([grads[n] for n in names], backend, bind, xs, ys, prune=prune)
            out = {n: np.zeros(ext.shapes[n], dtype=object) + Fraction(0) for n in order}
            for n, v in zip(names, vals, strict=True):
                out[n] = np.asarray(v).reshape(ext.shapes[n])
            ad_nearby[backend_name] = out
        return ad_nearby[backend_name]

    for engine in engines:
        if engine == "torch" and not oracle_mod.torch_available():
            continue
        # cross-entropy: the gradient is rational at theta_hat_k for k < K (softmax(0) = 1/c)
        # and nowhere else, so the perturbed point and step K are compared in float64
        ce = ext.loss_kind == "ce"
        at_k = ce and k >= ext.K
        if engine == "torch":
            at_hat = oracle_mod.torch_gradient(ext, theta, x, y)
        else:
            at_hat = oracle_mod.sympy_gradient(ext, theta, x, y, numeric=at_k)
        label = "sympy (float64)" if engine == "sympy" and at_k else engine
        bad = oracle_mod.compare(k, order, at_hat, predicted_grad, "theta_hat", label)
        if bad is not None and engine == "torch":
            bad.rounding = _rounding_explains(ext, theta, x, y, bad, at_hat, predicted_grad)
            if not bad.rounding and not at_k and _exact_oracle_agrees(
                    ext, order, theta, x, y, at_hat, predicted_grad):
                bad.rounding = bad.exact_agrees = True
        if bad is None:
            if engine == "torch":
                near = oracle_mod.torch_gradient(ext, nearby, x, y, exact_branches=False)
                bad = oracle_mod.compare(k, order, near, autodiff_at("float"), "perturbed",
                                         engine)
            else:
                near = oracle_mod.sympy_gradient(ext, nearby, x, y, numeric=ce)
                bad = oracle_mod.compare(k, order, near,
                                         autodiff_at("sympy" if ce else "exact"), "perturbed",
                                         "sympy (float64)" if ce else engine)
        if bad is not None:
            return bad
    return None


def _exact_oracle_agrees(ext: Extension, order: list[str], theta: dict[str, np.ndarray],
                         x: np.ndarray, y: np.ndarray, oracle: dict[str, np.ndarray],
                         want: dict[str, np.ndarray]) -> bool:
    """The tie-breaker for a float oracle's disagreement at ``theta_hat_k`` (where the
    gradient is rational): every entry the float oracle disagrees on is recomputed by the
    exact sympy oracle (``sympy.diff`` of the flattened loss, independent of the checker's
    autodiff). If it agrees exactly on each, every entry is confirmed by one independent
    oracle (the float one agreed on the rest): float64 cancellation (huge intermediate
    values) made the float oracle wrong. Disagreeing, or too large to run, leaves the
    float disagreement standing."""
    if (ext.n_parameters > oracle_mod.TIEBREAK_PARAMS
            or int(x.shape[0]) > oracle_mod.TIEBREAK_SAMPLES):
        return False
    # at a kink the derivative is a convention, which sympy shares with the checker: there
    # the float oracle's other convention is evidence in its own right, never excused
    ks = kink_check.check_kinks(ext, theta, x, -1)
    if ks.status != "verified" or ks.at_kink:
        return False
    entries = oracle_mod.disagreeing(order, oracle, want, "torch")
    if not entries or len(entries) > oracle_mod.TIEBREAK_ENTRIES:
        return False
    try:
        exact = oracle_mod.sympy_gradient(ext, theta, x, y, only=set(entries))
    except Exception:  # noqa: BLE001 - no exact tie-breaker: the disagreement stands
        return False
    return all(exact[name][idx] == Fraction(np.asarray(want[name], dtype=object)[idx])
               for name, idx in entries)


def _rounding_explains(ext: Extension, theta: dict[str, np.ndarray], x: np.ndarray,
                       y: np.ndarray, bad: oracle_mod.Disagreement,
                       oracle64: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> bool:
    """Whether float rounding explains a torch-oracle disagreement: the same gradient in
    float32 is over ten times further from float64 than float64 is from the checker (a real
    difference in the formula would move both precisions alike)."""
    try:
        oracle32 = oracle_mod.torch_gradient(ext, theta, x, y, dtype="float32")
    except Exception:  # noqa: BLE001 - no float32 estimate: no excuse either
        return False
    idx = tuple(bad.index)
    v64 = float(np.asarray(oracle64[bad.parameter], dtype=np.float64)[idx])
    v32 = float(np.asarray(oracle32[bad.parameter], dtype=np.float64)[idx])
    exact = float(np.asarray(want[bad.parameter], dtype=object)[idx])
    gap = abs(v64 - exact)
    return bool(np.isfinite(v32)) and abs(v32 - v64) > 10 * gap or not np.isfinite(v32)


def _kink_step(ext: Extension, state: dict[str, np.ndarray], x: np.ndarray,
               step: StepReport, kink_status: list[str], labels: list[str],
               fail: Any) -> bool:
    """The kink-margin check (lemma *flat gates*) at one predicted state, recorded on
    ``step``; True when it refutes (the run stops)."""
    ks = kink_check.check_kinks(ext, state, x, step.step)
    step.kink, step.min_gate_margin, step.live_units_at_kink = (
        ks.status, ks.min_gate_margin, ks.at_kink)
    kink_status.append(ks.status)
    if ks.status == "refuted":
        step.status = "refuted"
        fail("kink margin", f"kink margin: {ks.detail}")
        return True
    if ks.status == "unknown":
        labels.append("kink margin (unknown)")
    return False


def _t1(report: Report, stopped: bool) -> Property:
    bad_refs = [n for n, ok in report.reference_results.items() if not ok]
    if report.final_weights_equal is False:
        return Property("T1", REFUTED, "w_K differs from the interpreter's A(D)")
    if bad_refs:
        return Property("T1", REFUTED, f"A(D) differs from the reference {bad_refs[0]!r}")
    if report.final_weights_equal is None:
        return Property("T1", UNKNOWN, "theta_K was not reached (an earlier check failed)")
    names = ", ".join(report.reference_results) or "no independent reference given"
    return Property("T1", VERIFIED, f"w_K = A(D) of the interpreter; references: {names}")


def _t2(report: Report, stopped: bool) -> Property:
    if report.forward_output_equal is False:
        return Property("T2", REFUTED, "F_main(x; theta_K) differs from f(x; A(D))")
    if report.aux_zero is False:
        return Property("T2", REFUTED, "an aux head is nonzero at theta_K")
    if report.forward_output_equal is None:
        return Property("T2", UNKNOWN, "theta_K was not reached (an earlier check failed)")
    return Property("T2", VERIFIED, "F_main = f(.; A(D)) on training and held-out inputs; "
                    "F_aux = 0")


def _t3(report: Report, stopped: bool) -> Property:
    if report.inert_after_K is False:
        return Property("T3", REFUTED, "step K is not plain GD on f")
    if report.inert_after_K is None:
        return Property("T3", UNKNOWN, "step K was not reached (an earlier check failed)")
    last = report.steps[-1] if report.steps else None
    if last is not None and last.t3_float:
        return Property("T3", VERIFIED, f"in float64 (softmax of f(x; A(D)) is irrational): "
                                        f"{last.t3_float}")
    return Property("T3", VERIFIED, "step K moves only w, exactly as plain GD on f")


#: float64 agreement asked of GD on the extension and plain GD on f at step K (cross-entropy)
CE_T3_TOLERANCE = 1e-12


def _ce_final_step(report: Report, ext: Extension, theta: dict[str, np.ndarray],
                   x: np.ndarray, y: np.ndarray, eta: Fraction, order: list[str],
                   prune: bool) -> tuple[StepReport, dict[str, np.ndarray], np.ndarray]:
    """Step ``K`` under cross-entropy, in float64 (T3; the *trajectory theorem* after K).

    GD on the whole extended loss (the graph's autodiff on float64) from ``theta_K`` must
    leave every block but ``w`` bit for bit unchanged (persistence: their gradients are
    products with gates that are exactly 0), and move ``w`` as plain GD on ``f`` with the
    cross-entropy gradient of ``zoo.references`` (an independent hand backprop) does, to
    within ``CE_T3_TOLERANCE`` relative to the step's size.
    """
    k = ext.K
    f64 = {n: np.asarray(v, dtype=np.float64) for n, v in theta.items()}
    xf, yf = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    new = gd_step(ext, f64, xf, yf, eta, NUMERIC, prune=prune)
    grad_f = np.asarray(ref.network_grad(ext.net, f64["w"], xf, yf, loss="ce"),
                        dtype=np.float64)
    want_w = f64["w"] - float(eta) * grad_f
    moved = [n for n in order if n != "w" and not np.array_equal(new[n], f64[n])]
    got_step = np.asarray(new["w"] - f64["w"]).reshape(-1)
    want_step = (want_w - f64["w"]).reshape(-1)
    scale = float(np.max(np.abs(want_step))) if want_step.size else 0.0
    err = float(np.max(np.abs(got_step - want_step))) / scale if scale else float(
        np.max(np.abs(got_step)) if got_step.size else 0.0)
    status = "verified"
    if moved:
        status = "refuted"
        detail = f"{moved[0]} moved at step {k} (only w may move after K)"
    elif err > CE_T3_TOLERANCE:
        status = "refuted"
        i = int(np.argmax(np.abs(got_step - want_step)))
        detail = (f"w[{i}] moved by {got_step[i]:.17g}, plain GD on f with cross-entropy moves "
                  f"it by {want_step[i]:.17g} (relative error {err:.3g})")
    else:
        detail = (f"step {k} moves only w (every other block bit for bit unchanged), as plain "
                  f"GD on f with cross-entropy, relative error {err:.2g} <= "
                  f"{CE_T3_TOLERANCE:g}")
    n_moved = int(np.count_nonzero(got_step))
    step = StepReport(k, status, ["w (plain GD on f, float64)"], ["w"] if n_moved else [],
                      n_moved, int(np.count_nonzero(want_step)), 0.0, None,
                      [] if status == "verified" else [moved[0] if moved else "w"])
    step.t3_float = detail
    report.steps.append(step)
    return step, new, grad_f


def _check_final(report: Report, ext: Extension, theta: dict[str, np.ndarray],
                 a_of_d: np.ndarray, x: np.ndarray, held_out: np.ndarray | None,
                 backend: Backend = EXACT) -> None:
    """T1 and T2 at ``theta_K`` (lemma *forward output*)."""
    net = ext.net
    report.final_weights_equal = bool(np.array_equal(theta["w"], a_of_d))
    inputs = x if held_out is None or len(held_out) == 0 else np.concatenate([x, held_out])
    f_main, aux = forward_outputs(ext, theta, inputs, backend)
    expected = ref.network_forward(net, a_of_d, inputs)
    report.forward_output_equal = bool(np.array_equal(f_main, expected))
    report.aux_zero = all(all(v == 0 for v in np.asarray(h).flat) for h in aux)
