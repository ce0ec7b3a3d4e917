"""The LSH indexes over E2LSH and SimHash hashers: OR / AND / vote strategies, multi-probe.

:class:`E2LSHIndex` (``l2`` by default; also ``cosine`` / ``ip``, which hash the normalised or raw
vectors) and :class:`SimHashIndex` (``cosine``) with ``strategy`` ``"or"`` (candidate if in a
probed bucket of any table), ``"and"`` (of every table) or ``"vote"`` (of at least ``min_votes``
tables), multi-probe over ``n_probes`` buckets in all (home buckets first, then the Lv et al. 2007
perturbation sequence ordered globally by score: for E2LSH the squared distances to the bucket
boundaries, for SimHash the squared margins of the flipped bits, least confident first),
candidates de-duplicated and re-ranked by exact score. Search-time knobs (``n_probes``,
``refine_factor``) are changed with ``set_search_params``.

The shared machinery lives beside this file: :mod:`recall.lsh.index_base` (``_LSHIndex``:
parameters, ``set_search_params``, stats, save / load), :mod:`recall.lsh.index_storage` (row
order, bucket tables, int8 copies, sketches) and :mod:`recall.lsh.index_search` (the compiled
search path). Saved index files name this module (or ``recall.lsh``): both keep loading.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from recall.base import Metric
from recall.lsh._checks import check_int as _check_int
from recall.lsh.hashers import E2LSHHasher, SimHashHasher
from recall.lsh.index_base import STRATEGIES, Strategy, _LSHIndex
from recall.lsh.scales import knn_distance_scale, params_for_bucket_size

__all__ = ["E2LSHIndex", "SimHashIndex", "Strategy", "STRATEGIES"]


class E2LSHIndex(_LSHIndex):
    """Euclidean p-stable LSH (E2LSH) with OR / AND / vote strategies and multi-probe.

    ``n_hashes`` (m) and ``bucket_width`` (w) default to data-driven values at build time:
    ``w = 4 R`` (R = median 10-NN distance, the E2LSH manual's rule) and ``m`` giving a mean bucket
    size near ``sqrt(n)`` (:func:`params_for_bucket_size`). ``n_probes`` is the number of buckets
    probed over all tables (default ``4 * n_tables``; ``n_tables`` = no multi-probe).
    Not thread-safe: searches share scratch arrays.
    """

    name: ClassVar[str] = "e2lsh"

    def __init__(
        self,
        metric: Metric = "l2",
        n_tables: int = 8,
        n_hashes: int | None = None,
        bucket_width: float | None = None,
        strategy: Strategy = "or",
        min_votes: int | None = None,
        n_probes: int | None = None,
        rerank: Literal["int8", "exact"] = "int8",
        refine_factor: int = 8,
        contiguous_bytes: int = 2**30,
        random_state: int | None = 0,
        sketch_bits: int = 0,
        sketch_radius: int | None = None,
        layout: Literal["buckets", "clusters"] = "buckets",
    ) -> None:
        if n_hashes is not None:
            _check_int("n_hashes", n_hashes, 1, 32)
        if bucket_width is not None and not (
            isinstance(bucket_width, int | float | np.floating) and 0 < bucket_width < float("inf")
        ):
            raise ValueError(f"bucket_width must be a positive number, got {bucket_width!r}")
        self.n_hashes = n_hashes
        self.bucket_width = None if bucket_width is None else float(bucket_width)
        super().__init__(
            metric,
            n_tables,
            strategy,
            min_votes,
            n_probes,
            rerank,
            refine_factor,
            contiguous_bytes,
            random_state,
            sketch_bits,
            sketch_radius,
            layout,
        )

    def params(self) -> dict[str, Any]:
        return {**super().params(), "n_hashes": self.n_hashes, "bucket_width": self.bucket_width}

    def _make_hasher(self, x: NDArray[np.float32]) -> E2LSHHasher:
        rng = np.random.default_rng(self.random_state)
        w = self.bucket_width
        m = self.n_hashes
        if w is None:
            w = 4.0 * knn_distance_scale(x, random_state=rng)
        if m is None:
            target = max(8.0, math.sqrt(x.shape[0]))
            m = int(
                params_for_bucket_size(x, target, "e2lsh", bucket_width=w, random_state=rng)[
                    "n_hashes"
                ]
            )
        return E2LSHHasher(x.shape[1], self.n_tables, m, w, random_state=self.random_state)


class SimHashIndex(_LSHIndex):
    """Random-hyperplane (SimHash) LSH for cosine similarity, OR / AND / vote and multi-probe.

    ``n_bits`` per table defaults to about ``log2(n)`` bounded so that the mean bucket size stays
    near ``sqrt(n)`` (:func:`params_for_bucket_size`). Not thread-safe.
    """

    name: ClassVar[str] = "simhash"

    def __init__(
        self,
        metric: Metric = "cosine",
        n_tables: int = 8,
        n_bits: int | None = None,
        strategy: Strategy = "or",
        min_votes: int | None = None,
        n_probes: int | None = None,
        rerank: Literal["int8", "exact"] = "int8",
        refine_factor: int = 8,
        contiguous_bytes: int = 2**30,
        random_state: int | None = 0,
        sketch_bits: int = 0,
        sketch_radius: int | None = None,
        layout: Literal["buckets", "clusters"] = "buckets",
    ) -> None:
        if n_bits is not None:
            _check_int("n_bits", n_bits, 1, 64)
        self.n_bits = n_bits
        super().__init__(
            metric,
            n_tables,
            strategy,
            min_votes,
            n_probes,
            rerank,
            refine_factor,
            contiguous_bytes,
            random_state,
            sketch_bits,
            sketch_radius,
            layout,
        )

    def params(self) -> dict[str, Any]:
        return {**super().params(), "n_bits": self.n_bits}

    def _make_hasher(self, x: NDArray[np.float32]) -> SimHashHasher:
        m = self.n_bits
        if m is None:
            rng = np.random.default_rng(self.random_state)
            target = max(8.0, math.sqrt(x.shape[0]))
            m = int(params_for_bucket_size(x, target, "simhash", random_state=rng)["n_bits"])
            m = min(m, max(1, int(round(math.log2(max(2, x.shape[0]))))))
        return SimHashHasher(x.shape[1], self.n_tables, m, random_state=self.random_state)
