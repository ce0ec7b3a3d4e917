"""BGE / GES / EGES: the compiled update against finite differences, training behaviour,
determinism, field weights, cold start and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeddings.datasets import Interactions, ItemSideInfo
from embeddings.eges import BGE, EGES, GES
from embeddings.eges.kernels import _center_update, _hidden
from embeddings.graph import ItemGraph
from embeddings.inputs import graph_from_data
from embeddings.sessions import build_sessions
from embeddings.validate import spawn_seeds
from embeddings.walks import generate_walks

SMALL = dict(dim=16, epochs=4, num_walks=4, walk_length=20, progress=False)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _graph_and_walks(data, num_walks=4, walk_length=20, seed=0):
    graph = ItemGraph.from_sessions(build_sessions(data.interactions))
    walks = generate_walks(
        graph, num_walks=num_walks, walk_length=walk_length, random_state=seed, progress=False
    )
    return graph, walks


@pytest.fixture(scope="module")
def small(synthetic_small):
    graph, walks = _graph_and_walks(synthetic_small)
    return synthetic_small, graph, walks


def _softplus(x):
    return np.logaddexp(0.0, x)


def _pair_loss(i, targets, labels, W, S, A, C, ptr, vals, F):
    """Reference loss sum_t -log sigmoid(+-H_i . C_t) in float64 numpy."""
    present = np.array([ptr[i * F + f + 1] > ptr[i * F + f] for f in range(F)])
    mask = np.concatenate([[True], present])
    e = np.where(mask, np.exp(A[i] - A[i][mask].max()), 0.0)
    w = e / e.sum()
    V = [W[i]]
    for f in range(F):
        lo, hi = ptr[i * F + f], ptr[i * F + f + 1]
        V.append(S[vals[lo:hi]].mean(0) if hi > lo else np.zeros(W.shape[1]))
    H = sum(wj * vj for wj, vj in zip(w, V))
    s = np.where(labels == 1, 1.0, -1.0)
    return float(_softplus(-s * (C[targets] @ H)).sum())


def _tiny_case(rng, d=5):
    n, F = 5, 2
    # item 0: field0 = {0, 1}, field1 = {3};  item 1: field0 = {2}, no field1;  others: none
    ptr = np.array([0, 2, 3, 4, 4] + [4] * 6, np.int64)
    vals = np.array([0, 1, 3, 2], np.int32)
    W = rng.normal(0, 0.5, (n, d))
    S = rng.normal(0, 0.5, (4, d))
    A = rng.normal(0, 0.5, (n, F + 1))
    C = rng.normal(0, 0.5, (n, d))
    return W, S, A, C, ptr, vals, F


def _numerical_grad(fun, arr, eps=1e-6):
    g = np.zeros_like(arr)
    it = np.nditer(arr, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = arr[idx]
        arr[idx] = old + eps
        up = fun()
        arr[idx] = old - eps
        down = fun()
        arr[idx] = old
        g[idx] = (up - down) / (2 * eps)
    return g


# ---------------------------------------------------------------------------------------------
# the compiled update
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "center,targets,labels",
    [
        (0, [2], [1]),  # one positive pair, no negative
        (0, [2, 3, 4], [1, 0, 0]),  # one pair with two negatives
        (1, [0, 4, 2, 3], [1, 0, 1, 0]),  # a window of two pairs; item 1 lacks field 1
    ],
)
def test_update_is_minus_lr_times_numerical_gradient(center, targets, labels):
    rng = np.random.default_rng(3)
    W, S, A, C, ptr, vals, F = _tiny_case(rng)
    targets = np.array(targets, np.int32)
    labels = np.array(labels, np.uint8)
    lr = 0.05
    params = {"W": W, "S": S, "A": A, "C": C}

    def loss():
        return _pair_loss(center, targets, labels, W, S, A, C, ptr, vals, F)

    grads = {k: _numerical_grad(loss, v) for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    d = W.shape[1]
    bufs = (np.empty(F + 1), np.empty((F + 1, d)), np.empty(d), np.empty(d))
    got_loss = _center_update(
        center, targets, labels, len(targets), W, S, A, C, ptr, vals, F, lr, True, *bufs
    )
    np.testing.assert_allclose(got_loss, _pair_loss(center, targets, labels, *before.values(), ptr, vals, F), rtol=1e-10)  # fmt: skip
    for k in params:
        step = params[k] - before[k]
        np.testing.assert_allclose(step, -lr * grads[k], atol=1e-8, err_msg=k)
        assert np.abs(grads[k]).max() > 0 or k == "A"  # every parameter really moves
    # the side-info rows of other items and the absent field's score do not move
    if center == 1:
        np.testing.assert_array_equal(S[[0, 1, 3]], before["S"][[0, 1, 3]])
        assert A[1, 2] == before["A"][1, 2]
    assert np.abs(grads["A"][center]).max() > 1e-6


def test_frozen_weights_do_not_move_and_hidden_is_softmax_mean():
    rng = np.random.default_rng(4)
    W, S, A, C, ptr, vals, F = _tiny_case(rng)
    d = W.shape[1]
    w, V, H = np.empty(F + 1), np.empty((F + 1, d)), np.empty(d)
    _hidden(0, W, S, A, ptr, vals, F, w, V, H)
    e = np.exp(A[0])
    np.testing.assert_allclose(w, e / e.sum())
    np.testing.assert_allclose(H, w[0] * W[0] + w[1] * S[[0, 1]].mean(0) + w[2] * S[3])
    A0 = A.copy()
    bufs = (np.empty(F + 1), np.empty((F + 1, d)), np.empty(d), np.empty(d))
    _center_update(0, np.array([2, 3], np.int32), np.array([1, 0], np.uint8), 2, W, S, A, C,
                   ptr, vals, F, 0.1, False, *bufs)  # fmt: skip
    np.testing.assert_array_equal(A, A0)


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def test_loss_decreases_over_epochs(small):
    data, graph, walks = small
    m = EGES(**SMALL, random_state=0)
    emb = m.fit_walks(walks, graph, data.side_info)
    losses = m.loss_history_
    assert len(losses) == SMALL["epochs"]
    # with zero context vectors the first loss per pair is about (1 + negative) * log 2
    assert losses[0] < 6 * np.log(2)
    assert losses[-1] < losses[0] - 0.1
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (graph.n_nodes, 16)
    np.testing.assert_array_equal(emb.ids, graph.node_ids)
    assert emb.meta["method"] == "eges" and emb.meta["pairs"] == m.n_pairs_ > 0


def test_ges_equals_eges_with_frozen_weights(small):
    data, graph, walks = small
    ges = GES(**SMALL, random_state=1).fit_walks(walks, graph, data.side_info)
    frozen = EGES(**SMALL, random_state=1, learn_weights=False)
    e_frozen = frozen.fit_walks(walks, graph, data.side_info)
    np.testing.assert_array_equal(ges.vectors.view(np.uint32), e_frozen.vectors.view(np.uint32))
    learned = EGES(**SMALL, random_state=1).fit_walks(walks, graph, data.side_info)
    assert not np.array_equal(learned.vectors, ges.vectors)
    # frozen weights are equal over the fields present (all three + the item here)
    fw = frozen.field_weights()
    np.testing.assert_allclose(fw.to_numpy(), 0.25, rtol=1e-6)


def test_deterministic_with_one_worker_and_seed_matters(small):
    data, graph, walks = small
    a = EGES(**SMALL, random_state=5).fit_walks(walks, graph, data.side_info)
    b = EGES(**SMALL, random_state=5).fit_walks(walks, graph, data.side_info)
    c = EGES(**SMALL, random_state=6).fit_walks(walks, graph, data.side_info)
    np.testing.assert_array_equal(a.vectors.view(np.uint32), b.vectors.view(np.uint32))
    assert not np.array_equal(a.vectors, c.vectors)
    par = EGES(**SMALL, random_state=5, workers=2)
    e2 = par.fit_walks(walks, graph, data.side_info)  # Hogwild: finite, similar loss
    assert np.isfinite(e2.vectors).all()
    assert par.n_pairs_ > 0 and par.loss_history_[-1] < par.loss_history_[0]


def test_fit_from_interactions_matches_fit_walks(synthetic_small):
    m = BGE(**SMALL, random_state=2)
    emb = m.fit(synthetic_small.interactions)
    graph = graph_from_data(synthetic_small.interactions, None, None, True)
    walks = generate_walks(
        graph, num_walks=4, walk_length=20, random_state=spawn_seeds(2, 2)[0], progress=False
    )
    again = BGE(**SMALL, random_state=2).fit_walks(walks, graph)
    np.testing.assert_array_equal(emb.vectors, again.vectors)
    assert list(m.field_weights().columns) == ["item"]
    np.testing.assert_array_equal(m.field_weights()["item"].to_numpy(), 1.0)


def test_same_genre_items_closer(small):
    data, graph, walks = small
    for cls in (BGE, EGES):
        emb = cls(**SMALL, random_state=0).fit_walks(walks, graph, data.side_info).normalized()
        genre = data.item_genre.loc[emb.ids].to_numpy()
        sim = emb.vectors @ emb.vectors.T
        same = genre[:, None] == genre[None, :]
        np.fill_diagonal(same, False)
        off = genre[:, None] != genre[None, :]
        assert sim[same].mean() > sim[off].mean() + 0.1, cls.__name__


# ---------------------------------------------------------------------------------------------
# field weights
# ---------------------------------------------------------------------------------------------
def test_field_weights_sum_to_one_and_absent_fields_get_zero(small):
    data, graph, walks = small
    frame = data.side_info.frame.copy()
    no_tags = frame.index[::3]
    frame.loc[no_tags, "tags"] = [()] * len(no_tags)
    side = ItemSideInfo(frame)
    m = EGES(**SMALL, random_state=0)
    m.fit_walks(walks, graph, side)
    fw = m.field_weights()
    assert list(fw.columns) == ["item", "genres", "year", "tags"]
    assert fw.index.name == "item_id"
    np.testing.assert_allclose(fw.sum(axis=1).to_numpy(), 1.0, rtol=1e-5)
    lacking = fw.index.isin(no_tags)
    assert (fw.loc[lacking, "tags"] == 0).all() and (fw.loc[~lacking, "tags"] > 0).all()
    # learned: weights moved away from equal
    assert fw.loc[~lacking].std(axis=0).max() > 1e-3
    mean = m.mean_field_weights()
    assert list(mean.index) == ["genres", "year", "tags"] and (mean > 0).all()
    genres = m.value_embeddings("genres")
    assert genres.shape == (len(data.side_info.vocabulary("genres")), 16)


# ---------------------------------------------------------------------------------------------
# cold start
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cold_setup(synthetic_small):
    data = synthetic_small
    rng = np.random.default_rng(0)
    items = data.interactions.item_ids()
    cold = np.sort(rng.choice(items, 24, replace=False))
    warm_log = data.interactions.filter(~data.interactions.frame["item_id"].isin(cold))
    graph = ItemGraph.from_sessions(build_sessions(warm_log))
    walks = generate_walks(graph, num_walks=6, walk_length=20, random_state=1, progress=False)
    model = EGES(**{**SMALL, "epochs": 6}, random_state=0)
    model.fit_walks(walks, graph, data.side_info)
    return data, cold, model


def test_cold_start_vector_near_same_genre(cold_setup):
    data, cold, model = cold_setup
    assert not np.isin(cold, model.item_ids_).any()
    vecs = model.cold_start_vectors(data.side_info, cold)
    np.testing.assert_array_equal(vecs.ids, cold)
    warm = model.embeddings_.normalized()
    cv = vecs.normalized().vectors
    sim = cv @ warm.vectors.T
    g_cold = data.item_genre.loc[cold].to_numpy()
    g_warm = data.item_genre.loc[warm.ids].to_numpy()
    same = g_cold[:, None] == g_warm[None, :]
    gap = np.array([sim[r, same[r]].mean() - sim[r, ~same[r]].mean() for r in range(len(cold))])
    assert (gap > 0).mean() >= 0.9, gap
    # nearest warm items: mostly the same primary genre (chance is 1/8)
    top = np.argsort(-sim, axis=1)[:, :10]
    assert np.take_along_axis(same, top, axis=1).mean() > 0.5


def test_cold_start_formula_and_unseen_values(cold_setup):
    data, cold, model = cold_setup
    item = int(cold[0])
    frame = pd.DataFrame(
        {
            "item_id": [item, 99_001, 99_002],
            "genres": [data.side_info.frame.loc[item, "genres"], ("genre01", "nope"), ("nope",)],
            "tags": [(), (), ("never-seen",)],
        }
    )
    side = ItemSideInfo(frame)
    with pytest.raises(ValueError, match="no side-information value seen in training"):
        model.cold_start_vectors(side, [item, 99_001, 99_002])
    vecs = model.cold_start_vectors(side, [item, 99_001, 99_002], errors="skip")
    assert vecs.meta["skipped_ids"] == [99_002]
    genres = model.value_embeddings("genres")
    # only the genres field is known: the vector is the plain mean of its genre vectors
    want = genres.loc[list(frame.loc[0, "genres"])].to_numpy().mean(0)
    np.testing.assert_allclose(vecs.lookup([item])[0], want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(vecs.lookup([99_001])[0], genres.loc["genre01"], rtol=1e-6)
    # default item_ids: all items of the table that were not trained
    both = model.embeddings_with_cold_start(side)
    assert {item, 99_001} <= set(both.ids.tolist()) and 99_002 not in both
    assert len(both) == len(model.embeddings_) + 2


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_bad_input(small):
    data, graph, walks = small
    side = data.side_info
    with pytest.raises(ValueError, match="needs side information"):
        EGES(**SMALL).fit_walks(walks, graph, None)
    with pytest.raises(ValueError, match="unknown side-info fields"):
        EGES(**SMALL, fields=["genres", "colour"]).fit_walks(walks, graph, side)
    partial = ItemSideInfo(side.frame.iloc[5:])
    with pytest.raises(ValueError, match="have no row in the side information"):
        GES(**SMALL).fit_walks(walks, graph, partial)
    m = GES(**SMALL, missing="item_only", random_state=0)
    m.fit_walks(walks, graph, partial)
    fw = m.field_weights()
    np.testing.assert_array_equal(fw.loc[side.frame.index[:5], "item"].to_numpy(), 1.0)
    empty_side = ItemSideInfo(side.frame.assign(genres=[()] * len(side), year=[()] * len(side), tags=[()] * len(side)))  # fmt: skip
    with pytest.raises(ValueError, match="no item of the training data has a value"):
        EGES(**SMALL).fit_walks(walks, graph, empty_side)
    with pytest.raises(ValueError, match="no \\(center, context\\) pair"):
        BGE(**SMALL).fit_walks(walks[:, :1], graph)
    with pytest.raises(ValueError, match="node positions must lie"):
        BGE(**SMALL).fit_walks(walks + graph.n_nodes, graph)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        BGE(**SMALL).fit_walks(np.empty((0, 5), np.int32), graph)
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        BGE(**{**SMALL, "dim": 0}).fit_walks(walks, graph)
    with pytest.raises(ValueError, match="min_alpha"):
        BGE(**SMALL, alpha=0.01, min_alpha=0.1).fit_walks(walks, graph)
    with pytest.raises(ValueError, match="not fitted"):
        EGES().field_weights()
    with pytest.raises(ValueError, match="expected Interactions or Sessions"):
        EGES(**SMALL).fit([[1, 2, 3]], side)
    bge = BGE(**SMALL, random_state=0)
    bge.fit_walks(walks, graph)
    with pytest.raises(ValueError, match="no side information"):
        bge.cold_start_vectors(side, side.item_ids()[:2])


def test_bad_input_cold_start(cold_setup):
    data, cold, model = cold_setup
    with pytest.raises(KeyError, match="not in the side information"):
        model.cold_start_vectors(data.side_info, [cold[0], 123_456_789])
    with pytest.raises(ValueError, match="none of the trained fields"):
        model.cold_start_vectors(ItemSideInfo(pd.DataFrame({"item_id": [1], "colour": ["red"]})))
    with pytest.raises(ValueError, match="errors must be"):
        model.cold_start_vectors(data.side_info, cold, errors="ignore")
    with pytest.raises(ValueError, match="unknown field"):
        model.value_embeddings("colour")


def test_graph_without_edges_is_rejected():
    log = Interactions.from_arrays([1, 2, 3], [10, 20, 30])
    side = ItemSideInfo(pd.DataFrame({"item_id": [10, 20, 30], "genres": ["a", "b", "a"]}))
    with pytest.raises(ValueError):
        EGES(**SMALL).fit(log, side)
