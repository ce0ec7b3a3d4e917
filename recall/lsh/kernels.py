"""Compiled (numba) search kernel of the LSH indexes: multi-probe sequences, candidate scan, re-rank.

The bucket tables it reads are built by :mod:`recall.lsh.tables`; its parts sit beside it:
:mod:`recall.lsh.hash_kernels` (key combining, small projections; re-exported here),
:mod:`recall.lsh.score_kernels` (candidate scores, sign sketches; re-exported here) and
:mod:`recall.lsh.prefetch` (the CPU prefetch hint).

The search kernel probes, per query, the home bucket of every table and then further buckets in the
global order of the Lv et al. (2007) perturbation score (a small heap of perturbation sets,
:func:`_hpush` / :func:`_hpop`), gathers candidates once each (a generation-stamped visited array,
no clearing per query), counts per-table hits for the AND / vote strategies and re-ranks the
survivors by exact score with a size-k min-heap.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from embeddings.neighbours import heap_push, heap_sort
from recall.lsh.hash_kernels import combine_bits, combine_e2lsh, normalize_small, project_small
from recall.lsh.prefetch import prefetch
from recall.lsh.score_kernels import (
    METRIC_DOT,
    METRIC_L2,
    _popcount32,
    _score,
    _score8c,
    sketch_codes,
)
from recall.lsh.tables import _lookup

__all__ = [
    "search_batch",
    "combine_e2lsh",
    "combine_bits",
    "project_small",
    "sketch_codes",
    "normalize_small",
    "METRIC_DOT",
    "METRIC_L2",
]

KIND_E2LSH = 0
KIND_SIMHASH = 1
STRATEGY_OR = 0
STRATEGY_VOTE = 1  # AND is vote with min_votes == L
AHEAD = 8  # buckets prefetched ahead of the scan
PREFETCH = 16  # deferred random rows prefetched ahead of their scoring (recall.lsh.prefetch)


_DEBRUIJN_MUL = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _DEBRUIJN[int(((1 << _i) * 0x03F79D71B4CB0A89 & 0xFFFFFFFFFFFFFFFF) >> 58)] = _i


# ----------------------------------------------------------------------------- heaps
@nb.njit(cache=True, inline="always")
def _hpush(hs, ht, hm, size, s, t, msk):
    i = size
    hs[i] = s
    ht[i] = t
    hm[i] = msk
    while i > 0:
        p = (i - 1) >> 1
        if hs[p] <= hs[i]:
            break
        hs[p], hs[i] = hs[i], hs[p]
        ht[p], ht[i] = ht[i], ht[p]
        hm[p], hm[i] = hm[i], hm[p]
        i = p
    return size + 1


@nb.njit(cache=True, inline="always")
def _hpop(hs, ht, hm, size):
    s0 = hs[0]
    t0 = ht[0]
    m0 = hm[0]
    size -= 1
    hs[0] = hs[size]
    ht[0] = ht[size]
    hm[0] = hm[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hs[c + 1] < hs[c]:
            c += 1
        if hs[i] <= hs[c]:
            break
        hs[c], hs[i] = hs[i], hs[c]
        ht[c], ht[i] = ht[i], ht[c]
        hm[c], hm[i] = hm[i], hm[c]
        i = c
    return s0, t0, m0, size


# ----------------------------------------------------------------------------- search
@nb.njit(cache=True)
def search_batch(
    f,  # (nq, L*m) float32: (x.v+b)/w for E2LSH, x.v for SimHash
    kind,
    n_tables,
    m,
    mults,  # (L*m,) uint64 (E2LSH only)
    n_probes,  # total buckets probed over all tables (>= L means home buckets + extra)
    strategy,
    min_votes,
    perm,
    dense,
    slots,
    hoff,
    hbits,
    data,
    norms,
    ccodes,  # (C, n, d) int8 scalar-quantised data, copy t in table t's bucket order (copy 0 =
    # internal order = table 0's); (0, n, d) for exact scoring of every candidate
    scales,  # (d,) float32 per-dimension scales of the codes
    sk,  # (L - C, n) uint32 sketches of the rows in bucket order of tables C..L-1, or (0, n)
    sk_planes,  # (d, B) float32 hyperplanes of the sketches (B <= 32)
    sk_radius,  # a candidate of a non-contiguous table is scored only within this Hamming radius
    cbuf,  # (n,) int32 scratch: rows met in tables without a contiguous copy, scored afterwards
    first_contig,  # tables first_contig..C-1 scan their own copy (1 when copy 0 is not table 0's)
    refine,  # with codes: exact re-rank of the best ``refine`` by quantised score
    queries,
    metric,
    k,
    stamp,  # (n,) int32 persistent visited generations
    votes,  # (n,) int16 persistent per-query table hits
    seen,  # (n,) int32 scratch list of the rows met (vote strategy)
    bitmap,  # ((n + 63) // 64,) uint64 candidate bitmap, all zero between queries
    gen_box,  # (1,) int64 persistent generation counter
):
    """Search every query; returns rows (nq, k) int64 (-1 padded), scores (nq, k), n_candidates
    (nq,), 0 (was a prefetch checksum) and the candidates the sketch filter dropped unscored (nq,)."""
    nq = queries.shape[0]
    out_rows = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    n_cand = np.zeros(nq, dtype=np.int64)
    n_dropped = np.zeros(nq, dtype=np.int64)
    P = 2 * m if kind == KIND_E2LSH else m
    zs = np.empty((n_tables, P), dtype=np.float64)
    zj = np.empty((n_tables, P), dtype=np.int64)
    zd = np.empty((n_tables, P), dtype=np.int64)
    tmp = np.empty(P, dtype=np.float64)
    tmpj = np.empty(P, dtype=np.int64)
    tmpd = np.empty(P, dtype=np.int64)
    base_keys = np.empty(n_tables, dtype=np.uint64)
    extra = max(0, n_probes - n_tables)
    cap = n_tables + 2 * (4 * extra + 8)
    hs = np.empty(cap, dtype=np.float64)
    ht = np.empty(cap, dtype=np.int64)
    hm = np.empty(cap, dtype=np.uint64)
    ts = np.empty(k, dtype=np.float32)
    ti = np.empty(k, dtype=np.int64)
    quant = ccodes.shape[0] > 0
    pt = np.empty(max(1, n_probes), dtype=np.int64)
    pk = np.empty(max(1, n_probes), dtype=np.uint64)
    plo = np.empty(max(1, n_probes), dtype=np.int64)
    phi = np.empty(max(1, n_probes), dtype=np.int64)
    ncont = ccodes.shape[0]
    kr = max(k, refine) if quant else k
    rs = np.empty(kr, dtype=np.float32)
    ri = np.empty(kr, dtype=np.int64)
    qs = np.empty(queries.shape[1], dtype=np.float32)
    one = np.uint64(1)
    use_sk = quant and sk.shape[0] > 0 and strategy == STRATEGY_OR
    nskb = sk_planes.shape[1]
    skp = np.empty(max(1, nskb), dtype=np.float32)
    for qi in range(nq):
        gen = gen_box[0] + 1
        if gen >= 2147483600:
            stamp[:] = 0
            gen = 1
        gen_box[0] = gen
        g32 = np.int32(gen)
        q = queries[qi]
        qn = np.float32(0.0)
        for c in range(q.shape[0]):
            qn += q[c] * q[c]
            qs[c] = q[c] * scales[c]
        qsk = np.uint32(0)
        if use_sk:
            skp[:] = 0.0
            for c in range(q.shape[0]):
                for j in range(nskb):
                    skp[j] += q[c] * sk_planes[c, j]
            for j in range(nskb):
                if skp[j] > 0:
                    qsk |= np.uint32(1) << np.uint32(j)
        # ---- home keys and sorted perturbation lists per table
        for t in range(n_tables):
            acc = np.uint64(0)
            for j in range(m):
                v = f[qi, t * m + j]
                if kind == KIND_E2LSH:
                    h = np.floor(v)
                    acc += mults[t * m + j] * np.uint64(np.int64(h))
                    fr = np.float64(v) - np.float64(h)
                    tmp[2 * j] = fr * fr
                    tmpj[2 * j] = j
                    tmpd[2 * j] = -1
                    tmp[2 * j + 1] = (1.0 - fr) * (1.0 - fr)
                    tmpj[2 * j + 1] = j
                    tmpd[2 * j + 1] = 1
                else:
                    if v > 0:
                        acc |= one << np.uint64(j)
                    tmp[j] = np.float64(v) * np.float64(v)
                    tmpj[j] = j
                    tmpd[j] = 0
            base_keys[t] = acc
            if extra > 0:
                # insertion sort of the P perturbation scores (P <= 64, no allocation)
                for r in range(P):
                    sv = tmp[r]
                    jv = tmpj[r]
                    dv = tmpd[r]
                    u = r - 1
                    while u >= 0 and zs[t, u] > sv:
                        zs[t, u + 1] = zs[t, u]
                        zj[t, u + 1] = zj[t, u]
                        zd[t, u + 1] = zd[t, u]
                        u -= 1
                    zs[t, u + 1] = sv
                    zj[t, u + 1] = jv
                    zd[t, u + 1] = dv
        size = 0
        nseen = 0
        nbuf = 0
        nc = 0
        hsize = 0
        if extra > 0:
            for t in range(n_tables):
                hsize = _hpush(hs, ht, hm, hsize, zs[t, 0], t, one)
        probes_done = 0
        pops = 0
        t = 0
        while probes_done < n_probes:
            key = np.uint64(0)
            if probes_done < n_tables:
                t = probes_done
                key = base_keys[t]
            else:
                # next valid perturbation set in score order (Lv et al. shift / expand)
                found = False
                while hsize > 0 and pops < 4 * extra + 8:
                    s, t, msk, hsize = _hpop(hs, ht, hm, hsize)
                    pops += 1
                    r = P - 1
                    while ((msk >> np.uint64(r)) & one) == 0:
                        r -= 1
                    if r + 1 < P:
                        nxt = one << np.uint64(r + 1)
                        cur = one << np.uint64(r)
                        hsize = _hpush(
                            hs, ht, hm, hsize, s - zs[t, r] + zs[t, r + 1], t, (msk ^ cur) | nxt
                        )
                        hsize = _hpush(hs, ht, hm, hsize, s + zs[t, r + 1], t, msk | nxt)
                    # validity + key of the perturbed bucket
                    key = base_keys[t]
                    valid = True
                    used = np.uint64(0)
                    for b in range(r + 1):
                        if (msk >> np.uint64(b)) & one:
                            j = zj[t, b]
                            bit = one << np.uint64(j)
                            if kind == KIND_E2LSH:
                                if used & bit:
                                    valid = False
                                    break
                                used |= bit
                                if zd[t, b] > 0:
                                    key += mults[t * m + j]
                                else:
                                    key -= mults[t * m + j]
                            else:
                                key ^= bit
                    if valid:
                        found = True
                        break
                if not found:
                    break
            pt[probes_done] = t
            pk[probes_done] = key
            probes_done += 1
        # ---- bucket ranges of every probe (independent loads: their misses overlap)
        for i in range(probes_done):
            a0, a1 = _lookup(pk[i], pt[i], dense, slots, hoff, hbits)
            plo[i] = a0
            phi[i] = a1
        # ---- scan the buckets; prefetch the heads of the buckets AHEAD probes later
        for i in range(probes_done):
            j2 = i + AHEAD
            if j2 < probes_done and phi[j2] > plo[j2]:
                t2 = pt[j2]
                prefetch(perm[t2], plo[j2])
                if quant and first_contig <= t2 < ncont:
                    prefetch(ccodes[t2, plo[j2]], 0)
                elif use_sk:
                    prefetch(sk[t2 - ncont], plo[j2])
            t = pt[i]
            lo = plo[i]
            hi = phi[i]
            if strategy == STRATEGY_VOTE:
                for p in range(lo, hi):
                    row = perm[t, p]
                    if stamp[row] != g32:
                        stamp[row] = g32
                        votes[row] = 1
                        seen[nseen] = row
                        nseen += 1
                    else:
                        votes[row] += 1
            elif quant and first_contig <= t < ncont:
                # contiguous: table t's own int8 copy in bucket order, streamed
                for p in range(lo, hi):
                    row = perm[t, p]
                    w = row >> 6
                    bit = one << np.uint64(row & 63)
                    if bitmap[w] & bit:
                        continue
                    bitmap[w] |= bit
                    nc += 1
                    size = heap_push(
                        rs, ri, size, kr, _score8c(ccodes, t, p, norms, row, qs, qn, metric), row
                    )
            elif use_sk:
                # sketch filter: the table's sketches stream in bucket order; only candidates
                # within sk_radius bits of the query's sketch are scored (random int8 access)
                ts_ = t - ncont
                for p in range(lo, hi):
                    row = perm[t, p]
                    w = row >> 6
                    bit = one << np.uint64(row & 63)
                    if bitmap[w] & bit:
                        continue
                    bitmap[w] |= bit
                    nc += 1
                    if _popcount32(sk[ts_, p] ^ qsk) > sk_radius:
                        n_dropped[qi] += 1
                        continue
                    cbuf[nbuf] = row
                    nbuf += 1
            else:
                for p in range(lo, hi):
                    row = perm[t, p]
                    w = row >> 6
                    bit = one << np.uint64(row & 63)
                    if bitmap[w] & bit:
                        continue
                    bitmap[w] |= bit
                    nc += 1
                    if quant:
                        cbuf[nbuf] = row
                        nbuf += 1
                    else:
                        size = heap_push(
                            ts, ti, size, k, _score(data, norms, row, q, qn, metric), row
                        )
        # ---- deferred int8 scoring of the rows met in tables without a contiguous copy: random
        # rows, prefetched PREFETCH ahead (both ends of a row) so that their misses overlap
        last = ccodes.shape[2] - 1 if quant else 0
        for a in range(nbuf):
            if a + PREFETCH < nbuf:
                prefetch(ccodes[0, cbuf[a + PREFETCH]], 0)
                prefetch(ccodes[0, cbuf[a + PREFETCH]], last)
            row = cbuf[a]
            size = heap_push(
                rs, ri, size, kr, _score8c(ccodes, 0, row, norms, row, qs, qn, metric), row
            )
        if strategy == STRATEGY_VOTE:
            for a in range(nseen):
                row = seen[a]
                if votes[row] >= min_votes:
                    bitmap[row >> 6] |= one << np.uint64(row & 63)
            # score the survivors in ascending row order (memory order)
            for w in range(bitmap.shape[0]):
                word = bitmap[w]
                if word == 0:
                    continue
                bitmap[w] = 0
                while word != 0:
                    low = word & (~word + one)
                    row = (w << 6) + _DEBRUIJN[np.int64((low * _DEBRUIJN_MUL) >> np.uint64(58))]
                    word ^= low
                    nc += 1
                    if quant:
                        size = heap_push(
                            rs,
                            ri,
                            size,
                            kr,
                            _score8c(ccodes, 0, row, norms, row, qs, qn, metric),
                            row,
                        )
                    else:
                        size = heap_push(
                            ts, ti, size, k, _score(data, norms, row, q, qn, metric), row
                        )
        else:
            bitmap[:] = 0
        n_cand[qi] = nc
        if quant:
            nr = size
            size = 0
            for a in range(nr):  # the float32 rows of the exact re-rank: prefetch them all first
                for c in range(0, data.shape[1], 16):
                    prefetch(data[ri[a]], c)
            for a in range(nr):
                row = ri[a]
                size = heap_push(ts, ti, size, k, _score(data, norms, row, q, qn, metric), row)
        heap_sort(ts, ti, size)  # best first
        for a in range(size):
            out_scores[qi, a] = ts[a]
            out_rows[qi, a] = ti[a]
    return out_rows, out_scores, n_cand, 0, n_dropped
