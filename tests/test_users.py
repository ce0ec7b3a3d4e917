"""User vectors = (rating-weighted) mean of the vectors of the user's positive items."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from embeddings import Embeddings
from embeddings.datasets import Interactions
from embeddings.users import user_vectors


@pytest.fixture
def items():
    rng = np.random.default_rng(3)
    ids = np.array([10, 20, 30, 40], np.int64)
    return Embeddings(ids, rng.normal(size=(4, 5)).astype(np.float32), {"method": "toy"})


@pytest.fixture
def log():
    #        user item rating timestamp
    rows = [
        (1, 10, 5.0, 1),
        (1, 20, 2.0, 2),
        (1, 30, 4.0, 3),
        (2, 40, 1.0, 1),  # only a negative rating
        (3, 99, 5.0, 1),  # item without a vector
        (3, 10, 4.0, 2),
        (3, 10, 2.0, 3),  # repeat of (3, 10): the latest rating counts, the pair counts once
    ]
    u, i, r, t = zip(*rows, strict=True)
    return Interactions.from_arrays(u, i, r, t)


def test_mean_of_all_items(items, log):
    uv = user_vectors(items, log)
    assert uv.ids.tolist() == [1, 2, 3]
    assert uv.vectors.dtype == np.float32 and uv.vectors.flags.c_contiguous
    v = items.lookup
    np.testing.assert_allclose(uv.lookup([1])[0], v([10, 20, 30]).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(uv.lookup([2])[0], v([40])[0], rtol=1e-6)
    np.testing.assert_allclose(uv.lookup([3])[0], v([10])[0], rtol=1e-6)
    assert uv.meta["users_dropped"] == 0 and uv.meta["events_without_vector"] == 1


def test_min_rating_drops_users_and_logs(items, log, caplog):
    with caplog.at_level(logging.INFO, logger="embeddings.users"):
        uv = user_vectors(items, log, min_rating=3.5)
    assert uv.ids.tolist() == [1, 3]
    np.testing.assert_allclose(uv.lookup([1])[0], items.lookup([10, 30]).mean(axis=0), rtol=1e-6)
    assert uv.meta["users_dropped"] == 1 and uv.meta["users_in"] == 3
    assert "1 of 3 users dropped" in caplog.text
    assert 2 not in uv


def test_rating_weighted(items, log):
    uv = user_vectors(items, log, weighting="rating")
    w = np.array([5.0, 2.0, 4.0])
    expected = (items.lookup([10, 20, 30]) * w[:, None]).sum(axis=0) / w.sum()
    np.testing.assert_allclose(uv.lookup([1])[0], expected, rtol=1e-6)
    assert uv.meta["method"] == "user_rating_weighted_mean"
    # a single item's weight cancels out
    np.testing.assert_allclose(uv.lookup([3])[0], items.lookup([10])[0], rtol=1e-6)


def test_matches_loop_on_synthetic(synthetic_small):
    inter = synthetic_small.interactions
    ids = inter.item_ids()
    rng = np.random.default_rng(0)
    keep = ids[rng.random(ids.shape[0]) < 0.8]  # some items have no vector
    items = Embeddings(keep, rng.normal(size=(keep.shape[0], 8)).astype(np.float32))
    uv = user_vectors(items, inter, min_rating=3.0, weighting="rating")
    f = inter.frame.sort_values(["user_id", "item_id", "timestamp"], kind="stable")
    f = f[(f["rating"] >= 3.0) & items.has(f["item_id"].to_numpy())]
    f = f.drop_duplicates(["user_id", "item_id"], keep="last")
    expected_users = np.unique(f["user_id"])
    np.testing.assert_array_equal(uv.ids, expected_users)
    for u in expected_users[:25]:
        g = f[f["user_id"] == u]
        w = g["rating"].to_numpy(np.float64)
        want = (items.lookup(g["item_id"]).astype(np.float64) * w[:, None]).sum(0) / w.sum()
        np.testing.assert_allclose(uv.lookup([u])[0], want, rtol=1e-5, atol=1e-6)


def test_bad_input(items, log):
    with pytest.raises(ValueError, match="weighting must be 'mean' or 'rating'"):
        user_vectors(items, log, weighting="median")
    with pytest.raises(ValueError, match="no user has a positive item with a vector"):
        user_vectors(items, log, min_rating=10)
    other = Embeddings(np.array([7, 8]), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="no user has a positive item"):
        user_vectors(other, log)
    neg = Interactions.from_arrays([1, 1], [10, 20], [1.0, -1.0])
    with pytest.raises(ValueError, match="needs ratings > 0"):
        user_vectors(items, neg, weighting="rating")
    with pytest.raises(ValueError, match="expected Interactions"):
        user_vectors(items, log.frame)
    with pytest.raises(ValueError, match="min_rating must be finite"):
        user_vectors(items, log, min_rating=float("nan"))
