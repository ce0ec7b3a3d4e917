"""Pooled significance over (seed, user) for the MovieLens 3-seed report (issue 12):
``reports/movielens/three_seeds.py``'s stratified paired bootstrap, Holm's correction, the
pooled table from per-user files, and ``validation_protocol.py``'s per-user table.

Synthetic per-user hits only (no data set, no training): a method against itself gives [0, 0]
and p = 1; a planted lift is found and a method with the baseline's exact hit rate is not; the
resampling keeps each seed's users (stratified); same seed, same interval.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"_ml_{name}", ROOT / "reports" / "movielens" / f"{name}.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ts = _load("three_seeds")

N_USERS = 600
SEEDS = (0, 1, 2)


def _hits(rate, seed, n=N_USERS):
    return (np.random.default_rng(seed).random(n) < rate).astype(np.int64)


def _per_user(lift=0.08, base=0.05):
    """Per seed: popularity at ``base``, item-kNN at 0.08, a method with a planted lift (its own
    draws at base + lift), and a method with popularity's exact hit count on other users (a
    within-seed permutation: the true difference is 0)."""
    out = {}
    for s in SEEDS:
        pop = _hits(base, 100 + s)
        out[s] = pd.DataFrame(
            {
                "lifted": _hits(base + lift, 200 + s),
                "same": np.random.default_rng(300 + s).permutation(pop),
                "popularity": pop,
                "itemknn": _hits(0.08, 400 + s),
            },
            index=pd.Index(np.arange(N_USERS) + 1, name="user_id"),
        )
    return out


def test_a_method_against_itself_is_exactly_zero_with_p_one():
    a = {s: _hits(0.07, s) for s in SEEDS}
    r = ts.pooled_bootstrap(a, a, n_boot=2_000, random_state=1)
    assert r["diff"] == r["diff_low"] == r["diff_high"] == 0.0
    assert r["p"] == 1.0 and r["ratio"] == 1.0
    assert r["n_units"] == N_USERS * len(SEEDS) and r["n_seeds"] == len(SEEDS)


def test_planted_lift_is_significant_and_no_lift_is_not():
    t = ts.pooled_table(_per_user(), n_boot=4_000, random_state=0)
    row = t.set_index(["method", "baseline"])
    lifted = row.loc[("lifted", "popularity")]
    # the planted lift is 0.08 on a base of 0.05 over 1,800 units: far outside the noise
    assert lifted["diff_low"] > 0 and lifted["verdict"] == "win"
    assert lifted["p_holm"] < 0.05 and lifted["ratio_low"] > 1.0
    assert lifted["diff_low"] <= 0.08 <= lifted["diff_high"] + 0.02  # near the planted value
    same = row.loc[("same", "popularity")]
    assert same["diff"] == 0.0  # the same hit count, on other users
    assert same["diff_low"] < 0 < same["diff_high"] and same["p"] > 0.5
    assert same["verdict"] == "no significant difference"
    # the family: every method against both baselines, Holm never below the raw p-value
    assert set(row.index) == {(m, b) for m in ("lifted", "same") for b in ("popularity", "itemknn")}
    assert (t["p_holm"] >= t["p"]).all()


def test_holm_matches_the_textbook_step_down():
    np.testing.assert_allclose(ts.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(ts.holm([0.5]), [0.5])
    assert ts.holm([0.3, 0.3, 0.3, 0.3]).tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="p-values"):
        ts.holm([0.1, 1.2])


def test_resampling_is_stratified_by_seed():
    """Seed 0: the method always hits and the baseline never; seed 1 the reverse. Resampling
    users within each seed keeps both halves whole, so every resampled pooled difference is 0;
    a pooled (unstratified) resample would move it."""
    n = 50
    a = {0: np.ones(n), 1: np.zeros(n)}
    b = {0: np.zeros(n), 1: np.ones(n)}
    r = ts.pooled_bootstrap(a, b, n_boot=1_000, random_state=3)
    assert r["diff"] == r["diff_low"] == r["diff_high"] == 0.0


def test_unequal_seeds_pool_by_units():
    """The pooled mean weighs every (seed, user) unit once."""
    a = {0: np.array([1.0, 1.0, 1.0]), 1: np.array([0.0])}
    b = {0: np.zeros(3), 1: np.zeros(1)}
    r = ts.pooled_bootstrap(a, b, n_boot=200, random_state=0)
    assert r["mean_a"] == pytest.approx(0.75) and r["diff"] == pytest.approx(0.75)


def test_one_seed_pooled_is_the_plain_paired_bootstrap():
    """The pooled bootstrap with one stratum is embeddings.stats.paired_bootstrap: same draws,
    same intervals (they share the resampling code)."""
    from embeddings.stats import paired_bootstrap

    a, b = _hits(0.09, 11).astype(float), _hits(0.05, 12).astype(float)
    pooled = ts.pooled_bootstrap({0: a}, {0: b}, n_boot=3_000, random_state=4, batch=500)
    plain = paired_bootstrap(a, b, n_boot=3_000, random_state=4, batch=500).as_dict()
    for key in ("mean_a", "mean_b", "diff", "diff_low", "diff_high", "ratio_low", "ratio_high"):
        assert pooled[key] == pytest.approx(plain[key], abs=1e-12), key
    assert pooled["n_units"] == plain["n"] == N_USERS


def test_same_seed_same_interval():
    d = _per_user(lift=0.01)
    a = {s: t["lifted"].to_numpy() for s, t in d.items()}
    b = {s: t["popularity"].to_numpy() for s, t in d.items()}
    r1 = ts.pooled_bootstrap(a, b, n_boot=2_000, random_state=7)
    r2 = ts.pooled_bootstrap(a, b, n_boot=2_000, random_state=7)
    r3 = ts.pooled_bootstrap(a, b, n_boot=2_000, random_state=8)
    assert r1 == r2
    assert (r1["diff_low"], r1["diff_high"], r1["p"]) != (r3["diff_low"], r3["diff_high"], r3["p"])
    t1 = ts.pooled_table(d, n_boot=1_000, random_state=5)
    t2 = ts.pooled_table(d, n_boot=1_000, random_state=5)
    pd.testing.assert_frame_equal(t1, t2)


@pytest.mark.parametrize(
    "a, b, match",
    [
        ({0: [1.0, 0.0]}, {0: [1.0]}, "paired"),
        ({0: [1.0]}, {1: [1.0]}, "other seeds"),
        ({0: [np.nan]}, {0: [1.0]}, "NaN"),
        ({0: []}, {0: []}, "non-empty"),
        ({}, {}, "no seeds"),
    ],
)
def test_bad_input_names_the_problem(a, b, match):
    with pytest.raises(ValueError, match=match):
        ts.pooled_bootstrap(a, b, n_boot=200)


def test_bad_budget_is_refused():
    a = {0: np.ones(5)}
    with pytest.raises(ValueError, match="n_boot"):
        ts.pooled_bootstrap(a, a, n_boot=10)
    with pytest.raises(ValueError, match="confidence"):
        ts.pooled_bootstrap(a, a, n_boot=200, confidence=1.5)


def test_pooled_table_needs_a_baseline_and_a_method():
    only = {0: pd.DataFrame({"popularity": [1, 0]}, index=pd.Index([1, 2], name="user_id"))}
    with pytest.raises(ValueError, match="baseline column"):
        ts.pooled_table(only, n_boot=200)


def test_per_user_files_round_trip_into_the_pooled_table(tmp_path):
    """``validation_protocol.per_user_table`` writes what ``three_seeds.read_per_user`` reads;
    a missing seed means no pooled table (None), not a partial one."""
    vp = _load("validation_protocol")
    d = _per_user()
    for s, t in d.items():
        methods = {"lifted": t["lifted"].astype(float), "same": t["same"].astype(float)}
        table = vp.per_user_table(methods, t["popularity"].astype(float), t["itemknn"])
        assert list(table.columns) == ["user_id", "lifted", "same", "popularity", "itemknn"]
        assert table["lifted"].dtype == np.int64  # 0 / 1 hits written compactly
        table.to_csv(tmp_path / f"validation_protocol_s{s}_users.csv", index=False)
    back = ts.read_per_user(SEEDS, tmp_path)
    for s in SEEDS:
        pd.testing.assert_frame_equal(back[s], d[s], check_dtype=False)
    assert ts.read_per_user((*SEEDS, 9), tmp_path) is None
    t = ts.pooled_table(back, n_boot=1_000)
    assert t.loc[(t.method == "lifted") & (t.baseline == "popularity"), "verdict"].item() == "win"
    md = ts.pooled_markdown(t)
    assert md.count("\n") == len(t) + 1 and "item-kNN" in md


def test_per_user_table_refuses_other_users():
    vp = _load("validation_protocol")
    pop = pd.Series([1.0, 0.0], index=[1, 2])
    with pytest.raises(ValueError, match="other users"):
        vp.per_user_table({"m": pd.Series([1.0, 0.0], index=[1, 3])}, pop, pop)


def test_study_names_of_the_runner_parse():
    p = ts.parse_study_name("movielens-item2vec-seq-s2-a3e940c85e0adfbd7c82abc6")
    assert (p["method"], p["seed"], p["warm"], p["modes"]) == ("item2vec-seq", 2, None, None)
    p = ts.parse_study_name(
        "movielens-node2vec-s10-494374b1f89543e31fa2ac5c-from-deepwalk-modes0123abcd"
    )
    assert (p["method"], p["seed"], p["warm"], p["modes"]) == (
        "node2vec",
        10,
        "deepwalk",
        "0123abcd",
    )
    assert ts.parse_study_name("something-else") is None


def _seed_outputs(methods, pop=0.05, knn=0.08, seed=0):
    """One seed's (rows, baselines, per-user) as ``validation_protocol.py`` writes them."""
    users = pd.DataFrame(
        {
            **{m: _hits(r, seed + i) for i, (m, r) in enumerate(methods.items())},
            "popularity": _hits(pop, 100 + seed),
            "itemknn": _hits(knn, 200 + seed),
        },
        index=pd.Index(np.arange(N_USERS), name="user_id"),
    )
    rows = pd.DataFrame({"method": list(methods), "test": [users[m].mean() for m in methods]})
    base = {"popularity": users["popularity"].mean(), "itemknn_test": users["itemknn"].mean()}
    return rows, base, users


def test_a_rerun_replaces_its_methods_and_keeps_the_rest():
    old = _seed_outputs({"a": 0.05, "deepwalk": 0.04, "c": 0.07})
    new = _seed_outputs({"deepwalk": 0.09, "d": 0.06})
    new[2]["deepwalk"] = _hits(0.09, 77)  # a column the first run never had
    rows, base, users = ts.apply_rerun(old, new, seed=0)
    assert list(rows["method"]) == ["a", "deepwalk", "c", "d"]  # the first run's order
    assert list(users.columns) == ["a", "deepwalk", "c", "d", "popularity", "itemknn"]
    pd.testing.assert_series_equal(users["deepwalk"], new[2]["deepwalk"])
    pd.testing.assert_series_equal(users["a"], old[2]["a"])
    assert rows.set_index("method").loc["deepwalk", "test"] == new[0]["test"].iloc[0]
    d, b = ts.seed_table([0], {0: (rows, base, users)})
    assert list(d["seed"]) == [0] * 4 and b["itemknn"].item() == old[1]["itemknn_test"]


def test_a_rerun_on_another_split_is_refused():
    old = _seed_outputs({"a": 0.05})
    rows, base, users = _seed_outputs({"a": 0.06})
    with pytest.raises(ValueError, match="popularity test figure"):
        ts.apply_rerun(old, (rows, {**base, "popularity": 0.051}, users), seed=3)
    flipped = users.copy()
    flipped.loc[flipped.index[:2], "itemknn"] = 1 - flipped["itemknn"].iloc[:2]
    same_mean = {**base, "itemknn_test": flipped["itemknn"].mean()}
    old2 = (old[0], same_mean, old[2])
    with pytest.raises(ValueError, match="per-user itemknn hits differ"):
        ts.apply_rerun(old2, (rows, same_mean, flipped), seed=3)
    with pytest.raises(ValueError, match="test users differ"):
        ts.apply_rerun(old, (rows, base, users.iloc[1:]), seed=3)
