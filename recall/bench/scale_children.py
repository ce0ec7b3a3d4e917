"""One measurement of the scale benchmark, run in a fresh interpreter (``recall.bench.scale``).

    python recall/bench/scale_children.py TASK PARAMS_JSON   # prints one JSON line

:func:`recall.bench.scale._run_child` runs this file as a script with ``PYTHONPATH`` set to the
checkout under test (this one, or walkspeed's ``--baseline``), so its own imports are the
standard library, numpy and pandas, and every ``embeddings`` / ``recall`` import is inside a
task. The peak resident memory is the child's own ``ru_maxrss``; for Spark (a JVM), the peak
summed RSS of the process tree (:class:`_TreePeak`).
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd


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
    from recall.bench.scale_data import synthetic_interactions

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


if __name__ == "__main__":
    task, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(CHILDREN[task](params)))
