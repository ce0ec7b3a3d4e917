"""Seeded synthetic data sets for the recall benchmarks."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from embeddings._validate import check_random_state

__all__ = ["gaussian_mixture"]


def gaussian_mixture(
    n: int,
    d: int,
    n_clusters: int = 200,
    n_queries: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    *,
    spread: float = 0.5,
    chunk: int = 262_144,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Clustered unit vectors: ``(base (n, d) float32, queries (n_queries, d) float32)``.

    ``n_clusters`` centres are drawn uniformly on the unit sphere; every point is a centre (chosen
    uniformly) plus isotropic Gaussian noise of total norm about ``spread``, re-normalised to unit
    length. Queries are held-out draws from the same mixture (not copies of base points). Built in
    chunks of ``chunk`` rows so the float64 temporaries stay small.
    """
    if n < 1 or d < 1 or n_clusters < 1 or n_queries < 0:
        raise ValueError(
            f"n, d, n_clusters must be >= 1 and n_queries >= 0, got {n}, {d}, {n_clusters}, {n_queries}"
        )
    if not spread >= 0:
        raise ValueError(f"spread must be >= 0, got {spread}")
    rng = check_random_state(random_state)
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise_scale = np.float32(spread / np.sqrt(d))

    def draw(m: int) -> NDArray[np.float32]:
        out = np.empty((m, d), dtype=np.float32)
        for start in range(0, m, chunk):
            stop = min(m, start + chunk)
            labels = rng.integers(0, n_clusters, size=stop - start)
            block = rng.standard_normal((stop - start, d), dtype=np.float32)
            block *= noise_scale
            block += centres[labels]
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), np.float32(1e-12))
            out[start:stop] = block
        return out

    base = draw(n)
    queries = draw(n_queries)
    return base, queries
