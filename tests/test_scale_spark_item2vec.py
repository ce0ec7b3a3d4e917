"""recall.bench.scale's sparkitem2vec task: Spark ML Word2Vec Item2vec on the item2vec task's
interaction sets, with peak memory of the process tree and the quality check against the local
Item2Vec, at a tiny size."""

from __future__ import annotations

import importlib.util
import shutil

import pandas as pd
import pytest

from recall.bench import scale

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
        reason="needs pyspark and java",
    ),
]


def test_sparkitem2vec_task_trains_sane_vectors_and_measures_the_tree(tmp_path):
    out = tmp_path / "out"
    argv = ["--quick", "--tasks", "sparkitem2vec", "--sizes", "300,400", "--out", str(out)]
    assert scale.main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    assert list(df["task"]) == ["sparkitem2vec"] * 2 and list(df["users"]) == [300, 400]
    assert "Spark ML Word2Vec Item2vec" in (out / "report.md").read_text()
    # the quality check runs at the smallest size only (one event per user held out there)
    assert df["hr10_spark"].notna().tolist() == [True, False]
    small, big = df.iloc[0], df.iloc[1]
    assert small["tokens"] == small["interactions"] - 300 and big["tokens"] == big["interactions"]
    assert 150 <= small["vectors"] <= 200  # items = users / 3 in the quick sets
    # the JVM and its Python workers are counted: far above a bare interpreter
    assert (df["peak_tree_mb"] > 300).all() and (df["train_s"] >= df["fit_s"]).all()
    # the generator's next item is a ring neighbour 70% of the time: sane vectors beat
    # popularity on next-item HR@10, and share neighbours with gensim's beyond chance (10/200)
    assert small["hr10_spark"] > small["hr10_popularity"] + 0.05
    assert small["hr10_local"] > small["hr10_popularity"] + 0.05
    assert small["overlap10_spark_local"] > 0.15
    assert 0.0 <= small["overlap10_local_seeds"] <= 1.0
