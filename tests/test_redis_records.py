"""RedisLSHStore with vectors="buckets": each bucket's records (id + vector) beside its set.

The mode exists for query speed (one GET per table instead of one vector fetch per candidate);
these tests hold it to the same contract as the other modes: the in-memory index's results, one
request per query, writes that keep sets, records and vectors consistent, refused writes that
change nothing, and ``verify`` catching records that disagree with the buckets.
"""

from __future__ import annotations

import numpy as np
import pytest

redis = pytest.importorskip("redis")

from recall.lsh import E2LSHIndex, SimHashIndex  # noqa: E402
from recall.redis_store import (  # noqa: E402
    RedisLSHStore,
)

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def client(redis_server):
    c = redis.Redis.from_url(redis_server)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _clean(client):
    yield
    client.flushdb()


def _data(n=800, d=12, nq=40, seed=5):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, d)).astype(np.float32)
    x = centres[rng.integers(0, 10, n)] + 0.4 * rng.standard_normal((n, d)).astype(np.float32)
    q = centres[rng.integers(0, 10, nq)] + 0.4 * rng.standard_normal((nq, d)).astype(np.float32)
    ids = rng.choice(10**12, size=n, replace=False).astype(np.int64)
    return x.astype(np.float32), ids, q.astype(np.float32)


def _same(a, b):
    np.testing.assert_array_equal(a.ids, b.ids)
    fin = np.isfinite(a.scores)
    np.testing.assert_array_equal(fin, np.isfinite(b.scores))
    np.testing.assert_allclose(a.scores[fin], b.scores[fin], rtol=1e-5, atol=1e-5)


def _index(metric, strategy, min_votes=None):
    if metric == "l2":
        return E2LSHIndex("l2", n_tables=4, n_hashes=3, bucket_width=2.0, strategy=strategy,
                          min_votes=min_votes, n_probes=4, random_state=2)  # fmt: skip
    return SimHashIndex(metric, n_tables=4, n_bits=5, strategy=strategy, min_votes=min_votes,
                        n_probes=4, random_state=2)  # fmt: skip


@pytest.mark.parametrize(
    "metric,strategy,min_votes,bulk",
    [
        ("cosine", "or", None, "script"),
        ("cosine", "vote", 2, "transaction"),
        ("l2", "and", None, "script"),
        ("ip", "or", None, "transaction"),
    ],
)
def test_same_results_as_in_memory_index(client, metric, strategy, min_votes, bulk):
    x, ids, q = _data()
    idx = _index(metric, strategy, min_votes).build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="rec", metric=metric, strategy=strategy,
                          min_votes=min_votes, vectors="buckets", chunk_size=97)  # fmt: skip
    store.build(x, ids, bulk=bulk)
    ref = idx.search(q, 10)
    _same(store.search(q, 10), ref)
    for i in range(3):
        _same(store.search(q[i], 10), idx.search(q[i : i + 1], 10))
    assert store.stats()["mean_candidates"] == pytest.approx(idx.stats()["mean_candidates"])
    st = store.verify()
    assert st["memberships"] == len(ids) * store.n_tables
    # every bucket set has its record string, each holding the same members
    assert len(list(client.scan_iter(match=store.prefix + "r:*"))) == st["buckets"]


def test_one_request_per_query(client, monkeypatch):
    from redis.connection import AbstractConnection

    x, ids, q = _data()
    idx = _index("cosine", "or").build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="trip", vectors="buckets", chunk_size=16)
    store.build(x, ids)
    store.search(q[:2], 10)  # scripts loaded
    sent = []
    real = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(1)
        return real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    for i in range(4):
        _same(store.search(q[i], 10), idx.search(q[i : i + 1], 10))
    assert len(sent) == 4
    sent.clear()
    _same(store.search(q, 10), idx.search(q, 10))  # 40 queries, 16 per round trip
    assert len(sent) == 3
    monkeypatch.undo()
    client.script_flush()  # a server that lost its scripts gets them again
    _same(store.search(q[:1], 10), idx.search(q[:1], 10))


def test_writes_keep_records_consistent(client):
    """add / update / delete move records with their members (an update rewrites the record even
    when the bucket stays); the store then answers as one freshly built from the same items."""
    x, ids, q = _data()
    idx = _index("cosine", "or").build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="w", vectors="buckets", chunk_size=50)
    store.build(x[:700], ids[:700])
    store.add(x[700:], ids[700:])
    rng = np.random.default_rng(0)
    moved = rng.choice(800, 60, replace=False)
    far = x[rng.choice(800, 60)] + 0.05
    store.update(far, ids[moved])
    nudged = rng.choice(np.setdiff1d(np.arange(800), moved), 30, replace=False)
    # mostly the same buckets, different stored vectors: the records must be rewritten in place
    tiny = x[nudged] + 1e-3 * rng.standard_normal((30, x.shape[1])).astype(np.float32)
    store.update(tiny, ids[nudged])
    gone = rng.choice(np.setdiff1d(np.arange(800), np.concatenate([moved, nudged])), 40,
                      replace=False)  # fmt: skip
    store.delete(ids[gone])
    store.verify()  # records agree with sets and vectors
    now = x.copy()
    now[moved] = far
    now[nudged] = tiny
    keep = np.setdiff1d(np.arange(800), gone)
    fresh = RedisLSHStore(client, idx.hasher, namespace="fresh", vectors="buckets")
    fresh.build(now[keep], ids[keep])
    _same(store.search(q, 10), fresh.search(q, 10))
    plain = RedisLSHStore(client, idx.hasher, namespace="plain", vectors="redis")
    plain.build(now[keep], ids[keep])
    _same(store.search(q, 10), plain.search(q, 10))
    # deleting everything leaves no record strings behind
    store.delete(ids[keep])
    assert not list(client.scan_iter(match=store.prefix + "r:*"))
    assert not list(client.scan_iter(match=store.prefix + "b:*"))


def test_refused_writes_change_nothing(client):
    x, ids, q = _data(n=300)
    idx = _index("cosine", "or").build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="bad", vectors="buckets", chunk_size=64)
    store.build(x[:250], ids[:250])

    def snapshot():
        names = sorted(client.scan_iter(match=store.prefix + "r:*"))
        return dict(zip(names, client.mget(names), strict=True))

    before = snapshot()
    with pytest.raises(ValueError, match=str(ids[240])):
        store.add(x[240:260], ids[240:260])  # ids[240:250] exist
    with pytest.raises(KeyError, match="unknown ids.*15 in all"):
        store.update(x[245:265], ids[245:265])
    with pytest.raises(KeyError, match=str(ids[299])):
        store.delete(ids[[0, 1, 299]])
    with pytest.raises(ValueError, match="NaN|finite|nan"):
        store.add(np.full((2, x.shape[1]), np.nan, dtype=np.float32), ids[280:282])
    assert snapshot() == before
    assert len(store) == 250
    store.verify()


def test_verify_finds_records_that_disagree(client):
    x, ids, _ = _data(n=200)
    idx = _index("cosine", "or").build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="v", vectors="buckets").build(x, ids)
    name = next(iter(client.scan_iter(match=store.prefix + "r:*")))
    blob = client.get(name)
    size = 8 + 4 * x.shape[1]
    # a stale vector in a record
    client.set(name, blob[:8] + bytes(size - 8) + blob[size:])
    with pytest.raises(ValueError, match="stale vectors"):
        store.verify()
    # a record missing from its bucket's string
    client.set(name, blob[size:] if len(blob) > size else b"\0" * 3)
    with pytest.raises(ValueError, match="bucket records"):
        store.verify()
    client.set(name, blob)
    store.verify()


def test_mode_must_match_the_store(client):
    x, ids, _ = _data(n=100)
    idx = _index("cosine", "or").build(x, ids)
    RedisLSHStore(client, idx.hasher, namespace="m", vectors="buckets").build(x, ids)
    with pytest.raises(ValueError, match="vectors="):
        RedisLSHStore(client, namespace="m", vectors="redis")
    with pytest.raises(ValueError, match="'redis', 'local' or 'buckets'"):
        RedisLSHStore(client, idx.hasher, namespace="m2", vectors="bucket")


def test_build_leaves_records_at_their_exact_size(client):
    """Appends grow a string by doubling; the build re-writes every record string at its length,
    so the mode's memory is L copies of the vectors, not up to twice that."""
    x, ids, _ = _data(n=3000)
    idx = _index("cosine", "or").build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="mem", vectors="buckets", chunk_size=100)
    store.build(x, ids)
    names = list(client.scan_iter(match=store.prefix + "r:*"))
    raw = sum(int(client.strlen(nm)) for nm in names)
    used = sum(int(client.memory_usage(nm)) for nm in names)
    assert raw == len(ids) * store.n_tables * (8 + 4 * x.shape[1])
    assert used < 1.1 * raw, (used, raw)


@pytest.mark.parametrize("die_in", ["_write", "_set_records"])
def test_interrupted_build_resumes_with_complete_records(client, monkeypatch, die_in):
    """A build killed while loading items, or while writing the records, is refused to readers
    and, resumed, leaves every bucket's records complete (verify) and the same answers."""
    x, ids, q = _data(n=2000)
    idx = _index("cosine", "or").build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="half", vectors="buckets", chunk_size=100)
    real = getattr(store.buckets, die_in)
    calls = {"n": 0}
    lives = 3 if die_in == "_write" else 0  # the records of 128 buckets go in one call

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > lives:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(store.buckets, die_in, dying)
    with pytest.raises(KeyboardInterrupt):
        store.build(x, ids)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="incomplete"):
        RedisLSHStore(client, namespace="half", vectors="buckets")
    again = RedisLSHStore(client, idx.hasher, namespace="half", vectors="buckets",
                          chunk_size=100, incomplete="allow")  # fmt: skip
    again.build(x, ids, resume=True)
    reader = RedisLSHStore(client, namespace="half", vectors="buckets")
    assert reader.verify()["items"] == 2000
    _same(reader.search(q, 10), idx.search(q, 10))
