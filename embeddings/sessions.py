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
    "validation_split",
    "ValidationEvents",
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


def _check_n_valid(n_valid: Any) -> int:
    """``n_valid`` as an int >= 1, or a ``ValueError`` naming the bad value."""
    if isinstance(n_valid, bool) or not isinstance(n_valid, int | np.integer) or n_valid < 1:
        raise ValueError(f"n_valid must be an integer >= 1, got {n_valid!r}")
    return int(n_valid)


def _validation_cut(
    rest: Interactions, min_rating: float | None, n_valid: int
) -> tuple[pd.DataFrame, pd.Index, pd.Series]:
    """Rows of ``rest`` (already in (user, time, tie) order) held out for validation.

    Each user's last ``n_valid`` positives, but never the user's last training positive: a user
    with ``n`` positives in ``rest`` gives ``min(n_valid, n - 1)`` targets. Returns the frame,
    the index of the validation rows, and each validation row's rank from the end (0 = the
    event just before the test event).
    """
    df = rest.frame
    pos = df if min_rating is None else df[df["rating"] >= min_rating]
    rank = pos.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    n_pos = pos.groupby("user_id", sort=False)["item_id"].transform("size").to_numpy()
    if n_pos.size == 0 or int(n_pos.max()) - 1 < n_valid:
        longest = int(n_pos.max()) if n_pos.size else 0
        raise ValueError(
            f"{rest.name}: n_valid={n_valid} is more than any user's history allows: the "
            f"longest has {longest} positive events before its test event, and one must stay "
            "in train"
        )
    take = rank < np.minimum(n_valid, n_pos - 1)
    return df, pos.index[take], pd.Series(rank[take], index=pos.index[take])


def train_valid_test_split(
    interactions: Interactions,
    min_rating: float | None = None,
    ties: str = "random",
    random_state: Any = 0,
    n_valid: int = 1,
) -> tuple[Interactions, Interactions, Interactions]:
    """Leave-last-out test, the ``n_valid`` events before it validation: (train, valid, test).

    test = each user's last positive event; valid = each user's last ``n_valid`` positives of
    what remains (a user with ``n`` positives there gives ``min(n_valid, n - 1)``: one positive
    always stays in train, so users need at least three positives to appear in valid, two to
    appear in test; ``ValueError`` when no user has ``n_valid + 1`` positives left). Ties are
    ordered once (``order_with_ties``) for both cuts, so valid never holds an event that the tie
    rule puts after the test event, and no training positive of a user comes after one of the
    user's validation events (lower-rated events stay in train wherever they are, as in the
    test split: they are never targets). ``n_valid=1`` is the second-to-last event: the split
    this function always made. Tune on (train, valid) (several validation events per user:
    ``validation_split`` gives each one the history it is predicted from); refit on
    ``train + valid`` (``concat_interactions``) and read test once.
    """
    train, events, test = validation_split(interactions, min_rating, ties, random_state, n_valid)
    return train, events.targets, test


@dataclass(frozen=True, eq=False)
class ValidationEvents:
    """The validation events of ``validation_split``, each with the history it is predicted from.

    Attributes:
        targets: every validation event (up to ``n_valid`` per user), in (user, time) order.
        steps: one ``(history, targets)`` pair per rank from the end: ``steps[0]`` holds each
            user's event just before the test event, ``steps[1]`` the one before it, and so on.
            ``history`` holds, for the users of that step, every event before the target (the
            user's training events and earlier validation targets, in the tie order), so that
            evaluating ``targets`` against ``history`` (``evaluate_i2i``: the query is the item
            just before the target; ``evaluate_u2i``: the user vector of the events before it)
            predicts each target from what came before it.
        n_valid: the most validation events per user.
    """

    targets: Interactions
    steps: tuple[tuple[Interactions, Interactions], ...]
    n_valid: int

    def __len__(self) -> int:
        return int(len(self.targets.frame))

    @property
    def name(self) -> str:
        return self.targets.name

    @property
    def frame(self) -> pd.DataFrame:
        """The targets' table (what a single-event validation split would be)."""
        return self.targets.frame


def validation_split(
    interactions: Interactions,
    min_rating: float | None = None,
    ties: str = "random",
    random_state: Any = 0,
    n_valid: int = 1,
) -> tuple[Interactions, ValidationEvents, Interactions]:
    """``train_valid_test_split`` with the validation events as ``ValidationEvents``.

    Returns (train, events, test): train and test as ``train_valid_test_split`` gives them,
    ``events.targets`` its valid split, and ``events.steps`` the (history, targets) pair of each
    rank from the end (see ``ValidationEvents``). ``ValueError`` for ``n_valid`` that is not an
    int >= 1 or is more than any user's history allows.
    """
    n_valid = _check_n_valid(n_valid)
    rest, test = leave_last_out(interactions, 1, min_rating, ties, random_state)
    # rest keeps the tie order of the first cut: the validation cut follows it
    df, valid_idx, rank = _validation_cut(rest, min_rating, n_valid)
    name = interactions.name
    train = rest.like(df.drop(index=valid_idx), f"{name}/train")
    targets = rest.like(df.loc[valid_idx], f"{name}/valid")
    order = df.groupby("user_id", sort=False).cumcount()
    users = df["user_id"]
    steps = []
    for r in range(int(rank.max()) + 1):
        at = rank.index[rank.to_numpy() == r]
        cut = pd.Series(order.loc[at].to_numpy(), index=users.loc[at].to_numpy())
        before = (users.map(cut) > order).to_numpy()  # users without a target here: NaN > x
        steps.append(
            (
                rest.like(df[before], f"{name}/valid-history-{r}"),
                rest.like(df.loc[at], f"{name}/valid-{r}"),
            )
        )
    return train, ValidationEvents(targets, tuple(steps), n_valid), test


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
