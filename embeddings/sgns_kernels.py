"""Compiled (numba) kernels of the skip-gram negative-sampling trainer (:mod:`embeddings.sgns`).

One call of :func:`train_chunk` trains a contiguous range of sentences of a block of token rows,
in word2vec's order (each kept position ``i`` of a sentence is a centre; every position ``j`` in
its, possibly reduced, window gives the pair: input row ``syn0[token j]``, output row
``syn1[token i]`` plus ``negative`` noise rows of ``syn1``). Several calls run at once on the same
two matrices from different threads without locks (hogwild, as word2vec and gensim do): the
kernels are ``nogil``.

Where the time goes at a large vocabulary: every pair reads ``negative`` random rows of ``syn1``
(and the centre's row, and a context row of ``syn0``), each ``4 * dim`` bytes, almost all cache
misses. So the kernel works a segment of pairs at a time: it first lists the pairs of up to
:data:`SEGMENT` centres and draws all their noise words (O(1) each: Walker's alias table, one
random 64-bit word per draw), then trains the pairs in order while asking the CPU to fetch the rows
of the pair ``distance`` places ahead (:mod:`embeddings.prefetch`), so that the misses of later
pairs overlap with the arithmetic of the current one. A prefetch is a hint: same numbers with
``distance=0``.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from embeddings.prefetch import prefetch
from embeddings.word2vec_vocab import _is_space

__all__ = [
    "MAX_EXP",
    "SEGMENT",
    "TABLE_SIZE",
    "alias_table",
    "count_position_rows",
    "draw_noise",
    "flatten_position_rows",
    "parse_rows",
    "sigmoid_tables",
    "subsample_mask",
    "train_chunk",
]

#: word2vec's sigmoid table: |x| >= MAX_EXP is skipped (gensim) and [-MAX_EXP, MAX_EXP) tabulated
MAX_EXP = 6.0
TABLE_SIZE = 1000
#: centres whose pairs are listed (and their noise drawn) before training them
SEGMENT = 64
_U32 = np.uint64(0xFFFFFFFF)


def sigmoid_tables() -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """word2vec's tables at ``x_i = (2 i / TABLE_SIZE - 1) * MAX_EXP``: ``sigmoid(x_i)``,
    ``log sigmoid(x_i)`` and ``log sigmoid(-x_i)`` (float32, (TABLE_SIZE,))."""
    x = (np.arange(TABLE_SIZE, dtype=np.float64) / TABLE_SIZE * 2.0 - 1.0) * MAX_EXP
    sig = 1.0 / (1.0 + np.exp(-x))
    log_pos = -np.logaddexp(0.0, -x)
    log_neg = -np.logaddexp(0.0, x)
    return sig.astype(np.float32), log_pos.astype(np.float32), log_neg.astype(np.float32)


@njit(cache=True, inline="always")
def _next(state: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - compiled
    """xorshift64*: (new state, 64 random bits). ``state`` must not be 0."""
    x = state
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    return x, x * np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True, inline="always")
def _draw(alias: NDArray[np.uint32], r: np.uint64) -> np.int64:  # pragma: no cover - compiled
    """One draw from an alias table: the high 32 bits of ``r`` pick a column (multiply-shift),
    the low 32 bits are the coin against its threshold."""
    n = np.uint64(alias.shape[0])
    i = np.int64(((r >> np.uint64(32)) * n) >> np.uint64(32))
    if (r & _U32) < np.uint64(alias[i, 0]):
        return i
    return np.int64(alias[i, 1])


@njit(cache=True)
def alias_table(prob: NDArray[np.float64]) -> NDArray[np.uint32]:  # pragma: no cover - compiled
    """Walker's alias table (Vose's construction) of a distribution over ``n`` outcomes.

    Returns uint32 ``(n, 2)``: column ``i`` keeps outcome ``i`` when a uniform 32-bit coin is
    below ``table[i, 0]`` (its probability times ``n``, in units of ``2**-32``) and gives
    ``table[i, 1]`` otherwise. Both numbers of a column share a cache line: one miss per draw.
    """
    n = prob.shape[0]
    q = prob / prob.sum() * n
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if q[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    thresh = np.ones(n, np.float64)
    alias = np.arange(n)
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        big = large[nl - 1]
        thresh[s] = q[s]
        alias[s] = big
        q[big] = (q[big] + q[s]) - 1.0
        if q[big] < 1.0:
            nl -= 1
            small[ns] = big
            ns += 1
    # what is left holds (up to rounding) probability 1: thresh stays 1, alias itself
    out = np.empty((n, 2), np.uint32)
    for i in range(n):
        t = thresh[i] * 4294967296.0
        out[i, 0] = np.uint32(4294967295) if t >= 4294967295.0 else np.uint32(t)
        out[i, 1] = np.uint32(alias[i]) if thresh[i] < 1.0 else np.uint32(i)
    return out


@njit(cache=True)
def draw_noise(
    alias: NDArray[np.uint32], n: int, seed: int
) -> NDArray[np.int64]:  # pragma: no cover
    """``n`` draws from an alias table with the kernel's generator (for tests and checks)."""
    state = np.uint64(seed) | np.uint64(1)
    out = np.empty(n, np.int64)
    for k in range(n):
        state, r = _next(state)
        out[k] = _draw(alias, r)
    return out


@njit(cache=True)
def subsample_mask(
    tokens: NDArray[np.int32], keep: NDArray[np.uint32], seed: int
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Which tokens the kernel's sub-sampling rule keeps (``keep[w] >= 32 random bits``: kept
    with probability ``keep[w] / (2**32 - 1)``, gensim's ``sample_int`` rule), with the kernel's
    generator (for tests and checks)."""
    state = np.uint64(seed) | np.uint64(1)
    out = np.empty(tokens.shape[0], np.bool_)
    for t in range(tokens.shape[0]):
        state, r = _next(state)
        out[t] = np.uint64(keep[tokens[t]]) >= (r >> np.uint64(32))
    return out


@njit(cache=True, inline="always")
def _prefetch_row(mat, row):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Hint every 64-byte line of ``mat[row]`` (float32 rows: 16 values a line)."""
    v = mat[row]
    for k in range(0, mat.shape[1], 16):
        prefetch(v, k)


@njit(cache=True, fastmath=True, inline="always")
def _train_pair(syn0, syn1, t, c, negs, p, negative, lr, work, sig, log_pos, log_neg):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One SGD step of the pair (input row ``c`` of ``syn0``, output row ``t`` of ``syn1``) and
    the noise rows ``negs[p]`` (a noise word equal to ``t`` is skipped, as in word2vec); returns
    the pair's loss ``-log sigmoid(u.v_t) - sum log sigmoid(-u.v_n)`` before the step."""
    d = syn0.shape[1]
    l1 = syn0[c]
    for k in range(d):
        work[k] = 0.0
    loss = 0.0
    scale = TABLE_SIZE / MAX_EXP / 2.0
    for n in range(negative + 1):
        if n == 0:
            tgt = t
            label = np.float32(1.0)
        else:
            tgt = negs[p, n - 1]
            if tgt == t:
                continue
            label = np.float32(0.0)
        row = syn1[tgt]
        f = np.float32(0.0)
        for k in range(d):
            f += l1[k] * row[k]
        if f <= -MAX_EXP or f >= MAX_EXP:  # gensim: no step out of the table's range
            if n == 0 and f <= -MAX_EXP:
                loss -= f
            elif n > 0 and f >= MAX_EXP:
                loss += f
            continue
        idx = int((f + MAX_EXP) * scale)
        g = np.float32((label - sig[idx]) * lr)
        loss -= log_pos[idx] if n == 0 else log_neg[idx]
        for k in range(d):
            work[k] += g * row[k]
            row[k] += g * l1[k]
    for k in range(d):
        l1[k] += work[k]
    return loss


@njit(cache=True, fastmath=True, nogil=True)
def train_chunk(
    tokens,
    offsets,
    s_lo,
    s_hi,
    syn0,
    syn1,
    alias,
    keep,
    do_sample,
    window,
    shrink,
    negative,
    alpha,
    min_alpha,
    done0,
    total,
    seed,
    distance,
    sig,
    log_pos,
    log_neg,
):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Train sentences ``s_lo .. s_hi - 1`` of a block (word2vec skip-gram, negative sampling).

    Args:
        tokens: int32 (n_tokens,) rows of the vocabulary; offsets: int64 (n_sentences + 1,).
        syn0, syn1: float32 (n_words, dim) input and output vectors, updated in place.
        alias: uint32 (n_words, 2) noise table (:func:`alias_table`).
        keep: uint32 (n_words,) sub-sampling thresholds; ``do_sample`` False keeps every token.
        window, shrink: context radius; draw the radius uniformly in 1..window per centre.
        negative: noise words per pair.
        alpha, min_alpha, done0, total: the learning rate of a sentence is
            ``max(min_alpha, alpha - (alpha - min_alpha) * done / total)``, ``done`` = tokens of
            all sentences before it (``done0`` before ``s_lo``), sub-sampled ones included.
        seed: the generator's seed (nonzero after ``| 1``).
        distance: prefetch the rows of the pair this many places ahead (0: no hints).
        sig, log_pos, log_neg: :func:`sigmoid_tables`.

    Returns:
        (loss summed over the pairs, pairs trained, tokens kept after sub-sampling).
    """
    d = syn0.shape[1]
    state = np.uint64(seed) | np.uint64(1)
    max_len = 0
    for s in range(s_lo, s_hi):
        max_len = max(max_len, offsets[s + 1] - offsets[s])
    buf = np.empty(max(max_len, 1), np.int32)
    cap = SEGMENT * 2 * window
    pt = np.empty(cap, np.int32)
    pc = np.empty(cap, np.int32)
    negs = np.empty((cap, max(negative, 1)), np.int32)
    work = np.empty(d, np.float32)
    loss = 0.0
    n_pairs = 0
    n_kept = 0
    done = done0
    uwin = np.uint64(window)
    for s in range(s_lo, s_hi):
        a = offsets[s]
        b = offsets[s + 1]
        lr = alpha - (alpha - min_alpha) * (done / total)
        if lr < min_alpha:
            lr = min_alpha
        done += b - a
        n = 0
        for t in range(a, b):
            w = tokens[t]
            if do_sample:
                state, r = _next(state)
                if np.uint64(keep[w]) < (r >> np.uint64(32)):
                    continue
            buf[n] = w
            n += 1
        n_kept += n
        if n < 2:
            continue
        for c0 in range(0, n, SEGMENT):
            c1 = min(n, c0 + SEGMENT)
            npair = 0
            for i in range(c0, c1):
                red = 0
                if shrink:
                    state, r = _next(state)
                    red = np.int64(((r >> np.uint64(32)) * uwin) >> np.uint64(32))
                lo = max(0, i - window + red)
                hi = min(n, i + window + 1 - red)
                for j in range(lo, hi):
                    if j != i:
                        pt[npair] = buf[i]
                        pc[npair] = buf[j]
                        npair += 1
            for p in range(npair):
                for k in range(negative):
                    state, r = _next(state)
                    negs[p, k] = _draw(alias, r)
            for p in range(npair):
                if distance > 0 and p + distance < npair:
                    q = p + distance
                    _prefetch_row(syn1, pt[q])
                    _prefetch_row(syn0, pc[q])
                    for k in range(negative):
                        _prefetch_row(syn1, negs[q, k])
                loss += _train_pair(
                    syn0, syn1, pt[p], pc[p], negs, p, negative, lr, work, sig, log_pos, log_neg
                )
            n_pairs += npair
    return loss, n_pairs, n_kept


@njit(cache=True, nogil=True)
def parse_rows(buf, n, final, row_of_id, tokens, offsets):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The complete lines of ``buf[:n]`` (all of it when ``final``) as vocabulary rows.

    The file was checked by :func:`embeddings.word2vec_vocab.scan_corpus_file` (canonical ids in
    ``[0, 2**24)`` separated by ASCII whitespace). Each line is a sentence; an id whose
    ``row_of_id`` is -1 (below ``min_count``) is dropped, and a line left empty yields nothing.
    Fills ``tokens`` (int32) and ``offsets`` (int64, ``offsets[0] = 0``); returns
    ``(consumed bytes, n_tokens, n_sentences)`` (consumed 0: no complete line, grow the buffer).
    """
    end = n
    if not final:
        end = 0
        for i in range(n - 1, -1, -1):
            if buf[i] == 10:
                end = i + 1
                break
    n_tok = 0
    n_sent = 0
    offsets[0] = 0
    n_ids = row_of_id.shape[0]
    i = 0
    while i < end:
        b = buf[i]
        if b == 10:
            if n_tok > offsets[n_sent]:
                n_sent += 1
                offsets[n_sent] = n_tok
            i += 1
            continue
        if _is_space(b):
            i += 1
            continue
        v = 0
        while i < end and 48 <= buf[i] <= 57:
            v = v * 10 + (buf[i] - 48)
            i += 1
        if i < end and not _is_space(buf[i]):  # not what the scan accepted: skip the byte
            i += 1
            continue
        r = row_of_id[v] if v < n_ids else -1
        if r >= 0:
            tokens[n_tok] = r
            n_tok += 1
    if final and n_tok > offsets[n_sent]:
        n_sent += 1
        offsets[n_sent] = n_tok
    return end, n_tok, n_sent


@njit(cache=True, nogil=True)
def count_position_rows(block, min_length, counts):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Add the positions of the rows of ``block`` (2-D, -1 padded on the right) with at least
    ``min_length`` entries to ``counts``; returns (rows kept, tokens kept)."""
    n_rows = 0
    n_tok = 0
    for i in range(block.shape[0]):
        m = 0
        for j in range(block.shape[1]):
            if block[i, j] >= 0:
                m += 1
        if m < min_length:
            continue
        for j in range(block.shape[1]):
            p = block[i, j]
            if p >= 0:
                counts[p] += 1
        n_rows += 1
        n_tok += m
    return n_rows, n_tok


@njit(cache=True, nogil=True)
def flatten_position_rows(block, min_length, row_of_pos, tokens, offsets, n_tok, n_sent):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Append the rows of ``block`` with at least ``min_length`` entries, mapped through
    ``row_of_pos`` (-1: dropped), to ``tokens`` / ``offsets`` from ``n_tok`` / ``n_sent`` on;
    returns the new ``(n_tok, n_sent)``."""
    for i in range(block.shape[0]):
        m = 0
        for j in range(block.shape[1]):
            if block[i, j] >= 0:
                m += 1
        if m < min_length:
            continue
        start = n_tok
        for j in range(block.shape[1]):
            p = block[i, j]
            if p >= 0:
                r = row_of_pos[p]
                if r >= 0:
                    tokens[n_tok] = r
                    n_tok += 1
        if n_tok > start:
            n_sent += 1
            offsets[n_sent] = n_tok
    return n_tok, n_sent
