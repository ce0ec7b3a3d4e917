"""What a process pays in memory before it works: ``import embeddings`` loads numpy only, the walk
engine adds numba only, and the lazily imported public names are still all there.

Each import check runs in a fresh interpreter (``sys.modules`` of this test process already holds
everything). The walks + skip-gram child of the walks benchmark (its issue-16 memory row) runs on
a tiny graph and reports its phases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: libraries that the package itself must not load on import (each costs tens of MB of RSS)
HEAVY = ("pandas", "pyarrow", "scipy", "numba", "gensim", "networkx", "sklearn", "matplotlib")


def _modules_after(code: str) -> set[str]:
    """Module names in ``sys.modules`` after running ``code`` in a fresh interpreter, with the
    top-level package name of each."""
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    return names | {m.split(".")[0] for m in names}


def test_import_embeddings_loads_no_heavy_library():
    loaded = _modules_after("import embeddings")
    assert "numpy" in loaded  # the probe sees imports at all
    assert not loaded & set(HEAVY), f"import embeddings loaded {sorted(loaded & set(HEAVY))}"


def test_walk_engine_loads_numba_but_not_pandas_scipy_or_gensim():
    loaded = _modules_after(
        "import embeddings.graph, embeddings.walks, embeddings.types, embeddings.params"
    )
    assert "numba" in loaded
    # numba itself imports the ``scipy`` package (its configuration, to probe for LAPACK), not
    # its submodules; scipy.sparse is what the loaders and user vectors pull in
    unwanted = (set(HEAVY) - {"numba", "scipy"}) | {"scipy.sparse", "scipy.linalg"}
    assert not loaded & unwanted, f"the walk engine loaded {sorted(loaded & unwanted)}"


def test_public_names_unchanged_by_lazy_imports():
    import embeddings
    from embeddings.graph import ItemGraph
    from embeddings.sessions import Sessions, build_sessions, leave_last_out, temporal_split
    from embeddings.users import user_vectors

    expected = {
        "Embeddings",
        "ItemGraph",
        "SkipGramParams",
        "Trainer",
        "TrainerBase",
        "clone",
        "is_trainer",
        "Sessions",
        "build_sessions",
        "leave_last_out",
        "temporal_split",
        "user_vectors",
        "__version__",
    }
    assert set(embeddings.__all__) == expected
    for name in expected:
        assert getattr(embeddings, name) is not None
        assert name in dir(embeddings)
    assert embeddings.ItemGraph is ItemGraph and embeddings.Sessions is Sessions
    assert embeddings.build_sessions is build_sessions
    assert embeddings.leave_last_out is leave_last_out
    assert embeddings.temporal_split is temporal_split
    assert embeddings.user_vectors is user_vectors
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        embeddings.NoSuchName  # noqa: B018
    # ``from embeddings import *`` and submodule imports through the package keep working
    ns: dict = {}
    exec("from embeddings import *", ns)  # noqa: S102
    assert expected - {"__version__"} <= set(ns)
    from embeddings import neighbours, paths  # submodules, not lazy names

    assert hasattr(neighbours, "top_k") and hasattr(paths, "data_root")


def test_inputs_and_skipgram_modules_load_neither_pandas_nor_gensim():
    loaded = _modules_after("import embeddings.inputs, embeddings.word2vec, embeddings.node2vec")
    assert "embeddings.word2vec" in loaded
    unwanted = {"pandas", "pyarrow", "gensim", "embeddings.sessions", "embeddings.datasets"}
    assert not loaded & unwanted, f"loaded {sorted(loaded & unwanted)}"


def test_numba_deepwalk_fit_never_imports_gensim_or_pandas():
    """A whole DeepWalk fit with the numba trainer, networkx graph in: gensim and pandas stay
    out of the process (their ~130 MB of resident memory); the gensim trainer loads gensim."""
    fit = (
        "import networkx as nx\n"
        "from embeddings.node2vec import DeepWalk\n"
        "g = nx.karate_club_graph()\n"
        "emb = DeepWalk(num_walks=2, walk_length=8, dim=4, epochs=1, stream={stream}, "
        "trainer='{trainer}', random_state=0, progress=False).fit(g)\n"
        "assert emb.vectors.shape == (34, 4)\n"
    )
    for stream in (True, False):
        loaded = _modules_after(fit.format(stream=stream, trainer="numba"))
        assert "numba" in loaded and "networkx" in loaded
        assert not loaded & {"gensim", "pandas", "pyarrow"}, sorted(loaded & {"gensim", "pandas"})
    assert "gensim" in _modules_after(fit.format(stream=True, trainer="gensim"))


def test_trainers_module_loads_neither_pandas_nor_gensim_and_deepwalk_fits():
    """``embeddings.trainers`` imports every trainer, Item2Vec and the baselines included: a
    caller that trains a graph pays neither pandas (~62 MB of RSS) nor gensim for them. In the
    same fresh interpreter a DeepWalk fit on a tiny graph still works: with the numba trainer
    neither library is loaded at all, with gensim's only gensim."""
    code = (
        "import sys, json\n"
        "import numpy as np\n"
        "import embeddings.trainers\n"
        "from embeddings.trainers import TRAINERS, DeepWalk\n"
        "heavy = ('pandas', 'gensim', 'pyarrow', 'embeddings.sessions', 'embeddings.datasets')\n"
        "after_import = sorted(m for m in heavy if m in sys.modules)\n"
        "from embeddings.graph import ItemGraph\n"
        "u = np.array([10, 11, 12, 13, 14, 10, 11]); v = np.array([11, 12, 13, 14, 10, 12, 14])\n"
        "g = ItemGraph.from_edges(u, v, np.ones(7), directed=False)\n"
        "kw = dict(num_walks=3, walk_length=6, dim=4, window=2, epochs=1, random_state=0,\n"
        "          progress=False, workers=1)\n"
        "a = DeepWalk(trainer='numba', **kw).fit(g)\n"
        "b = DeepWalk(trainer='numba', **kw).fit(g)\n"
        "after_numba = sorted(m for m in heavy if m in sys.modules)\n"
        "c = DeepWalk(**kw).fit(g)\n"
        "print(json.dumps({'after_import': after_import, 'after_numba': after_numba,\n"
        "    'after_gensim': sorted(m for m in heavy if m in sys.modules),\n"
        "    'ids': [a.ids.tolist(), c.ids.tolist()], 'shape': list(a.vectors.shape),\n"
        "    'finite': bool(np.isfinite(a.vectors).all() and np.isfinite(c.vectors).all()),\n"
        "    'same_seed_same_vectors': bool(np.array_equal(a.vectors, b.vectors)),\n"
        "    'trainers': [t.__name__ for t in TRAINERS]}))\n"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["trainers"] == ["Item2Vec", "DeepWalk", "Node2Vec", "Popularity"]
    assert out["after_import"] == [], f"import embeddings.trainers loaded {out['after_import']}"
    assert out["after_numba"] == [], f"a numba DeepWalk fit loaded {out['after_numba']}"
    assert out["after_gensim"] == ["gensim"], out["after_gensim"]
    assert out["ids"] == [[10, 11, 12, 13, 14]] * 2 and out["shape"] == [5, 4]
    assert out["finite"] and out["same_seed_same_vectors"]


def test_word2vec_public_names_unchanged_by_the_split():
    import embeddings.word2vec as w2v
    from embeddings import word2vec_corpus, word2vec_gensim

    assert set(w2v.__all__) == {
        "SkipGram", "MAX_SEQUENCE_TOKENS", "TRAINERS", "chunk_sequence", "TokenCorpus",
        "BlockCorpus",
    }  # fmt: skip
    for name in w2v.__all__:
        assert getattr(w2v, name) is not None
    for name in ("MAX_SEQUENCE_TOKENS", "chunk_sequence", "TokenCorpus", "BlockCorpus"):
        assert getattr(w2v, name) is getattr(word2vec_corpus, name)
    assert w2v.TRAINERS == ("gensim", "numba") and w2v.MAX_SEQUENCE_TOKENS == 10_000
    # moved to the gensim module, still importable from here (the scale bench uses it)
    from embeddings.word2vec import _move_weights_to_huge_pages

    assert _move_weights_to_huge_pages is word2vec_gensim._move_weights_to_huge_pages
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        w2v.NoSuchName  # noqa: B018


def test_walks_and_skipgram_child_reports_phases(tmp_path):
    """The child of the walks benchmark's memory row: one process, walks streamed into the
    skip-gram, a vector per node, RSS per phase within the process peak."""
    rng = np.random.default_rng(0)
    n, m = 300, 2000
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = u != v
    edges = tmp_path / "g.tsv"
    np.savetxt(
        edges,
        np.column_stack([u[keep], v[keep], rng.uniform(0.1, 1, keep.sum())]),
        fmt=["%d", "%d", "%.6f"],
        delimiter="\t",
    )
    child = REPO / "recall" / "bench" / "walks_children.py"
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_NUM_THREADS="1", PYTHONHASHSEED="0")
    cmd = [sys.executable, str(child), "--child", "ours-sg", "--mode", "stream", "--edges"]
    cmd += [str(edges), "--num-walks", "2", "--walk-length", "10", "--dim", "8", "--window", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    nodes = np.unique(np.concatenate([u[keep], v[keep]])).size
    assert out["vectors"] == nodes
    assert out["walks"] == 2 * nodes
    names = [p["phase"] for p in out["phases"]]
    assert any(p.startswith("read edge list") for p in names)
    assert "fit: skip-gram training" in names and "fit: walks (the whole matrix)" not in names
    for p in out["phases"]:
        assert 0 < p["start_rss_mb"] <= p["peak_rss_mb"] <= out["peak_rss_mb"] + 1
    assert {"numba", "gensim"} <= set(out["modules"])
    assert "pandas" not in out["modules"]
    names = [p["phase"] for p in out["phases"]]
    assert names.index("fit: skip-gram vocabulary (a pass over the walks)") < names.index(
        "fit: skip-gram training"
    )
    if out["peak_exact"]:  # each phase's peak exact, the process peak the largest of them
        assert out["peak_rss_mb"] == pytest.approx(max(p["peak_rss_mb"] for p in out["phases"]))


def test_edge_list_readers_give_the_same_graph(tmp_path):
    """The bench child's numpy reader (int64 / int64 / float64 records) gives the CSR arrays of
    the former reader (a float64 matrix cast to int64) and of pandas' C parser."""
    sys.path.insert(0, str(REPO / "recall" / "bench"))
    try:
        from walks_children import _read_graph
    finally:
        sys.path.remove(str(REPO / "recall" / "bench"))
    from embeddings.graph import ItemGraph

    rng = np.random.default_rng(1)
    u, v = rng.integers(0, 5000, 3000) * 1_000_003, rng.integers(0, 5000, 3000) * 7
    w = rng.uniform(0.1, 1, 3000)
    edges = tmp_path / "g.tsv"
    np.savetxt(edges, np.column_stack([u, v, w]), fmt=["%d", "%d", "%.6f"], delimiter="\t")
    cols = np.loadtxt(edges, delimiter="\t", dtype=np.float64, ndmin=2)
    before = ItemGraph.from_edges(
        cols[:, 0].astype(np.int64), cols[:, 1].astype(np.int64), cols[:, 2].copy(),
        directed=False,
    )  # fmt: skip
    for reader in ("numpy", "pandas"):
        g = _read_graph(edges, reader)
        for name in ("node_ids", "indptr", "indices", "weights"):
            np.testing.assert_array_equal(getattr(g, name), getattr(before, name), err_msg=name)
            assert getattr(g, name).dtype == getattr(before, name).dtype


def test_memory_rows_report_ratio_and_phases():
    from recall.bench.walks import _label
    from recall.bench.walks_memory import memory_lines

    phases = [{"phase": "fit: skip-gram training", "seconds": 1.0, "start_rss_mb": 300.0,
               "peak_rss_mb": 340.0, "end_rss_mb": 320.0}]  # fmt: skip
    ours = {"tool": "ours-sg", "mode": "numba", "status": "ok", "walk_s": 9.0, "phases": phases}
    peer = {"tool": "pecanpy", "mode": "PreCompFirstOrder", "status": "ok", "walk_s": 5.0}
    rows = [{**ours, "round": i, "peak_rss_mb": mb} for i, mb in enumerate((350, 340, 360))]
    rows += [{**peer, "round": i, "peak_rss_mb": mb} for i, mb in enumerate((700, 712, 720))]
    text = "\n".join(memory_lines(rows, 0.5, label=_label))
    assert "| 3 | 350 (340-360) | 0.49 | <= 0.5 | **met** |" in text
    assert "| 3 | 712 (700-720) |" in text
    assert "the median run (round 0" in text and "| fit: skip-gram training | 1.0 | 300 |" in text
    rows[0]["peak_rss_mb"] = rows[1]["peak_rss_mb"] = 400
    assert "**not met**" in "\n".join(memory_lines(rows, 0.5, label=_label))
    # PecanPy not run: the committed measurement is the reference
    text = "\n".join(memory_lines(rows[:3], 0.5, ("PecanPy X", 1000.0), _label))
    assert "| 0.40 | <= 0.5 | **met** |" in text


def test_memory_goal_uses_the_leanest_peer():
    from recall.bench.walks import MEMORY_GOAL, memory_goal

    base = {"p": 1.0, "q": 1.0, "status": "ok", "walk_s": 1.0}
    summary = [
        {**base, "tool": "ours", "mode": "", "label": "ours", "peak_rss_mb": 600.0},
        {**base, "tool": "ours-sg", "mode": "stream", "label": "sg", "peak_rss_mb": 350.0},
        {**base, "tool": "pecanpy", "mode": "A", "label": "PecanPy A", "peak_rss_mb": 711.0},
        {**base, "tool": "grape", "mode": "x", "label": "GRAPE", "peak_rss_mb": 731.0},
        {
            **base,
            "tool": "grape",
            "mode": "y",
            "label": "bad",
            "peak_rss_mb": 1.0,
            "status": "failed",
        },
    ]
    (row,) = memory_goal(summary)
    assert row["leanest"] == "PecanPy A" and row["leanest_peak_mb"] == 711.0
    assert row["ratio"] == pytest.approx(350 / 711) and row["met"] == (350 / 711 <= MEMORY_GOAL)
    summary[1]["peak_rss_mb"] = 400.0
    assert not memory_goal(summary)[0]["met"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memory-rows", "--num-walks", "0"], "--num-walks must be >= 1, got 0"),
        (["--memory-rows", "--nodes", "-5"], "--nodes must be >= 1, got -5"),
    ],
)
def test_walks_bench_refuses_non_positive_sizes(tmp_path, argv, message):
    """0 walks per node used to fall back silently to the default 10 (a falsy check)."""
    from recall.bench.walks import main

    with pytest.raises(ValueError, match=message):
        main([*argv, "--out", str(tmp_path)])


def test_memory_rows_written_under_the_given_name_with_the_trainer_in_the_label(tmp_path):
    """``--memory-name`` puts the gensim trainer's rows beside (never over) ``memory.md``; the
    row says which trainer ran; a name that is not a plain file name is refused up front."""
    from recall.bench.harness import BenchRun
    from recall.bench.walks import MEMORY_GOAL, _label, main
    from recall.bench.walks_memory import write_memory_rows

    assert "gensim" in _label("ours-sg", "stream") and "gensim" not in _label("ours-sg", "numba")
    phases = [{"phase": "fit: skip-gram training", "seconds": 1.0, "start_rss_mb": 300.0,
               "peak_rss_mb": 500.0, "end_rss_mb": 320.0}]  # fmt: skip
    ours = {"tool": "ours-sg", "mode": "stream", "status": "ok", "walk_s": 9.0, "phases": phases}
    rows = [{**ours, "round": i, "peak_rss_mb": mb} for i, mb in enumerate((520, 500, 510))]
    meta = {"nodes": 100, "m": 3, "seed": 0, "edges": 300, "num_walks": 10, "walk_length": 80,
            "threads": 2, "dim": 128, "window": 5, "rounds": 3, "pecanpy": "not run",
            "goal_walks": 10}  # fmt: skip
    run = BenchRun(name="walks", command="python -m recall.bench.walks --memory-rows").finish()
    (tmp_path / "memory.md").write_text("the numba rows\n")
    (tmp_path / "summary.csv").write_text(
        "p,q,tool,mode,label,status,peak_rss_mb\n1.0,1.0,pecanpy,PreCompFirstOrder,"
        "PecanPy PreCompFirstOrder,ok,711.0\n"
    )
    path = write_memory_rows(rows, meta, run, tmp_path, MEMORY_GOAL, _label, "memory_gensim")
    assert path == tmp_path / "memory_gensim.md" and (tmp_path / "memory_gensim.csv").is_file()
    assert (tmp_path / "memory.md").read_text() == "the numba rows\n"  # left as it was
    text = path.read_text()
    assert "ours walks + skip-gram (stream, gensim; d 128" in text
    assert "| 3 | 510 (500-520) | 0.72 | <= 0.5 | **not met** |" in text  # 510 / 711
    for bad in ("../memory", "a/b", "", ".hidden", "x.md/"):
        with pytest.raises(ValueError, match="--memory-name must be a plain file name"):
            main(["--memory-rows", "--memory-name", bad, "--out", str(tmp_path)])
