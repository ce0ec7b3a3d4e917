"""The evaluation's pluggable search: ``SearchFn``, exact search as one, and the top-k of a
search with each query's seen items removed (what every I2I / U2I query mode ranks with)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from embeddings.evaluation.metrics import _check_k
from embeddings.neighbours import METRICS
from embeddings.neighbours import exact_search as _exact_search
from embeddings.types import Embeddings
from embeddings.validate import as_vectors

__all__ = ["SearchFn", "exact_search", "ranked_excluding"]

#: ``search(queries (nq, d) float32, k) -> ids (nq, k) int64``, -1 padded, best first.
SearchFn = Callable[[NDArray[np.float32], int], NDArray[np.int64]]


def exact_search(
    embeddings: Embeddings, metric: str = "cosine", batch_size: int = 1024
) -> SearchFn:
    """Exact search over ``embeddings`` as a :data:`SearchFn` (the default of the evaluation).

    ``search = exact_search(emb, metric); ids = search(queries (nq, d) float32, k)`` -> ids
    (nq, k) int64, best first, -1 padded when k > n. ``metric``: ``cosine`` (unit-normalised
    vectors), ``ip`` (inner product) or ``l2`` (smallest Euclidean distance first). Equal scores
    come in row order (``embeddings.ids`` order), so the result is deterministic. An adapter of
    :func:`embeddings.neighbours.exact_search` (BLAS blocks of at most ``batch_size`` queries
    and a compiled top-k; memory stays one block).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if len(embeddings) == 0:
        raise ValueError("exact_search: no vectors to search")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    base, ids = embeddings.vectors, embeddings.ids

    def search(queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
        q = as_vectors(queries, "queries", dim=base.shape[1], allow_empty=True)
        k = _check_k(k)
        blk = int(batch_size)
        return _exact_search(base, q, k, metric, ids=ids, query_block=blk).ids  # type: ignore[arg-type]

    return search


def ranked_excluding(
    search: SearchFn,
    queries: NDArray[np.float32],
    exclude: list[NDArray[np.int64]],
    k: int,
    n_items: int,
) -> NDArray[np.int64]:
    """Top-k ids per query with each query's ``exclude`` ids removed; -1 padded."""
    nq = queries.shape[0]
    out = np.full((nq, k), -1, dtype=np.int64)
    if nq == 0:
        return out
    need = np.array([k + e.shape[0] for e in exclude], dtype=np.int64)
    bucket = np.minimum(2 ** np.ceil(np.log2(np.maximum(need, 1))).astype(np.int64), n_items)
    bucket = np.maximum(bucket, min(k, n_items))
    for b in np.unique(bucket):
        rows = np.flatnonzero(bucket == b)
        ids = np.asarray(search(queries[rows], int(b)))
        if ids.shape != (rows.shape[0], int(b)):
            raise ValueError(
                f"search returned shape {ids.shape}, expected {(rows.shape[0], int(b))}"
            )
        for j, r in enumerate(rows):
            row = ids[j]
            keep = (row >= 0) & ~np.isin(row, exclude[r])
            got = row[keep][:k]
            out[r, : got.shape[0]] = got
    return out
