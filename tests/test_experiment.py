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


# ------------------------------------------------------------------ issue 12.6: tuned runner
_TUNING = """\
[tuning]
n_trials = 2
methods = ["item2vec-sequence"]
[tuning.space.item2vec-sequence]
epochs = { int = [1, 3] }
window = { int = [1, 5] }
"""
_DW = """\
[[methods]]
name = "dw"
class = "embeddings.trainers:DeepWalk"
params = { dim = 8, num_walks = 2, walk_length = 10, window = 3, min_rating = 3.5 }
"""
assert _DW in TINY
TUNED = TINY.replace(_DW, "").replace("[[methods]]", _TUNING + "[[methods]]", 1)


def _events(inter):
    return set(map(tuple, inter.frame[["user_id", "item_id", "timestamp"]].to_numpy().tolist()))


def test_tuned_run_chooses_on_validation_and_reads_test_once(tmp_path, monkeypatch):
    import embeddings.tuning as tuning_mod
    from recall.experiment import load_data, split_data

    seen: list[tuple] = []
    real_tune = tuning_mod.tune

    def spy(method, train, valid, **kw):
        seen.append((method, _events(train), _events(valid), kw))
        return real_tune(method, train, valid, **kw)

    monkeypatch.setattr(tuning_mod, "tune", spy)
    cfg = tmp_path / "tuned.toml"
    cfg.write_text(TUNED)
    config = load_config(cfg)
    assert "tuning" in config.raw and [m["name"] for m in config.methods] == ["i2v", "eges"]
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0

    # the search saw train and valid only: no test event, and the config's setting first
    data = load_data(config.raw["data"], 0)
    _, test = split_data(data.interactions, config.raw["split"])
    ((method, train_ev, valid_ev, kw),) = seen  # only i2v is searched ([tuning] methods)
    assert method == "item2vec-sequence" and kw["n_trials"] == 2
    assert not (train_ev | valid_ev) & _events(test) and valid_ev and not train_ev & valid_ev
    assert kw["initial"][0]["epochs"] == 2 and kw["fixed"]["dim"] == 8
    assert kw["random_state"] == 0

    tun = pd.read_csv(out / "tuning.csv")
    assert list(tun["method"]) == ["i2v", "eges"]
    assert list(tun["setting"]) == ["tuned", "config"] and tun.loc[0, "n_trials"] == 2
    for _, r in tun.iterrows():  # the mode kept is the better one on validation
        assert r[f"valid_{r['validated_mode']}"] == max(r["valid_i2i"], r["valid_u2i"])
    tuned_params = json.loads(tun.loc[0, "params"])
    assert 1 <= tuned_params["epochs"] <= 3 and tuned_params["dim"] == 8

    q = pd.read_csv(out / "quality.csv")
    rec = q[q["mode"].isin(["i2i", "u2i"])]
    # exactly one validated mode per method, the one tuning.csv names
    chosen = rec[rec["validated_mode"].astype(bool)].set_index("method")["mode"]
    assert chosen.to_dict() == dict(zip(tun["method"], tun["validated_mode"], strict=True))
    assert set(rec.loc[rec["method"] == "i2v", "setting"]) == {"tuned"}
    # end to end in each method's validated mode: exact search reproduces that mode's figure
    res = pd.read_csv(out / "results.csv")
    exact = res[res["index_family"] == "exact"].set_index("method")
    for m, mode in chosen.items():
        assert exact.loc[m, "e2e_mode"] == mode
        base = rec[(rec["method"] == m) & (rec["mode"] == mode)]["hit_rate@10"].iloc[0]
        assert exact.loc[m, "e2e_hit_rate@10"] == pytest.approx(base)
    # test is the plain split's test: the validation cut only moved events out of train
    pop = q[q["method"] == "popularity"]["n_users"].iloc[0]
    assert pop == test.frame["user_id"].nunique()

    report = (out / "report.md").read_text()
    per_method, fastest = report.index("**Quality per method**"), report.index("**Fastest index")
    assert per_method < fastest and "## Validation: each method's setting" in report
    assert "tuning.csv" in json.loads((out / "run.json").read_text())["files"]

    # same seed, same choices and the same figures
    out2 = tmp_path / "run2"
    assert main(["run", str(cfg), "--out", str(out2), "--no-progress", "--no-cache"]) == 0
    tun2 = pd.read_csv(out2 / "tuning.csv")
    assert list(tun2["params"]) == list(tun["params"])
    q2 = pd.read_csv(out2 / "quality.csv")
    pd.testing.assert_series_equal(q2["hit_rate@10"], q["hit_rate@10"])


def test_k_validation_events_reach_the_search_and_leave_test_untouched(tmp_path, monkeypatch):
    import embeddings.tuning as tuning_mod
    from embeddings.sessions import ValidationEvents
    from recall.experiment import load_data, split_data

    seen: list[tuple] = []
    real_tune = tuning_mod.tune

    def spy(method, train, valid, **kw):
        seen.append((train, valid, kw))
        return real_tune(method, train, valid, **kw)

    monkeypatch.setattr(tuning_mod, "tune", spy)
    text = TUNED.replace("min_rating = 3.5\n[tuning]", "min_rating = 3.5\nn_valid = 3\n[tuning]", 1)
    assert "n_valid = 3" in text
    cfg = tmp_path / "k.toml"
    cfg.write_text(text.replace("seeds = [0]", "seeds = [0, 1]"))
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress", "--no-cache"]) == 0
    config = load_config(cfg)
    data = load_data(config.raw["data"], 0)
    _, test = split_data(data.interactions, config.raw["split"])
    assert len(seen) == 2  # one search per seed
    for train, valid, _ in seen:
        assert isinstance(valid, ValidationEvents) and valid.n_valid == 3
        assert valid.frame.groupby("user_id").size().max() == 3
        assert not (_events(train) | _events(valid)) & _events(test)
    # the run's seed reaches the search: seed 0 and seed 1 are two searches
    assert [kw["random_state"] for _, _, kw in seen] == [0, 1]
    tun = pd.read_csv(out / "tuning.csv")
    assert {"valid_i2i_last", "valid_u2i_last"} <= set(tun.columns)
    q = pd.read_csv(out / "quality.csv")  # test is the plain split's: every test user, once
    pop = q[(q["method"] == "popularity") & (q["seed"] == 0)]["n_users"].iloc[0]
    assert pop == test.frame["user_id"].nunique()


def test_split_keys_errors_name_the_problem():
    base = {"name": "x", "data": {}, "methods": []}
    for bad in (0, -1, 2.5, "5"):
        with pytest.raises(ValueError, match="n_valid must be an integer >= 1"):
            parse_config({**base, "split": {"n_valid": bad}})
    with pytest.raises(ValueError, match="n_valid needs n_last = 1"):
        parse_config({**base, "split": {"n_valid": 2, "n_last": 2}})
    with pytest.raises(ValueError, match='tie_seed must be an integer or "run"'):
        parse_config({**base, "split": {"tie_seed": "always"}})


def test_best_mode_without_tuning_keeps_the_config_setting(tmp_path):
    cfg = tmp_path / "best.toml"
    text = TINY.replace("[[methods]]", '[evaluation]\ne2e_mode = "best"\n[[methods]]', 1)
    cfg.write_text(text)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress", "--method", "i2v"]) == 0
    tun = pd.read_csv(out / "tuning.csv")
    assert list(tun["setting"]) == ["config"] and list(tun["n_trials"]) == [0]
    assert json.loads(tun.loc[0, "params"]) == load_config(cfg).methods[0]["params"]
    res = pd.read_csv(out / "results.csv")
    assert set(res["e2e_mode"]) == {tun.loc[0, "validated_mode"]}


def test_tuning_table_errors_name_the_problem():
    base = {"name": "x", "data": {}, "methods": []}
    with pytest.raises(ValueError, match="'item2vec-seq' has no search; did you mean"):
        parse_config({**base, "tuning": {"methods": ["item2vec-seq"]}})
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        parse_config({**base, "tuning": {"n_trials": 0}})
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
        parse_config({**base, "tuning": {"timeout": "1h"}})
    with pytest.raises(ValueError, match="e2e_mode 'worst' is unknown"):
        parse_config({**base, "evaluation": {"e2e_mode": "worst"}})


def test_config_setting_is_the_first_trial_and_unsearched_params_stay_fixed():
    from recall.experiment.validation import search_key, tune_arguments

    spec = {
        "name": "n2v",
        "class": "embeddings.trainers:Node2Vec",
        "params": {"p": 0.5, "q": 2.0, "dim": 500, "num_walks": 3},
    }
    tuning = {"n_trials": 3, "space": {"node2vec": {"p": {"float": [0.25, 4.0]}}}}
    assert search_key(spec, tuning) == "node2vec"
    assert search_key(spec, {**tuning, "methods": ["deepwalk"]}) is None
    assert search_key(spec, None) is None
    kw = tune_arguments(spec, tuning, "node2vec", seed=7)
    assert set(kw["space"]) == {"p"} and kw["initial"] == [{"p": 0.5}]
    assert kw["fixed"] == {"q": 2.0, "dim": 500, "num_walks": 3}
    assert kw["random_state"] == 7 and kw["n_trials"] == 3
    # a config value outside the searched range is not forced into the first trial
    kw = tune_arguments({**spec, "params": {"p": 9.0}}, tuning, "node2vec", seed=0)
    assert kw["initial"] == [{"p": 1.0}]  # the trainer's default instead


def test_warm_start_is_the_second_trial_with_the_sources_values_in_this_space():
    from recall.experiment.validation import tune_arguments

    spec = {"name": "n2v", "class": "embeddings.trainers:Node2Vec", "params": {"dim": 32}}
    space = {
        "p": {"float": [0.25, 4.0]},
        "q": {"float": [0.25, 4.0]},
        "window": {"int": [1, 10]},
        "directed": {"choices": [True, False]},
    }
    tuning = {"n_trials": 3, "space": {"node2vec": space}}
    deepwalk_choice = {"dim": 32, "window": 9, "directed": False, "epochs": 40, "sample": 0.1}
    kw = tune_arguments(spec, tuning, "node2vec", seed=0, warm_params=deepwalk_choice)
    first, second = kw["initial"]
    # DeepWalk's searched values that lie in node2vec's space; p = q = 1 (DeepWalk) kept
    assert second == {**first, "window": 9, "directed": False}
    assert second["p"] == 1.0 and second["q"] == 1.0
    # values outside this space (epochs, sample are not searched here) are not carried over
    assert "epochs" not in second and "sample" not in second
    # a warm setting equal to the first trial is not evaluated twice
    kw = tune_arguments(spec, tuning, "node2vec", seed=0, warm_params=first)
    assert kw["initial"] == [first]


def test_warm_start_config_errors():
    base = {
        "name": "x",
        "data": {"source": "synthetic"},
        "methods": [
            {"name": "dw", "class": "embeddings.trainers:DeepWalk"},
            {"name": "n2v", "class": "embeddings.trainers:Node2Vec"},
        ],
    }
    parse_config({**base, "tuning": {"n_trials": 2, "warm_start": {"n2v": "dw"}}})
    with pytest.raises(ValueError, match="'n2v' listed before 'dw'"):
        parse_config({**base, "tuning": {"warm_start": {"dw": "n2v"}}})
    with pytest.raises(ValueError, match="needs both methods"):
        parse_config({**base, "tuning": {"warm_start": {"n2v": "deepwalk"}}})
    with pytest.raises(ValueError, match="warm_start must be a table"):
        parse_config({**base, "tuning": {"warm_start": ["dw"]}})


# ------------------------------------------------------------------ issue 10.1: wall clock
def test_timings_are_wall_clock_medians_with_cpu_beside():
    import time

    from recall.measure import Timing, time_repeats

    calls = []

    def sleepy():  # waits without using the CPU: wall clock sees it, CPU time does not
        calls.append(1)
        time.sleep(0.02)

    t = time_repeats(sleepy, repeat=3, warmup=1)
    assert len(calls) == 4 and len(t.wall) == 3 and t.warmup_s >= 0.02
    assert t.min <= t.median <= t.max and t.median >= 0.02
    assert t.cpu_median < 0.5 * t.median
    rate = t.rate(10, "qps")
    assert rate["qps"] == pytest.approx(10 / t.median) and rate["qps_min"] <= rate["qps"]
    assert rate["qps_cpu"] > rate["qps"] and rate["qps_rounds"] == 3
    assert Timing((1.0, 2.0, 9.0), (1.0, 1.0, 1.0)).median == 2.0  # not the best (min)
    with pytest.raises(ValueError, match="repeat must be a positive int"):
        time_repeats(sleepy, repeat=0)


def test_runner_records_load_and_timing_spread(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress", "--method", "i2v"]) == 0
    env = json.loads((out / "environment.json").read_text())
    assert len(env["load_before"]) == 3 and len(env["load_after"]) == 3 and env["wall_s"] > 0
    res = pd.read_csv(out / "results.csv")
    for p in ("qps_single", "qps_batch"):
        assert (res[f"{p}_min"] <= res[p]).all() and (res[p] <= res[f"{p}_max"]).all()
        assert (res[f"{p}_rounds"] == 3).all() and (res[f"{p}_cpu"] > 0).all()
    assert res["load_1min"].notna().all()
    assert "Load average (1/5/15 min)" in (out / "report.md").read_text()


# ------------------------------------------------------------------ issue 15: layering
def test_library_runner_does_not_import_the_command_line():
    import subprocess
    import sys

    code = (
        "import sys, recall.experiment, recall.report, recall.measure; "
        "bad = [m for m in sys.modules if m == 'recall.cli' or m.startswith('recall.bench')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paths_come_from_the_working_directory(tmp_path, monkeypatch):
    import numpy as np

    from recall.experiment import default_run_folder, resolve_data_path
    from recall.experiment.figures import _as_hashed
    from recall.lsh import SimHashIndex

    monkeypatch.chdir(tmp_path)
    assert resolve_data_path("data/x.csv") == tmp_path / "data" / "x.csv"
    assert default_run_folder("n").parent == tmp_path / "runs"
    monkeypatch.setenv("EMBRECALL_DATA", str(tmp_path / "shared"))
    with pytest.raises(FileNotFoundError, match="shared"):  # a set but missing folder is named
        resolve_data_path("shared:ml")
    (tmp_path / "shared").mkdir()
    assert resolve_data_path("shared:ml") == tmp_path / "shared" / "ml"
    # the bucket plot hashes what the index hashes, without its private _prepare
    x = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32) * 5
    for metric in ("cosine", "l2"):
        index = SimHashIndex(metric=metric, n_tables=2, random_state=0).build(x, np.arange(20))
        np.testing.assert_array_equal(_as_hashed(x, metric), index._prepare(x))


def test_selecting_methods_keeps_only_their_warm_starts():
    from recall.experiment.config import select

    base = {
        "name": "x",
        "data": {"source": "synthetic"},
        "methods": [
            {"name": "i2v", "class": "embeddings.trainers:Item2Vec"},
            {"name": "dw", "class": "embeddings.trainers:DeepWalk"},
            {"name": "n2v", "class": "embeddings.trainers:Node2Vec"},
        ],
        "tuning": {"n_trials": 2, "warm_start": {"n2v": "dw"}},
    }
    cfg = parse_config(base)
    one = select(cfg, methods=["i2v"])  # a method without a warm start runs on its own
    assert [m["name"] for m in one.methods] == ["i2v"] and one.raw["tuning"]["warm_start"] == {}
    both = select(cfg, methods=["dw", "n2v"])
    assert both.raw["tuning"]["warm_start"] == {"n2v": "dw"}
    with pytest.raises(ValueError, match="select dw too"):
        select(cfg, methods=["n2v"])
