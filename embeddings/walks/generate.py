"""``generate_walks``: DeepWalk (first order) and node2vec (p, q) walks as one int32 matrix.

Validates the walk parameters, picks and builds the sampler's tables
(``embeddings.walks.kernels``) and runs the walkers round by round.

Parallelism and determinism: the walks of each round are cut into fixed chunks of ``CHUNK`` walks;
every chunk has its own random stream (SplitMix64 seeded from a ``SeedSequence`` spawned per
round), and chunks run in a numba ``prange``. The walks therefore depend only on ``random_state``:
the same seed gives identical walks for ANY number of workers. A ``Generator`` passed as
``random_state`` is advanced by one draw.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Literal

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.graph import ItemGraph
from embeddings.progress import progress_bar as tqdm  # plain lines when not a TTY
from embeddings.validate import as_ids, describe_values
from embeddings.walks.kernels import (
    CHUNK,
    _build_edge_tables,
    _build_first_order,
    _build_return_probs,
    _walk_first_order,
    _walk_otf,
    _walk_precomputed,
)

__all__ = ["generate_walks", "start_nodes_for", "WALK_STARTS", "PRECOMPUTED_MAX_BYTES", "Mode"]

logger = logging.getLogger(__name__)

PRECOMPUTED_MAX_BYTES = 256 * 2**20
"""``mode="auto"`` never builds per-edge alias tables larger than this (bytes)."""

Mode = Literal["auto", "otf", "precomputed"]

#: where walks start: every node alike, or in proportion to its out-strength
WALK_STARTS = ("uniform", "popularity")


def start_nodes_for(graph: ItemGraph, starts: str = "uniform") -> NDArray[np.int32] | None:
    """Start positions of one round of walks (``generate_walks(start_nodes=...)``).

    ``"uniform"``: ``None`` (every node starts one walk per round, DeepWalk's rule).
    ``"popularity"``: the same number of walks per round (one per node), shared out in
    proportion to each node's out-strength (total out-weight: on a graph of session
    transitions, how often the item is followed by another), by largest remainders, so the
    corpus visits items about as often as the behaviour log does instead of giving a rarely
    seen item as many walks as a popular one. Nodes without out-edges start none. Returns
    int32 positions, sorted, with repeats.
    """
    if starts not in WALK_STARTS:
        raise ValueError(f"starts must be one of {WALK_STARTS}, got {starts!r}")
    if starts == "uniform":
        return None
    rows = np.repeat(np.arange(graph.n_nodes), graph.out_degree())
    strength = np.bincount(rows, weights=graph.weights, minlength=graph.n_nodes)
    total = strength.sum()
    if not total > 0:
        raise ValueError("the graph has no edges: no walk can start by popularity")
    share = strength * (graph.n_nodes / total)
    counts = np.floor(share).astype(np.int64)
    missing = graph.n_nodes - int(counts.sum())
    if missing > 0:  # largest remainders, ties by position (deterministic)
        order = np.lexsort((np.arange(graph.n_nodes), -(share - counts)))
        counts[order[:missing]] += 1
    return np.repeat(np.arange(graph.n_nodes, dtype=np.int32), counts)


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
