"""What every peer shares: argument checks, lazy imports, the lean ``_Peer`` base and ``NativeSearch``.

``_Peer.search`` has a fast path for the common call (a C-contiguous float32 (nq, d) array, finite,
``k`` at most the index size): it skips the generic conversion and padding of
:meth:`recall.base.Index.search` and gives the same result. ``_map`` turns library row numbers into
the caller's ids with one fancy-index (none at all when the ids are ``0..n-1``) and re-sorts only
when the library's scores are not already in descending order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import check_random_state
from recall.base import Index, Metric, SearchResult, _pad

__all__ = ["NativeSearch"]

_PIP = {"faiss": "faiss-cpu", "hnswlib": "hnswlib", "annoy": "annoy"}


def _require(module: str, who: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{who} needs the '{_PIP.get(module, module)}' package; install the 'peers' extra: "
            f"pip install 'embrecall[peers]'"
        ) from exc


def _check_pos_int(name: str, value: Any, allow_none: bool = False, lo: int = 1) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return int(value)


def _seed_of(random_state: Any) -> int | None:
    """A JSON-serialisable int seed (or None) from int / None / Generator / SeedSequence."""
    if random_state is None:
        return None
    if isinstance(random_state, bool):
        raise ValueError(f"random_state must be an int, None or a Generator, got {random_state!r}")
    if isinstance(random_state, int | np.integer):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).integers(0, 2**31 - 1))


def _blob(b: bytes | NDArray) -> NDArray[np.uint8]:
    return np.frombuffer(bytes(b), dtype=np.uint8).copy()


@dataclass(frozen=True)
class NativeSearch:
    """A peer's own single-query call, so that a benchmark times the library in its best mode.

    - ``inputs[i]``: query ``i`` pre-processed once, outside any timed loop (float32, unit rows for
      cosine, in the shape the library takes);
    - ``apply()``: pushes the current search parameters into the library object (once per timed
      pass, not per query);
    - ``call(inputs[i])``: the library's documented single-query call, nothing else;
    - ``to_ids(out)``: the caller's ids (k,) int64 of one ``call`` output (for checking that the
      raw call returns what the wrapped ``search`` returns; never timed);
    - ``how``: one sentence naming the call, for the report.
    """

    how: str
    inputs: Sequence[Any]
    apply: Callable[[], None]
    call: Callable[[Any], Any]
    to_ids: Callable[[Any], NDArray[np.int64]]


def _noop() -> None:
    return None


class _Peer(Index):
    """Shared plumbing: threads, seed, search-time parameters, id mapping, the lean search path."""

    #: names accepted by ``set_search_params``
    search_params: ClassVar[tuple[str, ...]] = ()
    #: metrics the library supports
    metrics: ClassVar[tuple[str, ...]] = ("cosine", "ip", "l2")

    def __init__(
        self, metric: Metric = "cosine", threads: int = 1, random_state: Any = 0, **search: Any
    ) -> None:
        super().__init__(metric)
        if metric not in self.metrics:
            raise ValueError(
                f"{type(self).__name__} does not support metric {metric!r}; "
                f"it supports {self.metrics}"
            )
        self.threads = _check_pos_int("threads", threads)
        self.random_state = _seed_of(random_state)
        self._ids_key: NDArray[np.int64] | None = None
        self._ids_identity = False
        self.set_search_params(**search)

    def set_search_params(self, **kw: Any) -> Index:
        """Change search-time parameters (names in ``search_params``) without rebuilding."""
        unknown = sorted(set(kw) - set(self.search_params))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown search parameter(s) {unknown}; "
                f"settable: {list(self.search_params)}"
            )
        for k, v in kw.items():
            setattr(self, k, self._check_search_param(k, v))
        return self

    def _check_search_param(self, name: str, value: Any) -> Any:
        return _check_pos_int(name, value)

    def _extra_params(self) -> dict[str, Any]:
        return {}

    def params(self) -> dict[str, Any]:
        out = {"metric": self.metric, "threads": self.threads, "random_state": self.random_state}
        out.update(self._extra_params())
        out.update({k: getattr(self, k) for k in self.search_params})
        return out

    # ------------------------------------------------------------------ search
    def search(self, queries: ArrayLike, k: int) -> SearchResult:
        """Top-k (nq, k) ids and scores for queries (nq, d), padded with -1 / -inf.

        Same contract and result as :meth:`recall.base.Index.search`; a C-contiguous float32
        (nq, d) array with ``k <= len(self)`` takes a shorter path (no copy, no padding)."""
        q = queries
        if (
            type(q) is np.ndarray
            and q.dtype == np.float32
            and q.ndim == 2
            and q.shape[0] > 0
            and q.shape[1] == self.dim
            and type(k) is int
            and 0 < k <= len(self._ids)
            and q.flags.c_contiguous
        ):
            if self.metric == "cosine":
                # normalize_rows' own operations (identical results), fewer calls; a NaN / inf
                # (or an overflowing square) makes the sum non-finite: the generic path reports it
                sq = np.add.reduce(q * q, axis=1)
                if np.isfinite(sq).all():
                    norms = np.sqrt(sq)[:, None]
                    res = self._search(q / np.maximum(norms, np.float32(1e-12)), k)
                    return res if res.ids.shape[1] == k else _pad(res, k)
            elif np.isfinite(q).all():
                res = self._search(q, k)
                return res if res.ids.shape[1] == k else _pad(res, k)
        return super().search(queries, k)

    def _id_map(self) -> NDArray[np.int64] | None:
        """The ids array, or None when the ids are ``0..n-1`` (rows are then the ids)."""
        if self._ids_key is not self._ids:
            n = len(self._ids)
            self._ids_identity = bool(
                n == 0
                or (
                    self._ids[0] == 0
                    and self._ids[-1] == n - 1
                    and np.array_equal(self._ids, np.arange(n))
                )
            )
            self._ids_key = self._ids
        return None if self._ids_identity else self._ids

    def _map(self, rows: NDArray, scores: NDArray, valid: bool = False) -> SearchResult:
        """Library rows (nq, k) and higher-is-better scores -> ``SearchResult`` sorted descending.

        Rows outside ``0..n-1`` (library padding) become id -1 with score -inf; ``valid=True``
        says the library never pads (every row is in range), which skips that check."""
        rows = np.asarray(rows)
        if rows.dtype != np.int64:
            rows = rows.astype(np.int64)
        sc = np.asarray(scores)
        if sc.dtype != np.float32:
            sc = sc.astype(np.float32)
        n = len(self._ids)
        ids_of = self._id_map()
        if valid or (rows.size and rows.min() >= 0 and rows.max() < n):
            ids = rows if ids_of is None else ids_of[rows]
        else:
            ok = (rows >= 0) & (rows < n)
            safe = np.where(ok, rows, 0)
            ids = np.where(ok, safe if ids_of is None else ids_of[safe], -1)
            sc = np.where(ok, sc, np.float32(-np.inf)).astype(np.float32)
        # libraries may return ties or padding out of order: enforce descending scores (a stable
        # sort of an already descending row is the identity, so it is skipped then)
        if sc.shape[1] > 1 and not (sc[:, :-1] >= sc[:, 1:]).all():
            order = np.argsort(-sc, axis=1, kind="stable")
            ids = np.take_along_axis(ids, order, axis=1)
            sc = np.take_along_axis(sc, order, axis=1)
        return SearchResult(ids, sc)

    # ------------------------------------------------------------------ native calls
    def _native_inputs(self, queries: ArrayLike) -> NDArray[np.float32]:
        """Queries validated and prepared as ``search`` prepares them (unit rows for cosine)."""
        if self.dim is None or len(self) == 0:
            raise ValueError("the index is empty: build it before searching")
        from embeddings.validate import as_vectors

        return np.ascontiguousarray(self._prepare(as_vectors(queries, "queries", dim=self.dim)))

    def native_search(self, queries: ArrayLike, k: int) -> NativeSearch:
        """The library's own single-query call on ``queries`` (nq, d), for benchmarks.

        The default (no separate native call) is this index's public ``search`` on one float32
        row (1, d) at a time."""
        from embeddings.validate import as_vectors

        if self.dim is None or len(self) == 0:
            raise ValueError("the index is empty: build it before searching")
        q = as_vectors(queries, "queries", dim=self.dim)
        k = min(int(k), len(self))
        return NativeSearch(
            how=f"`{type(self).__name__}.search(row, k)` (ours; no separate native call)",
            inputs=[q[i : i + 1] for i in range(q.shape[0])],
            apply=_noop,
            call=lambda r: self.search(r, k),
            to_ids=lambda out: np.asarray(out.ids[0], dtype=np.int64),
        )

    def _rows_to_ids(self, rows: ArrayLike) -> NDArray[np.int64]:
        r = np.asarray(rows, dtype=np.int64).ravel()
        ok = (r >= 0) & (r < len(self._ids))
        return np.where(ok, self._ids[np.where(ok, r, 0)], -1)
