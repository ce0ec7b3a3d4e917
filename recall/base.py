"""The ``Index`` protocol shared by exact search, our LSH indexes and the peers.

Every index:

- ``build(vectors, ids=None)`` replaces the contents; ``add(vectors, ids)`` appends. Ids are the
  caller's int64 ids (default ``arange(n)``), never row positions; duplicates are rejected and a
  rejected ``add`` leaves the index unchanged.
- ``search(queries, k)`` -> ``SearchResult(ids (nq, k) int64, scores (nq, k) float32)`` sorted by
  score descending, padded with id -1 and score -inf when fewer than k are found. ``k`` may exceed
  the index size (the rest is padding) up to ``MAX_K``; a ``k`` above both the index size and
  ``MAX_K`` is a ``ValueError`` (never an allocation of nq x k padding).
- Scores are "higher is better": ``ip`` = inner product, ``cosine`` = cosine similarity,
  ``l2`` = minus the squared Euclidean distance.
- ``stats()`` -> dict of numbers (memory bytes, n, dim, ... and index-specific figures).
- ``save(path)`` / ``load(path)``: one ``.npz`` per index (arrays + JSON header), written
  atomically; a truncated or foreign file raises ``ValueError``.

Subclasses implement ``_reset``, ``_add(vectors, ids)``, ``_search(queries, k)`` on validated
inputs (for ``cosine`` the base class passes unit-normalised vectors) and ``_get_state`` /
``_set_state`` for persistence.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NoReturn, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.io import atomic_write, read_npz
from embeddings.neighbours import METRICS, Metric, normalize_rows
from embeddings.validate import as_ids, as_vectors, describe_values

__all__ = [
    "SearchResult",
    "Index",
    "Metric",
    "METRICS",
    "normalize_rows",
    "scores_for",
    "load_index",
    "INDEX_FORMAT_TAG",
    "MAX_K",
    "check_k",
]

INDEX_FORMAT_TAG = "embrecall.index/1"
#: the largest ``k`` a search accepts beyond the index size (padded with -1 / -inf up to k); a
#: ``k`` larger than both the index size and this bound is rejected
MAX_K = 65_536


def check_k(k: Any, n: int | None) -> int:
    """Validate ``k`` for a search of an index holding ``n`` items: a positive int, at most
    ``max(n, MAX_K)`` (see the module docstring; ``n=None`` checks type and sign only); returns
    it as ``int``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an int, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    if n is not None and k > max(n, MAX_K):
        raise ValueError(
            f"k={k} exceeds both the index size ({n}) and MAX_K={MAX_K}: the result would be "
            f"almost all padding; ask for k <= {max(n, MAX_K)}"
        )
    return int(k)


@dataclass(frozen=True, eq=False, slots=True)
class SearchResult:
    """ids int64 (nq, k) padded with -1; scores float32 (nq, k), higher is better, -inf padding.

    Read the fields by name (``res.ids``, ``res.scores``). A result does not unpack like a tuple:
    faiss returns ``D, I = index.search(q, k)`` (scores first) and the opposite order would
    silently swap ids and scores, so ``a, b = res`` raises a ``TypeError`` saying what to write.
    """

    ids: NDArray[np.int64]
    scores: NDArray[np.float32]

    def __iter__(self) -> NoReturn:
        raise TypeError(_NO_UNPACK)

    def __getitem__(self, key: object) -> NoReturn:
        raise TypeError(_NO_UNPACK)

    def __repr__(self) -> str:
        return f"SearchResult(ids={self.ids!r}, scores={self.scores!r})"


_NO_UNPACK = (
    "SearchResult does not unpack or index like a tuple (faiss's `D, I = index.search(q, k)` "
    "order is scores first, ours would be ids first): write `res = index.search(q, k)` and use "
    "`res.ids` (int64 (nq, k), -1 padding) and `res.scores` (float32, higher is better), "
    "e.g. `I, D = res.ids, res.scores`"
)


def scores_for(
    metric: str, queries: NDArray[np.float32], vectors: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Dense score matrix (nq, n) for (already normalised, for cosine) inputs."""
    dots = queries @ vectors.T
    if metric == "l2":
        qn = np.einsum("ij,ij->i", queries, queries)[:, None]
        xn = np.einsum("ij,ij->i", vectors, vectors)[None, :]
        return -(qn - 2 * dots + xn)
    return dots


class Index(ABC):
    """Base class of every index; validates input once so implementations need not."""

    #: short name used in reports and the registry
    name: ClassVar[str] = "index"
    #: state arrays in which +/-inf is a legitimate sentinel (e.g. an unbounded norm range);
    #: every other float state array of a loaded file must be finite
    _STATE_MAY_HOLD_INF: ClassVar[tuple[str, ...]] = ()

    #: names accepted by ``set_search_params`` (search-time knobs, changed without a rebuild)
    search_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, metric: Metric = "cosine") -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
        self.metric: Metric = metric
        self.dim: int | None = None
        self._ids = np.empty(0, dtype=np.int64)

    # ------------------------------------------------------------------ public API
    def build(self, vectors: ArrayLike, ids: ArrayLike | None = None) -> Self:
        """Index ``vectors`` (n, d) under ``ids`` (n,) int64 (default arange(n)); replaces contents."""
        x = as_vectors(vectors, "vectors")
        i = as_ids(ids, n=x.shape[0], name="ids")
        self.dim = x.shape[1]
        self._ids = np.empty(0, dtype=np.int64)
        self._reset()
        self._add(self._prepare(x), i)
        self._ids = i
        return self

    def add(self, vectors: ArrayLike, ids: ArrayLike) -> Self:
        """Append vectors (m, d) with new unique ids (m,); on error nothing changes."""
        if self.dim is None:
            return self.build(vectors, ids)
        x = as_vectors(vectors, "vectors", dim=self.dim)
        i = as_ids(ids, n=x.shape[0], name="ids")
        clash = np.intersect1d(i, self._ids)
        if clash.size:
            raise ValueError(f"ids already in the index: {describe_values(clash)}")
        self._add(self._prepare(x), i)
        self._ids = np.concatenate([self._ids, i])
        return self

    def search(self, queries: ArrayLike, k: int) -> SearchResult:
        """Top-k (nq, k) ids and scores for queries (nq, d), padded with -1 / -inf."""
        if self.dim is None or len(self) == 0:
            check_k(k, None)
            raise ValueError("the index is empty: build it before searching")
        k = check_k(k, len(self))
        q = self._prepare(as_vectors(queries, "queries", dim=self.dim))
        kk = min(k, len(self))
        res = self._search(q, kk)
        return _pad(res, k)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    @property
    def ids(self) -> NDArray[np.int64]:
        """Indexed ids in insertion order (n,)."""
        return self._ids

    def stats(self) -> dict[str, float]:
        """Numbers describing the index: n, dim, memory_bytes and implementation figures."""
        out: dict[str, float] = {"n": float(len(self)), "dim": float(self.dim or 0)}
        out.update(self._stats())
        return out

    def set_search_params(self, **kw: Any) -> Self:
        """Change search-time parameters (names in ``search_params``) without rebuilding: the one
        way to set them. This default serves indexes without any: it accepts no names
        (``ValueError`` naming the unknown ones); indexes with knobs override it."""
        unknown = sorted(set(kw) - set(self.search_params))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown search parameter(s) {unknown}; "
                f"settable: {list(self.search_params)}"
            )
        if kw:
            raise NotImplementedError(f"{type(self).__name__} does not implement set_search_params")
        return self

    def params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable), for reports and persistence."""
        return {"metric": self.metric}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz``: header JSON (class, params, dim) + the implementation's arrays."""
        if self.dim is None:
            raise ValueError("cannot save an empty index")
        state = self._get_state()
        header = {
            "__format__": INDEX_FORMAT_TAG,
            "module": type(self).__module__,
            "class": type(self).__qualname__,
            "params": self.params(),
            "dim": self.dim,
            "state_keys": sorted(state),
        }
        arrays = {f"s_{k}": np.asarray(v) for k, v in state.items()}
        target = Path(path)
        with atomic_write(target, "wb") as fh:
            np.savez(
                fh,
                header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
                ids=self._ids,
                **arrays,
            )
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> Index:
        """Read a file written by ``save`` (of this class, or any class via ``load_index``)."""
        idx = load_index(path)
        if cls is not Index and not isinstance(idx, cls):
            raise ValueError(f"{path}: holds a {type(idx).__name__}, not a {cls.__name__}")
        return idx

    # ------------------------------------------------------------------ for subclasses
    def _prepare(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        return normalize_rows(x) if self.metric == "cosine" else x

    @abstractmethod
    def _reset(self) -> None:
        """Forget all contents (called by ``build``)."""

    @abstractmethod
    def _add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        """Index prepared vectors (m, d) float32 with validated, new ids (m,) int64."""

    @abstractmethod
    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        """Return (nq, k') results, k' <= k <= len(self); -1 padding allowed."""

    def _stats(self) -> dict[str, float]:
        return {}

    def _get_state(self) -> dict[str, NDArray]:
        raise NotImplementedError(f"{type(self).__name__} does not support save()")

    def _set_state(self, state: dict[str, NDArray]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support load()")


def _pad(res: SearchResult, k: int) -> SearchResult:
    ids = np.asarray(res.ids, dtype=np.int64)
    scores = np.asarray(res.scores, dtype=np.float32)
    nq, kk = ids.shape
    if kk == k:
        return SearchResult(np.ascontiguousarray(ids), np.ascontiguousarray(scores))
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    out_ids[:, :kk] = ids
    out_scores[:, :kk] = scores
    return SearchResult(out_ids, out_scores)


#: modules that index files of earlier versions name, and where their classes live now
_MOVED_MODULES: dict[str, str] = {"recall.lsh_balanced": "recall.lsh"}


def load_index(path: str | os.PathLike) -> Index:
    """Load any index saved with ``Index.save``, validated as ``build`` validates its input.

    ``ValueError`` naming the file and the problem for a truncated or foreign file (random bytes,
    pickled members), a header that is not the documented JSON object, ids that are not unique
    1-D integers (or hold the padding id -1), non-finite state arrays (NaN vectors), a class
    outside ``recall`` or not an ``Index``, or state that does not fit the class.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no index file at {p}")
    arrays = read_npz(p, "an embrecall index file")
    if "header" not in arrays or "ids" not in arrays:
        raise ValueError(f"{p}: not an embrecall index file (members {sorted(arrays)})")
    raw = arrays["header"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{p}: header must be 1-D uint8 JSON bytes, got {raw.dtype} {raw.shape}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: corrupt header JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{p}: header must be a JSON object, got a JSON {type(header).__name__}")
    if header.get("__format__") != INDEX_FORMAT_TAG:
        raise ValueError(f"{p}: unknown format tag {header.get('__format__')!r}")
    expected = {"module": str, "class": str, "params": dict, "dim": int, "state_keys": list}
    for key, typ in expected.items():
        val = header.get(key)
        if not isinstance(val, typ) or isinstance(val, bool):
            raise ValueError(
                f"{p}: header field {key!r} must be a JSON {typ.__name__}, got {val!r}"
            )
    state_keys = header["state_keys"]
    if not all(isinstance(k, str) for k in state_keys) or len(set(state_keys)) != len(state_keys):
        raise ValueError(f"{p}: header 'state_keys' must be distinct strings, got {state_keys!r}")
    members = {"header", "ids", *(f"s_{k}" for k in state_keys)}
    if set(arrays) != members:
        missing, extra = sorted(members - set(arrays)), sorted(set(arrays) - members)
        raise ValueError(f"{p}: members do not match the header (missing {missing}, extra {extra})")
    dim = header["dim"]
    if dim < 1:
        raise ValueError(f"{p}: header 'dim' must be >= 1, got {dim}")
    raw_ids = arrays["ids"]
    if raw_ids.dtype.kind not in "iu":
        raise ValueError(f"{p}: ids must be integers (int64), got dtype {raw_ids.dtype}")
    try:
        ids = as_ids(raw_ids, name="ids")
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from exc
    if ids.size == 0:
        raise ValueError(f"{p}: no ids (an index file is never empty)")
    state = {k: arrays[f"s_{k}"] for k in state_keys}
    for k, v in state.items():
        if v.dtype.kind in "fc" and np.isnan(v).any():
            raise ValueError(f"{p}: NaN values in state array {k!r}")
        if v.dtype.kind not in "biufSU":
            raise ValueError(f"{p}: state array {k!r} has unsupported dtype {v.dtype}")
    module = _MOVED_MODULES.get(header["module"], header["module"])
    if not (module == "recall" or module.startswith("recall.")):
        raise ValueError(f"{p}: index class from foreign module {module!r}")
    try:
        cls = getattr(importlib.import_module(module), header["class"])
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{p}: unknown index class {module}.{header['class']} ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, Index)) or inspect.isabstract(cls):
        raise ValueError(f"{p}: {module}.{header['class']} is not an Index class")
    for k, v in state.items():
        if v.dtype.kind in "fc" and k not in cls._STATE_MAY_HOLD_INF and np.isinf(v).any():
            raise ValueError(f"{p}: inf values in state array {k!r}")
    try:
        idx = cls(**header["params"])
    except Exception as exc:  # noqa: BLE001 - any failure: the header does not fit the class
        raise ValueError(f"{p}: header does not match {cls.__name__}: bad params ({exc})") from exc
    idx.dim = int(dim)
    idx._ids = ids
    try:
        idx._set_state(state)
    except Exception as exc:  # noqa: BLE001 - any failure: the arrays do not fit the class
        raise ValueError(f"{p}: state does not fit {cls.__name__} ({exc})") from exc
    return idx
