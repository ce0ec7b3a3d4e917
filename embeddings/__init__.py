"""embrecall.embeddings: train item and user embeddings from behaviour data.

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
