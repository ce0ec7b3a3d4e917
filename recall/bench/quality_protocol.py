"""Settings of the quality benchmark's protocol and the data it reads (``recall.bench.quality``).

The constants are re-exported by :mod:`recall.bench.quality` under the same names: published
figures, the methods and baselines compared, the search spaces and the two run sizes
(``CONFIGS``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from embeddings.datasets import make_synthetic

logger = logging.getLogger(__name__)

#: node2vec paper (Grover & Leskovec, KDD 2016), Table 2: Macro-F1 at 50% labelled nodes.
#: Their "Wikipedia" is the word co-occurrence graph with POS labels (``pos`` here), not the
#: 2,405-node hyperlink "Wiki" of OpenNE.
PUBLISHED_MACRO_F1 = {
    ("blogcatalog", "deepwalk"): 0.2110,
    ("blogcatalog", "node2vec"): 0.2581,
    ("ppi", "deepwalk"): 0.1768,
    ("ppi", "node2vec"): 0.1791,
    ("pos", "deepwalk"): 0.1274,
    ("pos", "node2vec"): 0.1552,
}
REC_METHODS = ("item2vec-sequence", "item2vec-set", "deepwalk", "node2vec")
BASELINES = ("itemknn-cosine", "itemknn-cooccurrence", "implicit-als", "implicit-bpr")
METRIC = "hit_rate@10"

#: search spaces of the recommendation walks, trimmed so that one trial stays near a minute
REC_WALK_SPACE = {
    "num_walks": {"int": [2, 10], "log": True},
    "walk_length": {"int": [10, 40], "log": True},
    "epochs": {"int": [1, 5]},
    "dim": {"int": [16, 128], "log": True},
    "window": {"int": [1, 10], "log": True},
    "negative": {"int": [2, 20], "log": True},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "sample": {"float": [1e-5, 1e-1], "log": True},
    "alpha": {"float": [0.005, 0.1], "log": True},
    "directed": {"choices": [True, False]},
    "min_rating": {"choices": ["none", 3.5]},
}
NODE_SPACE = {
    "num_walks": {"int": [5, 10]},
    "walk_length": {"int": [20, 80], "log": True},
    "epochs": {"int": [1, 5]},
    "window": {"int": [2, 10]},
    "negative": {"int": [2, 10]},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "sample": {"float": [1e-5, 1e-2], "log": True},
    "alpha": {"float": [0.005, 0.05], "log": True},
}
#: the node2vec paper's search (Grover & Leskovec 2016, section 4.3): p and q on the grid
#: {0.25, 0.5, 1, 2, 4}, every other parameter at its default; ``--node-pq-grid`` runs it per
#: graph with the classifier chosen on the validation fold in every trial
PQ_GRID = {
    "p": {"choices": [0.25, 0.5, 1.0, 2.0, 4.0]},
    "q": {"choices": [0.25, 0.5, 1.0, 2.0, 4.0]},
}
#: suffix of a node2vec search key that ran ``PQ_GRID`` (beside the TPE search's key)
PQ_GRID_KEY = "-pq-grid"

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "rec_datasets": ["movielens-latest-small", "synthetic"],
        "node_datasets": ["blogcatalog", "ppi", "pos", "wiki"],
        "node_search": ["blogcatalog"],
        "node_tuned_on": "blogcatalog",
        "trials": {"item2vec-sequence": 25, "item2vec-set": 8, "deepwalk": 15, "node2vec": 15,
                   "implicit-als": 15, "implicit-bpr": 10, "node:deepwalk": 10,
                   "node:node2vec": 10},
        "timeout": 1200,
        "seeds": [0, 1, 2],
        "synthetic": {"n_users": 2000, "n_items": 1000},
        "n_boot": 5000,
    },
    "quick": {
        "rec_datasets": ["synthetic"],
        "node_datasets": [],
        "node_search": [],
        "node_tuned_on": "blogcatalog",
        "trials": {"item2vec-sequence": 3, "item2vec-set": 2, "deepwalk": 2, "node2vec": 2,
                   "implicit-als": 2, "implicit-bpr": 2, "node:deepwalk": 2, "node:node2vec": 2},
        "timeout": 120,
        "seeds": [0, 1, 2],
        "synthetic": {"n_users": 400, "n_items": 300},
        "n_boot": 1000,
    },
}  # fmt: skip


#: what DeepWalk / Node2Vec used before issue 12 (compared by ``--stage defaults-check``)
OLD_WALK_DEFAULTS = {"epochs": 1}


def rec_data(name: str, cfg: dict[str, Any], root: Path, seed: int) -> Any:
    """The interactions of a recommendation data set (``None``, logged, when it is missing)."""
    if name == "synthetic":
        return make_synthetic(**cfg["synthetic"], random_state=seed).interactions
    from embeddings.datasets.movielens import load_movielens

    d = root / name
    if not d.is_dir():
        logger.warning("skipping %s: %s not found", name, d)
        return None
    return load_movielens(d).interactions


def safe_name(name: str) -> str:
    """A data-set name usable in a file name."""
    return name.replace("/", "_")
