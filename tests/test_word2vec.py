"""SkipGram wrapper: id/token mapping, pairs really trained (no 10k truncation), loss, seeds."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings.word2vec import MAX_SEQUENCE_TOKENS, SkipGram, TokenCorpus, chunk_sequence

REPO = Path(__file__).resolve().parent.parent


def pair_loss(sequences, window: int, **kw) -> float:
    """One epoch with a vanishing learning rate: gensim's loss is then a fixed amount per trained
    (center, context) pair (all dot products stay ~0), so loss ratios are pair-count ratios."""
    params = dict(
        dim=8,
        epochs=1,
        window=window,
        shrink_windows=False,
        sample=0.0,
        alpha=1e-12,
        min_alpha=1e-12,
        negative=1,
        random_state=3,
        progress=False,
    )
    params.update(kw)
    emb = SkipGram(**params).fit_sequences(sequences)
    return emb.meta["loss_per_epoch"][0]


def test_chunk_sequence_covers_every_window():
    seq = np.arange(25_000, dtype=np.int64)
    chunks = chunk_sequence(seq, max_len=10_000, overlap=3)
    assert all(c.shape[0] <= 10_000 for c in chunks)
    assert chunks[0][0] == 0 and chunks[-1][-1] == 24_999
    # every run of overlap + 1 consecutive tokens lies inside one chunk
    covered = np.zeros(seq.shape[0] - 3, dtype=bool)
    for c in chunks:
        covered[c[0] : c[-1] - 3 + 1] = True
    assert covered.all()
    assert chunk_sequence(seq[:10], max_len=10)[0] is not None
    with pytest.raises(ValueError, match="overlap"):
        chunk_sequence(seq, max_len=10, overlap=10)


def test_sequences_longer_than_gensim_limit_are_not_truncated():
    vocab = 3000
    long_seq = [np.arange(25_000, dtype=np.int64) % vocab]
    # reference: the same tokens cut into 25 sequences of 1,000 (no chunking involved)
    ref = [long_seq[0][i : i + 1000] for i in range(0, 25_000, 1000)]
    w = 2
    pairs_ref = 25 * (2 * w * 1000 - w * (w + 1))
    # chunks [0,10000), [9998,19998), [19996,25000): w(w-1) ordered pairs per overlap twice
    pairs_long = (2 * w * 25_000 - w * (w + 1)) + 2 * w * (w - 1)
    ratio = pair_loss(long_seq, w) / pair_loss(ref, w)
    assert ratio == pytest.approx(pairs_long / pairs_ref, rel=0.01)
    # what gensim alone would do: only the first 10,000 tokens
    assert ratio > 2.0 * (2 * w * MAX_SEQUENCE_TOKENS) / pairs_ref


def test_ids_map_back_and_missing_items_logged(caplog):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(100, 150, 20) * 7 for _ in range(200)]  # ids are not positions
    with caplog.at_level(logging.WARNING, logger="embeddings.word2vec"):
        emb = SkipGram(dim=8, epochs=2, random_state=0, progress=False).fit_sequences(
            seqs, meta={"method": "test"}, all_ids=np.arange(100, 160) * 7
        )
    assert np.array_equal(emb.ids, np.arange(100, 150) * 7)
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (50, 8)
    assert emb.meta["method"] == "test"
    assert emb.meta["n_without_vector"] == 10
    assert "10 of 60 items got no vector" in caplog.text
    assert emb.meta["versions"]["gensim"]
    assert emb.meta["params"]["dim"] == 8
    assert len(emb.meta["loss_per_epoch"]) == 2


def test_min_count_drops_rare_ids():
    seqs = [np.array([1, 2, 3, 1, 2, 1]), np.array([1, 2, 9])]
    emb = SkipGram(dim=4, epochs=1, min_count=2, random_state=0, progress=False).fit_sequences(seqs)
    assert set(emb.ids.tolist()) == {1, 2}


def test_loss_is_per_epoch_and_learning_reduces_it():
    rng = np.random.default_rng(1)
    # two disjoint communities: a learnable structure
    seqs = [rng.integers(0, 20, 30) + 20 * (i % 2) for i in range(400)]
    emb = SkipGram(dim=16, epochs=6, random_state=0, progress=False).fit_sequences(seqs)
    loss = np.array(emb.meta["loss_per_epoch"])
    assert loss.shape == (6,) and np.isfinite(loss).all() and (loss > 0).all()
    assert loss[-1] < 0.9 * loss[0]
    # per-epoch, not cumulative: later epochs are not bigger than the first
    assert loss.max() == loss[0]


def test_same_seed_same_vectors_and_iterator_input():
    rng = np.random.default_rng(2)
    seqs = [rng.integers(0, 60, 25) for _ in range(300)]
    a = SkipGram(dim=8, epochs=2, random_state=11, progress=False).fit_sequences(seqs)
    b = SkipGram(dim=8, epochs=2, random_state=11, progress=False).fit_sequences(iter(seqs))
    c = SkipGram(dim=8, epochs=2, random_state=12, progress=False).fit_sequences(seqs)
    assert np.array_equal(a.vectors, b.vectors)
    assert not np.array_equal(a.vectors, c.vectors)


_SCRIPT = """
import hashlib, numpy as np
from embeddings.word2vec import SkipGram
rng = np.random.default_rng(5)
seqs = [rng.integers(0, 80, 20) for _ in range(200)]
e = SkipGram(dim=8, epochs=2, random_state=4, progress=False).fit_sequences(seqs)
print(hashlib.sha256(e.vectors.tobytes() + e.ids.tobytes()).hexdigest())
"""


def test_determinism_does_not_depend_on_pythonhashseed():
    # this process (its own hash seed) against a child with a different fixed PYTHONHASHSEED
    namespace: dict = {}
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(_SCRIPT, namespace)  # noqa: S102 - our own fixed script
    here = buf.getvalue().strip().splitlines()[-1]
    other = "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "54321"
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=REPO,
        env=dict(os.environ, PYTHONHASHSEED=other),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == here
    assert len(here) == len(hashlib.sha256().hexdigest())


def test_corpus_file_mode(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "walks.txt"
    seqs = [rng.integers(0, 40, 15) * 3 for _ in range(100)]
    path.write_text("\n".join(" ".join(map(str, s.tolist())) for s in seqs) + "\n")
    emb = SkipGram(dim=8, epochs=2, random_state=0, progress=False).fit_sequences(path)
    assert np.array_equal(emb.ids, np.unique(np.concatenate(seqs)))
    assert emb.meta["corpus_file"] is True
    assert len(emb.meta["loss_per_epoch"]) == 2


def test_token_corpus_is_restartable():
    seqs = [np.array([1, 2, 3]), np.array([4, 5])]
    corpus = TokenCorpus(seqs)
    assert list(corpus) == list(corpus) == [["1", "2", "3"], ["4", "5"]]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"dim": 0}, "dim"),
        ({"window": 0}, "window"),
        ({"window": MAX_SEQUENCE_TOKENS}, "window"),
        ({"epochs": 0}, "epochs"),
        ({"sg": 2}, "sg"),
        ({"negative": 0}, "negative"),
        ({"min_count": 0}, "min_count"),
        ({"alpha": 0.0}, "alpha"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        SkipGram(progress=False, **params).fit_sequences([np.array([1, 2, 3])])


def test_bad_input(tmp_path):
    sg = SkipGram(dim=4, epochs=1, progress=False)
    with pytest.raises(ValueError, match="min_count"):
        sg.fit_sequences([np.array([], dtype=np.int64)])
    with pytest.raises(ValueError, match="integers"):
        sg.fit_sequences([np.array([1.5, 2.0])])
    with pytest.raises(ValueError, match="1-D"):
        sg.fit_sequences([np.array([[1, 2], [3, 4]])])
    with pytest.raises(ValueError, match="does not exist"):
        sg.fit_sequences(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        sg.fit_sequences(tmp_path / "empty.txt")
    (tmp_path / "words.txt").write_text("a b c\nb c d\n")
    with pytest.raises(ValueError, match="not an integer id"):
        sg.fit_sequences(tmp_path / "words.txt")
