"""Ours: a k-means IVF index (``KMeansIndex``), scikit-learn ``MiniBatchKMeans`` + a compiled scan.

faiss ``IndexIVFFlat`` is its peer. ``native_search`` is its public ``search`` on one row.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import NDArray

from embeddings.neighbours import top_k
from embeddings.validate import check_random_state
from recall.base import Metric
from recall.peers._base import _check_pos_int, _Peer
from recall.peers._threads import thread_controller

__all__ = ["KMeansIndex"]

log = logging.getLogger(__name__)


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
            out[s : s + 8192] = top_k(sc, m)[0]
        return out

    def _add(self, vectors, ids) -> None:
        # BLAS / OpenMP of scikit-learn's k-means limited to ``threads`` (no oversubscription)
        with thread_controller().limit(limits=self.threads):
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
