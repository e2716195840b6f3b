"""A representative extension at a fixed gate pattern, shared by the T2 and T3 lemmas.

One head of every kind (clock, compute, output, unlabelled read, labelled reads) with
honest ``sat`` gates whose flag pair is set by the caller (``past`` = 1 1, ``current`` =
1 0), registers of symbolic length holding arbitrary values (or 0), undefined Phi/psi/f,
and the base network ``f(x; w)`` behind the final gate ``G = sat(a_f z_K + b_f)``; the
output head's register *is* ``w`` (entry ``W[alpha]`` is a generic coordinate of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ._tools import sat


@dataclass
class Model:
    """Symbols, outputs and the state of a representative extension."""

    state: dict = field(default_factory=dict)
    registers: dict = field(default_factory=dict)  # IndexedBase -> IndexedBase of values | None
    params: list = field(default_factory=list)
    aux: list = field(default_factory=list)  # aux outputs h(x) as functions of the input x
    main: list = field(default_factory=list)  # F_main terms, functions of (class, x)
    W: sp.IndexedBase = sp.IndexedBase("W")
    alpha: sp.Symbol = sp.Symbol("alpha", integer=True, positive=True)
    f: type = sp.Function("f")

    def at_state(self, expr: sp.Expr) -> sp.Expr:
        """Substitute the state (registers, flags, coefficients, constants)."""

        def value(e: sp.Indexed) -> sp.Expr:
            if e.base in self.registers:
                V = self.registers[e.base]
                return sp.Integer(0) if V is None else V[e.indices]
            return e

        expr = expr.replace(lambda e: isinstance(e, sp.Indexed), value)
        return expr.xreplace({k: sp.sympify(v) for k, v in self.state.items()})


def build(
    pattern: tuple[int, int],
    filled: bool,
    c_value: sp.Expr,
    a: sp.Expr,
    b: sp.Expr,
    a_f: sp.Expr,
    b_f: sp.Expr,
    zK: int,
    s_value: sp.Expr,
    labelled: int = 2,
) -> Model:
    """Build the model; every head's gate flags read ``pattern``; registers hold arbitrary
    values if ``filled`` else 0; the output register ``W`` is filled iff ``filled``;
    ``labelled`` labelled reads add to F_main."""
    M = Model()
    ix = sp.Symbol("a_", integer=True)
    al = M.alpha

    def head(tag: str) -> sp.Expr:
        z1, z2, ga, gb = sp.symbols(f"z1_{tag} z2_{tag} a_{tag} b_{tag}")
        M.state.update({z1: pattern[0], z2: pattern[1], ga: a, gb: b})
        M.params.extend([z1, z2, ga, gb])
        return sat(ga * (z1 - z2) + gb)

    def const(tag: str) -> sp.Symbol:
        c = sp.Symbol(f"c_{tag}")
        M.state[c] = c_value
        M.params.append(c)
        return c

    def reg(tag: str, two: bool) -> sp.IndexedBase:
        S = sp.IndexedBase(f"S_{tag}")
        M.registers[S] = sp.IndexedBase(f"V_{tag}") if filled else None
        M.params.extend([S[al, 1], S[al, 2]] if two else [S[al]])
        return S

    def length(tag: str) -> sp.Expr:
        return al + sp.Symbol(f"r_{tag}", integer=True, nonnegative=True)

    # clock head: target = second flag
    g = head("clock")
    c, e = const("clock"), sp.Symbol("e_clock")
    M.state[e] = 1
    M.params.append(e)
    M.aux.append(lambda xx, g=g, c=c, e=e: g * (c + sp.Symbol("z2_clock") * e))
    # compute head
    g = head("compute")
    c, S = const("compute"), reg("compute", False)
    u, p = sp.symbols("u_compute p_compute")
    M.params.extend([u, p])
    m = length("compute")
    Phi = sp.Function("Phi")
    M.aux.append(lambda xx, g=g, c=c, S=S, u=u, p=p, m=m:
                 g * (c + sp.Sum(S[ix] * Phi(ix, u, p), (ix, 1, m))))
    # output head: its register is w itself
    g = head("output")
    c = const("output")
    M.registers[M.W] = sp.IndexedBase("A_D") if filled else None
    M.params.append(M.W[al])
    u, p = sp.symbols("u_output p_output")
    M.params.extend([u, p])
    m = length("output")
    Phio = sp.Function("Phi_out")
    M.aux.append(lambda xx, g=g, c=c, u=u, p=p, m=m:
                 g * (c + sp.Sum(M.W[ix] * Phio(ix, u, p), (ix, 1, m))))
    # unlabelled read
    g = head("unlab")
    c, R = const("unlab"), reg("unlab", False)
    u, p = sp.symbols("u_unlab p_unlab")
    M.params.extend([u, p])
    m = length("unlab")
    psiU = sp.Function("psiU")
    M.aux.append(lambda xx, g=g, c=c, R=R, u=u, p=p, m=m:
                 g * (c + sp.Sum(R[ix] * psiU(ix, xx, u, p), (ix, 1, m))))
    # two labelled reads in F_main
    for tag in [f"lab{j + 1}" for j in range(labelled)]:
        g = head(tag)
        R = reg(tag, True)
        u, p, s = sp.symbols(f"u_{tag} p_{tag} s_{tag}")
        M.state[s] = s_value
        M.params.extend([u, p, s])
        m = length(tag)
        psiL = sp.Function(f"psi_{tag}")
        M.main.append(lambda col, xx, g=g, R=R, u=u, p=p, s=s, m=m, psiL=psiL:
                      g * s * sp.Sum(R[ix, col] * psiL(ix, xx, u, p), (ix, 1, m)))
    # base network behind the final gate
    zk, af, bf = sp.symbols("z_K a_f b_f")
    M.state.update({zk: zK, af: a_f, bf: b_f})
    M.params.extend([zk, af, bf])
    G = sat(af * zk + bf)
    M.main.append(lambda col, xx, G=G: G * M.f(col, xx, M.W[al]))
    return M
