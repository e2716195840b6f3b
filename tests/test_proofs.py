"""The construction's lemmas: proved with defaults, FAILED under weakened hypotheses."""

from __future__ import annotations

import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from symbolic_universality import proofs  # noqa: E402
from symbolic_universality.proofs import LEMMAS, LemmaResult, run_all  # noqa: E402
from symbolic_universality.proofs._result import FAILED, PROVED, UNKNOWN, Check  # noqa: E402

NAMES = [m.name for m in LEMMAS]


@pytest.fixture(scope="module")
def default_results() -> dict[str, LemmaResult]:
    return {r.name: r for r in proofs.prove_all()}


@pytest.mark.parametrize("name", NAMES)
def test_lemma_proves_with_defaults(name: str, default_results: dict[str, LemmaResult]) -> None:
    res = default_results[name]
    assert res.status == PROVED, res.details
    assert res.checks and all(c.status == PROVED for c in res.checks)
    assert res.statement and res.method


#: the check each registered negative control must fail (pinned by name: the one the weakened
#: hypothesis is about, so a control cannot "fail" for an unrelated reason)
PINNED = {
    "lifting": "toy loss (sum over samples): gradient mean-affine",  # a sum is not a mean
    "flat_gates": "thermometer: g_j's argument is in {-2, 2} (all K, k, j)",  # a=1, b=-1/2
    "isolation": "g_j = [j = k] for all K, k, j < K",  # flags not a thermometer
    "write": "g = 1: S'[alpha] = -eta c Phi_alpha(u; p)",  # S != 0 before the write
    "read": "squared loss: R'[alpha,gamma] = eta s mean psi y",  # other F_main terms live
    "clock": "z_{k+1}' = 1",  # c = -3: z' = -eta c e = 3/4 (eta = 1/4), not 1
    "persistence": "aux head: exclusive parameter q1' = q1",  # gate open: the head moves
    "trajectory": "assembly: flags z_j' = [j <= k+1] for all 0 <= j <= K, k < K",  # c = -3
    "forward_output": "F_main(x)_gamma = f(x; A(D))_gamma for every x",  # one step early
    "inertness": "w' = w - eta grad_w mean l(f(x_i; w), y_i)",  # b_f = -4: G = sat(0) = 0
    "one_hot": "real labels y: phi(u,x,y) = sum_c y_c phi(u,x,e_c)",
    "order": "online GD (f(x; w) = <w, x>, squared loss, eta = 1/4): the same trajectory on "
             "both orderings for 6 steps (exact)",
    # coef = 1 instead of 1/C: the compensated register is off by (1 - 1/C) mean psi
    "crossentropy": "R' + coef U' = mean_i psi(x_i) y_i^T (every n, C)",
}
MARGIN_CHECK = "gate arguments lie outside [0, 1] by >= the flat-gates margin 1"


@pytest.mark.parametrize("name", NAMES)
def test_negative_control_fails(name: str) -> None:
    lemma = proofs.get(name)
    assert lemma.negative_control, f"{name} has no negative control"
    res = lemma.prove(**lemma.negative_control)
    assert isinstance(res, LemmaResult)
    assert res.status == FAILED, res.details
    failed = [c for c in res.checks if c.status == FAILED]
    assert failed and all(c.detail for c in failed)  # every failure carries its counterexample
    assert PINNED[name] in {c.name for c in failed}, [c.name for c in failed]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("flat_gates", {"a": 1, "b": 0, "a_f": 1, "b_f": 0}),
        ("isolation", {"a": 1, "b": 0, "a_f": 1, "b_f": 0}),
        ("clock", {"a": 1, "b": 0}),
        ("forward_output", {"a": 1, "b": 0, "a_f": 1, "b_f": 0}),
        ("inertness", {"a": 1, "b": 0, "a_f": 1, "b_f": 0}),
        ("trajectory", {"a": 1, "b": 0, "a_f": 1, "b_f": 0, "losses": ("squared",)}),
    ],
)
def test_gate_constants_on_the_kinks_of_sat_fail(name: str, kwargs: dict) -> None:
    """a = 1, b = 0: gate arguments 0 and 1, exactly the kinks of sat. The values are still
    0/1, so only the convention sat'(0) = sat'(1) = 0 would make the lemma hold."""
    res = proofs.get(name).prove(**kwargs)
    assert res.status == FAILED
    failed = {c.name for c in res.checks if c.status == FAILED}
    assert MARGIN_CHECK in failed or name == "flat_gates", failed
    if name == "flat_gates":
        assert "thermometer: g_j's argument is in {-2, 2} (all K, k, j)" in failed


def test_lemmas_take_their_constants_from_the_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    from symbolic_universality.extension import compiler

    monkeypatch.setattr(compiler, "GATE_A", Fraction(1))
    monkeypatch.setattr(compiler, "GATE_B", Fraction(0))
    for name in ("flat_gates", "isolation", "clock"):
        assert proofs.get(name).prove().status == FAILED, name


def test_lemmas_about_a_built_extension() -> None:
    from symbolic_universality.extension.compiler import compile_extension
    from symbolic_universality.pipeline import prepare

    job = prepare("worked", "linear-nobias", "tiny")
    hyps = proofs.hypotheses_for(job.extension)
    assert hyps["trajectory"] == {"a": 4, "b": -2, "a_f": 4, "b_f": -2, "c": -4, "s": 4,
                                  "eta": Fraction(1, 4)}
    names = ["flat_gates", "isolation", "clock"]
    assert all(r.proved for r in proofs.prove_for_extension(job.extension, names))
    kinked = compile_extension(job.net, job.extension.program, fault="gate_on_kinks")
    assert all(r.status == FAILED for r in proofs.prove_for_extension(kinked, names))
    # gate 0 alone gets a = 1, b = -1/2: the gates differ, each pair is proved, g_0 fails
    mixed = compile_extension(job.net, job.extension.program, fault="gate_margin")
    assert all(r.status == FAILED for r in proofs.prove_for_extension(mixed, names))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("write", {"grad_gate_zero": False}),
        ("clock", {"e": 2}),
        ("trajectory", {"a": 1, "b": Fraction(-1, 2), "losses": ("squared",)}),
        ("trajectory", {"s": 1, "losses": ("squared",)}),
        ("persistence", {"grad_gate_zero": False}),
        ("forward_output", {"b_f": -4}),
        ("order", {"reduction": "sum"}),
        ("isolation", {"b": 1}),
    ],
)
def test_more_negative_controls(name: str, kwargs: dict) -> None:
    assert proofs.get(name).prove(**kwargs).status == FAILED


def test_registry_is_ordered_and_unique() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert NAMES[:2] == ["flat_gates", "isolation"]
    for m in LEMMAS:
        assert (ROOT / m.script).is_file()
        assert (ROOT / "symbolic_universality" / "proofs" / f"{m.name}.py").is_file()
        assert m.module.NAME == m.name


def test_run_all_exit_code(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert run_all(verbose=False, names=["isolation", "clock"]) == 0
    assert "ALL PROVED" in capsys.readouterr().out

    def failing(**_: object) -> LemmaResult:
        from symbolic_universality.proofs._result import make_result

        return make_result("clock", "s", "m", [Check("c", FAILED, "cex")])

    def unknown(**_: object) -> LemmaResult:
        from symbolic_universality.proofs._result import make_result

        return make_result("isolation", "s", "m", [Check("c", UNKNOWN, "z3 unknown")])

    def crashing(**_: object) -> LemmaResult:
        raise RuntimeError("boom")

    for fake in (failing, unknown, crashing):
        monkeypatch.setattr(proofs.Lemma, "prove", lambda self, _f=fake, **kw: _f(**kw))
        assert run_all(verbose=False, names=["isolation", "clock"]) == 1
    assert "NOT ALL PROVED" in capsys.readouterr().out


def test_result_status_combination() -> None:
    from symbolic_universality.proofs._result import combine_status

    assert combine_status([]) == UNKNOWN
    assert combine_status([Check("a", PROVED), Check("b", UNKNOWN)]) == UNKNOWN
    assert combine_status([Check("a", UNKNOWN), Check("b", FAILED)]) == FAILED
    assert combine_status([Check("a", PROVED)]) == PROVED


def test_module_runner_exit_codes() -> None:
    ok = subprocess.run([sys.executable, "-m", "symbolic_universality.proofs", "-q", "isolation",
                         "one_hot"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ALL PROVED" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "symbolic_universality.proofs", "nosuchlemma"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0


def test_script_runs_from_repo_root_without_install() -> None:
    out = subprocess.run([sys.executable, "proofs/clock.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "clock: PROVED" in out.stdout
    assert "statement:" in out.stdout and "method:" in out.stdout


def _lemma_table() -> list[list[str]]:
    text = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    header = re.compile(r"^\|\s*lemma\s*\|\s*script\s*\|\s*statement\s*\|\s*licenses code\s*\|$")
    start = next(i for i, line in enumerate(lines) if header.match(line.strip()))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip().startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return rows


def test_theory_doc_lemma_table_matches_registry() -> None:
    rows = _lemma_table()
    names = [r[0].strip("`") for r in rows]
    assert len(names) == len(set(names)), "a lemma is listed twice"
    assert sorted(names) == sorted(NAMES)
    for row in rows:
        name = row[0].strip("`")
        assert row[1].strip("`") == f"proofs/{name}.py"
        assert row[2] and row[3]
