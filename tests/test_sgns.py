"""The numba skip-gram trainer (``embeddings.sgns``, ``SkipGram(trainer="numba")``).

Its formulas against word2vec's / gensim's (learning-rate decay, sub-sampling thresholds read
from gensim itself, the noise law of the alias table), its determinism (same seed and one worker:
identical vectors, whatever the input form or the prefetch distance), its errors, and what it
learns: on walks of a planted-community graph its nearest neighbours recover the communities as
well as gensim's at the same settings (a wrong gradient sign or a broken noise draw fails this).
"""

from __future__ import annotations

import numpy as np
import pytest

from embeddings import sgns
from embeddings import sgns_kernels as K
from embeddings.graph import ItemGraph
from embeddings.neighbours import exact_search
from embeddings.trainers import DeepWalk
from embeddings.word2vec import BlockCorpus, SkipGram


def _zipf_corpus(n_words=300, n_tokens=20_000, length=25, seed=0):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_words + 1)
    tokens = rng.choice(n_words, size=n_tokens, p=p / p.sum()).astype(np.int32)
    tokens[:n_words] = np.arange(n_words)  # every row occurs
    offsets = np.r_[np.arange(0, n_tokens, length), n_tokens].astype(np.int64)
    return tokens, offsets


def _sbm(n_comm=8, size=40, p_in=0.3, p_out=0.004, seed=0):
    rng = np.random.default_rng(seed)
    n = n_comm * size
    comm = np.repeat(np.arange(n_comm), size)
    iu, ju = np.triu_indices(n, 1)
    prob = np.where(comm[iu] == comm[ju], p_in, p_out)
    keep = rng.random(iu.shape[0]) < prob
    src, dst = iu[keep], ju[keep]
    graph = ItemGraph.from_edges(src, dst, np.ones(src.shape[0]), directed=False)
    return graph, comm


def _purity(emb, comm, k=10):
    """Mean share of each node's k nearest neighbours (cosine, self excluded) in its community."""
    nb = exact_search(emb.vectors, emb.vectors, k + 1, metric="cosine", ids=emb.ids)
    same = []
    for row, node in enumerate(emb.ids):
        others = [j for j in nb.ids[row] if j != node][:k]
        same.append(np.mean(comm[others] == comm[node]))
    return float(np.mean(same))


# ------------------------------------------------------------------------------- formulas


def test_learning_rate_is_word2vecs_linear_decay():
    total = 1000
    done = np.array([0, 1, 250, 500, 999, 1000, 2000])
    got = sgns.learning_rate(0.1, 1e-4, done, total)
    want = np.maximum(0.1 - (0.1 - 1e-4) * done / total, 1e-4)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == 0.1 and got[-1] == 1e-4 and got[-2] == pytest.approx(1e-4)
    assert np.all(np.diff(got) <= 0)
    assert sgns.learning_rate(0.025, 0.025, 500, total) == 0.025


@pytest.mark.parametrize("sample", [1e-3, 1e-2, 1e-5, 0.0, 5.0])
def test_subsampling_thresholds_are_gensims(sample):
    from gensim.models import Word2Vec

    rng = np.random.default_rng(1)
    counts = np.maximum((5000 / np.arange(1, 401) ** 1.1).astype(np.int64), 1)
    counts[rng.integers(0, 400, 20)] += rng.integers(1, 50, 20)
    model = Word2Vec(vector_size=4, min_count=1, sample=sample, sg=1, seed=0, workers=1)
    model.build_vocab_from_freq({str(i): int(c) for i, c in enumerate(counts)})
    want = np.array([model.wv.get_vecattr(str(i), "sample_int") for i in range(400)], np.int64)
    got = sgns.keep_thresholds(counts, sample).astype(np.int64)
    assert np.abs(got - want).max() <= 1  # float rounding of the same formula
    p = sgns.keep_probability(counts, sample)
    assert np.all((p > 0) & (p <= 1))
    if sample and sample < 1:  # the word2vec formula, written out
        t = sample * counts.sum()
        np.testing.assert_allclose(p, np.minimum((np.sqrt(counts / t) + 1) * t / counts, 1))


def test_the_kernel_keeps_tokens_at_the_sub_sampling_rate():
    counts = np.array([200_000, 50_000, 5_000, 100], np.int64)
    keep = sgns.keep_thresholds(counts, 1e-3)
    p = sgns.keep_probability(counts, 1e-3)
    assert p[0] < 0.2 and p[-1] == 1.0
    tokens = np.repeat(np.arange(4, dtype=np.int32), 40_000)
    kept = K.subsample_mask(tokens, keep, 7).reshape(4, -1).mean(axis=1)
    sd = np.sqrt(p * (1 - p) / 40_000)
    assert np.all(np.abs(kept - p) <= 5 * sd + 1e-9), (kept, p)


@pytest.mark.parametrize("exponent", [0.75, 0.0, -0.5, 1.0])
def test_noise_draws_follow_the_unigram_power_law(exponent):
    rng = np.random.default_rng(2)
    counts = rng.integers(1, 1000, size=50)
    prob = sgns.noise_distribution(counts, exponent)
    np.testing.assert_allclose(prob, counts**exponent / (counts**exponent).sum())
    n = 400_000
    draws = K.draw_noise(K.alias_table(prob), n, 3)
    freq = np.bincount(draws, minlength=50) / n
    sd = np.sqrt(prob * (1 - prob) / n)
    assert np.all(np.abs(freq - prob) <= 5 * sd), np.abs(freq - prob).max()


def test_alias_table_of_a_degenerate_law():
    table = K.alias_table(np.array([0.0, 1.0, 0.0]))
    assert set(K.draw_noise(table, 1000, 5).tolist()) == {1}


# ---------------------------------------------------------------------- determinism, input


def _train(corpus, **kw):
    args = dict(dim=16, window=3, epochs=2, negative=3, random_state=5, progress=False)
    args.update(kw)
    return sgns.train_sgns(corpus, **args)


def test_same_seed_one_worker_identical_vectors_other_seed_differs():
    tokens, offsets = _zipf_corpus()
    corpus = sgns.corpus_from_arrays(tokens, offsets)
    a, b = _train(corpus), _train(corpus)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.context, b.context)
    assert a.loss_per_epoch == b.loss_per_epoch
    c = _train(corpus, random_state=6)
    assert not np.array_equal(a.vectors, c.vectors)


def test_prefetch_is_only_a_hint():
    corpus = sgns.corpus_from_arrays(*_zipf_corpus())
    base = _train(corpus, prefetch_distance=0)
    for d in (1, 4):
        np.testing.assert_array_equal(base.vectors, _train(corpus, prefetch_distance=d).vectors)


def test_sequences_file_and_walk_blocks_give_the_same_vectors(tmp_path):
    rng = np.random.default_rng(3)
    node_ids = np.sort(rng.choice(10_000, size=60, replace=False)).astype(np.int64)
    walks = rng.integers(0, 60, size=(200, 12)).astype(np.int32)
    walks[5, 7:] = -1  # a shorter walk
    walks[9, 1:] = -1  # one node: skipped
    seqs = [node_ids[r[r >= 0]] for r in walks if (r >= 0).sum() >= 2]
    path = tmp_path / "walks.txt"
    path.write_text("".join(" ".join(map(str, s.tolist())) + "\n" for s in seqs))
    kw = dict(dim=8, window=3, epochs=2, workers=1, random_state=4, progress=False)
    via = {
        "sequences": SkipGram(trainer="numba", **kw).fit_sequences(seqs),
        "file": SkipGram(trainer="numba", **kw).fit_sequences(path),
        "blocks": SkipGram(trainer="numba", **kw).fit_sequences(BlockCorpus([walks], node_ids)),
    }
    ref = via["sequences"]
    assert ref.meta["skipgram_trainer"] == "numba"
    assert ref.meta["corpus_tokens"] == sum(len(s) for s in seqs)
    for name, emb in via.items():
        np.testing.assert_array_equal(emb.ids, ref.ids, err_msg=name)
        np.testing.assert_array_equal(emb.vectors, ref.vectors, err_msg=name)


def test_blocks_of_a_long_corpus_and_long_sentences():
    # sentences longer than a segment of centres, several blocks, two workers (hogwild)
    tokens, offsets = _zipf_corpus(n_tokens=60_000, length=3_000)
    corpus = sgns.corpus_from_arrays(tokens, offsets)
    chunks = list(sgns._memory_blocks(tokens, offsets, block_tokens=10_000)())
    assert len(chunks) == 6 and sum(t.shape[0] for t, _ in chunks) == tokens.shape[0]
    np.testing.assert_array_equal(np.concatenate([t for t, _ in chunks]), tokens)
    res = _train(corpus, workers=2, epochs=1)
    assert np.isfinite(res.vectors).all() and np.abs(res.context).max() > 0
    assert res.tokens_kept <= tokens.shape[0] and res.pairs > 2 * res.tokens_kept


def test_loss_falls_over_epochs():
    res = _train(sgns.corpus_from_arrays(*_zipf_corpus()), epochs=4, sample=0.0)
    assert res.loss_per_epoch[-1] < res.loss_per_epoch[0]


def test_min_count_drops_rare_ids():
    seqs = [np.array([1, 2, 3, 1, 2, 3, 9]), np.array([1, 2, 3, 3])]
    emb = SkipGram(trainer="numba", dim=4, min_count=2, epochs=1, progress=False).fit_sequences(
        seqs, all_ids=[1, 2, 3, 9]
    )
    assert emb.ids.tolist() == [1, 2, 3] and emb.meta["n_without_vector"] == 1


# ---------------------------------------------------------------------------------- errors


def test_bad_input_raises_value_errors_naming_the_problem(tmp_path):
    tokens, offsets = _zipf_corpus(n_words=20, n_tokens=200)
    with pytest.raises(ValueError, match="empty corpus"):
        sgns.corpus_from_arrays(np.array([], np.int32), np.array([0, 0]))
    with pytest.raises(ValueError, match="empty corpus"):
        sgns.corpus_from_sequences([np.array([], np.int64)])
    with pytest.raises(ValueError, match="token id 20 at position 3 is outside"):
        bad = tokens.copy()
        bad[3] = 20
        sgns.corpus_from_arrays(bad, offsets, n_words=20)
    with pytest.raises(ValueError, match="token id -1"):
        bad = tokens.copy()
        bad[0] = -1
        sgns.corpus_from_arrays(bad, offsets, n_words=20)
    with pytest.raises(ValueError, match="offsets"):
        sgns.corpus_from_arrays(tokens, offsets[:-1])
    with pytest.raises(ValueError, match="positions outside"):
        sgns.corpus_from_position_blocks([np.array([[0, 5]])], np.arange(3))
    corpus = sgns.corpus_from_arrays(tokens, offsets)
    for name in ("dim", "negative", "window", "epochs", "workers"):
        for value in (0, -1):
            with pytest.raises(ValueError, match=name):
                _train(corpus, **{name: value})
    with pytest.raises(ValueError, match="prefetch_distance"):
        _train(corpus, prefetch_distance=-1)
    with pytest.raises(ValueError, match="trainer must be one of"):
        SkipGram(trainer="fast").fit_sequences([np.array([1, 2])])
    with pytest.raises(ValueError, match="skip-gram only"):
        SkipGram(trainer="numba", sg=0).fit_sequences([np.array([1, 2])])
    words = tmp_path / "words.txt"
    words.write_text("a b c\n")
    with pytest.raises(ValueError, match="line 1: token 'a' is not an id.*integer ids"):
        SkipGram(trainer="numba", progress=False).fit_sequences(words)
    for body, where in [
        ("1 2 3\n4 5\n6 x7 8\n", "line 3: token 'x7'"),
        ("1 2\n3 007\n", "line 2: token '007'"),  # not canonical: gensim's vocabulary differs
        (f"1 {2**24}\n", f"line 1: token '{2**24}'"),  # beyond the dense id range
    ]:
        bad = tmp_path / "bad.txt"
        bad.write_text(body)
        with pytest.raises(ValueError, match=where):
            SkipGram(trainer="numba", progress=False).fit_sequences(bad)
    gz = tmp_path / "walks.txt.gz"
    gz.write_bytes(b"\x1f\x8b")
    with pytest.raises(ValueError, match=r"compressed \(\.gz\)"):
        SkipGram(trainer="numba", progress=False).fit_sequences(gz)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        SkipGram(trainer="numba", progress=False).fit_sequences(empty)


# ---------------------------------------------------------------------------------- quality


@pytest.fixture(scope="module")
def sbm():
    graph, comm = _sbm()
    assert graph.node_ids.tolist() == list(range(comm.shape[0]))  # id = index into comm
    return graph, comm


def _deepwalk(trainer, **kw):
    args = dict(num_walks=10, walk_length=20, dim=32, window=5, epochs=3, workers=1,
                random_state=0, progress=False, trainer=trainer)  # fmt: skip
    args.update(kw)
    return DeepWalk(**args)


def test_numba_recovers_planted_communities_as_well_as_gensim(sbm):
    graph, comm = sbm
    got = {t: _deepwalk(t).fit(graph) for t in ("gensim", "numba")}
    purity = {t: _purity(e, comm) for t, e in got.items()}
    rng = np.random.default_rng(0)
    shape = got["numba"].vectors.shape
    noise = type(got["numba"])(got["numba"].ids, rng.normal(size=shape).astype(np.float32), {})
    chance = _purity(noise, comm)
    assert chance < 0.3
    assert purity["gensim"] > 0.85, purity
    assert purity["numba"] >= purity["gensim"] - 0.05, purity
    np.testing.assert_array_equal(got["numba"].ids, got["gensim"].ids)
    assert got["numba"].meta["skipgram_trainer"] == "numba"
    assert got["numba"].meta["params"]["trainer"] == "numba"


def test_deepwalk_numba_same_vectors_streamed_matrix_and_seeded(sbm):
    graph, comm = sbm
    a = _deepwalk("numba", epochs=1).fit(graph)
    b = _deepwalk("numba", epochs=1, stream=True).fit(graph)
    c = _deepwalk("numba", epochs=1).fit(graph)
    np.testing.assert_array_equal(a.vectors, c.vectors)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    f = _deepwalk("numba", epochs=1, corpus_file=True).fit(graph)
    np.testing.assert_array_equal(a.vectors, f.vectors)


def test_two_workers_learn_too(sbm):
    graph, comm = sbm
    emb = _deepwalk("numba", workers=2).fit(graph)
    assert _purity(emb, comm) > 0.8


def test_scale_bench_trainer_option():
    from recall.bench import scale

    assert scale.parse_trainers("numba") == ["numba"]
    assert scale.parse_trainers("gensim,numba") == ["gensim", "numba"]
    for bad in ("", "fast", "numba,numba"):
        with pytest.raises(ValueError, match="--trainer"):
            scale.parse_trainers(bad)


def test_unknown_trainer_fails_before_walking(monkeypatch):
    from embeddings.graph import ItemGraph
    from embeddings.node2vec import DeepWalk, Node2Vec

    g = ItemGraph.from_edges(np.array([1, 2, 3]), np.array([2, 3, 1]), directed=True)

    def no_walks(*args, **kwargs):
        raise AssertionError("walked before checking the trainer")

    for cls in (DeepWalk, Node2Vec):
        monkeypatch.setattr(cls, "_walks", no_walks)
        with pytest.raises(ValueError, match="trainer must be one of"):
            cls(dim=4, trainer="fast", progress=False).fit(g)


# ------------------------------------------------------------------------------- memory


def _ragged_walks(n_nodes=50, n_walks=120, length=15, seed=5):
    rng = np.random.default_rng(seed)
    walks = rng.integers(0, n_nodes, size=(n_walks, length)).astype(np.int32)
    cut = rng.integers(0, length + 1, size=n_walks)  # ragged: some shorter, some of < 2 nodes
    walks[np.arange(length)[None, :] >= cut[:, None]] = -1
    walks[:, :2][cut[:, None].repeat(2, 1) < 2] = -1
    return walks


@pytest.mark.parametrize("block_tokens", [1, 37, 160, 10**6])
def test_streamed_blocks_are_cut_as_the_matrix_is_and_share_one_buffer(block_tokens):
    walks = _ragged_walks()
    node_ids = np.arange(50, dtype=np.int64) * 7 + 3
    walk_blocks = [walks[i : i + 16] for i in range(0, walks.shape[0], 16)]
    streamed = sgns.corpus_from_position_blocks(walk_blocks, node_ids, block_tokens=block_tokens)
    seqs = [node_ids[r[r >= 0]] for r in walks if (r >= 0).sum() >= 2]
    whole = sgns.corpus_from_sequences(seqs)
    np.testing.assert_array_equal(streamed.ids, whole.ids)
    ((tokens, offsets),) = list(whole.blocks())  # one block of BLOCK_TOKENS
    expected = list(sgns._memory_blocks(tokens, offsets, block_tokens)())
    got, buffers = [], set()
    for t, o in streamed.blocks():
        got.append((t.copy(), o.copy()))
        buffers.add(t.base.__array_interface__["data"][0] if t.base is not None else id(t))
    assert len(got) == len(expected) >= 1
    for (t, o), (te, oe) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(t, te)
        np.testing.assert_array_equal(o, oe)
    assert len(buffers) == 1  # every block a view of the same reused buffer, no per-block copies


def test_streamed_and_matrix_corpora_train_identical_vectors_over_several_blocks():
    walks = _ragged_walks(n_walks=400)
    node_ids = np.arange(50, dtype=np.int64)
    seqs = [node_ids[r[r >= 0]] for r in walks if (r >= 0).sum() >= 2]
    one = sgns.corpus_from_sequences(seqs)  # the matrix path, cut in blocks of 500 tokens
    ((tokens, offsets),) = list(one.blocks())
    whole = sgns.IdCorpus(one.ids, one.counts, one.n_tokens, one.n_sequences,
                          sgns._memory_blocks(tokens, offsets, 500), "sequences")  # fmt: skip
    blocks = [walks[i : i + 32] for i in range(0, walks.shape[0], 32)]
    streamed = sgns.corpus_from_position_blocks(blocks, node_ids, block_tokens=500)
    assert len(list(whole.blocks())) > 3
    kw = dict(dim=8, window=3, epochs=2, workers=1, random_state=1, sample=0.0)
    a = sgns.train_sgns(whole, **kw)
    b = sgns.train_sgns(streamed, **kw, keep_context=False)
    np.testing.assert_array_equal(streamed.ids, whole.ids)  # rows by count, ties by id
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert b.context is None and a.context is not None and a.loss_per_epoch == b.loss_per_epoch
