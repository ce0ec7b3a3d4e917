"""Generic interactions loader: any CSV/TSV (optionally compressed) or Parquet file with a mapping
from the ``Interactions`` columns to the file's own column names.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from embeddings.datasets.tables import Interactions

__all__ = ["load_interactions", "DEFAULT_COLUMNS"]

logger = logging.getLogger(__name__)

#: Default mapping: the file already uses the ``Interactions`` column names.
DEFAULT_COLUMNS: dict[str, str] = {
    "user_id": "user_id",
    "item_id": "item_id",
    "rating": "rating",
    "timestamp": "timestamp",
}
_REQUIRED = ("user_id", "item_id")
_OPTIONAL = ("rating", "timestamp")
_PARQUET = (".parquet", ".pq", ".parq")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


def _decompression_errors() -> tuple[type[BaseException], ...]:
    import lzma
    import zipfile
    import zlib

    return (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


_DECOMPRESSION_ERRORS = _decompression_errors()


def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _sniff_sep(path: Path) -> str:
    """Guess the delimiter of a text file from its first lines (``,``, tab, ``;``, ``|``, space)."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
            sample = "".join(fh.readline() for _ in range(20))
    except _DECOMPRESSION_ERRORS as exc:
        raise ValueError(
            f"{path}: truncated or corrupt file ({type(exc).__name__}: {exc})"
        ) from exc
    if not sample.strip():
        raise ValueError(f"{path.name}: empty file")
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;| ").delimiter
    except csv.Error:
        return ","


def _pyarrow_parquet(path: Path):  # noqa: ANN202 - module object
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(
            f"{path.name}: reading Parquet needs pyarrow (pip install pyarrow)"
        ) from exc
    return pq


def _parquet_columns(path: Path) -> list[str]:
    pq = _pyarrow_parquet(path)
    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise ValueError(f"{path.name}: unreadable Parquet file ({exc})") from exc


def _read_parquet(path: Path, columns: list[str], have: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{path.name}: missing mapped columns {missing} (file has {have})")
    pq = _pyarrow_parquet(path)
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path.name}: unreadable Parquet file ({exc})") from exc


def load_interactions(
    path: str | os.PathLike,
    columns: Mapping[str, str | int | None] | None = None,
    sep: str | None = None,
    rating_default: float = 1.0,
    header: bool = True,
    name: str | None = None,
) -> Interactions:
    """Read interactions from a CSV/TSV/Parquet file.

    Args:
        path: ``.csv``/``.tsv``/``.txt``/``.dat`` (optionally ``.gz``/``.bz2``/``.xz``/``.zip``) or
            ``.parquet``.
        columns: maps ``user_id``, ``item_id`` and optionally ``rating``, ``timestamp`` to the
            file's column names (column positions when ``header=False``). ``user_id`` and
            ``item_id`` are required; a ``rating``/``timestamp`` named in the mapping must exist,
            one left out (or mapped to ``None``) gets the default. With ``columns=None`` the file
            must use the ``Interactions`` names; ``rating``/``timestamp`` are then used if present.
        sep: field separator; default ``,`` for ``.csv``, tab for ``.tsv``, else sniffed.
        rating_default: rating given to every row when the file has no rating column (implicit
            feedback).
        header: whether the text file has a header line.
        name: name of the resulting table (default: the file name).

    Returns:
        ``Interactions`` (user_id int64, item_id int64, rating float32, timestamp int64; the row
        order when the file has no timestamp).

    Raises:
        ValueError: unknown mapping keys, missing mapped columns, non-numeric ids, NaN ratings,
            an empty or unreadable file. ``FileNotFoundError`` if ``path`` does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"interactions file {p} does not exist")
    if not np.isfinite(rating_default):
        raise ValueError(f"rating_default must be finite, got {rating_default}")
    explicit = columns is not None
    mapping = dict(DEFAULT_COLUMNS if columns is None else columns)
    unknown = sorted(set(mapping) - set(DEFAULT_COLUMNS))
    if unknown:
        raise ValueError(f"columns: unknown keys {unknown}; allowed {list(DEFAULT_COLUMNS)}")
    for key in _REQUIRED:
        if mapping.get(key) is None:
            raise ValueError(f"columns: {key!r} must be mapped to a column of {p.name}")
    mapped = {k: v for k, v in mapping.items() if v is not None}
    if not header and not all(isinstance(v, int) for v in mapped.values()):
        raise ValueError("columns: with header=False, map to column positions (int)")
    if len(set(mapped.values())) != len(mapped):
        raise ValueError(f"columns: two fields mapped to the same column {mapped}")

    suffix = _base_suffix(p)
    if suffix in _PARQUET:
        if not header:
            raise ValueError("header=False applies to text files, not Parquet")
        have = _parquet_columns(p)
        if not explicit:
            mapped = {k: v for k, v in mapped.items() if k in _REQUIRED or v in have}
        df = _read_parquet(p, [str(v) for v in mapped.values()], have)
    else:
        if sep is None:
            sep = {".csv": ",", ".tsv": "\t"}.get(suffix) or _sniff_sep(p)
        kwargs: dict = {"sep": sep, "header": 0 if header else None}
        if len(sep) > 1 or sep == " ":
            kwargs["engine"] = "python"
            if sep == " ":
                kwargs["sep"] = r"\s+"
        try:
            df = pd.read_csv(p, **kwargs)
        except pd.errors.EmptyDataError as exc:
            raise ValueError(f"{p.name}: empty file") from exc
        except pd.errors.ParserError as exc:
            raise ValueError(f"{p.name}: malformed file: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ValueError(f"{p.name}: cannot decode text ({exc})") from exc
        except _DECOMPRESSION_ERRORS as exc:  # truncated / corrupt .gz, .bz2, .xz, .zip
            raise ValueError(
                f"{p}: truncated or corrupt file ({type(exc).__name__}: {exc})"
            ) from exc
        if header:
            df.columns = [str(c).strip() for c in df.columns]
        if not explicit:
            mapped = {k: v for k, v in mapped.items() if k in _REQUIRED or v in df.columns}
        missing = [f"{k}->{v!r}" for k, v in mapped.items() if v not in df.columns]
        if missing:
            have = list(df.columns) if header else f"{df.shape[1]} columns"
            raise ValueError(f"{p.name}: missing mapped columns {missing} (file has {have})")

    n = len(df)
    if n == 0:
        raise ValueError(f"{p.name}: no rows")
    out = pd.DataFrame({k: df[v].to_numpy() for k, v in mapped.items()})
    if "rating" not in out:
        out["rating"] = np.full(n, rating_default, dtype=np.float32)
    if "timestamp" not in out:
        out["timestamp"] = np.arange(n, dtype=np.int64)
    elif not pd.api.types.is_numeric_dtype(out["timestamp"]):
        out["timestamp"] = _timestamps(out["timestamp"], p.name)
    logger.info(
        "%s: %d rows (rating %s, timestamp %s)",
        p.name,
        n,
        "from file" if "rating" in mapped else f"= {rating_default}",
        "from file" if "timestamp" in mapped else "= row order",
    )
    return Interactions(out[list(DEFAULT_COLUMNS)], name=name or p.name)


def _timestamps(s: pd.Series, source: str) -> pd.Series:
    """Datetime-like values -> Unix seconds (int64); non-numeric text that is no date -> error."""
    if pd.api.types.is_datetime64_any_dtype(s):
        dt = s
    else:
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().all():
            return num
        try:
            dt = pd.to_datetime(s, utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            bad = s[num.isna()].astype(str).head(3).tolist()
            raise ValueError(
                f"{source}: timestamp column holds neither numbers nor dates, e.g. {bad}"
            ) from exc
    if dt.isna().any():
        rows = np.flatnonzero(dt.isna().to_numpy())[:5].tolist()
        raise ValueError(f"{source}: missing timestamps at rows {rows}")
    if getattr(dt.dt, "tz", None) is None:
        dt = dt.dt.tz_localize("UTC")
    return pd.Series(
        (dt - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1), index=s.index
    ).astype(np.int64)
