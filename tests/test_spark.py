"""Spark on a local[2] SparkSession: embeddings.spark (sessions, Item2vec, random walks) and
recall.spark (batch LSH recall, exact references, BRP comparison graded on a user sample)."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from embeddings.datasets.tables import Interactions
from embeddings.sessions import build_sessions
from embeddings.types import Embeddings
from recall.exact import knn_recall
from recall.lsh import E2LSHHasher, E2LSHIndex, SimHashIndex

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    java_home = os.environ.get("JAVA_HOME")
    has_java = shutil.which("java") is not None or (
        java_home is not None and os.path.exists(os.path.join(java_home, "bin", "java"))
    )
    if not has_java:
        pytest.skip("no Java runtime (java on PATH or JAVA_HOME) for pyspark")
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (the venv), not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    session = (
        SparkSession.builder.master("local[2]")
        .appName("embrecall-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")  # tiny data: no re-planning stages
        .config("spark.sql.codegen.wholeStage", "false")  # no Janino compiles for tiny data
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        # short-lived JVM: the C1 compiler only and a serial GC use far less CPU than the defaults
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _events() -> Interactions:
    rng = np.random.default_rng(5)
    n = 400
    users = rng.integers(0, 25, n)
    items = rng.integers(100, 160, n)
    ts = rng.integers(0, 50, n) * 100  # many timestamp ties within a user
    rating = rng.integers(1, 6, n).astype(float)
    return Interactions.from_arrays(users, items, rating, ts, name="tiny")


@pytest.mark.parametrize(
    ("min_rating", "session_gap", "min_length"),
    [(None, None, 2), (3.0, 250, 2), (None, 100, 3)],
)
def test_spark_sessions_equal_build_sessions(spark, min_rating, session_gap, min_length):
    from embeddings.spark import collect_sessions, interactions_to_spark, spark_sessions

    inter = _events()
    ref = build_sessions(
        inter, min_rating=min_rating, session_gap=session_gap, min_length=min_length
    )
    sdf = spark_sessions(interactions_to_spark(spark, inter), min_rating, session_gap, min_length)
    got = collect_sessions(sdf)
    assert len(got) == len(ref) > 5
    np.testing.assert_array_equal(got.user_ids, ref.user_ids)
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.items, ref.items)  # ties keep the input order
    np.testing.assert_array_equal(got.timestamps, ref.timestamps)
    np.testing.assert_array_equal(got.ratings, ref.ratings)


def test_spark_sessions_errors(spark):
    from embeddings.spark import collect_sessions, interactions_to_spark, spark_sessions

    sdf = interactions_to_spark(spark, _events())
    with pytest.raises(ValueError, match="missing columns"):
        spark_sessions(sdf.drop("timestamp"))
    with pytest.raises(ValueError, match="session_gap"):
        spark_sessions(sdf, session_gap=-1)
    with pytest.raises(ValueError, match="min_length"):
        spark_sessions(sdf, min_length=0)
    with pytest.raises(ValueError, match="no session"):
        collect_sessions(spark_sessions(sdf, min_rating=99.0))


def test_spark_item2vec_returns_embeddings(spark, synthetic_small):
    from embeddings.spark import SparkItem2Vec, interactions_to_spark, spark_sessions

    inter = synthetic_small.interactions
    sessions = spark_sessions(interactions_to_spark(spark, inter)).cache()
    trainer = SparkItem2Vec(vector_size=8, window=3, min_count=2, epochs=1, random_state=3)
    emb = trainer.fit(sessions)
    assert isinstance(emb, Embeddings)
    local = build_sessions(inter)
    ids, counts = np.unique(local.items, return_counts=True)
    np.testing.assert_array_equal(emb.ids, ids[counts >= 2])
    assert emb.vectors.shape == (ids[counts >= 2].size, 8) and emb.vectors.dtype == np.float32
    assert np.isfinite(emb.vectors).all() and np.abs(emb.vectors).sum() > 0
    assert emb.meta["method"] == "item2vec-spark" and emb.meta["params"]["vector_size"] == 8
    again = SparkItem2Vec(vector_size=8, window=3, min_count=2, epochs=1, random_state=3).fit(
        sessions
    )
    np.testing.assert_array_equal(again.vectors, emb.vectors)  # seeded, one partition
    with pytest.raises(ValueError, match="vector_size"):
        SparkItem2Vec(vector_size=0).fit(sessions)
    with pytest.raises(ValueError, match="no column"):
        trainer.fit(sessions, items_col="nope")
    sessions.unpersist()


def _vectors(seed=0, n_users=40, n_items=150, d=8):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, d)).astype(np.float32)
    items = centres[rng.integers(0, 6, n_items)] + 0.5 * rng.standard_normal((n_items, d))
    users = centres[rng.integers(0, 6, n_users)] + 0.5 * rng.standard_normal((n_users, d))
    item_ids = rng.choice(10**6, n_items, replace=False)
    user_ids = rng.choice(10**6, n_users, replace=False)
    return (
        Embeddings(user_ids, users.astype(np.float32)),
        Embeddings(item_ids, items.astype(np.float32)),
    )


def _local_index(kind, metric, strategy="or", min_votes=None, L=4):
    if kind == "simhash":
        return SimHashIndex(
            metric,
            n_tables=L,
            n_bits=4,
            strategy=strategy,
            min_votes=min_votes,
            n_probes=L,
            random_state=9,
        )
    return E2LSHIndex(
        metric,
        n_tables=L,
        n_hashes=3,
        bucket_width=2.5,
        strategy=strategy,
        min_votes=min_votes,
        n_probes=L,
        random_state=9,
    )


@pytest.mark.parametrize(
    ("kind", "metric", "strategy", "min_votes"),
    [("simhash", "cosine", "or", None), ("e2lsh", "l2", "or", None), ("e2lsh", "l2", "vote", 2)],
)
def test_batch_recall_equals_local_index(spark, tmp_path, kind, metric, strategy, min_votes):
    from recall.spark import collect_top_k, lsh_batch_recall

    users, items = _vectors()
    idx = _local_index(kind, metric, strategy, min_votes).build(items.vectors, items.ids)
    k = 7
    out = tmp_path / "recs.parquet" if strategy == "or" and kind == "e2lsh" else None
    res = lsh_batch_recall(
        spark,
        users,
        items,
        idx.hasher,
        k=k,
        metric=metric,
        strategy=strategy,
        min_votes=min_votes,
        output=None if out is None else str(out),
    )
    assert res.columns == ["user_id", "item_id", "score", "rank"]
    got_ids, got_scores = collect_top_k(res, users.ids, k)
    ref = idx.search(users.vectors, k)
    np.testing.assert_array_equal(got_ids, ref.ids)  # every user, every rank
    fin = np.isfinite(ref.scores)
    np.testing.assert_array_equal(np.isfinite(got_scores), fin)
    np.testing.assert_allclose(got_scores[fin], ref.scores[fin], rtol=1e-5, atol=1e-5)
    assert (ref.ids[:, 0] >= 0).mean() > 0.7
    if out is not None:
        assert out.exists() and len(pd.read_parquet(out)) == int((ref.ids >= 0).sum())


def test_batch_recall_exclude_and_errors(spark):
    from recall.spark import collect_top_k, lsh_batch_recall

    users, items = _vectors(seed=1, n_users=12)
    idx = SimHashIndex("cosine", n_tables=3, n_bits=3, n_probes=3, random_state=2)
    idx.build(items.vectors, items.ids)
    ref = idx.search(users.vectors, 4)
    assert (ref.ids[:, 0] >= 0).all()
    seen = spark.createDataFrame(
        [(int(u), int(i)) for u, i in zip(users.ids, ref.ids[:, 0], strict=True)],
        "user_id bigint, item_id bigint",
    )
    excl = lsh_batch_recall(spark, users, items, idx.hasher, k=3, exclude=seen)
    got, _ = collect_top_k(excl, users.ids, 3)
    np.testing.assert_array_equal(got, ref.ids[:, 1:])  # the seen item is gone, the rest moves up
    hasher = idx.hasher
    with pytest.raises(ValueError, match="strategy"):
        lsh_batch_recall(spark, users, items, hasher, strategy="xor")
    with pytest.raises(ValueError, match="min_votes"):
        lsh_batch_recall(spark, users, items, hasher, strategy="vote", min_votes=7)
    with pytest.raises(ValueError, match="k must be"):
        lsh_batch_recall(spark, users, items, hasher, k=0)
    with pytest.raises(ValueError, match="metric"):
        lsh_batch_recall(spark, users, items, hasher, metric="hamming")
    with pytest.raises(ValueError, match="keys"):
        lsh_batch_recall(spark, users, items, object())
    with pytest.raises(ValueError, match="missing columns"):
        lsh_batch_recall(spark, seen, items, hasher)


def test_exact_references_and_brp(spark):
    from recall.spark import broadcast_exact_top_k, brp_top_k, collect_top_k, exact_top_k

    users, items = _vectors(seed=2, n_users=30, n_items=120)
    k = 5
    # both exact references equal numpy brute force (cosine), every user, every rank
    un = users.vectors / np.linalg.norm(users.vectors, axis=1, keepdims=True)
    inn = items.vectors / np.linalg.norm(items.vectors, axis=1, keepdims=True)
    sims = un @ inn.T
    ref = items.ids[np.argsort(-sims, axis=1, kind="stable")[:, :k]]
    got, _ = collect_top_k(exact_top_k(spark, users, items, k), users.ids, k)
    np.testing.assert_array_equal(got, ref)
    # items spread over 3 partitions: the per-partition top-k are merged by the rank window
    it3 = spark.createDataFrame(
        [(int(i), v.tolist()) for i, v in zip(items.ids, items.vectors, strict=True)],
        "id bigint, vector array<float>",
    ).repartition(3)
    bids, bscores = collect_top_k(broadcast_exact_top_k(spark, users, it3, k), users.ids, k)
    np.testing.assert_array_equal(bids, ref)
    np.testing.assert_allclose(bscores, np.sort(sims, axis=1)[:, ::-1][:, :k], atol=1e-5)
    for metric in ("l2", "ip"):
        a, _ = collect_top_k(exact_top_k(spark, users, items, k, metric), users.ids, k)
        b, _ = collect_top_k(broadcast_exact_top_k(spark, users, it3, k, metric), users.ids, k)
        np.testing.assert_array_equal(a, b)
    # fewer items than k: padded, same as the cross join
    few = Embeddings(items.ids[:3], items.vectors[:3])
    a, _ = collect_top_k(broadcast_exact_top_k(spark, users, few, k), users.ids, k)
    b, _ = collect_top_k(exact_top_k(spark, users, few, k), users.ids, k)
    np.testing.assert_array_equal(a, b)
    assert (a[:, 3:] == -1).all() and (a[:, :3] >= 0).all()
    # BRP: every returned score is the exact cosine of its pair, sorted per user, mostly right
    brp_ids, brp_scores = collect_top_k(
        brp_top_k(spark, users, items, k, bucket_length=2.0, num_hash_tables=3, random_state=0),
        users.ids,
        k,
    )
    found = brp_ids >= 0
    assert found[:, 0].all()
    col = {int(i): j for j, i in enumerate(items.ids)}
    for u in range(len(users)):
        exact = np.array([sims[u, col[int(i)]] for i in brp_ids[u][found[u]]])
        np.testing.assert_allclose(brp_scores[u][found[u]], exact, atol=1e-5)
        assert (np.diff(brp_scores[u][found[u]]) <= 0).all()
    assert np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(brp_ids, ref)]) > 0.5
    with pytest.raises(ValueError, match="ip"):
        brp_top_k(spark, users, items, k, metric="ip")


def test_sample_users_and_sampled_recall(spark):
    from recall.spark import (
        collect_top_k,
        embeddings_to_spark,
        exact_top_k,
        lsh_batch_recall,
        sample_users,
        sampled_knn_recall,
    )

    users, items = _vectors(seed=3, n_users=60, n_items=150)
    ids = lambda df: sorted(r["id"] for r in df.select("id").collect())  # noqa: E731
    s1 = ids(sample_users(spark, users, 20, random_state=4))
    shuffled = embeddings_to_spark(spark, users).repartition(5)
    assert len(s1) == 20 and set(s1) <= set(users.ids.tolist())
    assert ids(sample_users(spark, shuffled, 20, random_state=4)) == s1  # partitioning-free
    assert ids(sample_users(spark, users, 20, random_state=5)) != s1
    assert len(ids(sample_users(spark, users, 500, random_state=4))) == 60
    with pytest.raises(ValueError, match="sample size"):
        sample_users(spark, users, 0)

    k = 6
    idx = SimHashIndex("cosine", n_tables=2, n_bits=5, n_probes=2, random_state=1)
    idx.build(items.vectors, items.ids)
    approx = lsh_batch_recall(spark, users, items, idx.hasher, k=k)
    sample = sample_users(spark, users, 20, random_state=4)
    exact_s = exact_top_k(spark, sample, items, k)
    est = sampled_knn_recall(approx, exact_s, k, population=60)
    # the shared definition on the sampled users' local arrays
    rows = np.array(s1)
    local = idx.search(users.lookup(rows), k).ids
    truth, _ = collect_top_k(exact_top_k(spark, users, items, k), rows, k)
    assert est.knn_recall == pytest.approx(knn_recall(local, truth, k))
    assert est.n_sample == 20 and est.population == 60 and est.confidence == 0.95
    assert 0 < est.knn_recall < 1 and est.low < est.knn_recall < est.high
    # the whole population: no sampling error; a smaller sample: a wider interval
    full = sampled_knn_recall(approx, exact_top_k(spark, users, items, k), k)
    all_local = idx.search(users.vectors, k).ids
    all_truth, _ = collect_top_k(exact_top_k(spark, users, items, k), users.ids, k)
    assert full.knn_recall == pytest.approx(knn_recall(all_local, all_truth, k))
    assert full.low == full.high == full.knn_recall and full.n_sample == full.population == 60
    # drawn from a bigger population, the same sample says less (finite-population correction)
    wide = sampled_knn_recall(approx, exact_s, k, population=10**6)
    assert wide.knn_recall == est.knn_recall and wide.high - wide.low > est.high - est.low
    with pytest.raises(ValueError, match="population"):
        sampled_knn_recall(approx, exact_s, k, population=5)
    with pytest.raises(ValueError, match="confidence"):
        sampled_knn_recall(approx, exact_s, k, confidence=1.0)


def test_compare_with_brp_grades_a_sample(spark):
    from recall.spark import collect_top_k, compare_with_brp, exact_top_k

    users, items = _vectors(seed=2, n_users=30, n_items=120)
    k = 5
    hasher = E2LSHHasher(8, n_tables=4, n_hashes=2, bucket_width=0.5, random_state=1)
    table = compare_with_brp(
        spark, users, items, hasher, k=k, bucket_length=(0.5, 0.05), n_sample=None,
        exact_all="cross", random_state=0,
    )  # fmt: skip
    methods = ["exact-sample", "exact", "embrecall-lsh", "spark-brp", "spark-brp"]
    assert list(table["method"]) == methods
    assert (table["n_sample"] == len(users)).all() and (table["n_users"] == len(users)).all()
    # narrower BRP buckets: fewer candidate pairs
    assert table.loc[4, "candidates_per_user"] < table.loc[3, "candidates_per_user"]
    assert (table.loc[:1, "knn_recall"] == 1.0).all()
    assert (table.loc[:1, "users_served"] == len(users)).all()
    # every user graded: the interval has no width
    assert (table["knn_recall_low"] == table["knn_recall"]).all()
    assert (table["knn_recall_high"] == table["knn_recall"]).all()
    # our row's recall is the local index's (same hasher, no multi-probe) against exact
    idx = E2LSHIndex("cosine", n_tables=4, n_hashes=2, bucket_width=0.5, n_probes=4, random_state=1)
    idx.build(items.vectors, items.ids)
    assert idx.hasher.fingerprint() == hasher.fingerprint()
    local = idx.search(users.vectors, k).ids
    ref, _ = collect_top_k(exact_top_k(spark, users, items, k), users.ids, k)
    assert table.loc[2, "knn_recall"] == pytest.approx(knn_recall(local, ref, k))
    assert table.loc[2, "users_served"] == int((local[:, 0] >= 0).sum())
    assert 0.0 < table.loc[2, "knn_recall"] < 1.0 and 0.0 < table.loc[3, "knn_recall"] <= 1.0
    assert table.loc[2, "candidates_per_user"] > 0 and table.loc[3, "candidates_per_user"] > 0
    # the bucket join's rows, counted before it runs: sum over tables of users x items per bucket
    ukeys = hasher.keys(users.vectors / np.linalg.norm(users.vectors, axis=1, keepdims=True))
    ikeys = hasher.keys(items.vectors / np.linalg.norm(items.vectors, axis=1, keepdims=True))
    expected = sum(
        int((ukeys[:, t][:, None] == ikeys[:, t][None, :]).sum()) for t in range(ukeys.shape[1])
    )
    assert table.loc[2, "bucket_collisions"] == expected
    assert table.loc[2, "candidates_per_user"] * len(users) <= expected  # pairs merge across tables
    assert (table.loc[3:, "bucket_collisions"] >= table.loc[3:, "candidates_per_user"] * 30).all()
    assert (table["skipped"] == "").all()

    # a sample of 12 of the 30 users: the LSH joins still serve everyone, graded on the 12
    small = compare_with_brp(spark, users, items, hasher, k=k, bucket_length=0.5, n_sample=12,
                             random_state=0)  # fmt: skip
    assert list(small["method"]) == ["exact-sample", "embrecall-lsh", "spark-brp"]
    assert (small["n_sample"] == 12).all() and (small["n_users"] == 30).all()
    assert small.loc[0, "users_served"] == 12
    assert small.loc[1, "users_served"] == table.loc[2, "users_served"]
    assert small.loc[1, "candidates_per_user"] == table.loc[2, "candidates_per_user"]
    lo, hi = small.loc[1, "knn_recall_low"], small.loc[1, "knn_recall_high"]
    assert lo < small.loc[1, "knn_recall"] < hi
    # a join over budget is not run, and its row says why
    capped = compare_with_brp(spark, users, items, hasher, k=k, bucket_length=0.5, n_sample=5,
                              max_pairs=0, random_state=0)  # fmt: skip
    assert list(capped["method"]) == ["exact-sample", "embrecall-lsh", "spark-brp"]
    assert capped.loc[1:, "skipped"].str.contains("max_pairs").all()
    assert capped.loc[1:, ["seconds", "knn_recall"]].isna().all().all()
    assert capped.loc[1, "bucket_collisions"] == expected
    with pytest.raises(ValueError, match="exact_all"):
        compare_with_brp(spark, users, items, hasher, exact_all="yes")


def test_old_import_paths_reexport_the_training_side():
    import embeddings.spark as es
    import recall.spark as rs

    for name in es.__all__:
        assert getattr(rs, name) is getattr(es, name)


def test_missing_pyspark_names_the_extra(monkeypatch):
    import recall.spark as rs

    monkeypatch.setitem(sys.modules, "pyspark", None)  # makes `import pyspark` fail
    with pytest.raises(ImportError, match=r"embrecall\[spark\]"):
        rs.lsh_batch_recall(None, None, None, None)


# ----------------------------------------------------------------------------- random walks
# the local walk tests' toy graph (asymmetric weights, a triangle-free path t->3) + a dead end 5
WALK_EDGES = [
    (0, 1, 8.0), (0, 2, 1.0), (1, 0, 2.0), (1, 2, 3.0), (1, 3, 1.5), (1, 4, 4.0), (2, 1, 1.0),
    (3, 0, 1.0), (3, 4, 0.5), (4, 1, 1.0), (4, 3, 2.5), (4, 5, 1.0),
]  # fmt: skip


def _walk_graph():
    from embeddings.graph import ItemGraph

    src, dst, w = zip(*WALK_EDGES, strict=True)
    return ItemGraph.from_edges(np.asarray(src) + 100, np.asarray(dst) + 100, w)


def _pair_counts(walks: list[list[int]]) -> dict:
    """counts[(t, v)][x] of second-order moves t -> v -> x, and [(None, v)][x] of first-order."""
    from collections import Counter, defaultdict

    out: dict = defaultdict(Counter)
    for w in walks:
        for i in range(1, len(w)):
            out[(None, w[i - 1])][w[i]] += 1
            if i >= 2:
                out[(w[i - 2], w[i - 1])][w[i]] += 1
    return out


def _probs(graph, t, v, p, q):
    """Expected next-node probabilities over v's out-neighbours (ids), first order when t is None."""
    pos = {int(i): k for k, i in enumerate(graph.node_ids.tolist())}
    s, e = graph.indptr[pos[v]], graph.indptr[pos[v] + 1]
    xs = graph.node_ids[graph.indices[s:e]].tolist()
    w = graph.weights[s:e].astype(np.float64)
    if t is not None:
        ts, te = graph.indptr[pos[t]], graph.indptr[pos[t] + 1]
        t_row = set(graph.node_ids[graph.indices[ts:te]].tolist())
        w = w * np.array([1 / p if x == t else 1.0 if x in t_row else 1 / q for x in xs])
    return xs, w / w.sum()


@pytest.mark.parametrize("p,q", [(1.0, 1.0), (0.5, 2.0)])
def test_spark_walks_match_transition_probabilities(spark, p, q):
    from scipy import stats

    from embeddings.spark import spark_random_walks
    from embeddings.walks import generate_walks, walks_to_ids

    graph = _walk_graph()
    rows = spark_random_walks(
        spark, graph, num_walks=300, walk_length=8, p=p, q=q, random_state=1
    ).collect()
    assert len(rows) == 300 * graph.n_nodes
    walks = [list(r["walk"]) for r in rows]
    assert all(w[0] == r["start"] for w, r in zip(walks, rows, strict=True))
    # a walk stops at the dead end 105 and only there
    assert all(len(w) == 8 or w[-1] == 105 for w in walks)
    assert all(105 not in w[:-1] for w in walks)
    local = walks_to_ids(
        generate_walks(graph, 300, 8, p=p, q=q, random_state=1, progress=False), graph
    )
    spark_counts, local_counts = _pair_counts(walks), _pair_counts([w.tolist() for w in local])
    tested = 0
    for (t, v), counts in spark_counts.items():
        if (t is not None) == (p == 1.0 and q == 1.0) or v == 105:
            continue  # first order: the (None, v) counts; node2vec: the (t, v) pairs
        xs, prob = _probs(graph, t, v, p, q)
        assert set(counts) <= set(xs)  # never a move along a missing arc
        obs = np.array([counts.get(x, 0) for x in xs], float)
        if obs.sum() < 300 or len(xs) < 2:
            continue
        tested += 1
        assert stats.chisquare(obs, obs.sum() * prob).pvalue > 1e-4, (t, v, obs, prob)
        ref = np.array([local_counts[(t, v)].get(x, 0) for x in xs], float)
        table = np.vstack([obs, ref])
        table = table[:, table.sum(axis=0) > 0]
        assert stats.chi2_contingency(table).pvalue > 1e-4, (t, v, table)
    assert tested >= (4 if p == 1.0 else 6)


def test_bench_sizes_and_growth_exponent():
    from recall.bench.spark_recall import _growth, parse_sizes

    assert parse_sizes("10000x500, 1000000X100000") == [(10_000, 500), (1_000_000, 100_000)]
    for bad in ("10000", "10kx500", "0x5", ""):
        with pytest.raises(ValueError, match="size|ITEMS"):
            parse_sizes(bad)
    # seconds growing as (items x users)^0.5 give exponent 0.5; skipped rows are left out
    sizes = [(1_000, 100), (10_000, 1_000), (100_000, 10_000)]
    rows = [
        {"method": "m", "n_items": n, "n_users": u, "seconds": 2.0 * (n * u) ** 0.5, "skipped": ""}
        for n, u in sizes
    ] + [{"method": "m", "n_items": 10**6, "n_users": 10**5, "seconds": np.nan, "skipped": "big"}]
    assert _growth(pd.DataFrame(rows)) == {"m": pytest.approx(0.5)}


def test_broadcast_index_equals_local_search_whatever_the_partitions(spark):
    from recall.exact import ExactIndex, exact_knn
    from recall.spark import broadcast_index_top_k, collect_top_k
    from recall.spark.frames import as_vector_frame

    users, items = _vectors(seed=3, n_users=40)
    idx = SimHashIndex("cosine", n_tables=4, n_bits=4, n_probes=6, random_state=1)
    idx.build(items.vectors, items.ids)
    k = 6
    ref = idx.search(users.vectors, k)
    frame = as_vector_frame(spark, users, "users")
    for parts in (1, 3):
        res = broadcast_index_top_k(spark, frame.repartition(parts), idx, k)
        assert res.columns == ["user_id", "item_id", "score", "rank"]
        got, scores = collect_top_k(res, users.ids, k)
        np.testing.assert_array_equal(got, ref.ids)  # every user, every rank, any partitioning
        fin = ref.ids >= 0
        np.testing.assert_allclose(scores[fin], ref.scores[fin], rtol=1e-6)
    # the exact index broadcast gives the exact answer
    ex = ExactIndex("cosine").build(items.vectors, items.ids)
    got, _ = collect_top_k(broadcast_index_top_k(spark, users, ex, k), users.ids, k)
    truth = exact_knn(items.vectors, users.vectors, k, "cosine", ids=items.ids).ids
    assert knn_recall(got, truth, k) == 1.0
    with pytest.raises(ValueError, match="empty"):
        broadcast_index_top_k(spark, users, SimHashIndex("cosine"), k)
    with pytest.raises(ValueError, match="Index"):
        broadcast_index_top_k(spark, users, idx.hasher, k)
    with pytest.raises(ValueError, match="k must be"):
        broadcast_index_top_k(spark, users, idx, 0)
    short = Embeddings(users.ids, np.ascontiguousarray(users.vectors[:, :3]), {})
    with pytest.raises(ValueError, match="dimension 3"):
        broadcast_index_top_k(spark, short, idx, k)


def test_dataframe_inputs_with_nan_or_ragged_vectors_are_named_before_any_job(spark):
    from recall.spark import broadcast_exact_top_k, broadcast_index_top_k, lsh_batch_recall

    users, items = _vectors(seed=4, n_users=12)
    idx = SimHashIndex("cosine", n_tables=2, n_bits=3, random_state=1)
    idx.build(items.vectors, items.ids)
    rows = [(int(i), [float(x) for x in v]) for i, v in zip(users.ids, users.vectors, strict=True)]
    nan_rows = list(rows)
    nan_rows[5] = (nan_rows[5][0], [float("nan")] + nan_rows[5][1][1:])
    inf_rows = list(rows)
    inf_rows[2] = (inf_rows[2][0], inf_rows[2][1][:-1] + [float("-inf")])
    ragged = list(rows)
    ragged[7] = (ragged[7][0], ragged[7][1][:-1])
    schema = "id bigint, vector array<float>"
    dup_rows = list(rows)
    dup_rows[9] = (dup_rows[3][0], dup_rows[9][1])  # id of row 3 again, another vector
    null_id = list(rows)
    null_id[4] = (None, null_id[4][1])
    nan_df, inf_df, rag_df, dup_df, null_df = (
        spark.createDataFrame(r, schema) for r in (nan_rows, inf_rows, ragged, dup_rows, null_id)
    )
    for call in (
        lambda u: broadcast_index_top_k(spark, u, idx, 3),
        lambda u: lsh_batch_recall(spark, u, items, idx.hasher, 3),
        lambda u: broadcast_exact_top_k(spark, u, items, 3),
    ):
        with pytest.raises(ValueError, match=f"users: 1 vector.*NaN.*id {nan_rows[5][0]}"):
            call(nan_df)
        with pytest.raises(ValueError, match=f"id {inf_rows[2][0]}"):
            call(inf_df)
        with pytest.raises(ValueError, match="users: vectors of different lengths"):
            call(rag_df)
        with pytest.raises(ValueError, match=f"users: duplicate ids .*id {dup_rows[3][0]}\\)"):
            call(dup_df)
        with pytest.raises(ValueError, match="users: 1 row.* with a null id"):
            call(null_df)
    # items as a DataFrame of another dimension than the users
    short_items = spark.createDataFrame(
        [
            (int(i), [float(x) for x in v[:3]])
            for i, v in zip(items.ids, items.vectors, strict=True)
        ],
        schema,
    )
    with pytest.raises(ValueError, match="items: vectors of dimension 3, expected"):
        lsh_batch_recall(spark, users, short_items, idx.hasher, 3)
    # a clean DataFrame passes and equals the Embeddings input
    from recall.spark import collect_top_k

    a, _ = collect_top_k(broadcast_index_top_k(spark, spark.createDataFrame(rows, schema), idx, 3),
                         users.ids, 3)  # fmt: skip
    b, _ = collect_top_k(broadcast_index_top_k(spark, users, idx, 3), users.ids, 3)
    np.testing.assert_array_equal(a, b)


def test_bench_run_tunes_both_and_grades_every_method(spark, tmp_path):
    from recall.bench import spark_recall

    kw = dict(n_items=3_000, n_users=80, tables_grid=(4, 8), brp_tables_grid=(4, 8),
              bucket_lengths=(0.05, 0.2, 0.5), n_sample=40, n_tune=30, n_tune_brp=20, target=0.8,
              random_state=3, spark=spark)  # fmt: skip
    df = spark_recall.run(**kw).set_index("method")
    assert {"exact", "embrecall-broadcast", "embrecall-lsh", "spark-brp", "local-lsh",
            "local-exact"} <= set(df.index)  # fmt: skip
    assert df.loc["exact", "knn_recall"] == 1.0
    # the broadcast index is the local index: same graded users, same recall
    assert df.loc["embrecall-broadcast", "knn_recall"] == df.loc["local-lsh", "knn_recall"]
    # home buckets only: the shuffle bucket join finds the same items as the broadcast index
    assert df.loc["embrecall-lsh", "knn_recall"] == df.loc["local-lsh", "knn_recall"]
    for m in ("embrecall-broadcast", "spark-brp"):
        assert df.loc[m, "tune_recall"] >= 0.8 and df.loc[m, "users_served"] == 80
        assert df.loc[m, "seconds"] > 0 and 0.5 < df.loc[m, "knn_recall"] <= 1.0
    assert df.loc["spark-brp", "bucket_length"] in (0.05, 0.2, 0.5)
    tuning = json.loads(df["tuning"].iloc[0])
    assert {g["n_tables"] for g in tuning["ours"]} == {4, 8}
    # ours chose the fewest candidates among the settings reaching the target
    ok = [g for g in tuning["ours"] if g["recall"] >= 0.8]
    assert df.loc["embrecall-broadcast", "candidates_per_user"] == min(g["candidates"] for g in ok)
    # every BRP point run is timed; the chosen one's time on the tuning users is kept
    ran = [g for g in tuning["brp"] if not g["skipped"]]
    assert ran and all(g["seconds"] > 0 for g in ran)
    assert df.loc["spark-brp", "tune_point_s"] in [g["seconds"] for g in ran]
    assert df.loc["spark-brp", "tune_users"] == 20  # BRP's tuning users: a subset
    # a BRP join too big for all users: the report bounds BRP below by its tuning run
    big = df.reset_index()
    brp = big["method"] == "spark-brp"
    big.loc[brp, "seconds"] = np.nan
    big.loc[brp, "skipped"] = "bucket join of 1 rows > max_pairs"
    spark_recall._write(big, tmp_path, None)
    text = (tmp_path / "results.md").read_text()
    ours = min(df.loc["embrecall-broadcast", "seconds"], df.loc["embrecall-lsh", "seconds"])
    assert "(20 users only)" in text
    assert f"> {df.loc['spark-brp', 'tune_point_s'] / ours:.2f}" in text


def test_bench_tuning_is_seeded_and_cli_values_are_checked():
    from recall.bench import spark_recall
    from recall.bench.datasets import gaussian_mixture
    from recall.exact import exact_knn

    x, q = gaussian_mixture(2_000, 16, 20, 50, 0)
    ids = np.arange(2_000, dtype=np.int64) * 2
    truth = exact_knn(x, q, 10, "cosine", ids=ids).ids
    a = spark_recall.tune_simhash(x, ids, q, truth, (4, 8), 10, 0.85, random_state=5)
    b = spark_recall.tune_simhash(x, ids, q, truth, (4, 8), 10, 0.85, random_state=5)
    assert a == b and a[0]["recall"] >= 0.85
    with pytest.raises(ValueError, match="--tables"):
        spark_recall._ints("4,x", "--tables")
    with pytest.raises(ValueError, match="--brp-tables"):
        spark_recall._ints("0", "--brp-tables")
    with pytest.raises(ValueError, match="--bucket-lengths"):
        spark_recall._floats("0.1,-2", "--bucket-lengths")


def test_vectorised_rerank_carries_users_across_batches():
    from recall.spark.frames import _rerank_batches

    rng = np.random.default_rng(4)
    n = 300
    users = np.sort(rng.integers(0, 12, n))
    items = rng.integers(0, 40, n)
    u = rng.standard_normal((12, 5)).astype(np.float32)
    v = rng.standard_normal((40, 5)).astype(np.float32)
    v[7] = v[3]  # equal scores: the smaller item id first
    pdf = pd.DataFrame({"user_id": users, "item_id": items, "_u": list(u[users]),
                        "_v": list(v[items])})  # fmt: skip
    pdf = pdf.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)
    whole = pd.concat(list(_rerank_batches(iter([pdf]), 4, "ip")), ignore_index=True)
    cuts = [0, 1, 2, 50, 51, 130, 200, len(pdf)]  # batches that split users, one of one row
    parts = iter([pdf.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    split = pd.concat(list(_rerank_batches(parts, 4, "ip")), ignore_index=True)
    pd.testing.assert_frame_equal(whole, split)
    # the reference: every user's rows scored and ranked directly
    for user, g in pdf.groupby("user_id"):
        sc = np.array([float(np.dot(a.astype(np.float64), b)) for a, b in zip(g["_u"], g["_v"])])
        ref = sorted(zip(-sc, g["item_id"]))[:4]
        got = whole[whole["user_id"] == user]
        assert list(got["item_id"]) == [int(i) for _, i in ref]
        assert list(got["rank"]) == list(range(1, len(ref) + 1))
    l2 = pd.concat(list(_rerank_batches(iter([pdf]), 2, "l2")), ignore_index=True)
    assert (l2["score"] <= 0).all() and l2.groupby("user_id")["rank"].max().max() == 2


def test_profile_stages_and_both_rerank_plans_agree(spark):
    from recall.bench.spark_profile import profile

    r = profile(2_000, 60, n_tables=4, n_bits=5, k=5, random_state=1, spark=spark)
    assert r["rerank_plans_agree"] and r["broadcast_equals_local"]
    assert r["bucket_join_rows"] >= r["pairs"] > 0  # pairs merge the rows of several tables
    assert r["rerank_sql_rows"] == r["rerank_arrow_rows"] <= 60 * 5
    for key in ("hash_s", "pairs_s", "rerank_sql_s", "rerank_arrow_s", "broadcast_s"):
        assert r[key] > 0
