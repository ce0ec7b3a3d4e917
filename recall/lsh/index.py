"""The LSH indexes over E2LSH and SimHash hashers: OR / AND / vote strategies, multi-probe.

:class:`E2LSHIndex` (``l2`` by default; also ``cosine`` / ``ip``, which hash the normalised or raw
vectors) and :class:`SimHashIndex` (``cosine``) with ``strategy`` ``"or"`` (candidate if in a
probed bucket of any table), ``"and"`` (of every table) or ``"vote"`` (of at least ``min_votes``
tables), multi-probe over ``n_probes`` buckets in all (home buckets first, then the Lv et al. 2007
perturbation sequence ordered globally by score: for E2LSH the squared distances to the bucket
boundaries, for SimHash the squared margins of the flipped bits, least confident first),
candidates de-duplicated and re-ranked by exact score. Search-time knobs (``n_probes``,
``refine_factor``) are changed with ``set_search_params``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.neighbours import exact_search
from recall.base import Index, Metric, SearchResult
from recall.lsh import kernels as K
from recall.lsh._checks import check_int as _check_int
from recall.lsh.build_kernels import quantize_rows
from recall.lsh.hashers import E2LSHHasher, SimHashHasher, hasher_from_arrays
from recall.lsh.scales import knn_distance_scale, params_for_bucket_size
from recall.lsh.tables import bucket_sizes, build_tables

__all__ = ["E2LSHIndex", "SimHashIndex", "Strategy", "STRATEGIES"]

log = logging.getLogger(__name__)

Strategy = Literal["or", "and", "vote"]
STRATEGIES = ("or", "and", "vote")


def _cells(
    x: NDArray[np.float32], rank: NDArray[np.int64], random_state: int | None
) -> NDArray[np.int64]:
    """k-means cells (n,) int64 of the rows (about 2,048 rows a cell; Lloyd, 8 rounds on a
    sample of at most 32,768 rows in insertion order, seeded), for a cache-friendly row order."""
    n = x.shape[0]
    n_cells = int(np.clip(n // 2048, 1, 1024))
    if n_cells == 1:
        return np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(random_state).spawn(4)[3])
    by_rank = np.argsort(rank)
    sample = x[by_rank[np.sort(rng.choice(n, size=min(n, 32_768), replace=False))]]
    c = sample[rng.choice(sample.shape[0], size=n_cells, replace=False)].copy()
    for _ in range(8):
        a = np.argmax(sample @ c.T - 0.5 * np.einsum("ij,ij->i", c, c)[None, :], axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, a, sample)
        cnt = np.bincount(a, minlength=n_cells)
        keep = cnt > 0
        c[keep] = sums[keep] / cnt[keep, None]
    half = 0.5 * np.einsum("ij,ij->i", c, c)[None, :]
    out = np.empty(n, dtype=np.int64)
    for s in range(0, n, 65_536):
        out[s : s + 65_536] = np.argmax(x[s : s + 65_536] @ c.T - half, axis=1)
    return out


def _aligned_int8(shape: tuple[int, int, int]) -> NDArray[np.int8]:
    """An uninitialised C-contiguous int8 array starting on a 64-byte (cache line) boundary, so
    that a row of 64 codes is one cache line, not two (``nbytes`` is the shape's, the slack of
    at most 63 bytes is not counted)."""
    size = int(np.prod(shape))
    raw = np.empty(size + 64, dtype=np.int8)
    off = (-raw.ctypes.data) % 64
    return raw[off : off + size].reshape(shape)


class _LSHIndex(Index):
    """Shared machinery: tables, strategies, multi-probe search, stats, persistence.

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

    # ---------------------------------------------------------------- Index hooks
    def _reset(self) -> None:
        self.hasher = None
        self._x = np.zeros((0, 0), dtype=np.float32)  # internal (table-0 bucket) order
        self._rank = np.zeros(0, dtype=np.int64)  # insertion position of each internal row
        self._int_ids = np.zeros(0, dtype=np.int64)  # ids in internal order
        self._norms = np.zeros(0, dtype=np.float32)
        self._codes = np.zeros((0, 0, 1), dtype=np.int8)
        self._scales = np.ones(1, dtype=np.float32)
        self._sk = np.zeros((0, 0), dtype=np.uint32)  # (L - copies, n) sketches in bucket order
        self._sk_planes = np.zeros((0, 0), dtype=np.float32)  # (d, sketch_bits)
        self._sk_auto = 32  # the radius chosen at build (sketch_radius=None)
        self._tables: dict[str, NDArray] = {}
        self._ncand = np.zeros(0, dtype=np.int64)
        self._ndropped = np.zeros(0, dtype=np.int64)
        self._scratch()

    def _scratch(self) -> None:
        n = self._x.shape[0]
        nv = n if self.strategy != "or" else 0  # vote bookkeeping, only for AND / vote
        self._stamp = np.zeros(nv, dtype=np.int32)
        self._votes = np.zeros(nv, dtype=np.int16)
        self._seen = np.zeros(nv, dtype=np.int32)
        self._gen = np.zeros(1, dtype=np.int64)
        self._bitmap = np.zeros((n + 63) // 64, dtype=np.uint64)
        self._cbuf = np.zeros(n, dtype=np.int32)

    def _make_hasher(self, x: NDArray[np.float32]) -> E2LSHHasher | SimHashHasher:
        raise NotImplementedError

    def _store(
        self,
        x: NDArray[np.float32],
        rank: NDArray[np.int64],
        ids: NDArray[np.int64],
        keys: NDArray[np.uint64],
    ) -> None:
        """Sort everything by (table-0 key, insertion rank), or by (k-means cell, table-0 key,
        rank) with ``layout="clusters"``, and build tables and int8 codes."""
        if self.layout == "clusters":
            order = np.lexsort((rank, keys[:, 0], _cells(x, rank, self.random_state)))
        else:
            order = np.lexsort((rank, keys[:, 0]))
        self._x = np.ascontiguousarray(x[order])
        self._rank = rank[order]
        self._int_ids = ids[order]
        keys = np.ascontiguousarray(keys[order])
        self._norms = np.einsum("ij,ij->i", self._x, self._x).astype(np.float32)
        # direct addressing (2**m offsets per table) only when it is not much larger than the
        # items: a Redis query's few hundred gathered rows use the hash map (cheaper to build)
        m = self.hasher.m
        dense = m if self.hasher.kind == "simhash" and m <= 20 and (1 << m) <= 4 * len(x) else 0
        self._tables = build_tables(keys, dense_bits=dense)
        n, d = self._x.shape
        if self.rerank == "int8":
            amax = np.abs(self._x).max(axis=0)
            scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            n_copies = int(min(self.n_tables, max(1, self.contiguous_bytes // max(1, n * d))))
            codes = _aligned_int8((n_copies, n, d))
            quantize_rows(self._x, scales, codes[0])
            perm = self._tables["perm"]
            for t in range(1, n_copies):
                np.take(codes[0], perm[t], axis=0, out=codes[t])
            self._codes = codes
            self._scales = scales
            self._store_sketches(perm, n_copies)
        else:
            self._codes = np.zeros((0, n, d), dtype=np.int8)
            self._scales = np.ones(d, dtype=np.float32)
        self._scratch()

    def _store_sketches(self, perm: NDArray[np.int32], n_copies: int) -> None:
        """Sketches of the tables without a contiguous int8 copy, and the build-time radius."""
        n, d = self._x.shape
        if not self.sketch_bits or self.strategy != "or" or n_copies >= self.n_tables or n == 0:
            self._sk = np.zeros((0, n), dtype=np.uint32)
            return
        if self._sk_planes.shape != (d, self.sketch_bits):
            seq = np.random.SeedSequence(self.random_state).spawn(2)[1]
            rng = np.random.default_rng(seq)
            self._sk_planes = rng.standard_normal((d, self.sketch_bits)).astype(np.float32)
        sk0 = K.sketch_codes(self._x, self._sk_planes)
        self._sk = np.ascontiguousarray(sk0[perm[n_copies:]])
        # radius: where the true 10 nearest neighbours of sampled rows lie in sketch space
        rng = np.random.default_rng(np.random.SeedSequence(self.random_state).spawn(3)[2])
        rows = rng.choice(n, size=min(256, n), replace=False)
        kk = min(11, n)
        nb_rows, _ = exact_search(
            self._x, self._x[rows], kk, metric="l2" if self.metric == "l2" else "ip"
        )
        xor = np.ascontiguousarray(sk0[nb_rows[:, 1:]] ^ sk0[rows][:, None]).ravel()
        ham = np.unpackbits(xor.view(np.uint8).reshape(-1, 4), axis=1).sum(axis=1)
        self._sk_auto = int(min(32, np.quantile(ham, 0.995) + 1)) if ham.size else 32

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        if self.hasher is None:
            self.hasher = self._make_hasher(vectors)
        n_old = self._x.shape[0]
        rank_new = np.arange(n_old, n_old + vectors.shape[0], dtype=np.int64)
        if n_old == 0:
            self._store(vectors, rank_new, ids, self.hasher.keys(vectors))
            return
        x = np.concatenate([self._x, vectors])
        self._store(
            x,
            np.concatenate([self._rank, rank_new]),
            np.concatenate([self._int_ids, ids]),
            self.hasher.keys(x),
        )

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
