"""annoy peer: the random-projection forest of ``annoy.AnnoyIndex`` (``n_trees``; ``search_k``).

annoy is imported lazily; a missing one raises ``ImportError`` naming the ``peers`` extra.
``native_search`` gives annoy's own ``get_nns_by_vector(q, k, search_k)`` on pre-normalised
float32 vectors, for benchmarks.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recall.base import Metric
from recall.peers._base import NativeSearch, _blob, _check_pos_int, _noop, _Peer, _require
from recall.peers._threads import split_queries

__all__ = ["AnnoyIndex"]


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
        r, d = (None, None)
        if queries.shape[0] == 1:  # one query: no chunking, no padding unless annoy is short
            r, d = self._index.get_nns_by_vector(
                queries[0], k, self.search_k, include_distances=True
            )
        if r is not None and len(r) == k:
            rows = np.asarray(r, dtype=np.int64)[None]
            dist = np.asarray(d, dtype=np.float32)[None]
        else:
            parts = split_queries(lambda c: self._search_chunk(c, k), queries, self.threads)
            rows = np.concatenate([p[0] for p in parts])
            dist = np.concatenate([p[1] for p in parts])
        if self.metric == "cosine":
            scores = 1.0 - 0.5 * dist**2  # annoy's angular distance is |u - v| of unit vectors
        elif self.metric == "l2":
            scores = -(dist**2)
        else:
            scores = dist
        return self._map(rows, np.where(np.isnan(scores), -np.inf, scores))

    def native_search(self, queries: ArrayLike, k: int) -> NativeSearch:
        """annoy's ``get_nns_by_vector(q, k, search_k)`` on float32 (d,) vectors prepared once
        (unit for cosine; annoy's angular metric normalises anyway)."""
        q = self._native_inputs(queries)
        k = min(int(k), len(self))
        index, search_k = self._index, int(self.search_k)
        return NativeSearch(
            how=f"annoy `get_nns_by_vector(q, k, search_k={search_k})` on "
            + ("unit " if self.metric == "cosine" else "")
            + "float32 vectors",
            inputs=list(q),
            apply=_noop,
            call=lambda v: index.get_nns_by_vector(v, k, search_k),
            to_ids=self._rows_to_ids,
        )

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
