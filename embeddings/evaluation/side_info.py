"""Side-information classification: the node-classification protocol on item vectors, with one
side-information field (e.g. genres) as the labels, and a flag when the embedding was trained
with that very field (its score then measures no learning)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from embeddings.evaluation.nodes import node_classification
from embeddings.types import Embeddings

__all__ = ["side_info_classification", "trained_side_fields"]


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
