"""Measurement helpers shared by the runner and the benchmarks: timing, memory, environment."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "environment_info",
    "library_versions",
    "best_time",
    "single_query_qps",
    "batch_qps",
    "peak_rss_bytes",
]

_LIBS = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "gensim",
    "numba",
    "networkx",
    "matplotlib",
    "faiss-cpu",
    "hnswlib",
    "annoy",
    "redis",
    "pyspark",
    "embrecall",
)


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the libraries that matter here ("absent" when not installed)."""
    out: dict[str, str] = {}
    for name in _LIBS + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def environment_info() -> dict[str, Any]:
    """Python, platform, CPU count, BLAS/OpenMP thread pools (threadpoolctl), library versions."""
    from threadpoolctl import threadpool_info

    pools = [
        {
            k: p.get(k)
            for k in ("user_api", "internal_api", "num_threads", "version", "architecture")
        }
        for p in threadpool_info()
    ]
    try:
        import numba

        numba_threads = int(numba.get_num_threads())
    except ImportError:  # pragma: no cover
        numba_threads = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "numba_threads": numba_threads,
        "threadpools": pools,
        "env": {
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS",
            )
        },
        "libraries": library_versions(),
    }


def best_time(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time in seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def single_query_qps(
    search: Callable[[NDArray[np.float32], int], Any],
    queries: NDArray[np.float32],
    k: int,
    max_queries: int = 500,
    repeat: int = 3,
) -> float:
    """Queries per second issuing one query at a time (best of ``repeat`` passes)."""
    q = queries[:max_queries]
    rows = [q[i : i + 1] for i in range(q.shape[0])]

    def run() -> None:
        for r in rows:
            search(r, k)

    return q.shape[0] / best_time(run, repeat=repeat, warmup=1)


def batch_qps(
    search: Callable[[NDArray[np.float32], int], Any],
    queries: NDArray[np.float32],
    k: int,
    repeat: int = 3,
) -> float:
    """Queries per second issuing all queries in one call (best of ``repeat``)."""
    return queries.shape[0] / best_time(lambda: search(queries, k), repeat=repeat, warmup=1)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (bytes, Linux ru_maxrss is in KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
