"""Issue 9, case by case: the tracer either computes what the function computes or refuses.

For each case of the issue's list: the traced program (interpreted, and for some
compiled and checked by exact GD) gives the same weights as the concrete execution of
the same function, or tracing raises one-sentence TraceError. Then the old behaviour is
put back with monkeypatch and the fuzzer's oracle (``test_fuzz.oracle`` /
``compile_oracle``) is shown to flag it: the fuzzer would have caught each defect.
"""

from __future__ import annotations

import re
from fractions import Fraction as F

import numpy as np
import pytest
from test_fuzz import compile_oracle, oracle

from symbolic_universality.backends.scalars import EXACT
from symbolic_universality.graph import core as g
from symbolic_universality.networks.mlp import MLP
from symbolic_universality.program import lang, tracer
from symbolic_universality.program.concrete import execute
from symbolic_universality.program.interpreter import run_program
from symbolic_universality.program.tracer import Traced, TraceError, trace

# three samples, d = 2, c = 2; class 1 has no sample in X_MISSING
X = np.array([[F(1), F(2)], [F(-1), F(1, 2)], [F(3), F(0)]], dtype=object)
Y = np.array([[F(1), F(0)], [F(0), F(1)], [F(1), F(0)]], dtype=object)
Y_MISSING = np.array([[F(1), F(0)], [F(1), F(0)], [F(1), F(0)]], dtype=object)
# x[0] - x[0] averages to exactly 0 (the case the identity comparison gets wrong)
NET = MLP((2, 2), "identity")  # 6 weights


def _one_sentence(msg: str) -> bool:
    return "\n" not in msg and re.search(r"\.\s+[A-Z]", msg) is None and len(msg) < 400


def _refused(alg, **kw) -> str:
    with pytest.raises(TraceError) as info:
        trace(alg, 2, 2, **kw)
    msg = str(info.value)
    assert _one_sentence(msg), msg
    return msg


def _same(alg, x=X, y=Y, **kw) -> list[F]:
    """The traced weights, asserted equal to the executed ones."""
    traced = run_program(trace(alg, x.shape[1], y.shape[1], **kw), x, y, EXACT)["w"]
    executed = execute(alg, x, y, **kw)
    assert list(traced) == list(executed)
    return list(executed)


def _pad(v, data, n=6):
    """``v`` flattened and padded with zeros to ``n`` entries (sliced only if longer)."""
    k = v.size
    out = lang.concat([v] if k >= n else [v, data.const(np.zeros(n - k, dtype=int))])
    return out if k <= n else out[:n]


def _zero_mean(data):
    return data.mean(lambda x: x[0] - x[0])  # exactly 0 on every sample


# ------------------------------------------------------------------ if m == 0:


def branch_on_eq(data):
    m = _zero_mean(data)
    if m == 0:
        return _pad(m + 1, data)
    return _pad(m, data)


def test_if_eq_is_refused_and_executes(monkeypatch):
    assert "lang.where" in _refused(branch_on_eq)
    assert list(execute(branch_on_eq, X, Y))[:1] == [F(1)]  # plain Python takes the if
    assert oracle(branch_on_eq, X, Y, allow_refusal=True) is None
    # the old tracer decided == by identity: the else branch, silently
    monkeypatch.setattr(Traced, "__eq__", lambda self, o: self is o)
    monkeypatch.setattr(Traced, "__hash__", object.__hash__)
    assert oracle(branch_on_eq, X, Y, allow_refusal=True) is not None


# ------------------------------------------------------------------ m != m


def ne_self(data):
    m = data.mean(lambda x: x)
    return _pad(lang.concat([m != m, m == m, m]), data)


def ne_twin(data):
    a = data.mean(lambda x: x[0])
    b = data.mean(lambda x: x[0])  # the same value in another object
    return _pad(lang.concat([a != b, a]), data)


def test_ne_traces_to_values(monkeypatch):
    w = _same(ne_self)
    assert w[:4] == [0, 0, 1, 1]
    assert w[4:] == [F(1), F(5, 6)]  # mean of x: (1 - 1 + 3)/3, (2 + 1/2 + 0)/3
    assert _same(ne_twin)[0] == 0
    # the identity comparison: two objects with equal values are "different"
    monkeypatch.setattr(Traced, "__ne__", lambda self, o: self is not o)
    monkeypatch.setattr(Traced, "__hash__", object.__hash__)
    assert oracle(ne_twin, X, Y) is not None


# ------------------------------------------------------------------ 0 in [m]


def zero_in_list(data):
    m = _zero_mean(data)
    return _pad(m + 1 if 0 in [m] else m, data)


def key_in_dict(data):
    m = _zero_mean(data)
    table = {0: "zero"}
    return _pad(m + 1 if m in table else m, data)


def test_membership_is_refused(monkeypatch):
    assert "lang.where" in _refused(zero_in_list)
    assert "dictionary key" in _refused(key_in_dict)
    assert execute(zero_in_list, X, Y)[0] == 1
    monkeypatch.setattr(Traced, "__eq__", lambda self, o: self is o)
    monkeypatch.setattr(Traced, "__hash__", object.__hash__)
    assert oracle(zero_in_list, X, Y, allow_refusal=True) is not None


# ------------------------------------------------------------------ m[7] on length 4


def index_past_end(data):
    m = data.mean(lambda x: lang.concat([x, x]))  # length 4
    return _pad(m[7], data)


def index_negative(data):
    m = data.mean(lambda x: lang.concat([x, 2 * x]))
    return _pad(lang.concat([m[-1], m[-4], m[1:3], m[::-2]]), data)


def _old_getitem(self, key):  # the tracer before issue 9: the index wraps
    if len(self.shape) == 1 and isinstance(key, int):
        i = key % self.shape[0]
        return self._wrap(g.reshape(g.slice_(self.node, i, i + 1), ()))
    return _new_getitem(self, key)


_new_getitem = Traced.__getitem__


def test_index_bounds(monkeypatch):
    msg = _refused(index_past_end)
    assert "index 7 is out of range" in msg and "length 4" in msg
    # NumPy's meaning of negative indices and steps, by hand: m = (1, 5/6, 2, 5/3)
    assert _same(index_negative)[:6] == [F(5, 3), F(1), F(5, 6), F(2), F(5, 3), F(5, 6)]
    monkeypatch.setattr(Traced, "__getitem__", _old_getitem)
    assert oracle(index_past_end, X, Y, allow_refusal=True) is not None


def test_2d_slicing():
    def alg(data):
        s = data.mean(lambda x, y: lang.outer(y, x))  # 2 x 2
        return _pad(lang.concat([s[:, -1], s[1], s[0, 0], s[::-1, :1]]), data)

    # s = mean y x^T = [[(1 + 3)/3, 2/3], [-1/3, 1/6]]
    assert _same(alg) == [F(2, 3), F(1, 6), F(-1, 3), F(1, 6), F(4, 3), F(-1, 3)]


# ------------------------------------------------------------------ 2 + x, 1 - m, 1 - y


def two_plus_x(data):
    return _pad(data.mean(lambda x: 2 + x), data)


def one_minus_m(data):
    return _pad(1 - data.mean(lambda x: x), data)


def one_minus_y(data):
    return _pad(lang.concat([data.mean(lambda x, y: 1 - y), data.mean(lambda x, y: 1 - y)]),
                data)


def _old_binary(op, a, b):  # no broadcasting nodes: the compiler meets () against (2,)
    return {"add": g.add, "sub": g.sub, "mul": g.mul}[op](a, b)


@pytest.mark.parametrize("alg", [two_plus_x, one_minus_m, one_minus_y])
def test_scalar_broadcasting_compiles_and_verifies(alg, monkeypatch):
    w = _same(alg)
    expected = {two_plus_x: [F(3), F(17, 6)], one_minus_m: [F(0), F(1, 6)],
                one_minus_y: [F(1, 3), F(2, 3)]}[alg]
    assert w[:2] == expected
    assert compile_oracle(alg, X, Y, NET) is None
    monkeypatch.setattr(tracer, "binary", _old_binary)
    monkeypatch.setattr(lang, "binary", _old_binary)
    assert compile_oracle(alg, X, Y, NET) is not None


# ------------------------------------------------------------------ np.sign, np.maximum


def np_sign(data):
    return _pad(np.sign(data.mean(lambda x: x - 1)), data)


def np_maximum(data):
    m = data.mean(lambda x: x - 1)
    return _pad(lang.concat([np.maximum(m, 0), np.abs(m), np.where(m > 0, m, 2)]), data)


def np_floor(data):
    return _pad(np.floor(data.mean(lambda x: x)), data)


@pytest.mark.parametrize("alg", [np_sign, np_maximum])
def test_numpy_ufuncs(alg, monkeypatch):
    w = _same(alg)
    if alg is np_sign:  # mean x - 1 = (0, -1/6)
        assert w[:2] == [0, -1]
    else:
        assert w == [0, 0, 0, F(1, 6), 2, 2]
    assert compile_oracle(alg, X, Y, NET) is None
    # without the NumPy protocol NumPy picks the traced value apart
    monkeypatch.delattr(Traced, "__array_ufunc__")
    monkeypatch.delattr(Traced, "__array_function__")
    monkeypatch.delattr(Traced, "__array__")
    assert oracle(alg, X, Y) is not None


def test_unsupported_ufunc_names_the_lang_function():
    msg = _refused(np_floor)
    assert "np.floor" in msg and "lang.step" in msg


# ------------------------------------------------------------------ lr = 0.1


def float_lr(data):
    lr = 0.1
    return _pad(lr * data.mean(lambda x: x), data)


def _silent_floats(value, float_constants="refuse", record=None):
    return _exact_array(value, "exact", None)


_exact_array = tracer.exact_array


def test_float_constant(monkeypatch):
    msg = _refused(float_lr)
    assert "0.1" in msg and "Fraction(1, 10)" in msg and "--float-constants exact" in msg
    with pytest.raises(TraceError, match="Fraction\\(1, 10\\)"):
        execute(float_lr, X, Y)
    w = _same(float_lr, float_constants="exact")
    assert w[:2] == [F(1, 10), F(1, 12)]
    program = trace(float_lr, 2, 2, float_constants="exact")
    assert program.float_constants == [(0.1, F(1, 10))]
    # the old tracer read the float silently; plain Python refuses (or would compute floats)
    monkeypatch.setattr(tracer, "exact_array", _silent_floats)
    assert oracle(float_lr, X, Y, allow_refusal=True) is not None


# ------------------------------------------------------------------ where(n > 0, s / n, 0)


def guarded_mean(data):
    n = data.mean(lambda x, y: y)             # class frequencies (class 1 may be missing)
    s = data.mean(lambda x, y: y * x[0])      # per-class sums of x_0
    return _pad(lang.where(n > 0, s / n, 0), data)


def unguarded_mean(data):
    n = data.mean(lambda x, y: y)
    s = data.mean(lambda x, y: y * x[0])
    return _pad(s / n, data)


def test_guarded_division(monkeypatch):
    # class 0 mean of x_0 = (1 + 3)/2, class 1: -1; with class 1 missing: 1, then 0
    assert _same(guarded_mean)[:2] == [F(2), F(-1)]
    assert _same(guarded_mean, y=Y_MISSING)[:2] == [F(1), F(0)]
    assert compile_oracle(guarded_mean, X, Y_MISSING, NET) is None
    # a division by 0 that nothing discards stays an error on both sides
    assert oracle(unguarded_mean, X, Y_MISSING) is None
    monkeypatch.setattr(lang, "_guard", lambda branch, cond, positive: branch)
    assert oracle(guarded_mean, X, Y_MISSING) is not None


def test_guard_does_not_mix_positions():
    # the sum mixes entry 1 (divisor 0, discarded) into entry 0 (kept): must stay an error
    def alg(data):
        n = data.mean(lambda x, y: y)
        s = data.mean(lambda x, y: y * x[0])
        q = s / n
        return _pad(lang.where(n > 0, q + q.sum(), 0), data)

    assert oracle(alg, X, Y_MISSING) is None
    from symbolic_universality.backends.scalars import BackendError

    with pytest.raises(BackendError, match="divided by exactly 0"):
        run_program(trace(alg, 2, 2), X, Y_MISSING, EXACT)


# ------------------------------------------------------------------ other refusals


@pytest.mark.parametrize("body, fragment", [
    (lambda data: _pad(data.mean(lambda x: x) if data.mean(lambda x: x[0]) else 0, data),
     "truth value"),
    (lambda data: float(data.mean(lambda x: x[0])), "no number"),
    (lambda data: hash(data.mean(lambda x: x[0])), "dictionary key"),
    (lambda data: data.mean(lambda x: data.mean(lambda z: z)), "nested"),
    (lambda data: data.mean(lambda x: x)[np.array([0, 1])], "integers and slices"),
    (lambda data: data.mean(lambda x: x) ** F(1, 2), "integer powers"),
    (lambda data: lang.where(data.mean(lambda x: x), 1, 0), "0/1 condition"),
    (lambda data: data.mean(lambda x: x) // 2, "floor division"),
])
def test_refusals_are_one_sentence(body, fragment):
    assert fragment in _refused(body)
