"""SimHashIndex memory (issue 11): stats() counts every array it holds; the per-table sketch filter
keeps recall on a seeded Gaussian mixture and a skewed set while scoring fewer candidates; the
tuner's SimHash point stays within its memory cap; sketches survive save / load."""

from __future__ import annotations

import numpy as np
import pytest

from recall.bench.datasets import gaussian_mixture, skewed_clusters
from recall.exact import exact_knn, knn_recall
from recall.lsh import SimHashIndex
from recall.lsh.tuning import tune

K = 10


def _data(family: str):
    if family == "gmm":
        x, q = gaussian_mixture(30_000, 32, n_queries=300, random_state=5)
    else:
        x, q = skewed_clusters(30_000, 32, n_queries=300, random_state=11)
    return x, q, exact_knn(x, q, K, metric="cosine").ids


@pytest.fixture(scope="module", params=["gmm", "skewed"])
def data(request):
    return _data(request.param)


def _held_bytes(idx: SimHashIndex) -> int:
    """Every array the index object holds, counted independently of stats()."""
    held = [v for v in vars(idx).values() if isinstance(v, np.ndarray)]
    held += list(idx._tables.values()) + list(idx.hasher.to_arrays().values())
    scratch = idx._ncand.nbytes + idx._ndropped.nbytes  # figures of the last search
    return sum(int(a.nbytes) for a in held) - scratch


@pytest.mark.parametrize("sketch_bits, copies", [(0, 16), (0, 1), (32, 1), (32, 4)])
def test_memory_accounting_matches_arrays(sketch_bits, copies):
    x, q, _ = _data("gmm")
    n, d = x.shape
    idx = SimHashIndex(
        n_tables=8, n_bits=10, contiguous_bytes=copies * n * d, sketch_bits=sketch_bits
    ).build(x)
    idx.search(q[:3], K)
    st = idx.stats()
    assert st["memory_bytes"] == _held_bytes(idx)
    c = min(copies, 8)
    assert idx._codes.nbytes == c * n * d
    want_sketch = (8 - c) * n * 4 + d * sketch_bits * 4 if sketch_bits else 0
    assert st["sketch_bytes"] == want_sketch
    assert idx._codes.ctypes.data % 64 == 0  # a 64-byte row is one cache line


def test_sketch_filter_keeps_recall_and_drops_candidates(data):
    x, q, truth = data
    plain = SimHashIndex(n_tables=8, n_bits=10, contiguous_bytes=0, n_probes=32).build(x)
    sk = SimHashIndex(n_tables=8, n_bits=10, contiguous_bytes=0, n_probes=32, sketch_bits=32).build(
        x
    )
    r_plain = knn_recall(plain.search(q, K).ids, truth, K)
    r_sk = knn_recall(sk.search(q, K).ids, truth, K)
    st = sk.stats()
    assert r_plain >= 0.85
    assert r_sk >= r_plain - 0.02  # the build-time radius loses almost nothing
    assert 0 < st["mean_sketch_dropped"] < st["mean_candidates"]
    assert 0 < st["sketch_radius"] < 32
    # a radius of 0 drops far more and costs recall: the filter really filters
    sk.set_search_params(sketch_radius=0)
    r0 = knn_recall(sk.search(q, K).ids, truth, K)
    assert sk.stats()["mean_sketch_dropped"] > st["mean_sketch_dropped"]
    assert r0 < r_sk
    # radius 32 keeps everything: identical to no filter
    sk.set_search_params(sketch_radius=32)
    assert sk.stats()["sketch_radius"] == 32
    np.testing.assert_array_equal(sk.search(q, K).ids, plain.search(q, K).ids)


def test_sketch_save_load_and_seed(tmp_path):
    x, q, _ = _data("gmm")
    a = SimHashIndex(n_tables=4, n_bits=9, contiguous_bytes=0, sketch_bits=24, random_state=7)
    a.build(x)
    b = SimHashIndex(n_tables=4, n_bits=9, contiguous_bytes=0, sketch_bits=24, random_state=7)
    b.build(x)
    np.testing.assert_array_equal(a._sk, b._sk)
    path = a.save(tmp_path / "sk.npz")
    c = SimHashIndex.load(path)
    np.testing.assert_array_equal(c._sk_planes, a._sk_planes)
    np.testing.assert_array_equal(c.search(q, K).ids, a.search(q, K).ids)


def test_bad_sketch_parameters():
    with pytest.raises(ValueError, match="sketch_bits"):
        SimHashIndex(sketch_bits=33)
    with pytest.raises(ValueError, match="sketch_radius"):
        SimHashIndex(sketch_radius=-1)
    x, _, _ = _data("gmm")
    idx = SimHashIndex(n_tables=2, n_bits=8, sketch_bits=16, contiguous_bytes=0).build(x[:2000])
    with pytest.raises(ValueError, match="sketch_radius"):
        idx.set_search_params(n_probes=8, sketch_radius=-3)
    assert idx.n_probes is None  # a rejected call changes nothing
    assert idx.sketch_radius is None


def test_tuned_simhash_point_meets_the_memory_cap():
    x, q = gaussian_mixture(40_000, 64, n_queries=120, random_state=2)
    res = tune(x, q, target_recall=0.9, max_memory_ratio=1.9, random_state=0)
    idx = res.make_index().build(x)
    assert idx.stats()["memory_bytes"] <= 1.9 * x.nbytes
    sim = res.frontier[res.frontier["index"] == "simhash"]
    assert (sim["memory_vs_float32"] <= 1.9).all()
    if res.params.get("sketch_bits"):
        assert idx.stats()["sketch_bytes"] > 0
    assert res.reached and res.validation_recall >= 0.85


def test_cluster_layout_same_candidates_same_recall(data):
    """layout='clusters' only reorders the rows (k-means cells, for locality of the random int8
    reads): the same buckets are probed, so candidates and recall match the bucket layout."""
    x, q, truth = data
    a = SimHashIndex(n_tables=8, n_bits=10, contiguous_bytes=0, n_probes=32).build(x)
    b = SimHashIndex(
        n_tables=8, n_bits=10, contiguous_bytes=0, n_probes=32, layout="clusters"
    ).build(x)
    ra, rb = a.search(q, K), b.search(q, K)
    np.testing.assert_array_equal(a.stats()["mean_candidates"], b.stats()["mean_candidates"])
    assert knn_recall(rb.ids, truth, K) >= knn_recall(ra.ids, truth, K) - 0.01
    assert knn_recall(rb.ids, truth, K) >= 0.85
    assert not np.array_equal(a._int_ids, b._int_ids)  # the rows really moved
    assert b.stats()["memory_bytes"] == _held_bytes(b)
    # contiguous copies of tables 1.. still used with the cluster layout: same answers
    c = SimHashIndex(
        n_tables=8,
        n_bits=10,
        contiguous_bytes=4 * x.shape[0] * x.shape[1],
        n_probes=32,
        layout="clusters",
    ).build(x)
    np.testing.assert_array_equal(c.search(q, K).ids, rb.ids)


def test_cluster_layout_bad_arguments():
    with pytest.raises(ValueError, match="layout"):
        SimHashIndex(layout="rows")
    with pytest.raises(ValueError, match="sketch_bits"):
        SimHashIndex(layout="clusters", sketch_bits=32)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_short_path_equals_validated_path(metric):
    x, q, _ = _data("gmm")
    idx = SimHashIndex(metric, n_tables=8, n_bits=10, n_probes=32, sketch_bits=32).build(x)
    fast = idx.search(q[:20], K)  # float32, C-contiguous: the short path
    slow = idx.search(q[:20].astype(np.float64), K)  # cast (and normalised) by the base class
    assert np.array_equal(fast.ids, slow.ids)
    np.testing.assert_allclose(fast.scores, slow.scores, rtol=1e-5, atol=1e-6)
    one = idx.search(q[3], K)
    assert one.ids.shape == (1, K) and np.array_equal(one.ids[0], fast.ids[3])
    if metric == "cosine":  # unnormalised float32 queries: same cosine neighbours
        assert np.array_equal(idx.search(np.ascontiguousarray(q[:20] * 3.0), K).ids, fast.ids)
    with pytest.raises(ValueError, match="NaN"):
        idx.search(np.full((1, idx.dim), np.nan, dtype=np.float32), K)
    with pytest.raises(ValueError, match="k must be"):
        idx.search(q[:2], 0)
    big = idx.search(q[:2], x.shape[0] + 5)  # k > n: the base class pads with -1
    assert big.ids.shape == (2, x.shape[0] + 5) and (big.ids[:, -5:] == -1).all()
