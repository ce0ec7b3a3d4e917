"""Issue 11, cheaper builds and tuning: the compiled build kernels give exactly the arrays of the
NumPy expressions they replace; keys projected in blocks equal keys projected at once; the tuner
(SimHash first, balanced points given up once they cannot win, sketch radius as a knob) meets the
target on held-out queries within the memory cap on a Gaussian mixture and a skewed set, and its
index's stats() bytes equal the arrays it holds."""

from __future__ import annotations

import numpy as np
import pytest

from recall.bench.datasets import gaussian_mixture, skewed_clusters
from recall.exact import exact_knn, knn_recall
from recall.lsh import E2LSHIndex, SimHashIndex, build_kernels
from recall.lsh.build_kernels import counting_sort, group_rows, quantize_rows, split_level
from recall.lsh.crosspolytope import cp_digits
from recall.lsh.hashers import E2LSHHasher, SimHashHasher
from recall.lsh.tables import build_tables
from recall.lsh.tuning import tune, tune_balanced_lsh

K = 10


@pytest.mark.parametrize("bits", [1, 6, 13])
def test_counting_sort_equals_stable_argsort_and_searchsorted(bits):
    rng = np.random.default_rng(bits)
    # skewed key counts (a few big buckets, empty ones) to exercise stability and empty offsets
    col = (rng.zipf(1.5, size=20_011) % (1 << bits)).astype(np.uint64)
    perm = np.empty(col.size, dtype=np.int32)
    offsets = np.empty((1 << bits) + 1, dtype=np.int32)
    counting_sort(col, bits, perm, offsets)
    order = np.argsort(col, kind="stable")
    np.testing.assert_array_equal(perm, order)
    expect = np.searchsorted(col[order], np.arange((1 << bits) + 1, dtype=np.uint64))
    np.testing.assert_array_equal(offsets, expect)
    # keys past 2**bits (the Redis store's padding) sort last, outside every bucket
    col2 = col.copy()
    col2[::7] = np.uint64(1 << bits) + col2[::7]
    counting_sort(col2, bits, perm, offsets)
    order = np.argsort(col2, kind="stable")
    np.testing.assert_array_equal(perm, order)
    expect = np.searchsorted(col2[order], np.arange((1 << bits) + 1, dtype=np.uint64))
    np.testing.assert_array_equal(offsets, expect)


def test_dense_tables_match_the_sorted_layout():
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 1 << 9, size=(5000, 3)).astype(np.uint64)
    t = build_tables(keys, dense_bits=9)
    for j in range(3):
        np.testing.assert_array_equal(t["perm"][j], np.argsort(keys[:, j], kind="stable"))
        sizes = np.diff(t["dense"][j])
        np.testing.assert_array_equal(
            sizes, np.bincount(keys[:, j].astype(np.int64), minlength=512)
        )


def test_quantize_rows_equals_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 37)).astype(np.float32) * 3
    scales = (np.abs(x).max(axis=0) / 127.0).astype(np.float32)
    scales[5] *= 0.5  # values past +-127 are clipped, as np.clip does
    out = np.empty(x.shape, dtype=np.int8)
    quantize_rows(x, scales, out)
    ref = np.empty(x.shape, dtype=np.int8)
    ref[:] = np.clip(np.rint(x / scales), -127, 127)
    np.testing.assert_array_equal(out, ref)
    assert out[:, 5].max() == 127 and out[:, 5].min() == -127


@pytest.mark.parametrize("cls", [SimHashHasher, E2LSHHasher])
def test_blocked_keys_equal_keys_of_the_whole_projection(cls, monkeypatch):
    from recall.lsh import kernels as K_

    x = np.random.default_rng(2).standard_normal((1000, 16)).astype(np.float32)
    h = cls(16, 4, 9, random_state=3)
    f = h.project(x)
    if cls is SimHashHasher:
        whole = K_.combine_bits(f, 4, 9)
    else:
        whole = K_.combine_e2lsh(f, h.multipliers, 4, 9)
    monkeypatch.setattr(build_kernels, "KEY_BLOCK", 333)  # 4 blocks, the last one short
    np.testing.assert_array_equal(h.keys(x), whole)


def _held_bytes(idx) -> int:
    held = [v for v in vars(idx).values() if isinstance(v, np.ndarray)]
    held += list(idx._tables.values()) + list(idx.hasher.to_arrays().values())
    return sum(int(a.nbytes) for a in held) - idx._ncand.nbytes - idx._ndropped.nbytes


@pytest.mark.parametrize("cls", [SimHashIndex, E2LSHIndex])
def test_recall_floor_after_the_new_build_kernels(cls):
    x, q = gaussian_mixture(20_000, 32, n_clusters=50, n_queries=200, random_state=3)
    truth = exact_knn(x, q, K, metric="cosine").ids
    kw = {"n_bits": 11} if cls is SimHashIndex else {}
    idx = cls(metric="cosine", n_tables=8, n_probes=64, random_state=0, **kw).build(x)
    assert knn_recall(idx.search(q, K).ids, truth, K) >= 0.85
    assert idx.stats()["memory_bytes"] == _held_bytes(idx)


@pytest.mark.parametrize("family", ["gmm", "skewed"])
def test_tune_meets_target_and_cap_on_held_out_queries(family):
    if family == "gmm":
        x, q = gaussian_mixture(40_000, 64, n_clusters=100, n_queries=600, random_state=8)
    else:
        x, q = skewed_clusters(40_000, 64, n_queries=600, random_state=21)
    res = tune(x, q[:200], target_recall=0.9, metric="cosine", random_state=0)
    assert res.reached and res.recall >= 0.9
    assert res.validation_recall is not None and res.validation_recall >= 0.85
    fr = res.frontier
    assert fr["chosen"].sum() == 1
    # the first balanced grid point is swept first, SimHash after it (stopped once it cannot
    # win); the grid ends at the first balanced point that met the target
    assert fr["index"].iloc[0] == "balanced" and "simhash" in set(fr["index"])
    chosen = fr[fr["chosen"]].iloc[0]
    bal = fr[fr["index"] == "balanced"]
    assert bal["n_tables"].nunique() == 1
    met = fr[fr["recall"] - 2 * fr["recall_se"] >= 0.9]
    assert chosen["seconds_per_query"] <= met["seconds_per_query"].min() * 1.0001
    idx = res.make_index().build(x)
    st = idx.stats()
    assert st["memory_bytes"] <= 2.0 * x.nbytes
    if isinstance(idx, SimHashIndex):
        assert st["memory_bytes"] == _held_bytes(idx)
        if "sketch_radius" in res.params:  # the radius the tuner chose is the one searched with
            assert st["sketch_radius"] == res.params["sketch_radius"]
    truth = exact_knn(x, q[200:], K, metric="cosine").ids
    assert knn_recall(idx.search(q[200:], K).ids, truth, K) >= 0.87


def test_split_level_equals_the_numpy_expressions():
    """One compiled pass (projection, node means, centred digits) gives what the gathered BLAS
    product, the weighted bincounts and cp_digits gave (means to float32 rounding, digits equal
    away from exact ties)."""
    rng = np.random.default_rng(5)
    h = rng.standard_normal((5000, 33)).astype(np.float32)
    proj = np.linalg.qr(rng.standard_normal((33, 8)))[0].astype(np.float32)
    rows = np.sort(rng.choice(5000, size=3000, replace=False)).astype(np.int64)
    ns = 7
    local = rng.integers(0, ns, size=rows.size).astype(np.int64)
    pm, digits = split_level(h, rows, local, ns, proj)
    y = h[rows] @ proj
    cnt = np.bincount(local, minlength=ns).astype(np.float64)
    ref = np.empty((ns, 8), dtype=np.float32)
    for j in range(8):
        ref[:, j] = np.bincount(local, weights=y[:, j], minlength=ns) / cnt
    np.testing.assert_allclose(pm, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(digits, cp_digits(np.ascontiguousarray(y - ref[local])))
    assert pm.dtype == np.float32 and digits.dtype == np.int64


def test_group_rows_equals_a_stable_argsort():
    rng = np.random.default_rng(6)
    n, n_keys, n_tab = 1000, 53, 4
    keys = rng.integers(0, n_keys, size=(n_tab, n)).astype(np.int64)
    order = rng.permutation(n).astype(np.int64)
    counts = np.bincount(keys.ravel(), minlength=n_keys)
    out = group_rows(keys, order, np.cumsum(counts) - counts)
    rows = np.tile(np.arange(n), n_tab)
    np.testing.assert_array_equal(out, rows[np.argsort(keys[:, order].ravel(), kind="stable")])
    assert out.dtype == np.int32


def test_tuner_hands_back_its_built_index_and_phase_times():
    x, q = skewed_clusters(20_000, 32, n_queries=300, random_state=4)
    res = tune_balanced_lsh(x, q[:200], target_recall=0.9, random_state=0)
    assert res.reached
    # the index the tuning built is the chosen one: same answers as a fresh build
    assert res.index is not None and isinstance(res.index, res.index_class)
    fresh = res.make_index().build(x)
    a, b = res.index.search(q[200:], K), fresh.search(q[200:], K)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert set(res.timings) == {"truth", "build", "search", "validation"}
    assert all(v >= 0 for v in res.timings.values())
    assert sum(res.timings.values()) <= res.seconds
    # the first grid point met the target: no bigger point was built
    assert res.frontier["n_tables"].nunique() == 1
    # queries held out of the vectors: the tuning's index lacks them, so none is handed back
    res2 = tune_balanced_lsh(x, None, target_recall=0.9, random_state=0)
    assert res2.index is None and res2.reached


def test_explore_tries_later_grid_points_only_while_they_win():
    x, q = skewed_clusters(20_000, 32, n_queries=200, random_state=4)
    grid = ((4, 8, 64), (8, 8, 64))
    res = tune_balanced_lsh(x, q, target_recall=0.85, grid=grid, explore=True, random_state=0)
    first = res.frontier[res.frontier["n_tables"] == 4]
    assert res.reached and first["reached"].any()
    # the first point met the target and was the best so far: the second was tried too
    assert set(res.frontier["n_tables"]) == {4, 8}
    assert res.frontier["n_tables"].iloc[0] == 4
    res = tune_balanced_lsh(x, q, target_recall=0.85, grid=grid, random_state=0)
    assert (res.frontier["n_tables"] == 4).all()


def test_truth_of_unit_rows_by_inner_product_equals_cosine_truth():
    from recall.lsh.tuning_common import _truth

    x, q = skewed_clusters(5000, 16, n_queries=50, random_state=3)  # unit rows
    np.testing.assert_array_equal(
        _truth(x, q, K, "cosine"), exact_knn(x, q, K, metric="cosine").ids
    )
    y = x * 3.0  # not unit length: searched by cosine as before
    np.testing.assert_array_equal(_truth(y, q, K, "cosine"), exact_knn(x, q, K, "cosine").ids)


@pytest.mark.parametrize("skip", [0.0, float("inf")])
def test_simhash_is_not_built_when_a_sample_says_it_cannot_win(monkeypatch, skip):
    from recall.lsh import tuning_balanced as tb

    monkeypatch.setattr(tb, "SIMHASH_SAMPLE", 4096)
    monkeypatch.setattr(tb, "SIMHASH_SKIP", skip)
    x, q = skewed_clusters(20_000, 32, n_queries=200, random_state=4)
    res = tune(x, q, target_recall=0.9, random_state=0)
    kinds = set(res.frontier["index"])
    # skip 0: any predicted candidate count is too many, SimHash is never built
    assert ("simhash" in kinds) == (skip > 0)
    assert res.reached and res.index is not None
