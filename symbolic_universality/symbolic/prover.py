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
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import z3

from ..backends import dag
from ..backends.dag import DAG
from ..backends.scalars import EXACT, Backend, BackendError
from ..backends.symbolic import SYMPY, Z3, to_z3
from ..extension.compiler import Extension
from ..program.interpreter import run_program
from .algebra import prove_algebra
from .algebra import shared_nodes as _shared
from .crosscheck import cross_check
from .data import ClassSpec, SymbolicData, make_data, one_hot
from .lifting import check_extension
from .normal import DagNormalizer, NormalFormError, Normalizer
from .obligations import (
    Obligation,
    build_final,
    build_reference,
    build_step,
    lemma_of,
    step_written,
)
from .recheck import CHECKER as RECHECKER
from .recheck import available as recheck_available
from .recheck import recheck, recheck_dag
from .replay import Replay, random_data, replay_obligation, search_counterexample
from .smt import (
    cvc5_check,
    decode_data,
    describe_model,
    sha256,
    smtlib_text,
    solve_many,
    solve_smtlib,
)
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
    #: whether the moved set was computed (its unit finished): the entries the *prediction*
    #: moves for some data, which a proved step shows GD moves too
    moved_known: bool = True
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
    scope: str = "fixed"
    scope_text: str = ""
    assumptions: list[str] = field(default_factory=list)
    lifting: list[dict[str, Any]] = field(default_factory=list)
    checkers: dict[str, list[str]] = field(default_factory=dict)
    crosschecks: list[dict[str, Any]] = field(default_factory=list)
    undefined_assignments: int = 0
    executor: str = "local"
    jobs: int = 1
    second_checker: dict[str, Any] = field(default_factory=dict)

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


#: The algebra prover's backend: ``dag`` (interned canonical values, :mod:`..backends.dag`;
#: undecided entries fall back to the sympy path) or ``sympy`` (the sympy backend only).
ALGEBRA_BACKEND = os.environ.get("SYMUNI_ALGEBRA_BACKEND", "dag")


def _backend(name: str, ext: Extension | None = None) -> Backend:
    if name == "algebra":
        # cross-entropy's softmax is an uninterpreted atom on both (backends.dag.softmax,
        # backends.symbolic.Softmax)
        return DAG if ALGEBRA_BACKEND == "dag" else SYMPY
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
                 jobs: int, budget_s: float | None, generic: bool = False,
                 recheck: bool = True, cvc5: bool = False) -> None:
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
        self.generic = generic
        self.recheck = recheck
        self.cvc5 = cvc5
        self.mode = "free"
        self.norm = Normalizer()
        self.dag_norm = DagNormalizer()
        self.index: list[dict[str, Any]] = []

    @property
    def _y(self) -> dict[tuple[int, int], Any]:
        return {(i, k): z3.Real(f"y_{i}_{k}") for i in range(self.n) for k in range(self.c)}

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
        """Each obligation by the normal form; a proved one is re-checked by FLINT
        (:mod:`.recheck`) and records which checkers agreed. The budget is enforced by the
        process running the whole unit (never by a signal inside sympy)."""
        out = []
        for ob in obs:
            v = prove_algebra(ob, self.norm, n=self.n, c=self.c,
                              find_counterexample=self.algebra_counterexample,
                              dag_norm=self.dag_norm)
            if v.status == "proved" and ob.dag_proof is not None:
                self._recheck_dag(ob, v)
            elif v.status == "proved":
                v.extra["checkers"] = ["normal form (symbolic/normal.py)"]
                if self.recheck and recheck_available():
                    t0 = time.perf_counter()
                    got, exp = ob.got, ob.expected
                    if ob.abbreviated is not None:  # the identity that was proved
                        got, exp, count = ob.abbreviated
                        v.extra["abbreviated_subexpressions"] = count
                    try:
                        ok = recheck(got, exp)
                    except (ValueError, ImportError) as exc:
                        ok, why = None, str(exc)
                    else:
                        why = "FLINT found a non-zero difference in some case"
                    v.seconds += time.perf_counter() - t0
                    if ok is True:
                        v.extra["checkers"].append(RECHECKER)
                    else:
                        v.status, v.method = "unknown", v.method + "; FLINT re-check disagreed"
                        v.detail = why
            out.append(v)
        return out

    def _recheck_dag(self, ob: Obligation, v: Verdict) -> None:
        """The second checker on a DAG proof: every entry whose two sides have different
        canonical forms is re-decided by FLINT from the DAG values (:func:`recheck_dag`,
        with the same abbreviated nodes) or, for the entries the sympy path decided, by
        :func:`recheck` on the sympy sides. Entries with identical canonical forms (the same
        interned node) are identities by construction; they are not re-expanded (the
        semantics cross-check evaluates them against the exact backend)."""
        proof = ob.dag_proof
        v.extra["checkers"] = ["canonical DAG form + normal form (backends/dag.py, "
                               "symbolic/normal.py)"]
        v.extra["entries"] = {"identical_canonical_forms": proof.identical,
                              "collected": len(proof.collected),
                              "expanded": len(proof.expanded), "sympy": len(proof.sympy)}
        if not self.recheck or not recheck_available():
            return
        if not proof.expanded and not proof.sympy and not proof.collected:
            v.extra["rechecked_entries"] = 0  # vacuous: every entry is one interned node
            v.extra["checkers"].append(RECHECKER)
            return
        t0 = time.perf_counter()
        why = "FLINT found a non-zero difference in some case"
        try:
            ok = recheck_dag([(a, b, opq) for _, a, b, opq in proof.collected]
                             + [(a, b, opq) for _, a, b, opq, _ in proof.expanded])
            if ok is True and proof.sympy:
                ok = recheck([a for _, a, _ in proof.sympy], [b for _, _, b in proof.sympy])
        except (ValueError, ImportError) as exc:
            ok, why = None, str(exc)
        v.seconds += time.perf_counter() - t0
        if ok is True:
            v.extra["rechecked_entries"] = (len(proof.collected) + len(proof.expanded)
                                            + len(proof.sympy))
            v.extra["checkers"].append(RECHECKER)
        else:
            v.status, v.method = "unknown", v.method + "; FLINT re-check disagreed"
            v.detail = why

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
        results = solve_many(texts, self.timeout_ms, 1)
        out = []
        for ob, text, res in zip(obs, texts, results, strict=True):
            digest = sha256(text)
            status, method, detail, cex = "unknown", "z3", "", None
            t_more = time.perf_counter()  # replays, re-checks and splits count too
            if res.answer == "unsat":
                status, method = "proved", f"unsat (z3 {res.strategy})"
                if self.cvc5:
                    status, method, detail = self._second_solver(text, method)
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
            v = Verdict(ob.key, ob.step, ob.block, ob.lemma, ob.labels, "smt", status,
                        seconds, method, detail, digest, file, cex)
            if status == "proved":
                v.extra["checkers"] = ["z3 (unsat)"] + (["cvc5 (unsat)"] if self.cvc5 else [])
            out.append(v)
        return out

    def _second_solver(self, text: str, method: str) -> tuple[str, str, str]:
        """``--cvc5``: the very SMT-LIB text z3 found unsat, re-decided by cvc5; proved only
        if cvc5 also answers unsat (a solver that is missing, undecided or of the other
        opinion leaves the obligation unknown, never proved)."""
        try:
            answer = cvc5_check(text, self.timeout_ms)
        except ImportError:
            return ("unknown", method + "; cvc5 missing",
                    "cvc5 is not installed: pip install cvc5 (the smt2 extra), or drop --cvc5")
        except Exception as exc:  # noqa: BLE001 - a crashed second solver proves nothing
            return "unknown", method + "; cvc5 failed", f"cvc5 failed: {exc}"
        if answer == "unsat":
            return "proved", method + "; cvc5 unsat", ""
        if answer == "sat":
            return ("unknown", method + "; cvc5 sat",
                    "the solvers disagree: z3 answered unsat, cvc5 sat (a solver defect)")
        return ("unknown", method + "; cvc5 unknown",
                f"cvc5 could not decide within {self.timeout_ms} ms")

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
        results = solve_many(texts, self.timeout_ms, 1)
        for case, text, res in zip(cases, texts, results, strict=True):
            self._write(case.key + ".case", text, case, res.answer)
            if res.answer == "sat":
                confirmed, cex = self._replay_model(case, res.model)
                if confirmed:
                    return "refuted", "sat (one class assignment), replayed exactly", "", cex
        if all(r.answer == "unsat" for r in results):
            method = f"unsat per class assignment ({len(cases)} cases)"
            if self.cvc5:  # --cvc5: each case re-decided too
                for text in texts:
                    status, how, detail = self._second_solver(text, method)
                    if status != "proved":
                        return status, how, detail, None
                method = how
            return ("proved", method,
                    "z3 undecided on symbolic one-hot labels; every assignment unsat", None)
        undecided = sum(r.answer != "unsat" for r in results)
        return ("unknown", "z3 unknown",
                f"{reason}; split into {len(cases)} class assignments, {undecided} undecided",
                None)

    def _recheck_data(self, ob: Obligation,
                      data_mode_obligation: Callable[[Obligation], Obligation | None],
                      cex: dict[str, Any]) -> tuple[str, str, str, dict | None]:
        """A free-register model that no data set reproduces: decide the data form."""
        if ob.mode != "free" or self.generic:
            # generic mode: registers of a one-sample data set are not those of every data set
            return "unknown", "sat, not confirmed", "the model does not replay exactly", cex
        dob = data_mode_obligation(ob)
        if dob is None:
            return "unknown", "sat, not confirmed", "no data-register form to re-check", cex
        text = smtlib_text(dob)
        res = solve_smtlib(text, self.timeout_ms)
        self._write(ob.key + ".data", text, dob, res.answer)
        if res.answer == "unsat":
            method = "unsat (registers as data expressions)"
            if self.cvc5:
                status, method, detail = self._second_solver(text, method)
                if status != "proved":
                    return status, method, detail, None
            return ("proved", method,
                    "the free-register form has a model no data set reaches", None)
        if res.answer == "sat":
            confirmed, cex2 = self._replay_model(dob, res.model)
            if confirmed:
                return "refuted", "sat (data registers), replayed exactly", "", cex2
            return "unknown", "sat, not confirmed", "the model does not replay exactly", cex2
        return "unknown", "z3 unknown (data registers)", res.reason, None

    # ------------------------------------------------------------ moved entries

    def _moved_by_witness(self, k: int, theta: dict[str, np.ndarray],
                          expected: dict[str, np.ndarray], backend: str = "algebra",
                          subs: list[Any] | None = None) -> set[tuple[str, int]]:
        """An entry moves for some data iff ``theta_hat_{k+1}`` and ``theta_hat_k`` differ
        on some data set. The exact prediction (Fractions, the reference interpreter) on
        random one-sample data sets with random register contents is a witness where they
        differ; an entry equal on all of them is decided by the normal form of its
        symbolic sides (algebra) or by z3's simplifier (smt, ``subs`` the class
        assignment)."""
        from types import SimpleNamespace

        from .obligations import _step_registers, predicted_state

        ext = self.ext
        rng = random.Random(7)
        n, d, c = self.n, ext.net.d, ext.net.c
        undecided = {(name, i) for name in ext.shapes
                     for i, (u, v) in enumerate(zip(np.asarray(theta[name], dtype=object).flat,
                                                    np.asarray(expected[name],
                                                               dtype=object).flat,
                                                    strict=True))
                     if not (u is v or u == v)}
        out: set[tuple[str, int]] = set()
        stale = 0  # trials in a row that witnessed nothing new
        is_dag = any(isinstance(v, dag.Expr) for arr in (theta, expected)
                     for a in arr.values() for v in np.asarray(a, dtype=object).flat)
        # cheap witnesses first: the symbolic values themselves at random points (DAG
        # evaluation, or z3's model evaluator); the exact prediction then only for the rest
        if undecided and is_dag:
            undecided -= _dag_witnesses(undecided, theta, expected, rng, out,
                                         tries=3 * max(c, 4))
        elif undecided and backend == "smt":
            undecided -= _z3_witnesses(ext, k, n, undecided, theta, expected, rng, out,
                                        tries=3 * max(c, 4))
        patience = 2 if backend == "smt" or is_dag else 4
        for _ in range(32 if undecided else 0):
            if stale >= patience:
                break  # the rest: more DAG witnesses, then the exact comparison
            x = np.array([[Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(d)]
                          for _ in range(n)], dtype=object)
            y = np.zeros((n, c), dtype=object)
            for i in range(n):
                y[i] = [Fraction(0)] * c
                y[i, rng.randrange(c)] = Fraction(1)
            if self.mode == "data":
                try:
                    regs = run_program(ext.program, x, y, EXACT)
                except BackendError:
                    continue
            else:
                regs = {}
                for ins in ext.program.instructions:
                    if ins.step < k:
                        vals = np.empty(ins.target.shape, dtype=object)
                        for idx in np.ndindex(*ins.target.shape):
                            vals[idx] = Fraction(rng.randint(-9, 9), rng.randint(1, 5))
                        regs[ins.target.name] = vals
            try:
                after = _step_registers(ext, k, regs, SimpleNamespace(x=x, y=y), EXACT)
                before_t = predicted_state(ext, k, regs, EXACT)
                if k < ext.K:
                    after_t = predicted_state(ext, k + 1, after, EXACT)
                else:  # T3: plain GD on f moves w
                    from . import reference

                    after_t = dict(before_t)
                    g = reference.mean_grad(ext.net, before_t["w"], x, y, EXACT)
                    rate = Fraction(ext.eta if self.eta is None else self.eta)
                    after_t["w"] = np.asarray(before_t["w"] - g * rate, dtype=object)
            except BackendError:
                continue
            stale += 1
            for name, i in list(undecided):
                if (np.asarray(before_t[name], dtype=object).flat[i]
                        != np.asarray(after_t[name], dtype=object).flat[i]):
                    out.add((name, i))
                    undecided.discard((name, i))
                    stale = 0
            if not undecided:
                break
        if undecided and is_dag:  # more witnesses, evaluated on the DAG
            undecided -= _dag_witnesses(undecided, theta, expected, rng, out, tries=8)
        for name, i in undecided:
            u = np.asarray(theta[name], dtype=object).flat[i]
            v = np.asarray(expected[name], dtype=object).flat[i]
            if not _same(backend, self.norm, u, v, subs or []):
                out.add((name, i))
        return out

    def moved(self, backend: str, data: SymbolicData, theta: dict[str, np.ndarray],
              expected: dict[str, np.ndarray], k: int = 0) -> set[tuple[str, int]]:
        """Entries the prediction moves for some data (normal form, or z3's simplifier with
        a fixed class assignment substituted): what the certificate lists as moved."""
        subs = []
        if backend == "smt" and data.labels is not None:
            subs = [(data.y[i, k], to_z3(Fraction(int(data.labels[i] == k))))
                    for i in range(data.n) for k in range(data.c)]
        return self._moved_by_witness(k, theta, expected, backend, subs)


#: the random points of the moved-set witnesses, in turn: every symbol mixed-sign; every
#: symbol small and positive; data positive and register contents negative (GD's
#: ``w_t = w_0 - eta sum r`` then has large positive entries: the relu units are active)
WITNESS_POOLS = ("mixed", "positive", "active")
_MIXED = [Fraction(p, q) for p in range(-9, 10) for q in range(1, 6)]
_POSITIVE = [Fraction(p, q) for p in range(1, 10) for q in range(1, 10)]


def _witness_point(names: list[str], t: int, rng: random.Random) -> dict[str, Fraction]:
    """Point ``t`` of the witnesses: the pool :data:`WITNESS_POOLS` ``[t % 3]`` and the
    one-hot labels hot at every class in turn (``y_i_k`` are the label indicators)."""
    mixed, positive = _MIXED, _POSITIVE
    pool = WITNESS_POOLS[t % len(WITNESS_POOLS)]
    env: dict[str, Fraction] = {}
    labels: dict[str, list[str]] = {}
    for nm in names:
        if re.fullmatch(r"y_\d+_\d+", nm):
            labels.setdefault(nm.rsplit("_", 1)[0], []).append(nm)
        elif pool == "mixed":
            env[nm] = rng.choice(mixed)
        elif pool == "positive" or not nm.startswith("r_"):
            env[nm] = rng.choice(positive)
        else:
            env[nm] = -rng.choice(positive)
    for group in labels.values():  # one class per sample, every class in turn
        hot = sorted(group)[(t // len(WITNESS_POOLS)) % len(group)]
        for nm in group:
            env[nm] = Fraction(int(nm == hot))
    return env


def _dag_witnesses(entries: set[tuple[str, int]], theta: dict[str, np.ndarray],
                   expected: dict[str, np.ndarray], rng: random.Random,
                   out: set[tuple[str, int]], tries: int = 64) -> set[tuple[str, int]]:
    """Entries whose DAG values differ at some random rational point (:func:`_witness_point`:
    every symbol, data and register contents alike, drawn at random; the labels one-hot):
    each such point is a witness that the entry moves (for the one-sample data set and the
    register contents drawn). Adds them to ``out`` and returns them."""
    pairs = []
    for name, i in entries:
        u = np.asarray(theta[name], dtype=object).flat[i]
        v = np.asarray(expected[name], dtype=object).flat[i]
        if isinstance(u, dag.Expr) or isinstance(v, dag.Expr):
            pairs.append(((name, i), dag.to_dag(u), dag.to_dag(v)))
    if not pairs:
        return set()
    names = sorted({node.name for node in dag.postorder([e for _, a, b in pairs for e in (a, b)])
                    if isinstance(node, dag.Term) and node.kind == "sym"})
    found: set[tuple[str, int]] = set()
    for t in range(tries):
        env = _witness_point(names, t, rng)
        memo: dict[int, Fraction] = {}
        for key, a, b in pairs:
            if key in found:
                continue
            try:
                va, vb = dag.evaluate_at([a, b], env, memo)
            except dag.IrrationalError:  # a softmax atom of an unequal row: no witness here
                continue
            if va != vb:
                found.add(key)
        if len(found) == len(pairs):
            break
    out |= found
    return found


def _z3_witnesses(ext: Extension, k: int, n: int, entries: set[tuple[str, int]],
                  theta: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                  rng: random.Random, out: set[tuple[str, int]],
                  tries: int = 30) -> set[tuple[str, int]]:
    """:func:`_dag_witnesses` for z3 terms: every symbol (data ``x_i_j``, one-hot labels
    ``y_i_k``, the contents ``r_...`` of the registers written before step ``k``, a fresh
    input ``xs_j``) drawn at random and the two sides evaluated by z3's model evaluator
    (a side that does not evaluate to a number is no witness)."""
    from .crosscheck import z3_point
    from .data import _names as names_of

    d, c = ext.net.d, ext.net.c
    regs = [names_of(f"r_{ins.target.name}", ins.target.shape).reshape(-1)
            for ins in ext.program.instructions if ins.step < k]
    free = [f"x_{i}_{j}" for i in range(n) for j in range(d)]
    free += [f"xs_{j}" for j in range(d)] + [str(nm) for arr in regs for nm in arr]
    free += [f"y_{i}_{j}" for i in range(n) for j in range(c)]
    pairs = [((name, i), np.asarray(theta[name], dtype=object).flat[i],
              np.asarray(expected[name], dtype=object).flat[i]) for name, i in entries]
    found: set[tuple[str, int]] = set()
    for t in range(tries):
        model = z3_point(_witness_point(free, t, rng))
        for key, a, b in pairs:
            if key in found:
                continue
            va, vb = (model.eval(to_z3(v), model_completion=False) for v in (a, b))
            if (z3.is_rational_value(va) and z3.is_rational_value(vb)
                    and va.as_fraction() != vb.as_fraction()):
                found.add(key)
        if len(found) == len(pairs):
            break
    out |= found
    return found


def _mismatch(rep: Replay) -> dict[str, Any]:
    return {"parameter": rep.parameter, "index": list(rep.index or []),
            "expected": rep.expected, "got": rep.got}


def _structurally_equal(a: Any, b: Any) -> bool:
    if isinstance(a, z3.ExprRef) or isinstance(b, z3.ExprRef):
        return bool(to_z3(a).eq(to_z3(b)))
    return bool(a == b)


#: The moved set's exact comparison of two DAG values expands at most this many terms per
#: product; an entry neither witnessed (exact replay or DAG evaluation at random points)
#: nor decided within it is listed as moved, so the moved set is then a superset.
SAME_MAX_TERMS = 5_000


def _same(backend: str, norm: Normalizer, a: Any, b: Any, subs: list[Any]) -> bool:
    if isinstance(a, dag.Expr) or isinstance(b, dag.Expr):
        a, b = dag.to_dag(a), dag.to_dag(b)
        if a is b:
            return True
        ca, cb = dag.collect([a, b])
        if ca is cb:
            return True
        dn = DagNormalizer()
        dn.max_terms = SAME_MAX_TERMS
        try:
            if not dn.dag_difference(a, b, _shared([a], [b])):
                return True
        except NormalFormError:
            pass
        try:
            return not dn.dag_difference(a, b)
        except NormalFormError:  # undecided within the cap: listed as moved (a superset)
            return False
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


SCOPES = ("generic", "fixed")


@dataclass
class UnitResult:
    """What one unit of work (one backend, one label choice, one step or the final checks)
    established: its verdicts, the moved entries, time spent building, SMT-LIB index."""

    bname: str
    labels: tuple[int, ...] | None
    k: int | str
    verdicts: list[Verdict] = field(default_factory=list)
    moved: set[tuple[str, int]] = field(default_factory=set)
    moved_computed: bool = False
    build_seconds: float = 0.0
    index: list[dict[str, Any]] = field(default_factory=list)
    crosscheck: dict[str, Any] = field(default_factory=dict)


_STATE: dict[str, Any] = {}


def _unit_blocks(ctx: _Context, k: int | str, with_t1: bool) -> list[str]:
    if k == "final":
        return ["T2.F_main", "T2.F_aux"] + (["T1.reference"] if with_t1 else [])
    return list(ctx.ext.shapes)


def _run_unit(ctx: _Context, bname: str, labels: tuple[int, ...] | None, k: int | str,
              first: bool, with_t1: bool, mode: str, crosscheck: bool) -> UnitResult:
    """One unit of work, in whatever process runs it (see :func:`prove_extension`)."""
    ext = ctx.ext
    backend = _backend(bname, ext)
    if backend is DAG:
        dag.reset()  # a new unit: fresh intern tables (nothing shared with earlier units)
        ctx.dag_norm = DagNormalizer()
    data = make_data(backend, ctx.n, ext.net.d, ext.net.c, labels)
    if backend is DAG:  # symbols as interned values
        data.x = backend.asarray(data.x)
        data.y = backend.asarray(data.y)
    lazy = _ProgramValues(ext, data, backend)
    res = UnitResult(bname, labels, k)

    def data_form(ob: Obligation) -> Obligation | None:
        """The same obligation with the registers as data expressions (re-check)."""
        if ctx.generic:
            return None
        key = "final" if ob.block.startswith("T") else ob.step
        cache = lazy.forms
        if key not in cache:
            values = lazy.get()
            if key == "final":
                cache[key] = build_final(ext, backend, data, mode="data", program_values=values)
            else:
                cache[key] = build_step(ext, backend, data, ob.step, mode="data",
                                        eta=ctx.eta, program_values=values).obligations
        return next((o for o in cache[key] if o.block == ob.block), None)

    pv = lazy.get() if mode == "data" else None
    t0 = time.perf_counter()
    if k == "final":
        obs = build_final(ext, backend, data, mode=mode, program_values=pv)
        res.build_seconds = time.perf_counter() - t0
        if crosscheck:
            res.crosscheck = cross_check(ext, bname, obs, "final", ctx.n, labels, mode=mode)
        verdicts = (ctx.prove_algebra(obs) if bname == "algebra"
                    else ctx.prove_smt(obs, data_form))
        if with_t1:
            verdicts.extend(_prove_reference(ctx, bname, backend, data, lazy, data_form))
    else:
        build = build_step(ext, backend, data, int(k), mode=mode, eta=ctx.eta,
                           program_values=pv)
        res.build_seconds = time.perf_counter() - t0
        if crosscheck:
            res.crosscheck = cross_check(ext, bname, build.obligations, int(k), ctx.n, labels,
                                         eta=ctx.eta, mode=mode)
        if first:
            ctx.mode = mode
            res.moved = ctx.moved(bname, data, build.theta, build.expected, int(k))
            res.moved_computed = True
        verdicts = (ctx.prove_algebra(build.obligations) if bname == "algebra"
                    else ctx.prove_smt(build.obligations, data_form))
    if res.crosscheck.get("status") == "disagree":
        bad = res.crosscheck
        for v in verdicts:
            if v.block == bad["block"]:
                v.status = "error"
                v.method = "semantics cross-check"
                v.detail = bad["detail"]
    res.verdicts = verdicts
    res.index = list(ctx.index)
    ctx.index.clear()
    return res


#: A forked unit may use at most this fraction of the machine's memory (address space);
#: beyond it the unit's obligations are ``unknown`` (memory limit), never proved.
UNIT_MEMORY_FRACTION = 0.5


def _limit_memory() -> None:
    try:
        import resource

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        limit = int(total * UNIT_MEMORY_FRACTION)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def _unit_in_child(conn: Any, args: tuple[Any, ...]) -> None:
    _limit_memory()
    try:
        res = _run_unit(_STATE["ctx"], *args)
        conn.send(("ok", res))
    except MemoryError:
        conn.send(("memory", f"the unit ran out of its memory limit ({UNIT_MEMORY_FRACTION:.0%} "
                             "of the machine's memory)"))
    except Exception as exc:  # noqa: BLE001 - reported as an error verdict, never as proved
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _failed_unit(ctx: _Context, args: tuple[Any, ...], status: str, method: str,
                 detail: str, seconds: float) -> UnitResult:
    bname, labels, k, _first, with_t1 = args[:5]
    res = UnitResult(bname, labels, k)
    tag = "ysym" if labels is None else "y" + "".join(str(v) for v in labels)
    step = ctx.ext.K if k == "final" else int(k)
    for block in _unit_blocks(ctx, k, with_t1):
        lemma = block if k == "final" else lemma_of(ctx.ext, step, block)
        res.verdicts.append(Verdict(f"step{step}.{tag}.{block}", step, block, lemma, labels,
                                    bname, status, seconds, method, detail))
    return res


def _unit_cost(ctx: _Context, args: tuple[Any, ...]) -> float:
    """A rough relative cost of a unit, to start the longest first (so that the last unit
    to finish is a short one): the reads at later ``w_t`` carry the largest expressions;
    the first read (at the constant ``w_0``), the last steps and the final checks are
    cheaper (measured on gd, bench/README.md)."""
    k = args[2]
    K = ctx.ext.K
    if k == "final":
        return 0.0
    k = int(k)
    if 1 <= k <= K - 2:
        return 1.0 + k / max(K, 1)
    return 0.5 if k >= K - 1 else 0.25


def _run_forked(ctx: _Context, units: list[tuple[Any, ...]], jobs: int,
                budget_s: float | None,
                advance: Callable[..., None] = lambda *_: None) -> list[UnitResult]:
    """Units in forked worker processes, at most ``jobs`` at a time; a unit that runs past
    ``budget_s`` (algebra) is terminated and its obligations are ``unknown``."""
    import multiprocessing

    mp = multiprocessing.get_context("fork")
    _STATE["ctx"] = ctx
    results: dict[int, UnitResult] = {}
    pending = sorted(enumerate(units), key=lambda iu: -_unit_cost(ctx, iu[1]))
    running: dict[int, tuple[Any, Any, float, tuple[Any, ...]]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i, args = pending.pop(0)
                parent, child = mp.Pipe(duplex=False)
                proc = mp.Process(target=_unit_in_child, args=(child, args), daemon=True)
                proc.start()
                child.close()
                running[i] = (proc, parent, time.perf_counter(), args)
            ready = multiprocessing.connection.wait(
                [r[1] for r in running.values()], timeout=0.05)
            now = time.perf_counter()
            for i, (proc, conn, t0, args) in list(running.items()):
                limit = budget_s if args[0] == "algebra" else None
                if conn in ready:
                    try:
                        kind, payload = conn.recv()
                    except EOFError:
                        kind, payload = "error", "the worker process died"
                    proc.join()
                    if kind == "ok":
                        results[i] = payload
                    elif kind == "memory":
                        results[i] = _failed_unit(ctx, args, "unknown", "memory limit", payload,
                                                  now - t0)
                    else:
                        results[i] = _failed_unit(ctx, args, "error", "worker", payload,
                                                  now - t0)
                elif limit is not None and now - t0 > limit:
                    proc.terminate()
                    proc.join()
                    results[i] = _failed_unit(
                        ctx, args, "unknown", "budget exceeded",
                        f"the algebra work of this step took longer than the {limit:g} s "
                        "budget (stopped safely: it ran in its own process)", now - t0)
                else:
                    continue
                conn.close()
                del running[i]
                advance(1, f"{args[0]} step {args[2]}")
    finally:
        for proc, conn, _t0, _args in running.values():
            proc.terminate()
            proc.join()
            conn.close()
    return [results[i] for i in range(len(units))]


def _rebuild_extension(recipe: dict[str, Any]) -> Extension:
    """The extension of a recipe (T6: it depends only on network and program)."""
    from ..networks.mlp import parse_network
    from ..pipeline import compile_algorithm, recompile

    net = parse_network(recipe["network"], recipe["d"], recipe["c"])
    ext = compile_algorithm(recipe["algorithm"], net, loss=recipe.get("loss", "mse"),
                            **recipe.get("options", {}))
    if recipe.get("fault"):
        ext = recompile(ext, fault=recipe["fault"])
    return ext


def _dask_unit(recipe: dict[str, Any], params: dict[str, Any], args: tuple[Any, ...]
               ) -> UnitResult:
    """One unit on a dask worker: rebuild the extension from the recipe, run the unit."""
    key = repr(sorted(recipe.items())) + repr(sorted(params.items()))
    ctx = _STATE.get(key)
    if ctx is None:
        ext = _rebuild_extension(recipe)
        ctx = _Context(ext, smtlib_dir=None, jobs=1, budget_s=None, **params)
        _STATE[key] = ctx
    return _run_unit(ctx, *args)


def _run_dask(ctx: _Context, units: list[tuple[Any, ...]], scheduler: str,
              recipe: dict[str, Any] | None) -> list[UnitResult]:
    if recipe is None:
        raise ValueError("the dask executor needs the extension's recipe (algorithm, network, "
                         "options); call prove_extension(..., recipe=...) or use the CLI")
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("the dask executor needs dask.distributed; install the extra: "
                         "pip install 'symbolic-universality[dask]'") from None
    params = {"algorithm": ctx.algorithm, "options": ctx.options, "n": ctx.n, "eta": ctx.eta,
              "timeout_ms": ctx.timeout_ms, "generic": ctx.generic, "recheck": ctx.recheck,
              "cvc5": ctx.cvc5}
    client = scheduler if not isinstance(scheduler, str) else Client(scheduler)
    try:
        futures = [client.submit(_dask_unit, recipe, params, args, pure=False)
                   for args in units]
        return list(client.gather(futures))
    finally:
        if isinstance(scheduler, str):
            client.close()


def prove_extension(
    ext: Extension,
    *,
    n: int = 1,
    classes: ClassSpec | None = None,
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
    scope: str = "fixed",
    executor: str = "local",
    scheduler: Any = None,
    recipe: dict[str, Any] | None = None,
    recheck: bool = True,
    crosscheck: bool = True,
    cvc5: bool = False,
) -> ProofReport:
    """Prove every obligation of every step, for every data set of every size
    (``scope="generic"``) or for every data set of ``n`` samples (``scope="fixed"``).

    * generic (lemma *lifting*, :mod:`.lifting`): one generic sample ``(x, y)`` (``n`` is
      ignored, labels a generic one-hot vector: ``c`` cases), the registers written earlier
      free symbols; the lifting lemma's hypothesis (every gradient and register prediction
      is mean-affine) is checked on the graphs, and the identities lift to every empirical
      distribution. T1 against the independent reference is not in this scope.
    * fixed: ``n`` symbolic samples, label choices from ``classes`` (today's mode).

    Units of work (one backend, one label choice, one step or the final checks) run in
    this process (``jobs=1`` and no budget), in forked worker processes (``jobs > 1`` or an
    algebra ``budget_s``: a unit past the budget is terminated, its obligations
    ``unknown``), or on a dask cluster (``executor="dask"``, ``scheduler`` an address or a
    ``distributed.Client``, ``recipe`` the extension's recipe; the budget is not enforced
    there). ``recheck``: every algebra proof is re-decided by FLINT (:mod:`.recheck`).
    ``crosscheck``: each step's two sides are evaluated at a random rational point and
    compared with the exact backend's values (activation semantics, :func:`cross_check`).
    ``cvc5``: every SMT obligation z3 proves is re-decided by cvc5 from the same SMT-LIB
    text; it counts as proved only if cvc5 also answers ``unsat``.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown proof mode {scope!r}; choose generic or fixed")
    if executor not in ("local", "dask"):
        raise ValueError(f"unknown executor {executor!r}; choose local or dask")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if budget_s is not None and not budget_s > 0:
        raise ValueError(f"--budget must be a positive number of seconds, got {budget_s}")
    generic = scope == "generic"
    if generic:
        if mode != "free":
            raise ValueError("the generic mode needs --registers free (registers of one "
                             "sample are not those of every data set)")
        n = 1
        classes = ClassSpec("symbolic")
    elif classes is None:
        raise ValueError("the fixed-n mode needs a label choice (classes)")
    t_start = time.perf_counter()
    options = dict(options or {})
    K = ext.K
    ctx = _Context(ext, algorithm=algorithm, options=options, n=n, eta=eta,
                   timeout_ms=timeout_ms, smtlib_dir=Path(smtlib_dir) if smtlib_dir else None,
                   jobs=jobs, budget_s=budget_s, generic=generic, recheck=recheck,
                   cvc5=cvc5)
    run_eta = Fraction(ext.eta if eta is None else eta)
    report = ProofReport(algorithm or ext.program.name, ext.net.describe(), n, ext.net.d,
                         ext.net.c, classes.describe(), mode, K, ext.n_parameters,
                         str(ext.eta), str(run_eta), list(backends), timeout_ms, fault)
    report.scope = scope
    report.executor = executor if executor == "local" else f"dask ({scheduler})"
    report.jobs = jobs
    steps = [StepResult(k, "gd", step_written(ext, k)) for k in range(K + 1)]
    with_t1 = bool(reference and algorithm) and not generic
    final = StepResult(K, "final", ["T2: F_main = f(.; w), F_aux = 0"
                                    + ("; T1: A(D) = reference" if with_t1 else "")])
    moved: dict[int, set[tuple[str, int]]] = {k: set() for k in range(K + 1)}
    moved_known = {k: False for k in range(K + 1)}
    if generic:
        lifting = check_extension(ext)
        report.lifting = [{"hypothesis": name, "holds": r.ok, "detail": r.sentence()}
                          for name, r in lifting]
    label_sets = classes.label_sets()
    feasible: list[tuple[int, ...] | None] = []
    for labels in label_sets:
        why = None if generic else _feasible(ext, n, labels)
        if why is not None:
            report.skipped.append({"labels": list(labels or ()), "reason": why})
        else:
            feasible.append(labels)
    if not generic and classes.symbolic:
        report.undefined_assignments = _undefined_count(ext, n)
    units = []
    for bname in backends:
        _backend(bname)
        for st in [*steps, final]:
            st.backends[bname] = BackendStep(bname)
        for labels in feasible:
            for k in [*range(K + 1), "final"]:
                units.append((bname, labels, k, bname == backends[0], with_t1, mode,
                              crosscheck))
    from ..progress import bar

    with bar(len(units), f"proving {ext.program.name}", "unit") as advance:
        if executor == "dask":
            results = _run_dask(ctx, units, scheduler, recipe)
            advance(len(units))
        elif jobs > 1 or (budget_s is not None and "algebra" in backends):
            results = _run_forked(ctx, units, jobs, budget_s, advance)
        else:
            results = []
            for u in units:
                results.append(_run_unit(ctx, *u))
                advance(1, f"{u[0]} step {u[2]}")
    for res in results:
        st = final if res.k == "final" else steps[int(res.k)]
        bs = st.backends[res.bname]
        bs.seconds += res.build_seconds
        for v in res.verdicts:
            bs.add(v)
        report.verdicts.extend(res.verdicts)
        ctx.index.extend(res.index)
        if res.k != "final":
            moved[int(res.k)] |= res.moved
            moved_known[int(res.k)] = moved_known[int(res.k)] or res.moved_computed
        if res.crosscheck:
            report.crosschecks.append({"backend": res.bname, "step": res.k,
                                       "labels": None if res.labels is None
                                       else list(res.labels), **res.crosscheck})
        if log:
            log(f"  [{res.bname}] labels {res.labels}: step {res.k}: "
                f"{bs.proved}/{bs.obligations} proved so far")
    for st in [*steps, final]:
        for bs in st.backends.values():
            bs.finish()
    for k, st in enumerate(steps):
        names = sorted({b for b, _ in moved[k]}, key=list(ext.shapes).index)
        st.moved = names
        st.moved_entries = len(moved[k])
        st.predicted_moved_entries = len(moved[k])
        st.moved_known = moved_known[k]
    report.steps = steps
    report.final = final
    all_statuses = [st.status for st in [*steps, final]]
    if all(x == "verified" for x in all_statuses):
        report.status = "verified"
    else:
        report.status = next(x for x in ("refuted", "error", "unknown") if x in all_statuses)
    _finish_scope(report, ext, with_t1)
    if ctx.smtlib_dir is not None and ctx.index:
        (ctx.smtlib_dir / "index.json").write_text(json.dumps(ctx.index, indent=1) + "\n")
    report.seconds = round(time.perf_counter() - t_start, 3)
    report.message = _message(report)
    return report


def _undefined_count(ext: Extension, n: int) -> int:
    """How many class assignments of ``n`` samples the algorithm is undefined on."""
    c = ext.net.c
    if c**n > 256:
        return -1
    return sum(_feasible(ext, n, labels) is not None
               for labels in itertools.product(range(c), repeat=n))


def _finish_scope(report: ProofReport, ext: Extension, with_t1: bool) -> None:
    """The scope text, the assumptions, the checkers; downgrade an incomplete scope."""
    checkers: dict[str, list[str]] = {}
    for v in report.verdicts:
        if v.status == "proved":
            names = v.extra.get("checkers") or (
                ["z3 (unsat)"] if v.backend == "smt" else [v.backend])
            have = checkers.setdefault(v.backend, list(names))
            if have != list(names):  # the checkers every proved obligation agreed on
                checkers[v.backend] = [c for c in have if c in names]
    report.checkers = checkers
    entries = {"identical_canonical_forms": 0, "collected": 0, "expanded": 0, "sympy": 0}
    rechecked = 0
    for v in report.verdicts:
        if v.backend == "algebra" and v.status == "proved" and "entries" in v.extra:
            for k in entries:
                entries[k] += v.extra["entries"].get(k, 0)
            rechecked += v.extra.get("rechecked_entries", 0)
    if any(entries.values()):
        report.second_checker = {
            "checker": RECHECKER, "entries_rechecked": rechecked, **entries,
            "text": (f"{RECHECKER} re-decided every entry whose two sides have different "
                     f"canonical DAG forms ({rechecked} entries: {entries['collected']} equal "
                     f"after collecting like products, {entries['expanded']} by the DAG normal "
                     f"form, {entries['sympy']} by the sympy path); the other "
                     f"{entries['identical_canonical_forms']} entries are one interned node on "
                     "both sides (an identity by construction, not re-expanded; the semantics "
                     "cross-check evaluates them against the exact backend)")}
    assumptions = [
        "labels are one-hot vectors (each y is one of the c unit vectors)",
        "the derivative conventions of the graph at kinks: step(0) = 0, relu'(0) = 0, "
        "sat'(0) = sat'(1) = 0 (the gates' arguments are kept off the kinks by the flat-gates "
        "lemma; the base network's relu kinks follow the convention GD and the program share)",
        "the reciprocal unit is total: recip(0) = 0",
        "no fact about any register content is assumed: earlier registers are free symbols "
        "(the proof holds for all their real values)",
    ]
    if report.scope == "generic":
        lift_ok = all(h["holds"] for h in report.lifting)
        report.scope_text = ("for every data set of every size (lemma lifting: identities in "
                             "one generic sample (x, y) lifted by linearity of the mean)")
        if not lift_ok:
            report.status = "unknown" if report.status == "verified" else report.status
            bad = next(h for h in report.lifting if not h["holds"])
            report.scope_text = ("only for data sets of one sample: the lifting lemma's "
                                 f"hypothesis fails ({bad['detail']})")
        assumptions.append("T1 (program = independent reference algorithm) is outside this "
                           "scope: it is checked by verify (exact) and by --mode fixed")
    else:
        total = len(report.skipped) + len(
            {tuple(v.labels) if v.labels is not None else None for v in report.verdicts})
        report.scope_text = f"for every data set of n = {report.n} samples"
        if report.skipped:
            done = total - len(report.skipped)
            reason = report.skipped[0]["reason"]
            report.scope_text += (f", for {done} of {total} label assignments "
                                  f"({len(report.skipped)} skipped: {reason})")
            if report.status == "verified":
                report.status = "partial"
        if report.undefined_assignments:
            cnt = report.undefined_assignments
            what = "some" if cnt < 0 else str(cnt)
            report.scope_text += (f"; the algorithm is undefined on {what} of the class "
                                  "assignments, where the proof covers the compiled (totalised) "
                                  "program only")
            if report.status == "verified":
                report.status = "partial"
    if report.status == "verified" and not report.verdicts:
        report.status = "unknown"
    report.assumptions = assumptions


class _ProgramValues:
    """The interpreter's registers on the symbolic data, computed once, on demand (the
    budget is the unit's: it runs in its own process when one is set)."""

    def __init__(self, ext: Extension, data: SymbolicData, backend: Backend) -> None:
        self.ext, self.data, self.backend = ext, data, backend
        self.values: dict[str, Any] | None = None
        self.forms: dict[Any, list[Obligation]] = {}

    def get(self) -> dict[str, Any]:
        if self.values is None:
            self.values = run_program(self.ext.program, self.data.x, self.data.y, self.backend)
        return self.values


def _prove_reference(ctx: _Context, bname: str, backend: Backend, data: SymbolicData,
                     lazy: _ProgramValues,
                     data_form: Callable[[Obligation], Obligation | None]) -> list[Verdict]:
    """T1 on one backend (registers as data expressions)."""
    obs = build_reference(ctx.ext, backend, data, ctx.algorithm or "", ctx.options,
                          program_values=lazy.get())
    return ctx.prove_algebra(obs) if bname == "algebra" else ctx.prove_smt(obs, data_form)


def _message(report: ProofReport) -> str:
    total = len(report.verdicts)
    if not total:
        return (f"{report.status}: nothing was proved ({report.scope_text}); every label "
                "choice was skipped")
    proved = sum(v.status == "proved" for v in report.verdicts)
    if report.status in ("verified", "partial"):
        agreed = "; ".join(f"{b}: {' + '.join(c)}" for b, c in report.checkers.items())
        return (f"{report.status} {report.scope_text} (d={report.d}): {proved} obligations "
                f"proved ({agreed}); {report.K} GD steps reproduce "
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
           f"{where}{extra} (scope asked: {report.scope_text})"


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
        sr = StepReport(s.step, s.status, s.written, s.moved, s.moved_entries,
                        s.predicted_moved_entries, s.seconds, mismatch, sorted(set(wrong)))
        # prove lists what the prediction moves; where the step is proved GD moves the same
        sr.moved_set = ("not computed (the unit did not finish)" if not s.moved_known
                        else "predicted (GD moves the same: step proved)"
                        if s.status == "verified" else "predicted (GD differs or unproved)")
        steps.append(sr)
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
        # "partial" (proved where the algorithm is defined) is not "verified" for the scope
        # asked: the certificate's status vocabulary calls it unknown, scope.status says why
        "unknown" if report.status == "partial" else report.status, report.algorithm,
        report.network,
        (f"symbolic generic sample, d={report.d}, c={report.c}: {report.scope_text}"
         if report.scope == "generic" else
         f"symbolic n={report.n}, d={report.d}, c={report.c}; classes {report.classes}"),
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
    out["scope"] = {
        "mode": report.scope, "status": report.status, "complete": report.status == "verified",
        "text": report.scope_text, "assumptions": report.assumptions,
        "lifting": report.lifting, "checkers_agreed": report.checkers,
        "semantics_crosscheck": report.crosschecks, "executor": report.executor,
        "jobs": report.jobs, "second_checker": report.second_checker,
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
