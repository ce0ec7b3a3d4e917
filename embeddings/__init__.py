"""embrecall.embeddings: train item and user embeddings from behaviour data.

Never imports ``recall`` (dependencies run one way).
"""

from embeddings.graph import ItemGraph
from embeddings.sessions import Sessions, build_sessions, leave_last_out, temporal_split
from embeddings.types import Embeddings
from embeddings.users import user_vectors

__version__ = "0.1.0"

__all__ = [
    "Embeddings",
    "ItemGraph",
    "Sessions",
    "build_sessions",
    "leave_last_out",
    "temporal_split",
    "user_vectors",
    "__version__",
]
