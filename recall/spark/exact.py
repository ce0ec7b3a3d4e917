"""Exact top-k on Spark: the cross-join reference, a broadcast-and-scan version that scales, user samples.

- :func:`exact_top_k` cross-joins every user with every item (``n_users x n_items`` rows): the
  plain reference, for small data only.
- :func:`broadcast_exact_top_k` broadcasts the users (they must fit in memory: 100k x 32 floats is
  13 MB) and scans the items partition by partition with :class:`recall.exact.ExactIndex`
  (BLAS blocks + compiled top-k, one thread per task), keeping ``2k`` candidates per user and
  partition, rescoring them in double precision and ranking them with the same rule as
  :func:`exact_top_k` (score descending, then item id ascending). Its work is
  ``n_users x n_items x d`` multiply-adds spread over the executors, with ``n_users x k`` rows
  per partition to shuffle instead of ``n_users x n_items``.
- :func:`sample_users` draws a seeded uniform sample of users without replacement (the users with
  the smallest ``xxhash64(seed, id)``: independent of partitioning and of row order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embeddings.spark.frames import require_pyspark
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds
from recall.spark.frames import (
    as_vector_frame,
    check_inputs,
    check_k,
    check_metric,
    prepared_frame,
    rank_top_k,
    rerank,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["exact_top_k", "broadcast_exact_top_k", "sample_users"]

#: users scored against one item batch at a time inside a task (bounds the task's memory)
_USER_BLOCK = 4096


def exact_top_k(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    k: int = 10,
    metric: str = "cosine",
) -> DataFrame:
    """Brute-force reference: cross join every user with every item, exact scores, top ``k``.

    Returns ``(user_id, item_id, score, rank)`` like :func:`recall.spark.lsh_batch_recall`.
    Its shuffle holds ``n_users x n_items`` pairs: use :func:`broadcast_exact_top_k` beyond
    small data.
    """
    require_pyspark()
    k = check_k(k)
    check_metric(metric)
    from pyspark.sql import functions as F

    check_inputs(spark, {"users": users, "items": items})
    u = prepared_frame(spark, users, metric, "users")
    it = prepared_frame(spark, items, metric, "items")
    pairs = u.select(F.col("id").alias("user_id")).crossJoin(
        it.select(F.col("id").alias("item_id"))
    )
    return rerank(pairs, u, it, k, metric, None)


def _scan_items(
    batches: Iterator[pd.DataFrame],
    user_ids: np.ndarray,
    user_vecs: np.ndarray,
    k: int,
    metric: str,
) -> Iterator[pd.DataFrame]:
    """One task: the top ``k`` items of every broadcast user among this partition's items.

    Candidates come from ``ExactIndex`` in float32 (``2k`` per user and batch, a margin for
    float32 rounding), are rescored in float64 and merged into a running top-k ordered by
    (score desc, item id asc): the rule of :func:`recall.spark.frames.rank_top_k`.
    """
    from recall.exact import exact_knn  # ExactIndex: the compiled scan of embeddings.neighbours

    n_users = user_ids.size
    best_ids = np.full((n_users, k), -1, dtype=np.int64)
    best_scores = np.full((n_users, k), -np.inf, dtype=np.float64)
    u64 = user_vecs.astype(np.float64)
    # cosine vectors arrive unit-normalised (prepared_frame): inner product ranks them
    local_metric = "l2" if metric == "l2" else "ip"
    seen = False
    for pdf in batches:
        if len(pdf) == 0:
            continue
        seen = True
        ids = pdf["id"].to_numpy(dtype=np.int64)
        vecs = np.ascontiguousarray(np.stack(pdf["vector"].to_numpy()), dtype=np.float32)
        x64 = vecs.astype(np.float64)
        kk = min(2 * k, ids.size)
        for s in range(0, n_users, _USER_BLOCK):
            e = min(s + _USER_BLOCK, n_users)
            pos = exact_knn(vecs, user_vecs[s:e], kk, local_metric, threads=1).ids
            cand = x64[pos]  # (block, kk, d)
            if local_metric == "ip":
                sc = np.einsum("ud,ukd->uk", u64[s:e], cand)
            else:
                sc = -np.einsum("ukd,ukd->uk", cand - u64[s:e, None, :], cand - u64[s:e, None, :])
            all_ids = np.concatenate([best_ids[s:e], ids[pos]], axis=1)
            all_sc = np.concatenate([best_scores[s:e], sc], axis=1)
            order = np.lexsort((all_ids, -all_sc), axis=-1)[:, :k]
            best_ids[s:e] = np.take_along_axis(all_ids, order, axis=1)
            best_scores[s:e] = np.take_along_axis(all_sc, order, axis=1)
    if not seen:
        return
    keep = best_ids >= 0
    yield pd.DataFrame(
        {
            "user_id": np.repeat(user_ids, k)[keep.ravel()],
            "item_id": best_ids[keep],
            "score": best_scores[keep],
        }
    )


def broadcast_exact_top_k(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    k: int = 10,
    metric: str = "cosine",
) -> DataFrame:
    """Exact top-``k`` of every user by broadcasting the users and scanning the item partitions.

    The same result as :func:`exact_top_k` (scores in double, ties broken by the smaller item id;
    the float32 first pass keeps ``2k`` candidates per user and item batch, so only items within
    float32 rounding of ``2k`` others could be ranked differently) at the cost of one pass over the
    items instead of a ``n_users x n_items`` shuffle. The users are collected to the driver and
    broadcast: they must fit in its memory. Returns ``(user_id, item_id, score, rank)``.
    """
    require_pyspark()
    k = check_k(k)
    check_metric(metric)
    check_inputs(spark, {"users": users, "items": items})
    u = prepared_frame(spark, users, metric, "users").toPandas()
    if len(u) == 0:
        raise ValueError("users: no vectors")
    user_ids = u["id"].to_numpy(dtype=np.int64)
    if np.unique(user_ids).size != user_ids.size:
        raise ValueError("users: duplicate ids")
    user_vecs = np.ascontiguousarray(np.stack(u["vector"].to_numpy()), dtype=np.float32)
    bc = spark.sparkContext.broadcast((user_ids, user_vecs))
    it = prepared_frame(spark, items, metric, "items")

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        ids, vecs = bc.value
        return _scan_items(batches, ids, vecs, k, metric)

    cands = it.mapInPandas(run, schema="user_id bigint, item_id bigint, score double")
    return rank_top_k(cands, k)


def sample_users(
    spark: SparkSession, users: Embeddings | DataFrame, n: int, random_state: Any = None
) -> DataFrame:
    """A seeded uniform sample of ``n`` users without replacement, ``(id, vector)``; all if fewer.

    The sample is the ``n`` users with the smallest ``xxhash64(seed, id)`` (ties by id): the same
    users for the same seed whatever the partitioning or row order.
    """
    require_pyspark()
    from pyspark.sql import functions as F

    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"sample size must be an int >= 1, got {n!r}")
    seed = int(spawn_seeds(random_state, 1)[0] % (2**62))
    u = as_vector_frame(spark, users, "users")
    h = F.xxhash64(F.lit(seed), F.col("id"))
    return u.withColumn("_h", h).orderBy("_h", "id").limit(int(n)).drop("_h")
