"""Assertions for people writing their own tests of a construction (pytest or unittest).

::

    from symbolic_universality.testing import assert_verified, assert_refuted

    def test_my_momentum_is_reproduced_by_gd():
        assert_verified("algorithms.py:momentum", "linear", "iris", samples=30,
                        options={"T": 3})

    def test_a_broken_construction_is_caught():
        assert_refuted("gd", "linear", "tiny", fault="register_nonzero", check="reg.")

The failure message is the result's whole summary, ending with the verdict line that
names the first failed check (step, parameter, expected, got).
"""

from __future__ import annotations

from typing import Any

from . import api

__all__ = ["assert_refuted", "assert_verified", "check_against"]


def assert_verified(algorithm: Any, network: Any = "linear", data: Any = "tiny",
                    **kwargs: Any) -> api.VerifyResult:
    """:func:`api.verify` must say ``verified`` (every backend asked for); returns the result."""
    result = api.verify(algorithm, network, data, **kwargs)
    if result.status != "verified":
        raise AssertionError(f"expected VERIFIED, got {result.status.upper()}\n"
                             f"{result.summary()}")
    return result


def assert_refuted(algorithm: Any, network: Any = "linear", data: Any = "tiny", *,
                   check: str | None = None, **kwargs: Any) -> api.VerifyResult:
    """:func:`api.verify` must say ``refuted``; with ``check``, its reason must name it.

    ``check`` is a substring of the verdict line (a parameter such as ``reg.R1``, a step
    ``step 0``, or a property such as ``T5``), so a test pins *which* check caught the fault.
    """
    result = api.verify(algorithm, network, data, **kwargs)
    if result.status != "refuted":
        raise AssertionError(f"expected REFUTED, got {result.status.upper()}\n"
                             f"{result.summary()}")
    if check is not None and check not in result.message:
        raise AssertionError(f"refuted, but not by {check!r}: {result.message}\n"
                             f"{result.summary()}")
    return result


def check_against(ext: Any, x: Any, y: Any, reference: Any, *, oracle: str = "off",
                  **kwargs: Any) -> Any:
    """``verify.steps.check_exact`` of an extension against one independent ``A(D)``.

    The gradient oracle is off unless asked for (the reference is independent already);
    the other keyword arguments go to ``check_exact``. Returns its ``Report``.
    """
    from .verify.steps import check_exact

    return check_exact(ext, x, y, references={"numpy reference": reference}, oracle=oracle,
                       **kwargs)
