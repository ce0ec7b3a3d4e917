"""A bucketed SimHash peer for the ANN benchmark: faiss ``IndexBinaryMultiHash`` + exact re-rank."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings.neighbours import top_k
from recall.base import Index, SearchResult


class BinaryMultiHashIndex(Index):
    """faiss ``IndexBinaryMultiHash`` over SimHash codes + exact re-rank: bucketed SimHash peer.

    Codes are the signs of ``nbits`` seeded Gaussian projections; faiss hashes ``nhash`` tables
    of ``b`` bits of the code each, probes buckets within ``nflip`` bit flips, ranks the bucket
    candidates by Hamming distance and returns ``k * refine_factor`` of them, which are re-scored
    exactly. Metric cosine (unit vectors) or ip.
    """

    name = "faiss_binary_multihash"

    def __init__(
        self,
        metric: str = "cosine",
        nbits: int = 64,
        nhash: int = 8,
        b: int = 12,
        nflip: int = 0,
        refine_factor: int = 10,
        random_state: int = 0,
    ) -> None:
        if metric not in ("cosine", "ip"):
            raise ValueError(f"BinaryMultiHashIndex supports cosine and ip, got {metric!r}")
        if nbits % 8 or nbits < 8:
            raise ValueError(f"nbits must be a positive multiple of 8, got {nbits}")
        if not 1 <= b <= 64 or nhash * b > nbits or nhash < 1:
            raise ValueError(f"need nhash * b <= nbits and 1 <= b <= 64, got {nhash}, {b}, {nbits}")
        super().__init__(metric)  # type: ignore[arg-type]
        self.nbits, self.nhash, self.b = int(nbits), int(nhash), int(b)
        self.nflip, self.refine_factor, self.random_state = (
            int(nflip),
            int(refine_factor),
            random_state,
        )

    def set_search_params(self, **kw: Any) -> BinaryMultiHashIndex:
        for k, v in kw.items():
            if k not in ("nflip", "refine_factor"):
                raise ValueError(f"unknown search parameter {k!r}; settable: nflip, refine_factor")
            setattr(self, k, int(v))
        return self

    def _codes(self, x: NDArray[np.float32]) -> NDArray[np.uint8]:
        return np.packbits(x @ self._proj > 0, axis=1)

    def _reset(self) -> None:
        self._index = None

    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        import faiss

        if getattr(self, "_index", None) is None:
            rng = np.random.default_rng(self.random_state)
            self._proj = rng.standard_normal((vectors.shape[1], self.nbits), dtype=np.float32)
            self._index = faiss.IndexBinaryMultiHash(self.nbits, self.nhash, self.b)
            self._x = np.empty((0, vectors.shape[1]), dtype=np.float32)
        self._index.add(self._codes(vectors))
        self._x = np.ascontiguousarray(np.vstack([self._x, vectors]), dtype=np.float32)

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        self._index.nflip = self.nflip
        kk = min(self._x.shape[0], k * max(1, self.refine_factor))
        _, rows = self._index.search(self._codes(queries), kk)
        valid = rows >= 0
        self._last_candidates = float(valid.sum(axis=1).mean())
        g = self._x[np.where(valid, rows, 0)]
        s = np.where(valid, np.einsum("qkd,qd->qk", g, queries), -np.inf)
        order, top_s = top_k(s, min(k, s.shape[1]))
        top_rows = np.take_along_axis(rows, order, axis=1)
        top_s = top_s.astype(np.float32)
        ids = np.where(top_rows >= 0, self._ids[np.maximum(top_rows, 0)], -1)
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            top_s = np.pad(top_s, ((0, 0), (0, pad)), constant_values=-np.inf)
        return SearchResult(ids.astype(np.int64), top_s)

    def native_search(self, queries: Any, k: int) -> Any:
        """faiss ``IndexBinaryMultiHash.search`` on the query's SimHash code, then the exact
        re-rank of its candidates, one query per call (unit rows prepared once; the code is
        computed inside the call: hashing is the method's work)."""
        from embeddings.validate import as_vectors
        from recall.peers import NativeSearch

        q = self._prepare(as_vectors(queries, "queries", dim=self.dim))
        k = min(int(k), len(self))
        index, proj, x, ids = self._index, self._proj, self._x, self._ids
        kk = min(x.shape[0], k * max(1, self.refine_factor))

        def apply() -> None:
            index.nflip = self.nflip

        def call(v: NDArray[np.float32]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
            _, rows = index.search(np.packbits(v @ proj > 0, axis=1), kk)
            r = rows[0][rows[0] >= 0]
            sc = np.einsum("qkd,qd->qk", x[r][None], v)[0]
            top = np.argsort(-sc, kind="stable")[:k]
            return r[top], sc[top]

        return NativeSearch(
            how="faiss `IndexBinaryMultiHash.search(code, k * refine_factor)` on the query's "
            "SimHash code + exact re-rank of the candidates (numpy), one query per call",
            inputs=[q[i : i + 1] for i in range(q.shape[0])],
            apply=apply,
            call=call,
            to_ids=lambda out: ids[out[0]],
        )

    def _stats(self) -> dict[str, float]:
        return {
            "memory_bytes": float(self._x.nbytes + self._x.shape[0] * self.nbits / 8 * self.nhash),
            "mean_candidates": getattr(self, "_last_candidates", float("nan")),
        }

    def _get_state(self) -> dict[str, NDArray]:  # pragma: no cover - not saved by the bench
        raise NotImplementedError("BinaryMultiHashIndex is a benchmark peer; it is not saved")

    def _set_state(self, state: dict[str, NDArray]) -> None:  # pragma: no cover
        raise NotImplementedError("BinaryMultiHashIndex is a benchmark peer; it is not saved")
