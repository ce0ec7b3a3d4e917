"""In-memory bucket tables of the LSH indexes (CSR layout + open-addressing key map).

Layout (built by :func:`build_tables`), for ``L`` tables over ``n`` items:

- ``perm`` (L, n) int32: per table the item rows sorted by bucket key (CSR "column indices");
- ``dense`` (L, 2**m + 1) int32 (SimHash with m <= 20 bits): bucket offsets indexed by the key
  itself; otherwise empty and the hash map below is used;
- an open-addressing hash map per table from bucket key to the bucket's (start, end) in
  ``perm[t]``: ``slots`` (S, 2) uint64 (key, start << 32 | end; ``_EMPTY`` = free), table ``t``'s
  slots start at ``hoff[t]`` and number ``2 ** hbits[t]``; the slot of a key is
  ``(key * 0x9E3779B97F4A7C15) >> (64 - hbits[t])`` (Fibonacci hashing), then linear probing.

:func:`_lookup` (compiled, inlined into the search kernel) finds a bucket; :func:`bucket_sizes`
lists them for ``stats()``. The Redis bucket store (:mod:`recall.redis_store`) keeps the same
buckets as Redis sets.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from recall.lsh.build_kernels import counting_sort

__all__ = ["build_tables", "bucket_sizes"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)


@nb.njit(cache=True)
def _fill_hash(ukeys, ranges, slots, base, hbits):
    shift = np.uint64(64 - hbits)
    mask = np.int64((1 << hbits) - 1)
    for b in range(ukeys.shape[0]):
        key = ukeys[b]
        s = np.int64((key * _GOLDEN) >> shift)
        while slots[base + s, 1] != _EMPTY:
            s = (s + 1) & mask
        slots[base + s, 0] = key
        slots[base + s, 1] = ranges[b]


def build_tables(keys: NDArray[np.uint64], dense_bits: int = 0) -> dict[str, NDArray]:
    """CSR bucket tables + bucket lookup from item keys (n, L) uint64 (see the module docstring).

    ``dense_bits > 0`` (keys < 2**dense_bits): direct addressing, ``offsets`` (L, 2**b + 1) int32;
    otherwise an open-addressing hash map ``slots`` (sum S_t, 2) uint64 of
    ``[key, start << 32 | end]`` (one cache line per probe).
    """
    n, n_tables = keys.shape
    if n >= 2**31:
        raise ValueError(f"too many items for int32 row numbers: {n}")
    perm = np.empty((n_tables, n), dtype=np.int32)
    hbits = np.zeros(n_tables, dtype=np.int64)
    hoff = np.zeros(n_tables + 1, dtype=np.int64)
    parts: list[tuple[NDArray[np.uint64], NDArray[np.uint64]]] = []
    dense = np.zeros((n_tables if dense_bits else 0, (1 << dense_bits) + 1), dtype=np.int32)
    for t in range(n_tables):
        col = np.ascontiguousarray(keys[:, t])
        if dense_bits:
            # keys below 2**dense_bits: a counting sort gives the stable order and the offsets
            counting_sort(col, dense_bits, perm[t], dense[t])
            continue
        order = np.argsort(col, kind="stable")
        perm[t] = order
        sk = col[order]
        new = np.empty(n, dtype=bool)
        if n:
            new[0] = True
            np.not_equal(sk[1:], sk[:-1], out=new[1:])
        starts = np.flatnonzero(new).astype(np.uint64)
        ends = np.append(starts[1:], np.uint64(n))
        parts.append(
            (np.ascontiguousarray(sk[starts.astype(np.int64)]), (starts << np.uint64(32)) | ends)
        )
        hbits[t] = max(4, int(np.ceil(np.log2(max(2, 2 * starts.size)))))
        hoff[t + 1] = hoff[t] + (1 << int(hbits[t]))
    slots = np.zeros((int(hoff[-1]), 2), dtype=np.uint64)
    slots[:, 1] = _EMPTY
    for t, (ukeys, ranges) in enumerate(parts):
        _fill_hash(ukeys, ranges, slots, int(hoff[t]), int(hbits[t]))
    return {"perm": perm, "dense": dense, "slots": slots, "hoff": hoff, "hbits": hbits}


def bucket_sizes(tables: dict[str, NDArray]) -> NDArray[np.int64]:
    """Sizes of every non-empty bucket of every table (for stats)."""
    if tables["dense"].shape[0]:
        d = np.diff(tables["dense"].astype(np.int64), axis=1).ravel()
        return d[d > 0]
    r = tables["slots"][:, 1]
    r = r[r != _EMPTY]
    return ((r & np.uint64(0xFFFFFFFF)) - (r >> np.uint64(32))).astype(np.int64)


@nb.njit(cache=True, inline="always")
def _lookup(key, t, dense, slots, hoff, hbits):
    """(start, end) of the bucket ``key`` of table ``t`` in ``perm[t]``; (0, 0) when absent."""
    if dense.shape[0] > 0:
        if key >= np.uint64(dense.shape[1] - 1):
            return 0, 0
        i = np.int64(key)
        return np.int64(dense[t, i]), np.int64(dense[t, i + 1])
    bits = hbits[t]
    shift = np.uint64(64 - bits)
    mask = np.int64((1 << bits) - 1)
    base = hoff[t]
    s = np.int64((key * _GOLDEN) >> shift)
    while True:
        v = slots[base + s, 1]
        if v == _EMPTY:
            return 0, 0
        if slots[base + s, 0] == key:
            return np.int64(v >> np.uint64(32)), np.int64(v & np.uint64(0xFFFFFFFF))
        s = (s + 1) & mask
