"""MovieLens: read every official GroupLens layout from a directory, and fetch the public archives.

Layouts, detected from the files present (``load_movielens``):

- **ml-100k**: ``u.data`` (tab-separated ``user item rating timestamp``), ``u.item`` (``|``-separated,
  Latin-1: id, title, release date, video release date, IMDb URL, 19 genre flags), optional
  ``u.genre`` (``name|index``; the standard 19 names are used when it is absent).
- **ml-1m / ml-10m**: ``ratings.dat`` and ``movies.dat`` (``::``-separated, genres ``|``-separated;
  ml-1m is Latin-1), ml-10m also ``tags.dat`` (``user::movie::tag::timestamp``).
- **ml-latest-small / ml-latest / ml-20m / ml-25m / ml-32m**: ``ratings.csv``, ``movies.csv``
  (quoted titles with the year in brackets, ``|`` genres, ``(no genres listed)`` = none) and
  ``tags.csv``.

The directory one level above a layout (e.g. an unpacked archive holding ``ml-1m/``) is accepted.

``fetch_movielens`` downloads a variant's zip from GroupLens into a cache directory (default
``$EMBRECALL_CACHE`` or ``<repo>/data/cache``), verifies its checksum, unpacks it into a temporary
directory and renames that into place, so a failed or corrupt download leaves nothing behind and a
second call reuses the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embeddings.datasets.tables import Interactions, ItemSideInfo

__all__ = [
    "MovieLens",
    "MovieLensVariant",
    "VARIANTS",
    "ML100K_GENRES",
    "load_movielens",
    "fetch_movielens",
    "default_cache_dir",
    "detect_layout",
]

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


@dataclass(frozen=True)
class MovieLensVariant:
    """A downloadable GroupLens archive.

    ``sha256`` is ``None`` where no trustworthy published value was found (then ``md5`` is checked
    if known, else the archive is only checked to be a readable zip holding a MovieLens layout).
    """

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None


_BASE = "https://files.grouplens.org/datasets/movielens/"
#: Known variants. sha256 and sizes as pinned in tensorflow/datasets
#: (``tensorflow_datasets/url_checksums/movielens.txt``); md5 as published by GroupLens
#: (``<archive>.md5``) and pinned by several public loaders. ml-latest is re-issued from time to
#: time, so it has no fixed checksum; for ml-10m and ml-32m no sha256 was found.
VARIANTS: dict[str, MovieLensVariant] = {
    "ml-100k": MovieLensVariant(
        _BASE + "ml-100k.zip",
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        "0e33842e24a9c977be4e0107933c0723",
        4924029,
    ),
    "ml-1m": MovieLensVariant(
        _BASE + "ml-1m.zip",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "c4d9eecfca2ab87c1945afe126590906",
        5917549,
    ),
    "ml-10m": MovieLensVariant(_BASE + "ml-10m.zip", None, "ce571fd55effeba0271552578f2648bd"),
    "ml-20m": MovieLensVariant(
        _BASE + "ml-20m.zip",
        "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        "cd245b17a1ae2cc31bb14903e1204af3",
        198702078,
    ),
    "ml-25m": MovieLensVariant(
        _BASE + "ml-25m.zip",
        "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        "6b51fb2759a8657d3bfcbfc42b592ada",
        261978986,
    ),
    "ml-32m": MovieLensVariant(_BASE + "ml-32m.zip"),
    "ml-latest-small": MovieLensVariant(
        _BASE + "ml-latest-small.zip",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        None,
        978202,
    ),
    "ml-latest": MovieLensVariant(_BASE + "ml-latest.zip"),
}


@dataclass(frozen=True, eq=False)
class MovieLens:
    """A loaded MovieLens data set.

    Attributes:
        interactions: one row per rating (user_id, item_id = movieId, rating, timestamp seconds).
        side_info: per movie: ``genres`` (multi-valued), ``year`` (1-tuple of str, or empty),
            ``tags`` (multi-valued, lower-cased; empty when the layout has no tag file); titles in
            ``side_info.titles``.
        variant: detected layout/variant, e.g. "ml-100k", "ml-1m", "ml-latest-small".
        path: the directory the files were read from.
    """

    interactions: Interactions
    side_info: ItemSideInfo
    variant: str
    path: Path

    def describe(self) -> dict[str, Any]:
        out = {"variant": self.variant, "path": str(self.path)}
        out.update(self.interactions.describe())
        out["movies"] = len(self.side_info)
        out["genres"] = len(self.side_info.vocabulary("genres"))
        out["movies_with_tags"] = int(sum(1 for t in self.side_info.frame["tags"] if t))
        return out


# ---------------------------------------------------------------------------------- detection
_LAYOUT_FILES: dict[str, tuple[str, ...]] = {
    "100k": ("u.data", "u.item"),
    "dat": ("ratings.dat", "movies.dat"),
    "csv": ("ratings.csv", "movies.csv"),
}


def _layout_of(directory: Path) -> str | None:
    for layout, files in _LAYOUT_FILES.items():
        if (directory / files[0]).is_file():
            return layout
    return None


def _listing(directory: Path, limit: int = 20) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    except OSError as exc:
        return f"<unreadable: {exc}>"
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return (", ".join(names[:limit]) + more) if names else "<empty>"


def detect_layout(directory: str | os.PathLike) -> tuple[Path, str]:
    """(directory holding the files, variant name) for a MovieLens directory or the one above it.

    ``ValueError`` listing the files seen when no layout is recognised.
    """
    root = Path(directory)
    if not root.exists():
        raise FileNotFoundError(f"MovieLens directory {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"MovieLens: {root} is not a directory")
    found = root if _layout_of(root) else None
    if found is None:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and _layout_of(p))
        if len(subdirs) > 1:
            raise ValueError(
                f"MovieLens: {root} holds several data sets {[p.name for p in subdirs]}; "
                "pass one of them"
            )
        found = subdirs[0] if subdirs else None
    if found is None:
        raise ValueError(
            f"MovieLens: no known layout in {root} (expected u.data + u.item for ml-100k, "
            "ratings.dat + movies.dat for ml-1m/ml-10m, or ratings.csv + movies.csv for "
            f"ml-latest/ml-20m/ml-25m/ml-32m); files seen: {_listing(root)}"
        )
    return found, _variant_name(found, _layout_of(found) or "")


def _variant_name(directory: Path, layout: str) -> str:
    if layout == "100k":
        return "ml-100k"
    if layout == "dat":
        if (directory / "tags.dat").is_file() or not (directory / "users.dat").is_file():
            return "ml-10m"
        return "ml-1m"
    name = directory.name.lower()
    if "latest-small" in name:
        return "ml-latest-small"
    m = re.search(r"(\d+)m\b", name)
    if m:
        return f"ml-{m.group(1)}m"
    if "latest" in name:
        return "ml-latest"
    return "ml-csv"


# ---------------------------------------------------------------------------------- reading
def _need_file(directory: Path, name: str) -> Path:
    p = directory / name
    if not p.is_file():
        raise ValueError(
            f"MovieLens: {name} missing in {directory}; files seen: {_listing(directory)}"
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
    layout = _layout_of(found)
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


# ---------------------------------------------------------------------------------- fetching
def default_cache_dir() -> Path:
    """``$EMBRECALL_CACHE`` if set, else ``<repo>/data/cache``."""
    env = os.environ.get("EMBRECALL_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data" / "cache"


def _download(url: str, dest: Path, progress: bool, timeout: float) -> tuple[str, str, int]:
    """Stream ``url`` into ``dest``; returns (sha256, md5, bytes)."""
    from tqdm.auto import tqdm

    sha, md5 = hashlib.sha256(), hashlib.md5()
    n = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as fh:
            total = resp.headers.get("Content-Length")
            total_n = int(total) if total and total.isdigit() else None
            with tqdm(
                total=total_n, unit="B", unit_scale=True, desc=Path(url).name, disable=not progress
            ) as bar:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    n += len(chunk)
                    bar.update(len(chunk))
            if total_n is not None and n != total_n:
                raise ValueError(f"download of {url} truncated: {n} of {total_n} bytes")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise ValueError(f"download of {url} failed: {exc}") from exc
    return sha.hexdigest(), md5.hexdigest(), n


def _safe_extract(zpath: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(zpath) as zf:
            for info in zf.infolist():
                name = info.filename
                if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                    raise ValueError(f"archive member {name!r} points outside the archive")
            bad = zf.testzip()
            if bad is not None:
                raise ValueError(f"archive member {bad!r} is corrupt (CRC mismatch)")
            zf.extractall(into)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ValueError(f"corrupt or truncated zip archive: {exc}") from exc


def fetch_movielens(
    variant: str,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download and unpack a MovieLens variant; returns the directory holding its files.

    Args:
        variant: a key of ``VARIANTS`` (ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-32m,
            ml-latest-small, ml-latest), or any name when ``url`` is given.
        cache_dir: where ``<variant>/`` is unpacked (default ``default_cache_dir()``).
        url: archive URL (default: the official GroupLens URL of ``variant``).
        sha256: expected checksum (default: the pinned one of ``variant``, if any). When neither
            is known, the md5 pinned for the variant is checked if any; otherwise the archive is
            only checked to be a valid zip holding a MovieLens layout.
        progress: show a tqdm progress bar.

    A failed, truncated or wrong-checksum download raises ``ValueError`` and leaves nothing in the
    cache; the unpacked directory appears only complete (atomic rename). A second call finds it.
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", variant or ""):
        raise ValueError(f"invalid variant name {variant!r}")
    known = VARIANTS.get(variant)
    if known is None and url is None:
        raise ValueError(f"unknown MovieLens variant {variant!r}; known: {sorted(VARIANTS)}")
    src = url or known.url  # type: ignore[union-attr]
    use_known = known is not None and (url is None or url == known.url)
    want_sha = (sha256 or (known.sha256 if use_known else None) or "").lower() or None
    want_md5 = known.md5 if (use_known and want_sha is None and sha256 is None) else None

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / variant
    if target.is_dir():
        try:
            found, _ = detect_layout(target)
        except ValueError:
            raise ValueError(
                f"cache directory {target} exists but holds no MovieLens layout; remove it"
            ) from None
        logger.info("MovieLens %s: using cached %s", variant, found)
        return found

    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{variant}.", suffix=".part", dir=cache))
    try:
        zpath = work / "archive.zip"
        logger.info("downloading %s", src)
        got_sha, got_md5, n = _download(src, zpath, progress, timeout)
        if want_sha is not None and got_sha != want_sha:
            raise ValueError(
                f"checksum mismatch for {src}: sha256 {got_sha}, expected {want_sha} "
                f"({n} bytes downloaded)"
            )
        if want_md5 is not None and got_md5 != want_md5:
            raise ValueError(f"checksum mismatch for {src}: md5 {got_md5}, expected {want_md5}")
        if want_sha is None and want_md5 is None:
            logger.warning("no checksum known for %s; sha256 of the download is %s", src, got_sha)
        unpacked = work / "unpacked"
        unpacked.mkdir()
        _safe_extract(zpath, unpacked)
        zpath.unlink()
        entries = [p for p in unpacked.iterdir() if p.name != "__MACOSX"]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        if _layout_of(root) is None:
            raise ValueError(f"archive {src} holds no MovieLens layout; files: {_listing(root)}")
        (root / ".embrecall-source.json").write_text(
            json.dumps({"variant": variant, "url": src, "sha256": got_sha, "bytes": n}),
            encoding="utf-8",
        )
        try:
            os.rename(root, target)
        except OSError:
            if not target.is_dir():  # not a concurrent fetch that finished first
                raise
            logger.info("MovieLens %s: another process unpacked it first", variant)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
