"""A project's constructions, verified as a suite: ``symuni check`` and ``pytest --symuni``.

Instances are declared in ``[tool.symuni]`` of a ``pyproject.toml`` (or at the top of a
``symuni.toml``), one table per instance::

    [[tool.symuni.instance]]
    name = "momentum-flowers"
    algorithm = "momentum.py:momentum"      # built-in name, file.py:function, pkg.mod:function
    reference = "momentum.py:momentum_reference"   # optional
    network = "linear"
    data = "flowers.csv"                    # built-in name or a file (paths: relative to
    label = "species"                       #   the configuration file's folder)
    samples = 10                            # optional stratified subset
    options = { T = 3, beta = "1/2" }       # values: ints or exact rationals as strings
    backends = ["exact"]                    # exact, numeric, torch, algebra, smt, prove
    prove = "n=2,d=2"                       # symbolic sizes for the "prove" backend
    fault = "register_nonzero"              # optional: a negative control ...
    expect = "refuted"                      # ... expected to be refuted (default: verified)

:func:`run_suite` runs them in parallel processes and caches each certificate under a
content hash of everything that determines it (:func:`cache_key`: the traced program,
the algorithm's source file, the network, the data's values, the options, the backends,
the toolkit's version and its own source). A cache entry carries a digest of its
certificate and is used only if the digest matches and the entry was written for the
same key; ``unknown``, ``error`` and ``skipped`` outcomes are never cached, so the cache
can only ever return a verdict that a full run gave for exactly this input.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from . import __version__
from .errors import UsageError

__all__ = ["CheckOutcome", "Instance", "SuiteResult", "cache_key", "find_config",
           "load_instances", "run_instance", "run_suite", "write_junit"]

EXPECT = ("verified", "refuted")
SUITE_BACKENDS = ("exact", "numeric", "torch", "algebra", "smt", "prove")
CACHEABLE = ("verified", "refuted")
_KEYS = {"name", "algorithm", "reference", "network", "data", "label", "samples", "options",
         "backends", "prove", "fault", "expect", "float_constants", "loss"}


@dataclass(frozen=True)
class Instance:
    """One declared construction to check (see the module docstring)."""

    name: str
    algorithm: str
    network: str = "linear"
    data: str = "tiny"
    label: str | int | None = None
    samples: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    backends: tuple[str, ...] = ("exact",)
    prove: str = "n=2,d=2"
    fault: str | None = None
    expect: str = "verified"
    reference: str | None = None
    float_constants: str = "refuse"
    loss: str = "mse"
    base: str = "."

    def resolve(self, value: str | None) -> str | None:
        """A path-like value relative to the configuration file's folder."""
        if value is None:
            return None
        head = value.rpartition(":")[0] if ":" in value else value
        if head.endswith(".py") or Path(head).suffix.lower() in (".csv", ".npz", ".npy",
                                                                 ".tsv", ".txt"):
            p = Path(self.base) / head
            return str(p) + (value[len(head):] if ":" in value else "")
        return value


@dataclass
class CheckOutcome:
    """The verdict of one instance and whether it met its expectation."""

    name: str
    expect: str
    status: str
    met: bool
    message: str
    seconds: float
    cached: bool = False
    certificates: dict[str, Any] = field(default_factory=dict)


@dataclass
class SuiteResult:
    """Every outcome; ``ok`` only if every instance met its expectation."""

    outcomes: list[CheckOutcome]
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.met for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        from .schemas import SCHEMA_ID

        return {"schema": SCHEMA_ID, "kind": "check", "ok": self.ok,
                "instances": len(self.outcomes), "met": sum(o.met for o in self.outcomes),
                "cached": sum(o.cached for o in self.outcomes), "seconds": self.seconds,
                "tool": {"name": "symbolic_universality", "version": __version__},
                "outcomes": [asdict(o) for o in self.outcomes]}

    def table(self) -> str:
        from .report.text import table

        rows = [[o.name, o.expect, o.status, "yes" if o.met else "NO",
                 "cache" if o.cached else f"{o.seconds:.1f} s", o.message[:70]]
                for o in self.outcomes]
        return table(rows, ["instance", "expected", "got", "met", "time", "verdict"])


# ------------------------------------------------------------------ configuration


def find_config(start: str | Path = ".") -> Path:
    """``symuni.toml``, else a ``pyproject.toml`` with ``[tool.symuni]``, in ``start`` or up."""
    p = Path(start).resolve()
    if p.is_file():
        return p
    for folder in (p, *p.parents):
        for name in ("symuni.toml", "pyproject.toml"):
            f = folder / name
            if f.is_file() and (name == "symuni.toml" or "[tool.symuni" in f.read_text()):
                return f
    raise UsageError(f"no symuni.toml and no pyproject.toml with [tool.symuni] in {p} or "
                     "above; declare instances there (see docs/api.md, 'symuni check')")


def load_instances(config: str | Path) -> list[Instance]:
    """The instances declared in ``config`` (one sentence for every malformed entry)."""
    path = Path(config)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path.name} is not valid TOML ({exc}); fix the file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    section = data.get("tool", {}).get("symuni") if path.name == "pyproject.toml" else data
    if not isinstance(section, Mapping) or not section.get("instance"):
        raise UsageError(f"{path.name} declares no instances; add [[tool.symuni.instance]] "
                         "tables (or [[instance]] in symuni.toml)")
    out: list[Instance] = []
    names: set[str] = set()
    for i, raw in enumerate(section["instance"]):
        where = f"{path.name}, instance {i + 1}"
        if not isinstance(raw, Mapping):
            raise UsageError(f"{where} is not a table")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise UsageError(f"{where} has an unknown key {unknown[0]!r}; known keys: "
                             f"{', '.join(sorted(_KEYS))}")
        name = str(raw.get("name") or f"instance{i + 1}")
        if name in names:
            raise UsageError(f"{where}: the name {name!r} is used twice; names must differ")
        names.add(name)
        if "algorithm" not in raw:
            raise UsageError(f"{where} ({name}) has no algorithm; give algorithm = \"gd\" or "
                             "\"file.py:function\"")
        expect = str(raw.get("expect", "verified"))
        if expect not in EXPECT:
            raise UsageError(f"{where} ({name}): expect = {expect!r}; use 'verified' or "
                             "'refuted'")
        backends = raw.get("backends", ["exact"])
        if isinstance(backends, str):
            backends = [b.strip() for b in backends.split(",")]
        for b in backends:
            if b not in SUITE_BACKENDS:
                raise UsageError(f"{where} ({name}): unknown backend {b!r}; choose from "
                                 f"{', '.join(SUITE_BACKENDS)}")
        samples = raw.get("samples")
        if samples is not None and (not isinstance(samples, int) or samples < 1):
            raise UsageError(f"{where} ({name}): samples must be a whole number >= 1")
        options = raw.get("options", {})
        if not isinstance(options, Mapping):
            raise UsageError(f"{where} ({name}): options must be a table, e.g. "
                             "options = { T = 3 }")
        out.append(Instance(
            name=name, algorithm=str(raw["algorithm"]), network=str(raw.get("network",
                                                                            "linear")),
            data=str(raw.get("data", "tiny")), label=raw.get("label"), samples=samples,
            options={str(k): v for k, v in options.items()}, backends=tuple(backends),
            prove=str(raw.get("prove", "n=2,d=2")), fault=raw.get("fault"), expect=expect,
            reference=raw.get("reference"),
            float_constants=str(raw.get("float_constants", "refuse")),
            loss=str(raw.get("loss", "mse")),
            base=str(path.parent)))
    return out


# --------------------------------------------------------------------------- cache


def _toolkit_digest() -> str:
    """A digest of the toolkit's own source (a change of the checker invalidates the cache)."""
    h = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _program_digest(program: Any) -> str:
    """A canonical digest of a traced program: every instruction's graph, node by node."""
    from .graph import core as g

    h = hashlib.sha256()
    for ins in program.instructions:
        h.update(f"{ins.kind}|{ins.target.name}|{ins.target.shape}|{ins.step}".encode())
        ids: dict[int, int] = {}
        for k, node in enumerate(g.topological([ins.body])):
            ids[node.id] = k
            attrs = {a: (v.tolist() if hasattr(v, "tolist") else v)
                     for a, v in sorted(node.attrs.items())}
            h.update(repr((node.op, node.shape, getattr(node, "batched", None), attrs,
                           [ids[i.id] for i in node.inputs])).encode())
    return h.hexdigest()


def cache_key(inst: Instance) -> str:
    """The content hash that determines an instance's certificates (module docstring)."""
    from . import api

    compiled = api.compile(inst.resolve(inst.algorithm), inst.network,
                           inst.resolve(inst.data), samples=inst.samples, label=inst.label,
                           options=inst.options, float_constants=inst.float_constants,
                           loss=inst.loss)
    data = compiled.job.data
    h = hashlib.sha256()
    for part in (_toolkit_digest(), _program_digest(compiled.program),
                 compiled.job.net.describe(), repr(sorted(inst.options.items())),
                 repr(inst.backends), inst.prove, str(inst.fault), inst.expect,
                 repr(inst.samples), repr(inst.label), inst.float_constants, inst.loss):
        h.update(part.encode())
        h.update(b"\0")
    h.update(repr(data.x.tolist()).encode())
    h.update(repr(data.labels.tolist()).encode())
    for ref in (inst.algorithm, inst.reference):
        target = inst.resolve(ref) if ref else None
        if target and ".py:" in target:
            f = Path(target.rpartition(":")[0])
            if f.is_file():
                h.update(f.read_bytes())
    return h.hexdigest()


def _cert_digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _cache_load(cache_dir: Path, key: str) -> dict[str, Any] | None:
    f = cache_dir / f"{key}.json"
    try:
        entry = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    payload = entry.get("payload")
    if (entry.get("key") != key or not isinstance(payload, Mapping)
            or entry.get("digest") != _cert_digest(payload)
            or payload.get("status") not in CACHEABLE):
        return None
    return dict(payload)


def _cache_store(cache_dir: Path, key: str, payload: Mapping[str, Any]) -> None:
    from .files import write_json

    if payload.get("status") not in CACHEABLE:
        return
    write_json(cache_dir / f"{key}.json",
               {"key": key, "digest": _cert_digest(payload), "payload": payload},
               "cache entry")


# ---------------------------------------------------------------------------- runs


def run_instance(inst: Instance) -> dict[str, Any]:
    """Run one instance's backends; ``{"status", "message", "certificates"}``."""
    from . import api
    from .symbolic.data import parse_symbolic

    certs: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    verify_backends = [b for b in inst.backends if b != "prove"]
    try:
        if verify_backends:
            r = api.verify(inst.resolve(inst.algorithm), inst.network, inst.resolve(inst.data),
                           samples=inst.samples, label=inst.label, options=inst.options,
                           backends=verify_backends, reference=inst.resolve(inst.reference),
                           float_constants=inst.float_constants, fault=inst.fault,
                           loss=inst.loss)
            certs["verify"] = r.certificate()
            results["verify"] = {"status": r.status, "message": r.message}
        if "prove" in inst.backends:
            sizes = parse_symbolic(inst.prove)
            network = inst.network
            p = api.prove(inst.resolve(inst.algorithm), network, n=sizes.n, d=sizes.d,
                          c=sizes.c, options=inst.options, fault=inst.fault,
                          float_constants=inst.float_constants, loss=inst.loss)
            certs["prove"] = p.certificate()
            results["prove"] = {"status": p.status, "message": p.message}
    except Exception as exc:  # noqa: BLE001 - an instance that cannot run is an error
        msg = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        return {"status": "error", "message": msg, "certificates": certs}
    if len(results) == 1:
        (only,) = results.values()
        status, message = only["status"], only["message"]
    else:
        status, message = api.combine(results)
    return {"status": status, "message": message, "certificates": certs}


def _timed_run(inst: Instance) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    out = run_instance(inst)
    return out, time.perf_counter() - t0


def run_suite(instances: list[Instance], *, jobs: int = 1, cache_dir: str | Path | None = None,
              use_cache: bool = True,
              progress: Callable[[CheckOutcome], None] | None = None) -> SuiteResult:
    """Run every instance (``jobs`` processes), with the certificate cache (module doc)."""
    t0 = time.perf_counter()
    cache = Path(cache_dir) if cache_dir is not None else None
    outcomes: dict[str, CheckOutcome] = {}
    todo: list[tuple[Instance, str | None]] = []
    for inst in instances:
        try:
            key = cache_key(inst) if cache is not None else None
        except Exception as exc:  # noqa: BLE001 - one bad instance is an error, the rest run
            outcomes[inst.name] = CheckOutcome(inst.name, inst.expect, "error", False, str(exc),
                                               0.0)
            continue
        hit = _cache_load(cache, key) if (cache is not None and use_cache and key) else None
        if hit is not None:
            outcomes[inst.name] = _outcome(inst, hit, 0.0, cached=True)
            if progress:
                progress(outcomes[inst.name])
        else:
            todo.append((inst, key))

    def done(inst: Instance, key: str | None, payload: dict[str, Any], secs: float) -> None:
        if cache is not None and key:
            _cache_store(cache, key, payload)
        outcomes[inst.name] = _outcome(inst, payload, secs)
        if progress:
            progress(outcomes[inst.name])

    if jobs > 1 and len(todo) > 1:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = {pool.submit(_timed_run, inst): (inst, key) for inst, key in todo}
            for fut in concurrent.futures.as_completed(futs):
                inst, key = futs[fut]
                try:
                    payload, secs = fut.result()
                except Exception as exc:  # a crashed worker is an error, never a pass
                    payload, secs = {"status": "error", "message": f"{type(exc).__name__}: "
                                     f"{exc}", "certificates": {}}, 0.0
                done(inst, key, payload, secs)
    else:
        for inst, key in todo:
            payload, secs = _timed_run(inst)
            done(inst, key, payload, secs)
    ordered = [outcomes[i.name] for i in instances]
    return SuiteResult(ordered, round(time.perf_counter() - t0, 3))


def _outcome(inst: Instance, payload: Mapping[str, Any], secs: float, *,
             cached: bool = False) -> CheckOutcome:
    status = str(payload.get("status"))
    return CheckOutcome(inst.name, inst.expect, status, status == inst.expect,
                        str(payload.get("message", "")), round(secs, 3), cached,
                        dict(payload.get("certificates") or {}))


def write_junit(result: SuiteResult, path: str | Path) -> Path:
    """JUnit XML: one test case an instance; a missed expectation is a failure."""
    from .files import write_text

    failures = sum(not o.met for o in result.outcomes)
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<testsuite name="symuni check" tests="{len(result.outcomes)}" '
             f'failures="{failures}" errors="0" time="{result.seconds}">']
    for o in result.outcomes:
        lines.append(f'  <testcase classname="symuni" name={quoteattr(o.name)} '
                     f'time="{o.seconds}">')
        if not o.met:
            msg = f"expected {o.expect}, got {o.status}: {o.message}"
            lines.append(f"    <failure message={quoteattr(msg)}>{escape(msg)}</failure>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return write_text(path, "\n".join(lines) + "\n", "JUnit report")


def default_cache_dir(config: Path) -> Path:
    """``.symuni-cache/`` beside the configuration file (``SYMUNI_CACHE`` overrides it)."""
    env = os.environ.get("SYMUNI_CACHE")
    return Path(env) if env else config.parent / ".symuni-cache"
