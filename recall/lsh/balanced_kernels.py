"""Compiled search kernel of :class:`recall.lsh.balanced.BalancedLSHIndex`.

One call per batch: normalisation (cosine), hashing down every table's split tree
(cross-polytope digits, :mod:`recall.lsh.crosspolytope`), query-adaptive multi-probe over all
tables through one priority queue, candidate de-duplication, int8 scoring and exact re-rank (see
the index's module docstring for the method).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from embeddings.neighbours import heap_push, heap_sort
from recall.lsh.prefetch import prefetch

__all__ = ["METRIC_DOT", "METRIC_L2"]

METRIC_DOT = 0
METRIC_L2 = 1
SIB = 1 << 40  # heap entries >= SIB are cursors (expansion slot << 5 | position) over children


@nb.njit(cache=True, inline="always")
def node_cursor(slot, pos):
    return SIB + (np.int64(slot) << 5) + pos


# ----------------------------------------------------------------------------- kernels
@nb.njit(cache=True, inline="always")
def _hpush(hs, hv, size, s, v):
    i = size
    hs[i] = s
    hv[i] = v
    while i > 0:
        p = (i - 1) >> 1
        if hs[p] <= hs[i]:
            break
        hs[p], hs[i] = hs[i], hs[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@nb.njit(cache=True, inline="always")
def _hpop(hs, hv, size):
    s = hs[0]
    v = hv[0]
    size -= 1
    hs[0] = hs[size]
    hv[0] = hv[size]
    p = 0
    while True:
        c = 2 * p + 1
        if c >= size:
            break
        if c + 1 < size and hs[c + 1] < hs[c]:
            c += 1
        if hs[p] <= hs[c]:
            break
        hs[p], hs[c] = hs[c], hs[p]
        hv[p], hv[c] = hv[c], hv[p]
        p = c
    return s, v, size


@nb.njit(cache=True, fastmath=True)
def _search(
    queries,  # (nq, d) float32 queries (raw: normalised here for cosine)
    normalize,  # bool: unit-normalise the queries (cosine)
    ip_mode,  # bool: hash the unit direction of the query (ip), else the query itself
    rank,  # (n,) int32 insertion position of each internal row
    ids,  # (n,) int64 ids in insertion order
    projT,  # (R*L*depth, D', dh) float32 transposed projections; function (r*L + t)*depth + level
    depth,
    roots,  # (R, L) int64 root node of each table of each norm range
    range_scale,  # (R,) float32 the query hash input is range_scale[r] * hq in range r
    range_bound,  # (R,) float32 largest item norm of range r (ip) or +inf
    nodes,  # (n_nodes, 4) int32 [first child (-1 = leaf), inner row (-1 = leaf), lo, hi]
    inner_f,  # (n_inner,) int32 function splitting each inner node
    node_pm,  # (n_inner, D') float32 P^T mean of each inner node
    postings,  # int32 rows
    query_probes,
    max_candidates,
    codes,  # (n, d) int8
    scales,  # (d,)
    data,  # (n, d) float32
    norms,  # (n,) squared norms
    metric,
    k,
    refine,
    stamp,  # (n,) int32
    gen_box,  # (1,) int64
):
    nq, d = queries.shape
    n_ranges, n_tables = roots.shape
    F, D, dh = projT.shape
    out_rows = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    n_cand = np.zeros(nq, dtype=np.int64)
    n_leaves = np.zeros(nq, dtype=np.int64)
    pq = np.empty((F, D), dtype=np.float32)
    pq_ok = np.zeros(F, dtype=np.bool_)
    max_pops = 4 * query_probes + n_tables * (depth + 1) + 16
    tk = np.empty(k, dtype=np.float32)  # k best quantised scores: the early-stop threshold
    tki = np.empty(k, dtype=np.int64)
    cap = n_tables + 2 * max_pops + 4
    hs = np.empty(cap, dtype=np.float32)
    hv = np.empty(cap, dtype=np.int64)
    ex_pen = np.empty((max_pops, 2 * D), dtype=np.float32)  # sorted children of expansions
    ex_node = np.empty((max_pops, 2 * D), dtype=np.int32)
    ex_n = np.empty(max_pops, dtype=np.int64)
    kr = max(k, refine)
    rs = np.empty(kr, dtype=np.float32)
    ri = np.empty(kr, dtype=np.int64)
    ts = np.empty(k, dtype=np.float32)
    ti = np.empty(k, dtype=np.int64)
    qs = np.empty(d, dtype=np.float32)
    qint = np.empty(d, dtype=np.int32)  # the scaled query quantised to int16 range
    ya = np.empty(D, dtype=np.float32)
    qv = np.empty(d, dtype=np.float32)
    hb = np.empty(d, dtype=np.float32)
    for qi in range(nq):
        gen = gen_box[0] + 1
        if gen >= 2147483600:
            stamp[:] = 0
            gen = 1
        gen_box[0] = gen
        g32 = np.int32(gen)
        qn = np.float32(0.0)
        for c in range(d):
            qv[c] = queries[qi, c]
            qn += qv[c] * qv[c]
        if normalize:
            inv = np.float32(1.0) / max(np.float32(np.sqrt(qn)), np.float32(1e-12))
            qn = np.float32(0.0)
            for c in range(d):
                qv[c] *= inv
                qn += qv[c] * qv[c]
        hinv = np.float32(1.0)
        if ip_mode:
            hinv = np.float32(1.0) / max(np.float32(np.sqrt(qn)), np.float32(1e-12))
        for c in range(d):
            qs[c] = qv[c] * scales[c]
        qmax = np.float32(0.0)
        for c in range(d):
            qmax = max(qmax, abs(qs[c]))
        qstep = qmax / np.float32(32767.0) if qmax > 0 else np.float32(1.0)
        for c in range(d):
            qint[c] = np.int32(np.rint(qs[c] / qstep))
            hb[c] = qv[c] * hinv
        for f in range(F):
            pq_ok[f] = False
        qnorm = np.float32(np.sqrt(qn))
        nc = 0
        leaves = 0
        size_r = 0
        size_k = 0
        for rg in range(n_ranges):
            if size_k == k and qnorm * range_bound[rg] <= tk[0]:
                break  # Cauchy-Schwarz: no item of this range (nor the next) enters the top k
            size = 0
            for t in range(n_tables):
                size = _hpush(hs, hv, size, np.float32(0.0), roots[rg, t])
            leaves_r = 0
            pops = 0
            n_ex = 0
            while size > 0 and leaves_r < query_probes and pops < max_pops:
                if max_candidates > 0 and nc >= max_candidates:
                    break
                pen, node, size = _hpop(hs, hv, size)
                pops += 1
                if node >= SIB:
                    # a cursor over the sorted children of an expanded node: take the next
                    # child, push the cursor on to the one after it
                    c = node - SIB
                    slot = c >> 5
                    pos = c & 31
                    node = np.int64(ex_node[slot, pos])
                    if pos + 1 < ex_n[slot]:
                        size = _hpush(
                            hs, hv, size, ex_pen[slot, pos + 1], node_cursor(slot, pos + 1)
                        )
                # descend from ``node`` (penalty ``pen``) along best children to a leaf
                while True:
                    cb = nodes[node, 0]
                    if cb < 0:
                        break
                    if n_ex >= max_pops:
                        break
                    r = nodes[node, 1]
                    f = inner_f[r]
                    if not pq_ok[f]:
                        sc = range_scale[rg]
                        for j in range(D):
                            acc = np.float32(0.0)
                            for c in range(d):
                                acc += hb[c] * projT[f, j, c]
                            pq[f, j] = acc * sc
                        pq_ok[f] = True
                    best = np.float32(0.0)
                    for j in range(D):
                        a = pq[f, j] - node_pm[r, j]
                        ya[j] = a
                        if abs(a) > best:
                            best = abs(a)
                    # children sorted by penalty (insertion sort, <= 2 D' entries)
                    slot = n_ex
                    n_ex += 1
                    cnt = 0
                    for j in range(D):
                        a = ya[j]
                        for side in range(2):
                            ch = cb + 2 * j + side
                            if nodes[ch, 3] == nodes[ch, 2] and nodes[ch, 0] < 0:
                                continue  # an empty leaf
                            near = (side == 1) == (a < 0)
                            g = best - abs(a) if near else best + abs(a)
                            pv = pen + g * g
                            u = cnt - 1
                            while u >= 0 and ex_pen[slot, u] > pv:
                                ex_pen[slot, u + 1] = ex_pen[slot, u]
                                ex_node[slot, u + 1] = ex_node[slot, u]
                                u -= 1
                            ex_pen[slot, u + 1] = pv
                            ex_node[slot, u + 1] = ch
                            cnt += 1
                    ex_n[slot] = cnt
                    if cnt == 0:
                        node = -1
                        break
                    if cnt > 1:
                        size = _hpush(hs, hv, size, ex_pen[slot, 1], node_cursor(slot, 1))
                    node = np.int64(ex_node[slot, 0])
                    pen = ex_pen[slot, 0]
                if node < 0 or nodes[node, 0] >= 0:
                    continue
                leaves += 1
                leaves_r += 1
                # issue the leaf's loads first so that their cache misses overlap (both ends
                # of an int8 row: a row need not start on a cache line)
                for pp in range(nodes[node, 2], nodes[node, 3]):
                    row = postings[pp]
                    prefetch(codes[row], 0)
                    prefetch(codes[row], d - 1)
                    prefetch(stamp, row)
                for pp in range(nodes[node, 2], nodes[node, 3]):
                    row = postings[pp]
                    if stamp[row] == g32:
                        continue
                    stamp[row] = g32
                    nc += 1
                    iacc = np.int32(0)
                    for c in range(d):
                        iacc += np.int32(codes[row, c]) * qint[c]
                    acc = np.float32(iacc) * qstep
                    if metric == METRIC_L2:
                        acc = np.float32(2.0) * acc - norms[row]
                    size_r = heap_push(rs, ri, size_r, kr, acc, row)
                    size_k = heap_push(tk, tki, size_k, k, acc, row)
        n_cand[qi] = nc
        n_leaves[qi] = leaves
        # the float32 rows of the exact re-rank are random rows: prefetch them all first
        for a in range(size_r):
            for c in range(0, d, 16):
                prefetch(data[ri[a]], c)
            prefetch(data[ri[a]], d - 1)
        size = 0
        for a in range(size_r):
            row = ri[a]
            acc = np.float32(0.0)
            for c in range(d):
                acc += data[row, c] * qv[c]
            if metric == METRIC_L2:
                acc = np.float32(2.0) * acc - norms[row] - qn
            size = heap_push(ts, ti, size, k, acc, row)
        heap_sort(ts, ti, size)  # best first
        for a in range(size):
            out_scores[qi, a] = ts[a]
            out_rows[qi, a] = ids[rank[ti[a]]]
    return out_rows, out_scores, n_cand, n_leaves
