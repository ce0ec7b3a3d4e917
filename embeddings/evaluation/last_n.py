"""Last-n I2I scoring (``i2i:n=N,h=H``): each of a user's last N items queries its unseen
neighbours, and a candidate scores the recency-weighted sum of its similarities (session-kNN
style); exact neighbours in one BLAS pass per block with a compiled selection."""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from embeddings.evaluation.search import SearchFn, ranked_excluding
from embeddings.neighbours import heap_push, heap_sort, normalize_rows
from embeddings.types import Embeddings

__all__ = ["I2I_NEIGHBOURS", "rank_last_n"]

#: neighbours kept per query item in ``i2i:n=N`` (N > 1) scoring, after the user's seen items
I2I_NEIGHBOURS = 100


def _pair_scores(
    emb: Embeddings,
    q_rows: NDArray[np.int64],
    c_ids: NDArray[np.int64],
    metric: str,
    block_floats: int = 1 << 22,
) -> NDArray[np.float32]:
    """Similarity (higher is better) of item row ``q_rows[r]`` with each id of ``c_ids[r]``.

    ``q_rows`` (R,) row positions, ``c_ids`` (R, L) item ids (-1 = none: score 0). cosine,
    inner product or minus squared L2, computed exactly from the vectors (whatever index
    produced the candidates), in blocks of at most ``block_floats`` gathered floats.
    """
    vec = emb.vectors
    if metric == "cosine":
        norms = np.linalg.norm(vec, axis=1)
        vec = vec / np.maximum(norms, 1e-12)[:, None].astype(np.float32)
    r_all, width = c_ids.shape
    out = np.zeros((r_all, width), np.float32)
    valid = c_ids >= 0
    c_rows = np.zeros(c_ids.shape, np.int64)
    c_rows[valid] = emb.index_of(c_ids[valid])
    step = max(1, block_floats // max(1, width * vec.shape[1]))
    for a in range(0, r_all, step):
        b = min(a + step, r_all)
        q = vec[q_rows[a:b]]  # (B, d)
        c = vec[c_rows[a:b]]  # (B, L, d)
        if metric == "l2":
            out[a:b] = -np.square(c - q[:, None, :]).sum(axis=2)
        else:
            out[a:b] = np.einsum("bd,bld->bl", q, c)
    out[~valid] = 0.0
    return out


@nb.njit(nogil=True, cache=True)
def _select_unseen(sim, owner, ex_ptr, ex_rows, top_v, top_r):  # pragma: no cover - numba
    """Per row j of ``sim`` (B, n): the best ``top_v.shape[1]`` columns not among the excluded
    rows of its user ``owner[j]`` (``ex_rows[ex_ptr[u]:ex_ptr[u + 1]]``), merged into the
    pre-filled (-inf, -1) heaps ``top_v`` / ``top_r`` (the shared ``heap_push``) and sorted."""
    b, n = sim.shape
    width = top_v.shape[1]
    mark = np.zeros(n, np.bool_)
    for j in range(b):
        u = owner[j]
        for e in range(ex_ptr[u], ex_ptr[u + 1]):
            mark[ex_rows[e]] = True
        vals = top_v[j]
        rows = top_r[j]
        thr = vals[0]
        srow = sim[j]
        for c in range(n):  # columns in increasing order: an equal score never displaces
            if srow[c] > thr and not mark[c]:
                heap_push(vals, rows, width, width, srow[c], c)
                thr = vals[0]
        heap_sort(vals, rows, width)
        for e in range(ex_ptr[u], ex_ptr[u + 1]):
            mark[ex_rows[e]] = False


def _exact_neighbours(
    emb: Embeddings,
    q_rows: NDArray[np.int64],
    owner: NDArray[np.int64],
    exclude: list[NDArray[np.int64]],
    width: int,
    metric: str,
    block: int = 256,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact top-``width`` neighbours (ids, scores), each (R, width), of item rows ``q_rows``,
    the ids ``exclude[owner[r]]`` removed: one BLAS product per block of queries and a compiled
    selection (no top-k of ``width + |exclude|``). Best first; equal scores in row order; -1 / 0
    padded when fewer than ``width`` items are left."""
    vec = emb.vectors
    if metric == "cosine":
        vec = normalize_rows(vec)
    sq = np.square(vec).sum(axis=1) if metric == "l2" else None
    r_all, n = q_rows.shape[0], vec.shape[0]
    width = min(width, n)
    ex = [emb.index_of(e[emb.has(e)]) for e in exclude]
    ex_ptr = np.r_[0, np.cumsum([e.shape[0] for e in ex])].astype(np.int64)
    ex_rows = np.concatenate([np.empty(0, np.int64), *ex]).astype(np.int64)
    top_v = np.full((r_all, width), -np.inf, np.float32)
    top_r = np.full((r_all, width), -1, np.int64)
    for a in range(0, r_all, block):
        b = min(a + block, r_all)
        sim = vec[q_rows[a:b]] @ vec.T  # (B, n) float32
        if sq is not None:
            sim = 2.0 * sim - sq[None, :] - sq[q_rows[a:b]][:, None]
        _select_unseen(
            np.ascontiguousarray(sim, dtype=np.float32),
            owner[a:b],
            ex_ptr,
            ex_rows,
            top_v[a:b],
            top_r[a:b],
        )
    ok = top_r >= 0
    ids = np.where(ok, emb.ids[np.maximum(top_r, 0)], -1)
    return ids, np.where(ok, top_v, 0.0).astype(np.float32)


def rank_last_n(
    emb: Embeddings,
    search: SearchFn | None,
    metric: str,
    q_items: list[NDArray[np.int64]],
    weights: list[NDArray[np.float64]],
    exclude: list[NDArray[np.int64]],
    k: int,
) -> NDArray[np.int64]:
    """Top-k ids (n_users, k) int64 of the last-n item scoring, -1 padded.

    User u queries each item of ``q_items[u]`` (latest first): its top ``I2I_NEIGHBOURS``
    neighbours (at least k) after removing ``exclude[u]``; a candidate's score is the sum over
    those items of weight x similarity (by ``metric``). With ``search`` (e.g. an index) the
    neighbours come from it and their similarities are recomputed exactly from the vectors;
    ``search=None`` is exact search done here in one pass (the same neighbours up to ties).
    Equal totals keep the order of first appearance (the latest item's list first, best first).
    """
    n_users = len(q_items)
    out = np.full((n_users, k), -1, dtype=np.int64)
    if n_users == 0:
        return out
    lens = np.array([q.shape[0] for q in q_items], dtype=np.int64)
    flat = np.concatenate(q_items)
    owner = np.repeat(np.arange(n_users), lens)
    width = min(max(k, I2I_NEIGHBOURS), len(emb))
    q_rows = emb.index_of(flat)
    if search is None:
        neigh, sims = _exact_neighbours(emb, q_rows, owner, exclude, width, metric)
    else:
        flat_exclude = [exclude[o] for o in owner]
        neigh = ranked_excluding(search, emb.vectors[q_rows], flat_exclude, width, len(emb))
        sims = _pair_scores(emb, q_rows, neigh, metric)
    w_flat = np.concatenate(weights).astype(np.float64)
    starts = np.r_[0, np.cumsum(lens)]
    for u in range(n_users):
        a, b = starts[u], starts[u + 1]
        ids = neigh[a:b].ravel()
        sc = (w_flat[a:b, None] * sims[a:b].astype(np.float64)).ravel()
        keep = ids >= 0
        ids, sc = ids[keep], sc[keep]
        if ids.shape[0] == 0:
            continue
        uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        total = np.bincount(inv, weights=sc, minlength=uniq.shape[0])
        order = np.lexsort((first, -total))[:k]
        out[u, : order.shape[0]] = uniq[order]
    return out
