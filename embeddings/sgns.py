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
the rows of the pairs ahead.

It differs from gensim in its random streams (a per-thread xorshift generator), so vectors are
equal in law, not bit for bit; and it trains skip-gram only (no CBOW, no hierarchical softmax).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings import sgns_kernels as K
from embeddings.hugepages import huge_page_copy
from embeddings.params import SkipGramParams
from embeddings.validate import spawn_seeds
from embeddings.word2vec_vocab import scan_corpus_file

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
#: tokens trained per block (the threads meet at the end of each block)
BLOCK_TOKENS = 4_000_000
#: bytes of a corpus file read at a time
FILE_BLOCK_BYTES = 2**25

Blocks = Callable[[], Iterator[tuple[NDArray[np.int32], NDArray[np.int64]]]]


@dataclass(frozen=True)
class IdCorpus:
    """A corpus of vocabulary rows, read again for every epoch.

    Attributes:
        ids: int64 (n_words,) the caller's id of each row.
        counts: int64 (n_words,) occurrences of each row (>= ``min_count``).
        n_tokens: tokens of one pass (those of the vocabulary: ``counts.sum()``).
        n_sequences: sentences of one pass.
        blocks: a function returning a fresh iterator of ``(tokens, offsets)``: int32 rows and
            int64 sentence offsets (``offsets[0] == 0``, ``offsets[-1] == len(tokens)``). A
            block may be a view of a buffer reused by the next one.
        source: where the tokens come from ("arrays", "sequences", "blocks", "file").
    """

    ids: NDArray[np.int64]
    counts: NDArray[np.int64]
    n_tokens: int
    n_sequences: int
    blocks: Blocks = field(repr=False)
    source: str = "arrays"

    @property
    def n_words(self) -> int:
        """Rows of the vocabulary."""
        return int(self.ids.shape[0])


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


# ---------------------------------------------------------------------------- corpora


def _rows_by_count(
    type_ids: NDArray[np.int64], counts: NDArray[np.int64], min_count: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]:
    """Vocabulary rows: the types counted at least ``min_count`` times, by descending count
    (ties: smaller id first). Returns (ids, counts, row of each type or -1)."""
    order = np.lexsort((type_ids, -counts))
    order = order[counts[order] >= min_count]
    row_of_type = np.full(type_ids.shape[0], -1, np.int32)
    row_of_type[order] = np.arange(order.shape[0], dtype=np.int32)
    return type_ids[order].astype(np.int64), counts[order].astype(np.int64), row_of_type


def _memory_blocks(
    tokens: NDArray[np.int32], offsets: NDArray[np.int64], block_tokens: int = BLOCK_TOKENS
) -> Blocks:
    """Blocks of whole sentences of about ``block_tokens`` tokens, as views."""
    n_sent = offsets.shape[0] - 1
    starts = np.arange(block_tokens, int(offsets[-1]), block_tokens)
    cuts = np.searchsorted(offsets, starts, side="left")
    cuts = np.unique(np.r_[0, cuts, n_sent].clip(0, n_sent))

    def gen() -> Iterator[tuple[NDArray[np.int32], NDArray[np.int64]]]:
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            off = offsets[a : b + 1]
            yield tokens[off[0] : off[-1]], off - off[0]

    return gen


def corpus_from_arrays(
    tokens: ArrayLike, offsets: ArrayLike, n_words: int | None = None
) -> IdCorpus:
    """A corpus of rows given directly: ``tokens`` int (n_tokens,) in ``[0, n_words)`` and
    ``offsets`` int (n_sentences + 1,) from 0 to ``n_tokens``, non-decreasing. Row ``r`` is id
    ``r``; every row must occur (a row never seen would keep its random vector)."""
    tok = np.asarray(tokens)
    off = np.asarray(offsets)
    if tok.ndim != 1 or (tok.size and not np.issubdtype(tok.dtype, np.integer)):
        raise ValueError(f"tokens must be a 1-D integer array, got {tok.dtype} {tok.shape}")
    if tok.size == 0:
        raise ValueError("empty corpus: no token")
    if off.ndim != 1 or off.size < 2 or not np.issubdtype(off.dtype, np.integer):
        raise ValueError(f"offsets must be a 1-D integer array of >= 2 entries, got {off.shape}")
    if off[0] != 0 or off[-1] != tok.size or (np.diff(off) < 0).any():
        raise ValueError(
            f"offsets must rise from 0 to the number of tokens {tok.size}, "
            f"got {off[0]} .. {off[-1]}"
        )
    n = int(tok.max()) + 1 if n_words is None else int(n_words)
    if n < 1:
        raise ValueError(f"n_words must be >= 1, got {n}")
    bad = np.flatnonzero((tok < 0) | (tok >= n))
    if bad.size:
        raise ValueError(
            f"token id {int(tok[bad[0]])} at position {int(bad[0])} is outside [0, {n}) "
            f"({bad.size} such tokens)"
        )
    counts = np.bincount(tok, minlength=n).astype(np.int64)
    if (counts == 0).any():
        raise ValueError(
            f"{int((counts == 0).sum())} of the {n} rows never occur (first: "
            f"{int(np.flatnonzero(counts == 0)[0])}); renumber the ids densely"
        )
    t32 = np.ascontiguousarray(tok, dtype=np.int32)
    o64 = np.ascontiguousarray(off, dtype=np.int64)
    return IdCorpus(
        np.arange(n, dtype=np.int64), counts, int(tok.size), int(off.size - 1),
        _memory_blocks(t32, o64), "arrays",
    )  # fmt: skip


def corpus_from_sequences(sequences: Iterable[ArrayLike], min_count: int = 1) -> IdCorpus:
    """A corpus of id sequences (any int64 ids; sessions, walks as id arrays), held in memory
    as int32 rows (4 bytes a token)."""
    arrs = []
    for i, seq in enumerate(sequences):
        a = np.asarray(seq)
        if a.ndim != 1:
            raise ValueError(f"sequence {i}: expected a 1-D array of ids, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"sequence {i}: ids must be integers, got dtype {a.dtype}")
        arrs.append(a.astype(np.int64, copy=False))
    lengths = np.fromiter((a.shape[0] for a in arrs), dtype=np.int64, count=len(arrs))
    if not lengths.sum():
        raise ValueError("empty corpus: no token in any sequence")
    flat = np.concatenate(arrs)
    uniq, inv, counts = np.unique(flat, return_inverse=True, return_counts=True)
    ids, row_counts, row_of_type = _rows_by_count(uniq, counts, min_count)
    if ids.size == 0:
        raise ValueError(f"no id occurs at least min_count={min_count} times")
    rows = row_of_type[inv]
    kept = rows >= 0
    sent = np.repeat(np.arange(lengths.shape[0]), lengths)
    new_len = np.bincount(sent[kept], minlength=lengths.shape[0])
    offsets = np.r_[0, np.cumsum(new_len)].astype(np.int64)
    tokens = np.ascontiguousarray(rows[kept], dtype=np.int32)
    return IdCorpus(
        ids, row_counts, int(tokens.size), int(lengths.shape[0]),
        _memory_blocks(tokens, offsets), "sequences",
    )  # fmt: skip


def corpus_from_position_blocks(
    blocks: Iterable[NDArray[np.integer]],
    node_ids: ArrayLike,
    min_length: int = 2,
    min_count: int = 1,
    block_tokens: int = BLOCK_TOKENS,
) -> IdCorpus:
    """A corpus of blocks of walk positions (rows of positions into ``node_ids``, -1 padded on
    the right; a restartable iterable such as ``embeddings.walks.WalkCorpus``), read once to
    count and once per epoch; rows with fewer than ``min_length`` nodes are skipped (as
    :class:`embeddings.word2vec.BlockCorpus` does). Only about ``block_tokens`` tokens are held,
    in buffers reused from block to block, cut where :func:`corpus_from_sequences` cuts the same
    walks (same vectors as the walk matrix at ``workers=1``)."""
    nid = np.asarray(node_ids, dtype=np.int64)
    n_nodes = int(nid.shape[0])
    counts = np.zeros(n_nodes, np.int64)
    n_rows = n_tok = 0
    for block in blocks:
        arr = _check_block(block, n_nodes)
        r, t = K.count_position_rows(arr, int(min_length), counts)
        n_rows += r
        n_tok += t
    if n_tok == 0:
        raise ValueError(f"empty corpus: no walk with at least {min_length} nodes")
    seen = np.flatnonzero(counts)
    ids, row_counts, row_of_seen = _rows_by_count(nid[seen], counts[seen], min_count)
    if ids.size == 0:
        raise ValueError(f"no id occurs at least min_count={min_count} times")
    row_of_pos = np.full(n_nodes, -1, np.int32)
    row_of_pos[seen] = row_of_seen

    def gen() -> Iterator[tuple[NDArray[np.int32], NDArray[np.int64]]]:
        # The walk blocks are flattened straight into one token buffer and one offset buffer,
        # reused by every block yielded (grown only when needed). A block ends where
        # ``_memory_blocks`` ends it for the same walks as one matrix: at the first sentence
        # end at or past the next multiple of ``block_tokens`` tokens of the whole pass, so the
        # blocks (hence the per-block seeds) and the vectors are those of the matrix path.
        step = int(block_tokens)
        tok = np.empty(0, np.int32)
        off = np.zeros(1, np.int64)
        nt = ns = 0
        base = 0  # tokens of the pass before tok[0]
        target = step  # the next cut: the first sentence end at or after it
        for block in blocks:
            arr = _check_block(block, n_nodes)
            if nt + arr.size > tok.shape[0]:
                tok = _grown(tok, nt, max(nt + arr.size, step + arr.size))
            if ns + arr.shape[0] + 1 > off.shape[0]:
                off = _grown(off, ns + 1, max(ns + arr.shape[0] + 1, 2 * off.shape[0]))
            nt, ns = K.flatten_position_rows(arr, int(min_length), row_of_pos, tok, off, nt, ns)
            del arr
            while ns and base + nt >= target:
                cut = int(np.searchsorted(off[: ns + 1], target - base, side="left"))
                end = int(off[cut])
                yield tok[:end], off[: cut + 1]
                rest = nt - end
                tok[:rest] = tok[end:nt].copy()
                off[: ns - cut + 1] = off[cut : ns + 1] - end
                nt, ns, base = rest, ns - cut, base + end
                target = (base // step + 1) * step
        if ns:
            yield tok[:nt], off[: ns + 1]

    return IdCorpus(ids, row_counts, int(row_counts.sum()), n_rows, gen, "blocks")


def _check_block(block: Any, n_nodes: int) -> NDArray[np.integer]:
    arr = np.asarray(block)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"blocks must be 2-D integer arrays, got {arr.dtype} {arr.shape}")
    if arr.size and (arr.max() >= n_nodes or arr.min() < -1):
        raise ValueError(f"block holds positions outside [-1, {n_nodes})")
    return arr


def _grown(arr: NDArray, used: int, size: int) -> NDArray:
    """A larger ``arr`` (``size`` entries) holding its first ``used`` entries."""
    out = np.empty(size, arr.dtype)
    out[:used] = arr[:used]
    return out


def corpus_from_file(
    path: str | os.PathLike, min_count: int = 1, block_bytes: int = FILE_BLOCK_BYTES
) -> IdCorpus:
    """A corpus file (one sentence per line, integer ids in ``[0, 2**24)`` separated by
    whitespace, e.g. from ``embeddings.walks.walks_to_corpus_file``), counted by
    :func:`embeddings.word2vec_vocab.scan_corpus_file` and parsed in compiled code block by
    block for every epoch (the file is never held)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"corpus file {p} does not exist")
    if p.stat().st_size == 0:
        raise ValueError(f"corpus file {p} is empty")
    vocab = scan_corpus_file(p)
    if vocab is None:
        raise ValueError(
            f"corpus file {p}: the numba trainer reads integer ids in [0, 2**24) separated by "
            "ASCII whitespace only (use trainer='gensim' for other tokens)"
        )
    ids, row_counts, row_of_type = _rows_by_count(vocab.ids, vocab.counts, min_count)
    if ids.size == 0:
        raise ValueError(f"no id occurs at least min_count={min_count} times")
    row_of_id = np.full(int(vocab.ids.max()) + 1, -1, np.int32)
    row_of_id[vocab.ids] = row_of_type
    gen = file_blocks(p, row_of_id, block_bytes)
    return IdCorpus(ids, row_counts, int(row_counts.sum()), vocab.n_sentences, gen, "file")


def file_blocks(
    path: str | os.PathLike, row_of_id: NDArray[np.int32], block_bytes: int = FILE_BLOCK_BYTES
) -> Blocks:
    """The blocks of a corpus file of integer ids (checked by ``scan_corpus_file``), each id
    mapped to its row by ``row_of_id`` (-1: dropped), about ``block_bytes`` of the file a block;
    a block is a view of buffers the next one reuses."""
    p = Path(path)

    def gen() -> Iterator[tuple[NDArray[np.int32], NDArray[np.int64]]]:
        buf = np.empty(max(int(block_bytes), 16), np.uint8)
        tokens = np.empty(buf.shape[0] // 2 + 2, np.int32)
        offsets = np.empty(buf.shape[0] // 2 + 2, np.int64)
        have = 0
        with open(p, "rb") as fh:
            while True:
                if have == buf.shape[0]:  # a line longer than the buffer
                    bigger = np.empty(buf.shape[0] * 2, np.uint8)
                    bigger[:have] = buf[:have]
                    buf = bigger
                    tokens = np.empty(buf.shape[0] // 2 + 2, np.int32)
                    offsets = np.empty(buf.shape[0] // 2 + 2, np.int64)
                got = fh.readinto(memoryview(buf)[have:])
                eof = not got
                have += got
                pos, nt, ns = K.parse_rows(buf, have, eof, row_of_id, tokens, offsets)
                if ns:
                    yield tokens[:nt], offsets[: ns + 1]
                rest = have - pos
                if rest:
                    buf[:rest] = buf[pos:have].copy()
                have = rest
                if eof:
                    break

    return gen


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
