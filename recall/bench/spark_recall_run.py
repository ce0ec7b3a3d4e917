"""The measurement of the Spark batch-recall bench (:mod:`recall.bench.spark_recall`): one size
(:func:`run`: data, ground truth, tuning, every method serving every user, graded) and a list
of sizes into one report (:func:`run_sizes`), on a ``local[2]`` session (:func:`_session`).
Every name is also importable from ``spark_recall``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recall.bench.datasets import gaussian_mixture
from recall.bench.harness import BenchRun, load_average
from recall.bench.spark_recall_report import _write
from recall.bench.spark_recall_tuning import _truth, tune_brp, tune_simhash
from recall.exact import exact_knn
from recall.exact import knn_recall as local_knn_recall
from recall.lsh import SimHashIndex
from recall.spark.broadcast_index import index_payload_mb

__all__ = ["BRP_TABLES_GRID", "BUCKET_LENGTHS", "COLUMNS", "TABLES_GRID", "run", "run_sizes"]

log = logging.getLogger(__name__)

#: BRP's bucket lengths (unit vectors), tried in ascending order for each table count
BUCKET_LENGTHS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
#: table counts tried for BRP and for ours (the same effort)
BRP_TABLES_GRID = (4, 8, 16, 32)
TABLES_GRID = (4, 8, 16, 32)
COLUMNS = ["method", "n_tables", "n_bits", "bucket_length", "seconds", "knn_recall",
           "knn_recall_low", "knn_recall_high", "n_sample", "users_served", "candidates_per_user",
           "bucket_collisions", "tune_s", "tune_recall", "tune_users", "tune_point_s", "broadcast_mb",
           "skipped"]  # fmt: skip


def _session(driver_memory: str = "4g"):
    """A ``local[2]`` SparkSession for the bench (UI off, 8 shuffle partitions, one numba /
    BLAS thread per Python task so that the two tasks use the two cores)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]")
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        builder = builder.config(f"spark.executorEnv.{var}", "1")
    spark = (
        builder.appName("embrecall-bench-spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _write_vectors(path: Path, ids: np.ndarray, x: np.ndarray) -> None:
    """Parquet ``(id bigint, vector list<float>)`` written by pyarrow (no Python rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(np.ascontiguousarray(x, dtype=np.float32).ravel())
    vec = pa.ListArray.from_arrays(
        pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32)), flat
    )
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "vector": vec}), path)


def _local_rows(
    idx: SimHashIndex,
    items_x: np.ndarray,
    item_ids: np.ndarray,
    users_x: np.ndarray,
    graded: np.ndarray,
    k: int,
    exact_max: float,
) -> list[dict[str, Any]]:
    """The single-process line: ``idx`` (compiled) built and searched for every user, graded on
    the users at rows ``graded``; ``ExactIndex`` for every user when ``n x users <= exact_max``."""
    from recall.spark.compare import recall_interval

    n_items, n_users = items_x.shape[0], users_x.shape[0]
    truth = exact_knn(items_x, users_x[graded], k, "cosine", ids=item_ids).ids
    t0 = time.perf_counter()
    idx.build(items_x, item_ids)
    res = idx.search(users_x, k)
    local_s = time.perf_counter() - t0
    per = np.array([local_knn_recall(res.ids[g : g + 1], truth[i : i + 1], k)
                    for i, g in enumerate(graded)])  # fmt: skip
    mean = local_knn_recall(res.ids[graded], truth, k)
    lo, hi = recall_interval(per, mean, n_users)
    rows = [{"method": "local-lsh", "seconds": local_s, "knn_recall": mean,
             "knn_recall_low": lo, "knn_recall_high": hi, "n_sample": graded.size,
             "n_users": n_users, "users_served": int((res.ids[:, 0] >= 0).sum()),
             "candidates_per_user": idx.stats()["mean_candidates"], "n_tables": idx.n_tables,
             "k": k, "skipped": ""}]  # fmt: skip
    if float(n_items) * n_users <= exact_max:
        exact_knn(items_x[:2000], users_x[:64], k)  # warm-up (compilation), untimed
        t0 = time.perf_counter()
        exact_knn(items_x, users_x, k, "cosine", ids=item_ids, threads=None)
        rows.append({"method": "local-exact", "seconds": time.perf_counter() - t0,
                     "knn_recall": 1.0, "n_users": n_users, "users_served": n_users,
                     "k": k, "skipped": ""})  # fmt: skip
    else:
        rows.append({"method": "local-exact", "n_users": n_users, "k": k,
                     "skipped": f"{n_items:,} x {n_users:,} > exact_max"})  # fmt: skip
    return rows


def _grade(frame: Any, graded_ids: np.ndarray, truth: np.ndarray, k: int, n_users: int) -> dict:
    """knn_recall@k of a top-k frame on the graded users (numpy truth) with its 95% interval."""
    from embeddings.neighbours import knn_recall
    from recall.spark.compare import recall_interval
    from recall.spark.frames import collect_top_k

    spark = frame.sparkSession
    sample = spark.createDataFrame([(int(u),) for u in graded_ids], "user_id bigint")
    ids, _ = collect_top_k(frame.join(sample, "user_id", "left_semi"), graded_ids, k)
    mean = float(knn_recall(ids, truth, k))
    per = np.array([knn_recall(ids[i : i + 1], truth[i : i + 1], k) for i in range(len(ids))])
    lo, hi = recall_interval(per, mean, n_users)
    return {"knn_recall": mean, "knn_recall_low": lo, "knn_recall_high": hi,
            "n_sample": int(graded_ids.size)}  # fmt: skip


def _timed_frame(make: Any) -> tuple[Any, float, int]:
    """``make()`` -> a lazy top-k frame, cached and computed in full: (frame, seconds, users)."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    frame = make().cache()
    served = int(frame.agg(F.countDistinct("user_id")).first()[0])
    return frame, time.perf_counter() - t0, served


def run(
    n_items: int = 10_000,
    n_users: int = 500,
    d: int = 32,
    k: int = 10,
    tables_grid: tuple[int, ...] = TABLES_GRID,
    n_bits: int | None = None,
    target: float = 0.9,
    bucket_lengths: tuple[float, ...] = BUCKET_LENGTHS,
    brp_tables_grid: tuple[int, ...] = BRP_TABLES_GRID,
    n_sample: int = 1000,
    n_tune: int = 500,
    n_tune_brp: int | None = None,
    exact_max: float = 1e11,
    max_pairs: float | None = 4e8,
    driver_memory: str = "4g",
    shuffle_join: bool = True,
    random_state: int = 0,
    out_dir: Path | None = None,
    spark: Any = None,
) -> pd.DataFrame:
    """One size, every user served by each method; rows of ``results.csv``.

    Ground truth: the exact top-``k`` of a graded sample of ``n_sample`` users (and of a separate
    tuning sample of ``n_tune``; BRP's tuning users are a seeded subset of ``n_tune_brp`` of
    them when given, as BRP's grid points cost minutes each at 1M items) by numpy / BLAS in the
    driver. Ours is tuned on the tuning
    sample (:func:`tune_simhash`; ``n_bits`` given = fixed ``tables_grid[0]`` x ``n_bits``),
    BRP likewise (:func:`tune_brp`); both tuned settings then serve all users:

    * ``embrecall-broadcast``: the items read from Parquet into the driver, our ``SimHashIndex``
      built there, broadcast, every user partition searched by it
      (:func:`recall.spark.broadcast_index_top_k`); the timed figure includes read + build.
    * ``embrecall-lsh``: the shuffle bucket join (:func:`recall.spark.lsh_batch_recall`'s
      stages) with the same hasher (``shuffle_join``; skipped above ``max_pairs`` join rows).
    * ``spark-brp``: ``approxSimilarityJoin`` at BRP's tuned setting (same skip rule).
    * ``exact``: :func:`recall.spark.broadcast_exact_top_k` when ``n_items x n_users <=
      exact_max``; ``local-lsh`` / ``local-exact``: the same in one process.

    ``spark``: a session to use (left running); by default a fresh ``local[2]`` one
    (:func:`_session`), stopped at the end.
    """
    from recall.spark import broadcast_exact_top_k, broadcast_index_top_k
    from recall.spark.brp import brp_candidates, brp_keys
    from recall.spark.bucket_join import bucket_collisions, hash_vectors, lsh_batch_recall
    from recall.spark.frames import rank_top_k

    max_pairs = float("inf") if max_pairs is None else float(max_pairs)
    load = load_average()
    items_x, users_x = gaussian_mixture(n_items, d, 100, n_users, random_state)
    item_ids = np.arange(n_items, dtype=np.int64) * 3 + 1
    user_ids = np.arange(n_users, dtype=np.int64) + 10**7
    rng = np.random.default_rng([random_state, 1])
    tune = np.sort(rng.choice(n_users, min(n_tune, n_users), replace=False))
    if n_tune_brp is not None and n_tune_brp < 1:
        raise ValueError(f"n_tune_brp must be >= 1, got {n_tune_brp}")
    n_b = tune.size if n_tune_brp is None else min(int(n_tune_brp), tune.size)
    pick_b = np.sort(np.random.default_rng([random_state, 3]).choice(tune.size, n_b, replace=False))
    graded = np.sort(np.random.default_rng([random_state, 2]).choice(
        n_users, min(n_sample, n_users), replace=False))  # fmt: skip
    tune_truth = _truth(items_x, item_ids, users_x[tune], k)
    graded_truth = _truth(items_x, item_ids, users_x[graded], k)
    t0 = time.perf_counter()
    if n_bits is None:
        ours, ours_grid = tune_simhash(items_x, item_ids, users_x[tune], tune_truth, tables_grid,
                                       k, target, random_state)  # fmt: skip
    else:
        ours = {"n_tables": tables_grid[0], "n_bits": int(n_bits)}
        ours_grid = [ours]
    ours_tune_s = time.perf_counter() - t0
    nt, nb = int(ours["n_tables"]), int(ours["n_bits"])
    idx = SimHashIndex("cosine", n_tables=nt, n_bits=nb, n_probes=nt, random_state=random_state)
    idx.build(items_x[: min(n_items, 2000)], item_ids[: min(n_items, 2000)])  # compile, untimed
    idx.search(users_x[:8], k)
    rows = _local_rows(idx, items_x, item_ids, users_x, graded, k, exact_max)
    rows[0].update(n_tables=nt, n_bits=nb)  # local-lsh: the tuned setting

    own = spark is None
    spark = _session(driver_memory) if own else spark
    base = {"n_tables": nt, "n_bits": nb}
    cached: list[Any] = []
    try:
        with tempfile.TemporaryDirectory(prefix="embrecall-spark-") as tmp:
            items_path = Path(tmp) / "items.parquet"
            _write_vectors(items_path, item_ids, items_x)
            _write_vectors(Path(tmp) / "users.parquet", user_ids, users_x)
            it = spark.read.parquet(str(items_path)).repartition(8).cache()
            u = spark.read.parquet(str(Path(tmp) / "users.parquet")).repartition(8).cache()
            it.count(), u.count()
            tune_u = u.where(u["id"].isin([int(x) for x in user_ids[tune[pick_b]]])).cache()
            tune_u.count()
            cached += [it, u, tune_u]
            # warm-up, untimed: JVM code generation, Python workers, numba caches
            w_idx = SimHashIndex("cosine", n_tables=nt, n_bits=nb, n_probes=nt,
                                 random_state=random_state).build(items_x[:500], item_ids[:500])  # fmt: skip
            broadcast_index_top_k(spark, u.limit(20), w_idx, k).count()
            lsh_batch_recall(spark, u.limit(20), it.limit(500), idx.hasher, k).count()
            rank_top_k(brp_candidates(spark, u.limit(20), it.limit(500), "cosine", 0.05, 2,
                                      random_state=random_state), k).count()  # fmt: skip

            t0 = time.perf_counter()
            brp, brp_grid = tune_brp(spark, tune_u, it, user_ids[tune[pick_b]], tune_truth[pick_b],
                                     bucket_lengths, brp_tables_grid, k, target, max_pairs,
                                     random_state)  # fmt: skip
            brp_tune_s = time.perf_counter() - t0

            if float(n_items) * n_users <= exact_max:
                f, secs, served = _timed_frame(lambda: broadcast_exact_top_k(spark, u, it, k))
                rows.append({"method": "exact", "seconds": secs, "users_served": served,
                             **_grade(f, user_ids[graded], graded_truth, k, n_users)})  # fmt: skip
                f.unpersist()
            else:
                rows.append({"method": "exact",
                             "skipped": f"{n_items:,} x {n_users:,} > exact_max"})  # fmt: skip

            def broadcast_job() -> Any:
                import pyarrow.parquet as pq

                tab = pq.read_table(items_path)
                ids = tab.column("id").to_numpy()
                flat = tab.column("vector").combine_chunks().flatten().to_numpy()
                job_idx = SimHashIndex("cosine", n_tables=nt, n_bits=nb, n_probes=nt,
                                       random_state=random_state)  # fmt: skip
                job_idx.build(flat.reshape(ids.size, -1), ids)
                return broadcast_index_top_k(spark, u, job_idx, k)

            f, secs, served = _timed_frame(broadcast_job)
            rows.append({"method": "embrecall-broadcast", **base, "seconds": secs,
                         "tune_s": ours_tune_s, "tune_recall": ours.get("recall"),
                         "candidates_per_user": ours.get("candidates"), "users_served": served,
                         "broadcast_mb": index_payload_mb(idx),
                         **_grade(f, user_ids[graded], graded_truth, k, n_users)})  # fmt: skip
            f.unpersist()

            if shuffle_join:
                coll = bucket_collisions(hash_vectors(spark, u, idx.hasher),
                                         hash_vectors(spark, it, idx.hasher))  # fmt: skip
                row = {"method": "embrecall-lsh", **base, "bucket_collisions": coll,
                       "tune_s": ours_tune_s, "tune_recall": ours.get("recall")}  # fmt: skip
                if coll > max_pairs:
                    rows.append({**row, "skipped": f"bucket join of {coll:,} rows > max_pairs"})
                else:
                    f, secs, served = _timed_frame(
                        lambda: lsh_batch_recall(spark, u, it, idx.hasher, k)
                    )
                    rows.append({**row, "seconds": secs, "users_served": served,
                                 **_grade(f, user_ids[graded], graded_truth, k, n_users)})  # fmt: skip
                    f.unpersist()

            if brp is None:
                rows.append({"method": "spark-brp", "tune_s": brp_tune_s,
                             "skipped": f"no grid point reached {target} on the tuning users"})  # fmt: skip
            else:
                bl, bt = brp["bucket_length"], int(brp["n_tables"])
                coll = bucket_collisions(*brp_keys(spark, u, it, "cosine", bl, bt, random_state))
                row = {"method": "spark-brp", "n_tables": bt, "bucket_length": bl,
                       "bucket_collisions": coll, "tune_s": brp_tune_s,
                       "tune_recall": brp["recall"], "candidates_per_user": brp["candidates"],
                       "tune_users": n_b, "tune_point_s": brp["seconds"]}  # fmt: skip
                if coll > max_pairs:
                    rows.append({**row, "skipped": f"bucket join of {coll:,} rows > max_pairs"})
                else:
                    f, secs, served = _timed_frame(lambda: rank_top_k(brp_candidates(
                        spark, u, it, "cosine", bl, bt, random_state=random_state), k))  # fmt: skip
                    rows.append({**row, "seconds": secs, "users_served": served,
                                 **_grade(f, user_ids[graded], graded_truth, k, n_users)})  # fmt: skip
                    f.unpersist()
            spark_version = spark.version
    finally:
        for frame in cached:
            frame.unpersist()
        if own:
            spark.stop()
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = np.nan
    df["skipped"] = df["skipped"].fillna("")
    df["n_users"], df["k"], df["d"], df["n_items"] = n_users, k, d, n_items
    df["load_1min"], df["spark_version"] = load[0], spark_version
    df["tuning"] = json.dumps({"ours": ours_grid, "brp": brp_grid}, default=float)
    if out_dir is not None:
        _write(df, Path(out_dir), None)
    return df


def run_sizes(
    sizes: list[tuple[int, int]], out_dir: Path, bench: BenchRun | None = None, **kwargs: Any
) -> pd.DataFrame:
    """:func:`run` at every ``(n_items, n_users)`` (a fresh SparkSession each), one report."""
    frames = []
    for n_items, n_users in sizes:
        log.info("size %d items x %d users (load %.2f)", n_items, n_users, load_average()[0])
        frames.append(run(n_items=n_items, n_users=n_users, **kwargs))
        partial = copy.deepcopy(bench).finish() if bench is not None else None
        _write(pd.concat(frames, ignore_index=True), out_dir, partial)  # partial report as we go
    df = pd.concat(frames, ignore_index=True)
    _write(df, out_dir, bench.finish() if bench is not None else None)
    return df
