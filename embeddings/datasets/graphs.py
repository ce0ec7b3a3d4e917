"""Labelled graphs for node classification: edge lists, adjacency lists, label files, ``.mat``.

Formats (as in the shared ``graph-*`` folders):

- edge list: ``u v`` or ``u v w`` per line, whitespace- or comma-separated, ``#`` comments;
  directed or not. An unweighted list has each edge once: repeated pairs are merged (weight 1).
  A weighted list sums the weights of repeated pairs.
- adjacency list: ``node nbr1 nbr2 ...`` per line (networkx ``read_adjlist``); a line with only
  ``node`` gives an isolated node.
- labels: ``node label1 [label2 ...]`` per line, multi-label allowed, and the same node may occur on
  several lines (labels are merged); an optional header line (``node label``) is skipped.
- ``.mat`` (node2vec / DeepWalk benchmarks): ``network`` (sparse adjacency) and ``group`` (sparse
  node x label matrix); node ``i`` is row ``i``.

Self-loops are dropped by default (``keep_self_loops``): they carry no neighbourhood information
for walks. Nodes that have labels but no edges stay in the node list (isolated nodes).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from embeddings.graph import ItemGraph
from embeddings.paths import data_root as default_data_root
from embeddings.validate import as_ids

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


# ----------------------------------------------------------------------------- text readers
def _tokens(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tokens) of non-empty, non-comment lines (whitespace or comma separated)."""
    if not path.is_file():
        raise FileNotFoundError(f"graph file {path} does not exist")
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not a text file ({exc})") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            toks = line.split() if "," not in line else [t for t in re.split(r"[\s,]+", line) if t]
            out.append((lineno, toks))
    return out


def _int(tok: str, path: Path, lineno: int, what: str = "node id") -> int:
    try:
        return int(tok)
    except ValueError:
        try:
            f = float(tok)
        except ValueError:
            f = None
        if f is not None and f.is_integer():
            return int(f)
        raise ValueError(f"{path.name}: line {lineno}: {what} {tok!r} is not an integer") from None


def _dedupe_unweighted(
    src: NDArray[np.int64], dst: NDArray[np.int64], directed: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if src.size == 0:
        return src, dst
    if directed:
        pairs = np.unique(np.stack([src, dst], axis=1), axis=0)
    else:
        pairs = np.unique(np.sort(np.stack([src, dst], axis=1), axis=1), axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _build(
    src: NDArray[np.int64],
    dst: NDArray[np.int64],
    weights: NDArray[np.float64] | None,
    directed: bool,
    node_ids: ArrayLike | None,
    keep_self_loops: bool,
    source: str,
) -> ItemGraph:
    if weights is None:
        src, dst = _dedupe_unweighted(src, dst, directed)
    else:
        if not np.isfinite(weights).all() or (weights <= 0).any():
            bad = weights[~np.isfinite(weights) | (weights <= 0)][:5]
            raise ValueError(f"{source}: edge weights must be finite and > 0, got {bad.tolist()}")
        if not directed:  # sum both orientations of a pair into one undirected edge
            lo, hi = np.minimum(src, dst), np.maximum(src, dst)
            src, dst = lo, hi
    extra = np.empty(0, np.int64) if node_ids is None else as_ids(node_ids, unique=False)
    if src.size == 0 and extra.size == 0:
        raise ValueError(f"{source}: no edges and no nodes")
    return ItemGraph.from_edges(
        src,
        dst,
        weights,
        directed=directed,
        node_ids=np.unique(np.concatenate([src, dst, extra])),
        keep_self_loops=keep_self_loops,
    )


def _edges_c_parser(
    path: Path, weighted: bool | None
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64] | None] | None:
    """``(src, dst, weights)`` by pandas' C parser, or None when the file is not a clean
    2- or 3-column whitespace table of int64 ids (and finite-or-not numbers) that ``weighted``
    accepts; the caller then falls back to the tokeniser for the exact same result or error."""
    import pandas as pd

    if not path.is_file():
        return None
    try:
        df = pd.read_csv(
            path, sep=r"\s+", header=None, comment="#", engine="c", skip_blank_lines=True,
            encoding="utf-8",
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - any trouble: the tokeniser reads it and names the line
        return None
    ncol = df.shape[1]
    if df.shape[0] == 0 or ncol not in (2, 3) or (weighted is True and ncol != 3):
        return None
    if not all(df[c].dtype == np.int64 for c in df.columns[:2]):
        return None
    if df.isna().to_numpy().any():
        return None
    src = df[df.columns[0]].to_numpy(np.int64)
    dst = df[df.columns[1]].to_numpy(np.int64)
    if weighted is False or ncol == 2:
        return src, dst, None
    col = df[df.columns[2]]
    if col.dtype.kind not in "if":
        return None
    return src, dst, col.to_numpy(np.float64)


def read_edgelist(
    path: str | os.PathLike,
    directed: bool = False,
    weighted: bool | None = None,
    node_ids: ArrayLike | None = None,
    keep_self_loops: bool = False,
) -> ItemGraph:
    """Read ``u v [w]`` lines into an ``ItemGraph``.

    ``weighted=None`` uses a third column when every line has one. ``node_ids`` adds nodes
    without edges. ``ValueError`` names the file and line of a malformed entry.

    Read by pandas' compiled C parser (whitespace-separated, ``#`` comments); a file it cannot
    take as a clean table of integer ids and numbers (comma separators, ids written as floats,
    ragged or malformed lines) is re-read by the line-by-line tokeniser, which accepts the same
    files as before and names the file and line of an error. On a 1M-line weighted edge list
    the C parser took 0.5 s against 13.6 s for the tokeniser (side by side, load 6).
    """
    p = Path(path)
    fast = _edges_c_parser(p, weighted)
    if fast is not None:
        src, dst, w = fast
        return _build(src, dst, w, directed, node_ids, keep_self_loops, p.name)
    rows = _tokens(p)
    if not rows:
        raise ValueError(f"{p.name}: empty edge list")
    if weighted is None:
        first = len(rows[0][1])
        odd = next(((ln, len(t)) for ln, t in rows if len(t) != first), None)
        if odd is not None:
            raise ValueError(
                f"{p.name}: line {odd[0]} has {odd[1]} fields, line {rows[0][0]} has {first}; "
                "pass weighted=True/False to say which lines are right"
            )
        weighted = first == 3
    want = 3 if weighted else 2
    src = np.empty(len(rows), np.int64)
    dst = np.empty(len(rows), np.int64)
    w = np.empty(len(rows), np.float64) if weighted else None
    for k, (lineno, toks) in enumerate(rows):
        if len(toks) < want or len(toks) > 3:
            raise ValueError(
                f"{p.name}: line {lineno}: expected {'u v w' if weighted else 'u v'}, "
                f"got {len(toks)} fields"
            )
        src[k] = _int(toks[0], p, lineno)
        dst[k] = _int(toks[1], p, lineno)
        if w is not None:
            try:
                w[k] = float(toks[2])
            except ValueError:
                raise ValueError(
                    f"{p.name}: line {lineno}: weight {toks[2]!r} is not a number"
                ) from None
    return _build(src, dst, w, directed, node_ids, keep_self_loops, p.name)


def read_adjlist(
    path: str | os.PathLike,
    directed: bool = False,
    node_ids: ArrayLike | None = None,
    keep_self_loops: bool = False,
) -> ItemGraph:
    """Read ``node nbr1 nbr2 ...`` lines (unweighted). For an undirected graph an edge listed in
    both endpoints' lines is one edge."""
    p = Path(path)
    rows = _tokens(p)
    if not rows:
        raise ValueError(f"{p.name}: empty adjacency list")
    src: list[int] = []
    dst: list[int] = []
    heads: list[int] = []
    for lineno, toks in rows:
        try:
            ints = list(map(int, toks))
        except ValueError:  # slow path, for the error message (or float-written ids)
            ints = [_int(t, p, lineno) for t in toks]
        u, nbrs = ints[0], ints[1:]
        heads.append(u)
        src.extend([u] * len(nbrs))
        dst.extend(nbrs)
    extra = np.asarray(heads, np.int64)
    if node_ids is not None:
        extra = np.concatenate([extra, as_ids(node_ids, unique=False)])
    return _build(
        np.asarray(src, np.int64), np.asarray(dst, np.int64), None, directed, extra,
        keep_self_loops, p.name,
    )  # fmt: skip


def _label_sort_key(names: Sequence[str]) -> list[str]:
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


def read_labels(path: str | os.PathLike) -> tuple[NDArray[np.int64], list[list[str]]]:
    """Read a label file: (node ids (m,) unique, labels per node (list of str lists)).

    Lines are ``node label1 [label2 ...]``; a node occurring on several lines gets the union of
    its labels; a first line whose first field is not an integer is a header and skipped.
    """
    p = Path(path)
    rows = _tokens(p)
    if rows and not re.fullmatch(r"[+-]?\d+(\.0*)?", rows[0][1][0]):
        rows = rows[1:]  # header such as "node label"
    if not rows:
        raise ValueError(f"{p.name}: no labels")
    per_node: dict[int, list[str]] = {}
    for lineno, toks in rows:
        node = _int(toks[0], p, lineno)
        lst = per_node.setdefault(node, [])
        for lab in toks[1:]:
            if lab not in lst:
                lst.append(lab)
    ids = np.fromiter(per_node.keys(), np.int64, len(per_node))
    return ids, list(per_node.values())


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
