"""The software prefetch of the LSH search kernels: a re-export of :mod:`embeddings.prefetch`
(the one implementation, shared with the skip-gram trainer; ``embeddings`` never imports
``recall``, so it lives there)."""

from embeddings.prefetch import PREFETCH_ACTIVE, _noop, prefetch

__all__ = ["prefetch", "PREFETCH_ACTIVE", "_noop"]
