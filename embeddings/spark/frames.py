"""Spark DataFrames from the project's tables: interactions and embeddings (``pyspark`` imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embeddings.types import Embeddings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["require_pyspark", "interactions_to_spark", "embeddings_to_spark"]


def require_pyspark() -> Any:
    """Import and return ``pyspark``; ``ImportError`` naming the ``spark`` extra when absent."""
    try:
        import pyspark
    except ImportError as exc:
        raise ImportError(
            "the Spark modules (embeddings.spark, recall.spark) need pyspark (and Java): "
            "install the extra with `pip install 'embrecall[spark]'`"
        ) from exc
    return pyspark


def interactions_to_spark(spark: SparkSession, interactions: Any) -> DataFrame:
    """Spark DataFrame (user_id bigint, item_id bigint, rating float, timestamp bigint).

    ``interactions`` is an :class:`~embeddings.datasets.tables.Interactions` or a pandas frame with
    those columns (validated the same way). Row order is kept (it breaks timestamp ties).
    """
    require_pyspark()
    from embeddings.datasets.tables import Interactions

    frame = interactions.frame if isinstance(interactions, Interactions) else None
    if frame is None:
        frame = Interactions.validate(interactions)
    rows = list(
        zip(
            frame["user_id"].astype("int64").tolist(),
            frame["item_id"].astype("int64").tolist(),
            frame["rating"].astype("float64").tolist(),
            frame["timestamp"].astype("int64").tolist(),
        )
    )
    schema = "user_id bigint, item_id bigint, rating float, timestamp bigint"
    return spark.createDataFrame(rows, schema=schema)


def embeddings_to_spark(
    spark: SparkSession, emb: Embeddings, num_slices: int | None = None
) -> DataFrame:
    """Spark DataFrame (id bigint, vector array<float>) of an ``Embeddings`` (values bit-exact)."""
    require_pyspark()
    if not isinstance(emb, Embeddings):
        raise ValueError(f"expected Embeddings, got {type(emb).__name__}")
    rows = [(int(i), v.tolist()) for i, v in zip(emb.ids.tolist(), emb.vectors, strict=True)]
    rdd = spark.sparkContext.parallelize(rows, num_slices) if num_slices else rows
    return spark.createDataFrame(rdd, schema="id bigint, vector array<float>")
