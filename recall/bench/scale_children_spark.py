"""The Spark measurements of the scale benchmark, run by ``scale_children.py`` in a fresh
interpreter: batch recall for all users (``spark``), Spark walks (``sparkwalks``) and Spark ML
Word2Vec Item2vec (``sparkitem2vec``, with its quality check against the local ``Item2Vec``).
Their work happens in a JVM, so the peak is the summed RSS of the process tree
(:class:`recall.bench.scale_probe.TreePeak`). Heavy imports are inside each function.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from recall.bench.scale_probe import TreePeak as _TreePeak
from recall.bench.scale_probe import trim_heap as _trim_heap


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


def _next_item_hr(emb: Any, queries: Any, targets: Any, k: int = 10) -> float:
    """HR@k of the next item: the ``k`` nearest items (cosine, the query item itself left out)
    of each query item hold its target. Queries without a vector count as misses."""
    import numpy as np

    from recall.exact import exact_knn

    pos = np.searchsorted(emb.ids, queries)
    pos = np.minimum(pos, emb.ids.size - 1)
    known = emb.ids[pos] == queries
    res = exact_knn(emb.vectors, emb.vectors[pos[known]], k + 1, "cosine", ids=emb.ids).ids
    res = np.where(res == queries[known, None], -1, res)  # drop the query item itself
    hits = np.zeros(queries.size, bool)
    top = np.array([r[r >= 0][:k] for r in res], dtype=object)
    hits[known] = [t in row for t, row in zip(targets[known], top, strict=True)]
    return float(hits.mean())


def _neighbour_overlap(a: Any, b: Any, items: Any, k: int = 10) -> float:
    """Mean |top-k(a) ∩ top-k(b)| / k over ``items`` (ids in both), cosine, the item left out."""
    import numpy as np

    from recall.exact import exact_knn

    out = []
    tops = []
    for emb in (a, b):
        pos = np.searchsorted(emb.ids, items)
        ids = exact_knn(emb.vectors, emb.vectors[pos], k + 1, "cosine", ids=emb.ids).ids
        tops.append([[i for i in row if i != it][:k] for row, it in zip(ids, items, strict=True)])
    for ra, rb in zip(*tops, strict=True):
        out.append(len(set(ra) & set(rb)) / k)
    return float(np.mean(out))


def _child_sparkitem2vec(p: dict) -> dict:
    """Spark ML Word2Vec Item2vec on the scale bench's interactions, end to end on ``local[2]``:
    Parquet -> ``spark_sessions`` -> ``SparkItem2Vec.fit`` -> local ``Embeddings``; wall time
    and the peak summed RSS of this process, its JVM and its Python workers.

    With ``quality``: the last event of every user is held out before training; afterwards
    (outside the memory window) the local ``Item2Vec`` (gensim) trains on the same events with
    the same dim / window / epochs, and both are scored by next-item HR@10 (query = the user's
    last training item) against popularity, plus their neighbour overlap@10 on the most
    frequent items.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embeddings.spark import SparkItem2Vec, spark_sessions
    from recall.bench import spark_recall
    from recall.bench.scale_data import synthetic_interactions

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=p.get("tmp")) as tmp, _TreePeak() as peak:
        t0 = time.perf_counter()
        df = synthetic_interactions(p["users"], p["items"], p["events"])
        out["interactions"] = len(df)
        test = None
        if p.get("quality"):
            last = df.groupby("user_id").tail(1)
            test = last[["user_id", "item_id"]].rename(columns={"item_id": "target"})
            df = df.drop(index=last.index)
        path = Path(tmp) / "interactions.parquet"
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
        out["generate_s"] = time.perf_counter() - t0
        train = df if p.get("quality") else None
        del df
        _trim_heap()
        spark = spark_recall._session(p.get("driver_memory", "4g"))
        try:
            t0 = time.perf_counter()
            sessions = spark_sessions(spark.read.parquet(str(path)))
            model = SparkItem2Vec(
                vector_size=p["dim"], window=p["window"], epochs=p["epochs"], min_count=1,
                num_partitions=p["partitions"], random_state=0,
            )  # fmt: skip
            emb = model.fit(sessions)
            out["train_s"] = time.perf_counter() - t0
            out["fit_s"] = emb.meta["seconds"]  # Word2Vec.fit + collecting the vectors
        finally:
            spark.stop()
    out.update(peak_tree_mb=peak.peak, vectors=int(emb.ids.size),
               tokens=out["interactions"] - (0 if test is None else len(test)))  # fmt: skip
    if test is not None:
        from embeddings.datasets.tables import Interactions
        from embeddings.trainers import Item2Vec

        t0 = time.perf_counter()
        local = Item2Vec(mode="sequence", dim=p["dim"], window=p["window"], epochs=p["epochs"],
                         workers=p["threads"], random_state=0, progress=False).fit(
            Interactions(train))  # fmt: skip
        out["local_train_s"] = time.perf_counter() - t0
        q = train.groupby("user_id").tail(1).set_index("user_id")["item_id"]
        t = test.set_index("user_id")["target"].reindex(q.index)
        rng = np.random.default_rng(0)
        pick = rng.choice(q.size, min(q.size, p.get("quality_users", 5000)), replace=False)
        qi, ti = q.to_numpy()[pick], t.to_numpy()[pick]
        out["hr10_spark"] = _next_item_hr(emb, qi, ti)
        out["hr10_local"] = _next_item_hr(local, qi, ti)
        counts = train["item_id"].value_counts()
        top = counts.index.to_numpy()[:11]
        out["hr10_popularity"] = float(np.mean(
            [tt in [i for i in top if i != qq][:10] for qq, tt in zip(qi, ti, strict=True)]))  # fmt: skip
        frequent = np.intersect1d(counts.index.to_numpy()[:2000], emb.ids)
        frequent = np.intersect1d(frequent, local.ids)
        out["overlap10_spark_local"] = _neighbour_overlap(emb, local, frequent)
        local2 = Item2Vec(mode="sequence", dim=p["dim"], window=p["window"], epochs=p["epochs"],
                          workers=p["threads"], random_state=1, progress=False).fit(
            Interactions(train))  # fmt: skip
        out["overlap10_local_seeds"] = _neighbour_overlap(local, local2, frequent)
    return out
