"""Choose LSH parameters that reach a target knn-recall@k at the lowest cost, and show the frontier.

The question every LSH user asks: which (bits or w and m per table, tables L, probes T) reach
recall 0.9 fastest? :func:`tune_lsh` answers it on the data:

1. ground truth: exact top-k of a query sample (``recall.exact.exact_knn``); without queries,
   ``n_queries`` rows are held out of the vectors and the index is built on the rest;
2. a grid of tables ``L`` and hashes per table ``m`` around the literature's choice of about
   ``log2(n)`` bits per table (SimHash: ``m = b0 - 5 .. b0 - 2`` with ``b0 = round(log2 n)``;
   E2LSH: ``w = 4 R`` with ``R`` the median 10-NN distance -- the E2LSH manual's rule -- and
   ``m`` giving the same mean bucket sizes as those SimHash bit counts, via
   :func:`recall.lsh.scales.params_for_bucket_size`);
3. for each built index, the probes ``T`` (buckets probed over all tables) by doubling from ``L``
   until the target is reached, then binary search between the last two values;
4. the cheapest setting that reaches the target: ``cost="time"`` (wall-clock seconds per query,
   ``time.perf_counter``, best of two batch searches) or ``cost="candidates"`` (mean candidates
   re-ranked). The result says which (``cost_unit``) and records the load average
   (``load_average``): under load wall-clock costs rise, so compare tunings run side by side.

Every evaluated setting is one row of ``TuningResult.frontier`` (recall, candidates, qps, ...).

:func:`tune_balanced_lsh` does the same for :class:`recall.lsh.balanced.BalancedLSHIndex`
(grid of tables / directions / leaf sizes, probes by doubling and bisection, ``refine_factor``
when every leaf is probed), with a held-out validation slice, a margin of standard errors on the
tuning slice, a memory cap, and a ``message`` naming the knob that ran out when the target is
missed.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from recall.base import Metric
from recall.lsh.scales import params_for_bucket_size
from recall.lsh.tuning_balanced import BALANCED_GRID, tune_balanced_lsh
from recall.lsh.tuning_common import TuningResult
from recall.lsh.tuning_hashing import tune_lsh

__all__ = [
    "TuningResult",
    "tune",
    "tune_lsh",
    "tune_balanced_lsh",
    "params_for_bucket_size",
    "BALANCED_GRID",
]


def tune(
    vectors: ArrayLike,
    queries: ArrayLike | None = None,
    k: int = 10,
    target_recall: float = 0.9,
    metric: Metric = "cosine",
    **kwargs: Any,
) -> TuningResult:
    """The cheapest LSH index reaching ``target_recall``: :func:`tune_balanced_lsh` with
    ``include_simhash=True`` (balanced cross-polytope trees, or SimHash where it is cheaper),
    within ``max_memory_ratio`` (default 2) times the float32 vectors. ``kwargs`` go to
    :func:`tune_balanced_lsh`; ``result.make_index()`` builds the chosen class."""
    kwargs.setdefault("include_simhash", True)
    return tune_balanced_lsh(
        vectors, queries, k=k, target_recall=target_recall, metric=metric, **kwargs
    )
