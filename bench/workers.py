"""The measured tasks of the benchmark; each runs in its own process (see ``run.py``).

Every task returns a JSON-able dict with ``seconds`` (the timed part), ``rss_start_mb``
(resident memory when the timed part starts) and ``peak_rss_mb`` (the process's peak).
"""

from __future__ import annotations

import resource
import time
from fractions import Fraction
from typing import Any

import numpy as np


def _rss_mb() -> float:
    """Current resident set size (Linux ``/proc/self/statm``), in MB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * resource.getpagesize() / 1e6
    except OSError:  # pragma: no cover - not Linux
        return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


# ----------------------------------------------------------------- bench instance


def instance(spec: dict[str, Any]) -> tuple[Any, np.ndarray, np.ndarray, dict[str, Any]]:
    """The float instance: synthetic blobs, the base MLP, gd's options, the extension."""
    from symbolic_universality.networks.mlp import MLP
    from symbolic_universality.pipeline import compile_algorithm
    from symbolic_universality.zoo.datasets import synthetic

    x, y, _ = synthetic(spec["n"], spec["d"], spec["c"], spec.get("seed", 0))
    net = MLP((spec["d"], spec["h"], spec["c"]), "relu")
    options = {"T": spec["T"], "lr": Fraction(spec["lr"])}
    ext = compile_algorithm("gd", net, **options)
    return ext, x, y, options


def numpy_extension(spec: dict[str, Any]) -> dict[str, Any]:
    """K float64 GD steps on the extension with the NumPy backend (chunked, pruned)."""
    from symbolic_universality.numeric.run import (
        DEFAULT_CHUNK,
        _compiled_gradient,
        initial_state,
        run_gd,
    )

    t0 = time.perf_counter()
    ext, x, y, _ = instance(spec)
    grads = ext.gradient_nodes()
    # once per extension, like the graph AD (not timed): theta_0 in float64 and the
    # graph analysis of the compiled gradient; every pattern of zeros is still compiled
    # inside the timed part, on first sight
    initial_state(ext)
    _compiled_gradient([grads[n] for n in ext.shapes if grads[n] is not None])
    setup = time.perf_counter() - t0
    rss = _rss_mb()
    c0, t0 = _cpu(), time.perf_counter()
    traj = run_gd(ext, x, y, ext.K, chunk=spec.get("chunk") or DEFAULT_CHUNK, keep=False,
                  threads=spec.get("threads") or None)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "setup_seconds": setup, "steps": ext.K,
            "step_seconds": traj.seconds, "w": traj.final["w"].tolist(),
            "rss_start_mb": rss, "peak_rss_mb": _peak_mb()}


def numpy_reference(spec: dict[str, Any]) -> dict[str, Any]:
    """The direct plain-NumPy run of the algorithm: ``references.reference_gd`` in float."""
    from symbolic_universality.networks.mlp import MLP
    from symbolic_universality.zoo import references as ref
    from symbolic_universality.zoo.datasets import synthetic

    x, y, _ = synthetic(spec["n"], spec["d"], spec["c"], spec.get("seed", 0))
    net = MLP((spec["d"], spec["h"], spec["c"]), "relu")
    rss = _rss_mb()
    c0, t0 = _cpu(), time.perf_counter()
    w = ref.reference_gd(list(net.sizes), "relu", x, y, T=spec["T"],
                         lr=float(Fraction(spec["lr"])), seed=0)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "w": w.tolist(), "rss_start_mb": rss,
            "peak_rss_mb": _peak_mb()}


def numpy_tuned(spec: dict[str, Any]) -> dict[str, Any]:
    """A hand-tuned plain-NumPy GD of the same MLP (for context only, not a goal).

    The same arithmetic as ``reference_gd``, with every weight gradient computed as
    ``(wide^T @ narrow)^T`` (the faster BLAS orientation, as the evaluator's ``bdot``).
    """
    from symbolic_universality.zoo import references as ref
    from symbolic_universality.zoo.datasets import synthetic

    x, y, _ = synthetic(spec["n"], spec["d"], spec["c"], spec.get("seed", 0))
    sizes = [spec["d"], spec["h"], spec["c"]]
    w = ref.initial_weights(sizes, seed=0).astype(np.float64)
    lr = float(Fraction(spec["lr"]))
    n = x.shape[0]
    rss = _rss_mb()
    c0, t0 = _cpu(), time.perf_counter()
    for _ in range(spec["T"]):
        (w1, b1), (w2, b2) = ref.unpack_weights(sizes, w)
        z1 = x @ w1.T + b1
        a1 = np.where(z1 > 0, z1, 0.0)
        d2 = (a1 @ w2.T + b2 - y) * (1.0 / n)
        g_w2 = (a1.T @ d2).T
        d1 = (d2 @ w2) * (z1 > 0)
        g_w1 = d1.T @ x
        grad = ref.pack_weights([(g_w1, d1.sum(axis=0)), (g_w2, d2.sum(axis=0))])
        w = w - lr * grad
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "w": w.tolist(), "rss_start_mb": rss,
            "peak_rss_mb": _peak_mb()}


def torch_extension(spec: dict[str, Any]) -> dict[str, Any]:
    """K steps of plain torch autograd + ``torch.optim.SGD`` on the unpruned exported module."""
    import torch

    from symbolic_universality.numeric.torch_export import export, train

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    ext, x, y, _ = instance(spec)
    model = export(ext, prune=False)
    rss = _rss_mb()
    t0 = time.perf_counter()
    step_seconds = train(model, x, y, ext.K, chunk=spec.get("torch_chunk"))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "steps": ext.K, "step_seconds": step_seconds,
            "w": model.state()["w"].tolist(), "rss_start_mb": rss,
            "peak_rss_mb": _peak_mb(), "torch_threads": torch.get_num_threads()}


# ------------------------------------------------------------- exact versus sympy


def exact_case(name: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """``worked`` (construction.md section 5) or ``gd-mlp223`` (gd T=2 on mlp:2-3-2:relu)."""
    from symbolic_universality.graph.core import to_fraction_array
    from symbolic_universality.networks.mlp import MLP
    from symbolic_universality.pipeline import compile_algorithm, prepare

    if name == "worked":
        job = prepare("worked", "linear-nobias", "tiny")
        return job.extension, job.data.x, job.data.y
    if name == "gd-mlp223":
        ext = compile_algorithm("gd", MLP((2, 3, 2), "relu"), T=2)
        x = to_fraction_array([[1, 2], [-1, Fraction(1, 2)], [3, -2]])
        y = to_fraction_array([[1, 0], [0, 1], [1, 0]])
        return ext, x, y
    raise ValueError(f"unknown exact case {name!r}")


def exact_backend(spec: dict[str, Any]) -> dict[str, Any]:
    """The toolkit: graph AD once, then K exact GD steps on rationals (pruned)."""
    from symbolic_universality.backends.scalars import EXACT
    from symbolic_universality.verify.steps import gd_step

    ext, x, y = exact_case(spec["case"])
    rss = _rss_mb()
    t0 = time.perf_counter()
    ext.gradient_nodes()
    theta = {k: v.copy() for k, v in ext.theta0.items()}
    for _ in range(ext.K):
        theta = gd_step(ext, theta, x, y, ext.eta, EXACT, prune=True)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "steps": ext.K, "parameters": ext.n_parameters,
            "state": {k: [str(v) for v in np.asarray(a).reshape(-1)] for k, a in theta.items()},
            "rss_start_mb": rss, "peak_rss_mb": _peak_mb()}


def sympy_naive(spec: dict[str, Any]) -> dict[str, Any]:
    """Naive symbolic differentiation of the flattened loss (``naive_sympy.naive_gd``)."""
    from naive_sympy import naive_gd

    ext, x, y = exact_case(spec["case"])
    rss = _rss_mb()
    limit = float(spec.get("timeout", 600))
    t0 = time.perf_counter()
    try:
        theta, parts = naive_gd(ext, x, y, ext.K, deadline=t0 + limit)
    except TimeoutError as exc:
        return {"seconds": time.perf_counter() - t0, "timed_out": str(exc), "steps": ext.K,
                "rss_start_mb": rss, "peak_rss_mb": _peak_mb()}
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "parts": parts, "steps": ext.K,
            "state": {k: [str(v) for v in np.asarray(a).reshape(-1)] for k, a in theta.items()},
            "rss_start_mb": rss, "peak_rss_mb": _peak_mb()}


# ------------------------------------------------ exact on the extension vs direct exact


def _exact_job(spec: dict[str, Any]) -> Any:
    from symbolic_universality.pipeline import prepare

    return prepare(spec["algorithm"], spec["network"], spec["dataset"], spec.get("samples"),
                   T=spec["T"])


def exact_direct(spec: dict[str, Any]) -> dict[str, Any]:
    """The algorithm run directly in exact rationals (``zoo.references``, Fractions)."""
    job = _exact_job(spec)
    rss = _rss_mb()
    t0 = time.perf_counter()
    w = job.reference_weights()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "w": [str(v) for v in np.asarray(w).reshape(-1)],
            "rss_start_mb": rss, "peak_rss_mb": _peak_mb()}


def exact_extension(spec: dict[str, Any]) -> dict[str, Any]:
    """Exact GD on the extension: ``K`` steps (``mode=steps``) or the whole ``check_exact``.

    ``backend``: ``flint`` or ``fraction``; ``prune``: the evaluator's pruning. The graph AD
    (done once per extension) is timed apart (``ad_seconds``) in ``steps`` mode.
    """
    from symbolic_universality.backends.flint import exact_backend
    from symbolic_universality.pipeline import verify_exact
    from symbolic_universality.verify.steps import gd_step

    job = _exact_job(spec)
    ext, x, y = job.extension, job.data.x, job.data.y
    backend, note = exact_backend(spec["backend"])
    rss = _rss_mb()
    out: dict[str, Any] = {"steps": ext.K, "note": note}
    if spec.get("mode") == "verify":
        t0 = time.perf_counter()
        report = verify_exact(job, prune=spec["prune"], backend=backend)
        out["seconds"] = time.perf_counter() - t0
        out["status"] = report.status
        out["w"] = report.final_weights
    else:
        t0 = time.perf_counter()
        ext.gradient_nodes()
        out["ad_seconds"] = time.perf_counter() - t0
        theta = {k: v.copy() for k, v in ext.theta0.items()}
        t0 = time.perf_counter()
        for _ in range(ext.K):
            theta = gd_step(ext, theta, x, y, ext.eta, backend, prune=spec["prune"])
        out["seconds"] = time.perf_counter() - t0
        out["w"] = [str(v) for v in np.asarray(theta["w"]).reshape(-1)]
    out.update(rss_start_mb=rss, peak_rss_mb=_peak_mb())
    return out


TASKS = {
    "exact-direct": exact_direct,
    "exact-extension": exact_extension,
    "numpy-extension": numpy_extension,
    "numpy-reference": numpy_reference,
    "numpy-tuned": numpy_tuned,
    "torch-extension": torch_extension,
    "exact-backend": exact_backend,
    "sympy-naive": sympy_naive,
}


# ------------------------------------------- issue 12: torch and NumPy against plain torch GD


def _cpu() -> float:
    """CPU seconds of this process (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def torch_plain(spec: dict[str, Any]) -> dict[str, Any]:
    """Plain torch GD on the base MLP itself: full-batch autograd + ``torch.optim.SGD``.

    What a user would write: ``nn.Linear`` layers in float64 initialised with the same
    weights as the extension's ``w``, loss ``mean_i 1/2 |f(x_i) - y_i|^2``, ``T`` steps.
    """
    import torch

    from symbolic_universality.zoo import references as ref
    from symbolic_universality.zoo.datasets import synthetic

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    device = spec.get("device") or "cpu"
    x, y, _ = synthetic(spec["n"], spec["d"], spec["c"], spec.get("seed", 0))
    sizes = [spec["d"], spec["h"], spec["c"]]
    w0 = ref.initial_weights(sizes, seed=0).astype(np.float64)
    (w1, b1), (w2, b2) = ref.unpack_weights(sizes, w0)
    l1 = torch.nn.Linear(sizes[0], sizes[1], dtype=torch.float64)
    l2 = torch.nn.Linear(sizes[1], sizes[2], dtype=torch.float64)
    with torch.no_grad():
        for lin, (wt, b) in ((l1, (w1, b1)), (l2, (w2, b2))):
            lin.weight.copy_(torch.as_tensor(wt))
            lin.bias.copy_(torch.as_tensor(b))
    model = torch.nn.Sequential(l1, torch.nn.ReLU(), l2).to(device)
    xt = torch.as_tensor(np.asarray(x, np.float64), device=device)
    yt = torch.as_tensor(np.asarray(y, np.float64), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=float(Fraction(spec["lr"])))
    n = xt.shape[0]
    rss = _rss_mb()
    c0, t0 = _cpu(), time.perf_counter()
    for _ in range(spec["T"]):
        opt.zero_grad(set_to_none=True)
        r = model(xt) - yt
        (0.5 * (r * r).sum() / n).backward()
        opt.step()
    if device != "cpu":
        torch.cuda.synchronize()
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    with torch.no_grad():
        w = ref.pack_weights([(l1.weight.cpu().numpy(), l1.bias.cpu().numpy()),
                              (l2.weight.cpu().numpy(), l2.bias.cpu().numpy())])
    return {"seconds": seconds, "cpu_seconds": cpu, "steps": spec["T"], "w": w.tolist(),
            "rss_start_mb": rss, "peak_rss_mb": _peak_mb(),
            "torch_threads": torch.get_num_threads()}


def torch_pruned(spec: dict[str, Any]) -> dict[str, Any]:
    """K steps of ``torch.optim.SGD`` on the exported module with head pruning (default)."""
    import torch

    from symbolic_universality.numeric.torch_export import export, train

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    ext, x, y, _ = instance(spec)
    model = export(ext, prune=True, device=spec.get("device") or None)
    rss = _rss_mb()
    c0, t0 = _cpu(), time.perf_counter()
    step_seconds = train(model, x, y, ext.K, chunk=spec.get("torch_chunk"))
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "steps": ext.K,
            "step_seconds": step_seconds, "w": model.state()["w"].tolist(),
            "rss_start_mb": rss, "peak_rss_mb": _peak_mb(),
            "torch_threads": torch.get_num_threads()}


TASKS["torch-plain"] = torch_plain
TASKS["torch-pruned"] = torch_pruned
