"""The compiled vocabulary scan of corpus files gives gensim's own vocabulary (same counts,
same first-appearance order, same sentence and token totals), hence the same vectors."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models.word2vec import LineSentence

import embeddings.word2vec_gensim as w2v  # the gensim path (its vocabulary scans)
from embeddings.word2vec import SkipGram
from embeddings.word2vec_vocab import scan_corpus_file


def gensim_scan(path):
    """What ``Word2Vec.build_vocab(corpus_file=path)`` counts (gensim's ``_scan_vocab``)."""
    vocab: dict[str, int] = {}
    words = sentences = 0
    for sentence in LineSentence(str(path)):
        sentences += 1
        words += len(sentence)
        for tok in sentence:
            vocab[tok] = vocab.get(tok, 0) + 1
    return vocab, words, sentences


def write_bytes(tmp_path, data: bytes, name="c.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def tricky_corpus(rng) -> bytes:
    lines = [" ".join(map(str, rng.integers(0, 90_000, rng.integers(0, 30)))) for _ in range(300)]
    lines[5] = ""  # blank line: no sentence
    lines[6] = "   \t "  # whitespace only: no sentence
    lines[7] = " ".join(map(str, rng.integers(0, 50, 25_001)))  # cut into 3 sentences
    lines[8] = "\t4  0\x0b7\x0c8\x1c9 "  # the other whitespace bytes str.split() splits on
    text = "\r\n".join(lines[:150]) + "\n" + "\n".join(lines[150:])  # CRLF, then LF, no final LF
    return text.encode("ascii")


@pytest.mark.parametrize("block_bytes", [16, 97, 2**24])  # lines cut by blocks, buffer growth
def test_scan_equals_gensims_scan(tmp_path, block_bytes):
    path = write_bytes(tmp_path, tricky_corpus(np.random.default_rng(0)))
    got = scan_corpus_file(path, block_bytes=block_bytes)
    vocab, words, sentences = gensim_scan(path)
    assert got is not None
    assert list(got.raw_vocab().items()) == list(vocab.items())  # order of first appearance too
    assert (got.n_tokens, got.n_sentences) == (words, sentences)
    assert max(got.ids) >= 2**16  # the dense counts grew past their first size


@pytest.mark.parametrize(
    "data, name",
    [
        (b"1 2 3\nalpha 4\n", "c.txt"),  # a word
        (b"1 007 3\n", "c.txt"),  # not canonical: gensim's token "007" is not str(7)
        (b"1 -0 3\n", "c.txt"),
        (b"1 +5 3\n", "c.txt"),
        (b"1 -5 3\n", "c.txt"),  # negative ids: left to gensim
        (b"1 2\xc2\xa03\n", "c.txt"),  # a no-break space (str.split splits on it): gensim's job
        (b"1 2 3\n", "c.txt.gz"),  # smart_open would decompress it
        (b" \n\t\n", "c.txt"),  # no token
        (b"1 99999999999 3\n", "c.txt"),  # beyond the dense range
        (b"1 2 3-4\n", "c.txt"),
    ],
)
def test_scan_declines_what_it_cannot_read_as_gensim_does(tmp_path, data, name):
    assert scan_corpus_file(write_bytes(tmp_path, data, name)) is None


def fit(path, monkeypatch=None, compiled=True, **kw):
    if not compiled:
        monkeypatch.setattr(w2v, "scan_corpus_file", lambda _path: None)
    params = dict(dim=16, epochs=2, window=3, workers=1, random_state=4, progress=False)
    params.update(kw)
    return SkipGram(**params).fit_sequences(path)


def test_compiled_vocabulary_gives_the_same_vectors(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    # skewed counts with many ties, ids first seen in no particular order
    seqs = [rng.zipf(1.6, rng.integers(2, 40)) % 500 for _ in range(400)]
    path = write_bytes(tmp_path, "\n".join(" ".join(map(str, s)) for s in seqs).encode() + b"\n")
    fast = fit(path)
    assert fast.meta["vocab_scan"] == "compiled"
    slow = fit(path, monkeypatch, compiled=False)
    assert slow.meta["vocab_scan"] == "gensim"
    assert np.array_equal(fast.ids, slow.ids)
    assert np.array_equal(fast.vectors, slow.vectors)  # bit for bit at workers=1
    for key in ("corpus_tokens", "corpus_sequences", "vocabulary", "loss_per_epoch"):
        assert fast.meta[key] == slow.meta[key]


def test_words_still_fail_by_name(tmp_path):
    path = write_bytes(tmp_path, b"a b c\nb c d\n")
    with pytest.raises(ValueError, match="not an integer id"):
        fit(path)


def test_block_corpus_counts_equal_gensims_scan_and_give_the_same_vectors(monkeypatch):
    from embeddings.word2vec import BlockCorpus
    from embeddings.word2vec_vocab import count_position_blocks

    rng = np.random.default_rng(3)
    node_ids = rng.permutation(10_000)[:300].astype(np.int64) * 7
    blocks = []
    for _ in range(3):
        b = rng.integers(0, 300, (50, 12)).astype(np.int32)
        cut = rng.integers(0, 13, 50)  # right padding; rows of 0 or 1 node are skipped
        b[np.arange(12)[None, :] >= cut[:, None]] = -1
        blocks.append(b)
    corpus = BlockCorpus(blocks, node_ids)
    got = count_position_blocks(blocks, node_ids, min_length=2)
    vocab, words, sentences = {}, 0, 0
    for sentence in corpus:  # what gensim's _scan_vocab sees
        sentences += 1
        words += len(sentence)
        for tok in sentence:
            vocab[tok] = vocab.get(tok, 0) + 1
    assert list(got.raw_vocab().items()) == list(vocab.items())
    assert (got.n_tokens, got.n_sentences) == (words, sentences)
    params = dict(dim=16, epochs=2, window=3, workers=1, random_state=4, progress=False)
    fast = SkipGram(**params).fit_sequences(BlockCorpus(blocks, node_ids))
    monkeypatch.setattr(w2v, "count_position_blocks", lambda *a, **k: None)
    slow = SkipGram(**params).fit_sequences(BlockCorpus(blocks, node_ids))
    assert (fast.meta["vocab_scan"], slow.meta["vocab_scan"]) == ("compiled", "gensim")
    assert np.array_equal(fast.ids, slow.ids) and np.array_equal(fast.vectors, slow.vectors)
    long_row = np.arange(12_000, dtype=np.int32)[None, :] % 300  # gensim gets it in pieces
    assert count_position_blocks([long_row], node_ids, min_length=2) is None
    padded_inside = np.array([[1, -1, 2, 3]], np.int32)
    assert count_position_blocks([padded_inside], node_ids, min_length=2) is None
