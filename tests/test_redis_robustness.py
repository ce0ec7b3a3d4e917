"""RedisLSHStore under faults, against a real redis-server (issue 14, groups 1, 2 and 8).

Two writers with different hash functions, a writer that outlives a rebuild, builds that stop
part-way (an injected failure between chunks, and a subprocess killed mid-build), foreign keys
under the store's prefix, and a concurrent ``add`` that fails in a later chunk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

redis = pytest.importorskip("redis")

from recall.lsh import SimHashHasher  # noqa: E402
from recall.redis_store import (  # noqa: E402
    RedisLSHStore,
)

pytestmark = pytest.mark.redis
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server)
    yield c
    c.flushdb()
    c.close()


def _data(n=600, d=12, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    ids = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    return x, ids


def _found_by_own_vector(store, x, ids):
    """Fraction of items returned among the top-5 when queried with their own vector."""
    res = store.search(x, 5)
    return float(np.mean([i in row for i, row in zip(ids, res.ids, strict=True)]))


# ------------------------------------------------------------------ group 1: mixed hash functions
def test_second_writer_with_other_hasher_is_refused(client):
    x, ids = _data()
    # both clients connect before the store exists, so neither sees the other's hasher; the
    # default random_state=None gives each a different set of hash functions
    a = RedisLSHStore(client, SimHashHasher(x.shape[1], 4, 6), namespace="mix")
    b = RedisLSHStore(client, SimHashHasher(x.shape[1], 4, 6), namespace="mix")
    assert a.hasher.fingerprint() != b.hasher.fingerprint()
    a.build(x[:300], ids[:300])
    with pytest.raises(ValueError, match="not this client's"):
        b.add(x[300:], ids[300:])
    with pytest.raises(ValueError, match="not this client's"):
        b.update(x[:10], ids[:10])
    with pytest.raises(ValueError, match="not this client's"):
        b.delete(ids[:10])
    with pytest.raises(ValueError, match="not this client's"):
        b.search(x[:3], 5)
    assert len(a) == 300 and a.verify()["rehashed"] == 300
    assert _found_by_own_vector(a, x[:300], ids[:300]) == 1.0
    # a reconnecting client uses the stored hash functions and may write
    c = RedisLSHStore(client, namespace="mix")
    c.add(x[300:], ids[300:])
    assert c.verify()["items"] == 600
    assert _found_by_own_vector(c, x, ids) == 1.0


def test_writer_that_outlives_a_rebuild_is_refused(client, redis_server):
    x, ids = _data()
    old = RedisLSHStore(client, SimHashHasher(x.shape[1], 4, 6, random_state=1), namespace="re")
    old.build(x[:200], ids[:200])
    other = redis.Redis.from_url(redis_server)  # another process drops and rebuilds
    try:
        RedisLSHStore(other, namespace="re").drop()
        fresh = RedisLSHStore(
            other, SimHashHasher(x.shape[1], 4, 6, random_state=2), namespace="re"
        )
        fresh.build(x[:200], ids[:200])
    finally:
        other.close()
    with pytest.raises(ValueError, match="not this client's"):
        old.add(x[200:], ids[200:])
    with pytest.raises(ValueError, match="not this client's"):
        old.search(x[:2], 3)
    assert len(fresh) == 200 and fresh.verify()["items"] == 200


def test_verify_finds_items_outside_their_buckets(client):
    x, ids = _data(n=100)
    h = SimHashHasher(x.shape[1], 3, 5, random_state=4)
    store = RedisLSHStore(client, h, namespace="misfiled").build(x[:99], ids[:99])
    assert store.verify()["rehashed"] == 99
    # a write that carries the right fingerprint but keys from other hash functions (a buggy or
    # foreign client) is caught by verify's re-hashing
    wrong = SimHashHasher(x.shape[1], 3, 5, random_state=5).keys(store._prepare(x[99:]))
    store.buckets._run_write("add", ids[99:], store._prepare(x[99:]), keys=wrong)
    with pytest.raises(ValueError, match="not in the buckets their vectors hash to"):
        store.verify()


# ------------------------------------------------------------------ group 2: half-built stores
def test_build_interrupted_between_chunks_is_reported_and_resumable(client, monkeypatch):
    x, ids = _data(n=2000)
    h = SimHashHasher(x.shape[1], 4, 6, random_state=7)
    store = RedisLSHStore(client, h, namespace="half", chunk_size=100)
    real = store.buckets._write
    calls = {"n": 0}

    def dying_write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 10:  # the process dies after two round trips of 8 chunks were sent
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(store.buckets, "_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        store.build(x, ids)
    monkeypatch.undo()
    stored = int(client.hlen("{half:v1}:keys"))
    assert 0 < stored < 2000
    # nobody connects to the half-built store as if it were complete
    with pytest.raises(ValueError, match=rf"incomplete.*after {stored} of 2000 items"):
        RedisLSHStore(client, namespace="half")
    with pytest.raises(ValueError, match="incomplete"):
        RedisLSHStore(client, h, namespace="half")
    # the build is resumed with the same hasher and ids: only the missing items are written
    again = RedisLSHStore(client, h, namespace="half", chunk_size=100, incomplete="allow")
    with pytest.raises(ValueError, match="incomplete"):
        again.search(x[:2], 3)
    with pytest.raises(ValueError, match="other ids"):
        again.build(x[:1500], ids[:1500], resume=True)
    again.build(x, ids, resume=True)
    reader = RedisLSHStore(client, namespace="half")
    assert reader.verify()["items"] == 2000
    assert _found_by_own_vector(reader, x, ids) == 1.0


def test_build_killed_in_a_subprocess(client, redis_server, tmp_path):
    n = 20_000
    script = tmp_path / "build.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            import numpy as np
            from recall.lsh import SimHashHasher
            from recall.redis_store import RedisLSHStore
            rng = np.random.default_rng(0)
            x = rng.standard_normal(({n}, 8)).astype(np.float32)
            store = RedisLSHStore({redis_server!r}, SimHashHasher(8, 4, 6, random_state=1),
                                  namespace="killed", chunk_size=100)
            real = store.buckets._write
            def slow(*a, **k):
                time.sleep(0.002)
                return real(*a, **k)
            store.buckets._write = slow
            store.build(x)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if int(client.hlen("{killed:v1}:keys")) >= 3000:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the build finished (or died) before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    stored = int(client.hlen("{killed:v1}:keys"))
    assert 3000 <= stored < n
    with pytest.raises(ValueError, match=rf"incomplete: .* stopped after {stored} of {n} items"):
        RedisLSHStore(client, namespace="killed")
    # clearly reported to a client that allows it, and verify says so too
    store = RedisLSHStore(client, namespace="killed", incomplete="allow")
    with pytest.raises(ValueError, match="incomplete"):
        store.verify()
    assert store.drop() > 0 and not store.exists()


# ------------------------------------------------------------------ group 8: foreign keys, add
def test_foreign_keys_under_the_prefix_are_reported(client):
    x, ids = _data(n=50)
    h = SimHashHasher(x.shape[1], 2, 4, random_state=0)
    store = RedisLSHStore(client, h, namespace="foreign").build(x, ids)
    client.set("{foreign:v1}:b:0:" + "f" * 16, "not a set")
    with pytest.raises(ValueError, match="is a string, not a bucket set"):
        store.verify()
    with pytest.raises(ValueError, match="foreign key"):
        store.bucket_sizes()
    client.delete("{foreign:v1}:b:0:" + "f" * 16)
    # a bucket a query reads that is not a set gives a clear error, not WRONGTYPE
    key = store.hasher.keys(store._prepare(x[:1]))[0, 0]
    bucket = "{foreign:v1}:b:0:" + f"{int(key):016x}"
    members = client.smembers(bucket)
    client.delete(bucket)
    client.set(bucket, "x")
    with pytest.raises(ValueError, match="query failed"):
        store.search(x[:1], 3)
    client.delete(bucket)
    client.sadd(bucket, *members)
    client.lpush("{foreign:v1}:other", "x")
    with pytest.raises(ValueError, match="not a key of the store"):
        store.verify()
    client.delete("{foreign:v1}:other")
    assert store.verify()["items"] == 50
    client.set("{strmeta:v1}:meta", "x")
    with pytest.raises(ValueError, match="foreign key"):
        RedisLSHStore(client, h, namespace="strmeta")
    client.set("{strkeys:v1}:keys", "x")
    with pytest.raises(ValueError, match="foreign key"):
        RedisLSHStore(client, h, namespace="strkeys")


def test_failed_concurrent_add_leaves_nothing_of_its_own(client, monkeypatch):
    x, ids = _data(n=400)
    h = SimHashHasher(x.shape[1], 3, 5, random_state=2)
    store = RedisLSHStore(client, h, namespace="race", chunk_size=50).build(x[:100], ids[:100])
    before = store.verify()
    # another client stores one id of the last chunk after this add's up-front check
    RedisLSHStore(client, namespace="race").add(x[390:391], ids[390:391])
    monkeypatch.setattr(store.buckets, "_present", lambda i: np.zeros(i.shape[0], dtype=bool))
    with pytest.raises(ValueError, match=str(ids[390])):
        store.add(x[100:], ids[100:])
    monkeypatch.undo()
    assert len(store) == 101
    assert set(store.ids.tolist()) == set(ids[:100].tolist()) | {int(ids[390])}
    assert store.verify()["items"] == before["items"] + 1
