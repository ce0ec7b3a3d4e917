"""I2I / U2I evaluation of item embeddings on held-out interactions, and the popularity baseline.

For every user of the test set, the top-K items are retrieved from the item embeddings, after
removing the items the user already has in train (and -1 padding), and compared with the user's
held-out items with :mod:`embeddings.evaluation.metrics` (HitRate, Recall, NDCG @K), each
averaged over all test users. A user who cannot be queried (no training item with a vector, no
user vector) counts as a miss (0) and is reported in ``n_no_query``: skipping them would flatter
methods that cover fewer items.

Queries: I2I ("next item") uses the user's last training item by timestamp (the latest one that
has a vector); U2I uses ``embeddings.users.user_vectors``. Query modes (``QueryMode``, written
``"i2i"``, ``"i2i:n=5,h=2"``, ``"u2i"``, ``"u2i:h=5"``; ``evaluate_mode`` runs any of them) add
recency: ``u2i:h=H`` weights each positive item by 2^(-age/H) (age 0 = the latest), and
``i2i:n=N,h=H`` scores each candidate by the sum, over the user's last N items, of its
similarity to that item (when it is among that item's top ``I2I_NEIGHBOURS`` unseen neighbours)
times the item's recency weight (session-kNN style). ``i2i`` (n = 1) and ``u2i`` (h = inf) are
exactly the plain queries above. ``RECENCY_MODES`` is the grid a validation chooses from.

The search is pluggable:
``search(queries float32 (nq, d), k) -> ids int64 (nq, k)`` (-1 padded), so an index from
``recall`` can be evaluated without ``embeddings`` importing ``recall``; the default is exact
search (:func:`exact_search`, cosine by default, on :func:`embeddings.neighbours.exact_search`).
Users are queried in groups of equal ``k + (number of their training items)`` rounded up to a
power of two, so that excluding seen items never leaves fewer than K candidates while keeping k
small for light users. The last-n I2I with exact search (no ``search`` given) selects each
item's neighbours in one BLAS pass with a compiled selection instead.

Its parts: :mod:`~embeddings.evaluation.modes` (``QueryMode`` and the mode grids),
:mod:`~embeddings.evaluation.search` (``SearchFn``, ``exact_search``, the top-k without seen
items), :mod:`~embeddings.evaluation.last_n` (the last-n I2I scoring); every name stays
importable from here.

Popularity is evaluated the same way: ``Popularity`` gives each item a 1-d vector holding its
count, every user the query [1.0], and the exact inner-product search ranks by count.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.datasets.tables import Interactions
from embeddings.evaluation.last_n import I2I_NEIGHBOURS, rank_last_n
from embeddings.evaluation.metrics import _check_ks, _per_user_table
from embeddings.evaluation.modes import (
    LEGACY_MODES,
    RECENCY_MODES,
    QueryMode,
    parse_mode,
    query_modes,
)
from embeddings.evaluation.search import SearchFn, exact_search, ranked_excluding
from embeddings.neighbours import METRICS
from embeddings.types import Embeddings
from embeddings.users import recency_weights

__all__ = [
    "I2I_NEIGHBOURS",
    "LEGACY_MODES",
    "QueryMode",
    "RECENCY_MODES",
    "SearchFn",
    "evaluate_mode",
    "parse_mode",
    "query_modes",
    "exact_search",
    "evaluate_i2i",
    "evaluate_u2i",
    "evaluate_popularity",
    "evaluate_recommenders",
]

logger = logging.getLogger(__name__)


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
    rec[rows] = ranked_excluding(search, queries[rows], exclude, ks[-1], n_items)
    return _score_ranked(name, users, relevant, rec, has_query, ks, per_user, t0)


def _score_ranked(
    name: str,
    users: NDArray[np.int64],
    relevant: list[NDArray[np.int64]],
    rec: NDArray[np.int64],
    has_query: NDArray[np.bool_],
    ks: list[int],
    per_user: bool,
    t0: float,
) -> dict[str, Any]:
    """The metrics of ranked lists ``rec`` (n_users, max K) int64 against ``relevant``."""
    res: dict[str, Any] = {"mode": name}
    table = _per_user_table(rec, relevant, ks)
    for col in table.columns:
        res[col] = float(table[col].mean())
    res["n_users"] = int(users.shape[0])
    if per_user:
        table.insert(0, "user_id", users)
        res["per_user"] = table
        res["recommended"] = rec
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
    last_n: int = 1,
    half_life: float | None = None,
) -> dict[str, Any]:
    """Item-to-item "next item" quality: query = the user's last training item by timestamp.

    Among a user's training items, the latest one (ties: the later row) that has a vector is the
    query; users without one count as misses. Returns the metrics of ``recommendation_metrics``
    plus ``mode``, ``n_no_query`` and ``search_seconds``; with ``per_user`` also ``per_user``, a
    DataFrame (user_id and one column per metric, one row per test user) for paired statistics,
    and ``recommended``, the ranked ids (n_users, max K) int64 in the same row order (-1 padded).

    ``last_n`` > 1 (mode ``i2i:n=N,h=H``): the user's last N distinct items with a vector are
    queried (each item at its latest event; age 0 = the latest), each gives its top
    ``I2I_NEIGHBOURS`` unseen neighbours through ``search``, and a candidate scores
    sum(2^(-age/``half_life``) x similarity) over the items whose list holds it, the similarity
    recomputed exactly by ``metric``. ``last_n=1`` is the plain I2I above (``half_life`` must
    then be None / inf).
    """
    mode = QueryMode("i2i", last_n, math.inf if half_life is None else half_life)
    ks = _check_ks(k)
    users, relevant, seen = _held_out(train, test, test_min_rating)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    given_search = search
    search = search or exact_search(item_embeddings, metric)
    df = train.frame[train.frame["user_id"].isin(users)]
    df = df[item_embeddings.has(df["item_id"].to_numpy())]
    df = df.sort_values(["user_id", "timestamp"], kind="stable")
    if mode.last_n == 1:
        last = df.groupby("user_id").tail(1)
        last_item = dict(zip(last["user_id"].tolist(), last["item_id"].tolist(), strict=True))
        has_query = np.array([int(u) in last_item for u in users], dtype=bool)
        queries = np.zeros((users.shape[0], item_embeddings.dim), dtype=np.float32)
        if has_query.any():
            q_ids = np.array([last_item[int(u)] for u in users[has_query]], dtype=np.int64)
            queries[has_query] = item_embeddings.lookup(q_ids)
        return _evaluate_queries(
            str(mode),
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
    t0 = time.perf_counter()
    # each distinct item at its latest event, then the user's last N of them (time order)
    df = df.drop_duplicates(["user_id", "item_id"], keep="last")
    last = df.groupby("user_id", sort=False).tail(mode.last_n)
    by_user = {
        int(u): g.to_numpy(np.int64)[::-1]
        for u, g in last.groupby("user_id", sort=False)["item_id"]
    }
    has_query = np.array([int(u) in by_user for u in users], dtype=bool)
    empty = np.empty(0, np.int64)
    q_items = [by_user[int(u)] for u in users[has_query]]
    weights = [recency_weights(np.arange(q.shape[0]), mode.half_life) for q in q_items]
    exclude = [seen.get(int(u), empty) if exclude_seen else empty for u in users[has_query]]
    rec = np.full((users.shape[0], ks[-1]), -1, dtype=np.int64)
    rec[has_query] = rank_last_n(
        item_embeddings, given_search, metric, q_items, weights, exclude, ks[-1]
    )
    return _score_ranked(str(mode), users, relevant, rec, has_query, ks, per_user, t0)


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
    half_life: float | None = None,
) -> dict[str, Any]:
    """User-to-item quality: query = the user's vector.

    User vectors come from ``user_embeddings`` if given, else from
    ``embeddings.users.user_vectors(item_embeddings, train, min_rating, weighting,
    half_life=half_life)`` (``half_life``: recency decay in events, mode ``u2i:h=H``; None =
    the plain mean). Users without a vector count as misses.
    """
    mode = QueryMode("u2i", 1, math.inf if half_life is None else half_life)
    ks = _check_ks(k)
    users, relevant, seen = _held_out(train, test, test_min_rating)
    if user_embeddings is not None and not math.isinf(mode.half_life):
        raise ValueError(
            f"half_life={half_life!r} needs user vectors computed here: user_embeddings "
            "(e.g. a factor model's users) have no recency to weight"
        )
    if user_embeddings is None:
        from embeddings.users import user_vectors

        user_embeddings = user_vectors(
            item_embeddings, train, min_rating=min_rating, weighting=weighting, half_life=half_life
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
        str(mode),
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


def evaluate_mode(
    item_embeddings: Embeddings,
    train: Interactions,
    test: Interactions,
    mode: str | QueryMode,
    k: int | Sequence[int] = 10,
    search: SearchFn | None = None,
    metric: str = "cosine",
    min_rating: float | None = None,
    user_embeddings: Embeddings | None = None,
    exclude_seen: bool = True,
    test_min_rating: float | None = None,
    per_user: bool = False,
    weighting: str = "mean",
) -> dict[str, Any]:
    """Quality of one query ``mode`` (``QueryMode`` or its name, see ``parse_mode``): the one
    entry point that every method (embeddings, item-kNN) goes through for any mode.

    i2i modes: ``evaluate_i2i(last_n, half_life)``; u2i modes: ``evaluate_u2i(half_life,
    min_rating, user_embeddings, weighting)``. ``metric`` is the search metric of that mode. Returns
    the evaluation's dict, ``mode`` the canonical name.
    """
    m = parse_mode(mode)
    if m.kind == "i2i":
        return evaluate_i2i(
            item_embeddings,
            train,
            test,
            k,
            search=search,
            metric=metric,
            exclude_seen=exclude_seen,
            test_min_rating=test_min_rating,
            per_user=per_user,
            last_n=m.last_n,
            half_life=m.half_life,
        )
    return evaluate_u2i(
        item_embeddings,
        train,
        test,
        k,
        search=search,
        metric=metric,
        user_embeddings=user_embeddings,
        min_rating=min_rating,
        exclude_seen=exclude_seen,
        test_min_rating=test_min_rating,
        per_user=per_user,
        half_life=None if math.isinf(m.half_life) else m.half_life,
        weighting=weighting,
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
    ``modes``: query modes (names such as ``"u2i:h=5"``, see ``query_modes``); ``weighting``
    (``"mean"`` / ``"rating"``) applies to the u2i modes.
    """
    names = query_modes(modes)
    rows: list[dict[str, Any]] = []
    for name, emb in models.items():
        search = search_factory(emb) if search_factory is not None else None
        for m in names:
            r = evaluate_mode(
                emb,
                train,
                test,
                m,
                k,
                search=search,
                metric=metric,
                min_rating=min_rating,
                test_min_rating=test_min_rating,
                weighting=weighting,
            )
            rows.append({"model": name, **r, "n_items_with_vector": len(emb)})
    if popularity:
        r = evaluate_popularity(
            train, test, k, min_rating=min_rating, test_min_rating=test_min_rating
        )
        rows.append({"model": "popularity", **r, "n_items_with_vector": train.n_items})
    return pd.DataFrame(rows)
