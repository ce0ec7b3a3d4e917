"""What a child of the scale benchmark measures about its own process: peak and current resident
memory, CPU seconds, the peak summed RSS of the process tree (Spark's JVM), and giving freed heap
back to the OS before a measured phase.

Standard library only (``psutil`` inside ``TreePeak``). ``scale_children.py``, run as a script
whose ``recall`` may come from another checkout (walkspeed's ``--baseline``), loads this file by
its path; ``scale_children_spark`` imports it as ``recall.bench.scale_probe``.
"""

from __future__ import annotations

import resource
import threading
from typing import Any

__all__ = ["TreePeak", "cpu_s", "peak_rss_mb", "rss_now_mb", "trim_heap"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_now_mb() -> float:
    """Current resident set of this process (``VmRSS``), MB; the peak is ``peak_rss_mb``."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def trim_heap() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class TreePeak:
    """Peak of the summed RSS of this process and its descendants (JVMs), sampled in a thread."""

    def __init__(self, every: float = 0.1) -> None:
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # noqa: BLE001 - a child that just exited
                pass
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
