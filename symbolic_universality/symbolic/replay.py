"""Exact replay of a counterexample: one obligation on a concrete rational data set.

A symbolic backend that refutes an obligation hands over a concrete data set (decoded
from the SMT model, or found by search). The replay recomputes the obligation with
the *exact* checker's machinery only -- ``run_program`` on Fractions, ``Extension.predicted``,
``verify.steps.gd_step`` (true GD on exact rationals), ``zoo.references`` (the forward pass
and squared-loss gradient of any base network, MLP or ConvNet) -- and says whether the
mismatch is real. Only a confirmed replay makes a verdict ``refuted``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends.scalars import EXACT, BackendError
from ..extension.compiler import Extension
from ..program.interpreter import run_program
from ..verify.steps import forward_outputs, gd_step
from ..zoo import references as zref
from .data import one_hot

__all__ = ["Replay", "random_data", "replay_obligation", "search_counterexample"]


@dataclass
class Replay:
    """The outcome of replaying one obligation on one concrete data set."""

    confirmed: bool
    parameter: str = ""
    index: list[int] | None = None
    expected: str = ""
    got: str = ""
    reason: str = ""

    def sentence(self) -> str:
        if not self.confirmed:
            return f"not confirmed ({self.reason})" if self.reason else "not confirmed"
        idx = f"{self.index}" if self.index else ""
        return f"{self.parameter}{idx} expected {self.expected}, got {self.got} (exact replay)"


def _compare(name: str, got: np.ndarray, expected: np.ndarray) -> Replay:
    g = np.asarray(got, dtype=object)
    e = np.asarray(expected, dtype=object).reshape(g.shape)
    for idx in np.ndindex(*g.shape):
        if g[idx] != e[idx]:
            return Replay(True, name, [int(i) for i in idx], str(e[idx]), str(g[idx]))
    return Replay(False, name, reason="the exact values agree on this data set")


def replay_obligation(ext: Extension, step: int, block: str, x: np.ndarray,
                      labels: tuple[int, ...], *, eta: Fraction | None = None,
                      algorithm: str | None = None, options: dict[str, Any] | None = None,
                      xs: np.ndarray | None = None) -> Replay:
    """Recompute obligation (``step``, ``block``) exactly on data ``x`` with classes ``labels``.

    ``xs`` is the fresh input of the T2 obligations (defaults to the first sample).
    """
    y = one_hot(labels, ext.net.c)
    run_eta = Fraction(ext.eta if eta is None else eta)
    try:
        registers = run_program(ext.program, x, y, EXACT)
    except BackendError as exc:
        return Replay(False, block, reason=f"the algorithm is undefined on this data: {exc}")
    net = ext.net
    if block.startswith("T1"):
        if algorithm is None:
            return Replay(False, block, reason="no algorithm given for the reference")
        from ..zoo.algorithms import ALGORITHMS

        try:
            ref_w = ALGORITHMS[algorithm].reference(net, x, y, **(options or {}))
        except ValueError as exc:
            return Replay(False, block, reason=f"the reference is undefined: {exc}")
        return _compare("w", np.asarray(registers["w"], dtype=object), ref_w)
    K = ext.K
    if block.startswith("T2"):
        theta = ext.predicted(K, registers)
        point = np.asarray(x[:1] if xs is None else np.asarray(xs, dtype=object).reshape(1, -1),
                           dtype=object)
        f_main, aux = forward_outputs(ext, theta, point)
        if block == "T2.F_main":
            expected = zref.network_forward(net, registers["w"], point)
            return _compare("F_main", f_main, expected)
        flat = np.concatenate([np.asarray(h, dtype=object).reshape(-1) for h in aux])
        return _compare("aux", flat, np.full(flat.shape, Fraction(0), dtype=object))
    theta = ext.predicted(step, registers)
    new = gd_step(ext, theta, x, y, run_eta, prune=False)  # unpruned: independent of pruning
    if step < K:
        expected = ext.predicted(step + 1, registers)[block]
    elif block == "w":
        grad = zref.network_grad(net, theta["w"], x, y)
        expected = theta["w"] - run_eta * grad
    else:
        expected = theta[block]
    return _compare(block, new[block], expected)


def random_data(rng: random.Random, n: int, d: int) -> np.ndarray:
    """Small random rationals ``p/q`` (``|p| <= 6``, ``q <= 4``) of shape ``(n, d)``."""
    out = np.empty((n, d), dtype=object)
    for idx in np.ndindex(n, d):
        out[idx] = Fraction(rng.randint(-6, 6), rng.randint(1, 4))
    return out


def search_counterexample(ext: Extension, step: int, block: str, n: int, d: int,
                          labels: tuple[int, ...] | None, *, tries: int = 24, seed: int = 0,
                          eta: Fraction | None = None, algorithm: str | None = None,
                          options: dict[str, Any] | None = None
                          ) -> tuple[np.ndarray, tuple[int, ...], np.ndarray, Replay] | None:
    """Random rational data sets (and labels, if ``labels`` is ``None``) until a replay confirms.

    Returns ``(x, labels, xs, replay)`` of the first confirmed counterexample, or ``None``.
    """
    rng = random.Random(seed)
    c = ext.net.c
    for _ in range(tries):
        x = random_data(rng, n, d)
        labs = labels if labels is not None else tuple(rng.randrange(c) for _ in range(n))
        xs = random_data(rng, 1, d)[0]
        r = replay_obligation(ext, step, block, x, labs, eta=eta, algorithm=algorithm,
                              options=options, xs=xs)
        if r.confirmed:
            return x, labs, xs, r
    return None
