"""Data layer: tables, loaders (MovieLens, generic, labelled graphs) and the synthetic default."""

from embeddings.datasets.synthetic import SyntheticData, make_synthetic
from embeddings.datasets.tables import Interactions, ItemSideInfo

__all__ = ["Interactions", "ItemSideInfo", "SyntheticData", "make_synthetic"]
