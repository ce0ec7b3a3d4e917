"""The two data tables everything starts from: ``Interactions`` and ``ItemSideInfo``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from embeddings.validate import as_ids, describe_values

__all__ = ["Interactions", "ItemSideInfo", "IdVocabulary", "INTERACTION_COLUMNS"]

INTERACTION_COLUMNS: dict[str, Any] = {
    "user_id": np.int64,
    "item_id": np.int64,
    "rating": np.float32,
    "timestamp": np.int64,
}


def _integer_column(df: pd.DataFrame, col: str, source: str) -> NDArray[np.int64]:
    s = df[col]
    if s.isna().any():
        rows = np.flatnonzero(s.isna().to_numpy())
        raise ValueError(
            f"{source}: missing values in column {col!r} at rows {describe_values(rows)}"
        )
    is_id = col != "timestamp"
    if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
        # as_ids: uint64 >= 2**63 is rejected, never wrapped; -1 is the padding id
        return as_ids(
            s.to_numpy(), name=f"{source}: column {col!r}", unique=False, allow_padding=not is_id
        )
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
    if not bad.any():
        arr = num.to_numpy(dtype=float)
        frac = arr != np.round(arr)
        if not frac.any():  # as_ids: floats like 1e19 are rejected, never wrapped
            return as_ids(
                arr, name=f"{source}: column {col!r}", unique=False, allow_padding=not is_id
            )
        bad = pd.Series(frac, index=s.index)
    raise ValueError(
        f"{source}: non-numeric or non-integer values in column {col!r}: "
        f"{describe_values(s[bad.to_numpy()].astype(str).to_numpy())}"
    )


@dataclass(frozen=True, eq=False)
class IdVocabulary:
    """External ids (strings such as ``"u1"``, or any hashable labels) <-> int64 codes.

    Code ``i`` stands for ``labels[i]``; codes are ``0 .. n-1``. Everything inside the library
    works on the codes (int64, like any id); ``decode`` maps them back on output, with ``None``
    for the ``-1`` padding of search results.
    """

    labels: tuple[Any, ...]

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        index: dict[Any, int] = {}
        for i, lab in enumerate(labels):
            if lab in index:
                raise ValueError(f"vocabulary: duplicate label {lab!r}")
            index[lab] = i
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_values(cls, values: Iterable[Any]) -> tuple[IdVocabulary, NDArray[np.int64]]:
        """Vocabulary of the distinct ``values`` (sorted as strings: the same file gives the same
        codes whatever its row order) and the codes (n,) int64 of ``values``."""
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray | pd.Series) else values)
        uniq = sorted(pd.unique(arr.ravel()).tolist(), key=lambda v: (str(type(v)), str(v)))
        vocab = cls(tuple(uniq))
        return vocab, vocab.encode(arr)

    def __len__(self) -> int:
        return len(self.labels)

    def encode(self, labels: Iterable[Any]) -> NDArray[np.int64]:
        """Codes (m,) int64 of ``labels``; ``KeyError`` naming the unknown ones."""
        vals = list(labels.tolist() if isinstance(labels, np.ndarray | pd.Series) else labels)
        idx = self._index  # type: ignore[attr-defined]
        out = np.fromiter((idx.get(v, -1) for v in vals), dtype=np.int64, count=len(vals))
        if (out < 0).any():
            bad = [vals[i] for i in np.flatnonzero(out < 0)[:5]]
            raise KeyError(f"unknown ids {bad} (not in the vocabulary of {len(self)} labels)")
        return out

    def decode(self, codes: Any) -> NDArray[np.object_]:
        """Labels (same shape as ``codes``, object dtype); ``-1`` (padding) -> ``None``."""
        c = np.asarray(codes, dtype=np.int64)
        if c.size and (c.max() >= len(self) or c.min() < -1):
            raise KeyError(
                f"codes outside 0..{len(self) - 1}: {describe_values(c[(c >= len(self)) | (c < -1)])}"
            )
        table = np.empty(len(self) + 1, dtype=object)
        table[: len(self)] = list(self.labels)
        table[len(self)] = None
        return table[np.where(c < 0, len(self), c)]


def _needs_vocabulary(s: pd.Series) -> bool:
    """True when an id column holds labels that are not integers (e.g. ``"u1"``)."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or s.isna().any():
        return False  # numbers (integers or not) and missing values are checked as numbers
    num = pd.to_numeric(s, errors="coerce")
    return bool(num.isna().any())


@dataclass(frozen=True, eq=False)
class Interactions:
    """Behaviour log: one row per (user, item) event.

    ``frame`` has exactly the columns user_id int64, item_id int64, rating float32 (NaN-free;
    1.0 for implicit feedback), timestamp int64 (Unix seconds, or event order).

    Ids that are not integers (``"u1"``, ``"tt0111161"``) are mapped to int64 codes and the
    mapping is kept in ``user_vocab`` / ``item_vocab`` (``IdVocabulary``; ``None`` when the ids
    were integers already). Trainers carry the item vocabulary into their ``Embeddings``
    (``Embeddings.labels_of`` maps ids back).
    """

    frame: pd.DataFrame
    name: str = "interactions"
    user_vocab: IdVocabulary | None = None
    item_vocab: IdVocabulary | None = None

    def __post_init__(self) -> None:
        df = self.frame
        if isinstance(df, pd.DataFrame):
            for col, attr in (("user_id", "user_vocab"), ("item_id", "item_vocab")):
                if col not in df.columns:
                    continue
                vocab = getattr(self, attr)
                if vocab is None and _needs_vocabulary(df[col]):
                    vocab, codes = IdVocabulary.from_values(df[col].to_numpy())
                elif vocab is not None and not pd.api.types.is_integer_dtype(df[col]):
                    codes = vocab.encode(df[col].to_numpy())
                else:
                    continue
                df = df.copy() if df is self.frame else df
                df[col] = codes
                object.__setattr__(self, attr, vocab)
        object.__setattr__(self, "frame", self.validate(df, self.name))

    def like(self, frame: pd.DataFrame, name: str | None = None) -> Interactions:
        """Another table (a split, a filter) of the same data: keeps the id vocabularies, so
        ``frame`` holds codes (or the same external ids)."""
        return Interactions(frame, name or self.name, self.user_vocab, self.item_vocab)

    @staticmethod
    def validate(df: pd.DataFrame, source: str = "interactions") -> pd.DataFrame:
        """Check and cast columns; ``ValueError`` naming missing columns or bad values."""
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
        missing = [c for c in INTERACTION_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{source}: missing columns {missing} (has {list(df.columns)})")
        if len(df) == 0:
            raise ValueError(f"{source}: no interactions (empty table)")
        out = pd.DataFrame(
            {
                "user_id": _integer_column(df, "user_id", source),
                "item_id": _integer_column(df, "item_id", source),
                "timestamp": _integer_column(df, "timestamp", source),
            }
        )
        rating = pd.to_numeric(df["rating"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(rating).all():
            rows = np.flatnonzero(~np.isfinite(rating))
            raise ValueError(
                f"{source}: non-numeric, NaN or inf ratings at rows {describe_values(rows)}"
            )
        out.insert(2, "rating", rating.astype(np.float32))
        return out.reset_index(drop=True)

    @classmethod
    def from_arrays(
        cls,
        user_id: Sequence[int] | NDArray,
        item_id: Sequence[int] | NDArray,
        rating: Sequence[float] | NDArray | None = None,
        timestamp: Sequence[int] | NDArray | None = None,
        name: str = "interactions",
    ) -> Interactions:
        """Build from parallel arrays; rating defaults to 1.0, timestamp to the row order."""
        n = len(user_id)
        lengths = {"user_id": n, "item_id": len(item_id)}
        if rating is not None:
            lengths["rating"] = len(rating)
        if timestamp is not None:
            lengths["timestamp"] = len(timestamp)
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{name}: mismatched lengths {lengths}")
        df = pd.DataFrame(
            {
                "user_id": user_id,
                "item_id": item_id,
                "rating": np.ones(n, np.float32) if rating is None else rating,
                "timestamp": np.arange(n, dtype=np.int64) if timestamp is None else timestamp,
            }
        )
        return cls(df, name)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def n_users(self) -> int:
        return int(self.frame["user_id"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.frame["item_id"].nunique())

    def item_ids(self) -> NDArray[np.int64]:
        """Sorted unique item ids (n_items,)."""
        return np.unique(self.frame["item_id"].to_numpy())

    def user_ids(self) -> NDArray[np.int64]:
        """Sorted unique user ids (n_users,)."""
        return np.unique(self.frame["user_id"].to_numpy())

    def filter(self, mask: NDArray[np.bool_] | pd.Series, name: str | None = None) -> Interactions:
        """Rows where ``mask`` is true; ``ValueError`` if nothing is left."""
        sub = self.frame[np.asarray(mask, dtype=bool)]
        return self.like(sub, name)

    def item_popularity(self) -> pd.Series:
        """Interaction count per item id, descending."""
        return self.frame["item_id"].value_counts()

    def describe(self) -> dict[str, Any]:
        """Counts and ranges for the ``data`` CLI."""
        f = self.frame
        return {
            "name": self.name,
            "interactions": int(len(f)),
            "users": self.n_users,
            "items": self.n_items,
            "rating_min": float(f["rating"].min()),
            "rating_max": float(f["rating"].max()),
            "timestamp_min": int(f["timestamp"].min()),
            "timestamp_max": int(f["timestamp"].max()),
            "density": float(len(f) / max(1, self.n_users * self.n_items)),
        }


@dataclass(frozen=True, eq=False)
class ItemSideInfo:
    """Categorical side information per item.

    ``frame`` is indexed by ``item_id`` (int64, unique). Each column is a field; a cell holds a
    tuple of strings (multi-valued fields such as genres or tags; empty tuple = no value).
    Single-valued fields (year) are stored as 1-tuples too, so every field is handled alike.
    ``titles`` optionally maps item_id -> display title.
    """

    frame: pd.DataFrame
    titles: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        df = self.frame
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"side info: expected a DataFrame, got {type(df).__name__}")
        if df.index.name != "item_id":
            if "item_id" in df.columns:
                df = df.set_index("item_id")
            else:
                raise ValueError("side info: needs an 'item_id' column or index")
        ids = pd.Index(_integer_column(df.reset_index(), "item_id", "side info"), name="item_id")
        if ids.has_duplicates:
            raise ValueError(
                f"side info: duplicate item ids {describe_values(ids[ids.duplicated()].unique())}"
            )
        out = pd.DataFrame(index=ids)
        for col in df.columns:
            out[col] = [_as_tuple(v) for v in df[col].tolist()]
        object.__setattr__(self, "frame", out)
        object.__setattr__(self, "titles", dict(self.titles))

    @property
    def fields(self) -> list[str]:
        return list(self.frame.columns)

    def item_ids(self) -> NDArray[np.int64]:
        return self.frame.index.to_numpy(dtype=np.int64)

    def vocabulary(self, field_name: str) -> list[str]:
        """Sorted distinct values of one field."""
        self._check_field(field_name)
        return sorted({v for tup in self.frame[field_name] for v in tup})

    def encode(
        self, field_name: str, item_ids: Iterable[int], vocabulary: Sequence[str] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], list[str]]:
        """CSR encoding of one field for ``item_ids``: (indptr (n+1,), value indices, vocabulary).

        Items absent from the table, and values outside ``vocabulary``, get no entries.
        """
        self._check_field(field_name)
        vocab = list(vocabulary) if vocabulary is not None else self.vocabulary(field_name)
        pos = {v: i for i, v in enumerate(vocab)}
        col = self.frame[field_name]
        indptr = [0]
        indices: list[int] = []
        for iid in item_ids:
            vals = col.get(int(iid), ())
            indices.extend(pos[v] for v in vals if v in pos)
            indptr.append(len(indices))
        return np.asarray(indptr, np.int64), np.asarray(indices, np.int32), vocab

    def _check_field(self, field_name: str) -> None:
        if field_name not in self.frame.columns:
            raise KeyError(f"side info has no field {field_name!r} (fields: {self.fields})")

    def __len__(self) -> int:
        return len(self.frame)


def _as_tuple(v: Any) -> tuple[str, ...]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ()
    if isinstance(v, str):
        return (v,) if v else ()
    if isinstance(v, Iterable):
        return tuple(str(x) for x in v if x is not None and str(x) != "")
    return (str(v),)
