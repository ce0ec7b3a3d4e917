"""Honest statistics for quality tables: seed intervals and paired bootstrap over users.

- ``mean_ci``: mean and Student-t confidence interval of a figure over independent seeds
  (training randomness);
- ``paired_bootstrap``: difference (and ratio) of two methods' means over the *same* users, with a
  percentile bootstrap interval that resamples users (the test-set randomness). Pairing removes
  the between-user variance that both methods share, so it is much tighter than comparing two
  separate intervals;
- ``verdict``: "win" / "loss" only when the interval excludes zero, else "no significant
  difference".

A per-user figure is e.g. the ``hit_rate@10`` column of ``evaluate_i2i(..., per_user=True)``;
with several training seeds, average each user's figure over the seeds first (``per_user_mean``)
and bootstrap those means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import check_random_state

__all__ = [
    "BootstrapResult",
    "mean_ci",
    "holm",
    "paired_bootstrap",
    "pooled_paired_bootstrap",
    "per_user_mean",
    "verdict",
]


def _finite_1d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: NaN or inf at positions {np.flatnonzero(~np.isfinite(arr))[:5]}")
    return arr


def _check_confidence(confidence: float) -> float:
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(confidence)


def mean_ci(values: ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean of ``values`` (e.g. one figure per seed).

    With a single value the interval is (nan, nan): one seed says nothing about seed noise.
    """
    from scipy import stats

    x = _finite_1d(values, "values")
    conf = _check_confidence(confidence)
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + conf / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of mean(a) - mean(b) and mean(a) / mean(b) over the same units."""

    mean_a: float
    mean_b: float
    diff: float
    diff_low: float
    diff_high: float
    ratio: float
    ratio_low: float
    ratio_high: float
    n: int
    n_boot: int
    confidence: float

    @property
    def verdict(self) -> str:
        """``win`` / ``loss`` when the difference's interval excludes zero, else no difference."""
        return verdict(self.diff_low, self.diff_high)

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["verdict"] = self.verdict
        return out


def _resampled_sums(
    strata: list[tuple[NDArray[np.float64], NDArray[np.float64]]],
    n_boot: int,
    rng: np.random.Generator,
    batch: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """float (n_boot,) sums of a and of b over resampled units: each resample draws, within every
    stratum (a, b aligned), that stratum's units with replacement (memory: batch * n int64)."""
    sum_a = np.zeros(n_boot)
    sum_b = np.zeros(n_boot)
    for xa, xb in strata:  # stratum by stratum: each keeps its own number of units
        n = xa.size
        done = 0
        while done < n_boot:
            m = min(batch, n_boot - done)
            idx = rng.integers(0, n, size=(m, n))
            sum_a[done : done + m] += xa[idx].sum(axis=1)
            sum_b[done : done + m] += xb[idx].sum(axis=1)
            done += m
    return sum_a, sum_b


def _percentile_intervals(
    sum_a: NDArray[np.float64], sum_b: NDArray[np.float64], n_units: int, confidence: float
) -> tuple[float, float, float, float]:
    """Percentile intervals (diff_low, diff_high, ratio_low, ratio_high) of the resampled mean
    difference and ratio; the ratio's are nan when a resample has sum_b = 0."""
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    d_lo, d_hi = np.percentile((sum_a - sum_b) / n_units, q)
    if (sum_b > 0).all():
        r_lo, r_hi = np.percentile(sum_a / sum_b, q)
    else:
        r_lo = r_hi = float("nan")
    return float(d_lo), float(d_hi), float(r_lo), float(r_hi)


def paired_bootstrap(
    a: ArrayLike,
    b: ArrayLike,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    random_state: Any = 0,
    batch: int = 500,
) -> BootstrapResult:
    """Percentile bootstrap interval of the paired difference (and ratio) of two means.

    Args:
        a, b: float (n,) per-unit figures of two methods on the same units (users), aligned.
        n_boot: bootstrap resamples of the n units (with replacement).
        confidence: two-sided level of the intervals.
        random_state: seed of the resampling (same seed, same interval).
        batch: resamples drawn per block (memory: batch * n int64).

    The ratio's interval is nan where a resample has mean(b) = 0.
    """
    x = _finite_1d(a, "a")
    y = _finite_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must be paired (same length), got {x.size} and {y.size}")
    if not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError(f"n_boot must be an int >= 100, got {n_boot}")
    conf = _check_confidence(confidence)
    sum_a, sum_b = _resampled_sums([(x, y)], n_boot, check_random_state(random_state), batch)
    n = x.size
    d_lo, d_hi, r_lo, r_hi = _percentile_intervals(sum_a, sum_b, n, conf)
    mean_a, mean_b = float(x.mean()), float(y.mean())
    return BootstrapResult(
        mean_a=mean_a,
        mean_b=mean_b,
        diff=mean_a - mean_b,
        diff_low=float(d_lo),
        diff_high=float(d_hi),
        ratio=mean_a / mean_b if mean_b > 0 else float("nan"),
        ratio_low=float(r_lo),
        ratio_high=float(r_hi),
        n=int(n),
        n_boot=int(n_boot),
        confidence=conf,
    )


def verdict(low: float, high: float) -> str:
    """``"win"`` if the interval of a difference lies above zero, ``"loss"`` below, else
    ``"no significant difference"`` (also when the interval is undefined)."""
    if np.isnan(low) or np.isnan(high):
        return "no significant difference"
    if low > 0:
        return "win"
    if high < 0:
        return "loss"
    return "no significant difference"


def per_user_mean(tables: list[pd.DataFrame], column: str) -> pd.Series:
    """Each user's ``column`` averaged over several runs (e.g. seeds), indexed by user_id.

    ``tables`` are ``per_user`` frames of the evaluation (columns user_id and metrics); they
    must cover the same users (the same test split), else ``ValueError``.
    """
    if not tables:
        raise ValueError("per_user_mean: no tables")
    series = []
    for i, t in enumerate(tables):
        if "user_id" not in t.columns or column not in t.columns:
            raise ValueError(f"table {i}: needs columns user_id and {column!r}")
        series.append(t.set_index("user_id")[column].sort_index())
    first = series[0].index
    for i, s in enumerate(series[1:], start=1):
        if not s.index.equals(first):
            raise ValueError(f"table {i} covers other users than table 0: not the same split")
    return pd.concat(series, axis=1).mean(axis=1)


def _strata(x: Mapping[int, ArrayLike], name: str) -> dict[int, NDArray[np.float64]]:
    if not x:
        raise ValueError(f"{name}: no seeds")
    out = {}
    for s, v in x.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{name}: seed {s}: expected a non-empty 1-D array, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: seed {s}: NaN or inf among the per-user figures")
        out[int(s)] = a
    return out


def pooled_paired_bootstrap(
    a: Mapping[int, ArrayLike],
    b: Mapping[int, ArrayLike],
    n_boot: int = 10_000,
    confidence: float = 0.95,
    random_state: Any = 0,
    batch: int = 1_000,
) -> dict[str, Any]:
    """Paired bootstrap of mean(a) - mean(b) over (seed, user) units, stratified by seed: the
    resampling of :func:`paired_bootstrap` within each seed's users, plus a p-value.

    Args:
        a, b: per seed, float (n_seed,) per-user figures of two methods on the same users in
            the same order (e.g. test HR@10, 0 or 1 per user).
        n_boot: resamples; each draws, within every seed, that seed's users with replacement.
        confidence: two-sided level of the percentile intervals.
        random_state: seed of the resampling (same seed, same interval).
        batch: resamples drawn per block (memory: batch * n_seed int64).

    Returns a dict: ``mean_a`` / ``mean_b`` (pooled over every (seed, user) unit), ``diff`` and
    its interval ``diff_low`` / ``diff_high``, ``ratio`` (mean_a / mean_b) with ``ratio_low`` /
    ``ratio_high`` (nan when a resample has mean_b = 0), ``p`` (two-sided: twice the smaller
    share of resampled differences on either side of 0, with the +1 correction, at most 1),
    ``n_units``, ``n_seeds``, ``n_boot``. ``ValueError`` when the seeds or users of a and b do
    not pair, for NaN, or for a bad ``n_boot`` / ``confidence``.
    """
    xa, xb = _strata(a, "a"), _strata(b, "b")
    if set(xa) != set(xb):
        raise ValueError(f"a and b cover other seeds: {sorted(xa)} vs {sorted(xb)}")
    for s in xa:
        if xa[s].shape != xb[s].shape:
            raise ValueError(
                f"seed {s}: a and b must be paired (same users), got {xa[s].size} and {xb[s].size}"
            )
    if not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError(f"n_boot must be an int >= 100, got {n_boot}")
    _check_confidence(confidence)
    seeds = sorted(xa)
    n_units = sum(xa[s].size for s in seeds)
    sum_a, sum_b = _resampled_sums(
        [(xa[s], xb[s]) for s in seeds], n_boot, check_random_state(random_state), batch
    )
    d_lo, d_hi, r_lo, r_hi = _percentile_intervals(sum_a, sum_b, n_units, float(confidence))
    diffs = (sum_a - sum_b) / n_units
    below = int((diffs <= 0).sum())
    above = int((diffs >= 0).sum())
    p = min(1.0, 2.0 * (1 + min(below, above)) / (n_boot + 1))
    mean_a = float(sum(xa[s].sum() for s in seeds) / n_units)
    mean_b = float(sum(xb[s].sum() for s in seeds) / n_units)
    return {
        "mean_a": mean_a,
        "mean_b": mean_b,
        "diff": mean_a - mean_b,
        "diff_low": float(d_lo),
        "diff_high": float(d_hi),
        "ratio": mean_a / mean_b if mean_b > 0 else float("nan"),
        "ratio_low": float(r_lo),
        "ratio_high": float(r_hi),
        "p": float(p),
        "n_units": int(n_units),
        "n_seeds": len(seeds),
        "n_boot": int(n_boot),
    }


def holm(p: ArrayLike) -> NDArray[np.float64]:
    """Holm's step-down adjusted p-values (same order as ``p``): the i-th smallest times
    (m - i), made non-decreasing, at most 1. Controls the family-wise error rate."""
    x = np.asarray(p, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"p: expected a non-empty 1-D array, got shape {x.shape}")
    if not (np.isfinite(x).all() and (x >= 0).all() and (x <= 1).all()):
        raise ValueError("p: p-values must lie in [0, 1]")
    order = np.argsort(x, kind="stable")
    m = x.size
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * x[order]))
    out = np.empty(m)
    out[order] = adj
    return out
