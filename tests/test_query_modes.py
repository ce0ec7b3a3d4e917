"""Query modes with recency (issue 12): u2i with a half-life, i2i over the last n items.

The formulas on hand-computed cases; the plain modes as the limits (h = inf, n = 1) exactly; an
independent brute-force reference of the last-n scoring; the same mode code for embeddings and
item-kNN; the mode chosen on validation whatever test holds; bad modes named.
"""

import math
import textwrap

import numpy as np
import pandas as pd
import pytest

from embeddings import Embeddings
from embeddings.datasets import Interactions
from embeddings.evaluation import (
    RECENCY_MODES,
    QueryMode,
    evaluate_i2i,
    evaluate_mode,
    evaluate_u2i,
    exact_search,
    parse_mode,
    query_modes,
)
from embeddings.evaluation.recommend import I2I_NEIGHBOURS
from embeddings.users import recency_weights, user_vectors


def _inter(rows):
    return Interactions(
        pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]), "t"
    )


def _emb(n_items=40, dim=6, seed=0, first=100):
    rng = np.random.default_rng(seed)
    ids = np.arange(first, first + n_items, dtype=np.int64)
    return Embeddings(ids, rng.standard_normal((n_items, dim)).astype(np.float32), {})


def _random_log(n_users=30, n_items=40, per_user=9, seed=1, first=100):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False) + first
        ts = np.sort(rng.integers(0, 50, per_user))  # ties happen
        for i, t in zip(items, ts, strict=True):
            rows.append((u, int(i), float(rng.choice([2.0, 4.0, 5.0])), int(t)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    last = frame.groupby("user_id").tail(1).index
    return (
        Interactions(frame.drop(index=last).reset_index(drop=True), "train"),
        Interactions(frame.loc[last].reset_index(drop=True), "test"),
    )


# ------------------------------------------------------------------------------ the formulas
def test_recency_weights_follow_the_formula():
    w = recency_weights([0, 1, 2, 4], 2.0)
    np.testing.assert_allclose(w, [1.0, 2**-0.5, 0.5, 0.25], rtol=0, atol=1e-15)
    assert recency_weights([0, 3, 100], math.inf).tolist() == [1.0, 1.0, 1.0]
    assert recency_weights([0, 3], None).tolist() == [1.0, 1.0]


def test_u2i_half_life_weights_items_by_their_age():
    vec = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    emb = Embeddings(np.array([10, 11, 12, 13]), vec, {})
    # user 0: 10 at t=1, 11 at t=2, 12 and 13 tied at t=3 (row order: 13 is the latest);
    # 99 has no vector and takes no age; 11 rated 2.0 is not positive
    inter = _inter(
        [
            (0, 10, 5.0, 1),
            (0, 11, 2.0, 2),
            (0, 12, 4.0, 3),
            (0, 99, 5.0, 3),
            (0, 13, 4.0, 3),
        ]
    )
    u = user_vectors(emb, inter, min_rating=3.5, half_life=1.0)
    # ages: 13 -> 0, 12 -> 1, 10 -> 2: weights 1, 1/2, 1/4
    want = (1.0 * vec[3] + 0.5 * vec[2] + 0.25 * vec[0]) / 1.75
    np.testing.assert_allclose(u.vectors[0], want, rtol=1e-6)
    assert u.meta["params"]["half_life"] == 1.0
    # a repeated item counts once, at its latest event
    again = _inter([(0, 10, 5.0, 1), (0, 12, 5.0, 2), (0, 10, 5.0, 3)])
    v = user_vectors(emb, again, half_life=2.0)
    np.testing.assert_allclose(v.vectors[0], (vec[0] + 2**-0.5 * vec[2]) / (1 + 2**-0.5), 1e-6)


def test_infinite_half_life_is_the_plain_mean_exactly():
    train, test = _random_log()
    emb = _emb()
    plain = user_vectors(emb, train, min_rating=3.5)
    for h in (None, math.inf):
        same = user_vectors(emb, train, min_rating=3.5, half_life=h)
        assert np.array_equal(same.vectors, plain.vectors)
    a = evaluate_u2i(emb, train, test, 5, per_user=True, min_rating=3.5)
    b = evaluate_mode(emb, train, test, "u2i:h=inf", 5, per_user=True, min_rating=3.5)
    assert b["mode"] == "u2i"
    pd.testing.assert_frame_equal(a["per_user"], b["per_user"])
    c = evaluate_mode(emb, train, test, "u2i:h=1", 5, per_user=True, min_rating=3.5)
    assert c["mode"] == "u2i:h=1" and not c["per_user"].equals(a["per_user"])


# ------------------------------------------------------------------------------ i2i, last n
def _reference_last_n(emb, train, test, n, h, k, width):
    """Brute force of the definition: each of the user's last n distinct items (with a
    vector) gives its top-``width`` unseen neighbours by cosine; a candidate scores the sum of
    2^(-age/h) x cosine over the lists that hold it."""
    unit = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    df = train.frame.sort_values(["user_id", "timestamp"], kind="stable")
    df = df[emb.has(df["item_id"].to_numpy())]
    out = {}
    for u in sorted(test.frame["user_id"].unique()):
        hist = df[df["user_id"] == u]
        seen = set(train.frame.loc[train.frame["user_id"] == u, "item_id"])
        order = hist.drop_duplicates("item_id", keep="last")["item_id"].to_numpy()[::-1][:n]
        total: dict[int, float] = {}
        for age, item in enumerate(order):
            sims = unit @ unit[emb.index_of([item])[0]]
            cand = [(s, r) for r, s in enumerate(sims) if int(emb.ids[r]) not in seen]
            cand.sort(key=lambda t: (-t[0], t[1]))
            for s, r in cand[:width]:
                i = int(emb.ids[r])
                total[i] = total.get(i, 0.0) + (2 ** (-age / h)) * float(s)
        ranked = sorted(total, key=lambda i: -total[i])[:k]
        out[int(u)] = ranked
    return out


@pytest.mark.parametrize("n,h", [(3, 1.0), (5, math.inf), (4, 2.0)])
def test_last_n_scoring_matches_a_brute_force_reference(n, h):
    train, test = _random_log(n_items=160)
    emb = _emb(n_items=160)
    ref = _reference_last_n(emb, train, test, n, h, 5, I2I_NEIGHBOURS)
    got = evaluate_i2i(emb, train, test, 5, last_n=n, half_life=h, per_user=True)
    hits = {
        u: int(any(i in set(test.frame.loc[test.frame["user_id"] == u, "item_id"]) for i in r))
        for u, r in ref.items()
    }
    per_user = got["per_user"].set_index("user_id")["hit_rate@5"]
    assert per_user.to_dict() == pytest.approx(hits)
    # through a pluggable search (an index): the same lists, scores recomputed exactly
    via = evaluate_i2i(
        emb, train, test, 5, last_n=n, half_life=h, search=exact_search(emb), per_user=True
    )
    pd.testing.assert_frame_equal(via["per_user"], got["per_user"])


def test_last_one_item_is_the_plain_i2i_exactly():
    train, test = _random_log()
    emb = _emb()
    plain = evaluate_i2i(emb, train, test, [5, 10], per_user=True)
    for mode in ("i2i", "i2i:n=1", QueryMode("i2i", 1)):
        r = evaluate_mode(emb, train, test, mode, [5, 10], per_user=True)
        assert r["mode"] == "i2i"
        pd.testing.assert_frame_equal(r["per_user"], plain["per_user"])
    # and the plain I2I is the exact neighbours of the last item (ties: the later row)
    df = train.frame.sort_values(["user_id", "timestamp"], kind="stable")
    unit = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    for u, row in plain["per_user"].set_index("user_id").iterrows():
        hist = df[df["user_id"] == u]
        q = unit[emb.index_of([hist["item_id"].iloc[-1]])[0]]
        order = [int(emb.ids[r]) for r in np.lexsort((np.arange(len(emb)), -(unit @ q)))]
        top = [i for i in order if i not in set(hist["item_id"])][:5]
        want = set(test.frame.loc[test.frame["user_id"] == u, "item_id"]) & set(top)
        assert row["hit_rate@5"] == float(bool(want))


def test_item_knn_and_embeddings_go_through_the_same_mode_code(monkeypatch):
    """Validation of both calls ``evaluate_mode`` once per (mode, validation step)."""
    import embeddings.evaluation as ev
    from embeddings.baselines import ItemKNN
    from embeddings.sessions import validation_split
    from embeddings.tuning.scoring import validation_scores

    train, _ = _random_log(per_user=12)
    tr, valid, _ = validation_split(
        Interactions(train.frame.assign(rating=5.0), "x"), n_valid=2, ties="order"
    )
    calls: list[tuple[str, str]] = []
    real = ev.evaluate_mode

    def spy(emb, history, targets, mode, *a, **kw):
        calls.append((str(emb.meta.get("method", "emb")), str(parse_mode(mode))))
        return real(emb, history, targets, mode, *a, **kw)

    monkeypatch.setattr(ev, "evaluate_mode", spy)
    modes = ["i2i", "u2i:h=2", "i2i:n=3,h=1"]
    knn = ItemKNN().fit(tr)
    for model in (knn, _emb()):
        s = validation_scores(model, tr, valid, "hit_rate@5", modes, i2i_metric="cosine")
        assert [m for m in s if not m.endswith("_last")] == modes
    per_model = pd.DataFrame(calls, columns=["model", "mode"]).groupby("model")["mode"]
    assert per_model.apply(list).to_dict() == {
        "itemknn-cosine": [m for m in modes for _ in valid.steps],
        "emb": [m for m in modes for _ in valid.steps],
    }


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "bad,match",
    [
        ("i2u", "unknown mode kind 'i2u'"),
        ("i2i:n=0", "n \\(last items\\) must be an int >= 1"),
        ("i2i:n=2.5", "n must be an int >= 1"),
        ("i2i:n=3,h=0", "half_life must be a number > 0"),
        ("u2i:h=-1", "half_life must be a number > 0"),
        ("u2i:h=nan", "half_life must be a number > 0"),
        ("u2i:h=abc", "h must be a number > 0 or inf"),
        ("u2i:n=3", "u2i takes no n"),
        ("i2i:h=2", "does nothing with n=1"),
        ("i2i:n=3,k=2", "unknown parameter 'k=2'"),
        ("i2i:n=3,n=4", "n given twice"),
    ],
)
def test_bad_mode_parameters_name_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_mode(bad)


def test_bad_modes_fail_before_any_work():
    train, test = _random_log()
    emb = _emb()
    with pytest.raises(ValueError, match="half_life must be a number > 0"):
        evaluate_u2i(emb, train, test, 5, half_life=0)
    with pytest.raises(ValueError, match="n \\(last items\\) must be an int >= 1"):
        evaluate_i2i(emb, train, test, 5, last_n=0)
    with pytest.raises(ValueError, match="needs user vectors computed here"):
        evaluate_u2i(emb, train, test, 5, user_embeddings=user_vectors(emb, train), half_life=2)
    with pytest.raises(ValueError, match="query modes given twice"):
        query_modes(["u2i", "u2i:h=inf"])
    with pytest.raises(ValueError, match="empty list"):
        query_modes([])
    assert query_modes("recency") == RECENCY_MODES and query_modes(None) == ("i2i", "u2i")
    from embeddings.tuning import tune

    with pytest.raises(ValueError, match="unknown mode kind"):
        tune("item2vec-sequence", train, test, n_trials=1, modes=("i2i", "x2i"))


def test_config_query_modes_are_checked():
    from recall.experiment import parse_config

    base = {"name": "x", "data": {}, "methods": []}
    ok = {**base, "methods": [{"name": "p", "class": "embeddings.trainers:Popularity"}]}
    parse_config({**ok, "evaluation": {"query_modes": "recency"}})
    parse_config({**ok, "evaluation": {"query_modes": ["i2i", "u2i:h=5"]}})
    with pytest.raises(ValueError, match="query_modes: query mode 'u2i:h=0'"):
        parse_config({**base, "evaluation": {"query_modes": ["u2i:h=0"]}})
    with pytest.raises(ValueError, match="query_modes must be"):
        parse_config({**base, "evaluation": {"query_modes": 5}})


# ------------------------------------------------------------------------------ never on test
MODES_RUN = textwrap.dedent(
    """
    name = "modes"
    seeds = [0]
    k = [5]
    n_queries = 30
    single_query_max = 5
    [data]
    source = "csv"
    path = "{path}"
    [split]
    kind = "leave_last_out"
    min_rating = 3.5
    n_valid = 2
    tie_seed = "run"
    [evaluation]
    e2e_mode = "best"
    query_modes = ["i2i", "u2i", "u2i:h=1", "i2i:n=3,h=1"]
    [[methods]]
    name = "i2v"
    class = "embeddings.trainers:Item2Vec"
    params = {{ mode = "sequence", dim = 8, epochs = 2, min_rating = 3.5, workers = 1 }}
    [[indexes]]
    name = "exact"
    family = "exact"
    class = "recall.exact:ExactIndex"
    params = {{ metric = "cosine" }}
    """
)


def test_the_mode_is_chosen_on_validation_whatever_test_holds(tmp_path):
    """Two runs that differ only in the test events: in the second, every test item is the
    top-1 of a mode that validation did not choose (so that mode wins on test by far); the
    choice and every validation figure stay the same."""
    from embeddings.datasets import make_synthetic
    from embeddings.sessions import concat_interactions
    from recall.cli import main
    from recall.experiment import load_config
    from recall.experiment.data import load_data, split_validation
    from recall.experiment.train import train_method

    syn = make_synthetic(n_users=120, n_items=90, n_genres=5, mean_events=18, random_state=3)
    frame = syn.interactions.frame.reset_index(drop=True)
    csv = tmp_path / "log.csv"
    frame.to_csv(csv, index=False)
    cfg = tmp_path / "m.toml"
    cfg.write_text(MODES_RUN.format(path=csv))
    out1 = tmp_path / "run1"
    assert main(["run", str(cfg), "--out", str(out1), "--no-progress", "--no-cache"]) == 0
    tun1 = pd.read_csv(out1 / "tuning.csv")
    chosen = str(tun1.loc[0, "validated_mode"])
    assert tun1.loc[0, f"valid_{chosen}"] == max(
        tun1.loc[0, f"valid_{m}"] for m in ("i2i", "u2i", chosen)
    )
    # test read in the chosen mode, with exact search and through the index (end to end)
    q1 = pd.read_csv(out1 / "quality.csv").set_index("mode")
    res = pd.read_csv(out1 / "results.csv")
    assert list(res["e2e_mode"]) == [chosen]
    assert res.loc[0, "e2e_hit_rate@5"] == pytest.approx(q1.loc[chosen, "hit_rate@5"])
    other = "u2i:h=1" if chosen != "u2i:h=1" else "i2i:n=3,h=1"

    # the refit model (train + valid, the run's seed) and the top-1 of `other` per test user
    config = load_config(cfg)
    data = load_data(config.raw["data"], 0)
    train, valid, test = split_validation(data.interactions, config.raw["split"], 0)
    fit_on = concat_interactions(train, valid)
    emb, _ = train_method(config.methods[0], fit_on, None, 0, None, {})
    top = evaluate_mode(emb, fit_on, test, other, 1, per_user=True, min_rating=3.5)
    assert top["n_no_query"] == 0 and (top["recommended"][:, 0] >= 0).all()
    new_items = dict(zip(top["per_user"]["user_id"], top["recommended"][:, 0], strict=True))
    changed = frame.copy()
    key = ["user_id", "item_id", "timestamp"]
    at = pd.MultiIndex.from_frame(changed[key].astype(np.int64))
    for _, row in test.frame.iterrows():
        (idx,) = np.flatnonzero(at == tuple(int(row[c]) for c in key))  # the file's row
        changed.loc[idx, "item_id"] = new_items[int(row["user_id"])]
    csv.write_text("")
    changed.to_csv(csv, index=False)
    out2 = tmp_path / "run2"
    assert main(["run", str(cfg), "--out", str(out2), "--no-progress", "--no-cache"]) == 0
    tun2 = pd.read_csv(out2 / "tuning.csv")
    pd.testing.assert_frame_equal(
        tun1.drop(columns=["seconds"]), tun2.drop(columns=["seconds"]), check_exact=True
    )
    # precondition: read on the new test, `other` would win by far (the choice would change)
    new_test = Interactions(
        test.frame.assign(item_id=test.frame["user_id"].map(new_items).astype(np.int64)), "new"
    )
    hr = {
        m: evaluate_mode(emb, fit_on, new_test, m, 5, min_rating=3.5)["hit_rate@5"]
        for m in (chosen, other)
    }
    assert hr[other] == 1.0 > hr[chosen]
    q2 = pd.read_csv(out2 / "quality.csv")
    q2 = q2[q2["method"] == "i2v"].set_index("mode")
    assert bool(q2.loc[chosen, "validated_mode"]) and q2["validated_mode"].sum() == 1
    assert q2.loc[chosen, "hit_rate@5"] == pytest.approx(hr[chosen])
