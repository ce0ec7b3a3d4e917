"""What trainers accept, turned into what they train on: ``Interactions`` / ``Sessions`` into
filtered sessions, any of them (or a networkx graph) into the ``ItemGraph`` to walk, and the
item labels and ids to carry to the output.

- ``Interactions``: turned into per-user time-ordered sessions with ``build_sessions``
  (``min_rating`` keeps only positives, ``session_gap`` splits a user's history into sessions);
- ``Sessions``: used as they are (``min_rating`` still filters events by rating);
- ``ItemGraph``: walked as it is. From sessions, the graph is ``ItemGraph.from_sessions``
  (weight of A->B = times B directly follows A; optionally pairs within a window, and a
  popularity reweighting: ``graph_from_data``).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from embeddings.graph import ItemGraph
from embeddings.types import Embeddings

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.sessions import Sessions

__all__ = ["graph_from_data", "networkx_to_graph"]

logger = logging.getLogger("embeddings.trainers")

#: where ``Interactions`` and ``Sessions`` are defined; both modules import pandas, so they are
#: imported only by the functions that build sessions, never at this module's import
_TABLES = "embeddings.datasets.tables"
_SESSIONS = "embeddings.sessions"


def _is(data: Any, module: str, name: str) -> bool:
    """``isinstance(data, module.name)`` without importing ``module``: an instance of a class
    can only exist once the module defining it has been imported (a graph passed to DeepWalk
    therefore never loads pandas)."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(data, getattr(mod, name))


def _note_side_info(name: str, side_info: Any) -> None:
    if side_info is not None:
        logger.info("%s does not use item side information; side_info ignored", name)


def _filter_sessions(sessions: Sessions, min_rating: float | None, min_length: int) -> Sessions:
    """Keep events with rating >= min_rating, then sessions with at least min_length events."""
    keep = (
        np.ones(sessions.items.shape[0], bool)
        if min_rating is None
        else sessions.ratings >= min_rating
    )
    seg = np.repeat(np.arange(len(sessions)), sessions.lengths())
    lens = np.bincount(seg[keep], minlength=len(sessions))
    ok = lens >= min_length
    if not ok.any():
        raise ValueError(
            f"no session of length >= {min_length} left after filtering (min_rating={min_rating})"
        )
    keep &= ok[seg]
    from embeddings.sessions import Sessions

    return Sessions(
        user_ids=sessions.user_ids[ok],
        indptr=np.concatenate([[0], np.cumsum(lens[ok])]).astype(np.int64),
        items=sessions.items[keep],
        timestamps=sessions.timestamps[keep],
        ratings=sessions.ratings[keep],
    )


def _sessions_from(
    data: Any, min_rating: float | None, session_gap: int | None, min_length: int
) -> Sessions:
    if _is(data, _TABLES, "Interactions"):
        from embeddings.sessions import build_sessions

        return build_sessions(
            data, min_rating=min_rating, session_gap=session_gap, min_length=min_length
        )
    if _is(data, _SESSIONS, "Sessions"):
        if len(data) == 0:
            raise ValueError("empty Sessions: nothing to train on")
        return _filter_sessions(data, min_rating, min_length)
    raise ValueError(
        f"expected Interactions or Sessions, got {type(data).__name__}"
        + (
            " (a graph can only be walked: use DeepWalk or Node2Vec)"
            if isinstance(data, ItemGraph) or type(data).__module__.startswith("networkx")
            else ""
        )
    )


def graph_from_data(
    data: Any,
    min_rating: float | None = None,
    session_gap: int | None = None,
    directed: bool = True,
    graph_window: int = 1,
    distance_weighting: str = "uniform",
    popularity_exponent: float = 0.0,
) -> ItemGraph:
    """``ItemGraph`` from ``ItemGraph`` (returned as is), ``Sessions`` or ``Interactions``.

    From sessions the weight of A->B is the number of times B directly follows A
    (``graph_window=1``, the default); ``graph_window=w`` also links A to the items 2..w steps
    after it in a session, each pair adding 1 (``distance_weighting="uniform"``) or 1/d
    (``"inverse"``) (``ItemGraph.from_sessions``). With ``directed=False`` the transitions are
    made symmetric (weight(A-B) = both directions summed), so that no item is a dead end.
    ``popularity_exponent`` > 0 then divides each weight by (strength(A) strength(B)) to that
    power (``ItemGraph.reweighted``). The construction options are ignored for an ``ItemGraph``.
    """
    if isinstance(data, ItemGraph):
        return data
    if not isinstance(graph_window, int | np.integer) or isinstance(graph_window, bool):
        raise ValueError(f"graph_window must be an int >= 1, got {graph_window!r}")
    if graph_window < 1:
        raise ValueError(f"graph_window must be an int >= 1, got {graph_window!r}")
    sessions = _sessions_from(data, min_rating, session_gap, min_length=2)
    graph = ItemGraph.from_sessions(
        sessions, window=graph_window, distance_weighting=distance_weighting
    )
    if not directed:
        rows = np.repeat(np.arange(graph.n_nodes), graph.out_degree())
        graph = ItemGraph.from_edges(
            graph.node_ids[rows],
            graph.node_ids[graph.indices],
            graph.weights,
            directed=False,
            node_ids=graph.node_ids,
        )
    return graph.reweighted(popularity_exponent)


def networkx_to_graph(
    data: Any, weight: str = "weight"
) -> tuple[ItemGraph, list[Any] | None] | None:
    """``(ItemGraph, labels)`` of a networkx graph (``None`` for anything else).

    Integer node labels are the ids (``labels`` None); any other hashable labels get codes
    0..n-1 in the graph's node order, and ``labels[code]`` is the node. Directedness follows
    the graph; parallel edges of a multigraph are summed; edge attribute ``weight`` (default 1).
    """
    if not type(data).__module__.startswith("networkx"):
        return None
    import networkx as nx

    if not isinstance(data, nx.Graph):
        return None
    nodes = list(data.nodes)
    if not nodes:
        raise ValueError("the networkx graph has no nodes")
    if all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in nodes):
        ids, labels = np.asarray(nodes, dtype=np.int64), None
    else:
        ids, labels = np.arange(len(nodes), dtype=np.int64), nodes
    pos = {n: i for i, n in enumerate(nodes)}
    edges = list(data.edges(data=weight, default=1.0))
    if not edges:
        raise ValueError("the networkx graph has no edges: nothing to walk")
    src = ids[np.fromiter((pos[u] for u, _, _ in edges), np.int64, len(edges))]
    dst = ids[np.fromiter((pos[v] for _, v, _ in edges), np.int64, len(edges))]
    try:
        w = np.fromiter((float(x) for _, _, x in edges), np.float64, len(edges))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"networkx edge attribute {weight!r} is not a number ({exc})") from exc
    graph = ItemGraph.from_edges(src, dst, w, directed=data.is_directed(), node_ids=ids)
    return graph, labels


def _item_labels(data: Any) -> list[Any] | None:
    vocab = getattr(data, "item_vocab", None) if _is(data, _TABLES, "Interactions") else None
    return None if vocab is None else list(vocab.labels)


def _with_item_labels(emb: Embeddings, labels: list[Any] | None) -> Embeddings:
    return emb if labels is None else emb.with_labels(labels)


def _all_item_ids(data: Any) -> NDArray[np.int64] | None:
    if _is(data, _TABLES, "Interactions") or _is(data, _SESSIONS, "Sessions"):
        return data.item_ids()
    if isinstance(data, ItemGraph):
        return data.node_ids
    return None
