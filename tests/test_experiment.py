"""End to end: a tiny config through `embrecall run`, every file and every column checked."""

import json
import textwrap

import pandas as pd
import pytest

from recall.cli import main
from recall.experiment import load_config, parse_config

TINY = textwrap.dedent(
    """
    name = "tiny"
    seeds = [0]
    k = [5, 10]
    n_queries = 60
    single_query_max = 20
    [data]
    source = "synthetic"
    [data.params]
    n_users = 150
    n_items = 120
    n_genres = 6
    mean_events = 20
    [split]
    kind = "leave_last_out"
    min_rating = 3.5
    [[methods]]
    name = "i2v"
    class = "embeddings.trainers:Item2Vec"
    params = { mode = "sequence", dim = 8, epochs = 2, min_rating = 3.5 }
    [[methods]]
    name = "dw"
    class = "embeddings.trainers:DeepWalk"
    params = { dim = 8, num_walks = 2, walk_length = 10, window = 3, min_rating = 3.5 }
    [[methods]]
    name = "eges"
    class = "embeddings.eges:EGES"
    params = { dim = 8, num_walks = 2, walk_length = 10, epochs = 1, min_rating = 3.5 }
    [[indexes]]
    name = "exact"
    family = "exact"
    class = "recall.exact:ExactIndex"
    params = { metric = "cosine" }
    [[indexes]]
    name = "simhash"
    family = "lsh-simhash"
    class = "recall.lsh:SimHashIndex"
    params = { metric = "cosine", strategy = "or" }
    build_grid = { n_tables = [1, 2] }
    search_grid = { n_probes = [2, 4] }
    """
)

RESULT_COLUMNS = [
    "experiment",
    "seed",
    "method",
    "index",
    "index_family",
    "params",
    "metric",
    "k",
    "n_items",
    "dim",
    "n_queries",
    "build_s",
    "memory_bytes",
    "knn_recall",
    "mean_candidates",
    "qps_batch",
    "qps_single",
    "speedup",
    "e2e_hit_rate@10",
    "e2e_recall@10",
    "e2e_ndcg@10",
]
QUALITY_COLUMNS = ["seed", "method", "mode", "hit_rate@5", "hit_rate@10", "recall@10", "ndcg@10"]


def test_run_tiny_config_end_to_end(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "reports" / "tiny"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    folder = out
    for name in (
        "config.resolved.json",
        "environment.json",
        "results.csv",
        "quality.csv",
        "report.md",
    ):
        assert (folder / name).is_file(), name
    env = json.loads((folder / "environment.json").read_text())
    assert env["libraries"]["numpy"] != "absent" and env["cpu_count"] >= 1
    res = pd.read_csv(folder / "results.csv")
    assert set(RESULT_COLUMNS) <= set(res.columns), set(RESULT_COLUMNS) - set(res.columns)
    # one row per method x index x params x seed: 3 methods x (1 exact + 2 builds x 2 probes)
    assert len(res) == 3 * (1 + 4)
    assert not res.duplicated(["method", "index", "params", "seed"]).any()
    exact = res[res["index_family"] == "exact"]
    assert (exact["knn_recall"] == 1.0).all() and (exact["speedup"] == 1.0).all()
    assert res["knn_recall"].between(0, 1).all() and (res["qps_single"] > 0).all()
    q = pd.read_csv(folder / "quality.csv")
    assert set(QUALITY_COLUMNS) <= set(q.columns)
    assert set(q["method"]) == {"i2v", "dw", "eges", "popularity"}
    assert set(q.loc[q["method"] == "i2v", "mode"]) == {"i2i", "u2i", "genre-classification"}
    # exact search through the runner's e2e path gives the same HR as the quality table (u2i)
    for m in ("i2v", "dw", "eges"):
        e2e = exact.loc[exact["method"] == m, "e2e_hit_rate@10"].iloc[0]
        base = q.loc[(q["method"] == m) & (q["mode"] == "u2i"), "hit_rate@10"].iloc[0]
        assert e2e == pytest.approx(base)
    report = (folder / "report.md").read_text()
    assert "End to end" in report
    assert f"embrecall run {cfg} --out {out} --no-progress" in report
    plots = {p.name for p in (folder / "plots").glob("*.png")}
    assert {
        "recall_vs_qps.png",
        "quality_by_method.png",
        "map_i2v.png",
        "buckets_simhash.png",
        "field_weights_eges.png",
    } <= plots
    genre = q[q["mode"] == "genre-classification"]
    assert set(genre["method"]) == {"i2v", "dw", "eges"} and genre["macro_f1"].between(0, 1).all()
    # EGES was given the genres: its genre-classification row is marked as a label leak
    leaks = genre.groupby("method")["leaks"].max().astype(bool)
    assert leaks["eges"] and not leaks["i2v"] and not leaks["dw"]
    assert "trained with genres: leaks the label" in (folder / "report.md").read_text()

    # a rerun that changes only an index grid does not retrain (cache hit, same vectors)
    cache = sorted((folder.parent / "cache").glob("emb-*.npz"))
    assert len(cache) == 3
    stamps = [p.stat().st_mtime_ns for p in cache]
    cfg.write_text(TINY.replace("n_tables = [1, 2]", "n_tables = [3]"))
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert [
        p.stat().st_mtime_ns for p in sorted((folder.parent / "cache").glob("emb-*.npz"))
    ] == stamps
    res2 = pd.read_csv(folder / "results.csv")
    assert set(res2.loc[res2["index"] == "simhash", "param_n_tables"]) == {3}
    # report can be regenerated on its own
    assert main(["report", str(folder)]) == 0


def test_config_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = 'x'\n[data\n")
    with pytest.raises(ValueError, match="malformed TOML"):
        load_config(p)
    with pytest.raises(ValueError, match="missing required key 'methods'"):
        parse_config({"name": "x", "data": {}})
    with pytest.raises(ValueError, match="duplicate method names"):
        parse_config({"name": "x", "data": {}, "methods": [{"name": "a", "class": "m:A"}] * 2})
    with pytest.raises(ValueError, match="k must hold integers >= 1"):
        parse_config({"name": "x", "data": {}, "methods": [], "k": [0]})
    assert main(["run", str(tmp_path / "missing.toml")]) == 1


def test_unknown_class_is_a_clear_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.replace("embeddings.trainers:DeepWalk", "embeddings.trainers:Nope"))
    assert main(["run", str(cfg), "--out", str(tmp_path), "--no-progress"]) == 1
