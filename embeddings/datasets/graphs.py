"""Labelled graphs for node classification: edge lists, adjacency lists, label files, ``.mat``.

The text readers (edge list, adjacency list, labels; formats in their module docstring) live in
:mod:`embeddings.datasets.graph_text` and are importable from here too. This module joins a graph
and its labels (``LabelledGraph``), reads the node2vec / DeepWalk ``.mat`` files and loads the
shared data sets by name:

- ``.mat`` (node2vec / DeepWalk benchmarks): ``network`` (sparse adjacency) and ``group`` (sparse
  node x label matrix); node ``i`` is row ``i``.

Self-loops are dropped by default (``keep_self_loops``): they carry no neighbourhood information
for walks. Nodes that have labels but no edges stay in the node list (isolated nodes).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from embeddings.datasets.graph_text import (
    _label_sort_key,
    read_adjlist,
    read_edgelist,
    read_labels,
)
from embeddings.graph import ItemGraph
from embeddings.paths import data_root as default_data_root

__all__ = [
    "LabelledGraph",
    "SHARED_GRAPHS",
    "read_edgelist",
    "read_adjlist",
    "read_labels",
    "read_mat",
    "read_labelled_graph",
    "load_labelled_graph",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LabelledGraph:
    """A graph with (multi-)labels per node.

    Attributes:
        graph: the ``ItemGraph`` (CSR; node ids int64).
        labels: ``scipy.sparse.csr_matrix`` bool (n_nodes, n_classes); row ``i`` belongs to
            ``graph.node_ids[i]``; a row may be empty (unlabelled node).
        class_names: name of each label column (n_classes,).
        name: a short description (data set name or file).
    """

    graph: ItemGraph
    labels: sp.csr_matrix
    class_names: list[str] = field(default_factory=list)
    name: str = "graph"

    def __post_init__(self) -> None:
        lab = sp.csr_matrix(self.labels, dtype=bool)
        lab.eliminate_zeros()
        lab.sort_indices()
        if lab.shape[0] != self.graph.n_nodes:
            raise ValueError(
                f"labels have {lab.shape[0]} rows but the graph has {self.graph.n_nodes} nodes"
            )
        names = [str(c) for c in self.class_names] or [str(i) for i in range(lab.shape[1])]
        if len(names) != lab.shape[1]:
            raise ValueError(f"{len(names)} class names for {lab.shape[1]} label columns")
        if len(set(names)) != len(names):
            raise ValueError("duplicate class names")
        object.__setattr__(self, "labels", lab)
        object.__setattr__(self, "class_names", names)

    @property
    def node_ids(self) -> NDArray[np.int64]:
        return self.graph.node_ids

    @property
    def n_nodes(self) -> int:
        return self.graph.n_nodes

    @property
    def n_classes(self) -> int:
        return int(self.labels.shape[1])

    def labels_of(self, node_ids: ArrayLike) -> sp.csr_matrix:
        """Label rows (m, n_classes) of ``node_ids``; ``KeyError`` naming unknown ids."""
        return self.labels[self.graph.position_of(node_ids)]

    def labelled_mask(self) -> NDArray[np.bool_]:
        """(n_nodes,) True where a node has at least one label."""
        return np.diff(self.labels.indptr) > 0

    def single_labels(self) -> NDArray[np.int64]:
        """(n_nodes,) the label column of each node, -1 for unlabelled; ``ValueError`` if any node
        has several labels (use ``labels`` for multi-label data)."""
        counts = np.diff(self.labels.indptr)
        if (counts > 1).any():
            raise ValueError(f"{self.name}: {(counts > 1).sum()} nodes have several labels")
        out = np.full(self.n_nodes, -1, np.int64)
        out[counts == 1] = self.labels.indices
        return out

    def describe(self) -> dict[str, Any]:
        counts = np.diff(self.labels.indptr)
        out: dict[str, Any] = {"name": self.name}
        out.update(self.graph.describe())
        out.update(
            {
                "classes": self.n_classes,
                "labelled_nodes": int((counts > 0).sum()),
                "multi_label_nodes": int((counts > 1).sum()),
                "mean_labels_per_node": float(counts.mean()) if counts.size else 0.0,
                "isolated_nodes": int((self.graph.out_degree() == 0).sum()),
            }
        )
        return out


def _label_matrix(
    node_ids: NDArray[np.int64], lab_ids: NDArray[np.int64], lab_lists: list[list[str]]
) -> tuple[sp.csr_matrix, list[str]]:
    classes = _label_sort_key(sorted({lab for lst in lab_lists for lab in lst}))
    col = {c: j for j, c in enumerate(classes)}
    order = np.argsort(node_ids)
    rows_pos = order[np.searchsorted(node_ids[order], lab_ids)]
    r: list[int] = []
    c: list[int] = []
    for pos, lst in zip(rows_pos.tolist(), lab_lists, strict=True):
        r.extend([pos] * len(lst))
        c.extend(col[lab] for lab in lst)
    mat = sp.csr_matrix(
        (np.ones(len(r), bool), (np.asarray(r, np.int64), np.asarray(c, np.int64))),
        shape=(node_ids.shape[0], len(classes)),
        dtype=bool,
    )
    return mat, classes


def read_labelled_graph(
    edges: str | os.PathLike,
    labels: str | os.PathLike,
    fmt: str = "edgelist",
    directed: bool = False,
    weighted: bool | None = None,
    keep_self_loops: bool = False,
    name: str | None = None,
) -> LabelledGraph:
    """Edge list (``fmt="edgelist"``) or adjacency list (``"adjlist"``) plus a label file.

    The node list is the union of the nodes with edges and the labelled nodes.
    """
    lab_ids, lab_lists = read_labels(labels)
    if fmt == "edgelist":
        g = read_edgelist(edges, directed, weighted, lab_ids, keep_self_loops)
    elif fmt == "adjlist":
        g = read_adjlist(edges, directed, lab_ids, keep_self_loops)
    else:
        raise ValueError(f"fmt must be 'edgelist' or 'adjlist', got {fmt!r}")
    mat, classes = _label_matrix(g.node_ids, lab_ids, lab_lists)
    unlabelled = g.n_nodes - int((np.diff(mat.indptr) > 0).sum())
    if unlabelled:
        logger.info("%s: %d nodes have edges but no label", Path(labels).name, unlabelled)
    return LabelledGraph(g, mat, classes, name or Path(edges).stem)


def read_mat(
    path: str | os.PathLike,
    network_key: str = "network",
    group_key: str = "group",
    keep_self_loops: bool = False,
    name: str | None = None,
) -> LabelledGraph:
    """node2vec/DeepWalk ``.mat`` file: sparse ``network`` adjacency and ``group`` labels.

    A symmetric adjacency gives an undirected graph (each edge stored both ways, weight as in the
    matrix); otherwise a directed one. Nodes are ``0..n-1``.
    """
    from scipy.io import loadmat

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"graph file {p} does not exist")
    try:
        m = loadmat(p)
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for a bad file
        raise ValueError(f"{p.name}: not a readable MATLAB file ({exc})") from exc
    for key in (network_key, group_key):
        if key not in m:
            have = sorted(k for k in m if not k.startswith("__"))
            raise ValueError(f"{p.name}: no variable {key!r} (has {have})")
    a = sp.csr_matrix(m[network_key], dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{p.name}: {network_key!r} is not square: {a.shape}")
    n = a.shape[0]
    groups = sp.csr_matrix(m[group_key])
    if groups.shape[0] != n:
        raise ValueError(f"{p.name}: {group_key!r} has {groups.shape[0]} rows for {n} nodes")
    a.eliminate_zeros()
    directed = (a != a.T).nnz > 0
    coo = sp.triu(a).tocoo() if not directed else a.tocoo()
    g = ItemGraph.from_edges(
        coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data,
        directed=directed, node_ids=np.arange(n, dtype=np.int64), keep_self_loops=keep_self_loops,
    )  # fmt: skip
    return LabelledGraph(g, groups != 0, [str(i) for i in range(groups.shape[1])], name or p.stem)


# ----------------------------------------------------------------------------- shared data sets
#: name -> (folder, format, edges file, labels file, directed) under the shared data root.
SHARED_GRAPHS: dict[str, tuple[str, str, str, str | None, bool]] = {
    "blogcatalog": ("graph-blogcatalog", "adjlist", "bc_adjlist.txt", "bc_labels.txt", False),
    "wiki": ("graph-wiki", "edgelist", "Wiki_edgelist.txt", "wiki_labels.txt", True),
    "airports-usa": (
        "graph-flight-airports", "edgelist", "usa-airports.edgelist",
        "labels-usa-airports.txt", False,
    ),
    "airports-europe": (
        "graph-flight-airports", "edgelist", "europe-airports.edgelist",
        "labels-europe-airports.txt", False,
    ),
    "airports-brazil": (
        "graph-flight-airports", "edgelist", "brazil-airports.edgelist",
        "labels-brazil-airports.txt", False,
    ),
    "blogcatalog-mat": ("graph-node2vec-mat", "mat", "blogcatalog.mat", None, False),
    "ppi": ("graph-node2vec-mat", "mat", "Homo_sapiens.mat", None, False),
    "pos": ("graph-node2vec-mat", "mat", "POS.mat", None, False),
}  # fmt: skip


def _guess_directory(d: Path, directed: bool | None, keep_self_loops: bool) -> LabelledGraph:
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() != ".md")
    mats = [p for p in files if p.suffix.lower() == ".mat"]
    labels = [p for p in files if "label" in p.name.lower() or "group" in p.name.lower()]
    others = [p for p in files if p not in labels and p not in mats]
    if len(mats) == 1 and not others:
        return read_mat(mats[0], keep_self_loops=keep_self_loops)
    if len(labels) == 1 and len(others) == 1:
        fmt = "adjlist" if "adj" in others[0].name.lower() else "edgelist"
        return read_labelled_graph(
            others[0], labels[0], fmt, bool(directed), None, keep_self_loops, d.name
        )
    raise ValueError(
        f"{d}: cannot tell the graph and label files apart (files: {[p.name for p in files]}); "
        "use read_labelled_graph(edges, labels) or read_mat(path)"
    )


def load_labelled_graph(
    name_or_path: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    directed: bool | None = None,
    keep_self_loops: bool = False,
) -> LabelledGraph:
    """Load a shared labelled graph by name, or a ``.mat`` file / folder by path.

    Names (see ``SHARED_GRAPHS``): blogcatalog, blogcatalog-mat, ppi, pos, wiki, airports-usa,
    airports-europe, airports-brazil; they are read from ``data_root`` (default
    :func:`embeddings.paths.data_root`, required). ``directed`` overrides the
    data set's own direction (text formats only). A path may be a ``.mat`` file or a folder with
    one edge/adjacency list and one label file.
    """
    key = str(name_or_path).lower()
    if key in SHARED_GRAPHS:
        folder, fmt, edges, labels, own_directed = SHARED_GRAPHS[key]
        root = Path(data_root) if data_root is not None else default_data_root(required=True)
        d = root / folder
        if not d.is_dir():
            raise FileNotFoundError(f"shared graph {key!r}: folder {d} not found")
        if fmt == "mat":
            return read_mat(d / edges, keep_self_loops=keep_self_loops, name=key)
        assert labels is not None
        return read_labelled_graph(
            d / edges, d / labels, fmt,
            own_directed if directed is None else directed, False, keep_self_loops, key,
        )  # fmt: skip
    p = Path(name_or_path)
    if p.is_file() and p.suffix.lower() == ".mat":
        return read_mat(p, keep_self_loops=keep_self_loops)
    if p.is_dir():
        return _guess_directory(p, directed, keep_self_loops)
    if p.exists():
        raise ValueError(
            f"{p}: give a .mat file or a folder; for an edge list plus labels use "
            "read_labelled_graph(edges, labels)"
        )
    raise ValueError(
        f"unknown graph {str(name_or_path)!r}: not a path and not one of {sorted(SHARED_GRAPHS)}"
    )
