"""Per-user, time-ordered sessions on a Spark DataFrame, by the rules of ``build_sessions``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from embeddings.sessions import Sessions
from embeddings.spark.frames import require_pyspark

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["spark_sessions", "collect_sessions"]

_INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")


def spark_sessions(
    df: DataFrame,
    min_rating: float | None = None,
    session_gap: int | None = None,
    min_length: int = 2,
    order_col: str | None = None,
) -> DataFrame:
    """Per-user, time-ordered sessions: the rules of ``build_sessions`` on a Spark DataFrame.

    Input columns ``user_id, item_id, rating, timestamp``. Timestamp ties keep the input order
    (``monotonically_increasing_id`` taken before any shuffle), or the order of ``order_col`` if
    given. Returns a lazy DataFrame ``(user_id bigint, session int, items array<bigint>,
    timestamps array<bigint>, ratings array<float>)``, ``session`` numbering a user's sessions
    from 0 in time order (before dropping short ones). It may be empty; :func:`collect_sessions`
    raises then, like ``build_sessions``.
    """
    require_pyspark()
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if min_length < 1:
        raise ValueError(f"min_length must be >= 1, got {min_length}")
    if session_gap is not None and session_gap < 0:
        raise ValueError(f"session_gap must be >= 0, got {session_gap}")
    missing = [c for c in _INTERACTION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"interactions: missing columns {missing} (has {df.columns})")
    if order_col is not None and order_col not in df.columns:
        raise ValueError(f"order_col {order_col!r} is not a column (has {df.columns})")
    order = F.col(order_col) if order_col else F.monotonically_increasing_id()
    ev = df.select(
        F.col("user_id").cast("bigint").alias("user_id"),
        F.col("item_id").cast("bigint").alias("item_id"),
        F.col("rating").cast("float").alias("rating"),
        F.col("timestamp").cast("bigint").alias("timestamp"),
        order.alias("_row"),
    )
    if min_rating is not None:
        ev = ev.where(F.col("rating") >= F.lit(float(min_rating)))
    w = Window.partitionBy("user_id").orderBy("timestamp", "_row")
    prev = F.lag("timestamp").over(w)
    if session_gap is None:
        new = F.when(prev.isNull(), 1).otherwise(0)
    else:
        new = F.when(prev.isNull() | ((F.col("timestamp") - prev) > int(session_gap)), 1).otherwise(
            0
        )
    ev = ev.withColumn("_new", new)
    cum = (
        Window.partitionBy("user_id")
        .orderBy("timestamp", "_row")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    ev = ev.withColumn("session", (F.sum("_new").over(cum) - 1).cast("int"))
    grouped = ev.groupBy("user_id", "session").agg(
        F.array_sort(F.collect_list(F.struct("timestamp", "_row", "item_id", "rating"))).alias(
            "_ev"
        )
    )
    out = grouped.select(
        "user_id",
        "session",
        F.col("_ev.item_id").alias("items"),
        F.col("_ev.timestamp").alias("timestamps"),
        F.col("_ev.rating").alias("ratings"),
    )
    return out.where(F.size("items") >= int(min_length))


def collect_sessions(sessions_df: DataFrame) -> Sessions:
    """Collect a :func:`spark_sessions` frame into a local ``Sessions`` (ordered by user, session).

    ``ValueError`` if it holds no session.
    """
    require_pyspark()
    rows = sessions_df.orderBy("user_id", "session").collect()
    if not rows:
        raise ValueError("no session left after filtering (empty sessions DataFrame)")
    lens = np.array([len(r["items"]) for r in rows], dtype=np.int64)
    return Sessions(
        user_ids=np.array([r["user_id"] for r in rows], dtype=np.int64),
        indptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        items=np.concatenate([np.asarray(r["items"], dtype=np.int64) for r in rows]),
        timestamps=np.concatenate([np.asarray(r["timestamps"], dtype=np.int64) for r in rows]),
        ratings=np.concatenate([np.asarray(r["ratings"], dtype=np.float32) for r in rows]),
    )
