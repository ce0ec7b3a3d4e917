"""Spark (optional extra ``spark``): sessions, Item2vec and batch LSH recall for data beyond one machine.

Everything here runs unchanged on ``local[*]`` and on a cluster; ``pyspark`` is imported lazily so
``import recall.spark`` works without it and the entry points raise an ``ImportError`` naming the
``spark`` extra.

- :func:`spark_sessions` groups a DataFrame of interactions (``user_id, item_id, rating,
  timestamp``) into per-user, time-ordered sessions with the rules of
  :func:`embeddings.sessions.build_sessions` (optional ``min_rating``, a new session after a gap
  larger than ``session_gap``, sessions shorter than ``min_length`` dropped, timestamp ties kept
  in input order); :func:`collect_sessions` turns the result into a local ``Sessions``.
- :class:`SparkItem2Vec` trains Spark ML ``Word2Vec`` on those sessions and returns the project's
  :class:`~embeddings.types.Embeddings` (ids = the item ids, seeded).
- :func:`lsh_batch_recall` recommends for every user at once: user and item vectors are hashed on
  the executors by **the same** hasher as the local LSH index (its arrays are broadcast and the
  hasher rebuilt with ``from_arrays``, so the bucket keys are bit-identical), exploded to
  ``(table, key)`` rows, joined on the bucket keys, filtered by the OR / AND / vote rule,
  re-ranked exactly and cut to the top ``k`` per user with a window function. The result is a
  DataFrame ``(user_id, item_id, score, rank)``, optionally written as Parquet.
- :func:`brp_top_k` does the same with Spark's own ``BucketedRandomProjectionLSH`` and
  ``approxSimilarityJoin``; :func:`exact_top_k` is the brute-force reference (cross join), and
  :func:`compare_with_brp` reports ``knn_recall@k`` of both against it.

Vectors enter as ``Embeddings`` (made into a DataFrame) or as a Spark DataFrame with columns
``id`` (bigint) and ``vector`` (array<float>). Scores follow ``recall.base``: ``cosine`` = cosine
similarity, ``ip`` = inner product, ``l2`` = minus the squared Euclidean distance; they are computed
in double precision and returned as float.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embeddings.sessions import Sessions
from embeddings.types import Embeddings
from embeddings.validate import as_ids, spawn_seeds
from recall.base import METRICS, normalize_rows

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

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
    "exact_top_k",
    "brp_candidates",
    "brp_top_k",
    "knn_recall",
    "compare_with_brp",
    "collect_top_k",
    "graph_to_spark",
    "spark_random_walks",
]

logger = logging.getLogger(__name__)

_INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_STRATEGIES = ("or", "and", "vote")


def require_pyspark() -> Any:
    """Import and return ``pyspark``; ``ImportError`` naming the ``spark`` extra when absent."""
    try:
        import pyspark
    except ImportError as exc:
        raise ImportError(
            "recall.spark needs pyspark (and Java): install the extra with "
            "`pip install 'embrecall[spark]'`"
        ) from exc
    return pyspark


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an int, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


# ----------------------------------------------------------------------------- conversions
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


def _as_vector_frame(spark: SparkSession, x: Embeddings | DataFrame, name: str) -> DataFrame:
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


# ----------------------------------------------------------------------------- sessions
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


# ----------------------------------------------------------------------------- item2vec
class SparkItem2Vec:
    """Item2vec with Spark ML ``Word2Vec`` (skip-gram, hierarchical softmax), output ``Embeddings``.

    Args:
        vector_size: embedding dimension.
        window: context window radius.
        min_count: items seen fewer times get no vector (logged).
        epochs: Spark's ``maxIter``.
        learning_rate: Spark's ``stepSize``.
        num_partitions: Spark's ``numPartitions``; 1 (default) gives reproducible vectors for a
            seed, more partitions train faster but their merge order is not fixed.
        max_sentence_length: longer sessions are split by Spark into chunks of this length.
        random_state: seed (int / SeedSequence / Generator), passed to Spark's ``seed``.
    """

    def __init__(
        self,
        vector_size: int = 32,
        window: int = 5,
        min_count: int = 1,
        epochs: int = 1,
        learning_rate: float = 0.025,
        num_partitions: int = 1,
        max_sentence_length: int = 1000,
        random_state: Any = None,
    ) -> None:
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.num_partitions = num_partitions
        self.max_sentence_length = max_sentence_length
        self.random_state = random_state

    def _check(self) -> None:
        for name in ("vector_size", "window", "epochs", "num_partitions", "max_sentence_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if (
            isinstance(self.min_count, bool)
            or not isinstance(self.min_count, int)
            or self.min_count < 0
        ):
            raise ValueError(f"min_count must be an int >= 0, got {self.min_count!r}")
        if not (isinstance(self.learning_rate, float | int) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")

    def fit(self, sessions: DataFrame, items_col: str = "items") -> Embeddings:
        """Train on a DataFrame with an array<bigint> column of item ids (e.g. ``spark_sessions``)."""
        pyspark = require_pyspark()
        from pyspark.ml.feature import Word2Vec
        from pyspark.sql import functions as F

        self._check()
        if items_col not in sessions.columns:
            raise ValueError(f"sessions: no column {items_col!r} (has {sessions.columns})")
        seed = spawn_seeds(self.random_state, 1)[0]
        tokens = sessions.select(
            F.transform(F.col(items_col), lambda x: x.cast("bigint").cast("string")).alias("_tok")
        )
        w2v = Word2Vec(
            vectorSize=int(self.vector_size),
            windowSize=int(self.window),
            minCount=int(self.min_count),
            maxIter=int(self.epochs),
            stepSize=float(self.learning_rate),
            numPartitions=int(self.num_partitions),
            maxSentenceLength=int(self.max_sentence_length),
            seed=int(seed),
            inputCol="_tok",
            outputCol="_vec",
        )
        t0 = time.perf_counter()
        model = w2v.fit(tokens)
        rows = model.getVectors().collect()
        seconds = time.perf_counter() - t0
        if not rows:
            raise ValueError(f"no item reached min_count={self.min_count}: empty vocabulary")
        ids = np.array([int(r["word"]) for r in rows], dtype=np.int64)
        vecs = np.array([r["vector"].toArray() for r in rows], dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        n_seen = sessions.select(F.explode(items_col).alias("i")).distinct().count()
        if n_seen > ids.size:
            logger.info(
                "%d of %d items got no vector (min_count=%d)",
                n_seen - ids.size,
                n_seen,
                self.min_count,
            )
        meta = {
            "method": "item2vec-spark",
            "params": {
                "vector_size": self.vector_size,
                "window": self.window,
                "min_count": self.min_count,
                "epochs": self.epochs,
                "learning_rate": self.learning_rate,
                "num_partitions": self.num_partitions,
                "max_sentence_length": self.max_sentence_length,
            },
            "seed": int(seed),
            "seconds": seconds,
            "versions": {"pyspark": pyspark.__version__, "numpy": np.__version__},
            "items_without_vector": int(n_seen - ids.size),
        }
        return Embeddings(ids[order], vecs[order], meta)


# ----------------------------------------------------------------------------- LSH batch recall
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
    _check_metric(metric)
    payload = _hasher_payload(hasher)
    bc = spark.sparkContext.broadcast(payload)
    frame = _as_vector_frame(spark, vectors, "vectors")
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


def _n_tables(hasher: Any) -> int:
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

    _check_metric(metric)
    n_tables = _n_tables(hasher)
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


def _score_expr(metric: str) -> Any:
    from pyspark.sql import functions as F

    u = F.col("_u").cast("array<double>")
    v = F.col("_v").cast("array<double>")
    if metric == "l2":
        diff = F.zip_with(u, v, lambda a, b: (a - b) * (a - b))
        return -F.aggregate(diff, F.lit(0.0).cast("double"), lambda acc, x: acc + x)
    prod = F.zip_with(u, v, lambda a, b: a * b)
    return F.aggregate(prod, F.lit(0.0).cast("double"), lambda acc, x: acc + x)


def _rank_top_k(scored: DataFrame, k: int) -> DataFrame:
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


def _rerank(
    pairs: DataFrame, u: DataFrame, it: DataFrame, k: int, metric: str, exclude: DataFrame | None
) -> DataFrame:
    from pyspark.sql import functions as F

    if exclude is not None:
        missing = [c for c in ("user_id", "item_id") if c not in exclude.columns]
        if missing:
            raise ValueError(f"exclude: missing columns {missing} (has {exclude.columns})")
        seen = exclude.select(
            F.col("user_id").cast("bigint"), F.col("item_id").cast("bigint")
        ).distinct()
        pairs = pairs.join(seen, on=["user_id", "item_id"], how="left_anti")
    scored = (
        pairs.join(u.select(F.col("id").alias("user_id"), F.col("vector").alias("_u")), "user_id")
        .join(it.select(F.col("id").alias("item_id"), F.col("vector").alias("_v")), "item_id")
        .select("user_id", "item_id", _score_expr(metric).alias("score"))
    )
    return _rank_top_k(scored, k)


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

    Returns a DataFrame ``(user_id bigint, item_id bigint, score float, rank int)`` with ranks
    1..k per user (ties in score broken by the smaller item id). Users whose buckets hold no item
    get no row. No multi-probe: it matches the local index searched with home buckets only.
    """
    require_pyspark()
    k = _check_k(k)
    _check_metric(metric)
    u = _as_vector_frame(spark, users, "users")
    it = _as_vector_frame(spark, items, "items")
    pairs = lsh_candidate_pairs(spark, u, it, hasher, metric, strategy, min_votes)
    out = _rerank(
        pairs,
        _prepared_frame(spark, u, metric, "users"),
        _prepared_frame(spark, it, metric, "items"),
        k,
        metric,
        exclude,
    )
    if output is not None:
        out.write.mode("overwrite").parquet(str(output))
        out = spark.read.parquet(str(output))
    return out


def _prepared_frame(
    spark: SparkSession, x: Embeddings | DataFrame, metric: str, name: str
) -> DataFrame:
    from pyspark.sql import functions as F

    frame = _as_vector_frame(spark, x, name)
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


def exact_top_k(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    k: int = 10,
    metric: str = "cosine",
) -> DataFrame:
    """Brute-force reference: cross join every user with every item, exact scores, top ``k``."""
    require_pyspark()
    k = _check_k(k)
    _check_metric(metric)
    from pyspark.sql import functions as F

    u = _prepared_frame(spark, users, metric, "users")
    it = _prepared_frame(spark, items, metric, "items")
    pairs = u.select(F.col("id").alias("user_id")).crossJoin(
        it.select(F.col("id").alias("item_id"))
    )
    return _rerank(pairs, u, it, k, metric, None)


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
    require_pyspark()
    from pyspark.ml.feature import BucketedRandomProjectionLSH
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    _check_metric(metric)
    if metric == "ip":
        raise ValueError("BucketedRandomProjectionLSH is Euclidean: metric 'ip' is not supported")
    if not bucket_length > 0:
        raise ValueError(f"bucket_length must be > 0, got {bucket_length}")
    if isinstance(num_hash_tables, bool) or int(num_hash_tables) < 1:
        raise ValueError(f"num_hash_tables must be >= 1, got {num_hash_tables}")
    if threshold is None:
        threshold = 2.0 + 1e-6 if metric == "cosine" else float(np.finfo(np.float64).max)
    seed = spawn_seeds(random_state, 1)[0]
    u = _prepared_frame(spark, users, metric, "users").select(
        "id", array_to_vector("vector").alias("features")
    )
    it = _prepared_frame(spark, items, metric, "items").select(
        "id", array_to_vector("vector").alias("features")
    )
    brp = BucketedRandomProjectionLSH(
        inputCol="features",
        outputCol="hashes",
        bucketLength=float(bucket_length),
        numHashTables=int(num_hash_tables),
        seed=int(seed),
    )
    model = brp.fit(it)
    joined = model.approxSimilarityJoin(u, it, float(threshold), distCol="dist")
    d2 = F.col("dist") * F.col("dist")
    score = (F.lit(1.0) - d2 / 2.0) if metric == "cosine" else -d2
    return joined.select(
        F.col("datasetA.id").alias("user_id"),
        F.col("datasetB.id").alias("item_id"),
        score.alias("score"),
    )


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
    k = _check_k(k)
    cands = brp_candidates(
        spark, users, items, metric, bucket_length, num_hash_tables, threshold, random_state
    )
    return _rank_top_k(cands, k)


def _recall_stats(approx: DataFrame, exact: DataFrame) -> tuple[float, int, int]:
    """(knn_recall, users in ``exact``, users with any row in ``approx``) in one Spark job."""
    from pyspark.sql import functions as F

    e = exact.select("user_id", "item_id").withColumn("_e", F.lit(1))
    a = approx.select("user_id", "item_id").withColumn("_a", F.lit(1))
    per = (
        e.join(a, ["user_id", "item_id"], "full_outer")
        .groupBy("user_id")
        .agg(
            F.sum(F.coalesce("_e", F.lit(0))).alias("n"),
            F.sum(F.when(F.col("_e").isNotNull() & F.col("_a").isNotNull(), 1).otherwise(0)).alias(
                "h"
            ),
            F.max(F.coalesce("_a", F.lit(0))).alias("served"),
        )
    )
    row = per.agg(
        F.avg(F.when(F.col("n") > 0, F.col("h") / F.col("n"))).alias("r"),
        F.sum(F.when(F.col("n") > 0, 1).otherwise(0)).alias("users"),
        F.sum("served").alias("served"),
    ).first()
    rec = float(row["r"]) if row["r"] is not None else 0.0
    return rec, int(row["users"] or 0), int(row["served"] or 0)


def knn_recall(approx: DataFrame, exact: DataFrame) -> float:
    """``knn_recall@k``: mean over the users of ``exact`` of |approx ∩ exact| / |exact| per user.

    Both frames hold ``(user_id, item_id, ...)`` top-k rows; users missing from ``approx`` count 0.
    """
    return _recall_stats(approx, exact)[0]


def compare_with_brp(
    spark: SparkSession,
    users: Embeddings | DataFrame,
    items: Embeddings | DataFrame,
    hasher: Any,
    k: int = 10,
    metric: str = "cosine",
    strategy: str = "or",
    min_votes: int | None = None,
    bucket_length: float | Sequence[float] = 1.0,
    num_hash_tables: int | None = None,
    random_state: Any = None,
) -> pd.DataFrame:
    """One row per method (``exact``, ``embrecall-lsh``, ``spark-brp`` per ``bucket_length``).

    Columns: ``knn_recall`` (against ``exact``), ``seconds`` (wall time to materialise the top-k
    table), ``users_served`` (users with at least one recommendation), ``n_tables``, ``k``
    and ``candidates_per_user`` for both LSH joins (mean candidate pairs before re-ranking).
    ``num_hash_tables`` defaults to the hasher's number of tables.
    """
    k = _check_k(k)
    n_tables = _n_tables(hasher)
    u = _as_vector_frame(spark, users, "users")
    it = _as_vector_frame(spark, items, "items")
    rows = []

    t0 = time.perf_counter()
    exact = exact_top_k(spark, u, it, k, metric).cache()
    n_exact_rows = exact.count()
    rows.append({"method": "exact", "seconds": time.perf_counter() - t0, "n_tables": 0})

    t0 = time.perf_counter()
    pairs = lsh_candidate_pairs(spark, u, it, hasher, metric, strategy, min_votes).cache()
    n_pairs = pairs.count()
    pu = _prepared_frame(spark, u, metric, "users")
    pi = _prepared_frame(spark, it, metric, "items")
    ours = _rerank(pairs, pu, pi, k, metric, None).cache()
    ours.count()
    rows.append(
        {"method": "embrecall-lsh", "seconds": time.perf_counter() - t0, "n_tables": n_tables}
    )

    lengths = (
        (float(bucket_length),)
        if isinstance(bucket_length, int | float | np.floating)
        else tuple(float(b) for b in bucket_length)
    )
    if not lengths:
        raise ValueError("bucket_length: give at least one value")
    frames = [exact, ours]
    n_cands = [np.nan, float(n_pairs)]
    cached = [exact, pairs, ours]
    for bl in lengths:
        t0 = time.perf_counter()
        bcands = brp_candidates(
            spark,
            u,
            it,
            metric,
            bucket_length=bl,
            num_hash_tables=num_hash_tables or n_tables,
            random_state=random_state,
        ).cache()
        n_cands.append(float(bcands.count()))
        brp = _rank_top_k(bcands, k).cache()
        brp.count()
        rows.append(
            {
                "method": "spark-brp",
                "seconds": time.perf_counter() - t0,
                "n_tables": num_hash_tables or n_tables,
                "bucket_length": bl,
            }
        )
        frames.append(brp)
        cached += [bcands, brp]
    for r, frame, nc in zip(rows, frames, n_cands, strict=True):
        rec, n_users, served = _recall_stats(frame, exact)
        r.update(knn_recall=rec, users_served=served, k=k, candidates_per_user=nc / max(1, n_users))
    log_rows = [(r["method"], r.get("bucket_length"), round(r["knn_recall"], 4)) for r in rows]
    logger.info("compare_with_brp (%d exact rows): %s", n_exact_rows, log_rows)
    for df in cached:
        df.unpersist()
    return pd.DataFrame(rows)


def collect_top_k(result: DataFrame, user_ids: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Local ``(ids (n_users, k) int64, scores (n_users, k) float32)`` in the order of ``user_ids``,
    padded with -1 / -inf like ``SearchResult`` (for comparisons with a local index)."""
    users = as_ids(user_ids)
    k = _check_k(k)
    pos = {int(u): i for i, u in enumerate(users.tolist())}
    ids = np.full((users.size, k), -1, dtype=np.int64)
    scores = np.full((users.size, k), -np.inf, dtype=np.float32)
    for r in result.select("user_id", "item_id", "score", "rank").collect():
        i = pos.get(int(r["user_id"]))
        if i is not None and r["rank"] <= k:
            ids[i, r["rank"] - 1] = r["item_id"]
            scores[i, r["rank"] - 1] = r["score"]
    return ids, scores


# ----------------------------------------------------------------------------- random walks
def graph_to_spark(spark: SparkSession, graph: Any, num_slices: int | None = None) -> DataFrame:
    """Spark DataFrame (src bigint, dst bigint, weight double) of the arcs of an ``ItemGraph``
    (node ids, not positions; an undirected graph's edges appear in both directions)."""
    require_pyspark()
    from embeddings.graph import ItemGraph

    if not isinstance(graph, ItemGraph):
        raise ValueError(f"expected an ItemGraph, got {type(graph).__name__}")
    src = graph.node_ids[np.repeat(np.arange(graph.n_nodes), graph.out_degree())]
    dst = graph.node_ids[graph.indices]
    rows = list(zip(src.tolist(), dst.tolist(), graph.weights.astype(np.float64).tolist()))
    rdd = spark.sparkContext.parallelize(rows, num_slices) if num_slices else rows
    return spark.createDataFrame(rdd, schema="src bigint, dst bigint, weight double")


def _uniform_col(seed: int, *cols: Any) -> Any:
    """A double in [0, 1) from the top 53 bits of ``xxhash64(seed, *cols)``: a seeded draw that
    depends only on the values (walk, step), never on partitioning or execution order."""
    from pyspark.sql import functions as F

    h = F.xxhash64(F.lit(seed), *cols)
    return F.shiftrightunsigned(h, 11).cast("double") / float(2**53)


def _adjacency(edges: DataFrame, directed: bool, keep_self_loops: bool) -> DataFrame:
    """Arcs (src, dst, weight) with parallel arcs summed, validated weights."""
    from pyspark.sql import functions as F

    missing = {"src", "dst", "weight"} - set(edges.columns)
    if missing:
        raise ValueError(f"edges need columns src, dst, weight; missing {sorted(missing)}")
    e = edges.select(
        F.col("src").cast("bigint").alias("src"),
        F.col("dst").cast("bigint").alias("dst"),
        F.col("weight").cast("double").alias("weight"),
    )
    if not directed:
        e = e.unionByName(e.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "weight"))
    if not keep_self_loops:
        e = e.where(F.col("src") != F.col("dst"))
    return e.groupBy("src", "dst").agg(F.sum("weight").alias("weight"))


def spark_random_walks(
    spark: SparkSession,
    edges: DataFrame | Any,
    num_walks: int = 10,
    walk_length: int = 80,
    p: float = 1.0,
    q: float = 1.0,
    directed: bool = True,
    keep_self_loops: bool = False,
    random_state: Any = None,
    partitions: int | None = None,
) -> DataFrame:
    """DeepWalk (p = q = 1) or node2vec walks on a graph held as a partitioned Spark DataFrame.

    The walks follow the rules of :func:`embeddings.walks.generate_walks` (same transition
    probabilities, walks stop at nodes without out-arcs, every node with an arc starts
    ``num_walks`` walks) and are advanced one step for all walks at once by joins:

    * first order: each node's arcs, sorted by target, cut ``[0, 1)`` into intervals of length
      ``w / sum(w)`` (window sums); the interval table is exploded over ``deg`` equal buckets, an
      arc appearing in every bucket its interval overlaps (at most ``2 deg`` rows per node). A
      walk at v with draw u joins on ``(v, floor(u deg))`` -- an equi-join with about 2 matches
      -- and keeps the arc whose interval holds u. O(1) expected work per step, exact.
    * second order (p, q not both 1): the walk (t -> v) joins all arcs v -> x, a left join with
      the arcs t -> x marks the neighbours of t, the weights ``w/p`` (x = t), ``w`` (t -> x) or
      ``w/q`` (otherwise) are summed by a window per walk and the draw picks the interval. Work
      per step is the out-degree of the current node (exact; no rejection loop).

    Draws are ``xxhash64(seed, round, start, step)`` mapped to [0, 1): the walks depend only on
    ``random_state`` and the graph, not on partitions or executors. They agree in distribution
    with the local engine, not walk for walk (its random streams differ). Each step's frontier is
    checkpointed (``localCheckpoint``) so the plan stays one step deep.

    Args:
        spark: the session.
        edges: a DataFrame (src, dst, weight) of node ids, or an ``ItemGraph``.
        num_walks, walk_length, p, q: as for ``generate_walks``.
        directed: False adds every arc in the other direction too (ignored for an ItemGraph,
            which already stores both).
        keep_self_loops: keep arcs v -> v (``ItemGraph.from_edges`` drops them by default).
        random_state: int seed (or SeedSequence / Generator / None).
        partitions: partitions of the adjacency and of the walk frontier (default: Spark's
            ``spark.sql.shuffle.partitions``).

    Returns:
        DataFrame (round int, start bigint, walk array<bigint>): one row per walk, the node ids
        in order starting with ``start``.
    """
    require_pyspark()
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from embeddings.graph import ItemGraph
    from embeddings.walks import _check_positive_float, _check_positive_int

    num_walks = _check_positive_int(num_walks, "num_walks")
    walk_length = _check_positive_int(walk_length, "walk_length")
    p = _check_positive_float(p, "p")
    q = _check_positive_float(q, "q")
    seed = int(spawn_seeds(random_state, 1)[0] % (2**62))
    if isinstance(edges, ItemGraph):
        edges = graph_to_spark(spark, edges)
        directed = True
    parts = int(partitions or int(spark.conf.get("spark.sql.shuffle.partitions")))

    arcs = _adjacency(edges, directed, keep_self_loops).repartition(parts, "src")
    by_src = Window.partitionBy("src").orderBy("dst")
    whole = Window.partitionBy("src")
    arcs = (
        arcs.withColumn("hi", F.sum("weight").over(by_src) / F.sum("weight").over(whole))
        .withColumn("rank", F.row_number().over(by_src))
        .withColumn("deg", F.count(F.lit(1)).over(whole))
        .withColumn("hi", F.when(F.col("rank") == F.col("deg"), F.lit(1.0)).otherwise(F.col("hi")))
        .withColumn("lo", F.coalesce(F.lag("hi", 1).over(by_src), F.lit(0.0)))
    )
    bad = arcs.where(~(F.col("weight") > 0) | F.isnan("weight") | (F.col("weight") == float("inf")))
    if bad.limit(1).count():
        raise ValueError("edge weights must be finite and > 0")
    degree = arcs.select("src", "deg").distinct()
    nodes = (
        arcs.select(F.col("src").alias("node"))
        .union(arcs.select(F.col("dst").alias("node")))
        .distinct()
        .join(degree.withColumnRenamed("src", "node"), "node", "left")
        .select("node", F.coalesce("deg", F.lit(0)).cast("bigint").alias("deg"))
    )
    # arcs with the target's out-degree (0 = dead end), and the bucketed interval table
    arcs = arcs.join(
        degree.select(F.col("src").alias("dst"), F.col("deg").alias("dst_deg")), "dst", "left"
    ).withColumn("dst_deg", F.coalesce("dst_deg", F.lit(0)).cast("bigint"))
    buckets = arcs.withColumn(
        "b",
        F.explode(
            F.sequence(
                F.floor(F.col("lo") * F.col("deg")).cast("bigint"),
                F.least(F.ceil(F.col("hi") * F.col("deg")).cast("bigint") - 1, F.col("deg") - 1),
            )
        ),
    ).select("src", "b", "lo", "hi", "dst", "dst_deg")
    buckets = buckets.repartition(parts, "src", "b").localCheckpoint()
    arcs = arcs.select("src", "dst", "weight", "dst_deg").localCheckpoint()

    rounds = spark.range(num_walks).select(F.col("id").cast("int").alias("round"))
    start = nodes.crossJoin(rounds).select(
        "round", F.col("node").alias("start"), F.col("node").alias("cur"), "deg",
        F.lit(None).cast("bigint").alias("prev"),
    )  # fmt: skip
    frontier = start.where(F.col("deg") > 0).repartition(parts, "round", "start").localCheckpoint()
    steps = [start.select("round", "start", F.lit(0).alias("step"), F.col("cur").alias("node"))]
    second = not (p == 1.0 and q == 1.0)
    key = ["round", "start"]
    for step in range(1, walk_length):
        u = _uniform_col(seed, F.col("round"), F.col("start"), F.lit(step))
        f = frontier.withColumn("u", u)
        if not second or step == 1:
            f = f.withColumn("b", F.floor(F.col("u") * F.col("deg")).cast("bigint"))
            moved = (
                f.join(
                    buckets,
                    (f["cur"] == buckets["src"]) & (f["b"] == buckets["b"]),
                )
                .where((F.col("lo") <= F.col("u")) & (F.col("u") < F.col("hi")))
                .select(
                    *key,
                    F.col("cur").alias("prev"),
                    F.col("dst").alias("cur"),
                    F.col("dst_deg").alias("deg"),
                )  # fmt: skip
            )
        else:
            cand = f.join(arcs, f["cur"] == arcs["src"]).select(
                *key, "prev", "cur", "u", "dst", "weight", "dst_deg"
            )
            near = arcs.select(
                F.col("src").alias("t"), F.col("dst").alias("x"), F.lit(1).alias("adj")
            )
            cand = cand.join(near, (cand["prev"] == near["t"]) & (cand["dst"] == near["x"]), "left")
            bias = (
                F.when(F.col("dst") == F.col("prev"), F.lit(1.0 / p))
                .when(F.col("adj").isNotNull(), F.lit(1.0))
                .otherwise(F.lit(1.0 / q))
            )
            per_walk = Window.partitionBy(*key).orderBy("dst")
            walk_all = Window.partitionBy(*key)
            cand = (
                cand.withColumn("bw", F.col("weight") * bias)
                .withColumn("hi", F.sum("bw").over(per_walk) / F.sum("bw").over(walk_all))
                .withColumn("rank", F.row_number().over(per_walk))
                .withColumn("n", F.count(F.lit(1)).over(walk_all))
                .withColumn("hi", F.when(F.col("rank") == F.col("n"), 1.0).otherwise(F.col("hi")))
                .withColumn("lo", F.coalesce(F.lag("hi", 1).over(per_walk), F.lit(0.0)))
            )
            moved = cand.where((F.col("lo") <= F.col("u")) & (F.col("u") < F.col("hi"))).select(
                *key, F.col("cur").alias("prev"), F.col("dst").alias("cur"),
                F.col("dst_deg").alias("deg"),
            )  # fmt: skip
        moved = moved.repartition(parts, *key).localCheckpoint()
        steps.append(moved.select(*key, F.lit(step).alias("step"), F.col("cur").alias("node")))
        frontier = moved.where(F.col("deg") > 0)
    path = steps[0]
    for s in steps[1:]:
        path = path.unionByName(s)
    return path.groupBy(*key).agg(
        F.transform(
            F.array_sort(F.collect_list(F.struct("step", "node"))), lambda x: x["node"]
        ).alias("walk")
    )
