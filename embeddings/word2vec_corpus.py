"""The id sequences gensim's iterable path reads, as restartable iterables of ``list[str]``:
:class:`TokenCorpus` (id arrays) and :class:`BlockCorpus` (blocks of walk positions), and
:func:`chunk_sequence`, which splits sequences longer than gensim's per-sentence limit
(``MAX_SEQUENCE_TOKENS``) into chunks that overlap by the window (gensim issue #2880).

Split from :mod:`embeddings.word2vec` (which re-exports every name): nothing here imports
gensim, so the numba trainer, which takes a ``BlockCorpus`` too, never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids

__all__ = ["MAX_SEQUENCE_TOKENS", "chunk_sequence", "TokenCorpus", "BlockCorpus"]

#: gensim's per-sentence (and per-batch) token limit on the iterable path (word2vec_inner).
MAX_SEQUENCE_TOKENS = 10_000


def chunk_sequence(
    seq: NDArray[np.int64], max_len: int = MAX_SEQUENCE_TOKENS, overlap: int = 0
) -> list[NDArray[np.int64]]:
    """Split ``seq`` into chunks of at most ``max_len`` tokens, consecutive ones sharing ``overlap``.

    Every run of ``overlap + 1`` consecutive tokens lies inside at least one chunk, so a sliding
    window of radius ``overlap`` sees all its pairs.
    """
    if max_len < 2:
        raise ValueError(f"max_len must be >= 2, got {max_len}")
    if not 0 <= overlap < max_len:
        raise ValueError(f"overlap must be in [0, max_len), got {overlap} (max_len={max_len})")
    n = seq.shape[0]
    if n <= max_len:
        return [seq]
    step = max_len - overlap
    out = []
    start = 0
    while True:
        out.append(seq[start : start + max_len])
        if start + max_len >= n:
            break
        start += step
    return out


def _as_id_sequence(seq: Any, index: int) -> NDArray[np.int64]:
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"sequence {index}: expected a 1-D array of ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"sequence {index}: ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class TokenCorpus:
    """Restartable iterable of ``list[str]`` for gensim, built lazily from id sequences.

    Each pass converts one sequence at a time to tokens, splitting sequences longer than
    ``max_len`` (see ``chunk_sequence``). Only the int arrays are held in memory.
    """

    def __init__(
        self,
        sequences: Iterable[NDArray[np.int64]],
        max_len: int = MAX_SEQUENCE_TOKENS,
        overlap: int = 0,
    ) -> None:
        self.sequences = sequences
        self.max_len = max_len
        self.overlap = overlap
        self.n_split = 0  # sequences split in the last pass

    def __iter__(self) -> Iterator[list[str]]:
        n_split = 0
        for i, seq in enumerate(self.sequences):
            arr = _as_id_sequence(seq, i)
            if arr.shape[0] > self.max_len:
                n_split += 1
                for chunk in chunk_sequence(arr, self.max_len, self.overlap):
                    yield list(map(str, chunk.tolist()))
            else:
                yield list(map(str, arr.tolist()))
        self.n_split = n_split


class BlockCorpus:
    """Restartable iterable of ``list[str]`` over blocks of node-position rows (walks).

    ``blocks`` is any restartable iterable of 2-D integer arrays (e.g.
    ``embeddings.walks.WalkCorpus``, or ``[walks]`` for a whole matrix) whose rows are positions
    into ``node_ids``, padded on the right with -1. A row with fewer than ``min_length`` nodes is
    skipped (it holds no pair, and a token seen only there would keep an untrained vector). The
    tokens of a row are looked up in a per-position list of ``str(node_id)`` built once, and rows
    longer than ``max_len`` are split as by :class:`TokenCorpus`. Only one block is held at a
    time, so a streamed walk corpus never exists as a whole.
    """

    def __init__(
        self,
        blocks: Iterable[NDArray[np.integer]],
        node_ids: ArrayLike,
        max_len: int = MAX_SEQUENCE_TOKENS,
        overlap: int = 0,
        min_length: int = 2,
    ) -> None:
        self.blocks = blocks
        self.node_ids = as_ids(node_ids, name="node_ids")
        self.max_len = max_len
        self.overlap = overlap
        self.min_length = min_length
        self.n_split = 0  # rows split in the last pass
        self._tokens: list[str] | None = None

    def __iter__(self) -> Iterator[list[str]]:
        if self._tokens is None:
            self._tokens = [str(i) for i in self.node_ids.tolist()]
        toks = self._tokens
        n_nodes = len(toks)
        n_split = 0
        for block in self.blocks:
            arr = np.asarray(block)
            if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"blocks must be 2-D integer arrays, got {arr.dtype} {arr.shape}")
            if arr.size and (arr.max() >= n_nodes or arr.min() < -1):
                raise ValueError(f"block holds positions outside [-1, {n_nodes})")
            lengths = (arr >= 0).sum(axis=1).tolist()
            for row, n in zip(arr.tolist(), lengths, strict=True):
                if n < self.min_length:
                    continue
                if n > self.max_len:
                    n_split += 1
                    for chunk in chunk_sequence(np.asarray(row[:n]), self.max_len, self.overlap):
                        yield [toks[j] for j in chunk.tolist()]
                else:
                    yield [toks[j] for j in row[:n]]
        self.n_split = n_split
