"""Spark batch recall: our LSH bucket join vs Spark ML's BucketedRandomProjectionLSH, vs exact.

``python -m recall.bench.spark_recall [--quick]`` draws clustered unit vectors (Gaussian mixture,
100 clusters, seeded; default 10,000 items x 32 and 500 users drawn from the same mixture) and,
on a ``local[2]`` SparkSession, computes the top-k items of every user three ways with
:func:`recall.spark.compare_with_brp`: exact (cross join), ours (SimHash hasher of the local
index broadcast, bucket join, exact re-rank, window top-k) and Spark's
``BucketedRandomProjectionLSH.approxSimilarityJoin`` at several bucket lengths with the same
number of tables. Reports knn_recall@k against exact, candidate pairs per user, wall time, and
writes ``reports/spark/results.csv`` / ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from embeddings.types import Embeddings
from recall.bench.datasets import gaussian_mixture
from recall.exact import ExactIndex
from recall.exact import knn_recall as local_knn_recall
from recall.lsh import SimHashIndex
from recall.measure import environment_info

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


def _session():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("embrecall-bench-spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "3g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(
    n_items: int = 10_000,
    n_users: int = 500,
    d: int = 32,
    k: int = 10,
    n_tables: int = 16,
    n_bits: int = 9,
    bucket_lengths: tuple[float, ...] = (0.02, 0.05, 0.2),
    random_state: int = 0,
    out_dir: Path | None = None,
) -> pd.DataFrame:
    """Run the comparison; returns the results table (also written to ``out_dir``)."""
    from recall.spark import compare_with_brp, embeddings_to_spark

    out_dir = Path(out_dir) if out_dir is not None else REPO / "reports" / "spark"
    items_x, users_x = gaussian_mixture(n_items, d, 100, n_users, random_state)
    items = Embeddings(np.arange(n_items, dtype=np.int64) * 3 + 1, items_x)
    users = Embeddings(np.arange(n_users, dtype=np.int64) + 10**6, users_x)
    idx = SimHashIndex("cosine", n_tables=n_tables, n_bits=n_bits, n_probes=n_tables,
                       random_state=random_state).build(items.vectors, items.ids)  # fmt: skip
    truth = ExactIndex("cosine").build(items.vectors, items.ids).search(users.vectors, k).ids
    local_recall = local_knn_recall(idx.search(users.vectors, k).ids, truth, k)
    local_cands = idx.stats()["mean_candidates"]
    spark = _session()
    try:
        u = embeddings_to_spark(spark, users, num_slices=4).cache()
        it = embeddings_to_spark(spark, items, num_slices=4).cache()
        u.count(), it.count()
        df = compare_with_brp(spark, u, it, idx.hasher, k=k, bucket_length=bucket_lengths,
                              random_state=random_state)  # fmt: skip
        log.info("\n%s", df.to_string(index=False))
        spark_version = spark.version
    finally:
        spark.stop()
    df["n_items"], df["n_users"], df["d"] = n_items, n_users, d
    cfg = dict(n_items=n_items, n_users=n_users, d=d, k=k, n_tables=n_tables, n_bits=n_bits,
               local_recall=local_recall, local_cands=local_cands,
               spark_version=spark_version, load=os.getloadavg())  # fmt: skip
    _write(df, out_dir, cfg)
    return df


def _write(df: pd.DataFrame, out_dir: Path, cfg: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "results.csv", index=False)
    env = environment_info()
    lines = [
        "# Spark batch recall: our LSH bucket join vs BucketedRandomProjectionLSH",
        "",
        f"Data: Gaussian mixture, 100 clusters, unit vectors, {cfg['n_items']:,} items x "
        f"{cfg['d']}, {cfg['n_users']:,} users from the same mixture, k={cfg['k']}, cosine. "
        f"Spark {cfg['spark_version']} local[2].",
        f"Ours: SimHash, {cfg['n_tables']} tables x {cfg['n_bits']} bits (the local index's "
        "hasher, broadcast), OR, bucket join + exact re-rank + window top-k. Spark BRP: "
        f"{cfg['n_tables']} tables of one projection each (its design), OR, "
        "`approxSimilarityJoin` with no distance threshold, then the same top-k window.",
        f"Check: the local SimHashIndex with the same hasher (no multi-probe) has knn_recall "
        f"{cfg['local_recall']:.4f} with {cfg['local_cands']:.0f} candidates per query — our "
        "Spark row must match it.",
        "",
        "| method | bucket length | knn_recall@k | candidates per user | users served | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in df.itertuples(index=False):
        bl = "" if np.isnan(r.bucket_length) else f"{r.bucket_length:g}"
        cand = "" if np.isnan(r.candidates_per_user) else f"{r.candidates_per_user:,.0f}"
        lines.append(
            f"| {r.method} | {bl} | {r.knn_recall:.4f} | {cand} | {r.users_served} | "
            f"{r.seconds:.1f} |"
        )
    lines += [
        "",
        "Seconds = wall time to materialise each top-k table on a 2-core machine shared with other "
        f"jobs (1-min load average {cfg['load'][0]:.1f} at the end): compare within the run only.",
        "",
        "## Environment",
        "",
        f"CPU: {env['cpu']} ({env['cpu_count']} cores), Python {env['python']}",
        "",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in env["libraries"].items()),
        "",
        "```json",
        json.dumps(env["threadpools"], indent=1),
        "```",
    ]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2,000 items, 200 users (< 1 min)")
    p.add_argument("--items", type=int, default=None)
    p.add_argument("--users", type=int, default=None)
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--tables", type=int, default=16)
    p.add_argument("--bits", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="default reports/spark (quick: /tmp)")
    p.add_argument("--seed", type=int, default=0)
    from recall.bench.harness import BenchRun, add_load_arguments

    add_load_arguments(p)
    args = p.parse_args(argv)
    # the load guard: a timed run refuses a busy machine (--allow-load to force; quick only flags)
    BenchRun.start(
        "spark_recall", argv, quick=args.quick, max_load=args.max_load, allow_load=args.allow_load
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.quick:
        n_items, n_users, bits = args.items or 2000, args.users or 200, args.bits or 6
        out = args.out or Path("/tmp/embrecall-bench-spark")
    else:
        n_items, n_users, bits = args.items or 10_000, args.users or 500, args.bits or 9
        out = args.out
    df = run(n_items=n_items, n_users=n_users, d=args.d, n_tables=args.tables, n_bits=bits,
             random_state=args.seed, out_dir=out)  # fmt: skip
    log.info("\n%s", df.to_string(index=False))


if __name__ == "__main__":
    main()
