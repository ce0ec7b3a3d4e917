"""Cross-polytope LSH (Andoni et al. 2015): the hash of :class:`recall.lsh.BalancedLSHIndex`.

A function is ``D'`` orthonormal random directions ``P`` (d, D'); a vector ``y = P^T (v - m)``
(centred on the mean ``m`` of the bucket being split) hashes to ``2 argmax_i |y_i| + [y_i < 0]``,
one of the ``2 D'`` vertices of the cross-polytope. :func:`orthonormal_blocks` draws the
directions (prefix-stable from one seeded stream), :func:`cp_digits` computes the digits.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = ["cp_digits", "orthonormal_blocks"]


def orthonormal_blocks(
    rng: np.random.Generator, count: int, dim: int, n_dirs: int
) -> NDArray[np.float32]:
    """``count`` blocks (count, dim, n_dirs) float32 drawn in order from ``rng``: orthonormal
    columns (QR of a Gaussian block) when ``n_dirs <= dim``, else unit-norm Gaussian columns."""
    proj = np.empty((count, dim, n_dirs), dtype=np.float32)
    for f in range(count):
        g = rng.standard_normal((dim, n_dirs))
        if n_dirs <= dim:
            g, _r = np.linalg.qr(g)
        else:
            g /= np.linalg.norm(g, axis=0, keepdims=True)
        proj[f] = g
    return proj


@nb.njit(cache=True)
def cp_digits(y):
    """Cross-polytope digit ``2 argmax|y_i| + [y_i < 0]`` per row of y (n, D')."""
    n, D = y.shape
    out = np.empty(n, dtype=np.int64)
    for r in range(n):
        best = -1.0
        bi = 0
        for j in range(D):
            a = abs(y[r, j])
            if a > best:
                best = a
                bi = j
        out[r] = 2 * bi + (1 if y[r, bi] < 0 else 0)
    return out
