"""What every LSH tuner shares: ``TuningResult``, the query sample and its exact truth, the
wall-clock cost of a batch search and the load average recorded with it."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_vectors
from recall.base import Index
from recall.exact import exact_knn


@dataclass
class TuningResult:
    """Chosen parameters (constructor kwargs of ``index_class``) and the explored frontier."""

    index_class: type[Index]
    params: dict[str, Any]
    recall: float
    cost: float
    reached: bool
    frontier: pd.DataFrame = field(repr=False)
    #: knn-recall@k of the chosen point on the held-out validation queries (None: no slice)
    validation_recall: float | None = None
    #: what limited the search when the target was not reached (empty when it was)
    message: str = ""
    #: wall-clock seconds of the whole tuning, builds included
    seconds: float = 0.0
    #: what ``cost`` (and the frontier's ``seconds_per_query``) measures
    cost_unit: str = ""
    #: ``os.getloadavg()`` when the tuning finished (None where the platform has none)
    load_average: tuple[float, float, float] | None = None
    #: wall-clock seconds per phase of the tuning (``truth``, ``build``, ``search``,
    #: ``validation``; what is left of ``seconds`` is bookkeeping)
    timings: dict[str, float] = field(default_factory=dict)
    #: the chosen index as the tuning built it over ``vectors`` (ids 0 .. n-1, search parameters
    #: set), so that it need not be built again; None when the tuning queries were held out of
    #: ``vectors`` (the index then lacks those rows) or the tuner does not keep one
    index: Index | None = field(default=None, repr=False)

    def make_index(self) -> Index:
        """A new, unbuilt index with the chosen parameters."""
        return self.index_class(**self.params)


def _tuning_queries(
    x: NDArray[np.float32],
    queries: ArrayLike | None,
    n_queries: int,
    k: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(base, queries)``: the given queries, or ``n_queries`` rows held out of ``x`` (the index
    is then built on the rest); ``ValueError`` when too few vectors remain for ``k``."""
    if queries is None:
        if x.shape[0] < 2 * n_queries:
            raise ValueError(
                f"need at least {2 * n_queries} vectors to hold out {n_queries} queries"
            )
        held = rng.choice(x.shape[0], size=n_queries, replace=False)
        keep = np.ones(x.shape[0], dtype=bool)
        keep[held] = False
        q, x = x[held], x[keep]
    else:
        q = as_vectors(queries, "queries", dim=x.shape[1])
    if k > x.shape[0]:
        raise ValueError(f"k={k} exceeds the {x.shape[0]} vectors")
    return x, q


def _truth(
    x: NDArray[np.float32], q: NDArray[np.float32], k: int, metric: str
) -> NDArray[np.int64]:
    """Exact top-k ids (nq, k) int64 of ``q`` among ``x``. Rows already of unit length (to
    1e-5) are searched by inner product for ``cosine``: the same ranking without the normalised
    copy of ``x`` (issue 11: ~1.4 s of a 1M x 64 tuning's ground truth)."""
    if metric == "cosine":
        sq = np.einsum("ij,ij->i", x, x)
        if sq.size and float(np.abs(sq - 1.0).max()) <= 1e-5:
            return exact_knn(x, q, k, metric="ip").ids
    return exact_knn(x, q, k, metric=metric).ids  # type: ignore[arg-type]


#: the clock of every cost in this module
WALL_CLOCK = "wall-clock seconds per query (time.perf_counter, best of 2 batch searches)"


def _load_average() -> tuple[float, float, float] | None:
    try:
        return tuple(float(v) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):  # pragma: no cover - platforms without it
        return None


def _time_search(
    idx: Index, q: NDArray[np.float32], k: int, repeat: int = 2
) -> tuple[float, NDArray]:
    """Wall-clock seconds per query of a batch search (best of ``repeat``) and its ids."""
    best = math.inf
    ids = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = idx.search(q, k)
        best = min(best, time.perf_counter() - t0)
        ids = res.ids
    return best / q.shape[0], ids  # type: ignore[return-value]
