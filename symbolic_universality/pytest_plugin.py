"""``pytest --symuni``: a project's declared constructions and the lemmas as test items.

Registered through the ``pytest11`` entry point, inactive unless ``--symuni`` is given.
Then the instances of the ``symuni.toml`` / ``pyproject.toml [tool.symuni]`` found from
the rootdir (``--symuni-config`` to name another) become items ``symuni::<name>``, and
every lemma of ``symbolic_universality.proofs`` an item ``lemma::<name>``. A failure
message is the verdict: expected, got, and the first failed check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("symuni")
    group.addoption("--symuni", action="store_true", default=False,
                    help="collect the constructions of [tool.symuni] and the lemmas as tests")
    group.addoption("--symuni-config", default=None,
                    help="the symuni.toml / pyproject.toml to read (default: found from "
                         "the rootdir)")
    group.addoption("--symuni-no-lemmas", action="store_true", default=False,
                    help="do not collect the lemma scripts")


class SymuniFailure(Exception):
    """An instance or a lemma that did not meet its expectation."""


class InstanceItem(pytest.Item):
    def __init__(self, *, instance: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance = instance

    def runtest(self) -> None:
        from .api import combine  # noqa: F401  (import check: the API is importable)
        from .suite import run_instance

        out = run_instance(self.instance)
        if out["status"] != self.instance.expect:
            raise SymuniFailure(f"{self.instance.name}: expected {self.instance.expect}, got "
                                f"{out['status']}: {out['message']}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, SymuniFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"symuni::{self.instance.name}"


class LemmaItem(pytest.Item):
    def __init__(self, *, lemma: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lemma = lemma

    def runtest(self) -> None:
        from .proofs import get
        from .proofs._result import format_result

        result = get(self.lemma).prove()
        if result.status != "PROVED":
            raise SymuniFailure(f"lemma {self.lemma}: {result.status}\n{format_result(result)}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, SymuniFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"lemma::{self.lemma}"


class SymuniCollector(pytest.Collector):
    def __init__(self, *, config_path: Path | None, lemmas: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.lemmas = lemmas

    def collect(self) -> Any:
        from .suite import load_instances

        if self.config_path is not None:
            for inst in load_instances(self.config_path):
                yield InstanceItem.from_parent(self, name=f"symuni::{inst.name}",
                                               instance=inst)
        if self.lemmas:
            from .proofs import LEMMAS

            for lemma in LEMMAS:
                yield LemmaItem.from_parent(self, name=f"lemma::{lemma.name}",
                                            lemma=lemma.name)


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    if not config.getoption("--symuni"):
        return
    from .errors import UsageError
    from .suite import find_config

    named = config.getoption("--symuni-config")
    try:
        path = find_config(named or config.rootpath)
    except UsageError:
        if named:
            raise
        path = None
    collector = SymuniCollector.from_parent(session, name="symuni", config_path=path,
                                            lemmas=not config.getoption("--symuni-no-lemmas"))
    items.extend(collector.collect())
