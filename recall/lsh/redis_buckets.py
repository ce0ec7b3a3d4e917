"""Redis bucket storage of the LSH index: the buckets as Redis sets, the robustness in Lua.

:class:`RedisBuckets` is the storage backend that :class:`recall.redis_store.RedisLSHStore` (an
LSH index) keeps its buckets in. It stores and fetches; it never scores or votes: a query batch's
candidates (every member of the buckets its keys name, with those buckets' keys and the vectors)
are loaded into the LSH index's in-memory tables and searched by the same compiled kernel as a
local index (:mod:`recall.lsh.kernels`), so the voting rule and the re-rank exist once.

Everything of one store lives under the prefix ``{<namespace>:v<version>}:`` (the braces are a
Redis Cluster hash tag: all keys of one store share a slot, so the multi-key scripts of
``redis_lua`` also run on a cluster), so several stores and versions share a server without
meeting:

==============================  =========  ================================================
key                             type       content
==============================  =========  ================================================
``P:meta``                      HASH       format tag, hasher kind and fingerprint, metric,
                                           dim, n_tables, vector storage mode, ``complete``
                                           ("1" once a build finished; "0" and a ``building``
                                           token while one runs), ``expected`` items
``P:hasher``                    HASH       the hash functions: array name -> ``.npy`` bytes
                                           (``hasher.to_arrays()``), never users' buckets
``P:b:<t>:<key>``               SET        inverted index: ids of the items in bucket
                                           ``key`` (16 hex digits of the uint64) of table t
``P:keys``                      HASH       item id -> its L bucket keys (16 hex digits each,
                                           table order), so items can be moved or deleted
``P:vec``                       HASH       item id -> prepared vector, float32 little-endian
                                           bytes (only with ``vectors="redis"``)
==============================  =========  ================================================

Ids are stored as decimal strings (Redis keeps small integer sets in its compact ``intset``).
:meth:`RedisBuckets.gather` runs one Lua script per query (pipelined over the batch): it checks the
guard and returns, in one atomic snapshot, the members of each of the query's L buckets and the
vectors of their union (three bulk strings per query); the client turns the batch's replies into
a small table (members, their bucket keys in the probed tables, vectors). The scripts are in
:mod:`recall.lsh.redis_lua`.

Writes keep both directions consistent: ``add`` / ``update`` / ``delete`` run a Lua script per
chunk which first checks every id of the chunk (new for ``add``, present for ``update`` /
``delete``) and only then moves the items between bucket sets and rewrites their bucket lists and
vectors, so a chunk is applied entirely or not at all. Ids are checked for the whole call before
the first chunk is sent. ``build`` bulk-loads with the same script, several chunks per pipelined
round trip (or, ``bulk="transaction"``, one ``MULTI``/``EXEC`` pipeline of grouped ``SADD`` s per
chunk).

At connect time the stored hash functions are loaded; if a hasher is passed as well, its
``fingerprint()`` must equal the stored one, otherwise ``ValueError`` — a store is never queried
with hash functions other than those its buckets were built with. The check is repeated *inside*
every write script and every query script (atomically, against ``P:meta``): a client whose hash
functions differ from the stored ones — a second writer with another hasher, or a writer that
outlived a drop-and-rebuild by another process — has every write refused, so no item is ever
filed under buckets of other hash functions. ``verify`` re-hashes the stored vectors with the
stored hash functions and reports items that are not in the buckets their vectors hash to.

A build becomes visible only when complete: ``build`` writes the metadata with ``complete=0`` and
a build token, loads the chunks (each write checks the token), then flips ``complete`` to 1. A
client refuses to connect to an incomplete store (a killed build) with a ``ValueError`` saying
how far it got; ``RedisLSHStore(client, hasher, ...).build(vectors, ids, resume=True)`` with the
same hasher and ids finishes it, ``build(...)`` starts over, ``drop()`` removes it. Queries of a
client connected before a rebuild started are refused until the store is complete again.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import time
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids, describe_values
from recall.base import Metric
from recall.lsh.redis_lua import CREATE_LUA, FINISH_LUA, GATHER_LUA, WRITE_LUA

__all__ = ["RedisBuckets", "STORE_FORMAT_TAG"]

log = logging.getLogger(__name__)

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


class RedisBuckets:
    """The buckets of one LSH store in Redis (see the module docstring for layout and guards).

    Args:
        client: a ``redis.Redis`` client (``decode_responses=False``) or a ``redis://`` URL.
        hasher: an ``E2LSHHasher`` / ``SimHashHasher``. Required to create a new store; for an
            existing one optional (the stored one is used) and, if given, it must have the stored
            fingerprint (``ValueError`` otherwise).
        namespace, version: the key prefix ``{namespace:v<version>}:``.
        metric: recorded with the store; a client of another metric is refused.
        vectors: ``"redis"`` keeps the re-rank vectors in Redis; ``"local"`` in this process only
            (a new client must call :meth:`attach_vectors`). Must match the store.
        chunk_size: items per script call on writes; queries per pipeline on :meth:`gather`.
        incomplete: ``"raise"`` (connecting to an unfinished build is a ``ValueError``) or
            ``"allow"`` (only to finish it with ``build(..., resume=True)``, rebuild or drop it).

    Vectors passed to the write methods are *prepared* (unit-normalised for cosine) by the index.
    """

    def __init__(
        self,
        client: Any,
        hasher: Any = None,
        namespace: str = "embrecall",
        version: int | str = 1,
        metric: Metric = "cosine",
        vectors: Literal["redis", "local"] = "redis",
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
        if vectors not in ("redis", "local"):
            raise ValueError(f"vectors must be 'redis' or 'local', got {vectors!r}")
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

    def build(
        self,
        x: NDArray[np.float32],
        i: NDArray[np.int64],
        bulk: Literal["script", "transaction"] = "script",
        resume: bool = False,
    ) -> RedisBuckets:
        """Replace the store's contents with prepared vectors ``x`` (n, d) float32 under ids ``i``
        (n,) int64, validated by the caller (bulk load).

        Everything under the prefix is deleted, the hash functions
        and metadata written with ``complete=0`` and a build token, the items loaded in chunks of
        ``chunk_size`` (every chunk checks the token and the hash functions' fingerprint inside
        Redis) and finally ``complete`` set to 1: other clients cannot connect to, or query, the
        store in between. ``resume=True`` finishes an incomplete build of the same ids with the
        same hash functions, writing only the items not yet stored.

        - ``bulk="script"`` (default): the write script per chunk (atomic), 8 chunks per
          pipelined round trip — the server does the per-item bucket ``SADD`` s;
        - ``bulk="transaction"``: one ``MULTI``/``EXEC`` pipeline per chunk (``WATCH`` ing the
          metadata, so a concurrent rebuild aborts it) with one ``SADD`` per bucket (members
          grouped on the client) and one ``HSET`` of the item bucket lists and vectors — fewer
          commands, but client-side command packing makes it slower in redis-py (see
          ``reports/redis``).
        """
        import hashlib

        if bulk not in ("script", "transaction"):
            raise ValueError(f"bulk must be 'script' or 'transaction', got {bulk!r}")
        ids_sha = hashlib.sha256(np.sort(i).tobytes()).hexdigest()[:32]
        keys = self.hasher.keys(x)
        token = (
            f"{socket.gethostname()}:{time.time():.6f}:{np.random.default_rng().integers(2**62)}"
        )
        if resume:
            todo = self._take_over(token, i.shape[0], ids_sha)
            todo &= ~self._present(i)
            x_w, i_w, k_w = x[todo], i[todo], keys[todo]
        else:
            self.drop()
            if not self._create_store(False, token, i.shape[0], ids_sha):
                raise ValueError(
                    f"another client created a store under {self.prefix!r} during this build"
                )
            x_w, i_w, k_w = x, i, keys
        if bulk == "script":
            self._run_write("add", i_w, x_w, chunks_per_round_trip=8, keys=k_w, token=token)
        else:
            for s in range(0, i_w.shape[0], self.chunk_size):
                sl = slice(s, s + self.chunk_size)
                self._bulk_chunk(x_w[sl], i_w[sl], k_w[sl], token)
        res = self._finish(
            keys=[self._k_meta, self._k_keys], args=[self.hasher.fingerprint(), token]
        )
        if int(res[0]) != 1:
            raise ValueError(self._guard_message(res[1].decode()))
        if int(res[1]) != i.shape[0]:  # pragma: no cover - only with a concurrent writer
            raise ValueError(f"store {self.prefix!r} holds {res[1]} items after building {len(i)}")
        if self.vectors == "local":
            self._set_local(i, x)
        log.info("bulk-loaded %d items into %s", i.shape[0], self.prefix)
        return self

    def _take_over(self, token: str, n: int, ids_sha: str) -> NDArray[np.bool_]:
        """For ``build(resume=True)``: make this build the owner of an incomplete store of the
        same ids and hash functions (atomically, WATCH on the metadata)."""
        import redis

        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self._k_meta)
                meta = {k.decode(): v.decode() for k, v in pipe.hgetall(self._k_meta).items()}
                if not meta:
                    raise ValueError(f"resume: no store under {self.prefix!r} to resume")
                if meta.get("complete") == "1":
                    raise ValueError(f"resume: the store under {self.prefix!r} is complete")
                if meta.get("fingerprint") != self.hasher.fingerprint():
                    raise ValueError(self._guard_message(f"hasher:{meta.get('fingerprint')}"))
                if meta.get("ids_sha") != ids_sha or meta.get("expected") != str(n):
                    raise ValueError(
                        f"resume: the interrupted build of {self.prefix!r} was of other ids "
                        f"({meta.get('expected')} items); rebuild with build(vectors, ids)"
                    )
                pipe.multi()
                pipe.hset(self._k_meta, "building", token)
                pipe.execute()
            except redis.WatchError as exc:
                raise ValueError(f"resume: {self.prefix!r} changed meanwhile; retry") from exc
        return np.ones(n, dtype=bool)

    def _bulk_chunk(
        self, x: NDArray[np.float32], ids: NDArray[np.int64], keys: NDArray, token: str
    ) -> None:
        import redis

        hexes = _hex_keys(keys)
        id_list = ids.tolist()
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self._k_meta)  # a rebuild / drop by another client aborts the EXEC
                fp, building = pipe.hmget(self._k_meta, "fingerprint", "building")
                if fp is None:
                    raise ValueError(self._guard_message("missing"))
                if fp.decode() != self.hasher.fingerprint():
                    raise ValueError(self._guard_message(f"hasher:{fp.decode()}"))
                if building is None or building.decode() != token:
                    raise ValueError(self._guard_message("superseded"))
                pipe.multi()
                for t in range(self.n_tables):
                    col = keys[:, t]
                    order = np.argsort(col, kind="stable")
                    sk = col[order]
                    cuts = np.flatnonzero(sk[1:] != sk[:-1]) + 1
                    for grp in np.split(order, cuts):
                        bucket = f"{self.prefix}b:{t}:{int(col[grp[0]]):016x}"
                        pipe.sadd(bucket, *ids[grp].tolist())
                pipe.hset(self._k_keys, mapping=dict(zip(id_list, hexes, strict=True)))
                if self.vectors == "redis":
                    pipe.hset(
                        self._k_vec,
                        mapping={j: row.tobytes() for j, row in zip(id_list, x, strict=True)},
                    )
                pipe.execute()
            except redis.WatchError as exc:
                raise ValueError(self._guard_message("superseded")) from exc

    def _present(self, ids: NDArray[np.int64]) -> NDArray[np.bool_]:
        out = np.zeros(ids.shape[0], dtype=bool)
        for s in range(0, ids.shape[0], 10_000):
            part = ids[s : s + 10_000].tolist()
            with self.client.pipeline(transaction=False) as pipe:
                for j in part:
                    pipe.hexists(self._k_keys, j)
                out[s : s + len(part)] = pipe.execute()
        return out

    def _chunk_args(
        self,
        mode: str,
        ids: NDArray[np.int64],
        x: NDArray[np.float32] | None,
        keys: Any,
        token: str = "",
    ) -> list[Any]:
        args: list[Any] = [
            mode,
            self.prefix,
            self.n_tables,
            "1" if self.vectors == "redis" else "0",
            self.hasher.fingerprint(),
            token,
        ]
        if x is None:
            args.extend(ids.tolist())
            return args
        store_vec = self.vectors == "redis"
        for j, h, row in zip(ids.tolist(), _hex_keys(keys), x, strict=True):
            args.extend((j, h, row.tobytes() if store_vec else b""))
        return args

    def _run_write(
        self,
        mode: str,
        ids: NDArray[np.int64],
        x: NDArray[np.float32] | None,
        chunks_per_round_trip: int = 1,
        keys: NDArray[np.uint64] | None = None,
        token: str = "",
    ) -> int:
        """Apply ``mode`` through the write script, ``chunk_size`` items per (atomic) call and
        ``chunks_per_round_trip`` calls per pipelined round trip. Every call first checks, inside
        Redis, that the store holds this client's hash functions and is complete (or is this
        build's, ``token``). Raises on the first refused chunk; the error says how many items of
        earlier chunks were applied, and ``self._applied`` holds their count."""
        if keys is None and x is not None:
            keys = self.hasher.keys(x)
        starts = list(range(0, ids.shape[0], self.chunk_size))
        self._applied = 0
        for g in range(0, len(starts), chunks_per_round_trip):
            group = starts[g : g + chunks_per_round_trip]
            with self.client.pipeline(transaction=False) as pipe:
                for s in group:
                    sl = slice(s, s + self.chunk_size)
                    args = self._chunk_args(
                        mode,
                        ids[sl],
                        None if x is None else x[sl],
                        None if keys is None else keys[sl],
                        token,
                    )
                    self._write(
                        keys=[self._k_keys, self._k_vec, self._k_meta], args=args, client=pipe
                    )
                results = pipe.execute(raise_on_error=False)
            for s, res in zip(group, results, strict=True):
                if isinstance(res, Exception):
                    raise ValueError(f"store {self.prefix!r}: write failed ({res})") from res
                code, payload = int(res[0]), res[1]
                if code == 1:
                    self._applied += int(payload)
                    continue
                done = f" ({self._applied} items of earlier chunks were applied)" if s else ""
                if code == -1:
                    raise ValueError(self._guard_message(payload.decode()) + done)
                bad = np.array([int(v) for v in payload], dtype=np.int64)
                if mode == "add":
                    raise ValueError(
                        f"ids already in the index (the store): {describe_values(bad)}{done}"
                    )
                raise KeyError(f"unknown ids: {describe_values(bad)}{done}")
        return self._applied

    def add(self, x: NDArray[np.float32], i: NDArray[np.int64]) -> RedisBuckets:
        """Insert new items: prepared vectors (m, d), validated ids (m,); creates the store if
        there is none.

        ``ValueError`` naming ids already stored, or if the stored hash functions are not this
        client's; nothing is written then. Each chunk is atomic; if a chunk after the first is
        refused (a concurrent writer stored one of its ids meanwhile), the chunks this call
        already applied are deleted again before the error is raised, so a failed ``add`` leaves
        no item of its own behind (concurrent readers may have seen them in between).
        """
        if not self.exists():
            self._create_store(True)
        clash = i[self._present(i)]
        if clash.size:
            raise ValueError(f"ids already in the index (the store): {describe_values(clash)}")
        try:
            self._run_write("add", i, x)
        except (ValueError, KeyError):
            applied = int(getattr(self, "_applied", 0))
            if applied:  # chunks are applied in order: the first `applied` ids are ours
                self._run_write("delete", i[:applied], None)
            raise
        if self.vectors == "local":
            self._set_local(
                np.concatenate([self._local_ids, i]), np.concatenate([self._local_x, x])
            )
        return self

    def update(self, x: NDArray[np.float32], i: NDArray[np.int64]) -> RedisBuckets:
        """Replace the vectors of stored items: re-hash, move them between buckets, rewrite both
        directions. ``KeyError`` naming unknown ids (checked first: nothing written). Each chunk
        is atomic; if a concurrent delete makes a later chunk fail, the earlier chunks stay
        applied and the error says how many items were."""
        unknown = i[~self._present(i)]
        if unknown.size:
            raise KeyError(f"unknown ids: {describe_values(unknown)}")
        self._run_write("update", i, x)
        if self.vectors == "local":
            self._upsert_local(i, x)
        return self

    def delete(self, ids: ArrayLike) -> RedisBuckets:
        """Remove items from their buckets and drop their bucket lists and vectors.

        ``KeyError`` naming unknown ids (checked first: nothing removed). Each chunk is atomic; if
        a concurrent delete makes a later chunk fail, the earlier chunks stay applied and the
        error says how many items were.
        """
        i = as_ids(ids, name="ids")
        if i.size == 0:
            raise ValueError("ids: empty")
        unknown = i[~self._present(i)]
        if unknown.size:
            raise KeyError(f"unknown ids: {describe_values(unknown)}")
        self._run_write("delete", i, None)
        if self.vectors == "local":
            keep = ~np.isin(self._local_ids, i)
            self._set_local(self._local_ids[keep], self._local_x[keep])
        return self

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

    def attach_vectors(self, x: NDArray[np.float32], i: NDArray[np.int64]) -> RedisBuckets:
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

    # ------------------------------------------------------------------ fetch
    def gather(
        self, keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.float32], int]:
        """The buckets named by ``keys`` (nq, L) uint64 (bucket ``keys[q, t]`` of table t) as a
        small table: ids (c,) int64 ascending of every member (each once), their bucket keys
        (c, L) uint64 and prepared vectors (c, dim) float32; and the store's size (items).

        An item's key in table t is the probed key whose bucket holds it, or else a key that no
        query of the batch probes in table t: searching these rows with the home buckets of
        ``keys`` finds exactly what the whole store would. One guarded Lua call per query (an
        atomic snapshot), ``chunk_size`` queries per round trip: a single query costs one round
        trip (``EVALSHA`` sent directly, the script loaded once per connection's server).
        """
        nq, n_tables = keys.shape
        hexes = _hex_keys(keys)
        storevec = "1" if self.vectors == "redis" else "0"
        fp = self._fingerprint()
        fixed = [self._k_keys, self._k_vec, self._k_meta]
        member_parts: list[bytes] = []
        count_parts: list[bytes] = []
        kept_parts: list[bytes] = []
        vec_parts: list[bytes] = []
        n_items = 0
        for s in range(0, nq, self.chunk_size):
            calls = [
                [
                    *fixed,
                    *(f"{self.prefix}b:{t}:{h[16 * t : 16 * t + 16]}" for t in range(n_tables)),
                ]
                for h in hexes[s : s + self.chunk_size]
            ]
            for res in self._eval(self._gather, calls, [storevec, fp]):
                if isinstance(res, Exception):
                    raise ValueError(
                        f"store {self.prefix!r}: query failed ({res}); a foreign key under the "
                        "prefix? verify() lists them"
                    ) from res
                if res[0] == b"!":
                    if res[1] == b"missing":  # never built, or dropped: an empty store
                        return self._gathered_nothing(0)
                    raise ValueError(self._guard_message(res[1].decode()))
                if res[0]:
                    member_parts.append(res[0])
                count_parts.append(res[1])
                if res[2]:
                    kept_parts.append(res[2])
                    vec_parts.append(res[3])
                n_items = int(res[4])
        n_of = _parse_ids(b",".join(count_parts))
        if n_of.shape[0] != nq * n_tables:
            raise ValueError(f"store {self.prefix!r}: malformed bucket reply")
        empty = self._gathered_nothing(n_items)
        if not member_parts:
            return empty
        members = _parse_ids(b",".join(member_parts))
        if members.shape[0] != int(n_of.sum()):
            raise ValueError(f"store {self.prefix!r}: malformed bucket reply")
        member_key = np.repeat(np.ascontiguousarray(keys).reshape(-1), n_of)
        member_table = np.repeat(np.tile(np.arange(n_tables), nq), n_of)
        if self.vectors == "redis":
            if not kept_parts:
                return empty
            kept = _parse_ids(b",".join(kept_parts))
            x_all = np.frombuffer(b"".join(vec_parts), dtype=np.float32).reshape(-1, self.dim)
            if x_all.shape[0] != kept.shape[0]:
                raise ValueError(f"store {self.prefix!r}: vectors of the wrong size stored")
            if nq == 1:  # one snapshot: its distinct members come once each
                order = np.argsort(kept)
                ids, x = kept[order], x_all[order]
            else:
                ids, first = np.unique(kept, return_index=True)
                x = x_all[first]
        else:
            ids = np.unique(members)
            x = self._local_lookup(ids)
        pos = np.minimum(np.searchsorted(ids, members), ids.shape[0] - 1)
        ok = ids[pos] == members  # members without a stored vector (none in a consistent store)
        item_keys = np.empty((ids.shape[0], n_tables), dtype=np.uint64)
        item_keys[:] = _unprobed_keys(keys)
        item_keys[pos[ok], member_table[ok]] = member_key[ok]
        return ids, item_keys, np.ascontiguousarray(x), n_items

    def _gathered_nothing(
        self, n_items: int
    ) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.float32], int]:
        return (
            np.zeros(0, dtype=np.int64),
            np.zeros((0, self.n_tables), dtype=np.uint64),
            np.zeros((0, self.dim), dtype=np.float32),
            n_items,
        )

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

    def bucket_sizes(self) -> dict[tuple[int, int], int]:
        """``{(table, key): size}`` of every bucket set (a SCAN: for diagnostics and tests)."""
        out: dict[tuple[int, int], int] = {}
        pat = self.prefix + "b:*"
        names = list(self.client.scan_iter(match=pat, count=10_000))
        for s in range(0, len(names), 10_000):
            part = names[s : s + 10_000]
            with self.client.pipeline(transaction=False) as pipe:
                for nm in part:
                    pipe.scard(nm)
                sizes = pipe.execute(raise_on_error=False)
            for nm, size in zip(part, sizes, strict=True):
                fields = nm.decode(errors="replace")[len(self.prefix) :].split(":")
                if isinstance(size, Exception) or len(fields) != 3:
                    raise ValueError(
                        f"{nm!r} is not a bucket set: a foreign key under the store's prefix"
                    )
                try:
                    out[(int(fields[1]), int(fields[2], 16))] = int(size)
                except ValueError as exc:
                    raise ValueError(f"{nm!r} is not a bucket key of the store") from exc
        return out

    def verify(self) -> dict[str, int]:
        """Check the store; ``ValueError`` describing the first inconsistencies.

        - the store is complete (no build interrupted or running) and its stored hash functions
          match their recorded fingerprint;
        - both directions agree: every item's L buckets contain it, every bucket member lists
          that bucket, no bucket is empty, and (``vectors="redis"``) vectors exist exactly for
          the items;
        - every item is in the buckets its vector hashes to with the *stored* hash functions
          (vectors from Redis, or the attached local ones): items filed by a writer with other
          hash functions are found;
        - every key under the prefix is one of the store's, of the right type (a foreign key,
          e.g. a string named like a bucket, is reported, not a ``WRONGTYPE`` error).

        Returns ``{"items": n, "buckets": b, "memberships": n * L, "rehashed": m}`` when
        consistent (``m`` items whose vectors were re-hashed).
        """
        import redis

        meta = self._read_meta()
        if not meta:
            raise ValueError(f"no store under {self.prefix!r}")
        stored = self._load_hasher(meta)
        problems: list[str] = []
        if meta.get("complete") != "1":
            problems.append(self._incomplete_message(meta))
        if stored.fingerprint() != self.hasher.fingerprint():
            problems.append(self._guard_message(f"hasher:{stored.fingerprint()}"))
        expected_types = {
            self._k_meta: b"hash",
            self._k_hasher: b"hash",
            self._k_keys: b"hash",
            self._k_vec: b"hash",
        }
        bucket_names: list[bytes] = []
        foreign: list[str] = []
        bucket_re = re.compile(r"^b:(\d+):([0-9a-f]{16})$")
        names = list(self.client.scan_iter(match=self.prefix + "*", count=10_000))
        types: list[bytes] = []
        for s in range(0, len(names), 10_000):
            with self.client.pipeline(transaction=False) as pipe:
                for nm in names[s : s + 10_000]:
                    pipe.type(nm)
                types.extend(pipe.execute())
        for nm, typ in zip(names, types, strict=True):
            text = nm.decode(errors="replace")
            want = expected_types.get(text)
            if want is not None:
                if typ != want:
                    foreign.append(f"{text!r} is a {typ.decode()}, expected a {want.decode()}")
                continue
            m = bucket_re.match(text[len(self.prefix) :])
            if m is None or int(m.group(1)) >= self.n_tables:
                foreign.append(f"{text!r} ({typ.decode()}) is not a key of the store")
            elif typ != b"set":
                foreign.append(f"{text!r} is a {typ.decode()}, not a bucket set")
            else:
                bucket_names.append(nm)
        if foreign:
            raise ValueError(
                f"store {self.prefix!r} holds foreign keys under its prefix: "
                + "; ".join(foreign[:3])
                + (f" ({len(foreign)} in all)" if len(foreign) > 3 else "")
            )
        try:
            raw_items = self.client.hgetall(self._k_keys)
        except redis.ResponseError as exc:  # pragma: no cover - type checked above
            raise ValueError(f"store {self.prefix!r}: unreadable item table ({exc})") from exc
        items: dict[int, str] = {}
        for k, v in raw_items.items():
            try:
                items[int(k)] = v.decode()
            except ValueError:
                problems.append(f"item table holds a non-integer id {k!r}")
        expected: set[tuple[int, str, int]] = set()
        for j, h in items.items():
            if len(h) != 16 * self.n_tables:
                raise ValueError(
                    f"item {j}: bucket list of length {len(h)}, expected {16 * self.n_tables}"
                )
            for t in range(self.n_tables):
                expected.add((t, h[16 * t : 16 * t + 16], j))
        found: set[tuple[int, str, int]] = set()
        for s in range(0, len(bucket_names), 1000):
            part = bucket_names[s : s + 1000]
            with self.client.pipeline(transaction=False) as pipe:
                for nm in part:
                    pipe.smembers(nm)
                members = pipe.execute()
            for nm, mem in zip(part, members, strict=True):
                _, t, key = nm.decode()[len(self.prefix) :].split(":")
                for m in mem:
                    try:
                        found.add((int(t), key, int(m)))
                    except ValueError:
                        problems.append(f"bucket {nm.decode()!r} holds a non-integer id {m!r}")
        stale = found - expected
        missing = expected - found
        if stale:
            problems.append(
                f"{len(stale)} bucket members not listed by their item, e.g. {sorted(stale)[:3]}"
            )
        if missing:
            problems.append(
                f"{len(missing)} item buckets lacking the item, e.g. {sorted(missing)[:3]}"
            )
        rehashed = 0
        misfiled: list[int] = []
        ids_sorted = sorted(items)
        if self.vectors == "redis":
            vec_ids = {int(k) for k in self.client.hkeys(self._k_vec)}
            if vec_ids != set(items):
                problems.append(
                    f"vectors for {len(vec_ids - set(items))} unknown items, "
                    f"missing for {len(set(items) - vec_ids)} items"
                )
            for s in range(0, len(ids_sorted), 10_000):
                part = [j for j in ids_sorted[s : s + 10_000] if j in vec_ids]
                if not part:
                    continue
                raw = self.client.hmget(self._k_vec, part)
                bad_len = [j for j, r in zip(part, raw, strict=True) if len(r) != 4 * self.dim]
                if bad_len:
                    problems.append(f"vectors of the wrong size for items {bad_len[:3]}")
                    continue
                x = np.frombuffer(b"".join(raw), dtype=np.float32).reshape(-1, self.dim)
                misfiled += self._misfiled(stored, part, x, items)
                rehashed += len(part)
        elif self._local_ids.shape[0]:
            have = set(self._local_ids.tolist())
            part = [j for j in ids_sorted if j in have]
            if part:
                x = self._local_lookup(np.asarray(part, dtype=np.int64))
                misfiled += self._misfiled(stored, part, x, items)
                rehashed += len(part)
        if misfiled:
            problems.append(
                f"{len(misfiled)} items are not in the buckets their vectors hash to with the "
                f"stored hash functions (written with other hash functions?), e.g. "
                f"{describe_values(np.asarray(misfiled))}"
            )
        if problems:
            raise ValueError(f"store {self.prefix!r} is inconsistent: " + "; ".join(problems))
        return {
            "items": len(items),
            "buckets": len(bucket_names),
            "memberships": len(found),
            "rehashed": rehashed,
        }

    @staticmethod
    def _misfiled(
        hasher: Any, ids: list[int], x: NDArray[np.float32], items: dict[int, str]
    ) -> list[int]:
        """Ids (of ``ids`` with prepared vectors ``x``) whose bucket list differs from the keys
        ``hasher`` gives their vectors."""
        hexes = _hex_keys(hasher.keys(x))
        return [j for j, h in zip(ids, hexes, strict=True) if items[j] != h]
