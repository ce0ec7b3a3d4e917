"""Walk engine: transition frequencies vs the DeepWalk / node2vec formulas, determinism, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from embeddings.graph import ItemGraph
from embeddings.walks import generate as walks_generate
from embeddings.walks import generate_walks, walks_to_corpus_file, walks_to_ids

MODES = ["otf", "precomputed"]


def _graph_from(edges: list[tuple[int, int, float]], n: int) -> ItemGraph:
    src, dst, w = zip(*edges)
    # node ids differ from positions so that id/position mix-ups show
    return ItemGraph.from_edges(
        np.asarray(src) + 100, np.asarray(dst) + 100, w, node_ids=np.arange(n) + 100
    )


# t = 0, v = 1. From t->v the candidates of v are: 0 (return to t), 2 (t->2 exists, 2->0 does
# not), 3 (3->0 exists but t->3 does not: distance 2 along out-edges) and 4 (unrelated).
# Weights are asymmetric: w(0,1) = 8 but w(1,0) = 2.
EDGES = [
    (0, 1, 8.0),
    (0, 2, 1.0),
    (1, 0, 2.0),
    (1, 2, 3.0),
    (1, 3, 1.5),
    (1, 4, 4.0),
    (2, 1, 1.0),
    (3, 0, 1.0),
    (3, 4, 0.5),
    (4, 1, 1.0),
    (4, 3, 2.5),
]


@pytest.fixture(scope="module")
def graph() -> ItemGraph:
    return _graph_from(EDGES, 5)


def _weight(graph: ItemGraph, a: int, b: int) -> float:
    s, e = graph.indptr[a], graph.indptr[a + 1]
    hit = np.flatnonzero(graph.indices[s:e] == b)
    return float(graph.weights[s + hit[0]]) if hit.size else 0.0


def node2vec_probs(graph: ItemGraph, t: int, v: int, p: float, q: float, buggy: bool = False):
    """Normalised second-order probabilities over v's out-neighbours (positions, in CSR order).

    ``buggy=True`` is csrgraph's variant: the 1/q bias goes to common neighbours of t and v, and
    distance-2 nodes keep weight 1.
    """
    s, e = graph.indptr[v], graph.indptr[v + 1]
    xs = graph.indices[s:e]
    w = graph.weights[s:e].astype(np.float64)
    t_row = set(graph.indices[graph.indptr[t] : graph.indptr[t + 1]].tolist())
    alpha = np.empty(xs.shape[0])
    for k, x in enumerate(xs.tolist()):
        if x == t:
            alpha[k] = 1 / p
        elif (x in t_row) != buggy:
            alpha[k] = 1.0
        else:
            alpha[k] = 1 / q
    prob = w * alpha
    return xs, prob / prob.sum()


def _chisq(observed: np.ndarray, probs: np.ndarray) -> float:
    return float(stats.chisquare(observed, observed.sum() * probs).pvalue)


# --------------------------------------------------------------------------------- first order
def test_first_order_frequencies_match_weights(graph):
    walks = generate_walks(graph, num_walks=4000, walk_length=20, random_state=3, progress=False)
    a, b = walks[:, :-1].ravel(), walks[:, 1:].ravel()
    keep = b >= 0
    counts = np.zeros((5, 5))
    np.add.at(counts, (a[keep], b[keep]), 1)
    for v in range(5):
        s, e = graph.indptr[v], graph.indptr[v + 1]
        xs = graph.indices[s:e]
        w = graph.weights[s:e].astype(np.float64)
        # no transition to a non-neighbour, ever
        assert counts[v].sum() == counts[v, xs].sum()
        if xs.shape[0] > 1:
            assert counts[v].sum() > 5000
            assert _chisq(counts[v, xs], w / w.sum()) > 1e-3, v


# --------------------------------------------------------------------------------- second order
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p,q", [(0.5, 2.0), (2.0, 0.5), (0.25, 4.0), (1.0, 3.0)])
def test_second_order_from_fixed_pair_matches_formula(graph, mode, p, q):
    t, v = 0, 1
    walks = generate_walks(
        graph, 1, 3, p=p, q=q, mode=mode, random_state=11, progress=False,
        start_nodes=np.full(30000, t),
    )  # fmt: skip
    third = walks[walks[:, 1] == v, 2]
    xs, probs = node2vec_probs(graph, t, v, p, q)
    assert set(np.unique(third).tolist()) <= set(xs.tolist())
    observed = np.array([(third == x).sum() for x in xs])
    assert observed.sum() > 20000
    assert _chisq(observed, probs) > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_second_order_rejects_csrgraph_bias(graph, mode):
    """The bias must hit distance-2 nodes, not common neighbours of t and v (csrgraph's bug)."""
    t, v, p, q = 0, 1, 1.0, 4.0
    walks = generate_walks(
        graph, 1, 3, p=p, q=q, mode=mode, random_state=5, progress=False,
        start_nodes=np.full(30000, t),
    )  # fmt: skip
    third = walks[walks[:, 1] == v, 2]
    xs, right = node2vec_probs(graph, t, v, p, q)
    _, wrong = node2vec_probs(graph, t, v, p, q, buggy=True)
    observed = np.array([(third == x).sum() for x in xs])
    assert _chisq(observed, right) > 1e-3
    assert _chisq(observed, wrong) < 1e-12


def _random_graph(seed: int, n: int = 9, m: int = 30) -> ItemGraph:
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < m:
        a, b = rng.integers(0, n, 2)
        if a != b:
            pairs.add((int(a), int(b)))
    edges = [(a, b, float(rng.uniform(0.2, 5.0))) for a, b in sorted(pairs)]
    return _graph_from(edges, n)


@pytest.mark.parametrize("mode", MODES)
def test_second_order_all_contexts_on_random_weighted_digraph(mode):
    """Every (t, v) context met along long walks: pooled chi-square against the p/q formula."""
    g = _random_graph(1)
    p, q = 0.5, 2.0
    walks = generate_walks(g, 300, 40, p=p, q=q, mode=mode, random_state=2, progress=False)
    t, v, x = walks[:, :-2].ravel(), walks[:, 1:-1].ravel(), walks[:, 2:].ravel()
    keep = x >= 0
    n = g.n_nodes
    counts = np.zeros((n, n, n))
    np.add.at(counts, (t[keep], v[keep], x[keep]), 1)
    chi2, dof, contexts = 0.0, 0, 0
    for a in range(n):
        for b in range(n):
            row = counts[a, b]
            if row.sum() < 200:
                continue
            xs, probs = node2vec_probs(g, a, b, p, q)
            assert row.sum() == row[xs].sum()  # only out-neighbours of v
            if xs.shape[0] < 2:
                continue
            expected = row.sum() * probs
            chi2 += float(((row[xs] - expected) ** 2 / expected).sum())
            dof += xs.shape[0] - 1
            contexts += 1
    assert contexts >= 20
    assert stats.chi2.sf(chi2, dof) > 1e-3


# --------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("pq", [(1.0, 1.0), (0.5, 2.0)])
@pytest.mark.parametrize("mode", MODES)
def test_same_seed_same_walks_any_worker_count(mode, pq):
    g = _random_graph(4, n=40, m=200)
    starts = np.tile(np.arange(40), 20)  # 800 starts: several chunks of walks
    kw = dict(p=pq[0], q=pq[1], mode=mode, progress=False, start_nodes=starts)
    a = generate_walks(g, 3, 15, random_state=7, workers=1, **kw)
    b = generate_walks(g, 3, 15, random_state=7, workers=1, **kw)
    c = generate_walks(g, 3, 15, random_state=7, workers=2, **kw)
    d = generate_walks(g, 3, 15, random_state=8, workers=1, **kw)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert (a != d).mean() > 0.5
    assert a.dtype == np.int32 and a.shape == (3 * 800, 15)


def test_rows_are_shuffled_start_nodes_per_round(graph):
    starts = np.array([4, 2, 2, 0, 3, 1])
    w = generate_walks(graph, 5, 4, random_state=0, progress=False, start_nodes=starts)
    firsts = w[:, 0].reshape(5, 6)
    for r in range(5):
        assert sorted(firsts[r].tolist()) == sorted(starts.tolist())
    assert any((firsts[r] != firsts[0]).any() for r in range(1, 5))


def test_generator_and_seedsequence_random_state(graph):
    a = generate_walks(graph, 2, 5, random_state=np.random.SeedSequence(9), progress=False)
    b = generate_walks(graph, 2, 5, random_state=np.random.SeedSequence(9), progress=False)
    np.testing.assert_array_equal(a, b)
    c = generate_walks(graph, 2, 5, random_state=np.random.default_rng(9), progress=False)
    d = generate_walks(graph, 2, 5, random_state=np.random.default_rng(9), progress=False)
    np.testing.assert_array_equal(c, d)


def test_auto_mode_picks_by_size(graph, monkeypatch):
    kw = dict(p=0.5, q=2.0, random_state=1, progress=False)
    pre = generate_walks(graph, 50, 10, mode="precomputed", **kw)
    otf = generate_walks(graph, 50, 10, mode="otf", **kw)
    assert (pre != otf).any()
    np.testing.assert_array_equal(generate_walks(graph, 50, 10, mode="auto", **kw), pre)
    monkeypatch.setattr(walks_generate, "PRECOMPUTED_MAX_BYTES", 0)
    np.testing.assert_array_equal(generate_walks(graph, 50, 10, mode="auto", **kw), otf)


# --------------------------------------------------------------------------------- dead ends
@pytest.mark.parametrize("pq", [(1.0, 1.0), (0.5, 2.0)])
@pytest.mark.parametrize("mode", MODES)
def test_dead_ends_and_isolated_nodes(mode, pq, caplog):
    # 0 -> 1 -> 2 (2 has no out-edges), node 3 isolated
    g = ItemGraph.from_edges([10, 11], [11, 12], node_ids=[10, 11, 12, 13])
    with caplog.at_level("INFO", logger="embeddings.walks"):
        w = generate_walks(g, 2, 5, p=pq[0], q=pq[1], mode=mode, random_state=0, progress=False)
    by_start = {int(row[0]): row.tolist() for row in w}
    assert by_start[0] == [0, 1, 2, -1, -1]
    assert by_start[1] == [1, 2, -1, -1, -1]
    assert by_start[2] == [2, -1, -1, -1, -1]
    assert by_start[3] == [3, -1, -1, -1, -1]
    assert "2 of 4 start nodes have no out-edges" in caplog.text
    ids = walks_to_ids(w, g)
    assert sorted(len(x) for x in ids) == [1, 1, 1, 1, 2, 2, 3, 3]


def test_walk_length_one_is_the_start_nodes(graph):
    w = generate_walks(graph, 2, 1, p=0.5, q=2, random_state=0, progress=False)
    assert w.shape == (10, 1)
    assert sorted(w[:, 0].tolist()) == sorted(list(range(5)) * 2)


# --------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(p=0.0), "p must be finite and > 0"),
        (dict(q=-1.0), "q must be finite and > 0"),
        (dict(p=float("nan")), "p must be finite and > 0"),
        (dict(walk_length=0), "walk_length must be an integer >= 1"),
        (dict(num_walks=0), "num_walks must be an integer >= 1"),
        (dict(num_walks=2.5), "num_walks must be an integer >= 1"),
        (dict(workers=0), "workers must be an integer >= 1"),
        (dict(mode="fast"), "mode must be"),
        (dict(start_nodes=[0, 5]), r"out of range: \[5\]"),
        (dict(start_nodes=[-1]), r"out of range: \[-1\]"),
        (dict(start_nodes=[]), "start_nodes is empty"),
        (dict(start_nodes=[0.5]), "non-integer"),
    ],
)
def test_bad_input(graph, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_walks(graph, progress=False, **kwargs)


def test_empty_graph_and_wrong_type():
    empty = ItemGraph(
        np.zeros(1, np.int64), np.empty(0, np.int32), np.empty(0, np.float32), np.empty(0)
    )
    with pytest.raises(ValueError, match="graph has no nodes"):
        generate_walks(empty, progress=False)
    with pytest.raises(ValueError, match="must be an ItemGraph"):
        generate_walks({0: [1]}, progress=False)


# --------------------------------------------------------------------------------- conversions
def test_walks_to_ids_and_corpus_file_round_trip(tmp_path):
    g = ItemGraph.from_edges([-5, 7, 123456789012], [7, 123456789012, -5], [1, 2, 3])
    g = ItemGraph(g.indptr, g.indices, g.weights, g.node_ids)
    w = generate_walks(g, 3, 6, p=0.5, q=2, random_state=0, progress=False)
    ids = walks_to_ids(w, g)
    assert len(ids) == w.shape[0]
    for row, seq in zip(w, ids, strict=True):
        assert seq.dtype == np.int64
        np.testing.assert_array_equal(seq, g.node_ids[row[row >= 0]])
    path = walks_to_corpus_file(w, g, tmp_path / "sub" / "walks.txt", rows_per_block=2)
    lines = path.read_text().splitlines()
    assert len(lines) == w.shape[0]
    for line, seq in zip(lines, ids, strict=True):
        assert line.split(" ") == [str(i) for i in seq.tolist()]


def test_corpus_file_with_padded_walks(tmp_path):
    g = ItemGraph.from_edges([1], [2], node_ids=[1, 2, 3])
    w = generate_walks(g, 1, 4, random_state=0, progress=False)
    text = walks_to_corpus_file(w, g, tmp_path / "c.txt").read_text()
    assert sorted(text.splitlines()) == ["1 2", "2", "3"]
    with pytest.raises(ValueError, match="outside"):
        walks_to_ids(np.array([[0, 3]], np.int32), g)
    with pytest.raises(ValueError, match="2-D integer"):
        walks_to_ids(np.array([0.5]), g)


# ------------------------------------------------------------------------------------- memory
def test_undirected_build_allocates_no_edge_concatenation():
    """An undirected graph is built without the [s, d] -> [d, s] concatenation of the edge
    arrays nor int64 positions and columns. tracemalloc sees numpy's and numba's allocations:
    52 bytes per input edge now (int32 positions 8, the row-bucketed arcs 24, the output 16,
    masks), 141 before (measured); the bound is 64. The graph equals the one built from the
    explicit concatenation, directed."""
    import tracemalloc

    rng = np.random.default_rng(3)
    n, m = 50_000, 400_000
    u = rng.integers(0, n, m)
    v = (u + rng.integers(1, n, m)) % n  # no self-loop (dropping one copies the edge arrays)
    w = rng.uniform(0.1, 1.0, m)
    ItemGraph.from_edges(u[:100], v[:100], w[:100], directed=False)  # compile outside the trace
    tracemalloc.start()
    try:
        g = ItemGraph.from_edges(u, v, w, directed=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * m, f"{peak / m:.1f} bytes per edge"
    ref = ItemGraph.from_edges(
        np.concatenate([u, v]),
        np.concatenate([v, u]),
        np.concatenate([w, w]),
        directed=True,
    )
    for name in ("indptr", "indices", "weights", "node_ids"):
        assert np.array_equal(getattr(g, name), getattr(ref, name)), name
