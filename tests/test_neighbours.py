"""embeddings.neighbours: numpy top-k, the compiled heap, exact search; embeddings.paths."""

from __future__ import annotations

from pathlib import Path

import numba as nb
import numpy as np
import pytest

from embeddings import paths
from embeddings.neighbours import exact_search, heap_push, heap_sort, top_k


def reference(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best first, equal scores in column order, -1 / -inf padding past n."""
    nq, n = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    idx = np.full((nq, k), -1, np.int64)
    vals = np.full((nq, k), -np.inf)
    idx[:, : order.shape[1]] = order
    vals[:, : order.shape[1]] = np.take_along_axis(scores, order, axis=1)
    return idx, vals


@pytest.mark.parametrize("k", [1, 3, 17, 40, 43])
def test_top_k_equals_stable_sort_with_many_ties(k):
    rng = np.random.default_rng(k)
    s = rng.integers(-3, 4, size=(25, 40)).astype(np.float32)  # many ties at the k-th place
    s[3, :] = 1.0  # one row all equal
    s[4, ::2] = -np.inf
    idx, vals = top_k(s, k)
    ref_idx, ref_vals = reference(s, k)
    assert idx.dtype == np.int64 and vals.dtype == np.float32 and idx.shape == (25, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(vals, ref_vals)


def test_top_k_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        top_k(np.zeros(5), 2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        top_k(np.zeros((2, 5)), 0)
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([[1.0, np.nan]]), 1)
    idx, vals = top_k(np.zeros((0, 4)), 2)
    assert idx.shape == (0, 2) and vals.shape == (0, 2)


@nb.njit(cache=False)
def _stream_top_k(scores, ids, k):
    vals = np.empty(k, dtype=scores.dtype)
    rows = np.empty(k, dtype=np.int64)
    size = 0
    for i in range(scores.shape[0]):
        size = heap_push(vals, rows, size, k, scores[i], ids[i])
    heap_sort(vals, rows, size)
    return vals[:size], rows[:size]


@pytest.mark.parametrize("k", [1, 2, 7, 30, 64])
def test_heap_equals_sort_whatever_the_arrival_order(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        n = int(rng.integers(1, 50))
        s = rng.integers(-4, 5, size=n).astype(np.float64)  # ties
        s[rng.random(n) < 0.1] = np.nan  # ignored by the heap
        perm = rng.permutation(n)  # ids arrive in any order
        vals, rows = _stream_top_k(s[perm], perm.astype(np.int64), k)
        keep = ~np.isnan(s)
        ref = np.flatnonzero(keep)[np.argsort(-s[keep], kind="stable")][:k]
        np.testing.assert_array_equal(rows, ref)
        np.testing.assert_array_equal(vals, s[ref])


@nb.njit(cache=False)
def _prefilled(scores, k):
    vals = np.full(k, -np.inf)
    rows = np.full(k, -1, dtype=np.int64)
    for i in range(scores.shape[0]):
        if scores[i] > vals[0]:
            heap_push(vals, rows, k, k, scores[i], i)
    heap_sort(vals, rows, k)
    return vals, rows


def test_prefilled_heap_pads_with_minus_one():
    vals, rows = _prefilled(np.array([0.5, 2.0, 0.5]), 5)
    assert rows.tolist() == [1, 0, 2, -1, -1]
    assert vals[:3].tolist() == [2.0, 0.5, 0.5] and np.isneginf(vals[3:]).all()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_exact_search_equals_dense_scores(metric):
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, size=(700, 5)).astype(np.float32)  # integer: exact, tied scores
    x[7] = 0.0  # a zero vector (cosine: scores 0, no NaN)
    q = rng.integers(-2, 3, size=(30, 5)).astype(np.float32)
    ids = np.arange(700, dtype=np.int64)[::-1] * 3
    if metric == "cosine":
        xs = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        s = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ xs.T
    elif metric == "ip":
        s = q @ x.T
    else:
        s = -((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    res = exact_search(x, q, 12, metric, ids=ids, chunk_rows=64, query_block=7)
    ref_rows, ref_vals = reference(s.astype(np.float64), 12)
    np.testing.assert_allclose(res.scores, ref_vals, atol=1e-5)
    if metric != "cosine":  # integer scores: exact ties, resolved in row order
        np.testing.assert_array_equal(res.ids, ids[ref_rows])
    padded = exact_search(x[:3], q[:2], 5, metric)
    assert padded.ids[:, 3:].tolist() == [[-1, -1]] * 2 and np.isneginf(padded.scores[:, 3:]).all()
    with pytest.raises(ValueError, match="metric"):
        exact_search(x, q, 3, "hamming")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ids"):
        exact_search(x, q, 3, metric, ids=ids[:5])


# ------------------------------------------------------------------------------------ data root
def test_data_root_env_then_beside_cwd(tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "data"
    work = tmp_path / "checkout"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(paths, "_CHECKOUT", tmp_path / "elsewhere" / "pkg")
    monkeypatch.delenv("EMBRECALL_DATA", raising=False)
    assert paths.data_root() is None
    with pytest.raises(FileNotFoundError) as err:
        paths.data_root(required=True)
    assert str(tmp_path / "shared" / "data") in str(err.value)
    assert str(tmp_path / "elsewhere" / "shared" / "data") in str(err.value)
    shared.mkdir(parents=True)
    assert paths.data_root() == shared.resolve()
    other = tmp_path / "mine"
    other.mkdir()
    monkeypatch.setenv("EMBRECALL_DATA", str(other))
    assert paths.data_root(required=True) == Path(other)
    # a set but missing $EMBRECALL_DATA is the only place looked at: no silent fallback
    monkeypatch.setenv("EMBRECALL_DATA", str(tmp_path / "typo"))
    assert paths.data_root() is None
    with pytest.raises(FileNotFoundError, match="typo"):
        paths.data_root(required=True)


def test_data_root_beside_the_checkout(tmp_path, monkeypatch):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.delenv("EMBRECALL_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # cwd/../shared/data does not exist
    monkeypatch.setattr(paths, "_CHECKOUT", tmp_path / "repo")
    assert paths.data_root() == tmp_path / "shared" / "data"
