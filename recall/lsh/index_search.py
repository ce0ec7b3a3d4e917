"""The search path of an LSH index: query projection, bucket keys, the compiled multi-probe search.

:class:`_SearchPath` is the search half of :class:`recall.lsh.index_base._LSHIndex`: ``search``
takes a short path for finite float32 queries (compiled normalisation and projection of a few
rows, no BLAS thread-pool round trip), ``_search_projected`` hands the projections, the tables and
the stored rows (:mod:`recall.lsh.index_storage`) to the compiled kernel
(:func:`recall.lsh.kernels.search_batch`) and maps the rows it returns to ids. The Redis store
(:class:`recall.redis_store.RedisLSHStore`) runs the same ``_search_projected`` on the rows it
gathered, after ``_project_queries`` and ``_query_keys``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recall.base import SearchResult
from recall.lsh import kernels as K

__all__: list[str] = []


class _SearchPath:
    """The search of an LSH index (mixed into ``_LSHIndex`` before ``recall.base.Index``, whose
    validating ``search`` is the fallback of the short path)."""

    def search(self, queries: ArrayLike, k: int) -> SearchResult:
        """Top-k (nq, k) ids and scores for queries (nq, d) (or (d,)), padded with -1 / -inf.

        Validation is the base class's; a finite float32 C-contiguous array with ``k <= n``
        takes a short path (compiled normalisation, then hashing and search) so that a single
        query pays little Python overhead (about 25 us of a ~150 us query at 1M, issue 11).
        """
        if (
            type(queries) is np.ndarray
            and queries.dtype == np.float32
            and type(k) is int
            and self.hasher is not None
            and 1 <= k <= self._x.shape[0]
            and queries.flags.c_contiguous
            and 1 <= queries.ndim <= 2
            and queries.shape[-1] == self.dim
            and queries.size > 0
            and np.isfinite(queries).all()
        ):
            q = queries.reshape(-1, queries.shape[-1])
            if self.metric == "cosine":
                q = K.normalize_small(q)
            return self._search(q, k)
        return super().search(queries, k)

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        return self._search_projected(self._project_queries(queries), queries, k)

    def _project_queries(self, queries: NDArray[np.float32]) -> NDArray[np.float32]:
        """The hash projections (nq, L*m) float32 the search kernel keys the queries from."""
        assert self.hasher is not None
        h = self.hasher
        if queries.shape[0] <= 32:  # a BLAS call would wake its thread pool for a tiny product
            if h.kind == "e2lsh":
                return K.project_small(
                    queries, h.projections, h.offsets, np.float32(h.bucket_width), True
                )
            return K.project_small(queries, h.projections, h.projections[0], np.float32(1.0), False)
        return h.project(queries)

    def _query_keys(self, f: NDArray[np.float32]) -> NDArray[np.uint64]:
        """Home bucket keys (nq, L) uint64 of projections ``f``, as the search kernel forms them."""
        h = self.hasher
        if h.kind == "e2lsh":
            return K.combine_e2lsh(f, h.multipliers, h.n_tables, h.m)
        return K.combine_bits(f, h.n_tables, h.m)

    def _search_projected(
        self, f: NDArray[np.float32], queries: NDArray[np.float32], k: int
    ) -> SearchResult:
        """The search (probing, voting, re-rank) over the in-memory tables, from projections."""
        assert self.hasher is not None
        t = self._tables
        kind = K.KIND_E2LSH if self.hasher.kind == "e2lsh" else K.KIND_SIMHASH
        mults = getattr(self.hasher, "multipliers", np.zeros(1, dtype=np.uint64))
        strategy = K.STRATEGY_OR if self.strategy == "or" else K.STRATEGY_VOTE
        if strategy == K.STRATEGY_VOTE and self._seen.shape[0] != self._x.shape[0]:
            n = self._x.shape[0]
            self._stamp = np.zeros(n, dtype=np.int32)
            self._votes = np.zeros(n, dtype=np.int16)
            self._seen = np.zeros(n, dtype=np.int32)
        codes = self._codes
        if self.rerank == "int8" and codes.shape[0] == 0:
            self._store(self._x, self._rank, self._int_ids, self.hasher.keys(self._x))
            codes = self._codes
        elif self.rerank == "exact" and codes.shape[0]:
            codes = codes[:0]
        rows, scores, ncand, _, dropped = K.search_batch(
            f,
            kind,
            self.hasher.n_tables,
            self.hasher.m,
            mults,
            self.probes,
            strategy,
            self.votes_needed,
            t["perm"],
            t["dense"],
            t["slots"],
            t["hoff"],
            t["hbits"],
            self._x,
            self._norms,
            codes,
            self._scales,
            self._sk,
            self._sk_planes,
            self._sk_auto if self.sketch_radius is None else self.sketch_radius,
            self._cbuf,
            1 if self.layout == "clusters" else 0,
            max(self.refine_factor * k, 32),
            queries,
            K.METRIC_L2 if self.metric == "l2" else K.METRIC_DOT,
            k,
            self._stamp,
            self._votes,
            self._seen,
            self._bitmap,
            self._gen,
        )
        self._ncand = ncand
        self._ndropped = dropped
        ids = np.where(rows >= 0, self._int_ids[np.maximum(rows, 0)], -1)
        return SearchResult(ids, scores)
