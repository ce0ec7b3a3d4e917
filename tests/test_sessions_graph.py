import networkx as nx
import numpy as np
import pandas as pd
import pytest

from embeddings import ItemGraph, build_sessions, leave_last_out, temporal_split
from embeddings.datasets import Interactions


def small_log():
    # user 1: a b c (gap) d ; user 2: b c ; user 3: a (single)
    return Interactions.from_arrays(
        user_id=[1, 1, 1, 1, 2, 2, 3],
        item_id=[10, 20, 30, 40, 20, 30, 10],
        rating=[5, 4, 2, 5, 4, 4, 5],
        timestamp=[3, 1, 2, 1000, 5, 6, 1],
    )


def test_sessions_sorted_by_time_and_min_length():
    s = build_sessions(small_log())
    assert [list(x) for x in s] == [[20, 30, 10, 40], [20, 30]]
    np.testing.assert_array_equal(s.user_ids, [1, 2])


def test_session_gap_and_rating_threshold():
    s = build_sessions(small_log(), session_gap=100)
    assert [list(x) for x in s] == [[20, 30, 10], [20, 30]]
    s = build_sessions(small_log(), min_rating=4)
    assert [list(x) for x in s] == [[20, 10, 40], [20, 30]]


def test_empty_after_filtering():
    with pytest.raises(ValueError, match="no session"):
        build_sessions(small_log(), min_rating=5.0, session_gap=0)


def test_graph_weights_equal_transition_counts(synthetic_small):
    s = build_sessions(synthetic_small.interactions)
    g = ItemGraph.from_sessions(s)
    counts: dict[tuple[int, int], int] = {}
    for seq in s:
        for a, b in zip(seq[:-1].tolist(), seq[1:].tolist(), strict=True):
            if a != b:
                counts[(a, b)] = counts.get((a, b), 0) + 1
    rows = np.repeat(np.arange(g.n_nodes), g.out_degree())
    got = dict(
        zip(
            zip(g.node_ids[rows].tolist(), g.node_ids[g.indices].tolist(), strict=True),
            g.weights.tolist(),
            strict=True,
        )
    )
    assert got == counts
    # sorted columns within each row
    for i in range(g.n_nodes):
        cols = g.indices[g.indptr[i] : g.indptr[i + 1]]
        assert (np.diff(cols) > 0).all()


def test_graph_does_not_cross_session_boundaries():
    s = build_sessions(small_log(), session_gap=100)
    g = ItemGraph.from_sessions(s)
    nx_g = g.to_networkx()
    assert not nx_g.has_edge(10, 40)
    assert nx_g[20][30]["weight"] == 2.0


def test_networkx_round_trip():
    g0 = nx.gnp_random_graph(30, 0.2, seed=1, directed=True)
    for u, v in g0.edges:
        g0[u][v]["weight"] = float(u + v + 1)
    g0.add_node(99)
    g = ItemGraph.from_networkx(g0)
    assert g.n_nodes == 31 and g.n_edges == g0.number_of_edges()
    g1 = g.to_networkx()
    assert set(g1.edges) == set(g0.edges)
    assert all(g1[u][v]["weight"] == g0[u][v]["weight"] for u, v in g0.edges)


def test_undirected_edges_stored_both_ways():
    g = ItemGraph.from_edges([1, 2], [2, 3], [2.0, 5.0], directed=False)
    ids, w = g.neighbors(2)
    assert sorted(zip(ids.tolist(), w.tolist())) == [(1, 2.0), (3, 5.0)]


def test_leave_last_out_no_leakage(synthetic_small):
    inter = synthetic_small.interactions
    train, test = leave_last_out(inter, min_rating=3.5)
    assert test.frame.groupby("user_id").size().max() == 1
    # each held-out row is the user's last positive event
    f = inter.frame
    pos = f[f["rating"] >= 3.5].sort_values(["user_id", "timestamp"], kind="stable")
    last = pos.groupby("user_id").tail(1)
    merged = test.frame.merge(last, on=["user_id", "item_id", "timestamp"])
    assert len(merged) == len(test)
    # held-out (user, item) pairs never appear in training sessions or the graph
    s = build_sessions(train)
    held = set(zip(test.frame["user_id"], test.frame["item_id"], strict=True))
    for u, seq in zip(s.user_ids.tolist(), s, strict=True):
        assert not any((u, it) in held for it in seq.tolist())
    assert len(train) + len(test) == len(inter)


def test_temporal_split(synthetic_small):
    train, test = temporal_split(synthetic_small.interactions, test_fraction=0.2)
    assert train.frame["timestamp"].max() < test.frame["timestamp"].min()
    assert test.frame["item_id"].isin(train.frame["item_id"]).all()
    assert test.frame["user_id"].isin(train.frame["user_id"]).all()


@pytest.mark.parametrize(
    "df,msg",
    [
        (pd.DataFrame({"user_id": [1], "item_id": [2], "rating": [1.0]}), "missing columns"),
        (
            pd.DataFrame({"user_id": [1], "item_id": [2.5], "rating": [1.0], "timestamp": [1]}),
            "non-integer",
        ),
        (
            pd.DataFrame({"user_id": [1], "item_id": [2], "rating": [np.nan], "timestamp": [1]}),
            "NaN",
        ),
        (pd.DataFrame({"user_id": [], "item_id": [], "rating": [], "timestamp": []}), "empty"),
    ],
)
def test_interactions_bad_input(df, msg):
    with pytest.raises(ValueError, match=msg):
        Interactions(df)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="mismatched lengths"):
        Interactions.from_arrays([1, 2], [3], [1.0, 2.0], [1, 2])


def test_synthetic_structure(synthetic_small):
    d = synthetic_small
    again = type(d.interactions)(d.interactions.frame)
    pd.testing.assert_frame_equal(again.frame, d.interactions.frame)
    g = ItemGraph.from_sessions(build_sessions(d.interactions))
    rows = np.repeat(np.arange(g.n_nodes), g.out_degree())
    a = d.item_genre.loc[g.node_ids[rows]].to_numpy()
    b = d.item_genre.loc[g.node_ids[g.indices]].to_numpy()
    same = float((g.weights * (a == b)).sum() / g.weights.sum())
    assert same > 3.0 / d.n_genres  # genre-coherent transitions well above chance (1/n_genres)
    # popularity is heavy-tailed
    pop = d.interactions.item_popularity().to_numpy()
    assert pop[: len(pop) // 10].sum() > 0.2 * pop.sum()  # top 10% of items: over twice their share


def test_synthetic_seeded():
    from embeddings.datasets import make_synthetic

    a = make_synthetic(n_users=50, n_items=40, random_state=3).interactions.frame
    b = make_synthetic(n_users=50, n_items=40, random_state=3).interactions.frame
    c = make_synthetic(n_users=50, n_items=40, random_state=4).interactions.frame
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_synthetic_next_item_depends_on_current_item():
    """Ring-neighbour moves: a transition's target is far more often one of the source's ring
    neighbours in its genre than a random item of that genre would be."""
    from embeddings.datasets import make_synthetic

    d = make_synthetic(n_users=300, n_items=200, n_genres=4, mean_events=30, random_state=1)
    local = make_synthetic(
        n_users=300, n_items=200, n_genres=4, mean_events=30, p_local=0.0, random_state=1
    )

    def repeat_pair_share(data):
        g = ItemGraph.from_sessions(build_sessions(data.interactions))
        # share of transition mass on the 6 heaviest out-edges of each node
        top = 0.0
        for i in range(g.n_nodes):
            w = np.sort(g.weights[g.indptr[i] : g.indptr[i + 1]])[::-1]
            top += w[:6].sum()
        return top / g.weights.sum()

    assert repeat_pair_share(d) > repeat_pair_share(local) + 0.1
