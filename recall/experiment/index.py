"""Index stage: build every ``[[indexes]]`` entry on a method's vectors and measure every search
setting against exact search (knn-recall@K, single-query and batched QPS, build time, memory)."""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings import Embeddings
from embeddings.datasets import Interactions
from recall.experiment.schema import import_object

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- indexes
def _grid(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All combinations of a ``{param: [values]}`` table (scalars count as one value)."""
    if not spec:
        return [{}]
    keys = sorted(spec)
    vals = [v if isinstance(v, list) else [v] for v in (spec[k] for k in keys)]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vals)]


def set_search_params(index: Any, params: Mapping[str, Any]) -> None:
    """Apply search-time parameters through the Index contract's ``set_search_params``."""
    if params:
        index.set_search_params(**params)


def _tuned(
    emb: Embeddings,
    k: int,
    metric: str,
    tune: dict[str, Any],
    seed: int,
    queries: NDArray[np.float32] | None = None,
) -> tuple[type, dict[str, Any]]:
    """Choose LSH parameters with ``recall.lsh.tuning.tune_lsh``.

    ``queries`` is a tuning sample disjoint from the benchmark queries (user vectors of other
    users); without one the tuner holds out its own sample of item vectors.
    """
    from recall.lsh.tuning import tune_lsh

    res = tune_lsh(emb.vectors, queries, k=k, metric=metric, random_state=seed, **tune)
    logger.info(
        "tuned %s: %s (recall %.3f, reached=%s)",
        tune.get("kind"),
        res.params,
        res.recall,
        res.reached,
    )
    return res.index_class, dict(res.params)


@dataclass
class IndexRun:
    """One built index with one search setting, measured."""

    row: dict[str, Any]
    search: Callable[[NDArray[np.float32], int], NDArray[np.int64]]


def benchmark_indexes(
    emb: Embeddings,
    queries: NDArray[np.float32],
    index_specs: list[dict[str, Any]],
    k: int,
    seed: int,
    single_query_max: int = 300,
    truth_cache: dict[str, NDArray[np.int64]] | None = None,
    on_setting: Callable[[IndexRun], None] | None = None,
    tune_queries: NDArray[np.float32] | None = None,
    on_build: Callable[[Any, dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Build every index on ``emb`` and measure every search setting against exact search.

    Rows: index, index_family, params (JSON), metric, build_s, memory_bytes, knn_recall,
    qps_single, qps_batch (median wall clock of 3 passes after a warm-up pass, with ``_min`` /
    ``_max`` / ``_cpu`` / ``_spread`` beside), load_1min, mean_candidates, plus ``speedup``
    over the exact search row of the same metric (single-query QPS ratio). ``on_setting`` is called with each measured setting
    (the runner uses it for the end-to-end evaluation through the index).
    """
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY
    from recall.exact import exact_knn, knn_recall
    from recall.measure import batch_qps, load_average, single_query_qps

    truth_cache = {} if truth_cache is None else truth_cache
    rows: list[dict[str, Any]] = []
    for spec in tqdm(index_specs, desc="indexes", disable=not progress, leave=False):
        cls = import_object(str(spec["class"]), "indexes")
        params = dict(spec.get("params", {}))
        if "random_state" in inspect.signature(cls).parameters:
            params.setdefault("random_state", seed)
        metric = params.get("metric", "cosine")
        if metric not in truth_cache:
            truth_cache[metric] = exact_knn(emb.vectors, queries, k, metric).ids
        truth_pos = truth_cache[metric]
        truth_ids = np.where(truth_pos >= 0, emb.ids[np.maximum(truth_pos, 0)], -1)
        tune = spec.get("tune")
        if tune is not None:
            cls, params = _tuned(emb, k, metric, dict(tune), seed, tune_queries)
        for build_params in _grid(spec.get("build_grid", {})):
            try:
                index = cls(**{**params, **build_params})
            except ImportError as exc:  # an optional peer that is not installed
                logger.warning("skipping index %s: %s", spec["name"], exc)
                break
            compile_s = _warm_up(cls, {**params, **build_params}, emb, queries, k)
            t0 = time.perf_counter()
            index.build(emb.vectors, emb.ids)
            build_s = time.perf_counter() - t0
            if on_build is not None:
                on_build(index, spec)
            for search_params in _grid(spec.get("search_grid", {})):
                set_search_params(index, search_params)
                res = index.search(queries, k)
                stats = index.stats()
                row = {
                    "index": spec["name"],
                    "index_family": spec.get("family", spec["name"]),
                    "params": json.dumps(
                        {**params, **build_params, **search_params}, sort_keys=True
                    ),
                    "metric": metric,
                    "k": k,
                    "n_items": len(emb),
                    "dim": emb.dim,
                    "n_queries": int(queries.shape[0]),
                    "build_s": build_s,
                    "compile_s": compile_s,
                    "memory_bytes": float(stats.get("memory_bytes", np.nan)),
                    "knn_recall": knn_recall(res.ids, truth_ids, k),
                    "mean_candidates": float(stats.get("mean_candidates", np.nan)),
                    **batch_qps(index.search, queries, k, repeat=3),
                    **single_query_qps(
                        index.search, queries, k, max_queries=single_query_max, repeat=3
                    ),
                    "load_1min": load_average()[0],
                    **{f"param_{p}": v for p, v in {**build_params, **search_params}.items()},
                }
                rows.append(row)
                logger.info(
                    "%s %s recall=%.3f qps=%.0f",
                    spec["name"],
                    row["params"],
                    row["knn_recall"],
                    row["qps_single"],
                )
                if on_setting is not None:
                    on_setting(IndexRun(row, lambda q, kk, _i=index: _i.search(q, kk).ids))
    exact_qps = {r["metric"]: r["qps_single"] for r in rows if r["index_family"] == "exact"}
    for r in rows:
        base = exact_qps.get(r["metric"])
        r["speedup"] = r["qps_single"] / base if base else np.nan
    return rows


_WARMED: set[tuple[str, str]] = set()


def _warm_up(
    cls: Any, params: Mapping[str, Any], emb: Embeddings, queries: NDArray[np.float32], k: int
) -> float:
    """Build and search a small sample once per index class and metric in this process, so that
    numba compilation is not counted as build time; returns the seconds it took (0.0 when this
    class was already warm). Reported as ``compile_s`` beside ``build_s``."""
    key = (f"{cls.__module__}.{cls.__qualname__}", str(params.get("metric", "cosine")))
    if key in _WARMED:
        return 0.0
    _WARMED.add(key)
    n = min(len(emb), 512)
    t0 = time.perf_counter()
    try:
        small = cls(**params).build(emb.vectors[:n], emb.ids[:n])
        small.search(queries[:4], min(k, n))
    except (ValueError, RuntimeError) as exc:  # e.g. more clusters than sample vectors
        logger.info("warm-up of %s skipped: %s", key[0], exc)
        return 0.0
    return time.perf_counter() - t0


def mode_queries(
    emb: Embeddings,
    train: Interactions,
    mode: str,
    min_rating: float | None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The vectors query ``mode`` searches the index with, for every user that has one.

    ``u2i`` modes: one user vector per user (``embeddings.users.user_vectors``: the mean of the
    user's positive items, ``min_rating``, recency-weighted with the mode's half-life for
    ``u2i:h=H``). ``i2i`` modes: the vectors of the user's last item (``i2i``) or last N distinct
    items (``i2i:n=N,h=H``; one query per item, the half-life only weighs their lists), chosen
    as ``embeddings.evaluation.evaluate_i2i`` does: training events whose item has a vector, in
    time order (equal timestamps: row order).

    Returns (owners, vectors): owners int64 (n_rows,), the user of each row, sorted (within a
    user, time order); vectors float32 (n_rows, d). ``ValueError`` for an unknown mode.
    """
    import math

    from embeddings.evaluation import parse_mode
    from embeddings.users import user_vectors

    m = parse_mode(mode)
    if m.kind == "u2i":
        half_life = None if math.isinf(m.half_life) else m.half_life
        users = user_vectors(emb, train, min_rating=min_rating, half_life=half_life)
        return users.ids, users.vectors
    df = train.frame
    df = df[emb.has(df["item_id"].to_numpy())]
    df = df.sort_values(["user_id", "timestamp"], kind="stable")
    if m.last_n > 1:  # each distinct item at its latest event
        df = df.drop_duplicates(["user_id", "item_id"], keep="last")
    last = df.groupby("user_id", sort=False).tail(m.last_n)  # keeps the (user, time) order
    owners = last["user_id"].to_numpy(np.int64)
    return owners, emb.lookup(last["item_id"].to_numpy(np.int64))


def user_queries(
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    n: int,
    min_rating: float | None,
    seed: int,
    mode: str = "u2i",
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Benchmark queries in query ``mode`` (the mode the end-to-end figures use): the vectors
    that mode searches with (``mode_queries``: user vectors for ``u2i`` / ``u2i:h=H``, the last
    item's vector for ``i2i``, the last N items' for ``i2i:n=N``) of up to ``n`` test users,
    sampled with ``seed``, at most ``n`` rows (a seeded subsample of rows when a mode gives a
    user several); and a tuning sample of the same mode from up to ``n`` other users (None if
    fewer than 50 rows remain), so that tuned indexes never see the queries they are measured
    on. The default ``u2i`` gives exactly the plain user vectors of earlier runs."""
    owners, vectors = mode_queries(emb, train, mode, min_rating)
    has = np.unique(owners)
    test_users = np.unique(test.frame["user_id"].to_numpy())
    test_users = test_users[np.isin(test_users, has)]
    if test_users.shape[0] == 0:
        raise ValueError(f"no test user has a query in mode {mode!r}: cannot form queries")
    rng = np.random.default_rng(seed)
    order = rng.permutation(test_users.shape[0])
    bench = np.sort(test_users[order[:n]])
    rest = np.setdiff1d(has, bench)
    if rest.shape[0] > n:
        rest = np.sort(rng.choice(rest, n, replace=False))
    bench_rows = np.flatnonzero(np.isin(owners, bench))
    tune_rows = np.flatnonzero(np.isin(owners, rest))
    if bench_rows.shape[0] > n:  # several rows per user (i2i:n=N)
        bench_rows = np.sort(rng.choice(bench_rows, n, replace=False))
    if tune_rows.shape[0] > n:
        tune_rows = np.sort(rng.choice(tune_rows, n, replace=False))
    tune = vectors[tune_rows] if tune_rows.shape[0] >= 50 else None
    return vectors[bench_rows], tune
