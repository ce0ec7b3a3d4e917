"""BGE, GES and EGES: skip-gram over item-graph walks with side-information embeddings.

Wang et al., "Billion-scale Commodity Embedding for E-commerce Recommendation in Alibaba"
(KDD 2018). All three trainers share one compiled (numba) skip-gram loop and differ only in the
side information and its weights:

- **BGE** (base graph embedding): item embeddings only, i.e. DeepWalk trained by this loop.
- **GES**: the hidden vector of item i is the *equal-weight* mean of its own embedding and one
  vector per side-information field (``genres``, ``tags``, ``year``, ...).
- **EGES**: the same mean with learned per-item weights: with scores ``a_i`` (n_fields + 1,),
  ``H_i = sum_j exp(a_ij) V_ij / sum_j exp(a_ij)``.

Model (per item i, with fields f = 1..F of the ``ItemSideInfo``):

- ``V_i0`` = the item's own embedding ``W[i]``;
- ``V_if`` = the mean of the embeddings of the item's values of field f (multi-valued fields
  such as genres and tags are averaged within the field; single-valued fields are 1-tuples);
- a field with no value for item i is left out of that item's mean: its weight is 0 and the
  softmax is renormalised over the fields present (the item's own embedding is always present);
- items that are not in the side-information table at all raise ``ValueError`` unless
  ``missing="item_only"``, which trains them on their own embedding alone.

Training: skip-gram with negative sampling over the walk pairs ``(center, context)`` with
``|center - context| <= window`` (window shrunk at random per position as in word2vec when
``shrink_windows``); the centre uses the hidden vector ``H``, the context a separate output
embedding ``C`` (zeros at start, as in word2vec). Negatives are drawn from the unigram^0.75
distribution of node occurrences in the walks; a negative equal to the positive context is
skipped. The learning rate decays linearly from ``alpha`` to ``min_alpha`` over all epochs.

Per centre position, the loss of all its window pairs (each positive with its negatives) is one
SGD step for the input side: the gradient w.r.t. ``H`` is accumulated over the window (as
word2vec's CBOW does over negatives) and then pushed to ``W[i]``, the side-info vectors
``S[v]`` (scaled by ``w_if / m_if``) and the scores ``a_i`` (``dL/da_ij = w_ij (V_ij - H_i) .
dL/dH_i``). Output vectors are updated target by target as in word2vec. With a single pair in
the window this is exactly the gradient of the pair loss (checked in the tests by finite
differences); computing ``H`` once per centre instead of once per pair keeps the side
information nearly free.

Parallelism: ``workers`` threads (numba ``prange``) each take a slice of the walks and update
the shared parameters without locks (Hogwild). With ``workers > 1`` results are therefore not
bit-reproducible; ``workers=1`` with a fixed ``random_state`` is.

Cold start: ``cold_start_vectors`` builds a vector for an item with side information but no
interactions as ``sum_f w_f mean(S[values of f])`` over the fields where the item has at least
one value seen in training, with ``w_f`` = the learned weight of field f averaged over the warm
items that have field f, renormalised over the item's fields (GES: equal weights). Values never
seen in training are ignored; an item with no known value raises ``ValueError`` (or is skipped
and reported in the result's meta with ``errors="skip"``).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from embeddings._validate import as_ids, check_random_state, describe_values, spawn_seeds
from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.graph import ItemGraph
from embeddings.sessions import Sessions
from embeddings.types import Embeddings

__all__ = ["BGE", "GES", "EGES"]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# compiled kernels
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _rng_next(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """splitmix64: (new state, 64 random bits)."""
    s = state + np.uint64(0x9E3779B97F4A7C15)
    z = s
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return s, z ^ (z >> np.uint64(31))


#: the largest learning rate accepted: beyond it the SGD overflows on ordinary data
_MAX_ALPHA = 1.0


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
def _hidden(i, W, S, A, ptr, vals, n_fields, w, V, H):  # pragma: no cover - compiled
    """Fill w (F+1,) softmax weights over present fields, V (F+1, d) field vectors, H (d,)."""
    d = W.shape[1]
    F = n_fields
    amax = A[i, 0]
    for f in range(F):
        if ptr[i * F + f + 1] > ptr[i * F + f] and A[i, f + 1] > amax:
            amax = A[i, f + 1]
    tot = math.exp(A[i, 0] - amax)
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
    i, targets, labels, n_targets, W, S, A, C, ptr, vals, n_fields, lr, learn_weights, w, V, H, g_h
):  # pragma: no cover - compiled
    """One SGD step for centre item i against ``targets[:n_targets]`` (label 1 = context,
    0 = negative). Updates C row by row, then W[i], S[values of i] and (if learning) A[i].
    Returns the summed loss sum_t -log sigmoid(+-H.C_t) before the update."""
    d = W.shape[1]
    F = n_fields
    _hidden(i, W, S, A, ptr, vals, F, w, V, H)
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
):  # pragma: no cover - compiled
    """Train on walks ``order[start:stop]`` split into ``n_chunks`` slices run in parallel.

    ``seeds`` (n_chunks,) uint64 RNG states, advanced in place. Returns (loss sum per chunk,
    positive pairs per chunk, targets per chunk)."""
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
                    )
        seeds[ch] = state
        losses[ch] = loss
        pairs[ch] = npairs
        n_tg[ch] = ntargets
    return losses, pairs, n_tg


@njit(cache=True)
def _hidden_all(W, S, A, ptr, vals, n_fields):  # pragma: no cover - compiled
    """Hidden vectors (n, d) and weights (n, F+1) of every item."""
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


# ---------------------------------------------------------------------------------------------
# data preparation
# ---------------------------------------------------------------------------------------------
def _as_graph(
    data: Interactions | Sessions | ItemGraph,
    min_rating: float | None,
    session_gap: int | None,
    directed: bool,
) -> ItemGraph:
    """The item graph to walk: given, or built from sessions by ``trainers.graph_from_data``
    (weight A->B = times B directly follows A; ``directed=False`` stores transitions both ways)."""
    from embeddings.trainers import graph_from_data

    return graph_from_data(data, min_rating, session_gap, directed)


def _check_walks(walks: ArrayLike, n_nodes: int) -> NDArray[np.int32]:
    arr = np.asarray(walks)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"walks: expected a non-empty 2-D array (n_walks, length), got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"walks: expected integer node positions, got dtype {arr.dtype}")
    if arr.min() < -1 or arr.max() >= n_nodes:
        raise ValueError(f"walks: node positions must lie in [-1, {n_nodes}) (-1 = padding)")
    return np.ascontiguousarray(arr, dtype=np.int32)


def _encode_side_info(
    side_info: ItemSideInfo,
    node_ids: NDArray[np.int64],
    fields: Sequence[str],
    vocabularies: Sequence[Sequence[str]] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int32], list[list[str]], NDArray[np.int64]]:
    """Interleaved CSR of side-info values: item i, field f -> ``vals[ptr[i*F+f]:ptr[i*F+f+1]]``
    (global value indices, field f's values offset by ``offsets[f]``). Vocabularies default to
    the values present among ``node_ids`` (sorted)."""
    n, F = node_ids.shape[0], len(fields)
    counts = np.zeros((n, F), np.int64)
    per_field: list[tuple[NDArray[np.int64], NDArray[np.int32]]] = []
    vocabs: list[list[str]] = []
    for f, name in enumerate(fields):
        if vocabularies is None:
            col = side_info.frame[name]
            present = col.index.intersection(pd.Index(node_ids))
            vocab = sorted({v for tup in col.loc[present] for v in tup})
        else:
            vocab = list(vocabularies[f])
        indptr, idx, vocab = side_info.encode(name, node_ids.tolist(), vocab)
        per_field.append((indptr, idx))
        vocabs.append(vocab)
        counts[:, f] = np.diff(indptr)
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vocabs])]).astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(counts.ravel())]).astype(np.int64)
    vals = np.empty(ptr[-1], np.int32)
    for f, (indptr, idx) in enumerate(per_field):
        cnt = np.diff(indptr)
        starts = ptr[np.arange(n) * F + f]
        within = np.arange(idx.shape[0]) - np.repeat(indptr[:-1], cnt)
        vals[np.repeat(starts, cnt) + within] = idx + offsets[f]
    return ptr, vals, vocabs, offsets


# ---------------------------------------------------------------------------------------------
# trainers
# ---------------------------------------------------------------------------------------------
class _SideInfoSkipGram:
    """Shared implementation of BGE / GES / EGES (see the module docstring).

    Args:
        dim: embedding dimension d.
        window: skip-gram window (pairs up to ``window`` steps apart in a walk).
        epochs: passes over the walks.
        negative: negatives per positive pair, from unigram^``ns_exponent`` of walk occurrences.
        alpha, min_alpha: learning rate, decayed linearly from ``alpha`` to ``min_alpha``;
            ``0 < alpha <= 1`` and ``0 <= min_alpha <= alpha`` (larger rates diverge).
        num_walks, walk_length, p, q: walks (``embeddings.walks.generate_walks``) started from
            every node; p = q = 1 is DeepWalk, as in the EGES paper.
        min_rating, session_gap, directed: how the item graph is built from Interactions /
            Sessions (ignored for an ``ItemGraph``).
        shrink_windows: draw the effective window uniformly in 1..window per position (word2vec).
        workers: threads for walking and training (Hogwild; not bit-reproducible when > 1).
        random_state: seeds the walks and the training (independent streams).
        progress: tqdm bars with the running loss per pair.

    Fitted attributes: ``embeddings_`` (hidden vectors H of the graph's items), ``item_ids_``,
    ``fields_``, ``vocabularies_``, ``item_vectors_`` (W), ``side_vectors_`` (S, all fields'
    values stacked; see ``value_embeddings``), ``context_vectors_`` (C), ``weight_scores_``
    (a), ``loss_history_`` (mean loss per positive pair and epoch), ``n_pairs_``.
    """

    _method: str = ""
    _uses_side_info: bool = True

    def __init__(
        self,
        dim: int = 64,
        window: int = 5,
        epochs: int = 5,
        negative: int = 5,
        ns_exponent: float = 0.75,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        num_walks: int = 10,
        walk_length: int = 40,
        p: float = 1.0,
        q: float = 1.0,
        min_rating: float | None = None,
        session_gap: int | None = None,
        directed: bool = True,
        shrink_windows: bool = True,
        workers: int = 1,
        random_state: int | None = None,
        progress: bool = True,
    ) -> None:
        self.dim = dim
        self.window = window
        self.epochs = epochs
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.num_walks = num_walks
        self.walk_length = walk_length
        self.p = p
        self.q = q
        self.min_rating = min_rating
        self.session_gap = session_gap
        self.directed = directed
        self.shrink_windows = shrink_windows
        self.workers = workers
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (JSON-friendly; ``progress`` left out)."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        out = {k: getattr(self, k) for k in names if k != "progress"}
        if out.get("fields") is not None:
            out["fields"] = list(out["fields"])
        return out

    def _check_params(self) -> None:
        for name in ("dim", "window", "epochs", "negative", "num_walks", "walk_length", "workers"):
            val = getattr(self, name)
            if not isinstance(val, int | np.integer) or isinstance(val, bool) or val < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
        for name in ("alpha", "min_alpha"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int | float | np.integer | np.floating):
                raise ValueError(f"{name} must be a number, got {val!r}")
        if not (0 < self.alpha <= _MAX_ALPHA and 0 <= self.min_alpha <= self.alpha):
            raise ValueError(
                f"need 0 < alpha <= {_MAX_ALPHA} and 0 <= min_alpha <= alpha (larger learning "
                f"rates diverge), got alpha={self.alpha}, min_alpha={self.min_alpha}"
            )
        if not np.isfinite(self.ns_exponent):
            raise ValueError(f"ns_exponent must be finite, got {self.ns_exponent}")
        if getattr(self, "missing", "raise") not in ("raise", "item_only"):
            raise ValueError(f"missing must be 'raise' or 'item_only', got {self.missing!r}")

    def _learns_weights(self) -> bool:
        return bool(getattr(self, "learn_weights", False))

    # ------------------------------------------------------------------ fitting
    def fit(
        self, data: Interactions | Sessions | ItemGraph, side_info: ItemSideInfo | None = None
    ) -> Embeddings:
        """Build the item graph (unless given), generate walks, train; returns ``Embeddings``.

        Interactions are grouped into sessions with ``min_rating`` / ``session_gap``; the graph
        weight A->B counts direct successions. Walks: ``embeddings.walks.generate_walks`` with
        ``num_walks``, ``walk_length``, ``p``, ``q``, ``workers``.
        """
        from embeddings.walks import generate_walks

        self._check_params()
        graph = _as_graph(data, self.min_rating, self.session_gap, self.directed)
        seed_walks, _ = spawn_seeds(self.random_state, 2)
        walks = generate_walks(
            graph,
            num_walks=self.num_walks,
            walk_length=self.walk_length,
            p=self.p,
            q=self.q,
            workers=self.workers,
            random_state=seed_walks,
            progress=self.progress,
        )
        return self.fit_walks(walks, graph, side_info)

    def fit_walks(
        self, walks: ArrayLike, graph: ItemGraph, side_info: ItemSideInfo | None = None
    ) -> Embeddings:
        """Train on given walks: int (n_walks, length) node positions of ``graph``, -1 padded.

        Lets several models (and gensim, in the benchmarks) train on exactly the same walks.
        ``walks`` may also be an ``embeddings.walks.WalkCorpus`` with ``cache="spill"``: the
        walks are then streamed to a temporary file and each training block gathers its rows
        from there, so the whole matrix is never in memory; same vectors as the matrix.
        """
        from embeddings.walks import WalkCorpus

        self._check_params()
        t0 = time.perf_counter()
        if not isinstance(graph, ItemGraph):
            raise ValueError(f"graph must be an ItemGraph, got {type(graph).__name__}")
        node_ids = graph.node_ids
        n = node_ids.shape[0]
        source: WalkCorpus | None = None
        if isinstance(walks, WalkCorpus):
            source = walks
            if source.cache != "spill":
                raise ValueError("fit_walks needs a WalkCorpus with cache='spill' (random access)")
            if source.graph.n_nodes != n:
                raise ValueError(
                    f"the WalkCorpus walks a graph of {source.graph.n_nodes} nodes, not {n}"
                )
            walk_arr = np.empty((0, 1), np.int32)
        else:
            walk_arr = _check_walks(walks, n)
        fields, ptr, vals, vocabs, offsets = self._prepare_side_info(side_info, node_ids)
        F = len(fields)
        n_values = int(offsets[-1])

        _, seed_train = spawn_seeds(self.random_state, 2)
        rng = check_random_state(seed_train)
        d = int(self.dim)
        W = ((rng.random((n, d), dtype=np.float32) - 0.5) / d).astype(np.float32)
        S = ((rng.random((n_values, d), dtype=np.float32) - 0.5) / d).astype(np.float32)
        C = np.zeros((n, d), np.float32)
        A = np.zeros((n, F + 1), np.float32)

        if source is None:
            counts = np.bincount(walk_arr[walk_arr >= 0], minlength=n).astype(np.float64)
        else:  # one pass: counts, and the spill file for the blocks' random access
            counts = np.zeros(n, np.float64)
            for blk in source:
                counts += np.bincount(blk[blk >= 0], minlength=n)
        weights = counts**self.ns_exponent
        weights[counts == 0] = 0.0
        if weights.sum() <= 0:
            raise ValueError("walks hold no node: nothing to train on")
        cum_prob = np.cumsum(weights / weights.sum())
        cum_prob[-1] = 1.0

        n_walks = walk_arr.shape[0] if source is None else source.shape[0]
        workers = int(self.workers)
        n_threads = min(workers, numba.config.NUMBA_NUM_THREADS)
        if n_threads < workers:
            logger.warning("workers=%d but numba has only %d threads", workers, n_threads)
        seeds = np.array(spawn_seeds(rng, workers), dtype=np.uint64)
        block = max(workers * 64, -(-n_walks // 20))
        total = self.epochs * n_walks
        losses: list[float] = []
        pair_total = 0
        learn = self._learns_weights() and F > 0
        bar = _progress(total, self.progress, self._method)
        prev_threads = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            for epoch in range(self.epochs):
                order = rng.permutation(n_walks).astype(np.int64)
                ep_loss, ep_pairs = 0.0, 0
                for start in range(0, n_walks, block):
                    stop = min(n_walks, start + block)
                    done0 = epoch * n_walks + start
                    lr0 = self.alpha - (self.alpha - self.min_alpha) * done0 / total
                    lr1 = (
                        self.alpha - (self.alpha - self.min_alpha) * (done0 + stop - start) / total
                    )
                    if source is None:
                        blk, blk_order, b0, b1 = walk_arr, order, start, stop
                    else:  # the block's rows, gathered in training order
                        blk = source.take(order[start:stop])
                        blk_order, b0, b1 = np.arange(stop - start, dtype=np.int64), 0, stop - start
                    try:
                        lo, pa, _ = _train_block(
                            blk,
                            blk_order,
                            b0,
                            b1,
                            workers,
                            seeds,
                            W,
                            S,
                            A,
                            C,
                            ptr,
                            vals,
                            F,
                            cum_prob,
                            int(self.window),
                            bool(self.shrink_windows),
                            int(self.negative),
                            float(lr0),
                            float(lr1),
                            learn,
                        )
                    except (SystemError, OverflowError, ZeroDivisionError) as exc:
                        # math.exp overflow inside the compiled loop: the SGD diverged
                        raise ValueError(
                            f"{self._method} training diverged (overflow at epoch {epoch + 1}, "
                            f"alpha={self.alpha}): lower the learning rate alpha"
                        ) from exc
                    if not np.isfinite(lo).all():
                        raise ValueError(
                            f"{self._method} training diverged (non-finite loss at epoch "
                            f"{epoch + 1}, alpha={self.alpha}): lower the learning rate alpha"
                        )
                    ep_loss += float(lo.sum())
                    ep_pairs += int(pa.sum())
                    if bar is not None:
                        bar.update(stop - start)
                        bar.set_postfix(
                            epoch=epoch + 1, loss=f"{ep_loss / max(ep_pairs, 1):.4f}", refresh=False
                        )
                if ep_pairs == 0:
                    raise ValueError(
                        "walks hold no (center, context) pair: every walk has length 1 "
                        "(graph without edges?)"
                    )
                losses.append(ep_loss / ep_pairs)
                pair_total += ep_pairs
                logger.info("%s epoch %d: loss per pair %.4f", self._method, epoch + 1, losses[-1])
        finally:
            numba.set_num_threads(prev_threads)
            if bar is not None:
                bar.close()

        H, field_w = _hidden_all(W, S, A, ptr, vals, F)
        seconds = time.perf_counter() - t0
        # fitted state
        self.graph_ = graph
        self.item_ids_ = node_ids.copy()
        self.fields_ = list(fields)
        self.vocabularies_ = vocabs
        self.value_offsets_ = offsets
        self.item_vectors_ = W
        self.side_vectors_ = S
        self.context_vectors_ = C
        self.weight_scores_ = A
        self.weights_ = field_w
        self.field_present_ = np.diff(ptr).reshape(n, F) > 0 if F else np.zeros((n, 0), bool)
        self.loss_history_ = losses
        self.n_pairs_ = pair_total
        self.seconds_ = seconds
        meta = {
            "method": self._method,
            "params": self.get_params(),
            "fields": list(fields),
            "n_values": n_values,
            "loss_per_epoch": losses,
            "pairs": pair_total,
            "walks": int(n_walks),
            "seconds": seconds,
            "library": {"numpy": np.__version__, "numba": numba.__version__},
        }
        self.embeddings_ = Embeddings(node_ids, H, meta)
        logger.info(
            "%s: %d items, %d side-info values, %d pairs in %.1f s",
            self._method,
            n,
            n_values,
            pair_total,
            seconds,
        )
        return self.embeddings_

    def _prepare_side_info(
        self, side_info: ItemSideInfo | None, node_ids: NDArray[np.int64]
    ) -> tuple[list[str], NDArray[np.int64], NDArray[np.int32], list[list[str]], NDArray]:
        n = node_ids.shape[0]
        if not self._uses_side_info:
            return [], np.zeros(1, np.int64), np.zeros(0, np.int32), [], np.zeros(1, np.int64)
        if side_info is None:
            raise ValueError(f"{self._method} needs side information (an ItemSideInfo)")
        if not isinstance(side_info, ItemSideInfo):
            raise ValueError(f"side_info must be an ItemSideInfo, got {type(side_info).__name__}")
        fields = list(side_info.fields) if self.fields is None else list(self.fields)
        if not fields:
            raise ValueError("side information has no field")
        unknown = [f for f in fields if f not in side_info.fields]
        if unknown:
            raise ValueError(f"unknown side-info fields {unknown} (fields: {side_info.fields})")
        if len(set(fields)) != len(fields):
            raise ValueError(f"duplicate fields in {fields}")
        absent = ~np.isin(node_ids, side_info.item_ids())
        if absent.any() and self.missing == "raise":
            raise ValueError(
                f"{int(absent.sum())} of {n} items have no row in the side information: "
                f"{describe_values(node_ids[absent])} (pass missing='item_only' to train them "
                "on their own embedding alone)"
            )
        ptr, vals, vocabs, offsets = _encode_side_info(side_info, node_ids, fields)
        if vals.shape[0] == 0:
            raise ValueError(f"no item of the training data has a value in fields {fields}")
        if absent.any():
            logger.warning(
                "%d items without side information train on their own embedding",
                int(absent.sum()),
            )
        return fields, ptr, vals, vocabs, offsets

    # ------------------------------------------------------------------ inspection
    def _check_fitted(self) -> None:
        if not hasattr(self, "embeddings_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit first")

    def field_weights(self) -> pd.DataFrame:
        """Softmax weight of each field per item: DataFrame (item_id x ["item", *fields]).

        Rows sum to 1; a field the item has no value for has weight 0. GES: equal weights over
        the fields present; BGE: the single column "item" = 1.
        """
        self._check_fitted()
        return pd.DataFrame(
            self.weights_.astype(np.float64),
            index=pd.Index(self.item_ids_, name="item_id"),
            columns=["item", *self.fields_],
        )

    def value_embeddings(self, field: str) -> pd.DataFrame:
        """Trained embeddings of the values of one side-info field: DataFrame (value x dim)."""
        self._check_fitted()
        if field not in self.fields_:
            raise ValueError(f"unknown field {field!r} (fields: {self.fields_})")
        f = self.fields_.index(field)
        lo, hi = self.value_offsets_[f], self.value_offsets_[f + 1]
        return pd.DataFrame(
            self.side_vectors_[lo:hi], index=pd.Index(self.vocabularies_[f], name=field)
        )

    def mean_field_weights(self) -> pd.Series:
        """Per field: the weight averaged over the warm items that have that field."""
        self._check_fitted()
        fw = self.weights_[:, 1:].astype(np.float64)
        present = self.field_present_
        with np.errstate(invalid="ignore"):
            mean = np.where(present.any(0), (fw * present).sum(0) / present.sum(0), 0.0)
        return pd.Series(mean, index=pd.Index(self.fields_, name="field"), name="weight")

    # ------------------------------------------------------------------ cold start
    def cold_start_vectors(
        self,
        side_info: ItemSideInfo,
        item_ids: ArrayLike | None = None,
        errors: Literal["raise", "skip"] = "raise",
    ) -> Embeddings:
        """Vectors for items known only by their side information (see the module docstring).

        Args:
            side_info: table holding the new items' values (may be the training table).
            item_ids: items to build vectors for; default: every item of ``side_info`` that was
                not in the training graph. Ids not in ``side_info`` raise ``KeyError``.
            errors: an item with no value seen in training raises ``ValueError`` ("raise") or is
                left out and listed in ``meta["skipped_ids"]`` ("skip").
        Returns ``Embeddings`` (float32, same space as ``embeddings_``; compare with cosine).
        """
        self._check_fitted()
        if not self.fields_:
            raise ValueError(f"{self._method} has no side information: no cold-start vectors")
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
        if not isinstance(side_info, ItemSideInfo):
            raise ValueError(f"side_info must be an ItemSideInfo, got {type(side_info).__name__}")
        if item_ids is None:
            ids = side_info.item_ids()
            ids = np.sort(ids[~np.isin(ids, self.item_ids_)])
        else:
            ids = as_ids(item_ids, name="item_ids")
            unknown = ~np.isin(ids, side_info.item_ids())
            if unknown.any():
                raise KeyError(
                    f"items not in the side information: {describe_values(ids[unknown])}"
                )
        if ids.shape[0] == 0:
            raise ValueError("no item to build a cold-start vector for")
        fields = [f for f in self.fields_ if f in side_info.fields]
        if not fields:
            raise ValueError(
                f"side information has none of the trained fields {self.fields_} "
                f"(it has {side_info.fields})"
            )
        field_pos = [self.fields_.index(f) for f in fields]
        ptr, vals, _, sub_offsets = _encode_side_info(
            side_info, ids, fields, [self.vocabularies_[f] for f in field_pos]
        )
        F = len(fields)
        counts = np.diff(ptr).reshape(ids.shape[0], F)
        fw = self.mean_field_weights().to_numpy()[field_pos]
        wmat = np.where(counts > 0, fw[None, :], 0.0)
        known = wmat.sum(1) > 0
        skipped = ids[~known]
        if skipped.size and errors == "raise":
            raise ValueError(
                f"{skipped.size} items have no side-information value seen in training: "
                f"{describe_values(skipped)} (pass errors='skip' to leave them out)"
            )
        wmat = wmat / np.maximum(wmat.sum(1, keepdims=True), 1e-300)
        # map the sub-encoding's value indices back to rows of side_vectors_
        entry_field = np.repeat(np.tile(np.arange(F), ids.shape[0]), counts.ravel())
        trained = self.value_offsets_[np.asarray(field_pos)][entry_field] + (
            vals - sub_offsets[entry_field]
        )
        entry_row = np.repeat(np.repeat(np.arange(ids.shape[0]), F), counts.ravel())
        # each entry contributes w_rf / m_rf * S[v]
        scale = (wmat / np.maximum(counts, 1))[entry_row, entry_field]
        out = np.zeros((ids.shape[0], self.side_vectors_.shape[1]), np.float64)
        np.add.at(out, entry_row, scale[:, None] * self.side_vectors_[trained])
        out = out[known]
        meta = {
            "method": f"{self._method}-cold-start",
            "fields": fields,
            "field_weights": dict(zip(fields, fw.tolist(), strict=True)),
            "skipped_ids": skipped.tolist(),
        }
        if skipped.size:
            logger.warning("cold start: %d items without a known value skipped", skipped.size)
        return Embeddings(ids[known], out.astype(np.float32), meta)

    def embeddings_with_cold_start(
        self, side_info: ItemSideInfo, item_ids: ArrayLike | None = None
    ) -> Embeddings:
        """Warm embeddings plus cold-start vectors of ``item_ids`` (default: all new items of
        ``side_info``), ready to be indexed together. Items without a known value are left out
        (listed in ``meta["skipped_ids"]``)."""
        cold = self.cold_start_vectors(side_info, item_ids, errors="skip")
        keep = ~np.isin(cold.ids, self.embeddings_.ids)
        meta = dict(self.embeddings_.meta)
        meta["cold_ids"] = cold.ids[keep].tolist()
        meta["skipped_ids"] = cold.meta["skipped_ids"]
        return Embeddings(
            np.concatenate([self.embeddings_.ids, cold.ids[keep]]),
            np.concatenate([self.embeddings_.vectors, cold.vectors[keep]]),
            meta,
        )


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

    return tqdm(total=total, desc=f"{desc} walks", unit="walk", leave=False)


_SIDE_INFO_DOC = """
    Side-information options (beyond the shared skip-gram/walk hyperparameters):
        fields: side-info fields to use (default: all fields of the ``ItemSideInfo``).
        missing: items of the graph without a row in the side information raise
            ``ValueError`` ("raise") or train on their own embedding alone ("item_only").
"""


class _WithSideInfo(_SideInfoSkipGram):
    def __init__(
        self,
        dim: int = 64,
        window: int = 5,
        epochs: int = 5,
        negative: int = 5,
        ns_exponent: float = 0.75,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        num_walks: int = 10,
        walk_length: int = 40,
        p: float = 1.0,
        q: float = 1.0,
        min_rating: float | None = None,
        session_gap: int | None = None,
        directed: bool = True,
        shrink_windows: bool = True,
        workers: int = 1,
        random_state: int | None = None,
        progress: bool = True,
        fields: Sequence[str] | None = None,
        missing: Literal["raise", "item_only"] = "raise",
    ) -> None:
        super().__init__(
            dim=dim,
            window=window,
            epochs=epochs,
            negative=negative,
            ns_exponent=ns_exponent,
            alpha=alpha,
            min_alpha=min_alpha,
            num_walks=num_walks,
            walk_length=walk_length,
            p=p,
            q=q,
            min_rating=min_rating,
            session_gap=session_gap,
            directed=directed,
            shrink_windows=shrink_windows,
            workers=workers,
            random_state=random_state,
            progress=progress,
        )
        self.fields = fields
        self.missing = missing


class EGES(_WithSideInfo):
    """Enhanced Graph Embedding with Side information: learned per-item field weights.

    ``fit(data, side_info)``: data = Interactions / Sessions / ItemGraph. ``learn_weights=False``
    freezes the weights at equal values, which is exactly ``GES``.
    """

    _method = "eges"

    def __init__(
        self,
        dim: int = 64,
        window: int = 5,
        epochs: int = 5,
        negative: int = 5,
        ns_exponent: float = 0.75,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        num_walks: int = 10,
        walk_length: int = 40,
        p: float = 1.0,
        q: float = 1.0,
        min_rating: float | None = None,
        session_gap: int | None = None,
        directed: bool = True,
        shrink_windows: bool = True,
        workers: int = 1,
        random_state: int | None = None,
        progress: bool = True,
        fields: Sequence[str] | None = None,
        missing: Literal["raise", "item_only"] = "raise",
        learn_weights: bool = True,
    ) -> None:
        super().__init__(
            dim=dim,
            window=window,
            epochs=epochs,
            negative=negative,
            ns_exponent=ns_exponent,
            alpha=alpha,
            min_alpha=min_alpha,
            num_walks=num_walks,
            walk_length=walk_length,
            p=p,
            q=q,
            min_rating=min_rating,
            session_gap=session_gap,
            directed=directed,
            shrink_windows=shrink_windows,
            workers=workers,
            random_state=random_state,
            progress=progress,
            fields=fields,
            missing=missing,
        )
        self.learn_weights = learn_weights


class GES(_WithSideInfo):
    """Graph Embedding with Side information: equal weights over the item and its fields."""

    _method = "ges"


class BGE(_SideInfoSkipGram):
    """Base Graph Embedding: item embeddings only (DeepWalk with the shared compiled loop).

    ``side_info`` passed to ``fit`` is ignored, so the three trainers can be called alike.
    """

    _method = "bge"
    _uses_side_info = False


EGES.__doc__ = (EGES.__doc__ or "") + _SIDE_INFO_DOC
GES.__doc__ = (GES.__doc__ or "") + _SIDE_INFO_DOC
