"""Compiled (numba) kernels of the random walks: SplitMix64 streams, Vose alias tables, walkers.

Transition rules (``w(v, x)`` is the weight of the directed edge v->x):

* first order (DeepWalk, and node2vec's first step): ``P(x | v) = w(v, x) / sum_y w(v, y)``, drawn
  in O(1) from per-node alias tables (Vose), packed as one 16-byte record per edge.
* second order (node2vec), after the step t->v: the unnormalised probability of x is ``w(v, x)/p``
  if ``x == t``, ``w(v, x)`` if t->x is an edge (x is an out-neighbour of t; found by a search in
  t's sorted CSR row) and ``w(v, x)/q`` otherwise.

Two second-order samplers give the same distribution:

* ``"otf"`` (on the fly, O(E) memory: 16 bytes per edge, 32 when p < min(1, q)): rejection
  sampling against v's first-order alias table with envelope ``max(1, 1/q) * w(v, x)``. When
  ``1/p`` exceeds that, the excess mass of returning to t is a separate piece of the envelope
  drawn directly (KnightKing's outlier folding), so a small p does not inflate the rejection rate;
  the return probability it needs is carried along the walk (precomputed per edge), not searched.
* ``"precomputed"``: one alias table per directed edge t->v over v's out-neighbours, 8 bytes per
  entry, ``sum over nodes of in-degree x out-degree`` entries; O(1) per step. ``"auto"`` uses it
  when it fits in ``PRECOMPUTED_MAX_BYTES`` and its build is not much larger than the walking.

Speed: the walks of a chunk advance in lockstep (``LOCKSTEP`` at a time, one step each), so the
CPU overlaps their independent cache misses; this is what makes the walker several times faster
than one-walk-after-the-other code on graphs larger than the cache.

"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["CHUNK", "LOCKSTEP"]

CHUNK = 256
"""Walks per random stream; fixed so results do not depend on the number of workers."""

LOCKSTEP = 16
"""Walks of a chunk advanced together, step by step, so that their cache misses overlap."""

# ---------------------------------------------------------------------------------------------
# random numbers: SplitMix64 (Steele, Lea & Flood 2014), one uint64 state per chunk of walks
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_LOW32 = np.uint64(0xFFFFFFFF)
_INV32 = 1.0 / 4294967296.0
_INV53 = 1.0 / 9007199254740992.0
_ALWAYS = np.uint32(0xFFFFFFFF)


@njit(inline="always", cache=True)
def _next(state):
    state = state + _GAMMA
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(inline="always", cache=True)
def _column(r, s, d):
    """Alias-table row ``s + k`` chosen by the high 32 bits of ``r`` (multiply-shift, k < d)."""
    return s + np.int64(((r >> _S32) * np.uint64(d)) >> _S32)


@njit(inline="always", cache=True)
def _draw(r, s, d, tab):
    """Out-neighbour of the node whose row starts at ``s`` (``d`` edges), from its alias table.

    ``tab[e] = (threshold, target, alias target, alias local index)``: column ``e`` keeps its own
    target when the low 32 bits of ``r`` are <= threshold, else moves to its alias.
    Returns ``(target, e, 1)`` or ``(alias target, e, 2)``; the last value indexes ``ret[e]``.
    """
    e = _column(r, s, d)
    if (r & _LOW32) <= tab[e, 0]:
        return np.int64(tab[e, 1]), e, 0
    return np.int64(tab[e, 2]), e, 1


@njit(inline="always", cache=True)
def _uniform(r):
    """Float in [0, 1) from the top 53 bits of ``r``."""
    return np.float64(r >> _S11) * _INV53


@njit(inline="always", cache=True)
def _find(indices, lo, hi, x):
    """Position of ``x`` in the sorted ``indices[lo:hi]``, or -1.

    Branch-free lower bound: the loop count depends only on the row length, so the CPU does not
    mispredict and can overlap the searches of the walks that advance in lockstep.
    """
    n = hi - lo
    if n <= 0:
        return -1
    while n > 1:
        half = n >> 1
        lo = lo + half if indices[lo + half] <= x else lo
        n -= half
    return lo if indices[lo] == x else -1


# ---------------------------------------------------------------------------------------------
# alias tables
@njit(inline="always", cache=True)
def _vose(scaled, d, tab, base, col, small, large):
    """Vose's alias method on ``scaled[:d]`` (mean 1).

    Writes ``tab[base + k, 0]`` = acceptance threshold of column k as a uint32 (a column is kept
    when 32 random bits are <= it) and ``tab[base + k, col]`` = its alias (local index).
    """
    ns = 0
    nl = 0
    for k in range(d):
        if scaled[k] < 1.0:
            small[ns] = k
            ns += 1
        else:
            large[nl] = k
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        sm = small[ns]
        nl -= 1
        lg = large[nl]
        tab[base + sm, 0] = np.uint32(np.uint64(scaled[sm] * 4294967296.0))
        tab[base + sm, col] = lg
        scaled[lg] = (scaled[lg] + scaled[sm]) - 1.0
        if scaled[lg] < 1.0:
            small[ns] = lg
            ns += 1
        else:
            large[nl] = lg
            nl += 1
    while nl > 0:
        nl -= 1
        lg = large[nl]
        tab[base + lg, 0] = _ALWAYS
        tab[base + lg, col] = lg
    while ns > 0:  # only round-off leftovers
        ns -= 1
        sm = small[ns]
        tab[base + sm, 0] = _ALWAYS
        tab[base + sm, col] = sm


@njit(parallel=True, cache=True)
def _build_first_order(indptr, indices, weights, tab, max_deg):
    """Fill ``tab`` (n_edges, 4) uint32: threshold, target, alias target, alias local index."""
    n = indptr.shape[0] - 1
    n_blocks = (n + 1023) // 1024
    for b in prange(n_blocks):
        scaled = np.empty(max_deg, np.float64)
        small = np.empty(max_deg, np.int32)
        large = np.empty(max_deg, np.int32)
        for v in range(b * 1024, min(n, (b + 1) * 1024)):
            s = indptr[v]
            d = indptr[v + 1] - s
            if d == 0:
                continue
            total = 0.0
            for k in range(d):
                total += weights[s + k]
            for k in range(d):
                scaled[k] = weights[s + k] * d / total
            _vose(scaled, d, tab, s, 3, small, large)
            for k in range(d):
                tab[s + k, 1] = indices[s + k]
                tab[s + k, 2] = indices[s + tab[s + k, 3]]


@njit(parallel=True, cache=True)
def _build_return_probs(indptr, indices, weights, tab):
    """``ret`` (n_edges, 2, 2) float32 for the on-the-fly sampler. For column e of v's table and
    its two outcomes o (0 = own target, 1 = alias target) with target x:
    ``ret[e, o, 0] = P1(x -> v)`` (0 if there is no edge x->v) and ``ret[e, o, 1] = P1(v -> x)``,
    where P1 is the first-order probability. Carrying them along a walk gives the return mass
    of every step without a search."""
    n = indptr.shape[0] - 1
    total = np.zeros(n, np.float64)
    for v in prange(n):
        acc = 0.0
        for e in range(indptr[v], indptr[v + 1]):
            acc += weights[e]
        total[v] = acc
    ret = np.zeros((indices.shape[0], 2, 2), np.float32)
    for v in prange(n):
        s = indptr[v]
        for e in range(s, indptr[v + 1]):
            for o in range(2):
                x = tab[e, 1 + o]
                ex = s + np.int64(tab[e, 3]) if o == 1 else e
                pos = _find(indices, indptr[x], indptr[x + 1], v)
                if pos >= 0:
                    ret[e, o, 0] = weights[pos] / total[x]
                ret[e, o, 1] = weights[ex] / total[v]
    return ret


@njit(parallel=True, cache=True)
def _build_edge_tables(indptr, indices, weights, inv_p, inv_q, offsets, max_deg):
    """Per-edge alias tables (size, 2) uint32 (threshold, alias local index): for the edge
    e = t->v, the rows ``offsets[e]:offsets[e] + out_degree(v)`` cover v's out-edges."""
    n = indptr.shape[0] - 1
    etab = np.empty((offsets[-1], 2), np.uint32)
    n_blocks = (n + 255) // 256
    for b in prange(n_blocks):
        scaled = np.empty(max_deg, np.float64)
        small = np.empty(max_deg, np.int32)
        large = np.empty(max_deg, np.int32)
        for t in range(b * 256, min(n, (b + 1) * 256)):
            ts = indptr[t]
            te = indptr[t + 1]
            for e in range(ts, te):
                v = indices[e]
                vs = indptr[v]
                d = indptr[v + 1] - vs
                if d == 0:
                    continue
                total = 0.0
                j = ts  # merge walk over t's sorted row
                for k in range(d):
                    x = indices[vs + k]
                    w = np.float64(weights[vs + k])
                    if x == t:
                        w *= inv_p
                    else:
                        while j < te and indices[j] < x:
                            j += 1
                        if not (j < te and indices[j] == x):
                            w *= inv_q
                    scaled[k] = w
                    total += w
                for k in range(d):
                    scaled[k] = scaled[k] * d / total
                _vose(scaled, d, etab, offsets[e], 1, small, large)
    return etab


# ---------------------------------------------------------------------------------------------
# walk kernels. ``out`` is (n_start, walk_length) for one round and ``seeds`` has one state per
# chunk of CHUNK walks. Within a chunk, LOCKSTEP walks advance together one step at a time: their
# memory loads are independent, so the CPU overlaps the cache misses (6-8x faster than one walk
# after the other on a 1M-edge graph).
@njit(parallel=True, nogil=True, cache=True)
def _walk_first_order(out, starts, seeds, indptr, tab):
    n = starts.shape[0]
    walk_length = out.shape[1]
    for c in prange(seeds.shape[0]):
        state = seeds[c]
        cur = np.empty(LOCKSTEP, np.int64)
        hi = min(n, (c + 1) * CHUNK)
        for i0 in range(c * CHUNK, hi, LOCKSTEP):
            nb = min(LOCKSTEP, hi - i0)
            for b in range(nb):
                cur[b] = starts[i0 + b]
                out[i0 + b, 0] = cur[b]
            for j in range(1, walk_length):
                for b in range(nb):
                    v = cur[b]
                    if v >= 0:
                        s = indptr[v]
                        d = indptr[v + 1] - s
                        if d > 0:
                            state, r = _next(state)
                            v = _draw(r, s, d, tab)[0]
                        else:
                            v = -1
                        cur[b] = v
                    out[i0 + b, j] = v


@njit(inline="always", cache=True)
def _otf_step(state, t, v, back, fwd, indptr, indices, tab, ret, inv_p, inv_q, env, fold, lowest):
    """One node2vec step t->v->x by rejection sampling.

    ``back`` = P1(v -> t) and ``fwd`` = P1(t -> v) (first-order probabilities, used only when
    ``fold``). Returns ``(state, x, P1(x -> v), P1(v -> x))``; x = -1 if v has no out-edges.
    """
    s = indptr[v]
    d = indptr[v + 1] - s
    if d == 0:
        return state, np.int64(-1), 0.0, 0.0
    extra = back * (inv_p - env) if fold else 0.0  # return mass above the envelope
    total = extra + env  # the envelope's mass, relative to v's out-weight
    ts = indptr[t]
    te = indptr[t + 1]
    while True:
        if extra > 0.0:
            state, r = _next(state)
            if _uniform(r) * total < extra:
                return state, t, fwd, back
        state, r = _next(state)
        x, e, o = _draw(r, s, d, tab)
        state, r = _next(state)
        y = _uniform(r) * env
        if x == t:
            ok = y < inv_p
        elif y < lowest:
            ok = True
        elif _find(indices, ts, te, x) >= 0:
            ok = y < 1.0
        else:
            ok = y < inv_q
        if ok:
            if fold:
                return state, x, np.float64(ret[e, o, 0]), np.float64(ret[e, o, 1])
            return state, x, 0.0, 0.0


@njit(parallel=True, nogil=True, cache=True)
def _walk_otf(out, starts, seeds, indptr, indices, tab, ret, inv_p, inv_q):
    n = starts.shape[0]
    walk_length = out.shape[1]
    env = max(1.0, inv_q)  # envelope height for every x (times the first-order probability)
    fold = inv_p > env  # return mass above the envelope is drawn as a separate piece
    lowest = min(1.0, inv_q)  # coins below this accept any x != t without a lookup
    for c in prange(seeds.shape[0]):
        state = seeds[c]
        cur = np.empty(LOCKSTEP, np.int64)
        prev = np.empty(LOCKSTEP, np.int64)
        back = np.zeros(LOCKSTEP, np.float64)
        fwd = np.zeros(LOCKSTEP, np.float64)
        hi = min(n, (c + 1) * CHUNK)
        for i0 in range(c * CHUNK, hi, LOCKSTEP):
            nb = min(LOCKSTEP, hi - i0)
            for b in range(nb):
                cur[b] = starts[i0 + b]
                out[i0 + b, 0] = cur[b]
            for j in range(1, walk_length):
                for b in range(nb):
                    v = cur[b]
                    if v >= 0:
                        if j == 1:
                            s = indptr[v]
                            d = indptr[v + 1] - s
                            x = np.int64(-1)
                            if d > 0:
                                state, r = _next(state)
                                x, e, o = _draw(r, s, d, tab)
                                if fold:
                                    back[b] = ret[e, o, 0]
                                    fwd[b] = ret[e, o, 1]
                        else:
                            state, x, bk, fw = _otf_step(
                                state, prev[b], v, back[b], fwd[b], indptr, indices, tab, ret,
                                inv_p, inv_q, env, fold, lowest,
                            )  # fmt: skip
                            back[b] = bk
                            fwd[b] = fw
                        prev[b] = v
                        cur[b] = x
                        v = x
                    out[i0 + b, j] = v


@njit(parallel=True, nogil=True, cache=True)
def _walk_precomputed(out, starts, seeds, indptr, indices, tab, etab, offsets):
    n = starts.shape[0]
    walk_length = out.shape[1]
    for c in prange(seeds.shape[0]):
        state = seeds[c]
        cur = np.empty(LOCKSTEP, np.int64)
        edge = np.empty(LOCKSTEP, np.int64)  # edge just taken (prev -> cur)
        hi = min(n, (c + 1) * CHUNK)
        for i0 in range(c * CHUNK, hi, LOCKSTEP):
            nb = min(LOCKSTEP, hi - i0)
            for b in range(nb):
                cur[b] = starts[i0 + b]
                out[i0 + b, 0] = cur[b]
            for j in range(1, walk_length):
                for b in range(nb):
                    v = cur[b]
                    if v >= 0:
                        s = indptr[v]
                        d = indptr[v + 1] - s
                        if d == 0:
                            v = -1
                        elif j == 1:
                            state, r = _next(state)
                            v, e, o = _draw(r, s, d, tab)
                            edge[b] = e if o == 0 else s + np.int64(tab[e, 3])
                        else:
                            state, r = _next(state)
                            off = offsets[edge[b]]
                            k = _column(r, off, d)
                            if (r & _LOW32) <= etab[k, 0]:
                                e = s + (k - off)
                            else:
                                e = s + np.int64(etab[k, 1])
                            edge[b] = e
                            v = np.int64(tab[e, 1])
                        cur[b] = v
                    out[i0 + b, j] = v
