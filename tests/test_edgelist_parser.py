"""``read_edgelist``: the compiled (pandas C) reader gives exactly what the tokeniser gives."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.datasets import graph_text as graphs  # the text readers moved there
from embeddings.datasets.graphs import read_edgelist

TEXTS = {
    "unweighted_comments": "# comment\n1 2\n2 1\n2 3\n3 3\n\n10 1  # trailing comment\n",
    "weighted_tabs": "1\t2\t0.5\n1\t2\t1.5\n2\t1\t4\n3\t1\t1\n",
    "weighted_commas": "1,2,0.5\n1,2,1.5\n2,1,4\n3,1,1\n",
    "mixed_space_crlf": "  1   2  3e-1\r\n5 6 7\r\n\r\n6 5 2.5   \r\n",
    "float_ids": "1.0 2.0\n2 3\n",
    "ragged": "1 2\n2 3 0.5\n",
    "bad_id": "1 2\n2 x3\n",
    "bad_weight": "1 2 1\n2 3 heavy\n",
    "negative_weight": "1 2 -1\n",
    "nan_weight": "1 2 nan\n2 3 1\n",
    "four_fields": "1 2 3 4\n",
    "big_ids": "9007199254740993 1 2\n4 9223372036854775807 1\n",
    "only_comments": "# nothing\n",
}


def _graph_or_error(path, slow, monkeypatch, **kw):
    with monkeypatch.context() as m:
        if slow:
            m.setattr(graphs, "_edges_c_parser", lambda *a: None)
        try:
            g = read_edgelist(path, **kw)
        except ValueError as exc:
            return ("error", str(exc))
    return (
        g.directed,
        g.node_ids.tolist(),
        g.indptr.tolist(),
        g.indices.tolist(),
        g.weights.tolist(),
    )


def _same(path, monkeypatch, **kw):
    fast = _graph_or_error(path, False, monkeypatch, **kw)
    slow = _graph_or_error(path, True, monkeypatch, **kw)
    assert fast == slow, (path.name, kw)
    return fast


@pytest.mark.parametrize("name", sorted(TEXTS))
@pytest.mark.parametrize("weighted", [None, True, False])
@pytest.mark.parametrize("directed", [False, True])
def test_same_graph_or_error_as_the_tokeniser(tmp_path, monkeypatch, name, weighted, directed):
    p = tmp_path / f"{name}.txt"
    p.write_bytes(TEXTS[name].encode())
    _same(p, monkeypatch, weighted=weighted, directed=directed)


def test_clean_files_take_the_compiled_path(tmp_path, monkeypatch):
    p = tmp_path / "g.tsv"
    rng = np.random.default_rng(0)
    n = 5000
    src, dst, w = rng.integers(0, 300, n), rng.integers(0, 300, n), rng.random(n) + 0.01
    np.savetxt(p, np.column_stack([src, dst, w]), fmt=["%d", "%d", "%.6f"], delimiter="\t")

    def no_tokeniser(path):
        raise AssertionError("the tokeniser should not run on a clean file")

    monkeypatch.setattr(graphs, "_tokens", no_tokeniser)
    g = read_edgelist(p, directed=True)
    keep = src != dst
    assert np.isclose(g.weights.sum(), w[keep].sum())
    assert g.n_nodes == np.unique(np.concatenate([src[keep], dst[keep]])).size
    monkeypatch.undo()
    _same(p, monkeypatch, directed=True)
    _same(p, monkeypatch, directed=False, weighted=False)


SHARED_EDGELISTS = [
    ("graph-wiki", "Wiki_edgelist.txt"),
    ("graph-flight-airports", "usa-airports.edgelist"),
    ("graph-flight-airports", "europe-airports.edgelist"),
    ("graph-flight-airports", "brazil-airports.edgelist"),
]


@pytest.mark.parametrize("folder,name", SHARED_EDGELISTS)
def test_shared_edge_lists_read_the_same(shared_data, monkeypatch, folder, name):
    p = shared_data / folder / name
    if not p.is_file():
        pytest.skip(f"{folder}/{name} not in the shared data")
    for directed in (False, True):
        out = _same(p, monkeypatch, directed=directed)
        assert out[0] != "error"
