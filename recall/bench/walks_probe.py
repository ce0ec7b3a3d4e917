"""Resident memory per phase of one process, for the walks benchmark's children
(``walks_children.py --child ours-sg``): :class:`RssPhases` (each phase's exact peak, the
process peak) and :func:`instrument` (marks the skip-gram's phases inside ``fit``).

Standard library only at module level, like ``walks_children.py``, which loads this file by
its path (it runs as a script, without importing the ``recall`` package).
"""

from __future__ import annotations

import resource
import time

__all__ = ["RssPhases", "instrument", "status_kb", "reset_peak"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in KiB (``VmRSS`` now, ``VmHWM`` the peak so far)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``, also ``ru_maxrss``) to the current RSS by
    writing 5 to ``/proc/self/clear_refs`` (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


class RssPhases:
    """Resident memory per phase. ``mark(name)`` starts a phase: it reads ``VmRSS`` and
    ``VmHWM`` (the exact peak since the previous mark), then resets ``VmHWM``, so that each
    phase's peak is exact and the process peak is the largest of them (:attr:`peak_mb`).
    Where the reset is not possible, ``VmRSS`` is sampled every ``every`` seconds in a thread
    instead (a sampled peak)."""

    def __init__(self, every: float = 0.01) -> None:
        import threading

        self.every = every
        self.samples: list[tuple[float, float]] = []
        self.marks: list[tuple[str, float, float, float | None]] = []  # name, t, rss, hwm
        self.exact = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), status_kb("VmRSS") / 1024))
            self._stop.wait(self.every)

    def mark(self, name: str) -> None:
        """End the current phase (its exact peak) and start phase ``name``."""
        rss, hwm = status_kb("VmRSS") / 1024, status_kb("VmHWM") / 1024
        self.marks.append((name, time.perf_counter(), rss, hwm))
        self.exact = reset_peak() and self.exact

    def phases(self) -> list[dict]:
        """One dict per phase: name, seconds, RSS at start / end, peak (exact: ``VmHWM`` over
        the phase; else sampled), ``hwm_mb`` the same exact peak or None."""
        out = []
        for (name, t0, rss0, _), (_, t1, rss1, hwm1) in zip(self.marks, self.marks[1:]):
            if not name:
                continue
            inside = [r for t, r in self.samples if t0 <= t <= t1]
            sampled = max([rss0, rss1, *inside])
            out.append({"phase": name, "seconds": t1 - t0, "start_rss_mb": rss0,
                        "end_rss_mb": rss1, "peak_rss_mb": hwm1 if self.exact else sampled,
                        "hwm_mb": hwm1 if self.exact else None})  # fmt: skip
        return out

    @property
    def peak_mb(self) -> float:
        """The process peak: the largest exact phase peak (``VmHWM`` belongs to this program's
        memory; ``ru_maxrss`` can carry the parent's size at fork across ``exec``), else
        ``ru_maxrss``."""
        if self.exact:
            return max(m[3] or 0.0 for m in self.marks)
        return max([_peak_rss_mb(), *(m[3] or 0.0 for m in self.marks)])

    def __enter__(self) -> RssPhases:
        # with exact phase peaks the sampling thread is not needed, and its list of samples
        # (~8 KB a second) would add to the very memory it measures over a long fit
        self.exact = reset_peak()
        if not self.exact:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mark("")
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def instrument(rss: RssPhases, trainer: str) -> None:
    """Mark the skip-gram's phases inside ``fit`` where they begin, by wrapping the functions
    that begin them (this child only): the vocabulary pass, the set-up (kernels, the weight
    matrices) and the training."""
    import functools

    def at_call(owner, name: str, phase: str, once: bool = True) -> None:
        f = getattr(owner, name)
        done = []

        @functools.wraps(f)
        def g(*a, **k):
            if not (once and done):
                done.append(1)
                rss.mark(phase)
            return f(*a, **k)

        setattr(owner, name, g)

    vocab = "fit: skip-gram vocabulary (a pass over the walks)"
    if trainer == "numba":
        from embeddings import sgns

        for name in ("corpus_from_position_blocks", "corpus_from_sequences", "corpus_from_file"):
            at_call(sgns, name, vocab)
        at_call(sgns, "train_sgns", "fit: skip-gram set-up (kernels, weight matrices)")
        # the kernels' warm-up calls train_chunk too: training starts with the initial vectors
        at_call(sgns, "_init_vectors", "fit: skip-gram training")
    else:
        from embeddings import word2vec_gensim

        at_call(word2vec_gensim, "fit_gensim", vocab)
        model = word2vec_gensim._LossTrackingWord2Vec
        at_call(model, "train", "fit: skip-gram training")
