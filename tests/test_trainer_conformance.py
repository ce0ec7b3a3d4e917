"""One suite run over every trainer (the ``Trainer`` protocol of ``embeddings.base``).

Each trainer, on small seeded data: protocol attributes, get/set_params round trip, unknown
parameter errors, clone (ours and scikit-learn's), same seed -> same vectors at ``workers=1``,
every item of the data gets a vector, bad input and bad parameters raise ``ValueError``, what
``uses_side_info`` and ``input_kind`` declare is true, and walk-based trainers give the same
vectors through ``walks`` + ``fit_walks`` as through ``fit``.
"""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.base import Trainer, TrainerBase, clone, is_trainer
from embeddings.baselines import ImplicitMF, ItemKNN
from embeddings.datasets import make_synthetic
from embeddings.eges import BGE, EGES, GES
from embeddings.graph import ItemGraph
from embeddings.params import SkipGramParams
from embeddings.sessions import Sessions, build_sessions
from embeddings.trainers import DeepWalk, Item2Vec, Node2Vec, Popularity, graph_from_data
from embeddings.walks import Walks

_SG = dict(dim=8, epochs=2, workers=1, progress=False)
_WALK = dict(num_walks=2, walk_length=10)

#: name -> (class, small fast parameters, one invalid parameter that fit must reject)
CASES: dict[str, tuple[type, dict, dict]] = {
    "item2vec-sequence": (Item2Vec, dict(mode="sequence", **_SG), {"dim": 0}),
    "item2vec-set": (Item2Vec, dict(mode="set", **_SG), {"mode": "bag"}),
    "deepwalk": (DeepWalk, dict(**_WALK, **_SG), {"window": 0}),
    "node2vec": (Node2Vec, dict(p=0.5, q=2.0, **_WALK, **_SG), {"p": -1.0}),
    "node2vec-stream": (Node2Vec, dict(q=0.5, stream=True, **_WALK, **_SG), {"stream": "x"}),
    "bge": (BGE, dict(**_WALK, **_SG), {"negative": 0}),
    "ges": (GES, dict(**_WALK, **_SG), {"missing": "drop"}),
    "eges": (EGES, dict(**_WALK, **_SG), {"alpha": 5.0}),
    "popularity": (Popularity, {}, {"min_rating": 99.0}),
    "itemknn": (ItemKNN, {}, {"similarity": "jaccard"}),
    "implicit-als": (ImplicitMF, dict(model="als", factors=4, iterations=2), {"factors": 0}),
    "implicit-bpr": (ImplicitMF, dict(model="bpr", factors=4, iterations=2), {"model": "svd"}),
}


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_users=60, n_items=40, n_genres=4, mean_events=12, random_state=3)


def _make(name: str, **extra):
    cls, params, _ = CASES[name]
    if cls is ImplicitMF:
        pytest.importorskip("implicit")
    return cls(**{**params, "random_state": 11, **extra})


def _fit(trainer, data):
    return trainer.fit(data.interactions, side_info=data.side_info)


names = pytest.mark.parametrize("name", list(CASES))


@names
def test_protocol_attributes(name):
    t = _make(name)
    assert is_trainer(t) and is_trainer(type(t)) and isinstance(t, Trainer)
    assert isinstance(t, TrainerBase)
    assert isinstance(type(t).uses_side_info, bool)
    assert type(t).input_kind in ("sessions", "graph", "interactions")
    assert isinstance(type(t).has_field_weights, bool)
    assert list(t.get_params()) == type(t).param_names()
    assert "random_state" in t.get_params()
    assert not is_trainer(Sessions) and not is_trainer(object())


@names
def test_get_set_params_round_trip(name):
    t = _make(name)
    params = t.get_params()
    again = type(t)(**params)
    assert again.get_params() == params
    other = type(t)()
    assert other.set_params(**params) is other
    assert other.get_params() == params
    other.set_params(random_state=99)
    assert other.get_params()["random_state"] == 99 and t.get_params()["random_state"] == 11


@names
def test_unknown_parameter_is_named_and_nothing_changes(name):
    t = _make(name)
    before = t.get_params()
    with pytest.raises(ValueError, match="unknown parameters.*'nope_param'"):
        t.set_params(random_state=5, nope_param=1)
    assert t.get_params() == before
    with pytest.raises(TypeError):
        type(t)(nope_param=1)


@names
def test_clone_has_equal_params_and_no_fitted_state(name, data):
    from sklearn.base import clone as sk_clone

    t = _make(name)
    _fit(t, data)
    for c in (t.clone(), clone(t), sk_clone(t)):
        assert type(c) is type(t) and c is not t
        assert c.get_params() == t.get_params()
        fitted = [k for k in vars(c) if k.endswith("_") and not k.startswith("_")]
        assert fitted == []
        assert getattr(c, "user_embeddings", None) is None
    with pytest.raises(ValueError, match="needs a trainer"):
        clone(object())


@names
def test_same_seed_same_vectors(name, data):
    a = _fit(_make(name), data)
    b = _fit(_make(name).clone(), data)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    if CASES[name][0] not in (Popularity, ItemKNN):  # deterministic without a seed
        c = _fit(_make(name, random_state=12), data)
        assert not np.array_equal(a.vectors, c.vectors)


@names
def test_every_item_gets_a_vector(name, data):
    """All items of the data are covered (defaults keep them: min_count=1, every item of these
    sessions has a successor or predecessor, so it is a node of the item graph)."""
    emb = _fit(_make(name), data)
    expected = np.unique(data.interactions.frame["item_id"].to_numpy())
    np.testing.assert_array_equal(np.sort(emb.ids), expected)
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape[0] == emb.ids.shape[0]
    assert np.isfinite(emb.vectors).all()


@names
def test_bad_input_and_bad_parameters_raise(name, data):
    _, _, bad = CASES[name]
    t = _make(name)
    empty = Sessions(
        user_ids=np.zeros(0, np.int64),
        indptr=np.zeros(1, np.int64),
        items=np.zeros(0, np.int64),
        timestamps=np.zeros(0, np.int64),
        ratings=np.zeros(0, np.float32),
    )
    with pytest.raises(ValueError):
        t.fit(empty, side_info=data.side_info)
    with pytest.raises(ValueError):
        t.fit("ratings.csv", side_info=data.side_info)
    with pytest.raises(ValueError):
        _make(name, **bad).fit(data.interactions, side_info=data.side_info)


@names
def test_declared_input_kind_and_side_info(name, data):
    t = _make(name)
    sessions = build_sessions(data.interactions)
    graph = graph_from_data(data.interactions)
    if type(t).input_kind == "interactions":
        with pytest.raises(ValueError):
            t.fit(sessions, side_info=data.side_info)
    else:
        assert t.fit(sessions, side_info=data.side_info).ids.size > 0
    if type(t).input_kind == "graph":
        assert t.fit(graph, side_info=data.side_info).ids.size > 0
    else:
        with pytest.raises(ValueError):
            t.fit(graph, side_info=data.side_info)
    if type(t).uses_side_info:
        with pytest.raises(ValueError, match="side information"):
            t.fit(data.interactions)
    else:  # side_info is ignored: same vectors with and without it
        np.testing.assert_array_equal(
            _fit(_make(name), data).vectors, _make(name).fit(data.interactions).vectors
        )
    if type(t).has_field_weights:
        _fit(t, data)
        fw = t.field_weights()
        np.testing.assert_allclose(fw.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "name", [n for n, c in CASES.items() if c[0] in (DeepWalk, Node2Vec, BGE, GES, EGES)]
)
def test_walks_stage_gives_the_fit_vectors(name, data):
    whole = _fit(_make(name), data)
    t = _make(name)
    with t.walks(data.interactions) as walks:
        assert isinstance(walks, Walks) and isinstance(walks.graph, ItemGraph)
        staged = t.fit_walks(walks, side_info=data.side_info)
    np.testing.assert_array_equal(staged.ids, whole.ids)
    np.testing.assert_array_equal(staged.vectors, whole.vectors)


def test_walks_are_shared_between_trainers(data):
    """One walk matrix trains gensim (DeepWalk) and the compiled loop (BGE) alike."""
    walks = _make("deepwalk").walks(data.interactions)
    assert not walks.streamed and walks.stats()["n_walks"] == 2 * walks.graph.n_nodes
    a = _make("deepwalk").fit_walks(walks)
    b = _make("bge").fit_walks(walks.rows, walks.graph)
    np.testing.assert_array_equal(a.ids, b.ids)
    with pytest.raises(ValueError, match="needs its graph"):
        _make("bge").fit_walks(walks.rows)
    with pytest.raises(ValueError, match="carry their graph"):
        _make("deepwalk").fit_walks(walks, graph_from_data(data.interactions))


def test_skipgram_params_validate_and_round_trip():
    p = SkipGramParams.of(Item2Vec(dim=16, window=3))
    assert (p.dim, p.window) == (16, 3)
    assert SkipGramParams(**p.as_dict()) == p and p.replace(dim=4).dim == 4
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        SkipGramParams(dim=0)
    with pytest.raises(ValueError, match="min_alpha"):
        SkipGramParams(alpha=0.01, min_alpha=0.1)
    with pytest.raises(ValueError, match="sg must be"):
        SkipGramParams(sg=2)
    with pytest.raises(ValueError, match="ns_exponent"):
        SkipGramParams(ns_exponent=float("nan"))
    with pytest.raises(ValueError, match="shrink_windows"):
        SkipGramParams(shrink_windows="yes")
