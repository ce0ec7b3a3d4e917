"""Spark (optional extra ``spark``): batch recall for every user at once, beyond one machine.

``pyspark`` is imported lazily: ``import recall.spark`` works without it and the entry points
raise an ``ImportError`` naming the ``spark`` extra. Everything runs unchanged on ``local[*]``
and on a cluster. The training side (sessions, Item2vec, random walks on Spark) lives in
:mod:`embeddings.spark` and is re-exported here, so ``from recall.spark import spark_sessions``
keeps working.

- ``bucket_join``: :func:`lsh_batch_recall` hashes users and items on the executors with the local
  LSH index's own hasher (bit-identical bucket keys), joins on ``(table, key)``, applies the OR /
  AND / vote rule, re-ranks exactly and keeps the top ``k`` per user (optionally written as
  Parquet); :func:`hash_vectors`, :func:`lsh_candidate_pairs` are its stages.
- ``brp``: :func:`brp_top_k` / :func:`brp_candidates`, the same with Spark ML's
  ``BucketedRandomProjectionLSH.approxSimilarityJoin``.
- ``exact``: :func:`exact_top_k` (cross join, small data), :func:`broadcast_exact_top_k` (users
  broadcast, item partitions scanned with ``ExactIndex``: exact at 1M items x 100k users),
  :func:`sample_users` (seeded sample).
- ``compare``: :func:`compare_with_brp` times ours and BRP for all users and grades them on a
  seeded sample of users with a 95% interval (:func:`sampled_knn_recall`, whose definition is
  :func:`recall.exact.knn_recall`).
- ``frames``: :func:`collect_top_k` (a top-k frame as local ``SearchResult``-like arrays) and the
  shared DataFrame plumbing.

Vectors enter as ``Embeddings`` or as a Spark DataFrame with columns ``id`` (bigint) and
``vector`` (array<float>). Scores follow ``recall.base``: ``cosine`` = cosine similarity, ``ip`` =
inner product, ``l2`` = minus the squared Euclidean distance; they are computed in double
precision and returned as float. Results are DataFrames ``(user_id, item_id, score, rank)``.
"""

from embeddings.spark import (
    SparkItem2Vec,
    collect_sessions,
    embeddings_to_spark,
    graph_to_spark,
    interactions_to_spark,
    require_pyspark,
    spark_random_walks,
    spark_sessions,
)
from recall.spark.broadcast_index import broadcast_index_top_k
from recall.spark.brp import brp_candidates, brp_top_k
from recall.spark.bucket_join import hash_vectors, lsh_batch_recall, lsh_candidate_pairs
from recall.spark.compare import RecallEstimate, compare_with_brp, sampled_knn_recall
from recall.spark.exact import broadcast_exact_top_k, exact_top_k, sample_users
from recall.spark.frames import collect_top_k

__all__ = [
    "require_pyspark",
    "interactions_to_spark",
    "embeddings_to_spark",
    "spark_sessions",
    "collect_sessions",
    "SparkItem2Vec",
    "hash_vectors",
    "lsh_candidate_pairs",
    "lsh_batch_recall",
    "broadcast_index_top_k",
    "exact_top_k",
    "broadcast_exact_top_k",
    "sample_users",
    "brp_candidates",
    "brp_top_k",
    "RecallEstimate",
    "sampled_knn_recall",
    "compare_with_brp",
    "collect_top_k",
    "graph_to_spark",
    "spark_random_walks",
]
