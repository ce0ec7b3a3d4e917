"""Input validation shared by every public entry point (public: both packages import it).

Vectors are float32 C-contiguous, ids are int64; bad input raises ``ValueError`` (or ``KeyError``
for unknown ids) with a message naming the problem. Cast and validate here, nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "as_vectors",
    "as_ids",
    "PADDING_ID",
    "check_random_state",
    "spawn_seeds",
    "describe_values",
]


def describe_values(values: ArrayLike, limit: int = 5) -> str:
    """Short text listing up to ``limit`` values, for error messages."""
    arr = np.asarray(values).ravel()
    shown = ", ".join(str(v) for v in arr[:limit].tolist())
    more = f", ... ({arr.size} in all)" if arr.size > limit else ""
    return f"[{shown}{more}]"


def as_vectors(
    x: ArrayLike,
    name: str = "vectors",
    dim: int | None = None,
    allow_empty: bool = False,
) -> NDArray[np.float32]:
    """Validate and cast to a C-contiguous float32 matrix of shape (n, d).

    Rejects non-numeric dtypes, anything not 2-D (a single 1-D vector is accepted as one row),
    a dimension different from ``dim``, and NaN/inf entries (naming the first bad row).
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name}: dtype {arr.dtype} cannot be cast to float32")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name}: complex values cannot be cast to float32")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name}: empty (0 rows)")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: wrong dimension {arr.shape[1]}, expected {dim}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: dimension 0")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if out.size and not np.isfinite(out).all():
        bad_rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
        if np.isfinite(arr).all():
            raise ValueError(f"{name}: values overflow float32 in rows {describe_values(bad_rows)}")
        raise ValueError(f"{name}: NaN or inf in rows {describe_values(bad_rows)}")
    return out


#: the id that pads search results (``SearchResult.ids``) when fewer than k are found; never a
#: valid item id
PADDING_ID = -1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _object_ids(arr: NDArray, name: str) -> NDArray[np.int64]:
    """Object / string arrays element by element: Python ints of any size, integral floats and
    decimal strings; anything else (or outside int64) -> ``ValueError``."""
    out = np.empty(arr.shape[0], dtype=np.int64)
    for j, v in enumerate(arr.tolist()):
        if isinstance(v, bool | int | np.integer):
            iv = int(v)
        elif isinstance(v, float | np.floating):
            if not np.isfinite(v) or float(v) != np.round(float(v)):
                raise ValueError(f"{name}: non-integer ids [{v!r}] (at position {j})")
            iv = int(v)
        elif isinstance(v, str | bytes):
            try:
                iv = int(v)
            except ValueError as exc:
                raise ValueError(f"{name}: non-numeric ids [{v!r}] (at position {j})") from exc
        else:
            raise ValueError(
                f"{name}: non-numeric ids [{v!r}] ({type(v).__name__}, at position {j})"
            )
        if not _INT64_MIN <= iv <= _INT64_MAX:
            raise ValueError(
                f"{name}: id {iv} at position {j} is outside int64 (ids must be in "
                f"[-2**63, 2**63 - 1])"
            )
        out[j] = iv
    return out


def as_ids(
    ids: ArrayLike | None,
    n: int | None = None,
    name: str = "ids",
    unique: bool = True,
    allow_padding: bool = False,
) -> NDArray[np.int64]:
    """Validate and cast to a 1-D int64 array.

    ``ids=None`` gives ``arange(n)``. Rejects non-integer values (floats with a fractional part,
    strings that are no integers), values outside int64 (uint64 >= 2**63, Python ints >= 2**63,
    floats like 1e19: never wrapped), the padding id -1 (unless ``allow_padding``, for search
    results), a length different from ``n`` and, with ``unique``, duplicates (naming them).
    """
    if ids is None:
        if n is None:
            raise ValueError(f"{name}: None given and no length to make default ids from")
        return np.arange(n, dtype=np.int64)
    try:
        arr = np.asarray(ids)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind == "f" and isinstance(ids, list | tuple) and arr.size:
        # a Python list mixing floats and big ints: float64 would round ints beyond 2**53 (or
        # wrap those beyond int64), so convert element by element, exactly
        arr = np.asarray(list(ids), dtype=object).ravel()
    if arr.size == 0 or arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.signedinteger):
        out = np.ascontiguousarray(arr, dtype=np.int64)
    elif np.issubdtype(arr.dtype, np.unsignedinteger):
        big = arr > np.uint64(_INT64_MAX) if arr.dtype == np.uint64 else np.zeros(arr.shape, bool)
        if big.any():
            raise ValueError(f"{name}: ids >= 2**63 are outside int64: {describe_values(arr[big])}")
        out = np.ascontiguousarray(arr, dtype=np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise ValueError(f"{name}: non-integer ids {describe_values(arr[bad])}")
        # float64(2**63) is exact; anything >= it (or < -2**63) would wrap to INT64_MIN
        far = (arr >= 2.0**63) | (arr < -(2.0**63))
        if far.any():
            raise ValueError(
                f"{name}: ids outside int64 (must be in [-2**63, 2**63 - 1]): "
                f"{describe_values(arr[far])}"
            )
        out = np.ascontiguousarray(arr, dtype=np.int64)
    elif np.iscomplexobj(arr):
        raise ValueError(f"{name}: complex values are no ids")
    else:  # object, str, bytes
        out = _object_ids(arr.astype(object), name)
    if not allow_padding and out.size and (out == PADDING_ID).any():
        pos = np.flatnonzero(out == PADDING_ID)
        raise ValueError(
            f"{name}: id {PADDING_ID} is reserved (it pads search results with fewer than k "
            f"hits); found at positions {describe_values(pos)}"
        )
    if n is not None and out.shape[0] != n:
        raise ValueError(f"{name}: length {out.shape[0]} does not match {n} vectors")
    if unique and out.size > 1:
        s = np.sort(out)
        dup = s[1:][s[1:] == s[:-1]]
        if dup.size:
            raise ValueError(f"{name}: duplicate ids {describe_values(np.unique(dup))}")
    return out


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``None``/int/SeedSequence/Generator into a ``numpy.random.Generator`` (never global)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        raise ValueError("random_state: legacy RandomState is not supported; pass an int seed")
    return np.random.default_rng(random_state)


def spawn_seeds(random_state: Any, n: int) -> list[int]:
    """``n`` independent 63-bit integer seeds derived from ``random_state`` via SeedSequence.spawn."""
    if isinstance(random_state, np.random.Generator):
        seq = np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    elif isinstance(random_state, np.random.SeedSequence):
        seq = random_state
    else:
        seq = np.random.SeedSequence(random_state)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in seq.spawn(n)]


def check_corpus_file(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path``; ``ValueError`` when it is not an existing file or is empty."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"corpus file {p} does not exist")
    if p.stat().st_size == 0:
        raise ValueError(f"corpus file {p} is empty")
    return p
