"""The connection side of the Redis bucket store: metadata, guards, local vectors, script calls.

:class:`_StoreBase` connects to a store (checks the format, metric, vector mode and the stored hash
functions' fingerprint, refuses an incomplete build), creates its metadata atomically, words the
guard's refusals, lists and drops its keys, keeps the ``vectors="local"`` copy and sends Lua calls
in one round trip. The write path (:mod:`recall.lsh.redis_writes`), the query path
(:mod:`recall.lsh.redis_query`) and the checks (:mod:`recall.lsh.redis_verify`) build on it;
:class:`recall.lsh.redis_buckets.RedisBuckets` is all four.
"""

from __future__ import annotations

import time
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import NDArray

from embeddings.validate import describe_values
from recall.base import Metric
from recall.lsh.redis_codec import STORE_FORMAT_TAG, _check_name, _from_npy, _npy_bytes
from recall.lsh.redis_lua import (
    CREATE_LUA,
    FINISH_LUA,
    GATHER_LUA,
    GATHER_RECORDS_LUA,
    SET_RECORDS_LUA,
    WRITE_LUA,
)


class _StoreBase:
    """Connection, metadata and guards of one store; arguments as ``RedisBuckets`` (which adds
    the write, query and verify paths)."""

    def __init__(
        self,
        client: Any,
        hasher: Any = None,
        namespace: str = "embrecall",
        version: int | str = 1,
        metric: Metric = "cosine",
        vectors: Literal["redis", "local", "buckets"] = "redis",
        chunk_size: int = 2000,
        incomplete: Literal["raise", "allow"] = "raise",
    ) -> None:
        self.metric = metric
        if incomplete not in ("raise", "allow"):
            raise ValueError(f"incomplete must be 'raise' or 'allow', got {incomplete!r}")
        self._incomplete = incomplete
        import redis

        if isinstance(client, str):
            client = redis.Redis.from_url(client)
        if not isinstance(client, redis.Redis):
            raise ValueError(f"client must be a redis.Redis or a URL, got {type(client).__name__}")
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the redis client must be created with decode_responses=False")
        self.client = client
        self.namespace = _check_name("namespace", namespace)
        self.version = _check_name("version", version)
        self.prefix = f"{{{self.namespace}:v{self.version}}}:"
        if vectors not in ("redis", "local", "buckets"):
            raise ValueError(f"vectors must be 'redis', 'local' or 'buckets', got {vectors!r}")
        self.vectors = vectors
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        self.chunk_size = chunk_size
        self._k_meta = self.prefix + "meta"
        self._k_hasher = self.prefix + "hasher"
        self._k_keys = self.prefix + "keys"
        self._k_vec = self.prefix + "vec"
        self._write = client.register_script(WRITE_LUA)
        self._gather = client.register_script(GATHER_LUA)
        self._gather_records = client.register_script(GATHER_RECORDS_LUA)
        self._set_records = client.register_script(SET_RECORDS_LUA)
        self._create = client.register_script(CREATE_LUA)
        self._finish = client.register_script(FINISH_LUA)
        self._local_ids = np.empty(0, dtype=np.int64)
        self._local_x = np.empty((0, 0), dtype=np.float32)
        self._fp_of: Any = None
        self._fp = ""
        self.hasher = self._connect(hasher)
        self.dim = int(self.hasher.dim)
        self.n_tables = int(self.hasher.n_tables)
        self._local_x = np.empty((0, self.dim), dtype=np.float32)
        #: a bucket record (``vectors="buckets"``): id int64 little-endian, then the vector
        self._record = np.dtype([("id", "<i8"), ("x", "<f4", (self.dim,))])

    @property
    def _vectors_in_redis(self) -> bool:
        """Whether the vectors hash ``P:vec`` is kept (``"redis"`` and ``"buckets"``)."""
        return self.vectors != "local"

    def _storage_arg(self, records: bool = True) -> str:
        """The write script's vector-storage argument: "0", "1" or "2:<record bytes>" (records
        kept by the script; ``records=False``: a build writes them itself afterwards)."""
        if self.vectors == "buckets" and records:
            return f"2:{self._record.itemsize}"
        return "1" if self._vectors_in_redis else "0"

    # ------------------------------------------------------------------ connect / metadata
    def _read_meta(self) -> dict[str, str]:
        import redis

        try:
            raw = self.client.hgetall(self._k_meta)
        except redis.ResponseError as exc:
            raise ValueError(
                f"{self._k_meta!r} is a {self.client.type(self._k_meta).decode()}, not a store's "
                f"metadata hash: a foreign key under the store's prefix ({exc})"
            ) from exc
        return {k.decode(): v.decode() for k, v in raw.items()}

    def _connect(self, hasher: Any) -> Any:
        meta = self._read_meta()
        with self.client.pipeline(transaction=False) as pipe:
            for key in (self._k_hasher, self._k_keys, self._k_vec):
                pipe.type(key)
            types = pipe.execute()
        for key, typ in zip((self._k_hasher, self._k_keys, self._k_vec), types, strict=True):
            if typ not in (b"hash", b"none"):
                raise ValueError(
                    f"{key!r} is a {typ.decode()}, not a hash: a foreign key under the store's "
                    "prefix (use another namespace/version, or delete it)"
                )
        if hasher is not None:
            for attr in ("keys", "to_arrays", "fingerprint"):
                if not callable(getattr(hasher, attr, None)):
                    raise ValueError(f"hasher {type(hasher).__name__} has no {attr}() method")
        if not meta:
            if hasher is None:
                raise ValueError(
                    f"no store under {self.prefix!r} on this server: pass the hasher to create one"
                )
            return hasher
        if meta.get("format") != STORE_FORMAT_TAG:
            raise ValueError(
                f"{self.prefix!r} holds an unknown format {meta.get('format')!r} (expected "
                f"{STORE_FORMAT_TAG}; rebuild it, or drop() it)"
            )
        for key, mine in (("metric", self.metric), ("vectors", self.vectors)):
            if meta.get(key) != mine:
                raise ValueError(
                    f"store {self.prefix!r} was built with {key}={meta.get(key)!r}, not {mine!r}"
                )
        stored = self._load_hasher(meta)
        if hasher is not None and hasher.fingerprint() != stored.fingerprint():
            raise ValueError(
                f"hash functions differ from those stored under {self.prefix!r}: "
                f"stored fingerprint {stored.fingerprint()[:16]}..., in use "
                f"{hasher.fingerprint()[:16]}... (use another namespace/version, or drop() it)"
            )
        if meta.get("complete") != "1" and self._incomplete == "raise":
            raise ValueError(self._incomplete_message(meta))
        return stored

    def _incomplete_message(self, meta: dict[str, str]) -> str:
        have = int(self.client.hlen(self._k_keys))
        started = meta.get("created", "?")
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started)))
        except ValueError:
            when = "?"
        running = " (or still running)" if meta.get("building") else ""
        return (
            f"store {self.prefix!r} is incomplete: a build started {when} stopped after {have} of "
            f"{meta.get('expected', '?')} items{running}. Finish it with RedisLSHStore(client, "
            "hasher, ..., incomplete='allow').build(vectors, ids, resume=True), rebuild it with "
            "build(vectors, ids), or drop() it"
        )

    def _load_hasher(self, meta: dict[str, str]) -> Any:
        from recall.lsh.hashers import hasher_from_arrays

        raw = self.client.hgetall(self._k_hasher)
        if not raw:
            raise ValueError(f"store {self.prefix!r} has metadata but no stored hash functions")
        arrays = {k.decode(): _from_npy(v) for k, v in raw.items()}
        hasher = hasher_from_arrays(arrays)
        if hasher.fingerprint() != meta.get("fingerprint"):
            raise ValueError(
                f"stored hash functions under {self.prefix!r} do not match their recorded "
                "fingerprint (corrupt or partially written store)"
            )
        return hasher

    def _meta_mapping(self, complete: bool, token: str, expected: int, ids_sha: str) -> dict:
        out = {
            "format": STORE_FORMAT_TAG,
            "kind": str(getattr(self.hasher, "kind", type(self.hasher).__name__)),
            "fingerprint": self.hasher.fingerprint(),
            "metric": self.metric,
            "dim": str(self.dim),
            "n_tables": str(self.n_tables),
            "vectors": self.vectors,
            "created": f"{time.time():.3f}",
            "complete": "1" if complete else "0",
            "expected": str(expected),
            "ids_sha": ids_sha,
        }
        if token:
            out["building"] = token
        return out

    def _create_store(
        self, complete: bool, token: str = "", expected: int = 0, ids_sha: str = ""
    ) -> bool:
        """Write metadata and hash functions unless a store exists (atomically). Returns whether
        this call created it; ``ValueError`` if an existing one has other hash functions."""
        meta = self._meta_mapping(complete, token, expected, ids_sha)
        args: list[Any] = [len(meta)]
        for k, v in meta.items():
            args.extend((k, v))
        for k, v in self.hasher.to_arrays().items():
            args.extend((k, _npy_bytes(v)))
        res = self._create(keys=[self._k_meta, self._k_hasher], args=args)
        if int(res[0]) == 1:
            return True
        stored = res[1].decode() if isinstance(res[1], bytes) else str(res[1])
        if stored != self.hasher.fingerprint():
            raise ValueError(self._guard_message(f"hasher:{stored}"))
        return False

    def _guard_message(self, why: str) -> str:
        if why == "missing":
            return f"store {self.prefix!r} no longer exists (dropped by another client?)"
        if why == "foreign":
            return f"{self._k_meta!r} is not a store's metadata hash (a foreign key)"
        if why.startswith("hasher:"):
            return (
                f"refused: the hash functions stored under {self.prefix!r} (fingerprint "
                f"{why[7:23]}...) are not this client's ({self.hasher.fingerprint()[:16]}...): "
                "another client built or rebuilt the store with other hash functions. Nothing "
                "was written; reconnect with RedisLSHStore(client, namespace=..., version=...) "
                "to use the stored ones"
            )
        if why == "superseded":
            return f"build of {self.prefix!r} superseded: another client rebuilt or dropped it"
        if why == "incomplete":
            meta = self._read_meta()
            return self._incomplete_message(meta) if meta else f"store {self.prefix!r} is gone"
        return f"store {self.prefix!r} refused the operation ({why})"

    def exists(self) -> bool:
        """Whether this namespace/version holds a store (metadata written)."""
        return bool(self.client.exists(self._k_meta))

    def drop(self) -> int:
        """Delete every key under this prefix (buckets, items, vectors, hash functions, meta).

        Returns the number of keys deleted. The client can then ``build`` again.
        """
        n = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=self.prefix + "*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                n += int(self.client.unlink(*batch))
                batch = []
        if batch:
            n += int(self.client.unlink(*batch))
        self._local_ids = np.empty(0, dtype=np.int64)
        self._local_x = np.empty((0, self.dim), dtype=np.float32)
        return n

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        return int(self.client.hlen(self._k_keys))

    @property
    def ids(self) -> NDArray[np.int64]:
        """Stored ids, sorted ascending (n,) int64 (Redis keeps no insertion order)."""
        raw = self.client.hkeys(self._k_keys)
        return np.sort(np.array([int(x) for x in raw], dtype=np.int64))

    # ------------------------------------------------------------------ local vectors
    def _set_local(self, ids: NDArray[np.int64], x: NDArray[np.float32]) -> None:
        order = np.argsort(ids, kind="stable")
        self._local_ids = np.ascontiguousarray(ids[order])
        self._local_x = np.ascontiguousarray(x[order], dtype=np.float32).reshape(-1, self.dim)

    def _upsert_local(self, ids: NDArray[np.int64], x: NDArray[np.float32]) -> None:
        keep = ~np.isin(self._local_ids, ids)
        self._set_local(
            np.concatenate([self._local_ids[keep], ids]), np.concatenate([self._local_x[keep], x])
        )

    def attach_vectors(self, x: NDArray[np.float32], i: NDArray[np.int64]) -> Self:
        """Give a ``vectors="local"`` client the re-rank vectors (prepared (n, d), ids (n,)).
        Writes nothing to Redis."""
        if self.vectors != "local":
            raise ValueError("attach_vectors is only for stores created with vectors='local'")
        self._set_local(i, x)
        return self

    def _local_lookup(self, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        pos = np.searchsorted(self._local_ids, ids)
        pos = np.minimum(pos, max(0, self._local_ids.shape[0] - 1))
        ok = self._local_ids.shape[0] > 0 and (self._local_ids[pos] == ids)
        if not np.all(ok):
            missing = ids if self._local_ids.shape[0] == 0 else ids[~ok]
            raise KeyError(
                f"stored ids with no local vector: {describe_values(missing)} "
                "(call attach_vectors with the item vectors)"
            )
        return self._local_x[pos]

    def _fingerprint(self) -> str:
        """The hasher's fingerprint, computed once per hasher object (the query path sends it
        with every call; hashing the projections each time cost a few percent of a query)."""
        if self._fp_of is not self.hasher:
            self._fp = self.hasher.fingerprint()
            self._fp_of = self.hasher
        return self._fp

    def _eval(self, script: Any, calls: list[list[str]], args: list[Any]) -> list[Any]:
        """Run ``script`` once per key list of ``calls`` with ``args``, all in one round trip;
        replies in order (errors as exception objects). ``EVALSHA`` is sent directly (redis-py's
        pipelined scripts ask ``SCRIPT EXISTS`` first: one more round trip per call); if the
        server lacks the script (restarted, ``SCRIPT FLUSH``), it is loaded and the calls sent
        again."""
        import redis

        for attempt in range(2):
            if len(calls) == 1:
                try:
                    out: list[Any] = [
                        self.client.execute_command(
                            "EVALSHA", script.sha, len(calls[0]), *calls[0], *args
                        )
                    ]
                except redis.exceptions.NoScriptError as exc:
                    out = [exc]
                except redis.ResponseError as exc:
                    out = [exc]
            else:
                with self.client.pipeline(transaction=False) as pipe:
                    for keys in calls:
                        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                    out = pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, redis.exceptions.NoScriptError) for r in out):
                script.sha = self.client.script_load(script.script)
                continue
            return out
        return out  # pragma: no cover - the loop returns
