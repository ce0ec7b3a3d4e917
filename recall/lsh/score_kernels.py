"""Compiled (numba) scoring and sketch helpers of the LSH search kernel.

A candidate is scored on the float32 vectors (:func:`_score`) or on a table's int8 copy
(:func:`_score8c`, the query pre-multiplied by the per-dimension scales), as an inner product or
as ``2 q.x - |x|^2 - |q|^2`` (minus the squared L2 distance). :func:`sketch_codes` gives the
rows' sign sketches (up to 32 random-hyperplane bits) that the kernel compares with the query's
by :func:`_popcount32` of their XOR to skip far candidates of tables without their own int8 copy.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["METRIC_DOT", "METRIC_L2", "sketch_codes"]

METRIC_DOT = 0  # ip and cosine (already normalised)
METRIC_L2 = 1


@nb.njit(cache=True, fastmath=True)
def _score(data, norms, row, q, qn, metric):
    acc = np.float32(0.0)
    for c in range(q.shape[0]):
        acc += data[row, c] * q[c]
    if metric == METRIC_L2:
        return np.float32(2.0) * acc - norms[row] - qn
    return acc


@nb.njit(cache=True, fastmath=True)
def _score8c(ccodes, t, p, norms, row, qs, qn, metric):
    acc = np.float32(0.0)
    for c in range(qs.shape[0]):
        acc += np.float32(ccodes[t, p, c]) * qs[c]
    if metric == METRIC_L2:
        return np.float32(2.0) * acc - norms[row] - qn
    return acc


@nb.njit(cache=True, inline="always")
def _popcount32(v):
    """Set bits of a uint32 (SWAR; numba has no portable popcount intrinsic)."""
    v = v - ((v >> np.uint32(1)) & np.uint32(0x55555555))
    v = (v & np.uint32(0x33333333)) + ((v >> np.uint32(2)) & np.uint32(0x33333333))
    v = (v + (v >> np.uint32(4))) & np.uint32(0x0F0F0F0F)
    return np.int64(((v * np.uint32(0x01010101)) & np.uint32(0xFFFFFFFF)) >> np.uint32(24))


@nb.njit(cache=True)
def sketch_codes(x, planes):
    """Sketches (n,) uint32: bit j = [x . planes[:, j] > 0] for the B <= 32 columns of planes."""
    n, d = x.shape
    nb_ = planes.shape[1]
    out = np.zeros(n, dtype=np.uint32)
    proj = np.empty(nb_, dtype=np.float32)
    for i in range(n):
        proj[:] = 0.0
        for c in range(d):
            v = x[i, c]
            for j in range(nb_):
                proj[j] += v * planes[c, j]
        acc = np.uint32(0)
        for j in range(nb_):
            if proj[j] > 0:
                acc |= np.uint32(1) << np.uint32(j)
        out[i] = acc
    return out
