"""The corpora of the numba skip-gram (:mod:`embeddings.sgns`): vocabulary rows and blocks of
token rows, read again for every epoch.

An :class:`IdCorpus` holds the vocabulary (the caller's ids ordered by descending count, the
frequent rows packed together; ``min_count`` applied) and a function returning fresh blocks of
whole sentences as ``(int32 rows, int64 offsets)``. Four sources: int arrays given directly
(:func:`corpus_from_arrays`), id sequences (:func:`corpus_from_sequences`), blocks of walk
positions streamed from ``embeddings.walks.WalkCorpus`` (:func:`corpus_from_position_blocks`,
only about :data:`BLOCK_TOKENS` tokens held) and a corpus file of integer ids parsed in compiled
code (:func:`corpus_from_file`, :func:`file_blocks`), never strings. Every name here is also
importable from :mod:`embeddings.sgns`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings import sgns_kernels as K
from embeddings.validate import check_corpus_file
from embeddings.word2vec_vocab import _COMPRESSED, MAX_DENSE_ID, scan_corpus_file

__all__ = [
    "BLOCK_TOKENS",
    "FILE_BLOCK_BYTES",
    "Blocks",
    "IdCorpus",
    "corpus_from_arrays",
    "corpus_from_file",
    "corpus_from_position_blocks",
    "corpus_from_sequences",
    "file_blocks",
]

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


def _first_problem(path: Path) -> str:
    """Where a corpus file the compiled scan refused goes wrong, for the error message: the
    first line holding a token that is not a canonical id in [0, 2**24), or why else
    (compressed, no token). Read line by line, on the error path only."""
    if path.suffix.lower() in _COMPRESSED:
        return f"compressed ({path.suffix})"
    with open(path, "rb") as fh:
        for no, line in enumerate(fh, start=1):
            for tok in line.split():  # bytes.split: ASCII whitespace
                canonical = tok.isdigit() and (tok == b"0" or not tok.startswith(b"0"))
                if not (canonical and int(tok) < MAX_DENSE_ID):
                    shown = tok[:40].decode("utf-8", errors="replace")
                    return f"line {no}: token {shown!r} is not an id"
    return "no token"


def corpus_from_file(
    path: str | os.PathLike, min_count: int = 1, block_bytes: int = FILE_BLOCK_BYTES
) -> IdCorpus:
    """A corpus file (one sentence per line, integer ids in ``[0, 2**24)`` separated by
    whitespace, e.g. from ``embeddings.walks.walks_to_corpus_file``), counted by
    :func:`embeddings.word2vec_vocab.scan_corpus_file` and parsed in compiled code block by
    block for every epoch (the file is never held)."""
    p = check_corpus_file(path)
    vocab = scan_corpus_file(p)
    if vocab is None:
        raise ValueError(
            f"corpus file {p}: {_first_problem(p)}; the numba trainer reads integer ids in "
            "[0, 2**24) separated by ASCII whitespace only (use trainer='gensim' for other tokens)"
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
