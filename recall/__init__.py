"""embrecall.recall: nearest-neighbour indexes (exact, LSH, peers), the runner and benchmarks.

Map (the README's "What is inside" table is the same):

- ``base``: the ``Index`` contract (build / add / search / set_search_params / stats / save / load);
- ``exact``: ``ExactIndex`` and ``exact_knn`` (ground truth); top-k and knn-recall come from
  ``embeddings.neighbours``;
- ``lsh/``: hashers, bucket tables (in memory or ``redis_buckets``), search kernels, the E2LSH /
  SimHash / balanced cross-polytope indexes, tuning, bucket features; ``redis_store``: the LSH
  index on Redis buckets;
- ``peers/``: one module per library (faiss, hnswlib, annoy, sklearn) and our k-means IVF;
- ``spark/``: batch recall for all users on Spark (bucket join, BRP, exact, sampled comparison);
- ``experiment/``: the runner, one stage per module; ``report``, ``summary``, ``plots``,
  ``measure``: what it writes and how it times;
- ``cli``: the ``embrecall`` command (nothing in the library imports it);
- ``bench/``: benchmarks on the shared scaffold of ``bench/harness``.
"""

from recall.base import METRICS, Index, SearchResult, load_index

__all__ = ["Index", "SearchResult", "METRICS", "load_index"]
