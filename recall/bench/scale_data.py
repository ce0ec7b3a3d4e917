"""Seeded generators of the scale benchmark (``recall.bench.scale``): a power-law graph with
communities (:func:`chung_lu_edges`) and a behaviour log with local sequences
(:func:`synthetic_interactions`), both built with array operations only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def chung_lu_edges(
    n_nodes: int,
    n_edges: int,
    n_communities: int | None = None,
    mixing: float = 0.2,
    exponent: float = 2.5,
    random_state: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Seeded power-law graph with communities (a Chung-Lu model with planted groups).

    Node i gets an expected-degree weight ``theta_i ~ Pareto(exponent - 1)`` (so the degrees
    follow a power law with that exponent) and a uniform community. Each of ``n_edges`` edges
    draws its source in proportion to theta; with probability ``1 - mixing`` its target is drawn
    in proportion to theta within the source's community, otherwise among all nodes. Self loops
    are redrawn as a shift to the next node. Weights are log-normal (median 1).
    ``n_communities`` defaults to one per 1,000 nodes.

    Returns ``(src, dst, weight)``: int64, int64, float64 arrays of length ``n_edges``.
    """
    if n_nodes < 2 or n_edges < 1:
        raise ValueError(f"need n_nodes >= 2 and n_edges >= 1, got {n_nodes}, {n_edges}")
    if not 0.0 <= mixing <= 1.0:
        raise ValueError(f"mixing must lie in [0, 1], got {mixing}")
    if exponent <= 2.0:
        raise ValueError(f"exponent must be > 2 (finite mean degree), got {exponent}")
    if n_communities is None:
        n_communities = max(1, n_nodes // 1000)
    rng = np.random.default_rng(random_state)
    theta = rng.pareto(exponent - 1.0, n_nodes) + 1.0
    theta = np.minimum(theta, np.sqrt(n_edges))  # no node expects more than sqrt(E) edges
    comm = rng.integers(0, n_communities, n_nodes)
    order = np.argsort(comm, kind="stable")  # nodes grouped by community
    cum = np.cumsum(theta[order])
    bounds = np.searchsorted(comm[order], np.arange(n_communities + 1))  # group g: [b_g, b_g+1)
    lo_mass = np.concatenate([[0.0], cum])[bounds[:-1]]
    hi_mass = np.concatenate([[0.0], cum])[bounds[1:]]
    cum_all = np.cumsum(theta)
    src = np.searchsorted(cum_all, rng.random(n_edges) * cum_all[-1], side="right")
    src = np.minimum(src, n_nodes - 1)
    g = comm[src]
    inside = rng.random(n_edges) >= mixing
    u = rng.random(n_edges)
    pos = np.searchsorted(cum, lo_mass[g] + u * (hi_mass[g] - lo_mass[g]), side="right")
    dst_in = order[np.minimum(pos, n_nodes - 1)]
    dst_out = np.minimum(
        np.searchsorted(cum_all, rng.random(n_edges) * cum_all[-1], side="right"), n_nodes - 1
    )
    dst = np.where(inside, dst_in, dst_out)
    loop = dst == src
    dst[loop] = (dst[loop] + 1) % n_nodes
    w = rng.lognormal(0.0, 1.0, n_edges)
    return src.astype(np.int64), dst.astype(np.int64), w


def synthetic_interactions(
    n_users: int,
    n_items: int,
    mean_events: float = 156.0,
    n_clusters: int | None = None,
    p_local: float = 0.7,
    random_state: int = 0,
) -> pd.DataFrame:
    """Seeded behaviour log at MovieLens-25M scale, generated with array operations only.

    Items are split into ``n_clusters`` clusters (default one per 100 items) laid out as rings,
    each with skewed popularity (rank = size * U^3). A user has a favourite cluster and ``~Geometric`` events
    (mean ``mean_events``, at least 3). A session is a run of moves: with probability
    ``p_local`` the next item is a ring neighbour (offset in -3..3) of the current one, else a
    jump to a popularity draw in the favourite (70 %) or a random cluster. So the next item
    depends on the current one, which is what Item2vec learns.

    Returns a frame (user_id int64, item_id int64, rating float32, timestamp int64).
    """
    if n_users < 1 or n_items < 2 or mean_events < 3:
        raise ValueError(f"bad sizes: {n_users} users, {n_items} items, {mean_events} events")
    rng = np.random.default_rng(random_state)
    k = n_clusters or max(1, n_items // 100)
    size = n_items // k
    lengths = np.maximum(rng.geometric(1.0 / mean_events, n_users), 3)
    n = int(lengths.sum())
    user = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    first = np.zeros(n, bool)
    first[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = True
    fav = rng.integers(0, k, n_users)[user]
    jump = first | (rng.random(n) >= p_local)
    cluster = np.where(rng.random(n) < 0.7, fav, rng.integers(0, k, n))
    pop = (size * rng.random(n) ** 3).astype(np.int64)  # rank within the cluster, skewed to 0
    offset = np.where(jump, 0, rng.integers(-3, 4, n))
    seg = np.cumsum(jump) - 1  # run of local moves after each jump
    jump_at = np.flatnonzero(jump)
    base_local = pop[jump_at][seg]
    cum = np.cumsum(offset)
    local = (base_local + cum - cum[jump_at][seg]) % size
    item = cluster[jump_at][seg] * size + local
    ts = np.cumsum(rng.exponential(300.0, n)).astype(np.int64)
    rating = np.clip(np.round(rng.normal(3.8, 0.8, n) * 2) / 2, 0.5, 5.0).astype(np.float32)
    return pd.DataFrame({"user_id": user, "item_id": item.astype(np.int64), "rating": rating,
                         "timestamp": ts})  # fmt: skip
