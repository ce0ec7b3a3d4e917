"""The tuning of the Spark batch-recall bench (:mod:`recall.bench.spark_recall`): the same
effort for our SimHash index and for Spark's ``BucketedRandomProjectionLSH``, each keeping the
setting with the fewest candidates per user among those reaching the target recall on a
separate tuning sample of users. Every name is also importable from ``spark_recall``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from recall.exact import exact_knn
from recall.exact import knn_recall as local_knn_recall
from recall.lsh import SimHashIndex

__all__ = ["pick_bits", "tune_brp", "tune_simhash"]

log = logging.getLogger(__name__)


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
