"""User vectors: the (optionally rating-weighted) mean of the vectors of a user's positive items."""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from embeddings.datasets.tables import Interactions
from embeddings.types import Embeddings

__all__ = ["user_vectors"]

logger = logging.getLogger(__name__)


def user_vectors(
    item_embeddings: Embeddings,
    interactions: Interactions,
    min_rating: float | None = None,
    weighting: Literal["mean", "rating"] = "mean",
    random_state: Any = None,
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
        "params": {"min_rating": min_rating, "weighting": weighting},
        "seed": random_state if isinstance(random_state, (int, type(None))) else str(random_state),
        "item_method": item_embeddings.meta.get("method"),
        "users_in": int(all_users.shape[0]),
        "users_kept": int(users.shape[0]),
        "users_dropped": dropped,
        "events_without_vector": int(n_unknown_events),
        "mean_items_per_user": float(counts.mean()),
    }
    return Embeddings(users.astype(np.int64), vectors, meta)
