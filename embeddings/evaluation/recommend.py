"""I2I / U2I evaluation of item embeddings on held-out interactions, and the popularity baseline.

For every user of the test set, the top-K items are retrieved from the item embeddings, after
removing the items the user already has in train (and -1 padding), and compared with the user's
held-out items with :mod:`embeddings.evaluation.metrics` (HitRate, Recall, NDCG @K), each
averaged over all test users. A user who cannot be queried (no training item with a vector, no
user vector) counts as a miss (0) and is reported in ``n_no_query``: skipping them would flatter
methods that cover fewer items.

Queries: I2I ("next item") uses the user's last training item by timestamp (the latest one that
has a vector); U2I uses ``embeddings.users.user_vectors``. The search is pluggable:
``search(queries float32 (nq, d), k) -> ids int64 (nq, k)`` (-1 padded), so an index from
``recall`` can be evaluated without ``embeddings`` importing ``recall``; the default is exact
search (:func:`exact_search`, cosine by default, on :func:`embeddings.neighbours.exact_search`).
Users are queried in groups of equal ``k + (number of their training items)`` rounded up to a
power of two, so that excluding seen items never leaves fewer than K candidates while keeping k
small for light users.

Popularity is evaluated the same way: ``Popularity`` gives each item a 1-d vector holding its
count, every user the query [1.0], and the exact inner-product search ranks by count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.datasets.tables import Interactions
from embeddings.evaluation.metrics import _check_k, _check_ks, _per_user_table
from embeddings.neighbours import METRICS
from embeddings.neighbours import exact_search as _exact_search
from embeddings.types import Embeddings
from embeddings.validate import as_vectors

__all__ = [
    "SearchFn",
    "exact_search",
    "evaluate_i2i",
    "evaluate_u2i",
    "evaluate_popularity",
    "evaluate_recommenders",
]

logger = logging.getLogger(__name__)

#: ``search(queries (nq, d) float32, k) -> ids (nq, k) int64``, -1 padded, best first.
SearchFn = Callable[[NDArray[np.float32], int], NDArray[np.int64]]


def exact_search(
    embeddings: Embeddings, metric: str = "cosine", batch_size: int = 1024
) -> SearchFn:
    """Exact search over ``embeddings`` as a :data:`SearchFn` (the default of the evaluation).

    ``search = exact_search(emb, metric); ids = search(queries (nq, d) float32, k)`` -> ids
    (nq, k) int64, best first, -1 padded when k > n. ``metric``: ``cosine`` (unit-normalised
    vectors), ``ip`` (inner product) or ``l2`` (smallest Euclidean distance first). Equal scores
    come in row order (``embeddings.ids`` order), so the result is deterministic. An adapter of
    :func:`embeddings.neighbours.exact_search` (BLAS blocks of at most ``batch_size`` queries
    and a compiled top-k; memory stays one block).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if len(embeddings) == 0:
        raise ValueError("exact_search: no vectors to search")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    base, ids = embeddings.vectors, embeddings.ids

    def search(queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
        q = as_vectors(queries, "queries", dim=base.shape[1], allow_empty=True)
        k = _check_k(k)
        blk = int(batch_size)
        return _exact_search(base, q, k, metric, ids=ids, query_block=blk).ids  # type: ignore[arg-type]

    return search


def _held_out(
    train: Interactions, test: Interactions, test_min_rating: float | None
) -> tuple[NDArray[np.int64], list[NDArray[np.int64]], dict[int, NDArray[np.int64]]]:
    """Test users (sorted), their relevant items, and every user's training items."""
    if not isinstance(train, Interactions) or not isinstance(test, Interactions):
        raise ValueError(
            f"train and test must be Interactions, got {type(train).__name__} / "
            f"{type(test).__name__}"
        )
    tf = test.frame
    if test_min_rating is not None:
        tf = tf[tf["rating"] >= test_min_rating]
        if len(tf) == 0:
            raise ValueError(f"no test interaction rated >= {test_min_rating}")
    grouped = tf.groupby("user_id", sort=True)["item_id"]
    users = np.asarray(list(grouped.groups.keys()), dtype=np.int64)
    relevant = [g.to_numpy(np.int64) for _, g in grouped]
    seen = {
        int(u): g.to_numpy(np.int64)
        for u, g in train.frame.groupby("user_id", sort=False)["item_id"]
    }
    return users, relevant, seen


def _ranked_excluding(
    search: SearchFn,
    queries: NDArray[np.float32],
    exclude: list[NDArray[np.int64]],
    k: int,
    n_items: int,
) -> NDArray[np.int64]:
    """Top-k ids per query with each query's ``exclude`` ids removed; -1 padded."""
    nq = queries.shape[0]
    out = np.full((nq, k), -1, dtype=np.int64)
    if nq == 0:
        return out
    need = np.array([k + e.shape[0] for e in exclude], dtype=np.int64)
    bucket = np.minimum(2 ** np.ceil(np.log2(np.maximum(need, 1))).astype(np.int64), n_items)
    bucket = np.maximum(bucket, min(k, n_items))
    for b in np.unique(bucket):
        rows = np.flatnonzero(bucket == b)
        ids = np.asarray(search(queries[rows], int(b)))
        if ids.shape != (rows.shape[0], int(b)):
            raise ValueError(
                f"search returned shape {ids.shape}, expected {(rows.shape[0], int(b))}"
            )
        for j, r in enumerate(rows):
            row = ids[j]
            keep = (row >= 0) & ~np.isin(row, exclude[r])
            got = row[keep][:k]
            out[r, : got.shape[0]] = got
    return out


def _evaluate_queries(
    name: str,
    users: NDArray[np.int64],
    relevant: list[NDArray[np.int64]],
    queries: NDArray[np.float32],
    has_query: NDArray[np.bool_],
    seen: dict[int, NDArray[np.int64]],
    search: SearchFn,
    ks: list[int],
    n_items: int,
    exclude_seen: bool,
    per_user: bool = False,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    empty = np.empty(0, np.int64)
    rows = np.flatnonzero(has_query)
    exclude = [seen.get(int(users[r]), empty) if exclude_seen else empty for r in rows]
    rec = np.full((users.shape[0], ks[-1]), -1, dtype=np.int64)
    rec[rows] = _ranked_excluding(search, queries[rows], exclude, ks[-1], n_items)
    res: dict[str, Any] = {"mode": name}
    table = _per_user_table(rec, relevant, ks)
    for col in table.columns:
        res[col] = float(table[col].mean())
    res["n_users"] = int(users.shape[0])
    if per_user:
        table.insert(0, "user_id", users)
        res["per_user"] = table
    res["n_no_query"] = int((~has_query).sum())
    res["search_seconds"] = time.perf_counter() - t0
    if res["n_no_query"]:
        logger.info("%s: %d of %d test users have no query", name, res["n_no_query"], len(users))
    return res


def evaluate_i2i(
    item_embeddings: Embeddings,
    train: Interactions,
    test: Interactions,
    k: int | Sequence[int] = 10,
    search: SearchFn | None = None,
    metric: str = "cosine",
    exclude_seen: bool = True,
    test_min_rating: float | None = None,
    per_user: bool = False,
) -> dict[str, Any]:
    """Item-to-item "next item" quality: query = the user's last training item by timestamp.

    Among a user's training items, the latest one (ties: the later row) that has a vector is the
    query; users without one count as misses. Returns the metrics of ``recommendation_metrics``
    plus ``mode``, ``n_no_query`` and ``search_seconds``; with ``per_user`` also ``per_user``, a
    DataFrame (user_id and one column per metric, one row per test user) for paired statistics.
    """
    ks = _check_ks(k)
    users, relevant, seen = _held_out(train, test, test_min_rating)
    search = search or exact_search(item_embeddings, metric)
    df = train.frame[train.frame["user_id"].isin(users)]
    df = df[item_embeddings.has(df["item_id"].to_numpy())]
    last = df.sort_values(["user_id", "timestamp"], kind="stable").groupby("user_id").tail(1)
    last_item = dict(zip(last["user_id"].tolist(), last["item_id"].tolist(), strict=True))
    has_query = np.array([int(u) in last_item for u in users], dtype=bool)
    queries = np.zeros((users.shape[0], item_embeddings.dim), dtype=np.float32)
    if has_query.any():
        q_ids = np.array([last_item[int(u)] for u in users[has_query]], dtype=np.int64)
        queries[has_query] = item_embeddings.lookup(q_ids)
    return _evaluate_queries(
        "i2i",
        users,
        relevant,
        queries,
        has_query,
        seen,
        search,
        ks,
        len(item_embeddings),
        exclude_seen,
        per_user,
    )


def evaluate_u2i(
    item_embeddings: Embeddings,
    train: Interactions,
    test: Interactions,
    k: int | Sequence[int] = 10,
    search: SearchFn | None = None,
    metric: str = "cosine",
    user_embeddings: Embeddings | None = None,
    min_rating: float | None = None,
    weighting: str = "mean",
    exclude_seen: bool = True,
    test_min_rating: float | None = None,
    per_user: bool = False,
) -> dict[str, Any]:
    """User-to-item quality: query = the user's vector.

    User vectors come from ``user_embeddings`` if given, else from
    ``embeddings.users.user_vectors(item_embeddings, train, min_rating, weighting)``. Users
    without a vector count as misses.
    """
    ks = _check_ks(k)
    users, relevant, seen = _held_out(train, test, test_min_rating)
    if user_embeddings is None:
        from embeddings.users import user_vectors

        user_embeddings = user_vectors(
            item_embeddings, train, min_rating=min_rating, weighting=weighting
        )
    if user_embeddings.dim != item_embeddings.dim:
        raise ValueError(
            f"user vectors have dim {user_embeddings.dim}, item vectors {item_embeddings.dim}"
        )
    search = search or exact_search(item_embeddings, metric)
    has_query = user_embeddings.has(users)
    queries = np.zeros((users.shape[0], item_embeddings.dim), dtype=np.float32)
    if has_query.any():
        queries[has_query] = user_embeddings.lookup(users[has_query])
    return _evaluate_queries(
        "u2i",
        users,
        relevant,
        queries,
        has_query,
        seen,
        search,
        ks,
        len(item_embeddings),
        exclude_seen,
        per_user,
    )


def evaluate_popularity(
    train: Interactions,
    test: Interactions,
    k: int | Sequence[int] = 10,
    popularity: Embeddings | None = None,
    min_rating: float | None = None,
    exclude_seen: bool = True,
    test_min_rating: float | None = None,
    per_user: bool = False,
) -> dict[str, Any]:
    """Most-popular baseline, evaluated like the embeddings (same exclusion of seen items).

    ``popularity``: the 1-d ``Embeddings`` of ``trainers.Popularity`` (fit on ``train`` with
    ``min_rating`` if not given).
    """
    from embeddings.trainers import Popularity

    ks = _check_ks(k)
    users, relevant, seen = _held_out(train, test, test_min_rating)
    pop = popularity if popularity is not None else Popularity(min_rating).fit(train)
    if pop.dim != 1:
        raise ValueError(f"popularity embeddings must have dim 1, got {pop.dim}")
    queries = np.ones((users.shape[0], 1), dtype=np.float32)
    has_query = np.ones(users.shape[0], dtype=bool)
    return _evaluate_queries(
        "popularity",
        users,
        relevant,
        queries,
        has_query,
        seen,
        exact_search(pop, "ip"),
        ks,
        len(pop),
        exclude_seen,
        per_user,
    )


def evaluate_recommenders(
    models: Mapping[str, Embeddings],
    train: Interactions,
    test: Interactions,
    k: int | Sequence[int] = 10,
    modes: Sequence[str] = ("i2i", "u2i"),
    metric: str = "cosine",
    search_factory: Callable[[Embeddings], SearchFn] | None = None,
    min_rating: float | None = None,
    weighting: str = "mean",
    popularity: bool = True,
    test_min_rating: float | None = None,
) -> pd.DataFrame:
    """One row per (model, mode), plus a ``popularity`` row: the results table of the evaluation.

    ``search_factory(item_embeddings) -> search`` replaces the exact search (e.g. an index).
    """
    for m in modes:
        if m not in ("i2i", "u2i"):
            raise ValueError(f"unknown mode {m!r} (expected 'i2i' or 'u2i')")
    rows: list[dict[str, Any]] = []
    for name, emb in models.items():
        search = search_factory(emb) if search_factory is not None else None
        for m in modes:
            if m == "i2i":
                r = evaluate_i2i(
                    emb,
                    train,
                    test,
                    k,
                    search=search,
                    metric=metric,
                    test_min_rating=test_min_rating,
                )
            else:
                r = evaluate_u2i(
                    emb,
                    train,
                    test,
                    k,
                    search=search,
                    metric=metric,
                    min_rating=min_rating,
                    weighting=weighting,
                    test_min_rating=test_min_rating,
                )
            rows.append({"model": name, **r, "n_items_with_vector": len(emb)})
    if popularity:
        r = evaluate_popularity(
            train, test, k, min_rating=min_rating, test_min_rating=test_min_rating
        )
        rows.append({"model": "popularity", **r, "n_items_with_vector": train.n_items})
    return pd.DataFrame(rows)
