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

Popularity is evaluated the same way: ``Popularity`` gives each item a 1-d vector holding its
count, every user the query [1.0], and the exact inner-product search ranks by count.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.datasets.tables import Interactions
from embeddings.evaluation.metrics import _check_k, _check_ks, _per_user_table
from embeddings.neighbours import METRICS, heap_push, heap_sort, normalize_rows
from embeddings.neighbours import exact_search as _exact_search
from embeddings.types import Embeddings
from embeddings.users import check_half_life, recency_weights
from embeddings.validate import as_vectors

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

#: ``search(queries (nq, d) float32, k) -> ids (nq, k) int64``, -1 padded, best first.
SearchFn = Callable[[NDArray[np.float32], int], NDArray[np.int64]]

#: neighbours kept per query item in ``i2i:n=N`` (N > 1) scoring, after the user's seen items
I2I_NEIGHBOURS = 100


@dataclass(frozen=True)
class QueryMode:
    """How a user is turned into a ranked list: ``kind`` ``"i2i"`` or ``"u2i"``.

    ``last_n`` (i2i): the user's last N items are queried (1 = the plain I2I); ``half_life``
    (both kinds): recency decay in events, weight 2^(-age / half_life) with age 0 = the user's
    latest item (``inf`` = no decay). ``str(mode)`` is the canonical name (``"i2i"``,
    ``"i2i:n=5"``, ``"i2i:n=5,h=2"``, ``"u2i"``, ``"u2i:h=5"``), ``parse_mode`` the inverse.
    """

    kind: str
    last_n: int = 1
    half_life: float = math.inf

    def __post_init__(self) -> None:
        if self.kind not in ("i2i", "u2i"):
            raise ValueError(f"query mode kind must be 'i2i' or 'u2i', got {self.kind!r}")
        n = self.last_n
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(
                f"query mode {self.kind}: n (last items) must be an int >= 1, got {n!r}"
            )
        if self.kind == "u2i" and n != 1:
            raise ValueError(f"query mode u2i takes no n (it averages every item), got n={n}")
        object.__setattr__(self, "last_n", int(n))
        object.__setattr__(self, "half_life", check_half_life(self.half_life))
        if self.kind == "i2i" and self.last_n == 1 and not math.isinf(self.half_life):
            raise ValueError(
                f"query mode i2i: h={self.half_life:g} does nothing with n=1 (one item, weight 1)"
            )

    def __str__(self) -> str:
        parts = []
        if self.last_n != 1:
            parts.append(f"n={self.last_n}")
        if not math.isinf(self.half_life):
            parts.append(f"h={self.half_life:g}")
        return self.kind + (":" + ",".join(parts) if parts else "")


def parse_mode(mode: str | QueryMode) -> QueryMode:
    """``"i2i"``, ``"u2i"``, ``"i2i:n=5"``, ``"i2i:n=5,h=2"``, ``"u2i:h=5"`` (h may be ``inf``)
    as a ``QueryMode``; ``ValueError`` naming the bad part (unknown kind or key, n not an int >=
    1, h not > 0, n given to u2i)."""
    if isinstance(mode, QueryMode):
        return mode
    if not isinstance(mode, str):
        raise ValueError(f"query mode must be a string such as 'u2i:h=5', got {mode!r}")
    kind, _, rest = mode.strip().partition(":")
    if kind not in ("i2i", "u2i"):
        raise ValueError(f"query mode {mode!r}: unknown mode kind {kind!r} (i2i or u2i)")
    kw: dict[str, Any] = {}
    for part in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not eq or key not in ("n", "h"):
            raise ValueError(f"query mode {mode!r}: unknown parameter {part!r} (n=... or h=...)")
        if key in kw:
            raise ValueError(f"query mode {mode!r}: {key} given twice")
        if key == "n":
            try:
                kw[key] = int(val)
            except ValueError:
                raise ValueError(
                    f"query mode {mode!r}: n must be an int >= 1, got {val!r}"
                ) from None
        else:
            try:
                kw[key] = float(val)
            except ValueError:
                raise ValueError(
                    f"query mode {mode!r}: h must be a number > 0 or inf, got {val!r}"
                ) from None
    try:
        return QueryMode(kind, kw.get("n", 1), kw.get("h", math.inf))
    except ValueError as exc:
        raise ValueError(f"query mode {mode!r}: {exc}") from None


#: the two plain modes (what the evaluation always used)
LEGACY_MODES: tuple[str, ...] = ("i2i", "u2i")
#: the recency grid: u2i with half-lives 1, 2, 5, 10, 25 events and inf (the plain mean); i2i
#: over the last 1 (the plain I2I), 3, 5, 10 items, each with half-life 1, 5 or inf. The plain
#: modes come first, so a tie on validation keeps the simpler one.
RECENCY_MODES: tuple[str, ...] = (
    "i2i",
    "u2i",
    *(f"u2i:h={h}" for h in (1, 2, 5, 10, 25)),
    *(f"i2i:n={n}{hh}" for n in (3, 5, 10) for hh in (",h=1", ",h=5", "")),
)


def query_modes(modes: str | Iterable[str | QueryMode] | None) -> tuple[str, ...]:
    """Canonical mode names of ``modes``: a list of modes, ``"recency"`` (``RECENCY_MODES``),
    ``"plain"`` or ``None`` (``LEGACY_MODES``). ``ValueError`` for an empty list, a bad mode
    or a mode given twice."""
    if modes is None or modes == "plain":
        return LEGACY_MODES
    if modes == "recency":
        return RECENCY_MODES
    if isinstance(modes, str | QueryMode):
        modes = [modes]
    out = [str(parse_mode(m)) for m in modes]
    if not out:
        raise ValueError("query modes: empty list")
    dup = sorted({m for m in out if out.count(m) > 1})
    if dup:
        raise ValueError(f"query modes given twice: {dup}")
    return tuple(out)


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


def _pair_scores(
    emb: Embeddings,
    q_rows: NDArray[np.int64],
    c_ids: NDArray[np.int64],
    metric: str,
    block_floats: int = 1 << 22,
) -> NDArray[np.float32]:
    """Similarity (higher is better) of item row ``q_rows[r]`` with each id of ``c_ids[r]``.

    ``q_rows`` (R,) row positions, ``c_ids`` (R, L) item ids (-1 = none: score 0). cosine,
    inner product or minus squared L2, computed exactly from the vectors (whatever index
    produced the candidates), in blocks of at most ``block_floats`` gathered floats.
    """
    vec = emb.vectors
    if metric == "cosine":
        norms = np.linalg.norm(vec, axis=1)
        vec = vec / np.maximum(norms, 1e-12)[:, None].astype(np.float32)
    r_all, width = c_ids.shape
    out = np.zeros((r_all, width), np.float32)
    valid = c_ids >= 0
    c_rows = np.zeros(c_ids.shape, np.int64)
    c_rows[valid] = emb.index_of(c_ids[valid])
    step = max(1, block_floats // max(1, width * vec.shape[1]))
    for a in range(0, r_all, step):
        b = min(a + step, r_all)
        q = vec[q_rows[a:b]]  # (B, d)
        c = vec[c_rows[a:b]]  # (B, L, d)
        if metric == "l2":
            out[a:b] = -np.square(c - q[:, None, :]).sum(axis=2)
        else:
            out[a:b] = np.einsum("bd,bld->bl", q, c)
    out[~valid] = 0.0
    return out


@nb.njit(nogil=True, cache=True)
def _select_unseen(sim, owner, ex_ptr, ex_rows, top_v, top_r):  # pragma: no cover - numba
    """Per row j of ``sim`` (B, n): the best ``top_v.shape[1]`` columns not among the excluded
    rows of its user ``owner[j]`` (``ex_rows[ex_ptr[u]:ex_ptr[u + 1]]``), merged into the
    pre-filled (-inf, -1) heaps ``top_v`` / ``top_r`` (the shared ``heap_push``) and sorted."""
    b, n = sim.shape
    width = top_v.shape[1]
    mark = np.zeros(n, np.bool_)
    for j in range(b):
        u = owner[j]
        for e in range(ex_ptr[u], ex_ptr[u + 1]):
            mark[ex_rows[e]] = True
        vals = top_v[j]
        rows = top_r[j]
        thr = vals[0]
        srow = sim[j]
        for c in range(n):  # columns in increasing order: an equal score never displaces
            if srow[c] > thr and not mark[c]:
                heap_push(vals, rows, width, width, srow[c], c)
                thr = vals[0]
        heap_sort(vals, rows, width)
        for e in range(ex_ptr[u], ex_ptr[u + 1]):
            mark[ex_rows[e]] = False


def _exact_neighbours(
    emb: Embeddings,
    q_rows: NDArray[np.int64],
    owner: NDArray[np.int64],
    exclude: list[NDArray[np.int64]],
    width: int,
    metric: str,
    block: int = 256,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact top-``width`` neighbours (ids, scores), each (R, width), of item rows ``q_rows``,
    the ids ``exclude[owner[r]]`` removed: one BLAS product per block of queries and a compiled
    selection (no top-k of ``width + |exclude|``). Best first; equal scores in row order; -1 / 0
    padded when fewer than ``width`` items are left."""
    vec = emb.vectors
    if metric == "cosine":
        vec = normalize_rows(vec)
    sq = np.square(vec).sum(axis=1) if metric == "l2" else None
    r_all, n = q_rows.shape[0], vec.shape[0]
    width = min(width, n)
    ex = [emb.index_of(e[emb.has(e)]) for e in exclude]
    ex_ptr = np.r_[0, np.cumsum([e.shape[0] for e in ex])].astype(np.int64)
    ex_rows = np.concatenate([np.empty(0, np.int64), *ex]).astype(np.int64)
    top_v = np.full((r_all, width), -np.inf, np.float32)
    top_r = np.full((r_all, width), -1, np.int64)
    for a in range(0, r_all, block):
        b = min(a + block, r_all)
        sim = vec[q_rows[a:b]] @ vec.T  # (B, n) float32
        if sq is not None:
            sim = 2.0 * sim - sq[None, :] - sq[q_rows[a:b]][:, None]
        _select_unseen(
            np.ascontiguousarray(sim, dtype=np.float32),
            owner[a:b],
            ex_ptr,
            ex_rows,
            top_v[a:b],
            top_r[a:b],
        )
    ok = top_r >= 0
    ids = np.where(ok, emb.ids[np.maximum(top_r, 0)], -1)
    return ids, np.where(ok, top_v, 0.0).astype(np.float32)


def _rank_last_n(
    emb: Embeddings,
    search: SearchFn | None,
    metric: str,
    q_items: list[NDArray[np.int64]],
    weights: list[NDArray[np.float64]],
    exclude: list[NDArray[np.int64]],
    k: int,
) -> NDArray[np.int64]:
    """Top-k ids (n_users, k) int64 of the last-n item scoring, -1 padded.

    User u queries each item of ``q_items[u]`` (latest first): its top ``I2I_NEIGHBOURS``
    neighbours (at least k) after removing ``exclude[u]``; a candidate's score is the sum over
    those items of weight x similarity (by ``metric``). With ``search`` (e.g. an index) the
    neighbours come from it and their similarities are recomputed exactly from the vectors;
    ``search=None`` is exact search done here in one pass (the same neighbours up to ties).
    Equal totals keep the order of first appearance (the latest item's list first, best first).
    """
    n_users = len(q_items)
    out = np.full((n_users, k), -1, dtype=np.int64)
    if n_users == 0:
        return out
    lens = np.array([q.shape[0] for q in q_items], dtype=np.int64)
    flat = np.concatenate(q_items)
    owner = np.repeat(np.arange(n_users), lens)
    width = min(max(k, I2I_NEIGHBOURS), len(emb))
    q_rows = emb.index_of(flat)
    if search is None:
        neigh, sims = _exact_neighbours(emb, q_rows, owner, exclude, width, metric)
    else:
        flat_exclude = [exclude[o] for o in owner]
        neigh = _ranked_excluding(search, emb.vectors[q_rows], flat_exclude, width, len(emb))
        sims = _pair_scores(emb, q_rows, neigh, metric)
    w_flat = np.concatenate(weights).astype(np.float64)
    starts = np.r_[0, np.cumsum(lens)]
    for u in range(n_users):
        a, b = starts[u], starts[u + 1]
        ids = neigh[a:b].ravel()
        sc = (w_flat[a:b, None] * sims[a:b].astype(np.float64)).ravel()
        keep = ids >= 0
        ids, sc = ids[keep], sc[keep]
        if ids.shape[0] == 0:
            continue
        uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        total = np.bincount(inv, weights=sc, minlength=uniq.shape[0])
        order = np.lexsort((first, -total))[:k]
        out[u, : order.shape[0]] = uniq[order]
    return out


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
    rec[has_query] = _rank_last_n(
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
