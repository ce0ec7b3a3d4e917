"""Validation protocol, seeded search, baselines and bootstrap statistics (issue 12)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from embeddings.baselines import ImplicitMF, ItemKNN, user_item_matrix
from embeddings.datasets.tables import Interactions
from embeddings.evaluation import (
    evaluate_i2i,
    evaluate_popularity,
    node_classification_holdout,
    split_labelled_nodes,
)
from embeddings.sessions import (
    concat_interactions,
    leave_last_out,
    order_with_ties,
    train_valid_test_split,
)
from embeddings.stats import mean_ci, paired_bootstrap, per_user_mean, verdict
from embeddings.tuning import (
    default_space,
    make_trainer,
    plot_history,
    space_from_config,
    tune,
    tune_node_classification,
)


def _keys(inter: Interactions) -> set[tuple[int, int, int]]:
    f = inter.frame
    return set(zip(f["user_id"], f["item_id"], f["timestamp"], strict=True))


# ------------------------------------------------------------------ validation protocol
def test_valid_never_contains_test_and_precedes_it(synthetic_small):
    inter = synthetic_small.interactions
    train, valid, test = train_valid_test_split(inter, random_state=3)
    kt, kv, kr = _keys(train), _keys(valid), _keys(test)
    # every event lands in exactly one split (synthetic events are unique triples)
    assert len(kt) + len(kv) + len(kr) == len(inter.frame)
    assert not kv & kr and not kt & kr and not kt & kv
    # one valid and one test event per user, valid not later than test, train not later than valid
    assert valid.frame["user_id"].is_unique and test.frame["user_id"].is_unique
    t_time = test.frame.set_index("user_id")["timestamp"]
    v_time = valid.frame.set_index("user_id")["timestamp"]
    common = v_time.index.intersection(t_time.index)
    assert len(common) > 0
    assert (v_time[common] <= t_time[common]).all()
    last_train = train.frame.groupby("user_id")["timestamp"].max()
    assert (last_train[v_time.index] <= v_time).all()
    # the union train + valid is exactly the training side of the test split
    rest, test2 = leave_last_out(inter, random_state=3)
    assert _keys(concat_interactions(train, valid)) == _keys(rest)
    assert _keys(test2) == kr


def _tied_log() -> Interactions:
    # each user rates 6 items, the last 3 in the same second
    rows = []
    for u in range(40):
        for j in range(6):
            rows.append((u, 100 * u + j, 4.0, 10 if j < 3 else 20))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return Interactions(df, "tied")


def test_tie_rule_is_random_but_seeded():
    inter = _tied_log()
    _, t1 = leave_last_out(inter, random_state=0)
    _, t2 = leave_last_out(inter, random_state=0)
    _, t3 = leave_last_out(inter, random_state=1)
    _, t_order = leave_last_out(inter, ties="order")
    assert _keys(t1) == _keys(t2)  # same seed, same held-out items
    assert _keys(t1) != _keys(t3)  # another seed breaks ties differently
    # file order always held out the last row of the tie (largest item here); the random rule
    # picks each of the three tied items for some users
    assert (t_order.frame["item_id"] % 100 == 5).all()
    picked = np.bincount(t1.frame["item_id"].to_numpy() % 100, minlength=6)
    assert picked[:3].sum() == 0 and (picked[3:] > 0).all()
    # the I2I query (last training item) follows the same tie order: never the test item
    train, test = leave_last_out(inter, random_state=0)
    order = order_with_ties(inter.frame, "random", 0)
    assert order.groupby("user_id").tail(1)["item_id"].tolist() == test.frame["item_id"].tolist()
    with pytest.raises(ValueError, match="ties"):
        leave_last_out(inter, ties="first")


def test_hit_rate_equals_recall_with_one_held_out_item(synthetic_small):
    train, test = leave_last_out(synthetic_small.interactions)
    r = evaluate_popularity(train, test, k=10)
    assert r["hit_rate@10"] == pytest.approx(r["recall@10"])
    assert r["hit_rate@10"] > 0


def test_node_split_disjoint_and_holdout_refuses_overlap():
    rng = np.random.default_rng(0)
    n, c = 120, 3
    labels = np.zeros((n, c), np.int8)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    labels[:5] = 0  # unlabelled nodes are never in a split
    ids = np.arange(1000, 1000 + n)
    fit, valid, test = split_labelled_nodes(labels, ids, 0.5, 0.2, random_state=1)
    assert not set(fit) & set(valid) and not set(fit) & set(test) and not set(valid) & set(test)
    assert len(fit) + len(valid) + len(test) == n - 5
    assert not set(range(1000, 1005)) & (set(fit) | set(valid) | set(test))
    again = split_labelled_nodes(labels, ids, 0.5, 0.2, random_state=1)
    assert all(np.array_equal(a, b) for a, b in zip((fit, valid, test), again, strict=True))
    # vectors that carry the label: the holdout classifier finds it
    from embeddings.types import Embeddings

    vec = labels.astype(np.float32) + 0.01 * rng.standard_normal((n, c)).astype(np.float32)
    emb = Embeddings(ids, vec, {})
    r = node_classification_holdout(emb, labels, ids, np.concatenate([fit, valid]), test)
    assert r["macro_f1"] > 0.9 and r["n_eval"] == len(test)
    with pytest.raises(ValueError, match="overlap"):
        node_classification_holdout(emb, labels, ids, fit, fit[:3])


# ------------------------------------------------------------------ statistics
def test_bootstrap_covers_known_difference():
    rng = np.random.default_rng(0)
    true_diff, n, reps = 0.05, 600, 60
    covered = 0
    for r in range(reps):
        # paired per-user hits: b ~ Bernoulli(0.2); a adds hits with prob so that E[a-b] = 0.05
        b = (rng.random(n) < 0.2).astype(float)
        extra = (rng.random(n) < true_diff / 0.8) & (b == 0)
        a = np.maximum(b, extra.astype(float))
        res = paired_bootstrap(a, b, n_boot=1000, random_state=r)
        covered += res.diff_low <= true_diff <= res.diff_high
    assert 0.85 * reps <= covered <= reps  # nominal 95%
    # a large difference is called a win; identical methods are not
    big = paired_bootstrap(a + (rng.random(n) < 0.3), b, n_boot=1000, random_state=0)
    assert big.diff_low > 0 and big.verdict == "win"
    same = paired_bootstrap(b, b, n_boot=1000)
    assert same.verdict == "no significant difference"
    assert verdict(-0.2, -0.1) == "loss"
    # seeded
    assert paired_bootstrap(a, b, 500, random_state=5) == paired_bootstrap(
        a, b, 500, random_state=5
    )
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap(a, b[:-1])


def test_mean_ci_t_interval_and_per_user_mean():
    m, lo, hi = mean_ci([0.1, 0.2, 0.3])
    assert m == pytest.approx(0.2)
    assert lo == pytest.approx(0.2 - 4.302653 * 0.1 / np.sqrt(3), rel=1e-4)
    assert hi == pytest.approx(0.2 + 4.302653 * 0.1 / np.sqrt(3), rel=1e-4)
    assert np.isnan(mean_ci([0.5])[1])
    t1 = pd.DataFrame({"user_id": [2, 1], "hit_rate@10": [1.0, 0.0]})
    t2 = pd.DataFrame({"user_id": [1, 2], "hit_rate@10": [1.0, 1.0]})
    s = per_user_mean([t1, t2], "hit_rate@10")
    assert s.to_dict() == {1: 0.5, 2: 1.0}
    with pytest.raises(ValueError, match="other users"):
        per_user_mean([t1, t2.iloc[:1]], "hit_rate@10")


# ------------------------------------------------------------------ baselines
def test_itemknn_cosine_is_item_knn(synthetic_small):
    train, test = leave_last_out(synthetic_small.interactions)
    x, users, items = user_item_matrix(train)
    emb = ItemKNN("cosine").fit(train)
    # cosine of the columns = |U_i & U_j| / sqrt(|U_i||U_j|)
    co = (x.T @ x).toarray()
    deg = np.diag(co)
    sim = co / np.sqrt(np.outer(deg, deg))
    v = emb.vectors
    assert np.allclose(v[:20] @ v[:20].T, sim[:20, :20], atol=1e-5)
    cooc = ItemKNN("cooccurrence").fit(train)
    assert np.allclose(cooc.vectors[:20] @ cooc.vectors[:20].T, co[:20, :20])
    r = evaluate_i2i(emb, train, test, metric="cosine")
    assert r["hit_rate@10"] > evaluate_popularity(train, test)["hit_rate@10"]
    with pytest.raises(ValueError, match="max_cells"):
        ItemKNN(max_cells=10).fit(train)


def test_implicit_mf_seeded_and_shapes(synthetic_small):
    pytest.importorskip("implicit")
    train, _ = leave_last_out(synthetic_small.interactions)
    a = ImplicitMF("als", factors=8, iterations=3, random_state=0)
    e1 = a.fit(train)
    e2 = ImplicitMF("als", factors=8, iterations=3, random_state=0).fit(train)
    assert np.array_equal(e1.vectors, e2.vectors)
    assert a.user_embeddings is not None and a.user_embeddings.dim == e1.dim
    b = ImplicitMF("bpr", factors=8, iterations=3, random_state=0).fit(train)
    assert b.dim == 9  # bias column
    with pytest.raises(ValueError, match="model"):
        ImplicitMF("svd").fit(train)


# ------------------------------------------------------------------ search
_SMALL_SPACE = {
    "dim": {"int": [8, 32], "log": True},
    "window": {"int": [1, 8]},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "directed": {"choices": [True, False]},
}


def test_tune_is_deterministic_and_resumable(synthetic_small, tmp_path):
    train, valid, _ = train_valid_test_split(synthetic_small.interactions)
    kw = dict(space=_SMALL_SPACE, fixed={"epochs": 1, "num_walks": 2, "walk_length": 10})
    r1 = tune("deepwalk", train, valid, n_trials=4, random_state=11, **kw)
    r2 = tune("deepwalk", train, valid, n_trials=4, random_state=11, **kw)
    cols = [c for c in r1.history.columns if c.startswith("params_")] + ["value"]
    pd.testing.assert_frame_equal(r1.history[cols], r2.history[cols])
    assert r1.best_params == r2.best_params and r1.best_value == r2.best_value
    assert r1.best_attrs["mode"] in ("i2i", "u2i")
    assert r1.best_params["epochs"] == 1  # fixed parameters are part of the best setting
    # resumable: a journal file keeps finished trials, n_trials is the total budget
    store = str(tmp_path / "search.log")
    first = tune("deepwalk", train, valid, n_trials=2, random_state=11, storage=store, **kw)
    assert len(first.history) == 2
    resumed = tune("deepwalk", train, valid, n_trials=3, random_state=11, storage=store, **kw)
    assert len(resumed.history) == 3
    assert resumed.history["value"].iloc[:2].tolist() == first.history["value"].tolist()
    fig = plot_history(r1.history, "deepwalk")
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 1
    # the best trial's parameters rebuild the same model
    emb = make_trainer("deepwalk", r1.best_params, 11).fit(train)
    res = evaluate_i2i(emb, train, valid) if r1.best_attrs["mode"] == "i2i" else None
    if res is not None:
        assert res["hit_rate@10"] == pytest.approx(r1.best_value)


def test_tune_bad_input(synthetic_small):
    train, valid, _ = train_valid_test_split(synthetic_small.interactions)
    with pytest.raises(ValueError, match="budget"):
        tune("deepwalk", train, valid, n_trials=None, timeout=None)
    with pytest.raises(ValueError, match="unknown method"):
        default_space("word2vec")
    with pytest.raises(ValueError, match="both searched and fixed"):
        tune("deepwalk", train, valid, space=_SMALL_SPACE, fixed={"dim": 8}, n_trials=1)
    with pytest.raises(ValueError, match="exactly one"):
        tune("deepwalk", train, valid, space={"dim": {"int": [1, 2], "float": [1, 2]}}, n_trials=1)


def test_space_from_config_reads_tuning_table(tmp_path):
    import tomllib

    text = """
    [tuning]
    n_trials = 7
    random_state = 3
    storage = "search.db"
    [tuning.space.deepwalk]
    ns_exponent = { float = [-1.0, 1.0] }
    session_gap = { choices = ["none", 3600] }
    [tuning.fixed.deepwalk]
    dim = 32
    """
    cfg = tomllib.loads(text.replace("\n    ", "\n"))
    kw = space_from_config(cfg["tuning"], "deepwalk")
    assert kw["n_trials"] == 7 and kw["random_state"] == 3 and kw["fixed"] == {"dim": 32}
    assert kw["storage"].startswith("sqlite:///") and kw["storage"].endswith("search.db")
    assert set(kw["space"]) == {"ns_exponent", "session_gap"}
    with pytest.raises(ValueError, match="unknown keys"):
        space_from_config({"trials": 3}, "deepwalk")


def test_tune_node_classification_uses_validation_fold():
    from embeddings.graph import ItemGraph

    # two cliques joined by one edge; label = clique
    n = 30
    src, dst = [], []
    for block in (range(0, 15), range(15, 30)):
        for i in block:
            for j in block:
                if i < j:
                    src.append(i)
                    dst.append(j)
    src.append(0)
    dst.append(15)
    g = ItemGraph.from_edges(np.array(src), np.array(dst), directed=False)
    labels = np.zeros((n, 2), np.int8)
    labels[:15, 0] = 1
    labels[15:, 1] = 1
    fit, valid, test = split_labelled_nodes(labels, g.node_ids, 0.5, 0.3, random_state=0)
    space = {"window": {"int": [2, 5]}, "ns_exponent": {"float": [-1.0, 1.0]}}
    fixed = {"dim": 8, "num_walks": 4, "walk_length": 10, "epochs": 2}
    res = tune_node_classification(
        "deepwalk", g, labels, g.node_ids, fit, valid, space=space, fixed=fixed, n_trials=3
    )
    assert len(res.history) == 3 and 0.0 <= res.best_value <= 1.0
    assert "micro_f1" in res.best_attrs


def test_tune_node_classification_grid_visits_every_point_once():
    lg = _two_cliques()
    fit, valid, _ = split_labelled_nodes(lg.labels, lg.node_ids, 0.5, 0.3, random_state=0)
    grid = {"p": {"choices": [0.5, 2.0]}, "q": {"choices": [1.0, 4.0]}}
    fixed = {"dim": 8, "num_walks": 3, "walk_length": 10, "epochs": 1}
    args = ("node2vec", lg.graph, lg.labels, lg.node_ids, fit, valid)
    kw = {"space": grid, "fixed": fixed, "sampler": "grid", "classifier": "select"}
    res = tune_node_classification(*args, n_trials=None, random_state=3, **kw)
    h = res.history
    # the whole grid, each point once, however many trials were asked (None = the grid)
    points = set(zip(h["params_p"], h["params_q"], strict=True))
    assert len(h) == 4 and points == {(0.5, 1.0), (0.5, 4.0), (2.0, 1.0), (2.0, 4.0)}
    assert res.best_value == h["value"].max()
    # each trial chose its classifier on the same fold: C from select_classifier's grid
    assert res.best_attrs["C"] in (0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
    assert "standardise" in res.best_attrs
    assert res.objective.endswith("(classifier chosen on it)")
    again = tune_node_classification(*args, n_trials=10, random_state=3, **kw)
    assert list(again.history["value"]) == list(h["value"])  # seeded order, seeded trainers
    with pytest.raises(ValueError, match="ranges: \\['window'\\]"):
        tune_node_classification(
            *args, space={**grid, "window": {"int": [2, 5]}}, n_trials=2, sampler="grid"
        )
    with pytest.raises(ValueError, match="initial settings are for TPE"):
        tune_node_classification(*args, space=grid, sampler="grid", initial=[{"p": 0.5}])
    with pytest.raises(ValueError, match="sampler must be"):
        tune_node_classification(*args, space=grid, sampler="random")
    with pytest.raises(ValueError, match="classifier must be"):
        tune_node_classification(*args, space=grid, classifier="svm")


def test_tune_node_classification_cross_validated_grid():
    """``cv_folds``: each trial is the mean over folds of fit + valid; seeded, same folds."""
    lg = _two_cliques()
    fit, valid, test = split_labelled_nodes(lg.labels, lg.node_ids, 0.5, 0.3, random_state=0)
    grid = {"p": {"choices": [0.5, 2.0]}, "q": {"choices": [1.0]}}
    fixed = {"dim": 8, "num_walks": 3, "walk_length": 10, "epochs": 1}
    args = ("node2vec", lg.graph, lg.labels, lg.node_ids, fit, valid)
    kw = {"space": grid, "fixed": fixed, "sampler": "grid", "classifier": "select", "cv_folds": 3}
    res = tune_node_classification(*args, n_trials=None, random_state=2, **kw)
    h = res.history
    assert len(h) == 2 and res.objective.startswith("3-fold cross-validated macro_f1")
    assert "macro_f1_sd" in res.best_attrs and res.best_attrs["C"] in (0.1, 0.3, 1, 3, 10, 100)
    again = tune_node_classification(*args, n_trials=None, random_state=2, **kw)
    assert list(again.history["value"]) == list(h["value"])
    # the papers' classifier under cross-validation: C = 1 on raw vectors in every trial
    papers = tune_node_classification(*args, n_trials=None, random_state=2,
                                      **{**kw, "classifier": "papers"})  # fmt: skip
    assert papers.best_attrs["C"] == 1.0 and papers.best_attrs["standardise"] is False
    with pytest.raises(ValueError, match="cv_folds must be None or an integer >= 2"):
        tune_node_classification(*args, n_trials=None, **{**kw, "cv_folds": 1})
    # overlapping fit / valid nodes are named as such (not as the folds' concatenation)
    bad = ("node2vec", lg.graph, lg.labels, lg.node_ids, fit, np.concatenate([valid, fit[:1]]))
    with pytest.raises(ValueError, match="fit_nodes and valid_nodes overlap"):
        tune_node_classification(*bad, n_trials=None, **kw)
    # the long objective name wraps in the history plot instead of being cut off
    fig = plot_history(h, "cv", ylabel=res.objective)
    label = fig.axes[0].get_ylabel()
    assert "\n" in label and label.replace("\n", " ") == res.objective


def test_side_info_classification_marks_the_leak(synthetic_small):
    from embeddings.evaluation import side_info_classification, trained_side_fields
    from embeddings.types import Embeddings

    data = synthetic_small
    train, _ = leave_last_out(data.interactions)
    # GES / EGES record the side-information fields they were given in meta["fields"]
    # (tests/test_eges.py trains them); a vector that *is* the genre is what such a model may learn
    plain = ItemKNN().fit(train)
    emb = Embeddings(plain.ids, plain.vectors, {"method": "eges", "fields": ["genres"]})
    assert "genres" in trained_side_fields(emb)
    r = side_info_classification(emb, data.side_info, "genres", n_repeats=1)
    assert r is not None and r["leaks"] and "leaks" in r["note"]
    r2 = side_info_classification(plain, data.side_info, "genres", n_repeats=1)
    assert r2 is not None and not r2["leaks"] and trained_side_fields(plain) == []
    with pytest.raises(ValueError, match="no field"):
        side_info_classification(plain, data.side_info, "director")


def test_tune_starts_from_initial_setting(synthetic_small):
    from embeddings.tuning import defaults_in_space

    train, valid, _ = train_valid_test_split(synthetic_small.interactions)
    fixed = {"epochs": 1, "num_walks": 2, "walk_length": 10}
    start = {"dim": 16, "window": 3, "ns_exponent": 0.5, "directed": False}
    r = tune("deepwalk", train, valid, space=_SMALL_SPACE, fixed=fixed, n_trials=1, initial=[start])
    row = r.history.iloc[0]
    assert {k: row[f"params_{k}"] for k in start} == start
    # the trainer's own defaults, where the space can hold them (dim 1..2 cannot)
    from embeddings.trainers import DeepWalk

    tiny = {"ns_exponent": {"float": [-1.0, 1.0]}, "dim": {"int": [1, 2]}}
    assert defaults_in_space("deepwalk", tiny) == {"ns_exponent": DeepWalk().ns_exponent}
    with pytest.raises(ValueError, match="outside"):
        tune("deepwalk", train, valid, space=_SMALL_SPACE, n_trials=1, initial=[{"dim": 999}])


def test_shipped_configs_tuning_sections_parse():
    import tomllib
    from pathlib import Path

    found = 0
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml")):
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
        if "tuning" not in cfg:
            continue
        for method in cfg["tuning"].get("methods", ["deepwalk"]):
            kw = space_from_config(cfg["tuning"], method)
            space = kw["space"] or default_space(method)
            assert not set(space) & set(kw["fixed"]), (path.name, method)
            found += 1
    assert found > 0


def test_method_for_class_maps_config_classes():
    from embeddings.tuning import method_for_class

    assert method_for_class("embeddings.trainers:Item2Vec", {"mode": "set"}) == "item2vec-set"
    assert method_for_class("embeddings.trainers:Item2Vec", {"dim": 8}) == "item2vec-sequence"
    assert method_for_class("embeddings.trainers:Node2Vec", {"p": 2.0}) == "node2vec"
    assert method_for_class("embeddings.eges:EGES") == "eges"
    with pytest.raises(ValueError, match="no search"):
        method_for_class("recall.exact:ExactIndex")


def test_quality_bench_end_to_end_tiny(tmp_path, monkeypatch):
    from recall.bench import quality

    cfg = dict(quality.CONFIGS["quick"])
    cfg.update(
        synthetic={"n_users": 150, "n_items": 80},
        seeds=[0, 1],
        n_boot=200,
        trials={**cfg["trials"], "item2vec-sequence": 2},
    )
    monkeypatch.setitem(quality.CONFIGS, "quick", cfg)
    out = tmp_path / "q"
    df = quality.main(
        ["--quick", "--out", str(out), "--cache", str(tmp_path / "c"), "--methods",
         "item2vec-sequence", "--stage", "search", "--stage", "final"]
    )  # fmt: skip
    rec = df[df["section"] == "recommendation"]
    assert {"popularity", "itemknn-cosine", "item2vec-sequence"} <= set(rec["method"])
    i2v = rec[(rec["method"] == "item2vec-sequence") & rec["validated_mode"].astype(bool)]
    assert set(i2v["setting"]) == {"defaults", "tuned"} and (i2v["n_seeds"] == 2).all()
    assert (i2v["ci_low"] <= i2v["value"]).all() and (i2v["value"] <= i2v["ci_high"]).all()
    assert i2v["vs_pop_verdict"].isin(["win", "loss", "no significant difference"]).all()
    text = (out / "results.md").read_text(encoding="utf-8")
    assert "## Goals of issue 12" in text and "## Searches (validation only)" in text
    assert (out / "search" / "synthetic__item2vec-sequence.csv").is_file()
    assert (out / "plots" / "search_synthetic__item2vec-sequence.png").is_file()


def _two_cliques():
    from scipy import sparse

    from embeddings.datasets.graphs import LabelledGraph
    from embeddings.graph import ItemGraph

    src, dst = [], []
    for block in (range(0, 15), range(15, 30)):
        for i in block:
            for j in block:
                if i < j:
                    src.append(i)
                    dst.append(j)
    g = ItemGraph.from_edges(np.array(src + [0]), np.array(dst + [15]), directed=False)
    lab = np.zeros((30, 2), bool)
    lab[:15, 0] = lab[15:, 1] = True
    return LabelledGraph(g, sparse.csr_matrix(lab), ["a", "b"], "cliques")


def test_quality_bench_node_stages_tiny(tmp_path, monkeypatch):
    import embeddings.datasets.graphs as graphs
    from recall.bench import quality

    monkeypatch.setattr(graphs, "load_labelled_graph", lambda name, root=None: _two_cliques())
    monkeypatch.setattr(quality, "NODE_SPACE", {"window": {"int": [2, 4]}})
    monkeypatch.setattr(quality, "OLD_WALK_DEFAULTS", {"epochs": 1, "dim": 8, "num_walks": 2})
    cfg = dict(quality.CONFIGS["quick"])
    cfg.update(rec_datasets=[], node_datasets=["cliques"], seeds=[0, 1])
    monkeypatch.setitem(quality.CONFIGS, "quick", cfg)
    out = tmp_path / "q"
    df = quality.main(
        ["--quick", "--out", str(out), "--cache", str(tmp_path / "c"), "--methods", "deepwalk",
         "--node-search", "cliques", "--node-tuned-on", "cliques", "--trials", "1",
         "--stage", "search", "--stage", "defaults-check", "--stage", "final"]
    )  # fmt: skip
    check = pd.read_csv(out / "defaults_check.csv")
    assert list(check["setting"]) == ["epochs=1 (old default)", "epochs=2 (library default)"]
    assert "Evidence for the walk defaults" in (out / "results.md").read_text(encoding="utf-8")
    nc = df[df["section"] == "node_classification"]
    chosen = " + classifier chosen on valid"  # rows whose C / scaling came from validation
    assert set(nc["setting"]) == {"defaults", "tuned", "defaults" + chosen, "tuned" + chosen}
    assert (nc["n_seeds"] == 2).all() and nc["value"].between(0, 1).all()
    assert (out / "search" / "cliques__deepwalk.json").is_file()


def _tiny_pq_grid_bench(monkeypatch):
    """The quality bench module on the two cliques, with a 2-point p, q grid and one seed."""
    import embeddings.datasets.graphs as graphs
    from recall.bench import quality, quality_search

    monkeypatch.setattr(graphs, "load_labelled_graph", lambda name, root=None: _two_cliques())
    monkeypatch.setattr(quality_search, "PQ_GRID", {"p": {"choices": [0.5, 2.0]},
                                                    "q": {"choices": [2.0]}})  # fmt: skip
    cfg = dict(quality.CONFIGS["quick"])
    cfg.update(rec_datasets=[], node_datasets=["cliques"], seeds=[0])
    monkeypatch.setitem(quality.CONFIGS, "quick", cfg)
    return quality


def test_quality_bench_node_pq_grid_tiny(tmp_path, monkeypatch):
    """``--node-pq-grid``: node2vec's p, q grid per graph, its row in the final beside the
    defaults (DeepWalk has no p, q and is not searched)."""
    quality = _tiny_pq_grid_bench(monkeypatch)
    out = tmp_path / "q"
    df = quality.main(
        ["--quick", "--out", str(out), "--cache", str(tmp_path / "c"), "--methods", "deepwalk",
         "node2vec", "--node-search", "cliques", "--node-pq-grid", "--stage", "search",
         "--stage", "final", "--skip-defaults", "node2vec"]
    )  # fmt: skip
    hist = pd.read_csv(out / "search" / "cliques__node2vec-pq-grid.csv")
    assert sorted(hist["params_p"]) == [0.5, 2.0] and set(hist["params_q"]) == {2.0}
    assert not (out / "search" / "cliques__deepwalk.json").exists()
    n2v = df[(df["section"] == "node_classification") & (df["method"] == "node2vec")]
    assert "tuned (p, q grid)" in set(n2v["setting"])
    assert "defaults" not in set(n2v["setting"])  # --skip-defaults: p = q = 1 is DeepWalk's row
    dw = df[(df["section"] == "node_classification") & (df["method"] == "deepwalk")]
    assert "defaults" in set(dw["setting"])
    tuned = json.loads(n2v[n2v["setting"] == "tuned (p, q grid)"]["params"].iloc[0])
    assert tuned["q"] == 2.0 and tuned["p"] in (0.5, 2.0)


def test_quality_bench_node_pq_grid_cross_validated_tiny(tmp_path, monkeypatch):
    """``--node-pq-grid --node-cv-folds K``: its own key (``-cvK``) and final row beside the
    one-fold grid's; a K below 2 is refused."""
    quality = _tiny_pq_grid_bench(monkeypatch)
    out = tmp_path / "q"
    base = ["--quick", "--out", str(out), "--cache", str(tmp_path / "c"), "--methods",
            "node2vec", "--node-search", "cliques", "--node-pq-grid"]  # fmt: skip
    quality.main([*base, "--stage", "search"])
    df = quality.main([*base, "--node-cv-folds", "3", "--stage", "search", "--stage", "final"])
    meta = json.loads((out / "search" / "cliques__node2vec-pq-grid-cv3.json").read_text())
    assert meta["objective"].startswith("3-fold cross-validated") and meta["n_trials"] == 2
    n2v = df[(df["section"] == "node_classification") & (df["method"] == "node2vec")]
    assert {"tuned (p, q grid, 3-fold cv)", "tuned (p, q grid)"} <= set(n2v["setting"])
    # the final's third row per setting: the classifier chosen by 3-fold cv on fit + valid
    cvrow = n2v[n2v["setting"] == "tuned (p, q grid, 3-fold cv) + classifier chosen by 3-fold cv"]
    assert len(cvrow) == 2 and cvrow["value"].between(0, 1).all()
    assert json.loads(cvrow["classifier"].iloc[0])[0]["n_folds"] == 3
    with pytest.raises(SystemExit):
        quality.main([*base, "--node-cv-folds", "1", "--stage", "search"])


def test_quality_final_keeps_the_rows_it_did_not_rerun():
    from recall.bench.quality import merge_rows

    old = pd.DataFrame(
        {"dataset": ["ppi", "ppi", "pos"], "method": ["deepwalk", "node2vec", "node2vec"],
         "setting": ["defaults"] * 3, "value": [0.1, 0.2, 0.3]}
    )  # fmt: skip
    new = pd.DataFrame(
        {"dataset": ["ppi"], "method": ["node2vec"], "setting": ["tuned"], "value": [0.25]}
    )
    merged = merge_rows(old, new)
    rows = set(zip(merged["dataset"], merged["method"], merged["value"], strict=True))
    # ppi's node2vec rows are replaced; ppi's DeepWalk and pos's node2vec rows are kept
    assert rows == {("ppi", "deepwalk", 0.1), ("pos", "node2vec", 0.3), ("ppi", "node2vec", 0.25)}


def test_quality_bench_refuses_a_busy_machine_unless_allowed(tmp_path, monkeypatch):
    """Its seconds are wall clock: a timed run does not start above the load limit."""
    from recall.bench import harness, quality
    from recall.bench.harness import LoadTooHighError

    monkeypatch.setattr(harness, "load_average", lambda: (9.0, 9.0, 9.0))
    searched = []
    monkeypatch.setattr(quality, "run_search", lambda *a, **k: searched.append(a))
    argv = ["--stage", "search", "--out", str(tmp_path / "q"), "--cache", str(tmp_path / "c")]
    with pytest.raises(LoadTooHighError, match="load average 9.00"):
        quality.main(argv)
    assert searched == []  # refused before any work
    quality.main([*argv, "--allow-load"])
    assert len(searched) == 1
    quality.main([*argv, "--quick"])  # a smoke run only flags
    assert len(searched) == 2
