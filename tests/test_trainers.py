"""Trainers: Item2Vec (set mode pairs every item of a set), DeepWalk, Node2Vec, Popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeddings.datasets import Interactions
from embeddings.graph import ItemGraph
from embeddings.sessions import Sessions, build_sessions
from embeddings.trainers import DeepWalk, Item2Vec, Node2Vec, Popularity, graph_from_data
from embeddings.word2vec import SkipGram

# one epoch with a vanishing learning rate: gensim's loss is a fixed amount per trained pair
PAIR_COUNTING = dict(
    dim=8,
    epochs=1,
    sample=0.0,
    alpha=1e-12,
    min_alpha=1e-12,
    negative=1,
    random_state=3,
    progress=False,
)


def _sets(n_sets=40, size=30, vocab=1000, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.choice(vocab, size, replace=False).astype(np.int64) for _ in range(n_sets)]


def _reference_loss(sets):
    """Loss of a corpus with a known pair count: window 1, no shrinking: 2 (n - 1) per set."""
    emb = SkipGram(window=1, shrink_windows=False, **PAIR_COUNTING).fit_sequences(sets)
    return emb.meta["loss_per_epoch"][0], sum(2 * (s.shape[0] - 1) for s in sets)


def test_set_mode_trains_every_pair_of_every_set():
    sets = _sets()
    emb = Item2Vec(mode="set", **PAIR_COUNTING).fit(sets)
    ref_loss, ref_pairs = _reference_loss(sets)
    all_pairs = sum(s.shape[0] * (s.shape[0] - 1) for s in sets)
    assert emb.meta["pairs_per_epoch"] == all_pairs
    assert emb.meta["window_used"] == 29 and emb.meta["params"]["shrink_windows"] is False
    measured = emb.meta["loss_per_epoch"][0] / ref_loss * ref_pairs
    assert measured == pytest.approx(all_pairs, rel=0.01)
    # sequence mode with the same sets and a window of 5 trains far fewer pairs
    seq = Item2Vec(mode="sequence", window=5, shrink_windows=False, **PAIR_COUNTING).fit(sets)
    assert seq.meta["loss_per_epoch"][0] < 0.5 * emb.meta["loss_per_epoch"][0]


def test_set_mode_with_sets_of_different_lengths_and_users():
    # sets of lengths 3..40 from interactions (one set per user, duplicates removed)
    rng = np.random.default_rng(1)
    users, items = [], []
    for u, n in enumerate(range(3, 41)):
        chosen = rng.choice(800, n, replace=False)
        users += [u] * (n + 1)
        items += chosen.tolist() + [int(chosen[0])]  # a repeated item counts once in the set
    inter = Interactions.from_arrays(users, items)
    emb = Item2Vec(mode="set", **PAIR_COUNTING).fit(inter)
    sets = [np.unique(np.asarray(items)[np.asarray(users) == u]) for u in range(38)]
    all_pairs = sum(n * (n - 1) for n in range(3, 41))
    assert emb.meta["pairs_per_epoch"] == all_pairs
    ref_loss, ref_pairs = _reference_loss(sets)
    measured = emb.meta["loss_per_epoch"][0] / ref_loss * ref_pairs
    assert measured == pytest.approx(all_pairs, rel=0.01)


def test_sets_longer_than_max_set_size_are_chunked_not_truncated():
    sets = [np.arange(60, dtype=np.int64) * 5 + 1000 * i for i in range(10)]
    emb = Item2Vec(mode="set", max_set_size=20, **PAIR_COUNTING).fit(sets)
    assert emb.meta["sets_chunked"] == 10 and emb.meta["window_used"] == 19
    assert len(emb) == 600  # every item still gets a vector
    ref_loss, ref_pairs = _reference_loss(sets)
    measured = emb.meta["loss_per_epoch"][0] / ref_loss * ref_pairs
    assert measured == pytest.approx(10 * 3 * 20 * 19, rel=0.01)  # 3 chunks of 20 per set


def test_long_user_histories_beyond_gensim_limit():
    # one user with 12,000 distinct items in sequence mode: nothing after token 10,000 is lost
    seq = [np.arange(12_000, dtype=np.int64)]
    emb = Item2Vec(mode="sequence", window=2, shrink_windows=False, **PAIR_COUNTING).fit(seq)
    assert len(emb) == 12_000
    assert emb.meta["sequences_split"] == 1


def _same_genre_neighbour_rate(emb, item_genre, k=5):
    v = emb.normalized().vectors
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    nn = np.argsort(-s, axis=1)[:, :k]
    genre = item_genre.loc[emb.ids].to_numpy()
    return float((genre[nn] == genre[:, None]).mean())


def _same_vs_different_similarity(emb, item_genre):
    v = emb.normalized().vectors
    s = v @ v.T
    genre = item_genre.loc[emb.ids].to_numpy()
    same = genre[:, None] == genre[None, :]
    np.fill_diagonal(same, False)
    return float(s[same].mean()), float(s[genre[:, None] != genre[None, :]].mean())


@pytest.mark.parametrize(
    "trainer",
    [
        Item2Vec(mode="sequence", dim=32, epochs=10, random_state=0, progress=False),
        Item2Vec(mode="set", dim=32, epochs=10, random_state=0, progress=False),
        DeepWalk(num_walks=10, walk_length=40, dim=32, window=5, random_state=0, progress=False),
        Node2Vec(
            p=0.5,
            q=2.0,
            num_walks=10,
            walk_length=40,
            dim=32,
            window=5,
            random_state=0,
            progress=False,
        ),
    ],
    ids=["item2vec-sequence", "item2vec-set", "deepwalk", "node2vec"],
)
def test_same_genre_items_are_closer(trainer, synthetic_small):
    emb = trainer.fit(synthetic_small.interactions)
    assert len(emb) == synthetic_small.interactions.n_items
    same, different = _same_vs_different_similarity(emb, synthetic_small.item_genre)
    assert same > different + 0.15
    # chance of a same-genre neighbour is 1/8; learned neighbourhoods are mostly same-genre
    assert _same_genre_neighbour_rate(emb, synthetic_small.item_genre) > 0.5


@pytest.mark.parametrize(
    "make",
    [
        lambda: Item2Vec(
            mode="set", dim=8, epochs=2, max_set_size=10, random_state=5, progress=False
        ),
        lambda: Node2Vec(
            p=0.5, q=2.0, num_walks=2, walk_length=10, dim=8, random_state=5, progress=False
        ),
    ],
    ids=["item2vec-set", "node2vec"],
)
def test_same_seed_same_embeddings(make, synthetic_small):
    a = make().fit(synthetic_small.interactions)
    b = make().fit(synthetic_small.interactions)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.vectors, b.vectors)


def test_node2vec_corpus_file_mode_and_graph_input(synthetic_small):
    graph = graph_from_data(synthetic_small.interactions)
    emb = Node2Vec(
        num_walks=4, walk_length=20, dim=16, corpus_file=True, random_state=0, progress=False
    ).fit(graph)
    assert set(emb.ids.tolist()) <= set(graph.node_ids.tolist())
    assert emb.meta["corpus_file"] is True and emb.meta["method"] == "node2vec"
    assert emb.meta["n_walks"] == 4 * graph.n_nodes


def test_isolated_nodes_get_no_untrained_vector():
    # 0 -> 1 -> 2 -> 0 cycle plus an isolated node 99
    graph = ItemGraph.from_edges([0, 1, 2], [1, 2, 0], node_ids=[0, 1, 2, 99])
    emb = DeepWalk(num_walks=3, walk_length=5, dim=4, random_state=0, progress=False).fit(graph)
    assert emb.ids.tolist() == [0, 1, 2]
    assert emb.meta["n_without_vector"] == 1
    assert emb.meta["walks_shorter_than_2"] == 3


def test_undirected_graph_from_sessions():
    inter = Interactions.from_arrays([1, 1, 1, 2, 2], [10, 20, 30, 30, 10])
    directed = graph_from_data(inter)
    undirected = graph_from_data(inter, directed=False)
    assert directed.n_edges == 3 and undirected.n_edges == 6
    assert not undirected.directed
    assert directed.describe()["dead_ends"] == 0


def test_min_rating_filters_events():
    inter = Interactions.from_arrays(
        [1, 1, 1, 2, 2, 2], [10, 20, 30, 10, 20, 40], rating=[5, 5, 1, 5, 4, 1]
    )
    emb = Item2Vec(dim=4, epochs=1, min_rating=4, random_state=0, progress=False).fit(inter)
    assert emb.ids.tolist() == [10, 20]
    assert emb.meta["n_without_vector"] == 2


def test_sessions_input_and_session_gap():
    inter = Interactions.from_arrays(
        [1, 1, 1, 1], [10, 20, 30, 40], timestamp=[0, 10, 100_000, 100_010]
    )
    emb = Item2Vec(dim=4, epochs=1, session_gap=3600, random_state=0, progress=False).fit(inter)
    assert emb.meta["n_sequences"] == 2
    sessions = build_sessions(inter, session_gap=3600)
    emb2 = Item2Vec(dim=4, epochs=1, random_state=0, progress=False).fit(sessions)
    assert emb2.meta["n_sequences"] == 2


def test_popularity_counts():
    inter = Interactions.from_arrays(
        [1, 1, 2, 2, 3, 3], [10, 20, 20, 30, 20, 10], rating=[5, 1, 5, 5, 5, 5]
    )
    pop = Popularity().fit(inter)
    assert pop.ids.tolist() == [10, 20, 30] and pop.vectors.ravel().tolist() == [2, 3, 1]
    pos = Popularity(min_rating=4).fit(inter)
    assert pos.vectors.ravel().tolist() == [2, 2, 1]
    assert pos.meta["method"] == "popularity"


def test_bad_input():
    with pytest.raises(ValueError, match="mode"):
        Item2Vec(mode="bag").fit([np.array([1, 2])])
    with pytest.raises(ValueError, match="ItemGraph"):
        Item2Vec(progress=False).fit(ItemGraph.from_edges([1], [2]))
    with pytest.raises(ValueError, match="empty"):
        Item2Vec(progress=False).fit([])
    empty = Sessions(
        np.empty(0, np.int64),
        np.zeros(1, np.int64),
        np.empty(0, np.int64),
        np.empty(0, np.int64),
        np.empty(0, np.float32),
    )
    with pytest.raises(ValueError, match="empty Sessions"):
        Item2Vec(progress=False).fit(empty)
    with pytest.raises(ValueError, match="min_length"):
        Item2Vec(min_length=1, progress=False).fit([np.array([1, 2])])
    with pytest.raises(ValueError, match="max_set_size"):
        Item2Vec(mode="set", max_set_size=1, progress=False).fit([np.array([1, 2])])
    with pytest.raises(ValueError, match="at least 2"):
        Item2Vec(mode="set", progress=False).fit([np.array([1, 1, 1])])
    with pytest.raises(ValueError, match="integer"):
        Item2Vec(progress=False).fit([np.array([1.5, 2.5])])
    with pytest.raises(ValueError, match="Interactions or Sessions"):
        Popularity().fit(pd.DataFrame({"item_id": [1]}))
    with pytest.raises(ValueError, match="no interaction left"):
        Popularity(min_rating=10).fit(Interactions.from_arrays([1], [2]))
    with pytest.raises(ValueError, match="at least 2 nodes"):
        DeepWalk(num_walks=1, walk_length=3, progress=False).fit(
            ItemGraph.from_edges([], [], node_ids=[1, 2])
        )
