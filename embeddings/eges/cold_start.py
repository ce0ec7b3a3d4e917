"""Cold start for BGE / GES / EGES: vectors of items known only by their side information.

An item with side information but no interactions gets ``sum_f w_f mean(S[values of f])`` over
the fields where it has at least one value seen in training, with ``w_f`` = the weight of field
f for an item without its own vector (softmax of the learned scores over the side-info fields
only, ``cold_field_weights``), averaged over the warm items that have field f and renormalised
over the cold item's fields (GES: equal weights). This is the hidden vector the model trains for
an item whose id is dropped (``item_dropout``). Values never seen in training are ignored; an item with no known value
raises ``ValueError`` (or is skipped and reported in the result's meta with ``errors="skip"``).
The functions take a fitted model (``EGES`` / ``GES``); its methods of the same names call them.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from embeddings.datasets.tables import ItemSideInfo
from embeddings.eges.side_info import encode_side_info
from embeddings.types import Embeddings
from embeddings.validate import as_ids, describe_values

__all__ = ["cold_start_vectors", "embeddings_with_cold_start"]

logger = logging.getLogger(__name__)


def cold_start_vectors(
    model: Any,
    side_info: ItemSideInfo,
    item_ids: ArrayLike | None = None,
    errors: Literal["raise", "skip"] = "raise",
    normalize_fields: bool = False,
) -> Embeddings:
    """Vectors for items known only by their side information (see the module docstring).

    Args:
        side_info: table holding the new items' values (may be the training table).
        item_ids: items to build vectors for; default: every item of ``side_info`` that was
            not in the training graph. Ids not in ``side_info`` raise ``KeyError``.
        errors: an item with no value seen in training raises ``ValueError`` ("raise") or is
            left out and listed in ``meta["skipped_ids"]`` ("skip").
        normalize_fields: scale each field's mean vector to unit length before the weighted
            sum (a field with long vectors does not dominate the direction).
    Returns ``Embeddings`` (float32, same space as ``embeddings_``; compare with cosine).
    """
    model._check_fitted()
    if not model.fields_:
        raise ValueError(f"{model._method} has no side information: no cold-start vectors")
    if not isinstance(normalize_fields, bool):
        raise ValueError(f"normalize_fields must be a bool, got {normalize_fields!r}")
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if not isinstance(side_info, ItemSideInfo):
        raise ValueError(f"side_info must be an ItemSideInfo, got {type(side_info).__name__}")
    if item_ids is None:
        ids = side_info.item_ids()
        ids = np.sort(ids[~np.isin(ids, model.item_ids_)])
    else:
        ids = as_ids(item_ids, name="item_ids")
        unknown = ~np.isin(ids, side_info.item_ids())
        if unknown.any():
            raise KeyError(f"items not in the side information: {describe_values(ids[unknown])}")
    if ids.shape[0] == 0:
        raise ValueError("no item to build a cold-start vector for")
    fields = [f for f in model.fields_ if f in side_info.fields]
    if not fields:
        raise ValueError(
            f"side information has none of the trained fields {model.fields_} "
            f"(it has {side_info.fields})"
        )
    field_pos = [model.fields_.index(f) for f in fields]
    ptr, vals, _, sub_offsets = encode_side_info(
        side_info, ids, fields, [model.vocabularies_[f] for f in field_pos]
    )
    F = len(fields)
    counts = np.diff(ptr).reshape(ids.shape[0], F)
    fw = model.cold_field_weights().to_numpy()[field_pos]
    wmat = np.where(counts > 0, fw[None, :], 0.0)
    known = wmat.sum(1) > 0
    skipped = ids[~known]
    if skipped.size and errors == "raise":
        raise ValueError(
            f"{skipped.size} items have no side-information value seen in training: "
            f"{describe_values(skipped)} (pass errors='skip' to leave them out)"
        )
    wmat = wmat / np.maximum(wmat.sum(1, keepdims=True), 1e-300)
    # map the sub-encoding's value indices back to rows of side_vectors_
    entry_field = np.repeat(np.tile(np.arange(F), ids.shape[0]), counts.ravel())
    trained = model.value_offsets_[np.asarray(field_pos)][entry_field] + (
        vals - sub_offsets[entry_field]
    )
    entry_row = np.repeat(np.repeat(np.arange(ids.shape[0]), F), counts.ravel())
    # per (item, field): the mean of its values' vectors
    d = model.side_vectors_.shape[1]
    field_vec = np.zeros((ids.shape[0], F, d), np.float64)
    np.add.at(field_vec, (entry_row, entry_field), model.side_vectors_[trained])
    field_vec /= np.maximum(counts, 1)[:, :, None]
    if normalize_fields:
        field_vec /= np.maximum(np.linalg.norm(field_vec, axis=2, keepdims=True), 1e-12)
    out = np.einsum("rf,rfd->rd", wmat, field_vec)
    out = out[known]
    meta = {
        "method": f"{model._method}-cold-start",
        "fields": fields,
        "field_weights": dict(zip(fields, fw.tolist(), strict=True)),
        "skipped_ids": skipped.tolist(),
        "normalize_fields": normalize_fields,
    }
    if skipped.size:
        logger.warning("cold start: %d items without a known value skipped", skipped.size)
    return Embeddings(ids[known], out.astype(np.float32), meta)


def embeddings_with_cold_start(
    model: Any, side_info: ItemSideInfo, item_ids: ArrayLike | None = None
) -> Embeddings:
    """Warm embeddings plus cold-start vectors of ``item_ids`` (default: all new items of
    ``side_info``), ready to be indexed together. Items without a known value are left out
    (listed in ``meta["skipped_ids"]``)."""
    cold = cold_start_vectors(model, side_info, item_ids, errors="skip")
    keep = ~np.isin(cold.ids, model.embeddings_.ids)
    meta = dict(model.embeddings_.meta)
    meta["cold_ids"] = cold.ids[keep].tolist()
    meta["skipped_ids"] = cold.meta["skipped_ids"]
    return Embeddings(
        np.concatenate([model.embeddings_.ids, cold.ids[keep]]),
        np.concatenate([model.embeddings_.vectors, cold.vectors[keep]]),
        meta,
    )
