"""Balanced LSH: cross-polytope hashing with data-aware splitting of oversized buckets.

:class:`BalancedLSHIndex` hashes with ``n_tables`` independent tables whose buckets have
*variable-length keys* (LSH-forest style): a bucket holding more than ``leaf_size`` points is split
again by one more hash function, only where it is needed.

Construction of one table:

- every hash function is a cross-polytope function on ``n_dirs`` (D') orthonormal random
  directions ``P`` (d, D'), *centred on the bucket it splits*: for a bucket with mean ``m``,
  ``h(v) = 2 i + [y_i < 0]`` with ``y = P^T (v - m)`` and ``i = argmax_i |y_i|`` (one of ``2 D'``
  sub-buckets); functions are drawn per table and per depth (shared by the buckets of that depth);
- the root bucket holds every point (centred on the data mean); a bucket larger than ``leaf_size``
  at depth < ``max_depth`` is split by the function of the next depth, recursively;
- inner product (``ip``): items are split into *norm ranges* (longest first, geometric sizes
  from ``4 * leaf_size``; ``n_ranges``), each with its own tables, and inside a range the search is
  reduced to Euclidean search for hashing only (Bachrach et al. 2014):
  ``v' = [v, sqrt(M_r^2 - |v|^2)]``, ``q' = [M_r q / |q|, 0]`` with ``M_r`` the range's largest
  norm (a tight reduction, as norms vary little inside a range); ranges are searched in order and
  the search stops before range ``r`` once ``|q| M_r`` (Cauchy-Schwarz) cannot beat the current
  k-th score. Candidates are always scored with the real metric.

Query (query-adaptive multi-probe, best first over all tables): a priority queue of buckets keyed
by the squared margins accumulated on the way down (``(max_j |y_j| - |y_i|)^2`` for leaving the
best sub-bucket for the near side of direction ``i``, ``(max_j |y_j| + |y_i|)^2`` for its far
side: the Lv et al. score of a cross-polytope probe). An expanded node's children are sorted once
and enumerated through one heap cursor, the best child is descended at once. Leaves are scanned
in that order until ``query_probes`` leaves were scanned or ``max_candidates`` distinct candidates
were met; probing every leaf is exact search. Candidates are de-duplicated with a
generation-stamped visited array (O(1), nothing cleared per query), prefetched leaf by leaf, scored
on ONE shared int8 copy of the vectors (per-dimension scales, query quantised to int16, int32
sums; rows stored in table 0's leaf order so its leaves are contiguous) and the best
``max(refine_factor * k, 32)`` re-ranked exactly in float32.

The construction (ranges, split trees, postings) and the check of saved arrays are in
:mod:`recall.lsh.balanced_build`, the compiled search in :mod:`recall.lsh.balanced_kernels`; this
module is the ``Index``: parameters, search entry points, statistics and persistence.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recall.base import Index, Metric, SearchResult
from recall.lsh._checks import check_int as _check_int
from recall.lsh.balanced_build import Forest, build_forest, check_state
from recall.lsh.balanced_kernels import METRIC_DOT, METRIC_L2, _search
from recall.lsh.build_kernels import quantize_rows

__all__ = ["BalancedLSHIndex"]


# ----------------------------------------------------------------------------- index
class BalancedLSHIndex(Index):
    """Cross-polytope LSH with data-aware bucket splitting, multi-probe and int8 scoring.

    Why this method (measured on the skewed family, 200k x 64): the tuned SimHash scored ~1,200
    candidates per query with its largest bucket at 8,700 items (85% of the query time in the
    candidate loop); flat cross-polytope hashing with Falconn++-style filtering, even centred and
    with 32k buckets per table, still left a 10k-item bucket, because the big clusters sit away
    from the global mean and all their points share one direction from it. Filtering (keeping a
    bucket's points with the largest projections) shrinks such a bucket but keeps the wrong points
    for queries inside the cluster. Re-centring *each oversized bucket* on its own mean and
    splitting it with one more cross-polytope function resolves the dense clusters and leaves
    sparse regions (outliers) in short keys, so every bucket holds at most ``leaf_size`` points.
    See the module docstring for the construction and the probing order.

    Parameters: ``n_tables`` (L), ``n_dirs`` (D' <= 16: a split has ``2 D'`` sub-buckets),
    ``leaf_size`` (largest unsplit bucket), ``max_depth`` (longest key, in functions),
    ``query_probes`` (leaves scanned per query over all tables), ``max_candidates`` (stop once
    that many distinct candidates were scored; 0 = off), ``refine_factor`` (int8-scored candidates
    re-ranked in float32: ``max(refine_factor * k, 32)``), ``n_ranges`` (``ip`` only: norm ranges,
    default enough for the first to hold ``4 * leaf_size`` items; ``query_probes`` then counts
    per range). ``query_probes``, ``max_candidates`` and ``refine_factor`` can be changed after the
    build with :meth:`set_search_params`.
    Not thread-safe: searches share a visited array.
    """

    _STATE_MAY_HOLD_INF = ("range_bound",)  # +inf: no norm bound (cosine / l2)

    name: ClassVar[str] = "balanced_lsh"
    search_params: ClassVar[tuple[str, ...]] = ("query_probes", "max_candidates", "refine_factor")

    def __init__(
        self,
        metric: Metric = "cosine",
        n_tables: int = 8,
        n_dirs: int = 8,
        leaf_size: int = 32,
        max_depth: int = 12,
        query_probes: int = 32,
        max_candidates: int = 0,
        refine_factor: int = 4,
        n_ranges: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        super().__init__(metric)
        self.n_ranges = None if n_ranges is None else _check_int("n_ranges", n_ranges, 1, 32)
        self.n_tables = _check_int("n_tables", n_tables, 1, 1024)
        self.n_dirs = _check_int("n_dirs", n_dirs, 1, 16)
        self.leaf_size = _check_int("leaf_size", leaf_size, 1)
        self.max_depth = _check_int("max_depth", max_depth, 1, 64)
        self.query_probes = _check_int("query_probes", query_probes, 1)
        self.max_candidates = _check_int("max_candidates", max_candidates, 0)
        self.refine_factor = _check_int("refine_factor", refine_factor, 1)
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, int | np.integer)
        ):
            raise ValueError("random_state must be an int or None (it is stored with the index)")
        self.random_state = None if random_state is None else int(random_state)
        self._reset()

    def params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_tables": self.n_tables,
            "n_dirs": self.n_dirs,
            "leaf_size": self.leaf_size,
            "max_depth": self.max_depth,
            "query_probes": self.query_probes,
            "max_candidates": self.max_candidates,
            "refine_factor": self.refine_factor,
            "n_ranges": self.n_ranges,
            "random_state": self.random_state,
        }

    def set_search_params(self, **kw: Any) -> BalancedLSHIndex:
        """Change ``query_probes`` / ``max_candidates`` / ``refine_factor`` without rebuilding."""
        unknown = sorted(set(kw) - set(self.search_params))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown search parameter(s) {unknown}; "
                f"settable: {list(self.search_params)}"
            )
        checked = {
            name: _check_int(name, v, 0 if name == "max_candidates" else 1)
            for name, v in kw.items()
        }
        for name, v in checked.items():
            setattr(self, name, v)
        return self

    # ---------------------------------------------------------------- Index hooks
    def _reset(self) -> None:
        self._proj = np.zeros((0, 0, 0), dtype=np.float32)  # (R*L*depth, dh, D')
        self._projT = np.zeros((0, 0, 0), dtype=np.float32)  # the same, (R*L*depth, D', dh)
        self._range_scale = np.ones(1, dtype=np.float32)  # (R,) max norm per range (ip)
        self._range_bound = np.full(1, np.inf, dtype=np.float32)
        self._x = np.zeros((0, 0), dtype=np.float32)  # internal row order
        self._rank = np.zeros(0, dtype=np.int32)  # insertion position of each internal row
        self._norms = np.zeros(0, dtype=np.float32)
        self._codes = np.zeros((0, 0), dtype=np.int8)
        self._scales = np.ones(0, dtype=np.float32)
        self._roots = np.zeros((0, 0), dtype=np.int64)
        self._nodes = np.zeros((0, 4), dtype=np.int32)  # [child, inner row, lo, hi] per node
        self._inner_f = np.zeros(0, dtype=np.int32)  # splitting function of each inner node
        self._node_pm = np.zeros((0, 0), dtype=np.float32)
        self._postings = np.zeros(0, dtype=np.int32)
        self._stamp = np.zeros(0, dtype=np.int32)
        self._gen = np.zeros(1, dtype=np.int64)
        self._ncand = np.zeros(0, dtype=np.int64)
        self._nleaves = np.zeros(0, dtype=np.int64)

    def _store(self, x: NDArray[np.float32], rank: NDArray[np.int32]) -> None:
        """Build every tree over ``x`` (n, d) float32 (:func:`build_forest`) and keep its arrays."""
        self._keep(
            build_forest(
                x,
                rank,
                metric=self.metric,
                n_tables=self.n_tables,
                n_dirs=self.n_dirs,
                leaf_size=self.leaf_size,
                max_depth=self.max_depth,
                n_ranges=self.n_ranges,
                random_state=self.random_state,
            )
        )

    def _keep(self, f: Forest) -> None:
        self._x, self._rank, self._proj = f.x, f.rank, f.proj
        self._range_scale, self._range_bound = f.range_scale, f.range_bound
        self._roots, self._nodes, self._inner_f = f.roots, f.nodes, f.inner_f
        self._node_pm, self._postings = f.node_pm, f.postings
        self._finish()

    def _finish(self) -> None:
        xs = self._x
        self._norms = np.einsum("ij,ij->i", xs, xs).astype(np.float32)
        amax = np.abs(xs).max(axis=0)
        self._scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        self._codes = np.empty(xs.shape, dtype=np.int8)
        quantize_rows(xs, self._scales, self._codes)  # = clip(rint(xs / scales)), no temporaries
        self._stamp = np.zeros(xs.shape[0], dtype=np.int32)
        self._gen = np.zeros(1, dtype=np.int64)
        self._projT = np.ascontiguousarray(self._proj.transpose(0, 2, 1))

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        n_old = self._x.shape[0]
        rank_new = np.arange(n_old, n_old + vectors.shape[0], dtype=np.int32)
        if n_old == 0:
            self._store(vectors, rank_new)
            return
        self._store(np.concatenate([self._x, vectors]), np.concatenate([self._rank, rank_new]))

    def search(self, queries: ArrayLike, k: int) -> SearchResult:
        """Top-k (nq, k) ids and scores for queries (nq, d) (or (d,)), padded with -1 / -inf.

        Validation is the base class's; a finite float32 C-contiguous array takes a short path
        (one compiled call: normalisation, hashing, probing, scoring, id mapping) so that a
        single query pays little Python overhead.
        """
        if (
            type(queries) is np.ndarray
            and queries.dtype == np.float32
            and type(k) is int
            and k >= 1
            and self.dim is not None
            and self._x.shape[0] > 0
            and queries.flags.c_contiguous
            and 1 <= queries.ndim <= 2
            and queries.shape[-1] == self.dim
            and queries.size > 0
            and np.isfinite(queries).all()
        ):
            return self._run(queries.reshape(-1, self.dim), k, self.metric == "cosine")
        return super().search(queries, k)

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        return self._run(queries, k, False)

    def _run(self, queries: NDArray[np.float32], k: int, normalize: bool) -> SearchResult:
        ids, scores, ncand, nleaves = _search(
            queries,
            normalize,
            self.metric == "ip",
            self._rank,
            self._ids,
            self._projT,
            self.max_depth,
            self._roots,
            self._range_scale,
            self._range_bound,
            self._nodes,
            self._inner_f,
            self._node_pm,
            self._postings,
            self.query_probes,
            self.max_candidates,
            self._codes,
            self._scales,
            self._x,
            self._norms,
            METRIC_L2 if self.metric == "l2" else METRIC_DOT,
            k,
            max(self.refine_factor * k, 32),
            self._stamp,
            self._gen,
        )
        self._ncand = ncand
        self._nleaves = nleaves
        return SearchResult(ids, scores)

    # ---------------------------------------------------------------- stats and persistence
    def _arrays(self) -> dict[str, NDArray]:
        """Every array the index holds (what ``memory_bytes`` adds up)."""
        return {
            "vectors_f32": self._x,
            "codes_int8": self._codes,
            "scales": self._scales,
            "norms": self._norms,
            "ids": self._ids,
            "rank": self._rank,
            "postings": self._postings,
            "nodes": self._nodes,
            "inner_functions": self._inner_f,
            "node_projections": self._node_pm,
            "roots": self._roots,
            "range_scale": self._range_scale,
            "range_bound": self._range_bound,
            "projections": self._proj,
            "projections_t": self._projT,
            "visited": self._stamp,
        }

    def _stats(self) -> dict[str, float]:
        arrays = self._arrays()
        total = sum(int(a.nbytes) for a in arrays.values())
        n = max(1, self._x.shape[0])
        out: dict[str, float] = {f"{name}_bytes": float(a.nbytes) for name, a in arrays.items()}
        leaf = self._nodes[:, 0] < 0
        sizes = (self._nodes[:, 3] - self._nodes[:, 2])[leaf] if leaf.any() else np.zeros(1)
        sizes = sizes[sizes > 0] if np.any(sizes > 0) else np.zeros(1, dtype=np.int64)
        out.update(
            {
                "memory_bytes": float(total),
                "bytes_per_item": float(total / n),
                "memory_vs_float32": float(total / max(1, self._x.nbytes)),
                "n_tables": float(self.n_tables),
                "n_dirs": float(self.n_dirs),
                "query_probes": float(self.query_probes),
                "n_nodes": float(self._nodes.shape[0]),
                "n_leaves": float(sizes.size),
                "mean_candidates": float(self._ncand.mean()) if self._ncand.size else math.nan,
                "mean_leaves_scanned": float(self._nleaves.mean())
                if self._nleaves.size
                else math.nan,
                "bucket_size_max": float(sizes.max()),
                "bucket_size_mean": float(sizes.mean()),
                "bucket_size_item_mean": float(
                    (sizes.astype(np.float64) ** 2).sum() / max(1, sizes.sum())
                ),
            }
        )
        return out

    def _get_state(self) -> dict[str, NDArray]:
        return {
            "vectors": self._x,
            "rank": self._rank,
            "projections": self._proj,
            "range_scale": self._range_scale,
            "range_bound": self._range_bound,
            "roots": self._roots,
            "nodes": self._nodes,
            "inner_f": self._inner_f,
            "node_pm": self._node_pm,
            "postings": self._postings,
        }

    def _set_state(self, state: dict[str, NDArray]) -> None:
        n = self._ids.shape[0]
        d = int(self.dim or 0)
        self._keep(
            check_state(state, n, d, self.metric, self.n_tables, self.n_dirs, self.max_depth)
        )
