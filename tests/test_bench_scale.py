"""recall.bench.scale: the seeded generators and one measured child run at a tiny size."""

from __future__ import annotations

import numpy as np
import pytest

from recall.bench import scale


def test_chung_lu_is_seeded_heavy_tailed_and_clustered():
    src, dst, w = scale.chung_lu_edges(20_000, 200_000, n_communities=20, mixing=0.2)
    again = scale.chung_lu_edges(20_000, 200_000, n_communities=20, mixing=0.2)
    assert all(np.array_equal(a, b) for a, b in zip((src, dst, w), again, strict=True))
    assert src.dtype == dst.dtype == np.int64 and w.dtype == np.float64
    assert (src != dst).all() and (w > 0).all()
    assert src.min() >= 0 and max(src.max(), dst.max()) < 20_000
    deg = np.bincount(np.concatenate([src, dst]), minlength=20_000)
    assert deg.max() > 10 * deg.mean()  # power law: hubs far above the mean
    # communities: re-derive them from the same seed and count edges inside one
    rng = np.random.default_rng(0)
    rng.pareto(1.5, 20_000)
    comm = rng.integers(0, 20, 20_000)
    inside = (comm[src] == comm[dst]).mean()
    assert 0.75 < inside < 0.9  # 1 - mixing plus the chance share of the mixed edges (~0.81)
    with pytest.raises(ValueError, match="mixing"):
        scale.chung_lu_edges(10, 10, mixing=2.0)


def test_synthetic_interactions_are_local_sequences():
    df = scale.synthetic_interactions(500, 2_000, mean_events=30, p_local=0.7)
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert df.groupby("user_id").size().min() >= 3
    assert df["item_id"].between(0, 1_999).all()
    assert (np.diff(df["timestamp"].to_numpy()) >= 0).all()
    same_user = df["user_id"].to_numpy()[1:] == df["user_id"].to_numpy()[:-1]
    step = np.abs(np.diff(df["item_id"].to_numpy()))[same_user]
    assert 0.6 < (step <= 3).mean() < 0.85  # local moves (p_local, plus a few near jumps)
    assert df.equals(scale.synthetic_interactions(500, 2_000, mean_events=30, p_local=0.7))


def test_deepwalk_child_measures_peak_and_trains(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "CACHE", tmp_path)
    path = scale.edge_file(300, 3_000)
    assert path.is_file() and path.parent.parent == tmp_path
    params = dict(edges=str(path), stream="regenerate", num_walks=2, walk_length=10, threads=1,
                  dim=8, window=3)  # fmt: skip
    out = scale._run_child("deepwalk", params)
    assert out["nodes"] == out["vectors"] > 250
    assert out["peak_mb"] >= out["peak_after_read_mb"] > 10
    assert out["total_s"] >= out["read_s"] > 0


def test_hugepages_child_alternates_the_variants_on_a_slice(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "CACHE", tmp_path)
    path = scale.edge_file(300, 3_000)
    params = dict(edges=str(path), num_walks=2, walk_length=10, window=3, alpha=0.05, dim=8,
                  threads=1, fraction=0.5, repeats=2)  # fmt: skip
    rows = scale._run_child("hugepages", params)["rows"]
    assert [r["variant"] for r in rows] == ["plain", "huge", "huge", "plain"]
    assert all(r["vocabulary"] > 250 and r["tokens_per_cpu_s"] > 0 for r in rows)
    # the slice: about half of the 2 x 300 walks of <= 10 nodes
    assert all(1_000 < r["train_tokens"] < 3_100 for r in rows)
