"""Data layer: tables, loaders (MovieLens, generic, labelled graphs) and the synthetic default."""

from typing import Any

from embeddings.datasets.generic import load_interactions
from embeddings.datasets.movielens import MovieLens, fetch_movielens, load_movielens
from embeddings.datasets.synthetic import SyntheticData, make_synthetic
from embeddings.datasets.tables import Interactions, ItemSideInfo

# The graph loaders need embeddings.graph, which imports this package (via sessions -> tables):
# they are resolved on first access to avoid the import cycle.
_GRAPH_NAMES = (
    "LabelledGraph",
    "load_labelled_graph",
    "read_adjlist",
    "read_edgelist",
    "read_labelled_graph",
    "read_labels",
    "read_mat",
)


def __getattr__(name: str) -> Any:
    if name in _GRAPH_NAMES:
        from embeddings.datasets import graphs

        return getattr(graphs, name)
    raise AttributeError(f"module 'embeddings.datasets' has no attribute {name!r}")


__all__ = [
    "Interactions",
    "ItemSideInfo",
    "MovieLens",
    "SyntheticData",
    "fetch_movielens",
    "load_interactions",
    "load_movielens",
    "make_synthetic",
    *_GRAPH_NAMES,
]
