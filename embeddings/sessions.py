"""Per-user time-ordered sequences, and train/test splits that never leak held-out items.

``Sessions`` stores all sequences flat (CSR-like): ``items[indptr[s]:indptr[s+1]]`` is session s,
belonging to ``user_ids[s]``. Iterating yields int64 arrays, which is what the trainers consume.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.datasets.tables import Interactions
from embeddings.validate import check_random_state

__all__ = [
    "Sessions",
    "build_sessions",
    "leave_last_out",
    "train_valid_test_split",
    "temporal_split",
    "order_with_ties",
    "concat_interactions",
]

#: how events with equal timestamps of one user are ordered
TIE_RULES = ("random", "order")


@dataclass(frozen=True, eq=False)
class Sessions:
    """Flat storage of time-ordered item sequences.

    Attributes:
        user_ids: int64 (n_sessions,)
        indptr: int64 (n_sessions + 1,)
        items: int64 (n_events,) item ids in time order within each session
        timestamps: int64 (n_events,)
        ratings: float32 (n_events,)
    """

    user_ids: NDArray[np.int64]
    indptr: NDArray[np.int64]
    items: NDArray[np.int64]
    timestamps: NDArray[np.int64]
    ratings: NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    def __iter__(self) -> Iterator[NDArray[np.int64]]:
        for s in range(len(self)):
            yield self.items[self.indptr[s] : self.indptr[s + 1]]

    def __getitem__(self, s: int) -> NDArray[np.int64]:
        return self.items[self.indptr[s] : self.indptr[s + 1]]

    def lengths(self) -> NDArray[np.int64]:
        """Length of each session (n_sessions,)."""
        return np.diff(self.indptr)

    def item_ids(self) -> NDArray[np.int64]:
        """Sorted distinct items appearing in any session."""
        return np.unique(self.items)

    def describe(self) -> dict[str, float]:
        lens = self.lengths()
        return {
            "sessions": len(self),
            "events": int(self.items.shape[0]),
            "users_with_sessions": int(np.unique(self.user_ids).shape[0]),
            "items_in_sessions": int(self.item_ids().shape[0]),
            "mean_session_length": float(lens.mean()) if len(lens) else 0.0,
            "max_session_length": int(lens.max()) if len(lens) else 0,
        }


def build_sessions(
    interactions: Interactions,
    min_rating: float | None = None,
    session_gap: int | None = None,
    min_length: int = 2,
) -> Sessions:
    """Group interactions into per-user, time-ordered sessions.

    Args:
        interactions: the behaviour log.
        min_rating: keep only events with rating >= this (positives), if given.
        session_gap: start a new session when two consecutive events of a user are more than
            this many timestamp units apart (e.g. 3600 for one hour); None = one session per user.
        min_length: drop sessions shorter than this (default 2: a single item has no context).

    Ties in timestamp keep the original row order (stable sort). Raises ``ValueError`` if no
    session is left.
    """
    if min_length < 1:
        raise ValueError(f"min_length must be >= 1, got {min_length}")
    if session_gap is not None and session_gap < 0:
        raise ValueError(f"session_gap must be >= 0, got {session_gap}")
    df = interactions.frame
    if min_rating is not None:
        df = df[df["rating"] >= min_rating]
    df = df.sort_values(["user_id", "timestamp"], kind="stable")
    users = df["user_id"].to_numpy()
    ts = df["timestamp"].to_numpy()
    n = users.shape[0]
    new = np.ones(n, dtype=bool)
    if n > 1:
        new[1:] = users[1:] != users[:-1]
        if session_gap is not None:
            new[1:] |= (ts[1:] - ts[:-1]) > session_gap
    starts = np.flatnonzero(new)
    indptr = np.append(starts, n).astype(np.int64)
    lens = np.diff(indptr)
    keep = lens >= min_length
    if not keep.any():
        raise ValueError(
            f"{interactions.name}: no session of length >= {min_length} left after filtering "
            f"(min_rating={min_rating}, session_gap={session_gap})"
        )
    event_keep = np.repeat(keep, lens)
    kept_lens = lens[keep]
    return Sessions(
        user_ids=users[starts[keep]].astype(np.int64),
        indptr=np.concatenate([[0], np.cumsum(kept_lens)]).astype(np.int64),
        items=df["item_id"].to_numpy()[event_keep].astype(np.int64),
        timestamps=ts[event_keep].astype(np.int64),
        ratings=df["rating"].to_numpy()[event_keep].astype(np.float32),
    )


def order_with_ties(
    frame: pd.DataFrame, ties: str = "random", random_state: Any = 0
) -> pd.DataFrame:
    """Rows sorted by (user_id, timestamp), events with equal timestamps ordered by ``ties``.

    ``ties="random"``: a seeded random order among a user's events with the same timestamp
    (the same ``random_state`` gives the same order; the file order plays no part);
    ``ties="order"``: the file order (stable sort). Which of several events rated in the same
    second is "the last one" is otherwise an accident of the file: in ml-latest-small 63 users
    tie on their last timestamp and file order would always hold out the largest movieId.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    if ties == "order":
        return frame.sort_values(["user_id", "timestamp"], kind="stable")
    rng = check_random_state(random_state)
    key = rng.permutation(len(frame))
    tmp = frame.assign(_tie_key=key)
    return tmp.sort_values(["user_id", "timestamp", "_tie_key"], kind="stable").drop(
        columns="_tie_key"
    )


def leave_last_out(
    interactions: Interactions,
    n_last: int = 1,
    min_rating: float | None = None,
    ties: str = "random",
    random_state: Any = 0,
) -> tuple[Interactions, Interactions]:
    """Hold out each user's last ``n_last`` positive events (by timestamp) as the test set.

    Positive = rating >= ``min_rating`` (all events if None). Users with at most ``n_last``
    positives stay entirely in train. The held-out rows are removed from train, so sessions and
    graphs built from train never see them. Events with equal timestamps are ordered by
    ``order_with_ties(ties, random_state)`` (default: random but seeded); both returned frames
    keep that order, so a later stable sort by timestamp (e.g. the I2I query "last training
    item") follows the same tie rule. Returns (train, test).
    """
    if n_last < 1:
        raise ValueError(f"n_last must be >= 1, got {n_last}")
    df = order_with_ties(interactions.frame, ties, random_state)
    pos = df if min_rating is None else df[df["rating"] >= min_rating]
    rank_from_end = pos.groupby("user_id", sort=False).cumcount(ascending=False)
    n_pos = pos.groupby("user_id", sort=False)["item_id"].transform("size")
    test_idx = pos.index[(rank_from_end < n_last).to_numpy() & (n_pos > n_last).to_numpy()]
    if len(test_idx) == 0:
        raise ValueError(f"{interactions.name}: no user has more than {n_last} positive events")
    test = df.loc[test_idx]
    train = df.drop(index=test_idx)
    return (
        interactions.like(train, f"{interactions.name}/train"),
        interactions.like(test, f"{interactions.name}/test"),
    )


def train_valid_test_split(
    interactions: Interactions,
    min_rating: float | None = None,
    ties: str = "random",
    random_state: Any = 0,
) -> tuple[Interactions, Interactions, Interactions]:
    """Leave-last-out test, second-to-last validation: returns (train, valid, test).

    test = each user's last positive event, valid = the last positive event of what remains
    (users need at least three positives to appear in valid, two to appear in test). Ties are
    ordered once (``order_with_ties``) for both cuts, so valid never holds an event that the tie
    rule puts after the test event. Tune on (train, valid); refit on ``train + valid``
    (``concat_interactions``) and read test once.
    """
    rest, test = leave_last_out(interactions, 1, min_rating, ties, random_state)
    # rest keeps the tie order of the first cut: split it again by file order
    train, valid = leave_last_out(rest, 1, min_rating, ties="order")
    name = interactions.name
    return (
        Interactions(train.frame, f"{name}/train"),
        Interactions(valid.frame, f"{name}/valid"),
        test,
    )


def concat_interactions(*parts: Interactions, name: str | None = None) -> Interactions:
    """Union of disjoint splits (e.g. train + valid for the final refit), in (user, time) order."""
    if not parts:
        raise ValueError("concat_interactions: nothing to concatenate")
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable")
    return Interactions(frame, name or "+".join(p.name for p in parts))


def temporal_split(
    interactions: Interactions,
    test_fraction: float = 0.2,
    drop_unknown: bool = True,
) -> tuple[Interactions, Interactions]:
    """Global temporal split: events at or after the ``1 - test_fraction`` time quantile are test.

    With ``drop_unknown`` the test set keeps only users and items present in train (nothing can
    be recommended to or about them otherwise). Returns (train, test).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    df = interactions.frame
    cutoff = np.quantile(df["timestamp"].to_numpy(), 1.0 - test_fraction, method="higher")
    is_test = df["timestamp"].to_numpy() >= cutoff
    train, test = df[~is_test], df[is_test]
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"{interactions.name}: temporal split at {cutoff} leaves an empty side")
    if drop_unknown:
        test = test[
            test["user_id"].isin(pd.unique(train["user_id"]))
            & test["item_id"].isin(pd.unique(train["item_id"]))
        ]
        if len(test) == 0:
            raise ValueError(
                f"{interactions.name}: no test event has a user and item seen in train"
            )
    return (
        interactions.like(train, f"{interactions.name}/train"),
        interactions.like(test, f"{interactions.name}/test"),
    )
