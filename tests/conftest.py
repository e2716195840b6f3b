"""Shared test configuration (issue 11, item 8).

Under ``CI=true`` a missing cross-check dependency is a **failure**, not a skip: the torch
export and the gradient oracle, the report (matplotlib), the notebooks (nbclient) and the
second SMT solver (cvc5) are cross-checks, and CI must not go green without them.
Locally (no ``CI``) a missing extra still skips, with its reason.

Every certificate the test suite writes (through ``symbolic_universality.files``) is
validated against the JSON Schema of its kind; an invalid one fails the test that wrote it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

#: the extras whose absence must fail CI (module names)
CROSS_CHECK_DEPS = ("torch", "matplotlib", "cvc5", "nbclient", "nbformat", "ipykernel",
                    "distributed", "flint")


def in_ci() -> bool:
    """True when the environment says it is CI (``CI=true``, as GitHub Actions sets it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


_original_importorskip = pytest.importorskip


def _strict_importorskip(modname: str, *args: Any, **kwargs: Any) -> Any:
    if in_ci() and modname.split(".")[0] in CROSS_CHECK_DEPS:
        try:
            return importlib.import_module(modname)
        except ImportError as exc:
            pytest.fail(f"CI=true: the cross-check dependency {modname!r} is missing ({exc}); "
                        "install the test extra (pip install -e .[test])", pytrace=False)
    return _original_importorskip(modname, *args, **kwargs)


pytest.importorskip = _strict_importorskip  # type: ignore[assignment]


def missing_cross_checks() -> list[str]:
    """The cross-check dependencies that cannot be imported here."""
    missing = []
    for name in CROSS_CHECK_DEPS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def pytest_sessionstart(session: pytest.Session) -> None:
    if in_ci():
        missing = missing_cross_checks()
        if missing:
            raise pytest.UsageError(
                f"CI=true but the cross-check dependencies {', '.join(missing)} are missing; "
                "install the test extra (pip install -e .[test])")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped:
        longrepr = report.longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
        missing = ("import" in reason or "not installed" in reason or "missing" in reason)
        hit = next((d for d in CROSS_CHECK_DEPS if missing and d in reason), None)
        if hit is not None:
            report.outcome = "failed"
            report.longrepr = (f"CI=true: skipped for want of the cross-check dependency "
                               f"{hit!r} ({reason}); a cross-check may not be skipped in CI")


@pytest.fixture(autouse=True)
def _certificates_validate_against_their_schema(monkeypatch):
    from symbolic_universality import files
    from symbolic_universality.schemas import SCHEMA_ID, validate

    original = files.write_json
    written: list[str] = []

    def checked(path, data, what="certificate"):
        if isinstance(data, dict) and data.get("schema") == SCHEMA_ID:
            validate(data)  # raises jsonschema.ValidationError: the test fails
            written.append(str(path))
        return original(path, data, what)

    monkeypatch.setattr(files, "write_json", checked)
    yield written
