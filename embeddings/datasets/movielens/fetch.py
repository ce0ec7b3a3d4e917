"""Download of a MovieLens archive: verified checksum, safe unpacking, atomic rename into the cache
(``fetch_movielens``; cache ``$EMBRECALL_CACHE`` or ``<repo>/data/cache``)."""

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
from pathlib import Path

from embeddings.datasets.movielens.layouts import VARIANTS, detect_layout, layout_of, listing

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$EMBRECALL_CACHE`` if set, else ``<repo>/data/cache``."""
    env = os.environ.get("EMBRECALL_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "data" / "cache"


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
        if layout_of(root) is None:
            raise ValueError(f"archive {src} holds no MovieLens layout; files: {listing(root)}")
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
