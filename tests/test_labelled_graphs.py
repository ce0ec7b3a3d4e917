"""Labelled graph loaders: small files written here, and every shared graph (skipped without data)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from embeddings.datasets.graphs import (
    SHARED_GRAPHS,
    LabelledGraph,
    load_labelled_graph,
    read_adjlist,
    read_edgelist,
    read_labelled_graph,
    read_labels,
    read_mat,
)
from embeddings.graph import ItemGraph


def _edges(g: ItemGraph) -> dict[tuple[int, int], float]:
    rows = np.repeat(np.arange(g.n_nodes), g.out_degree())
    return {
        (int(g.node_ids[r]), int(g.node_ids[c])): float(w)
        for r, c, w in zip(rows, g.indices, g.weights, strict=True)
    }


# ----------------------------------------------------------------------------- small files


def test_edgelist_undirected_unweighted(tmp_path):
    p = tmp_path / "g.edgelist"
    p.write_text("# comment\n1 2\n2 1\n2 3\n3 3\n\n10 1  # trailing comment\n")
    g = read_edgelist(p)
    assert not g.directed
    assert g.node_ids.tolist() == [1, 2, 3, 10]  # 3 kept though its only edge is a self-loop
    assert _edges(g) == {
        (1, 2): 1.0, (2, 1): 1.0, (2, 3): 1.0, (3, 2): 1.0, (1, 10): 1.0, (10, 1): 1.0
    }  # fmt: skip
    g = read_edgelist(p, keep_self_loops=True)
    assert _edges(g)[(3, 3)] == 1.0


def test_edgelist_directed_weighted_sums_repeats(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("1,2,0.5\n1,2,1.5\n2,1,4\n3,1,1\n")
    g = read_edgelist(p, directed=True)
    assert g.directed
    assert _edges(g) == {(1, 2): 2.0, (2, 1): 4.0, (3, 1): 1.0}
    u = read_edgelist(p, directed=False)
    assert _edges(u) == {(1, 2): 6.0, (2, 1): 6.0, (1, 3): 1.0, (3, 1): 1.0}
    # networkx agrees on the undirected weighted graph
    nx = pytest.importorskip("networkx")
    h = nx.Graph()
    for a, b, w in [(1, 2, 0.5), (1, 2, 1.5), (2, 1, 4), (3, 1, 1)]:
        h.add_edge(a, b, weight=h.get_edge_data(a, b, {"weight": 0})["weight"] + w)
    assert _edges(ItemGraph.from_networkx(h)) == _edges(u)
    # weighted=False reads the same file as a plain (deduplicated) edge list
    assert _edges(read_edgelist(p, directed=True, weighted=False)) == {
        (1, 2): 1.0, (2, 1): 1.0, (3, 1): 1.0
    }  # fmt: skip


def test_adjlist_both_directions_counted_once(tmp_path):
    p = tmp_path / "adj.txt"
    p.write_text("1 2 3\n2 1\n3 1\n7\n")
    g = read_adjlist(p)
    assert g.node_ids.tolist() == [1, 2, 3, 7]
    assert _edges(g) == {(1, 2): 1.0, (2, 1): 1.0, (1, 3): 1.0, (3, 1): 1.0}
    assert g.out_degree().tolist() == [2, 1, 1, 0]
    d = read_adjlist(p, directed=True)
    assert _edges(d) == {(1, 2): 1.0, (1, 3): 1.0, (2, 1): 1.0, (3, 1): 1.0}


def test_labels_header_multilabel_and_repeated_lines(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("node label\n5 a b\n6 b\n5 c\n5 a\n8\n")
    ids, labs = read_labels(p)
    assert ids.tolist() == [5, 6, 8]
    assert labs == [["a", "b", "c"], ["b"], []]


def test_labelled_graph_aligns_labels_and_keeps_label_only_nodes(tmp_path):
    (tmp_path / "e.txt").write_text("1 2\n2 3\n")
    (tmp_path / "labels.txt").write_text("3 10\n1 2 10\n99 2\n2 1\n")
    lg = read_labelled_graph(tmp_path / "e.txt", tmp_path / "labels.txt")
    assert lg.node_ids.tolist() == [1, 2, 3, 99]
    assert lg.class_names == ["1", "2", "10"]  # numeric order, not text order
    dense = lg.labels.toarray()
    assert dense.dtype == bool
    assert dense.tolist() == [
        [False, True, True],
        [True, False, False],
        [False, False, True],
        [False, True, False],
    ]
    assert lg.graph.out_degree().tolist() == [1, 2, 1, 0]  # 99: labelled, no edges
    assert lg.labels_of([99, 1]).toarray().tolist() == [[False, True, False], [False, True, True]]
    with pytest.raises(ValueError, match="several labels"):
        lg.single_labels()
    with pytest.raises(KeyError, match="12345"):
        lg.labels_of([12345])
    d = lg.describe()
    assert d["classes"] == 3 and d["labelled_nodes"] == 4 and d["isolated_nodes"] == 1


def test_directory_guess(tmp_path):
    (tmp_path / "my_adjlist.txt").write_text("0 1 2\n1 0\n2 0\n")
    (tmp_path / "my_labels.txt").write_text("0 x\n1 y\n2 x\n")
    (tmp_path / "SOURCE.md").write_text("about")
    lg = load_labelled_graph(tmp_path)
    assert lg.n_nodes == 3 and lg.graph.n_edges == 4
    assert lg.single_labels().tolist() == [0, 1, 0]


def test_mat_round_trip(tmp_path):
    a = sp.csc_matrix(np.array([[0, 1, 0, 0], [1, 1, 2, 0], [0, 2, 0, 0], [0, 0, 0, 0]], float))
    grp = sp.csc_matrix(np.array([[1, 0], [0, 1], [1, 1], [0, 1]], float))
    p = tmp_path / "toy.mat"
    scipy.io.savemat(p, {"network": a, "group": grp})
    lg = load_labelled_graph(p)
    assert not lg.graph.directed
    assert lg.node_ids.tolist() == [0, 1, 2, 3]
    assert _edges(lg.graph) == {(0, 1): 1.0, (1, 0): 1.0, (1, 2): 2.0, (2, 1): 2.0}
    assert (lg.labels.toarray() == (grp.toarray() != 0)).all()
    kept = read_mat(p, keep_self_loops=True)
    assert _edges(kept.graph)[(1, 1)] == 1.0
    # an asymmetric matrix is a directed graph
    scipy.io.savemat(p, {"network": sp.csc_matrix(np.triu(a.toarray())), "group": grp})
    assert read_mat(p).graph.directed


# ----------------------------------------------------------------------------- bad input


def test_bad_text_files_name_file_and_line(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("1 2\n2 x3\n")
    with pytest.raises(ValueError, match=r"e\.txt: line 2: node id 'x3' is not an integer"):
        read_edgelist(p)
    p.write_text("1 2 1\n2 3 heavy\n")
    with pytest.raises(ValueError, match=r"e\.txt: line 2: weight 'heavy' is not a number"):
        read_edgelist(p, weighted=True)
    p.write_text("1 2\n3\n")
    with pytest.raises(ValueError, match=r"e\.txt: line 2 has 1 fields, line 1 has 2"):
        read_edgelist(p)
    with pytest.raises(ValueError, match=r"e\.txt: line 2: expected u v, got 1 fields"):
        read_edgelist(p, weighted=False)
    p.write_text("1 2 3 4\n")
    with pytest.raises(ValueError, match=r"line 1: expected u v, got 4 fields"):
        read_edgelist(p)
    p.write_text("1 2\n2 3 0.5\n")
    with pytest.raises(ValueError, match=r"e\.txt: line 2 has 3 fields, line 1 has 2"):
        read_edgelist(p)
    assert read_edgelist(p, weighted=False).n_nodes == 3
    p.write_text("1 2 -1\n")
    with pytest.raises(ValueError, match=r"weights must be finite and > 0"):
        read_edgelist(p)
    p.write_text("# nothing\n")
    with pytest.raises(ValueError, match=r"e\.txt: empty edge list"):
        read_edgelist(p)
    with pytest.raises(ValueError, match=r"empty adjacency list"):
        read_adjlist(p)
    p.write_text("1 2 a\n")
    with pytest.raises(ValueError, match=r"e\.txt: line 1: node id 'a'"):
        read_adjlist(p)
    q = tmp_path / "labels.txt"
    q.write_text("node label\n1 a\nb 2\n")
    with pytest.raises(ValueError, match=r"labels\.txt: line 3: node id 'b'"):
        read_labels(q)
    q.write_text("node label\n")
    with pytest.raises(ValueError, match=r"labels\.txt: no labels"):
        read_labels(q)
    with pytest.raises(FileNotFoundError):
        read_edgelist(tmp_path / "missing.txt")
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="not a text file"):
        read_edgelist(p)


def test_bad_mat_and_names(tmp_path):
    p = tmp_path / "x.mat"
    scipy.io.savemat(p, {"adj": sp.csc_matrix(np.eye(2))})
    with pytest.raises(ValueError, match=r"x\.mat: no variable 'network' \(has \['adj'\]\)"):
        read_mat(p)
    scipy.io.savemat(p, {"network": sp.csc_matrix(np.ones((2, 3))), "group": np.ones((2, 1))})
    with pytest.raises(ValueError, match="not square"):
        read_mat(p)
    scipy.io.savemat(p, {"network": sp.csc_matrix(np.ones((2, 2))), "group": np.ones((3, 1))})
    with pytest.raises(ValueError, match="'group' has 3 rows for 2 nodes"):
        read_mat(p)
    p.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match=r"x\.mat: not a readable MATLAB file"):
        read_mat(p)
    with pytest.raises(ValueError, match=r"unknown graph 'cora'.*blogcatalog"):
        load_labelled_graph("cora", data_root=tmp_path)
    with pytest.raises(FileNotFoundError, match="graph-wiki"):
        load_labelled_graph("wiki", data_root=tmp_path)
    (tmp_path / "a.txt").write_text("1 2\n")
    (tmp_path / "b.txt").write_text("1 2\n")
    with pytest.raises(ValueError, match="cannot tell the graph and label files apart"):
        load_labelled_graph(tmp_path)
    with pytest.raises(ValueError, match="give a .mat file or a folder"):
        load_labelled_graph(tmp_path / "a.txt")


def test_labelled_graph_validation():
    g = ItemGraph.from_edges([1, 2], [2, 3], directed=False)
    with pytest.raises(ValueError, match="labels have 2 rows but the graph has 3 nodes"):
        LabelledGraph(g, sp.csr_matrix((2, 1), dtype=bool))
    with pytest.raises(ValueError, match="1 class names for 2 label columns"):
        LabelledGraph(g, sp.csr_matrix((3, 2), dtype=bool), ["a"])
    with pytest.raises(ValueError, match="duplicate class names"):
        LabelledGraph(g, sp.csr_matrix((3, 2), dtype=bool), ["a", "a"])


# ----------------------------------------------------------------------------- shared graphs


@functools.cache
def _shared(name, root):
    return load_labelled_graph(name, data_root=root)


# name -> (nodes, stored directed edges after dropping self-loops, classes, multi-label)
EXPECTED = {
    "blogcatalog": (10312, 2 * 333983, 39, True),
    "blogcatalog-mat": (10312, 2 * 333983, 39, True),
    "ppi": (3890, 76584 - 894, 50, True),
    "pos": (4777, 184812 - 222, 40, True),
    "wiki": (2405, None, 17, False),
    "airports-usa": (1190, 2 * 13599, 4, False),
    "airports-europe": (399, 2 * (5995 - 2), 4, False),
    "airports-brazil": (131, 2 * (1074 - 71), 4, False),
}


@pytest.mark.parametrize("name", sorted(SHARED_GRAPHS))
def test_shared_graph(shared_data, name):
    folder = SHARED_GRAPHS[name][0]
    if not (shared_data / folder).is_dir():
        pytest.skip(f"{folder} not in the shared data")
    lg = _shared(name, shared_data)
    nodes, edges, classes, multi = EXPECTED[name]
    assert lg.n_nodes == nodes
    assert lg.n_classes == classes
    assert lg.labels.shape == (nodes, classes) and lg.labels.dtype == bool
    assert lg.labelled_mask().all()  # every node of these benchmarks has a label
    assert (lg.labels.sum(axis=0) > 0).all()  # every class is used
    if edges is not None:
        assert lg.graph.n_edges == edges
    if not multi:
        assert (lg.single_labels() >= 0).all()
    if not lg.graph.directed:
        a = sp.csr_matrix((lg.graph.weights, lg.graph.indices, lg.graph.indptr))
        assert (a != a.T).nnz == 0


def test_wiki_directed_edges(shared_data):
    d = shared_data / "graph-wiki"
    if not d.is_dir():
        pytest.skip("graph-wiki not in the shared data")
    raw = np.loadtxt(d / "Wiki_edgelist.txt", dtype=np.int64)
    pairs = {(int(a), int(b)) for a, b in raw if a != b}
    lg = load_labelled_graph("wiki", data_root=shared_data)
    assert lg.graph.directed
    assert set(_edges(lg.graph)) == pairs
    und = load_labelled_graph("wiki", data_root=shared_data, directed=False)
    assert und.graph.n_edges == 2 * len({(min(a, b), max(a, b)) for a, b in pairs})


def test_blogcatalog_text_equals_mat(shared_data):
    if (
        not (shared_data / "graph-blogcatalog").is_dir()
        or not (shared_data / "graph-node2vec-mat").is_dir()
    ):
        pytest.skip("blogcatalog files not in the shared data")
    a = _shared("blogcatalog", shared_data)
    b = _shared("blogcatalog-mat", shared_data)
    np.testing.assert_array_equal(a.node_ids, b.node_ids)
    np.testing.assert_array_equal(a.graph.indptr, b.graph.indptr)
    np.testing.assert_array_equal(a.graph.indices, b.graph.indices)
    assert a.class_names == b.class_names
    assert (a.labels != b.labels).nnz == 0
