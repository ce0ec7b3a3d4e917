"""Construction of :class:`recall.lsh.balanced.BalancedLSHIndex`: the split trees and their arrays.

:func:`build_forest` turns prepared vectors into the arrays the compiled search
(:mod:`recall.lsh.balanced_kernels`) walks: norm ranges (``ip``), one split tree per range and
table (a bucket larger than ``leaf_size`` is split by the centred cross-polytope function of the
next depth, level by level), the posting lists of every leaf and the internal row order (table 0's
leaf order). :func:`check_state` validates the same arrays read back from an index file. The
method is described in :mod:`recall.lsh.balanced`'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recall.lsh.build_kernels import group_rows, split_level
from recall.lsh.crosspolytope import orthonormal_blocks

__all__ = ["Forest", "build_forest", "check_state", "hash_dim"]


@dataclass(frozen=True)
class Forest:
    """The arrays of a built balanced index (internal row order = table 0's leaf order).

    ``x`` (n, d) float32 vectors; ``rank`` (n,) int32 insertion position of each row; ``proj``
    (R*L*depth, d_h, D') float32 hash directions; ``range_scale`` / ``range_bound`` (R,) float32
    (largest norm per range for ``ip``; 1 / +inf otherwise); ``roots`` (R, L) int64 root node of
    each tree; ``nodes`` (n_nodes, 4) int32 ``[first child, inner row, lo, hi]``; ``inner_f``
    (n_inner,) int32 splitting function of each inner node; ``node_pm`` (n_inner, D') float32
    ``P^T mean`` of each inner node; ``postings`` (n*L,) int32 rows of every leaf.
    """

    x: NDArray[np.float32]
    rank: NDArray[np.int32]
    proj: NDArray[np.float32]
    range_scale: NDArray[np.float32]
    range_bound: NDArray[np.float32]
    roots: NDArray[np.int64]
    nodes: NDArray[np.int32]
    inner_f: NDArray[np.int32]
    node_pm: NDArray[np.float32]
    postings: NDArray[np.int32]


def hash_dim(metric: str, d: int) -> int:
    """Dimension of the hash inputs: ``d + 1`` for ``ip`` (the norm-completing coordinate)."""
    return d + 1 if metric == "ip" else d


def norm_ranges(
    x: NDArray[np.float32], metric: str, n_ranges: int | None, leaf_size: int
) -> tuple[NDArray[np.int64], list[NDArray]]:
    """Items sorted into norm ranges (ip: longest first, geometric sizes; else one range):
    the range of every row (n,) int64 and the rows of every range."""
    n = x.shape[0]
    if metric != "ip" or n_ranges == 1:
        return np.zeros(n, dtype=np.int64), [np.arange(n)]
    sq = np.einsum("ij,ij->i", x, x)
    order = np.argsort(-sq, kind="stable")
    R = n_ranges or int(np.clip(math.ceil(math.log2(n / (4 * leaf_size) + 1)), 1, 32))
    bounds = np.round(n * (2.0 ** np.arange(R + 1) - 1) / (2.0**R - 1)).astype(np.int64)
    # a range smaller than a few leaves is merged into the next one
    bounds = np.unique(np.concatenate([[0], bounds[1:-1][bounds[1:-1] >= 4 * leaf_size], [n]]))
    parts = [order[bounds[i] : bounds[i + 1]] for i in range(bounds.size - 1)]
    label = np.empty(n, dtype=np.int64)
    for i, pt in enumerate(parts):
        label[pt] = i
    return label, parts


def hash_items(x: NDArray[np.float32], m: float, metric: str) -> NDArray[np.float32]:
    """Hash inputs of items: ``x`` or, for ip, ``[x, sqrt(m^2 - |x|^2)]`` (m = range max norm)."""
    if metric != "ip":
        return x
    sq = np.einsum("ij,ij->i", x, x)
    extra = np.sqrt(np.maximum(np.float32(m * m) - sq, 0.0)).astype(np.float32)
    return np.concatenate([x, extra[:, None]], axis=1)


def build_table(
    h: NDArray[np.float32],
    proj: NDArray[np.float32],
    table: int,
    node_base: int,
    n_dirs: int,
    leaf_size: int,
    max_depth: int,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Split one table's buckets level by level (hash inputs ``h`` (n, d_h) float32).

    Returns per node (local numbering, root 0): first child (global numbering, -1 for a leaf),
    splitting function, row of ``pm`` (-1 for a leaf); ``pm`` (n_inner, D') = ``P^T mean`` of
    every inner node; the leaf of every point (local numbering).
    """
    n = h.shape[0]
    D2 = 2 * n_dirs
    node_of = np.zeros(n, dtype=np.int64)
    child = np.full(1, -1, dtype=np.int64)
    pq_index = np.full(1, -1, dtype=np.int64)
    inner = np.full(1, -1, dtype=np.int64)
    pm_parts: list[NDArray[np.float32]] = []
    n_inner = 0
    active = np.arange(n)
    for level in range(max_depth):
        if active.size == 0:
            break
        counts = np.bincount(node_of[active], minlength=child.size)
        split = counts > leaf_size
        if not split.any():
            break
        active = active[split[node_of[active]]]
        split_nodes = np.flatnonzero(split)
        ns = split_nodes.size
        remap = np.full(child.size, -1, dtype=np.int64)
        remap[split_nodes] = np.arange(ns)
        local = remap[node_of[active]]
        f = table * max_depth + level
        # projections, node means and centred digits in one compiled pass over the rows in
        # place (issue 11: the gathered copy ``h[active]`` and the BLAS product took most of
        # the build at 1M)
        pm, digits = split_level(h, active, local, ns, proj[f])
        first = child.size
        child[split_nodes] = node_base + first + np.arange(ns) * D2
        pq_index[split_nodes] = f
        inner[split_nodes] = n_inner + np.arange(ns)
        n_inner += ns
        pm_parts.append(pm)
        grow = np.full(ns * D2, -1, dtype=np.int64)
        child = np.concatenate([child, grow])
        pq_index = np.concatenate([pq_index, grow])
        inner = np.concatenate([inner, grow])
        node_of[active] = first + local * D2 + digits
    pm_all = np.concatenate(pm_parts) if pm_parts else np.zeros((0, n_dirs), dtype=np.float32)
    return child, pq_index, inner, pm_all, node_of


def build_forest(
    x: NDArray[np.float32],
    rank: NDArray[np.int32],
    *,
    metric: str,
    n_tables: int,
    n_dirs: int,
    leaf_size: int,
    max_depth: int,
    n_ranges: int | None,
    random_state: int | None,
) -> Forest:
    """Every range's and table's split tree over prepared vectors ``x`` (n, d) float32 whose
    insertion positions are ``rank`` (n,) int32. The hash directions are drawn in order from one
    stream seeded by ``random_state`` (prefix-stable). ``ValueError`` if the posting offsets
    outgrow int32."""
    n, d = x.shape
    _label, parts = norm_ranges(x, metric, n_ranges, leaf_size)
    R = len(parts)
    rng = np.random.default_rng(random_state)
    proj = orthonormal_blocks(rng, R * n_tables * max_depth, hash_dim(metric, d), n_dirs)
    sq = np.einsum("ij,ij->i", x, x)
    scale = np.ones(R, dtype=np.float32)
    bound = np.full(R, np.inf, dtype=np.float32)
    children, pqs, inners, pms = [], [], [], []
    leaf_of = np.empty((n_tables, n), dtype=np.int64)
    roots = np.zeros((R, n_tables), dtype=np.int64)
    node_base = 0
    inner_base = 0
    for r, rows in enumerate(parts):
        if metric == "ip":
            scale[r] = bound[r] = np.float32(np.sqrt(sq[rows].max()))
        # cosine / l2: one range of every row in order, so the vectors themselves, not a copy
        h = hash_items(x if metric != "ip" else x[rows], float(scale[r]), metric)
        for t in range(n_tables):
            child, pq_index, inner, pm, node_of = build_table(
                h, proj, r * n_tables + t, node_base, n_dirs, leaf_size, max_depth
            )
            roots[r, t] = node_base
            children.append(child)
            pqs.append(pq_index)
            inners.append(np.where(inner >= 0, inner + inner_base, -1))
            pms.append(pm)
            leaf_of[t, rows] = node_of + node_base
            node_base += child.size
            inner_base += pm.shape[0]
    # internal row order: table 0's leaf order (its leaves become contiguous rows)
    order = np.lexsort((rank, leaf_of[0]))
    counts = np.bincount(leaf_of.ravel(), minlength=node_base)
    ends = np.cumsum(counts)
    if ends[-1] >= 2**31 or node_base >= 2**31:
        raise ValueError(f"too many rows x tables for int32 posting offsets: {ends[-1]}")
    child = np.concatenate(children)
    inner = np.concatenate(inners)
    pq_index = np.concatenate(pqs)
    inner_f = np.zeros(int((inner >= 0).sum()), dtype=np.int32)
    inner_f[inner[inner >= 0]] = pq_index[inner >= 0]
    return Forest(
        x=np.ascontiguousarray(x[order]),
        rank=rank[order],
        proj=proj,
        range_scale=scale,
        range_bound=bound,
        roots=roots,
        nodes=np.ascontiguousarray(
            np.stack([child, inner, ends - counts, ends], axis=1), dtype=np.int32
        ),
        inner_f=inner_f,
        node_pm=np.ascontiguousarray(np.concatenate(pms), dtype=np.float32),
        # rows ascend within each table's block and leaves are distinct across tables, so
        # grouping by leaf in position order keeps rows ascending inside every leaf (the same
        # array as a stable argsort of the leaves, without the sort)
        postings=group_rows(leaf_of, order, ends - counts),
    )


def check_state(
    state: dict[str, NDArray], n: int, d: int, metric: str, n_tables: int, n_dirs: int,
    max_depth: int,
) -> Forest:  # fmt: skip
    """The arrays of an index file (``BalancedLSHIndex._get_state``'s names) as a
    :class:`Forest`, cast and checked against ``n`` items of dimension ``d`` and the index's
    parameters; ``ValueError`` naming what is missing, inconsistent or corrupt."""
    try:
        x = np.ascontiguousarray(state["vectors"], dtype=np.float32)
        rank = np.asarray(state["rank"], dtype=np.int32)
        proj = np.ascontiguousarray(state["projections"], dtype=np.float32)
        scale = np.asarray(state["range_scale"], dtype=np.float32)
        bound = np.asarray(state["range_bound"], dtype=np.float32)
        roots = np.asarray(state["roots"], dtype=np.int64)
        nodes = np.ascontiguousarray(state["nodes"], dtype=np.int32)
        inner_f = np.ascontiguousarray(state["inner_f"], dtype=np.int32)
        node_pm = np.ascontiguousarray(state["node_pm"], dtype=np.float32)
        postings = np.ascontiguousarray(state["postings"], dtype=np.int32)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"LSH index file: missing or bad arrays ({exc})") from exc
    R = roots.shape[0] if roots.ndim == 2 else -1
    F = R * n_tables * max_depth
    if x.shape != (n, d) or rank.shape != (n,):
        raise ValueError("LSH index file: arrays inconsistent with the ids / dimension")
    if (
        proj.shape != (F, hash_dim(metric, d), n_dirs)
        or roots.shape != (R, n_tables)
        or scale.shape != (R,)
        or bound.shape != (R,)
    ):
        raise ValueError("LSH index file: projections do not match the parameters")
    if nodes.ndim != 2 or nodes.shape[1] != 4:
        raise ValueError("LSH index file: corrupt bucket tree (node table shape)")
    n_nodes = nodes.shape[0]
    child, inner, lo, hi = nodes.T
    n_inner = int((child >= 0).sum())
    if (
        inner_f.shape != (n_inner,)
        or node_pm.shape != (n_inner, n_dirs)
        or postings.size != n * n_tables
        or (n_nodes and (child.max() + 2 * n_dirs > n_nodes))
        or (n_nodes and (roots.min() < 0 or roots.max() >= n_nodes))
        or not np.array_equal(child >= 0, inner >= 0)
        or (inner.max(initial=-1) >= n_inner)
        or (inner_f.size and (inner_f.min() < 0 or inner_f.max() >= F))
        or (lo.min(initial=0) < 0 or hi.max(initial=0) > postings.size or np.any(hi < lo))
        or (postings.size and (postings.min() < 0 or postings.max() >= n))
    ):
        raise ValueError("LSH index file: corrupt bucket tree")
    if not np.array_equal(np.sort(rank), np.arange(n)):
        raise ValueError("LSH index file: corrupt row ranks")
    return Forest(x, rank, proj, scale, bound, roots, nodes, inner_f, node_pm, postings)
