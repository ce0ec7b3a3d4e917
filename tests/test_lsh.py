"""LSH hashers and indexes: formulas, persistence, strategies, multi-probe, recall vs exact search."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recall.bench.datasets import gaussian_mixture
from recall.lsh import (
    E2LSHHasher,
    E2LSHIndex,
    SimHashHasher,
    SimHashIndex,
    hasher_from_arrays,
    knn_distance_scale,
    params_for_bucket_size,
)

K = 10


def _truth(x: np.ndarray, q: np.ndarray, k: int, metric: str) -> np.ndarray:
    if metric == "l2":
        s = -((q[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    else:
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        s = qn.astype(np.float64) @ xn.T.astype(np.float64)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def _recall(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean(
            [len(set(a.tolist()) & set(b.tolist())) / truth.shape[1] for a, b in zip(ids, truth)]
        )
    )


@pytest.fixture(scope="module")
def data():
    x, q = gaussian_mixture(20_000, 32, n_clusters=50, n_queries=150, random_state=3)
    return x, q, {m: _truth(x, q, K, m) for m in ("l2", "cosine")}


# ----------------------------------------------------------------------------- hashers
def test_e2lsh_hasher_matches_direct_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 24)).astype(np.float32)
    h = E2LSHHasher(24, n_tables=3, n_hashes=5, bucket_width=1.7, random_state=1)
    A = h.projections.astype(np.float64)
    b = h.offsets.astype(np.float64)
    f = (x.astype(np.float64) @ A + b) / 1.7
    direct = np.floor(f).astype(np.int64)
    got = h.hash_values(x).reshape(500, 15)
    near_boundary = np.abs(f - np.round(f)) < 1e-4
    assert (got[~near_boundary] == direct[~near_boundary]).all()
    assert near_boundary.mean() < 0.01
    assert (h.offsets >= 0).all() and (h.offsets < 1.7).all()
    # the documented key: sum_j c_j * uint64(h_j) mod 2**64, per table
    hv = got.astype(np.uint64).reshape(500, 3, 5)
    c = h.multipliers.reshape(3, 5)
    with np.errstate(over="ignore"):
        keys = (hv * c[None]).sum(axis=2, dtype=np.uint64)
    assert np.array_equal(keys, h.keys(x))
    assert (h.multipliers % 2 == 1).all()


def test_simhash_hasher_matches_direct_formula():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    h = SimHashHasher(16, n_tables=4, n_bits=11, random_state=2)
    p = (x.astype(np.float64) @ h.projections.astype(np.float64)).reshape(300, 4, 11)
    bits = (p > 0).astype(np.uint64)
    keys = (bits << np.arange(11, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
    assert np.array_equal(keys, h.keys(x))
    # angle between x and y -> collision rate per bit = 1 - theta / pi
    y = x + 0.6 * rng.standard_normal(x.shape).astype(np.float32)
    theta = np.arccos((x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1))
    big = SimHashHasher(16, n_tables=1, n_bits=64, random_state=5)
    same = big.bits(x) == big.bits(y)
    assert abs(same.mean() - (1 - theta / np.pi).mean()) < 0.02


def test_hasher_determinism_round_trip_and_fingerprint():
    x = np.random.default_rng(3).standard_normal((50, 8)).astype(np.float32)
    for make in (
        lambda s: E2LSHHasher(8, 4, 6, 0.8, random_state=s),
        lambda s: SimHashHasher(8, 4, 12, random_state=s),
    ):
        a, b, c = make(7), make(7), make(8)
        assert np.array_equal(a.keys(x), b.keys(x)) and a.fingerprint() == b.fingerprint()
        assert a.fingerprint() != c.fingerprint()
        arrays = a.to_arrays()
        assert all(isinstance(v, np.ndarray) for v in arrays.values())
        r = hasher_from_arrays(arrays)
        assert type(r) is type(a) and r.fingerprint() == a.fingerprint()
        assert np.array_equal(r.keys(x), a.keys(x))
        # through an npz file (what a store would keep)
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        buf.seek(0)
        with np.load(buf, allow_pickle=False) as z:
            r2 = type(a).from_arrays({k: z[k] for k in z.files})
        assert r2.fingerprint() == a.fingerprint()
    with pytest.raises(ValueError, match="kind"):
        SimHashHasher.from_arrays(E2LSHHasher(8, random_state=0).to_arrays())
    # first tables of a bigger hasher equal the smaller hasher (prefix property)
    big, small = (
        E2LSHHasher(8, 6, 4, 1.0, random_state=9),
        E2LSHHasher(8, 2, 4, 1.0, random_state=9),
    )
    assert np.array_equal(big.keys(x)[:, :2], small.keys(x))


def test_hasher_bad_arguments():
    with pytest.raises(ValueError, match="bucket_width"):
        E2LSHHasher(4, 2, 2, bucket_width=0.0)
    with pytest.raises(ValueError, match="n_bits"):
        SimHashHasher(4, 2, 65)
    with pytest.raises(ValueError, match="wrong dimension"):
        SimHashHasher(4, 2, 8).keys(np.ones((3, 5), dtype=np.float32))


# ----------------------------------------------------------------------------- indexes
@pytest.mark.parametrize(
    "make,metric,floor",
    [
        (lambda: E2LSHIndex("l2", n_tables=10, n_hashes=8, strategy="or", n_probes=60), "l2", 0.9),
        (
            lambda: E2LSHIndex(
                "l2", n_tables=10, n_hashes=6, strategy="vote", min_votes=2, n_probes=80
            ),
            "l2",
            0.9,
        ),
        (lambda: E2LSHIndex("l2", n_tables=4, n_hashes=3, strategy="and", n_probes=40), "l2", 0.8),
        (lambda: E2LSHIndex("cosine", n_tables=10, n_hashes=8, n_probes=60), "cosine", 0.9),
        (lambda: SimHashIndex(n_tables=10, n_bits=12, strategy="or", n_probes=60), "cosine", 0.9),
        (
            lambda: SimHashIndex(n_tables=10, n_bits=8, strategy="vote", min_votes=2, n_probes=60),
            "cosine",
            0.9,
        ),
        (lambda: SimHashIndex(n_tables=4, n_bits=4, strategy="and", n_probes=24), "cosine", 0.8),
        (lambda: E2LSHIndex(), "l2", 0.9),
        (lambda: SimHashIndex(), "cosine", 0.9),
    ],
)
def test_recall_against_exact(data, make, metric, floor):
    x, q, truth = data
    idx = make().build(x)
    res = idx.search(q, K)
    assert res.ids.shape == (q.shape[0], K) and res.ids.dtype == np.int64
    assert res.scores.dtype == np.float32
    assert (np.diff(res.scores, axis=1) <= 0).all()
    r = _recall(res.ids, truth[metric])
    assert r >= floor, f"{idx.params()} recall {r:.3f} < {floor}"
    # scores are the exact scores of the returned ids
    ok = res.ids >= 0
    xi = x[res.ids[ok]]
    qi = np.repeat(q, K, axis=0)[ok.ravel()]
    if metric == "l2":
        exp = -((xi - qi) ** 2).sum(1)
    else:
        exp = (xi * qi).sum(1) / np.linalg.norm(xi, axis=1) / np.linalg.norm(qi, axis=1)
    np.testing.assert_allclose(res.scores[ok], exp, rtol=1e-4, atol=1e-4)
    # fewer candidates than all items: it is an index, not a scan
    assert idx.stats()["mean_candidates"] < 0.6 * x.shape[0]


def test_recall_rises_with_tables_and_probes(data):
    x, q, truth = data
    by_l = []
    for n_tables in (1, 2, 4, 8, 16):
        idx = SimHashIndex(n_tables=n_tables, n_bits=14, n_probes=n_tables).build(x)
        by_l.append(_recall(idx.search(q, K).ids, truth["cosine"]))
    assert all(b >= a for a, b in zip(by_l, by_l[1:])), by_l
    assert by_l[-1] > by_l[0] + 0.3
    by_p, cands = [], []
    idx = E2LSHIndex("l2", n_tables=4, n_hashes=10).build(x)
    for probes in (4, 8, 16, 32, 64, 128):
        idx.n_probes = probes
        by_p.append(_recall(idx.search(q, K).ids, truth["l2"]))
        cands.append(idx.stats()["mean_candidates"])
    assert all(b >= a for a, b in zip(by_p, by_p[1:])), by_p
    assert all(b >= a for a, b in zip(cands, cands[1:])), cands
    assert by_p[-1] > by_p[0] + 0.2


@pytest.mark.parametrize("cls", [E2LSHIndex, SimHashIndex])
def test_vote_extremes_equal_or_and(data, cls):
    x, q, _ = data
    common = dict(n_tables=5, n_probes=15, random_state=4)
    or_ = cls(strategy="or", **common).build(x).search(q, K)
    v1 = cls(strategy="vote", min_votes=1, **common).build(x).search(q, K)
    and_idx = cls(strategy="and", **common).build(x)
    and_ = and_idx.search(q, K)
    v5 = cls(strategy="vote", min_votes=5, **common).build(x).search(q, K)
    v3 = cls(strategy="vote", min_votes=3, **common).build(x)
    r3 = v3.search(q, K)
    assert np.array_equal(or_.ids, v1.ids) and np.array_equal(or_.scores, v1.scores)
    assert np.array_equal(and_.ids, v5.ids) and np.array_equal(and_.scores, v5.scores)
    # candidates shrink from OR to vote(3) to AND, and AND pads with -1 when too few match
    assert v3.stats()["mean_candidates"] >= and_idx.stats()["mean_candidates"]
    assert (r3.ids >= 0).sum() >= (and_.ids >= 0).sum()


def test_stats_fields(data):
    x, q, _ = data
    idx = SimHashIndex(n_tables=6, n_bits=10, n_probes=12).build(x)
    st = idx.stats()
    for key in (
        "n",
        "dim",
        "memory_bytes",
        "table_bytes",
        "bucket_size_mean",
        "bucket_size_item_mean",
        "bucket_size_max",
        "bucket_size_p50",
        "bucket_size_p90",
        "bucket_size_p99",
        "n_buckets",
    ):
        assert key in st, key
    assert st["n"] == x.shape[0]
    assert st["table_bytes"] >= 6 * x.shape[0] * 4  # at least the sorted row lists
    assert st["bucket_size_mean"] * st["n_buckets"] == pytest.approx(6 * x.shape[0])
    assert (
        st["bucket_size_p50"]
        <= st["bucket_size_p90"]
        <= st["bucket_size_p99"]
        <= st["bucket_size_max"]
    )
    idx.search(q, K)
    assert 0 < idx.stats()["mean_candidates"] < x.shape[0]


def test_determinism_save_load_and_add(tmp_path, data):
    x, q, _ = data
    ids = np.arange(x.shape[0], dtype=np.int64) * 7 + 3
    a = E2LSHIndex("l2", n_tables=6, n_hashes=8, bucket_width=1.0, n_probes=30, random_state=5)
    a.build(x, ids)
    b = E2LSHIndex("l2", n_tables=6, n_hashes=8, bucket_width=1.0, n_probes=30, random_state=5)
    b.build(x[:12_000], ids[:12_000]).add(x[12_000:], ids[12_000:])
    ra, rb = a.search(q, K), b.search(q, K)
    assert np.array_equal(ra.ids, rb.ids) and np.array_equal(ra.scores, rb.scores)
    assert set(np.unique(ra.ids)) <= set(ids)
    path = a.save(tmp_path / "e2.npz")
    c = E2LSHIndex.load(path)
    rc = c.search(q, K)
    assert np.array_equal(ra.ids, rc.ids) and np.array_equal(ra.scores, rc.scores)
    assert c.hasher.fingerprint() == a.hasher.fingerprint()
    s = SimHashIndex(n_tables=3, random_state=1).build(x)
    s2 = SimHashIndex.load(s.save(tmp_path / "s.npz"))
    assert np.array_equal(s.search(q, K).ids, s2.search(q, K).ids)
    # a rejected add leaves the index usable and unchanged
    with pytest.raises(ValueError, match="already in the index"):
        a.add(x[:3], ids[:3])
    assert np.array_equal(a.search(q, K).ids, ra.ids)


def test_duplicates_find_themselves_and_padding(data):
    x, _, _ = data
    for idx in (E2LSHIndex(), SimHashIndex(), E2LSHIndex("cosine", strategy="and")):
        idx.build(x[:5000])
        rows = np.arange(0, 5000, 97)
        res = idx.search(x[rows], 3)
        assert np.array_equal(res.ids[:, 0], rows)
    tiny = SimHashIndex(n_tables=2, n_bits=4).build(x[:3])
    res = tiny.search(x[:2], 5)
    assert (res.ids[:, 3:] == -1).all() and np.isneginf(res.scores[:, 3:]).all()


def test_bad_parameters():
    with pytest.raises(ValueError, match="strategy"):
        E2LSHIndex(strategy="xor")
    with pytest.raises(ValueError, match="min_votes"):
        SimHashIndex(n_tables=4, strategy="vote", min_votes=5)
    with pytest.raises(ValueError, match="min_votes"):
        SimHashIndex(n_tables=4, strategy="or", min_votes=2)
    with pytest.raises(ValueError, match="n_probes"):
        SimHashIndex(n_tables=4, n_probes=2)
    with pytest.raises(ValueError, match="bucket_width"):
        E2LSHIndex(bucket_width=-1.0)
    with pytest.raises(ValueError, match="metric"):
        SimHashIndex(metric="hamming")
    with pytest.raises(ValueError, match="empty"):
        SimHashIndex().search(np.ones((1, 4), dtype=np.float32), 1)


def test_scale_and_bucket_size_helpers(data):
    x, _, _ = data
    r = knn_distance_scale(x, k=10, random_state=0)
    d2 = ((x[:64, None, :] - x[None, :, :]) ** 2).sum(-1)
    exact = np.sqrt(np.sort(d2, axis=1)[:, 10])
    assert 0.5 * np.median(exact) < r < 2 * np.median(exact)
    for target in (20, 200):
        p = params_for_bucket_size(x, target, "simhash", random_state=0)
        idx = SimHashIndex(n_tables=4, n_bits=int(p["n_bits"])).build(x)
        got = idx.stats()["bucket_size_item_mean"]
        assert target / 3 < got < target * 3, (target, p, got)
    p = params_for_bucket_size(x, 50, "e2lsh", random_state=0)
    idx = E2LSHIndex(n_tables=4, n_hashes=int(p["n_hashes"]), bucket_width=p["bucket_width"]).build(
        x
    )
    assert 50 / 3 < idx.stats()["bucket_size_item_mean"] < 150


# ----------------------------------------------------------------------------- tuning
@pytest.mark.parametrize("kind", ["simhash", "e2lsh"])
def test_tuning_reaches_target_on_held_out_queries(kind):
    from recall.exact import exact_knn, knn_recall
    from recall.lsh.tuning import tune_lsh

    x, q = gaussian_mixture(8_000, 32, n_clusters=40, n_queries=300, random_state=11)
    res = tune_lsh(x, q[:150], k=K, target_recall=0.9, kind=kind, n_tables=(4, 8), random_state=0)
    fr = res.frontier
    for col in ("n_tables", "n_hashes", "n_probes", "recall", "mean_candidates", "qps", "chosen"):
        assert col in fr.columns, col
    assert res.reached and res.recall >= 0.9 and fr["chosen"].sum() == 1
    reached = fr[fr["recall"] >= 0.9]
    assert res.cost == pytest.approx(reached["seconds_per_query"].min())
    # probes were explored by doubling: several probe counts per (tables, hashes)
    assert fr.groupby(["n_tables", "n_hashes"])["n_probes"].nunique().max() >= 2
    metric = res.params["metric"]
    idx = res.make_index().build(x)
    truth = exact_knn(x, q[150:], K, metric=metric).ids
    held = knn_recall(idx.search(q[150:], K).ids, truth, K)
    assert held >= 0.86, (res.params, held)


def test_tuning_cost_is_wall_clock_and_reported(monkeypatch):
    """The tuners time searches on the wall clock: a search that waits (no CPU used) costs its
    wait; the result names the clock and records the load average and its own duration."""
    from recall.lsh import tuning
    from recall.lsh.index import _LSHIndex

    wait = 0.02
    real = _LSHIndex.search

    def waiting_search(self, queries, k):
        time.sleep(wait)
        return real(self, queries, k)

    monkeypatch.setattr(_LSHIndex, "search", waiting_search)
    x, q = gaussian_mixture(2_000, 16, n_clusters=10, n_queries=40, random_state=3)
    res = tuning.tune_lsh(x, q, k=K, target_recall=0.5, n_tables=(4,), n_hashes=(6,))
    assert (res.frontier["seconds_per_query"] >= wait / q.shape[0]).all()
    assert res.cost >= wait / q.shape[0]
    assert "perf_counter" in res.cost_unit
    assert res.seconds > 0 and res.load_average is not None and len(res.load_average) == 3


def test_tuning_bad_arguments():
    from recall.lsh.tuning import tune_lsh

    x = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="kind"):
        tune_lsh(x, x[:5], kind="minhash")
    with pytest.raises(ValueError, match="target_recall"):
        tune_lsh(x, x[:5], target_recall=1.5)
    with pytest.raises(ValueError, match="hold out"):
        tune_lsh(x, None, n_queries=80)


# ----------------------------------------------------------------------------- features
def _xor_problem(n=3000, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a, b = rng.standard_normal((2, d))
    a /= np.linalg.norm(a)
    b /= np.linalg.norm(b)
    y = ((x @ a > 0.2) ^ (x @ b > -0.1)).astype(int)
    return x, y


def test_features_shapes_sparsity_and_determinism():
    import scipy.sparse as sp

    from recall.lsh.features import LSHBucketFeatures

    x, _ = _xor_problem(500)
    t = LSHBucketFeatures(n_projections=10, resolutions=(1, 2, 4, 8, 16), random_state=3).fit(x)
    f = t.transform(x)
    assert sp.issparse(f) and f.format == "csr"
    assert f.shape == (500, 10 * (2 + 3 + 5 + 9 + 17)) == (500, t.n_features_out_)
    assert (np.diff(f.indptr) == 50).all() and (f.data == 1).all()
    assert len(t.get_feature_names_out()) == f.shape[1]
    # each (resolution, projection) block holds exactly one active column
    b = t.bucket_ids(x)
    for i, r in enumerate(t.resolutions_):
        blk = b[:, i * 10 : (i + 1) * 10]
        assert blk.min() >= 0 and blk.max() <= r
    # finer resolutions use more distinct buckets
    assert len(np.unique(b[:, 40])) > len(np.unique(b[:, 0]))
    g = LSHBucketFeatures(n_projections=10, random_state=3).fit(x).transform(x)
    assert (g != f).nnz == 0
    with pytest.raises(ValueError, match="resolutions"):
        LSHBucketFeatures(resolutions=(0, 2)).fit(x)
    with pytest.raises(ValueError, match="wrong dimension"):
        t.transform(np.ones((2, 3), dtype=np.float32))


def test_features_beat_linear_model_on_nonlinear_target():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from recall.lsh.features import LSHBucketFeatures

    x, y = _xor_problem(3000)
    tr, te = slice(0, 2000), slice(2000, None)
    raw = LogisticRegression(max_iter=1000).fit(x[tr], y[tr]).score(x[te], y[te])
    pipe = make_pipeline(
        LSHBucketFeatures(n_projections=64, random_state=0), LogisticRegression(max_iter=2000)
    ).fit(x[tr], y[tr])
    lsh = pipe.score(x[te], y[te])
    assert lsh > raw + 0.1, (raw, lsh)


@pytest.mark.parametrize("cls", [SimHashIndex, E2LSHIndex])
def test_set_search_params_changes_probes_without_rebuild(data, cls):
    x, q, truth = data
    metric = "cosine" if cls is SimHashIndex else "l2"
    idx = cls(metric=metric, n_tables=4, n_probes=4, random_state=0).build(x)
    low = _recall(idx.search(q, K).ids, truth[metric])
    tables_before = {k: v.copy() for k, v in idx._tables.items()}
    assert idx.set_search_params(n_probes=64, refine_factor=16) is idx
    assert idx.params()["n_probes"] == 64 and idx.params()["refine_factor"] == 16
    high = _recall(idx.search(q, K).ids, truth[metric])
    assert high > low + 0.05
    assert all(np.array_equal(tables_before[k], idx._tables[k]) for k in tables_before)
    with pytest.raises(ValueError, match="n_probes"):
        idx.set_search_params(refine_factor=3, n_probes=0)
    assert idx.n_probes == 64 and idx.refine_factor == 16  # nothing applied
    # fewer probes than tables: the first tables' home buckets only, fewer candidates
    idx.set_search_params(n_probes=2)
    idx.search(q, K)
    few = idx.stats()["mean_candidates"]
    idx.set_search_params(n_probes=4)
    idx.search(q, K)
    assert few < idx.stats()["mean_candidates"]
    with pytest.raises(ValueError, match="unknown search parameter"):
        idx.set_search_params(n_bits=3)
