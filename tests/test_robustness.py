"""Bad input and faults (issue 14): the cache, configs, ids, files, resource edges, run folders.

The Redis groups (1, 2 and part of 8) are in ``test_redis_robustness.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embeddings import Embeddings, ItemGraph
from embeddings.datasets import Interactions
from embeddings.datasets.generic import load_interactions
from embeddings.validate import as_ids
from recall.base import MAX_K, load_index
from recall.cli import main
from recall.exact import ExactIndex
from recall.experiment import (
    check_run_folder,
    data_fingerprint,
    load_config,
    parse_config,
    run_experiment,
    select,
)
from recall.experiment import runner as experiment

# a config small enough to run in seconds: one method, exact search only
SMALL = textwrap.dedent(
    """
    name = "small"
    seeds = [0]
    k = [5]
    n_queries = 30
    single_query_max = 10
    [data]
    source = "synthetic"
    [data.params]
    n_users = 80
    n_items = 60
    n_genres = 4
    mean_events = 15
    [split]
    kind = "leave_last_out"
    min_rating = 3.5
    [[methods]]
    name = "i2v"
    class = "embeddings.trainers:Item2Vec"
    params = { mode = "sequence", dim = 8, epochs = 1, min_rating = 3.5 }
    [[methods]]
    name = "pop"
    class = "embeddings.trainers:Item2Vec"
    params = { mode = "set", dim = 4, epochs = 1 }
    [[indexes]]
    name = "exact"
    family = "exact"
    class = "recall.exact:ExactIndex"
    params = { metric = "cosine" }
    """
)


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------ group 3: stale cache
def _movielens_dir(root: Path, ratings: pd.DataFrame) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(root / "ratings.csv", index=False)
    movies = pd.DataFrame(
        {
            "movieId": np.arange(1, 41),
            "title": [f"Movie {i} (2000)" for i in range(1, 41)],
            "genres": ["Drama|Comedy" if i % 2 else "Action" for i in range(1, 41)],
        }
    )
    movies.to_csv(root / "movies.csv", index=False)
    return root


def _ratings(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1500
    return pd.DataFrame(
        {
            "userId": rng.integers(1, 60, n),
            "movieId": rng.integers(1, 41, n),
            "rating": rng.choice([3.0, 4.0, 5.0], n),
            "timestamp": np.sort(rng.integers(10**9, 10**9 + 10**7, n)),
        }
    )


def test_changed_data_at_the_same_path_is_retrained(tmp_path):
    data = _movielens_dir(tmp_path / "ml", _ratings(0))
    cfg = _write(
        tmp_path,
        textwrap.dedent(
            f"""
            name = "ml"
            k = [5]
            [data]
            source = "movielens"
            path = "{data}"
            [[methods]]
            name = "i2v"
            class = "embeddings.trainers:Item2Vec"
            params = {{ mode = "set", dim = 4, epochs = 1 }}
            """
        ),
    )
    out = tmp_path / "runs" / "ml"
    cache = tmp_path / "runs" / "cache"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    first = sorted(cache.glob("emb-*.npz"))
    assert len(first) == 1
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert sorted(cache.glob("emb-*.npz")) == first  # same data: the cached vectors are reused
    _ratings(1).to_csv(data / "ratings.csv", index=False)  # new ratings, same path
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    second = sorted(cache.glob("emb-*.npz"))
    assert len(second) == 2  # retrained: a new cache entry keyed on the new content
    new = (set(second) - set(first)).pop()
    assert Embeddings.load(new) != Embeddings.load(first[0])


def test_data_fingerprint_sees_content_not_paths():
    a = Interactions.from_arrays([1, 2, 3], [10, 20, 30], [4.0, 5.0, 3.0])
    b = Interactions.from_arrays([1, 2, 3], [10, 20, 30], [4.0, 5.0, 3.5])
    assert data_fingerprint(a, None) == data_fingerprint(a, None)
    assert data_fingerprint(a, None) != data_fingerprint(b, None)
    assert data_fingerprint(a, a) != data_fingerprint(a, b)  # the split (test part) counts too


# ------------------------------------------------------------------ groups 4 and 5: configs
def _raw():
    import tomllib

    return tomllib.loads(SMALL)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(seed=[3]), "unknown key 'seed'; did you mean 'seeds'"),
        (lambda r: r["methods"][0].update(parms={}), "unknown key 'parms'; did you mean 'params'"),
        (lambda r: r.update(method=[{}]), "unknown key 'method'; did you mean 'methods'"),
        (lambda r: r.update(n_querys=5), "unknown key 'n_querys'; did you mean 'n_queries'"),
        (lambda r: r.update(k=[5.7]), "k must hold integers >= 1, got 5.7"),
        (lambda r: r.update(seeds="12"), "seeds must be a non-empty list of integers, got '12'"),
        (lambda r: r.update(n_queries="5"), "n_queries must be an integer >= 1"),
        (
            lambda r: r["methods"][0]["params"].update(dimm=8),
            "unknown params key 'dimm' for Item2Vec; did you mean 'dim'.*valid: mode, dim",
        ),
        (lambda r: r["methods"][0]["params"].update(dim="8"), "params.dim = '8' does not fit"),
        (lambda r: r["methods"][0]["params"].update(epochs=1.5), "params.epochs = 1.5"),
        (lambda r: r["data"].update(sourc="x"), "unknown key 'sourc'; did you mean 'source'"),
        (lambda r: r["data"]["params"].update(n_user=5), "did you mean 'n_users'"),
        (lambda r: r["split"].update(kind="temporl"), "did you mean 'temporal'"),
        (lambda r: r.update(evaluation={"metrc": "ip"}), "did you mean 'metric'"),
        (
            lambda r: r["indexes"][0].update(search_grid={"n_probe": [2]}),
            "unknown search_grid key 'n_probe'",
        ),
        (lambda r: r.update(k=[10**9]), "k must be <= 65536"),
        (lambda r: r.update(k=[]), "k must be a non-empty list"),
        (lambda r: r.update(seeds=[True]), "seeds must hold integers"),
    ],
)
def test_typos_and_types_are_errors(mutate, message):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ValueError, match=message):
        parse_config(raw)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(name="/abs/path"), "must be a plain file name"),
        (lambda r: r.update(name="../../x"), "must be a plain file name"),
        (lambda r: r.update(name=".."), "must be a plain file name"),
        (lambda r: r["methods"][0].update(name="../m"), "must be a plain file name"),
        (lambda r: r["indexes"][0].update(name="a/b"), "must be a plain file name"),
        (lambda r: r["indexes"][0].update(family="../f"), "family '../f' must be a plain"),
        (lambda r: r["methods"][0].update({"class": "recall.cli:main"}), "trainer classes come"),
        (lambda r: r["methods"][0].update({"class": "embeddings_x:Item2Vec"}), "trainer classes"),
        (lambda r: r["methods"][0].update({"class": "os:system"}), "trainer classes come from"),
        (
            lambda r: r["methods"][0].update({"class": "embeddings.trainers:leave_last_out"}),
            "is not a trainer class",
        ),
        (
            lambda r: r["methods"][0].update({"class": "embeddings.eges:_SideInfoSkipGram"}),
            "is not a trainer class",
        ),
        (
            lambda r: r["methods"][0].update({"class": "recall.exact:ExactIndex"}),
            "trainer classes come from",
        ),
        (lambda r: r["indexes"][0].update({"class": "recall.base:Index"}), "index classes come"),
        (
            lambda r: r["indexes"][0].update({"class": "recall.exact:exact_knn"}),
            "is not an index class",
        ),
    ],
)
def test_names_and_classes_stay_in_the_sandbox(mutate, message):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ValueError, match=message):
        parse_config(raw)


def test_cli_prints_one_line_and_writes_nothing(tmp_path, capsys):
    cfg = _write(tmp_path, SMALL.replace('name = "small"', 'name = "../../escape"'))
    assert main(["run", str(cfg), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "plain file name" in err
    cfg = _write(tmp_path, SMALL.replace("epochs = 1, min", "dimm = 3, epochs = 1, min"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'dim'" in err and "TypeError" not in err
    assert not (tmp_path / "o").exists() and not (tmp_path.parent / "escape").exists()


def test_all_committed_configs_validate():
    for path in sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.toml")):
        load_config(path)


def test_tuning_section_is_validated(tmp_path):
    """A typo inside [tuning] (the search budget) is an error, not silently ignored."""
    src = (Path(__file__).resolve().parent.parent / "configs" / "movielens.toml").read_text()
    assert "[tuning]" in src
    bad = tmp_path / "bad.toml"
    bad.write_text(src.replace("[tuning]", "[tuning]\nn_trails = 5", 1))
    with pytest.raises(ValueError, match="n_trails"):
        load_config(bad)


# ------------------------------------------------------------------ group 6: ids
@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([1, 2**63], dtype=np.uint64), "outside int64"),
        ([1, 2**63], "outside int64"),
        ([2**64 + 5], "outside int64"),
        ([3.0, 1e19], "outside int64"),
        ([-1.0e19], "outside int64"),
        ([5, -1], "reserved"),
        (np.array([-1]), "reserved"),
    ],
)
def test_ids_that_would_wrap_or_pad_are_rejected(ids, message):
    with pytest.raises(ValueError, match=message):
        as_ids(ids)
    x = np.ones((len(ids), 3), np.float32)
    with pytest.raises(ValueError, match=message):
        ExactIndex().build(x, ids)
    with pytest.raises(ValueError, match=message):
        Embeddings(ids, x)


def test_ids_in_tables_and_graphs_are_checked():
    with pytest.raises(ValueError, match="outside int64"):
        Interactions.from_arrays(np.array([1, 2], np.uint64) + np.uint64(2**63), [1, 2])
    with pytest.raises(ValueError, match="outside int64"):
        Interactions.from_arrays([1, 2], [1e19, 5])
    with pytest.raises(ValueError, match="reserved"):
        Interactions.from_arrays([1, 2], [-1, 5])
    with pytest.raises(ValueError, match="reserved"):
        ItemGraph.from_edges([1, -1], [2, 3])
    # a list mixing floats and big ints is converted exactly (float64 would round it)
    assert as_ids([2**60 + 1, 2.0]).tolist() == [2**60 + 1, 2]
    # the largest and smallest int64 ids still work, and -1 is fine where it is no id
    assert as_ids([2**63 - 1, -(2**63)]).tolist() == [2**63 - 1, -(2**63)]
    inter = Interactions.from_arrays([1, 2], [3, 4], timestamp=[-1, 5])
    assert inter.frame["timestamp"].tolist() == [-1, 5]


# ------------------------------------------------------------------ group 7: files
def _saved_index(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    return (
        ExactIndex()
        .build(rng.standard_normal((20, 4)), np.arange(100, 120))
        .save(tmp_path / "ok.npz")
    )


def _rewrite(src: Path, dst: Path, **changes) -> Path:
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)
    return dst


def _header(src: Path) -> dict:
    with np.load(src, allow_pickle=False) as z:
        return json.loads(z["header"].tobytes())


def _hbytes(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def test_load_index_validates_like_build(tmp_path):
    ok = _saved_index(tmp_path)
    assert len(load_index(ok)) == 20
    h = _header(ok)
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    nan_x = x.copy()
    nan_x[3, 1] = np.nan
    inf_x = x.copy()
    inf_x[2, 0] = np.inf
    cases = {
        "dup": ({"ids": np.r_[np.arange(19), 0]}, "duplicate ids"),
        "frac": ({"ids": np.arange(20) + 0.5}, "ids must be integers"),
        "twod": ({"ids": np.arange(20).reshape(4, 5)}, "expected a 1-D array"),
        "pad": ({"ids": np.r_[np.arange(19), -1]}, "reserved"),
        "nan": ({"s_x": nan_x}, "NaN values in state array 'x'"),
        "inf": ({"s_x": inf_x}, "inf values in state array 'x'"),
        "list": ({"header": _hbytes([1, 2])}, "header must be a JSON object"),
        "keys": ({"header": _hbytes({**h, "state_keys": "x"})}, "'state_keys' must be a JSON list"),
        "keys2": ({"header": _hbytes({**h, "state_keys": [1]})}, "distinct strings"),
        "dim": ({"header": _hbytes({**h, "dim": "4"})}, "'dim' must be a JSON int"),
        "params": ({"header": _hbytes({**h, "params": []})}, "'params' must be a JSON dict"),
        "module": ({"header": _hbytes({**h, "module": "recall_x.exact"})}, "foreign module"),
        "cls": ({"header": _hbytes({**h, "module": "recall.base", "class": "Index"})}, "not an"),
        "extra": ({"s_y": x}, "members do not match the header"),
    }
    for name, (changes, message) in cases.items():
        p = _rewrite(ok, tmp_path / f"{name}.npz", **changes)
        with pytest.raises(ValueError, match=message) as info:
            load_index(p)
        assert str(p) in str(info.value), name


def test_unreadable_files_name_the_file_never_pickle(tmp_path):
    rng = np.random.default_rng(1)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(rng.bytes(3000))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(_saved_index(tmp_path).read_bytes()[:300])
    pickled = tmp_path / "pickled.npz"
    with open(pickled, "wb") as fh:
        np.savez(fh, header=np.array([{"a": 1}], dtype=object), ids=np.arange(3))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    for p in (garbage, truncated, pickled, empty):
        for loader in (load_index, Embeddings.load):
            with pytest.raises(ValueError) as info:
                loader(p)
            assert str(p) in str(info.value) and "allow_pickle" not in str(info.value)


def test_embeddings_load_validates_like_the_constructor(tmp_path):
    emb = Embeddings(np.arange(5), np.ones((5, 3), np.float32), {"method": "x"})
    ok = emb.save(tmp_path / "ok.npz")
    assert Embeddings.load(ok) == emb
    meta_list = np.frombuffer(b'[1, 2, {"__format__": "x"}]', dtype=np.uint8)
    nan_v = np.ones((5, 3), np.float32)
    nan_v[1, 1] = np.nan
    cases = {
        "meta": ({"meta": meta_list}, "meta must be a JSON object"),
        "dup": ({"ids": np.array([1, 1, 2, 3, 4])}, "duplicate ids"),
        "nan": ({"vectors": nan_v}, "NaN or inf"),
        "pad": ({"ids": np.array([-1, 1, 2, 3, 4])}, "reserved"),
        "frac": ({"ids": np.arange(5) + 0.5}, "unexpected dtypes"),
    }
    for name, (changes, message) in cases.items():
        p = _rewrite(ok, tmp_path / f"{name}.npz", **changes)
        with pytest.raises(ValueError, match=message) as info:
            Embeddings.load(p)
        assert str(p) in str(info.value), name


def test_truncated_csv_gz_names_the_file(tmp_path):
    text = "user_id,item_id,rating,timestamp\n" + "".join(
        f"{i},{i % 13},4,{i}\n" for i in range(4000)
    )
    blob = gzip.compress(text.encode())
    full = tmp_path / "full.csv.gz"
    full.write_bytes(blob)
    assert len(load_interactions(full)) == 4000
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        load_interactions(cut)
    assert str(cut) in str(info.value)


# ------------------------------------------------------------------ group 8: resource / type edges
def test_huge_k_is_rejected_without_allocating():
    idx = ExactIndex().build(np.random.default_rng(0).standard_normal((500, 8)))
    q = np.ones((1000, 8), np.float32)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="exceeds both the index size"):
        idx.search(q, 10**9)
    assert time.perf_counter() - t0 < 1.0
    res = idx.search(q[:2], 505)  # a little above the index size is still padded
    assert res.ids.shape == (2, 505) and (res.ids[:, 500:] == -1).all()
    assert idx.search(q[:1], MAX_K).ids.shape == (1, MAX_K)


def test_eges_learning_rate_is_validated():
    from embeddings.datasets import make_synthetic
    from embeddings.eges import EGES

    d = make_synthetic(n_users=60, n_items=40, random_state=0)
    for alpha in (10.0, 1e6, float("nan"), -0.1, "0.1"):
        with pytest.raises(ValueError, match="alpha"):
            EGES(dim=4, num_walks=1, walk_length=5, alpha=alpha).fit(
                d.interactions, side_info=d.side_info
            )
    with pytest.raises(ValueError, match="min_alpha"):
        EGES(dim=4, alpha=0.1, min_alpha=0.5).fit(d.interactions, side_info=d.side_info)


def test_negative_graph_weights_are_rejected_even_when_summed():
    with pytest.raises(ValueError, match="finite and > 0"):
        ItemGraph.from_edges([1, 1], [2, 2], [-1.0, 2.0])  # parallel edges would sum to 1
    with pytest.raises(ValueError, match="finite and > 0"):
        ItemGraph.from_edges([1, 2], [2, 3], [1.0, np.inf], directed=False)


# ------------------------------------------------------------------ group 9 / issue 13.5: runs
def test_runs_go_to_their_own_folder_and_switch_in_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(experiment, "default_runs_root", lambda: tmp_path / "runs")
    cfg = _write(tmp_path, SMALL)
    assert main(["run", str(cfg), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.name.startswith("small-")]
    env = json.loads((folder / "environment.json").read_text())
    assert {"commit", "date", "command", "run_id"} <= set(env)
    assert env["command"] == f"embrecall run {cfg} --no-progress"
    manifest = check_run_folder(folder)
    assert manifest["run_id"] == env["run_id"]
    assert set(manifest["files"]) == {
        "config.resolved.json",
        "environment.json",
        "quality.csv",
        "results.csv",
    }

    # a run killed after writing config.resolved.json leaves the previous folder untouched
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    real = experiment._run_into

    def killed(config, out, *args, **kwargs):
        (out / "config.resolved.json").write_text("{}")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(experiment, "_run_into", killed)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_config(cfg), out=folder, progress=False)
    monkeypatch.setattr(experiment, "_run_into", real)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    assert [p.name for p in folder.parent.iterdir() if ".partial-" in p.name] == []
    assert main(["report", str(folder)]) == 0

    # a folder mixing runs is refused by report
    (folder / "config.resolved.json").write_text('{"name": "other run"}')
    assert main(["report", str(folder)]) == 1
    with pytest.raises(ValueError, match="do not all come from run"):
        check_run_folder(folder)


def test_run_subset_and_explicit_out(tmp_path, capsys):
    cfg = _write(tmp_path, SMALL)
    out = tmp_path / "reports" / "small"
    argv = ["run", str(cfg), "--out", str(out), "--method", "i2v", "--seed", "3", "--no-progress"]
    assert main(argv) == 0
    resolved = json.loads((out / "config.resolved.json").read_text())
    assert [m["name"] for m in resolved["methods"]] == ["i2v"] and resolved["seeds"] == [3]
    q = pd.read_csv(out / "quality.csv")
    assert set(q["method"]) == {"i2v", "popularity"} and set(q["seed"]) == {3}
    assert main(["run", str(cfg), "--out", str(out), "--method", "i2w", "--no-progress"]) == 1
    assert "did you mean 'i2v'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="indexes not in the config"):
        select(load_config(cfg), indexes=["nope"])
    # a folder that is not a run is never replaced
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["run", str(cfg), "--out", str(other), "--no-progress"]) == 1
    assert (other / "notes.txt").read_text() == "keep me"


def test_environment_json_is_valid_json_with_a_date(tmp_path):
    cfg = load_config(_write(tmp_path, SMALL))
    cfg = select(cfg, methods=["pop"])
    folder = run_experiment(cfg, out=tmp_path / "r", progress=False, command="x")
    env = json.loads((folder / "environment.json").read_text())
    assert env["date"][:4].isdigit() and env["command"] == "x"
    assert pd.read_csv(io.StringIO((folder / "results.csv").read_text()))["method"].eq("pop").all()


def test_report_refuses_a_legacy_folder_mixing_runs(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    pd.DataFrame({"seed": [0, 0], "method": ["a", "popularity"], "mode": ["u2i"] * 2}).to_csv(
        folder / "quality.csv", index=False
    )
    (folder / "config.resolved.json").write_text(json.dumps({"name": "x", "methods": []}))
    # no run.json (written before manifests): the config of another run is still caught
    with pytest.raises(ValueError, match="files come from different runs"):
        check_run_folder(folder)
    assert main(["report", str(folder)]) == 1
    (folder / "config.resolved.json").write_text(
        json.dumps({"name": "x", "methods": [{"name": "a"}]})
    )
    assert check_run_folder(folder) is None
