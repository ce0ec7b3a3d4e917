"""Compiled (numba) hashing helpers of the LSH indexes: bucket keys from projections, and the
projection and normalisation of a few query rows without a BLAS round trip.

:mod:`recall.lsh.hashers` keys the items with :func:`combine_e2lsh` / :func:`combine_bits`; the
search path (:mod:`recall.lsh.index_search`) projects single queries with :func:`project_small`
after :func:`normalize_small`. The search kernel (:mod:`recall.lsh.kernels`) forms the same keys
inline while it builds the probe sequence.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = ["combine_e2lsh", "combine_bits", "normalize_small", "project_small"]


@nb.njit(cache=True)
def combine_e2lsh(f: NDArray[np.float32], mults: NDArray[np.uint64], n_tables: int, m: int):
    """keys (n, L) uint64 = sum_j mults[t*m+j] * uint64(floor(f[:, t*m+j])) mod 2**64."""
    n = f.shape[0]
    out = np.empty((n, n_tables), dtype=np.uint64)
    for i in range(n):
        for t in range(n_tables):
            acc = np.uint64(0)
            for j in range(m):
                h = np.int64(np.floor(f[i, t * m + j]))
                acc += mults[t * m + j] * np.uint64(h)
            out[i, t] = acc
    return out


@nb.njit(cache=True)
def combine_bits(p: NDArray[np.float32], n_tables: int, m: int):
    """keys (n, L) uint64 = sum_j [p[:, t*m+j] > 0] << j."""
    n = p.shape[0]
    out = np.empty((n, n_tables), dtype=np.uint64)
    one = np.uint64(1)
    for i in range(n):
        for t in range(n_tables):
            acc = np.uint64(0)
            for j in range(m):
                if p[i, t * m + j] > 0:
                    acc |= one << np.uint64(j)
            out[i, t] = acc
    return out


@nb.njit(cache=True)
def normalize_small(x):
    """Unit-length copy of a few float32 rows (zero rows stay zero), as ``normalize_rows``."""
    n, d = x.shape
    out = np.empty((n, d), dtype=np.float32)
    for i in range(n):
        acc = 0.0
        for c in range(d):
            acc += np.float64(x[i, c]) * np.float64(x[i, c])
        nrm = np.float32(max(np.sqrt(acc), 1e-12))
        for c in range(d):
            out[i, c] = x[i, c] / nrm
    return out


@nb.njit(cache=True, fastmath=False)
def project_small(x, A, b, w, affine):
    """``(x @ A + b) / w`` (or ``x @ A``) for a few rows, without a BLAS thread pool round trip."""
    n, d = x.shape
    cols = A.shape[1]
    out = np.zeros((n, cols), dtype=np.float32)
    for i in range(n):
        for c in range(d):
            v = x[i, c]
            for j in range(cols):
                out[i, j] += v * A[c, j]
        if affine:
            for j in range(cols):
                out[i, j] = (out[i, j] + b[j]) / w
    return out
