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

Importing the package (which every ``import embeddings.x`` does first) loads numpy only: the
names below that need pandas (``Sessions`` and the splits), scipy (``user_vectors``) or numba
(``ItemGraph``) are imported on first access (PEP 562), so that a process that only walks a
graph and trains a skip-gram does not pay for libraries it never uses (resident memory: see
``reports/scale/memory.md``).
"""

from typing import TYPE_CHECKING, Any

from embeddings.base import Trainer, TrainerBase, clone, is_trainer
from embeddings.params import SkipGramParams
from embeddings.types import Embeddings

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.graph import ItemGraph
    from embeddings.sessions import Sessions, build_sessions, leave_last_out, temporal_split
    from embeddings.users import user_vectors

__version__ = "0.1.0"

#: public name -> the module that defines it, imported on first access
_LAZY = {
    "ItemGraph": "embeddings.graph",
    "Sessions": "embeddings.sessions",
    "build_sessions": "embeddings.sessions",
    "leave_last_out": "embeddings.sessions",
    "temporal_split": "embeddings.sessions",
    "user_vectors": "embeddings.users",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'embeddings' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
