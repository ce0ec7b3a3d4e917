"""Weighted directed item graph in CSR form.

Node ``i`` (row position) is item ``node_ids[i]``; its out-edges are
``indices[indptr[i]:indptr[i+1]]`` (positions, sorted ascending) with ``weights`` alongside.
Built from sessions, the weight of A->B is the number of times B directly follows A (or, with a
``window``, how often B comes within that many steps after A).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids, describe_values

if TYPE_CHECKING:  # pragma: no cover - pandas is not needed to build or walk a graph
    from embeddings.sessions import Sessions

__all__ = ["ItemGraph", "DISTANCE_WEIGHTINGS"]

#: how ``ItemGraph.from_sessions(window=w)`` weighs a pair at distance d
DISTANCE_WEIGHTINGS = ("uniform", "inverse")


@dataclass(frozen=True, eq=False)
class ItemGraph:
    """CSR graph.

    Attributes:
        indptr: int64 (n_nodes + 1,)
        indices: int32 (n_edges,) target positions, sorted within each row
        weights: float32 (n_edges,) positive
        node_ids: int64 (n_nodes,) the caller's ids of the nodes, unique
        directed: whether edges are one-way (an undirected graph stores both directions)
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    weights: NDArray[np.float32]
    node_ids: NDArray[np.int64]
    directed: bool = True

    def __post_init__(self) -> None:
        indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(self.indices, dtype=np.int32)
        weights = np.ascontiguousarray(self.weights, dtype=np.float32)
        node_ids = as_ids(self.node_ids, name="node_ids")
        n = node_ids.shape[0]
        if indptr.shape != (n + 1,) or indptr[0] != 0 or (np.diff(indptr) < 0).any():
            raise ValueError(f"indptr must be non-decreasing of length {n + 1} starting at 0")
        if indices.shape[0] != indptr[-1] or weights.shape[0] != indptr[-1]:
            raise ValueError(
                f"indices ({indices.shape[0]}) and weights ({weights.shape[0]}) must have "
                f"indptr[-1] = {indptr[-1]} entries"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ValueError("indices out of range of the node list")
        if weights.size and (not np.isfinite(weights).all() or (weights <= 0).any()):
            raise ValueError("weights must be finite and > 0")
        for name, val in (("indptr", indptr), ("indices", indices), ("weights", weights)):
            object.__setattr__(self, name, val)
        object.__setattr__(self, "node_ids", node_ids)

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.shape[0])

    @property
    def n_edges(self) -> int:
        """Stored (directed) edges; an undirected edge counts twice."""
        return int(self.indices.shape[0])

    def out_degree(self) -> NDArray[np.int64]:
        return np.diff(self.indptr)

    def neighbors(self, node_id: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Out-neighbour ids and weights of one node id."""
        i = self.position_of([node_id])[0]
        s, e = self.indptr[i], self.indptr[i + 1]
        return self.node_ids[self.indices[s:e]], self.weights[s:e]

    def position_of(self, ids: ArrayLike) -> NDArray[np.int64]:
        """Row positions of node ids; ``KeyError`` naming unknown ids."""
        q = as_ids(ids, unique=False)
        order = np.argsort(self.node_ids, kind="stable")
        sorted_ids = self.node_ids[order]
        pos = np.searchsorted(sorted_ids, q)
        ok = (pos < sorted_ids.shape[0]) & (
            sorted_ids[np.minimum(pos, sorted_ids.shape[0] - 1)] == q
        )
        if not ok.all():
            raise KeyError(f"unknown node ids {describe_values(q[~ok])}")
        return order[pos].astype(np.int64)

    def describe(self) -> dict[str, Any]:
        deg = self.out_degree()
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "directed": self.directed,
            "dead_ends": int((deg == 0).sum()),
            "mean_out_degree": float(deg.mean()) if deg.size else 0.0,
            "total_weight": float(self.weights.sum(dtype=np.float64)),
        }

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_edges(
        cls,
        src: ArrayLike,
        dst: ArrayLike,
        weights: ArrayLike | None = None,
        directed: bool = True,
        node_ids: ArrayLike | None = None,
        keep_self_loops: bool = False,
    ) -> ItemGraph:
        """From an edge list of ids; parallel edges are summed, undirected edges stored both ways.

        ``node_ids`` adds isolated nodes (ids without edges); by default the nodes are the ids
        that occur in the edges.
        """
        s = as_ids(src, name="src", unique=False)
        d = as_ids(dst, name="dst", unique=False)
        if s.shape != d.shape:
            raise ValueError(f"src ({s.shape[0]}) and dst ({d.shape[0]}) differ in length")
        w = (
            np.ones(s.shape[0], np.float64)
            if weights is None
            else np.asarray(weights, dtype=np.float64).ravel()
        )
        if w.shape != s.shape:
            raise ValueError(f"weights ({w.shape[0]}) and edges ({s.shape[0]}) differ in length")
        bad = ~np.isfinite(w) | (w <= 0)
        if (
            bad.any()
        ):  # checked per edge: a negative weight must not hide in a sum of parallel edges
            raise ValueError(
                f"weights must be finite and > 0; bad at edges {describe_values(np.flatnonzero(bad))}"
                f" (values {describe_values(w[bad])})"
            )
        if not keep_self_loops:
            m = s != d
            if not m.all():  # copied only when there is a loop to drop
                s, d, w = s[m], d[m], w[m]
            del m
        extra = np.empty(0, np.int64) if node_ids is None else as_ids(node_ids, name="node_ids")
        nodes, si, di = _positions(s, d, extra)
        del s, d
        if nodes.size == 0:
            raise ValueError("graph has no nodes")
        # undirected: every arc is stored both ways (a self-loop once). The kernel reads the
        # arcs forwards, then the non-loop arcs backwards: the order of the concatenation
        # [s, d] -> [d, s], without building it (memory: 4 bytes per id, not 3 x 16 per edge)
        indptr, cols, uw = _csr_summed(si, di, w, nodes.shape[0], mirror=not directed)
        return cls(indptr, cols, uw, nodes, directed)

    @classmethod
    def from_sessions(
        cls,
        sessions: Sessions,
        keep_self_loops: bool = False,
        window: int = 1,
        distance_weighting: str = "uniform",
    ) -> ItemGraph:
        """Weighted directed graph of the items that follow each other in a session.

        ``window=1`` (default): weight(A->B) = times B directly follows A. ``window=w``: every
        pair of a session at distance ``d = j - i`` in ``1..w`` (B at position j after A at
        position i) adds ``1`` (``distance_weighting="uniform"``) or ``1 / d`` (``"inverse"``)
        to weight(A->B): the item graph of the skip-gram window item2vec sees. Pairs never
        cross a session boundary.
        """
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
            raise ValueError(f"window must be an int >= 1, got {window!r}")
        if distance_weighting not in DISTANCE_WEIGHTINGS:
            raise ValueError(
                f"distance_weighting must be one of {DISTANCE_WEIGHTINGS}, "
                f"got {distance_weighting!r}"
            )
        items = sessions.items
        if items.shape[0] < 2:
            raise ValueError("sessions hold fewer than 2 events: no transition to build a graph")
        session_of = np.repeat(np.arange(len(sessions)), sessions.lengths())
        src_parts, dst_parts, w_parts = [], [], []
        for d in range(1, int(window) + 1):
            if d >= items.shape[0]:
                break
            same = session_of[:-d] == session_of[d:]
            src_parts.append(items[:-d][same])
            dst_parts.append(items[d:][same])
            w_parts.append(
                np.full(int(same.sum()), 1.0 if distance_weighting == "uniform" else 1.0 / d)
            )
        src = np.concatenate(src_parts)
        dst = np.concatenate(dst_parts)
        if src.size == 0:
            raise ValueError("no session holds 2 events: no transition to build a graph")
        weights = None if window == 1 else np.concatenate(w_parts)
        return cls.from_edges(src, dst, weights, directed=True, keep_self_loops=keep_self_loops)

    def reweighted(self, popularity_exponent: float) -> ItemGraph:
        """The same edges with weight(A->B) / (strength(A) * strength(B)) ** popularity_exponent.

        strength(A) = total weight out of A, strength(B) = total weight into B (for an
        undirected graph both are the node's total weight, so the graph stays symmetric).
        From A, a first-order walk then steps to B with probability proportional to
        ``w(A, B) / strength(B) ** popularity_exponent``: 0 leaves the graph as it is, 0.5 is
        the symmetric normalisation D^-1/2 W D^-1/2, 1 divides by the target's whole weight
        (walks drift less to popular hubs). Returns a new graph (this one is unchanged).
        """
        beta = float(popularity_exponent)
        if not np.isfinite(beta) or not 0.0 <= beta <= 2.0:
            raise ValueError(f"popularity_exponent must lie in [0, 2], got {popularity_exponent!r}")
        if beta == 0.0:
            return self
        w = self.weights.astype(np.float64)
        rows = np.repeat(np.arange(self.n_nodes), self.out_degree())
        out_s = np.bincount(rows, weights=w, minlength=self.n_nodes)
        in_s = np.bincount(self.indices, weights=w, minlength=self.n_nodes)
        new = w / (out_s[rows] * in_s[self.indices]) ** beta
        new = new / new.max()  # scale only: transition probabilities are unchanged by it
        new = np.maximum(new, np.finfo(np.float32).tiny)  # stays > 0 in float32
        return ItemGraph(
            self.indptr, self.indices, new.astype(np.float32), self.node_ids, self.directed
        )

    # ------------------------------------------------------------------ networkx
    def to_networkx(self) -> Any:
        """``networkx.DiGraph`` (or ``Graph`` if undirected) with ``weight`` edge attributes."""
        import networkx as nx

        g = nx.DiGraph() if self.directed else nx.Graph()
        g.add_nodes_from(self.node_ids.tolist())
        rows = np.repeat(np.arange(self.n_nodes), self.out_degree())
        src = self.node_ids[rows].tolist()
        dst = self.node_ids[self.indices].tolist()
        g.add_weighted_edges_from(zip(src, dst, self.weights.tolist(), strict=True))
        return g

    @classmethod
    def from_networkx(cls, g: Any, weight: str = "weight") -> ItemGraph:
        """From a networkx graph with integer node labels (missing weights count as 1)."""
        edges = list(g.edges(data=weight, default=1.0))
        nodes = list(g.nodes())
        src = [e[0] for e in edges]
        dst = [e[1] for e in edges]
        w = [e[2] for e in edges]
        return cls.from_edges(
            np.asarray(src, dtype=np.int64) if edges else np.empty(0, np.int64),
            np.asarray(dst, dtype=np.int64) if edges else np.empty(0, np.int64),
            w,
            directed=g.is_directed(),
            node_ids=np.asarray(nodes, dtype=np.int64),
            keep_self_loops=True,
        )


#: ids span at most this many times the number of id occurrences (and below 2**31) for the
#: dense lookup table of :func:`_positions`; sparser ids are sorted and searched instead
_DENSE_SPAN = 4


def _positions(
    s: NDArray[np.int64], d: NDArray[np.int64], extra: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int32]]:
    """``(nodes, si, di)``: the sorted distinct ids of ``s``, ``d`` and ``extra`` (int64), and
    the positions of ``s`` and ``d`` among them (int32: 4 bytes per id, not 8).

    Ids in a compact non-negative range (the usual case: 0..n-1 with gaps) are placed through a
    dense table (linear time); other ids by a sort and binary searches. Same result either way.
    """
    parts = [a for a in (s, d, extra) if a.size]
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, empty.astype(np.int32), empty.astype(np.int32)
    lo = min(int(a.min()) for a in parts)
    hi = max(int(a.max()) for a in parts)
    occurrences = sum(a.size for a in parts)
    if lo >= 0 and hi < 2**31 - 1 and hi < _DENSE_SPAN * occurrences + 1024:
        present = np.zeros(hi + 1, np.bool_)
        for a in parts:
            present[a] = True
        nodes = np.flatnonzero(present).astype(np.int64)
        del present
        table = np.zeros(hi + 1, np.int32)  # hi < 2**31 - 1: every position fits
        table[nodes] = np.arange(nodes.shape[0], dtype=np.int32)
        return nodes, table[s], table[d]
    nodes = np.unique(np.concatenate(parts))
    if nodes.shape[0] >= 2**31:
        raise ValueError(f"{nodes.shape[0]} distinct node ids; at most 2**31 - 1 are supported")
    return (
        nodes,
        np.searchsorted(nodes, s).astype(np.int32),
        np.searchsorted(nodes, d).astype(np.int32),
    )


def _csr_summed(
    si: NDArray[np.integer],
    di: NDArray[np.integer],
    w: NDArray[np.float64],
    n: int,
    mirror: bool = False,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
    """CSR of the arcs ``si[k] -> di[k]`` (positions in ``[0, n)``) with parallel arcs merged:
    ``(indptr int64 (n+1,), indices int32 sorted within each row, summed weights float32)``.

    ``mirror``: also the arcs ``di[k] -> si[k]`` for ``si[k] != di[k]``, after all forward
    arcs (an undirected graph). Parallel weights are added in that input order in float64 (as
    ``np.bincount`` would) and rounded to float32 once. Memory: besides the output, 12 bytes per
    stored arc (a column and a float64 weight per arc, bucketed by row)."""
    si = np.ascontiguousarray(si)
    di = np.ascontiguousarray(di)
    if si.dtype != np.int32:
        si = si.astype(np.int64, copy=False)
    if di.dtype != si.dtype:
        di = di.astype(si.dtype)
    return _csr_summed_kernel(si, di, np.ascontiguousarray(w, np.float64), int(n), bool(mirror))


@njit(cache=True)
def _csr_summed_kernel(si, di, w, n, mirror):
    m = si.shape[0]
    start = np.zeros(n + 1, np.int64)
    for k in range(m):
        start[si[k] + 1] += 1
    if mirror:
        for k in range(m):
            if si[k] != di[k]:
                start[di[k] + 1] += 1
    for r in range(n):
        start[r + 1] += start[r]
    total = start[n]
    fill = start[:-1].copy()
    cols = np.empty(total, np.int32)
    ws = np.empty(total, np.float64)
    for k in range(m):  # counting sort by row, stable: input order kept within a row
        p = fill[si[k]]
        cols[p] = di[k]
        ws[p] = w[k]
        fill[si[k]] = p + 1
    if mirror:  # the reversed arcs come after every forward arc, in the same order
        for k in range(m):
            if si[k] != di[k]:
                p = fill[di[k]]
                cols[p] = si[k]
                ws[p] = w[k]
                fill[di[k]] = p + 1
    fill = np.empty(0, np.int64)
    indptr = np.zeros(n + 1, np.int64)
    out_cols = np.empty(total, np.int32)
    out_w = np.empty(total, np.float32)
    order = np.empty(0, np.int64)
    pos = 0
    for r in range(n):
        a = start[r]
        b = start[r + 1]
        deg = b - a
        if deg > 0:
            if deg <= 32:  # insertion sort of positions by column, stable
                if order.shape[0] < 32:
                    order = np.empty(32, np.int64)
                for t in range(deg):
                    j = a + t
                    c = cols[j]
                    u = t
                    while u > 0 and cols[order[u - 1]] > c:
                        order[u] = order[u - 1]
                        u -= 1
                    order[u] = j
                idx = order[:deg]
            else:
                idx = a + np.argsort(cols[a:b], kind="mergesort")
            last = -1
            acc = 0.0  # the summed weight of the current column, in float64
            for t in range(deg):
                j = idx[t]
                c = cols[j]
                if c == last:
                    acc += ws[j]
                else:
                    if last >= 0:
                        out_w[pos - 1] = np.float32(acc)
                    out_cols[pos] = c
                    acc = ws[j]
                    pos += 1
                    last = c
            out_w[pos - 1] = np.float32(acc)
        indptr[r + 1] = pos
    if pos == total:
        return indptr, out_cols, out_w
    return indptr, out_cols[:pos].copy(), out_w[:pos].copy()
