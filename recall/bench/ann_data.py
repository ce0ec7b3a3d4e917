"""Data of the ANN benchmark: the synthetic families at size n and the real vector sets."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.paths import data_root as shared_data_root
from recall.base import normalize_rows
from recall.bench.datasets import FAMILIES, make_family

log = logging.getLogger("recall.bench.ann")

REAL = ("sparkals", "sparrow", "item2vec")


def data_root() -> Path:
    """The shared data folder (:func:`embeddings.paths.data_root`; input, not output).

    Raises ``FileNotFoundError`` naming where it looked when there is none."""
    root = shared_data_root(required=True)
    assert root is not None
    return root


def load_sparkals(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(items (3706, 10), users (6040, 10)) float32 from the Spark ALS CSVs (``id,features``)."""
    base = root / "movielens-1m-sparkals-embeddings"

    def read(name: str) -> np.ndarray:
        df = pd.read_csv(base / name)
        return np.asarray([json.loads(s) for s in df["features"]], dtype=np.float32)

    return read("movielens_sparkals_item_embedding.csv"), read(
        "movielens_sparkals_user_embedding.csv"
    )


def load_sparrow(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(items (881, 10), users (29775, 10)) float32 from SparrowRecSys ``id:v1 v2 ...`` files."""
    base = root / "sparrowrecsys-movielens-sample" / "modeldata"

    def read(name: str) -> np.ndarray:
        rows = []
        with open(base / name, encoding="utf-8") as fh:
            for line in fh:
                if ":" in line:
                    rows.append([float(v) for v in line.split(":", 1)[1].split()])
        return np.asarray(rows, dtype=np.float32)

    return read("item2vecEmb.csv"), read("userEmb.csv")


def load_item2vec(root: Path, random_state: int = 0, quick: bool = False):
    """Item2vec (sequence mode, 64-d) trained here on ml-latest-small; users = mean liked item."""
    from embeddings.datasets.movielens import load_movielens
    from embeddings.trainers import Item2Vec
    from embeddings.users import user_vectors

    ml = load_movielens(root / "movielens-latest-small")
    emb = Item2Vec(
        mode="sequence", dim=64, epochs=2 if quick else 10, workers=1, random_state=random_state
    ).fit(ml.interactions)
    users = user_vectors(emb, ml.interactions, min_rating=3.5)
    return emb.vectors, users.vectors


@dataclass
class Data:
    """One data set of the run: base (n, d) and queries float32, tuning queries, metric."""

    name: str
    x: NDArray[np.float32]
    q: NDArray[np.float32]
    q_tune: NDArray[np.float32]
    metric: str
    description: str

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        return int(self.x.shape[1])


def make_data(name: str, n: int, d: int, n_queries: int, seed: int, quick: bool) -> Data | None:
    """A synthetic family at size n, or a real set (None when its files are absent)."""
    if name in FAMILIES:
        x, qq, metric = make_family(name, n, d, n_queries + 200, random_state=seed)
        q, q_tune = qq[:n_queries], qq[n_queries:]
        desc = FAMILIES[name].description
    else:
        try:
            root = data_root()
            if name == "sparkals":
                x, users = load_sparkals(root)
                desc = "Spark ALS item vectors of MovieLens-1M, queried by its user vectors (ip)"
            elif name == "sparrow":
                x, users = load_sparrow(root)
                desc = "SparrowRecSys item2vec item vectors, queried by its user vectors (cosine)"
            elif name == "item2vec":
                x, users = load_item2vec(root, seed, quick)
                desc = "item2vec trained here on ml-latest-small, queried by user means (cosine)"
            else:
                raise ValueError(f"unknown data set {name!r}")
        except (FileNotFoundError, OSError) as exc:
            log.warning("skipping %s: %s", name, exc)
            return None
        rng = np.random.default_rng(seed)
        pick = rng.choice(users.shape[0], size=min(users.shape[0], n_queries + 200), replace=False)
        q, q_tune = users[pick[:n_queries]], users[pick[n_queries:]]
        metric = "ip" if name == "sparkals" else "cosine"
    if metric == "cosine":  # every method gets unit vectors: cosine = ip = l2 ranking
        x, q, q_tune = normalize_rows(x), normalize_rows(q), normalize_rows(q_tune)
    return Data(
        name,
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(q, dtype=np.float32),
        np.ascontiguousarray(q_tune, dtype=np.float32),
        metric,
        desc,
    )
