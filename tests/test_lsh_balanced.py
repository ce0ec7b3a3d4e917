"""BalancedLSHIndex and tune_balanced_lsh: recall floors on skewed data, bucket balance, memory
accounting, the tuner's held-out recall, persistence, the short single-query path, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from recall.bench.datasets import gaussian_mixture, heavy_tailed_ip, skewed_clusters
from recall.exact import exact_knn, knn_recall
from recall.lsh import BalancedLSHIndex, SimHashIndex
from recall.lsh.tuning import tune_balanced_lsh

K = 10


@pytest.fixture(scope="module")
def skewed():
    x, q = skewed_clusters(30_000, 32, n_queries=300, random_state=11)
    return x, q, exact_knn(x, q, K, metric="cosine").ids


@pytest.fixture(scope="module")
def skewed_index(skewed):
    x, _, _ = skewed
    return BalancedLSHIndex("cosine", random_state=3).build(x)


def _recall(idx, q, truth):
    return knn_recall(idx.search(q, K).ids, truth, K)


def test_recall_floor_on_skewed_data(skewed, skewed_index):
    _, q, truth = skewed
    idx = skewed_index
    idx.set_search_params(query_probes=8)
    low = _recall(idx, q, truth)
    idx.set_search_params(query_probes=32)
    high = _recall(idx, q, truth)
    cand = idx.stats()["mean_candidates"]
    assert high >= 0.9, high
    assert high > low + 0.05
    # far fewer candidates than items: the index does not degenerate into a scan
    assert cand < 0.02 * len(idx), cand


def test_buckets_are_balanced_where_simhash_is_not(skewed, skewed_index):
    x, _, _ = skewed
    st = skewed_index.stats()
    assert st["bucket_size_max"] <= skewed_index.leaf_size
    sim = SimHashIndex("cosine", n_tables=8, n_bits=12, random_state=0).build(x).stats()
    # on skewed data random hyperplanes leave a few huge buckets
    assert sim["bucket_size_max"] > 10 * st["bucket_size_max"]


def test_fewer_candidates_than_simhash_at_equal_recall(skewed, skewed_index):
    x, q, truth = skewed
    idx = skewed_index
    idx.set_search_params(query_probes=24)
    r_bal = _recall(idx, q, truth)
    c_bal = idx.stats()["mean_candidates"]
    sim = SimHashIndex("cosine", n_tables=8, n_bits=12, n_probes=8, random_state=0).build(x)
    r_sim = _recall(sim, q, truth)
    c_sim = sim.stats()["mean_candidates"]
    assert r_bal >= r_sim - 0.01
    assert c_bal < 0.5 * c_sim, (r_bal, c_bal, r_sim, c_sim)


@pytest.mark.parametrize("family", ["gmm", "ip"])
def test_recall_floor_other_families(family):
    if family == "gmm":
        x, q = gaussian_mixture(20_000, 32, n_clusters=50, n_queries=200, random_state=4)
        metric, probes, floor = "cosine", 128, 0.9
    else:
        x, q = heavy_tailed_ip(20_000, 32, n_queries=200, random_state=4)
        metric, probes, floor = "ip", 32, 0.9
    truth = exact_knn(x, q, K, metric=metric).ids
    idx = BalancedLSHIndex(metric, n_tables=16, n_dirs=4, leaf_size=64, random_state=0)
    idx.build(x).set_search_params(query_probes=probes)
    assert _recall(idx, q, truth) >= floor


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_probing_every_leaf_is_exact(metric):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    x *= rng.lognormal(0, 0.5, size=(3000, 1)).astype(np.float32)
    q = rng.standard_normal((40, 16)).astype(np.float32)
    idx = BalancedLSHIndex(metric, n_tables=2, leaf_size=16, refine_factor=400, random_state=1)
    idx.build(x)
    idx.set_search_params(query_probes=10**6)
    truth = exact_knn(x, q, K, metric=metric)
    res = idx.search(q, K)
    assert knn_recall(res.ids, truth.ids, K) == 1.0
    np.testing.assert_allclose(res.scores, truth.scores, rtol=1e-4, atol=1e-4)


def test_memory_accounting_matches_arrays(skewed, skewed_index):
    x, _, _ = skewed
    idx = skewed_index
    st = idx.stats()
    n, d = x.shape
    # the arrays the index needs, counted independently of stats()
    must = {
        "vectors_f32": n * d * 4,
        "codes_int8": n * d,
        "postings": n * idx.n_tables * 4,
        "ids": n * 8,
    }
    for name, nbytes in must.items():
        assert st[f"{name}_bytes"] == nbytes, name
    held = [v for v in vars(idx).values() if isinstance(v, np.ndarray)]
    # every array the object holds is counted (scratch of the last search excepted)
    counted = sum(a.nbytes for a in held) - idx._ncand.nbytes - idx._nleaves.nbytes - 8
    assert st["memory_bytes"] == pytest.approx(counted, abs=64)
    assert st["bytes_per_item"] * n == pytest.approx(st["memory_bytes"])
    assert st["memory_vs_float32"] == pytest.approx(st["memory_bytes"] / (n * d * 4))
    assert st["memory_vs_float32"] <= 2.0


def test_tuner_meets_target_on_held_out_queries():
    x, q = skewed_clusters(20_000, 32, n_queries=600, random_state=21)
    res = tune_balanced_lsh(x, q[:200], target_recall=0.9, metric="cosine", random_state=0)
    assert res.reached and res.recall >= 0.9 and not res.message
    assert res.validation_recall is not None and res.validation_recall >= 0.87
    assert res.frontier["chosen"].sum() == 1
    # fresh queries the tuner never saw
    idx = res.make_index().build(x)
    truth = exact_knn(x, q[200:], K, metric="cosine").ids
    assert _recall(idx, q[200:], truth) >= 0.88


def test_tuner_says_which_knob_ran_out():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    res = tune_balanced_lsh(
        x, x[:60] + 0.3, target_recall=1.0, grid=((1, 2, 3000),), max_refine=4, random_state=0
    )
    # one table whose single leaf is everything: the exhausted knobs are named
    assert not res.reached or res.recall == 1.0
    if not res.reached:
        assert "query_probes" in res.message and "refine_factor" in res.message
        assert str(round(res.recall, 3))[:4] in res.message


def test_tuner_bad_arguments():
    x = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="target_recall"):
        tune_balanced_lsh(x, x[:20], target_recall=1.5)
    with pytest.raises(ValueError, match="validation"):
        tune_balanced_lsh(x, x[:20], validation=1.0)
    with pytest.raises(ValueError, match="grid"):
        tune_balanced_lsh(x, x[:20], grid=((8, 0, 32),))
    with pytest.raises(ValueError, match="too few"):
        tune_balanced_lsh(x, x[:1], validation=0.5)


def test_save_load_determinism_and_add(tmp_path, skewed):
    x, q, _ = skewed
    x, q = x[:5000], q[:50]
    a = BalancedLSHIndex("cosine", query_probes=16, random_state=7).build(x)
    b = BalancedLSHIndex("cosine", query_probes=16, random_state=7).build(x)
    ra, rb = a.search(q, K), b.search(q, K)
    assert np.array_equal(ra.ids, rb.ids)
    back = BalancedLSHIndex.load(a.save(tmp_path / "bal.npz"))
    assert back.params() == a.params()
    rc = back.search(q, K)
    assert np.array_equal(ra.ids, rc.ids)
    np.testing.assert_allclose(ra.scores, rc.scores, rtol=1e-6)
    assert back.stats()["memory_bytes"] == a.stats()["memory_bytes"]
    # a corrupted tree is refused
    with np.load(tmp_path / "bal.npz") as z:
        members = {kk: z[kk] for kk in z.files}
    members["s_postings"] = members["s_postings"] + 10**6
    np.savez(tmp_path / "bad.npz", **members)
    with pytest.raises(ValueError, match="corrupt"):
        BalancedLSHIndex.load(tmp_path / "bad.npz")
    # add: new items are found by their own vectors
    new = x[:3] * 0.5 + 0.5
    a.add(new, [10**9, 10**9 + 1, 10**9 + 2])
    assert np.array_equal(a.search(new, 1).ids[:, 0], [10**9, 10**9 + 1, 10**9 + 2])


def test_short_path_equals_validated_path(skewed_index, skewed):
    _, q, _ = skewed
    idx = skewed_index
    idx.set_search_params(query_probes=16)
    fast = idx.search(q[:20], K)  # float32, C-contiguous: the short path
    slow = idx.search(q[:20].astype(np.float64), K)  # cast and normalised by the base class
    assert np.array_equal(fast.ids, slow.ids)
    np.testing.assert_allclose(fast.scores, slow.scores, rtol=1e-5, atol=1e-6)
    one = idx.search(q[3], K)
    assert one.ids.shape == (1, K) and np.array_equal(one.ids[0], fast.ids[3])
    # unnormalised float32 queries give the same cosine neighbours
    scaled = idx.search(np.ascontiguousarray(q[:20] * 3.0), K)
    assert np.array_equal(scaled.ids, fast.ids)
    with pytest.raises(ValueError, match="NaN"):
        idx.search(np.full((1, idx.dim), np.nan, dtype=np.float32), K)
    with pytest.raises(ValueError, match="k must be"):
        idx.search(q[:2], 0)


def test_bad_parameters():
    for kw, match in (
        ({"n_tables": 0}, "n_tables"),
        ({"n_dirs": 0}, "n_dirs"),
        ({"leaf_size": 0}, "leaf_size"),
        ({"max_depth": 0}, "max_depth"),
        ({"query_probes": 0}, "query_probes"),
        ({"max_candidates": -1}, "max_candidates"),
        ({"refine_factor": 0}, "refine_factor"),
        ({"n_ranges": 0}, "n_ranges"),
        ({"n_tables": 2.5}, "n_tables"),
        ({"random_state": "x"}, "random_state"),
        ({"metric": "hamming"}, "hamming"),
    ):
        with pytest.raises(ValueError, match=match):
            BalancedLSHIndex(**kw)
    idx = BalancedLSHIndex()
    with pytest.raises(ValueError, match="unknown search parameter"):
        idx.set_search_params(n_tables=3)
    with pytest.raises(ValueError, match="query_probes"):
        idx.set_search_params(query_probes=0)
    assert idx.query_probes == 32  # a rejected change leaves the index as it was


def test_tuner_respects_the_memory_cap():
    x, q = skewed_clusters(8000, 48, n_queries=120, random_state=2)
    res = tune_balanced_lsh(
        x, q, target_recall=0.8, grid=((64, 8, 8), (4, 8, 32)), max_memory_ratio=2.0
    )
    # 64 tables of small leaves cost more than twice the vectors: skipped, and said so
    assert res.params["n_tables"] == 4
    assert (res.frontier["n_tables"] == 4).all()
    # nothing fits: the first grid point is tuned anyway, and the message says the cap was missed
    res = tune_balanced_lsh(x, q, target_recall=0.8, grid=((64, 8, 8),), max_memory_ratio=2.0)
    assert res.params["n_tables"] == 64 and "max_memory_ratio" in res.message


def test_tune_picks_the_cheaper_family_and_meets_the_target():
    from recall.lsh.tuning import tune

    x, q = gaussian_mixture(20_000, 32, n_clusters=50, n_queries=400, random_state=8)
    res = tune(x, q[:200], target_recall=0.9, metric="cosine", random_state=0)
    assert res.reached and res.validation_recall >= 0.86
    assert set(res.frontier["index"]) == {"balanced", "simhash"}
    chosen = res.frontier[res.frontier["chosen"]].iloc[0]
    reached = res.frontier[res.frontier["recall"] - 2 * res.frontier["recall_se"] >= 0.9]
    # the chosen point is the cheapest of those that met the target with the margin
    assert chosen["seconds_per_query"] <= reached["seconds_per_query"].min() * 1.0001
    idx = res.make_index().build(x)
    assert idx.stats()["memory_bytes"] <= 2.0 * x.nbytes
    truth = exact_knn(x, q[200:], K, metric="cosine").ids
    assert _recall(idx, q[200:], truth) >= 0.87


def test_tuners_name_too_few_vectors_and_k_above_n():
    from recall.lsh.tuning import tune_balanced_lsh, tune_lsh

    x = np.random.default_rng(3).standard_normal((30, 8)).astype(np.float32)
    for tuner in (tune_lsh, tune_balanced_lsh):
        with pytest.raises(ValueError, match="need at least 400 vectors"):
            tuner(x, None, n_queries=200)
        with pytest.raises(ValueError, match="k=50 exceeds the 30 vectors"):
            tuner(x, x[:5], k=50)


def test_file_saved_by_the_flat_layout_still_loads(tmp_path):
    """Files written before ``recall/lsh/`` became a package name ``recall.lsh_balanced`` (the
    balanced index) or ``recall.lsh`` (E2LSH / SimHash) in their header: they load unchanged."""
    import json

    from recall.base import load_index
    from recall.lsh import E2LSHIndex

    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    for idx, old_module in (
        (BalancedLSHIndex(n_tables=4, leaf_size=16, random_state=1), "recall.lsh_balanced"),
        (E2LSHIndex(n_tables=4, random_state=1), "recall.lsh"),
    ):
        idx.build(x)
        path = idx.save(tmp_path / "new.npz")
        with np.load(path) as z:
            members = {k: z[k] for k in z.files}
        header = json.loads(members["header"].tobytes().decode("utf-8"))
        header["module"] = old_module
        members["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        old = tmp_path / "old.npz"
        np.savez(old, **members)
        back = load_index(old)
        assert type(back) is type(idx) and back.params() == idx.params()
        a, b = idx.search(x[:25], 5), back.search(x[:25], 5)
        assert np.array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
