"""Measurement helpers shared by the runner and the benchmarks: timing, memory, environment.

Timing policy (the one ``recall.bench.harness`` applies): wall clock (``time.perf_counter``) is
the figure, process CPU time is recorded beside it; a warm-up call first, kept apart; repeats
reported as median with min-max; the load average recorded with every timed figure.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SPREAD_FLAG",
    "Timing",
    "batch_qps",
    "default_max_load",
    "environment_info",
    "library_versions",
    "load_average",
    "peak_rss_bytes",
    "single_query_qps",
    "time_repeats",
    "timed",
]

#: a point whose (max - min) / median exceeds this is flagged
SPREAD_FLAG = 0.20

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


def load_average() -> tuple[float, float, float]:
    """``os.getloadavg()`` (1, 5, 15 minutes), NaNs where the platform has none."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        return (float("nan"),) * 3  # type: ignore[return-value]
    return float(one), float(five), float(fifteen)


def default_max_load() -> float:
    """0.75 x the number of cores (1.5 on a 2-core machine): above it timings are flagged."""
    return 0.75 * float(os.cpu_count() or 1)


@dataclass(frozen=True)
class Timing:
    """Repeated measurements of one timed callable: wall and CPU seconds per round, and the
    wall seconds of the untimed warm-up call (compilation, caches).

    The figure is the median wall time; min-max and the process CPU time are shown beside it
    (the policy of ``recall.bench.harness``)."""

    wall: tuple[float, ...]
    cpu: tuple[float, ...]
    warmup_s: float = float("nan")

    def __post_init__(self) -> None:
        if not self.wall or len(self.wall) != len(self.cpu):
            raise ValueError(f"need >= 1 wall time and as many CPU times, got {self}")

    @property
    def median(self) -> float:
        """Median wall seconds: the figure."""
        return float(np.median(self.wall))

    @property
    def min(self) -> float:
        return float(np.min(self.wall))

    @property
    def max(self) -> float:
        return float(np.max(self.wall))

    @property
    def cpu_median(self) -> float:
        return float(np.median(self.cpu))

    @property
    def spread(self) -> float:
        """(max - min) / median of the wall times."""
        med = self.median
        return float((self.max - self.min) / med) if med > 0 else 0.0

    @property
    def flagged(self) -> bool:
        return len(self.wall) > 1 and self.spread > SPREAD_FLAG

    def rate(self, count: float, prefix: str = "qps") -> dict[str, float]:
        """``count`` per second: median and min-max in wall time, median in CPU time, spread."""
        return {
            prefix: count / max(self.median, 1e-12),
            f"{prefix}_min": count / max(self.max, 1e-12),
            f"{prefix}_max": count / max(self.min, 1e-12),
            f"{prefix}_cpu": count / max(self.cpu_median, 1e-12),
            f"{prefix}_spread": self.spread,
            f"{prefix}_flagged": self.flagged,
            f"{prefix}_rounds": len(self.wall),
        }

    def seconds(self, prefix: str = "s") -> dict[str, float]:
        """Median wall seconds with min-max, CPU seconds, spread and flag."""
        return {
            prefix: self.median,
            f"{prefix}_min": self.min,
            f"{prefix}_max": self.max,
            f"{prefix}_cpu": self.cpu_median,
            f"{prefix}_spread": self.spread,
            f"{prefix}_flagged": self.flagged,
        }


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(fn(), wall seconds, CPU seconds of this process)``."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def time_repeats(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> Timing:
    """``fn()`` run ``warmup`` times untimed (the first call's wall time kept as
    ``warmup_s``), then ``repeat`` times timed (wall ``perf_counter`` and process CPU)."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive int, got {repeat!r}")
    warm = float("nan")
    for i in range(max(0, int(warmup))):
        w = timed(fn)[1]
        if i == 0:
            warm = w
    wall, cpu = [], []
    for _ in range(repeat):
        _, w, c = timed(fn)
        wall.append(w)
        cpu.append(c)
    return Timing(tuple(wall), tuple(cpu), warm)


def single_query_qps(
    search: Callable[[NDArray[np.float32], int], Any],
    queries: NDArray[np.float32],
    k: int,
    max_queries: int = 500,
    repeat: int = 3,
    prefix: str = "qps_single",
) -> dict[str, float]:
    """Queries per second issuing one query at a time: ``Timing.rate`` of ``repeat`` passes
    over up to ``max_queries`` queries after one warm-up pass (``{prefix}`` = median wall,
    ``{prefix}_min`` / ``_max``, ``_cpu``, ``_spread``, ``_flagged``, ``_rounds``)."""
    q = queries[:max_queries]
    rows = [q[i : i + 1] for i in range(q.shape[0])]

    def run() -> None:
        for r in rows:
            search(r, k)

    return time_repeats(run, repeat=repeat, warmup=1).rate(q.shape[0], prefix)


def batch_qps(
    search: Callable[[NDArray[np.float32], int], Any],
    queries: NDArray[np.float32],
    k: int,
    repeat: int = 3,
    prefix: str = "qps_batch",
) -> dict[str, float]:
    """Queries per second issuing all queries in one call: ``Timing.rate`` as
    :func:`single_query_qps`."""
    timing = time_repeats(lambda: search(queries, k), repeat=repeat, warmup=1)
    return timing.rate(queries.shape[0], prefix)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (bytes, Linux ru_maxrss is in KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
