"""The write path of the Redis bucket store: bulk build (resumable), add, update, delete.

Every write goes through the write script of :mod:`recall.lsh.redis_lua` (or, for
``bulk="transaction"``, a ``WATCH`` ed ``MULTI``/``EXEC``), which checks the stored hash
functions' fingerprint and the build token inside Redis before it changes anything.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from embeddings.validate import as_ids, describe_values
from recall.lsh.redis_base import _StoreBase
from recall.lsh.redis_codec import _hex_keys

log = logging.getLogger("recall.lsh.redis_buckets")


class _Writes(_StoreBase):
    """Bulk load and item writes of a store (mixed into ``RedisBuckets``)."""

    def build(
        self,
        x: NDArray[np.float32],
        i: NDArray[np.int64],
        bulk: Literal["script", "transaction"] = "script",
        resume: bool = False,
    ) -> Self:
        """Replace the store's contents with prepared vectors ``x`` (n, d) float32 under ids ``i``
        (n,) int64, validated by the caller (bulk load).

        Everything under the prefix is deleted, the hash functions
        and metadata written with ``complete=0`` and a build token, the items loaded in chunks of
        ``chunk_size`` (every chunk checks the token and the hash functions' fingerprint inside
        Redis) and finally ``complete`` set to 1: other clients cannot connect to, or query, the
        store in between. ``resume=True`` finishes an incomplete build of the same ids with the
        same hash functions, writing only the items not yet stored. With ``vectors="buckets"``
        the bucket record strings are written last, one per bucket, from all items.

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
            self._run_write("add", i_w, x_w, chunks_per_round_trip=8, keys=k_w, token=token,
                            records=False)  # fmt: skip
        else:
            for s in range(0, i_w.shape[0], self.chunk_size):
                sl = slice(s, s + self.chunk_size)
                self._bulk_chunk(x_w[sl], i_w[sl], k_w[sl], token)
        if self.vectors == "buckets":  # all of them, also those of a resumed build's items
            self._write_records(x, i, keys, token)
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

    def _write_records(
        self, x: NDArray[np.float32], i: NDArray[np.int64], keys: NDArray[np.uint64], token: str
    ) -> None:
        """Write the record string of every bucket of the items (``vectors="buckets"``): items
        grouped per bucket on the client, one ``SET`` per bucket (exact length, where per-item
        ``APPEND`` s would cost a call each and grow strings by doubling), about 4 MB or 1,000
        buckets per guarded script call, 8 calls per round trip."""
        recs = np.empty(i.shape[0], dtype=self._record)
        recs["id"] = i
        recs["x"] = x
        size = self._record.itemsize
        calls: list[tuple[list[str], list[bytes]]] = []
        names: list[str] = []
        blobs: list[bytes] = []
        held = 0
        for t in range(self.n_tables):
            col = keys[:, t]
            order = np.argsort(col, kind="stable")
            sk = col[order]
            cuts = np.flatnonzero(sk[1:] != sk[:-1]) + 1
            starts = np.concatenate([[0], cuts])
            ends = np.concatenate([cuts, [sk.shape[0]]])
            packed = recs[order].tobytes()
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                names.append(f"{self.prefix}r:{t}:{int(sk[a]):016x}")
                blobs.append(packed[a * size : b * size])
                held += (b - a) * size
                if len(names) >= 1000 or held >= 4 << 20:
                    calls.append((names, blobs))
                    names, blobs, held = [], [], 0
        if names:
            calls.append((names, blobs))
        fp = self.hasher.fingerprint()
        for g in range(0, len(calls), 8):
            with self.client.pipeline(transaction=False) as pipe:
                for nm, bl in calls[g : g + 8]:
                    self._set_records(keys=[self._k_meta, *nm], args=[fp, token, *bl], client=pipe)
                results = pipe.execute(raise_on_error=False)
            for res in results:
                if isinstance(res, Exception):
                    raise ValueError(f"store {self.prefix!r}: record write failed ({res})") from res
                if int(res[0]) != 1:
                    raise ValueError(self._guard_message(res[1].decode()))

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
                if self._vectors_in_redis:
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
        records: bool = True,
    ) -> list[Any]:
        args: list[Any] = [
            mode,
            self.prefix,
            self.n_tables,
            self._storage_arg(records),
            self.hasher.fingerprint(),
            token,
        ]
        recs = self.vectors == "buckets" and records
        if x is None:
            if recs:  # (id, id as 8 bytes): the record to remove starts with them
                for j in ids.tolist():
                    args.extend((j, np.int64(j).astype("<i8").tobytes()))
            else:
                args.extend(ids.tolist())
            return args
        store_vec = self._vectors_in_redis
        if recs:
            rec = np.empty(ids.shape[0], dtype=self._record)
            rec["id"] = ids
            rec["x"] = x
            for j, h, row, r in zip(ids.tolist(), _hex_keys(keys), x, rec, strict=True):
                args.extend((j, h, row.tobytes(), r.tobytes()))
            return args
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
        records: bool = True,
    ) -> int:
        """Apply ``mode`` through the write script, ``chunk_size`` items per (atomic) call and
        ``chunks_per_round_trip`` calls per pipelined round trip. Every call first checks, inside
        Redis, that the store holds this client's hash functions and is complete (or is this
        build's, ``token``). Raises on the first refused chunk; the error says how many items of
        earlier chunks were applied, and ``self._applied`` holds their count. ``records=False``
        leaves the bucket records (``vectors="buckets"``) to the caller (a build)."""
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
                        records,
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

    def add(self, x: NDArray[np.float32], i: NDArray[np.int64]) -> Self:
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

    def update(self, x: NDArray[np.float32], i: NDArray[np.int64]) -> Self:
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

    def delete(self, ids: ArrayLike) -> Self:
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
