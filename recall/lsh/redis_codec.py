"""Key layout and codecs of the Redis bucket store (:mod:`recall.lsh.redis_buckets`).

The store's format tag, name checks for namespaces and versions, and the conversions between
numpy arrays and what Redis holds: bucket keys as 16 hex digits, ids as decimal text, hash
functions as ``.npy`` bytes; and the unprobed key a gathered table files absent memberships under.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["STORE_FORMAT_TAG"]

STORE_FORMAT_TAG = "embrecall.redis-lsh/2"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _check_name(label: str, value: Any) -> str:
    s = str(value)
    if not s or not _NAME_RE.match(s):
        raise ValueError(f"{label} must be non-empty letters, digits, '_', '.', '-'; got {value!r}")
    return s


def _npy_bytes(a: NDArray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def _from_npy(b: bytes) -> NDArray:
    return np.load(io.BytesIO(b), allow_pickle=False)


def _hex_keys(keys: NDArray[np.uint64]) -> list[str]:
    """Per row the L keys as 16 hex digits each, concatenated: (n, L) uint64 -> n strings."""
    be = np.ascontiguousarray(keys, dtype=">u8")
    width = be.shape[1] * 8
    raw = be.tobytes()
    return [raw[i : i + width].hex() for i in range(0, len(raw), width)]


def _unprobed_keys(keys: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Per table a key (L,) uint64 that no row of ``keys`` (nq, L) holds in that table: one above
    the largest, or, where that wraps, the smallest integer missing among them."""
    top = keys.max(axis=0)
    out = top + np.uint64(1)
    for t in np.flatnonzero(top == np.iinfo(np.uint64).max):
        probed = np.unique(keys[:, t])
        out[t] = np.setdiff1d(np.arange(probed.shape[0] + 1, dtype=np.uint64), probed)[0]
    return out


def _parse_ids(raw: bytes) -> NDArray[np.int64]:
    """Decimal integers joined by "," -> (n,) int64 (``ValueError`` if one is not a number)."""
    if not raw:
        return np.zeros(0, dtype=np.int64)
    out = np.fromstring(raw, dtype=np.int64, sep=",")  # text mode: 10x faster than split
    if out.shape[0] != raw.count(b",") + 1:
        raise ValueError(f"malformed id list from Redis: {raw[:60]!r}")
    return out
