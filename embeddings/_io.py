"""Old private name of :mod:`embeddings.io`, kept while imports move to the public module."""

from embeddings.io import atomic_write, read_npz

__all__ = ["atomic_write", "read_npz"]
