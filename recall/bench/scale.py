"""Scale benchmark: how time and peak memory grow with the size of the problem.

    python -m recall.bench.scale [--quick] [--tasks deepwalk,memory,walkspeed,item2vec,search,spark,sparkwalks]
                                 [--out reports/scale] [--threads N]
    embrecall bench scale --quick        # the same, through the command line (<= 1 min)

Every measurement runs in a fresh subprocess (``--child``) so that its peak resident memory is
the child's own ``ru_maxrss`` (for Spark, whose work happens in a JVM, the peak summed RSS of the
process tree, sampled every 0.1 s with psutil). Tasks, each at 3+ sizes:

* ``deepwalk``: end to end, read an edge-list file -> walks -> vectors
  (``read_edgelist`` + ``DeepWalk(stream=True)``: 10 walks x 80 per node, d = 128, window 10,
  one epoch), on a seeded Chung-Lu graph with communities (:func:`chung_lu_edges`).
* ``memory``: walks + skip-gram at one size, the walk matrix held (``stream=False``) against
  streamed walks (``stream="regenerate"`` and ``"spill"``).
* ``walkspeed``: the walk engine alone, this checkout against another one (``--baseline DIR``,
  e.g. an older commit exported with ``git archive``), interleaved A B A B.
* ``item2vec``: ``Item2Vec`` (sequence mode, defaults) on the synthetic default data grown in
  users and items (``make_synthetic``), generation and training timed apart.
* ``search``: exact search (``ExactIndex``, cosine) and our SimHash LSH index (16 tables x 12 bits,
  exact re-rank, multi-probe) on ``n x 32`` clustered unit vectors, build and 1,000 queries,
  with knn_recall@10 of LSH.
* ``sparkwalks``: :func:`recall.spark.spark_random_walks` (DeepWalk and node2vec p=0.5, q=2) on
  the Chung-Lu graph read from its edge file by Spark, ``local[2]``.
* ``spark``: batch recall for all users on ``local[2]`` (:mod:`recall.bench.spark_recall`): our
  bucket join, Spark's ``BucketedRandomProjectionLSH`` and exact, items and users grown together.

The report (``report.md``, ``results.csv``, ``plots/*.png``) holds one cost-growth table per task
with the fitted growth exponent (slope of log cost against log size), the command, the versions
and the load average before each run. Graph files are cached under ``$EMBRECALL_CACHE`` (default
``~/.cache/embrecall``), outside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

CACHE = Path(os.environ.get("EMBRECALL_CACHE", Path.home() / ".cache" / "embrecall"))
#: the checkout whose code the child processes import (not an output location)
REPO = Path(__file__).resolve().parents[2]

QUICK: dict[str, Any] = {
    "deepwalk": [1_000, 2_000, 4_000],  # nodes; 10 edges per node
    "memory": 4_000,
    "walkspeed": 4_000,
    "item2vec": [1_000, 2_000, 4_000],  # users; items = users / 2, 40 events per user
    "search": [20_000, 40_000, 80_000],
    "spark": [(2_000, 100), (4_000, 200), (8_000, 400)],
    "sparkwalks": [500, 1_000, 2_000],
    "sparkwalks_len": (1, 5),
    "walks": (4, 20),  # num_walks, walk_length
    "dim_window": (32, 5),
    "epochs_item2vec": 2,
}
FULL: dict[str, Any] = {
    "deepwalk": [100_000, 300_000, 1_000_000],
    "memory": 100_000,
    "walkspeed": 100_000,
    "item2vec": [25_000, 100_000, 160_000],  # 160k users x ~156 events = 25M interactions
    "search": [1_000_000, 3_000_000, 10_000_000],
    # compare_with_brp's exact reference is a cross join (items x users pairs): 1M x 100k would be
    # 1e11 pairs, so the full run stops at 100k x 5k (5e8)
    "spark": [(10_000, 500), (30_000, 1_500), (100_000, 5_000)],
    "sparkwalks": [10_000, 30_000, 100_000],
    "sparkwalks_len": (1, 10),
    "walks": (10, 80),
    "dim_window": (128, 10),
    "epochs_item2vec": 5,
}


# ------------------------------------------------------------------------------------ data
def chung_lu_edges(
    n_nodes: int,
    n_edges: int,
    n_communities: int | None = None,
    mixing: float = 0.2,
    exponent: float = 2.5,
    random_state: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Seeded power-law graph with communities (a Chung-Lu model with planted groups).

    Node i gets an expected-degree weight ``theta_i ~ Pareto(exponent - 1)`` (so the degrees
    follow a power law with that exponent) and a uniform community. Each of ``n_edges`` edges
    draws its source in proportion to theta; with probability ``1 - mixing`` its target is drawn
    in proportion to theta within the source's community, otherwise among all nodes. Self loops
    are redrawn as a shift to the next node. Weights are log-normal (median 1).
    ``n_communities`` defaults to one per 1,000 nodes.

    Returns ``(src, dst, weight)``: int64, int64, float64 arrays of length ``n_edges``.
    """
    if n_nodes < 2 or n_edges < 1:
        raise ValueError(f"need n_nodes >= 2 and n_edges >= 1, got {n_nodes}, {n_edges}")
    if not 0.0 <= mixing <= 1.0:
        raise ValueError(f"mixing must lie in [0, 1], got {mixing}")
    if exponent <= 2.0:
        raise ValueError(f"exponent must be > 2 (finite mean degree), got {exponent}")
    if n_communities is None:
        n_communities = max(1, n_nodes // 1000)
    rng = np.random.default_rng(random_state)
    theta = rng.pareto(exponent - 1.0, n_nodes) + 1.0
    theta = np.minimum(theta, np.sqrt(n_edges))  # no node expects more than sqrt(E) edges
    comm = rng.integers(0, n_communities, n_nodes)
    order = np.argsort(comm, kind="stable")  # nodes grouped by community
    cum = np.cumsum(theta[order])
    bounds = np.searchsorted(comm[order], np.arange(n_communities + 1))  # group g: [b_g, b_g+1)
    lo_mass = np.concatenate([[0.0], cum])[bounds[:-1]]
    hi_mass = np.concatenate([[0.0], cum])[bounds[1:]]
    cum_all = np.cumsum(theta)
    src = np.searchsorted(cum_all, rng.random(n_edges) * cum_all[-1], side="right")
    src = np.minimum(src, n_nodes - 1)
    g = comm[src]
    inside = rng.random(n_edges) >= mixing
    u = rng.random(n_edges)
    pos = np.searchsorted(cum, lo_mass[g] + u * (hi_mass[g] - lo_mass[g]), side="right")
    dst_in = order[np.minimum(pos, n_nodes - 1)]
    dst_out = np.minimum(
        np.searchsorted(cum_all, rng.random(n_edges) * cum_all[-1], side="right"), n_nodes - 1
    )
    dst = np.where(inside, dst_in, dst_out)
    loop = dst == src
    dst[loop] = (dst[loop] + 1) % n_nodes
    w = rng.lognormal(0.0, 1.0, n_edges)
    return src.astype(np.int64), dst.astype(np.int64), w


def synthetic_interactions(
    n_users: int,
    n_items: int,
    mean_events: float = 156.0,
    n_clusters: int | None = None,
    p_local: float = 0.7,
    random_state: int = 0,
) -> pd.DataFrame:
    """Seeded behaviour log at MovieLens-25M scale, generated with array operations only.

    Items are split into ``n_clusters`` clusters (default one per 100 items) laid out as rings,
    each with skewed popularity (rank = size * U^3). A user has a favourite cluster and ``~Geometric`` events
    (mean ``mean_events``, at least 3). A session is a run of moves: with probability
    ``p_local`` the next item is a ring neighbour (offset in -3..3) of the current one, else a
    jump to a popularity draw in the favourite (70 %) or a random cluster. So the next item
    depends on the current one, which is what Item2vec learns.

    Returns a frame (user_id int64, item_id int64, rating float32, timestamp int64).
    """
    if n_users < 1 or n_items < 2 or mean_events < 3:
        raise ValueError(f"bad sizes: {n_users} users, {n_items} items, {mean_events} events")
    rng = np.random.default_rng(random_state)
    k = n_clusters or max(1, n_items // 100)
    size = n_items // k
    lengths = np.maximum(rng.geometric(1.0 / mean_events, n_users), 3)
    n = int(lengths.sum())
    user = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    first = np.zeros(n, bool)
    first[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = True
    fav = rng.integers(0, k, n_users)[user]
    jump = first | (rng.random(n) >= p_local)
    cluster = np.where(rng.random(n) < 0.7, fav, rng.integers(0, k, n))
    pop = (size * rng.random(n) ** 3).astype(np.int64)  # rank within the cluster, skewed to 0
    offset = np.where(jump, 0, rng.integers(-3, 4, n))
    seg = np.cumsum(jump) - 1  # run of local moves after each jump
    jump_at = np.flatnonzero(jump)
    base_local = pop[jump_at][seg]
    cum = np.cumsum(offset)
    local = (base_local + cum - cum[jump_at][seg]) % size
    item = cluster[jump_at][seg] * size + local
    ts = np.cumsum(rng.exponential(300.0, n)).astype(np.int64)
    rating = np.clip(np.round(rng.normal(3.8, 0.8, n) * 2) / 2, 0.5, 5.0).astype(np.float32)
    return pd.DataFrame({"user_id": user, "item_id": item.astype(np.int64), "rating": rating,
                         "timestamp": ts})  # fmt: skip


def edge_file(n_nodes: int, n_edges: int, seed: int = 0) -> Path:
    """The Chung-Lu graph as ``u<TAB>v<TAB>w`` lines, written once and cached."""
    from embeddings.io import atomic_write

    path = CACHE / "bench-scale" / f"chunglu_n{n_nodes}_e{n_edges}_s{seed}.tsv"
    if path.exists():
        return path
    src, dst, w = chung_lu_edges(n_nodes, n_edges, random_state=seed)
    df = pd.DataFrame({"u": src, "v": dst, "w": np.round(w, 6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as fh:
        df.to_csv(fh, sep="\t", header=False, index=False, float_format="%.6f")
    return path


# ------------------------------------------------------------------------------------ children
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class _TreePeak:
    """Peak of the summed RSS of this process and its descendants (JVMs), sampled in a thread."""

    def __init__(self, every: float = 0.1) -> None:
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # noqa: BLE001 - a child that just exited
                pass
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    def __enter__(self) -> _TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _trim_heap() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _child_deepwalk(p: dict) -> dict:
    from embeddings.datasets.graphs import read_edgelist
    from embeddings.trainers import DeepWalk
    from embeddings.walks import generate_walks

    t0 = time.perf_counter()
    graph = read_edgelist(p["edges"], directed=False, weighted=True)
    read_s = time.perf_counter() - t0
    _trim_heap()
    generate_walks(graph, 1, 3, start_nodes=[0], progress=False)  # JIT / numba cache, not timed
    rss_graph = _peak_rss_mb()
    stream = {"matrix": False}.get(p["stream"], p["stream"])
    model = DeepWalk(
        num_walks=p["num_walks"],
        walk_length=p["walk_length"],
        dim=p["dim"],
        window=p["window"],
        negative=p.get("negative", 5),
        corpus_file=bool(p.get("corpus_file", False)),
        epochs=1,
        workers=p["threads"],
        stream=stream,
        random_state=0,
        progress=False,
    )
    t0 = time.perf_counter()
    emb = model.fit(graph)
    fit_s = time.perf_counter() - t0
    return {
        "nodes": graph.n_nodes,
        "arcs": graph.n_edges,
        "read_s": read_s,
        "walks_vectors_s": fit_s,
        "walk_s": emb.meta.get("walk_seconds"),
        "skipgram_s": emb.meta.get("seconds"),
        "total_s": read_s + fit_s,
        "peak_mb": _peak_rss_mb(),
        "peak_after_read_mb": rss_graph,
        "vectors": int(emb.vectors.shape[0]),
    }


def _child_walkspeed(p: dict) -> dict:
    """Walk throughput of the checkout on ``sys.path[0]`` (this one or a baseline)."""
    import numba

    from embeddings.graph import ItemGraph
    from embeddings.walks import generate_walks

    df = pd.read_csv(p["edges"], sep="\t", header=None, names=["u", "v", "w"])
    graph = ItemGraph.from_edges(df["u"], df["v"], df["w"], directed=False)
    del df
    generate_walks(graph, 1, 3, start_nodes=[0], progress=False)
    generate_walks(graph, 1, 3, p=0.5, q=2.0, start_nodes=[0], progress=False)
    out = {}
    for pq in ((1.0, 1.0), (0.5, 2.0)):
        t0 = time.perf_counter()
        w = generate_walks(
            graph, p["num_walks"], p["walk_length"], p=pq[0], q=pq[1],
            workers=p["threads"], random_state=0, progress=False,
        )  # fmt: skip
        out[f"walk_s_p{pq[0]}_q{pq[1]}"] = time.perf_counter() - t0
        out[f"steps_p{pq[0]}_q{pq[1]}"] = int((w >= 0).sum())
        del w
    out["threads"] = numba.get_num_threads()
    return out


def _child_item2vec(p: dict) -> dict:
    from embeddings.datasets.tables import Interactions
    from embeddings.trainers import Item2Vec

    t0 = time.perf_counter()
    data = Interactions(synthetic_interactions(p["users"], p["items"], p["events"]))
    gen_s = time.perf_counter() - t0
    n_inter = len(data)
    _trim_heap()
    t0 = time.perf_counter()
    emb = Item2Vec(
        mode="sequence", epochs=p["epochs"], workers=p["threads"], random_state=0, progress=False
    ).fit(data)
    return {
        "interactions": n_inter,
        "corpus_tokens": emb.meta.get("corpus_tokens"),
        "generate_s": gen_s,
        "train_s": time.perf_counter() - t0,
        "peak_mb": _peak_rss_mb(),
    }


def _child_search(p: dict) -> dict:
    from recall.bench.datasets import gaussian_mixture
    from recall.exact import ExactIndex, exact_knn, knn_recall
    from recall.lsh import SimHashIndex

    base, queries = gaussian_mixture(p["n"], 32, 200, 1000, random_state=0)
    _trim_heap()
    rss_data = _peak_rss_mb()
    if p["method"] == "exact":
        index = ExactIndex("cosine", threads=p["threads"])
    else:
        index = SimHashIndex("cosine", n_tables=16, n_bits=12, n_probes=16, random_state=0)
    index.build(base[:2000])  # compile (numba) on a small copy, not timed
    index.search(queries[:8], 10)
    t0 = time.perf_counter()
    index.build(base)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = index.search(queries, 10)
    search_s = time.perf_counter() - t0
    peak = _peak_rss_mb()
    out = {"build_s": build_s, "search_s": search_s, "peak_mb": peak, "data_mb": rss_data}
    if p["method"] != "exact":
        truth = exact_knn(base, queries, 10, threads=p["threads"]).ids
        out["knn_recall@10"] = float(knn_recall(res.ids, truth, 10))
    return out


def _child_spark(p: dict) -> dict:
    from recall.bench import spark_recall

    with tempfile.TemporaryDirectory() as tmp, _TreePeak() as peak:
        df = spark_recall.run(n_items=p["items"], n_users=p["users"], out_dir=Path(tmp))
    rows = df[["method", "bucket_length", "seconds", "knn_recall"]].to_dict("records")
    return {"rows": rows, "peak_tree_mb": peak.peak}


def _child_sparkwalks(p: dict) -> dict:
    from pyspark.sql import functions as F

    from embeddings.spark import spark_random_walks
    from recall.bench import spark_recall

    with _TreePeak() as peak:
        spark = spark_recall._session()
        try:
            t0 = time.perf_counter()
            edges = spark.read.csv(
                p["edges"], sep="\t", schema="src bigint, dst bigint, weight double"
            )
            walks = spark_random_walks(
                spark, edges, num_walks=p["num_walks"], walk_length=p["walk_length"],
                p=p["p"], q=p["q"], directed=False, random_state=0,
            )  # fmt: skip
            agg = walks.agg(F.count("*").alias("n"), F.sum(F.size("walk")).alias("nodes")).first()
            seconds = time.perf_counter() - t0
        finally:
            spark.stop()
    return {"seconds": seconds, "walks": int(agg["n"]), "nodes_walked": int(agg["nodes"]),
            "peak_tree_mb": peak.peak}  # fmt: skip


CHILDREN = {
    "sparkwalks": _child_sparkwalks,
    "deepwalk": _child_deepwalk,
    "walkspeed": _child_walkspeed,
    "item2vec": _child_item2vec,
    "search": _child_search,
    "spark": _child_spark,
}


def _run_child(task: str, params: dict, root: Path = REPO, timeout: float = 7200) -> dict:
    """Run one measurement in a fresh interpreter importing the code under ``root``."""
    env = dict(os.environ, PYTHONPATH=str(root))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(params.get("threads", 1))
    env["NUMBA_NUM_THREADS"] = str(max(params.get("threads", 1), 1))
    # this file run as a script: its imports are numpy/pandas/stdlib, and ``embeddings`` /
    # ``recall`` come from ``root`` (which may be another checkout, e.g. the walkspeed baseline)
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--child", task, json.dumps(params)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{task} {params} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(task=task, load_before=load, wall_s=time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------------------------ tasks
def _slope(x: Any, y: Any) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def task_deepwalk(cfg: dict, threads: int) -> list[dict]:
    rows = []
    nw, wl = cfg["walks"]
    for n in cfg["deepwalk"]:
        path = edge_file(n, 10 * n)
        r = _run_child(
            "deepwalk",
            dict(edges=str(path), stream="regenerate", num_walks=nw, walk_length=wl,
                 threads=threads, dim=cfg["dim_window"][0], window=cfg["dim_window"][1],
                 corpus_file=cfg.get("corpus_file", False)),
        )  # fmt: skip
        r.update(size=n, edges=10 * n, corpus_file=bool(cfg.get("corpus_file", False)))
        rows.append(r)
    return rows


def task_memory(cfg: dict, threads: int) -> list[dict]:
    n = cfg["memory"]
    path = edge_file(n, 10 * n)
    nw, wl = cfg["walks"]
    rows = []
    # the skip-gram's memory (vectors, context vectors, vocabulary, noise table) depends on the
    # vocabulary and dim only: window 1 and one negative keep it and cut the training time
    dim = cfg["dim_window"][0]
    for stream, corpus_file in (("matrix", False), ("regenerate", False), ("spill", False),
                                ("regenerate", True)):  # fmt: skip
        params = dict(edges=str(path), stream=stream, num_walks=nw, walk_length=wl,
                      threads=threads, dim=dim, window=1, negative=1, corpus_file=corpus_file)  # fmt: skip
        r = _run_child("deepwalk", params)
        variant = stream + (" + corpus_file" if corpus_file else "")
        r.update(size=n, edges=10 * n, variant=variant, task="memory", dim=dim)
        rows.append(r)
    return rows


def task_walkspeed(cfg: dict, threads: int, baseline: Path | None, repeats: int = 3) -> list[dict]:
    if baseline is None:
        return []
    n = cfg["walkspeed"]
    path = edge_file(n, 10 * n)
    nw, wl = cfg["walks"]
    rows = []
    for rep in range(repeats):
        for name, root in (("baseline", baseline), ("this", REPO)):
            params = dict(edges=str(path), num_walks=nw, walk_length=wl, threads=threads)
            r = _run_child("walkspeed", params, root=root)
            r.update(size=n, variant=name, repeat=rep)
            rows.append(r)
    return rows


def task_item2vec(cfg: dict, threads: int) -> list[dict]:
    rows = []
    events = 40 if cfg["quick"] else 156
    for users in cfg["item2vec"]:
        params = dict(users=users, items=max(users // 3, 200) if cfg["quick"] else 60_000,
                      events=events,
                      epochs=cfg["epochs_item2vec"], threads=threads)  # fmt: skip
        r = _run_child("item2vec", params)
        r.update(size=r["interactions"], users=users)
        rows.append(r)
    return rows


def task_search(cfg: dict, threads: int) -> list[dict]:
    rows = []
    for n in cfg["search"]:
        for method in ("exact", "lsh"):
            r = _run_child("search", dict(n=n, method=method, threads=threads))
            r.update(size=n, variant=method)
            rows.append(r)
    return rows


def task_sparkwalks(cfg: dict, threads: int) -> list[dict]:
    rows = []
    nw, wl = cfg["sparkwalks_len"]
    for n in cfg["sparkwalks"]:
        path = edge_file(n, 10 * n)
        for pq in ((1.0, 1.0), (0.5, 2.0)):
            params = dict(edges=str(path), num_walks=nw, walk_length=wl, p=pq[0], q=pq[1],
                          threads=threads)  # fmt: skip
            r = _run_child("sparkwalks", params)
            r.update(size=n, edges=10 * n, variant=f"p={pq[0]}, q={pq[1]}")
            rows.append(r)
    return rows


def task_spark(cfg: dict, threads: int) -> list[dict]:
    rows = []
    for items, users in cfg["spark"]:
        r = _run_child("spark", dict(items=items, users=users, threads=threads))
        for m in r.pop("rows"):
            bl = m.get("bucket_length")
            variant = m["method"] if bl is None or pd.isna(bl) else f"{m['method']} (b={bl})"
            rows.append(
                dict(
                    task="spark", size=items, users=users, variant=variant,
                    seconds=m["seconds"], knn_recall=m["knn_recall"],
                    peak_tree_mb=r["peak_tree_mb"], load_before=r["load_before"],
                )
            )  # fmt: skip
    return rows


# ------------------------------------------------------------------------------------ report
def _table(df: pd.DataFrame, cols: list[str]) -> str:
    cols = [c for c in cols if c in df.columns]
    sub = df[cols].copy()
    for c in cols:
        if sub[c].dtype.kind == "f":
            sub[c] = sub[c].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(map(str, r)) + " |\n" for r in sub.values.tolist())


def _growth(df: pd.DataFrame, cost_cols: list[str], by: str | None = None) -> str:
    parts = []
    groups = [(None, df)] if by is None else list(df.groupby(by, sort=False))
    for key, g in groups:
        slopes = ", ".join(f"{c} ~ size^{_slope(g['size'], g[c]):.2f}" for c in cost_cols if c in g)
        parts.append(f"- {'' if key is None else f'{key}: '}{slopes}")
    return "\n".join(parts)


def _plot(df: pd.DataFrame, out: Path, name: str, cost_cols: list[str], by: str | None) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * len(cost_cols), 3.6), constrained_layout=True)
    axes = fig.subplots(1, len(cost_cols), squeeze=False)[0]
    groups = [(name, df)] if by is None else list(df.groupby(by, sort=False))
    for ax, col in zip(axes, cost_cols, strict=True):
        for key, g in groups:
            ax.plot(g["size"], g[col], marker="o", label=str(key))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("size")
        ax.set_ylabel(col)
        ax.legend(fontsize=7)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "plots" / f"{name}.png", dpi=90)


def _versions() -> dict[str, str]:
    import gensim
    import numba

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "numba": numba.__version__, "gensim": gensim.__version__, "pandas": pd.__version__}  # fmt: skip
    try:
        import pyspark

        out["pyspark"] = pyspark.__version__
    except ImportError:
        pass
    return out


SECTIONS = {
    "deepwalk": ("DeepWalk end to end (read -> walks -> vectors), streamed walks",
                 ["size", "edges", "arcs", "corpus_file", "read_s", "walks_vectors_s", "total_s", "peak_mb",
                  "peak_after_read_mb", "load_before"], ["total_s", "peak_mb"], None),
    "memory": ("Walks + skip-gram: walk matrix held vs streamed (dim as shown, window 1, 1 "
               "negative: the model's memory does not depend on window or negatives)",
               ["variant", "size", "edges", "dim", "read_s", "walks_vectors_s", "peak_mb",
                "peak_after_read_mb", "load_before"], [], None),
    "walkspeed": ("Walk engine throughput, baseline checkout vs this one (interleaved)",
                  ["variant", "repeat", "size", "walk_s_p1.0_q1.0", "walk_s_p0.5_q2.0",
                   "load_before"], [], None),
    "item2vec": ("Item2vec (sequence mode) on growing synthetic interactions",
                 ["size", "users", "corpus_tokens", "generate_s", "train_s", "peak_mb",
                  "load_before"], ["train_s", "peak_mb"], None),
    "search": ("Exact search and SimHash LSH on n x 32 (1,000 queries, k = 10)",
               ["variant", "size", "build_s", "search_s", "peak_mb", "knn_recall@10",
                "load_before"], ["build_s", "search_s", "peak_mb"], "variant"),
    "sparkwalks": ("Spark random walks on local[2] (adjacency DataFrame, joins; undirected "
                   "Chung-Lu graph, 10 edges per node)",
                   ["variant", "size", "edges", "walks", "nodes_walked", "seconds", "peak_tree_mb",
                    "load_before"], ["seconds"], "variant"),
    "spark": ("Spark batch recall on local[2] (all users, k = 10)",
              ["variant", "size", "users", "seconds", "knn_recall", "peak_tree_mb",
               "load_before"], ["seconds"], "variant"),
}  # fmt: skip


def write_report(rows: list[dict], out: Path, meta: dict, run: Any = None) -> None:
    """``results.csv``, ``report.md`` (and ``run.json`` with the harness record ``run``)."""
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "results.csv", index=False)
    lines = [
        "# Scale: cost growth with problem size",
        "",
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['cpus']} CPUs, "
        f"{meta['threads']} thread(s) per run). Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
    ]
    if run is not None:
        lines += [f"Machine: {run.load_text()}.", "", *[f"> {n}" for n in run.notes], ""]
    if meta["quick"]:
        lines += [
            "**Small run (`--quick`) on a shared, loaded machine: the sizes are far below the "
            "goal and the timings are noisy. Read the shapes of the growth, not the figures; "
            "the full-size commands are below.**",
            "",
        ]
    for task, (title, cols, cost_cols, by) in SECTIONS.items():
        sub = df[df["task"] == task] if "task" in df else df.iloc[0:0]
        if sub.empty:
            continue
        lines += [f"## {title}", "", _table(sub, cols)]
        if cost_cols and sub["size"].nunique() >= 2:
            lines += ["Growth (log-log slope):", "", _growth(sub, cost_cols, by), ""]
            _plot(sub, out, task, cost_cols, by)
            lines += [f"![{task}](plots/{task}.png)", ""]
        if task == "walkspeed":
            med = sub.groupby("variant")[["walk_s_p1.0_q1.0", "walk_s_p0.5_q2.0"]].median()
            if {"baseline", "this"} <= set(med.index):
                ratio = med.loc["baseline"] / med.loc["this"]
                lines += [
                    "Median speed ratio baseline time / this time: "
                    + ", ".join(f"{k}: {v:.3f}" for k, v in ratio.items()),
                    "",
                ]
    lines += ["## Full-size commands (for a quiet machine)", "", meta["full_help"], ""]
    if run is not None:
        lines += run.markdown()
        (out / "run.json").write_text(run.to_json(), encoding="utf-8")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")


FULL_HELP = """\
Estimated run times on a quiet 2-core machine (extrapolated from the loaded runs here, not measured):

```
# ~25 min, peaks < 1 GB: memory of walks + skip-gram at 100k / 1M (4 variants), walk speed vs a baseline
python -m recall.bench.scale --tasks memory,walkspeed --baseline /tmp/embrecall-base --threads 1
# DeepWalk end to end at 100k / 300k / 1M nodes (10 edges each; 10 x 80 walks, d 128, window 10):
# ~45-90 min in all, the 1M run 30-45 min and ~2.5 GB peak (gensim's skip-gram is the cost)
python -m recall.bench.scale --tasks deepwalk --threads 2 --corpus-file
# only the 1M-node / 10M-edge run
python -m recall.bench.scale --tasks deepwalk --threads 2 --corpus-file --sizes 1000000 --out reports/scale/1m
# ~20-30 min, peaks ~3-4 GB: Item2vec up to 25M interactions, exact and LSH search up to 10M x 32
python -m recall.bench.scale --tasks item2vec,search --threads 2
# ~30-60 min: Spark batch recall up to 100k items x 5k users, Spark walks up to 100k nodes
python -m recall.bench.scale --tasks spark,sparkwalks --threads 2
```
(`--baseline DIR` is a checkout to compare the walk speed with, e.g.
`git archive bca1d64 embeddings recall | tar -x -C /tmp/embrecall-base`.)"""


def main(argv: list[str] | None = None) -> int:
    # imported here, not at the top: children run this file as a script against another
    # checkout (walkspeed's baseline), whose recall package may predate the harness
    from recall.bench.harness import bench_parser, default_out, start_run

    ap = bench_parser(
        "scale", __doc__.split("\n")[0], quick_help="small sizes (about a minute)", seed=None
    )
    ap.add_argument("--tasks", default=None, help="comma-separated subset of the tasks")
    ap.add_argument("--baseline", type=Path, default=None, help="checkout for walkspeed")
    ap.add_argument(
        "--sizes",
        default=None,
        help="comma-separated sizes for deepwalk/item2vec/search/sparkwalks",
    )
    ap.add_argument(
        "--corpus-file", action="store_true", help="deepwalk: gensim corpus_file mode (C reader)"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("params", nargs="?", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(args.params))))
        return 0
    cfg = dict(QUICK if args.quick else FULL)
    cfg["quick"] = args.quick
    cfg["corpus_file"] = args.corpus_file
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
        for key in ("deepwalk", "item2vec", "search", "sparkwalks"):
            cfg[key] = sizes
    default = (
        "deepwalk,memory,item2vec,search" if args.quick else "deepwalk,memory,item2vec,search,spark"
    )
    tasks = (args.tasks or default).split(",")
    unknown = set(tasks) - {"deepwalk", "memory", "walkspeed", "item2vec", "search", "spark",
                            "sparkwalks"}  # fmt: skip
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}")
    run = start_run("scale", args, argv)  # refuses a busy machine unless --allow-load / --quick
    rows: list[dict] = []
    runners = {
        "deepwalk": lambda: task_deepwalk(cfg, args.threads),
        "memory": lambda: task_memory(cfg, args.threads),
        "walkspeed": lambda: task_walkspeed(cfg, args.threads, args.baseline),
        "item2vec": lambda: task_item2vec(cfg, args.threads),
        "search": lambda: task_search(cfg, args.threads),
        "spark": lambda: task_spark(cfg, args.threads),
        "sparkwalks": lambda: task_sparkwalks(cfg, args.threads),
    }
    for t in tasks:
        rows += runners[t]()
    meta = {
        "command": "python -m recall.bench.scale "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "versions": _versions(),
        "quick": args.quick,
        "full_help": FULL_HELP,
    }
    run.finish()
    write_report(rows, default_out("scale", args.quick, args.out), meta, run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
