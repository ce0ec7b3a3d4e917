"""faiss peers: ``IndexFlat`` (exact), ``IndexLSH`` + exact refine, ``IndexHNSWFlat``, ``IndexIVFFlat``.

faiss is imported lazily; a missing one raises ``ImportError`` naming the ``peers`` extra.
``threads`` sets faiss' OpenMP threads on every call. ``native_search`` gives faiss' own
``index.search(q_row, k)`` on pre-normalised float32 rows, for benchmarks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recall.base import Metric, SearchResult
from recall.peers._base import NativeSearch, _blob, _check_pos_int, _Peer, _require

__all__ = ["FaissFlatIndex", "FaissLSHIndex", "FaissHNSWIndex", "FaissIVFIndex"]

_FAISS: Any = None  # the faiss module once imported (a lookup per search call is not free)


class _Faiss(_Peer):
    def _faiss(self):
        global _FAISS
        faiss = _FAISS or _require("faiss", type(self).__name__)
        _FAISS = faiss
        if faiss.omp_get_max_threads() != self.threads:  # a process-wide setting
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

    def native_search(self, queries: ArrayLike, k: int) -> NativeSearch:
        """faiss' ``index.search(q_row, k)`` on float32 (1, d) rows prepared once."""
        q = self._native_inputs(queries)
        k = min(int(k), len(self))
        index = self._index

        def apply() -> None:
            self._faiss()
            self._apply_search_params(k)

        return NativeSearch(
            how=f"faiss `{type(index).__name__}.search(q_row, k)` on unit float32 rows"
            if self.metric == "cosine"
            else f"faiss `{type(index).__name__}.search(q_row, k)` on float32 rows",
            inputs=[q[i : i + 1] for i in range(q.shape[0])],
            apply=apply,
            call=lambda r: index.search(r, k),
            to_ids=lambda out: self._rows_to_ids(out[1][0]),
        )

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
        kf = float(max(1.0, min(self.refine_factor, self._index.ntotal / k)))
        if self._index.k_factor != kf:  # faiss' attribute setter is slow: set on change only
            self._index.k_factor = kf


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
        ef = max(int(self.ef), k)
        if self._index.hnsw.efSearch != ef:  # faiss' attribute setter is slow: set on change only
            self._index.hnsw.efSearch = ef


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
        if self._index.nprobe != int(self.nprobe):  # faiss' setter is slow: set on change only
            self._index.nprobe = int(self.nprobe)

    def _stats(self):
        out = super()._stats()
        out["nlist"] = float(self._index.nlist)
        return out
