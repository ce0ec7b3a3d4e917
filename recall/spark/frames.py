"""Shared DataFrame plumbing of Spark batch recall: vector frames, scores, the per-user top-k window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.spark.frames import embeddings_to_spark
from embeddings.types import Embeddings
from embeddings.validate import as_ids
from recall.base import METRICS

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["collect_top_k"]


def check_metric(metric: str) -> None:
    """``ValueError`` unless ``metric`` is one of ``recall.base.METRICS``."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")


def check_k(k: Any) -> int:
    """``k`` as an int >= 1, else ``ValueError``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an int, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


def as_vector_frame(spark: SparkSession, x: Embeddings | DataFrame, name: str) -> DataFrame:
    """``(id bigint, vector array<float>)`` from ``Embeddings`` or a DataFrame with those columns."""
    from pyspark.sql import DataFrame as SDF
    from pyspark.sql import functions as F

    if isinstance(x, Embeddings):
        if len(x) == 0:
            raise ValueError(f"{name}: no vectors")
        return embeddings_to_spark(spark, x)
    if not isinstance(x, SDF):
        raise ValueError(
            f"{name}: expected Embeddings or a Spark DataFrame, got {type(x).__name__}"
        )
    missing = [c for c in ("id", "vector") if c not in x.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing} (has {x.columns})")
    return x.select(
        F.col("id").cast("bigint").alias("id"), F.col("vector").cast("array<float>").alias("vector")
    )


def check_vector_frame(frame: DataFrame, name: str, dim: int | None = None) -> int | None:
    """One pass over a ``(id, vector)`` frame: ``ValueError`` naming ``name`` for a null id, a
    null vector, a NaN or infinite element, a duplicate id, vectors of different lengths, or a
    length other than ``dim``.

    Returns the vectors' dimension (``None`` for an empty frame). ``Embeddings`` are checked when
    made; this is for DataFrames, whose bad rows would otherwise fail inside an executor or
    silently poison the scores.
    """
    from pyspark.sql import functions as F

    bad = F.isnull("vector") | F.exists("vector", lambda x: F.isnull(x) | F.isnan(x)
                                        | (F.abs(x) == float("inf")))  # fmt: skip
    row = frame.agg(
        F.sum(F.when(bad, 1).otherwise(0)).alias("n_bad"),
        F.min(F.when(bad, F.col("id"))).alias("bad_id"),
        F.min(F.size("vector")).alias("d_min"),
        F.max(F.size("vector")).alias("d_max"),
        F.count(F.lit(1)).alias("n_rows"),
        F.sum(F.when(F.isnull("id"), 1).otherwise(0)).alias("n_null_id"),
        F.countDistinct("id").alias("n_ids"),
    ).first()
    if row["n_null_id"]:
        raise ValueError(f"{name}: {row['n_null_id']:,} row(s) with a null id")
    if row["n_bad"]:
        raise ValueError(
            f"{name}: {row['n_bad']:,} vector(s) null or with NaN / infinite values "
            f"(e.g. id {row['bad_id']})"
        )
    if row["n_rows"] != row["n_ids"]:
        # only on the error path: one duplicated id to name
        dup = frame.groupBy("id").count().filter(F.col("count") > 1).agg(F.min("id")).first()[0]
        raise ValueError(
            f"{name}: duplicate ids ({row['n_rows'] - row['n_ids']:,} rows repeat an id, "
            f"e.g. id {dup}); each id needs exactly one vector"
        )
    if row["d_min"] is None:
        return None
    if row["d_min"] != row["d_max"]:
        raise ValueError(f"{name}: vectors of different lengths ({row['d_min']} to {row['d_max']})")
    if dim is not None and row["d_min"] != dim:
        raise ValueError(f"{name}: vectors of dimension {row['d_min']}, expected {dim}")
    return int(row["d_min"])


def check_inputs(
    spark: SparkSession, inputs: dict[str, Embeddings | DataFrame], dim: int | None = None
) -> None:
    """:func:`check_vector_frame` on each DataFrame of ``inputs`` (``name: users or items``;
    ``Embeddings`` were checked when made), all of one dimension (``dim`` if given)."""
    for name, given in inputs.items():
        if isinstance(given, Embeddings):
            if len(given) == 0:
                raise ValueError(f"{name}: no vectors")
            d = given.dim
            if dim is not None and d != dim:
                raise ValueError(f"{name}: vectors of dimension {d}, expected {dim}")
        else:
            d = check_vector_frame(as_vector_frame(spark, given, name), name, dim)
        dim = d if dim is None else dim


def prepared_frame(
    spark: SparkSession, x: Embeddings | DataFrame, metric: str, name: str
) -> DataFrame:
    """:func:`as_vector_frame`, unit-normalised for ``cosine`` (as the local index scores it)."""
    from pyspark.sql import functions as F

    frame = as_vector_frame(spark, x, name)
    if metric != "cosine":
        return frame
    norm = F.sqrt(
        F.aggregate(
            F.transform(F.col("vector").cast("array<double>"), lambda a: a * a),
            F.lit(0.0).cast("double"),
            lambda acc, a: acc + a,
        )
    )
    return frame.withColumn("_n", F.greatest(norm, F.lit(1e-12))).select(
        "id", F.transform("vector", lambda a: (a / F.col("_n")).cast("float")).alias("vector")
    )


def score_expr(metric: str) -> Any:
    """Column expression of the score of ``_u`` and ``_v`` in double: dot, or minus squared L2."""
    from pyspark.sql import functions as F

    u = F.col("_u").cast("array<double>")
    v = F.col("_v").cast("array<double>")
    if metric == "l2":
        diff = F.zip_with(u, v, lambda a, b: (a - b) * (a - b))
        return -F.aggregate(diff, F.lit(0.0).cast("double"), lambda acc, x: acc + x)
    prod = F.zip_with(u, v, lambda a, b: a * b)
    return F.aggregate(prod, F.lit(0.0).cast("double"), lambda acc, x: acc + x)


def rank_top_k(scored: DataFrame, k: int) -> DataFrame:
    """Top ``k`` rows per user of ``(user_id, item_id, score)``: score desc, then item id asc."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("item_id").asc())
    return (
        scored.withColumn("rank", F.row_number().over(w))
        .where(F.col("rank") <= int(k))
        .select(
            "user_id",
            "item_id",
            F.col("score").cast("float").alias("score"),
            F.col("rank").cast("int").alias("rank"),
        )
    )


RERANK_MODES = ("arrow", "sql")


def _top_k_rows(
    user: np.ndarray, item: np.ndarray, score: np.ndarray, k: int
) -> dict[str, np.ndarray]:
    """Top ``k`` rows per user of flat arrays: score desc, then item id asc (``rank_top_k``'s
    rule), ranks 1..k; vectorised (one lexsort)."""
    order = np.lexsort((item, -score, user))
    user, item, score = user[order], item[order], score[order]
    start = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    rank = np.arange(user.size) - np.repeat(start, np.diff(np.r_[start, user.size])) + 1
    keep = rank <= k
    return {"user_id": user[keep], "item_id": item[keep],
            "score": score[keep].astype(np.float32), "rank": rank[keep].astype(np.int32)}  # fmt: skip


def _rerank_batches(batches: Any, k: int, metric: str) -> Any:
    """One task over rows ``(user_id, item_id, _u, _v)`` sorted by user: exact scores in float64
    (numpy) and the top ``k`` per user. A user's rows may span Arrow batches: the last user of a
    batch is carried over to the next, so every user is ranked once, over all its rows."""
    import pandas as pd

    carry: pd.DataFrame | None = None
    for pdf in batches:
        if carry is not None:
            pdf = pd.concat([carry, pdf], ignore_index=True)
            carry = None
        if len(pdf) == 0:
            continue
        users = pdf["user_id"].to_numpy(dtype=np.int64)
        cut = int(np.searchsorted(users, users[-1], side="left"))
        if cut == 0:  # one user so far: wait for the rest of its rows
            carry = pdf
            continue
        carry, pdf = pdf.iloc[cut:].reset_index(drop=True), pdf.iloc[:cut]
        yield pd.DataFrame(_score_rows(pdf, k, metric))
    if carry is not None and len(carry):
        yield pd.DataFrame(_score_rows(carry, k, metric))


def _score_rows(pdf: Any, k: int, metric: str) -> dict[str, np.ndarray]:
    u = np.stack(pdf["_u"].to_numpy()).astype(np.float64)
    v = np.stack(pdf["_v"].to_numpy()).astype(np.float64)
    score = -np.einsum("nd,nd->n", u - v, u - v) if metric == "l2" else np.einsum("nd,nd->n", u, v)
    return _top_k_rows(
        pdf["user_id"].to_numpy(dtype=np.int64), pdf["item_id"].to_numpy(dtype=np.int64), score, k
    )


def rerank(
    pairs: DataFrame,
    u: DataFrame,
    it: DataFrame,
    k: int,
    metric: str,
    exclude: DataFrame | None,
    mode: str = "sql",
) -> DataFrame:
    """Exact scores of candidate ``pairs`` (``exclude`` pairs removed), top ``k`` per user.

    ``mode="sql"`` is the default: measured alone at 100k items x 5,000 users (10.6M pairs,
    ``recall.bench.spark_profile``, two runs) it took 25.9 / 22.8 s against ``"arrow"``'s
    36.0 / 35.2 s. ``mode="arrow"``: the pairs get both vectors by two joins, are partitioned by user
    and sorted, and each task scores its rows with numpy (float64) and keeps the top ``k`` per
    user in one vectorised sort (``mapInPandas``): no per-pair interpreted expression and no
    window. ``mode="sql"``: scores by Spark higher-order functions
    (``zip_with`` / ``aggregate``, evaluated row by row without code generation) and
    :func:`rank_top_k`'s window. Both rank by score desc, then item id asc.
    """
    from pyspark.sql import functions as F

    if mode not in RERANK_MODES:
        raise ValueError(f"unknown rerank mode {mode!r}; choose one of {RERANK_MODES}")
    if exclude is not None:
        missing = [c for c in ("user_id", "item_id") if c not in exclude.columns]
        if missing:
            raise ValueError(f"exclude: missing columns {missing} (has {exclude.columns})")
        seen = exclude.select(
            F.col("user_id").cast("bigint"), F.col("item_id").cast("bigint")
        ).distinct()
        pairs = pairs.join(seen, on=["user_id", "item_id"], how="left_anti")
    joined = pairs.join(
        u.select(F.col("id").alias("user_id"), F.col("vector").alias("_u")), "user_id"
    ).join(it.select(F.col("id").alias("item_id"), F.col("vector").alias("_v")), "item_id")
    if mode == "sql":
        scored = joined.select("user_id", "item_id", score_expr(metric).alias("score"))
        return rank_top_k(scored, k)
    parts = int(pairs.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    rows = (
        joined.select("user_id", "item_id", "_u", "_v")
        .repartition(parts, "user_id")
        .sortWithinPartitions("user_id")
    )

    def run(batches: Any) -> Any:
        return _rerank_batches(batches, int(k), metric)

    return rows.mapInPandas(run, schema="user_id bigint, item_id bigint, score float, rank int")


def collect_top_k(result: DataFrame, user_ids: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Local ``(ids (n_users, k) int64, scores (n_users, k) float32)`` in the order of ``user_ids``,
    padded with -1 / -inf like ``SearchResult`` (for comparisons with a local index)."""
    users = as_ids(user_ids)
    k = check_k(k)
    pos = {int(u): i for i, u in enumerate(users.tolist())}
    ids = np.full((users.size, k), -1, dtype=np.int64)
    scores = np.full((users.size, k), -np.inf, dtype=np.float32)
    for r in result.select("user_id", "item_id", "score", "rank").collect():
        i = pos.get(int(r["user_id"]))
        if i is not None and r["rank"] <= k:
            ids[i, r["rank"] - 1] = r["item_id"]
            scores[i, r["rank"] - 1] = r["score"]
    return ids, scores
