"""Nearest neighbours, one of each: top-k selection, exact search, knn-recall.

Both packages use this module (``recall`` builds its indexes on it; ``embeddings`` evaluates with
it), so it imports nothing from ``recall``.

- :func:`top_k` -- numpy top-k of a dense score matrix, best first;
- :func:`heap_push` / :func:`heap_sort` -- a compiled size-k min-heap of (score, id) pairs, usable
  inside other ``numba.njit`` kernels (the running top-k of exact search and of LSH re-ranking);
- :func:`scan_top_k` -- BLAS score blocks fused with the compiled heap: the exact top-k of many
  queries with bounded memory; :func:`exact_search` wraps it for any metric;
- :func:`knn_recall`, :func:`knn_recall_ties`, :func:`scores_of` -- agreement of an approximate
  result with exact search (strict, and tie-aware).

Conventions (the ``Index`` protocol of :mod:`recall.base` follows them): scores are "higher is
better" -- ``ip`` = inner product, ``cosine`` = inner product of unit vectors, ``l2`` = minus the
squared Euclidean distance; results are best first, equal scores in increasing id (column / row)
order; when fewer than ``k`` exist the rest is padding, id ``-1`` and score ``-inf``.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids, as_vectors

__all__ = [
    "METRICS",
    "Metric",
    "Neighbours",
    "normalize_rows",
    "top_k",
    "heap_push",
    "heap_sort",
    "scan_top_k",
    "exact_search",
    "knn_recall",
    "knn_recall_ties",
    "scores_of",
]

Metric = Literal["cosine", "ip", "l2"]
METRICS: tuple[str, ...] = ("cosine", "ip", "l2")


class Neighbours(NamedTuple):
    """ids int64 (nq, k), -1 padded; scores float32 (nq, k), higher is better, -inf padded."""

    ids: NDArray[np.int64]
    scores: NDArray[np.float32]


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_metric(metric: Any) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    return str(metric)


# ---------------------------------------------------------------------------------- numpy top-k
def top_k(scores: ArrayLike, k: int) -> tuple[NDArray[np.int64], NDArray]:
    """The ``k`` best columns of each row of ``scores`` (nq, n), best first.

    Returns ``(idx int64 (nq, k), vals (nq, k))`` (``vals`` in the dtype of ``scores``, float).
    Equal scores come in increasing column order, also across the k-th place (deterministic
    whatever ``argpartition`` picks). When ``k > n`` the columns past ``n`` are padding: index -1,
    value -inf. ``-inf`` scores are ordinary (worst) scores; NaN is a ``ValueError``.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (nq, n), got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    k = _check_k(k)
    nq, n = s.shape
    idx = np.full((nq, k), -1, dtype=np.int64)
    vals = np.full((nq, k), -np.inf, dtype=s.dtype)
    if nq == 0 or n == 0:
        return idx, vals
    if np.isnan(s).any():
        raise ValueError("scores hold NaN")
    kk = min(k, n)
    if kk < n:
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -ps), axis=1)
        top = np.take_along_axis(part, order, axis=1)
        kth = np.take_along_axis(ps, order[:, -1:], axis=1)
        # a tie across the k-th place may have kept a later column: redo those rows exactly
        fix = np.flatnonzero((s == kth).sum(axis=1) > (ps == kth).sum(axis=1))
        for r in fix:
            top[r] = np.lexsort((np.arange(n), -s[r]))[:kk]
    else:
        top = np.lexsort((np.broadcast_to(np.arange(n), s.shape), -s), axis=1)
    idx[:, :kk] = top
    vals[:, :kk] = np.take_along_axis(s, top, axis=1)
    return idx, vals


# ---------------------------------------------------------------------------------- compiled heap
@nb.njit(inline="always")
def _worse(s1, i1, s2, i2):  # pragma: no cover - numba
    """(s1, i1) ranks after (s2, i2): lower score, or equal score and larger id."""
    return s1 < s2 or (s1 == s2 and i1 > i2)


@nb.njit(inline="always")
def heap_push(vals, ids, size, k, score, idx):  # pragma: no cover - numba
    """Offer ``(score, idx)`` to the best-``k`` min-heap ``vals[:size]`` / ``ids[:size]``.

    ``vals`` (>= k,) float, ``ids`` (>= k,) int; returns the new size (``min(size + 1, k)``).
    The root ``vals[0]`` is the worst kept entry once the heap is full: callers scanning many
    candidates test ``score > vals[0]`` (or ``>=`` when ids do not arrive in increasing order)
    before calling. Order: higher score first, equal scores smaller id first; NaN is ignored. A
    heap pre-filled with ``k`` entries (-inf, -1) works as an always-full heap whose padding any
    finite score replaces. Compiled with ``inline="always"``: call it from ``njit`` code.
    """
    if score != score:
        return size
    if size < k:
        j = size
        size += 1
    elif _worse(score, idx, vals[0], ids[0]):
        return size
    else:  # replace the root, sift down
        j = 0
        while True:
            c = 2 * j + 1
            if c >= size:
                break
            if c + 1 < size and _worse(vals[c + 1], ids[c + 1], vals[c], ids[c]):
                c += 1
            if not _worse(vals[c], ids[c], score, idx):
                break
            vals[j] = vals[c]
            ids[j] = ids[c]
            j = c
        vals[j] = score
        ids[j] = idx
        return size
    while j > 0:  # sift up from the new leaf
        p = (j - 1) >> 1
        if not _worse(score, idx, vals[p], ids[p]):
            break
        vals[j] = vals[p]
        ids[j] = ids[p]
        j = p
    vals[j] = score
    ids[j] = idx
    return size


@nb.njit(inline="always")
def heap_sort(vals, ids, size):  # pragma: no cover - numba
    """Sort the heap ``vals[:size]`` / ``ids[:size]`` in place, best first (equal scores: smaller
    id first). Entries past ``size`` are untouched."""
    for a in range(size - 1, 0, -1):
        s = vals[a]
        t = ids[a]
        vals[a] = vals[0]  # the current worst goes to the back
        ids[a] = ids[0]
        j = 0
        while True:  # sift (s, t) down within [0, a)
            c = 2 * j + 1
            if c >= a:
                break
            if c + 1 < a and _worse(vals[c + 1], ids[c + 1], vals[c], ids[c]):
                c += 1
            if not _worse(vals[c], ids[c], s, t):
                break
            vals[j] = vals[c]
            ids[j] = ids[c]
            j = c
        vals[j] = s
        ids[j] = t


# ---------------------------------------------------------------------------------- exact search
@nb.njit(nogil=True, cache=True)
def _select_block(scores, row0, hx, use_hx, q0, top_v, top_r):  # pragma: no cover - numba
    """Merge a score block (qb, cb) of rows row0.. into the full heaps of queries q0.. ."""
    qb, cb = scores.shape
    k = top_v.shape[1]
    for qi in range(qb):
        vals = top_v[q0 + qi]
        rows = top_r[q0 + qi]
        thr = vals[0]
        srow = scores[qi]
        # rows arrive in increasing order: an equal score never displaces a kept row
        if use_hx:
            for j in range(cb):
                s = srow[j] - hx[row0 + j]
                if s > thr:
                    heap_push(vals, rows, k, k, s, row0 + j)
                    thr = vals[0]
        else:
            for j in range(cb):
                s = srow[j]
                if s > thr:
                    heap_push(vals, rows, k, k, s, row0 + j)
                    thr = vals[0]


@nb.njit(nogil=True, cache=True)
def _sort_heaps(top_v, top_r):  # pragma: no cover - numba
    for i in range(top_v.shape[0]):
        heap_sort(top_v[i], top_r[i], top_v.shape[1])


def scan_top_k(
    x: NDArray[np.float32],
    queries: NDArray[np.float32],
    k: int,
    hx: NDArray[np.float32] | None = None,
    start: int = 0,
    stop: int | None = None,
    chunk_rows: int = 8192,
    query_block: int = 256,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Exact top-k by inner product of ``queries`` (nq, d) over rows ``start:stop`` of ``x`` (n, d).

    Score ``q . x[r] - hx[r]`` (``hx`` (n,) float32 optional, e.g. ``|x|^2 / 2`` for L2).
    Blocks of ``query_block`` queries x ``chunk_rows`` rows are scored by BLAS (``np.matmul``;
    the caller sets BLAS threads) and merged into per-query heaps by compiled code, so memory
    stays one score block whatever ``n``. Inputs are float32 C-contiguous, already validated.
    Returns ``(vals float32 (nq, k), rows int64 (nq, k))``, best first, equal scores in row order,
    padded with -inf / -1.
    """
    stop = x.shape[0] if stop is None else stop
    nq = queries.shape[0]
    top_v = np.full((nq, k), -np.inf, dtype=np.float32)
    top_r = np.full((nq, k), -1, dtype=np.int64)
    if nq == 0 or stop <= start:
        return top_v, top_r
    use_hx = hx is not None
    hxa = hx if hx is not None else np.empty(0, dtype=np.float32)
    cb = min(chunk_rows, stop - start)
    qb = min(query_block, nq)
    buf = np.empty((qb, cb), dtype=np.float32)
    for q0 in range(0, nq, qb):
        qblk = queries[q0 : q0 + qb]
        for r0 in range(start, stop, cb):
            xblk = x[r0 : min(stop, r0 + cb)]
            out = buf[: qblk.shape[0], : xblk.shape[0]]
            np.matmul(qblk, xblk.T, out=out)
            _select_block(out, r0, hxa, use_hx, q0, top_v, top_r)
    _sort_heaps(top_v, top_r)
    return top_v, top_r


def normalize_rows(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Unit-length rows (float32); zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def exact_search(
    base: ArrayLike,
    queries: ArrayLike,
    k: int,
    metric: Metric = "cosine",
    ids: ArrayLike | None = None,
    chunk_rows: int = 8192,
    query_block: int = 256,
) -> Neighbours:
    """Exact top-k of ``queries`` (nq, d) among ``base`` (n, d): the ground truth.

    ``metric``: ``cosine`` (vectors unit-normalised, zero vectors stay zero), ``ip`` or ``l2``
    (score = minus the squared distance). ``ids`` (n,) int64, default row numbers. Returns
    :class:`Neighbours` (ids int64 (nq, k), scores float32 (nq, k)), best first, equal scores in
    row order, padded with -1 / -inf when ``k > n``. One thread of compiled code; BLAS uses the
    threads it is given. ``recall.exact.ExactIndex`` runs the same kernel (threads, int8 pass).
    """
    metric = _check_metric(metric)
    x = as_vectors(base, "base")
    q = as_vectors(queries, "queries", dim=x.shape[1], allow_empty=True)
    k = _check_k(k)
    id_arr = np.arange(x.shape[0], dtype=np.int64) if ids is None else as_ids(ids)
    if id_arr.shape[0] != x.shape[0]:
        raise ValueError(f"{id_arr.shape[0]} ids for {x.shape[0]} vectors")
    hx = None
    if metric == "cosine":
        x, q = normalize_rows(x), normalize_rows(q)
    elif metric == "l2":
        hx = (0.5 * np.einsum("ij,ij->i", x, x, dtype=np.float64)).astype(np.float32)
    vals, rows = scan_top_k(x, q, k, hx, chunk_rows=chunk_rows, query_block=query_block)
    if metric == "l2":
        qn = np.einsum("ij,ij->i", q, q)[:, None]
        vals = np.minimum(2.0 * vals - qn, 0.0).astype(np.float32)
    found = rows >= 0
    out_ids = np.where(found, id_arr[np.where(found, rows, 0)], -1).astype(np.int64)
    return Neighbours(out_ids, np.where(found, vals, -np.inf).astype(np.float32))


# ---------------------------------------------------------------------------------- knn-recall
def knn_recall(result_ids: ArrayLike, truth_ids: ArrayLike, k: int | None = None) -> float:
    """Mean over queries of |result top-k & true top-k| / |true top-k| (-1 padding ignored).

    ``result_ids`` (nq, >=k) and ``truth_ids`` (nq, >=k) int; only their first ``k`` columns are
    used (default: all columns of ``truth_ids``). Queries whose truth is all padding are skipped.
    """
    res = np.asarray(result_ids)
    tru = np.asarray(truth_ids)
    if res.ndim != 2 or tru.ndim != 2:
        raise ValueError(f"expected 2-D id arrays, got shapes {res.shape} and {tru.shape}")
    if res.shape[0] != tru.shape[0]:
        raise ValueError(f"{res.shape[0]} result rows but {tru.shape[0]} truth rows")
    if k is None:
        k = tru.shape[1]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if tru.shape[1] < k or res.shape[1] < k:
        raise ValueError(f"k={k} exceeds the columns of results {res.shape} or truth {tru.shape}")
    res = as_ids(res[:, :k].ravel(), unique=False, allow_padding=True).reshape(-1, k)
    tru = as_ids(tru[:, :k].ravel(), unique=False, allow_padding=True).reshape(-1, k)
    total = 0.0
    counted = 0
    for r, t in zip(res, tru, strict=True):
        t = t[t != -1]
        if t.size == 0:
            continue
        total += np.isin(t, r[r != -1]).sum() / t.size
        counted += 1
    if counted == 0:
        raise ValueError("truth holds no ids (all padding)")
    return float(total / counted)


def scores_of(
    vectors: ArrayLike,
    queries: ArrayLike,
    result_ids: ArrayLike,
    metric: Metric = "cosine",
    ids: ArrayLike | None = None,
) -> NDArray[np.float32]:
    """True scores (higher is better) of the returned ids: ``(nq, k)`` float32, -inf for -1 padding.

    ``vectors`` (n, d) are the indexed vectors, ``ids`` their ids (default: row numbers);
    ``result_ids`` (nq, k) what an index returned for ``queries`` (nq, d). Scores: inner product,
    cosine similarity, or minus the squared L2 distance.
    """
    _check_metric(metric)
    x = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(queries, dtype=np.float32)
    res = np.asarray(result_ids)
    if x.ndim != 2 or q.ndim != 2 or res.ndim != 2:
        raise ValueError(f"expected 2-D arrays, got {x.shape}, {q.shape}, {res.shape}")
    if q.shape[1] != x.shape[1] or res.shape[0] != q.shape[0]:
        raise ValueError(
            f"shapes disagree: vectors {x.shape}, queries {q.shape}, result ids {res.shape}"
        )
    res = as_ids(res.ravel(), unique=False, allow_padding=True).reshape(res.shape)
    if ids is None:
        rows = res.copy()
        bad = (rows != -1) & ((rows < 0) | (rows >= x.shape[0]))
    else:
        id_arr = as_ids(ids)
        order = np.argsort(id_arr, kind="stable")
        pos = np.searchsorted(id_arr[order], res)
        pos = np.minimum(pos, len(id_arr) - 1)
        rows = np.where(id_arr[order][pos] == res, order[pos], -2)
        bad = (res != -1) & (rows == -2)
        rows = np.where(res == -1, -1, rows)
    if bad.any():
        raise ValueError(f"result ids not among the indexed ids: {np.unique(res[bad])[:10]}")
    valid = rows >= 0
    g = x[np.where(valid, rows, 0)]  # (nq, k, d)
    if metric == "cosine":
        g = g / np.maximum(np.linalg.norm(g, axis=2, keepdims=True), 1e-12)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    if metric == "l2":
        diff = g - q[:, None, :]
        s = -np.einsum("qkd,qkd->qk", diff, diff)
    else:
        s = np.einsum("qkd,qd->qk", g, q)
    return np.where(valid, s, -np.inf).astype(np.float32)


def knn_recall_ties(
    result_scores: ArrayLike,
    truth_scores: ArrayLike,
    k: int | None = None,
    *,
    result_ids: ArrayLike | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-7,
) -> float:
    """Tie-aware knn-recall@k: a returned neighbour as good as the true k-th counts.

    ``result_scores`` (nq, >=k): the *true* scores of what an index returned (see
    :func:`scores_of`; -inf for padding); ``truth_scores`` (nq, >=k): exact search's scores, best
    first; compute both with :func:`scores_of` so that they come from one scoring path. Per
    query, recall = min(k, #returned with score >= s_k - tol) / min(k, #true), with ``s_k`` the
    true k-th score and ``tol = atol + rtol * |s_k|`` (float32 rounding of two scoring paths).
    This is ann-benchmarks' rule (a result within the k-th true distance + epsilon counts), so
    that an index is not charged for returning another item at the same distance as the k-th.
    ``result_ids`` (optional) lets duplicates be counted once. Padding (-inf) never counts.
    """
    rs = np.asarray(result_scores, dtype=np.float64)
    ts = np.asarray(truth_scores, dtype=np.float64)
    if rs.ndim != 2 or ts.ndim != 2 or rs.shape[0] != ts.shape[0]:
        raise ValueError(
            f"expected 2-D score arrays with equal rows, got {rs.shape} and {ts.shape}"
        )
    if k is None:
        k = ts.shape[1]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if ts.shape[1] < k or rs.shape[1] < k:
        raise ValueError(f"k={k} exceeds the columns of results {rs.shape} or truth {ts.shape}")
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"rtol and atol must be >= 0, got {rtol}, {atol}")
    rs = rs[:, :k].copy()
    ts = ts[:, :k]
    if result_ids is not None:
        ri = np.asarray(result_ids)[:, :k]
        if ri.shape != rs.shape:
            raise ValueError(f"result_ids {ri.shape} and result_scores {rs.shape} differ")
        srt = np.sort(ri, axis=1)
        dup_sorted = np.zeros_like(srt, dtype=bool)
        dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
        # mark later occurrences of a repeated id as padding
        for i in np.flatnonzero(dup_sorted.any(axis=1)):
            _, first = np.unique(ri[i], return_index=True)
            keep = np.zeros(k, dtype=bool)
            keep[first] = True
            rs[i, ~keep] = -np.inf
    n_true = np.isfinite(ts).sum(axis=1)
    ok = n_true > 0
    if not ok.any():
        raise ValueError("truth holds no scores (all padding)")
    kth = ts[np.arange(ts.shape[0]), np.maximum(n_true - 1, 0)]
    tol = atol + rtol * np.abs(kth)
    hits = (np.isfinite(rs) & (rs >= (kth - tol)[:, None])).sum(axis=1)
    per_query = np.minimum(hits, n_true) / np.maximum(n_true, 1)
    return float(per_query[ok].mean())
