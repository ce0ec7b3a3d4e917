"""Figures of a run that need the trained objects (2-D maps, EGES field weights, LSH bucket sizes);
the figures drawn from the CSV files are ``recall.report``'s."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings import Embeddings
from recall.experiment.data import LoadedData

logger = logging.getLogger(__name__)


def method_plots(
    out: Path, name: str, emb: Embeddings, data: LoadedData, cache_dir: Path | None
) -> None:
    """2-D map of the item vectors coloured by label (genre); EGES field weights if saved."""
    from recall import plots

    fw_file = emb.meta.get("field_weights_file")
    if cache_dir is not None and fw_file and (cache_dir / fw_file).exists():
        fw = pd.read_csv(cache_dir / fw_file, index_col=0)
        # BGE (one field) and GES (equal weights) have constant weights: nothing to plot
        if not fw.empty and float(np.ptp(fw.to_numpy(dtype=np.float64))) > 1e-6:
            fig = plots.plot_field_weights(fw, title=f"{name}: learned field weights per item")
            plots.save_figure(fig, out / "plots" / f"field_weights_{name}.png")
    if data.item_labels is None:
        return
    have = emb.has(data.item_labels.index.to_numpy())
    if have.sum() < 10:
        return
    ids = data.item_labels.index.to_numpy()[have]
    fig = plots.plot_embedding_map(
        emb.lookup(ids), data.item_labels.loc[ids].to_numpy(), title=f"{name}: PCA map by genre"
    )
    plots.save_figure(fig, out / "plots" / f"map_{name}.png")


def _as_hashed(vectors: NDArray[np.float32], metric: str) -> NDArray[np.float32]:
    """The vectors as an LSH index of ``metric`` hashes them: unit rows for cosine (the ``Index``
    contract, ``recall.base.normalize_rows``), unchanged for ``ip`` and ``l2``."""
    from recall.base import normalize_rows

    return normalize_rows(vectors) if metric == "cosine" else vectors


def bucket_histogram(
    index: Any,
    spec: dict[str, Any],
    vectors: NDArray[np.float32],
    out: Path,
    done: set[str],
    method: str = "",
) -> None:
    """Bucket sizes of table 0 of the first build of each LSH spec (indexes with a ``hasher``),
    titled with the index, the method whose vectors it hashed and the build parameters."""
    from recall import plots

    hasher = getattr(index, "hasher", None)
    if hasher is None or spec["name"] in done:
        return
    done.add(spec["name"])
    x = _as_hashed(vectors, getattr(index, "metric", "cosine"))
    sizes = np.unique(hasher.keys(x)[:, 0], return_counts=True)[1]
    params = {k: v for k, v in spec.get("params", {}).items() if k != "metric"}
    fig = plots.plot_bucket_sizes(
        sizes,
        title=f"{spec['name']} on {method or 'the first method'}'s vectors: table 0 buckets",
        subtitle=f"build {json.dumps(params, sort_keys=True, default=str)}; "
        f"n={vectors.shape[0]} items",
    )
    plots.save_figure(fig, out / "plots" / f"buckets_{spec['name']}.png")
