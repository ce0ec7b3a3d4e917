"""hnswlib peer: the HNSW graph of ``hnswlib.Index`` (M, ef_construction; search ``ef``).

hnswlib is imported lazily; a missing one raises ``ImportError`` naming the ``peers`` extra.
Cosine is searched as inner product on unit rows (hnswlib's ``ip`` space). ``native_search`` gives
hnswlib's own ``knn_query(q_row, k)`` on pre-normalised float32 rows, for benchmarks.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from recall.base import Metric
from recall.peers._base import NativeSearch, _blob, _check_pos_int, _Peer, _require

__all__ = ["HnswlibIndex"]


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
        full = True  # hnswlib returns k in-range labels or raises
        try:
            rows, d = self._index.knn_query(queries, k=k, num_threads=self.threads)
        except RuntimeError:  # graph cannot return k: pad per query
            full = False
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
        scores = -d if self.metric == "l2" else 1.0 - d
        return self._map(rows, scores, valid=full)

    def native_search(self, queries: ArrayLike, k: int) -> NativeSearch:
        """hnswlib's ``knn_query(q_row, k, num_threads=1)`` on float32 (1, d) rows prepared once
        (unit rows for cosine); ``apply`` sets ``ef``."""
        q = self._native_inputs(queries)
        k = min(int(k), len(self))
        index = self._index

        def apply() -> None:
            index.set_ef(max(int(self.ef), k))

        return NativeSearch(
            how="hnswlib `Index.knn_query(q_row, k, num_threads=1)` on "
            + ("unit " if self.metric == "cosine" else "")
            + "float32 rows, `set_ef` once per pass",
            inputs=[q[i : i + 1] for i in range(q.shape[0])],
            apply=apply,
            call=lambda r: index.knn_query(r, k=k, num_threads=1),
            to_ids=lambda out: self._rows_to_ids(out[0][0].astype(np.int64)),
        )

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
