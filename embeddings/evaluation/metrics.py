"""Recommendation metrics of ranked lists against held-out items: HitRate@K, Recall@K, NDCG@K.

For each user, with ``R`` the relevant (held-out) items and the top-K recommended ids:

- ``hit_rate@K`` = 1 if any item of R is in the top K, else 0;
- ``recall@K``   = |top K ∩ R| / |R|;
- ``ndcg@K``     = DCG / IDCG with DCG = sum over hits at rank r (1-based) of 1 / log2(r + 1) and
  IDCG the same for min(K, |R|) hits at the top;

-1 padding never hits and a duplicated recommended id counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids

__all__ = ["recommendation_metrics", "recommendation_metrics_per_user"]


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
