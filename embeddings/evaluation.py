"""Quality of embeddings: recommendation metrics on held-out interactions, node classification.

Recommendation (``evaluate_i2i``, ``evaluate_u2i``, ``evaluate_popularity``)
--------------------------------------------------------------------------
For every user of the test set, the top-K items are retrieved from the item embeddings, after
removing the items the user already has in train (and -1 padding), and compared with the user's
held-out items (the relevant set R):

- ``hit_rate@K`` = 1 if any item of R is in the top K, else 0;
- ``recall@K``   = |top K ∩ R| / |R|;
- ``ndcg@K``     = DCG / IDCG with DCG = sum over hits at rank r (1-based) of 1 / log2(r + 1) and
  IDCG the same for min(K, |R|) hits at the top;

each averaged over all test users. A user who cannot be queried (no training item with a vector,
no user vector) counts as a miss (0) and is reported in ``n_no_query``: skipping them would
flatter methods that cover fewer items.

Queries: I2I ("next item") uses the user's last training item by timestamp (the latest one that
has a vector); U2I uses ``embeddings.users.user_vectors``. The search is pluggable:
``search(queries float32 (nq, d), k) -> ids int64 (nq, k)`` (-1 padded), so an index from
``recall`` can be evaluated without ``embeddings`` importing ``recall``; the default is an exact
brute-force search (``exact_search``, cosine by default). Users are queried in groups of equal
``k + (number of their training items)`` rounded up to a power of two, so that excluding seen items
never leaves fewer than K candidates while keeping k small for light users.

Popularity is evaluated the same way: ``Popularity`` gives each item a 1-d vector holding its
count, every user the query [1.0], and the exact inner-product search ranks by count.

Node classification (``node_classification``)
---------------------------------------------
The protocol of the DeepWalk and node2vec papers: labelled nodes are split at random into a
training fraction and the rest; a one-vs-rest L2 logistic regression (scikit-learn, liblinear) is
fit on the embeddings; for each test node the k classes with the highest scores are predicted,
k being the node's true number of labels; Micro- and Macro-F1 over the test nodes; repeated with
independent seeds for each training ratio.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings._validate import (
    as_ids,
    as_vectors,
    check_random_state,
    describe_values,
    spawn_seeds,
)
from embeddings.datasets.tables import Interactions
from embeddings.types import Embeddings

__all__ = [
    "SearchFn",
    "exact_search",
    "recommendation_metrics",
    "evaluate_i2i",
    "evaluate_u2i",
    "evaluate_popularity",
    "evaluate_recommenders",
    "node_classification",
    "node_classification_holdout",
    "split_labelled_nodes",
    "recommendation_metrics_per_user",
    "summarize_node_classification",
    "side_info_classification",
    "trained_side_fields",
]

logger = logging.getLogger(__name__)

#: ``search(queries (nq, d) float32, k) -> ids (nq, k) int64``, -1 padded, best first.
SearchFn = Callable[[NDArray[np.float32], int], NDArray[np.int64]]

_METRICS = ("cosine", "ip", "l2")


# ---------------------------------------------------------------------------------- search
def exact_search(
    embeddings: Embeddings, metric: str = "cosine", batch_size: int = 1024
) -> SearchFn:
    """Exact brute-force search over ``embeddings`` (the default of the evaluation).

    ``metric``: ``cosine`` (unit-normalised vectors), ``ip`` (inner product) or ``l2`` (smallest
    Euclidean distance first). Ties are broken by row order (``embeddings.ids`` order), so the
    result is deterministic. Queries are scored in blocks of at most ``batch_size`` rows (fewer
    for large catalogues, keeping a score block near 256 MB). Returns ids (nq, k) int64, padded
    with -1 when k > n.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    if len(embeddings) == 0:
        raise ValueError("exact_search: no vectors to search")
    base = embeddings.vectors
    if metric == "cosine":
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    sq = (base * base).sum(axis=1, dtype=np.float32) if metric == "l2" else None
    base_t = np.ascontiguousarray(base.T)
    ids = embeddings.ids
    n = base.shape[0]
    # queries per block: at most batch_size, and a score block of at most ~256 MB
    rows = max(1, min(int(batch_size), (1 << 26) // n))

    def search(queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
        q = as_vectors(queries, "queries", dim=base.shape[1], allow_empty=True)
        k = _check_k(k)
        if metric == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        kk = min(k, n)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        for s in range(0, q.shape[0], rows):
            qb = q[s : s + rows]
            scores = qb @ base_t
            if sq is not None:
                scores = 2.0 * scores - sq[None, :]  # minus squared distance, up to |q|^2
            if kk < n:
                part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
                # re-rank the partition, break ties by position
                cand_scores = np.take_along_axis(scores, part, axis=1)
                order = np.lexsort((part, -cand_scores), axis=1)
                top = np.take_along_axis(part, order, axis=1)
                # a tie at the k-th place may have left out a smaller position: fix exactly
                kth = np.take_along_axis(cand_scores, order, axis=1)[:, -1]
                ties = (scores == kth[:, None]).sum(axis=1) > (cand_scores == kth[:, None]).sum(
                    axis=1
                )
                for r in np.flatnonzero(ties):
                    full = np.lexsort((np.arange(n), -scores[r]))[:kk]
                    top[r] = full
            else:
                top = np.lexsort((np.broadcast_to(np.arange(n), scores.shape), -scores), axis=1)
            out[s : s + qb.shape[0], :kk] = ids[top]
        return out

    return search


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_ks(k: int | Sequence[int]) -> list[int]:
    if isinstance(k, Sequence | np.ndarray) and not isinstance(k, str):
        ks = list(k)
    else:
        ks = [k]
    if not ks:
        raise ValueError("k: empty list of cutoffs")
    return sorted({_check_k(x) for x in ks})


# ---------------------------------------------------------------------------------- metrics
def recommendation_metrics(
    recommended: ArrayLike, relevant: Sequence[ArrayLike], k: int | Sequence[int] = 10
) -> dict[str, float]:
    """HitRate@K, Recall@K and NDCG@K of ranked recommendations.

    Args:
        recommended: ids (n_users, >= max K), best first, -1 = no recommendation.
        relevant: per user, the held-out item ids (each non-empty).
        k: one cutoff or several.

    Returns:
        ``{"hit_rate@K", "recall@K", "ndcg@K"}`` for each K (means over users) and ``n_users``.
    """
    ks = _check_ks(k)
    rec = _check_recommended(recommended, relevant, ks)
    table = _per_user_table(rec, relevant, ks)
    out: dict[str, float] = {}
    for kk in ks:
        for m in ("hit_rate", "recall", "ndcg"):
            out[f"{m}@{kk}"] = float(table[f"{m}@{kk}"].mean())
    out["n_users"] = int(rec.shape[0])
    return out


def recommendation_metrics_per_user(
    recommended: ArrayLike, relevant: Sequence[ArrayLike], k: int | Sequence[int] = 10
) -> pd.DataFrame:
    """Per-user HitRate@K, Recall@K and NDCG@K (one row per user, in input order).

    The means of its columns are ``recommendation_metrics``; the rows are what a paired
    bootstrap over users (``embeddings.stats.paired_bootstrap``) resamples.
    """
    ks = _check_ks(k)
    rec = _check_recommended(recommended, relevant, ks)
    return _per_user_table(rec, relevant, ks)


def _check_recommended(
    recommended: ArrayLike, relevant: Sequence[ArrayLike], ks: list[int]
) -> NDArray[np.int64]:
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended: expected a 2-D array (n_users, k), got shape {rec.shape}")
    rec = as_ids(rec.ravel(), name="recommended", unique=False, allow_padding=True).reshape(
        rec.shape
    )
    if rec.shape[0] != len(relevant):
        raise ValueError(
            f"recommended has {rec.shape[0]} rows but relevant has {len(relevant)} users"
        )
    if rec.shape[0] == 0:
        raise ValueError("no users to evaluate")
    if rec.shape[1] < ks[-1]:
        raise ValueError(f"recommended has {rec.shape[1]} columns, fewer than k={ks[-1]}")
    return rec


def _per_user_table(
    rec: NDArray[np.int64], relevant: Sequence[ArrayLike], ks: list[int]
) -> pd.DataFrame:
    kmax = ks[-1]
    hits = np.zeros((rec.shape[0], kmax), dtype=bool)
    n_rel = np.zeros(rec.shape[0], dtype=np.int64)
    for u, rel in enumerate(relevant):
        r = np.unique(as_ids(rel, name=f"relevant[{u}]", unique=False))
        if r.size == 0:
            raise ValueError(f"relevant[{u}]: empty set of held-out items")
        n_rel[u] = r.size
        row = rec[u, :kmax]
        hits[u] = np.isin(row, r) & (row >= 0)
        # a duplicated id in a row counts once
        if hits[u].any():
            _, first = np.unique(row, return_index=True)
            dup = np.ones(kmax, bool)
            dup[first] = False
            hits[u] &= ~dup
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    cols: dict[str, NDArray[np.float64]] = {}
    for kk in ks:
        h = hits[:, :kk]
        n_hit = h.sum(axis=1)
        dcg = (h * disc[:kk]).sum(axis=1)
        idcg = np.cumsum(disc[:kk])[np.minimum(n_rel, kk) - 1]
        cols[f"hit_rate@{kk}"] = (n_hit > 0).astype(np.float64)
        cols[f"recall@{kk}"] = n_hit / n_rel
        cols[f"ndcg@{kk}"] = dcg / idcg
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------- recommendation
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


# ---------------------------------------------------------------------------------- node classification
def _top_k_predictions(scores: NDArray[np.float64], n_labels: NDArray[np.int64]) -> Any:
    """Binary indicator (n, c): the n_labels[i] highest-scoring classes of row i."""
    from scipy import sparse

    order = np.argsort(-scores, axis=1, kind="stable")
    rows = np.repeat(np.arange(scores.shape[0]), n_labels)
    cols = np.concatenate([order[i, : n_labels[i]] for i in range(scores.shape[0])])
    data = np.ones(rows.shape[0], dtype=np.int8)
    return sparse.csr_matrix((data, (rows, cols)), shape=scores.shape)


def node_classification(
    embeddings: Embeddings,
    labels: Any,
    node_ids: ArrayLike,
    train_ratios: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    n_repeats: int = 10,
    C: float = 1.0,
    max_iter: int = 1000,
    random_state: Any = None,
    workers: int = 1,
    missing: str = "error",
    progress: bool = True,
) -> pd.DataFrame:
    """Multi-label node classification with the DeepWalk / node2vec protocol.

    Args:
        embeddings: node vectors (must cover every labelled node; ``KeyError`` names the missing).
        labels: (n_nodes, n_classes) scipy sparse (or dense 0/1) matrix, row i = ``node_ids[i]``.
        node_ids: int64 (n_nodes,), e.g. ``graph.node_ids``.
        train_ratios: fractions of the labelled nodes used for training, each in (0, 1).
        n_repeats: random splits per ratio (independent seeds from ``random_state``).
        C, max_iter: of the liblinear L2 logistic regression (one per class, one-vs-rest).
        workers: parallel jobs of the one-vs-rest fit.
        missing: labelled nodes without a vector (e.g. isolated nodes, which no walk trains):
            ``"error"`` raises ``KeyError`` naming them, ``"zero"`` gives them a zero vector
            (they stay in the evaluation; their number is in the ``n_zero_vector`` column).

    Returns:
        DataFrame with one row per (train_ratio, repeat): micro_f1, macro_f1, n_train, n_test,
        seconds. Nodes without any label are left out (as in the papers).
    """
    x, y, n_labels, n_zero = _labelled_matrix(embeddings, labels, node_ids, missing)
    ratios = [float(r) for r in train_ratios]
    if not ratios or any(not 0.0 < r < 1.0 for r in ratios):
        raise ValueError(f"train_ratios must be in (0, 1), got {list(train_ratios)}")
    if not isinstance(n_repeats, int | np.integer) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an int >= 1, got {n_repeats}")
    n = x.shape[0]
    seeds = spawn_seeds(random_state, len(ratios) * n_repeats)

    bar = None
    if progress:
        from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

        bar = tqdm(total=len(seeds), desc="node classification", unit="split")
    rows = []
    try:
        for i, ratio in enumerate(ratios):
            n_train = min(max(1, int(round(ratio * n))), n - 1)
            for rep in range(n_repeats):
                t0 = time.perf_counter()
                rng = check_random_state(seeds[i * n_repeats + rep])
                perm = rng.permutation(n)
                tr, te = perm[:n_train], perm[n_train:]
                micro, macro = _fit_predict_f1(x, y, n_labels, tr, te, C, max_iter, workers)
                rows.append(
                    {
                        "train_ratio": ratio,
                        "repeat": rep,
                        "micro_f1": micro,
                        "macro_f1": macro,
                        "n_train": int(tr.shape[0]),
                        "n_test": int(te.shape[0]),
                        "n_zero_vector": n_zero,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return pd.DataFrame(rows)


def _labelled_matrix(
    embeddings: Embeddings, labels: Any, node_ids: ArrayLike, missing: str
) -> tuple[NDArray[np.float32], Any, NDArray[np.int64], int]:
    """Vectors (n, d), binary labels (n, c) and label counts of the nodes with a label."""
    x, y, n_labels, n_zero, _ = _labelled_with_ids(embeddings, labels, node_ids, missing)
    return x, y, n_labels, n_zero


def _labelled_with_ids(
    embeddings: Embeddings | None, labels: Any, node_ids: ArrayLike, missing: str
) -> tuple[Any, Any, NDArray[np.int64], int, NDArray[np.int64]]:
    from scipy import sparse

    ids = as_ids(node_ids, name="node_ids")
    y = sparse.csr_matrix(labels)
    if y.shape[0] != ids.shape[0]:
        raise ValueError(f"labels have {y.shape[0]} rows but there are {ids.shape[0]} node ids")
    if y.shape[1] < 2:
        raise ValueError(f"labels need at least 2 classes, got {y.shape[1]}")
    y.data = (y.data != 0).astype(np.int8)
    y.eliminate_zeros()
    n_labels = np.asarray(y.sum(axis=1)).ravel().astype(np.int64)
    labelled = np.flatnonzero(n_labels > 0)
    if labelled.shape[0] < 4:
        raise ValueError(f"only {labelled.shape[0]} labelled nodes: too few to split")
    if missing not in ("error", "zero"):
        raise ValueError(f"missing must be 'error' or 'zero', got {missing!r}")
    wanted = ids[labelled]
    x = None
    n_zero = 0
    if embeddings is not None:
        if missing == "error":
            x = embeddings.lookup(wanted)  # KeyError names nodes without a vector
        else:
            have = embeddings.has(wanted)
            x = np.zeros((wanted.shape[0], embeddings.dim), dtype=np.float32)
            x[have] = embeddings.lookup(wanted[have])
            n_zero = int((~have).sum())
            if n_zero:
                logger.info("%d labelled nodes have no vector: zero vectors used", n_zero)
    return x, y[labelled], n_labels[labelled], n_zero, wanted


def _fit_predict_f1(
    x: NDArray[np.float32],
    y: Any,
    n_labels: NDArray[np.int64],
    tr: NDArray[np.int64],
    te: NDArray[np.int64],
    C: float,
    max_iter: int,
    workers: int,
) -> tuple[float, float]:
    """(Micro-F1, Macro-F1) of one-vs-rest logistic regression fit on rows tr, scored on te."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(
        LogisticRegression(C=C, solver="liblinear", max_iter=max_iter), n_jobs=workers
    )
    with warnings.catch_warnings():
        # a class without positives in the training part gets a constant predictor
        warnings.filterwarnings("ignore", message=".*not present in all training.*")
        warnings.filterwarnings("ignore", message="Label .* is present in all")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        clf.fit(x[tr], y[tr])
        scores = clf.decision_function(x[te])
    scores = np.asarray(scores, dtype=np.float64).reshape(te.shape[0], -1)
    pred = _top_k_predictions(scores, n_labels[te])
    truth = y[te]
    return (
        float(f1_score(truth, pred, average="micro", zero_division=0)),
        float(f1_score(truth, pred, average="macro", zero_division=0)),
    )


def split_labelled_nodes(
    labels: Any,
    node_ids: ArrayLike,
    test_fraction: float = 0.5,
    valid_fraction: float = 0.2,
    random_state: Any = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Split the labelled nodes into (fit, valid, test) node ids (int64 arrays, disjoint).

    ``test_fraction`` of the labelled nodes are the test set, read once at the end;
    ``valid_fraction`` of the remaining training nodes form the validation fold on which every
    choice is made (the classifier is fit on the rest of the training nodes). The final
    figure fits on ``fit + valid`` and scores ``test``. Seeded: same seed, same split.
    """
    for name, f in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0.0 < float(f) < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {f}")
    _, _, _, _, wanted = _labelled_with_ids(None, labels, node_ids, "zero")
    n = wanted.shape[0]
    perm = check_random_state(random_state).permutation(n)
    n_test = min(max(1, int(round(test_fraction * n))), n - 2)
    n_valid = min(max(1, int(round(valid_fraction * (n - n_test)))), n - n_test - 1)
    test = np.sort(wanted[perm[:n_test]])
    valid = np.sort(wanted[perm[n_test : n_test + n_valid]])
    fit = np.sort(wanted[perm[n_test + n_valid :]])
    return fit, valid, test


def node_classification_holdout(
    embeddings: Embeddings,
    labels: Any,
    node_ids: ArrayLike,
    train_nodes: ArrayLike,
    eval_nodes: ArrayLike,
    C: float = 1.0,
    max_iter: int = 1000,
    workers: int = 1,
    missing: str = "zero",
) -> dict[str, float]:
    """Micro/Macro-F1 of a classifier fit on ``train_nodes`` and scored on ``eval_nodes``.

    The node sets come from ``split_labelled_nodes``: (fit, valid) while tuning, (fit + valid,
    test) for the final figure. Same classifier and top-k rule as ``node_classification``.
    """
    x, y, n_labels, n_zero, wanted = _labelled_with_ids(embeddings, labels, node_ids, missing)
    pos = {int(v): i for i, v in enumerate(wanted.tolist())}

    def rows(nodes: ArrayLike, name: str) -> NDArray[np.int64]:
        ids = as_ids(nodes, name=name)
        bad = [int(v) for v in ids.tolist() if int(v) not in pos]
        if bad:
            raise ValueError(f"{name}: nodes without a label or unknown {describe_values(bad)}")
        return np.array([pos[int(v)] for v in ids.tolist()], dtype=np.int64)

    tr, te = rows(train_nodes, "train_nodes"), rows(eval_nodes, "eval_nodes")
    if np.intersect1d(tr, te).size:
        raise ValueError("train_nodes and eval_nodes overlap: the evaluation would leak")
    micro, macro = _fit_predict_f1(x, y, n_labels, tr, te, C, max_iter, workers)
    return {
        "micro_f1": micro,
        "macro_f1": macro,
        "n_train": int(tr.shape[0]),
        "n_eval": int(te.shape[0]),
        "n_zero_vector": n_zero,
    }


def trained_side_fields(embeddings: Embeddings) -> list[str]:
    """Item side-information fields an embedding was trained with (``meta["fields"]``; GES /
    EGES record them, methods without side information have none)."""
    fields = embeddings.meta.get("fields") if isinstance(embeddings.meta, Mapping) else None
    return [str(f) for f in fields] if fields else []


def side_info_classification(
    embeddings: Embeddings,
    side_info: Any,
    field: str = "genres",
    train_ratio: float = 0.5,
    n_repeats: int = 3,
    random_state: Any = 0,
    min_items: int = 20,
) -> dict[str, Any] | None:
    """Node-classification protocol on item vectors with one side-information field as labels.

    Returns micro/macro-F1 (mean over ``n_repeats`` splits) and ``leaks``: True when the
    embedding was trained with ``field`` itself (GES / EGES given genres and asked to predict
    genres score 0.85-1.0 by reading their input back: such a row measures no learning and must
    be marked, or the field replaced by one the method was not given). None when fewer than
    ``min_items`` items have both a vector and a value.
    """
    from scipy import sparse

    if field not in side_info.fields:
        raise ValueError(f"side info has no field {field!r} (fields {side_info.fields})")
    ids = side_info.item_ids()
    ids = ids[embeddings.has(ids)]
    if ids.shape[0] < min_items:
        return None
    indptr, indices, vocab = side_info.encode(field, ids)
    labels = sparse.csr_matrix(
        (np.ones(indices.shape[0], dtype=bool), indices, indptr), shape=(ids.shape[0], len(vocab))
    )
    res = node_classification(
        embeddings,
        labels,
        ids,
        train_ratios=(train_ratio,),
        n_repeats=n_repeats,
        random_state=random_state,
        progress=False,
    )
    leaks = field in trained_side_fields(embeddings)
    return {
        "mode": f"{field}-classification",
        "label_field": field,
        "micro_f1": float(res["micro_f1"].mean()),
        "macro_f1": float(res["macro_f1"].mean()),
        "leaks": leaks,
        "note": f"trained with {field!r}: leaks the label" if leaks else "",
    }


def summarize_node_classification(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of Micro/Macro-F1 per training ratio."""
    g = results.groupby("train_ratio")[["micro_f1", "macro_f1"]]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=0).add_suffix("_std"))
    out["repeats"] = results.groupby("train_ratio").size()
    return out.reset_index()
