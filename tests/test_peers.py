"""Peer-specific behaviour beyond the conformance suite: search parameters, threads, seeds,
recall against exact search, KMeansIndex exactness with every cluster probed, import errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from recall.bench.datasets import gaussian_mixture
from recall.exact import exact_knn, knn_recall
from recall.peers import (
    AnnoyIndex,
    BallTreeIndex,
    FaissIVFIndex,
    HnswlibIndex,
    KDTreeIndex,
    KMeansIndex,
)


@pytest.fixture(scope="module")
def mixture():
    x, q = gaussian_mixture(4000, 16, 20, 60, random_state=11)
    ids = np.arange(4000, dtype=np.int64) * 5 + 7
    return x, q, ids


def test_kmeans_recall_rises_with_nprobe_and_is_exact_with_all(mixture):
    x, q, ids = mixture
    truth = exact_knn(x, q, 10, "cosine", ids=ids)
    idx = KMeansIndex("cosine", n_clusters=40, nprobe=1, random_state=3).build(x, ids)
    recalls = []
    for nprobe in (1, 4, 16):
        idx.set_search_params(nprobe=nprobe)
        recalls.append(knn_recall(idx.search(q, 10).ids, truth.ids))
    assert recalls[0] < recalls[1] <= recalls[2]
    assert recalls[2] >= 0.95
    idx.set_search_params(nprobe=40)
    res = idx.search(q, 10)
    assert np.array_equal(res.ids, truth.ids)
    np.testing.assert_allclose(res.scores, truth.scores, atol=1e-5)
    st = idx.stats()
    assert st["n_clusters"] == 40 and st["last_mean_candidates"] == 4000


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_kmeans_same_seed_same_index_and_add(mixture, metric):
    x, q, ids = mixture
    a = KMeansIndex(metric, nprobe=3, random_state=5).build(x[:3000], ids[:3000])
    b = KMeansIndex(metric, nprobe=3, random_state=5).build(x[:3000], ids[:3000])
    assert np.array_equal(a.search(q, 5).ids, b.search(q, 5).ids)
    a.add(x[3000:], ids[3000:])
    a.set_search_params(nprobe=10_000)
    truth = exact_knn(x, q, 5, metric, ids=ids)
    assert np.array_equal(a.search(q, 5).ids, truth.ids)


def test_faiss_ivf_peer_and_nprobe(mixture):
    pytest.importorskip("faiss")
    x, q, ids = mixture
    truth = exact_knn(x, q, 10, "cosine", ids=ids)
    idx = FaissIVFIndex("cosine", nlist=40, nprobe=1, random_state=2).build(x, ids)
    low = knn_recall(idx.search(q, 10).ids, truth.ids)
    idx.set_search_params(nprobe=40)
    assert knn_recall(idx.search(q, 10).ids, truth.ids) == 1.0 > low
    assert idx.params()["nprobe"] == 40 and idx.stats()["nlist"] == 40


@pytest.mark.parametrize("cls", [AnnoyIndex, KDTreeIndex, BallTreeIndex, HnswlibIndex])
def test_threads_split_gives_same_results(mixture, cls):
    if cls in (AnnoyIndex, HnswlibIndex):
        pytest.importorskip(cls.__name__.removesuffix("Index").lower())
    x, q, ids = mixture
    idx = cls("l2").build(x, ids)
    one = idx.search(q, 8)
    idx.threads = 2
    two = idx.search(q, 8)
    assert np.array_equal(one.ids, two.ids)
    np.testing.assert_array_equal(one.scores, two.scores)


def test_annoy_seed_and_search_k(mixture):
    pytest.importorskip("annoy")
    x, q, ids = mixture
    truth = exact_knn(x, q, 10, "cosine", ids=ids)
    a = AnnoyIndex("cosine", n_trees=5, search_k=20, random_state=1).build(x, ids)
    b = AnnoyIndex("cosine", n_trees=5, search_k=20, random_state=1).build(x, ids)
    assert np.array_equal(a.search(q, 10).ids, b.search(q, 10).ids)
    low = knn_recall(a.search(q, 10).ids, truth.ids)
    a.set_search_params(search_k=20_000)
    assert knn_recall(a.search(q, 10).ids, truth.ids) > max(low, 0.9)
    with pytest.raises(ValueError, match="search_k"):
        a.set_search_params(search_k=0)


def test_hnswlib_ef_after_build(mixture):
    pytest.importorskip("hnswlib")
    x, q, ids = mixture
    truth = exact_knn(x, q, 10, "l2", ids=ids)
    idx = HnswlibIndex("l2", M=4, ef_construction=10, ef=10).build(x, ids)
    low = knn_recall(idx.search(q, 10).ids, truth.ids)
    idx.set_search_params(ef=500)
    assert knn_recall(idx.search(q, 10).ids, truth.ids) >= max(low, 0.9)


def test_missing_library_names_the_peers_extra(monkeypatch, mixture):
    x, _, ids = mixture
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"peers.*embrecall\[peers\]"):
        HnswlibIndex("l2").build(x, ids)


def test_bad_constructor_params():
    for cls, kw in (
        (KMeansIndex, {"nprobe": 0}),
        (KMeansIndex, {"n_clusters": -2}),
        (KMeansIndex, {"threads": 0}),
        (KDTreeIndex, {"leaf_size": 0}),
        (KMeansIndex, {"random_state": -1}),
    ):
        with pytest.raises(ValueError):
            cls("l2", **kw)
