"""Machine-checked lemmas of the construction (docs/theory.md, design section 4).

Every lemma is a module of this package with ``prove(**hypotheses) -> LemmaResult``;
its keyword arguments default to the construction's values and can weaken one
hypothesis (a *negative control*, which must come out FAILED). ``LEMMAS`` lists them in
proof order; ``run_all`` runs them and returns the exit code (0 only if all PROVED).

Run ``python -m symbolic_universality.proofs`` (all) or ``python proofs/<name>.py`` (one).
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ._result import UNKNOWN, LemmaResult, format_result, print_result

__all__ = ["LEMMAS", "Lemma", "LemmaResult", "get", "hypotheses_for", "prove_all",
           "prove_for_extension", "run_all"]


@dataclass(frozen=True)
class Lemma:
    """A registered lemma: its module, its script and the code it licenses."""

    name: str
    licenses: str
    negative_control: dict[str, Any] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        """Dotted module path of the lemma."""
        return f"{__name__}.{self.name}"

    @property
    def script(self) -> str:
        """The thin script at the repository root that runs this lemma."""
        return f"proofs/{self.name}.py"

    @property
    def module(self) -> Any:
        """The lemma's module (imported lazily)."""
        return importlib.import_module(self.module_name)

    @property
    def statement(self) -> str:
        """The lemma's statement."""
        return str(self.module.STATEMENT)

    def prove(self, **hypotheses: Any) -> LemmaResult:
        """Run the lemma's proof (keyword arguments weaken hypotheses)."""
        return self.module.prove(**hypotheses)


_COMPILER = "symbolic_universality/extension/compiler.py"
LEMMAS: list[Lemma] = [
    Lemma("flat_gates", f"{_COMPILER} (gates, a = 4, b = -2)",
          {"a": 1, "b": -Fraction(1, 2)}),
    Lemma("isolation", f"{_COMPILER} (clock flags, one gate per step, final gate)",
          {"thermometer": False}),
    Lemma("write", f"{_COMPILER} (compute/output heads, c = -1/eta)", {"S0_zero": False}),
    Lemma("read", f"{_COMPILER} (read heads, 1/eta scale); symbolic_universality/graph/",
          {"others_gated_off": False}),
    Lemma("clock", f"{_COMPILER} (clock advance heads)", {"c": -3}),
    Lemma("persistence", f"{_COMPILER} (gated heads); symbolic_universality/verify/steps.py",
          {"gate": 1}),
    Lemma("trajectory",
          f"{_COMPILER} (theta_0, predicted trajectory); symbolic_universality/program/"
          "schedule.py; symbolic_universality/verify/steps.py",
          {"c": -3, "losses": ("squared",)}),
    Lemma("forward_output", f"{_COMPILER} (final gate, F_main)", {"at_step": "K-1"}),
    Lemma("inertness", f"{_COMPILER}; symbolic_universality/verify/steps.py",
          {"b_f": -4}),
    Lemma("one_hot", "symbolic_universality/program/tracer.py (one-hot expansion)",
          {"one_hot": False}),
    Lemma("order", "symbolic_universality/program/tracer.py (refusal of order-dependent A)",
          {"reduction": "online"}),
    Lemma("lifting", "symbolic_universality/symbolic/lifting.py, prover.py (prove --mode "
          "generic: every data set of every size)", {"reduction": "sum"}),
    Lemma("crossentropy", "symbolic_universality/extension/crossentropy.py (--loss ce: the "
          "1/c compensation)", {"coef": 1}),
]


def get(name: str) -> Lemma:
    """The registered lemma called ``name``."""
    for lemma in LEMMAS:
        if lemma.name == name:
            return lemma
    raise KeyError(f"no lemma {name!r}; known: {[m.name for m in LEMMAS]}")


def _safe_prove(lemma: Lemma, **hypotheses: Any) -> LemmaResult:
    t0 = time.perf_counter()
    try:
        return lemma.prove(**hypotheses)
    except Exception:  # noqa: BLE001 - a crashed proof is reported, never counted as proved
        return LemmaResult(
            name=lemma.name, statement="(not run)", method="(crashed)", status=UNKNOWN,
            details=traceback.format_exc(), seconds=time.perf_counter() - t0,
        )


#: which of an extension's constants each lemma takes (see :func:`hypotheses_for`)
_TAKES: dict[str, tuple[str, ...]] = {
    "flat_gates": ("a", "b", "a_f", "b_f"),
    "isolation": ("a", "b", "a_f", "b_f"),
    "write": ("eta",),
    "read": ("eta",),
    "clock": ("a", "b", "c", "e", "eta"),
    "persistence": ("eta",),
    "trajectory": ("a", "b", "a_f", "b_f", "c", "s", "eta"),
    "forward_output": ("a", "b", "a_f", "b_f", "eta"),
    "inertness": ("a", "b", "a_f", "b_f", "eta"),
    "one_hot": (),
    "order": (),
}


def hypotheses_for(ext: Any, gate: tuple[Any, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per lemma, the keyword arguments that make it a statement about the *built* extension
    ``ext``: its gate coefficients, head constants and ``eta`` read from its ``theta_0``
    (``extension.compiler.extension_constants``). Without it the lemmas take the compiler's
    module constants (and a symbolic ``eta``). ``gate``: the ``(a, b)`` of one step gate,
    for an extension whose gates differ (``compiler.gate_pairs``)."""
    from ..extension.compiler import extension_constants, gate_pairs

    if gate is None and len(gate_pairs(ext)) > 1:
        gate = gate_pairs(ext)[0]
    if gate is not None:
        import copy

        one = copy.copy(ext)
        one.theta0 = dict(ext.theta0)
        for k in range(ext.K):
            one.theta0[f"gate.g{k}.a"] = np.asarray(gate[0], dtype=object)
            one.theta0[f"gate.g{k}.b"] = np.asarray(gate[1], dtype=object)
        ext = one
    consts = extension_constants(ext)
    return {name: {k: consts[k] for k in keys if consts.get(k) is not None}
            for name, keys in _TAKES.items()}


def prove_for_extension(ext: Any, names: Iterable[str] | None = None) -> list[LemmaResult]:
    """Prove the lemmas (all, or ``names``) with the constants of the extension ``ext``.

    If the step gates do not share one ``(a, b)``, each lemma that takes them is proved for
    every distinct pair, and the first result that is not PROVED is reported (else the last).
    """
    from ..extension.compiler import gate_pairs

    pairs = gate_pairs(ext) or [None]
    wanted = None if names is None else {get(n).name for n in names}
    out = []
    for m in LEMMAS:
        if wanted is not None and m.name not in wanted:
            continue
        takes_gate = "a" in _TAKES.get(m.name, ())
        res = None
        for pair in pairs if takes_gate else pairs[:1]:
            res = _safe_prove(m, **hypotheses_for(ext, pair).get(m.name, {}))
            if not res.proved:
                break
        out.append(res)
    return out


def prove_all(names: Iterable[str] | None = None) -> list[LemmaResult]:
    """Prove the given lemmas (all by default), in registry order."""
    wanted = None if names is None else {get(n).name for n in names}
    return [_safe_prove(m) for m in LEMMAS if wanted is None or m.name in wanted]


def run_all(verbose: bool = True, names: Iterable[str] | None = None) -> int:
    """Prove and print every lemma (or ``names``); 0 only if every one is PROVED."""
    t0 = time.perf_counter()
    wanted = None if names is None else [get(n).name for n in names]
    from ..progress import bar

    results = []
    todo = [m for m in LEMMAS if wanted is None or m.name in wanted]
    with bar(len(todo), "lemmas", "lemma") as advance:
        for lemma in todo:
            res = _safe_prove(lemma)
            results.append(res)
            advance(1, f"{lemma.name}: {res.status}")
            if verbose:
                print_result(res)
                print(flush=True)
    width = max((len(r.name) for r in results), default=5)
    print("summary:")
    for r in results:
        print(f"  {r.name:<{width}}  {r.status:<8} {r.seconds:7.2f} s")
        if not verbose and not r.proved:
            print(format_result(r, verbose=True))
    ok = bool(results) and all(r.proved for r in results)
    total = time.perf_counter() - t0
    print(f"{sum(r.proved for r in results)}/{len(results)} lemmas PROVED in {total:.1f} s: "
          + ("ALL PROVED" if ok else "NOT ALL PROVED"), flush=True)
    return 0 if ok else 1
