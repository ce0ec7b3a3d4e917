"""Spark ML's own LSH for batch recall: ``BucketedRandomProjectionLSH.approxSimilarityJoin``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.spark.frames import require_pyspark
from embeddings.types import Embeddings
from embeddings.validate import spawn_seeds
from recall.spark.frames import check_k, check_metric, prepared_frame, rank_top_k

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["brp_candidates", "brp_top_k", "brp_keys"]


def _brp_fit(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    metric: str,
    bucket_length: float,
    num_hash_tables: int,
    random_state: Any,
) -> tuple[Any, DataFrame, DataFrame]:
    """(fitted ``BucketedRandomProjectionLSHModel``, users, items as ``(id, features)``)."""
    require_pyspark()
    from pyspark.ml.feature import BucketedRandomProjectionLSH
    from pyspark.ml.functions import array_to_vector

    check_metric(metric)
    if metric == "ip":
        raise ValueError("BucketedRandomProjectionLSH is Euclidean: metric 'ip' is not supported")
    if not bucket_length > 0:
        raise ValueError(f"bucket_length must be > 0, got {bucket_length}")
    if isinstance(num_hash_tables, bool) or int(num_hash_tables) < 1:
        raise ValueError(f"num_hash_tables must be >= 1, got {num_hash_tables}")
    seed = spawn_seeds(random_state, 1)[0]
    u = prepared_frame(spark, users, metric, "users").select(
        "id", array_to_vector("vector").alias("features")
    )
    it = prepared_frame(spark, items, metric, "items").select(
        "id", array_to_vector("vector").alias("features")
    )
    brp = BucketedRandomProjectionLSH(
        inputCol="features",
        outputCol="hashes",
        bucketLength=float(bucket_length),
        numHashTables=int(num_hash_tables),
        seed=int(seed),
    )
    return brp.fit(it), u, it


def brp_candidates(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    metric: str = "cosine",
    bucket_length: float = 1.0,
    num_hash_tables: int = 4,
    threshold: float | None = None,
    random_state: Any = None,
) -> DataFrame:
    """Every ``(user_id, item_id, score)`` pair Spark ML's ``BucketedRandomProjectionLSH``
    ``approxSimilarityJoin`` returns (pairs colliding in at least one table, within
    ``threshold``), scored as in :func:`brp_top_k`."""
    from pyspark.sql import functions as F

    model, u, it = _brp_fit(
        spark, users, items, metric, bucket_length, num_hash_tables, random_state
    )
    if threshold is None:
        threshold = 2.0 + 1e-6 if metric == "cosine" else float(np.finfo(np.float64).max)
    joined = model.approxSimilarityJoin(u, it, float(threshold), distCol="dist")
    d2 = F.col("dist") * F.col("dist")
    score = (F.lit(1.0) - d2 / 2.0) if metric == "cosine" else -d2
    return joined.select(
        F.col("datasetA.id").alias("user_id"),
        F.col("datasetB.id").alias("item_id"),
        score.alias("score"),
    )


def brp_keys(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    metric: str = "cosine",
    bucket_length: float = 1.0,
    num_hash_tables: int = 4,
    random_state: Any = None,
) -> tuple[DataFrame, DataFrame]:
    """BRP's bucket keys ``(id, table int, key bigint)`` of users and items, as
    :func:`brp_candidates` hashes them (same seed, same projections): the input of
    :func:`recall.spark.bucket_join.bucket_collisions`."""
    from pyspark.sql import functions as F

    model, u, it = _brp_fit(
        spark, users, items, metric, bucket_length, num_hash_tables, random_state
    )

    def keys(frame: DataFrame) -> DataFrame:
        from pyspark.ml.functions import vector_to_array

        h = model.transform(frame).select("id", F.posexplode("hashes").alias("table", "h"))
        return h.select(
            "id",
            F.col("table").cast("int").alias("table"),
            vector_to_array("h")[0].cast("bigint").alias("key"),
        )

    return keys(u), keys(it)


def brp_top_k(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    k: int = 10,
    metric: str = "cosine",
    bucket_length: float = 1.0,
    num_hash_tables: int = 4,
    threshold: float | None = None,
    random_state: Any = None,
) -> DataFrame:
    """Top-``k`` per user with Spark ML ``BucketedRandomProjectionLSH.approxSimilarityJoin``.

    Spark's LSH is Euclidean: one random projection per table, ``floor(x.v / bucket_length)``,
    OR over tables, no multi-probe. For ``cosine`` the vectors are unit-normalised so ranking by
    distance equals ranking by cosine, and the score is reported as ``1 - d**2 / 2``; for ``l2``
    the score is ``-d**2``. ``ip`` is not supported (``ValueError``). ``threshold`` (Euclidean)
    defaults to keeping every colliding pair. Returns ``(user_id, item_id, score, rank)`` like
    :func:`lsh_batch_recall`.
    """
    k = check_k(k)
    cands = brp_candidates(
        spark, users, items, metric, bucket_length, num_hash_tables, threshold, random_state
    )
    return rank_top_k(cands, k)
