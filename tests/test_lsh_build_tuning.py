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
from recall.lsh.build_kernels import counting_sort, quantize_rows
from recall.lsh.hashers import E2LSHHasher, SimHashHasher
from recall.lsh.tables import build_tables
from recall.lsh.tuning import tune

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
    # SimHash is swept first; the balanced grid stops at the first point that does not win
    assert fr["index"].iloc[0] == "simhash"
    chosen = fr[fr["chosen"]].iloc[0]
    bal = fr[fr["index"] == "balanced"]
    if chosen["index"] == "simhash":
        assert bal["n_tables"].nunique() <= 1
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
