"""Validation scores of one trained model: a single held-out event per user (``Interactions``)
or several (``sessions.ValidationEvents``, each event predicted from the events before it), for
every query mode asked (``embeddings.evaluation.QueryMode``: i2i / u2i with recency), and the
best mode among them (``best_mode``): the validation score of a model is its best mode's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from embeddings.datasets.tables import Interactions
from embeddings.evaluation.recommend import QueryMode, parse_mode, query_modes
from embeddings.sessions import ValidationEvents
from embeddings.types import Embeddings

#: the plain modes (the default, what validation always scored)
MODES = ("i2i", "u2i")

__all__ = ["MODES", "best_mode", "validation_scores", "validation_table"]


def _one(
    emb: Embeddings,
    history: Interactions,
    targets: Interactions,
    k: int,
    mode: QueryMode,
    i2i_metric: str,
    u2i_metric: str,
    min_rating: float | None,
    user_embeddings: Embeddings | None,
    per_user: bool,
) -> dict[str, Any]:
    from embeddings.evaluation import evaluate_mode

    return evaluate_mode(
        emb,
        history,
        targets,
        mode,
        k,
        metric=i2i_metric if mode.kind == "i2i" else u2i_metric,
        min_rating=min_rating,
        user_embeddings=user_embeddings if mode.kind == "u2i" else None,
        per_user=per_user,
    )


def best_mode(scores: Mapping[str, float]) -> str:
    """The mode with the highest score among ``scores``' modes (its ``<mode>_last`` entries are
    reported, never chosen on); on a tie the first in ``scores``' order (the plain modes come
    first in every grid, so a tie keeps the simpler mode)."""
    modes = [m for m in scores if not m.endswith("_last")]
    if not modes:
        raise ValueError("best_mode: no mode scored")
    return max(modes, key=lambda m: scores[m])


def validation_scores(
    emb: Embeddings,
    train: Interactions,
    valid: Interactions | ValidationEvents,
    metric: str = "hit_rate@10",
    modes: str | Iterable[str | QueryMode] = MODES,
    min_rating: float | None = None,
    i2i_metric: str = "cosine",
    u2i_metric: str = "cosine",
    user_embeddings: Embeddings | None = None,
) -> dict[str, float]:
    """``metric`` (``hit_rate@K``, ``recall@K`` or ``ndcg@K``) of each query mode on validation.

    ``modes``: mode names (``"i2i"``, ``"u2i"``, ``"i2i:n=5,h=2"``, ``"u2i:h=5"``, ...) or
    ``"recency"`` (``embeddings.evaluation.RECENCY_MODES``); each is run by
    ``embeddings.evaluation.evaluate_mode``, the same code for every method. ``valid`` an
    ``Interactions``: the usual leave-last-out evaluation of (train, valid): I2I queries with
    the user's last training item(s), U2I with the (recency-weighted) mean of the user's training
    items (rated >= ``min_rating``). ``valid`` a ``ValidationEvents`` (``validation_split``):
    every target is predicted from the events before it (I2I: the item(s) just before it; U2I:
    the user vector of those events, or ``user_embeddings`` when given, e.g. a factor model's
    users fit on train: then only the plain ``u2i``), the items before it excluded from its top
    K; a user's figure is the mean over the user's targets and the score the mean over users
    (each user counts once, as on the test split, with the noise of K events). Also returned for
    ``ValidationEvents``: ``<mode>_last``, the score on the event just before the test event
    alone (what a single-event validation reads), for comparison.

    Returns ``{mode name: score}`` (plus ``<mode>_last``) in the order of ``modes``; ``emb``:
    item vectors (n_items, dim) float32. ``ValueError`` for a bad mode (``parse_mode``).
    """
    if isinstance(valid, Interactions):
        k = int(metric.split("@")[1]) if "@" in metric else 10
        out: dict[str, float] = {}
        for name in query_modes(modes):
            args = (k, parse_mode(name), i2i_metric, u2i_metric, min_rating, user_embeddings)
            out[name] = float(_one(emb, train, valid, *args, per_user=False)[metric])
        return out
    table, last = _tables(
        emb, valid, metric, modes, min_rating, i2i_metric, u2i_metric, user_embeddings
    )
    out = {}
    for name in table.columns:
        out[f"{name}_last"] = float(last[name])
        out[name] = float(table[name].mean())
    return out


def _tables(
    emb: Embeddings,
    valid: ValidationEvents,
    metric: str,
    modes: str | Iterable[str | QueryMode],
    min_rating: float | None,
    i2i_metric: str,
    u2i_metric: str,
    user_embeddings: Embeddings | None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    if not isinstance(valid, ValidationEvents):
        raise ValueError(
            f"valid must be Interactions or ValidationEvents, got {type(valid).__name__}"
        )
    k = int(metric.split("@")[1]) if "@" in metric else 10
    columns: dict[str, pd.Series] = {}
    last: dict[str, float] = {}
    for name in query_modes(modes):
        args = (k, parse_mode(name), i2i_metric, u2i_metric, min_rating, user_embeddings)
        tables = []
        for step, (history, targets) in enumerate(valid.steps):
            r = _one(emb, history, targets, *args, per_user=True)
            if step == 0:
                last[name] = float(r[metric])
            tables.append(r["per_user"][["user_id", metric]])
        columns[name] = pd.concat(tables, ignore_index=True).groupby("user_id")[metric].mean()
    return pd.DataFrame(columns), last


def validation_table(
    emb: Embeddings,
    valid: ValidationEvents,
    metric: str = "hit_rate@10",
    modes: str | Iterable[str | QueryMode] = MODES,
    min_rating: float | None = None,
    i2i_metric: str = "cosine",
    u2i_metric: str = "cosine",
    user_embeddings: Embeddings | None = None,
) -> pd.DataFrame:
    """Per-user validation figures: one row per validation user (index ``user_id``, sorted),
    one column per mode (in the order of ``modes``), each the mean of ``metric`` over the
    user's validation events; the column means are ``validation_scores``. For paired
    comparisons of modes over users (only ``ValidationEvents``)."""
    return _tables(emb, valid, metric, modes, min_rating, i2i_metric, u2i_metric, user_embeddings)[
        0
    ]
