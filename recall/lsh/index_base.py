"""The shared LSH index class: parameters, search-time knobs, statistics, save / load.

:class:`_LSHIndex` is what :class:`recall.lsh.index.E2LSHIndex` and
:class:`recall.lsh.index.SimHashIndex` (and :class:`recall.redis_store.RedisLSHStore`) share. It is
put together from one module per job: this one (the parameters and their checks, the voting rule
``or`` / ``and`` / ``vote``, ``set_search_params``, ``stats``, the arrays ``save`` writes and
``load`` reads back), :mod:`recall.lsh.index_storage` (row order, bucket tables, int8 copies,
sketches) and :mod:`recall.lsh.index_search` (query projection and the compiled search).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from recall.base import Index, Metric
from recall.lsh._checks import check_int as _check_int
from recall.lsh.hashers import E2LSHHasher, SimHashHasher, hasher_from_arrays
from recall.lsh.index_search import _SearchPath
from recall.lsh.index_storage import _Storage
from recall.lsh.tables import bucket_sizes

__all__ = ["Strategy", "STRATEGIES"]

Strategy = Literal["or", "and", "vote"]
STRATEGIES = ("or", "and", "vote")


class _LSHIndex(_Storage, _SearchPath, Index):
    """Shared machinery: tables, strategies, multi-probe search, stats, persistence (storage in
    ``_Storage``, :mod:`recall.lsh.index_storage`; search in ``_SearchPath``,
    :mod:`recall.lsh.index_search`).

    Storage: the vectors are kept in the order of table 0's buckets (ties by insertion rank), so
    table 0's candidates are contiguous in memory and items of one region sit close together.
    With ``rerank="int8"`` every candidate is first scored on an int8 copy of the vectors
    (per-dimension scales, a quarter of the memory traffic) and the best
    ``max(refine_factor * k, 32)`` are re-ranked with exact float32 scores; ``rerank="exact"``
    scores every candidate exactly. Returned scores are always exact. With int8 codes, tables get
    their own copy of the codes in bucket order (as many tables as ``contiguous_bytes`` allows,
    table 0 always) so that scanning a bucket streams contiguous memory.

    ``sketch_bits`` > 0 (OR strategy, int8 re-rank; default 0 = off) gives every table *without*
    its own int8 copy a compact per-item sketch instead: ``sketch_bits`` (<= 32) random-hyperplane
    sign bits of the vector, shared by all tables but stored (uint32) in each table's bucket order,
    4 bytes per item per table instead of ``d``. Scanning such a table streams the sketches and
    scores (int8, random access) only the candidates within ``sketch_radius`` bits of the query's
    sketch. Why: at 1M x 64 a candidate's random int8 row costs a cache miss while a streamed
    sketch costs a few bytes of bandwidth, so most of the contiguous copies' speed is kept at
    1/16 of their memory (the Gaussian-mixture memory goal, issue 11). ``sketch_radius=None``
    (default) is chosen at build from the data: the 99.5th percentile of the sketch Hamming
    distance between 256 sampled rows and their exact 10 nearest neighbours, plus one.

    ``layout="clusters"`` (default ``"buckets"``) orders the rows by k-means cell (about 2,048 rows
    a cell), then by table-0 key: the candidates of one query come from a few cells, so the random
    int8 reads of the tables without their own copy fall on nearby memory (pages, prefetch);
    table 0 then loses its contiguous copy (copies 1.. remain). Sketches need ``"buckets"``.
    Measured at 1M x 64 on the Gaussian mixture under heavy shared load (issue 11): both the
    sketches and the cluster layout gave about +10-15% single-query CPU QPS over the same memory
    spent on a second int8 copy, far from the 2x of a copy per table: with neighbours barely
    closer than their cluster-mates, a 32-bit sketch drops only ~20-30% of the candidates, and
    4-bit or PQ codes lose the true neighbours (4-bit: 0.68 recall@10 after re-ranking 40).
    """

    name: ClassVar[str] = "lsh"
    #: names accepted by ``set_search_params`` (search-time knobs, no rebuild)
    search_params: ClassVar[tuple[str, ...]] = ("n_probes", "refine_factor", "sketch_radius")

    def __init__(
        self,
        metric: Metric,
        n_tables: int,
        strategy: Strategy,
        min_votes: int | None,
        n_probes: int | None,
        rerank: Literal["int8", "exact"],
        refine_factor: int,
        contiguous_bytes: int,
        random_state: int | None,
        sketch_bits: int = 0,
        sketch_radius: int | None = None,
        layout: Literal["buckets", "clusters"] = "buckets",
    ) -> None:
        super().__init__(metric)
        if layout not in ("buckets", "clusters"):
            raise ValueError(f"layout must be 'buckets' or 'clusters', got {layout!r}")
        if layout == "clusters" and sketch_bits:
            raise ValueError("sketch_bits needs layout='buckets' (sketches follow table order)")
        self.layout = layout
        self.contiguous_bytes = _check_int("contiguous_bytes", contiguous_bytes, 0)
        self.sketch_bits = _check_int("sketch_bits", sketch_bits, 0, 32)
        if sketch_radius is not None:
            _check_int("sketch_radius", sketch_radius, 0)
        self.sketch_radius = sketch_radius
        self.n_tables = _check_int("n_tables", n_tables, 1, 4096)
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
        self.strategy: Strategy = strategy
        if min_votes is not None:
            _check_int("min_votes", min_votes, 1, self.n_tables)
            if strategy != "vote":
                raise ValueError(f"min_votes is only used with strategy='vote', not {strategy!r}")
        self.min_votes = min_votes
        if n_probes is not None:
            _check_int("n_probes", n_probes, self.n_tables)
        self.n_probes = n_probes
        if rerank not in ("int8", "exact"):
            raise ValueError(f"rerank must be 'int8' or 'exact', got {rerank!r}")
        self.rerank = rerank
        self.refine_factor = _check_int("refine_factor", refine_factor, 1)
        if random_state is not None and not isinstance(random_state, int | np.integer):
            raise ValueError("random_state must be an int or None (it is stored with the index)")
        self.random_state = None if random_state is None else int(random_state)
        self.hasher: E2LSHHasher | SimHashHasher | None = None
        self._reset()

    def set_search_params(self, **kw: Any) -> _LSHIndex:
        """Change ``n_probes`` (>= 1) / ``refine_factor`` (>= 1) / ``sketch_radius`` (>= 0; from ``sketch_bits`` on, no filtering; or
        None = the radius chosen at build) without rebuilding.

        ``n_probes`` below ``n_tables`` probes the home buckets of the first ``n_probes`` tables
        only (as a search grid may ask; the constructor keeps its ``>= n_tables`` rule).

        All values are checked before any is applied: a rejected call changes nothing.
        """
        unknown = sorted(set(kw) - set(self.search_params))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown search parameter(s) {unknown}; "
                f"settable: {list(self.search_params)}"
            )
        checked: dict[str, Any] = {}
        if "n_probes" in kw:
            v = kw["n_probes"]
            checked["n_probes"] = None if v is None else _check_int("n_probes", v, 1)
        if "refine_factor" in kw:
            checked["refine_factor"] = _check_int("refine_factor", kw["refine_factor"], 1)
        if "sketch_radius" in kw:
            v = kw["sketch_radius"]
            checked["sketch_radius"] = None if v is None else _check_int("sketch_radius", v, 0)
        for name, v in checked.items():
            setattr(self, name, v)
        return self

    # ---------------------------------------------------------------- resolved parameters
    @property
    def votes_needed(self) -> int:
        """Tables an item must share a probed bucket with: 1 (or), L (and), min_votes (vote)."""
        if self.strategy == "or":
            return 1
        if self.strategy == "and":
            return self.n_tables
        return self.min_votes if self.min_votes is not None else (self.n_tables + 1) // 2

    @property
    def probes(self) -> int:
        """Buckets probed per query over all tables (home buckets included)."""
        return self.n_probes if self.n_probes is not None else 4 * self.n_tables

    def params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_tables": self.n_tables,
            "strategy": self.strategy,
            "min_votes": self.min_votes,
            "n_probes": self.n_probes,
            "rerank": self.rerank,
            "refine_factor": self.refine_factor,
            "contiguous_bytes": self.contiguous_bytes,
            "sketch_bits": self.sketch_bits,
            "sketch_radius": self.sketch_radius,
            "layout": self.layout,
            "random_state": self.random_state,
        }

    def _stats(self) -> dict[str, float]:
        t = self._tables
        table_bytes = sum(int(a.nbytes) for a in t.values())
        vec_bytes = int(
            self._x.nbytes
            + self._norms.nbytes
            + self._codes.nbytes
            + self._sk.nbytes
            + self._sk_planes.nbytes
        )
        other = int(
            self._stamp.nbytes
            + self._votes.nbytes
            + self._seen.nbytes
            + self._bitmap.nbytes
            + self._cbuf.nbytes
        )
        other += int(self._rank.nbytes + self._int_ids.nbytes + self._ids.nbytes)
        other += int(self._scales.nbytes + self._gen.nbytes)
        if self.hasher is not None:
            other += sum(int(a.nbytes) for a in self.hasher.to_arrays().values())
        out: dict[str, float] = {
            "n_tables": float(self.n_tables),
            "hashes_per_table": float(self.hasher.m if self.hasher else 0),
            "n_probes": float(self.probes),
            "votes_needed": float(self.votes_needed),
            "table_bytes": float(table_bytes),
            "vector_bytes": float(vec_bytes),
            "memory_bytes": float(table_bytes + vec_bytes + other),
            "mean_candidates": float(self._ncand.mean()) if self._ncand.size else float("nan"),
            "mean_sketch_dropped": (
                float(self._ndropped.mean()) if self._ndropped.size else float("nan")
            ),
            "sketch_bytes": float(self._sk.nbytes + self._sk_planes.nbytes),
            "sketch_radius": float(
                self._sk_auto if self.sketch_radius is None else self.sketch_radius
            ),
        }
        if self.hasher is not None and self.hasher.kind == "e2lsh":
            out["bucket_width"] = float(self.hasher.bucket_width)  # type: ignore[union-attr]
        if t:
            sizes = bucket_sizes(t).astype(np.float64)
            n = max(1, self._x.shape[0])
            out.update(
                {
                    "n_buckets": float(sizes.size),
                    "bucket_size_mean": float(sizes.mean()),
                    "bucket_size_item_mean": float((sizes**2).sum() / (n * self.n_tables)),
                    "bucket_size_max": float(sizes.max()),
                    "bucket_size_p50": float(np.percentile(sizes, 50)),
                    "bucket_size_p90": float(np.percentile(sizes, 90)),
                    "bucket_size_p99": float(np.percentile(sizes, 99)),
                }
            )
        return out

    def _get_state(self) -> dict[str, NDArray]:
        assert self.hasher is not None
        state = {f"h_{k}": v for k, v in self.hasher.to_arrays().items()}
        state["vectors"] = self._x
        state["rank"] = self._rank
        if self._sk_planes.size:
            state["sk_planes"] = self._sk_planes
        return state

    def _set_state(self, state: dict[str, NDArray]) -> None:
        hashers = {k[2:]: v for k, v in state.items() if k.startswith("h_")}
        hasher = hasher_from_arrays(hashers)
        x = np.ascontiguousarray(state["vectors"], dtype=np.float32)
        rank = np.asarray(state["rank"], dtype=np.int64)
        n = self._ids.shape[0]
        if x.shape != (n, self.dim) or rank.shape != (n,) or hasher.dim != self.dim:
            raise ValueError("LSH index file: arrays inconsistent with the ids / dimension")
        if not np.array_equal(np.sort(rank), np.arange(n)):
            raise ValueError("LSH index file: corrupt row ranks")
        if hasher.n_tables != self.n_tables:
            raise ValueError("LSH index file: hasher tables differ from the index parameters")
        self.hasher = hasher
        if "sk_planes" in state:
            planes = np.ascontiguousarray(state["sk_planes"], dtype=np.float32)
            if planes.shape != (self.dim, self.sketch_bits):
                raise ValueError("LSH index file: sketch planes inconsistent with sketch_bits")
            self._sk_planes = planes
        self._store(x, rank, self._ids[rank], hasher.keys(x))
