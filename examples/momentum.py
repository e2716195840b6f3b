"""Heavy-ball momentum on the squared loss: a user's own algorithm, outside the toolkit.

    symuni verify --algorithm examples/momentum.py:momentum --network linear \
        --dataset examples/flowers.csv --option T=3 --option beta=1/2 \
        --reference examples/momentum.py:momentum_reference --json momentum.json
"""

from fractions import Fraction

import numpy as np

from symbolic_universality.program import lang


def momentum(data, net, T=3, lr=Fraction(1, 10), beta=Fraction(1, 2)):
    """``v <- beta v + grad L(w)``, ``w <- w - lr v``, from ``w = v = 0``, ``T`` times."""
    w = data.const(np.zeros(net.n_params, dtype=int), "w0")
    v = data.const(np.zeros(net.n_params, dtype=int), "v0")
    for _ in range(T):
        grad = data.mean(lambda x, y, w=w: lang.loss_grad(net, w, x, y))
        v = beta * v + grad
        w = w - lr * v
    return w


def momentum_reference(x, y, T=3, lr=Fraction(1, 10), beta=Fraction(1, 2)):
    """The same algorithm by hand for a linear network ``W x + b`` (W row-major, then b)."""
    n, d = x.shape
    c = y.shape[1]
    W = np.full((c, d), Fraction(0), dtype=object)
    b = np.full(c, Fraction(0), dtype=object)
    vW, vb = W.copy(), b.copy()
    for _ in range(T):
        r = x @ W.T + b - y                      # residuals, n x c
        gW, gb = r.T @ x / n, r.sum(axis=0) / n  # gradient of mean 1/2 |Wx + b - y|^2
        vW, vb = beta * vW + gW, beta * vb + gb
        W, b = W - lr * vW, b - lr * vb
    return np.concatenate([W.reshape(-1), b])
