"""Data stage: the ``[data]`` table -> interactions and side information, the ``[split]`` table
-> train / test (or train / valid / test when tuning), and the content fingerprint of the data."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from embeddings.datasets import Interactions, ItemSideInfo
from embeddings.paths import data_root, data_root_candidates
from embeddings.sessions import ValidationEvents

logger = logging.getLogger(__name__)


def default_data_root() -> Path | None:
    """The shared data folder (:func:`embeddings.paths.data_root`), or None when there is none.

    A data location (read only), never an output folder."""
    return data_root()


def shared_copy(variant: str, data_root: Path | None = None) -> Path | None:
    """The shared data folder's copy of a MovieLens variant (``ml-latest-small`` ->
    ``<root>/movielens-latest-small``), or None when there is none."""
    root = data_root or default_data_root()
    if root is None:
        return None
    for name in (f"movielens-{variant.removeprefix('ml-')}", variant):
        cand = Path(root) / name
        if cand.is_dir():
            return cand
    return None


def resolve_data_path(value: str, data_root: Path | None = None) -> Path:
    """``shared:NAME`` -> <data root>/NAME (``data_root``, else ``$EMBRECALL_DATA`` or
    ../shared/data); any other value is a path, relative ones taken from the working directory."""
    if value.startswith("shared:"):
        root = data_root or default_data_root()
        if root is None:
            looked = ", ".join(str(c) for c in data_root_candidates())
            raise FileNotFoundError(
                f"{value}: no shared data folder (looked at {looked}; set EMBRECALL_DATA or "
                "place ../shared/data)"
            )
        return Path(root) / value.split(":", 1)[1]
    return Path(value).expanduser().absolute()


# ---------------------------------------------------------------------- data
@dataclass
class LoadedData:
    interactions: Interactions
    side_info: ItemSideInfo | None
    item_labels: pd.Series | None  # item_id -> label used to colour maps (primary genre)
    description: dict[str, Any]


def load_data(spec: Mapping[str, Any], seed: int, data_root: Path | None = None) -> LoadedData:
    """Load the data set named in the ``[data]`` table."""
    source = spec.get("source", "synthetic")
    if source == "synthetic":
        from embeddings.datasets import make_synthetic

        params = dict(spec.get("params", {}))
        params.setdefault("random_state", seed)
        d = make_synthetic(**params)
        names = pd.Series(
            [f"genre{g:02d}" for g in d.item_genre.to_numpy()], index=d.item_genre.index
        )
        return LoadedData(d.interactions, d.side_info, names, {"source": "synthetic", **params})
    if source == "movielens":
        from embeddings.datasets.movielens import fetch_movielens, load_movielens

        if spec.get("path"):
            try:
                path = resolve_data_path(str(spec["path"]), data_root)
            except FileNotFoundError:
                if not spec.get("variant"):
                    raise
                path = None
            if (path is None or not path.exists()) and spec.get("variant"):
                logger.info("%s not found: fetching %s", spec["path"], spec["variant"])
                path = fetch_movielens(str(spec["variant"]))
        elif spec.get("variant"):
            path = fetch_movielens(str(spec["variant"]))
        else:
            raise ValueError("[data] source='movielens' needs 'path' or 'variant'")
        ml = load_movielens(path)
        side = ml.side_info
        labels = None
        if side is not None and "genres" in side.fields:
            labels = pd.Series(
                [g[0] if g else "(none)" for g in side.frame["genres"]], index=side.frame.index
            )
        return LoadedData(ml.interactions, side, labels, {"source": "movielens", "path": str(path)})
    if source in ("csv", "file"):
        return _load_file_source(spec, data_root)
    raise ValueError(f"unknown data source {source!r} (synthetic, movielens or csv)")


def _load_file_source(spec: Mapping[str, Any], data_root: Path | None) -> LoadedData:
    """``[data] source = "csv"``: an interactions file (CSV/TSV/Parquet, ``path`` may be
    ``shared:NAME``) read by ``load_interactions`` with optional ``columns`` (field -> column),
    ``sep`` and ``rating_default``; string ids are coded (``Interactions.item_vocab``)."""
    from embeddings.datasets import load_interactions

    if not spec.get("path"):
        raise ValueError("[data] source='csv' needs 'path' (an interactions file)")
    path = resolve_data_path(str(spec["path"]), data_root)
    kwargs = {k: spec[k] for k in ("columns", "sep", "rating_default") if k in spec}
    inter = load_interactions(path, **kwargs)
    return LoadedData(inter, None, None, {"source": "csv", "path": str(path)})


def tie_seed(spec: Mapping[str, Any], seed: int) -> int:
    """The seed of the leave-last-out tie rule (``sessions.order_with_ties``): ``[split]
    tie_seed`` (default 0, the same tie order for every run seed) or ``"run"`` (the run's seed,
    so that which of a user's same-second events is "the last one" varies with the seed)."""
    value = spec.get("tie_seed", 0)
    return int(seed) if value == "run" else int(value)


def split_data(
    inter: Interactions, spec: Mapping[str, Any], seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Apply the ``[split]`` table: leave-last-out (default) or global temporal split."""
    from embeddings import leave_last_out, temporal_split

    kind = spec.get("kind", "leave_last_out")
    if kind == "leave_last_out":
        return leave_last_out(
            inter,
            n_last=int(spec.get("n_last", 1)),
            min_rating=spec.get("min_rating"),
            random_state=tie_seed(spec, seed),
        )
    if kind == "temporal":
        return temporal_split(inter, test_fraction=float(spec.get("test_fraction", 0.2)))
    raise ValueError(f"unknown split kind {kind!r} (leave_last_out or temporal)")


def split_validation(
    inter: Interactions, spec: Mapping[str, Any], seed: int = 0
) -> tuple[Interactions, Interactions | ValidationEvents, Interactions]:
    """The ``[split]`` table with a validation cut: (train, valid, test).

    test is what :func:`split_data` holds out; valid is the same rule applied once more to what
    remains (leave-last-out: each user's previous ``n_last`` positives, cut with
    ``train_valid_test_split``'s single tie order when ``n_last`` is 1; temporal: the last
    ``test_fraction`` of the remaining time). With ``[split] n_valid = K`` (leave-last-out,
    ``n_last`` 1): valid is the ``ValidationEvents`` of ``sessions.validation_split``, each
    user's last K positives before the test event (fewer for users with a short history: one
    positive always stays in train), each predicted from the events before it; without it, the
    single event before test as an ``Interactions`` (scored as before). Choose on (train,
    valid), refit on train + valid (``concat_interactions``), read test once.
    """
    from embeddings import leave_last_out, temporal_split
    from embeddings.sessions import train_valid_test_split, validation_split

    kind = spec.get("kind", "leave_last_out")
    if kind == "leave_last_out":
        n_last, min_rating = int(spec.get("n_last", 1)), spec.get("min_rating")
        rs = tie_seed(spec, seed)
        if "n_valid" in spec:
            if n_last != 1:
                raise ValueError(f"[split] n_valid needs n_last = 1, got n_last = {n_last}")
            return validation_split(
                inter, min_rating=min_rating, random_state=rs, n_valid=spec["n_valid"]
            )
        if n_last == 1:
            return train_valid_test_split(inter, min_rating=min_rating, random_state=rs)
        rest, test = leave_last_out(inter, n_last=n_last, min_rating=min_rating, random_state=rs)
        train, valid = leave_last_out(rest, n_last=n_last, min_rating=min_rating, ties="order")
        return train, valid, test
    if kind == "temporal":
        frac = float(spec.get("test_fraction", 0.2))
        rest, test = temporal_split(inter, test_fraction=frac)
        train, valid = temporal_split(rest, test_fraction=frac)
        return train, valid, test
    raise ValueError(f"unknown split kind {kind!r} (leave_last_out or temporal)")


def data_fingerprint(*tables: Any) -> str:
    """sha256 over the content of ``Interactions`` / ``ItemSideInfo`` tables (None allowed):
    the cache key of trained vectors, so changed data at the same path is never reused."""
    h = hashlib.sha256()
    for t in tables:
        if t is None:
            h.update(b"<none>")
            continue
        frame = t.frame
        h.update(json.dumps([str(frame.index.name), [str(c) for c in frame.columns]]).encode())
        h.update(str(len(frame)).encode())
        if all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns):
            hashed = pd.util.hash_pandas_object(frame, index=True)
        else:
            hashed = pd.util.hash_pandas_object(frame.astype(str), index=True)
        h.update(hashed.to_numpy().tobytes())
    return h.hexdigest()[:24]
