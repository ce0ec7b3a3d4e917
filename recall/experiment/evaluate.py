"""Evaluation stage: recommendation metrics (HR / Recall / NDCG@K) with exact search and through
an index, popularity, genre classification of the item vectors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings import Embeddings
from embeddings.datasets import Interactions
from recall.experiment.data import LoadedData
from recall.experiment.index import IndexRun

logger = logging.getLogger(__name__)


def quality_rows(
    method: str,
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    ks: list[int],
    metric: str,
    min_rating: float | None,
    search: Callable[[NDArray[np.float32], int], NDArray[np.int64]] | None = None,
) -> list[dict[str, Any]]:
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    out = []
    for fn, kwargs in (
        (evaluate_i2i, {}),
        (evaluate_u2i, {"min_rating": min_rating}),
    ):
        r = fn(emb, train, test, ks, search=search, metric=metric, **kwargs)
        out.append({"method": method, **r})
    return out


def end_to_end(
    run: IndexRun,
    emb: Embeddings,
    train: Interactions,
    test: Interactions,
    ks: list[int],
    min_rating: float | None,
    mode: str,
    store: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Recommendation metrics of ``mode`` (i2i/u2i) computed through the index's search."""
    from embeddings.evaluation import evaluate_i2i, evaluate_u2i

    m = run.row["metric"]
    if mode == "i2i":
        r = evaluate_i2i(emb, train, test, ks, search=run.search, metric=m)
    elif mode == "u2i":
        r = evaluate_u2i(emb, train, test, ks, search=run.search, metric=m, min_rating=min_rating)
    else:
        raise ValueError(f"unknown e2e_mode {mode!r} (i2i or u2i)")
    store[(run.row["index"], run.row["params"])] = {
        f"e2e_{key}": val for key, val in r.items() if "@" in key
    }


def popularity_row(
    train: Interactions, test: Interactions, ks: list[int], min_rating: float | None
) -> dict[str, Any]:
    from embeddings.evaluation import evaluate_popularity

    return {**evaluate_popularity(train, test, ks, min_rating=min_rating), "mode": "popularity"}


def genre_classification(
    name: str, emb: Embeddings, data: LoadedData, seed: int
) -> dict[str, Any] | None:
    """Node-classification protocol on the item vectors with the items' genres as labels
    (multi-label; one-vs-rest logistic regression, 50% of the labelled items for training).
    ``leaks`` marks a model trained with the genres field itself (GES / EGES read their input
    back: such a row measures no learning)."""
    from embeddings.evaluation import side_info_classification

    side = data.side_info
    if side is None or "genres" not in side.fields:
        return None
    res = side_info_classification(emb, side, "genres", 0.5, 3, seed)
    if res is None:
        return None
    return {
        "method": name,
        "mode": "genre-classification",
        "micro_f1": res["micro_f1"],
        "macro_f1": res["macro_f1"],
        "leaks": bool(res["leaks"]),
    }
