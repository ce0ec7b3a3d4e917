"""Batch recall for every user at once: our LSH hasher on the executors, a bucket join, exact re-rank.

User and item vectors are hashed on the executors by **the same** hasher as the local LSH index
(its arrays are broadcast and the hasher rebuilt with ``from_arrays``, so the bucket keys are
bit-identical), exploded to ``(table, key)`` rows, joined on the bucket keys, filtered by the OR /
AND / vote rule, re-ranked exactly and cut to the top ``k`` per user with a window function.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embeddings.spark.frames import require_pyspark
from embeddings.types import Embeddings
from recall.base import normalize_rows
from recall.spark.frames import (
    as_vector_frame,
    check_inputs,
    check_k,
    check_metric,
    prepared_frame,
    rerank,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["hash_vectors", "lsh_candidate_pairs", "lsh_batch_recall", "bucket_collisions"]

_STRATEGIES = ("or", "and", "vote")


def _hasher_payload(hasher: Any) -> dict[str, Any]:
    for attr in ("keys", "to_arrays"):
        if not callable(getattr(hasher, attr, None)):
            raise ValueError(f"hasher {type(hasher).__name__} has no {attr}() method")
    cls = type(hasher)
    return {
        "module": cls.__module__,
        "qualname": cls.__qualname__,
        "arrays": {k: np.asarray(v) for k, v in hasher.to_arrays().items()},
    }


def _rebuild_hasher(payload: dict[str, Any]) -> Any:
    obj: Any = importlib.import_module(payload["module"])
    for part in payload["qualname"].split("."):
        obj = getattr(obj, part)
    return obj.from_arrays(payload["arrays"])


def _hash_batches(
    batches: Iterator[pd.DataFrame], payload: dict[str, Any], normalize: bool
) -> Iterator[pd.DataFrame]:
    hasher = _rebuild_hasher(payload)
    for pdf in batches:
        if len(pdf) == 0:
            continue
        vecs = np.ascontiguousarray(np.stack(pdf["vector"].to_numpy()), dtype=np.float32)
        if normalize:
            vecs = normalize_rows(vecs)
        keys = np.asarray(hasher.keys(vecs), dtype=np.uint64).view(np.int64)
        n, n_tables = keys.shape
        yield pd.DataFrame(
            {
                "id": np.repeat(pdf["id"].to_numpy(dtype=np.int64), n_tables),
                "table": np.tile(np.arange(n_tables, dtype=np.int32), n),
                "key": keys.reshape(-1),
            }
        )


def hash_vectors(
    spark: SparkSession, vectors: Embeddings | DataFrame, hasher: Any, metric: str = "cosine"
) -> DataFrame:
    """``(id bigint, table int, key bigint)``: one row per vector and table, its bucket key.

    The hasher's arrays are broadcast and the hasher rebuilt on every executor, so the keys equal
    ``hasher.keys(vectors)`` bit for bit (uint64 keys are stored reinterpreted as bigint). For
    ``cosine`` the vectors are unit-normalised first (``recall.base.normalize_rows``), exactly as
    the local index does before hashing.
    """
    require_pyspark()
    check_metric(metric)
    payload = _hasher_payload(hasher)
    bc = spark.sparkContext.broadcast(payload)
    frame = as_vector_frame(spark, vectors, "vectors")
    normalize = metric == "cosine"

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return _hash_batches(batches, bc.value, normalize)

    return frame.mapInPandas(run, schema="id bigint, table int, key bigint")


def _check_strategy(strategy: str, min_votes: int | None, n_tables: int) -> int:
    if strategy not in _STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {_STRATEGIES}")
    if strategy == "or":
        return 1
    if strategy == "and":
        return n_tables
    if min_votes is None or isinstance(min_votes, bool) or not 1 <= int(min_votes) <= n_tables:
        raise ValueError(
            f"min_votes must be an int in [1, {n_tables}] for 'vote', got {min_votes!r}"
        )
    return int(min_votes)


def n_tables_of(hasher: Any) -> int:
    """Number of hash tables of ``hasher`` (``ValueError`` if it lacks ``keys`` / ``to_arrays``)."""
    _hasher_payload(hasher)  # checks the interface
    n = getattr(hasher, "n_tables", None)
    if n is None:
        n = np.asarray(hasher.keys(np.zeros((1, int(hasher.dim)), np.float32))).shape[1]
    return int(n)


def lsh_candidate_pairs(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    hasher: Any,
    metric: str = "cosine",
    strategy: str = "or",
    min_votes: int | None = None,
) -> DataFrame:
    """Candidate ``(user_id, item_id, votes)`` pairs sharing at least one bucket.

    ``votes`` = number of tables in which the two collide; OR keeps votes >= 1, AND votes == L,
    vote votes >= ``min_votes``. Users and items are hashed on the executors
    (:func:`hash_vectors`), joined on ``(table, key)`` and counted per pair.
    """
    from pyspark.sql import functions as F

    check_metric(metric)
    n_tables = n_tables_of(hasher)
    need = _check_strategy(strategy, min_votes, n_tables)
    ub = hash_vectors(spark, users, hasher, metric).withColumnRenamed("id", "user_id")
    ib = hash_vectors(spark, items, hasher, metric).withColumnRenamed("id", "item_id")
    pairs = (
        ub.join(ib, on=["table", "key"])
        .groupBy("user_id", "item_id")
        .agg(F.count(F.lit(1)).cast("int").alias("votes"))
    )
    if need > 1:
        pairs = pairs.where(F.col("votes") >= need)
    return pairs


def lsh_batch_recall(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    hasher: Any,
    k: int = 10,
    metric: str = "cosine",
    strategy: str = "or",
    min_votes: int | None = None,
    exclude: DataFrame | None = None,
    output: str | None = None,
    rerank_mode: str = "sql",
) -> DataFrame:
    """Top-``k`` items for every user by LSH bucket join + exact re-rank.

    Args:
        users, items: ``Embeddings`` or DataFrames ``(id, vector array<float>)``, same dimension.
        hasher: an ``E2LSHHasher`` / ``SimHashHasher`` (anything with ``keys``, ``to_arrays`` and
            a ``from_arrays`` classmethod); use the one of the local index for identical buckets.
        k: items kept per user.
        metric: ``cosine`` / ``ip`` / ``l2`` (cosine normalises before hashing, like the index).
        strategy: ``or`` (any shared bucket), ``and`` (all tables) or ``vote`` (``min_votes``).
        exclude: optional ``(user_id, item_id)`` pairs never recommended (e.g. already seen).
        output: if given, the result is also written there as Parquet (overwrite).
        rerank_mode: ``"sql"`` (default: Spark higher-order functions and a window, the faster
            where measured) or ``"arrow"`` (numpy scores and top-k per user partition); see
            :func:`recall.spark.frames.rerank`.

    Returns a DataFrame ``(user_id bigint, item_id bigint, score float, rank int)`` with ranks
    1..k per user (ties in score broken by the smaller item id). Users whose buckets hold no item
    get no row. No multi-probe: it matches the local index searched with home buckets only.
    """
    require_pyspark()
    k = check_k(k)
    check_metric(metric)
    check_inputs(spark, {"users": users, "items": items})
    u = as_vector_frame(spark, users, "users")
    it = as_vector_frame(spark, items, "items")
    pairs = lsh_candidate_pairs(spark, u, it, hasher, metric, strategy, min_votes)
    out = rerank(
        pairs,
        prepared_frame(spark, u, metric, "users"),
        prepared_frame(spark, it, metric, "items"),
        k,
        metric,
        exclude,
        rerank_mode,
    )
    if output is not None:
        out.write.mode("overwrite").parquet(str(output))
        out = spark.read.parquet(str(output))
    return out


def bucket_collisions(user_keys: DataFrame, item_keys: DataFrame) -> int:
    """Rows of the bucket join before pairs are merged: sum over tables and buckets of
    ``n_users x n_items`` in the bucket.

    Inputs are ``(id, table, key)`` frames (:func:`hash_vectors`, or
    :func:`recall.spark.brp.brp_keys`). Counting costs one aggregation per side, not the join:
    it tells what a bucket join will cost before running it.
    """
    from pyspark.sql import functions as F

    cu = user_keys.groupBy("table", "key").agg(F.count(F.lit(1)).alias("nu"))
    ci = item_keys.groupBy("table", "key").agg(F.count(F.lit(1)).alias("ni"))
    row = cu.join(ci, ["table", "key"]).agg(F.sum(F.col("nu") * F.col("ni")).alias("c")).first()
    return int(row["c"] or 0)
