"""Lemma *trajectory* (construction section 4): GD(theta_hat_k) = theta_hat_{k+1}, by induction.

``theta_hat_k`` is the predicted state before step k: flags ``z_j = [j <= k]`` (a
thermometer with k+1 ones), the registers of the instructions of steps ``< k`` holding
the program's values and all others 0, the constant ``c`` of every head of a step ``< k``
scaled by ``(1 - eta)`` (the others ``c0 = -1/eta``), every other parameter (``e = 1``,
``s = 1/eta``, gate coefficients, psi/Phi parameters, ``w``'s non-register role) as built.

* **base case**: the initial point ``theta_0`` of section 3 equals ``theta_hat_0``;
* **step, for arbitrary k < K**: one GD step on the whole mean loss maps ``theta_hat_k`` to
  ``theta_hat_{k+1}``;
* hence ``theta_k = theta_hat_k`` for ``0 <= k <= K``; at ``K`` every register, in particular
  the output register ``w``, holds the program's value: **T1** ``w = A(D)``. T2 and T3 are
  the lemmas ``forward_output`` and ``inertness``.

Method (two layers, both machine-checked):

1. *local gradient table* (sympy): a model extension with one representative head of
   every kind (clock, compute/output, unlabelled read, labelled read; two labelled reads
   in the current step, which share the residual) in each position relative to k --
   past (gate flags 1 1), current (1 0), future (0 0) -- plus the base network behind the
   final gate (``z_K = 0`` for k < K). Gates are the honest ``sat`` (Piecewise), Phi/psi/f
   undefined functions, registers of symbolic shape, ``n`` symbolic; the gradient of
   the whole model loss is taken by sympy and every partial derivative, at
   ``theta_hat_k``'s values, is checked as an identity against the table of expected
   contributions (all 0 except: the current clock head on its target flag and its ``c``;
   the current compute/read heads on their register and ``c``). Because each head only
   sees its gate's pattern, the table holds for every k (flat gates + isolation, proved
   for all k by z3, are what make a head's pattern its only link to k).
2. *assembly for arbitrary k* (z3, unbounded integers k, K, j, s and arbitrary head
   counts): each parameter's total gradient is the sum of its roles' table entries
   (a flag is the first flag of g_j, the second flag -- and clock target -- of g_{j-1},
   and ``z_K`` the final gate's; a register is written by its head and read by later
   heads; ...); ``theta_hat_k - eta * grad == theta_hat_{k+1}`` is proved by ``unsat``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sympy as sp
import z3

from ._result import Check, LemmaResult, make_result, run_as_script
from ._tools import (
    eta_symbol,
    gate_defaults,
    gate_margin_check,
    head_constant,
    identity,
    rat,
    read_scale,
    sat,
    settle,
    z3_prove,
    z3_rat,
)

NAME = "trajectory"
STATEMENT = (
    "theta_0 = theta_hat_0, and for every K >= 1 and every k < K one GD step on the mean loss "
    "maps theta_hat_k to theta_hat_{k+1} (thermometer flags gain one 1, the registers of step "
    "k receive the program's values, the used heads' constants scale by 1 - eta, nothing else "
    "moves); hence theta_K = theta_hat_K and the w block of theta_K is A(D) (T1)."
)
METHOD = (
    "identity (sympy diff of the whole model loss, honest sat gates, undefined Phi/psi/f, "
    "symbolic n and register shapes) for the per-head gradient table by gate pattern, then "
    "z3 (unsat of the negation over unbounded k, K, j, s and head counts) for the assembly "
    "and the base case"
)

PAST, CUR, FUT = 0, 1, 2
PATTERN = {PAST: (1, 1), CUR: (1, 0), FUT: (0, 0)}
PNAME = {PAST: "past", CUR: "current", FUT: "future"}


@dataclass
class _Head:
    kind: str  # clock | compute | unlab | lab
    pat: int
    tag: str
    z1: sp.Symbol
    z2: sp.Symbol
    a: sp.Symbol
    b: sp.Symbol


def _table(loss: str, et: sp.Expr, c0: sp.Expr, s0: sp.Expr, a: sp.Expr, b: sp.Expr,
           a_f: sp.Expr, b_f: sp.Expr) -> list[Check]:
    """Layer 1: the gradient of the whole model loss at theta_hat_k, role by role."""
    i = sp.Symbol("i", integer=True)
    ix = sp.Symbol("a_", integer=True)
    n = sp.Symbol("n", integer=True, positive=True)
    alpha = sp.Symbol("alpha", integer=True, positive=True)
    Y = sp.IndexedBase("Y")
    heads: list[_Head] = []
    state: dict[sp.Symbol, sp.Expr] = {}
    registers: list[tuple[sp.IndexedBase, sp.IndexedBase | None]] = []
    expected: dict[sp.Expr, sp.Expr] = {}
    params: list[tuple[str, sp.Expr]] = []
    aux_terms: list[sp.Expr] = []
    main_terms: dict[int, list[sp.Expr]] = {1: [], 2: []}

    def mean(expr: sp.Expr) -> sp.Expr:
        return sp.Sum(expr, (i, 1, n)) / n

    def new_head(kind: str, pat: int, tag: str) -> tuple[_Head, sp.Expr]:
        name = f"{kind}_{tag}"
        z1, z2, ga, gb = sp.symbols(f"z1_{name} z2_{name} a_{name} b_{name}")
        h = _Head(kind, pat, name, z1, z2, ga, gb)
        heads.append(h)
        state.update({z1: PATTERN[pat][0], z2: PATTERN[pat][1], ga: a, gb: b})
        for v in (z1, z2, ga, gb):
            params.append((name, v))
        return h, sat(ga * (z1 - z2) + gb)

    def const(h: _Head) -> sp.Symbol:
        c = sp.Symbol(f"c_{h.tag}")
        state[c] = (1 - et) * c0 if h.pat == PAST else c0
        params.append((h.tag, c))
        return c

    def register(h: _Head, shape2: bool) -> sp.IndexedBase:
        S, V = sp.IndexedBase(f"S_{h.tag}"), sp.IndexedBase(f"V_{h.tag}")
        registers.append((S, V if h.pat == PAST else None))
        if shape2:
            for col in (1, 2):
                params.append((h.tag, S[alpha, col]))
        else:
            params.append((h.tag, S[alpha]))
        return S

    def inputs(h: _Head) -> tuple[sp.Symbol, sp.Symbol]:
        u, p = sp.symbols(f"u_{h.tag} p_{h.tag}")
        params.extend([(h.tag, u), (h.tag, p)])
        return u, p

    for pat in (PAST, CUR, FUT):
        tag = PNAME[pat]
        # clock head: h = g (c + z_{+1} e), the target is the gate's own second flag
        h, g = new_head("clock", pat, tag)
        c, e = const(h), sp.Symbol(f"e_{h.tag}")
        state[e] = 1
        params.append((h.tag, e))
        aux_terms.append((g * (c + h.z2 * e)) ** 2 / 2)
        if pat == CUR:
            expected[h.z2] = c0
            expected[c] = c0
        # compute / output head: h = g (c + <S, Phi(u; p)>), S of symbolic length
        h, g = new_head("compute", pat, tag)
        c, S = const(h), register(h, False)
        u, p = inputs(h)
        m = alpha + sp.Symbol(f"r_{h.tag}", integer=True, nonnegative=True)
        Phi = sp.Function(f"Phi_{tag}")
        aux_terms.append((g * (c + sp.Sum(S[ix] * Phi(ix, u, p), (ix, 1, m)))) ** 2 / 2)
        if pat == CUR:
            expected[S[alpha]] = c0 * Phi(alpha, u, p)
            expected[c] = c0
        # unlabelled read: h(x_i) = g (c + <R, psi(u, x_i; p)>), averaged over the data
        h, g = new_head("unlab", pat, tag)
        c, R = const(h), register(h, False)
        u, p = inputs(h)
        m = alpha + sp.Symbol(f"r_{h.tag}", integer=True, nonnegative=True)
        psi = sp.Function(f"psiU_{tag}")
        aux_terms.append(mean((g * (c + sp.Sum(R[ix] * psi(ix, i, u, p), (ix, 1, m)))) ** 2 / 2))
        if pat == CUR:
            expected[R[alpha]] = c0 * mean(psi(alpha, i, u, p))
            expected[c] = c0
        # labelled reads: g s R^T psi(u, x_i; p) added to F_main (C = 2 outputs)
        for copy in ((1, 2) if pat == CUR else (1,)):
            ctag = tag if copy == 1 else f"{tag}2"
            h, g = new_head("lab", pat, ctag)
            R = register(h, True)
            u, p = inputs(h)
            s = sp.Symbol(f"s_{h.tag}")
            state[s] = s0
            params.append((h.tag, s))
            m = alpha + sp.Symbol(f"r_{h.tag}", integer=True, nonnegative=True)
            psi = sp.Function(f"psiL_{ctag}")
            for col in (1, 2):
                main_terms[col].append(g * s * sp.Sum(R[ix, col] * psi(ix, i, u, p), (ix, 1, m)))
                if pat == CUR:
                    target = Y[i, col] if loss == "squared" else Y[i, col] - sp.Rational(1, 2)
                    expected[R[alpha, col]] = -s0 * mean(psi(alpha, i, u, p) * target)
    # base network behind the final gate, z_K = 0 before step K
    zK, af, bf, w = sp.symbols("z_K a_f b_f w")
    f = sp.Function("f")
    state.update({zK: 0, af: a_f, bf: b_f})
    G = sat(af * zK + bf)
    for col in (1, 2):
        main_terms[col].append(G * f(col, i, w))
    params.extend([("base", zK), ("base", af), ("base", bf), ("base", w)])
    F1, F2 = sp.Add(*main_terms[1]), sp.Add(*main_terms[2])
    y1, y2 = Y[i, 1], Y[i, 2]
    if loss == "squared":
        ell = ((F1 - y1) ** 2 + (F2 - y2) ** 2) / 2
    else:  # softmax cross-entropy; hypothesis y1 + y2 = 1 is applied to the state below
        lse = sp.log(sp.exp(F1) + sp.exp(F2))
        ell = -(y1 * (F1 - lse) + y2 * (F2 - lse))
    terms = [*aux_terms, mean(ell)]  # L = sum(terms)

    def grad_L(prm: sp.Expr) -> sp.Expr:
        """dL/dprm by sympy, term by term (a term without prm has derivative 0)."""
        key = prm.base if isinstance(prm, sp.Indexed) else prm
        return sp.Add(*[sp.diff(t, prm) for t in terms if t.has(key)])

    reg_value = {S: V for S, V in registers}
    xstate = {k_: sp.sympify(v) for k_, v in state.items()}

    def at_state(expr: sp.Expr) -> sp.Expr:
        def value(e: sp.Indexed) -> sp.Expr:
            if e.base in reg_value:
                V = reg_value[e.base]
                return sp.Integer(0) if V is None else V[e.indices]
            if e.base == Y and loss != "squared" and e.indices[1] == 2:
                return 1 - Y[e.indices[0], 1]  # hypothesis y_i1 + y_i2 = 1
            return e

        expr = expr.replace(lambda e: isinstance(e, sp.Indexed), value)
        return settle(expr.xreplace(xstate))

    checks: list[Check] = []
    for _owner, prm in params:
        grad = at_state(grad_L(prm))
        want = at_state(expected.get(prm, sp.Integer(0)))
        checks.append(identity(f"table: dL/d{prm} at theta_hat_k = {want}", grad, want))
    return checks


def head_constant_z3(et: z3.ArithRef) -> z3.ArithRef:
    """The compiler's head constant on a z3 term (``compiler.head_constant``)."""
    from ..extension import compiler

    return compiler.head_constant(et)


def read_scale_z3(et: z3.ArithRef) -> z3.ArithRef:
    """The compiler's labelled-read scale on a z3 term (``compiler.read_scale``)."""
    from ..extension import compiler

    return compiler.read_scale(et)


def _assembly(eta: object | None, c: object | None, s: object | None) -> list[Check]:
    """Layer 2: for arbitrary k < K, theta_hat_k - eta * (sum of entries) = theta_hat_{k+1}."""
    k, K, j, st, sr = z3.Ints("k K j s s_reader")
    n1, n2, n3, n4, n5, n6 = z3.Ints("N1 N2 N3 N4 N5 N6")  # arbitrary numbers of heads per step
    et = z3.Real("eta") if eta is None else z3_rat(eta)
    Phi, Mu, Nu, V = z3.Reals("Phi Mu Nu V_old")
    c0 = head_constant_z3(et) if c is None else z3_rat(c)
    s0 = read_scale_z3(et) if s is None else z3_rat(s)
    one, zero = z3.RealVal(1), z3.RealVal(0)
    base = z3.And(et > 0, K >= 1, k >= 0, k < K, n1 >= 0, n2 >= 0, n3 >= 0,
                  n4 >= 0, n5 >= 0, n6 >= 0)

    def pat(x: z3.ArithRef) -> z3.ArithRef:
        return z3.If(x < k, PAST, z3.If(x == k, CUR, FUT))

    def entry(values: dict[int, z3.ArithRef], x: z3.ArithRef) -> z3.ArithRef:
        return z3.If(pat(x) == CUR, values.get(CUR, zero),
                     z3.If(pat(x) == PAST, values.get(PAST, zero), values.get(FUT, zero)))

    # the table of layer 1, mirroring ``expected`` in _table (only its nonzero entries are
    # listed; layer 1 proves every other role's entry is 0)
    clock_z2 = {CUR: c0}
    const_c = {CUR: c0}
    compute_S = {CUR: c0 * Phi}
    unlab_R = {CUR: c0 * Mu}
    lab_R = {CUR: -s0 * Nu}

    def cnt(nn: z3.ArithRef, values: dict[int, z3.ArithRef], x: z3.ArithRef) -> z3.ArithRef:
        return z3.ToReal(nn) * entry(values, x)

    checks: list[Check] = []
    flag_k = z3.If(j <= k, one, zero)
    flag_k1 = z3.If(j <= k + 1, one, zero)
    grad_z = (
        z3.If(j < K, entry({}, j) + cnt(n1, {}, j) + cnt(n2, {}, j) + cnt(n3, {}, j), zero)
        + z3.If(j >= 1, entry(clock_z2, j - 1) + cnt(n1, {}, j - 1) + cnt(n2, {}, j - 1)
                + cnt(n3, {}, j - 1), zero)
        + z3.If(j == K, zero, zero)  # the final gate's entry (G closed before K: 0)
    )
    checks.append(z3_prove(
        "assembly: flags z_j' = [j <= k+1] for all 0 <= j <= K, k < K",
        z3.Implies(z3.And(base, j >= 0, j <= K), flag_k - et * grad_z == flag_k1)))
    checks.append(z3_prove(
        "assembly: the final gate reads z_K = 0 at every k < K (its table entry applies)",
        z3.Implies(base, z3.If(K <= k, one, zero) == 0)))
    const_k = z3.If(st < k, (1 - et) * c0, c0)
    const_k1 = z3.If(st < k + 1, (1 - et) * c0, c0)
    checks.append(z3_prove(
        "assembly: head constants c' = (1 - eta) c exactly for the heads of step k",
        z3.Implies(z3.And(base, st >= 0, st < K), const_k - et * entry(const_c, st) == const_k1)))
    reader = z3.And(sr > st, sr < K)
    readers = cnt(n4, {}, sr) + cnt(n5, {}, sr) + cnt(n6, {}, sr)  # later heads reading it: 0
    kinds = (("compute/output", compute_S, Phi), ("unlabelled read", unlab_R, Mu),
             ("labelled read", lab_R, Nu))
    for label, table, value in kinds:
        reg_k = z3.If(st < k, value, zero)
        reg_k1 = z3.If(st < k + 1, value, zero)
        grad = entry(table, st) + z3.If(reader, readers, zero)
        checks.append(z3_prove(
            f"assembly: {label} registers of step s: 0 until s = k, then the program value",
            z3.Implies(z3.And(base, st >= 0, st < K), reg_k - et * grad == reg_k1)))
    # the output register w: written by its head at step s, and read by f behind G (entry 0)
    w_k, w_k1 = z3.If(st < k, Phi, zero), z3.If(st < k + 1, Phi, zero)
    grad_w = entry(compute_S, st) + z3.If(reader, readers, zero) + zero  # + base entry (0)
    checks.append(z3_prove(
        "assembly: the output register w (also f's argument behind G) gets A(D) at its step",
        z3.Implies(z3.And(base, st >= 0, st < K), w_k - et * grad_w == w_k1)))
    # everything else (e, s, a_s, b_s, p, a_f, b_f) has only 0 entries
    others = cnt(n1, {}, st) + cnt(n2, {}, st) + cnt(n3, {}, st) + entry({}, st)
    checks.append(z3_prove(
        "assembly: e, s, gate coefficients, psi/Phi parameters, a_f, b_f do not move",
        z3.Implies(z3.And(base, st >= 0, st < K), V - et * others == V)))
    # base case: theta_0 (section 3) equals theta_hat_0
    checks.append(z3_prove(
        "base case: theta_0's flags z_j = [j = 0] are the thermometer [j <= 0]",
        z3.Implies(j >= 0, z3.If(j == 0, one, zero) == z3.If(j <= 0, one, zero))))
    checks.append(z3_prove(
        "base case: theta_0's registers 0 and constants c0 are theta_hat_0's",
        z3.Implies(st >= 0, z3.And(zero == z3.If(st < 0, Phi, zero),
                                   c0 == z3.If(st < 0, (1 - et) * c0, c0)))))
    # conclusion at K (T1): every register, in particular w, holds the program's value
    checks.append(z3_prove(
        "T1: at k = K every register of a step s < K (the output w included) is filled",
        z3.Implies(z3.And(K >= 1, st >= 0, st < K), z3.If(st < K, Phi, zero) == Phi)))
    return checks


def prove(
    c: object | None = None,
    s: object | None = None,
    a: object | None = None,
    b: object | None = None,
    a_f: object | None = None,
    b_f: object | None = None,
    eta: object | None = None,
    losses: tuple[str, ...] = ("squared", "cross_entropy"),
) -> LemmaResult:
    """Prove the trajectory lemma (base case + symbolic step for arbitrary k, then T1).

    ``c`` (default ``-1/eta``), ``s`` (default ``1/eta``), gate coefficients and ``eta``
    (default symbolic) can be changed for negative controls, e.g. ``c=-3`` or
    ``a=1, b=-1/2`` must give FAILED.
    """
    t0 = time.perf_counter()
    a, b, a_f, b_f = gate_defaults(a, b, a_f, b_f)  # the compiler's constants
    et = eta_symbol(eta)
    c0 = head_constant(et) if c is None else rat(c)
    s0 = read_scale(et) if s is None else rat(s)
    checks: list[Check] = []
    for loss in losses:
        for ch in _table(loss, et, c0, s0, rat(a), rat(b), rat(a_f), rat(b_f)):
            ch.name = f"[{loss}] {ch.name}"
            checks.append(ch)
    checks += _assembly(eta, c, s)
    hyp = {"c": "-1/eta" if c is None else c, "s": "1/eta" if s is None else s, "a": a, "b": b,
           "a_f": a_f, "b_f": b_f, "eta": "symbolic" if eta is None else eta, "losses": losses}
    checks.append(gate_margin_check(a, b, a_f, b_f))
    return make_result(NAME, STATEMENT, METHOD, checks, hyp, time.perf_counter() - t0)


if __name__ == "__main__":
    run_as_script(prove)
