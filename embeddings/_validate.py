"""Old private name of :mod:`embeddings.validate`, kept while imports move to the public module."""

from embeddings.validate import (
    PADDING_ID,
    as_ids,
    as_vectors,
    check_random_state,
    describe_values,
    spawn_seeds,
)

__all__ = [
    "as_vectors",
    "as_ids",
    "PADDING_ID",
    "check_random_state",
    "spawn_seeds",
    "describe_values",
]
