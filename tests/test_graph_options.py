"""Graph-construction options of the walk trainers (window graph, popularity reweighting) and
the tuning fixes of issue 12 (U2I validation with the split's ``min_rating``; quiet Optuna)."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.evaluation import evaluate_u2i
from embeddings.graph import ItemGraph
from embeddings.sessions import Sessions, train_valid_test_split
from embeddings.tuning import make_trainer, tune


def _sessions(seqs: list[list[int]]) -> Sessions:
    items = np.concatenate([np.asarray(s, np.int64) for s in seqs])
    lens = [len(s) for s in seqs]
    return Sessions(
        user_ids=np.arange(len(seqs), dtype=np.int64),
        indptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        items=items,
        timestamps=np.arange(items.shape[0], dtype=np.int64),
        ratings=np.ones(items.shape[0], np.float32),
    )


def _edges(g: ItemGraph) -> dict[tuple[int, int], float]:
    rows = np.repeat(np.arange(g.n_nodes), g.out_degree())
    return {
        (int(g.node_ids[r]), int(g.node_ids[c])): float(w)
        for r, c, w in zip(rows, g.indices, g.weights, strict=True)
    }


# ------------------------------------------------------------------ window graph
def test_window_graph_matches_hand_computed_toy_case():
    s = _sessions([[1, 2, 3, 1], [2, 3]])
    # window 1: direct successors only (the default meaning of the graph)
    assert _edges(ItemGraph.from_sessions(s)) == {(1, 2): 1, (2, 3): 2, (3, 1): 1}
    assert _edges(ItemGraph.from_sessions(s, window=1)) == _edges(ItemGraph.from_sessions(s))
    # window 2, uniform: pairs at distance 1 and 2 inside a session; 1->1 (distance 3) is out of
    # the window and would be a self-loop anyway; nothing crosses from session 0 into session 1
    g2 = _edges(ItemGraph.from_sessions(s, window=2))
    assert g2 == {(1, 2): 1, (2, 3): 2, (3, 1): 1, (1, 3): 1, (2, 1): 1}
    # window 3, inverse distance: 1->2 at d=1 (1); 2->1 at d=2 (1/2); 1->1 at d=3 is a self-loop
    g3 = _edges(ItemGraph.from_sessions(s, window=3, distance_weighting="inverse"))
    assert g3 == pytest.approx({(1, 2): 1.0, (2, 3): 2.0, (3, 1): 1.0, (1, 3): 0.5, (2, 1): 0.5})
    g3loops = _edges(
        ItemGraph.from_sessions(s, window=3, distance_weighting="inverse", keep_self_loops=True)
    )
    assert g3loops[(1, 1)] == pytest.approx(1 / 3)


def test_window_graph_bad_input():
    s = _sessions([[1, 2, 3]])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="window"):
            ItemGraph.from_sessions(s, window=bad)
    with pytest.raises(ValueError, match="distance_weighting"):
        ItemGraph.from_sessions(s, window=2, distance_weighting="gaussian")


def test_reweighted_divides_by_strengths_and_keeps_the_original():
    g = ItemGraph.from_edges([1, 1, 2, 3], [2, 3, 3, 2], [4.0, 1.0, 2.0, 1.0])
    before = g.weights.copy()
    r = g.reweighted(1.0)
    np.testing.assert_array_equal(g.weights, before)  # the original is unchanged
    # out-strength: 1 -> 5, 2 -> 2, 3 -> 1; in-strength: 2 -> 5, 3 -> 3
    raw = {(1, 2): 4 / (5 * 5), (1, 3): 1 / (5 * 3), (2, 3): 2 / (2 * 3), (3, 2): 1 / (1 * 5)}
    top = max(raw.values())
    assert _edges(r) == pytest.approx({k: v / top for k, v in raw.items()}, rel=1e-6)
    # from node 1 the walk now prefers the less popular target 3 relatively more than before
    w = _edges(r)
    assert w[(1, 3)] / w[(1, 2)] > 1.0 / 4.0
    assert g.reweighted(0.0) is g
    und = ItemGraph.from_edges([1, 2], [2, 3], [3.0, 1.0], directed=False).reweighted(0.5)
    e = _edges(und)
    assert e[(1, 2)] == pytest.approx(e[(2, 1)]) and e[(2, 3)] == pytest.approx(e[(3, 2)])
    for bad in (-0.1, 2.5, float("nan")):
        with pytest.raises(ValueError, match="popularity_exponent"):
            g.reweighted(bad)


# ------------------------------------------------------------------ tuning fixes
_ONE = {"dim": {"choices": [16]}}
_FIXED = {"epochs": 2, "window": 3, "min_count": 1}


def test_tune_u2i_uses_the_split_min_rating(synthetic_small):
    inter = synthetic_small.interactions
    train, valid, _ = train_valid_test_split(inter)
    threshold = float(np.quantile(train.frame["rating"], 0.5))
    emb = make_trainer("item2vec-sequence", {"dim": 16, **_FIXED}, 3).fit(train)
    with_mr = evaluate_u2i(emb, train, valid, [10], min_rating=threshold)["hit_rate@10"]
    without = evaluate_u2i(emb, train, valid, [10])["hit_rate@10"]
    assert with_mr != without  # the threshold changes the user vectors here
    res = tune(
        "item2vec-sequence", train, valid, space=_ONE, fixed=_FIXED, n_trials=1,
        random_state=3, modes=("u2i",), min_rating=threshold,
    )  # fmt: skip
    assert res.best_attrs["hit_rate@10_u2i"] == pytest.approx(with_mr)
    res0 = tune(
        "item2vec-sequence", train, valid, space=_ONE, fixed=_FIXED, n_trials=1,
        random_state=3, modes=("u2i",),
    )  # fmt: skip
    assert res0.best_attrs["hit_rate@10_u2i"] == pytest.approx(without)
    with pytest.raises(ValueError, match="min_rating"):
        tune("item2vec-sequence", train, valid, space=_ONE, n_trials=1, min_rating=float("nan"))


def test_tune_is_quiet_and_leaves_optuna_logging_as_it_was(synthetic_small, capfd):
    import optuna

    train, valid, _ = train_valid_test_split(synthetic_small.interactions)
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        tune("item2vec-sequence", train, valid, space=_ONE, fixed=_FIXED, n_trials=1)
        err = capfd.readouterr().err
        assert "study created" not in err and "Trial 0 finished" not in err
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # the user's level is back
    finally:
        optuna.logging.set_verbosity(before)


def test_graph_from_data_passes_the_construction_options():
    from embeddings.inputs import graph_from_data

    s = _sessions([[1, 2, 3, 1], [2, 3]])
    assert _edges(graph_from_data(s)) == _edges(ItemGraph.from_sessions(s))
    assert _edges(graph_from_data(s, graph_window=2)) == _edges(
        ItemGraph.from_sessions(s, window=2)
    )
    und = graph_from_data(s, directed=False, graph_window=2, distance_weighting="inverse")
    e = _edges(und)
    assert all(e[(b, a)] == pytest.approx(w) for (a, b), w in e.items())  # symmetric
    assert e[(1, 3)] == pytest.approx(0.5 + 1.0)  # 1->3 at d=2 plus 3->1 at d=1
    r = graph_from_data(s, popularity_exponent=1.0)
    assert _edges(r) == pytest.approx(_edges(ItemGraph.from_sessions(s).reweighted(1.0)))
    with pytest.raises(ValueError, match="popularity_exponent"):
        graph_from_data(s, popularity_exponent=-1)


def test_popularity_starts_share_the_round_by_out_strength():
    from embeddings.walks.generate import generate_walks, start_nodes_for

    # out-strength: node 1 -> 6, node 2 -> 3, node 3 -> 3, node 4 -> 0 (dead end)
    g = ItemGraph.from_edges([1, 1, 2, 3], [2, 3, 3, 4], [4.0, 2.0, 3.0, 3.0])
    assert start_nodes_for(g, "uniform") is None
    assert start_nodes_for(g) is None  # the default
    st = start_nodes_for(g, "popularity")
    # 4 walks per round shared 6:3:3:0 -> 2, 1, 1, 0
    np.testing.assert_array_equal(g.node_ids[st], [1, 1, 2, 3])
    walks = generate_walks(g, num_walks=3, walk_length=3, random_state=0, start_nodes=st)
    assert walks.shape == (12, 3)
    assert np.bincount(walks[:, 0], minlength=4).tolist() == [6, 3, 3, 0]
    with pytest.raises(ValueError, match="starts"):
        start_nodes_for(g, "degree")
    # the Walks stage: the same rows as a matrix and streamed
    from embeddings.walks.stage import Walks

    m = Walks.generate(g, 3, 3, random_state=5, progress=False, starts="popularity")
    np.testing.assert_array_equal(m.rows[:, 0] >= 0, True)
    assert np.bincount(m.rows[:, 0], minlength=4).tolist() == [6, 3, 3, 0]
    with Walks.generate(g, 3, 3, random_state=5, stream=True, starts="popularity") as s:
        np.testing.assert_array_equal(np.concatenate(list(s.rows)), m.rows)


def test_deepwalk_graph_window_builds_the_window_graph(synthetic_small):
    from embeddings.trainers import DeepWalk, Node2Vec

    inter = synthetic_small.interactions
    from embeddings.inputs import graph_from_data

    kw = dict(num_walks=1, walk_length=5, dim=8, epochs=1, progress=False, random_state=0)
    for w in (1, 3):
        emb = DeepWalk(graph_window=w, **kw).fit(inter)
        expected = graph_from_data(inter, graph_window=w).describe()
        assert emb.meta["graph"] == expected
    assert DeepWalk(graph_window=3).get_params()["graph_window"] == 3
    assert Node2Vec(graph_window=2, p=0.5).get_params()["graph_window"] == 2
    with pytest.raises(ValueError, match="window"):
        DeepWalk(graph_window=0, **kw).fit(inter)


def test_graph_window_is_in_the_walk_search_space(synthetic_small):
    from embeddings.tuning import default_space, defaults_in_space

    for method in ("deepwalk", "node2vec"):
        space = default_space(method)
        assert 1 in space["graph_window"]["choices"]
        assert defaults_in_space(method, space)["graph_window"] == 1  # the library default
    assert "graph_window" not in default_space("deepwalk", "nodes")  # a given graph: no window
    train, valid, _ = train_valid_test_split(synthetic_small.interactions)
    fixed = {"num_walks": 1, "walk_length": 5, "dim": 8, "epochs": 1}
    res = tune(
        "deepwalk", train, valid, space={"graph_window": {"choices": [1, 3]}}, fixed=fixed,
        n_trials=2, random_state=0, modes=("i2i",), initial=[{"graph_window": 3}],
    )  # fmt: skip
    assert res.history["params_graph_window"].iloc[0] == 3  # the enqueued setting ran first


def test_a_bad_graph_window_is_named_as_the_trainer_argument() -> None:
    from embeddings.datasets import make_synthetic
    from embeddings.node2vec import DeepWalk

    data = make_synthetic(random_state=0)
    inter = data[0] if isinstance(data, tuple) else getattr(data, "interactions", data)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="graph_window must be an int >= 1"):
            DeepWalk(graph_window=bad, dim=4, num_walks=1, walk_length=3, progress=False).fit(inter)
