"""The public API: what a notebook, a proof-checking script, the tests and the CLI call.

::

    import symbolic_universality as su

    result = su.verify("my_algorithms.py:momentum", "linear", "iris", samples=30,
                       options={"T": 4})
    result.status            # "verified" | "refuted" | "unknown" | "inconclusive" | "error"
    print(result)            # the per-step table, every check, one verdict line
    result.certificate()     # the JSON certificate (a dict)
    result                   # in Jupyter: an HTML table

The algorithm is a built-in name (``gd``, ``perceptron``, ``ncm``, ``worked``), a Python
function ``algorithm(data, [net], **options)``, ``path/to/file.py:function`` or
``package.module:function``; the network a spec string (``linear``, ``mlp:4-5-3:relu``)
or an :class:`~.networks.mlp.MLP`; the data a built-in name, a ``.csv``/``.npz``/``.npy``
file or a pair ``(x, labels)`` of arrays.

Dual execution (issue 9): the user's function is traced into the program that is
compiled, *and* executed concretely on the data (``program.concrete``); T1 compares GD's
final weights with that concrete run (and, for built-ins, with the independent NumPy
reference; with ``reference=`` also with the user's own), so no tracer defect can make
"verified" mean another algorithm.

One overall verdict combines every backend asked for: ``verified`` only if each one
verified; otherwise ``refuted`` (naming the backend and its first failed check) or
``unknown`` (naming the backend and the reason).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import UsageError
from .pipeline import (
    Job,
    build,
    check_loss,
    exact_references,
    recompile,
    resolve_algorithm,
    resolve_data,
)

__all__ = [
    "BACKENDS", "Compiled", "ProveResult", "Result", "RunResult", "UpdateRules", "VerifyResult",
    "combine",
    "compile", "parse_option", "prove", "rules", "run", "verify",
]

#: backends of :func:`verify`
BACKENDS = ("exact", "numeric", "torch", "algebra", "smt")
FLOAT_CONSTANTS = ("refuse", "exact")


# ------------------------------------------------------------------------- options


def parse_option(text: str) -> tuple[str, Any]:
    """``name=value`` with the value read exactly: an int, else a rational (``1/10``, ``0.1``)."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier() or not value:
        raise UsageError(f"cannot read option {text!r}; write it as name=value, e.g. lr=1/10")
    try:
        return name, int(value)
    except ValueError:
        pass
    try:
        v = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"option {name}={value!r} is not an exact number; write an int or a "
                         "rational such as 1/10 or 0.1") from None
    return name, v


def resolve_jobs(jobs: int | str) -> int:
    """``jobs`` as a number of worker processes: ``"auto"`` is every core this process may
    use (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    import os

    if isinstance(jobs, str) and jobs.strip().isdigit():
        jobs = int(jobs)
    if isinstance(jobs, str):
        if jobs.strip().lower() != "auto":
            raise UsageError(f"jobs {jobs!r}: give a whole number at least 1, or auto")
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            return max(1, os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs {jobs!r}: give a whole number at least 1, or auto")
    return jobs


def _options(options: Mapping[str, Any] | Iterable[str] | None,
             float_constants: str = "refuse") -> dict[str, Any]:
    """Options as a dict: ``name=value`` strings parsed exactly, floats by the float policy."""
    if options is None:
        return {}
    out: dict[str, Any] = {}
    if isinstance(options, Mapping):
        for k, v in options.items():
            if isinstance(v, str):
                v = parse_option(f"{k}={v}")[1]
            elif isinstance(v, float):
                if float_constants != "exact":
                    raise UsageError(
                        f"option {k}={v!r} is a Python float in an exact run; give it exactly "
                        f"(Fraction, an int, or the string '{Fraction(repr(v))}') or pass "
                        "float_constants='exact' to read it as its shortest decimal")
                v = Fraction(repr(v))
            out[str(k)] = v
        return out
    if isinstance(options, str):
        options = [options]
    for item in options:
        k, v = parse_option(item)
        if k in out:
            raise UsageError(f"option {k!r} is given twice; give each option once")
        out[k] = v
    return out


def _check_float_constants(mode: str) -> str:
    if mode not in FLOAT_CONSTANTS:
        raise UsageError(f"float_constants={mode!r}; choose 'refuse' (the default: a float in an "
                         "exact run is an error) or 'exact' (read it as its shortest decimal)")
    return mode


# ------------------------------------------------------------------------- verdicts


_ORDER = ("refuted", "error", "unknown", "inconclusive", "skipped")


def combine(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """One verdict for several backends: ``(status, sentence)``.

    ``verified`` only if every backend verified; else the worst status in the order
    refuted > error > unknown > inconclusive > skipped, and the sentence names the backend
    and its first failed check or reason.
    """
    if not results:
        return "unknown", "no backend ran"
    bad = [(b, r) for b, r in results.items() if r.get("status") != "verified"]
    if not bad:
        return "verified", "every backend verified: " + ", ".join(results)
    bad.sort(key=lambda br: _ORDER.index(br[1].get("status"))
             if br[1].get("status") in _ORDER else len(_ORDER))
    backend, r = bad[0]
    status = str(r.get("status") or "unknown")
    if status not in ("refuted", "error", "unknown", "inconclusive"):
        status = "unknown"
    why = _reason(r)
    others = [b for b, _ in bad[1:]]
    more = f" (also not verified: {', '.join(others)})" if others else ""
    return status, f"{backend} {status}: {why}{more}"


def _reason(r: Mapping[str, Any]) -> str:
    for key in ("first_failure", "mismatch"):
        v = r.get(key)
        if isinstance(v, Mapping) and v:
            if "step" in v and "parameter" in v:
                idx = v.get("index") or []
                return (f"step {v['step']}: {v['parameter']}{list(idx) if idx else ''} "
                        f"expected {v.get('expected')}, got {v.get('got')}")
            return "; ".join(f"{k} {val}" for k, val in v.items() if val not in (None, ""))
    for key in ("reason", "message"):
        v = r.get(key)
        if v:
            return str(v)
    failures = r.get("failures")
    if failures:
        return str(failures[0])
    return "no reason given"


# -------------------------------------------------------------------------- results


@dataclass
class Result:
    """What every API call returns: a status, a certificate, a text summary, HTML."""

    kind: str
    status: str
    message: str
    summary_text: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "verified"

    @property
    def verdict_line(self) -> str:
        """The last line of every summary: one overall verdict and its reason."""
        return f"verdict: {self.status.upper()} ({self.message})"

    def certificate(self) -> dict[str, Any]:
        """The JSON certificate (a fresh dict; ``json.dumps`` it or use :meth:`write`)."""
        return json.loads(json.dumps(self.data, default=str))

    def write(self, path: str) -> str:
        """Write the certificate atomically to ``path`` (see :mod:`.files`)."""
        from .files import write_json

        return str(write_json(path, self.certificate()))

    def summary(self) -> str:
        text = self.summary_text.rstrip()
        return (text + "\n\n" if text else "") + self.verdict_line

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        colour = {"verified": "#1a7f37", "refuted": "#cf222e"}.get(self.status, "#9a6700")
        body = html.escape(self.summary_text.rstrip())
        return (f"<div><p><b>{html.escape(self.kind)}</b>: <b style='color:{colour}'>"
                f"{html.escape(self.status.upper())}</b> {html.escape(self.message)}</p>"
                f"<pre style='font-size:11px'>{body}</pre></div>")


@dataclass
class VerifyResult(Result):
    """:func:`verify`: the exact report (when asked), per-backend results, the job."""

    report: Any = None
    backend_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    job: Job | None = None

    def _repr_html_(self) -> str:
        rows = []
        for s in (self.report.steps if self.report is not None else []):
            mm = "" if s.mismatch is None else s.mismatch.sentence()
            rows.append(f"<tr><td>{s.step}</td><td>{html.escape(', '.join(s.written))}</td>"
                        f"<td>{s.moved_entries}</td><td>{html.escape(s.status)} "
                        f"{html.escape(mm)}</td></tr>")
        backends = "".join(
            f"<tr><td>{html.escape(b)}</td><td>{html.escape(str(r.get('status')))}</td>"
            f"<td>{html.escape(_reason(r) if r.get('status') != 'verified' else '')}</td></tr>"
            for b, r in self.backend_results.items())
        props = "".join(
            f"<tr><td>{html.escape(p.name)}</td><td>{html.escape(p.status)}</td>"
            f"<td>{html.escape(p.detail)}</td></tr>"
            for p in (getattr(self.report, "properties", None) or []))
        weights = ", ".join(getattr(self.report, "final_weights", None) or [])
        colour = {"verified": "#1a7f37", "refuted": "#cf222e"}.get(self.status, "#9a6700")
        return (
            f"<div><p><b>verify</b> {html.escape(self.data.get('algorithm', ''))} on "
            f"{html.escape(self.data.get('network', ''))}, data "
            f"{html.escape(self.data.get('dataset', ''))}: <b style='color:{colour}'>"
            f"{self.status.upper()}</b> {html.escape(self.message)}</p>"
            "<table><tr><th>step</th><th>written</th><th>moved</th><th>verdict</th></tr>"
            f"{''.join(rows)}</table>"
            "<table><tr><th>check</th><th>status</th><th>detail</th></tr>"
            f"{props}</table>"
            "<table><tr><th>backend</th><th>status</th><th>first failure / reason</th></tr>"
            f"{backends}</table>"
            f"<p>A(D) = [{html.escape(weights)}]</p></div>")


@dataclass
class ProveResult(Result):
    """:func:`prove`: the proof report."""

    report: Any = None


@dataclass
class RunResult(Result):
    """:func:`run`: the numeric report."""

    report: Any = None


@dataclass
class Compiled:
    """:func:`compile`: the program, the extension and the job they came from."""

    job: Job

    @property
    def program(self) -> Any:
        return self.job.extension.program

    @property
    def extension(self) -> Any:
        return self.job.extension

    def summary(self) -> str:
        """The typed listing of the program, then of the extension (``symuni show``)."""
        return f"{self.program}\n\n{self.extension}"

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.program._repr_html_() + self.extension._repr_html_()


@dataclass
class UpdateRules:
    """:func:`rules`: the exact GD update rules; ``str()`` is text, Jupyter shows LaTeX."""

    text: str
    latex: str

    def __str__(self) -> str:
        return self.text

    def _repr_latex_(self) -> str:
        import re

        blocks = re.findall(r"\\begin\{align\*\}.*?\\end\{align\*\}", self.latex, flags=re.S)
        return "\n".join(f"$${b}$$" for b in blocks)


# ------------------------------------------------------------------------ the calls


def _job(algorithm: Any, network: Any, data: Any, *, samples: int | None,
         label: str | int | None, options: Any, reference: Any, float_constants: str,
         fault: str | None = None, loss: str = "mse") -> Job:
    spec = resolve_algorithm(algorithm, reference)
    ds = resolve_data(data, samples, label=label)
    fc = _check_float_constants(float_constants)
    return build(spec, network, ds, options=_options(options, fc), samples=samples, fault=fault,
                 float_constants=fc, loss=check_loss(loss))


def compile(algorithm: str | Callable[..., Any], network: Any = "linear", data: Any = "tiny",
            *, samples: int | None = None, label: str | int | None = None,
            options: Mapping[str, Any] | Iterable[str] | None = None,
            float_constants: str = "refuse", loss: str = "mse") -> Compiled:
    """Trace, schedule and compile ``algorithm`` for ``network`` (data gives only d and c).

    The extension does not depend on the data (T6); ``data`` fixes the input dimension and
    the classes of the base network. ``loss``: ``"mse"`` or ``"ce"`` (softmax cross-entropy;
    lemma *cross-entropy compensation*).
    """
    return Compiled(_job(algorithm, network, data, samples=samples, label=label,
                         options=options, reference=None, float_constants=float_constants,
                         loss=loss))


def verify(algorithm: str | Callable[..., Any], network: Any = "linear", data: Any = "tiny", *,
           samples: int | None = None, label: str | int | None = None,
           options: Mapping[str, Any] | Iterable[str] | None = None,
           backends: Sequence[str] | str = ("exact",), reference: Any = None,
           float_constants: str = "refuse", prune: bool = True, chunk: int | None = None,
           timeout_ms: int = 10_000, fault: str | None = None, device: str | None = None,
           oracle: str = "auto", log: Callable[[str], None] | None = None,
           loss: str = "mse") -> VerifyResult:
    """Compile ``algorithm`` and check GD on its extension with every backend asked for.

    ``exact``: true GD in rationals, every parameter at every step, T1 against the concrete
    run of the user's own function and every other reference (lemma: *trajectory theorem*);
    ``numeric``: float64 GD at scale; ``torch``: the PyTorch export trained by
    ``torch.optim.SGD``; ``algebra``/``smt``: proofs for symbolic data (sympy, z3).
    ``oracle``: the independent gradient oracle of the exact backend (``verify/oracle.py``):
    ``auto`` (torch on extensions of up to a few thousand parameters, at every step up to
    12 steps and at a spread of 12 beyond; sympy on tiny ones), ``torch``, ``sympy``,
    ``both`` (every step) or ``off``.
    ``log`` receives the backends' text as they finish (the CLI passes ``print``).
    ``loss``: the extension's main loss, ``"mse"`` (squared) or ``"ce"`` (softmax
    cross-entropy: exact up to step ``K``, where ``softmax(0) = 1/c``; T3 in float64).
    """
    from .verify.certificate import certificate, minimal_report

    names = _backend_names(backends)
    job = _job(algorithm, network, data, samples=samples, label=label, options=options,
               reference=reference, float_constants=float_constants, fault=fault, loss=loss)
    report = None
    results: dict[str, dict[str, Any]] = {}
    texts: list[str] = [_header(job)]
    for backend in names:
        if backend == "exact":
            from .pipeline import verify_exact

            exact_references(job)
            report = verify_exact(job, prune=prune, oracle=oracle)
            text = exact_text(report)
            results["exact"] = {"status": report.status, "message": report.message,
                                "mismatch": _mismatch_dict(report)}
        else:
            out: list[str] = []
            results[backend] = _run_backend(backend, job, chunk=chunk, timeout_ms=timeout_ms,
                                            device=device, log=out.append)
            text = "\n".join(out)
        texts.append(text)
        if log is not None:
            log(text)
    status, message = combine(results)
    if report is None:
        report = minimal_report(job, status, names)
    report.backends = list(names)
    extra = {b: r for b, r in results.items() if b != "exact"}
    cert = certificate(report, extra or None)
    cert["kind"] = "verify"
    cert["status"] = status
    cert["verdict"] = message
    cert["algorithm_source"] = job.algorithm_spec.source
    cert["options"] = {k: str(v) for k, v in job.options.items()}
    cert["references_compared"] = sorted(job.references)
    cert["loss"] = job.extension.loss_kind
    if job.extension.program.__dict__.get("float_constants"):
        cert["float_constants"] = [[repr(f), str(q)] for f, q in
                                   job.extension.program.float_constants]
    return VerifyResult("verify", status, message, "\n\n".join(t for t in texts if t), cert,
                        report, results, job)


def _backend_names(backends: Sequence[str] | str) -> list[str]:
    names = [b.strip() for b in (backends.split(",") if isinstance(backends, str) else backends)]
    names = [b for b in names if b]
    if not names:
        raise UsageError("no backend given; choose from " + ", ".join(BACKENDS))
    for b in names:
        if b not in BACKENDS:
            raise UsageError(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
    if len(set(names)) != len(names):
        raise UsageError("a backend is named twice; name each backend once")
    return names


def _run_backend(backend: str, job: Job, *, chunk: int | None, timeout_ms: int,
                 device: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    if backend == "numeric":
        from .numeric.instances import numeric_backend

        return numeric_backend(job, chunk=chunk, log=log)
    if backend == "torch":
        try:
            import torch  # noqa: F401
        except ModuleNotFoundError:
            log("torch backend: skipped, PyTorch is not installed")
            return {"status": "skipped", "reason": "PyTorch is not installed (pip install "
                    "'symbolic_universality[torch]')"}
        from .numeric.instances import torch_backend

        try:
            return torch_backend(job, device=device, log=log)
        except RuntimeError as exc:  # e.g. a device torch cannot use here
            if device is None:
                raise
            raise UsageError(f"--device {device!r} cannot be used: {exc}") from None
    from .symbolic.frontend import symbolic_backend

    return symbolic_backend(job, backend, timeout_ms=timeout_ms, log=log)


def _mismatch_dict(report: Any) -> dict[str, Any] | None:
    m = getattr(report, "mismatch", None)
    if m is None:
        return None
    return {"step": m.step, "parameter": m.parameter, "index": m.index,
            "expected": m.expected, "got": m.got}


def _header(job: Job) -> str:
    ext, data = job.extension, job.data
    src = "" if job.algorithm_spec.builtin else f" (from {job.algorithm_spec.source})"
    lines = [f"algorithm {job.algorithm}{src} on {job.net.describe()}, data {data.name} "
             f"(n = {data.n}, d = {data.d}, c = {data.c})",
             f"extension: {ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
             f"eta = {ext.eta}"]
    conv = getattr(ext.program, "float_constants", None)
    if conv:
        lines.append("float constants read exactly: " + ", ".join(
            f"{f!r} -> {q}" for f, q in conv))
    return "\n".join(lines)


def exact_text(report: Any) -> str:
    """The exact checker's per-step table and checks, as text."""
    from .report.text import short, table

    rows = []
    for s in report.steps:
        verdict = s.status if s.mismatch is None else f"{s.status}: {s.mismatch.sentence()}"
        rows.append([str(s.step), short(s.written, 4), f"{s.moved_entries} in {short(s.moved)}",
                     verdict])
    out = [table(rows, ["step", "written", "parameters moved", "verdict"]), ""]
    checks = [("T1  w_K = A(D) (interpreter)", report.final_weights_equal)]
    for name, ok in (getattr(report, "reference_results", None) or {}).items():
        checks.append((f"T1  w_K = A(D) by the {name}", ok))
    if not getattr(report, "reference_results", None):
        checks.append(("    A(D) = independent reference", report.reference_equal))
    checks += [
        ("T2  F_main = f(.; A(D)) on train + held-out inputs", report.forward_output_equal),
        ("T2  F_aux = 0", report.aux_zero),
        ("T3  step K moves only w, as plain GD on f" + (
            " (float64: cross-entropy)" if any(getattr(st, "t3_float", "")
                                               for st in getattr(report, "steps", []))
            else ""), report.inert_after_K),
    ]
    out_props = []
    for prop in getattr(report, "properties", None) or []:
        name = prop.get("name") if isinstance(prop, Mapping) else getattr(prop, "name", "")
        st = prop.get("status") if isinstance(prop, Mapping) else getattr(prop, "status", "")
        detail = prop.get("detail") if isinstance(prop, Mapping) else getattr(prop, "detail", "")
        if name in ("T1", "T2", "T3"):
            continue
        mark = {"verified": "yes", "refuted": "NO"}.get(st, st)
        out_props.append(f"  {name:<11} {mark:<8} {detail}")
    for label, ok in checks:
        mark = "n/a" if ok is None else ("yes" if ok else "NO")
        out.append(f"  {label:<52} {mark}")
    if out_props:
        out += ["", *out_props]
    out += ["", f"exact: {report.status.upper()} ({report.message}; {report.seconds} s)"]
    return "\n".join(out)


def prove(algorithm: str | Callable[..., Any], network: Any = "linear", *, n: int = 1,
          d: int | None = None, c: int | None = None,
          options: Mapping[str, Any] | Iterable[str] | None = None,
          backends: Sequence[str] = ("algebra", "smt"), classes: str | None = None,
          mode: str = "generic", registers: str = "free", timeout_ms: int = 10_000,
          budget_s: float | None = 600.0, jobs: int | str = 1, smtlib_dir: str | None = None,
          fault: str | None = None, eta: Fraction | None = None, reference: bool = True,
          float_constants: str = "refuse", executor: str = "local", scheduler: Any = None,
          recheck: bool = True, loss: str = "mse", cvc5: bool = False) -> ProveResult:
    """Prove every GD step of the extension (sympy and/or z3).

    ``mode="generic"`` (the default; lemma *lifting*): one generic sample, the identities
    lifted to every data set of every size; ``mode="fixed"``: every data set of ``n``
    samples (label choices ``classes``: all, symbolic or one class per sample). The result
    states its scope; ``verified`` only when every obligation was proved by every backend.
    ``jobs``: worker processes, or ``"auto"`` (one per core this process may use; the
    CLI's default). ``cvc5``: every SMT obligation z3 proves is re-decided by cvc5 (both
    must answer unsat).
    """
    from .pipeline import compile_algorithm
    from .symbolic.data import SymbolicSpec, parse_classes
    from .symbolic.frontend import network_for, proof_text
    from .symbolic.prover import certificate, prove_extension

    if mode not in ("generic", "fixed"):
        raise UsageError(f"mode {mode!r}; choose generic (every data set of every size) or fixed")
    generic = mode == "generic"
    jobs = resolve_jobs(jobs)
    spec = resolve_algorithm(algorithm)
    opts = _options(options, float_constants)
    sizes = SymbolicSpec(n=1 if generic else n, d=d, c=c)
    net = network if not isinstance(network, str) else network_for(network, sizes)
    ext = compile_algorithm(spec, net, float_constants=_check_float_constants(float_constants),
                            loss=check_loss(loss), **opts)
    if fault is not None:
        ext = recompile(ext, fault=fault)
    cls = parse_classes("symbolic" if generic else (classes or "all"), sizes.n, net.c)
    recipe = {"algorithm": spec.name if spec.builtin else spec.source + ":" + spec.name,
              "network": network if isinstance(network, str) else net.describe(),
              "d": net.d, "c": net.c, "options": opts, "fault": fault, "loss": loss}
    report = prove_extension(
        ext, n=sizes.n, classes=cls, backends=list(backends), algorithm=spec.name,
        options=opts, mode=registers, eta=eta, timeout_ms=timeout_ms, smtlib_dir=smtlib_dir,
        jobs=max(1, jobs), reference=reference and spec.builtin, budget_s=budget_s,
        fault=fault, scope=mode, executor=executor, scheduler=scheduler, recipe=recipe,
        recheck=recheck, cvc5=cvc5)
    props = _static_properties(spec, net, opts, ext, fault, float_constants)
    cert = certificate(report)
    cert["loss"] = ext.loss_kind
    status = report.status
    message = report.message
    if not generic and cls.mode == "fixed":  # one labelling only: say so, never "every"
        scope = (f"for every data set of n = {sizes.n} samples labelled {cls.describe()} "
                 "only (not every labelling: use --classes all)")
        message = message.replace(f"for every data set of n = {sizes.n} samples", scope)
        if hasattr(report, "scope_text"):
            report.scope_text = scope
        if isinstance(cert.get("scope"), dict):
            cert["scope"]["complete"] = False
            cert["scope"]["text"] = scope
        if status == "verified" and scope not in message:
            message = f"{message} ({scope})"
    bad = next((p for p in props if p.status == "refuted"), None)
    if bad is not None:
        status, message = "refuted", f"refuted: {bad.name}: {bad.detail}"
    if status == "partial":  # proved for part of the data only: not a proof of the claim
        status = "unknown"
        message = f"partial, not for all data: {message}"
    if report.skipped and status == "verified":
        status = "unknown"
        message = (f"proved for {len(cls.assignments) - len(report.skipped)} of "
                   f"{len(cls.assignments)} label assignments ({len(report.skipped)} skipped: "
                   f"{report.skipped[0]['reason']}), not for all data")
    cert["kind"] = "prove"
    cert["status"] = status
    cert["verdict"] = message
    conv = getattr(ext.program, "float_constants", None)
    if conv:
        cert["float_constants"] = [[repr(f), str(q)] for f, q in conv]
    cert["properties"] = [{"name": p.name, "status": p.status, "detail": p.detail}
                          for p in props] + list(cert.get("properties") or [])
    if generic:
        head = (f"algorithm {spec.name} on {net.describe()}, generic mode: one generic sample "
                f"(x in Q^{net.d}, y one-hot of {net.c} classes), lifted to every data set of "
                "every size")
    else:
        head = (f"algorithm {spec.name} on {net.describe()}, symbolic data n = {sizes.n}, "
                f"d = {net.d}, c = {net.c}, labels: {cls.describe()}")
    head += (f"\nextension: {ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
             f"eta = {ext.eta}" + (f" (GD run with eta = {eta})" if eta else "")
             + (f", fault {fault}" if fault else "")
             + (f", loss {ext.loss_kind}" if ext.loss_kind != "mse" else "")
             + ("\nfloat constants read exactly: " + ", ".join(f"{f!r} -> {q}" for f, q in conv)
                if conv else "")
             + f"\nbackends: {', '.join(backends)}; registers {registers}; z3 time limit "
             f"{timeout_ms} ms per obligation; jobs {jobs}"
             + (f"; dask at {scheduler}" if executor == "dask" else ""))
    props_text = "\n".join(f"  {p.name:<11} {'yes' if p.status == 'verified' else p.status:<8} "
                           f"{p.detail}" for p in props)
    body, _, last = proof_text(report).rpartition("\n\n")
    return ProveResult("prove", status, message,
                       f"{head}\n\n{body}\n{props_text}\n\n{last}", cert, report)


def _static_properties(spec: Any, net: Any, options: dict[str, Any], ext: Any,
                       fault: str | None, float_constants: str) -> list[Any]:
    """T4 (K = the program's depth), T5 (every coefficient of F trainable, by a graph walk)
    and T6 (the extension built from two different data sets is the same) of ``ext``."""
    from .extension.crossentropy import check_compensation
    from .pipeline import build, other_data
    from .verify.properties import (
        Property,
        check_data_independence,
        check_depth,
        check_trainable,
    )

    d_first = resolve_data(([[(i + j) % 3 for j in range(net.d)] for i in range(net.c)],
                            list(range(net.c))), name="T6 data")

    def rebuild(ds: Any) -> Any:
        return build(spec, net, ds, options=options, fault=fault,
                     float_constants=float_constants, loss=ext.loss_kind).extension

    props = [check_depth(ext), check_trainable(ext),
             check_data_independence(rebuild, d_first, other_data(d_first))]
    if ext.loss_kind == "ce" and ext.source_program is not None:
        # the program GD runs is the compensated one: prove it computes the traced one
        status, detail = check_compensation(ext.source_program, ext.program)
        props.append(Property("CE comp.", status, detail))
    return props


def rules(algorithm: str | Callable[..., Any], network: Any = "linear", *, n: int = 3,
          d: int | None = None, c: int | None = None,
          options: Mapping[str, Any] | Iterable[str] | None = None, classes: str = "symbolic",
          registers: str = "free", step: int | None = None,
          budget_s: float | None = 60.0, loss: str = "mse") -> UpdateRules:
    """The exact GD update rule of each step for symbolic data (text and LaTeX)."""
    from .budget import BudgetExceeded, run_with_budget
    from .pipeline import compile_algorithm
    from .symbolic.data import SymbolicSpec, parse_classes
    from .symbolic.frontend import network_for
    from .symbolic.rules import format_rules, update_rules

    spec = resolve_algorithm(algorithm)
    sizes = SymbolicSpec(n=n, d=d, c=c)
    net = network if not isinstance(network, str) else network_for(network, sizes)
    ext = compile_algorithm(spec, net, loss=check_loss(loss), **_options(options))
    cls = parse_classes(classes, sizes.n, net.c)
    if cls.mode == "all":
        raise UsageError("rules need one label choice: --classes symbolic or e.g. 0,1,0")
    labels = None if cls.symbolic else cls.assignments[0]
    if step is not None and not 0 <= step <= ext.K:
        raise UsageError(f"--step {step} is outside the extension's steps 0..{ext.K}")
    try:
        # registers as data expressions: unbounded sympy work, budgeted in a child process
        found = run_with_budget(update_rules, ext, n=sizes.n, labels=labels, mode=registers,
                                steps=None if step is None else [step],
                                seconds=budget_s if registers == "data" else None)
    except BudgetExceeded:
        raise UsageError(f"the rules with registers as data expressions exceed the "
                         f"{budget_s:g} s budget; use --registers free") from None
    header = (f"GD update rules: algorithm {spec.name}, {net.describe()}, K = {ext.K}, "
              f"eta = {ext.eta}\n"
              f"data: n = {sizes.n} samples x_i_j (sample i, feature j), labels "
              f"{'y_i_k (one-hot)' if labels is None else cls.describe()}; "
              f"registers {registers}"
              + (" (r_<register>_<index>: contents written at earlier steps)"
                 if registers == "free" else "")
              + "\nHeaviside(z, 0) is the step with H(0) = 0; recip(0) = 0")
    return UpdateRules(format_rules(found, "text", header), format_rules(found, "latex", header))


def run(algorithm: str | Callable[..., Any], network: Any = "linear", data: Any = "tiny", *,
        samples: int | None = None, label: str | int | None = None,
        options: Mapping[str, Any] | Iterable[str] | None = None,
        synthetic: str | None = None, extra: int = 1, chunk: int | None = None,
        prune: bool = True, tolerance: float | None = None, threads: int | None = 1,
        float_constants: str = "refuse", loss: str = "mse") -> RunResult:
    """Float64 GD on the extension at scale, checked against the float references
    (``loss="ce"``: softmax cross-entropy as the main loss)."""
    from .numeric.check import DEFAULT_TOLERANCE
    from .numeric.instances import job_instance, numeric_text, run_check, synthetic_instance
    from .numeric.run import DEFAULT_CHUNK

    fc = _check_float_constants(float_constants)
    opts = _options(options, fc)
    if synthetic:
        inst = synthetic_instance(synthetic, resolve_algorithm(algorithm), str(network), opts,
                                  threads=threads, float_constants=fc, loss=check_loss(loss))
    else:
        inst = job_instance(_job(algorithm, network, data, samples=samples, label=label,
                                 options=opts, reference=None, float_constants=fc, loss=loss),
                            threads=threads)
    ext = inst.extension
    report = run_check(inst, extra=extra, chunk=chunk or DEFAULT_CHUNK, prune=prune,
                       tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                       threads=threads)
    head = (f"algorithm {ext.program.name} on {ext.net.describe()}, data {inst.name} "
            f"(n = {inst.x.shape[0]}, d = {inst.x.shape[1]}, c = {inst.y.shape[1]})\n"
            f"extension: {ext.n_parameters} trainable parameters, K = {ext.K} GD steps, "
            f"eta = {ext.eta}; float64, chunks of {chunk or DEFAULT_CHUNK} samples, "
            f"{'pruned' if prune else 'no pruning'}")
    from . import __version__
    from .schemas import SCHEMA_ID

    data_out = {"schema": SCHEMA_ID, "kind": "run", **report.as_dict(),
                "tool": {"name": "symbolic_universality", "version": __version__}}
    return RunResult("run", report.status, report.message,
                     head + "\n\n" + numeric_text(report), data_out, report)
