"""What every EGES experiment shares (``recall.bench.eges``): the models compared, the published
figures, the data root, the MovieLens side information, the walks, the model settings and the
gensim reference (DeepWalk by gensim's skip-gram on the same walks).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets.tables import ItemSideInfo
from embeddings.eges import BGE, EGES, GES
from embeddings.graph import ItemGraph
from embeddings.paths import data_root as shared_data_root
from embeddings.types import Embeddings
from embeddings.walks import generate_walks

logger = logging.getLogger(__name__)


MODELS = {"BGE": BGE, "GES": GES, "EGES": EGES}
REFERENCE = "DeepWalk (gensim sg)"

# published link-prediction AUC (Wang et al., KDD 2018, Table 2; via /work/shared/ANCHORS.md)
PAPER_AUC = {
    "Amazon": {"BGE": 0.9327, "GES": 0.9575, "EGES": 0.9700},
    "Taobao": {"BGE": 0.8797, "GES": 0.9704, "EGES": 0.9746},
}


def data_root(arg: str | None) -> Path:
    """``--data``, else :func:`embeddings.paths.data_root` (``FileNotFoundError`` naming where it
    looked when there is none)."""
    if arg:
        return Path(arg)
    root = shared_data_root(required=True)
    assert root is not None
    return root


def movielens_side_info(side: ItemSideInfo) -> ItemSideInfo:
    """genres, tags (lower-cased) and year in 5-year buckets."""
    frame = pd.DataFrame(index=side.frame.index)
    frame["genres"] = side.frame["genres"]
    frame["tags"] = [tuple(sorted({t.lower() for t in tup})) for tup in side.frame["tags"]]

    def bucket(tup: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for y in tup:
            if y.isdigit():
                lo = int(y) // 5 * 5
                out.append(f"{lo}-{lo + 4}")
        return tuple(out)

    frame["year5"] = [bucket(t) for t in side.frame["year"]]
    return ItemSideInfo(frame.reset_index(), side.titles)


def train_walks(graph: ItemGraph, cfg: dict[str, Any], seed: int) -> np.ndarray:
    """The walks every model of one experiment trains on (int64 ``(n_walks, walk_length)``)."""
    return generate_walks(
        graph,
        num_walks=cfg["num_walks"],
        walk_length=cfg["walk_length"],
        workers=cfg["workers"],
        random_state=seed,
        progress=False,
    )


def model_names(cfg: dict[str, Any]) -> list[str]:
    """The models of the quality runs: BGE, GES, EGES, then "GES drop=x" / "EGES drop=x" for
    each ``item_dropout`` x > 0 of the config."""
    names = list(MODELS)
    for x in cfg.get("item_dropout", []):
        if float(x) > 0:
            names += [f"GES drop={float(x):g}", f"EGES drop={float(x):g}"]
    return names


def make_model(name: str, cfg: dict[str, Any], seed: int, epochs: int | None = None, workers=None):
    """An unfitted ``BGE`` / ``GES`` / ``EGES`` with the experiment's settings; a name
    "GES drop=x" / "EGES drop=x" (``model_names``) sets ``item_dropout=x``."""
    base, _, drop = name.partition(" drop=")
    extra: dict[str, Any] = {"item_dropout": float(drop)} if drop else {}
    return MODELS[base](
        **extra,
        dim=cfg["dim"],
        window=cfg["window"],
        negative=cfg["negative"],
        epochs=cfg["epochs"] if epochs is None else epochs,
        num_walks=cfg["num_walks"],
        walk_length=cfg["walk_length"],
        workers=cfg["workers"] if workers is None else workers,
        random_state=seed,
        progress=cfg["progress"],
    )


def gensim_deepwalk(walks: np.ndarray, graph: ItemGraph, cfg: dict[str, Any], seed: int):
    """Reference: gensim ``Word2Vec(sg=1)`` on the same walks, same dim/window/negatives/epochs
    (``sample=0``, ``min_count=1``), as ``Embeddings`` in the graph's node order (every node
    starts walks, so every node has a vector). Returns (embeddings, context vectors)."""
    from gensim.models import Word2Vec

    from embeddings.walks import walks_to_ids

    tokens = [[str(x) for x in w.tolist()] for w in walks_to_ids(walks, graph)]
    w2v = Word2Vec(
        tokens,
        vector_size=cfg["dim"],
        window=cfg["window"],
        negative=cfg["negative"],
        sg=1,
        hs=0,
        sample=0,
        min_count=1,
        epochs=cfg["epochs"],
        workers=cfg["workers"],
        seed=seed,
    )
    idx = [w2v.wv.key_to_index[str(i)] for i in graph.node_ids.tolist()]
    vec = np.asarray(w2v.wv.vectors[idx], np.float32)
    ctx = np.asarray(w2v.syn1neg[idx], np.float32)
    return Embeddings(graph.node_ids, vec, {"method": "gensim-deepwalk"}), ctx


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float, same shape)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
