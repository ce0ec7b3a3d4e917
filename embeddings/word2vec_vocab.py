"""The vocabulary of a corpus file of integer ids (or of streamed walk blocks), counted by a
compiled scan.

gensim's ``Word2Vec.build_vocab(corpus_file=...)`` reads the file in Python (``LineSentence``:
one ``str.split()`` per line, one dict increment per token): at 80M tokens that is a long
single-threaded pass before training starts. :func:`scan_corpus_file` counts the same file in
numba, block by block, and returns exactly what gensim's scan would have produced for it:

- the tokens in order of first appearance (the insertion order of gensim's ``raw_vocab``, which
  decides how gensim breaks ties between equal counts when it sorts the vocabulary, and so which
  row, and which initial vector, each token gets), with their counts;
- the number of tokens, and of sentences: gensim's ``LineSentence`` cuts a line into pieces of
  at most ``MAX_WORDS_IN_BATCH`` (10,000) tokens and yields nothing for a blank line.

It only takes files that it can read exactly as gensim does: ASCII whitespace (space, tab,
``\\n``, ``\\r``, vertical tab, form feed, ``\\x1c``-``\\x1f``, the bytes Python's ``str.split``
splits on) and tokens written as canonical integers (``str(int(token)) == token``: no sign but
a leading ``-``, no leading zeros, no ``-0``) in ``[0, 2**24)``. Any other file (other ids,
words, compressed files that ``smart_open`` would unpack) gives None, and the caller lets gensim
scan it. :func:`count_position_blocks` does the same for a ``BlockCorpus`` (streamed walks: rows of
node positions), whose Python scan converts every token to a ``str`` first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = [
    "CorpusVocabulary",
    "scan_corpus_file",
    "count_position_blocks",
    "GENSIM_SENTENCE_TOKENS",
    "MAX_DENSE_ID",
]

#: gensim's ``MAX_WORDS_IN_BATCH``: ``LineSentence`` cuts longer lines into pieces of this size
GENSIM_SENTENCE_TOKENS = 10_000
#: ids at or above this (or negative) are left to gensim's own scan (the counts are a dense array)
MAX_DENSE_ID = 2**24
#: suffixes ``smart_open`` (gensim's ``utils.open``) decompresses on the fly
_COMPRESSED = {".gz", ".bz2", ".xz", ".lzma", ".zst", ".zip", ".z"}

_OK, _BAD_BYTE, _BAD_TOKEN, _OUT_OF_RANGE = 0, 1, 2, 3


@dataclass(frozen=True)
class CorpusVocabulary:
    """Counts of a corpus file, in gensim's terms.

    Attributes:
        ids: int64 (n_types,) distinct ids in order of first appearance.
        counts: int64 (n_types,) occurrences of each.
        n_tokens: all tokens (gensim's ``corpus_total_words``).
        n_sentences: gensim's ``corpus_count`` (lines cut into <= 10,000-token pieces).
    """

    ids: NDArray[np.int64]
    counts: NDArray[np.int64]
    n_tokens: int
    n_sentences: int

    def raw_vocab(self) -> dict[str, int]:
        """``{str(id): count}`` in order of first appearance: gensim's ``raw_vocab``."""
        return dict(zip(map(str, self.ids.tolist()), self.counts.tolist(), strict=True))


@njit(cache=True)
def _is_space(b: int) -> bool:
    return b == 32 or (9 <= b <= 13) or (28 <= b <= 31)


@njit(cache=True)
def _scan_block(buf, start, n, final, counts, order, n_order, line_tokens, max_sentence):
    """Count the complete lines of ``buf[start:n]`` (all of it when ``final``).

    Returns ``(status, pos, n_order, n_tokens, n_sentences, line_tokens, value)``. With status
    OK, ``pos`` is the end of the last complete line (a line cut by the end of a non-final block
    is left for the next one). With status OUT_OF_RANGE, ``pos`` is the start of the id ``value``
    that does not fit ``counts`` (-1: negative), not counted: grow ``counts`` and go on from
    ``pos`` with the returned ``line_tokens``. Other statuses: the file is not for this scan.
    """
    end = n
    if not final:
        end = start
        for i in range(n - 1, start - 1, -1):
            if buf[i] == 10:
                end = i + 1
                break
    n_tokens = 0
    n_sent = 0
    i = start
    while i < end:
        b = buf[i]
        if b == 10:
            n_sent += (line_tokens + max_sentence - 1) // max_sentence
            line_tokens = 0
            i += 1
            continue
        if _is_space(b):
            i += 1
            continue
        tok = i
        neg = b == 45  # '-'
        if neg:
            i += 1
        first = i
        value = 0
        while i < end and 48 <= buf[i] <= 57:
            if i - first >= 18:
                return _BAD_TOKEN, tok, n_order, n_tokens, n_sent, line_tokens, 0
            value = value * 10 + (buf[i] - 48)
            i += 1
        ndig = i - first
        if i < end and not _is_space(buf[i]):
            c = buf[i]
            status = _BAD_BYTE if (c >= 127 or c < 32) else _BAD_TOKEN
            return status, tok, n_order, n_tokens, n_sent, line_tokens, 0
        if ndig == 0 or (ndig > 1 and buf[first] == 48):  # "-" alone, or a leading zero
            return _BAD_TOKEN, tok, n_order, n_tokens, n_sent, line_tokens, 0
        if neg:  # negative ids (and "-0", which is not canonical) are left to gensim
            return _OUT_OF_RANGE, tok, n_order, n_tokens, n_sent, line_tokens, -1
        if value >= counts.shape[0]:
            return _OUT_OF_RANGE, tok, n_order, n_tokens, n_sent, line_tokens, value
        if counts[value] == 0:
            order[n_order] = value
            n_order += 1
        counts[value] += 1
        n_tokens += 1
        line_tokens += 1
    if final and line_tokens > 0:  # last line without a newline
        n_sent += (line_tokens + max_sentence - 1) // max_sentence
        line_tokens = 0
    return _OK, end, n_order, n_tokens, n_sent, line_tokens, 0


def scan_corpus_file(
    path: str | os.PathLike,
    block_bytes: int = 2**24,
    max_sentence: int = GENSIM_SENTENCE_TOKENS,
    max_id: int = MAX_DENSE_ID,
) -> CorpusVocabulary | None:
    """Count the ids of a corpus file as gensim's ``build_vocab(corpus_file=...)`` would.

    Args:
        path: a text file, one sequence per line, ids separated by whitespace.
        block_bytes: bytes read at a time (a line longer than this grows the buffer).
        max_sentence: gensim's sentence limit (``LineSentence.max_sentence_length``).
        max_id: ids must lie in ``[0, max_id)`` (the counts are a dense array, grown to the
            next power of two above the largest id seen).

    Returns:
        the counts, or None when the file holds anything but canonical integer ids in range
        separated by ASCII whitespace, is compressed, or holds no token (gensim then scans it).
    """
    p = Path(path)
    if p.suffix.lower() in _COMPRESSED:
        return None
    block_bytes = max(int(block_bytes), 16)
    counts = np.zeros(min(int(max_id), 1 << 16), np.int64)
    order = np.empty(counts.shape[0], np.int64)
    n_order = n_tokens = n_sent = line_tokens = 0
    buf = np.empty(block_bytes, np.uint8)
    have = 0  # bytes at the start of buf: the unconsumed start of a line, then new data
    with open(p, "rb") as fh:
        eof = False
        while True:
            if have == buf.shape[0]:  # a line longer than the buffer
                bigger = np.empty(buf.shape[0] * 2, np.uint8)
                bigger[:have] = buf[:have]
                buf = bigger
            got = fh.readinto(memoryview(buf)[have:])
            eof = not got
            have += got
            pos = 0
            while True:
                status, pos, n_order, nt, ns, line_tokens, value = _scan_block(
                    buf, pos, have, eof, counts, order, n_order, line_tokens, max_sentence
                )
                n_tokens += nt
                n_sent += ns
                if status != _OUT_OF_RANGE:
                    break
                if value < 0 or value >= max_id:
                    return None
                size = min(int(max_id), 1 << int(value).bit_length())
                grown = np.zeros(size, np.int64)
                grown[: counts.shape[0]] = counts
                counts = grown
                grown_order = np.empty(size, np.int64)
                grown_order[:n_order] = order[:n_order]
                order = grown_order
            if status != _OK:
                return None
            rest = have - pos
            if rest:
                buf[:rest] = buf[pos:have]
            have = rest
            if eof:
                break
    if n_tokens == 0:
        return None
    ids = order[:n_order].copy()
    return CorpusVocabulary(ids, counts[ids], int(n_tokens), int(n_sent))


@njit(cache=True)
def _count_rows(block, min_length, max_len, counts, order, n_order):
    """Count the kept rows of a block of positions; ``(ok, n_order, n_rows, n_tokens)``.

    A row keeps its first ``n`` entries, ``n`` = its number of entries >= 0, and is skipped
    below ``min_length`` (as :class:`embeddings.word2vec.BlockCorpus` does). Not ok (the caller
    lets gensim scan) for a row longer than ``max_len`` or one padded other than on the right.
    """
    n_rows = 0
    n_tokens = 0
    for i in range(block.shape[0]):
        n = 0
        for j in range(block.shape[1]):
            if block[i, j] >= 0:
                n += 1
        if n < min_length:
            continue
        if n > max_len:
            return False, n_order, n_rows, n_tokens
        for j in range(n):
            p = block[i, j]
            if p < 0:
                return False, n_order, n_rows, n_tokens
            if counts[p] == 0:
                order[n_order] = p
                n_order += 1
            counts[p] += 1
        n_rows += 1
        n_tokens += n
    return True, n_order, n_rows, n_tokens


def count_position_blocks(
    blocks: Iterable[NDArray[np.integer]],
    node_ids: NDArray[np.int64],
    min_length: int,
    max_len: int = GENSIM_SENTENCE_TOKENS,
) -> CorpusVocabulary | None:
    """The vocabulary gensim's scan of a ``BlockCorpus`` (rows of positions into ``node_ids``)
    would build, counted block by block in compiled code; None (gensim then scans it and names
    any problem) for a block that is not a 2-D integer array of positions in ``[-1, n)``, a row
    longer than ``max_len`` (gensim would get it in overlapping pieces) or padded inside."""
    n_nodes = int(node_ids.shape[0])
    counts = np.zeros(n_nodes, np.int64)
    order = np.empty(n_nodes, np.int64)
    n_order = n_rows = n_tokens = 0
    for block in blocks:
        arr = np.asarray(block)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            return None
        if arr.size and (arr.max() >= n_nodes or arr.min() < -1):
            return None
        ok, n_order, r, t = _count_rows(arr, int(min_length), int(max_len), counts, order, n_order)
        if not ok:
            return None
        n_rows += r
        n_tokens += t
    if n_tokens == 0:
        return None
    pos = order[:n_order]
    return CorpusVocabulary(node_ids[pos].copy(), counts[pos], int(n_tokens), int(n_rows))
