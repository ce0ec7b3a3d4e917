"""Spark batch recall at growing sizes: our LSH (broadcast index, shuffle bucket join) vs BucketedRandomProjectionLSH vs exact.

    python -m recall.bench.spark_recall --quick                     # two tiny sizes
    python -m recall.bench.spark_recall                             # the cost-growth table:
        --sizes 10000x500,100000x5000,300000x30000,1000000x100000   # (the default sizes)

For every size ``ITEMSxUSERS`` it draws clustered unit vectors (Gaussian mixture, 100 clusters,
seeded; users from the same mixture), writes them as Parquet (Spark reads data at rest, as in
production) and, on a fresh ``local[2]`` SparkSession (driver heap ``--driver-memory``, default
4g; one numba / BLAS thread per Python task), recommends the top ``k`` items of **every** user:

* ground truth: the exact top-``k`` of a seeded sample of ``--sample`` users (graded) and of a
  separate ``--tune-sample`` (tuning), by numpy / BLAS in the driver (never the full
  ``users x items`` product);
* tuning, the same effort for both (:func:`tune_simhash`, :func:`tune_brp`): ours over
  ``--tables`` x bits (home buckets), BRP over ``--brp-tables`` x ``--bucket-lengths``; each
  keeps the setting with the fewest candidates per user among those reaching ``--target`` on
  the tuning users;
* ``embrecall-broadcast``: items read into the driver, our ``SimHashIndex`` built, broadcast,
  every user partition searched by it (:func:`recall.spark.broadcast_index_top_k`);
* ``embrecall-lsh``: the shuffle bucket join with the same hasher (pairs, re-rank in numpy per
  user partition, :func:`recall.spark.lsh_batch_recall`);
* ``spark-brp``: ``approxSimilarityJoin`` at BRP's tuned setting, the same top-k window;
* ``exact``: :func:`recall.spark.broadcast_exact_top_k` where ``n_users x n_items <=
  --exact-max``; ``local-lsh`` / ``local-exact``: our index and ``ExactIndex`` in this one
  Python process on the same vectors (where Spark starts to pay off over one process).

A shuffle join whose bucket join would produce more than ``--max-pairs`` rows (counted
beforehand) is not run and its row says so. Every figure is one wall-clock run
(``time.perf_counter``) with the 1-minute load average recorded before it; Spark session
start-up, data generation and tuning are not in ``seconds`` (tuning has its own column).

Writes ``results.csv`` (one row per size and method; the tuning grids as JSON) and
``results.md`` (the cost-growth table, ours vs BRP, Spark vs one process, growth exponents,
environment) to ``--out`` (default ``reports/spark`` under the working directory).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recall.bench.datasets import gaussian_mixture
from recall.bench.harness import BenchRun, bench_parser, default_out, load_average, start_run
from recall.exact import exact_knn
from recall.exact import knn_recall as local_knn_recall
from recall.lsh import SimHashIndex
from recall.spark.broadcast_index import index_payload_mb

log = logging.getLogger(__name__)

FULL_SIZES = ((10_000, 500), (100_000, 5_000), (300_000, 30_000), (1_000_000, 100_000))
QUICK_SIZES = ((1_000, 100), (2_000, 200))
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


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"10000x500,100000x5000"`` -> ``[(10000, 500), (100000, 5000)]`` (items x users)."""
    out = []
    for part in text.split(","):
        try:
            a, b = part.lower().strip().split("x")
            n_items, n_users = int(a), int(b)
        except ValueError as exc:
            raise ValueError(f"size {part!r} is not ITEMSxUSERS (e.g. 10000x500)") from exc
        if n_items < 1 or n_users < 1:
            raise ValueError(f"size {part!r}: items and users must be >= 1")
        out.append((n_items, n_users))
    if not out:
        raise ValueError("no size given")
    return out


def _write_vectors(path: Path, ids: np.ndarray, x: np.ndarray) -> None:
    """Parquet ``(id bigint, vector list<float>)`` written by pyarrow (no Python rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(np.ascontiguousarray(x, dtype=np.float32).ravel())
    vec = pa.ListArray.from_arrays(
        pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32)), flat
    )
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "vector": vec}), path)


def pick_bits(
    items_x: np.ndarray,
    item_ids: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    n_tables: int,
    k: int,
    target: float,
    random_state: int,
) -> tuple[int, float]:
    """Most SimHash bits per table whose local recall (home buckets only) reaches ``target``.

    ``truth`` holds the exact top-``k`` ids (``item_ids``) of ``queries``.

    Tries ``round(log2(n / 4))`` bits downwards to 2; returns ``(bits, recall)`` (the last one
    tried if none reaches the target).
    """
    bits = max(2, int(round(math.log2(max(8, items_x.shape[0]) / 4))))
    rec = 0.0
    while bits >= 2:
        idx = SimHashIndex("cosine", n_tables=n_tables, n_bits=bits, n_probes=n_tables,
                           random_state=random_state).build(items_x, item_ids)  # fmt: skip
        rec = local_knn_recall(idx.search(queries, k).ids, truth, k)
        log.info("bits %d: local knn_recall@%d %.3f", bits, k, rec)
        if rec >= target:
            break
        bits -= 1
    return max(bits, 2), rec


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


def _truth(items_x: np.ndarray, item_ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` ids of ``q`` among the items, numpy / BLAS in the driver (ground truth)."""
    return exact_knn(items_x, q, k, "cosine", ids=item_ids).ids


def tune_simhash(
    items_x: np.ndarray,
    item_ids: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    tables_grid: tuple[int, ...],
    k: int,
    target: float,
    random_state: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Our grid: for each table count the most bits reaching ``target`` (:func:`pick_bits`, home
    buckets only), then the setting with the fewest candidates per query among those that reach
    it (the most recall if none does). Candidates are counted by the index (load-free).

    Returns ``(chosen, grid)``: dicts with ``n_tables``, ``n_bits``, ``recall``, ``candidates``.
    """
    grid = []
    for nt in tables_grid:
        bits, rec = pick_bits(items_x, item_ids, queries, truth, nt, k, target, random_state)
        idx = SimHashIndex("cosine", n_tables=nt, n_bits=bits, n_probes=nt,
                           random_state=random_state).build(items_x, item_ids)  # fmt: skip
        idx.search(queries, k)
        grid.append({"n_tables": nt, "n_bits": bits, "recall": rec,
                     "candidates": float(idx.stats()["mean_candidates"])})  # fmt: skip
    ok = [g for g in grid if g["recall"] >= target]
    best = min(ok, key=lambda g: g["candidates"]) if ok else max(grid, key=lambda g: g["recall"])
    return best, grid


def tune_brp(
    spark: Any,
    tune_users: Any,
    items: Any,
    tune_ids: np.ndarray,
    truth: np.ndarray,
    lengths: tuple[float, ...],
    tables_grid: tuple[int, ...],
    k: int,
    target: float,
    max_pairs: float,
    random_state: int,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """BRP's grid, the same effort as ours: for each ``numHashTables`` the smallest
    ``bucketLength`` (ascending) whose ``approxSimilarityJoin`` of the tuning users against all
    items reaches ``target``; then the setting with the fewest candidates per user among those.
    Table counts run from the most to the fewest, each starting at the length the previous one
    needed (fewer tables never need shorter buckets for the same recall), so no point is run
    that could not be the answer. A point whose bucket join would exceed ``max_pairs`` rows
    (counted first) is not run, nor are the longer buckets after it.

    Returns ``(chosen or None, grid)``: dicts with ``n_tables``, ``bucket_length``, ``recall``,
    ``candidates`` (per tuning user), ``collisions``, ``skipped`` and ``seconds``: the wall
    time of that point's join + top-k for the tuning users (a full BRP run on them, so where the
    run for all users is too big, the chosen point's ``seconds`` is a lower bound on it).
    """
    from embeddings.neighbours import knn_recall
    from recall.spark.brp import brp_candidates, brp_keys
    from recall.spark.bucket_join import bucket_collisions
    from recall.spark.frames import collect_top_k, rank_top_k

    grid = []
    lengths = tuple(sorted(lengths))
    first = 0  # index of the shortest length worth trying for the next table count
    for nt in sorted(tables_grid, reverse=True):
        for i in range(first, len(lengths)):
            bl = lengths[i]
            coll = bucket_collisions(*brp_keys(spark, tune_users, items, "cosine", bl, nt,
                                               random_state))  # fmt: skip
            row = {"n_tables": nt, "bucket_length": bl, "collisions": coll, "skipped": ""}
            if coll > max_pairs:
                grid.append({**row, "skipped": f"{coll:,} > max_pairs"})
                break
            t0 = time.perf_counter()
            cands = brp_candidates(spark, tune_users, items, "cosine", bl, nt,
                                   random_state=random_state).cache()  # fmt: skip
            n = cands.count()
            ids, _ = collect_top_k(rank_top_k(cands, k), tune_ids, k)
            secs = time.perf_counter() - t0
            cands.unpersist()
            rec = float(knn_recall(ids, truth, k))
            grid.append({**row, "recall": rec, "candidates": n / tune_ids.size, "seconds": secs})
            log.info("brp tables %d length %g: recall %.3f, %.0f candidates", nt, bl, rec,
                     n / tune_ids.size)  # fmt: skip
            if rec >= target:
                first = i
                break
        else:
            break  # the longest length missed the target: fewer tables will too
    ok = [g for g in grid if not g["skipped"] and g["recall"] >= target]
    return (min(ok, key=lambda g: g["candidates"]) if ok else None), grid


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


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def _secs(v: Any) -> str:
    """Seconds: 3 significant digits below 100 s, whole seconds above."""
    return _fmt(v, ".3g" if v is not None and v < 100 else ",.0f")


def _growth(df: pd.DataFrame) -> dict[str, float]:
    """Slope of log(seconds) against log(n_items x n_users) per method (>= 2 sizes)."""
    out = {}
    best = df[df["skipped"] == ""].dropna(subset=["seconds"])
    for method, g in best.groupby("method"):
        g = g.groupby(["n_items", "n_users"], as_index=False)["seconds"].min()
        if len(g) >= 2:
            x = np.log(g["n_items"].to_numpy(float) * g["n_users"].to_numpy(float))
            out[method] = float(np.polyfit(x, np.log(g["seconds"].to_numpy(float)), 1)[0])
    return out


def _row_text(r: Any) -> str:
    rec = _fmt(r.knn_recall, ".3f")
    if rec and not (pd.isna(r.knn_recall_low) or r.knn_recall_low == r.knn_recall_high):
        rec += f" [{r.knn_recall_low:.3f}, {r.knn_recall_high:.3f}]"
    setting = ""
    if r.method in ("embrecall-broadcast", "embrecall-lsh", "local-lsh") and not pd.isna(r.n_bits):
        setting = f"{int(r.n_tables)} x {int(r.n_bits)} bits"
    elif r.method == "spark-brp" and not pd.isna(r.bucket_length):
        setting = f"{int(r.n_tables)} tables, length {r.bucket_length:g}"
    return (
        f"| {r.n_items:,} x {r.n_users:,} | {r.load_1min:.1f} | {r.method} | {setting} | "
        f"{_secs(r.seconds)} | {rec} | {_fmt(r.tune_recall, '.3f')} | "
        f"{_fmt(r.candidates_per_user, ',.0f')} | {_fmt(r.bucket_collisions, ',.0f')} | "
        f"{_secs(r.tune_s)} | {r.skipped} |"
    )


def _write(df: pd.DataFrame, out_dir: Path, bench: BenchRun | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "results.csv", index=False)
    if bench is None:
        bench = BenchRun(name="spark_recall", command="recall.bench.spark_recall.run(...)")
        bench.load_before = (float(df["load_1min"].iloc[0]),) * 3
    if bench.load_after is None:
        bench.finish()
    first = df.iloc[0]
    lines = bench.header("Spark batch recall at growing sizes: ours vs BRP vs exact")
    lines += [
        f"Data: Gaussian mixture, 100 clusters, unit vectors, d={first['d']}, users from the "
        f"same mixture, k={first['k']}, cosine. Spark {first['spark_version']} `local[2]`; "
        "vectors read from Parquet. Every method recommends for **all** users; knn_recall@k is "
        "graded on a seeded sample of users against numpy exact search in the driver (95% "
        "interval, finite-population corrected).",
        "Tuning, the same effort for both, on a separate seeded sample of users: ours = SimHash "
        "tables x bits (home buckets, no multi-probe), for each table count the most bits "
        "reaching the target, then the fewest candidates per user; BRP = `numHashTables` x "
        "`bucketLength` (ascending until the target), then the fewest candidates per user "
        "(on a seeded subset of the tuning users where `--brp-tune-sample` is given: "
        f"{_fmt(df['tune_users'].max(), ',.0f') or 'all'} here). "
        "`embrecall-broadcast`: the items read into the driver, our index built there and "
        "broadcast, each user partition searched in compiled code (timed: read + build + "
        "search). `embrecall-lsh`: the shuffle bucket join with the same hasher (pairs, "
        "re-rank by join, window top-k). `spark-brp`: `approxSimilarityJoin`, same top-k "
        "window. `local-*`: our index / exact search in one Python process on the same cores.",
        "",
        "## Cost growth (wall seconds, one run each)",
        "",
        "Each Spark job runs once after an untimed warm-up on 500 items x 20 users in the same "
        "session. `load` is the 1-minute load average before the size started; `tune recall` "
        "is the recall on the tuning users, `knn_recall@k` the graded one.",
        "",
        "| items x users | load | method | setting | seconds | knn_recall@k [95%] | tune recall "
        "| candidates / user | bucket-join rows | tuning s | note |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    lines += [_row_text(r) for r in df.itertuples(index=False)]
    lines += ["", "## Ours vs BRP, and where Spark pays off over one process", ""]
    lines += ["| items x users | ours broadcast s | ours shuffle s | BRP s | BRP / ours | "
              "local-lsh s | Spark / local | exact (Spark) s | local-exact s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (ni, nu), g in df.groupby(["n_items", "n_users"], sort=True):

        def sec(m: str, g: pd.DataFrame = g) -> float:
            v = g.loc[g["method"] == m, "seconds"]
            return float(v.min()) if v.notna().any() else np.nan

        ours = np.nanmin([sec("embrecall-broadcast"), sec("embrecall-lsh")])
        brp_s, ratio = _secs(sec("spark-brp")) or "not run", _fmt(sec("spark-brp") / ours, ".2f")
        part = g[(g["method"] == "spark-brp") & g["seconds"].isna()].dropna(subset=["tune_point_s"])
        if len(part):  # the full join too big: its tuning run on a user sample bounds it below
            lb = float(part["tune_point_s"].iloc[0])
            brp_s = f"> {_secs(lb)} ({int(part['tune_users'].iloc[0]):,} users only)"
            ratio = f"> {lb / ours:.2f}"
        lines.append(
            f"| {ni:,} x {nu:,} | {_secs(sec('embrecall-broadcast'))} | "
            f"{_secs(sec('embrecall-lsh'))} | {brp_s} | {ratio} | {_secs(sec('local-lsh'))} | "
            f"{_fmt(ours / sec('local-lsh'), '.3g')} | {_secs(sec('exact'))} | "
            f"{_secs(sec('local-exact'))} |"
        )
    slopes = _growth(df)
    if slopes:
        lines += ["", "Growth exponent (slope of log seconds against log(items x users)): "
                  + ", ".join(f"{m} {s:.2f}" for m, s in sorted(slopes.items())) + "."]  # fmt: skip
    lines += [
        "",
        "BRP / ours: BRP's seconds over our faster Spark row, both at their tuned settings "
        "(check the graded recalls: equal recall means both >= the target). Where BRP's join "
        "for all users exceeds `max_pairs` rows it is not run; its tuned setting's run on the "
        "tuning users alone (a fraction of the users, same items) is shown instead as `> s`, a "
        "lower bound on BRP for all users, and the ratio as a lower bound. Spark / local < 1 "
        "means the Spark job beat one process; on `local[2]` both use the same 2 cores, so this "
        "is what Spark costs before a cluster adds machines. Session start-up, data generation, "
        "Parquet writing and tuning are not in `seconds` (tuning has its own column).",
        "",
        *bench.markdown(),
    ]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


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


def _ints(text: str | None, name: str) -> tuple[int, ...]:
    """``"4,8"`` -> ``(4, 8)``; ``ValueError`` naming the option for anything but ints >= 1."""
    if not text:
        return ()
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"{name} takes comma-separated ints, got {text!r}") from exc
    if any(v < 1 for v in out):
        raise ValueError(f"{name}: every value must be >= 1, got {text!r}")
    return out


def _floats(text: str | None, name: str) -> tuple[float, ...]:
    """``"0.01,0.05"`` -> ``(0.01, 0.05)``; ``ValueError`` naming the option unless all > 0."""
    if not text:
        return ()
    try:
        out = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"{name} takes comma-separated numbers, got {text!r}") from exc
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name}: every value must be a finite number > 0, got {text!r}")
    return out


def main(argv: list[str] | None = None) -> None:
    p = bench_parser(
        "spark_recall", __doc__.splitlines()[0], quick_help="tiny sizes 1000x100,2000x200 (~3 min)",
        threads=None,
    )  # fmt: skip
    p.add_argument(
        "--sizes", default=None, help="ITEMSxUSERS,... (default: 10k x 500 -> 1M x 100k)"
    )
    p.add_argument("--items", type=int, default=None, help="one size: items (with --users)")
    p.add_argument("--users", type=int, default=None, help="one size: users (with --items)")
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--tables", default=None,
                   help="our table counts tried (default 4,8,16,32; quick 8,16)")  # fmt: skip
    p.add_argument("--brp-tables", default=None,
                   help="BRP table counts tried (default 4,8,16,32; quick 8,16)")  # fmt: skip
    p.add_argument("--bits", default="auto",
                   help="SimHash bits per table (with the first --tables), or auto (--target)")  # fmt: skip
    p.add_argument("--tune-sample", type=int, default=500, help="users of the tuning sample")
    p.add_argument("--brp-tune-sample", type=int, default=None,
                   help="BRP's tuning users: a seeded subset of --tune-sample (default all)")  # fmt: skip
    p.add_argument("--no-shuffle-join", action="store_true",
                   help="skip our shuffle bucket join (embrecall-lsh)")  # fmt: skip
    p.add_argument("--target", type=float, default=0.9, help="local recall the auto bits reach")
    p.add_argument(
        "--bucket-lengths",
        default=None,
        help=f"BRP bucket lengths (default {','.join(map(str, BUCKET_LENGTHS))})",
    )
    p.add_argument(
        "--sample", type=int, default=None, help="graded users (default 1000; quick 100)"
    )
    p.add_argument("--exact-max", type=float, default=1e11,
                   help="run exact for all users up to this items x users")  # fmt: skip
    p.add_argument("--max-pairs", type=float, default=4e8,
                   help="skip an LSH join with more bucket-join rows than this")  # fmt: skip
    p.add_argument("--driver-memory", default="4g")
    args = p.parse_args(argv)
    if (args.items is None) != (args.users is None):
        p.error("--items and --users go together")
    # the load guard: a timed run refuses a busy machine (--allow-load to force; quick only flags)
    bench = start_run("spark_recall", args, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.items is not None:
        sizes = [(args.items, args.users)]
    elif args.sizes:
        sizes = parse_sizes(args.sizes)
    else:
        sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    lengths = _floats(args.bucket_lengths, "--bucket-lengths") or BUCKET_LENGTHS
    quick_tables = (8, 16) if args.quick else None
    tables = _ints(args.tables, "--tables") or quick_tables or TABLES_GRID
    brp_tables = _ints(args.brp_tables, "--brp-tables") or quick_tables or BRP_TABLES_GRID
    out = default_out("spark", args.quick, args.out)
    df = run_sizes(
        sizes, out, bench,
        d=args.d, k=args.k, tables_grid=tables, brp_tables_grid=brp_tables,
        n_tune=args.tune_sample, n_tune_brp=args.brp_tune_sample, shuffle_join=not args.no_shuffle_join,
        n_bits=None if args.bits == "auto" else int(args.bits), target=args.target,
        bucket_lengths=lengths,
        n_sample=args.sample or (100 if args.quick else 1000), exact_max=args.exact_max,
        max_pairs=args.max_pairs, driver_memory=args.driver_memory, random_state=args.seed,
    )  # fmt: skip
    log.info("\n%s", df.drop(columns=["spark_version"]).to_string(index=False))


if __name__ == "__main__":
    main()
