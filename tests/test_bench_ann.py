"""The ANN harness's pieces: grid files, expressions, the bucketed SimHash peer, Pareto fronts."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from recall.bench import ann
from recall.exact import exact_knn, knn_recall


@pytest.mark.parametrize("grid", sorted(p.stem for p in ann.GRIDS.glob("*.toml")))
def test_every_grid_file_loads_and_every_setting_constructs(grid):
    g = ann.load_grid(grid)
    assert int(g.get("rounds", 3)) >= 3
    families = {m["family"] for m in g["methods"].values()}
    # equal effort: every peer family of the issue is in every grid
    for fam in ("hnswlib", "faiss HNSW", "faiss IVF", "annoy", "faiss IndexFlat"):
        assert fam in families
    assert any(f.startswith("ours") for f in families)
    for name, m in g["methods"].items():
        if "index" not in m:
            continue
        cls = ann.import_obj(m["index"])
        params = set(inspect.signature(cls).parameters)
        for n in (10_000, 1_000_000):
            for bp in ann.expand(m.get("build"), n, 64):
                assert set(bp) <= params, f"{grid}/{name}: unknown build kwargs {set(bp) - params}"
                cls(metric="cosine", **bp)  # the constructor validates the values
        searches = ann.expand(m.get("search"), 100_000, 64)
        assert searches and all(isinstance(s, dict) for s in searches)


def test_expressions_and_product():
    assert ann.resolve("=round(4 * sqrt(n))", 10_000, 64) == 400
    assert ann.resolve("=4 * d", 10, 32) == 128
    assert ann.resolve("simhash", 10, 32) == "simhash"  # plain strings stay strings
    with pytest.raises(ValueError, match="bad grid expression"):
        ann.resolve("=__import__('os')", 10, 2)
    grid = ann.expand({"a": [1, 2], "b": ["=n", 3]}, 3, 1)
    assert grid == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]  # duplicates dropped, order kept
    with pytest.raises(ValueError, match="unknown grid"):
        ann.load_grid("no_such_grid")


def test_binary_multihash_peer_finds_neighbours():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    q = rng.standard_normal((50, 16)).astype(np.float32)
    ids = np.arange(3000, dtype=np.int64) * 2 + 1
    idx = ann.BinaryMultiHashIndex("cosine", nbits=64, nhash=8, b=6, random_state=0)
    idx.build(x, ids)
    truth = exact_knn(x, q, 10, metric="cosine", ids=ids).ids
    lo = knn_recall(idx.search(q, 10).ids, truth, 10)
    idx.set_search_params(nflip=2, refine_factor=40)
    hi_res = idx.search(q, 10)
    hi = knn_recall(hi_res.ids, truth, 10)
    assert set(np.unique(hi_res.ids)) <= set(ids) | {-1}
    assert hi > 0.9 and hi >= lo  # more flips and re-ranking: more recall
    assert np.all(np.diff(hi_res.scores, axis=1) <= 1e-6)  # best first
    with pytest.raises(ValueError, match="nhash"):
        ann.BinaryMultiHashIndex("cosine", nbits=64, nhash=8, b=16)
    with pytest.raises(ValueError, match="search parameter"):
        idx.set_search_params(ef=3)


def test_pareto_front():
    df = pd.DataFrame({"knn_recall": [0.5, 0.9, 0.8, 0.95, 0.9], "qps": [100, 50, 40, 10, 60]})
    front = ann.pareto(df)
    assert front[["knn_recall", "qps"]].values.tolist() == [[0.5, 100], [0.9, 60], [0.95, 10]]


# ---------------------------------------------------------------------------- native single-query calls
def _tiny_bench() -> ann.Bench:
    data = ann.make_data("gmm", 2000, 16, 40, seed=3, quick=True)
    return ann.Bench(data, ann.load_grid("ann_quick"), n_single=30, rounds=3, seed=3)


@pytest.mark.parametrize(
    "spec,build,setting",
    [
        ("recall.peers:HnswlibIndex", {"M": 8, "ef_construction": 40}, {"ef": 12}),
        ("recall.peers:FaissIVFIndex", {"nlist": 20}, {"nprobe": 2}),
        ("recall.peers:FaissHNSWIndex", {"M": 8}, {"ef": 12}),
        ("recall.peers:AnnoyIndex", {"n_trees": 4}, {"search_k": 100}),
        ("recall.peers:FaissLSHIndex", {"nbits": 64}, {"refine_factor": 3}),
        ("recall.bench.ann_binary:BinaryMultiHashIndex", {"nbits": 64, "b": 6}, {"nflip": 1}),
        ("recall.peers:KDTreeIndex", {}, {}),
    ],
)
def test_bench_times_the_native_call_and_its_ids_are_the_wrapped_ids(spec, build, setting):
    """The ANN bench's timed loop for a peer is the library's own call, and that call returns,
    query for query, the ids the wrapped ``search`` returns (checked and recorded per point)."""
    name = spec.split(":")[1]
    lib = "hnswlib" if "Hnswlib" in name else "annoy" if "Annoy" in name else "faiss"
    if "KDTree" not in name:
        pytest.importorskip(lib)
    b = _tiny_bench()
    cls = ann.import_obj(spec)
    idx = cls(metric="cosine", **build).build(b.data.x)
    other = {k: v * 3 for k, v in setting.items()}  # a second setting interleaved with the first
    info = b.check_native(idx, setting)
    assert info["native_ids_match"] == 1.0 and info["qps_wrapped_1pass"] > 0
    assert "search(row, k)" not in info["call"]  # the library's call, not the wrapper
    calls: list[int] = []
    loop = b.single_loop(idx, setting)
    # the loop calls the native function (not Index.search) once per query
    import recall.base

    before = recall.base.Index.search
    try:
        recall.base.Index.search = lambda *a, **k: calls.append(1)  # type: ignore[method-assign]
        type(idx).search = lambda *a, **k: calls.append(1)  # type: ignore[method-assign]
        b.single_loop(idx, other)()
        loop()
    finally:
        recall.base.Index.search = before  # type: ignore[method-assign]
        del type(idx).search
    assert calls == []
    for key, value in setting.items():  # the loop re-applies its own setting every pass
        assert getattr(idx, key) == value


def test_ours_is_timed_through_search_and_search_params_only_through_the_contract():
    b = _tiny_bench()
    from recall.exact import ExactIndex

    idx = ExactIndex("cosine").build(b.data.x)
    assert b.native(idx, {}) is None
    assert b.check_native(idx, {})["call"] == ann.WRAPPED_CALL

    class NoParams:
        pass

    with pytest.raises(AttributeError):
        ann.set_search(NoParams(), ef=3)  # no setattr fallback
    ann.set_search(NoParams())  # nothing to set: fine
