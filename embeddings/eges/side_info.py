"""Side-information encoding of BGE / GES / EGES: the fields of an ``ItemSideInfo`` as one
interleaved CSR of value indices per (item, field), checked against the training items."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.datasets.tables import ItemSideInfo
from embeddings.validate import describe_values

__all__ = ["encode_side_info", "prepare_side_info"]

logger = logging.getLogger(__name__)


def encode_side_info(
    side_info: ItemSideInfo,
    node_ids: NDArray[np.int64],
    fields: Sequence[str],
    vocabularies: Sequence[Sequence[str]] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int32], list[list[str]], NDArray[np.int64]]:
    """Interleaved CSR of side-info values: item i, field f -> ``vals[ptr[i*F+f]:ptr[i*F+f+1]]``
    (global value indices, field f's values offset by ``offsets[f]``). Vocabularies default to
    the values present among ``node_ids`` (sorted)."""
    n, F = node_ids.shape[0], len(fields)
    counts = np.zeros((n, F), np.int64)
    per_field: list[tuple[NDArray[np.int64], NDArray[np.int32]]] = []
    vocabs: list[list[str]] = []
    for f, name in enumerate(fields):
        if vocabularies is None:
            col = side_info.frame[name]
            present = col.index.intersection(pd.Index(node_ids))
            vocab = sorted({v for tup in col.loc[present] for v in tup})
        else:
            vocab = list(vocabularies[f])
        indptr, idx, vocab = side_info.encode(name, node_ids.tolist(), vocab)
        per_field.append((indptr, idx))
        vocabs.append(vocab)
        counts[:, f] = np.diff(indptr)
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vocabs])]).astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(counts.ravel())]).astype(np.int64)
    vals = np.empty(ptr[-1], np.int32)
    for f, (indptr, idx) in enumerate(per_field):
        cnt = np.diff(indptr)
        starts = ptr[np.arange(n) * F + f]
        within = np.arange(idx.shape[0]) - np.repeat(indptr[:-1], cnt)
        vals[np.repeat(starts, cnt) + within] = idx + offsets[f]
    return ptr, vals, vocabs, offsets


#: the encoding of "no side information" (BGE): no field, no value
NO_SIDE_INFO = ([], np.zeros(1, np.int64), np.zeros(0, np.int32), [], np.zeros(1, np.int64))


def prepare_side_info(
    side_info: ItemSideInfo | None,
    node_ids: NDArray[np.int64],
    fields: Sequence[str] | None,
    missing: str,
    method: str,
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int32], list[list[str]], NDArray[np.int64]]:
    """``(fields, ptr, vals, vocabularies, offsets)`` of ``side_info`` for the training items
    ``node_ids`` (see ``encode_side_info``); ``fields`` None = all fields of the table.

    Items without a row raise ``ValueError`` unless ``missing="item_only"`` (they then train on
    their own embedding alone).
    """
    n = node_ids.shape[0]
    if side_info is None:
        raise ValueError(f"{method} needs side information (an ItemSideInfo)")
    if not isinstance(side_info, ItemSideInfo):
        raise ValueError(f"side_info must be an ItemSideInfo, got {type(side_info).__name__}")
    fields = list(side_info.fields) if fields is None else list(fields)
    if not fields:
        raise ValueError("side information has no field")
    unknown = [f for f in fields if f not in side_info.fields]
    if unknown:
        raise ValueError(f"unknown side-info fields {unknown} (fields: {side_info.fields})")
    if len(set(fields)) != len(fields):
        raise ValueError(f"duplicate fields in {fields}")
    absent = ~np.isin(node_ids, side_info.item_ids())
    if absent.any() and missing == "raise":
        raise ValueError(
            f"{int(absent.sum())} of {n} items have no row in the side information: "
            f"{describe_values(node_ids[absent])} (pass missing='item_only' to train them "
            "on their own embedding alone)"
        )
    ptr, vals, vocabs, offsets = encode_side_info(side_info, node_ids, fields)
    if vals.shape[0] == 0:
        raise ValueError(f"no item of the training data has a value in fields {fields}")
    if absent.any():
        logger.warning(
            "%d items without side information train on their own embedding",
            int(absent.sum()),
        )
    return fields, ptr, vals, vocabs, offsets
