"""Evaluation: metric values on hand-computed cases, exclusion of seen items, pluggable search,
popularity baseline, node classification protocol."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from embeddings.datasets import Interactions
from embeddings.evaluation import (
    evaluate_i2i,
    evaluate_popularity,
    evaluate_recommenders,
    evaluate_u2i,
    exact_search,
    node_classification,
    recommendation_metrics,
    summarize_node_classification,
)
from embeddings.evaluation.nodes import _top_k_predictions
from embeddings.graph import ItemGraph
from embeddings.sessions import leave_last_out
from embeddings.trainers import DeepWalk, Item2Vec
from embeddings.types import Embeddings

L2 = math.log2


def test_metrics_hand_computed():
    rec = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    rel = [[2], [9, 4], [10]]
    m = recommendation_metrics(rec, rel, k=[1, 3])
    # user 0: hit at rank 2; user 1: one of two relevant at rank 1; user 2: nothing
    assert m["hit_rate@3"] == pytest.approx(2 / 3)
    assert m["recall@3"] == pytest.approx((1 + 0.5 + 0) / 3)
    ndcg0 = (1 / L2(3)) / 1
    ndcg1 = 1 / (1 + 1 / L2(3))
    assert m["ndcg@3"] == pytest.approx((ndcg0 + ndcg1) / 3)
    assert m["hit_rate@1"] == pytest.approx(1 / 3)
    assert m["recall@1"] == pytest.approx(0.5 / 3)
    assert m["ndcg@1"] == pytest.approx(1 / 3)  # user 1: IDCG@1 = 1
    assert m["n_users"] == 3


def test_metrics_padding_and_duplicates():
    # -1 padding never hits; a duplicated recommended id counts once
    m = recommendation_metrics([[5, 5, -1]], [[5, 6]], k=3)
    assert m["recall@3"] == pytest.approx(0.5)
    assert m["ndcg@3"] == pytest.approx(1 / (1 + 1 / L2(3)))
    perfect = recommendation_metrics([[1, 2, 3]], [[2, 1]], k=3)
    assert perfect["ndcg@3"] == pytest.approx(1.0) and perfect["recall@3"] == 1.0


def test_exact_search_matches_numpy_sort():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 8)).astype(np.float32)
    ids = rng.permutation(10_000)[:300].astype(np.int64)
    q = rng.normal(size=(20, 8)).astype(np.float32)
    emb = Embeddings(ids, base)
    for metric in ("cosine", "ip", "l2"):
        got = exact_search(emb, metric, batch_size=7)(q, 10)
        if metric == "cosine":
            b = base / np.linalg.norm(base, axis=1, keepdims=True)
            s = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ b.T
        elif metric == "ip":
            s = q @ base.T
        else:
            s = -((q[:, None, :] - base[None, :, :]) ** 2).sum(-1)
        expect = ids[np.argsort(-s, axis=1, kind="stable")[:, :10]]
        assert np.array_equal(got, expect), metric
    padded = exact_search(emb)(q[:2], 305)
    assert padded.shape == (2, 305) and (padded[:, 300:] == -1).all()
    assert set(padded[0, :300].tolist()) == set(ids.tolist())


def test_exact_search_ties_by_row_order():
    emb = Embeddings(np.array([9, 3, 7, 1]), np.ones((4, 2), np.float32))
    assert exact_search(emb, "ip")(np.ones((1, 2), np.float32), 2).tolist() == [[9, 3]]
    assert exact_search(emb, "ip")(np.ones((1, 2), np.float32), 4).tolist() == [[9, 3, 7, 1]]


def _tiny():
    ids = np.array([1, 2, 3, 4, 5])
    vec = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.7, 0.7], [-1, 0]], np.float32)
    # user 7: item 1 is the last by timestamp although it comes first in the table
    train = Interactions.from_arrays([7, 7, 8, 8], [1, 3, 5, 2], timestamp=[5, 1, 1, 2])
    test = Interactions.from_arrays([7, 8, 9], [4, 3, 1], timestamp=[9, 9, 9])
    return Embeddings(ids, vec), train, test


def test_i2i_hand_computed():
    emb, train, test = _tiny()
    r = evaluate_i2i(emb, train, test, k=[1, 2, 3])
    # user 7: query 1 -> [1, 2, 4, 3, 5] minus seen {1, 3} -> [2, 4, 5]: item 4 at rank 2
    # user 8: query 2 -> [2, 1, 4, 3, 5] minus seen {5, 2} -> [1, 4, 3]: item 3 at rank 3
    # user 9: no training item -> no query -> a miss
    assert r["n_users"] == 3 and r["n_no_query"] == 1
    assert r["hit_rate@1"] == 0.0
    assert r["hit_rate@2"] == pytest.approx(1 / 3)
    assert r["hit_rate@3"] == pytest.approx(2 / 3)
    assert r["ndcg@3"] == pytest.approx((1 / L2(3) + 1 / L2(4)) / 3)
    # without exclusion, user 7's query item itself comes first
    r2 = evaluate_i2i(emb, train, test, k=[3], exclude_seen=False)
    assert r2["hit_rate@3"] == pytest.approx(1 / 3)


def test_u2i_with_given_user_vectors():
    emb, train, test = _tiny()
    users = Embeddings(np.array([7, 8]), np.array([[0, 1], [1, 0.05]], np.float32))
    r = evaluate_u2i(emb, train, test, k=[1], user_embeddings=users)
    # user 7: [3, 4, 2, 1, 5] minus {1, 3} -> 4 first: hit; user 8: [1, 2, ...] minus {5, 2}
    # -> 1 first, relevant 3: miss; user 9: no vector: miss
    assert r["hit_rate@1"] == pytest.approx(1 / 3)
    assert r["n_no_query"] == 1


def test_search_is_pluggable_and_asks_enough_candidates():
    emb, train, test = _tiny()
    calls = []
    inner = exact_search(emb)

    def search(queries, k):
        calls.append((queries.shape[0], k))
        return inner(queries, k)

    default = evaluate_i2i(emb, train, test, k=[1, 2, 3])
    plugged = evaluate_i2i(emb, train, test, k=[1, 2, 3], search=search)
    for key in ("hit_rate@3", "ndcg@3", "recall@2"):
        assert plugged[key] == default[key]
    # two queried users, each with 2 seen items: k + 2 = 5 candidates (capped at n_items = 5)
    assert calls == [(2, 5)]

    def bad(queries, k):
        return inner(queries, k)[:, :1]

    with pytest.raises(ValueError, match="search returned shape"):
        evaluate_i2i(emb, train, test, k=3, search=bad)


def test_popularity_hand_computed():
    train = Interactions.from_arrays([1, 1, 2, 2, 3, 3], [10, 20, 20, 30, 20, 10])
    test = Interactions.from_arrays([1, 2, 3], [30, 10, 40])
    r = evaluate_popularity(train, test, k=[1, 2])
    # ranking 20 (3), 10 (2), 30 (1); user 1 -> 30 hit, user 2 -> 10 hit, user 3 -> 30 miss
    assert r["hit_rate@1"] == pytest.approx(2 / 3)
    assert r["ndcg@1"] == pytest.approx(2 / 3)
    assert r["hit_rate@2"] == pytest.approx(2 / 3)


def test_item2vec_beats_popularity_on_synthetic():
    from embeddings.datasets import make_synthetic

    # flatter popularity than the default, so that genre structure decides the next item
    data = make_synthetic(
        n_users=600,
        n_items=300,
        n_genres=8,
        mean_events=30,
        popularity_exponent=0.5,
        random_state=3,
    )
    train, test = leave_last_out(data.interactions)
    emb = Item2Vec(dim=32, window=3, epochs=10, random_state=0, progress=False).fit(train)
    table = evaluate_recommenders({"item2vec": emb}, train, test, k=10, modes=("i2i",))
    hr = dict(zip(table["model"], table["hit_rate@10"], strict=True))
    assert hr["item2vec"] > 1.5 * hr["popularity"]
    assert set(table.columns) >= {"model", "mode", "hit_rate@10", "recall@10", "ndcg@10"}


def test_top_k_labels_per_node():
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1], [0.0, 0.2, 0.4]])
    pred = _top_k_predictions(scores, np.array([2, 1, 3])).toarray()
    assert pred.tolist() == [[0, 1, 1], [1, 0, 0], [1, 1, 1]]


def test_node_classification_separable_features_are_perfect():
    rng = np.random.default_rng(0)
    n, c = 120, 3
    y = rng.integers(0, c, n)
    x = np.eye(c, dtype=np.float32)[y] * 3 + rng.normal(0, 0.1, (n, c)).astype(np.float32)
    ids = np.arange(n) * 2 + 5
    labels = sparse.csr_matrix(np.eye(c)[y])
    res = node_classification(
        Embeddings(ids, x),
        labels,
        ids,
        train_ratios=(0.3, 0.7),
        n_repeats=2,
        random_state=0,
        progress=False,
    )
    assert len(res) == 4
    assert (res["micro_f1"] == 1.0).all() and (res["macro_f1"] == 1.0).all()
    summary = summarize_node_classification(res)
    assert summary["train_ratio"].tolist() == [0.3, 0.7]
    assert summary["repeats"].tolist() == [2, 2]


def test_node_classification_planted_partition_with_deepwalk():
    g = nx.planted_partition_graph(4, 40, 0.3, 0.01, seed=1)
    graph = ItemGraph.from_networkx(g)
    groups = np.arange(160) // 40
    # multi-label: every 5th node also carries the next group's label
    lab = np.eye(4)[groups]
    lab[::5, :] += np.eye(4)[(groups[::5] + 1) % 4]
    emb = DeepWalk(
        num_walks=10, walk_length=30, dim=16, window=5, random_state=0, progress=False
    ).fit(graph)
    res = node_classification(
        emb,
        sparse.csr_matrix(lab),
        np.arange(160),
        train_ratios=(0.5,),
        n_repeats=3,
        random_state=0,
        progress=False,
    )
    # chance Micro-F1 is about 0.25
    assert res["micro_f1"].mean() > 0.7
    assert res["macro_f1"].mean() > 0.6


def test_bad_input():
    emb, train, test = _tiny()
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            evaluate_i2i(emb, train, test, k=k)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        exact_search(emb)(np.ones((1, 2), np.float32), 0)
    with pytest.raises(ValueError, match="metric"):
        exact_search(emb, "hamming")
    with pytest.raises(ValueError, match="wrong dimension"):
        exact_search(emb)(np.ones((1, 3), np.float32), 1)
    with pytest.raises(ValueError, match="rows but relevant"):
        recommendation_metrics([[1, 2]], [[1], [2]], k=1)
    with pytest.raises(ValueError, match="empty set"):
        recommendation_metrics([[1, 2]], [[]], k=1)
    with pytest.raises(ValueError, match="fewer than k"):
        recommendation_metrics([[1, 2]], [[1]], k=3)
    with pytest.raises(ValueError, match="Interactions"):
        evaluate_i2i(emb, train.frame, test)
    with pytest.raises(ValueError, match="unknown mode"):
        evaluate_recommenders({"x": emb}, train, test, modes=("x2i",))
    with pytest.raises(ValueError, match="dim"):
        evaluate_u2i(emb, train, test, user_embeddings=Embeddings([7], np.ones((1, 3))))
    labels = sparse.csr_matrix(np.eye(2)[[0, 1, 0, 1, 0]])
    node_emb = Embeddings(np.arange(5), np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match="rows but there are"):
        node_classification(node_emb, labels, np.arange(4), progress=False)
    with pytest.raises(ValueError, match="train_ratios"):
        node_classification(node_emb, labels, np.arange(5), train_ratios=(1.0,), progress=False)
    with pytest.raises(KeyError, match="unknown ids"):
        node_classification(node_emb, labels, np.arange(5) + 1, progress=False)
    with pytest.raises(ValueError, match="missing"):
        node_classification(node_emb, labels, np.arange(5), missing="drop", progress=False)
    res = node_classification(
        node_emb,
        labels,
        np.arange(5) + 1,
        train_ratios=(0.5,),
        n_repeats=1,
        missing="zero",
        progress=False,
    )
    assert res["n_zero_vector"].tolist() == [1]


def test_u2i_default_user_vectors_match_explicit(synthetic_small):
    from embeddings.users import user_vectors

    train, test = leave_last_out(synthetic_small.interactions)
    emb = Item2Vec(dim=16, epochs=3, random_state=0, progress=False).fit(train)
    default = evaluate_u2i(emb, train, test, k=10, min_rating=3.0)
    users = user_vectors(emb, train, min_rating=3.0)
    explicit = evaluate_u2i(emb, train, test, k=10, user_embeddings=users)
    for key in ("hit_rate@10", "recall@10", "ndcg@10", "n_no_query"):
        assert default[key] == explicit[key]
    assert default["n_users"] == test.n_users
