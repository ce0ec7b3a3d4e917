"""Exact k-nearest-neighbour search: the ground truth of every benchmark.

Two search paths, both exact (same top-k as scoring every item in float32):

- **Batched** (many queries, or ``prefilter=False``): BLAS ``sgemm`` on blocks of
  ``query_block`` queries x ``chunk_rows`` items, so the score block stays in cache, fused with a
  compiled top-k selection (running threshold + sorted insertion, parallel over queries). Memory
  stays bounded (one score block) whatever the size of the index.
- **Few queries** (``nq < batch_threshold``): one pass over an int8 copy of the vectors (a quarter
  of the bytes; single-query search is memory-bound) giving for each item a score interval
  ``[approx - err, approx + err]`` with a guaranteed error bound (per-vector scale, residual norm,
  Cauchy-Schwarz, plus a float rounding margin); then only the items whose upper bound reaches the
  k-th best lower bound are scored exactly in float32. The result is the exact top-k.

Scores follow :mod:`recall.base`: ``ip`` and ``cosine`` = inner product (of unit vectors for
cosine), ``l2`` = minus the squared Euclidean distance. Ties are broken by insertion order (the
earlier indexed item first).

The compiled top-k (``heap_push`` / ``heap_sort``) and the batched scan (``scan_top_k``) are the
shared ones of :mod:`embeddings.neighbours`; this module adds threads, the int8 pass and the
``Index`` protocol. ``knn_recall``, ``knn_recall_ties`` and ``scores_of`` live there too and are
re-exported here.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.neighbours import (
    heap_push,
    heap_sort,
    knn_recall,
    knn_recall_ties,
    scan_top_k,
    scores_of,
    top_k,
)
from recall.base import METRICS, Index, Metric, SearchResult

__all__ = ["ExactIndex", "exact_knn", "knn_recall", "knn_recall_ties", "scores_of"]

log = logging.getLogger(__name__)

_BLOCK = 4096  # rows per block of the int8 pass (per-block top-k of lower bounds)


# ---------------------------------------------------------------------------- compiled kernels
def _make_int8_kernels(D: int):
    """Kernels of the int8-bounded pass, with the dimension ``D`` a compile-time constant
    (``D=0``: generic, the dimension read at run time -- one compilation for all small indexes)."""

    @nb.njit(nogil=True, fastmath=True, inline="always")
    def dot4(codes, q, i):
        # four rows at once: independent accumulators vectorise well (the row reduction is the cost)
        a0 = np.float32(0.0)
        a1 = np.float32(0.0)
        a2 = np.float32(0.0)
        a3 = np.float32(0.0)
        dd = D if D > 0 else codes.shape[1]
        for j in range(dd):
            c = q[j]
            a0 += c * np.float32(codes[i, j])
            a1 += c * np.float32(codes[i + 1, j])
            a2 += c * np.float32(codes[i + 2, j])
            a3 += c * np.float32(codes[i + 3, j])
        return a0, a1, a2, a3

    @nb.njit(nogil=True, fastmath=True)
    def pass1_block(codes, scale, err, hx, use_hx, q, qnorm, start, stop, ub, lbk, lbi):
        # approximate score, its error bound, upper bounds into ub, block top-k lower bounds (a
        # full heap, lbi its scratch rows; pass2 only reads the values)
        k = lbk.shape[0]
        for t in range(k):
            lbk[t] = -np.inf
            lbi[t] = -1
        thr = np.float32(-np.inf)
        mx = np.float32(-np.inf)
        tmp = np.empty(4, dtype=np.float32)
        i = start
        while i < stop:
            if i + 4 <= stop:
                tmp[0], tmp[1], tmp[2], tmp[3] = dot4(codes, q, i)
                cnt = 4
            else:
                a = np.float32(0.0)
                for j in range(D if D > 0 else codes.shape[1]):
                    a += q[j] * np.float32(codes[i, j])
                tmp[0] = a
                cnt = 1
            for r in range(cnt):
                ii = i + r
                a = tmp[r] * scale[ii]
                if use_hx:
                    a -= hx[ii]
                m = qnorm * err[ii]
                u = a + m
                lo = a - m
                ub[ii] = u
                if u > mx:
                    mx = u
                if lo > thr:
                    heap_push(lbk, lbi, k, k, lo, ii)
                    thr = lbk[0]
            i += cnt
        return mx

    @nb.njit(nogil=True)
    def pass1(codes, scale, err, hx, use_hx, q, qnorm, b0, b1, ub, lbk, bmax):
        # blocks b0..b1: upper bounds into ub, per-block top-k lower bounds and max upper bound
        n = codes.shape[0]
        lbi = np.empty(lbk.shape[1], dtype=np.int64)
        for b in range(b0, b1):
            start = b * _BLOCK
            stop = min(n, start + _BLOCK)
            bmax[b] = pass1_block(
                codes, scale, err, hx, use_hx, q, qnorm, start, stop, ub, lbk[b], lbi
            )

    @nb.njit(nogil=True)
    def pass2(hx, use_hx, x, q, k, ub, lbk, bmax, out_v, out_r):
        # exact scores of the items whose upper bound reaches the k-th best lower bound
        n = x.shape[0]
        nblk = bmax.shape[0]
        flat = np.sort(lbk.ravel())
        thr = flat[flat.shape[0] - k]  # k-th largest lower bound: the k-th best exact score >= thr
        for t in range(k):
            out_v[t] = -np.inf
            out_r[t] = -1
        cur = np.float32(-np.inf)
        n_cand = 0
        for b in range(nblk):
            if bmax[b] < thr:
                continue
            stop = min(n, (b + 1) * _BLOCK)
            for i in range(b * _BLOCK, stop):
                if ub[i] >= thr:
                    n_cand += 1
                    s = np.float32(0.0)
                    for j in range(D if D > 0 else x.shape[1]):
                        s += q[j] * x[i, j]
                    if use_hx:
                        s -= hx[i]
                    if s > cur:  # rows in increasing order: ties keep the earlier row
                        heap_push(out_v, out_r, k, k, s, i)
                        cur = out_v[0]
        heap_sort(out_v, out_r, k)
        return n_cand

    return pass1, pass2


_KERNELS: dict[int, Any] = {}


@lru_cache(maxsize=8)
def _executor(workers: int) -> ThreadPoolExecutor:
    """A persistent thread pool per worker count (threads are reused across searches)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exact")


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


#: below this many stored floats the generic kernel is used (no per-dimension compilation)
_SPECIALISE_FROM = 1 << 22


def _int8_kernel(d: int, n: int = 0):
    if n * d < _SPECIALISE_FROM:
        d = 0
    if d not in _KERNELS:
        _KERNELS[d] = _make_int8_kernels(d)
    return _KERNELS[d]


@nb.njit(nogil=True, cache=True)
def _quantize_rows(x, codes, scale, resid):  # pragma: no cover - numba
    n, d = x.shape
    for i in range(n):
        amax = 0.0
        for j in range(d):
            amax = max(amax, abs(np.float64(x[i, j])))
        sc = np.float32(amax / 127.0) if amax > 0 else np.float32(1.0)
        sc64 = np.float64(sc)
        r2 = 0.0
        for j in range(d):
            c = np.rint(np.float64(x[i, j]) / sc64)
            c = min(127.0, max(-127.0, c))
            codes[i, j] = np.int8(c)
            e = np.float64(x[i, j]) - c * sc64
            r2 += e * e
        scale[i] = sc
        resid[i] = np.sqrt(r2)


def _quantize(
    x: NDArray[np.float32],
) -> tuple[NDArray[np.int8], NDArray[np.float32], NDArray[np.float64]]:
    """Per-row symmetric int8 codes, scale, and the residual norm |x - scale*codes| (float64)."""
    n = x.shape[0]
    codes = np.empty(x.shape, dtype=np.int8)
    scale = np.empty(n, dtype=np.float32)
    resid = np.empty(n, dtype=np.float64)
    _quantize_rows(x, codes, scale, resid)
    return codes, scale, resid


# ---------------------------------------------------------------------------- the index
class ExactIndex(Index):
    """Exact search (brute force, but fast): BLAS blocks + compiled top-k; int8-bounded single queries.

    Parameters
    ----------
    metric : "cosine" | "ip" | "l2"
    threads : threads used by ``search`` (None = all cores). The batched path splits the items
        into ``threads`` contiguous ranges searched by Python threads (BLAS limited to 1 thread
        each, compiled selection without the GIL) and merges their top-k: one synchronisation
        per call, robust on a busy machine. The int8 pass runs its blocks in a numba parallel loop.
    chunk_rows, query_block : block shape of the batched path (items x queries per score block).
    prefilter : use the int8-bounded pass for fewer than ``batch_threshold`` queries (exact either
        way; costs ``n * (d + 8)`` extra bytes).
    batch_threshold : from this many queries on, the batched BLAS path is used.
    """

    name = "exact"

    def __init__(
        self,
        metric: Metric = "cosine",
        threads: int | None = 1,
        chunk_rows: int = 8192,
        query_block: int = 256,
        prefilter: bool = True,
        batch_threshold: int = 16,
    ) -> None:
        super().__init__(metric)
        for nm, v in (
            ("chunk_rows", chunk_rows),
            ("query_block", query_block),
            ("batch_threshold", batch_threshold),
        ):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{nm} must be a positive int, got {v!r}")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1
        ):
            raise ValueError(f"threads must be None or a positive int, got {threads!r}")
        self.threads = None if threads is None else int(threads)
        self.chunk_rows = int(chunk_rows)
        self.query_block = int(query_block)
        self.prefilter = bool(prefilter)
        self.batch_threshold = int(batch_threshold)
        self._reset()

    def params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "threads": self.threads,
            "chunk_rows": self.chunk_rows,
            "query_block": self.query_block,
            "prefilter": self.prefilter,
            "batch_threshold": self.batch_threshold,
        }

    # ------------------------------------------------------------------ storage
    def _reset(self) -> None:
        d = self.dim or 0
        self._x = np.empty((0, d), dtype=np.float32)
        self._hx = np.empty(0, dtype=np.float32)  # 0.5 * |x|^2 (l2 only)
        self._codes = np.empty((0, d), dtype=np.int8)
        self._scale = np.empty(0, dtype=np.float32)
        self._err = np.empty(0, dtype=np.float32)  # |x - scale*codes| + rounding margin
        self._last_candidates = 0.0

    def _derived(self, x: NDArray[np.float32]) -> dict[str, NDArray]:
        out: dict[str, NDArray] = {}
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        out["hx"] = (
            (0.5 * sq).astype(np.float32) if self.metric == "l2" else np.empty(0, np.float32)
        )
        if self.prefilter:
            codes, scale, resid = _quantize(x)
            # float32 rounding of the approximate and of the exact dot: generous margin
            d = x.shape[1]
            margin = 4.0 * (d + 2) * np.finfo(np.float32).eps * np.sqrt(sq)
            if self.metric == "l2":
                margin = margin + 4.0 * np.finfo(np.float32).eps * sq
            err = (resid + margin) * (1 + 1e-6) + 1e-30
            out["codes"], out["scale"] = codes, scale
            out["err"] = np.nextafter(err.astype(np.float32), np.float32(np.inf))
        else:
            out["codes"] = np.empty((0, x.shape[1]), np.int8)
            out["scale"] = out["err"] = np.empty(0, np.float32)
        return out

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        der = self._derived(vectors)
        if self._x.shape[0] == 0:  # first batch: one copy, no concatenation
            self._x = np.array(vectors, dtype=np.float32, order="C", copy=True)
            self._hx, self._codes = der["hx"], np.ascontiguousarray(der["codes"])
            self._scale, self._err = der["scale"], der["err"]
            return
        self._x = np.ascontiguousarray(np.concatenate([self._x, vectors]), dtype=np.float32)
        self._hx = np.concatenate([self._hx, der["hx"]])
        self._codes = np.ascontiguousarray(np.concatenate([self._codes, der["codes"]]))
        self._scale = np.concatenate([self._scale, der["scale"]])
        self._err = np.concatenate([self._err, der["err"]])

    # ------------------------------------------------------------------ search
    def _n_threads(self) -> int:
        return self.threads if self.threads is not None else max(1, os.cpu_count() or 1)

    @contextmanager
    def _numba_threads(self):
        old = nb.get_num_threads()
        nb.set_num_threads(min(self._n_threads(), nb.config.NUMBA_NUM_THREADS))
        try:
            yield
        finally:
            nb.set_num_threads(old)

    def _blas_threads(self):
        return _blas_controller().limit(limits=1, user_api="blas")

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        with self._numba_threads():
            if self.prefilter and queries.shape[0] < self.batch_threshold:
                vals, rows = self._search_int8(queries, k)
            else:
                with self._blas_threads():
                    vals, rows = self._search_blas(queries, k)
        return self._finish(queries, vals, rows)

    def _finish(self, queries, vals, rows) -> SearchResult:
        if self.metric == "l2":
            qn = np.einsum("ij,ij->i", queries, queries)[:, None]
            vals = np.minimum(2.0 * vals - qn, 0.0).astype(np.float32)
        found = rows >= 0
        ids = np.where(found, self._ids[np.where(found, rows, 0)], -1)
        vals = np.where(found, vals, -np.inf).astype(np.float32)
        return SearchResult(ids.astype(np.int64), vals)

    def _search_blas(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray, NDArray]:
        n = self._x.shape[0]
        workers = max(1, min(self._n_threads(), n // max(k, 1024) or 1))
        if workers == 1:
            return self._scan_rows(queries, k, 0, n)
        bounds = np.linspace(0, n, workers + 1).astype(np.int64)
        parts = list(
            _executor(workers).map(
                lambda w: self._scan_rows(queries, k, int(bounds[w]), int(bounds[w + 1])),
                range(workers),
            )
        )
        vals = np.concatenate([p[0] for p in parts], axis=1)
        rows = np.concatenate([p[1] for p in parts], axis=1)
        # best first; equal scores: lower column first = earlier worker, then earlier row (each
        # part is sorted that way); -1 padding has -inf and comes last
        order, _ = top_k(vals, k)
        return np.take_along_axis(vals, order, 1), np.take_along_axis(rows, order, 1)

    def _scan_rows(
        self, queries: NDArray[np.float32], k: int, start: int, stop: int
    ) -> tuple[NDArray, NDArray]:
        """Running top-k of all queries over items start..stop, block by block."""
        hx = self._hx if self.metric == "l2" else None
        return scan_top_k(self._x, queries, k, hx, start, stop, self.chunk_rows, self.query_block)

    def _search_int8(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray, NDArray]:
        nq, d = queries.shape
        pass1, pass2 = _int8_kernel(d, self._x.shape[0])
        n = self._x.shape[0]
        nblk = (n + _BLOCK - 1) // _BLOCK
        top_v = np.full((nq, k), -np.inf, dtype=np.float32)
        top_r = np.full((nq, k), -1, dtype=np.int64)
        ub = np.empty(n, dtype=np.float32)
        lbk = np.empty((nblk, k), dtype=np.float32)
        bmax = np.empty(nblk, dtype=np.float32)
        qnorms = np.linalg.norm(queries.astype(np.float64), axis=1).astype(np.float32)
        qnorms = np.nextafter(qnorms * np.float32(1 + 1e-6), np.float32(np.inf))
        use_hx = self.metric == "l2"
        workers = max(1, min(self._n_threads(), nblk))
        bounds = np.linspace(0, nblk, workers + 1).astype(np.int64)
        cand = 0
        for i in range(nq):
            args = (self._codes, self._scale, self._err, self._hx, use_hx, queries[i], qnorms[i])
            if workers == 1:
                pass1(*args, 0, nblk, ub, lbk, bmax)
            else:  # Python threads over block ranges (the kernel releases the GIL)
                futs = [
                    _executor(workers).submit(
                        pass1, *args, int(bounds[w]), int(bounds[w + 1]), ub, lbk, bmax
                    )
                    for w in range(workers)
                ]
                for f in futs:
                    f.result()
            cand += pass2(
                self._hx, use_hx, self._x, queries[i], k, ub, lbk, bmax, top_v[i], top_r[i]
            )
        self._last_candidates = cand / max(nq, 1)
        return top_v, top_r

    # ------------------------------------------------------------------ stats / persistence
    def _stats(self) -> dict[str, float]:
        mem = sum(
            a.nbytes for a in (self._x, self._hx, self._codes, self._scale, self._err, self._ids)
        )
        return {
            "memory_bytes": float(mem),
            "last_mean_candidates": float(self._last_candidates),
        }

    def _get_state(self) -> dict[str, NDArray]:
        return {"x": self._x}

    def _set_state(self, state: dict[str, NDArray]) -> None:
        x = np.asarray(state["x"])
        if x.dtype != np.float32 or x.ndim != 2 or x.shape != (len(self._ids), self.dim):
            raise ValueError(
                f"corrupt ExactIndex state: vectors {x.dtype} {x.shape}, "
                f"expected float32 ({len(self._ids)}, {self.dim})"
            )
        self._reset()
        self._add(np.ascontiguousarray(x), self._ids)


# ---------------------------------------------------------------------------- functions
def exact_knn(
    vectors: ArrayLike,
    queries: ArrayLike,
    k: int,
    metric: Metric = "cosine",
    ids: ArrayLike | None = None,
    threads: int | None = None,
) -> SearchResult:
    """Exact top-k of ``queries`` (nq, d) among ``vectors`` (n, d): the benchmarks' ground truth.

    Returns ``SearchResult`` (ids (nq, k) int64 -- ``ids`` or row numbers --, scores float32),
    padded with -1 / -inf when k > n. Uses the batched BLAS path (no int8 copy is built), split
    over ``threads`` (None = all cores); single-threaded it equals
    :func:`embeddings.neighbours.exact_search` (same kernel).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    idx = ExactIndex(metric, threads=threads, prefilter=False)
    idx.build(vectors, ids)
    return idx.search(queries, k)
