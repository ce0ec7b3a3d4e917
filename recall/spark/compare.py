"""Our bucket join against Spark's ``BucketedRandomProjectionLSH``, measured on a sample of users.

Both approximate methods recommend for **every** user (that is what is timed). Their
``knn_recall@k`` is measured on a seeded sample of users (:func:`recall.spark.exact.sample_users`,
default 1,000) whose exact top-k is computed by :func:`recall.spark.exact.broadcast_exact_top_k`:
the exact answer for all users is a ``n_users x n_items`` computation that a 1M-item x 100k-user
run cannot afford just to grade the others. The sample's per-user recalls give a 95% interval
(Student t, with the finite-population correction: zero width when the sample is every user).

The recall itself is :func:`recall.exact.knn_recall` (one definition for the whole project): the
top-k frames of the sampled users are collected (``n_sample x k`` rows) into id arrays and handed
to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embeddings.spark.frames import require_pyspark
from embeddings.types import Embeddings
from recall.spark.brp import brp_candidates, brp_keys
from recall.spark.bucket_join import (
    bucket_collisions,
    hash_vectors,
    lsh_candidate_pairs,
    n_tables_of,
)
from recall.spark.exact import broadcast_exact_top_k, exact_top_k, sample_users
from recall.spark.frames import (
    as_vector_frame,
    check_k,
    collect_top_k,
    prepared_frame,
    rank_top_k,
    rerank,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["RecallEstimate", "recall_interval", "sampled_knn_recall", "compare_with_brp"]

logger = logging.getLogger(__name__)

_EXACT_ALL = (None, "broadcast", "cross")


@dataclass(frozen=True)
class RecallEstimate:
    """``knn_recall@k`` on a sample of users with its interval.

    ``knn_recall`` is the mean over the ``n_sample`` users of |approx ∩ exact| / |exact|;
    ``low`` / ``high`` bound it at ``confidence`` for the ``population`` users it was drawn from
    (equal to ``knn_recall`` when the sample is the population; nan for a single user).
    """

    knn_recall: float
    low: float
    high: float
    n_sample: int
    population: int
    confidence: float


def recall_interval(
    per_user: np.ndarray, m: float, population: int, confidence: float = 0.95
) -> tuple[float, float]:
    """(low, high) around the mean ``m`` of ``per_user`` (one recall per sampled user, float):
    Student t, finite-population corrected, clipped to [0, 1]; ``(m, m)`` when the sample is the
    whole ``population``, nan for a single user."""
    from scipy import stats

    per_user = np.asarray(per_user, dtype=np.float64)
    n = per_user.size
    if n >= population:
        return m, m
    if n < 2:
        return float("nan"), float("nan")
    fpc = np.sqrt((population - n) / (population - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * per_user.std(ddof=1) / np.sqrt(n))
    half *= fpc
    return max(0.0, m - half), min(1.0, m + half)


def sampled_knn_recall(
    approx: DataFrame,
    exact: DataFrame,
    k: int,
    population: int | None = None,
    confidence: float = 0.95,
) -> RecallEstimate:
    """``knn_recall@k`` of ``approx`` over the users of ``exact``, with an interval.

    Args:
        approx: top-k rows ``(user_id, item_id, ...)`` of any set of users (e.g. all of them).
        exact: the exact top-k rows of the sampled users; its users define the sample.
        k: the cut-off (both frames are cut to ranks <= k by ``rank`` if they have it).
        population: number of users the sample was drawn from (default: the sample itself, so a
            zero-width interval).
        confidence: of the interval, in (0, 1).

    The rows of the sampled users are collected (``n_sample x k``), and
    :func:`recall.exact.knn_recall` is the definition (users missing from ``approx`` count 0).
    """
    require_pyspark()
    from embeddings.neighbours import knn_recall

    k = check_k(k)
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    users = np.array(
        sorted(int(r["user_id"]) for r in exact.select("user_id").distinct().collect()),
        dtype=np.int64,
    )
    if users.size == 0:
        raise ValueError("exact: no user (empty frame)")
    n_pop = users.size if population is None else int(population)
    if n_pop < users.size:
        raise ValueError(f"population {n_pop} is smaller than the sample ({users.size} users)")
    sample = approx.sparkSession.createDataFrame([(int(u),) for u in users], "user_id bigint")
    approx_s = approx.join(sample, "user_id", "left_semi")
    a_ids, _ = collect_top_k(approx_s, users, k)
    e_ids, _ = collect_top_k(exact, users, k)
    mean = knn_recall(a_ids, e_ids, k)
    per_user = np.array(
        [knn_recall(a_ids[i : i + 1], e_ids[i : i + 1], k) for i in range(len(users))]
    )
    low, high = recall_interval(per_user, mean, n_pop, float(confidence))
    return RecallEstimate(mean, low, high, int(users.size), n_pop, float(confidence))


def _materialise(frame: DataFrame) -> tuple[DataFrame, int]:
    """Cache ``frame``, compute all of it, return it with its number of distinct users."""
    from pyspark.sql import functions as F

    frame = frame.cache()
    return frame, int(frame.agg(F.countDistinct("user_id")).first()[0])


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
    n_sample: int | None = 1000,
    exact_all: str | None = None,
    max_pairs: float | None = None,
    confidence: float = 0.95,
    random_state: Any = None,
) -> pd.DataFrame:
    """Batch recall for all users: ours vs ``spark-brp`` per ``bucket_length``, graded on a sample.

    Args:
        users, items: ``Embeddings`` or DataFrames ``(id, vector)``.
        hasher: the local index's hasher (see :func:`recall.spark.lsh_batch_recall`).
        k, metric, strategy, min_votes: as for ``lsh_batch_recall``.
        bucket_length: one or more BRP bucket lengths (one ``spark-brp`` row each).
        num_hash_tables: BRP tables (default: the hasher's number of tables).
        n_sample: users graded (seeded sample; None = all users).
        exact_all: also time exact search for all users: ``"broadcast"``
            (:func:`broadcast_exact_top_k`) or ``"cross"`` (:func:`exact_top_k`, small data
            only); None skips it.
        max_pairs: skip an LSH join whose bucket join would produce more rows than this
            (counted beforehand, ``bucket_collisions``); its row says so. None runs everything.
        confidence: of the recall interval.
        random_state: seeds the user sample and BRP's projections.

    Returns one row per method, in this order: ``exact-sample`` (the reference of the sampled
    users), ``exact`` (if ``exact_all``), ``embrecall-lsh``, ``spark-brp`` (one per bucket length).
    Columns: ``method``, ``bucket_length`` (nan but for BRP), ``seconds`` (wall time to
    materialise the method's top-k table: all users, except ``exact-sample``), ``knn_recall``,
    ``knn_recall_low`` / ``knn_recall_high`` (interval over the users), ``n_sample``, ``n_users``
    (all users), ``users_served`` (users with at least one recommendation), ``candidates_per_user``
    (mean candidate pairs before re-ranking, both LSH joins), ``bucket_collisions`` (rows of the
    bucket join before pairs are merged: what the join costs, counted untimed), ``skipped``
    (why a method did not run, else empty), ``n_tables``, ``k``.
    """
    require_pyspark()
    k = check_k(k)
    if exact_all not in _EXACT_ALL:
        raise ValueError(f"exact_all must be one of {_EXACT_ALL}, got {exact_all!r}")
    lengths = (
        (float(bucket_length),)
        if isinstance(bucket_length, int | float | np.floating)
        else tuple(float(b) for b in bucket_length)
    )
    if not lengths:
        raise ValueError("bucket_length: give at least one value")
    n_tables = n_tables_of(hasher)
    u = as_vector_frame(spark, users, "users")
    it = as_vector_frame(spark, items, "items")
    n_users = int(u.count())
    if n_users == 0:
        raise ValueError("users: no vectors")
    size = n_users if n_sample is None else min(int(n_sample), n_users)
    rows: list[dict[str, Any]] = []
    frames: list[DataFrame | None] = []
    cached: list[DataFrame] = []

    # the reference: exact top-k of the sampled users (broadcast, scan of the items)
    sample = sample_users(spark, u, size, random_state).cache()
    sample.count()
    t0 = time.perf_counter()
    ref, served = _materialise(broadcast_exact_top_k(spark, sample, it, k, metric))
    rows.append({"method": "exact-sample", "seconds": time.perf_counter() - t0,
                 "users_served": served, "n_tables": 0})  # fmt: skip
    frames.append(ref)
    cached += [sample, ref]

    if exact_all is not None:
        fn = broadcast_exact_top_k if exact_all == "broadcast" else exact_top_k
        t0 = time.perf_counter()
        full, served = _materialise(fn(spark, u, it, k, metric))
        rows.append({"method": "exact", "seconds": time.perf_counter() - t0,
                     "users_served": served, "n_tables": 0, "exact_all": exact_all})  # fmt: skip
        frames.append(full)
        cached.append(full)

    coll = bucket_collisions(hash_vectors(spark, u, hasher, metric),
                             hash_vectors(spark, it, hasher, metric))  # fmt: skip
    row = {"method": "embrecall-lsh", "n_tables": n_tables, "bucket_collisions": coll}
    if max_pairs is not None and coll > max_pairs:
        rows.append({**row, "skipped": f"bucket join of {coll:,} rows > max_pairs"})
        frames.append(None)
    else:
        t0 = time.perf_counter()
        pairs = lsh_candidate_pairs(spark, u, it, hasher, metric, strategy, min_votes).cache()
        n_pairs = pairs.count()
        pu = prepared_frame(spark, u, metric, "users")
        pi = prepared_frame(spark, it, metric, "items")
        ours, served = _materialise(rerank(pairs, pu, pi, k, metric, None))
        rows.append({**row, "seconds": time.perf_counter() - t0, "users_served": served,
                     "candidates_per_user": n_pairs / n_users})  # fmt: skip
        frames.append(ours)
        cached += [pairs, ours]

    brp_tables = num_hash_tables or n_tables
    for bl in lengths:
        coll = bucket_collisions(*brp_keys(spark, u, it, metric, bl, brp_tables, random_state))
        row = {"method": "spark-brp", "n_tables": brp_tables, "bucket_length": bl,
               "bucket_collisions": coll}  # fmt: skip
        if max_pairs is not None and coll > max_pairs:
            rows.append({**row, "skipped": f"bucket join of {coll:,} rows > max_pairs"})
            frames.append(None)
            continue
        t0 = time.perf_counter()
        bcands = brp_candidates(
            spark, u, it, metric, bucket_length=bl, num_hash_tables=brp_tables,
            random_state=random_state,
        ).cache()  # fmt: skip
        n_cands = bcands.count()
        brp, served = _materialise(rank_top_k(bcands, k))
        rows.append({**row, "seconds": time.perf_counter() - t0, "users_served": served,
                     "candidates_per_user": n_cands / n_users})  # fmt: skip
        frames.append(brp)
        cached += [bcands, brp]

    for r, frame in zip(rows, frames, strict=True):
        r.update(n_sample=size, n_users=n_users, k=k)
        if frame is None:
            continue
        est = sampled_knn_recall(frame, ref, k, population=n_users, confidence=confidence)
        r.update(knn_recall=est.knn_recall, knn_recall_low=est.low, knn_recall_high=est.high)
    for df in cached:
        df.unpersist()
    cols = ["method", "bucket_length", "seconds", "knn_recall", "knn_recall_low",
            "knn_recall_high", "n_sample", "n_users", "users_served", "candidates_per_user",
            "bucket_collisions", "n_tables", "k", "skipped"]  # fmt: skip
    out = pd.DataFrame(rows).reindex(columns=cols + [c for c in ("exact_all",) if exact_all])
    out["skipped"] = out["skipped"].astype(object).fillna("")  # all-NaN (float) when none skipped
    logger.info(
        "compare_with_brp (%d of %d users graded): %s",
        size,
        n_users,
        [(r["method"], r.get("bucket_length"), r.get("knn_recall")) for r in rows],
    )
    return out
