"""Every trainer, under one import: ``from embeddings.trainers import Item2Vec`` etc.

All follow the ``Trainer`` protocol (``embeddings.base``): hyperparameters in ``__init__``,
``get_params`` / ``set_params`` / ``clone``, ``fit(data, side_info=None) -> Embeddings``, and the
class attributes ``uses_side_info``, ``input_kind``, ``has_field_weights``.

=================================  ==============================================================
trainer                            defined in
=================================  ==============================================================
``Item2Vec`` (sequence / set)      ``embeddings.item2vec``
``DeepWalk``, ``Node2Vec``         ``embeddings.node2vec`` (walks: ``embeddings.walks``)
``BGE``, ``GES``, ``EGES``         ``embeddings.eges`` (side information)
``Popularity``, ``ItemKNN``,       ``embeddings.baselines``
``ImplicitMF``
=================================  ==============================================================

``TRAINERS`` lists the trainer classes of this module; inputs are turned into sessions and
graphs by ``embeddings.inputs`` (``graph_from_data``, ``networkx_to_graph``).
"""

from __future__ import annotations

from embeddings.baselines import Popularity
from embeddings.inputs import graph_from_data, networkx_to_graph
from embeddings.item2vec import Item2Vec
from embeddings.node2vec import DeepWalk, Node2Vec

__all__ = [
    "Item2Vec",
    "DeepWalk",
    "Node2Vec",
    "Popularity",
    "TRAINERS",
    "graph_from_data",
    "networkx_to_graph",
]

#: the trainer classes defined under this module's name (configs: ``embeddings.trainers:Name``)
TRAINERS = (Item2Vec, DeepWalk, Node2Vec, Popularity)
