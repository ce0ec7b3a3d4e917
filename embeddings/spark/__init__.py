"""Spark (optional extra ``spark``): the training side for data beyond one machine.

``pyspark`` is imported lazily: ``import embeddings.spark`` works without it, and the entry
points raise an ``ImportError`` naming the ``spark`` extra. Everything runs unchanged on
``local[*]`` and on a cluster. Never imports ``recall`` (batch recall lives in ``recall.spark``).

- ``frames``: :func:`interactions_to_spark`, :func:`embeddings_to_spark` (the project's tables as
  Spark DataFrames), :func:`require_pyspark`.
- ``sessions``: :func:`spark_sessions` groups interactions (``user_id, item_id, rating,
  timestamp``) into per-user, time-ordered sessions with the rules of
  :func:`embeddings.sessions.build_sessions` (``min_rating``, ``session_gap``, ``min_length``,
  timestamp ties kept in input order); :func:`collect_sessions` makes a local ``Sessions``.
- ``item2vec``: :class:`SparkItem2Vec` trains Spark ML ``Word2Vec`` on those sessions and returns
  :class:`~embeddings.types.Embeddings` (ids = the item ids, seeded).
- ``walks``: :func:`spark_random_walks`, DeepWalk / node2vec walks advanced by joins on a
  partitioned adjacency DataFrame (same transition probabilities as
  :func:`embeddings.walks.generate_walks`); :func:`graph_to_spark` turns an ``ItemGraph`` into
  its arc DataFrame.
"""

from embeddings.spark.frames import embeddings_to_spark, interactions_to_spark, require_pyspark
from embeddings.spark.item2vec import SparkItem2Vec
from embeddings.spark.sessions import collect_sessions, spark_sessions
from embeddings.spark.walks import graph_to_spark, spark_random_walks

__all__ = [
    "require_pyspark",
    "interactions_to_spark",
    "embeddings_to_spark",
    "spark_sessions",
    "collect_sessions",
    "SparkItem2Vec",
    "graph_to_spark",
    "spark_random_walks",
]
