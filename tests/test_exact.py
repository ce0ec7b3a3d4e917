"""Exact search equals a naive numpy reference: every metric, both search paths, block edges, ties."""

from __future__ import annotations

import numpy as np
import pytest

from recall.base import normalize_rows, scores_for
from recall.exact import ExactIndex, exact_knn, knn_recall


def naive(metric, x, q, k, ids=None):
    if metric == "cosine":
        x, q = normalize_rows(x), normalize_rows(q)
    s = scores_for(metric, q.astype(np.float64), x.astype(np.float64))
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    ids = np.arange(x.shape[0]) if ids is None else np.asarray(ids)
    return ids[order], np.take_along_axis(s, order, axis=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    x = rng.standard_normal((3001, 12)).astype(np.float32) * rng.uniform(0.5, 2, (3001, 1))
    q = rng.standard_normal((37, 12)).astype(np.float32)
    ids = rng.permutation(10_000)[:3001].astype(np.int64) * 7 - 5000
    return x, q, ids


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("prefilter", [True, False])
@pytest.mark.parametrize("nq", [1, 3, 37])
def test_matches_naive(data, metric, prefilter, nq):
    x, q, ids = data
    idx = ExactIndex(metric, prefilter=prefilter, chunk_rows=1000, query_block=16).build(x, ids)
    res = idx.search(q[:nq], 10)
    ref_ids, ref_s = naive(metric, x, q[:nq], 10, ids)
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    np.testing.assert_allclose(res.scores, ref_s, rtol=0, atol=1e-4)
    assert np.array_equal(res.ids, ref_ids)  # random data: no near-ties at this size


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000, 3000, 3001, 3002, 10_000])
@pytest.mark.parametrize("query_block", [1, 5, 37, 64])
def test_chunk_boundaries(data, chunk_rows, query_block):
    x, q, _ = data
    res = ExactIndex("ip", chunk_rows=chunk_rows, query_block=query_block, prefilter=False)
    res = res.build(x).search(q, 7)
    ref_ids, _ = naive("ip", x, q, 7)
    assert np.array_equal(res.ids, ref_ids)


def test_int8_block_edges_and_many_k():
    # n around multiples of the int8 block (4096) and of the 4-row unroll
    rng = np.random.default_rng(3)
    for n in (4095, 4097, 8193):
        x = rng.standard_normal((n, 5)).astype(np.float32)
        q = rng.standard_normal((2, 5)).astype(np.float32)
        for k in (1, 50, n):
            res = ExactIndex("l2").build(x).search(q, k)
            ref_ids, ref_s = naive("l2", x, q, k)
            np.testing.assert_allclose(res.scores, ref_s, atol=1e-3)
            assert np.array_equal(
                np.sort(res.ids[:, : min(k, 40)]), np.sort(ref_ids[:, : min(k, 40)])
            )


@pytest.mark.parametrize("prefilter", [True, False])
def test_ties_keep_insertion_order(prefilter):
    # integer vectors: every score is exact, many equal scores; earlier indexed items win ties
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, size=(500, 4)).astype(np.float32)
    q = rng.integers(-2, 3, size=(20, 4)).astype(np.float32)
    ids = np.arange(500)[::-1].copy() + 100
    for metric in ("ip", "l2"):
        res = ExactIndex(metric, prefilter=prefilter, chunk_rows=64).build(x, ids).search(q, 25)
        ref_ids, ref_s = naive(metric, x, q, 25, ids)
        np.testing.assert_array_equal(res.scores, ref_s.astype(np.float32))
        np.testing.assert_array_equal(res.ids, ref_ids)


@pytest.mark.parametrize("prefilter", [True, False])
def test_k_larger_than_n_pads(prefilter):
    x = np.eye(3, dtype=np.float32)
    res = ExactIndex("ip", prefilter=prefilter).build(x, [10, 20, 30]).search(x[:1], 5)
    assert res.ids[0, 0] == 10 and res.ids[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(res.scores[0, 3:]).all() and np.isfinite(res.scores[0, :3]).all()


def test_l2_scores_are_minus_squared_distance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 6)).astype(np.float32)
    q = x[:3] + 0.01
    for prefilter in (True, False):
        res = ExactIndex("l2", prefilter=prefilter).build(x).search(q, 1)
        assert res.ids[:, 0].tolist() == [0, 1, 2]
        np.testing.assert_allclose(res.scores[:, 0], -6 * 0.01**2, rtol=1e-2)


def test_add_then_search_equals_build():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((900, 8)).astype(np.float32)
    q = rng.standard_normal((20, 8)).astype(np.float32)
    a = ExactIndex("cosine").build(x[:400], np.arange(400))
    a.add(x[400:], np.arange(400, 900))
    b = ExactIndex("cosine").build(x)
    for nq in (1, 20):
        ra, rb = a.search(q[:nq], 10), b.search(q[:nq], 10)
        assert np.array_equal(ra.ids, rb.ids)
        np.testing.assert_array_equal(ra.scores, rb.scores)


def test_exact_knn_and_threads(data):
    x, q, ids = data
    res = exact_knn(x, q, 10, "l2", ids=ids)
    ref_ids, _ = naive("l2", x, q, 10, ids)
    assert np.array_equal(res.ids, ref_ids)
    res2 = exact_knn(x, q, 10, "l2", ids=ids, threads=2)
    assert np.array_equal(res2.ids, res.ids)
    with pytest.raises(ValueError, match="metric"):
        exact_knn(x, q, 10, "hamming")


def test_knn_recall():
    truth = np.array([[1, 2, 3], [4, 5, -1], [-1, -1, -1]])
    res = np.array([[3, 9, 1], [5, -1, -1], [7, 8, 9]])
    # row 0: 2/3, row 1: 1/2, row 2 skipped (no truth)
    assert knn_recall(res, truth, 3) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert knn_recall(res, truth, 1) == 0.0  # top-1 of the results: 3 and 5, truth 1 and 4
    assert knn_recall(res, truth, 2) == pytest.approx((0 + 1 / 2) / 2)
    assert knn_recall(truth, truth) == 1.0
    with pytest.raises(ValueError, match="rows"):
        knn_recall(res[:2], truth)
    with pytest.raises(ValueError, match="k="):
        knn_recall(res, truth, 4)
    with pytest.raises(ValueError, match="padding"):
        knn_recall(res[2:], truth[2:])


def test_bad_params():
    for kw in ({"chunk_rows": 0}, {"query_block": -1}, {"threads": 0}, {"batch_threshold": 1.5}):
        with pytest.raises(ValueError):
            ExactIndex("ip", **kw)


@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_batches_equal_serial(data, threads):
    # items split over worker threads, partial top-k merged: same ids, same tie order
    x, q, ids = data
    xi = np.rint(x * 2)  # integer-valued: exact scores with many ties
    for metric in ("ip", "l2"):
        one = ExactIndex(metric, threads=1, prefilter=False, chunk_rows=500).build(xi, ids)
        many = ExactIndex(metric, threads=threads, prefilter=False, chunk_rows=500).build(xi, ids)
        a, b = one.search(q, 15), many.search(q, 15)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
        ref_ids, _ = naive(metric, xi, q, 15, ids)
        np.testing.assert_array_equal(a.ids, ref_ids)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_threaded_int8_pass_equals_serial(metric):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((9000, 6)).astype(np.float32)  # 3 int8 blocks of 4096
    q = rng.standard_normal((4, 6)).astype(np.float32)
    a = ExactIndex(metric, threads=1).build(x).search(q, 12)
    b = ExactIndex(metric, threads=3).build(x).search(q, 12)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    ref_ids, _ = naive(metric, x, q, 12)
    np.testing.assert_array_equal(a.ids, ref_ids)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_exact_knn_is_the_shared_exact_search(data, metric):
    # one implementation: the index's batched path and embeddings.neighbours agree bit for bit
    from embeddings import neighbours

    x, q, ids = data
    a = exact_knn(x, q, 10, metric, ids=ids, threads=1)
    b = neighbours.exact_search(x, q, 10, metric, ids=ids)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert knn_recall is neighbours.knn_recall  # re-exported, not copied
