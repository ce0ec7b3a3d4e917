"""Atomic file writes (temporary file beside the target, fsync, rename) and a safe ``.npz`` reader.

A failed or interrupted write never leaves a half-written file in place of a good one; a file that
is not a readable archive of plain arrays is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["atomic_write", "read_npz"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file for writing; on success rename it onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Every member of the ``.npz`` archive at ``path``, read without unpickling.

    ``ValueError`` naming the file (``what`` says which kind of file was expected) for anything
    that is not a readable archive of plain arrays: random bytes, a truncated archive, a member
    holding pickled Python objects (never suggesting ``allow_pickle``), an unreadable member.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p}: is a folder, not {what}")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"{p}: cannot be read ({exc})") from exc
    if magic != b"PK\x03\x04":
        raise ValueError(f"{p}: not {what} (not a .npz archive; starts with {magic!r})")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(p, allow_pickle=False) as z:
            for name in z.files:
                try:
                    out[name] = z[name]
                except ValueError as exc:
                    if "pickle" in str(exc):
                        raise ValueError(
                            f"{p}: member {name!r} holds pickled Python objects; {what} holds "
                            "plain arrays only, so it is not loaded"
                        ) from None
                    raise ValueError(f"{p}: member {name!r} is unreadable ({exc})") from exc
    except ValueError as exc:
        if str(exc).startswith(str(p)):
            raise
        raise ValueError(f"{p}: unreadable or truncated {what} ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/EOF/OS errors of a damaged archive
        raise ValueError(
            f"{p}: unreadable or truncated {what} ({type(exc).__name__}: {exc})"
        ) from exc
    return out
