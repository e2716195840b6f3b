"""A catalogue of seeded faults: each one breaks one stage on purpose, and names the check
that must catch it (issue 11, item 4).

A fault is a context manager that monkeypatches one function (a *seam*) of a stage: the
compiler's construction rules (``extension.compiler``: ``gate_constants``, ``gate_argument``,
``head_step`` ...), the derivative rules (``graph.autodiff._vjp``), the evaluator
(``graph.evaluate.Evaluator``), the tracer and scheduler (``program.tracer``), the checker
(``verify.steps``, ``verify.properties``, ``verify.kinks``, ``verify.oracle``) and the provers
(``proofs``). No fault code lives inside the stages. ``compile_extension(fault=name)``
builds an extension under a compiler-stage fault (``extension.compiler.ALL_FAULTS``).

Each entry has a *detector*: the run that must catch it. For a construction, AD, evaluator or
tracer fault it is ``check_exact`` on a small instance, and the fault is caught by the check
named in ``expected`` (``Report.first_failure``: ``"step 0 clock.z1"``, ``"T5"``, ``"moved
set"``, ``"kink margin"``, ``"oracle"`` ...). A fault in the checker or a prover cannot be
seen on a correct instance; its detector is a *negative control* (a known-bad input whose
refutation by a named check is pinned), and it is caught when that control no longer comes
out as pinned. Entries marked ``equivalent`` are equivalent mutants: no input the toolkit
produces can tell them apart from the correct code (documented, and tested to stay silent).

Public: :data:`CATALOGUE`, :func:`inject`, :func:`run_fault`, :func:`run_catalogue`,
:func:`describe_catalogue`, :data:`CONTROLS` / :func:`run_control` (the negative controls).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from unittest import mock

import numpy as np

from ..graph import core as g

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Fault:
    """One seeded fault: where it is, what it does, which check must catch it."""

    name: str
    stage: str  # compiler | pipeline | ad | evaluator | tracer | checker | prover
    description: str
    expected: str  # the label of the check that must catch it ("equivalent" for none)
    patch: Callable[[], contextlib.AbstractContextManager[Any]]
    detector: Callable[[], str]  # runs the check(s); returns the label that caught it, or ""
    equivalent: bool = False


@dataclass
class FaultResult:
    """What running one fault gave: ``ok`` when ``caught_by`` is the expected check."""

    name: str
    caught_by: str
    expected: str
    ok: bool
    detail: str = ""


# ----------------------------------------------------------------------- instances


def _worked_job() -> Any:
    from ..pipeline import prepare

    return prepare("worked", "linear-nobias", "tiny")


def _check(job: Any, ext: Any = None, **kw: Any) -> Any:
    from .steps import check_exact

    kw.setdefault("references", {"numpy reference": job.reference_weights()})
    return check_exact(ext or job.extension, job.data.x, job.data.y, held_out=job.held_out,
                       dataset=job.data.name, **kw)


def _label(report: Any) -> str:
    if report.status == "verified":
        return ""
    return report.first_failure or report.status


def _verify_worked(**kw: Any) -> str:
    return _label(_check(_worked_job(), **kw))


def _verify_worked_ce() -> str:
    from ..pipeline import prepare

    return _label(_check(prepare("worked", "linear-nobias", "tiny", loss="ce"), oracle="off"))


# --------------------------------------------------------------------- patch helpers


@contextlib.contextmanager
def _patches(*targets: tuple[Any, str, Any]) -> Iterator[None]:
    """Replace ``getattr(obj, name)`` by ``value`` for each target; fail loudly if absent."""
    with contextlib.ExitStack() as stack:
        for obj, name, value in targets:
            if not hasattr(obj, name):
                raise AttributeError(f"fault target {getattr(obj, '__name__', obj)}.{name} "
                                     "does not exist (the stage was refactored: update the "
                                     "fault catalogue)")
            stack.enter_context(mock.patch.object(obj, name, value))
        yield


def _compiler() -> Any:
    from ..extension import compiler

    return compiler


def _autodiff() -> Any:
    from ..graph import autodiff

    return autodiff


def _evaluate_mod() -> Any:
    from ..graph import evaluate

    return evaluate


def _vjp_wrapper(change: Callable[..., Any]) -> contextlib.AbstractContextManager[Any]:
    """Patch ``autodiff._vjp`` with ``change(orig, node, adj, relevant, per_sample)``."""
    ad = _autodiff()
    orig = ad._vjp

    def vjp(node: Any, adj: Any, relevant: Any, per_sample: bool) -> Any:
        return change(orig, node, adj, relevant, per_sample)

    return _patches((ad, "_vjp", vjp))


# ------------------------------------------------------------------ compiler faults


def _gate_constants(a: Any, b: Any, final: tuple[Any, Any] | None = None, only: int | None = None
                    ) -> Callable[[], Any]:
    def patch() -> Any:
        c = _compiler()
        orig = c.gate_constants

        def consts(k: int | None) -> tuple[Fraction, Fraction]:
            if k is None:
                return tuple(Fraction(v) for v in final) if final else orig(k)
            if only is not None and k != only:
                return orig(k)
            return Fraction(a), Fraction(b)

        return _patches((c, "gate_constants", consts))

    return patch


def _p_gate_on_kinks() -> Any:
    c = _compiler()
    return _patches((c, "GATE_A", Fraction(1)), (c, "GATE_B", Fraction(0)),
                    (c, "GATE_A_FINAL", Fraction(1)), (c, "GATE_B_FINAL", Fraction(0)))


def _p_unsaturated_gate() -> Any:
    return _patches((_compiler(), "gate_unit", lambda arg: arg))


def _p_ungated_coefficient() -> Any:
    c = _compiler()
    orig = c.aux_head

    def head(gate_node: Any, cn: Any, inner: Any, kind: str) -> Any:
        if kind == "output":
            return g.add(cn, g.mul(gate_node, inner))
        return orig(gate_node, cn, inner, kind)

    return _patches((c, "aux_head", head))


def _p_register_nonzero() -> Any:
    def init(block: str, name: str, position: int) -> int:
        return 1 if block == "register" and position == 0 else 0

    return _patches((_compiler(), "initial_value", init))


def _p_w_nonzero() -> Any:
    def init(block: str, name: str, position: int) -> int:
        return 1 if block == "base" else 0

    return _patches((_compiler(), "initial_value", init))


def _p_gate_never_closes() -> Any:
    def arg(a: Any, b: Any, z: list[Any], k: int) -> Any:
        return g.add(g.mul(a, z[k]), b)  # z_{k+1} forgotten: open from step k on

    return _patches((_compiler(), "gate_argument", arg))


def _p_head_early() -> Any:
    def step(ins: Any) -> int:
        return max(ins.step - 1, 0) if ins.kind == "output" else ins.step

    return _patches((_compiler(), "head_step", step))


def _p_head_constant_half() -> Any:
    return _patches((_compiler(), "head_constant", lambda eta: -1 / (2 * eta)))


def _p_read_scale_double() -> Any:
    return _patches((_compiler(), "read_scale", lambda eta: 2 / eta))


def _p_ce_uncompensated() -> Any:
    return _patches((_compiler(), "cross_entropy_program", lambda program: program))


def _p_clock_e_two() -> Any:
    return _patches((_compiler(), "CLOCK_E", Fraction(2)))


def _p_fixed_gate_coefficient() -> Any:
    c = _compiler()

    def arg(a: Any, b: Any, z: list[Any], k: int) -> Any:
        return g.add(g.scale(g.sub(z[k], z[k + 1]), 4), b)  # a = 4 fixed by hand

    return _patches((c, "gate_argument", arg), (c, "trainable_factors", lambda outs, _np, *_: outs))


def _p_program_constant_fixed() -> Any:
    c = _compiler()

    def coefficient(new_param: Any, name: str, shape: Any, value: Any, const_node: Any) -> Any:
        return const_node

    return _patches((c, "coefficient", coefficient), (c, "make_trainable", lambda o, n, *_: {}))


# --------------------------------------------------------------- pipeline (T6) faults


def _build_clean(ds: Any) -> Any:
    """The data-independent build: ``worked`` on ``linear-nobias`` (the data is not used)."""
    from ..networks.mlp import parse_network
    from ..pipeline import compile_algorithm

    return compile_algorithm("worked", parse_network("linear-nobias", ds.d, ds.c))


def _build_eta_from_data(ds: Any) -> Any:
    from ..extension.compiler import compile_extension

    ext = _build_clean(ds)
    return compile_extension(ext.net, ext.program, eta=Fraction(1, 4 + ds.n % 2))


def _build_theta0_from_data(ds: Any) -> Any:
    ext = _build_clean(ds)
    first = next(n for n in ext.shapes if n.startswith("reg."))
    ext.theta0[first] = ext.theta0[first] + Fraction(ds.n % 2)
    return ext


_BUILD: dict[str, Callable[[Any], Any]] = {"build": _build_clean}


def _p_build(fn: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: _patches((_this(), "_BUILD", {"build": fn}))


def _this() -> Any:
    import sys

    return sys.modules[__name__]


def _detect_t6() -> str:
    from ..zoo.datasets import load_dataset
    from .properties import check_data_independence

    build = _BUILD["build"]
    a, b = load_dataset("iris", 6), load_dataset("iris", 9)
    t6 = check_data_independence(build, a, b)
    ext = build(a)
    from ..zoo.algorithms import ALGORITHMS
    from .steps import check_exact

    ref = ALGORITHMS["worked"].reference(ext.net, a.x, a.y)
    rep = check_exact(ext, a.x, a.y, references={"numpy reference": ref},
                      data_independence=t6, oracle="off")
    return _label(rep)


# --------------------------------------------------------------------- AD faults


def _p_ad_dropped_product_term() -> Any:
    def change(orig: Any, node: Any, adj: Any, relevant: Any, per_sample: bool) -> Any:
        out = orig(node, adj, relevant, per_sample)
        if node.op != "vdot" or per_sample:
            return out
        a, b = node.inputs
        if a is not b and not (a.batched or b.batched):
            out = [(i, c) for i, c in out if i is not b]
        return out

    return _vjp_wrapper(change)


def _p_ad_wrong_transpose() -> Any:
    ad = _autodiff()

    def change(orig: Any, node: Any, adj: Any, relevant: Any, per_sample: bool) -> Any:
        out = orig(node, adj, relevant, per_sample)
        if node.op != "matmul" or per_sample:
            return out
        a, b = node.inputs
        if len(a.shape) == 2 and len(b.shape) == 2 and b.shape[0] == b.shape[1]:
            bad = ad._unbroadcast(g.matmul(adj, b), a, per_sample)  # b where b^T belongs
            out = [(i, bad if i is a else c) for i, c in out]
        return out

    return _vjp_wrapper(change)


def _p_ad_kink_derivative() -> Any:
    def change(orig: Any, node: Any, adj: Any, relevant: Any, per_sample: bool) -> Any:
        if node.op != "sat" or per_sample:
            return orig(node, adj, relevant, per_sample)
        z = node.inputs[0]
        one = g.const(1)
        closed = g.mul(g.sub(one, g.unary("step", g.neg(z))),
                       g.sub(one, g.unary("step", g.sub(z, one))))  # 1 on [0, 1], kinks too
        return [(z, g.mul(adj, closed))]

    return _vjp_wrapper(change)


def _p_ad_mean_dropped() -> Any:
    def change(orig: Any, node: Any, adj: Any, relevant: Any, per_sample: bool) -> Any:
        if node.op == "bmean":
            (inp,) = node.inputs
            ones = g.add(g.scale(g.inv_n(), 0), g.const(1))  # per-sample 1 instead of 1/n
            return [(inp, g.mul(ones, adj))]
        return orig(node, adj, relevant, per_sample)

    return _vjp_wrapper(change)


def _p_ad_scale_dropped() -> Any:
    def change(orig: Any, node: Any, adj: Any, relevant: Any, per_sample: bool) -> Any:
        if node.op == "scale" and not per_sample:
            return [(node.inputs[0], adj)]
        return orig(node, adj, relevant, per_sample)

    return _vjp_wrapper(change)


# -------------------------------------------------------------- evaluator faults


def _p_eval_unsound_pruning() -> Any:
    """Sums classified with the products: "a sum with a zero term is zero" (unsound).

    The zero rules of the scheduled evaluation (``graph.plan._Flat``) are patched.
    """
    from ..graph import plan

    wrong = (*plan._ANNIHILATE_BINARY, "add", "sub")
    # a fresh plan cache: plans built under the fault are dropped when it is lifted
    return _patches((plan, "_ANNIHILATE_BINARY", wrong), (plan, "_PLANS", type(plan._PLANS)()))


def _p_eval_chunk_not_accumulated() -> Any:
    ev = _evaluate_mod()

    def accumulate(acc: dict[int, Any], r: Any, part: Any) -> None:
        acc[r.id] = part  # the last chunk overwrites the others

    return _patches((ev.Evaluator, "_accumulate", staticmethod(accumulate)))


def _p_eval_stale_cache() -> Any:
    """The evaluator's cache of unbatched values reused although a parameter changed."""
    ev = _evaluate_mod()

    def unchanged(snap: Any, value: Any) -> bool:
        return snap is not None  # ignores what the parameter holds now

    return _patches((ev, "_unchanged", unchanged))


# ---------------------------------------------------------------- tracer faults


def _one_minus(data: Any, net: Any) -> Any:
    """A tiny traced algorithm that computes ``1 - mean_i y_i x_i^T`` (uses ``const - traced``)."""
    from ..program import lang

    m = data.mean(lambda x, y: lang.outer(y, x), name="M")
    return np.ones(m.shape, dtype=int) - m  # an array on the left: Traced.__rsub__


def _detect_rsub() -> str:
    from ..extension.compiler import compile_extension
    from ..networks.mlp import parse_network
    from ..program.tracer import trace
    from ..zoo.datasets import load_dataset
    from .steps import check_exact

    ds = load_dataset("tiny")
    net = parse_network("linear-nobias", ds.d, ds.c)
    ext = compile_extension(net, trace(_one_minus, ds.d, ds.c, name="one_minus", net=net))
    # the NumPy reference, written separately: 1 - mean_i y_i x_i^T, row-major
    ref = np.array([[Fraction(1)] * ds.d] * ds.c, dtype=object)
    for xi, yi in zip(ds.x, ds.y, strict=True):
        ref = ref - np.outer(yi, xi) * Fraction(1, ds.n)
    rep = check_exact(ext, ds.x, ds.y, references={"numpy reference": ref.reshape(-1)},
                      oracle="off")
    return _label(rep)


def _p_tracer_rsub_swapped() -> Any:
    from ..program import tracer

    def rsub(self: Any, o: Any) -> Any:
        return self._wrap(g.sub(self.node, self._lift(o)))  # operands swapped

    return _patches((tracer.Traced, "__rsub__", rsub))


def _p_scheduler_serial() -> Any:
    from ..program import tracer

    def serial(program: Any) -> Any:
        for i, ins in enumerate(program.instructions):
            ins.step = i  # one instruction per step: K = length, not depth
        return program

    return _patches((tracer, "schedule", serial))


# ----------------------------------------------------- checker and prover faults


def _p_checker_reference_ignored() -> Any:
    from . import steps

    return _patches((steps, "_reference_equal", lambda a, r: True))


def _p_checker_trajectory_ignored() -> Any:
    from . import steps

    return _patches((steps, "_first_mismatch", lambda *a, **k: None))


def _p_checker_moved_set_ignored() -> Any:
    from . import properties

    return _patches((properties, "compare_moved", lambda *a, **k: None))


def _p_checker_kinks_ignored() -> Any:
    from . import kinks

    def always(ext: Any, theta: Any, x: Any, step: int) -> Any:
        return kinks.KinkStep(step, "verified", 0, "unchecked", 0, 0)

    return _patches((kinks, "check_kinks", always))


def _p_checker_oracle_ignored() -> Any:
    from . import oracle

    return _patches((oracle, "compare", lambda *a, **k: None))


def _p_checker_t5_trusts_bookkeeping() -> Any:
    from . import properties

    def trusting(ext: Any) -> Any:
        return properties.Property("T5", "verified", "every block in ext.shapes is trainable")

    return _patches((properties, "check_trainable", trusting))


def _p_prover_unknown_as_proved() -> Any:
    from ..proofs import _result

    orig = _result.combine_status

    def combine(checks: list[Any]) -> str:
        return _result.PROVED if checks and all(
            c.status in (_result.PROVED, _result.UNKNOWN) for c in checks) else orig(checks)

    return _patches((_result, "combine_status", combine))


def _p_prover_sat_as_proved() -> Any:
    from ..proofs import _result, flat_gates

    orig = flat_gates.z3_prove

    def z3_prove(name: str, claim: Any, timeout_ms: int = 20000) -> Any:
        res = orig(name, claim, timeout_ms)
        return _result.Check(name, _result.PROVED, "unsat of the negation (z3)") if (
            res.status == _result.FAILED) else res

    return _patches((flat_gates, "z3_prove", z3_prove))


def _p_prover_ignores_compiler() -> Any:
    from ..proofs import _tools

    orig = _tools.compiler_constants

    def fixed() -> dict[str, object]:
        return {**orig(), "a": 4, "b": -2, "a_f": 4, "b_f": -2}  # hard-coded, not the compiler's

    return _patches((_tools, "compiler_constants", fixed))


# ---------------------------------------------------------------- negative controls

#: the label each negative control must produce (pinned)
CONTROLS: dict[str, str] = {
    "wrong reference": "T1",
    "gate_margin": "step 0 clock.z0",
    "trajectory hidden, gate_margin": "moved set",
    "gate_on_kinks": "kink margin",
    "dropped product term": "oracle",
    "fixed gate coefficient": "T5",
    "unknown lemma check": "unknown",
    "flat_gates a=1, b=-1/2": "failed",
    "flat_gates on the compiler's kink constants": "failed",
}


def run_control(name: str) -> str:
    """Run one negative control; its label (compare with ``CONTROLS[name]``)."""
    if name == "wrong reference":
        job = _worked_job()
        return _label(_check(job, references={"numpy reference": job.reference_weights() + 1},
                             oracle="off"))
    if name == "gate_margin":
        with inject("gate_margin"):
            return _verify_worked(oracle="off")
    if name == "trajectory hidden, gate_margin":
        with inject("gate_margin"), _p_checker_trajectory_ignored():
            return _verify_worked(oracle="off")
    if name == "gate_on_kinks":
        with inject("gate_on_kinks"):
            return _verify_worked(oracle="torch")
    if name == "dropped product term":
        with inject("ad_dropped_product_term"):
            return _verify_worked(oracle="torch")
    if name == "fixed gate coefficient":
        with inject("fixed_gate_coefficient"):
            return _verify_worked(oracle="off")
    if name == "unknown lemma check":
        from ..proofs import _result

        res = _result.make_result("control", "s", "m",
                                  [_result.Check("c", _result.UNKNOWN, "z3 unknown")])
        return res.status.lower()
    if name == "flat_gates a=1, b=-1/2":
        from ..proofs import flat_gates

        res = flat_gates.prove(a=1, b=Fraction(-1, 2))
        return _named_check(res, "thermometer: g_j's argument")
    if name == "flat_gates on the compiler's kink constants":
        from ..proofs import flat_gates

        with _p_gate_on_kinks():
            res = flat_gates.prove()
        return _named_check(res, "thermometer: g_j's argument")
    raise KeyError(f"no negative control {name!r}")


def _named_check(res: Any, prefix: str) -> str:
    check = next(c for c in res.checks if c.name.startswith(prefix))
    return check.status.lower()


def _control_detector(control: str) -> Callable[[], str]:
    def detect() -> str:
        got = run_control(control)
        return "" if got == CONTROLS[control] else f"negative control {control}"

    return detect


# ------------------------------------------------------------------ the catalogue


def _c(name: str, stage: str, description: str, expected: str,
       patch: Callable[[], Any], detector: Callable[[], str] | None = None,
       equivalent: bool = False) -> Fault:
    return Fault(name, stage, description, expected, patch,
                 detector or (lambda: _verify_worked(oracle="off")), equivalent)


CATALOGUE: list[Fault] = [
    # compiler
    _c("register_nonzero", "compiler", "the first register starts at 1, not 0 (lemma read "
       "needs R = 0): GD adds the read to the stale 1", "step 0 reg.R1", _p_register_nonzero),
    _c("gate_margin", "compiler", "gate 0 gets a = 1, b = -1/2: on-argument 1/2, inside the "
       "linear part of sat, so the gate is half open and moves its own flags",
       "step 0 clock.z0", _gate_constants(1, Fraction(-1, 2), only=0)),
    _c("unsaturated_gate", "compiler", "gates without their saturated unit: the final gate "
       "G = 4 z_K - 2 is -2, not 0, so f(x; w) is live from step 0 and w moves",
       "step 0 w", _p_unsaturated_gate),
    _c("ungated_coefficient", "compiler", "the output head's constant outside its gate: "
       "c moves at step 0, one step too early", "step 0 head.w.c", _p_ungated_coefficient),
    _c("gate_on_kinks", "compiler", "every gate a = 1, b = 0: values still 0/1, but every "
       "argument sits exactly on a kink of sat (0 or 1); only the convention sat'(0) = "
       "sat'(1) = 0 makes GD look right", "kink margin", _p_gate_on_kinks),
    _c("gate_never_closes", "compiler", "g_k = sat(a z_k + b) forgets z_{k+1}: the gate "
       "stays open after its step, so the clock head of step 0 fires again at step 1",
       "step 1 clock.z1", _p_gate_never_closes),
    _c("head_one_step_early", "compiler", "the output head opens one step before its "
       "instruction's ASAP step (and its bookkeeping says so)", "T4", _p_head_early),
    _c("w_nonzero", "compiler", "w initialised to 1, not 0: the output head writes onto the "
       "stale weights at step K-1 (lemma write needs S = 0)", "step 1 w", _p_w_nonzero),
    _c("head_constant_half", "compiler", "head constants c = -1/(2 eta): every write at half "
       "strength; the clock advances to 1/2", "step 0 clock.z1", _p_head_constant_half),
    _c("read_scale_double", "compiler", "labelled-read scale s = 2/eta: the labelled register "
       "receives twice the mean", "step 0 reg.R2", _p_read_scale_double),
    _c("ce_uncompensated", "compiler", "cross-entropy without the 1/c compensation: the "
       "labelled register receives mean phi(y - 1/c), the program reads it as mean phi(y)",
       "step 0 reg.R2", _p_ce_uncompensated, _verify_worked_ce),
    _c("clock_e_two", "compiler", "clock heads with e = 2: z_{k+1}' = -eta c e = 2",
       "step 0 clock.z1", _p_clock_e_two),
    _c("fixed_gate_coefficient", "compiler", "the gate coefficient a = 4 applied as a fixed "
       "factor (not a trainable parameter); GD is unchanged because a never moves",
       "T5", _p_fixed_gate_coefficient),
    _c("program_constant_fixed", "compiler", "the program's constants (2a, a^2 of the worked "
       "example) left as fixed constants in F", "T5", _p_program_constant_fixed),
    _c("final_gate_open_early", "compiler", "final gate b_f = +2: G = 1 from step 0, so the "
       "base network is live before w is written", "step 0 w",
       _gate_constants(4, -2, final=(4, 2))),
    # pipeline: T6
    _c("eta_from_data", "pipeline", "the step size chosen from the data "
       "(eta = 1/(4 + n mod 2)): every run verifies, but F's eta depends on D", "T6",
       _p_build(_build_eta_from_data), _detect_t6),
    _c("theta0_from_data", "pipeline", "theta_0 of the first register set from the data "
       "(n mod 2)", "T6", _p_build(_build_theta0_from_data), _detect_t6),
    # AD
    _c("ad_dropped_product_term", "ad", "the inner product's rule drops the adjoint of its "
       "second operand when both are parameters: d<S, Phi(u)>/du is lost; invisible at "
       "theta_hat_k (there S = 0 or the gate is 0), seen by the oracle at a perturbed "
       "neighbour", "oracle",
       _p_ad_dropped_product_term, lambda: _verify_worked(oracle="torch")),
    _c("ad_wrong_transpose", "ad", "matrix-product rule uses B where B^T belongs (square "
       "B): d<w, R2 R1>/dR2 is wrong, multiplied by w = 0 at theta_hat", "oracle",
       _p_ad_wrong_transpose, lambda: _verify_worked(oracle="torch")),
    _c("ad_kink_derivative", "ad", "sat' = 1 on the closed interval [0, 1] (kinks included). "
       "EQUIVALENT MUTANT: with the flat-gates margin no gate argument is ever on a kink, so "
       "no state the construction visits can tell the two rules apart (the kink-margin check "
       "is what guarantees this)", "equivalent", _p_ad_kink_derivative,
       lambda: _verify_worked(oracle="both"), equivalent=True),
    _c("ad_mean_dropped", "ad", "the mean's rule forgets 1/n: reads receive the sum, not the "
       "mean", "step 0 reg.R1", _p_ad_mean_dropped),
    _c("ad_scale_dropped", "ad", "a fixed factor's rule forgets the factor (the 1/2 of the "
       "squared loss): every gradient doubled", "step 0 clock.z1", _p_ad_scale_dropped),
    # evaluator
    _c("eval_unsound_pruning", "evaluator", "pruning treats a sum with a zero term as zero "
       "(c + <S, Phi> with S = 0 pruned)", "step 0 clock.z1", _p_eval_unsound_pruning,
       lambda: _verify_worked(oracle="off", prune=True)),
    _c("eval_chunk_not_accumulated", "evaluator", "a chunk's partial sums overwrite the "
       "earlier chunks' instead of adding to them", "step 0 reg.R1",
       _p_eval_chunk_not_accumulated, lambda: _verify_worked(oracle="off", chunk=1)),
    _c("eval_stale_pruning_cache", "evaluator", "the values (and so the pruning decisions) of "
       "an earlier evaluation reused without testing the parameters they depend on",
       "step 1 w",
       _p_eval_stale_cache, lambda: _verify_worked(oracle="off", prune=True)),
    # tracer
    _c("tracer_rsub_swapped", "tracer", "const - traced builds traced - const: the program "
       "computes mean y x^T - 1; GD reproduces the wrong program exactly, only the "
       "independent reference sees it", "T1", _p_tracer_rsub_swapped, _detect_rsub),
    _c("scheduler_serial", "tracer", "the scheduler puts one instruction per step: K = 3 "
       "instructions, not the depth 2; every step still verifies", "T4", _p_scheduler_serial),
    # checker
    _c("checker_reference_ignored", "checker", "T1 ignores the independent reference",
       "negative control wrong reference", _p_checker_reference_ignored,
       _control_detector("wrong reference")),
    _c("checker_trajectory_ignored", "checker", "the parameter-by-parameter comparison with "
       "theta_hat is skipped (the prediction replaced by what GD did)",
       "negative control gate_margin", _p_checker_trajectory_ignored,
       _control_detector("gate_margin")),
    _c("checker_moved_set_ignored", "checker", "the moved set compared with itself, not "
       "with the program's prediction", "negative control trajectory hidden, gate_margin",
       _p_checker_moved_set_ignored, _control_detector("trajectory hidden, gate_margin")),
    _c("checker_kinks_ignored", "checker", "the kink-margin check always passes",
       "negative control gate_on_kinks", _p_checker_kinks_ignored,
       _control_detector("gate_on_kinks")),
    _c("checker_oracle_ignored", "checker", "the oracle's disagreements are dropped",
       "negative control dropped product term", _p_checker_oracle_ignored,
       _control_detector("dropped product term")),
    _c("checker_t5_trusts_bookkeeping", "checker", "T5 read from the compiler's parameter "
       "list instead of a walk of F's graph", "negative control fixed gate coefficient",
       _p_checker_t5_trusts_bookkeeping, _control_detector("fixed gate coefficient")),
    # provers
    _c("prover_unknown_as_proved", "prover", "a lemma whose checks are proved or unknown "
       "counts as PROVED", "negative control unknown lemma check", _p_prover_unknown_as_proved,
       _control_detector("unknown lemma check")),
    _c("prover_sat_as_proved", "prover", "z3's sat (a counterexample) counted as proved in "
       "the flat-gates lemma", "negative control flat_gates a=1, b=-1/2",
       _p_prover_sat_as_proved, _control_detector("flat_gates a=1, b=-1/2")),
    _c("prover_ignores_compiler", "prover", "the lemma scripts use their own default "
       "constants, not the compiler's", "negative control flat_gates on the compiler's kink "
       "constants", _p_prover_ignores_compiler,
       _control_detector("flat_gates on the compiler's kink constants")),
]

_BY_NAME = {f.name: f for f in CATALOGUE}


def get(name: str) -> Fault:
    if name not in _BY_NAME:
        raise KeyError(f"no fault {name!r}; known: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


@contextlib.contextmanager
def inject(name: str) -> Iterator[Fault]:
    """Apply fault ``name`` for the duration of the ``with`` block."""
    fault = get(name)
    with fault.patch():
        yield fault


def run_fault(name: str) -> FaultResult:
    """Run fault ``name`` under its detector; ``ok`` iff the expected check caught it (for an
    equivalent mutant: iff nothing did)."""
    fault = get(name)
    with fault.patch():
        try:
            caught = fault.detector()
        except Exception as exc:  # noqa: BLE001 - a crash is a result, never a catch
            return FaultResult(name, f"error: {type(exc).__name__}: {exc}", fault.expected,
                               False, "the detector crashed")
    if fault.equivalent:
        return FaultResult(name, caught or "equivalent", fault.expected, caught == "",
                           "equivalent mutant: no check may fire")
    return FaultResult(name, caught or "(not caught)", fault.expected, caught == fault.expected)


def run_catalogue(names: list[str] | None = None) -> list[FaultResult]:
    """Run every fault (or ``names``) in catalogue order."""
    return [run_fault(f.name) for f in CATALOGUE if names is None or f.name in names]


def describe_catalogue() -> list[dict[str, Any]]:
    """One row per fault (name, stage, description, expected check, equivalent) for listings."""
    return [{"name": f.name, "stage": f.stage, "description": f.description,
             "caught_by": f.expected, "equivalent": f.equivalent} for f in CATALOGUE]
