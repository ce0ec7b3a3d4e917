"""Compiled (numba) build kernels of the LSH indexes: bucket sorting and int8 quantisation.

Why (issue 11, profile of a 16-table SimHash build at 1M x 64): NumPy's stable argsort of each
table's uint64 keys took ~1.2 s of CPU, the float temporaries of the int8 quantisation
(``rint(x / scales)``, ``clip``, cast) ~0.5 s, and projecting all rows at once wrote a 1 GB
(n, L*m) float32 array before the keys were combined. Keys of direct-addressed tables are below
``2**bits``, so a counting sort gives the same stable order and the bucket offsets in two passes;
quantising row by row needs no temporaries; keys are combined block by block
(:data:`KEY_BLOCK` rows), so the projections stay small.
"""

from __future__ import annotations

from collections.abc import Callable

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "KEY_BLOCK",
    "blocked_keys",
    "counting_sort",
    "group_rows",
    "quantize_rows",
    "split_level",
]

#: rows projected at a time when keys are computed for many rows
KEY_BLOCK = 16384


@nb.njit(cache=True)
def _counting_sort(col, n_keys, perm, offsets):
    n = col.shape[0]
    counts = np.zeros(n_keys + 2, dtype=np.int64)  # keys >= n_keys share one bucket at the end
    for i in range(n):
        counts[min(np.int64(col[i]), n_keys) + 1] += 1
    for b in range(n_keys + 1):
        counts[b + 1] += counts[b]
    for b in range(n_keys + 1):
        offsets[b] = counts[b]
    for i in range(n):
        k = min(np.int64(col[i]), n_keys)
        perm[counts[k]] = i
        counts[k] += 1


def counting_sort(
    col: NDArray[np.uint64], n_bits: int, perm: NDArray[np.int32], offsets: NDArray[np.int32]
) -> None:
    """Stable sort of keys ``col`` (n,) uint64: writes the row order into ``perm`` (n,) int32
    (equal to ``np.argsort(col, kind="stable")``) and the bucket starts of the keys below
    ``2**n_bits`` into ``offsets`` (2**n_bits + 1,) int32 (equal to
    ``searchsorted(sorted keys, arange(2**n_bits + 1))``). Keys at or above ``2**n_bits`` (the
    Redis store's padding) come last, in key order, outside every bucket."""
    n_keys = 1 << n_bits
    if col.size and int(col.max()) >= n_keys:  # rare: a stable argsort keeps the exact order
        order = np.argsort(col, kind="stable")
        perm[:] = order
        offsets[:] = np.searchsorted(col[order], np.arange(n_keys + 1, dtype=np.uint64))
        return
    _counting_sort(col, n_keys, perm, offsets)


@nb.njit(cache=True)
def quantize_rows(x, scales, out):
    """``out[i, c] = clip(rint(x[i, c] / scales[c]), -127, 127)`` as int8, for (n, d) float32 ``x``
    (the same numbers as the NumPy expression, without its (n, d) float temporaries)."""
    n, d = x.shape
    for i in range(n):
        for c in range(d):
            v = np.rint(x[i, c] / scales[c])
            if v > 127.0:
                v = 127.0
            elif v < -127.0:
                v = -127.0
            out[i, c] = np.int8(v)


def blocked_keys(
    x: NDArray[np.float32],
    n_tables: int,
    project: Callable[[NDArray[np.float32]], NDArray[np.float32]],
    combine: Callable[[NDArray[np.float32]], NDArray[np.uint64]],
) -> NDArray[np.uint64]:
    """Keys (n, n_tables) uint64 of the rows of ``x`` (n, d) float32: ``combine(project(block))``
    over blocks of :data:`KEY_BLOCK` rows."""
    n = x.shape[0]
    out = np.empty((n, n_tables), dtype=np.uint64)
    for s in range(0, n, KEY_BLOCK):
        e = min(n, s + KEY_BLOCK)
        out[s:e] = combine(project(x[s:e]))
    return out


@nb.njit(cache=True)
def group_rows(keys, order, starts):
    """Posting lists: rows grouped by key, table by table. ``keys`` (L, n) int64 is the key
    (leaf) of every original row in every table, ``order`` (n,) int64 the original row at each
    new position, ``starts`` (n_keys,) int64 the first slot of every key; returns (L*n,) int32
    new positions, equal to ``(arange(L*n) % n)[np.argsort(keys[:, order].ravel(),
    kind="stable")]`` (one counting pass, no sort and no (L, n) gathered copy)."""
    n_tab, n = keys.shape
    pos = starts.copy()
    out = np.empty(n_tab * n, dtype=np.int32)
    for t in range(n_tab):
        for i in range(n):
            key = keys[t, order[i]]
            out[pos[key]] = i
            pos[key] += 1
    return out


@nb.njit(cache=True, fastmath=True)
def split_level(h, rows, local, n_split, proj):
    """One level of a balanced split tree: for the ``rows`` (m,) of ``h`` (n, d_h) float32 that
    sit in splitting nodes ``local`` (m,) int64 (0 .. n_split - 1), the projections
    ``y = h[row] @ proj`` (proj (d_h, D') float32), each node's mean projection ``pm`` (n_split,
    D') float32 (float64 sums in row order, as ``np.bincount`` adds them) and each row's centred
    cross-polytope digit ``2 argmax|y - pm| + [y_i - pm_i < 0]`` (m,) int64. Rows are read in
    place (no (m, d_h) gathered copy)."""
    m = rows.shape[0]
    dh, D = proj.shape
    pt = np.ascontiguousarray(proj.T)  # (D', d_h): each direction a contiguous dot product
    y = np.empty((m, D), dtype=np.float32)
    sums = np.zeros((n_split, D), dtype=np.float64)
    cnt = np.zeros(n_split, dtype=np.int64)
    for i in range(m):
        r = rows[i]
        g = local[i]
        cnt[g] += 1
        for j in range(D):
            acc = np.float32(0.0)
            for c in range(dh):
                acc += h[r, c] * pt[j, c]
            y[i, j] = acc
            sums[g, j] += acc
    pm = np.empty((n_split, D), dtype=np.float32)
    for g in range(n_split):
        for j in range(D):
            pm[g, j] = sums[g, j] / cnt[g] if cnt[g] > 0 else 0.0
    digits = np.empty(m, dtype=np.int64)
    for i in range(m):
        g = local[i]
        best = np.float32(-1.0)
        bi = 0
        neg = False
        for j in range(D):
            a = y[i, j] - pm[g, j]
            if abs(a) > best:
                best = abs(a)
                bi = j
                neg = a < 0
        digits[i] = 2 * bi + (1 if neg else 0)
    return pm, digits
