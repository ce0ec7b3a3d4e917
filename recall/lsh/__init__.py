"""Locality-sensitive hashing: hashers, bucket tables, compiled search, indexes, tuning, features.

One file per idea:

==========================  ==================================================================
module                      what
==========================  ==================================================================
``hashers``                 E2LSH (p-stable) and SimHash (random hyperplane) hash functions
``crosspolytope``           cross-polytope hash functions (the balanced index's)
``scales``                  data-driven parameters: k-NN distance scale, hashes per bucket size
``tables``                  in-memory bucket tables (CSR + open-addressing key map)
``_checks``                 the integer-parameter check the index classes share
``build_kernels``           compiled build steps: counting sort of buckets, int8 quantisation
``hash_kernels``            compiled key combining, projection and normalisation of a few rows
``score_kernels``           compiled candidate scores (float32, int8) and sign sketches
``kernels``                 compiled multi-probe search: probe sequence, scan, vote, re-rank
``prefetch``                the CPU prefetch hint both search kernels use (no-op fallback)
``index_base``              ``_LSHIndex``: parameters, voting rule, knobs, stats, save / load
``index_storage``           its storage: row order, bucket tables, int8 copies, sketches
``index_search``            its search path: query projection, keys, the compiled search
``index``                   ``E2LSHIndex``, ``SimHashIndex``: OR / AND / vote, multi-probe
``balanced_kernels``        compiled search of the balanced index
``balanced``                ``BalancedLSHIndex``: cross-polytope LSH, oversized buckets split
``redis_buckets``           ``RedisBuckets``: bucket storage in Redis (``recall.redis_store``'s)
``redis_codec``             its key layout, format tag and value codecs
``redis_base``              connection, metadata, guard messages, script calls
``redis_writes``            build / add / update / delete (visible only when complete)
``redis_query``             the one-round-trip gather of a query's buckets
``redis_verify``            ``verify`` (re-hash stored vectors), bucket sizes
``redis_lua``               its Lua scripts: guarded, atomic writes and reads
``tuning``                  ``tune`` and the tuners' public names: reach a target knn-recall
``tuning_common``           ``TuningResult``, query sample, truth, timed batch search
``tuning_hashing``          ``tune_lsh`` (E2LSH / SimHash grid, probes by doubling + bisection)
``tuning_balanced``         ``tune_balanced_lsh`` (balanced grid or SimHash, memory cap)
``features``                ``LSHBucketFeatures``: bucket ids as sparse features (scikit-learn)
==========================  ==================================================================

:class:`recall.redis_store.RedisLSHStore` is the ``index`` with its buckets in Redis
(``redis_buckets``): the same search kernel runs over the buckets a batch touches. Everything
public is re-exported here, so ``from recall.lsh import SimHashIndex, tune_lsh`` works; index
files saved before the package (module ``recall.lsh_balanced``) or before ``index`` was split
(module ``recall.lsh.index``) still load (``recall.base.load_index``;
``tests/test_lsh_saved_files.py``).
"""

from __future__ import annotations

from typing import Any

from recall.lsh.balanced import BalancedLSHIndex
from recall.lsh.hashers import E2LSHHasher, SimHashHasher, hasher_from_arrays
from recall.lsh.index import STRATEGIES, E2LSHIndex, SimHashIndex, Strategy
from recall.lsh.scales import bucket_size_profile, knn_distance_scale, params_for_bucket_size

__all__ = [
    "E2LSHHasher",
    "SimHashHasher",
    "hasher_from_arrays",
    "E2LSHIndex",
    "SimHashIndex",
    "BalancedLSHIndex",
    "Strategy",
    "STRATEGIES",
    "knn_distance_scale",
    "bucket_size_profile",
    "params_for_bucket_size",
    "tune_lsh",
    "tune_balanced_lsh",
    "TuningResult",
    "LSHBucketFeatures",
]

# the public home of the classes: configs name them ``recall.lsh:SimHashIndex`` and saved index
# files record ``module = "recall.lsh"``, which stays valid however the package's files move
for _cls in (E2LSHIndex, SimHashIndex, BalancedLSHIndex, E2LSHHasher, SimHashHasher):
    _cls.__module__ = __name__
del _cls

# tuning (pandas, exact search) and features (scikit-learn) load on first use
_LAZY = {
    "tune_lsh": "recall.lsh.tuning",
    "tune_balanced_lsh": "recall.lsh.tuning",
    "TuningResult": "recall.lsh.tuning",
    "LSHBucketFeatures": "recall.lsh.features",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recall.lsh' has no attribute {name!r}")
