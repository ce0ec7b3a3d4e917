"""Search spaces from evidence (issue 12): ``reports/movielens/search_spaces.py`` on synthetic
searches with a known answer, and ``configs/movielens.toml``'s narrowed spaces.

A parameter that drives the validation figure is kept and narrowed around its optimum; one
that does nothing is fixed; ranks within a search make seeds with different levels comparable;
the TOML it writes is a valid ``[tuning]`` space; the config's first trial of every method is
a whole setting inside its space, and node2vec's space still contains DeepWalk's.
"""

import importlib.util
import tomllib
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "_ml_search_spaces", ROOT / "reports" / "movielens" / "search_spaces.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ss = _load()

DISTS = {
    "x": optuna.distributions.FloatDistribution(0.0, 1.0),
    "y": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    "c": optuna.distributions.CategoricalDistribution(["none", 3.5]),
    "k": optuna.distributions.IntDistribution(1, 20),
}


def _searches(n=30, seeds=(0, 1, 2), offset=None, rs=0):
    """Random-search trials: the value peaks at x = 0.8; y, c and k do nothing."""
    rng = np.random.default_rng(rs)
    out = []
    for s in seeds:
        for _ in range(n):
            p = {
                "x": float(rng.random()),
                "y": float(np.exp(rng.uniform(np.log(1e-4), 0.0))),
                "c": ["none", 3.5][int(rng.integers(2))],
                "k": int(rng.integers(1, 21)),
            }
            v = 0.1 - 0.2 * (p["x"] - 0.8) ** 2 + 0.004 * rng.standard_normal()
            v += 0.0 if offset is None else offset[s]
            out.append((s, optuna.trial.create_trial(params=p, distributions=DISTS, value=v)))
    return {"m": out}


def test_a_parameter_that_drives_the_figure_is_kept_and_one_that_does_nothing_is_fixed():
    ev = ss.evidence(_searches(), ("m",), None, n_perm=49, fanova=False)
    row = ev.set_index("param")
    assert row.loc["x", "matters"] and row.loc["x", "p"] <= 0.04
    for noise in ("y", "c", "k"):
        assert not row.loc[noise, "keep"], noise
    prop = ss.propose(ev)
    lo, hi = prop["x"]["space"]["float"]
    assert lo <= 0.8 <= hi and hi - lo < 0.9  # narrowed around the optimum
    assert not prop["x"].get("fixed")
    best = row.loc["y", "family_best"]
    assert prop["y"] == {**prop["y"], "fixed": True, "space": {"choices": [best]}}
    assert prop["k"]["fixed"] and prop["c"]["fixed"]


def test_ranks_within_a_search_make_seed_levels_irrelevant():
    """Seed 2's validation figures 0.05 higher (another split): same ranks, same evidence."""
    a = ss.evidence(_searches(rs=3), ("m",), None, n_perm=19, fanova=False)
    b = ss.evidence(
        _searches(rs=3, offset={0: 0.0, 1: -0.02, 2: 0.05}), ("m",), None, n_perm=19, fanova=False
    )
    cols = ["param", "importance", "p", "keep"]
    assert a[cols].equals(b[cols])


def test_families_pool_methods_and_reject_missing_parameters():
    tr = _searches(rs=5)["m"]
    trials = {"a": tr[:45], "b": tr[45:]}
    ev = ss.evidence(trials, ("a", "b"), ("x", "k"), n_perm=19, fanova=False)
    assert set(ev["param"]) == {"x", "k"} and ev["n_trials"].iloc[0] == 90
    assert set(ev["best"].iloc[0]) == {"a", "b"}
    with pytest.raises(ValueError, match="not searched"):
        ss.evidence(trials, ("a",), ("x", "p"), n_perm=5, fanova=False)
    with pytest.raises(ValueError, match="no trials"):
        ss.evidence(trials, ("a", "zz"), None, n_perm=5, fanova=False)


def test_the_written_tables_are_a_valid_tuning_space():
    from embeddings.tuning import space_from_config

    ev = ss.evidence(_searches(), ("m",), None, n_perm=19, fanova=False)
    space = ss.propose(ev)
    text = ss.toml_tables("deepwalk", space)
    parsed = tomllib.loads(text)["tuning"]
    kw = space_from_config(parsed, "deepwalk")
    assert set(kw["space"]) == {"x", "y", "c", "k"} and kw["fixed"] == {"dim": 32}


def test_widening_stays_inside_the_old_bounds_and_rounds_outward():
    r = {"top_low": 0.0312, "top_high": 0.95, "low": 0.0, "high": 1.0, "log": False, "int": False}
    lo, hi = ss._widen(r)
    assert lo == 0.0 and hi == 1.0
    r = {"top_low": 3e-4, "top_high": 2e-3, "low": 1e-5, "high": 0.1, "log": True, "int": False}
    lo, hi = ss._widen(r)
    assert 1e-5 <= lo <= 3e-4 / 1.5 and 2e-3 * 1.5 <= hi <= 0.1
    r = {"top_low": 4.0, "top_high": 9.0, "low": 1, "high": 20, "log": False, "int": True}
    assert ss._widen(r) == (1.0, 13.0)


def test_the_config_starts_every_search_from_a_whole_setting_inside_its_space():
    from recall.experiment import load_config
    from recall.experiment.validation import search_key, tune_arguments

    cfg = load_config(ROOT / "configs" / "movielens.toml")
    tuning = cfg.raw["tuning"]
    assert isinstance(tuning["n_trials"], int) and tuning["n_trials"] >= 20  # a trial budget
    spaces, starts = {}, {}
    for spec in cfg.methods:
        key = search_key(spec, tuning)
        kw = tune_arguments(spec, tuning, key, seed=0)
        spaces[key], starts[key] = kw["space"], kw["initial"][0]
        # every searched parameter is set by the first trial: no part of it is sampled
        assert set(starts[key]) == set(kw["space"]), key
    # DeepWalk and node2vec start from one setting (node2vec's at p = q = 1 is DeepWalk's): the
    # two searches get the same head start (round 2: DeepWalk's own start lost to node2vec's)
    assert starts["deepwalk"] == {
        k: v for k, v in starts["node2vec"].items() if k not in ("p", "q")
    }
    # node2vec's space holds DeepWalk's every setting (its warm start): same dimensions
    for name, dim in spaces["deepwalk"].items():
        assert spaces["node2vec"][name] == dim, name
    # the runner's warm start: DeepWalk's chosen setting (here its first trial) in node2vec
    n2v_spec = next(s for s in cfg.methods if s["name"] == "node2vec")
    kw = tune_arguments(n2v_spec, tuning, "node2vec", 0, warm_params=starts["deepwalk"])
    warm = kw["initial"][-1]
    assert warm["p"] == warm["q"] == 1.0
    assert all(warm[k] == v for k, v in starts["deepwalk"].items())
