"""Peers behind the ``Index`` protocol: faiss, hnswlib, annoy, scikit-learn trees, and our k-means index.

One module per library: :mod:`recall.peers.faiss` (Flat, LSH + refine, HNSW, IVF),
:mod:`recall.peers.hnswlib`, :mod:`recall.peers.annoy`, :mod:`recall.peers.sklearn` (KD / Ball
trees), :mod:`recall.peers.kmeans` (ours: k-means IVF); the shared base (argument checks, id
mapping, the lean search path, :class:`NativeSearch`) is in :mod:`recall.peers._base` and the
thread plumbing in :mod:`recall.peers._threads`.

Every peer maps the library's internal row numbers (insertion order) to the caller's int64 ids,
returns "higher is better" scores as :mod:`recall.base` defines them, persists through
``_get_state`` / ``_set_state`` (library indexes serialised to bytes in a uint8 array) and reports
``memory_bytes`` in ``stats()``. Search-time parameters (``ef``, ``nprobe``, ``search_k``,
``refine_factor``) change after the build with ``set_search_params(**kw)`` so a benchmark sweeps
them without rebuilding. ``threads`` (default 1) sets faiss' OpenMP threads and hnswlib's /
annoy's ``num_threads`` / ``n_jobs`` on every call, for fair single-thread comparisons.
``native_search(queries, k)`` returns the library's own single-query call on queries prepared
once (:class:`NativeSearch`), so that a benchmark times each library in its best mode.

The public home of every class is ``recall.peers`` (``__module__`` says so): configs name
``recall.peers:HnswlibIndex`` and saved index files record ``recall.peers``, before and after the
split into modules.

faiss, hnswlib and annoy are imported lazily; a missing one raises ``ImportError`` naming the
``peers`` extra. scikit-learn is a core dependency.
"""

from __future__ import annotations

from recall.base import Index
from recall.peers._base import NativeSearch
from recall.peers.annoy import AnnoyIndex
from recall.peers.faiss import FaissFlatIndex, FaissHNSWIndex, FaissIVFIndex, FaissLSHIndex
from recall.peers.hnswlib import HnswlibIndex
from recall.peers.kmeans import KMeansIndex
from recall.peers.sklearn import BallTreeIndex, KDTreeIndex

__all__ = [
    "FaissFlatIndex",
    "FaissLSHIndex",
    "FaissHNSWIndex",
    "FaissIVFIndex",
    "HnswlibIndex",
    "AnnoyIndex",
    "KDTreeIndex",
    "BallTreeIndex",
    "KMeansIndex",
    "NativeSearch",
    "PEERS",
]

#: every peer class, for benchmarks and the conformance suite
PEERS: tuple[type[Index], ...] = (
    FaissFlatIndex,
    FaissLSHIndex,
    FaissHNSWIndex,
    FaissIVFIndex,
    HnswlibIndex,
    AnnoyIndex,
    KDTreeIndex,
    BallTreeIndex,
    KMeansIndex,
)

# the public home of the classes: configs (``recall.peers:X``, checked by exact module) and saved
# files (header ``module``) name it, so it stays stable whatever module a class is defined in
for _cls in (*PEERS, NativeSearch):
    _cls.__module__ = __name__
del _cls
