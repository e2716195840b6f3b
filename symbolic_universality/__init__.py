"""symbolic_universality: the universality of gradient descent training, executable and checked.

If an algorithm finds weights for a network, an extension of that network reproduces
them, and the network's forward output, by plain gradient descent. This package
builds that extension, derives its GD update rules exactly and checks them.

The public API (:mod:`.api`)::

    import symbolic_universality as su
    su.verify("my_algorithms.py:momentum", "linear", "iris", samples=30)
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402  (the version first: the certificate module reads it)
    Compiled,
    ProveResult,
    Result,
    RunResult,
    VerifyResult,
    compile,
    prove,
    rules,
    run,
    verify,
)
from .errors import UsageError  # noqa: E402

__all__ = [
    "Compiled", "ProveResult", "Result", "RunResult", "UsageError", "VerifyResult",
    "__version__", "compile", "prove", "rules", "run", "verify",
]
