"""``ItemGraph.from_edges``: the dense-table and sorted placements of ids and the compiled CSR
build give the graph of the reference construction (sort of arc keys + ``np.bincount``)."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.datasets.graphs import read_edgelist
from embeddings.graph import ItemGraph, _positions


def reference_from_edges(src, dst, w, directed, node_ids=None, keep_self_loops=False):
    """The construction ``from_edges`` used before the compiled build (kept here as the spec)."""
    s, d, w = np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(w, np.float64)
    if not keep_self_loops:
        m = s != d
        s, d, w = s[m], d[m], w[m]
    if not directed:
        s, d, w = np.concatenate([s, d]), np.concatenate([d, s]), np.concatenate([w, w])
        if keep_self_loops:
            loop = np.flatnonzero(s == d)
            dup = loop[loop >= s.shape[0] // 2]
            keep = np.ones(s.shape[0], bool)
            keep[dup] = False
            s, d, w = s[keep], d[keep], w[keep]
    extra = np.empty(0, np.int64) if node_ids is None else np.asarray(node_ids, np.int64)
    nodes = np.unique(np.concatenate([s, d, extra]))
    si, di = np.searchsorted(nodes, s), np.searchsorted(nodes, d)
    n = nodes.shape[0]
    ukey, inv = np.unique(si * n + di, return_inverse=True)
    uw = np.bincount(inv, weights=w, minlength=ukey.shape[0])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(ukey // n, minlength=n))])
    return indptr, (ukey % n).astype(np.int32), uw.astype(np.float32), nodes


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("keep_self_loops", [True, False])
@pytest.mark.parametrize("id_scale", [1, 10**12])  # dense table / sort and search
def test_from_edges_equals_the_reference(directed, keep_self_loops, id_scale):
    rng = np.random.default_rng(5)
    n, m = 300, 5000  # many parallel edges, rows above and below the insertion-sort cut (32)
    hub = rng.random(m) < 0.3
    src = np.where(hub, 7, rng.integers(0, n, m)) * id_scale + 3
    dst = rng.integers(0, n, m) * id_scale + 3
    w = rng.lognormal(0.0, 1.0, m)  # sums of 3+ parallel weights depend on the order of adding
    extra = np.array([n * id_scale + 11, 3], np.int64)  # an isolated node, an existing one
    g = ItemGraph.from_edges(src, dst, w, directed, node_ids=extra, keep_self_loops=keep_self_loops)
    indptr, indices, weights, nodes = reference_from_edges(
        src, dst, w, directed, extra, keep_self_loops
    )
    assert np.array_equal(g.node_ids, nodes)
    assert np.array_equal(g.indptr, indptr)
    assert np.array_equal(g.indices, indices)
    assert np.array_equal(g.weights, weights)  # bit for bit
    assert (np.diff(g.out_degree()[g.out_degree() > 0]) != 0).any()  # rows of several sizes


def test_positions_dense_and_sorted_paths_agree():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 50, 200) * 3
    d = rng.integers(0, 50, 200) * 3
    extra = np.array([1000], np.int64)
    dense = _positions(s, d, extra)
    far = _positions(s, d, np.array([10**15], np.int64))  # span too wide: sorted path
    assert np.array_equal(dense[0][:-1], far[0][:-1])
    assert np.array_equal(dense[1], far[1]) and np.array_equal(dense[2], far[2])
    assert np.array_equal(dense[0][dense[1]], s) and np.array_equal(dense[0][dense[2]], d)
    neg = _positions(s - 60, d, np.empty(0, np.int64))  # negative ids: sorted path
    assert np.array_equal(neg[0][neg[1]], s - 60)


def test_read_edgelist_keeps_loop_only_nodes_and_equals_from_edges(tmp_path):
    rng = np.random.default_rng(2)
    src, dst = rng.integers(0, 40, 400), rng.integers(0, 40, 400)
    w = np.round(rng.random(400) + 0.1, 6)
    lines = [f"{a}\t{b}\t{c:.6f}" for a, b, c in zip(src, dst, w, strict=True)]
    lines.append("77\t77\t1.0")  # node 77 only has a self-loop: kept as an isolated node
    path = tmp_path / "g.tsv"
    path.write_text("\n".join(lines) + "\n")
    g = read_edgelist(path, directed=False, weighted=True)
    assert 77 in g.node_ids.tolist()
    assert g.out_degree()[g.position_of([77])[0]] == 0
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    ref = reference_from_edges(lo, hi, w, directed=False, node_ids=[77])
    assert np.array_equal(g.indptr, ref[0]) and np.array_equal(g.indices, ref[1])
    assert np.array_equal(g.weights, ref[2]) and np.array_equal(g.node_ids, ref[3])
