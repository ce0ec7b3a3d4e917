"""How an LSH index holds its items: row order, bucket tables, int8 copies and sign sketches.

:class:`_Storage` is the storage half of :class:`recall.lsh.index_base._LSHIndex`: ``_store``
sorts the rows by table-0 bucket (or by k-means cell first, ``layout="clusters"``), builds the
bucket tables (:mod:`recall.lsh.tables`), the int8 codes with one contiguous copy per table that
``contiguous_bytes`` allows (:func:`_aligned_int8`: 64-byte aligned rows) and the sketches of the
other tables with the Hamming radius chosen from the data; ``_add`` appends items and stores
everything again; ``_reset`` / ``_scratch`` allocate the empty state and the search's scratch
arrays. The search path that reads this storage is :mod:`recall.lsh.index_search`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from embeddings.neighbours import exact_search
from recall.lsh.build_kernels import quantize_rows
from recall.lsh.score_kernels import sketch_codes
from recall.lsh.tables import build_tables

if TYPE_CHECKING:
    from recall.lsh.hashers import E2LSHHasher, SimHashHasher

__all__: list[str] = []


def _cells(
    x: NDArray[np.float32], rank: NDArray[np.int64], random_state: int | None
) -> NDArray[np.int64]:
    """k-means cells (n,) int64 of the rows (about 2,048 rows a cell; Lloyd, 8 rounds on a
    sample of at most 32,768 rows in insertion order, seeded), for a cache-friendly row order."""
    n = x.shape[0]
    n_cells = int(np.clip(n // 2048, 1, 1024))
    if n_cells == 1:
        return np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(random_state).spawn(4)[3])
    by_rank = np.argsort(rank)
    sample = x[by_rank[np.sort(rng.choice(n, size=min(n, 32_768), replace=False))]]
    c = sample[rng.choice(sample.shape[0], size=n_cells, replace=False)].copy()
    for _ in range(8):
        a = np.argmax(sample @ c.T - 0.5 * np.einsum("ij,ij->i", c, c)[None, :], axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, a, sample)
        cnt = np.bincount(a, minlength=n_cells)
        keep = cnt > 0
        c[keep] = sums[keep] / cnt[keep, None]
    half = 0.5 * np.einsum("ij,ij->i", c, c)[None, :]
    out = np.empty(n, dtype=np.int64)
    for s in range(0, n, 65_536):
        out[s : s + 65_536] = np.argmax(x[s : s + 65_536] @ c.T - half, axis=1)
    return out


def _aligned_int8(shape: tuple[int, int, int]) -> NDArray[np.int8]:
    """An uninitialised C-contiguous int8 array starting on a 64-byte (cache line) boundary, so
    that a row of 64 codes is one cache line, not two (``nbytes`` is the shape's, the slack of
    at most 63 bytes is not counted)."""
    size = int(np.prod(shape))
    raw = np.empty(size + 64, dtype=np.int8)
    off = (-raw.ctypes.data) % 64
    return raw[off : off + size].reshape(shape)


class _Storage:
    """The storage of an LSH index (mixed into ``_LSHIndex``, whose parameters it reads:
    ``strategy``, ``rerank``, ``layout``, ``contiguous_bytes``, ``sketch_bits``, ``metric``,
    ``n_tables``, ``random_state``, ``hasher``)."""

    def _reset(self) -> None:
        self.hasher = None
        self._x = np.zeros((0, 0), dtype=np.float32)  # internal (table-0 bucket) order
        self._rank = np.zeros(0, dtype=np.int64)  # insertion position of each internal row
        self._int_ids = np.zeros(0, dtype=np.int64)  # ids in internal order
        self._norms = np.zeros(0, dtype=np.float32)
        self._codes = np.zeros((0, 0, 1), dtype=np.int8)
        self._scales = np.ones(1, dtype=np.float32)
        self._sk = np.zeros((0, 0), dtype=np.uint32)  # (L - copies, n) sketches in bucket order
        self._sk_planes = np.zeros((0, 0), dtype=np.float32)  # (d, sketch_bits)
        self._sk_auto = 32  # the radius chosen at build (sketch_radius=None)
        self._tables: dict[str, NDArray] = {}
        self._ncand = np.zeros(0, dtype=np.int64)
        self._ndropped = np.zeros(0, dtype=np.int64)
        self._scratch()

    def _scratch(self) -> None:
        n = self._x.shape[0]
        nv = n if self.strategy != "or" else 0  # vote bookkeeping, only for AND / vote
        self._stamp = np.zeros(nv, dtype=np.int32)
        self._votes = np.zeros(nv, dtype=np.int16)
        self._seen = np.zeros(nv, dtype=np.int32)
        self._gen = np.zeros(1, dtype=np.int64)
        self._bitmap = np.zeros((n + 63) // 64, dtype=np.uint64)
        self._cbuf = np.zeros(n, dtype=np.int32)

    def _make_hasher(self, x: NDArray[np.float32]) -> E2LSHHasher | SimHashHasher:
        raise NotImplementedError

    def _store(
        self,
        x: NDArray[np.float32],
        rank: NDArray[np.int64],
        ids: NDArray[np.int64],
        keys: NDArray[np.uint64],
    ) -> None:
        """Sort everything by (table-0 key, insertion rank), or by (k-means cell, table-0 key,
        rank) with ``layout="clusters"``, and build tables and int8 codes."""
        if self.layout == "clusters":
            order = np.lexsort((rank, keys[:, 0], _cells(x, rank, self.random_state)))
        else:
            order = np.lexsort((rank, keys[:, 0]))
        self._x = np.ascontiguousarray(x[order])
        self._rank = rank[order]
        self._int_ids = ids[order]
        keys = np.ascontiguousarray(keys[order])
        self._norms = np.einsum("ij,ij->i", self._x, self._x).astype(np.float32)
        # direct addressing (2**m offsets per table) only when it is not much larger than the
        # items: a Redis query's few hundred gathered rows use the hash map (cheaper to build)
        m = self.hasher.m
        dense = m if self.hasher.kind == "simhash" and m <= 20 and (1 << m) <= 4 * len(x) else 0
        self._tables = build_tables(keys, dense_bits=dense)
        n, d = self._x.shape
        if self.rerank == "int8":
            amax = np.abs(self._x).max(axis=0)
            scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            n_copies = int(min(self.n_tables, max(1, self.contiguous_bytes // max(1, n * d))))
            codes = _aligned_int8((n_copies, n, d))
            quantize_rows(self._x, scales, codes[0])
            perm = self._tables["perm"]
            for t in range(1, n_copies):
                np.take(codes[0], perm[t], axis=0, out=codes[t])
            self._codes = codes
            self._scales = scales
            self._store_sketches(perm, n_copies)
        else:
            self._codes = np.zeros((0, n, d), dtype=np.int8)
            self._scales = np.ones(d, dtype=np.float32)
        self._scratch()

    def _store_sketches(self, perm: NDArray[np.int32], n_copies: int) -> None:
        """Sketches of the tables without a contiguous int8 copy, and the build-time radius."""
        n, d = self._x.shape
        if not self.sketch_bits or self.strategy != "or" or n_copies >= self.n_tables or n == 0:
            self._sk = np.zeros((0, n), dtype=np.uint32)
            return
        if self._sk_planes.shape != (d, self.sketch_bits):
            seq = np.random.SeedSequence(self.random_state).spawn(2)[1]
            rng = np.random.default_rng(seq)
            self._sk_planes = rng.standard_normal((d, self.sketch_bits)).astype(np.float32)
        sk0 = sketch_codes(self._x, self._sk_planes)
        self._sk = np.ascontiguousarray(sk0[perm[n_copies:]])
        # radius: where the true 10 nearest neighbours of sampled rows lie in sketch space
        rng = np.random.default_rng(np.random.SeedSequence(self.random_state).spawn(3)[2])
        rows = rng.choice(n, size=min(256, n), replace=False)
        kk = min(11, n)
        nb_rows, _ = exact_search(
            self._x, self._x[rows], kk, metric="l2" if self.metric == "l2" else "ip"
        )
        xor = np.ascontiguousarray(sk0[nb_rows[:, 1:]] ^ sk0[rows][:, None]).ravel()
        ham = np.unpackbits(xor.view(np.uint8).reshape(-1, 4), axis=1).sum(axis=1)
        self._sk_auto = int(min(32, np.quantile(ham, 0.995) + 1)) if ham.size else 32

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        if self.hasher is None:
            self.hasher = self._make_hasher(vectors)
        n_old = self._x.shape[0]
        rank_new = np.arange(n_old, n_old + vectors.shape[0], dtype=np.int64)
        if n_old == 0:
            self._store(vectors, rank_new, ids, self.hasher.keys(vectors))
            return
        x = np.concatenate([self._x, vectors])
        self._store(
            x,
            np.concatenate([self._rank, rank_new]),
            np.concatenate([self._int_ids, ids]),
            self.hasher.keys(x),
        )
