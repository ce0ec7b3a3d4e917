"""Data-driven LSH parameters: the k-NN distance scale and hashes per table for a bucket size."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_vectors, check_random_state
from recall.lsh._checks import check_int as _check_int
from recall.lsh.hashers import E2LSHHasher, SimHashHasher, _Hasher

__all__ = ["knn_distance_scale", "bucket_size_profile", "params_for_bucket_size"]


def knn_distance_scale(
    vectors: NDArray[np.float32],
    k: int = 10,
    n_sample: int = 64,
    random_state: int | np.random.Generator | None = 0,
) -> float:
    """Median Euclidean distance from sampled rows to their k-th nearest other row (exact)."""
    x = as_vectors(vectors, "vectors")
    rng = check_random_state(random_state)
    n = x.shape[0]
    if n < 2:
        return 1.0
    rows = rng.choice(n, size=min(n_sample, n), replace=False)
    q = x[rows]
    kk = min(k, n - 1)
    qn = np.einsum("ij,ij->i", q, q)
    best = np.full((q.shape[0], kk + 1), np.inf, dtype=np.float32)
    for start in range(0, n, 65536):
        blk = x[start : start + 65536]
        d2 = qn[:, None] - 2 * (q @ blk.T) + np.einsum("ij,ij->i", blk, blk)[None, :]
        both = np.concatenate([best, d2.astype(np.float32)], axis=1)
        best = np.partition(both, kk, axis=1)[:, : kk + 1]
    best.sort(axis=1)
    r = float(np.sqrt(max(0.0, float(np.median(best[:, kk])))))  # column 0 is the row itself
    return r if r > 0 else 1.0


def bucket_size_profile(keys_prefix: NDArray[np.uint64]) -> float:
    """Mean over items of the size of the bucket they fall in (what a query sees): sum c^2 / n."""
    _, counts = np.unique(keys_prefix, return_counts=True)
    return float((counts.astype(np.float64) ** 2).sum() / keys_prefix.shape[0])


def params_for_bucket_size(
    vectors: ArrayLike,
    target_mean_bucket_size: float,
    kind: Literal["e2lsh", "simhash"] = "e2lsh",
    bucket_width: float | None = None,
    max_hashes: int = 32,
    n_sample: int = 100_000,
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float]:
    """Number of hashes per table (and w) giving a mean bucket size near the target.

    The mean bucket size is the item-weighted one (``sum c_b^2 / n``, the bucket a query drawn
    like the data lands in). Estimated on a subsample of ``n_sample`` rows and scaled by
    ``n / n_sample``; the number of hashes ``m`` is the one whose size is closest to the target in
    log scale. For E2LSH ``w`` defaults to ``4 * R`` with ``R`` the median 10-NN distance.
    Returns ``{"n_hashes" or "n_bits": m, "bucket_width": w (E2LSH), "mean_bucket_size": ...}``.
    """
    x = as_vectors(vectors, "vectors")
    if not target_mean_bucket_size >= 1:
        raise ValueError(f"target_mean_bucket_size must be >= 1, got {target_mean_bucket_size}")
    if kind not in ("e2lsh", "simhash"):
        raise ValueError(f"kind must be 'e2lsh' or 'simhash', got {kind!r}")
    rng = check_random_state(random_state)
    n = x.shape[0]
    sample = x if n <= n_sample else x[np.sort(rng.choice(n, size=n_sample, replace=False))]
    scale = n / sample.shape[0]
    max_hashes = _check_int("max_hashes", max_hashes, 1, 64)
    out: dict[str, float] = {}
    if kind == "e2lsh":
        w = (
            bucket_width
            if bucket_width is not None
            else 4.0 * knn_distance_scale(x, random_state=rng)
        )
        hasher: _Hasher = E2LSHHasher(x.shape[1], 1, max_hashes, w, random_state=rng)
        h = np.floor(hasher.project(sample)).astype(np.int64).astype(np.uint64)
        prefix = np.cumsum(h * hasher.multipliers[None, :], axis=1, dtype=np.uint64)
        out["bucket_width"] = float(w)
        name = "n_hashes"
    else:
        hasher = SimHashHasher(x.shape[1], 1, max_hashes, random_state=rng)
        bits = (hasher.project(sample) > 0).astype(np.uint64)
        prefix = np.cumsum(
            bits << np.arange(max_hashes, dtype=np.uint64)[None, :], axis=1, dtype=np.uint64
        )
        name = "n_bits"
    sizes = np.array([bucket_size_profile(prefix[:, j]) * scale for j in range(max_hashes)])
    sizes = np.maximum(sizes, 1.0)
    j = int(np.argmin(np.abs(np.log(sizes) - math.log(target_mean_bucket_size))))
    out[name] = j + 1
    out["mean_bucket_size"] = float(sizes[j])
    return out
