"""Readers of the three MovieLens layouts (ml-100k, ``.dat``, ``.csv``) and ``load_movielens``.

Each checks its columns and values and raises ``ValueError`` naming the file (and the line where
possible); genres, release year and tags become the movies' side information.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets.movielens.layouts import MovieLens, detect_layout, layout_of, listing
from embeddings.datasets.tables import Interactions, ItemSideInfo

logger = logging.getLogger(__name__)


#: Genre names of ml-100k in flag-column order (``u.genre``), used when ``u.genre`` is absent.
ML100K_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

NO_GENRES = "(no genres listed)"
_YEAR_IN_TITLE = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")


def _need_file(directory: Path, name: str) -> Path:
    p = directory / name
    if not p.is_file():
        raise ValueError(
            f"MovieLens: {name} missing in {directory}; files seen: {listing(directory)}"
        )
    return p


def _numeric_columns(
    df: pd.DataFrame, cols: Iterable[str], path: Path, first_line: int, integer: Iterable[str]
) -> None:
    """Check ``cols`` are numeric and complete; ``ValueError`` naming file, line, column, value.

    ``first_line`` is the file line number of the frame's first row (after any header).
    """
    integer = set(integer)
    for col in cols:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not s.isna().any():
            if col in integer and pd.api.types.is_float_dtype(s):
                arr = s.to_numpy()
                frac = arr != np.round(arr)
                if frac.any():
                    i = int(np.flatnonzero(frac)[0])
                    raise ValueError(
                        f"{path.name}: line {first_line + i}: non-integer {col} {arr[i]!r}"
                    )
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad = np.flatnonzero(num.isna().to_numpy())
        i = int(bad[0])
        val = s.iloc[i]
        what = "missing value (truncated or malformed line?)" if pd.isna(val) else f"{val!r}"
        raise ValueError(
            f"{path.name}: line {first_line + i}: column {col!r} is not a number: {what} "
            f"({bad.size} bad rows in all)"
        )


def _read_table(path: Path, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv`` with parse errors turned into ``ValueError`` naming the file."""
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path.name}: empty file ({path})") from exc
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path.name}: malformed file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: cannot decode text ({exc})") from exc


def _check_columns(df: pd.DataFrame, needed: Iterable[str], path: Path) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name}: missing columns {missing} (has {list(df.columns)})")


def _interactions(df: pd.DataFrame, path: Path, first_line: int) -> Interactions:
    """Interactions from a frame with columns user_id, item_id, rating, timestamp."""
    if len(df) == 0:
        raise ValueError(f"{path.name}: no ratings")
    _numeric_columns(
        df, ["user_id", "item_id", "rating", "timestamp"], path, first_line,
        integer=("user_id", "item_id", "timestamp"),
    )  # fmt: skip
    return Interactions(df[["user_id", "item_id", "rating", "timestamp"]], name=path.parent.name)


def _decode_lines(path: Path, encodings: tuple[str, ...]) -> list[str]:
    data = path.read_bytes()
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        # split on \n only: str.splitlines() would also break at U+0085, which is what a
        # Latin-1 byte 0x85 (an ellipsis in cp1252 titles) decodes to
        return [line.removesuffix("\r") for line in text.split("\n")]
    raise ValueError(f"{path.name}: cannot decode as {' or '.join(encodings)}")


def _year_of_title(title: str) -> tuple[str, ...]:
    m = _YEAR_IN_TITLE.search(title)
    return (m.group(1),) if m else ()


def _split_genres(field: str) -> tuple[str, ...]:
    field = field.strip()
    if not field or field == NO_GENRES:
        return ()
    return tuple(g for g in field.split("|") if g and g != NO_GENRES)


def _tags_by_item(items: pd.Series, tags: pd.Series) -> dict[int, tuple[str, ...]]:
    """Distinct lower-cased, stripped tags per item id, sorted."""
    t = tags.astype("string").str.strip().str.lower()
    df = pd.DataFrame({"item": items.to_numpy(), "tag": t.to_numpy()}).dropna()
    df = df[df["tag"] != ""].drop_duplicates()
    out: dict[int, tuple[str, ...]] = {}
    for item, grp in df.groupby("item", sort=False)["tag"]:
        out[int(item)] = tuple(sorted(grp.tolist()))
    return out


def _side_info(
    ids: list[int],
    titles: list[str],
    genres: list[tuple[str, ...]],
    years: list[tuple[str, ...]],
    tags: dict[int, tuple[str, ...]],
    path: Path,
) -> ItemSideInfo:
    dup = pd.Index(ids)
    if dup.has_duplicates:
        raise ValueError(
            f"{path.name}: duplicate movie ids {sorted(set(dup[dup.duplicated()]))[:5]}"
        )
    unknown = set(tags) - set(ids)
    if unknown:
        logger.info(
            "%d tagged movies are not in %s; their tags are ignored", len(unknown), path.name
        )
    frame = pd.DataFrame(
        {
            "item_id": np.asarray(ids, dtype=np.int64),
            "genres": genres,
            "year": years,
            "tags": [tags.get(i, ()) for i in ids],
        }
    )
    return ItemSideInfo(frame, titles=dict(zip(ids, titles, strict=True)))


def _load_csv(directory: Path) -> tuple[Interactions, ItemSideInfo]:
    rpath = _need_file(directory, "ratings.csv")
    r = _read_table(rpath, encoding="utf-8")
    _check_columns(r, ["userId", "movieId", "rating", "timestamp"], rpath)
    r = r.rename(
        columns={"userId": "user_id", "movieId": "item_id"}
    )  # rating, timestamp keep their names
    inter = _interactions(r, rpath, first_line=2)

    mpath = _need_file(directory, "movies.csv")
    m = _read_table(
        mpath, encoding="utf-8", dtype={"title": str, "genres": str}, keep_default_na=False
    )
    _check_columns(m, ["movieId", "title", "genres"], mpath)
    if len(m) == 0:
        raise ValueError(f"{mpath.name}: no movies")
    _numeric_columns(m, ["movieId"], mpath, 2, integer=("movieId",))
    ids = m["movieId"].astype(np.int64).tolist()
    titles = m["title"].astype(str).tolist()
    genres = [_split_genres(g) for g in m["genres"].astype(str)]

    tags: dict[int, tuple[str, ...]] = {}
    tpath = directory / "tags.csv"
    if tpath.is_file():
        t = _read_table(tpath, encoding="utf-8", dtype={"tag": str})
        _check_columns(t, ["movieId", "tag"], tpath)
        if len(t):
            _numeric_columns(t, ["movieId"], tpath, 2, integer=("movieId",))
            tags = _tags_by_item(t["movieId"].astype(np.int64), t["tag"])
    side = _side_info(ids, titles, genres, [_year_of_title(x) for x in titles], tags, mpath)
    return inter, side


def _read_dat_ratings(path: Path) -> Interactions:
    """``user::item::rating::timestamp`` read fast with the C parser splitting on ':'."""
    names = ["user_id", "_a", "item_id", "_b", "rating", "_c", "timestamp"]
    df = _read_table(path, sep=":", header=None, names=names, engine="c", encoding="latin-1")
    if len(df) == 0:
        raise ValueError(f"{path.name}: no ratings")
    gaps = df[["_a", "_b", "_c"]].notna().any(axis=1).to_numpy()
    if gaps.any():
        i = int(np.flatnonzero(gaps)[0])
        raise ValueError(f"{path.name}: line {i + 1}: expected 'user::movie::rating::timestamp'")
    return _interactions(df, path, first_line=1)


def _split_dat_line(line: str, n: int, path: Path, lineno: int, fmt: str) -> list[str]:
    parts = line.split("::")
    if len(parts) != n:
        raise ValueError(
            f"{path.name}: line {lineno}: expected {n} '::'-separated fields ({fmt}), "
            f"got {len(parts)}: {line[:80]!r}"
        )
    return parts


def _parse_int(value: str, path: Path, lineno: int, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(
            f"{path.name}: line {lineno}: {what} {value!r} is not an integer"
        ) from None


def _load_dat(directory: Path, variant: str) -> tuple[Interactions, ItemSideInfo]:
    inter = _read_dat_ratings(_need_file(directory, "ratings.dat"))
    encodings = ("latin-1",) if variant == "ml-1m" else ("utf-8", "latin-1")
    mpath = _need_file(directory, "movies.dat")
    ids: list[int] = []
    titles: list[str] = []
    genres: list[tuple[str, ...]] = []
    for lineno, line in enumerate(_decode_lines(mpath, encodings), 1):
        if not line.strip():
            continue
        mid, title, g = _split_dat_line(line, 3, mpath, lineno, "movie::title::genres")
        ids.append(_parse_int(mid, mpath, lineno, "movie id"))
        titles.append(title)
        genres.append(_split_genres(g))
    if not ids:
        raise ValueError(f"{mpath.name}: no movies")
    tags: dict[int, tuple[str, ...]] = {}
    tpath = directory / "tags.dat"
    if tpath.is_file():
        t_items: list[int] = []
        t_tags: list[str] = []
        for lineno, line in enumerate(_decode_lines(tpath, ("utf-8", "latin-1")), 1):
            if not line.strip():
                continue
            parts = line.split("::")
            if len(parts) < 4:
                raise ValueError(
                    f"{tpath.name}: line {lineno}: expected 'user::movie::tag::timestamp', "
                    f"got {line[:80]!r}"
                )
            t_items.append(_parse_int(parts[1], tpath, lineno, "movie id"))
            t_tags.append("::".join(parts[2:-1]))  # a tag may itself contain '::'
        if t_items:
            tags = _tags_by_item(pd.Series(t_items), pd.Series(t_tags))
    side = _side_info(ids, titles, genres, [_year_of_title(x) for x in titles], tags, mpath)
    return inter, side


def _load_100k(directory: Path) -> tuple[Interactions, ItemSideInfo]:
    rpath = _need_file(directory, "u.data")
    r = _read_table(
        rpath, sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"],
        encoding="latin-1", on_bad_lines="error",
    )  # fmt: skip
    inter = _interactions(r, rpath, first_line=1)

    genre_names = list(ML100K_GENRES)
    gpath = directory / "u.genre"
    if gpath.is_file():
        pairs: list[tuple[int, str]] = []
        for lineno, line in enumerate(_decode_lines(gpath, ("latin-1",)), 1):
            if not line.strip():
                continue
            name, sep, idx = line.rpartition("|")
            if not sep:
                raise ValueError(f"{gpath.name}: line {lineno}: expected 'name|index': {line!r}")
            pairs.append((_parse_int(idx, gpath, lineno, "genre index"), name))
        idxs = sorted(i for i, _ in pairs)
        if idxs != list(range(len(pairs))):
            raise ValueError(f"{gpath.name}: genre indices {idxs} are not 0..{len(pairs) - 1}")
        genre_names = [name for _, name in sorted(pairs)]

    ipath = _need_file(directory, "u.item")
    n_fields = 5 + len(genre_names)
    ids: list[int] = []
    titles: list[str] = []
    genres: list[tuple[str, ...]] = []
    years: list[tuple[str, ...]] = []
    for lineno, line in enumerate(_decode_lines(ipath, ("latin-1",)), 1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) != n_fields:
            raise ValueError(
                f"{ipath.name}: line {lineno}: expected {n_fields} '|'-separated fields "
                f"(id|title|release date|video release date|IMDb URL|{len(genre_names)} genre "
                f"flags), got {len(parts)}"
            )
        ids.append(_parse_int(parts[0], ipath, lineno, "movie id"))
        titles.append(parts[1])
        flags = parts[5:]
        if any(f.strip() not in ("0", "1") for f in flags):
            raise ValueError(f"{ipath.name}: line {lineno}: genre flags must be 0/1: {flags}")
        genres.append(tuple(g for g, f in zip(genre_names, flags, strict=True) if f.strip() == "1"))
        date = parts[2].strip()
        m = re.search(r"(\d{4})$", date)
        years.append((m.group(1),) if m else _year_of_title(parts[1]))
    if not ids:
        raise ValueError(f"{ipath.name}: no movies")
    side = _side_info(ids, titles, genres, years, {}, ipath)
    return inter, side


def load_movielens(directory: str | os.PathLike) -> MovieLens:
    """Load any official MovieLens layout from ``directory`` (or the directory one level above).

    Returns ratings as ``Interactions`` (timestamps in Unix seconds) and movie side info
    (genres, year, tags; titles). ``ValueError`` naming the file (and line where possible) for an
    unrecognised directory, missing columns or a malformed/truncated file.
    """
    found, variant = detect_layout(directory)
    layout = layout_of(found)
    if layout == "100k":
        inter, side = _load_100k(found)
    elif layout == "dat":
        inter, side = _load_dat(found, variant)
    else:
        inter, side = _load_csv(found)
    unknown = np.setdiff1d(inter.item_ids(), side.item_ids())
    if unknown.size:
        logger.warning("%d rated movie ids have no entry in the movie file", unknown.size)
    logger.info(
        "MovieLens %s from %s: %d ratings, %d users, %d movies",
        variant, found, len(inter), inter.n_users, len(side),
    )  # fmt: skip
    return MovieLens(inter, side, variant, found)
