"""The query path of the Redis bucket store: a batch's buckets in one round trip per chunk.

:meth:`_Query.gather` runs the guarded gather script of :mod:`recall.lsh.redis_lua` once per query
(sent directly or pipelined, ``chunk_size`` queries per round trip) and turns the replies into the
small table the LSH index searches: ids, their bucket keys in the probed tables, vectors. With
``vectors="buckets"`` the script reads each probed bucket's record string instead (members and
their vectors in one ``GET`` per table), so the server does no work per candidate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from recall.lsh.redis_base import _StoreBase
from recall.lsh.redis_codec import _hex_keys, _parse_ids, _unprobed_keys


class _Query(_StoreBase):
    """Reads of a store for search (mixed into ``RedisBuckets``)."""

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
        if self.vectors == "buckets":
            return self._gather_records_of(keys)
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
                if self._store_missing(res):
                    return self._gathered_nothing(0)
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

    def _gather_records_of(
        self, keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.float32], int]:
        """:meth:`gather` for ``vectors="buckets"``: per query one guarded script that reads the
        L bucket record strings (ids and vectors together, one ``GET`` each) and the store's
        size; no per-member work on the server, one string per bucket in the reply."""
        nq, n_tables = keys.shape
        hexes = _hex_keys(keys)
        fp = self._fingerprint()
        fixed = [self._k_keys, self._k_meta]
        blobs: list[bytes] = []
        n_items = 0
        for s in range(0, nq, self.chunk_size):
            calls = [
                [
                    *fixed,
                    *(f"{self.prefix}r:{t}:{h[16 * t : 16 * t + 16]}" for t in range(n_tables)),
                ]
                for h in hexes[s : s + self.chunk_size]
            ]
            for res in self._eval(self._gather_records, calls, [fp]):
                if self._store_missing(res):
                    return self._gathered_nothing(0)
                if len(res) != n_tables + 1:
                    raise ValueError(f"store {self.prefix!r}: malformed bucket reply")
                n_items = int(res[0])
                blobs.extend(res[1:])
        size = self._record.itemsize
        n_of = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
        if np.any(n_of % size):
            raise ValueError(f"store {self.prefix!r}: bucket records of the wrong size stored")
        n_of //= size
        if not n_of.any():
            return self._gathered_nothing(n_items)
        rec = np.frombuffer(b"".join(blobs), dtype=self._record)
        members = rec["id"]
        ids, first = np.unique(members, return_index=True)
        x = np.ascontiguousarray(rec["x"][first])
        member_key = np.repeat(np.ascontiguousarray(keys).reshape(-1), n_of)
        member_table = np.repeat(np.tile(np.arange(n_tables), nq), n_of)
        pos = np.searchsorted(ids, members)
        item_keys = np.empty((ids.shape[0], n_tables), dtype=np.uint64)
        item_keys[:] = _unprobed_keys(keys)
        item_keys[pos, member_table] = member_key
        return ids, item_keys, x, n_items

    def _gathered_nothing(
        self, n_items: int
    ) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.float32], int]:
        return (
            np.zeros(0, dtype=np.int64),
            np.zeros((0, self.n_tables), dtype=np.uint64),
            np.zeros((0, self.dim), dtype=np.float32),
            n_items,
        )

    def _store_missing(self, res: Any) -> bool:
        """Check one gather reply: True when the store does not exist (never built, or dropped:
        an empty store); raises ``ValueError`` on a failed script or a refused read."""
        if isinstance(res, Exception):
            raise ValueError(
                f"store {self.prefix!r}: query failed ({res}); a foreign key under the "
                "prefix? verify() lists them"
            ) from res
        if res[0] == b"!":
            if res[1] == b"missing":
                return True
            raise ValueError(self._guard_message(res[1].decode()))
        return False
