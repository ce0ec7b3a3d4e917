"""Peers behind the ``Index`` protocol: faiss, hnswlib, annoy, scikit-learn trees, and our k-means index.

Every peer maps the library's internal row numbers (insertion order) to the caller's int64 ids,
returns "higher is better" scores as :mod:`recall.base` defines them, persists through
``_get_state`` / ``_set_state`` (library indexes serialised to bytes in a uint8 array) and reports
``memory_bytes`` in ``stats()``. Search-time parameters (``ef``, ``nprobe``, ``search_k``,
``refine_factor``) can be changed after the build with ``set_search_params(**kw)`` so a benchmark
sweeps them without rebuilding. ``threads`` (default 1) sets faiss' OpenMP threads and hnswlib's /
annoy's ``num_threads`` / ``n_jobs`` on every call, for fair single-thread comparisons.

faiss, hnswlib and annoy are imported lazily; a missing one raises ``ImportError`` naming the
``peers`` extra. scikit-learn is a core dependency.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, ClassVar

import numba as nb
import numpy as np
from numpy.typing import NDArray

from embeddings._validate import check_random_state
from recall.base import Index, Metric, SearchResult

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
    "PEERS",
]

log = logging.getLogger(__name__)

_PIP = {"faiss": "faiss-cpu", "hnswlib": "hnswlib", "annoy": "annoy"}


def _require(module: str, who: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{who} needs the '{_PIP.get(module, module)}' package; install the 'peers' extra: "
            f"pip install 'embrecall[peers]'"
        ) from exc


def _check_pos_int(name: str, value: Any, allow_none: bool = False, lo: int = 1) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return int(value)


def _seed_of(random_state: Any) -> int | None:
    """A JSON-serialisable int seed (or None) from int / None / Generator / SeedSequence."""
    if random_state is None:
        return None
    if isinstance(random_state, bool):
        raise ValueError(f"random_state must be an int, None or a Generator, got {random_state!r}")
    if isinstance(random_state, int | np.integer):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).integers(0, 2**31 - 1))


@lru_cache(maxsize=8)
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="peers")


def _split_queries(fn, queries: NDArray[np.float32], threads: int):
    """Run ``fn(chunk)`` over ``threads`` chunks of queries in threads (fn releases the GIL)."""
    if threads <= 1 or queries.shape[0] < 2:
        return [fn(queries)]
    chunks = np.array_split(queries, min(threads, queries.shape[0]))
    return list(_executor(len(chunks)).map(fn, chunks))


@lru_cache(maxsize=1)
def _thread_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _blob(b: bytes | NDArray) -> NDArray[np.uint8]:
    return np.frombuffer(bytes(b), dtype=np.uint8).copy()


class _Peer(Index):
    """Shared plumbing: threads, seed, search-time parameters, id mapping, padding."""

    #: names accepted by ``set_search_params``
    search_params: ClassVar[tuple[str, ...]] = ()
    #: metrics the library supports
    metrics: ClassVar[tuple[str, ...]] = ("cosine", "ip", "l2")

    def __init__(
        self, metric: Metric = "cosine", threads: int = 1, random_state: Any = 0, **search: Any
    ) -> None:
        super().__init__(metric)
        if metric not in self.metrics:
            raise ValueError(
                f"{type(self).__name__} does not support metric {metric!r}; "
                f"it supports {self.metrics}"
            )
        self.threads = _check_pos_int("threads", threads)
        self.random_state = _seed_of(random_state)
        self.set_search_params(**search)

    def set_search_params(self, **kw: Any) -> Index:
        """Change search-time parameters (names in ``search_params``) without rebuilding."""
        unknown = sorted(set(kw) - set(self.search_params))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown search parameter(s) {unknown}; "
                f"settable: {list(self.search_params)}"
            )
        for k, v in kw.items():
            setattr(self, k, self._check_search_param(k, v))
        return self

    def _check_search_param(self, name: str, value: Any) -> Any:
        return _check_pos_int(name, value)

    def _extra_params(self) -> dict[str, Any]:
        return {}

    def params(self) -> dict[str, Any]:
        out = {"metric": self.metric, "threads": self.threads, "random_state": self.random_state}
        out.update(self._extra_params())
        out.update({k: getattr(self, k) for k in self.search_params})
        return out

    def _map(self, rows: NDArray, scores: NDArray) -> SearchResult:
        rows = np.asarray(rows, dtype=np.int64)
        ok = (rows >= 0) & (rows < len(self._ids))
        ids = np.where(ok, self._ids[np.where(ok, rows, 0)], -1)
        sc = np.where(ok, np.asarray(scores, dtype=np.float32), -np.inf).astype(np.float32)
        # libraries may return ties or padding out of order: enforce descending scores
        order = np.argsort(-sc, axis=1, kind="stable")
        return SearchResult(
            np.take_along_axis(ids, order, axis=1), np.take_along_axis(sc, order, axis=1)
        )


# ---------------------------------------------------------------------------- faiss
class _Faiss(_Peer):
    def _faiss(self):
        faiss = _require("faiss", type(self).__name__)
        faiss.omp_set_num_threads(self.threads)
        return faiss

    def _metric_type(self, faiss) -> int:
        return faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def _reset(self) -> None:
        self._index = None

    def _new_index(self, faiss, x: NDArray[np.float32]):
        raise NotImplementedError

    def _apply_search_params(self, k: int) -> None:
        """Push search-time attributes into the faiss index before a search for ``k``."""

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        faiss = self._faiss()
        if self._index is None:
            index = self._new_index(faiss, vectors)
            if not index.is_trained:
                index.train(vectors)
            index.add(vectors)
            self._index = index
        else:
            self._index.add(vectors)

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        self._faiss()
        self._apply_search_params(k)
        d, rows = self._index.search(queries, k)
        scores = -d if self.metric == "l2" else d
        return self._map(rows, scores)

    def _stats(self) -> dict[str, float]:
        faiss = self._faiss()
        return {"memory_bytes": float(faiss.serialize_index(self._index).nbytes + self._ids.nbytes)}

    def _get_state(self) -> dict[str, NDArray]:
        faiss = self._faiss()
        return {"faiss": _blob(faiss.serialize_index(self._index))}

    def _set_state(self, state: dict[str, NDArray]) -> None:
        faiss = self._faiss()
        try:
            index = faiss.deserialize_index(np.ascontiguousarray(state["faiss"], dtype=np.uint8))
        except RuntimeError as exc:
            raise ValueError(f"corrupt faiss index in the file ({str(exc)[:200]})") from exc
        if index.ntotal != len(self._ids) or index.d != self.dim:
            raise ValueError(
                f"faiss index holds {index.ntotal} x {index.d}, ids/header say "
                f"{len(self._ids)} x {self.dim}"
            )
        self._index = index


class FaissFlatIndex(_Faiss):
    """faiss ``IndexFlatIP`` / ``IndexFlatL2``: exact search, the speed baseline of the issue.

    ``random_state`` is accepted for a uniform interface; the index has no randomness.
    """

    name = "faiss_flat"

    def __init__(self, metric: Metric = "cosine", threads: int = 1, random_state: Any = 0):
        super().__init__(metric, threads, random_state)

    def _new_index(self, faiss, x):
        return (
            faiss.IndexFlatL2(x.shape[1]) if self.metric == "l2" else faiss.IndexFlatIP(x.shape[1])
        )


class FaissLSHIndex(_Faiss):
    """faiss ``IndexLSH`` (``nbits`` random-rotation sign bits, Hamming ranking) + exact re-rank.

    ``IndexRefine`` with a flat index of the metric re-scores ``k * refine_factor`` Hamming
    candidates exactly (without it IndexLSH's recall tops out near 0.5). faiss seeds the rotation
    itself with a fixed seed (deterministic; ``random_state`` cannot reach it and is unused).
    """

    name = "faiss_lsh"
    search_params = ("refine_factor",)

    def __init__(
        self,
        metric: Metric = "cosine",
        nbits: int = 256,
        refine_factor: int = 10,
        threads: int = 1,
        random_state: Any = 0,
    ):
        self.nbits = _check_pos_int("nbits", nbits)
        super().__init__(metric, threads, random_state, refine_factor=refine_factor)

    def _extra_params(self):
        return {"nbits": self.nbits}

    def _new_index(self, faiss, x):
        d = x.shape[1]
        lsh = faiss.IndexLSH(d, self.nbits, True, False)
        flat = faiss.IndexFlatL2(d) if self.metric == "l2" else faiss.IndexFlatIP(d)
        lsh.metric_type = (
            flat.metric_type
        )  # IndexRefine requires equal metrics; LSH ranks by Hamming
        index = faiss.IndexRefine(lsh, flat)
        self._keep = (lsh, flat)  # keep the Python proxies alive with the refine index
        return index

    def _apply_search_params(self, k: int) -> None:
        # faiss returns nothing at all when k * k_factor exceeds the index size: cap it
        self._index.k_factor = float(max(1.0, min(self.refine_factor, self._index.ntotal / k)))


class FaissHNSWIndex(_Faiss):
    """faiss ``IndexHNSWFlat`` (M, efConstruction; search ``ef``).

    faiss draws HNSW levels from a fixed internal seed (deterministic; ``random_state`` unused).
    """

    name = "faiss_hnsw"
    search_params = ("ef",)

    def __init__(
        self,
        metric: Metric = "cosine",
        M: int = 16,
        ef_construction: int = 40,
        ef: int = 16,
        threads: int = 1,
        random_state: Any = 0,
    ):
        self.M = _check_pos_int("M", M, lo=2)
        self.ef_construction = _check_pos_int("ef_construction", ef_construction)
        super().__init__(metric, threads, random_state, ef=ef)

    def _extra_params(self):
        return {"M": self.M, "ef_construction": self.ef_construction}

    def _new_index(self, faiss, x):
        index = faiss.IndexHNSWFlat(x.shape[1], self.M, self._metric_type(faiss))
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _apply_search_params(self, k: int) -> None:
        self._index.hnsw.efSearch = max(int(self.ef), k)


class FaissIVFIndex(_Faiss):
    """faiss ``IndexIVFFlat``: k-means coarse quantiser (``nlist``, default 4*sqrt(n)), ``nprobe``."""

    name = "faiss_ivf"
    search_params = ("nprobe",)

    def __init__(
        self,
        metric: Metric = "cosine",
        nlist: int | None = None,
        nprobe: int = 8,
        threads: int = 1,
        random_state: Any = 0,
    ):
        self.nlist = _check_pos_int("nlist", nlist, allow_none=True)
        super().__init__(metric, threads, random_state, nprobe=nprobe)

    def _extra_params(self):
        return {"nlist": self.nlist}

    def _new_index(self, faiss, x):
        n, d = x.shape
        nlist = self.nlist or max(1, int(round(4 * math.sqrt(n))))
        nlist = min(nlist, n)
        quant = faiss.IndexFlatL2(d) if self.metric == "l2" else faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quant, d, nlist, self._metric_type(faiss))
        self._keep = quant
        index.cp.seed = int(self.random_state or 0)
        index.cp.min_points_per_centroid = 1  # no warning spam on small data
        return index

    def _apply_search_params(self, k: int) -> None:
        self._index.nprobe = int(self.nprobe)

    def _stats(self):
        out = super()._stats()
        out["nlist"] = float(self._index.nlist)
        return out


# ---------------------------------------------------------------------------- hnswlib
class HnswlibIndex(_Peer):
    """hnswlib HNSW graph (M, ef_construction, search ``ef``); rows are hnswlib labels."""

    name = "hnswlib"
    search_params = ("ef",)

    def __init__(
        self,
        metric: Metric = "cosine",
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 50,
        threads: int = 1,
        random_state: Any = 0,
    ):
        self.M = _check_pos_int("M", M, lo=2)
        self.ef_construction = _check_pos_int("ef_construction", ef_construction)
        super().__init__(metric, threads, random_state, ef=ef)

    def _extra_params(self):
        return {"M": self.M, "ef_construction": self.ef_construction}

    def _space(self) -> str:
        return "l2" if self.metric == "l2" else "ip"  # cosine arrives unit-normalised

    def _reset(self) -> None:
        self._index = None

    def _add(self, vectors, ids) -> None:
        hnswlib = _require("hnswlib", type(self).__name__)
        start = len(self._ids)
        if self._index is None:
            self._index = hnswlib.Index(space=self._space(), dim=vectors.shape[1])
            self._index.init_index(
                max_elements=vectors.shape[0],
                M=self.M,
                ef_construction=self.ef_construction,
                random_seed=int(self.random_state or 0),
            )
        else:
            self._index.resize_index(start + vectors.shape[0])
        rows = np.arange(start, start + vectors.shape[0], dtype=np.int64)
        self._index.add_items(vectors, rows, num_threads=self.threads)

    def _search(self, queries, k):
        self._index.set_ef(max(int(self.ef), k))
        try:
            rows, d = self._index.knn_query(queries, k=k, num_threads=self.threads)
        except RuntimeError:  # graph cannot return k: pad per query
            rows = np.full((queries.shape[0], k), -1, dtype=np.int64)
            d = np.full((queries.shape[0], k), np.inf, dtype=np.float32)
            for i, q in enumerate(queries):
                for kk in range(k - 1, 0, -1):
                    try:
                        r, dd = self._index.knn_query(q[None], k=kk, num_threads=1)
                    except RuntimeError:
                        continue
                    rows[i, :kk], d[i, :kk] = r[0], dd[0]
                    break
        rows = np.asarray(rows, dtype=np.int64)
        scores = -d if self.metric == "l2" else 1.0 - d
        return self._map(rows, scores)

    def _bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "index.bin")
            self._index.save_index(p)
            with open(p, "rb") as fh:
                return fh.read()

    def _stats(self):
        return {"memory_bytes": float(len(self._bytes()) + self._ids.nbytes)}

    def _get_state(self):
        return {"hnswlib": _blob(self._bytes())}

    def _set_state(self, state):
        hnswlib = _require("hnswlib", type(self).__name__)
        index = hnswlib.Index(space=self._space(), dim=int(self.dim))
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "index.bin")
            with open(p, "wb") as fh:
                fh.write(np.asarray(state["hnswlib"], dtype=np.uint8).tobytes())
            try:
                index.load_index(p, max_elements=len(self._ids))
            except (RuntimeError, ValueError) as exc:
                raise ValueError(f"corrupt hnswlib index in the file ({exc})") from exc
        if index.get_current_count() != len(self._ids):
            raise ValueError(
                f"hnswlib index holds {index.get_current_count()} items, ids say {len(self._ids)}"
            )
        self._index = index


# ---------------------------------------------------------------------------- annoy
class AnnoyIndex(_Peer):
    """annoy random-projection forest (``n_trees``; search ``search_k``, -1 = annoy's default).

    annoy cannot add after ``build``: ``add`` rebuilds the forest over all vectors (same seed).
    ``threads`` builds trees in parallel (``n_jobs``) and splits a batch of queries over threads.
    """

    name = "annoy"
    search_params = ("search_k",)

    def __init__(
        self,
        metric: Metric = "cosine",
        n_trees: int = 50,
        search_k: int = -1,
        threads: int = 1,
        random_state: Any = 0,
    ):
        self.n_trees = _check_pos_int("n_trees", n_trees)
        super().__init__(metric, threads, random_state, search_k=search_k)

    def _check_search_param(self, name, value):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < -1
            or value == 0
        ):
            raise ValueError(f"{name} must be -1 or a positive int, got {value!r}")
        return int(value)

    def _extra_params(self):
        return {"n_trees": self.n_trees}

    def _annoy_metric(self) -> str:
        return {"cosine": "angular", "ip": "dot", "l2": "euclidean"}[self.metric]

    def _reset(self) -> None:
        self._index = None
        self._x = None

    def _build_forest(self, x: NDArray[np.float32]) -> None:
        annoy = _require("annoy", type(self).__name__)
        index = annoy.AnnoyIndex(x.shape[1], self._annoy_metric())
        index.set_seed(int(self.random_state or 0))
        for i, v in enumerate(x):
            index.add_item(i, v)
        index.build(self.n_trees, n_jobs=self.threads)
        self._index = index

    def _add(self, vectors, ids) -> None:
        x = vectors if self._x is None else np.concatenate([self._x, vectors])
        self._build_forest(x)
        self._x = x

    def _search_chunk(self, queries, k):
        nq = queries.shape[0]
        rows = np.full((nq, k), -1, dtype=np.int64)
        dist = np.full((nq, k), np.nan, dtype=np.float32)
        for i, q in enumerate(queries):
            r, d = self._index.get_nns_by_vector(q, k, self.search_k, include_distances=True)
            rows[i, : len(r)] = r
            dist[i, : len(d)] = d
        return rows, dist

    def _search(self, queries, k):
        parts = _split_queries(lambda c: self._search_chunk(c, k), queries, self.threads)
        rows = np.concatenate([p[0] for p in parts])
        dist = np.concatenate([p[1] for p in parts])
        if self.metric == "cosine":
            scores = 1.0 - 0.5 * dist**2  # annoy's angular distance is |u - v| of unit vectors
        elif self.metric == "l2":
            scores = -(dist**2)
        else:
            scores = dist
        return self._map(rows, np.where(np.isnan(scores), -np.inf, scores))

    def _bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "index.ann")
            self._index.save(p)
            with open(p, "rb") as fh:
                return fh.read()

    def _stats(self):
        return {
            "memory_bytes": float(len(self._bytes()) + self._x.nbytes + self._ids.nbytes),
            "n_trees": float(self._index.get_n_trees()),
        }

    def _get_state(self):
        # the vectors are kept so that add() can rebuild
        return {"annoy": _blob(self._bytes()), "x": self._x}

    def _set_state(self, state):
        annoy = _require("annoy", type(self).__name__)
        x = np.asarray(state["x"])
        if x.dtype != np.float32 or x.shape != (len(self._ids), self.dim):
            raise ValueError(f"corrupt AnnoyIndex state: vectors {x.dtype} {x.shape}")
        index = annoy.AnnoyIndex(int(self.dim), self._annoy_metric())
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "index.ann")
            with open(p, "wb") as fh:
                fh.write(np.asarray(state["annoy"], dtype=np.uint8).tobytes())
            try:
                index.load(p, prefault=True)
            except OSError as exc:
                raise ValueError(f"corrupt annoy index in the file ({exc})") from exc
        if index.get_n_items() != len(self._ids):
            raise ValueError(
                f"annoy index holds {index.get_n_items()} items, ids say {len(self._ids)}"
            )
        self._index = index
        self._x = np.ascontiguousarray(x)


# ---------------------------------------------------------------------------- scikit-learn trees
class _SklearnTree(_Peer):
    """scikit-learn tree; ``threads`` splits a batch of queries over threads; no randomness."""

    metrics = ("cosine", "l2")  # Euclidean trees; cosine on unit vectors ranks like Euclidean
    tree_name: ClassVar[str] = ""

    def __init__(
        self, metric: Metric = "cosine", leaf_size: int = 40, threads: int = 1, random_state=0
    ):
        self.leaf_size = _check_pos_int("leaf_size", leaf_size)
        super().__init__(metric, threads, random_state)

    def _extra_params(self):
        return {"leaf_size": self.leaf_size}

    def _reset(self) -> None:
        self._tree = None
        self._x = None

    def _add(self, vectors, ids) -> None:
        # scikit-learn trees are static: add rebuilds over all vectors
        from sklearn import neighbors

        x = vectors if self._x is None else np.concatenate([self._x, vectors])
        self._tree = getattr(neighbors, self.tree_name)(x, leaf_size=self.leaf_size)
        self._x = x

    def _search(self, queries, k):
        parts = _split_queries(lambda c: self._tree.query(c, k=k), queries, self.threads)
        dist = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        sq = dist.astype(np.float64) ** 2
        scores = 1.0 - 0.5 * sq if self.metric == "cosine" else -sq
        return self._map(rows, scores)

    def _stats(self):
        data, idx_array, node_data, bounds = self._tree.get_arrays()
        arrays = (data, idx_array, node_data, bounds)
        mem = sum(np.asarray(a).nbytes for a in arrays) + self._x.nbytes
        return {"memory_bytes": float(mem + self._ids.nbytes)}

    def _get_state(self):
        return {"x": self._x}

    def _set_state(self, state):
        x = np.asarray(state["x"])
        if x.dtype != np.float32 or x.shape != (len(self._ids), self.dim):
            raise ValueError(f"corrupt {type(self).__name__} state: vectors {x.dtype} {x.shape}")
        self._reset()
        self._add(np.ascontiguousarray(x), self._ids)


class KDTreeIndex(_SklearnTree):
    """scikit-learn ``KDTree`` (exact; the seeds' kd-tree). Metrics cosine and l2."""

    name = "sklearn_kdtree"
    tree_name = "KDTree"


class BallTreeIndex(_SklearnTree):
    """scikit-learn ``BallTree`` (exact). Metrics cosine and l2."""

    name = "sklearn_balltree"
    tree_name = "BallTree"


# ---------------------------------------------------------------------------- ours: k-means IVF
@nb.njit(parallel=True, nogil=True, fastmath=True, cache=True)
def _scan_lists(
    x, hx, use_hx, offsets, probes, queries, k, out_v, out_r, n_cand
):  # pragma: no cover
    """For each query scan the probed lists of the cluster-sorted vectors, exact top-k."""
    nq, d = queries.shape
    for qi in nb.prange(nq):
        vals = out_v[qi]
        rows = out_r[qi]
        for t in range(k):
            vals[t] = -np.inf
            rows[t] = -1
        thr = vals[k - 1]
        q = queries[qi]
        cnt = 0
        for p in range(probes.shape[1]):
            c = probes[qi, p]
            if c < 0:
                continue
            for i in range(offsets[c], offsets[c + 1]):
                s = np.float32(0.0)
                for j in range(d):
                    s += q[j] * x[i, j]
                if use_hx:
                    s -= hx[i]
                cnt += 1
                if s > thr:
                    pos = k - 1
                    while pos > 0 and (
                        vals[pos - 1] < s or (vals[pos - 1] == s and rows[pos - 1] > i)
                    ):
                        vals[pos] = vals[pos - 1]
                        rows[pos] = rows[pos - 1]
                        pos -= 1
                    vals[pos] = s
                    rows[pos] = i
                    thr = vals[k - 1]
        n_cand[qi] = cnt


class KMeansIndex(_Peer):
    """Ours: cluster with scikit-learn ``MiniBatchKMeans``, search the ``nprobe`` nearest clusters,
    re-rank their members exactly (an IVF-flat index; faiss ``IndexIVFFlat`` is its peer).

    ``n_clusters`` defaults to 4*sqrt(n) (faiss' rule of thumb). Vectors are stored sorted by
    cluster so each probed list is one contiguous scan. ``add`` assigns new vectors to the
    existing centroids. For ``ip``/``cosine`` clusters are chosen by inner product with the
    centroids (normalised for cosine), for ``l2`` by distance. ``threads`` limits BLAS/OpenMP
    during the build (k-means on ``train_size`` sampled vectors) and the compiled list scan.
    """

    name = "kmeans"
    search_params = ("nprobe",)

    def __init__(
        self,
        metric: Metric = "cosine",
        n_clusters: int | None = None,
        nprobe: int = 8,
        batch_size: int = 4096,
        max_iter: int = 20,
        train_size: int | None = 100_000,
        threads: int = 1,
        random_state: Any = 0,
    ):
        self.n_clusters = _check_pos_int("n_clusters", n_clusters, allow_none=True)
        self.batch_size = _check_pos_int("batch_size", batch_size)
        self.max_iter = _check_pos_int("max_iter", max_iter)
        self.train_size = _check_pos_int("train_size", train_size, allow_none=True)
        super().__init__(metric, threads, random_state, nprobe=nprobe)

    def _extra_params(self):
        return {
            "n_clusters": self.n_clusters,
            "batch_size": self.batch_size,
            "max_iter": self.max_iter,
            "train_size": self.train_size,
        }

    def _reset(self) -> None:
        self._centroids: NDArray[np.float32] | None = None
        self._x = np.empty((0, self.dim or 0), dtype=np.float32)  # sorted by cluster
        self._hx = np.empty(0, dtype=np.float32)
        self._rows = np.empty(0, dtype=np.int64)  # position in insertion order
        self._assign = np.empty(0, dtype=np.int64)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._last_candidates = 0.0

    def _fit_centroids(self, x: NDArray[np.float32]) -> None:
        from sklearn.cluster import MiniBatchKMeans

        n = x.shape[0]
        c = self.n_clusters or max(1, int(round(4 * math.sqrt(n))))
        c = min(c, n)
        rng = check_random_state(self.random_state)
        sample = x
        if self.train_size is not None and n > max(self.train_size, c):
            sample = x[np.sort(rng.choice(n, size=max(self.train_size, c), replace=False))]
        km = MiniBatchKMeans(
            n_clusters=c,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            n_init=1,
            random_state=int(rng.integers(0, 2**31 - 1)),
        )
        km.fit(sample)
        cent = km.cluster_centers_.astype(np.float32)
        if self.metric == "cosine":
            cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), np.float32(1e-12))
        self._centroids = np.ascontiguousarray(cent)

    def _nearest_clusters(self, x: NDArray[np.float32], m: int) -> NDArray[np.int64]:
        """(n, m) cluster numbers, best first, by the metric's coarse score; chunked."""
        cent = self._centroids
        m = min(m, cent.shape[0])
        out = np.empty((x.shape[0], m), dtype=np.int64)
        cn = 0.5 * np.einsum("ij,ij->i", cent, cent) if self.metric == "l2" else None
        for s in range(0, x.shape[0], 8192):
            sc = x[s : s + 8192] @ cent.T
            if cn is not None:
                sc -= cn
            if m < cent.shape[0]:
                part = np.argpartition(-sc, m - 1, axis=1)[:, :m]
            else:
                part = np.broadcast_to(np.arange(m), sc.shape).copy()
            ps = np.take_along_axis(sc, part, axis=1)
            out[s : s + 8192] = np.take_along_axis(part, np.argsort(-ps, axis=1, kind="stable"), 1)
        return out

    def _add(self, vectors, ids) -> None:
        # BLAS / OpenMP of scikit-learn's k-means limited to ``threads`` (no oversubscription)
        with _thread_controller().limit(limits=self.threads):
            if self._centroids is None:
                self._fit_centroids(vectors)
            new_assign = self._nearest_clusters(vectors, 1)[:, 0]
        start = len(self._ids)
        x_all = np.concatenate([self._unsorted_vectors(), vectors])
        assign = np.concatenate([self._assign, new_assign])
        self._store(x_all, assign)
        log.debug("KMeansIndex: %d vectors added after %d", vectors.shape[0], start)

    def _unsorted_vectors(self) -> NDArray[np.float32]:
        x = np.empty_like(self._x)
        x[self._rows] = self._x
        return x

    def _store(self, x: NDArray[np.float32], assign: NDArray[np.int64]) -> None:
        c = self._centroids.shape[0]
        order = np.argsort(assign, kind="stable")
        self._rows = order.astype(np.int64)
        self._x = np.ascontiguousarray(x[order])
        self._assign = assign.astype(np.int64)
        self._offsets = np.zeros(c + 1, dtype=np.int64)
        np.cumsum(np.bincount(assign, minlength=c), out=self._offsets[1:])
        if self.metric == "l2":
            self._hx = (0.5 * np.einsum("ij,ij->i", self._x, self._x)).astype(np.float32)
        else:
            self._hx = np.empty(0, dtype=np.float32)

    def _search(self, queries, k):
        probes = self._nearest_clusters(queries, int(self.nprobe))
        nq = queries.shape[0]
        vals = np.empty((nq, k), dtype=np.float32)
        pos = np.empty((nq, k), dtype=np.int64)
        cand = np.zeros(nq, dtype=np.int64)
        old = nb.get_num_threads()
        nb.set_num_threads(min(self.threads, nb.config.NUMBA_NUM_THREADS))
        try:
            _scan_lists(
                self._x,
                self._hx,
                self.metric == "l2",
                self._offsets,
                probes,
                queries,
                k,
                vals,
                pos,
                cand,
            )
        finally:
            nb.set_num_threads(old)
        self._last_candidates = float(cand.mean())
        found = pos >= 0
        rows = np.where(found, self._rows[np.where(found, pos, 0)], -1)
        if self.metric == "l2":
            qn = np.einsum("ij,ij->i", queries, queries)[:, None]
            vals = np.minimum(2.0 * vals - qn, 0.0)
        return self._map(rows, vals)

    def _stats(self):
        sizes = np.diff(self._offsets)
        mem = sum(
            a.nbytes
            for a in (self._centroids, self._x, self._hx, self._rows, self._assign, self._offsets)
        )
        return {
            "memory_bytes": float(mem + self._ids.nbytes),
            "n_clusters": float(sizes.size),
            "mean_list_size": float(sizes.mean()),
            "max_list_size": float(sizes.max()),
            "last_mean_candidates": self._last_candidates,
        }

    def _get_state(self):
        return {"centroids": self._centroids, "x": self._unsorted_vectors(), "assign": self._assign}

    def _set_state(self, state):
        cent = np.asarray(state["centroids"])
        x = np.asarray(state["x"])
        assign = np.asarray(state["assign"])
        n, d = len(self._ids), int(self.dim)
        if (
            cent.dtype != np.float32
            or cent.ndim != 2
            or cent.shape[1] != d
            or x.dtype != np.float32
            or x.shape != (n, d)
            or assign.shape != (n,)
            or (assign.size and (assign.min() < 0 or assign.max() >= cent.shape[0]))
        ):
            raise ValueError("corrupt KMeansIndex state (shapes or cluster numbers do not match)")
        self._reset()
        self._centroids = np.ascontiguousarray(cent)
        self._store(np.ascontiguousarray(x), assign.astype(np.int64))


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
