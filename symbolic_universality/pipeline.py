"""The pipeline, one call per stage (architecture.md):

algorithm --trace--> program --schedule--> steps --compile--> extension
--differentiate--> GD rules --check--> report / certificate.

Besides the stages it resolves what a user names: an algorithm (a built-in name, a
Python callable, ``path/to/file.py:function`` or ``package.module:function``), a network
spec and a data set (a built-in name, a file, or arrays). The public surface over this
module is :mod:`symbolic_universality.api`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError
from .extension.compiler import Extension, compile_extension
from .extension.crossentropy import LOSSES
from .networks.mlp import MLP, parse_network
from .program.tracer import trace
from .verify.steps import Report, check_exact
from .zoo.algorithms import ALGORITHMS
from .zoo.datasets import DATASETS, Dataset, held_out, load_dataset

__all__ = [
    "AlgorithmSpec", "Job", "UsageError", "build", "compile_algorithm", "concrete_weights",
    "load_callable", "prepare", "resolve_algorithm", "resolve_data", "unseen_inputs",
    "verify_exact",
]

# parameters of an algorithm that are not options: the data and the base network
_RESERVED = ("data", "net")


# --------------------------------------------------------------------------- algorithms


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm as the pipeline uses it: the function, its options, its references.

    ``fn(data, [net=...], **options)`` is the user's (or the zoo's) own function; it is
    both traced (``program.tracer``) and executed concretely (``program.concrete``).
    ``reference`` is the zoo's independent plain-NumPy reference ``(net, x, y, **options)``
    for built-ins; ``user_reference`` a reference the user supplies, ``(x, y, **kwargs)``.
    """

    name: str
    fn: Callable[..., Any]
    source: str
    builtin: bool = False
    reference: Callable[..., np.ndarray] | None = None
    user_reference: Callable[..., Any] | None = None
    declared_options: tuple[str, ...] | None = None

    def options_accepted(self) -> tuple[str, ...] | None:
        """The option names the function takes (``None``: any, it has ``**kwargs``)."""
        if self.declared_options is not None:
            return self.declared_options
        return _signature_options(self.fn)[0]

    def call_kwargs(self, net: MLP, options: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of one call: the options, plus ``net`` if it is declared."""
        accepted = self.options_accepted()
        unknown = sorted(k for k in options if accepted is not None and k not in accepted)
        if unknown:
            raise UsageError(
                f"algorithm {self.name!r} has no option {unknown[0]!r}; its options are: "
                f"{', '.join(accepted or ()) or 'none'}")
        for k in options:
            if k in _RESERVED:
                raise UsageError(f"{k!r} is passed by the toolkit, not as an option; remove "
                                 f"--option {k}=...")
        kwargs = dict(options)
        params = inspect.signature(self.fn).parameters
        if "net" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs["net"] = net
        missing = _signature_options(self.fn)[1] - set(kwargs)
        if missing:
            name = sorted(missing)[0]
            raise UsageError(f"algorithm {self.name!r} needs a value for {name!r}; give it with "
                             f"--option {name}=VALUE (or options={{'{name}': ...}} in Python)")
        return kwargs


def _source_of(fn: Any) -> str:
    try:
        return inspect.getsourcefile(fn) or ""
    except TypeError:
        return ""


def _signature_options(fn: Callable[..., Any]) -> tuple[tuple[str, ...] | None, set[str]]:
    """(accepted option names or ``None`` for ``**kwargs``, required ones) of ``fn``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise UsageError(f"cannot read the parameters of {fn!r}; an algorithm is a Python "
                         "function algorithm(data, [net], **options)") from None
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY,
                                            params[0].POSITIONAL_OR_KEYWORD):
        raise UsageError(f"{getattr(fn, '__name__', fn)!r} must take the data as its first "
                         "argument: def algorithm(data, net, **options)")
    rest = params[1:]
    if any(p.kind is p.VAR_KEYWORD for p in rest):
        accepted = None
    else:
        accepted = tuple(p.name for p in rest if p.name not in _RESERVED
                         and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    required = {p.name for p in rest if p.default is p.empty and p.name not in _RESERVED
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return accepted, required


def load_callable(spec: str, what: str = "algorithm") -> tuple[Callable[..., Any], str]:
    """``path/to/file.py:function`` or ``package.module:function`` -> (function, source)."""
    path, sep, attr = spec.rpartition(":")
    if not sep or not path or not attr:
        raise UsageError(f"cannot read {what} {spec!r}; write file.py:function or "
                         "package.module:function")
    if path.endswith(".py") or "/" in path or "\\" in path:
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"the {what} file {path!r} does not exist; give the path of a "
                             ".py file, e.g. my_algorithms.py:momentum")
        mod_name = f"_symuni_user_{abs(hash(str(file.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, file)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"cannot load {path!r} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        # as `python file.py` does: modules beside the file are importable from it
        folder = str(file.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            module_spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise UsageError(f"{path} line {exc.lineno}: syntax error ({exc.msg}); fix the "
                             "file and try again") from None
        except Exception as exc:  # the user's module failed while importing
            raise UsageError(f"importing {path} failed with {type(exc).__name__}: {exc}"
                             ) from None
        source = str(file)
    else:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            raise UsageError(f"cannot import module {path!r} ({exc}); give a .py file path or "
                             "an importable package.module") from None
        except Exception as exc:
            raise UsageError(f"importing {path} failed with {type(exc).__name__}: {exc}"
                             ) from None
        source = path
    fn = getattr(module, attr, None)
    if fn is not None and not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        kind = "class" if isinstance(fn, type) else type(fn).__name__
        raise UsageError(f"{source}:{attr} is a {kind}, not a function; an "
                         f"{what} is a function def {attr}(data, ...) defined in {source}")
    if fn is None or not callable(fn):
        names = sorted(n for n, v in vars(module).items()
                       if callable(v) and not n.startswith("_") and inspect.isfunction(v))
        raise UsageError(f"{source} has no function {attr!r}; it defines: "
                         f"{', '.join(names) or 'no functions'}")
    return fn, source


def resolve_algorithm(algorithm: str | Callable[..., Any] | AlgorithmSpec,
                      reference: str | Callable[..., Any] | None = None) -> AlgorithmSpec:
    """A built-in name, a callable, ``file.py:function`` or ``package.module:function``."""
    user_ref = None
    if reference is not None:
        user_ref = load_callable(reference, "reference")[0] if isinstance(reference, str) \
            else reference
        if not callable(user_ref):
            raise UsageError("reference must be a function reference(x, y, **options)")
    if isinstance(algorithm, AlgorithmSpec):
        return algorithm if user_ref is None else AlgorithmSpec(
            algorithm.name, algorithm.fn, algorithm.source, algorithm.builtin,
            algorithm.reference, user_ref, algorithm.declared_options)
    if callable(algorithm):
        name = getattr(algorithm, "__name__", "algorithm")
        _signature_options(algorithm)
        return AlgorithmSpec(name, algorithm, getattr(algorithm, "__module__", "") or "python",
                             user_reference=user_ref)
    if not isinstance(algorithm, str) or not algorithm.strip():
        raise UsageError("the algorithm must be a built-in name, a Python function or "
                         "file.py:function")
    algorithm = algorithm.strip()
    if algorithm in ALGORITHMS:
        entry = ALGORITHMS[algorithm]
        return AlgorithmSpec(entry.name, entry.traced, "built-in", True, entry.reference,
                             user_ref, entry.options)
    if ":" in algorithm:
        fn, source = load_callable(algorithm)
        _signature_options(fn)
        return AlgorithmSpec(getattr(fn, "__name__", algorithm), fn, source,
                             user_reference=user_ref)
    raise UsageError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)} "
                     "or give your own as file.py:function")


def user_call(spec: AlgorithmSpec, what: str, fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` where ``fn`` runs the user's own code: an exception raised by
    that code becomes one sentence naming the function, the error and the user's line.

    The toolkit's own refusals (``UsageError``, e.g. ``TraceError``) pass unchanged.
    """
    try:
        return fn(*args, **kwargs)
    except UsageError:
        raise
    except RecursionError:
        raise UsageError(f"{what} {spec.name!r} recursed without end (RecursionError); "
                         "check its loops and recursive calls") from None
    except Exception as exc:  # the user's code failed: report where, not a traceback
        if spec.builtin:
            raise
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)
        src = spec.source if spec.source.endswith(".py") else ""
        mine = [f for f in frames if src and Path(f.filename).resolve() == Path(src).resolve()]
        where = f" ({Path(mine[-1].filename).name} line {mine[-1].lineno}: " \
                f"{(mine[-1].line or '').strip()})" if mine else ""
        raise UsageError(f"{what} {spec.name!r} raised {type(exc).__name__}: {exc}{where}; "
                         "fix it and try again") from None


def algorithm_entry(name: str) -> Any:
    if name not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


# -------------------------------------------------------------------------------- data


def resolve_data(data: Any, samples: int | None = None, *, label: str | int | None = None,
                 name: str = "arrays") -> Dataset:
    """A built-in name, a file path (csv/npz/npy), a :class:`Dataset`, or ``(x, labels)``."""
    from .zoo.datafiles import is_data_file, load_file

    if isinstance(data, Dataset):
        if samples is None:
            return data
        from .zoo.datasets import stratified_indices

        idx = stratified_indices(data.labels, data.c, samples, data.name)
        return Dataset(data.name, data.x[idx], data.y[idx], data.labels[idx], data.c,
                       data.feature_names)
    if isinstance(data, Path) or (isinstance(data, str) and is_data_file(data)):
        return load_file(data, label=label, samples=samples)
    if isinstance(data, str):
        if data not in DATASETS:
            raise UsageError(f"unknown dataset {data!r}; choose one of {', '.join(DATASETS)} "
                             "or give a .csv, .npz or .npy file")
        return load_dataset(data, samples)
    if isinstance(data, tuple) and len(data) == 2:
        from .zoo.datafiles import _classes, _exact_array

        x = _exact_array(np.asarray(data[0]), Path(name), "x")
        if x.ndim != 2:
            raise UsageError(f"x must be a 2-D array (samples x features), got shape {x.shape}")
        lab = np.asarray(data[1])
        if lab.ndim == 2:
            lab = np.argmax(lab, axis=1)
        if lab.shape != (x.shape[0],):
            raise UsageError(f"there are {x.shape[0]} samples but {lab.shape} labels; give one "
                             "label per sample")
        labels, c = _classes([v.item() if hasattr(v, "item") else v for v in lab], Path(name))
        y = np.zeros((len(labels), c), dtype=object)
        y[...] = Fraction(0)
        y[np.arange(len(labels)), labels] = Fraction(1)
        ds = Dataset(name, x, y, labels, c)
        return resolve_data(ds, samples)
    raise UsageError("data must be a built-in name, a file path, a Dataset or a pair "
                     "(x, labels) of arrays")


def unseen_inputs(data: Dataset, samples: int | None, count: int = 3) -> np.ndarray:
    """Inputs the algorithm never saw (for T2): held-out samples of the set, else shifted ones."""
    if data.name in DATASETS:
        try:
            return held_out(data.name, samples, count)
        except ValueError:
            pass
    shifted = data.x[:count].copy()
    return shifted + Fraction(1, 7)


# --------------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """A compiled instance: the data, the network, the extension and the reference weights."""

    algorithm: str
    options: dict[str, Any]
    data: Dataset
    net: MLP
    extension: Extension
    held_out: np.ndarray
    samples: int | None
    spec: AlgorithmSpec | None = None
    float_constants: str = "refuse"
    references: dict[str, np.ndarray] = field(default_factory=dict)
    reference_notes: dict[str, str] = field(default_factory=dict)

    @property
    def algorithm_spec(self) -> AlgorithmSpec:
        return self.spec if self.spec is not None else resolve_algorithm(self.algorithm)

    def reference_weights(self, x: np.ndarray | None = None, y: np.ndarray | None = None
                          ) -> np.ndarray:
        """``A(D)``: the zoo's independent NumPy reference, else the user's concrete run.

        Exact when ``x`` has object dtype (Fractions), float64 otherwise.
        """
        x = self.data.x if x is None else x
        y = self.data.y if y is None else y
        spec = self.algorithm_spec
        if spec.reference is not None:
            return spec.reference(self.net, x, y, **self.options)
        return concrete_weights(spec, self.net, self.options, x, y,
                                exact=x.dtype == object, float_constants=self.float_constants)


def concrete_weights(spec: AlgorithmSpec, net: MLP, options: Mapping[str, Any],
                     x: np.ndarray, y: np.ndarray, *, exact: bool = True,
                     float_constants: str = "refuse") -> np.ndarray:
    """``A(D)`` by executing the user's own function on the data (not traced)."""
    from .program.concrete import execute

    kwargs = spec.call_kwargs(net, options)
    return user_call(spec, "the algorithm", execute, spec.fn, x, y, exact=exact,
                     float_constants=float_constants, **kwargs)


def compile_algorithm(algorithm: str | Callable[..., Any] | AlgorithmSpec, net: MLP,
                      float_constants: str = "refuse", loss: str = "mse",
                      **options: Any) -> Extension:
    """Trace, schedule and compile ``algorithm`` for ``net`` (no data involved: T6).

    ``loss``: the extension's main loss, ``"mse"`` or ``"ce"`` (lemma *cross-entropy
    compensation*)."""
    spec = resolve_algorithm(algorithm)
    kwargs = spec.call_kwargs(net, options)
    program = user_call(spec, "the algorithm", trace, spec.fn, net.d, net.c, name=spec.name,
                        float_constants=float_constants, **kwargs)
    return compile_extension(net, program, loss=check_loss(loss))


def check_loss(loss: str) -> str:
    """``loss`` if it names a main loss the compiler builds, else one sentence (exit 2)."""
    if loss not in LOSSES:
        raise UsageError(f"unknown loss {loss!r}; choose mse (squared) or ce (softmax "
                         "cross-entropy)")
    return loss


def recompile(ext: Extension, *, fault: str | None = None) -> Extension:
    """``ext`` compiled again from its traced program, with the same loss (and ``fault``)."""
    return compile_extension(ext.net, ext.source_program or ext.program, fault=fault,
                             loss=ext.loss_kind)


def build(algorithm: str | Callable[..., Any] | AlgorithmSpec, network: str | MLP,
          data: Dataset, *, options: Mapping[str, Any] | None = None,
          samples: int | None = None, fault: str | None = None,
          float_constants: str = "refuse", loss: str = "mse") -> Job:
    """Compile the extension of ``algorithm`` on ``network`` for data shaped like ``data``."""
    spec = resolve_algorithm(algorithm)
    options = dict(options or {})
    net = parse_network(network, data.d, data.c) if isinstance(network, str) else network
    if net.d != data.d or net.c != data.c:
        raise UsageError(f"the network maps {net.d} inputs to {net.c} outputs but the data has "
                         f"{data.d} features and {data.c} classes")
    ext = compile_algorithm(spec, net, float_constants=float_constants, loss=loss, **options)
    if fault is not None:
        ext = recompile(ext, fault=fault)
    return Job(spec.name, options, data, net, ext, unseen_inputs(data, samples), samples,
               spec, float_constants)


def prepare(algorithm: str | Callable[..., Any], network: str, dataset: Any,
            samples: int | None = None, fault: str | None = None, loss: str = "mse",
            **options: Any) -> Job:
    """Load the data, parse the network and compile the extension."""
    data = resolve_data(dataset, samples)
    return build(algorithm, network, data, options=options, samples=samples, fault=fault,
                 loss=loss)


def exact_references(job: Job, *, concrete: bool = True) -> dict[str, np.ndarray]:
    """Every independent ``A(D)`` the job has, exactly: the concrete run, the references.

    * ``concrete run``: the user's own function executed on the data (``program.concrete``);
    * ``numpy reference``: the zoo's plain-NumPy reference (built-ins);
    * ``user reference``: the reference function the user supplied.
    """
    spec = job.algorithm_spec
    refs: dict[str, np.ndarray] = {}
    x, y = job.data.x, job.data.y
    if concrete:
        refs["concrete run"] = concrete_weights(spec, job.net, job.options, x, y, exact=True,
                                                float_constants=job.float_constants)
    if spec.reference is not None:
        refs["numpy reference"] = np.asarray(spec.reference(job.net, x, y, **job.options))
    if spec.user_reference is not None:
        kwargs = spec.call_kwargs(job.net, job.options)
        ref_spec = AlgorithmSpec(getattr(spec.user_reference, "__name__", "reference"),
                                 spec.user_reference, _source_of(spec.user_reference))
        params = inspect.signature(spec.user_reference).parameters
        if "net" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs.pop("net", None)
        got = user_call(ref_spec, "the reference", spec.user_reference, x, y, **kwargs)
        arr = np.asarray(got, dtype=object).reshape(-1) if got is not None else None
        if arr is None or arr.shape != (job.net.n_params,):
            raise UsageError(f"the reference {ref_spec.name!r} returned "
                             f"{'nothing' if arr is None else f'{arr.size} values'}; it must "
                             f"return the {job.net.n_params} weights of the network, in the "
                             "layout of the algorithm's result")
        refs["user reference"] = arr
    job.references = refs
    return refs


def other_data(data: Dataset) -> Dataset:
    """A data set of the same shape with other samples (for T6): shifted inputs, rolled labels."""
    n = max(data.c, data.n - 1) if data.n > data.c else data.n
    x = data.x[:n] * 2 + Fraction(1, 3)
    labels = np.roll(data.labels[:n], 1)
    y = np.zeros((n, data.c), dtype=object)
    y[...] = Fraction(0)
    y[np.arange(n), labels] = Fraction(1)
    return Dataset(data.name + " (T6 twin)", x, y, labels, data.c)


def data_independence(job: Job) -> Any:
    """T6 for the job: its extension built again through the pipeline from other data."""
    from .verify.properties import check_data_independence

    def rebuild(ds: Dataset) -> Extension:
        return build(job.algorithm_spec, job.net, ds, options=job.options,
                     samples=None, fault=job.extension.fault,
                     float_constants=job.float_constants,
                     loss=job.extension.loss_kind).extension

    return check_data_independence(rebuild, job.data, other_data(job.data))


def verify_exact(job: Job, **check_options: Any) -> Report:
    """The exact checker on a prepared job, against every independent reference (T1..T6)."""
    refs = job.references or exact_references(job)
    check_options.setdefault("data_independence", data_independence(job))
    return check_exact(job.extension, job.data.x, job.data.y, references=refs,
                       held_out=job.held_out, dataset=job.data.name, **check_options)
