"""Spark batch recall at growing sizes: our LSH bucket join vs BucketedRandomProjectionLSH vs exact.

    python -m recall.bench.spark_recall --quick                     # two tiny sizes (~3 min)
    python -m recall.bench.spark_recall                             # the cost-growth table:
        --sizes 10000x500,100000x5000,300000x30000,1000000x100000   # (the default sizes)

For every size ``ITEMSxUSERS`` it draws clustered unit vectors (Gaussian mixture, 100 clusters,
seeded; users from the same mixture), writes them as Parquet (Spark reads data at rest, as in
production) and, on a fresh ``local[2]`` SparkSession, recommends the top ``k`` items of **every**
user with :func:`recall.spark.compare_with_brp`:

* ``embrecall-lsh``: the SimHash hasher of our local index (``--tables`` tables; ``--bits auto``
  picks the most bits whose local recall, home buckets only, reaches ``--target`` on a sample of
  users), broadcast, bucket join, exact re-rank, window top-k;
* ``spark-brp``: Spark ML's ``BucketedRandomProjectionLSH.approxSimilarityJoin`` at each
  ``--bucket-lengths`` value with the same number of tables;
* ``exact``: all users by :func:`recall.spark.broadcast_exact_top_k` (users broadcast, item
  partitions scanned with ``ExactIndex``) where ``n_users x n_items <= --exact-max``;
  ``exact-sample``: the same for the graded sample only.

Both LSH joins are graded on a seeded sample of ``--sample`` users (knn_recall@k with its 95%
interval); a join whose bucket join would produce more than ``--max-pairs`` rows (counted
beforehand) is not run and its row says so. The **single-process line** runs our local
``SimHashIndex`` (same hasher, home buckets; build + batch search of every user) and local
``ExactIndex`` on the same vectors in this Python process, so the table shows where Spark starts
to pay off over one process. Every figure is one wall-clock run (``time.perf_counter``) with the
1-minute load average recorded before it; Spark session start-up and data loading are not timed.

Writes ``results.csv`` (one row per size and method) and ``results.md`` (the cost-growth table,
the growth exponent of each method, per-size details, environment) to ``--out``
(default ``reports/spark`` under the working directory).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recall.bench.datasets import gaussian_mixture
from recall.bench.harness import BenchRun, bench_parser, default_out, load_average, start_run
from recall.exact import exact_knn
from recall.exact import knn_recall as local_knn_recall
from recall.lsh import SimHashIndex

log = logging.getLogger(__name__)

FULL_SIZES = ((10_000, 500), (100_000, 5_000), (300_000, 30_000), (1_000_000, 100_000))
QUICK_SIZES = ((1_000, 100), (2_000, 200))
BUCKET_LENGTHS = (0.005, 0.02, 0.05)


def _session(driver_memory: str = "3g"):
    """A ``local[2]`` SparkSession for the bench (UI off, 8 shuffle partitions)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("embrecall-bench-spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"10000x500,100000x5000"`` -> ``[(10000, 500), (100000, 5000)]`` (items x users)."""
    out = []
    for part in text.split(","):
        try:
            a, b = part.lower().strip().split("x")
            n_items, n_users = int(a), int(b)
        except ValueError as exc:
            raise ValueError(f"size {part!r} is not ITEMSxUSERS (e.g. 10000x500)") from exc
        if n_items < 1 or n_users < 1:
            raise ValueError(f"size {part!r}: items and users must be >= 1")
        out.append((n_items, n_users))
    if not out:
        raise ValueError("no size given")
    return out


def _write_vectors(path: Path, ids: np.ndarray, x: np.ndarray) -> None:
    """Parquet ``(id bigint, vector list<float>)`` written by pyarrow (no Python rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(np.ascontiguousarray(x, dtype=np.float32).ravel())
    vec = pa.ListArray.from_arrays(
        pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32)), flat
    )
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "vector": vec}), path)


def pick_bits(
    items_x: np.ndarray,
    item_ids: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    n_tables: int,
    k: int,
    target: float,
    random_state: int,
) -> tuple[int, float]:
    """Most SimHash bits per table whose local recall (home buckets only) reaches ``target``.

    ``truth`` holds the exact top-``k`` ids (``item_ids``) of ``queries``.

    Tries ``round(log2(n / 4))`` bits downwards to 2; returns ``(bits, recall)`` (the last one
    tried if none reaches the target).
    """
    bits = max(2, int(round(math.log2(max(8, items_x.shape[0]) / 4))))
    rec = 0.0
    while bits >= 2:
        idx = SimHashIndex("cosine", n_tables=n_tables, n_bits=bits, n_probes=n_tables,
                           random_state=random_state).build(items_x, item_ids)  # fmt: skip
        rec = local_knn_recall(idx.search(queries, k).ids, truth, k)
        log.info("bits %d: local knn_recall@%d %.3f", bits, k, rec)
        if rec >= target:
            break
        bits -= 1
    return max(bits, 2), rec


def _local_rows(
    idx: SimHashIndex,
    items_x: np.ndarray,
    item_ids: np.ndarray,
    users_x: np.ndarray,
    graded: np.ndarray,
    k: int,
    exact_max: float,
) -> list[dict[str, Any]]:
    """The single-process line: ``idx`` (compiled) built and searched for every user, graded on
    the users at rows ``graded``; ``ExactIndex`` for every user when ``n x users <= exact_max``."""
    from recall.spark.compare import recall_interval

    n_items, n_users = items_x.shape[0], users_x.shape[0]
    truth = exact_knn(items_x, users_x[graded], k, "cosine", ids=item_ids).ids
    t0 = time.perf_counter()
    idx.build(items_x, item_ids)
    res = idx.search(users_x, k)
    local_s = time.perf_counter() - t0
    per = np.array([local_knn_recall(res.ids[g : g + 1], truth[i : i + 1], k)
                    for i, g in enumerate(graded)])  # fmt: skip
    mean = local_knn_recall(res.ids[graded], truth, k)
    lo, hi = recall_interval(per, mean, n_users)
    rows = [{"method": "local-lsh", "seconds": local_s, "knn_recall": mean,
             "knn_recall_low": lo, "knn_recall_high": hi, "n_sample": graded.size,
             "n_users": n_users, "users_served": int((res.ids[:, 0] >= 0).sum()),
             "candidates_per_user": idx.stats()["mean_candidates"], "n_tables": idx.n_tables,
             "k": k, "skipped": ""}]  # fmt: skip
    if float(n_items) * n_users <= exact_max:
        exact_knn(items_x[:2000], users_x[:64], k)  # warm-up (compilation), untimed
        t0 = time.perf_counter()
        exact_knn(items_x, users_x, k, "cosine", ids=item_ids, threads=None)
        rows.append({"method": "local-exact", "seconds": time.perf_counter() - t0,
                     "knn_recall": 1.0, "n_users": n_users, "users_served": n_users,
                     "k": k, "skipped": ""})  # fmt: skip
    else:
        rows.append({"method": "local-exact", "n_users": n_users, "k": k,
                     "skipped": f"{n_items:,} x {n_users:,} > exact_max"})  # fmt: skip
    return rows


def run(
    n_items: int = 10_000,
    n_users: int = 500,
    d: int = 32,
    k: int = 10,
    n_tables: int = 16,
    n_bits: int | None = None,
    target: float = 0.9,
    bucket_lengths: tuple[float, ...] = BUCKET_LENGTHS,
    n_sample: int = 1000,
    exact_max: float = 1e11,
    max_pairs: float | None = 4e8,
    driver_memory: str = "3g",
    random_state: int = 0,
    out_dir: Path | None = None,
) -> pd.DataFrame:
    """One size: Spark rows of ``compare_with_brp`` + the single-process rows ``local-lsh`` and
    ``local-exact``; written to ``out_dir`` when given. ``n_bits=None`` picks the bits."""
    from recall.spark import compare_with_brp, sample_users

    load = load_average()
    items_x, users_x = gaussian_mixture(n_items, d, 100, n_users, random_state)
    item_ids = np.arange(n_items, dtype=np.int64) * 3 + 1
    user_ids = np.arange(n_users, dtype=np.int64) + 10**7
    if n_bits is None:  # tuned on its own sample of users, not the graded one
        rng = np.random.default_rng([random_state, 1])
        tune = np.sort(rng.choice(n_users, min(n_sample, n_users, 500), replace=False))
        tune_truth = exact_knn(items_x, users_x[tune], k, "cosine", ids=item_ids).ids
        n_bits, _ = pick_bits(
            items_x, item_ids, users_x[tune], tune_truth, n_tables, k, target, random_state
        )
    idx = SimHashIndex("cosine", n_tables=n_tables, n_bits=n_bits, n_probes=n_tables,
                       random_state=random_state)  # fmt: skip
    idx.build(items_x[: min(n_items, 2000)], item_ids[: min(n_items, 2000)])  # compile, untimed
    idx.search(users_x[:8], k)
    exact_all = "broadcast" if float(n_items) * n_users <= exact_max else None

    spark = _session(driver_memory)
    try:
        with tempfile.TemporaryDirectory(prefix="embrecall-spark-") as tmp:
            _write_vectors(Path(tmp) / "items.parquet", item_ids, items_x)
            _write_vectors(Path(tmp) / "users.parquet", user_ids, users_x)
            it = spark.read.parquet(str(Path(tmp) / "items.parquet")).repartition(8).cache()
            u = spark.read.parquet(str(Path(tmp) / "users.parquet")).repartition(8).cache()
            it.count(), u.count()
            # the users compare_with_brp grades (same seed): the local rows are graded on them too
            sampled = sample_users(spark, u, n_sample, random_state).select("id").collect()
            graded = np.sort(np.array([r["id"] for r in sampled], dtype=np.int64) - 10**7)
            rows = _local_rows(idx, items_x, item_ids, users_x, graded, k, exact_max)
            # warm-up, untimed: JVM code generation, Python workers, numba caches
            compare_with_brp(spark, u.limit(20), it.limit(500), idx.hasher, k=k,
                             bucket_length=bucket_lengths[0], n_sample=10, exact_all=exact_all,
                             random_state=random_state)  # fmt: skip
            df = compare_with_brp(
                spark, u, it, idx.hasher, k=k, bucket_length=bucket_lengths,
                n_sample=n_sample, exact_all=exact_all, max_pairs=max_pairs,
                random_state=random_state,
            )  # fmt: skip
            if exact_all is None:
                df = pd.concat([df, pd.DataFrame([{
                    "method": "exact", "n_users": n_users, "k": k,
                    "skipped": f"{n_items:,} x {n_users:,} > exact_max"}])], ignore_index=True)  # fmt: skip
            spark_version = spark.version
    finally:
        spark.stop()
    df = pd.concat([df, pd.DataFrame(rows)], ignore_index=True)
    df["n_items"], df["d"], df["n_bits"], df["load_1min"] = n_items, d, n_bits, load[0]
    df["spark_version"] = spark_version
    if out_dir is not None:
        _write(df, Path(out_dir), None)
    return df


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def _secs(v: Any) -> str:
    """Seconds: 3 significant digits below 100 s, whole seconds above."""
    return _fmt(v, ".3g" if v is not None and v < 100 else ",.0f")


def _growth(df: pd.DataFrame) -> dict[str, float]:
    """Slope of log(seconds) against log(n_items x n_users) per method (>= 2 sizes)."""
    out = {}
    best = df[df["skipped"] == ""].dropna(subset=["seconds"])
    for method, g in best.groupby("method"):
        g = g.groupby(["n_items", "n_users"], as_index=False)["seconds"].min()
        if len(g) >= 2:
            x = np.log(g["n_items"].to_numpy(float) * g["n_users"].to_numpy(float))
            out[method] = float(np.polyfit(x, np.log(g["seconds"].to_numpy(float)), 1)[0])
    return out


def _write(df: pd.DataFrame, out_dir: Path, bench: BenchRun | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "results.csv", index=False)
    if bench is None:
        bench = BenchRun(name="spark_recall", command="recall.bench.spark_recall.run(...)")
        bench.load_before = (float(df["load_1min"].iloc[0]),) * 3
    if bench.load_after is None:
        bench.finish()
    first = df.iloc[0]
    lines = bench.header("Spark batch recall at growing sizes: our bucket join vs BRP vs exact")
    lines += [
        f"Data: Gaussian mixture, 100 clusters, unit vectors, d={first['d']}, users from the "
        f"same mixture, k={first['k']}, cosine. Spark {first['spark_version']} `local[2]`; "
        "vectors read from Parquet. Every method recommends for **all** users; knn_recall@k is "
        "graded on a seeded sample of users (95% interval, finite-population corrected).",
        "Ours: SimHash, the local index's hasher broadcast, OR over tables, home buckets only, "
        "bucket join + exact re-rank + window top-k. Spark BRP: as many tables of one "
        "projection each (its design), `approxSimilarityJoin`, same top-k window. Single "
        "process: our `SimHashIndex` with the same hasher (build + batch search of every user) "
        "and `ExactIndex`, in one Python process on the same 2 cores.",
        "",
        "## Cost growth (wall seconds, one run each; knn_recall@k on the graded sample)",
        "",
        "Each Spark job runs once (minutes each at the largest sizes), after one untimed warm-up "
        "comparison on 500 items x 20 users in the same session; the local rows are warmed up "
        "(numba compilation) on a 2,000-item copy. `load` is the 1-minute load average before "
        "the size started.",
        "",
        "| items x users | bits | load | method | bucket length | seconds | knn_recall@k [95%] "
        "| candidates / user | bucket-join rows | note |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|---|",
    ]
    for r in df.itertuples(index=False):
        rec = _fmt(r.knn_recall, ".3f")
        if rec and not (np.isnan(r.knn_recall_low) or r.knn_recall_low == r.knn_recall_high):
            rec += f" [{r.knn_recall_low:.3f}, {r.knn_recall_high:.3f}]"
        lines.append(
            f"| {r.n_items:,} x {r.n_users:,} | {r.n_bits} | {r.load_1min:.1f} | {r.method} | "
            f"{_fmt(r.bucket_length, 'g')} | {_secs(r.seconds)} | {rec} | "
            f"{_fmt(r.candidates_per_user, ',.0f')} | {_fmt(r.bucket_collisions, ',.0f')} | "
            f"{r.skipped} |"
        )
    lines += ["", "## Where Spark pays off over one process", ""]
    lines += ["| items x users | local-lsh s | embrecall-lsh (Spark) s | Spark / local | "
              "best BRP s at recall >= ours - 0.02 | BRP / ours |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (ni, nu), g in df.groupby(["n_items", "n_users"], sort=True):
        loc = g.loc[g["method"] == "local-lsh", "seconds"].min()
        is_ours = g["method"] == "embrecall-lsh"
        ours = g[is_ours].iloc[0] if is_ours.any() else None
        osec = float(ours["seconds"]) if ours is not None else np.nan
        brp = g[(g["method"] == "spark-brp") & g["knn_recall"].notna()]
        if ours is not None and not np.isnan(ours["knn_recall"]):
            brp = brp[brp["knn_recall"] >= ours["knn_recall"] - 0.02]
        bsec = float(brp["seconds"].min()) if len(brp) else np.nan
        lines.append(
            f"| {ni:,} x {nu:,} | {_secs(loc)} | {_secs(osec)} | "
            f"{_fmt(osec / loc, '.3g')} | {_secs(bsec) or 'none ran at that recall'} | "
            f"{_fmt(bsec / osec, '.2f')} |"
        )
    slopes = _growth(df)
    if slopes:
        lines += ["", "Growth exponent (slope of log seconds against log(items x users)): "
                  + ", ".join(f"{m} {s:.2f}" for m, s in sorted(slopes.items())) + "."]  # fmt: skip
    lines += [
        "",
        "Spark / local < 1 means the Spark job beat one process. On `local[2]` both use the "
        "same 2 cores, so this is the overhead Spark costs before a cluster adds machines. "
        "Session start-up, data generation and Parquet writing are not timed.",
        "",
        *bench.markdown(),
    ]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_sizes(
    sizes: list[tuple[int, int]], out_dir: Path, bench: BenchRun | None = None, **kwargs: Any
) -> pd.DataFrame:
    """:func:`run` at every ``(n_items, n_users)`` (a fresh SparkSession each), one report."""
    frames = []
    for n_items, n_users in sizes:
        log.info("size %d items x %d users (load %.2f)", n_items, n_users, load_average()[0])
        frames.append(run(n_items=n_items, n_users=n_users, **kwargs))
        _write(pd.concat(frames, ignore_index=True), out_dir, None)  # partial report as we go
    df = pd.concat(frames, ignore_index=True)
    _write(df, out_dir, bench.finish() if bench is not None else None)
    return df


def main(argv: list[str] | None = None) -> None:
    p = bench_parser(
        "spark_recall", __doc__.splitlines()[0], quick_help="tiny sizes 1000x100,2000x200 (~3 min)",
        threads=None,
    )  # fmt: skip
    p.add_argument(
        "--sizes", default=None, help="ITEMSxUSERS,... (default: 10k x 500 -> 1M x 100k)"
    )
    p.add_argument("--items", type=int, default=None, help="one size: items (with --users)")
    p.add_argument("--users", type=int, default=None, help="one size: users (with --items)")
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--tables", type=int, default=16)
    p.add_argument("--bits", default="auto", help="SimHash bits per table, or auto (--target)")
    p.add_argument("--target", type=float, default=0.9, help="local recall the auto bits reach")
    p.add_argument(
        "--bucket-lengths",
        default=None,
        help=f"BRP bucket lengths (default {','.join(map(str, BUCKET_LENGTHS))}; quick 0.05)",
    )
    p.add_argument(
        "--sample", type=int, default=None, help="graded users (default 1000; quick 100)"
    )
    p.add_argument("--exact-max", type=float, default=1e11,
                   help="run exact for all users up to this items x users")  # fmt: skip
    p.add_argument("--max-pairs", type=float, default=4e8,
                   help="skip an LSH join with more bucket-join rows than this")  # fmt: skip
    p.add_argument("--driver-memory", default="3g")
    args = p.parse_args(argv)
    if (args.items is None) != (args.users is None):
        p.error("--items and --users go together")
    # the load guard: a timed run refuses a busy machine (--allow-load to force; quick only flags)
    bench = start_run("spark_recall", args, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.items is not None:
        sizes = [(args.items, args.users)]
    elif args.sizes:
        sizes = parse_sizes(args.sizes)
    else:
        sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    if args.bucket_lengths:
        lengths = tuple(float(b) for b in args.bucket_lengths.split(","))
    else:
        lengths = (0.05,) if args.quick else BUCKET_LENGTHS
    out = default_out("spark", args.quick, args.out)
    df = run_sizes(
        sizes, out, bench,
        d=args.d, k=args.k, n_tables=args.tables,
        n_bits=None if args.bits == "auto" else int(args.bits), target=args.target,
        bucket_lengths=lengths,
        n_sample=args.sample or (100 if args.quick else 1000), exact_max=args.exact_max,
        max_pairs=args.max_pairs, driver_memory=args.driver_memory, random_state=args.seed,
    )  # fmt: skip
    log.info("\n%s", df.drop(columns=["spark_version"]).to_string(index=False))


if __name__ == "__main__":
    main()
