"""Compiled (numba) kernels of BGE / GES / EGES: the skip-gram step over the hidden vector
``H_i`` (softmax-weighted mean of the item's own and side-information embeddings), the Hogwild
training of a block of walks, and the hidden vectors of all items. See ``embeddings.eges``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _rng_next(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """splitmix64: (new state, 64 random bits)."""
    s = state + np.uint64(0x9E3779B97F4A7C15)
    z = s
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return s, z ^ (z >> np.uint64(31))


@njit(cache=True, fastmath=True)
def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, fastmath=True)
def _softplus(x: float) -> float:
    """log(1 + exp(x)), stable."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(cache=True, fastmath=True)
def _hidden(i, W, S, A, ptr, vals, n_fields, w, V, H, use_item=True):  # pragma: no cover
    """Fill w (F+1,) softmax weights over present fields, V (F+1, d) field vectors, H (d,).

    ``use_item=False`` leaves the item's own vector out (w[0] = 0, softmax over the side-info
    fields present): the vector of the item as if it had no id (cold start); the caller makes
    sure the item has at least one field."""
    d = W.shape[1]
    F = n_fields
    amax = A[i, 0] if use_item else -math.inf
    for f in range(F):
        if ptr[i * F + f + 1] > ptr[i * F + f] and A[i, f + 1] > amax:
            amax = A[i, f + 1]
    tot = math.exp(A[i, 0] - amax) if use_item else 0.0
    w[0] = tot
    for f in range(F):
        if ptr[i * F + f + 1] > ptr[i * F + f]:
            e = math.exp(A[i, f + 1] - amax)
            w[f + 1] = e
            tot += e
        else:
            w[f + 1] = 0.0
    for j in range(F + 1):
        w[j] = w[j] / tot
    for k in range(d):
        V[0, k] = W[i, k]
        H[k] = w[0] * W[i, k]
    for f in range(F):
        lo = ptr[i * F + f]
        hi = ptr[i * F + f + 1]
        for k in range(d):
            V[f + 1, k] = 0.0
        if hi > lo:
            for t in range(lo, hi):
                v = vals[t]
                for k in range(d):
                    V[f + 1, k] += S[v, k]
            inv = 1.0 / (hi - lo)
            wf = w[f + 1]
            for k in range(d):
                V[f + 1, k] *= inv
                H[k] += wf * V[f + 1, k]


@njit(cache=True, fastmath=True)
def _center_update(
    i,
    targets,
    labels,
    n_targets,
    W,
    S,
    A,
    C,
    ptr,
    vals,
    n_fields,
    lr,
    learn_weights,
    w,
    V,
    H,
    g_h,
    use_item=True,
):  # pragma: no cover - compiled
    """One SGD step for centre item i against ``targets[:n_targets]`` (label 1 = context,
    0 = negative). Updates C row by row, then W[i], S[values of i] and (if learning) A[i].
    ``use_item=False``: the step of the side-information-only hidden vector (W[i] and A[i, 0]
    do not move). Returns the summed loss sum_t -log sigmoid(+-H.C_t) before the update."""
    d = W.shape[1]
    F = n_fields
    _hidden(i, W, S, A, ptr, vals, F, w, V, H, use_item)
    for k in range(d):
        g_h[k] = 0.0
    loss = 0.0
    for t in range(n_targets):
        c = targets[t]
        f = 0.0
        for k in range(d):
            f += H[k] * C[c, k]
        if labels[t] == 1:
            g = (1.0 - _sigmoid(f)) * lr
            loss += _softplus(-f)
        else:
            g = -_sigmoid(f) * lr
            loss += _softplus(f)
        for k in range(d):
            g_h[k] += g * C[c, k]
            C[c, k] += g * H[k]
    # g_h = -lr * dL/dH
    if learn_weights and F > 0:
        hg = 0.0
        for k in range(d):
            hg += H[k] * g_h[k]
        for j in range(F + 1):
            if w[j] > 0.0:
                vg = 0.0
                for k in range(d):
                    vg += V[j, k] * g_h[k]
                A[i, j] += w[j] * (vg - hg)
    w0 = w[0]
    for k in range(d):
        W[i, k] += w0 * g_h[k]
    for f in range(F):
        lo = ptr[i * F + f]
        hi = ptr[i * F + f + 1]
        if hi > lo:
            s = w[f + 1] / (hi - lo)
            for t in range(lo, hi):
                v = vals[t]
                for k in range(d):
                    S[v, k] += s * g_h[k]
    return loss


@njit(cache=True, parallel=True, fastmath=True)
def _train_block(
    walks,
    order,
    start,
    stop,
    n_chunks,
    seeds,
    W,
    S,
    A,
    C,
    ptr,
    vals,
    n_fields,
    cum_prob,
    window,
    shrink,
    negative,
    lr_start,
    lr_end,
    learn_weights,
    item_dropout=0.0,
):  # pragma: no cover - compiled
    """Train on walks ``order[start:stop]`` split into ``n_chunks`` slices run in parallel.

    ``seeds`` (n_chunks,) uint64 RNG states, advanced in place. ``item_dropout``: probability
    that a centre with side information trains without its own vector (one extra draw per
    centre only when > 0, so 0 keeps the stream of earlier versions). Returns (loss sum per
    chunk, positive pairs per chunk, targets per chunk)."""
    d = W.shape[1]
    F = n_fields
    n = stop - start
    n_nodes = cum_prob.shape[0]
    walk_len = walks.shape[1]
    losses = np.zeros(n_chunks, np.float64)
    pairs = np.zeros(n_chunks, np.int64)
    n_tg = np.zeros(n_chunks, np.int64)
    cap = 2 * window * (negative + 1)
    for ch in prange(n_chunks):
        lo = start + (ch * n) // n_chunks
        hi = start + ((ch + 1) * n) // n_chunks
        state = seeds[ch]
        w = np.empty(F + 1, np.float32)
        V = np.empty((F + 1, d), np.float32)
        H = np.empty(d, np.float32)
        g_h = np.empty(d, np.float32)
        targets = np.empty(cap, np.int32)
        labels = np.empty(cap, np.uint8)
        loss = 0.0
        npairs = 0
        ntargets = 0
        span = max(hi - lo, 1)
        for r in range(lo, hi):
            lr = lr_start + (lr_end - lr_start) * ((r - lo) / span)
            walk = walks[order[r]]
            L = walk_len
            for p in range(walk_len):
                if walk[p] < 0:
                    L = p
                    break
            for pos in range(L):
                center = walk[pos]
                wr = window
                if shrink:
                    state, bits = _rng_next(state)
                    wr = window - np.int64(bits % np.uint64(window))
                a = max(0, pos - wr)
                b = min(L, pos + wr + 1)
                nt = 0
                for c in range(a, b):
                    if c == pos:
                        continue
                    ctx = walk[c]
                    targets[nt] = ctx
                    labels[nt] = 1
                    nt += 1
                    npairs += 1
                    for _ in range(negative):
                        state, bits = _rng_next(state)
                        u = np.float64(bits >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                        neg = np.searchsorted(cum_prob, u, side="right")
                        if neg >= n_nodes:
                            neg = n_nodes - 1
                        if neg == ctx:
                            continue
                        targets[nt] = neg
                        labels[nt] = 0
                        nt += 1
                if nt > 0:
                    use_item = True
                    if item_dropout > 0.0 and F > 0:
                        if ptr[center * F + F] > ptr[center * F]:  # has a side-info value
                            state, bits = _rng_next(state)
                            ud = np.float64(bits >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                            use_item = ud >= item_dropout
                    ntargets += nt
                    loss += _center_update(
                        center,
                        targets,
                        labels,
                        nt,
                        W,
                        S,
                        A,
                        C,
                        ptr,
                        vals,
                        F,
                        lr,
                        learn_weights,
                        w,
                        V,
                        H,
                        g_h,
                        use_item,
                    )
        seeds[ch] = state
        losses[ch] = loss
        pairs[ch] = npairs
        n_tg[ch] = ntargets
    return losses, pairs, n_tg


@njit(cache=True)
def _hidden_all(W, S, A, ptr, vals, n_fields):  # pragma: no cover - compiled
    """Hidden vectors (n, d) and weights (n, F+1) of every item (with its own vector)."""
    n, d = W.shape
    out = np.empty((n, d), np.float32)
    weights = np.empty((n, n_fields + 1), np.float32)
    w = np.empty(n_fields + 1, np.float32)
    V = np.empty((n_fields + 1, d), np.float32)
    H = np.empty(d, np.float32)
    for i in range(n):
        _hidden(i, W, S, A, ptr, vals, n_fields, w, V, H)
        out[i] = H
        weights[i] = w
    return out, weights
