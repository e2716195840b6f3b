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

from ._result import UNKNOWN, LemmaResult, format_result, print_result

__all__ = ["LEMMAS", "Lemma", "LemmaResult", "get", "prove_all", "run_all"]


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


def prove_all(names: Iterable[str] | None = None) -> list[LemmaResult]:
    """Prove the given lemmas (all by default), in registry order."""
    wanted = None if names is None else {get(n).name for n in names}
    return [_safe_prove(m) for m in LEMMAS if wanted is None or m.name in wanted]


def run_all(verbose: bool = True, names: Iterable[str] | None = None) -> int:
    """Prove and print every lemma (or ``names``); 0 only if every one is PROVED."""
    t0 = time.perf_counter()
    wanted = None if names is None else [get(n).name for n in names]
    results = []
    for lemma in LEMMAS:
        if wanted is not None and lemma.name not in wanted:
            continue
        res = _safe_prove(lemma)
        results.append(res)
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
