"""The notebooks: stored without outputs, and each one runs top to bottom without error.

Execution uses nbclient with the ``python3`` kernel (the notebooks assert their own results,
so a wrong number fails the run). All notebooks together must finish in under 5 minutes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = (
    "01_quickstart.ipynb",
    "02_algorithms_on_real_data.ipynb",
    "03_lemmas.ipynb",
    "04_numeric_scale.ipynb",
    "05_what_cannot_be_reproduced.ipynb",
)
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
TOTAL_BUDGET = 300.0  # seconds, all notebooks together
CELL_TIMEOUT = 240  # seconds, one cell

_durations: dict[str, float] = {}


def _read(name: str):
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=4)


def test_expected_notebooks_exist() -> None:
    missing = [n for n in EXPECTED if not (NOTEBOOKS_DIR / n).is_file()]
    assert not missing, f"missing notebooks: {missing}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_valid_and_stripped(name: str) -> None:
    book = _read(name)
    nbformat.validate(book)
    assert book.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cell"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"{name}: code cell {i} has stored outputs"
        assert cell.get("execution_count") is None, f"{name}: code cell {i} has a count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name: str) -> None:
    book = _read(name)
    client = nbclient.NotebookClient(
        book, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    _durations[name] = time.perf_counter() - t0
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors
    rich = [o for o in outputs if o.get("output_type") == "execute_result"
            and ("text/html" in o.get("data", {}) or "text/latex" in o.get("data", {}))]
    assert rich, f"{name} shows no result inline as HTML or LaTeX"
    if name in ("01_quickstart.ipynb", "02_algorithms_on_real_data.ipynb"):
        assert any("<table>" in o["data"].get("text/html", "") for o in rich)
    # the file on disk is untouched by the run
    assert all(c.get("outputs") == [] for c in _read(name).cells if c.cell_type == "code")


def test_notebooks_total_time() -> None:
    """Runs after the executions above (file order): their sum must stay within budget."""
    if set(_durations) != set(NOTEBOOKS):
        pytest.skip("not every notebook was executed in this session")
    total = sum(_durations.values())
    detail = ", ".join(f"{k}: {v:.0f} s" for k, v in sorted(_durations.items()))
    assert total < TOTAL_BUDGET, f"notebooks took {total:.0f} s ({detail})"
