"""scikit-learn peers: ``KDTree`` and ``BallTree`` (exact, Euclidean; cosine on unit rows).

``threads`` splits a batch of queries over threads. ``native_search`` gives the tree's own
``query(q_row, k)`` on pre-normalised float32 rows, for benchmarks.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from recall.base import Metric
from recall.peers._base import NativeSearch, _check_pos_int, _noop, _Peer
from recall.peers._threads import split_queries

__all__ = ["KDTreeIndex", "BallTreeIndex"]


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
        parts = split_queries(lambda c: self._tree.query(c, k=k), queries, self.threads)
        dist = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        sq = dist.astype(np.float64) ** 2
        scores = 1.0 - 0.5 * sq if self.metric == "cosine" else -sq
        return self._map(rows, scores, valid=True)  # a tree returns k in-range rows

    def native_search(self, queries: ArrayLike, k: int) -> NativeSearch:
        """The tree's ``query(q_row, k)`` on float32 (1, d) rows prepared once (unit for cosine)."""
        q = self._native_inputs(queries)
        k = min(int(k), len(self))
        tree = self._tree
        return NativeSearch(
            how=f"scikit-learn `{self.tree_name}.query(q_row, k)` on "
            + ("unit " if self.metric == "cosine" else "")
            + "float32 rows",
            inputs=[q[i : i + 1] for i in range(q.shape[0])],
            apply=_noop,
            call=lambda r: tree.query(r, k=k),
            to_ids=lambda out: self._rows_to_ids(out[1][0]),
        )

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
