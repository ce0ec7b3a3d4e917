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

Modules: ``layouts`` (``VARIANTS``, ``MovieLens``, ``detect_layout``), ``readers`` (the three
layouts, ``load_movielens``), ``fetch`` (``fetch_movielens``, ``default_cache_dir``).
"""

from embeddings.datasets.movielens.fetch import default_cache_dir, fetch_movielens
from embeddings.datasets.movielens.layouts import (
    VARIANTS,
    MovieLens,
    MovieLensVariant,
    detect_layout,
)
from embeddings.datasets.movielens.readers import ML100K_GENRES, load_movielens

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
