"""embrecall.embeddings: train item and user embeddings from behaviour data.

Map (the README's "What is inside" table is the same):

- ``datasets/``, ``sessions``, ``graph``, ``inputs``: tables, sessions and splits, the item graph,
  what each trainer accepts;
- ``base`` (the ``Trainer`` protocol), ``params`` (``SkipGramParams``);
- ``walks/`` (the walk engine and the ``Walks`` stage), ``word2vec``, ``item2vec``, ``node2vec``,
  ``eges/``, ``baselines``, ``spark/``: the trainers (``trainers`` imports them all);
- ``neighbours`` (the one top-k, exact search, knn-recall), ``evaluation/``, ``users``,
  ``tuning``, ``stats``: evaluation, search and statistics;
- ``types``, ``io``, ``validate``, ``paths``, ``progress``: values, files, checks, data root.

Never imports ``recall`` (dependencies run one way).
"""

from embeddings.base import Trainer, TrainerBase, clone, is_trainer
from embeddings.graph import ItemGraph
from embeddings.params import SkipGramParams
from embeddings.sessions import Sessions, build_sessions, leave_last_out, temporal_split
from embeddings.types import Embeddings
from embeddings.users import user_vectors

__version__ = "0.1.0"

__all__ = [
    "Embeddings",
    "ItemGraph",
    "SkipGramParams",
    "Trainer",
    "TrainerBase",
    "clone",
    "is_trainer",
    "Sessions",
    "build_sessions",
    "leave_last_out",
    "temporal_split",
    "user_vectors",
    "__version__",
]
