"""Batch recall with the item index broadcast: a broadcast hash join whose hash table is our LSH index.

When the items fit in one executor's memory (1M x 32 floats is 128 MB; the built SimHash index of
them, buckets and int8 copies included, about 2x that), shuffling them through a bucket join is
the expensive way: every (user, item) candidate becomes a Spark row, joined twice more for its
vectors. Spark's own answer for a small side is the broadcast hash join; here the "hash table" is
the local LSH index itself. It is built once in the driver, broadcast, and every task searches
its partition of users with it in compiled code (candidates, exact re-rank and top-k inside the
index, no row per candidate). The users stay partitioned: their number is what grows without
bound in batch recall.

The result equals the local index's ``search`` on the same users (same ids, same order), whatever
the partitioning, because every task runs the same index on whole user rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from embeddings.spark.frames import require_pyspark
from embeddings.types import Embeddings
from recall.base import Index
from recall.spark.frames import as_vector_frame, check_inputs, check_k

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["broadcast_index_top_k"]


def _search_batches(
    batches: Iterator[pd.DataFrame], index: Index, k: int
) -> Iterator[pd.DataFrame]:
    """One task: ``index.search`` of each Arrow batch of users -> ``(user_id, item_id, score,
    rank)`` rows (padding ``-1`` ids dropped)."""
    ranks = np.arange(1, k + 1, dtype=np.int32)
    for pdf in batches:
        if len(pdf) == 0:
            continue
        ids = pdf["id"].to_numpy(dtype=np.int64)
        vecs = np.ascontiguousarray(np.stack(pdf["vector"].to_numpy()), dtype=np.float32)
        res = index.search(vecs, k)
        kk = res.ids.shape[1]
        keep = (res.ids >= 0).ravel()
        yield pd.DataFrame(
            {
                "user_id": np.repeat(ids, kk)[keep],
                "item_id": res.ids.ravel()[keep],
                "score": res.scores.ravel()[keep].astype(np.float32),
                "rank": np.tile(ranks[:kk], ids.size)[keep],
            }
        )


def broadcast_index_top_k(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    index: Index,
    k: int = 10,
) -> DataFrame:
    """Top-``k`` items of every user by a built local index broadcast to the executors.

    Args:
        spark: the session.
        users: ``Embeddings`` or a DataFrame ``(id, vector array<float>)``; any number of rows,
            partitioned as given (each partition is one task).
        index: a built ``recall.base.Index`` (e.g. ``SimHashIndex`` with its tuned tables, bits
            and probes; ``ExactIndex`` gives the exact answer). It is pickled once and broadcast;
            its metric applies (cosine indexes normalise the queries themselves).
        k: items per user.

    Returns a lazy DataFrame ``(user_id bigint, item_id bigint, score float, rank int)``: ranks
    1..k in the index's order (best first); a user gets fewer rows when the index finds fewer
    than ``k`` items. ``ValueError`` for an empty or unbuilt index, a dimension mismatch, or a
    bad ``k``, and for
    null / NaN / infinite user vectors (checked in one pass before the job, named with an id).

    Numba / BLAS threads inside a task follow the executor's environment: set
    ``spark.executorEnv.NUMBA_NUM_THREADS`` (and ``OMP_NUM_THREADS``) to 1 so that each of the
    ``local[n]`` tasks uses one core.
    """
    require_pyspark()
    k = check_k(k)
    if not isinstance(index, Index):
        raise ValueError(f"index: expected a recall.base.Index, got {type(index).__name__}")
    if index.dim is None or len(index) == 0:
        raise ValueError("index: empty (build it before broadcasting)")
    check_inputs(spark, {"users": users}, index.dim)
    u = as_vector_frame(spark, users, "users")
    bc = spark.sparkContext.broadcast(index)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return _search_batches(batches, bc.value, k)

    return u.mapInPandas(run, schema="user_id bigint, item_id bigint, score float, rank int")


def index_payload_mb(index: Index) -> float:
    """Size of the pickled ``index`` (what the broadcast ships), MB."""
    import pickle

    return len(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)) / 2**20
