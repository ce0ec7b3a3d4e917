"""Several validation events per user (``[split] n_valid``), each predicted from the events
before it; the run's seed reaching the search; every walk method searched with the same graph
construction (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeddings.datasets.tables import Interactions
from embeddings.sessions import (
    ValidationEvents,
    concat_interactions,
    leave_last_out,
    order_with_ties,
    train_valid_test_split,
    validation_split,
)
from embeddings.tuning import decode_params, default_space, make_trainer, tune
from embeddings.tuning.scoring import validation_scores
from embeddings.types import Embeddings


def _keys(inter: Interactions) -> set[tuple[int, int, int]]:
    f = inter.frame
    return set(zip(f["user_id"], f["item_id"], f["timestamp"], strict=True))


@pytest.fixture(scope="module")
def tied():
    """A log with many same-second events (as on rating screens) and low ratings after the last
    positive, so that the tie rule and the rating filter both matter."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        n = int(rng.integers(3, 25))
        ts = np.sort(rng.integers(0, 8, n)) * 60  # few distinct seconds: many ties
        items = rng.choice(60, n, replace=False)
        ratings = rng.choice([1.0, 2.0, 4.0, 5.0], n)
        rows += [(u, int(i), float(r), int(t)) for i, r, t in zip(items, ratings, ts, strict=True)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return Interactions(frame, "tied")


def _order(inter: Interactions, random_state: int) -> dict[tuple[int, int], int]:
    """Position of each (user, item) in its user's history under the seeded tie rule."""
    df = order_with_ties(inter.frame, "random", random_state)
    pos = df.groupby("user_id", sort=False).cumcount()
    return dict(zip(zip(df["user_id"], df["item_id"], strict=True), pos, strict=True))


@pytest.mark.parametrize("min_rating", [None, 3.5])
@pytest.mark.parametrize("n_valid", [1, 3, 5])
def test_valid_holds_no_test_event_and_no_training_event_after_it(tied, min_rating, n_valid):
    train, events, test = validation_split(tied, min_rating, random_state=4, n_valid=n_valid)
    assert isinstance(events, ValidationEvents) and events.n_valid == n_valid
    valid = events.targets
    kt, kv, kr = _keys(train), _keys(valid), _keys(test)
    assert not kv & kr and not kt & kv and not kt & kr
    assert len(kt) + len(kv) + len(kr) == len(tied.frame)
    # the test split is the plain leave-last-out one: the validation cut only moved train events
    rest, test2 = leave_last_out(tied, 1, min_rating, random_state=4)
    assert _keys(test2) == kr and _keys(concat_interactions(train, valid)) == _keys(rest)
    pos = _order(tied, 4)
    tf = train.frame
    if min_rating is not None:  # lower-rated events stay in train (never targets), as for test
        tf = tf[tf["rating"] >= min_rating]
        assert (valid.frame["rating"] >= min_rating).all()
    last_train = {u: max(pos[(u, i)] for i in g) for u, g in tf.groupby("user_id")["item_id"]}
    first_valid = {
        u: min(pos[(u, i)] for i in g) for u, g in valid.frame.groupby("user_id")["item_id"]
    }
    test_pos = {int(u): pos[(int(u), int(i))] for u, i in test.frame[["user_id", "item_id"]].values}
    for u, p in first_valid.items():
        assert last_train[u] < p  # every training (positive) event of the user comes before
    for u, g in valid.frame.groupby("user_id")["item_id"]:
        assert max(pos[(u, i)] for i in g) < test_pos[u]  # and every target before its test
    # up to n_valid per user, one positive always left in train
    n_rest = rest.frame if min_rating is None else rest.frame[rest.frame["rating"] >= min_rating]
    n_rest = n_rest.groupby("user_id").size()
    per_user = valid.frame.groupby("user_id").size().reindex(n_rest.index, fill_value=0)
    assert (per_user == np.minimum(n_valid, n_rest - 1)).all()
    assert per_user.max() == n_valid


@pytest.mark.parametrize("min_rating", [None, 3.5])
def test_one_validation_event_is_the_split_made_before(tied, min_rating):
    # the split train_valid_test_split always made: leave-last-out twice, one tie order
    rest, test0 = leave_last_out(tied, 1, min_rating, "random", 9)
    train0, valid0 = leave_last_out(rest, 1, min_rating, ties="order")
    train, valid, test = train_valid_test_split(tied, min_rating, random_state=9)
    for new, old in ((train, train0), (valid, valid0), (test, test0)):
        pd.testing.assert_frame_equal(new.frame, old.frame)
    _, events, _ = validation_split(tied, min_rating, random_state=9, n_valid=1)
    pd.testing.assert_frame_equal(events.targets.frame, valid0.frame)
    # with more events, the first step is the same event before test
    _, five, _ = validation_split(tied, min_rating, random_state=9, n_valid=5)
    pd.testing.assert_frame_equal(five.steps[0][1].frame, valid0.frame)


def test_each_target_is_predicted_from_the_events_before_it(tied):
    train, events, test = validation_split(tied, 3.5, random_state=2, n_valid=4)
    pos = _order(tied, 2)
    assert len(events.steps) == 4
    assert sum(len(t.frame) for _, t in events.steps) == len(events)
    test_keys = _keys(test)
    for history, targets in events.steps:
        assert targets.frame["user_id"].is_unique
        h = history.frame
        assert set(h["user_id"]) == set(targets.frame["user_id"]) and not _keys(history) & test_keys
        for u, item in targets.frame[["user_id", "item_id"]].values:
            hu = h[h["user_id"] == u]
            p = pos[(u, item)]
            # exactly the user's events before the target, in order: the last is the I2I query
            assert [pos[(u, i)] for i in hu["item_id"]] == list(range(p))
            last = hu.sort_values("timestamp", kind="stable")["item_id"].iloc[-1]
            assert pos[(u, last)] == p - 1


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3", None])
def test_bad_n_valid_is_a_clear_error(tied, bad):
    with pytest.raises(ValueError, match="n_valid must be an integer >= 1"):
        validation_split(tied, 3.5, n_valid=bad)


def test_n_valid_beyond_every_history_is_a_clear_error(tied):
    longest = int((tied.frame["rating"] >= 3.5).groupby(tied.frame["user_id"]).sum().max())
    with pytest.raises(ValueError, match="more than any user's history allows"):
        validation_split(tied, 3.5, n_valid=longest)  # one for test, one for train: too many
    validation_split(tied, 3.5, n_valid=longest - 2)  # the longest history gives exactly that


def _brute_force_i2i(emb: Embeddings, events: ValidationEvents, k: int) -> float:
    """HR@k of every target from the item just before it, by a plain loop: a user's mean over
    its targets, then the mean over users."""
    v = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    row = {int(i): r for r, i in enumerate(emb.ids)}
    hits: dict[int, list[float]] = {}
    for history, targets in events.steps:
        for u, item in targets.frame[["user_id", "item_id"]].values:
            hu = history.frame[history.frame["user_id"] == u]
            hu = hu[hu["item_id"].isin(list(row))].sort_values("timestamp", kind="stable")
            hit = 0.0
            if len(hu):
                s = v @ v[row[int(hu["item_id"].iloc[-1])]]
                s[[row[int(i)] for i in hu["item_id"]]] = -np.inf  # seen items never recommended
                top = emb.ids[np.argsort(-s, kind="stable")[:k]]
                hit = float(item in top)
            hits.setdefault(int(u), []).append(hit)
    return float(np.mean([np.mean(h) for h in hits.values()]))


def test_k_event_score_is_the_user_mean_of_each_events_hit(synthetic_small):
    inter = synthetic_small.interactions
    train, events, _ = validation_split(inter, 3.5, random_state=0, n_valid=3)
    emb = make_trainer("item2vec-sequence", {"dim": 16, "epochs": 3, "window": 3}, 0).fit(train)
    s = validation_scores(emb, train, events, "hit_rate@10", min_rating=3.5)
    assert s["i2i"] == pytest.approx(_brute_force_i2i(emb, events, 10))
    # the last-event figure is what one validation event reads, from the same history
    from embeddings.evaluation import evaluate_i2i

    h0, t0 = events.steps[0]
    assert s["i2i_last"] == pytest.approx(evaluate_i2i(emb, h0, t0, 10)["hit_rate@10"])
    assert 0.0 <= s["u2i"] <= 1.0 and "u2i_last" in s


_SPACE = {
    "window": {"int": [1, 8]},
    "ns_exponent": {"float": [-1.0, 1.0]},
    "graph_window": {"choices": [1, 2, 5]},
}
_FIXED = {"dim": 8, "epochs": 1, "num_walks": 2, "walk_length": 10}


def test_the_search_follows_its_seed_on_k_validation_events(synthetic_small):
    train, events, _ = validation_split(synthetic_small.interactions, 3.5, n_valid=3)
    runs = {
        s: tune("deepwalk", train, events, space=_SPACE, fixed=_FIXED, n_trials=4, random_state=s)
        for s in (1, 2)
    }
    again = tune("deepwalk", train, events, space=_SPACE, fixed=_FIXED, n_trials=4, random_state=1)
    cols = [c for c in again.history.columns if c.startswith("params_")] + ["value"]
    pd.testing.assert_frame_equal(runs[1].history[cols], again.history[cols])
    assert not runs[1].history[cols].equals(runs[2].history[cols])
    assert {"hit_rate@10_i2i_last", "hit_rate@10_u2i_last"} <= set(runs[1].best_attrs)


def test_the_runs_seed_reaches_the_search_even_with_a_tuning_random_state():
    from recall.experiment.validation import tune_arguments

    spec = {"name": "dw", "class": "embeddings.trainers:DeepWalk", "params": {"dim": 8}}
    tuning = {"n_trials": 2, "random_state": 0, "space": {"deepwalk": _SPACE}}
    seeds = [tune_arguments(spec, tuning, "deepwalk", seed=s)["random_state"] for s in (0, 1, 2)]
    assert len(set(seeds)) == 3 and seeds[0] == 0  # seed 0 as before, each seed its own search
    assert tune_arguments(spec, {**tuning, "random_state": 10}, "deepwalk", 1)["random_state"] == 11


@pytest.mark.parametrize("method", ["deepwalk", "node2vec", "bge", "ges", "eges"])
def test_every_walk_method_builds_its_graph_as_searched(synthetic_small, method):
    space = default_space(method)
    for key in ("graph_window", "distance_weighting", "popularity_exponent", "directed"):
        assert key in space  # the same graph construction for every walk method
    train, _ = leave_last_out(synthetic_small.interactions, min_rating=3.5)
    base = {"dim": 8, "num_walks": 1, "walk_length": 5, "epochs": 1}
    plain = make_trainer(method, base, 0)
    wide = make_trainer(method, {**base, "graph_window": 5, "distance_weighting": "inverse"}, 0)
    reweighted = make_trainer(method, {**base, "popularity_exponent": 0.5}, 0)
    g1, g5, gp = (t.walks(train).graph for t in (plain, wide, reweighted))
    assert g5.n_edges > g1.n_edges  # items up to 5 steps apart are linked
    assert gp.n_edges == g1.n_edges and not np.allclose(gp.weights, g1.weights)


def test_side_information_fields_are_a_searched_choice(synthetic_small):
    assert decode_params({"fields": "all", "dim": 8}) == {"fields": None, "dim": 8}
    assert decode_params({"fields": "genres+tags"})["fields"] == ["genres", "tags"]
    with pytest.raises(ValueError, match="joined by"):
        decode_params({"fields": "genres+"})
    field = synthetic_small.side_info.fields[0]
    train, _ = leave_last_out(synthetic_small.interactions, min_rating=3.5)
    params = {"dim": 8, "num_walks": 1, "walk_length": 5, "epochs": 1, "fields": field}
    emb = make_trainer("eges", params, 0).fit(train, synthetic_small.side_info)
    assert list(emb.meta["fields"]) == [field]


def test_movielens_config_searches_every_method_with_equal_effort():
    from pathlib import Path

    from recall.experiment import load_config
    from recall.experiment.validation import search_key, tune_arguments

    cfg = load_config(Path(__file__).parents[1] / "configs" / "movielens.toml")
    tuning = cfg.raw["tuning"]
    assert cfg.raw["split"]["n_valid"] > 1
    spaces = {}
    for spec in cfg.methods:
        key = search_key(spec, tuning)
        assert key is not None, spec["name"]  # every method is searched
        kw = tune_arguments(spec, tuning, key, seed=0)
        assert kw["n_trials"] == tuning["n_trials"] and kw["fixed"]["dim"] == 32
        spaces[key] = kw["space"]
    walk = ["deepwalk", "node2vec", "bge", "ges", "eges"]
    graph = {"graph_window", "distance_weighting", "popularity_exponent", "directed", "min_rating"}
    shared = {"num_walks", "walk_length", "epochs", "window", "ns_exponent"} | graph
    for m in walk:
        assert shared <= set(spaces[m]), m
        assert {k: spaces[m][k] for k in shared} == {k: spaces["deepwalk"][k] for k in shared}
    assert {"fields"} <= set(spaces["ges"]) and spaces["ges"] == spaces["eges"]
