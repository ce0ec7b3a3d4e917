"""The built-in default data: seeded synthetic users, genre-labelled items and behaviour.

Structure the embeddings can learn and the tests can check:

- ``n_genres`` genres on a ring; genres g-1 and g+1 are "related" to g.
- each item has a primary genre and, with probability ``p_second_genre``, a related second genre;
  popularity within the catalogue follows a power law (Zipf exponent ``popularity_exponent``).
- each user has a favourite genre; a sequence is a Markov chain over genres: stay in the current
  genre with ``p_stay``, move to a related genre with ``p_related``, otherwise jump to the user's
  favourite or a random genre. Within a genre the items lie on a ring (think of series and
  franchises): when the chain stays in the genre, with ``p_local`` the next item is one of the
  ``local_width`` ring neighbours on either side of the current item; otherwise it is drawn from
  the genre by popularity. So the next item depends on the current one, not only on popularity.
- timestamps increase with exponential gaps, with occasional long breaks (new sessions);
  ratings are higher for items of the user's favourite and related genres.
- side information: genres (multi-valued), a year (correlated with genre), tags drawn from a
  genre-specific tag pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from embeddings.datasets.tables import Interactions, ItemSideInfo
from embeddings.validate import check_random_state

__all__ = ["SyntheticData", "make_synthetic"]


@dataclass(frozen=True)
class SyntheticData:
    """Output of ``make_synthetic``: the log, the side info, and the true primary genre per item."""

    interactions: Interactions
    side_info: ItemSideInfo
    item_genre: pd.Series  # item_id -> primary genre index (int)
    user_genre: pd.Series  # user_id -> favourite genre index (int)
    n_genres: int


def make_synthetic(
    n_users: int = 2000,
    n_items: int = 1000,
    n_genres: int = 12,
    mean_events: float = 40.0,
    p_stay: float = 0.6,
    p_related: float = 0.3,
    p_second_genre: float = 0.4,
    p_local: float = 0.7,
    local_width: int = 3,
    popularity_exponent: float = 0.8,
    session_break_prob: float = 0.1,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticData:
    """Generate the synthetic default data set (same seed, same data).

    Args:
        n_users, n_items, n_genres: sizes (n_genres >= 3 so that "related" differs from "same").
        mean_events: mean events per user (geometric-ish, at least 3).
        p_stay, p_related: genre-chain probabilities (the rest jumps to favourite/random genre).
        p_second_genre: chance that an item also carries a related second genre.
        p_local, local_width: chance of a move to a ring neighbour (within ``local_width``) of the
            current item when staying in its genre.
        popularity_exponent: Zipf exponent of item popularity within the catalogue.
        session_break_prob: chance of a long break (> 1 day) between two events.
        random_state: seed.
    """
    if n_genres < 3:
        raise ValueError(f"n_genres must be >= 3, got {n_genres}")
    if n_items < n_genres:
        raise ValueError(f"n_items ({n_items}) must be >= n_genres ({n_genres})")
    if n_users < 1 or mean_events < 3:
        raise ValueError("need n_users >= 1 and mean_events >= 3")
    if not 0 <= p_local <= 1 or local_width < 1:
        raise ValueError("p_local must be in [0, 1] and local_width >= 1")
    if not (0 <= p_stay and 0 <= p_related and p_stay + p_related <= 1):
        raise ValueError("p_stay and p_related must be >= 0 with p_stay + p_related <= 1")
    rng = check_random_state(random_state)

    # items: primary genre balanced over the ring, power-law popularity in random order
    item_ids = np.arange(1, n_items + 1, dtype=np.int64) * 10 + 7  # ids are not row positions
    primary = rng.permutation(np.arange(n_items) % n_genres)
    second = np.where(
        rng.random(n_items) < p_second_genre,
        (primary + rng.choice([-1, 1], n_items)) % n_genres,
        -1,
    )
    ranks = rng.permutation(n_items) + 1
    popularity = ranks.astype(np.float64) ** (-popularity_exponent)
    members = [np.flatnonzero((primary == g) | (second == g)) for g in range(n_genres)]
    member_p = [popularity[m] / popularity[m].sum() for m in members]
    ring_pos = [{int(it): r for r, it in enumerate(m)} for m in members]
    offsets = np.array([o for o in range(-local_width, local_width + 1) if o != 0])
    genre_names = [f"genre{g:02d}" for g in range(n_genres)]

    # users: favourite genre; event counts
    fav = rng.integers(0, n_genres, n_users)
    n_events = np.maximum(3, rng.geometric(1.0 / mean_events, n_users))
    users, items, ratings, stamps = [], [], [], []
    t0 = 1_500_000_000
    for u in range(n_users):
        g = fav[u] if rng.random() < 0.7 else rng.integers(n_genres)
        seen: set[int] = set()
        items_u: list[int] = []
        t = t0 + int(rng.integers(0, 86_400 * 365))
        k = int(n_events[u])
        steps = rng.random(k)
        pick = rng.random(k)
        for j in range(k):
            if j:
                if steps[j] < p_stay:
                    pass
                elif steps[j] < p_stay + p_related:
                    g = (g + (1 if pick[j] < 0.5 else -1)) % n_genres
                else:
                    g = fav[u] if pick[j] < 0.5 else int(rng.integers(n_genres))
            cand = members[g]
            prev = int(items_u[-1]) if items_u else -1
            if prev in ring_pos[g] and rng.random() < p_local:
                it = int(cand[(ring_pos[g][prev] + int(rng.choice(offsets))) % cand.shape[0]])
            else:
                it = int(rng.choice(cand, p=member_p[g]))
            if it in seen:  # one interaction per (user, item), as in MovieLens
                it = int(rng.choice(cand, p=member_p[g]))
                if it in seen:
                    continue
            seen.add(it)
            items_u.append(it)
            gap = (
                86_400 * 3 + rng.integers(0, 86_400 * 30)
                if rng.random() < session_break_prob
                else rng.exponential(600.0)
            )
            t += int(gap) + 1
            dist = min((primary[it] - fav[u]) % n_genres, (fav[u] - primary[it]) % n_genres)
            base = 4.5 - 0.6 * dist
            r = float(np.clip(np.round((base + rng.normal(0, 0.7)) * 2) / 2, 0.5, 5.0))
            users.append(u + 1)
            items.append(item_ids[it])
            ratings.append(r)
            stamps.append(t)

    interactions = Interactions.from_arrays(users, items, ratings, stamps, name="synthetic")

    years = np.clip(1950 + primary * (60 // n_genres) + rng.integers(0, 25, n_items), 1950, 2020)
    tag_pool = 4
    tags = [
        tuple(
            f"tag_{genre_names[primary[i]]}_{t}"
            for t in sorted(set(rng.integers(0, tag_pool, 2).tolist()))
        )
        for i in range(n_items)
    ]
    genres = [
        (genre_names[primary[i]],)
        if second[i] < 0
        else (genre_names[primary[i]], genre_names[second[i]])
        for i in range(n_items)
    ]
    side = ItemSideInfo(
        pd.DataFrame(
            {
                "item_id": item_ids,
                "genres": genres,
                "year": [(str(y),) for y in years],
                "tags": tags,
            }
        ),
        titles={int(i): f"Item {i} ({genre_names[primary[k]]})" for k, i in enumerate(item_ids)},
    )
    return SyntheticData(
        interactions=interactions,
        side_info=side,
        item_genre=pd.Series(primary, index=pd.Index(item_ids, name="item_id"), name="genre"),
        user_genre=pd.Series(fav, index=pd.Index(np.arange(1, n_users + 1), name="user_id")),
        n_genres=n_genres,
    )
