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


# ---------------------------------------------------------------------------- the package split
@pytest.mark.parametrize(
    "name, params",
    [
        ("KMeansIndex", {"n_clusters": 8, "random_state": 0}),
        ("HnswlibIndex", {"M": 8, "ef_construction": 50, "random_state": 0}),
        ("FaissIVFIndex", {"nlist": 8}),
    ],
)
def test_files_naming_the_single_module_layout_still_load(tmp_path, name, params):
    """The single-module recall/peers.py wrote header module "recall.peers"; the package keeps
    that name as each class's home, so such a file (made here, not committed) loads into the
    package's class and searches exactly as the index that saved it."""
    import json

    import recall.peers as peers
    from recall.base import load_index

    if name != "KMeansIndex":
        pytest.importorskip("faiss" if name.startswith("Faiss") else "hnswlib")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    queries = rng.normal(size=(7, 8)).astype(np.float32)
    saved = getattr(peers, name)("l2", **params).build(x, np.arange(300) * 3 + 1)
    path = saved.save(tmp_path / f"{name}.npz")
    with np.load(path) as z:
        header = json.loads(z["header"].tobytes().decode())
    assert header["module"] == "recall.peers" and header["class"] == name
    idx = load_index(path)
    assert type(idx).__name__ == name
    expected = saved.search(queries, 5)
    res = idx.search(queries, 5)
    assert np.array_equal(res.ids, expected.ids)
    np.testing.assert_allclose(res.scores, expected.scores, rtol=1e-5, atol=1e-6)


def test_public_names_and_modules():
    import recall.peers as peers

    for cls in peers.PEERS:
        assert getattr(peers, cls.__name__) is cls
        assert cls.__module__ == "recall.peers"  # configs and saved files name this home
        assert callable(cls.set_search_params)


# ---------------------------------------------------------------------------- lean path, native calls
def _peer_cases():
    return [
        ("faiss", "FaissFlatIndex", {}, {}),
        ("faiss", "FaissLSHIndex", {"nbits": 64}, {"refine_factor": 20}),
        ("faiss", "FaissHNSWIndex", {"M": 8}, {"ef": 32}),
        ("faiss", "FaissIVFIndex", {"nlist": 16}, {"nprobe": 4}),
        ("hnswlib", "HnswlibIndex", {"M": 8, "ef_construction": 50}, {"ef": 20}),
        ("annoy", "AnnoyIndex", {"n_trees": 5}, {"search_k": 200}),
        (None, "KDTreeIndex", {}, {}),
        (None, "BallTreeIndex", {}, {}),
        (None, "KMeansIndex", {"n_clusters": 16}, {"nprobe": 3}),
    ]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("lib,name,build,search", _peer_cases())
def test_native_call_and_fast_path_return_the_wrapped_ids(
    mixture, lib, name, build, search, metric
):
    """The raw library call a benchmark times returns, row for row, the ids that ``search``
    returns; the lean float32 path and the generic path (float64 input) give the same result."""
    import recall.peers as peers

    if lib:
        pytest.importorskip(lib)
    cls = getattr(peers, name)
    if metric not in cls.metrics:
        pytest.skip(f"{name} has no {metric}")
    x, q, ids = mixture
    x, q, ids = x[:1500], q[:25], ids[:1500]
    idx = cls(metric, **build, random_state=0).build(x, ids)
    idx.set_search_params(**search)
    k = 10
    wrapped = idx.search(q, k)  # float32 C-contiguous: the lean path
    generic = idx.search(q.astype(np.float64), k)  # converted: the base-class path
    assert np.array_equal(wrapped.ids, generic.ids)
    np.testing.assert_array_equal(wrapped.scores, generic.scores)
    assert np.isin(wrapped.ids, ids).all()  # ids, not rows
    assert (np.diff(wrapped.scores, axis=1) <= 0).all()
    native = idx.native_search(q, k)
    assert len(native.inputs) == q.shape[0] and native.how
    native.apply()
    raw = np.vstack([native.to_ids(native.call(r)) for r in native.inputs])
    one_by_one = np.vstack([idx.search(q[i : i + 1], k).ids for i in range(q.shape[0])])
    assert np.array_equal(raw, one_by_one)
    if name not in ("FaissLSHIndex",):  # refine ties aside, batch = single for the others
        assert np.array_equal(one_by_one, wrapped.ids)


def test_lean_path_pads_and_sorts_like_the_generic_path():
    """k above the index size pads with -1 / -inf (generic path); identity ids skip the map."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 8)).astype(np.float32)
    idx = HnswlibIndex("l2", M=4, ef=50).build(x)
    res = idx.search(x[:3], 40)
    assert res.ids.shape == (3, 40) and (res.ids[:, 30:] == -1).all()
    assert np.isneginf(res.scores[:, 30:]).all()
    assert np.array_equal(res.ids[:, 0], [0, 1, 2])
    idx.add(rng.standard_normal((5, 8)).astype(np.float32), np.arange(100, 105))
    assert idx.search(idx_vec := x[:1], 1).ids[0, 0] == 0 and idx_vec.shape == (1, 8)
    with pytest.raises(ValueError, match="NaN"):
        idx.search(np.full((1, 8), np.nan, dtype=np.float32), 3)
    with pytest.raises(ValueError, match="dimension"):
        idx.search(np.zeros((1, 7), dtype=np.float32), 3)
