"""recall.bench.scale's node2vec task: Node2vec end to end (read -> second-order walks -> vectors)
through the same child / report machinery as deepwalk, at tiny sizes."""

from __future__ import annotations

import pandas as pd
import pytest

from recall.bench import scale


def test_node2vec_child_walks_second_order_with_the_given_p_q(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "CACHE", tmp_path)
    path = scale.edge_file(300, 3_000)
    base = dict(edges=str(path), stream="regenerate", num_walks=2, walk_length=10, epochs=1,
                threads=1, dim=8, window=2, corpus_file=False)  # fmt: skip
    n2v = scale._run_child("deepwalk", {**base, "method": "node2vec", "p": 0.5, "q": 2.0})
    dw = scale._run_child("deepwalk", base)
    assert n2v["method"] == "node2vec" and dw["method"] == "deepwalk"
    assert (n2v["walk_p"], n2v["walk_q"]) == (0.5, 2.0) and dw["walk_p"] is None
    # the same graph read, every node with an arc walks twice, at most 10 nodes per walk
    assert n2v["nodes"] == dw["nodes"] and n2v["vectors"] == dw["vectors"]
    assert 2 * 2 * n2v["nodes"] <= n2v["corpus_tokens"] <= 2 * 10 * n2v["nodes"]
    assert n2v["total_s"] >= n2v["read_s"] > 0 and n2v["peak_mb"] >= n2v["peak_after_read_mb"]
    with pytest.raises(RuntimeError, match="method must be"):
        scale._run_child("deepwalk", {**base, "method": "line"})


def test_cli_node2vec_task_writes_its_cost_growth_table(tmp_path, monkeypatch):
    monkeypatch.setattr(scale, "CACHE", tmp_path / "cache")
    out = tmp_path / "out"
    argv = ["--quick", "--tasks", "node2vec", "--sizes", "300,600", "--p", "0.25", "--q", "4",
            "--out", str(out)]  # fmt: skip
    assert scale.main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    assert list(df["task"]) == ["node2vec", "node2vec"] and list(df["size"]) == [300, 600]
    assert (df["walk_p"] == 0.25).all() and (df["walk_q"] == 4.0).all()
    assert (df["setting"] == "scale").all()
    assert (df["corpus_tokens"] <= df["nodes"] * 2 * 40).all()
    text = (out / "report.md").read_text()
    assert "Node2vec end to end" in text and "total_s ~ size^" in text


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "two"])
def test_bad_p_or_q_is_refused_naming_the_option(bad):
    with pytest.raises(ValueError, match="--q"):
        scale.main(["--quick", "--tasks", "node2vec", "--q", bad])
    with pytest.raises(ValueError, match="--p"):
        scale.parse_pq(bad, "p")


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        scale.task_deepwalk(dict(scale.QUICK), 1, method="line")
