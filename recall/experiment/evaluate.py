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
    chosen_mode: str | None = None,
) -> list[dict[str, Any]]:
    """Test metrics of the plain ``i2i`` and ``u2i`` modes, and of ``chosen_mode`` (the mode
    chosen on validation, e.g. ``u2i:h=5``) when it is neither: one row per mode."""
    from embeddings.evaluation import evaluate_mode, parse_mode

    modes = ["i2i", "u2i"]
    if chosen_mode is not None and str(parse_mode(chosen_mode)) not in modes:
        modes.append(str(parse_mode(chosen_mode)))
    out = []
    for mode in modes:
        r = evaluate_mode(
            emb, train, test, mode, ks, search=search, metric=metric, min_rating=min_rating
        )
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
    """Recommendation metrics of ``mode`` (``i2i``, ``u2i`` or a recency mode such as
    ``u2i:h=5``, ``i2i:n=5,h=2``) computed through the index's search."""
    from embeddings.evaluation import evaluate_mode

    m = run.row["metric"]
    r = evaluate_mode(
        emb, train, test, mode, ks, search=run.search, metric=m, min_rating=min_rating
    )
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
