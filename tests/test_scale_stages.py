"""recall.bench.scale at scale: the stage-by-stage child, the 1M projection, the quality cost of
the scale setting, and the command line running the ``scale`` setting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recall.bench import scale
from recall.bench.scale_report import quality_summary, stages_projection


def test_stages_child_times_each_stage_and_measures_word_rates(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "CACHE", tmp_path)
    path = scale.edge_file(400, 4_000)
    params = dict(edges=str(path), num_walks=3, walk_length=12, threads=1, dim=8,
                  variants=[["corpus_file", 2], ["iterable", 2]])  # fmt: skip
    out = scale._run_child("stages", params)
    assert out["nodes"] > 350 and out["arcs"] > 6_000  # undirected: both ways, minus duplicates
    # every node starts 3 walks of at most 12 steps; the matrix is int32
    assert out["walk_matrix_mb"] == pytest.approx(out["nodes"] * 3 * 12 * 4 / 2**20)
    assert out["nodes"] * 3 * 2 <= out["tokens_per_epoch"] <= out["nodes"] * 3 * 12
    # the sample is one round (one walk per node) of the walks
    assert out["sample_tokens"] == pytest.approx(out["tokens_per_epoch"] / 3, rel=0.2)
    assert out["corpus_file_mb"] > 0
    for key in ("read_s", "build_s", "walk_s", "corpus_write_s"):
        assert out[key] > 0
    for mode in ("corpus_file", "iterable"):
        rate = out[f"words_per_s_{mode}_w2"]
        assert rate == pytest.approx(out["sample_tokens"] / out[f"epoch_s_{mode}_w2"])
    assert out["peak_mb"] >= out["rss_after_walks_mb"] >= out["rss_start_mb"] > 10


def _stage_rows() -> pd.DataFrame:
    # exactly linear costs: time per node constant, words/s constant
    sizes = np.array([1_000, 10_000])
    return pd.DataFrame({
        "size": sizes, "num_walks": 10, "walk_length": 80,
        "read_s": sizes * 1e-5, "build_s": sizes * 2e-5, "walk_s": sizes * 3e-5,
        "corpus_write_s": sizes * 4e-5, "tokens_per_epoch": sizes * 800,
        "sample_tokens": sizes * 80, "corpus_file_mb": sizes * 800 * 6 / 2**20,
        "walk_matrix_mb": sizes * 800 * 4 / 2**20,
        "epoch_s_corpus_file_w5": sizes * 80 / 1e6, "epoch_s_corpus_file_w10": sizes * 80 / 5e5,
        "epoch_s_iterable_w5": sizes * 80 / 5e5, "epoch_s_iterable_w10": sizes * 80 / 2.5e5,
    })  # fmt: skip


def test_projection_is_linear_on_linear_costs_and_scales_with_the_setting():
    proj = stages_projection(_stage_rows(), scale.SETTINGS, target=1_000_000)
    d = proj.set_index(["setting", "skipgram"])
    full = d.loc[("defaults", "corpus_file")]
    assert full["read_s"] == pytest.approx(10.0) and full["walk_s"] == pytest.approx(30.0)
    assert full["tokens_per_epoch"] == pytest.approx(8e8)
    # 800M tokens x 2 epochs at 0.5M words/s (window 10, corpus_file)
    assert full["skipgram_s"] == pytest.approx(3200.0)
    at = d.loc[("scale", "corpus_file")]
    # 2 x 40 = 1/10 of the steps: walks and file 1/10; one epoch at window 5 (1M words/s)
    assert at["walk_s"] == pytest.approx(3.0) and at["corpus_write_s"] == pytest.approx(4.0)
    assert at["skipgram_s"] == pytest.approx(8e7 / 1e6)
    assert at["total_min"] == pytest.approx((10 + 20 + 3 + 4 + 80) / 60)
    assert d.loc[("scale", "iterable")]["corpus_write_s"] == 0.0
    assert d.loc[("scale", "iterable")]["skipgram_s"] == pytest.approx(160.0)
    assert full["walk_matrix_gb_if_held"] == pytest.approx(1e6 * 800 * 4 / 2**30)
    assert np.isnan(full["total_min_from_cpu"])  # no CPU columns, no CPU estimate


def test_projection_from_cpu_equals_wall_when_two_threads_were_fully_busy():
    rows = _stage_rows()
    rows["threads"] = 2
    for c in ("read", "build", "corpus_write"):
        rows[f"{c}_cpu_s"] = rows[f"{c}_s"]  # single-threaded stages
    rows["walk_cpu_s"] = 2 * rows["walk_s"]
    for mode in ("corpus_file", "iterable"):
        for w in (5, 10):
            rows[f"epoch_cpu_s_{mode}_w{w}"] = 2 * rows[f"epoch_s_{mode}_w{w}"]
    proj = stages_projection(rows, scale.SETTINGS, target=1_000_000)
    assert np.allclose(proj["total_min_from_cpu"], proj["total_min"])
    assert np.allclose(proj["skipgram_s_from_cpu"], proj["skipgram_s"])


def test_projection_never_extrapolates_below_linear():
    rows = _stage_rows()
    rows["read_s"] = [1.0, 1.0]  # fixed overhead at the measured sizes
    proj = stages_projection(rows, {"scale": scale.AT_SCALE}, target=100_000)
    assert proj["read_s"].iloc[0] == pytest.approx(10.0)  # linear from the largest size


def test_quality_summary_pairs_seeds_against_the_defaults():
    df = pd.DataFrame({
        "setting": ["d", "s", "d", "s"], "seed": [0, 0, 1, 1],
        "macro_f1": [0.30, 0.25, 0.20, 0.19], "micro_f1": [0.4, 0.35, 0.3, 0.3],
        "train_s": [10.0, 1.0, 12.0, 1.0], "corpus_tokens": [100, 10, 100, 10],
    })  # fmt: skip
    s = quality_summary(df).set_index("setting")
    # the base is the setting named "defaults ...", wherever it comes
    renamed = df.replace({"setting": {"d": "defaults (x)"}}).iloc[[1, 0, 3, 2]]
    t = quality_summary(renamed).set_index("setting")
    assert t.loc["s", "d_macro_vs_defaults"] == pytest.approx(-0.03)
    assert s.loc["d", "d_macro_vs_defaults"] == 0.0
    assert s.loc["s", "d_macro_vs_defaults"] == pytest.approx(-0.03)
    assert s.loc["s", "d_macro_min"] == pytest.approx(-0.05)
    assert s.loc["s", "macro_f1"] == pytest.approx(0.22) and s.loc["s", "n_seeds"] == 2


def test_quality_child_scores_a_labelled_graph():
    from embeddings.paths import data_root

    root = data_root()
    if root is None or not (root / "graph-blogcatalog").is_dir():
        pytest.skip("shared BlogCatalog data not available")
    tiny = {"num_walks": 1, "walk_length": 5, "window": 1, "epochs": 1, "dim": 8}
    richer = {"num_walks": 10, "walk_length": 20, "window": 5, "epochs": 1, "dim": 32}
    out = scale._run_child(
        "quality",
        dict(dataset="blogcatalog", seeds=[0], threads=1, settings={"tiny": tiny,
             "richer": richer}, split_seed=0),
    )  # fmt: skip
    rows = {r["setting"]: r for r in out["rows"]}
    assert out["nodes"] == 10_312 and set(rows) == {"tiny", "richer"}
    assert rows["tiny"]["n_eval"] == rows["richer"]["n_eval"] > 500  # the same validation fold
    assert rows["tiny"]["corpus_tokens"] <= 10_312 * 5
    # more walks and wider windows learn the communities the labels follow
    assert rows["richer"]["macro_f1"] > rows["tiny"]["macro_f1"] + 0.02
    assert 0.0 < rows["tiny"]["macro_f1"] < rows["richer"]["macro_f1"] < 1.0


def test_cli_runs_the_scale_setting_and_writes_the_projection(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "CACHE", tmp_path / "cache")
    out = tmp_path / "out"
    argv = ["--quick", "--tasks", "stages,deepwalk", "--sizes", "300,600", "--out", str(out)]
    assert scale.main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    dw = df[df["task"] == "deepwalk"]
    assert list(dw["setting"]) == ["scale", "scale"]
    assert (dw["epochs"] == scale.AT_SCALE["epochs"]).all()
    # 2 walks x <= 40 nodes per node (walks end early only at dead ends)
    assert (dw["corpus_tokens"] <= dw["nodes"] * 2 * 40).all()
    assert (dw["corpus_tokens"] > dw["nodes"] * 2 * 20).all()
    text = (out / "report.md").read_text()
    assert (
        "Projected to 1M nodes / 10M edges" in text
        and "at scale (2x40, w5, 1 ep, alpha 0.1)" in text
    )
    with pytest.raises(SystemExit):
        scale.main(["--quick", "--setting", "tiny"])
