"""Skip-gram with negative sampling in numba: word2vec's algorithm on token-id arrays.

The second trainer behind :class:`embeddings.word2vec.SkipGram` (``trainer="numba"``; gensim is
the default). It reproduces word2vec's / gensim's skip-gram with negative sampling:

- the learning rate decays linearly from ``alpha`` to ``min_alpha`` over all the tokens of all
  epochs (:func:`learning_rate`; recomputed at every sentence);
- windows are reduced as in word2vec (``shrink_windows``: a radius drawn uniformly in
  ``1..window`` per centre);
- frequent tokens are sub-sampled with gensim's ``sample`` rule (:func:`keep_probability`),
  before the windows are taken;
- ``negative`` noise words per pair from the unigram distribution raised to ``ns_exponent``
  (:func:`noise_distribution`), a noise word equal to the positive one being skipped;
- the same initial vectors' law (uniform in ``[-0.5 / dim, 0.5 / dim)``, output vectors zero) and
  the same vocabulary rules (``min_count``; a corpus file counted by
  :func:`embeddings.word2vec_vocab.scan_corpus_file`, gensim's compiled-scan equivalent).

It reads token ids directly: int arrays (sessions, walks), blocks of walk positions (streamed
walks) or a corpus file of integer ids parsed in compiled code, never strings. Rows are ordered by
descending count (the frequent rows packed together), the two weight matrices live on huge pages
where the kernel offers them (:mod:`embeddings.hugepages`), and ``workers`` threads train
disjoint ranges of a block of sentences at once on the shared matrices without locks (hogwild,
like gensim's threads). With ``workers=1`` the same seed gives bit-identical vectors. The
kernels (:mod:`embeddings.sgns_kernels`) draw noise words in O(1) (an alias table) and prefetch
the rows of the pairs ahead; the corpora (vocabulary rows, blocks of token rows) are
:mod:`embeddings.sgns_corpus`, every name of which stays importable from here.

It differs from gensim in its random streams (a per-thread xorshift generator), so vectors are
equal in law, not bit for bit; and it trains skip-gram only (no CBOW, no hierarchical softmax).
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings import sgns_kernels as K
from embeddings.hugepages import huge_page_copy
from embeddings.params import SkipGramParams
from embeddings.sgns_corpus import (  # the corpora, moved there: importable from here too
    BLOCK_TOKENS,  # noqa: F401
    FILE_BLOCK_BYTES,  # noqa: F401
    Blocks,  # noqa: F401
    IdCorpus,
    _memory_blocks,  # noqa: F401
    corpus_from_arrays,
    corpus_from_file,
    corpus_from_position_blocks,
    corpus_from_sequences,
    file_blocks,
)
from embeddings.validate import spawn_seeds

__all__ = [
    "DEFAULT_PREFETCH_DISTANCE",
    "IdCorpus",
    "SGNSResult",
    "corpus_from_arrays",
    "corpus_from_file",
    "corpus_from_position_blocks",
    "corpus_from_sequences",
    "file_blocks",
    "keep_probability",
    "keep_thresholds",
    "learning_rate",
    "noise_distribution",
    "train_sgns",
]

#: pairs ahead whose rows the kernel prefetches (0 = none); chosen by measurement (see README)
DEFAULT_PREFETCH_DISTANCE = 4


@dataclass
class SGNSResult:
    """What :func:`train_sgns` returns.

    Attributes:
        vectors: float32 (n_words, dim) input vectors (``syn0``), row ``r`` for ``corpus.ids[r]``.
        context: float32 (n_words, dim) output vectors (``syn1neg``); None when
            ``keep_context=False`` (freed as training ends).
        loss_per_epoch: summed ``-log sigmoid`` loss of each epoch (approximate with threads).
        pairs: (centre, context) pairs trained over all epochs.
        tokens_kept: tokens left after sub-sampling, over all epochs.
        seconds: wall seconds of training (compilation excluded).
        compile_seconds: wall seconds to compile (or load from numba's cache) the kernels.
        huge_page_bytes: bytes of the two matrices on huge pages (0: ordinary pages).
    """

    vectors: NDArray[np.float32]
    context: NDArray[np.float32] | None
    loss_per_epoch: list[float]
    pairs: int
    tokens_kept: int
    seconds: float
    compile_seconds: float
    huge_page_bytes: int


# ---------------------------------------------------------------------------- the formulas


def learning_rate(
    alpha: float, min_alpha: float, done: float | NDArray, total: float
) -> float | NDArray:
    """word2vec's linear decay: ``max(min_alpha, alpha - (alpha - min_alpha) * done / total)``,
    ``done`` tokens of ``total`` (all epochs) behind. The kernel uses it at each sentence."""
    lr = alpha - (alpha - min_alpha) * (np.asarray(done, dtype=np.float64) / float(total))
    out = np.maximum(lr, min_alpha)
    return float(out) if np.ndim(out) == 0 else out


def keep_probability(counts: ArrayLike, sample: float) -> NDArray[np.float64]:
    """Probability that a token of each word survives sub-sampling (gensim / word2vec):
    ``(sqrt(c / t) + 1) * t / c`` capped at 1, ``t = sample * total`` (``sample < 1``), or
    ``t = sample * (3 + sqrt 5) / 2`` as an absolute count (``sample >= 1``); 1 when ``sample``
    is 0. ``counts``: int (n_words,) >= 1."""
    c = np.asarray(counts, dtype=np.float64)
    if c.size and c.min() < 1:
        raise ValueError(f"counts must be >= 1, got min {c.min()}")
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    if not sample:
        return np.ones(c.shape, np.float64)
    t = sample * c.sum() if sample < 1.0 else float(int(sample * (3 + np.sqrt(5)) / 2))
    return np.minimum((np.sqrt(c / t) + 1.0) * (t / c), 1.0)


def keep_thresholds(counts: ArrayLike, sample: float) -> NDArray[np.uint32]:
    """The kernel's integer form of :func:`keep_probability` (gensim's ``sample_int``): a token
    of word ``w`` is kept when 32 random bits are <= ``keep[w] = p_w * (2**32 - 1)``."""
    return (keep_probability(counts, sample) * (2**32 - 1)).astype(np.uint32)


def noise_distribution(counts: ArrayLike, ns_exponent: float) -> NDArray[np.float64]:
    """Negative-sampling law: ``counts ** ns_exponent`` normalised (0: uniform; negative
    exponents favour rare words). float64 (n_words,)."""
    c = np.asarray(counts, dtype=np.float64)
    if c.size == 0 or c.min() <= 0:
        raise ValueError("counts must be non-empty and > 0")
    if not np.isfinite(ns_exponent):
        raise ValueError(f"ns_exponent must be finite, got {ns_exponent}")
    w = c**ns_exponent
    return w / w.sum()


# ---------------------------------------------------------------------------- training


def _matrix(n: int, d: int, huge: bool) -> tuple[NDArray[np.float32], int]:
    """A zero float32 (n, d) matrix, on huge pages when asked and offered; (matrix, bytes)."""
    base = np.zeros((n, d), np.float32)
    if huge:
        copy = huge_page_copy(base)
        if copy is not None:
            return copy, int(copy.nbytes)
    return base, 0


def _init_vectors(syn0: NDArray[np.float32], seed: int, rows: int = 65536) -> None:
    """gensim's law: uniform in ``[-0.5 / d, 0.5 / d)``, filled in row blocks in place."""
    rng = np.random.default_rng(seed)
    d = syn0.shape[1]
    for a in range(0, syn0.shape[0], rows):
        view = syn0[a : a + rows]
        rng.random(out=view, dtype=np.float32)
        view *= 2.0
        view -= 1.0
        view /= d


@functools.cache
def _tables() -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """The kernels' sigmoid and log-sigmoid tables, computed at the first training (not at
    import: calling a compiled function starts numba's code generator, ~55 MB resident)."""
    return K.sigmoid_tables()


def _warm_up(distance: int) -> float:
    """Compile (or load from numba's cache) the kernels on a tiny corpus; wall seconds."""
    t0 = time.perf_counter()
    tokens = np.array([0, 1, 2, 1, 0], np.int32)
    offsets = np.array([0, 5], np.int64)
    syn0 = np.full((3, 16), 0.01, np.float32)
    syn1 = np.zeros((3, 16), np.float32)
    alias = K.alias_table(np.full(3, 1 / 3))
    keep = np.full(3, 2**32 - 1, np.uint32)
    # the argument types of the real calls (one compiled signature)
    K.train_chunk(tokens, offsets, 0, 1, syn0, syn1, alias, keep, True, 2, True, 2,
                  0.025, 1e-4, 0.0, 5.0, 1, int(distance), *_tables())  # fmt: skip
    return time.perf_counter() - t0


def _chunk_bounds(offsets: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Sentence indices cutting a block into ``n`` ranges of about equal tokens."""
    n_sent = offsets.shape[0] - 1
    targets = np.linspace(0, offsets[-1], n + 1)[1:-1]
    inner = np.searchsorted(offsets, targets, side="left")
    return np.r_[0, inner, n_sent].clip(0, n_sent).astype(np.int64)


def train_sgns(
    corpus: IdCorpus,
    *,
    dim: int = 64,
    window: int = 5,
    epochs: int = 5,
    negative: int = 5,
    ns_exponent: float = 0.75,
    sample: float = 1e-3,
    alpha: float = 0.025,
    min_alpha: float = 1e-4,
    shrink_windows: bool = True,
    workers: int = 1,
    random_state: Any = None,
    huge_pages: bool = True,
    prefetch_distance: int = DEFAULT_PREFETCH_DISTANCE,
    progress: bool = False,
    keep_context: bool = True,
) -> SGNSResult:
    """Train skip-gram with negative sampling on ``corpus`` (see the module docstring).

    Args:
        corpus: an :class:`IdCorpus` (``corpus_from_*``).
        dim, window, epochs, negative, ns_exponent, sample, alpha, min_alpha, shrink_windows,
            workers: as in :class:`embeddings.params.SkipGramParams` (validated there).
        random_state: seeds the initial vectors and the training streams (``workers=1``:
            same seed, same vectors).
        huge_pages: the two matrices on transparent huge pages where offered.
        prefetch_distance: prefetch the rows of the pair this many places ahead (0: none).
        progress: a progress bar over the tokens.
        keep_context: return the output vectors too; False frees them as training ends (the
            caller that only wants ``vectors`` then never holds three matrices at once).

    Returns:
        :class:`SGNSResult` (vectors in the corpus' row order).
    """
    # raises ValueError naming a bad value
    SkipGramParams(
        dim=dim, window=window, epochs=epochs, negative=negative, ns_exponent=ns_exponent,
        sample=sample, alpha=alpha, min_alpha=min_alpha, shrink_windows=shrink_windows,
        workers=workers,
    )  # fmt: skip
    if not isinstance(prefetch_distance, int | np.integer) or prefetch_distance < 0:
        raise ValueError(f"prefetch_distance must be an integer >= 0, got {prefetch_distance!r}")
    if corpus.n_words == 0 or corpus.n_tokens == 0:
        raise ValueError("empty corpus: no token")
    init_seed, train_seed = spawn_seeds(random_state, 2)
    compile_s = _warm_up(int(prefetch_distance))

    syn0, huge0 = _matrix(corpus.n_words, int(dim), huge_pages)
    syn1, huge1 = _matrix(corpus.n_words, int(dim), huge_pages)
    _init_vectors(syn0, init_seed)
    alias = K.alias_table(noise_distribution(corpus.counts, float(ns_exponent)))
    keep = keep_thresholds(corpus.counts, float(sample))
    do_sample = bool(sample) and bool((keep < np.uint32(2**32 - 1)).any())
    total = float(epochs) * corpus.n_tokens
    sig, log_pos, log_neg = _tables()

    bar = None
    if progress:
        from embeddings.progress import progress_bar

        bar = progress_bar(total=int(total), desc="skip-gram (numba)", unit="tok")
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    losses: list[float] = []
    pairs = kept = 0
    t0 = time.perf_counter()
    try:
        for epoch in range(int(epochs)):
            done = float(epoch) * corpus.n_tokens
            epoch_loss = 0.0
            for b, (tokens, offsets) in enumerate(corpus.blocks()):
                if tokens.shape[0] == 0:
                    continue
                bounds = _chunk_bounds(offsets, workers)
                args = []
                for c in range(workers):
                    seq = np.random.SeedSequence([train_seed, epoch, b, c])
                    seed = int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))  # int64
                    lo, hi = int(bounds[c]), int(bounds[c + 1])
                    args.append((tokens, offsets, lo, hi, syn0, syn1, alias, keep, do_sample,
                                 int(window), bool(shrink_windows), int(negative), float(alpha),
                                 float(min_alpha), done + float(offsets[lo]), total, seed,
                                 int(prefetch_distance), sig, log_pos, log_neg))  # fmt: skip
                if pool is None:
                    outs = [K.train_chunk(*a) for a in args]
                else:
                    outs = [f.result() for f in [pool.submit(K.train_chunk, *a) for a in args]]
                for loss, p, k in outs:
                    epoch_loss += float(loss)
                    pairs += int(p)
                    kept += int(k)
                done += float(offsets[-1])
                if bar is not None:
                    bar.update(int(offsets[-1]))
            losses.append(epoch_loss)
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    context = syn1 if keep_context else None
    del syn1
    return SGNSResult(syn0, context, losses, pairs, kept, seconds, compile_s, huge0 + huge1)
