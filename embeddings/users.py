"""User vectors: the (optionally rating- and recency-weighted) mean of the vectors of a user's
positive items, and the recency weights shared with the last-n item-to-item queries."""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from embeddings.datasets.tables import Interactions
from embeddings.types import Embeddings

__all__ = ["check_half_life", "recency_weights", "user_vectors"]

logger = logging.getLogger(__name__)


def check_half_life(half_life: Any) -> float:
    """``half_life`` as a float > 0 (``None`` or ``inf``: no decay, returned as ``inf``).

    ``ValueError`` naming the bad value for anything else (0, negative, NaN, bool, str)."""
    if half_life is None:
        return math.inf
    if isinstance(half_life, bool) or not isinstance(half_life, int | float | np.number):
        raise ValueError(f"half_life must be a number > 0 or inf, got {half_life!r}")
    h = float(half_life)
    if math.isnan(h) or h <= 0:
        raise ValueError(f"half_life must be a number > 0 or inf, got {half_life!r}")
    return h


def recency_weights(age: ArrayLike, half_life: float | None) -> NDArray[np.float64]:
    """Weights ``2 ** (-age / half_life)`` (float64, shape of ``age``).

    ``age``: an event's position counted back from the user's most recent event (0 = latest,
    1 = the one before, ...), ints >= 0. ``half_life`` in events (> 0); ``None`` or ``inf``:
    every weight is exactly 1.0 (no decay). ``ValueError`` for a negative age or a bad
    ``half_life``.
    """
    h = check_half_life(half_life)
    a = np.asarray(age, dtype=np.float64)
    if a.size and (not np.isfinite(a).all() or (a < 0).any()):
        raise ValueError("age must be finite and >= 0 (0 = the most recent event)")
    if math.isinf(h):
        return np.ones(a.shape, np.float64)
    return np.exp2(-a / h)


def user_vectors(
    item_embeddings: Embeddings,
    interactions: Interactions,
    min_rating: float | None = None,
    weighting: Literal["mean", "rating"] = "mean",
    random_state: Any = None,
    half_life: float | None = None,
) -> Embeddings:
    """One vector per user: the mean of the vectors of the user's positively rated items.

    Args:
        item_embeddings: item vectors (n_items, d).
        interactions: the *training* interactions (never pass held-out rows).
        min_rating: positive = rating >= this; ``None`` keeps every interaction.
        weighting: ``"mean"``: plain mean over the user's distinct positive items;
            ``"rating"``: mean weighted by the rating (ratings must then be > 0).
        random_state: accepted for the uniform API and recorded in ``meta``; the computation is
            deterministic and uses no randomness.
        half_life: recency decay in events: each item's weight is multiplied by
            ``recency_weights(age, half_life)`` = 2^(-age / half_life), ``age`` = the item's
            position counted back from the user's most recent one (0 = latest) among the
            user's distinct positive items that have a vector, ordered by their latest event
            (equal timestamps: the frame's row order, as the I2I query). ``None`` or ``inf``:
            no decay (exactly the plain mean).

    Each (user, item) pair counts once; with ``"rating"`` its latest rating (by timestamp) is
    the weight. Items without a vector are skipped; users left with no positive item that has a
    vector are dropped, counted in ``meta["users_dropped"]`` and logged.

    Returns:
        ``Embeddings`` with ids = user ids (int64, sorted) and vectors float32 (n_users_kept, d).

    Raises:
        ValueError: unknown ``weighting``, non-positive rating weights, or no user left.
    """
    if weighting not in ("mean", "rating"):
        raise ValueError(f"weighting must be 'mean' or 'rating', got {weighting!r}")
    h = check_half_life(half_life)
    if not isinstance(interactions, Interactions):
        raise ValueError(f"interactions: expected Interactions, got {type(interactions).__name__}")
    if not isinstance(item_embeddings, Embeddings):
        raise ValueError(
            f"item_embeddings: expected Embeddings, got {type(item_embeddings).__name__}"
        )
    if min_rating is not None and not np.isfinite(min_rating):
        raise ValueError(f"min_rating must be finite, got {min_rating}")
    df = interactions.frame
    all_users = np.unique(df["user_id"].to_numpy())
    if min_rating is not None:
        df = df[df["rating"] >= min_rating]
    n_events = len(df)
    has_vec = item_embeddings.has(df["item_id"].to_numpy()) if n_events else np.zeros(0, bool)
    df = df[has_vec]
    n_unknown_events = n_events - len(df)
    if not math.isinf(h):
        # each event's place in the user's time order (equal timestamps: row order)
        perm = np.lexsort((df["timestamp"].to_numpy(), df["user_id"].to_numpy()))  # stable
        when = np.empty(len(df), np.int64)
        when[perm] = np.arange(len(df))
        df = df.assign(_when=when)
    # one row per (user, item): the latest interaction
    df = df.sort_values(["user_id", "item_id", "timestamp"], kind="stable")
    df = df.drop_duplicates(["user_id", "item_id"], keep="last")
    if len(df) == 0:
        raise ValueError(
            f"no user has a positive item with a vector (min_rating={min_rating}, "
            f"{n_events} positive events, none of whose items is in the embeddings)"
        )
    if weighting == "rating":
        w = df["rating"].to_numpy(dtype=np.float64)
        if (w <= 0).any():
            raise ValueError(
                f"weighting='rating' needs ratings > 0; found {int((w <= 0).sum())} <= 0 "
                "(set min_rating, or use weighting='mean')"
            )
    else:
        w = np.ones(len(df), np.float64)
    if not math.isinf(h):
        # age 0 = the user's most recent item: rank of the latest event, counted from the end
        when = df["_when"].to_numpy()
        u = df["user_id"].to_numpy()
        ranked = np.lexsort((-when, u))  # per user, latest first
        age = np.empty(len(df), np.int64)
        starts = np.flatnonzero(np.r_[True, u[ranked][1:] != u[ranked][:-1]])
        pos = np.arange(len(df)) - np.repeat(starts, np.diff(np.r_[starts, len(df)]))
        age[ranked] = pos
        w = w * recency_weights(age, h)
    users, u_pos = np.unique(df["user_id"].to_numpy(), return_inverse=True)
    i_pos = item_embeddings.index_of(df["item_id"].to_numpy())
    mat = sp.csr_matrix((w, (u_pos, i_pos)), shape=(users.shape[0], len(item_embeddings)))
    totals = np.asarray(mat.sum(axis=1)).ravel()
    mat = sp.diags(1.0 / totals) @ mat
    vectors = np.asarray(mat @ item_embeddings.vectors.astype(np.float64), dtype=np.float32)
    dropped = int(np.setdiff1d(all_users, users).shape[0])
    if dropped:
        logger.info(
            "user_vectors: %d of %d users dropped (no positive item with a vector)",
            dropped,
            all_users.shape[0],
        )
    if n_unknown_events:
        logger.info("user_vectors: %d positive events on items without a vector", n_unknown_events)
    counts = np.diff(mat.indptr)
    meta = {
        "method": "user_mean" if weighting == "mean" else "user_rating_weighted_mean",
        "params": {
            "min_rating": min_rating,
            "weighting": weighting,
            "half_life": None if math.isinf(h) else h,
        },
        "seed": random_state if isinstance(random_state, (int, type(None))) else str(random_state),
        "item_method": item_embeddings.meta.get("method"),
        "users_in": int(all_users.shape[0]),
        "users_kept": int(users.shape[0]),
        "users_dropped": dropped,
        "events_without_vector": int(n_unknown_events),
        "mean_items_per_user": float(counts.mean()),
    }
    return Embeddings(users.astype(np.int64), vectors, meta)
