"""Tie-aware knn-recall: a neighbour at the true k-th distance counts (ann-benchmarks' rule)."""

from __future__ import annotations

import numpy as np
import pytest

from recall.exact import exact_knn, knn_recall, knn_recall_ties, scores_of


def test_tied_neighbour_counts_where_plain_recall_charges_it():
    # items 1 and 2 are at the same distance from the query: either is a correct 2nd neighbour
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    truth = exact_knn(x, q, 2, metric="l2")
    other = np.array([[0, 2 if truth.ids[0, 1] == 1 else 1]])
    assert knn_recall(other, truth.ids, 2) == 0.5  # the old rule charges the tie
    s = scores_of(x, q, other, metric="l2")
    assert knn_recall_ties(s, truth.scores, 2) == 1.0
    # a worse item (3, the opposite point) does not count
    s_bad = scores_of(x, q, np.array([[0, 3]]), metric="l2")
    assert knn_recall_ties(s_bad, truth.scores, 2) == 0.5


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_equals_plain_recall_without_ties(metric):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    q = rng.standard_normal((20, 8)).astype(np.float32)
    ids = np.arange(500, dtype=np.int64) * 3 + 7
    truth = exact_knn(x, q, 10, metric=metric, ids=ids)
    # a degraded result: drop the 1st neighbour of half the queries, shift in the 11th
    eleven = exact_knn(x, q, 11, metric=metric, ids=ids).ids
    res = truth.ids.copy()
    res[::2] = eleven[::2, 1:]
    s = scores_of(x, q, res, metric=metric, ids=ids)
    ts = scores_of(x, q, truth.ids, metric=metric, ids=ids)  # one scoring path for both
    assert knn_recall_ties(s, ts, 10) == pytest.approx(knn_recall(res, truth.ids, 10))
    assert knn_recall_ties(s, ts, 10) == pytest.approx(1 - 0.5 / 10)


def test_padding_duplicates_and_errors():
    x = np.eye(4, dtype=np.float32)
    q = np.array([[1.0, 0.5, 0.2, 0.0]], dtype=np.float32)
    truth = exact_knn(x, q, 3, metric="ip")
    padded = np.array([[truth.ids[0, 0], -1, -1]])
    s = scores_of(x, q, padded, metric="ip")
    assert np.isneginf(s[0, 1:]).all()
    assert knn_recall_ties(s, truth.scores, 3) == pytest.approx(1 / 3)
    dup = np.array([[truth.ids[0, 0]] * 3])
    sd = scores_of(x, q, dup, metric="ip")
    assert knn_recall_ties(sd, truth.scores, 3, result_ids=dup) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="not among"):
        scores_of(x, q, np.array([[9, 0, 1]]), metric="ip")
    with pytest.raises(ValueError, match="k="):
        knn_recall_ties(s, truth.scores, 4)
    with pytest.raises(ValueError, match="metric"):
        scores_of(x, q, padded, metric="hamming")  # type: ignore[arg-type]
