"""For-all-data proofs of every GD step: the algebra and SMT backends end to end.

:func:`prove_extension` builds, for every label choice and every step ``k = 0 .. K``, the
obligations of :mod:`.obligations` (one per parameter block: the *trajectory theorem*'s
induction step ``GD(theta_hat_k) = theta_hat_{k+1}``, each block an instance of the lemma
*write*, *read*, *clock*, *flat gates* or *persistence*; at ``K`` the inertness T3), plus T2
and T1 at ``theta_hat_K``, and decides each on each backend asked for:

* ``algebra`` -- sympy backend, polynomial normal form and case analysis (:mod:`.algebra`);
* ``smt``     -- z3 backend, ``unsat`` of the negation, per-obligation time limit
  (:mod:`.smt`); a ``sat`` model is decoded and replayed exactly; with free registers an
  unconfirmed model (register contents no data set produces) triggers a re-check of that
  obligation with the registers as data expressions.

The result is a :class:`ProofReport`; :func:`certificate` turns it into the JSON schema of
``verify.certificate`` plus, per step, each backend's obligation count, status, seconds
and the sha256 of every obligation's SMT-LIB text.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import z3

from ..backends.scalars import EXACT, Backend, BackendError
from ..backends.symbolic import SYMPY, Z3, to_z3
from ..extension.compiler import Extension
from ..program.interpreter import run_program
from .algebra import prove_algebra
from .data import ClassSpec, SymbolicData, make_data, one_hot
from .normal import NormalFormError, Normalizer
from .obligations import Obligation, build_final, build_reference, build_step, step_written
from .replay import Replay, random_data, replay_obligation, search_counterexample
from .smt import decode_data, describe_model, sha256, smtlib_text, solve_many, solve_smtlib
from .verdict import Verdict, combine

BACKENDS = ("algebra", "smt")

__all__ = ["BACKENDS", "BackendStep", "ProofReport", "StepResult", "certificate",
           "prove_extension"]


@dataclass
class BackendStep:
    """One backend's verdict on one step (all label choices): counts, time, hashes."""

    backend: str
    status: str = "verified"
    obligations: int = 0
    proved: int = 0
    refuted: int = 0
    unknown: int = 0
    error: int = 0
    seconds: float = 0.0
    obligation_sha256: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, v: Verdict) -> None:
        self.obligations += 1
        setattr(self, v.status, getattr(self, v.status) + 1)
        self.seconds += v.seconds
        if v.sha256:
            self.obligation_sha256.append(v.sha256)
        if v.status != "proved" and len(self.failures) < 5:
            self.failures.append(v.as_dict())

    def finish(self) -> None:
        statuses = (["proved"] * self.proved + ["refuted"] * self.refuted
                    + ["unknown"] * self.unknown + ["error"] * self.error)
        self.status = combine(statuses) if statuses else "unknown"
        self.seconds = round(self.seconds, 4)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepResult:
    """Step ``k`` (``kind="gd"``) or the checks at ``theta_hat_K`` (``kind="final"``)."""

    step: int
    kind: str
    written: list[str]
    moved: list[str] = field(default_factory=list)
    moved_entries: int = 0
    predicted_moved_entries: int = 0
    backends: dict[str, BackendStep] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.backends:
            return "unknown"
        sts = [b.status for b in self.backends.values()]
        if all(s == "verified" for s in sts):
            return "verified"
        for s in ("refuted", "error", "unknown"):
            if s in sts:
                return s
        return "unknown"

    @property
    def seconds(self) -> float:
        return round(sum(b.seconds for b in self.backends.values()), 4)


@dataclass
class ProofReport:
    """Everything a symbolic proof established (becomes the certificate)."""

    algorithm: str
    network: str
    n: int
    d: int
    c: int
    classes: str
    mode: str
    K: int
    parameters: int
    eta: str
    run_eta: str
    backends: list[str]
    timeout_ms: int
    fault: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    final: StepResult | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    status: str = "unknown"
    message: str = ""
    seconds: float = 0.0

    def backend_status(self, name: str) -> str:
        sts = [s.backends[name].status for s in [*self.steps, *( [self.final] if self.final
                                                                 else [])]
               if name in s.backends]
        if not sts:
            return "unknown"
        if all(s == "verified" for s in sts):
            return "verified"
        for s in ("refuted", "error", "unknown"):
            if s in sts:
                return s
        return "unknown"

    def first_failure(self) -> Verdict | None:
        for v in self.verdicts:
            if v.status == "refuted":
                return v
        for v in self.verdicts:
            if v.status != "proved":
                return v
        return None


def _backend(name: str) -> Backend:
    if name == "algebra":
        return SYMPY
    if name == "smt":
        return Z3
    raise ValueError(f"unknown symbolic backend {name!r}; choose algebra, smt or both")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", text)


def _fmt_data(x: np.ndarray, labels: tuple[int, ...], xs: np.ndarray | None = None
              ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "x": [[str(v) for v in row] for row in np.asarray(x, dtype=object)],
        "labels": list(labels),
    }
    if xs is not None:
        out["xs"] = [str(v) for v in np.asarray(xs, dtype=object).reshape(-1)]
    return out


class _Context:
    """Shared state of one proof run (backends, caches, options)."""

    def __init__(self, ext: Extension, *, algorithm: str | None, options: dict[str, Any],
                 n: int, eta: Fraction | None, timeout_ms: int, smtlib_dir: Path | None,
                 jobs: int, budget_s: float | None) -> None:
        self.ext = ext
        self.algorithm = algorithm
        self.options = options
        self.n = n
        self.d = ext.net.d
        self.c = ext.net.c
        self.eta = eta
        self.timeout_ms = timeout_ms
        self.smtlib_dir = smtlib_dir
        self.jobs = jobs
        self.budget_s = budget_s
        self.norm = Normalizer()
        self.index: list[dict[str, Any]] = []
        self._y = {(i, k): z3.Real(f"y_{i}_{k}") for i in range(n) for k in range(self.c)}

    # ------------------------------------------------------------ algebra

    def algebra_counterexample(self, ob: Obligation) -> dict[str, Any] | None:
        found = search_counterexample(self.ext, ob.step, ob.block, self.n, self.d, ob.labels,
                                      eta=self.eta, algorithm=self.algorithm,
                                      options=self.options)
        if found is None:
            return None
        x, labels, xs, rep = found
        out = _fmt_data(x, labels, xs if ob.block.startswith("T2") else None)
        out["source"] = "random rational data (the identity's normal form is not zero)"
        out["replay"] = rep.sentence()
        out["mismatch"] = _mismatch(rep)
        return out

    def prove_algebra(self, obs: list[Obligation]) -> list[Verdict]:
        """Each obligation within the budget (sympy cannot time out by itself)."""
        out = []
        for ob in obs:
            t0 = time.perf_counter()
            try:
                with time_budget(self.budget_s):
                    out.append(prove_algebra(ob, self.norm, n=self.n, c=self.c,
                                             find_counterexample=self.algebra_counterexample))
            except BudgetExceeded:
                self.norm = Normalizer()  # interrupted mid-update: start from a clean state
                out.append(Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "algebra",
                                   "unknown", time.perf_counter() - t0, "budget exceeded",
                                   f"the normal form took longer than {self.budget_s} s"))
        return out

    # ------------------------------------------------------------ smt

    def _write(self, name: str, text: str, ob: Obligation, status: str) -> str | None:
        if self.smtlib_dir is None:
            return None
        self.smtlib_dir.mkdir(parents=True, exist_ok=True)
        path = self.smtlib_dir / f"{_safe(name)}.smt2"
        path.write_text(text)
        self.index.append({"file": path.name, "key": ob.key, "step": ob.step,
                           "block": ob.block, "mode": ob.mode, "z3": status,
                           "sha256": sha256(text)})
        return path.name

    def _replay_model(self, ob: Obligation, model: dict[str, str]) -> tuple[bool, dict]:
        x, labels, xs, regs = decode_data(model, self.n, self.d, self.c, ob.labels)
        rep = replay_obligation(self.ext, ob.step, ob.block, x, labels, eta=self.eta,
                                algorithm=self.algorithm, options=self.options, xs=xs)
        cex = _fmt_data(x, labels, xs if ob.block.startswith("T2") else None)
        if regs:
            cex["registers_in_model"] = describe_model(regs)
        cex["source"] = "z3 model"
        cex["replay"] = rep.sentence()
        if rep.confirmed:
            cex["mismatch"] = _mismatch(rep)
        return rep.confirmed, cex

    def prove_smt(self, obs: list[Obligation],
                  data_mode_obligation: Callable[[Obligation], Obligation | None]
                  ) -> list[Verdict]:
        texts = [smtlib_text(ob) for ob in obs]
        results = solve_many(texts, self.timeout_ms, self.jobs)
        out = []
        for ob, text, res in zip(obs, texts, results, strict=True):
            digest = sha256(text)
            status, method, detail, cex = "unknown", "z3", "", None
            t_more = time.perf_counter()  # replays, re-checks and splits count too
            if res.answer == "unsat":
                status, method = "proved", f"unsat (z3 {res.strategy})"
            elif res.answer == "unknown" and ob.labels is None and ob.premises:
                status, method, detail, cex = self._split_labels(ob, res.reason)
            elif res.answer == "unknown":
                status, method = "unknown", "z3 unknown"
                detail = res.reason or "unknown"
            else:
                confirmed, cex = self._replay_model(ob, res.model)
                if confirmed:
                    status, method = "refuted", "sat, replayed exactly"
                else:
                    status, method, detail, cex = self._recheck_data(
                        ob, data_mode_obligation, cex)
            file = self._write(ob.key, text, ob, res.answer)
            seconds = res.seconds + (time.perf_counter() - t_more)
            out.append(Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "smt", status,
                               seconds, method, detail, digest, file, cex))
        return out

    def _split_labels(self, ob: Obligation, reason: str
                      ) -> tuple[str, str, str, dict[str, Any] | None]:
        """Symbolic one-hot labels undecided: decide each class assignment separately
        (premises ``y_i_k = 0/1``); proved iff every case is ``unsat``."""
        n, c = self.n, self.c
        if c**n > 64:
            return "unknown", "z3 unknown", reason or "unknown", None
        cases = []
        for labels in itertools.product(range(c), repeat=n):
            premises = [self._y[(i, k)] == (1 if labels[i] == k else 0)
                        for i in range(n) for k in range(c)]
            cases.append(replace(ob, labels=labels, premises=premises))
        texts = [smtlib_text(case) for case in cases]
        results = solve_many(texts, self.timeout_ms, self.jobs)
        for case, text, res in zip(cases, texts, results, strict=True):
            self._write(case.key + ".case", text, case, res.answer)
            if res.answer == "sat":
                confirmed, cex = self._replay_model(case, res.model)
                if confirmed:
                    return "refuted", "sat (one class assignment), replayed exactly", "", cex
        if all(r.answer == "unsat" for r in results):
            return ("proved", f"unsat per class assignment ({len(cases)} cases)",
                    "z3 undecided on symbolic one-hot labels; every assignment unsat", None)
        undecided = sum(r.answer != "unsat" for r in results)
        return ("unknown", "z3 unknown",
                f"{reason}; split into {len(cases)} class assignments, {undecided} undecided",
                None)

    def _recheck_data(self, ob: Obligation,
                      data_mode_obligation: Callable[[Obligation], Obligation | None],
                      cex: dict[str, Any]) -> tuple[str, str, str, dict | None]:
        """A free-register model that no data set reproduces: decide the data form."""
        if ob.mode != "free":
            return "unknown", "sat, not confirmed", "the model does not replay exactly", cex
        dob = data_mode_obligation(ob)
        if dob is None:
            return "unknown", "sat, not confirmed", "no data-register form to re-check", cex
        text = smtlib_text(dob)
        res = solve_smtlib(text, self.timeout_ms)
        self._write(ob.key + ".data", text, dob, res.answer)
        if res.answer == "unsat":
            return ("proved", "unsat (registers as data expressions)",
                    "the free-register form has a model no data set reaches", None)
        if res.answer == "sat":
            confirmed, cex2 = self._replay_model(dob, res.model)
            if confirmed:
                return "refuted", "sat (data registers), replayed exactly", "", cex2
            return "unknown", "sat, not confirmed", "the model does not replay exactly", cex2
        return "unknown", "z3 unknown (data registers)", res.reason, None

    # ------------------------------------------------------------ moved entries

    def moved(self, backend: str, data: SymbolicData, theta: dict[str, np.ndarray],
              expected: dict[str, np.ndarray]) -> set[tuple[str, int]]:
        """Entries the prediction moves for some data (normal form, or z3's simplifier with
        a fixed class assignment substituted): what the certificate lists as moved."""
        subs = []
        if backend == "smt" and data.labels is not None:
            subs = [(data.y[i, k], to_z3(Fraction(int(data.labels[i] == k))))
                    for i in range(data.n) for k in range(data.c)]
        out = set()
        pairs = [(name, i, u, v) for name in self.ext.shapes
                 for i, (u, v) in enumerate(zip(np.asarray(theta[name], dtype=object).flat,
                                                np.asarray(expected[name], dtype=object).flat,
                                                strict=True))]
        try:
            with time_budget(self.budget_s):
                for name, i, u, v in pairs:
                    if not _same(backend, self.norm, u, v, subs):
                        out.add((name, i))
        except BudgetExceeded:  # too large to normalise: structurally different = moved
            self.norm = Normalizer()
            out = {(name, i) for name, i, u, v in pairs if not _structurally_equal(u, v)}
        return out


def _mismatch(rep: Replay) -> dict[str, Any]:
    return {"parameter": rep.parameter, "index": list(rep.index or []),
            "expected": rep.expected, "got": rep.got}


def _structurally_equal(a: Any, b: Any) -> bool:
    if isinstance(a, z3.ExprRef) or isinstance(b, z3.ExprRef):
        return bool(to_z3(a).eq(to_z3(b)))
    return bool(a == b)


def _same(backend: str, norm: Normalizer, a: Any, b: Any, subs: list[Any]) -> bool:
    if backend == "algebra":
        try:
            return not norm.difference(a, b)
        except NormalFormError:
            return bool(a == b)
    diff = to_z3(a) - to_z3(b)
    za = z3.simplify(z3.substitute(diff, *subs) if subs else diff, som=True)
    return bool(z3.is_rational_value(za) and za.numerator_as_long() == 0)


def _feasible(ext: Extension, n: int, labels: tuple[int, ...] | None) -> str | None:
    """Why the algorithm is undefined for this class assignment (or ``None``)."""
    if labels is None:
        return None
    x = random_data(random.Random(1), n, ext.net.d)
    try:
        run_program(ext.program, x, one_hot(labels, ext.net.c), EXACT)
    except BackendError as exc:
        return str(exc)
    return None


class BudgetExceeded(BaseException):
    """The wall-clock budget of an algebra computation ran out (raised by SIGALRM)."""


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Raise :class:`BudgetExceeded` after ``seconds`` (main thread with SIGALRM only;
    elsewhere no limit). Used for the sympy computations that cannot time out by
    themselves: registers as data expressions (T1, ``--registers data``)."""
    if (seconds is None or not hasattr(signal, "SIGALRM")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise BudgetExceeded()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def prove_extension(
    ext: Extension,
    *,
    n: int,
    classes: ClassSpec,
    backends: list[str] | tuple[str, ...] = BACKENDS,
    algorithm: str | None = None,
    options: dict[str, Any] | None = None,
    mode: str = "free",
    eta: Fraction | None = None,
    timeout_ms: int = 10_000,
    smtlib_dir: str | Path | None = None,
    jobs: int = 1,
    reference: bool = True,
    budget_s: float | None = 60.0,
    fault: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ProofReport:
    """Prove every obligation of every step for all data of ``n`` samples (see module doc).

    ``eta`` overrides the step size GD runs with (a negative control); ``reference``
    adds T1 (program = independent reference, registers as data expressions). On the
    algebra backend every obligation, and every computation with registers as data
    expressions, runs under a budget of ``budget_s`` seconds (sympy has no time-out of its
    own); when it runs out the obligation is ``unknown``.
    """
    t_start = time.perf_counter()
    options = dict(options or {})
    K = ext.K
    ctx = _Context(ext, algorithm=algorithm, options=options, n=n, eta=eta,
                   timeout_ms=timeout_ms, smtlib_dir=Path(smtlib_dir) if smtlib_dir else None,
                   jobs=jobs, budget_s=budget_s)
    run_eta = Fraction(ext.eta if eta is None else eta)
    report = ProofReport(algorithm or ext.program.name, ext.net.describe(), n, ext.net.d,
                         ext.net.c, classes.describe(), mode, K, ext.n_parameters,
                         str(ext.eta), str(run_eta), list(backends), timeout_ms, fault)
    steps = [StepResult(k, "gd", step_written(ext, k)) for k in range(K + 1)]
    with_t1 = bool(reference and algorithm)
    final = StepResult(K, "final", ["T2: F_main = f(.; w), F_aux = 0"
                                    + ("; T1: A(D) = reference" if with_t1 else "")])
    moved: dict[int, set[tuple[str, int]]] = {k: set() for k in range(K + 1)}
    for bname in backends:
        backend = _backend(bname)
        budget = budget_s if bname == "algebra" else None
        for st in [*steps, final]:
            st.backends[bname] = BackendStep(bname)
        for labels in classes.label_sets():
            why = _feasible(ext, n, labels)
            if why is not None:
                if bname == backends[0]:
                    report.skipped.append({"labels": list(labels or ()), "reason": why})
                continue
            data = make_data(backend, n, ext.net.d, ext.net.c, labels)
            lazy = _ProgramValues(ext, data, backend, budget)

            def data_form(ob: Obligation, data: SymbolicData = data,
                          lazy: _ProgramValues = lazy, backend: Backend = backend
                          ) -> Obligation | None:
                """The same obligation with the registers as data expressions (re-check)."""
                key = "final" if ob.block.startswith("T") else ob.step
                cache = lazy.forms
                if key not in cache:
                    values = lazy.get()
                    if values is None:
                        return None
                    if key == "final":
                        cache[key] = build_final(ext, backend, data, mode="data",
                                                 program_values=values)
                    else:
                        cache[key] = build_step(ext, backend, data, ob.step, mode="data",
                                                eta=eta, program_values=values).obligations
                return next((o for o in cache[key] if o.block == ob.block), None)

            pv = None
            if mode == "data":
                t0 = time.perf_counter()
                pv = lazy.get()
                steps[0].backends[bname].seconds += time.perf_counter() - t0
                if pv is None:
                    raise ValueError(
                        f"registers as data expressions exceed the {budget_s} s budget on the "
                        "algebra backend; use --registers free (stronger and smaller)")
            for k in range(K + 1):
                t0 = time.perf_counter()
                build = build_step(ext, backend, data, k, mode=mode, eta=eta, program_values=pv)
                steps[k].backends[bname].seconds += time.perf_counter() - t0
                if bname == backends[0]:
                    moved[k] |= ctx.moved(bname, data, build.theta, build.expected)
                verdicts = (ctx.prove_algebra(build.obligations) if bname == "algebra"
                            else ctx.prove_smt(build.obligations, data_form))
                for v in verdicts:
                    steps[k].backends[bname].add(v)
                report.verdicts.extend(verdicts)
                if log:
                    bs = steps[k].backends[bname]
                    log(f"  [{bname}] {data.describe_labels()}: step {k}: "
                        f"{bs.proved}/{bs.obligations} proved so far")
            t0 = time.perf_counter()
            finals = build_final(ext, backend, data, mode=mode, program_values=pv)
            final.backends[bname].seconds += time.perf_counter() - t0
            verdicts = (ctx.prove_algebra(finals) if bname == "algebra"
                        else ctx.prove_smt(finals, data_form))
            if with_t1:
                t0 = time.perf_counter()
                t1 = _prove_reference(ctx, bname, backend, data, lazy, data_form)
                # the interpreter on data expressions is part of T1's cost
                final.backends[bname].seconds += max(
                    0.0, time.perf_counter() - t0 - sum(v.seconds for v in t1))
                verdicts.extend(t1)
            for v in verdicts:
                final.backends[bname].add(v)
            report.verdicts.extend(verdicts)
        for st in [*steps, final]:
            st.backends[bname].finish()
    for k, st in enumerate(steps):
        names = sorted({b for b, _ in moved[k]}, key=list(ext.shapes).index)
        st.moved = names
        st.moved_entries = len(moved[k])
        st.predicted_moved_entries = len(moved[k])
    report.steps = steps
    report.final = final
    all_statuses = [st.status for st in [*steps, final]]
    if all(x == "verified" for x in all_statuses):
        report.status = "verified"
    else:
        report.status = next(x for x in ("refuted", "error", "unknown") if x in all_statuses)
    if ctx.smtlib_dir is not None and ctx.index:
        (ctx.smtlib_dir / "index.json").write_text(json.dumps(ctx.index, indent=1) + "\n")
    report.seconds = round(time.perf_counter() - t_start, 3)
    report.message = _message(report)
    return report


class _ProgramValues:
    """The interpreter's registers on the symbolic data, computed once, on demand, within
    the budget (``None`` once the budget ran out)."""

    def __init__(self, ext: Extension, data: SymbolicData, backend: Backend,
                 budget_s: float | None) -> None:
        self.ext, self.data, self.backend, self.budget_s = ext, data, backend, budget_s
        self.values: dict[str, Any] | None = None
        self.failed = False
        self.forms: dict[Any, list[Obligation]] = {}

    def get(self) -> dict[str, Any] | None:
        if self.values is None and not self.failed:
            try:
                with time_budget(self.budget_s):
                    self.values = run_program(self.ext.program, self.data.x, self.data.y,
                                              self.backend)
            except BudgetExceeded:
                self.failed = True
        return self.values


def _prove_reference(ctx: _Context, bname: str, backend: Backend, data: SymbolicData,
                     lazy: _ProgramValues,
                     data_form: Callable[[Obligation], Obligation | None]) -> list[Verdict]:
    """T1 on one backend (algebra: within the budget, else ``unknown``)."""
    t0 = time.perf_counter()
    key = f"step{ctx.ext.K}.{data.label_tag}.T1.reference"
    lemma = "T1 A(D) = independent reference"

    def unknown(detail: str) -> list[Verdict]:
        return [Verdict(key, ctx.ext.K, "T1.reference", lemma, data.labels, bname, "unknown",
                        time.perf_counter() - t0, "budget exceeded", detail)]

    budget_note = (f"the {lazy.budget_s} s budget for registers as data expressions ran out "
                   "(they grow with the program's depth); use --no-reference, or the smt "
                   "backend, for T1")
    values = lazy.get()
    if values is None:
        return unknown(budget_note)
    try:
        with time_budget(lazy.budget_s):
            obs = build_reference(ctx.ext, backend, data, ctx.algorithm or "", ctx.options,
                                  program_values=values)
    except BudgetExceeded:
        return unknown(budget_note)
    return ctx.prove_algebra(obs) if bname == "algebra" else ctx.prove_smt(obs, data_form)


def _message(report: ProofReport) -> str:
    total = len(report.verdicts)
    proved = sum(v.status == "proved" for v in report.verdicts)
    if report.status == "verified":
        return (f"verified for all data (n={report.n}, d={report.d}): {proved} obligations "
                f"proved by {' and '.join(report.backends)}; {report.K} GD steps reproduce "
                f"{report.algorithm}, step {report.K} is plain GD on f")
    v = report.first_failure()
    where = f"step {v.step} {v.block} [{v.backend}]" if v else ""
    extra = ""
    if v is not None and v.counterexample:
        extra = f"; counterexample x = {v.counterexample.get('x')}, labels = " \
                f"{v.counterexample.get('labels')}: {v.counterexample.get('replay')}"
    elif v is not None and v.detail:
        extra = f"; {v.detail}"
    return f"{report.status}: {total - proved} of {total} obligations not proved, first at " \
           f"{where}{extra}"


# ------------------------------------------------------------------ certificate


def certificate(report: ProofReport) -> dict[str, Any]:
    """The certificate of ``verify.certificate`` (same schema) plus the symbolic details."""
    from ..verify.certificate import certificate as base_certificate
    from ..verify.steps import Mismatch, Report, StepReport

    steps = []
    for s in report.steps:
        mismatch = None
        wrong = []
        for b in s.backends.values():
            for f in b.failures:
                wrong.append(f["block"])
                cex = f.get("counterexample") or {}
                mm = cex.get("mismatch")
                if mismatch is None and f["status"] == "refuted" and mm:
                    mismatch = Mismatch(s.step, mm["parameter"], mm["index"], mm["expected"],
                                        mm["got"])
        steps.append(StepReport(s.step, s.status, s.written, s.moved, s.moved_entries,
                                s.predicted_moved_entries, s.seconds, mismatch,
                                sorted(set(wrong))))
    final = report.final
    final_blocks: dict[str, list[str]] = {}
    if final is not None:
        for v in report.verdicts:
            if v.block.startswith("T") and v.step == report.K:
                final_blocks.setdefault(v.block, []).append(v.status)

    def flag(block: str) -> bool | None:
        sts = final_blocks.get(block)
        if not sts:
            return None
        if all(st == "proved" for st in sts):
            return True
        return False if "refuted" in sts else None

    traj = [s.status for s in report.steps[:-1]]
    r = Report(
        report.status, report.algorithm, report.network,
        f"symbolic n={report.n}, d={report.d}, c={report.c}; classes {report.classes}",
        report.n, report.K, report.parameters, report.run_eta, steps,
        final_weights_equal=(True if all(t == "verified" for t in traj)
                             else (False if "refuted" in traj else None)),
        reference_equal=flag("T1.reference"),
        forward_output_equal=flag("T2.F_main"),
        aux_zero=flag("T2.F_aux"),
        inert_after_K=(True if report.steps[-1].status == "verified"
                       else (False if report.steps[-1].status == "refuted" else None)),
        backends=list(report.backends),
        mismatch=next((st.mismatch for st in steps if st.mismatch is not None), None),
        message=report.message,
        final_weights=[],
        seconds=report.seconds,
    )
    out = base_certificate(r, {b: {"status": report.backend_status(b),
                                   "obligations": sum(1 for v in report.verdicts
                                                      if v.backend == b),
                                   "seconds": round(sum(v.seconds for v in report.verdicts
                                                        if v.backend == b), 3)}
                               for b in report.backends})
    for cert_step, s in zip(out["steps"], report.steps, strict=True):
        cert_step["kind"] = "gd"
        cert_step["backends"] = {b: bs.as_dict() for b, bs in s.backends.items()}
    if final is not None:
        out["final_checks"] = {
            "step": final.step, "status": final.status, "written": final.written,
            "seconds": final.seconds,
            "backends": {b: bs.as_dict() for b, bs in final.backends.items()},
        }
    out["symbolic"] = {
        "samples": report.n, "d": report.d, "c": report.c, "classes": report.classes,
        "registers": report.mode, "timeout_ms": report.timeout_ms,
        "eta_construction": report.eta, "eta_run": report.run_eta, "fault": report.fault,
        "skipped_assignments": report.skipped,
        "data_symbols": "x_i_j (sample i, feature j); y_i_k label indicators (symbolic "
                        "labels; on smt always symbols, fixed by premises for a class "
                        "assignment); r_<register>_<index> register contents "
                        "(registers=free); xs_j a fresh input (T2)",
    }
    return out
