"""Seeded synthetic data families for the recall benchmarks.

Every ANN report runs every family (the harness's rule: no claim from the easiest data alone):

- ``gmm``: isotropic Gaussian mixture on the unit sphere (well-separated clusters, the easy case);
- ``skewed``: anisotropic low-rank clusters with power-law sizes and a share of uniform outliers,
  unit-normalised (a few huge dense clusters, many tiny ones; what breaks data-blind hashing);
- ``ip_heavy``: maximum-inner-product search over item vectors whose norms are heavy-tailed
  (log-normal), queried by user-like vectors (mixtures of a few item directions), as a
  recommender's U2I retrieval issues them; metric ``ip``.

Real vectors (item2vec on MovieLens, Spark ALS, SparrowRecSys) are loaded by the benchmarks from the
shared data folder; they are not generated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from embeddings.validate import check_random_state

__all__ = [
    "Family",
    "FAMILIES",
    "gaussian_mixture",
    "heavy_tailed_ip",
    "make_family",
    "skewed_clusters",
]


def _check_sizes(n: int, d: int, n_clusters: int, n_queries: int) -> None:
    if n < 1 or d < 1 or n_clusters < 1 or n_queries < 0:
        raise ValueError(
            f"n, d, n_clusters must be >= 1 and n_queries >= 0, got {n}, {d}, {n_clusters}, {n_queries}"
        )


def _unit(block: NDArray[np.float32]) -> NDArray[np.float32]:
    block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), np.float32(1e-12))
    return block


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
    _check_sizes(n, d, n_clusters, n_queries)
    if not spread >= 0:
        raise ValueError(f"spread must be >= 0, got {spread}")
    rng = check_random_state(random_state)
    centres = _unit(rng.standard_normal((n_clusters, d)).astype(np.float32))
    noise_scale = np.float32(spread / np.sqrt(d))

    def draw(m: int) -> NDArray[np.float32]:
        out = np.empty((m, d), dtype=np.float32)
        for start in range(0, m, chunk):
            stop = min(m, start + chunk)
            labels = rng.integers(0, n_clusters, size=stop - start)
            block = rng.standard_normal((stop - start, d), dtype=np.float32)
            block *= noise_scale
            block += centres[labels]
            out[start:stop] = _unit(block)
        return out

    base = draw(n)
    queries = draw(n_queries)
    return base, queries


def skewed_clusters(
    n: int,
    d: int,
    n_clusters: int = 500,
    n_queries: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    *,
    size_exponent: float = 1.2,
    rank: int = 6,
    outlier_frac: float = 0.03,
    centre_scale: float = 1.0,
    chunk: int = 262_144,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Skewed, anisotropic clusters: ``(base (n, d) float32, queries (n_queries, d) float32)``.

    Cluster ``c`` gets weight proportional to ``(c + 1) ** -size_exponent`` (a Zipf law: the largest
    cluster of 500 holds ~20% of the points, the smallest a few dozen). Each cluster lives near a
    random ``rank``-dimensional subspace: a point is ``centre_scale * centre + U_c @ (s_c * z) + e``
    with ``U_c`` an orthonormal ``(d, rank)`` basis, per-axis scales ``s_c`` decaying geometrically
    (the first axis ~4x the last) and drawn per cluster, ``z`` standard normal and ``e`` small
    isotropic noise; centres are drawn around a shared global mean direction, so the data are not
    centred at the origin. ``outlier_frac`` of the points (and of the queries) are uniform on the
    sphere. Everything is unit-normalised. Queries are fresh draws of the same law.
    """
    _check_sizes(n, d, n_clusters, n_queries)
    if not 0 <= outlier_frac < 1:
        raise ValueError(f"outlier_frac must be in [0, 1), got {outlier_frac}")
    if not 1 <= rank <= d:
        raise ValueError(f"rank must be in [1, d], got {rank} with d={d}")
    rng = check_random_state(random_state)
    weights = (np.arange(1, n_clusters + 1, dtype=np.float64)) ** -float(size_exponent)
    weights /= weights.sum()
    mean_dir = _unit(rng.standard_normal((1, d)).astype(np.float32))[0]
    centres = _unit(rng.standard_normal((n_clusters, d)).astype(np.float32) + 1.5 * mean_dir)
    centres *= np.float32(centre_scale)
    bases = np.empty((n_clusters, d, rank), dtype=np.float32)
    scales = np.empty((n_clusters, rank), dtype=np.float32)
    decay = np.geomspace(1.0, 0.25, rank)
    for c in range(n_clusters):
        q, _ = np.linalg.qr(rng.standard_normal((d, rank)))
        bases[c] = q.astype(np.float32)
        scales[c] = (rng.uniform(0.25, 0.7) * decay).astype(np.float32)
    noise = np.float32(0.05 / np.sqrt(d))

    def draw(m: int) -> NDArray[np.float32]:
        out = np.empty((m, d), dtype=np.float32)
        for start in range(0, m, chunk):
            stop = min(m, start + chunk)
            size = stop - start
            labels = rng.choice(n_clusters, size=size, p=weights)
            z = rng.standard_normal((size, rank), dtype=np.float32) * scales[labels]
            block = np.einsum("ndr,nr->nd", bases[labels], z, optimize=False).astype(np.float32)
            block += centres[labels]
            block += noise * rng.standard_normal((size, d), dtype=np.float32)
            is_out = rng.random(size) < outlier_frac
            if is_out.any():
                block[is_out] = rng.standard_normal((int(is_out.sum()), d), dtype=np.float32)
            out[start:stop] = _unit(block)
        return out

    base = draw(n)
    queries = draw(n_queries)
    return base, queries


def heavy_tailed_ip(
    n: int,
    d: int,
    n_clusters: int = 100,
    n_queries: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    *,
    norm_sigma: float = 0.6,
    mix: int = 3,
    chunk: int = 262_144,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Items with heavy-tailed norms and user-like queries, for inner-product search.

    Item directions come from a Gaussian mixture on the sphere (``n_clusters`` centres, spread 0.6);
    item norms are log-normal with ``sigma=norm_sigma`` (a long right tail, as popular items get in
    MF/word2vec models). A query is the normalised mean of ``mix`` item directions from random
    clusters plus noise, with a log-normal norm of its own (a user vector: the norm does not change
    the ranking). Returns ``(items (n, d) float32, queries (n_queries, d) float32)``; search with
    metric ``ip``.
    """
    _check_sizes(n, d, n_clusters, n_queries)
    if not norm_sigma >= 0 or mix < 1:
        raise ValueError(f"norm_sigma must be >= 0 and mix >= 1, got {norm_sigma}, {mix}")
    rng = check_random_state(random_state)
    centres = _unit(rng.standard_normal((n_clusters, d)).astype(np.float32))
    noise_scale = np.float32(0.6 / np.sqrt(d))
    items = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        size = stop - start
        labels = rng.integers(0, n_clusters, size=size)
        block = rng.standard_normal((size, d), dtype=np.float32) * noise_scale + centres[labels]
        block = _unit(block)
        block *= rng.lognormal(0.0, norm_sigma, size=(size, 1)).astype(np.float32)
        items[start:stop] = block
    picks = rng.integers(0, n_clusters, size=(n_queries, mix))
    queries = centres[picks].mean(axis=1)
    queries += rng.standard_normal((n_queries, d), dtype=np.float32) * noise_scale
    queries = _unit(queries.astype(np.float32))
    queries *= rng.lognormal(0.0, 0.3, size=(n_queries, 1)).astype(np.float32)
    return items, queries


@dataclass(frozen=True)
class Family:
    """One synthetic data family: a generator, the metric its queries are meant for, a description."""

    name: str
    make: Callable[..., tuple[NDArray[np.float32], NDArray[np.float32]]]
    metric: str
    description: str
    defaults: dict = field(default_factory=dict)


FAMILIES: dict[str, Family] = {
    "gmm": Family(
        "gmm", gaussian_mixture, "cosine", "Gaussian mixture, 200 isotropic clusters, unit vectors"
    ),
    "skewed": Family(
        "skewed",
        skewed_clusters,
        "cosine",
        "skewed: 500 anisotropic rank-6 clusters, Zipf(1.2) sizes, 3% uniform outliers, unit vectors",
    ),
    "ip_heavy": Family(
        "ip_heavy",
        heavy_tailed_ip,
        "ip",
        "inner product: log-normal item norms (sigma 0.6), user-like queries mixing 3 clusters",
    ),
}


def make_family(
    name: str,
    n: int,
    d: int,
    n_queries: int = 1000,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[NDArray[np.float32], NDArray[np.float32], str]:
    """``(base (n, d) float32, queries (n_queries, d) float32, metric)`` of family ``name``."""
    try:
        fam = FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown data family {name!r}; known: {sorted(FAMILIES)}") from None
    base, queries = fam.make(n, d, n_queries=n_queries, random_state=random_state, **fam.defaults)
    return base, queries, fam.metric
