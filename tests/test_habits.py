"""Habits from gensim and faiss must not give silently wrong answers; own data with string ids
and networkx graphs goes through train -> index -> search and back to the caller's labels."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from embeddings import Embeddings, leave_last_out
from embeddings.datasets import Interactions, load_interactions
from embeddings.datasets.tables import IdVocabulary
from embeddings.trainers import DeepWalk, Item2Vec, Node2Vec
from recall.exact import ExactIndex
from recall.lsh import SimHashIndex


def _emb() -> Embeddings:
    rng = np.random.default_rng(0)
    # ids far from row positions: row 17 is item 217
    return Embeddings(np.arange(200, 260), rng.normal(size=(60, 8)).astype(np.float32))


def test_keyed_vectors_int_key_is_the_item_id_not_the_row():
    emb = _emb()
    kv = emb.to_keyed_vectors()
    got = [k for k, _ in kv.most_similar(217, topn=5)]
    # exact cosine neighbours of item 217, computed here without gensim
    x = emb.normalized().vectors
    sims = x @ x[emb.index_of([217])[0]]
    order = [int(emb.ids[i]) for i in np.argsort(-sims) if emb.ids[i] != 217][:5]
    assert got == [str(i) for i in order]
    assert 217 in kv and np.int64(217) in kv and "217" in kv
    assert 17 not in kv  # row 17 exists, item 17 does not
    np.testing.assert_array_equal(kv[217], emb.lookup([217])[0])
    with pytest.raises(KeyError, match="no item with id 17.*not row positions"):
        kv.most_similar(17)
    with pytest.raises(KeyError, match="no item with id 17"):
        kv.get_vector(17)


def test_search_result_refuses_faiss_style_unpacking():
    emb = _emb()
    index = ExactIndex().build(emb.vectors, emb.ids)
    res = index.search(emb.vectors[:3], 4)
    with pytest.raises(TypeError, match=r"res\.ids.*res\.scores"):
        D, I = res  # noqa: E741 - the faiss habit
    with pytest.raises(TypeError, match="does not unpack"):
        res[0]
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    assert (res.ids[:, 0] == emb.ids[:3]).all()  # each vector finds itself first


def test_string_ids_round_trip_train_index_search(tmp_path):
    rng = np.random.default_rng(1)
    # two communities of items, users stay inside one: neighbours come from the same community
    rows = []
    for u in range(120):
        comm = u % 2
        items = rng.choice(15, size=12) + 15 * comm
        rows += [f"user-{u},sku-{chr(97 + comm)}{i:02d},{t}" for t, i in enumerate(items)]
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    inter = load_interactions(path)
    assert inter.item_vocab is not None and len(inter.item_vocab) == 30
    assert inter.frame["item_id"].dtype == np.int64
    train, _ = leave_last_out(inter)
    assert train.item_vocab is inter.item_vocab  # splits keep the vocabulary
    emb = Item2Vec(dim=8, epochs=20, window=3, random_state=0, workers=1, progress=False).fit(train)
    assert emb.labels is not None
    back = Embeddings.load(emb.save(tmp_path / "v.npz"))
    assert back.labels == emb.labels  # the vocabulary is stored beside the vectors
    index = SimHashIndex(metric="cosine", n_tables=4, random_state=0).build(back.vectors, back.ids)
    query = back.ids_of(["sku-a03", "sku-b20"])
    res = index.search(back.lookup(query), 5)
    labels = back.labels_of(res.ids)
    assert labels.shape == (2, 5)
    assert labels[0, 0] == "sku-a03" and labels[1, 0] == "sku-b20"
    # users stay inside one community: the neighbours come mostly from the query's community
    assert sum(str(v).startswith("sku-a") for v in labels[0]) >= 4
    assert sum(str(v).startswith("sku-b") for v in labels[1]) >= 4
    kv = back.to_keyed_vectors()
    assert "sku-a03" in kv and kv.most_similar("sku-a03", topn=1)[0][0].startswith("sku-a")
    with pytest.raises(KeyError, match="sku-zz"):
        back.ids_of(["sku-zz"])


def test_vocabulary_decode_padding_and_errors():
    vocab, codes = IdVocabulary.from_values(["b", "a", "b", "c"])
    assert vocab.labels == ("a", "b", "c") and codes.tolist() == [1, 0, 1, 2]
    assert vocab.decode([[2, -1]]).tolist() == [["c", None]]
    with pytest.raises(KeyError, match="codes outside"):
        vocab.decode([3])
    with pytest.raises(ValueError, match="duplicate label"):
        IdVocabulary(("a", "a"))
    inter = Interactions.from_arrays(["u1", "u2"], ["x", "y"])
    assert inter.user_vocab.labels == ("u1", "u2")
    # integer-like strings stay ids; bad numbers are still errors
    assert Interactions.from_arrays(["1", "2"], ["10", "11"]).item_vocab is None
    with pytest.raises(ValueError, match="non-integer"):
        Interactions.from_arrays([1, 2], [1.5, 2.0])


def test_networkx_graph_with_string_labels_trains():
    g0 = nx.karate_club_graph()
    g = nx.relabel_nodes(g0, lambda n: f"member-{n}")
    club = nx.get_node_attributes(g0, "club")
    walk = dict(dim=16, num_walks=10, walk_length=40, window=5, random_state=0, progress=False)
    for make in (lambda: DeepWalk(**walk), lambda: Node2Vec(p=0.5, q=2.0, **walk)):
        emb = make().fit(g)
        assert len(emb) == 34 and set(emb.labels) == set(g.nodes)
        again = make().fit(g)
        assert again.vectors.tobytes() == emb.vectors.tobytes()  # same seed, same vectors
        assert again.labels == emb.labels
        # the same graph with integer labels (used as ids) gives the same vector per node
        by_int = make().fit(g0)
        assert by_int.labels is None
        for n in (0, 5, 33):
            np.testing.assert_array_equal(
                emb.lookup(emb.ids_of([f"member-{n}"])), by_int.lookup([n])
            )
        kv = emb.to_keyed_vectors()
        assert "member-0" in kv and 0 not in kv
        # the club's two factions: a member's nearest members are mostly from its own faction
        same = [
            sum(
                club[int(k.split("-")[1])] == club[i]
                for k, _ in kv.most_similar(f"member-{i}", topn=5)
            )
            for i in range(34)
        ]
        assert np.mean(same) >= 4.0
    with pytest.raises(ValueError, match="no edges"):
        DeepWalk(progress=False).fit(nx.empty_graph(3))
    with pytest.raises(ValueError, match="use DeepWalk or Node2Vec"):
        Item2Vec(progress=False).fit(g)
