"""`embrecall train`, `evaluate` and `bench` one stage at a time, on files."""

import textwrap

import pandas as pd
import pytest

from embeddings import Embeddings
from recall.cli import build_parser, main

CONFIG = textwrap.dedent(
    """
    name = "stages"
    k = [5]
    [data]
    source = "synthetic"
    [data.params]
    n_users = 120
    n_items = 80
    n_genres = 4
    mean_events = 15
    [split]
    min_rating = 3.5
    [[methods]]
    name = "i2v"
    class = "embeddings.trainers:Item2Vec"
    params = { dim = 8, epochs = 2 }
    [[methods]]
    name = "pop"
    class = "embeddings.trainers:Popularity"
    """
)


def test_train_then_evaluate(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "emb"
    assert main(["train", str(cfg), "--method", "i2v", "--out", str(out)]) == 0
    files = sorted(out.glob("*.npz"))
    assert [f.name for f in files] == ["i2v-s0.npz"]
    emb = Embeddings.load(files[0])
    assert emb.dim == 8 and emb.meta["experiment_method"] == "i2v"
    # same seed, same vectors
    assert main(["train", str(cfg), "--method", "i2v", "--out", str(tmp_path / "again")]) == 0
    assert (
        Embeddings.load(tmp_path / "again" / "i2v-s0.npz").vectors.tobytes()
        == emb.vectors.tobytes()
    )
    table = tmp_path / "quality.csv"
    assert main(["evaluate", str(cfg), str(files[0]), "--out", str(table)]) == 0
    df = pd.read_csv(table)
    assert set(df["model"]) == {"i2v-s0", "popularity"}
    assert df["hit_rate@5"].between(0, 1).all()


def test_train_unknown_method_is_an_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    assert main(["train", str(cfg), "--method", "nope", "--out", str(tmp_path)]) == 1


def test_bench_unknown_name_is_an_error():
    assert main(["bench", "no_such_benchmark"]) == 1


@pytest.mark.parametrize("sub", ["data", "run", "train", "evaluate", "bench", "report"])
def test_every_subcommand_has_help(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([sub, "--help"])
    assert exc.value.code == 0
    assert "usage: embrecall" in capsys.readouterr().out
