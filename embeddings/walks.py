"""Random walks on the weighted directed item graph: DeepWalk (first order) and node2vec (p, q).

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

Parallelism and determinism: the walks of each round are cut into fixed chunks of ``CHUNK`` walks;
every chunk has its own random stream (SplitMix64 seeded from a ``SeedSequence`` spawned per
round), and chunks run in a numba ``prange``. The walks therefore depend only on ``random_state``:
the same seed gives identical walks for ANY number of workers. A ``Generator`` passed as
``random_state`` is advanced by one draw.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from embeddings._io import atomic_write
from embeddings._validate import as_ids, describe_values
from embeddings.graph import ItemGraph
from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY

__all__ = [
    "generate_walks",
    "WalkCorpus",
    "walks_to_ids",
    "walks_to_corpus_file",
    "CHUNK",
    "PRECOMPUTED_MAX_BYTES",
]

logger = logging.getLogger(__name__)

CHUNK = 256
"""Walks per random stream; fixed so results do not depend on the number of workers."""

LOCKSTEP = 16
"""Walks of a chunk advanced together, step by step, so that their cache misses overlap."""

PRECOMPUTED_MAX_BYTES = 256 * 2**20
"""``mode="auto"`` never builds per-edge alias tables larger than this (bytes)."""

Mode = Literal["auto", "otf", "precomputed"]

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


# ---------------------------------------------------------------------------------------------
def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_positive_float(value: Any, name: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from exc
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return f


def _root_seed(random_state: Any) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if isinstance(random_state, np.random.RandomState):
        raise ValueError("random_state: legacy RandomState is not supported; pass an int seed")
    return np.random.SeedSequence(random_state)


def _edge_table_size(graph: ItemGraph) -> NDArray[np.int64]:
    """``offsets`` (n_edges + 1,) of the per-edge tables: edge t->v gets out_degree(v) entries."""
    deg = graph.out_degree()
    return np.concatenate([[0], np.cumsum(deg[graph.indices], dtype=np.int64)]).astype(np.int64)


def _choose_mode(graph: ItemGraph, mode: str, total_steps: int) -> str:
    if mode != "auto":
        return mode
    deg = graph.out_degree()
    indeg = np.bincount(graph.indices, minlength=graph.n_nodes)
    entries = int((deg * indeg).sum())
    nbytes = 8 * entries + 8 * (graph.n_edges + 1)
    # measured (1 thread, powerlaw-cluster graphs): building and walking with the tables beat
    # rejection sampling even at entries = 1.4 x steps; past a few x the build dominates
    if nbytes <= PRECOMPUTED_MAX_BYTES and entries <= 4 * total_steps:
        return "precomputed"
    return "otf"


def _build_tables(
    graph: ItemGraph, used: str, p: float, q: float
) -> tuple[NDArray[np.uint32], NDArray[Any] | None, NDArray[np.int64] | None]:
    """``(tab, extra, offsets)``: the first-order alias table (n_edges, 4); ``extra`` is the
    return-probability table of the on-the-fly sampler (a dummy when it needs none) or the
    per-edge alias tables of the precomputed one, whose row ``offsets``."""
    max_deg = max(int(graph.out_degree().max(initial=0)), 1)
    tab = np.empty((graph.n_edges, 4), np.uint32)
    _build_first_order(graph.indptr, graph.indices, graph.weights, tab, max_deg)
    if used == "otf":
        inv_p, inv_q = 1.0 / p, 1.0 / q
        if inv_p > max(1.0, inv_q):  # the sampler folds the return mass: needs ret
            return tab, _build_return_probs(graph.indptr, graph.indices, graph.weights, tab), None
        return tab, np.zeros((1, 2, 2), np.float32), None
    if used != "precomputed":
        return tab, None, None
    offsets = _edge_table_size(graph)
    logger.info(
        "node2vec precomputed: %d per-edge alias entries (%.1f MB)",
        offsets[-1],
        offsets[-1] * 8 / 2**20,
    )
    etab = _build_edge_tables(
        graph.indptr, graph.indices, graph.weights, 1.0 / p, 1.0 / q, offsets, max_deg
    )
    return tab, etab, offsets


class _WalkPlan:
    """Validated walk parameters, the sampler's tables and the seeds: everything but the walks.

    Round ``r`` starts one walk from every start node, in the order of a seeded shuffle; its
    ``n_chunks`` chunks of ``CHUNK`` walks each have their own seed. Any aligned range of chunks
    of a round can therefore be generated on its own (``fill``) and equals the same rows of the
    whole matrix: this is what lets :class:`WalkCorpus` stream walks in blocks.
    """

    def __init__(
        self,
        graph: ItemGraph,
        num_walks: int,
        walk_length: int,
        p: float,
        q: float,
        mode: str,
        workers: int,
        random_state: Any,
        start_nodes: ArrayLike | None,
    ) -> None:
        if not isinstance(graph, ItemGraph):
            raise ValueError(f"graph must be an ItemGraph, got {type(graph).__name__}")
        self.num_walks = _check_positive_int(num_walks, "num_walks")
        self.walk_length = _check_positive_int(walk_length, "walk_length")
        self.workers = _check_positive_int(workers, "workers")
        self.p = _check_positive_float(p, "p")
        self.q = _check_positive_float(q, "q")
        if mode not in ("auto", "otf", "precomputed"):
            raise ValueError(f"mode must be 'auto', 'otf' or 'precomputed', got {mode!r}")
        n = graph.n_nodes
        if n == 0:
            raise ValueError("graph has no nodes: nothing to walk on")
        if graph.n_edges >= 2**31:
            raise ValueError(f"graph has {graph.n_edges} edges; at most 2**31 - 1 are supported")
        if start_nodes is None:
            starts = np.arange(n, dtype=np.int32)
        else:
            s64 = as_ids(
                start_nodes, name="start_nodes", unique=False, allow_padding=True
            )  # positions
            if s64.size == 0:
                raise ValueError("start_nodes is empty")
            bad = s64[(s64 < 0) | (s64 >= n)]
            if bad.size:
                raise ValueError(
                    f"start_nodes must be positions in [0, {n}); out of range: {describe_values(bad)}"
                )
            starts = s64.astype(np.int32)
        self.graph = graph
        self.starts = starts
        self.n_start = starts.shape[0]
        first_order = self.p == 1.0 and self.q == 1.0
        total_steps = self.num_walks * self.n_start * max(self.walk_length - 1, 0)
        self.used = "first-order" if first_order else _choose_mode(graph, mode, total_steps)
        # spawned once: SeedSequence.spawn is stateful, and every pass must see the same seeds
        self.perm_seq, *self.round_seqs = _root_seed(random_state).spawn(self.num_walks + 1)
        self.n_chunks = (self.n_start + CHUNK - 1) // CHUNK
        self.tables: tuple[Any, Any, Any] | None = None

    @property
    def n_walks(self) -> int:
        return self.num_walks * self.n_start

    def threads(self) -> int:
        threads = min(self.workers, numba.config.NUMBA_NUM_THREADS)
        if threads < self.workers:
            logger.warning("workers=%d capped to numba's %d threads", self.workers, threads)
        return threads

    def build(self) -> None:
        """Build the sampler's tables (once; call with numba's thread count set)."""
        if self.tables is None:
            self.tables = _build_tables(self.graph, self.used, self.p, self.q)

    def rounds(self) -> Iterator[tuple[NDArray[np.int32], NDArray[np.uint64]]]:
        """``(round_starts, chunk_seeds)`` of every round, in order (restartable)."""
        perm_rng = np.random.default_rng(self.perm_seq)
        round_seqs = self.round_seqs
        for r in range(self.num_walks):
            round_starts = np.ascontiguousarray(self.starts[perm_rng.permutation(self.n_start)])
            yield round_starts, round_seqs[r].generate_state(self.n_chunks, dtype=np.uint64)

    def fill(self, out: NDArray[np.int32], starts: NDArray[Any], seeds: NDArray[np.uint64]) -> None:
        """Walk from ``starts`` (chunk-aligned slice of a round) into ``out`` (len(starts), L)."""
        assert self.tables is not None
        tab, etab, offsets = self.tables
        g = self.graph
        if self.used == "first-order":
            _walk_first_order(out, starts, seeds, g.indptr, tab)
        elif self.used == "otf":
            _walk_otf(
                out, starts, seeds, g.indptr, g.indices, tab, etab, 1.0 / self.p, 1.0 / self.q
            )
        else:
            _walk_precomputed(out, starts, seeds, g.indptr, g.indices, tab, etab, offsets)


def generate_walks(
    graph: ItemGraph,
    num_walks: int = 10,
    walk_length: int = 80,
    p: float = 1.0,
    q: float = 1.0,
    mode: Mode = "auto",
    workers: int = 1,
    random_state: Any = None,
    progress: bool = True,
    start_nodes: ArrayLike | None = None,
) -> NDArray[np.int32]:
    """DeepWalk (p = q = 1) or node2vec random walks over ``graph``.

    Args:
        graph: weighted directed CSR graph; walks follow out-edges.
        num_walks: rounds; every start node starts one walk per round.
        walk_length: nodes per walk (including the start node), >= 1.
        p, q: node2vec return and in-out parameters (> 0); p = q = 1 is DeepWalk (first order).
        mode: second-order sampler, ``"otf"`` (rejection sampling, O(E) memory),
            ``"precomputed"`` (per-edge alias tables) or ``"auto"``; ignored when p = q = 1.
        workers: threads (numba ``prange``); walks do not depend on it.
        random_state: int, SeedSequence, Generator or None.
        progress: show a tqdm bar (one update per round).
        start_nodes: int positions (rows of ``graph``) to start from; default every node.

    Returns:
        int32 ``(num_walks * n_start, walk_length)`` matrix of node positions; row
        ``r * n_start + i`` starts at ``start_nodes[perm_r[i]]`` (a seeded shuffle per round).
        A walk that reaches a node without out-edges stops there; the rest of its row is -1.
        Map to node ids with :func:`walks_to_ids` or write a corpus with :func:`walks_to_corpus_file`.
        :class:`WalkCorpus` yields the same rows in blocks without holding the whole matrix.
    """
    plan = _WalkPlan(graph, num_walks, walk_length, p, q, mode, workers, random_state, start_nodes)
    n_start = plan.n_start
    prev_threads = numba.get_num_threads()
    numba.set_num_threads(plan.threads())
    try:
        plan.build()
        walks = np.empty((plan.n_walks, plan.walk_length), dtype=np.int32)
        bar = tqdm(
            total=plan.n_walks, unit="walk", disable=not progress, desc=f"walks ({plan.used})"
        )
        with bar:
            for r, (round_starts, seeds) in enumerate(plan.rounds()):
                plan.fill(walks[r * n_start : (r + 1) * n_start], round_starts, seeds)
                bar.update(n_start)
    finally:
        numba.set_num_threads(prev_threads)

    if plan.walk_length > 1:
        deg = graph.out_degree()
        no_out = int((deg[plan.starts] == 0).sum())
        short = int((walks[:, -1] < 0).sum())
        if no_out:
            logger.info(
                "%d of %d start nodes have no out-edges (walks of length 1)", no_out, n_start
            )
        if short:
            logger.info(
                "%d of %d walks are shorter than walk_length (they reached a node without out-edges)",
                short,
                walks.shape[0],
            )
    return walks


Cache = Literal["regenerate", "spill"]


class WalkCorpus:
    """The rows of :func:`generate_walks`, streamed in blocks: a restartable iterable.

    Iterating yields int32 blocks ``(<= block_walks, walk_length)`` of node positions (-1
    padded) whose concatenation is exactly ``generate_walks(graph, ...)`` for the same arguments
    and ``random_state`` (each block is a chunk-aligned range of a round, walked with that
    range's own seeds), so training on the stream gives the same vectors as training on the
    matrix. Only one block is held at a time, plus the sampler's tables (16 bytes per edge).

    Every pass gives the same walks. ``cache`` says where later passes (gensim reads its corpus
    once for the vocabulary and once per epoch) get them from:

    * ``"regenerate"`` (default): walk again. Measured side by side on a 100k-node / 1M-edge
      weighted graph (DeepWalk 10 walks x 80, gensim d=128, window 1, one negative, one thread,
      run together, load 14): peak RSS 624.2 MB regenerating vs 623.7 MB spilling, 1292 s vs
      1284 s end to end; a pass of walking is a few seconds against minutes of skip-gram, so
      regenerating costs no measurable time and needs no disk (4 bytes per step, 320 MB at that size, 3.2 GB at 1M nodes).
    * ``"spill"``: the first pass also writes the blocks to a temporary ``.npy`` file (deleted by
      :meth:`close`, on exit of a ``with`` block, or when the object is collected); later passes
      read it back block by block (plain reads, no memory map in the resident set). It is needed
      for random access to rows (:meth:`take`, used by EGES, which shuffles walks each epoch).

    Args:
        graph, num_walks, walk_length, p, q, mode, workers, random_state, start_nodes: as for
            :func:`generate_walks` (the tables are built once, at the first pass).
        block_walks: walks per block, rounded up to a multiple of ``CHUNK``.
        cache: ``"regenerate"`` or ``"spill"``.
        spill_dir: folder of the spill file (default: the system temp folder).

    After a full pass, ``stats`` holds ``n_walks``, ``mean_walk_length`` and
    ``walks_shorter_than_2`` (walks with fewer than 2 nodes).
    """

    def __init__(
        self,
        graph: ItemGraph,
        num_walks: int = 10,
        walk_length: int = 80,
        p: float = 1.0,
        q: float = 1.0,
        mode: Mode = "auto",
        workers: int = 1,
        random_state: Any = None,
        start_nodes: ArrayLike | None = None,
        block_walks: int = 16384,
        cache: Cache = "regenerate",
        spill_dir: str | os.PathLike | None = None,
    ) -> None:
        self._plan = _WalkPlan(
            graph, num_walks, walk_length, p, q, mode, workers, random_state, start_nodes
        )
        block_walks = _check_positive_int(block_walks, "block_walks")
        if cache not in ("regenerate", "spill"):
            raise ValueError(f"cache must be 'regenerate' or 'spill', got {cache!r}")
        self.graph = graph
        self.block_chunks = -(-block_walks // CHUNK)
        self.cache = cache
        self.spill_dir = spill_dir
        self._spill: Path | None = None  # complete spill file
        self._header = 0
        self.stats: dict[str, Any] = {}

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_walks, walk_length)`` of the whole (never materialised) walk matrix."""
        return self._plan.n_walks, self._plan.walk_length

    @property
    def used(self) -> str:
        """The sampler: ``"first-order"``, ``"otf"`` or ``"precomputed"``."""
        return self._plan.used

    def _generate(self) -> Iterator[NDArray[np.int32]]:
        plan = self._plan
        prev_threads = numba.get_num_threads()
        threads = plan.threads()
        step = self.block_chunks * CHUNK
        for round_starts, seeds in plan.rounds():
            for lo in range(0, plan.n_start, step):
                hi = min(plan.n_start, lo + step)
                block = np.empty((hi - lo, plan.walk_length), np.int32)
                numba.set_num_threads(threads)
                try:
                    plan.build()
                    c0 = lo // CHUNK
                    plan.fill(block, round_starts[lo:hi], seeds[c0 : c0 + self.block_chunks])
                finally:
                    numba.set_num_threads(prev_threads)
                yield block

    def _read_spill(self) -> Iterator[NDArray[np.int32]]:
        assert self._spill is not None
        n_walks, length = self.shape
        step = self.block_chunks * CHUNK
        with open(self._spill, "rb") as fh:
            for lo in range(0, n_walks, step):
                rows = min(step, n_walks - lo)
                fh.seek(self._header + lo * length * 4)
                block = np.fromfile(fh, dtype=np.int32, count=rows * length)
                if block.shape[0] != rows * length:
                    raise ValueError(f"spill file {self._spill} is truncated")
                yield block.reshape(rows, length)

    def __iter__(self) -> Iterator[NDArray[np.int32]]:
        if self._spill is not None:
            yield from self._read_spill()
            return
        writer = None
        path = None
        if self.cache == "spill":
            import tempfile

            fd, name = tempfile.mkstemp(
                prefix="embrecall-walks-", suffix=".npy", dir=self.spill_dir
            )
            path = Path(name)
            writer = os.fdopen(fd, "wb")
            np.lib.format.write_array_header_1_0(
                writer, {"descr": "<i4", "fortran_order": False, "shape": self.shape}
            )
            self._header = writer.tell()
        n_rows = 0
        n_short = 0
        n_nodes = 0
        complete = False
        try:
            for block in self._generate():
                lengths = (block >= 0).sum(axis=1)
                n_rows += block.shape[0]
                n_short += int((lengths < 2).sum())
                n_nodes += int(lengths.sum())
                if writer is not None:
                    block.tofile(writer)
                yield block
            complete = True
        finally:
            if writer is not None:
                writer.close()
                if complete:
                    self._spill = path
                elif path is not None:
                    path.unlink(missing_ok=True)
        self.stats = {
            "n_walks": n_rows,
            "mean_walk_length": n_nodes / n_rows if n_rows else 0.0,
            "walks_shorter_than_2": n_short,
        }

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.int32]:
        """Walks ``rows`` (int positions in ``[0, n_walks)``) as an int32 ``(len(rows), L)`` copy.

        Needs ``cache="spill"`` and one full pass first. Reads through a memory map whose pages
        are released from the resident set after the copy (``MADV_DONTNEED``).
        """
        import mmap

        if self._spill is None:
            raise ValueError("take() needs cache='spill' and one full pass over the corpus first")
        idx = np.asarray(rows, dtype=np.int64)
        n_walks, length = self.shape
        if idx.size and (idx.min() < 0 or idx.max() >= n_walks):
            raise ValueError(f"rows must lie in [0, {n_walks})")
        with open(self._spill, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            view = np.frombuffer(mm, dtype=np.int32, offset=self._header).reshape(n_walks, length)
            out = view[idx]
            del view
            if hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                mm.madvise(mmap.MADV_DONTNEED)
        finally:
            mm.close()
        return out

    def to_corpus_file(self, path: str | os.PathLike) -> Path:
        """Write every walk with >= 2 nodes as a line of node ids (gensim ``corpus_file``), one
        block at a time, atomically; returns the path."""
        g = self.graph
        tokens = [str(i).encode() for i in g.node_ids.tolist()]
        tok_len = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        tok_off = np.concatenate([[0], np.cumsum(tok_len)]).astype(np.int64)
        tok_bytes = np.frombuffer(b"".join(tokens), dtype=np.uint8)
        max_tok = int(tok_len.max(initial=1))
        target = Path(path)
        with atomic_write(target, "wb") as fh:
            for block in self:
                keep = block[(block >= 0).sum(axis=1) >= 2]
                buf = np.empty(keep.shape[0] * (keep.shape[1] * (max_tok + 1) + 1), np.uint8)
                used = _format_rows(keep, tok_bytes, tok_off, buf)
                fh.write(memoryview(buf[:used]))
        return target

    def close(self) -> None:
        """Delete the spill file (if any); the corpus walks again on the next pass."""
        if self._spill is not None:
            self._spill.unlink(missing_ok=True)
            self._spill = None

    def __enter__(self) -> WalkCorpus:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ---------------------------------------------------------------------------------------------
def _check_walks(walks: Any, graph: ItemGraph) -> NDArray[np.int32]:
    w = np.asarray(walks)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"walks must be a 2-D integer matrix, got {w.dtype} {w.shape}")
    if w.size and (w.max() >= graph.n_nodes or w.min() < -1):
        raise ValueError(f"walks hold positions outside [-1, {graph.n_nodes}) of this graph")
    return np.ascontiguousarray(w, dtype=np.int32)


def walks_to_ids(walks: NDArray[np.int32], graph: ItemGraph) -> list[NDArray[np.int64]]:
    """One int64 array of node ids per walk, the -1 padding dropped."""
    w = _check_walks(walks, graph)
    valid = w >= 0
    lengths = valid.sum(axis=1)
    flat = graph.node_ids[w[valid]]
    return np.split(flat, np.cumsum(lengths)[:-1]) if w.shape[0] else []


@njit(cache=True)
def _format_rows(walks, tok_bytes, tok_off, buf):
    """Write rows as ``tok tok ...\\n`` into ``buf``; returns bytes written."""
    pos = 0
    for i in range(walks.shape[0]):
        first = True
        for j in range(walks.shape[1]):
            v = walks[i, j]
            if v < 0:
                break
            if not first:
                buf[pos] = 32
                pos += 1
            first = False
            for b in range(tok_off[v], tok_off[v + 1]):
                buf[pos] = tok_bytes[b]
                pos += 1
        buf[pos] = 10
        pos += 1
    return pos


def walks_to_corpus_file(
    walks: NDArray[np.int32], graph: ItemGraph, path: str | os.PathLike, rows_per_block: int = 65536
) -> Path:
    """Write walks as text for gensim's ``corpus_file``: one walk per line, ids separated by spaces.

    Written in blocks of ``rows_per_block`` walks (bounded memory) and atomically.
    """
    w = _check_walks(walks, graph)
    tokens = [str(i).encode() for i in graph.node_ids.tolist()]
    tok_len = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    tok_off = np.concatenate([[0], np.cumsum(tok_len)]).astype(np.int64)
    tok_bytes = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    max_tok = int(tok_len.max(initial=1))
    target = Path(path)
    with atomic_write(target, "wb") as fh:
        for start in range(0, w.shape[0], rows_per_block):
            block = w[start : start + rows_per_block]
            buf = np.empty(block.shape[0] * (block.shape[1] * (max_tok + 1) + 1), np.uint8)
            used = _format_rows(block, tok_bytes, tok_off, buf)
            fh.write(memoryview(buf[:used]))
    return target
