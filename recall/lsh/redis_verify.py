"""Checks of the Redis bucket store: ``verify`` (both directions, re-hashing, foreign keys) and
``bucket_sizes`` (diagnostics)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings.validate import describe_values
from recall.lsh.redis_base import _StoreBase
from recall.lsh.redis_codec import _hex_keys


class _Verify(_StoreBase):
    """Consistency checks of a store (mixed into ``RedisBuckets``)."""

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
        record_re = re.compile(r"^r:(\d+):([0-9a-f]{16})$")
        record_names: list[bytes] = []
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
            r = record_re.match(text[len(self.prefix) :])
            if r is not None and self.vectors == "buckets" and int(r.group(1)) < self.n_tables:
                if typ != b"string":
                    foreign.append(f"{text!r} is a {typ.decode()}, not a bucket record string")
                else:
                    record_names.append(nm)
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
        if self.vectors == "buckets":
            problems += self._check_records(record_names, found)
        rehashed = 0
        misfiled: list[int] = []
        ids_sorted = sorted(items)
        if self._vectors_in_redis:
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

    def _check_records(self, names: list[bytes], found: set[tuple[int, str, int]]) -> list[str]:
        """Problems of the bucket records (``vectors="buckets"``): every record string must hold
        exactly its bucket set's members, each once, with the vector stored in ``P:vec`` (read
        once, then compared with the records 1,000 buckets at a time)."""
        problems: list[str] = []
        size = self._record.itemsize
        vec_ids = np.sort(np.array([int(k) for k in self.client.hkeys(self._k_vec)], np.int64))
        vecs = np.empty((vec_ids.shape[0], self.dim), dtype=np.float32)
        for s in range(0, vec_ids.shape[0], 10_000):
            raw = self.client.hmget(self._k_vec, vec_ids[s : s + 10_000].tolist())
            if any(r is None or len(r) != 4 * self.dim for r in raw):
                return problems  # reported by the vector checks of verify
            vecs[s : s + len(raw)] = np.frombuffer(b"".join(raw), np.float32).reshape(-1, self.dim)
        bits = vecs.view(np.uint32)
        in_records: set[tuple[int, str, int]] = set()
        for s in range(0, len(names), 1000):
            part = names[s : s + 1000]
            for nm, blob in zip(part, self.client.mget(part), strict=True):
                if blob is None or len(blob) % size or not blob:
                    problems.append(f"bucket records {nm.decode()!r} of a wrong size")
                    continue
                rec = np.frombuffer(blob, dtype=self._record)
                _, t, key = nm.decode()[len(self.prefix) :].split(":")
                if np.unique(rec["id"]).shape[0] != rec.shape[0]:
                    problems.append(f"bucket records {nm.decode()!r} repeat an item")
                pos = np.minimum(np.searchsorted(vec_ids, rec["id"]), max(0, vec_ids.size - 1))
                known = vec_ids.size > 0 and np.all(vec_ids[pos] == rec["id"])
                if not known or not np.array_equal(
                    bits[pos], np.ascontiguousarray(rec["x"]).view(np.uint32)
                ):
                    problems.append(f"bucket records {nm.decode()!r} hold stale vectors")
                in_records.update((int(t), key, int(j)) for j in rec["id"])
        if in_records != found:
            problems.append(
                f"bucket records disagree with the bucket sets: {len(in_records - found)} extra, "
                f"{len(found - in_records)} missing"
            )
        return problems

    @staticmethod
    def _misfiled(
        hasher: Any, ids: list[int], x: NDArray[np.float32], items: dict[int, str]
    ) -> list[int]:
        """Ids (of ``ids`` with prepared vectors ``x``) whose bucket list differs from the keys
        ``hasher`` gives their vectors."""
        hexes = _hex_keys(hasher.keys(x))
        return [j for j, h in zip(ids, hexes, strict=True) if items[j] != h]
