"""CLI messages a new user meets: own CSV data, clear errors naming the file or the valid
names, the shared MovieLens copy before any download, help on every positional, --version,
and ``train --graph`` on an edge-list file with string node names."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from embeddings import Embeddings
from recall.cli import build_parser, main

CONFIG = textwrap.dedent(
    """
    name = "msgs"
    k = [5]
    [data]
    source = "csv"
    path = "{path}"
    columns = {{ user_id = "uid", item_id = "sku", timestamp = "ts" }}
    [split]
    kind = "leave_last_out"
    [[methods]]
    name = "i2v"
    class = "embeddings.trainers:Item2Vec"
    params = {{ dim = 8, epochs = 2 }}
    """
)


def _log(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["uid,sku,ts"]
    for u in range(60):
        for t, i in enumerate(rng.integers(0, 20, 10)):
            lines.append(f"u{u},item-{i},{t}")
    path = tmp_path / "my.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_data_on_a_csv_file(tmp_path, capsys):
    path = _log(tmp_path)
    assert main(["data", str(path), "--columns", "user_id=uid,item_id=sku,timestamp=ts"]) == 0
    out = capsys.readouterr().out
    assert '"users": 60' in out and '"items": 20' in out
    assert main(["data", str(path)]) == 1  # default column names are not in this file
    assert "missing mapped columns" in capsys.readouterr().err


def test_config_with_a_csv_source_trains_and_evaluates(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(path=_log(tmp_path).as_posix()))
    out = tmp_path / "emb"
    assert main(["train", str(cfg), "--out", str(out)]) == 0
    emb = Embeddings.load(out / "i2v-s0.npz")
    assert set(emb.labels) == {f"item-{i}" for i in range(20)}
    assert main(["evaluate", str(cfg), str(out / "i2v-s0.npz")]) == 0
    assert "hit_rate@5" in capsys.readouterr().out


def test_clear_errors(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(path=_log(tmp_path).as_posix()))
    csv = tmp_path / "my.csv"
    assert main(["evaluate", str(cfg), str(csv)]) == 1
    err = capsys.readouterr().err
    assert "my.csv: not an embeddings file" in err and "allow_pickle" not in err
    assert main(["train", str(cfg), "--method", "word2vec", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "word2vec" in err and "['i2v']" in err
    assert not list(tmp_path.glob("*.npz"))  # refused before training anything
    assert main(["bench", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "'ann'" in err and "Module" not in err
    assert main(["data", str(tmp_path / "nothing.csv")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_data_variant_uses_the_shared_copy(shared_data, tmp_path, capsys):
    if not (shared_data / "movielens-latest-small").is_dir():
        pytest.skip("movielens-latest-small not in the shared data")
    # an empty download cache and no network: it must not try to download
    assert main(["data", "ml-latest-small", "--cache-dir", str(tmp_path)]) == 0
    assert '"interactions": 100836' in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_version_and_positional_help(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("embrecall ")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("data", "train", "evaluate", "bench", "report"):
        for action in sub.choices[name]._actions:
            if not action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.dest}: no help"


def test_train_graph_edge_list_with_string_names(tmp_path, capsys):
    edges = tmp_path / "edges.txt"
    edges.write_text(
        "# u v weight\n"
        + "".join(f"n{i} n{(i + 1) % 12} 1.0\nn{i} n{(i + 5) % 12} 2\n" for i in range(12))
    )
    out = tmp_path / "out"
    argv = ["train", "--graph", str(edges), "--method", "deepwalk", "--dim", "8"]
    assert main([*argv, "--num-walks", "4", "--walk-length", "10", "--out", str(out)]) == 0
    emb = Embeddings.load(out / "deepwalk-s0.npz")
    assert sorted(emb.labels) == sorted(f"n{i}" for i in range(12))
    lines = (out / "deepwalk-s0.emb").read_text().splitlines()
    assert lines[0] == "12 8" and {ln.split()[0] for ln in lines[1:]} == set(emb.labels)
    assert main(["train", "--graph", str(edges), "--method", "item2vec", "--out", str(out)]) == 1
    assert "deepwalk" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("a b c d\n")
    assert main(["train", "--graph", str(tmp_path / "bad.txt"), "--out", str(out)]) == 1
    assert "line 1" in capsys.readouterr().err
