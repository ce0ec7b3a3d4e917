"""Streamed walks (``WalkCorpus``): same rows as ``generate_walks``, same vectors when trained."""

import numpy as np
import pytest

from embeddings.eges import BGE
from embeddings.graph import ItemGraph
from embeddings.trainers import DeepWalk, Node2Vec
from embeddings.walks import CHUNK, WalkCorpus, generate_walks
from embeddings.word2vec import BlockCorpus


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(0)
    n, m = 700, 5000
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    # a few dead ends so that some walks stop early (-1 padding)
    keep = ~np.isin(src, [3, 5, 7])
    return ItemGraph.from_edges(
        src[keep] * 10, dst[keep] * 10, rng.random(keep.sum()) + 0.1, directed=True
    )


@pytest.mark.parametrize(
    "pq,mode", [((1, 1), "auto"), ((0.5, 2), "otf"), ((0.25, 1), "otf"), ((2, 0.5), "precomputed")]
)
@pytest.mark.parametrize("block_walks", [CHUNK, 1000])
def test_blocks_equal_the_walk_matrix_every_pass(graph, pq, mode, block_walks):
    kw = dict(num_walks=3, walk_length=12, p=pq[0], q=pq[1], mode=mode, random_state=7)
    whole = generate_walks(graph, progress=False, workers=2, **kw)
    assert (whole < 0).any()  # the dead ends are exercised
    for cache in ("regenerate", "spill"):
        with WalkCorpus(graph, block_walks=block_walks, cache=cache, **kw) as corpus:
            for _ in range(2):  # the second pass regenerates or reads the spill file
                blocks = list(corpus)
                assert max(b.shape[0] for b in blocks) <= -(-block_walks // CHUNK) * CHUNK
                assert np.array_equal(np.concatenate(blocks), whole)
            assert corpus.shape == whole.shape
            lengths = (whole >= 0).sum(axis=1)
            assert corpus.stats["walks_shorter_than_2"] == int((lengths < 2).sum())
            if cache == "spill":
                rows = np.random.default_rng(1).permutation(whole.shape[0])[:300]
                assert np.array_equal(corpus.take(rows), whole[rows])
                spill = corpus._spill
                assert spill is not None and spill.exists()
        if cache == "spill":
            assert not spill.exists()  # deleted on exit


def test_walk_corpus_errors(graph):
    with pytest.raises(ValueError, match="cache must be"):
        WalkCorpus(graph, cache="disk")
    with pytest.raises(ValueError, match="block_walks"):
        WalkCorpus(graph, block_walks=0)
    with pytest.raises(ValueError, match="num_walks"):
        WalkCorpus(graph, num_walks=0)
    corpus = WalkCorpus(graph, num_walks=1, walk_length=3)
    with pytest.raises(ValueError, match="take\\(\\) needs cache='spill'"):
        corpus.take(np.arange(3))
    with pytest.raises(ValueError, match="blocks must be 2-D integer"):
        list(BlockCorpus([np.zeros(3, np.int32)], graph.node_ids))
    with pytest.raises(ValueError, match="positions outside"):
        list(BlockCorpus([np.full((1, 2), graph.n_nodes, np.int32)], graph.node_ids))


@pytest.mark.parametrize("cls,kw", [(DeepWalk, {}), (Node2Vec, {"p": 0.5, "q": 2.0})])
@pytest.mark.parametrize("corpus_file", [False, True])
def test_streamed_training_gives_identical_vectors(graph, cls, kw, corpus_file):
    params = dict(
        num_walks=2, walk_length=10, dim=8, epochs=2, random_state=3, progress=False, **kw
    )
    base = cls(corpus_file=corpus_file, **params).fit(graph)
    for stream in (True, "spill"):
        emb = cls(corpus_file=corpus_file, stream=stream, **params).fit(graph)
        assert np.array_equal(emb.ids, base.ids)
        assert np.array_equal(emb.vectors, base.vectors)
        assert emb.meta["n_walks"] == base.meta["n_walks"]
        assert emb.meta["walks_shorter_than_2"] == base.meta["walks_shorter_than_2"]
    with pytest.raises(ValueError, match="stream must be"):
        cls(stream="memory", **params).fit(graph)


def test_streamed_eges_gives_identical_vectors(graph):
    kw = dict(num_walks=2, walk_length=10, random_state=4)
    whole = generate_walks(graph, progress=False, **kw)
    base = BGE(dim=8, epochs=2, random_state=1, progress=False).fit_walks(whole, graph)
    with WalkCorpus(graph, cache="spill", block_walks=300, **kw) as corpus:
        emb = BGE(dim=8, epochs=2, random_state=1, progress=False).fit_walks(corpus, graph)
    assert np.array_equal(emb.vectors, base.vectors)
    assert emb.meta["loss_per_epoch"] == base.meta["loss_per_epoch"]
    with pytest.raises(ValueError, match="cache='spill'"):
        BGE(dim=8, progress=False).fit_walks(WalkCorpus(graph, **kw), graph)
