"""Thread plumbing shared by the peers: one pool per worker count, query batches split over it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["split_queries", "thread_controller"]


@lru_cache(maxsize=8)
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="peers")


def split_queries(
    fn: Callable[[NDArray[np.float32]], Any], queries: NDArray[np.float32], threads: int
) -> list[Any]:
    """Run ``fn(chunk)`` over ``threads`` chunks of queries (nq, d) in threads (fn releases the GIL)."""
    if threads <= 1 or queries.shape[0] < 2:
        return [fn(queries)]
    chunks = np.array_split(queries, min(threads, queries.shape[0]))
    return list(_executor(len(chunks)).map(fn, chunks))


@lru_cache(maxsize=1)
def thread_controller() -> Any:
    """One ``threadpoolctl.ThreadpoolController`` (BLAS / OpenMP limits during builds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
