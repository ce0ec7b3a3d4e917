"""``Walks``: the walk corpus as a stage of its own, between a graph and a skip-gram trainer.

``DeepWalk``, ``Node2Vec`` and ``BGE`` / ``GES`` / ``EGES`` all train in two steps,
``trainer.walks(data) -> Walks`` then ``trainer.fit_walks(walks, side_info=None) ->
Embeddings`` (``fit`` is the two in a row), so several trainers (and the benchmarks) can train
on exactly the same walks. A ``Walks`` holds the graph and its rows of node positions, either
as one int32 matrix or as a streamed :class:`~embeddings.walks.corpus.WalkCorpus`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.graph import ItemGraph
from embeddings.walks.corpus import WalkCorpus
from embeddings.walks.generate import generate_walks, start_nodes_for

__all__ = ["Walks", "WalkSequences"]

_STREAM_MODES = ("regenerate", "spill")


@dataclass(frozen=True, eq=False)
class Walks:
    """Walks over ``graph``: rows of node positions (rows of ``graph``), padded with -1.

    Attributes:
        graph: the walked graph (positions index ``graph.node_ids``).
        rows: int32 ``(n_walks, walk_length)`` matrix, or a ``WalkCorpus`` yielding the same
            rows in blocks (streamed: never held whole).
        seconds: wall-clock seconds of walking (0 for a streamed corpus: it walks while read).
        expected_ids: the item ids the caller wants vectors for (default: the graph's nodes);
            the trainer logs and records how many of them got none.
    """

    graph: ItemGraph
    rows: NDArray[np.int32] | WalkCorpus
    seconds: float = 0.0
    expected_ids: NDArray[np.int64] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.graph, ItemGraph):
            raise ValueError(f"graph must be an ItemGraph, got {type(self.graph).__name__}")
        if isinstance(self.rows, WalkCorpus):
            if self.rows.graph.n_nodes != self.graph.n_nodes:
                raise ValueError(
                    f"the WalkCorpus walks a graph of {self.rows.graph.n_nodes} nodes, "
                    f"not {self.graph.n_nodes}"
                )
            return
        object.__setattr__(self, "rows", check_walk_matrix(self.rows, self.graph.n_nodes))

    @classmethod
    def generate(
        cls,
        graph: ItemGraph,
        num_walks: int = 10,
        walk_length: int = 80,
        p: float = 1.0,
        q: float = 1.0,
        mode: str = "auto",
        workers: int = 1,
        random_state: Any = None,
        progress: bool = True,
        stream: bool | str = False,
        expected_ids: ArrayLike | None = None,
        starts: str = "uniform",
    ) -> Walks:
        """Walk ``graph`` (``embeddings.walks.generate_walks``, same arguments).

        ``starts``: ``"uniform"`` (every node starts ``num_walks`` walks) or ``"popularity"``
        (the same number of walks, started in proportion to each node's out-strength:
        ``embeddings.walks.generate.start_nodes_for``).

        ``stream``: False = one matrix; True / ``"regenerate"`` = a ``WalkCorpus`` that walks
        again at every pass; ``"spill"`` = one that keeps its walks in a temporary file (needed
        for random access, e.g. by EGES). Same seed, same rows, whichever form.
        """
        ids = None if expected_ids is None else np.asarray(expected_ids, dtype=np.int64)
        start_nodes = start_nodes_for(graph, starts)
        if stream is not False:
            cache = "regenerate" if stream is True else stream
            if cache not in _STREAM_MODES:
                raise ValueError(
                    f"stream must be False, True, 'regenerate' or 'spill', got {stream!r}"
                )
            corpus = WalkCorpus(
                graph,
                num_walks=num_walks,
                walk_length=walk_length,
                p=p,
                q=q,
                mode=mode,
                workers=workers,
                random_state=random_state,
                cache=cache,
                start_nodes=start_nodes,
            )
            return cls(graph, corpus, 0.0, ids)
        t0 = time.perf_counter()
        rows = generate_walks(
            graph,
            num_walks=num_walks,
            walk_length=walk_length,
            p=p,
            q=q,
            mode=mode,
            workers=workers,
            random_state=random_state,
            progress=progress,
            start_nodes=start_nodes,
        )
        return cls(graph, rows, time.perf_counter() - t0, ids)

    @classmethod
    def of(cls, walks: Walks | ArrayLike | WalkCorpus, graph: ItemGraph | None = None) -> Walks:
        """``walks`` as ``Walks``: returned as is (``graph`` must then be None or its graph),
        or a matrix / ``WalkCorpus`` of positions of ``graph`` wrapped."""
        if isinstance(walks, Walks):
            if graph is not None and graph is not walks.graph:
                raise ValueError(
                    "pass graph only with a walk matrix: these Walks carry their graph"
                )
            return walks
        if graph is None:
            raise ValueError("a walk matrix needs its graph: fit_walks(walks, graph)")
        return cls(graph, walks)

    @property
    def streamed(self) -> bool:
        """True when the rows come from a ``WalkCorpus``."""
        return isinstance(self.rows, WalkCorpus)

    @property
    def n_walks(self) -> int:
        return int(self.rows.shape[0])

    def lengths(self) -> NDArray[np.int64]:
        """Nodes per walk (n_walks,), for a matrix (a streamed corpus: ``stats`` after a pass)."""
        if isinstance(self.rows, WalkCorpus):
            raise ValueError("lengths() needs a walk matrix; a streamed corpus has stats")
        return (self.rows >= 0).sum(axis=1)

    def stats(self) -> dict[str, Any]:
        """``n_walks``, ``mean_walk_length``, ``walks_shorter_than_2`` (walks with no pair);
        for a streamed corpus, known after its first full pass (empty before)."""
        if isinstance(self.rows, WalkCorpus):
            return dict(self.rows.stats)
        lengths = self.lengths()
        return {
            "n_walks": int(self.rows.shape[0]),
            "mean_walk_length": float(lengths.mean()) if lengths.size else 0.0,
            "walks_shorter_than_2": int((lengths < 2).sum()),
        }

    def sequences(self) -> WalkSequences:
        """The walks as node-id arrays (restartable; walks with fewer than 2 nodes skipped)."""
        if isinstance(self.rows, WalkCorpus):
            raise ValueError("sequences() needs a walk matrix; stream a WalkCorpus by blocks")
        return WalkSequences(self.rows, self.graph.node_ids)

    def close(self) -> None:
        """Delete a streamed corpus's spill file (nothing to do for a matrix)."""
        if isinstance(self.rows, WalkCorpus):
            self.rows.close()

    def __enter__(self) -> Walks:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def check_walk_matrix(walks: ArrayLike, n_nodes: int) -> NDArray[np.int32]:
    """``walks`` as a C-contiguous int32 matrix of positions in [-1, n_nodes); ValueError else."""
    arr = np.asarray(walks)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"walks: expected a non-empty 2-D array (n_walks, length), got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"walks: expected integer node positions, got dtype {arr.dtype}")
    if arr.min() < -1 or arr.max() >= n_nodes:
        raise ValueError(f"walks: node positions must lie in [-1, {n_nodes}) (-1 = padding)")
    return np.ascontiguousarray(arr, dtype=np.int32)


class WalkSequences:
    """Restartable iterable over a walk matrix (positions, -1 padded) yielding node-id arrays.

    Walks shorter than 2 nodes (isolated nodes, immediate dead ends) are skipped: they hold no
    pair, and a token seen only there would get an untrained random vector.
    """

    def __init__(self, walks: NDArray[np.int32], node_ids: NDArray[np.int64]) -> None:
        self.walks = walks
        self.node_ids = node_ids

    def __iter__(self) -> Iterator[NDArray[np.int64]]:
        ids = self.node_ids
        for row in self.walks:
            n = int(np.count_nonzero(row >= 0))
            if n >= 2:
                yield ids[row[:n]]
