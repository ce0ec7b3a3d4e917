"""What a MovieLens data set is: the downloadable variants (``VARIANTS``, pinned checksums), the
loaded object (``MovieLens``) and the detection of a layout from the files in a directory."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.datasets.tables import Interactions, ItemSideInfo

logger = logging.getLogger(__name__)


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


_LAYOUT_FILES: dict[str, tuple[str, ...]] = {
    "100k": ("u.data", "u.item"),
    "dat": ("ratings.dat", "movies.dat"),
    "csv": ("ratings.csv", "movies.csv"),
}


def layout_of(directory: Path) -> str | None:
    """``"100k"``, ``"dat"`` or ``"csv"``: the layout of the files in ``directory`` (``None``: none)."""
    for layout, files in _LAYOUT_FILES.items():
        if (directory / files[0]).is_file():
            return layout
    return None


def listing(directory: Path, limit: int = 20) -> str:
    """The first ``limit`` names in ``directory``, for error messages."""
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
    found = root if layout_of(root) else None
    if found is None:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and layout_of(p))
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
            f"ml-latest/ml-20m/ml-25m/ml-32m); files seen: {listing(root)}"
        )
    return found, _variant_name(found, layout_of(found) or "")


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
