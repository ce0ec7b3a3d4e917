"""Validation scores of one trained model: a single held-out event per user (``Interactions``)
or several (``sessions.ValidationEvents``, each event predicted from the events before it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embeddings.datasets.tables import Interactions
from embeddings.sessions import ValidationEvents
from embeddings.types import Embeddings

MODES = ("i2i", "u2i")


def _one(
    emb: Embeddings,
    history: Interactions,
    targets: Interactions,
    k: int,
    mode: str,
    i2i_metric: str,
    u2i_metric: str,
    min_rating: float | None,
    user_embeddings: Embeddings | None,
    per_user: bool,
) -> dict[str, Any]:
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    if mode == "i2i":
        return evaluate_i2i(emb, history, targets, k, metric=i2i_metric, per_user=per_user)
    return evaluate_u2i(
        emb,
        history,
        targets,
        k,
        metric=u2i_metric,
        min_rating=min_rating,
        user_embeddings=user_embeddings,
        per_user=per_user,
    )


def validation_scores(
    emb: Embeddings,
    train: Interactions,
    valid: Interactions | ValidationEvents,
    metric: str = "hit_rate@10",
    modes: Sequence[str] = MODES,
    min_rating: float | None = None,
    i2i_metric: str = "cosine",
    u2i_metric: str = "cosine",
    user_embeddings: Embeddings | None = None,
) -> dict[str, float]:
    """``metric`` (``hit_rate@K``, ``recall@K`` or ``ndcg@K``) of each query mode on validation.

    ``valid`` an ``Interactions``: the usual leave-last-out evaluation of (train, valid): I2I
    queries with the user's last training item, U2I with the mean of the user's training
    items (rated >= ``min_rating``). ``valid`` a ``ValidationEvents`` (``validation_split``):
    every target is predicted from the events before it (I2I: the item just before it; U2I:
    the user vector of those events, or ``user_embeddings`` when given, e.g. a factor model's
    users fit on train), the items before it excluded from its top K; a user's figure is the
    mean over the user's targets and the score the mean over users (each user counts once, as
    on the test split, with the noise of K events). Also returned for ``ValidationEvents``:
    ``<mode>_last``, the score on the event just before the test event alone (what a
    single-event validation reads), for comparison.

    Returns ``{mode: score}`` (plus ``<mode>_last``); ``emb``: item vectors (n_items, dim)
    float32.
    """
    k = int(metric.split("@")[1]) if "@" in metric else 10
    out: dict[str, float] = {}
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (i2i or u2i)")
        args = (k, mode, i2i_metric, u2i_metric, min_rating, user_embeddings)
        if isinstance(valid, Interactions):
            out[mode] = float(_one(emb, train, valid, *args, per_user=False)[metric])
            continue
        if not isinstance(valid, ValidationEvents):
            raise ValueError(
                f"valid must be Interactions or ValidationEvents, got {type(valid).__name__}"
            )
        tables = []
        for step, (history, targets) in enumerate(valid.steps):
            r = _one(emb, history, targets, *args, per_user=True)
            if step == 0:
                out[f"{mode}_last"] = float(r[metric])
            tables.append(r["per_user"][["user_id", metric]])
        per_user = pd.concat(tables, ignore_index=True).groupby("user_id")[metric].mean()
        out[mode] = float(per_user.mean())
    return out
