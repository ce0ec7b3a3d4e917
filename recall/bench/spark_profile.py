"""Where the time of Spark batch recall goes: the shuffle bucket join stage by stage, against the broadcast index.

    python -m recall.bench.spark_profile --items 100000 --users 5000 --tables 16 --bits 11

On one ``local[2]`` session (the bench's, :func:`recall.bench.spark_recall._session`), on the
bench's vectors, after an untimed warm-up, each stage is materialised (cached + counted) and
timed apart:

1. ``hash``: users and items hashed on the executors (``hash_vectors``);
2. ``collisions``: the bucket-join rows counted by aggregation (``bucket_collisions``);
3. ``pairs``: the bucket join and the merge into ``(user, item, votes)`` pairs;
4. ``rerank_sql``: the pairs' vectors joined, scored by Spark higher-order functions and ranked
   by a window (the previous plan) and ``rerank_arrow``: the same joins, scored and ranked in
   numpy per user partition (``recall.spark.frames.rerank``'s default);
5. ``broadcast``: the built index broadcast and every user searched by it
   (``broadcast_index_top_k``), and ``local``: the same index searching every user in this
   process.

Both re-rank plans must give the same ids (checked on every user). ``--explain`` prints Spark's
formatted plan of both re-ranks. Writes ``profile.json`` and ``profile.md`` to ``--out``
(default ``reports/spark/profile``); timings carry the load average before and after.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recall.bench.harness import bench_parser, default_out, load_average, start_run

log = logging.getLogger(__name__)


def _timed(frame: Any) -> tuple[Any, float, int]:
    """Cache and count ``frame``: (frame, wall seconds, rows)."""
    t0 = time.perf_counter()
    frame = frame.cache()
    n = frame.count()
    return frame, time.perf_counter() - t0, n


def profile(
    n_items: int,
    n_users: int,
    n_tables: int,
    n_bits: int,
    k: int = 10,
    d: int = 32,
    explain: bool = False,
    random_state: int = 0,
    spark: Any = None,
) -> dict[str, Any]:
    """Stage times of the shuffle bucket join, both re-rank plans, the broadcast index and the
    local index on the bench's vectors (see the module docstring). ``spark``: a session to use
    (left running); by default the bench's ``local[2]`` one, stopped at the end."""
    from recall.bench import spark_recall as sr
    from recall.bench.datasets import gaussian_mixture
    from recall.lsh import SimHashIndex
    from recall.spark import broadcast_index_top_k, collect_top_k
    from recall.spark.bucket_join import bucket_collisions, hash_vectors, lsh_candidate_pairs
    from recall.spark.frames import prepared_frame, rerank

    items_x, users_x = gaussian_mixture(n_items, d, 100, n_users, random_state)
    item_ids = np.arange(n_items, dtype=np.int64) * 3 + 1
    user_ids = np.arange(n_users, dtype=np.int64) + 10**7
    idx = SimHashIndex("cosine", n_tables=n_tables, n_bits=n_bits, n_probes=n_tables,
                       random_state=random_state).build(items_x, item_ids)  # fmt: skip
    idx.search(users_x[:8], k)  # compile, untimed
    own = spark is None
    spark = sr._session() if own else spark
    out: dict[str, Any] = {"n_items": n_items, "n_users": n_users, "n_tables": n_tables,
                           "n_bits": n_bits, "k": k, "load_before": load_average()[0]}  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="embrecall-spark-profile-") as tmp:
            sr._write_vectors(Path(tmp) / "i.parquet", item_ids, items_x)
            sr._write_vectors(Path(tmp) / "u.parquet", user_ids, users_x)
            it = spark.read.parquet(str(Path(tmp) / "i.parquet")).repartition(8).cache()
            u = spark.read.parquet(str(Path(tmp) / "u.parquet")).repartition(8).cache()
            it.count(), u.count()
            pu = prepared_frame(spark, u, "cosine", "users")
            pi = prepared_frame(spark, it, "cosine", "items")
            for mode in ("sql", "arrow"):  # warm-up, untimed
                warm = lsh_candidate_pairs(spark, u.limit(20), it.limit(500), idx.hasher)
                rerank(warm, pu, pi, k, "cosine", None, mode).count()
            broadcast_index_top_k(spark, u.limit(20), idx, k).count()

            hu, s1, _ = _timed(hash_vectors(spark, u, idx.hasher))
            hi, s2, _ = _timed(hash_vectors(spark, it, idx.hasher))
            out["hash_s"] = s1 + s2
            t0 = time.perf_counter()
            out["bucket_join_rows"] = bucket_collisions(hu, hi)
            out["collisions_s"] = time.perf_counter() - t0
            pairs, out["pairs_s"], out["pairs"] = _timed(
                lsh_candidate_pairs(spark, u, it, idx.hasher)
            )
            ids = {}
            for mode in ("sql", "arrow"):
                top = rerank(pairs, pu, pi, k, "cosine", None, mode)
                if explain:
                    top.explain(mode="formatted")
                top, out[f"rerank_{mode}_s"], out[f"rerank_{mode}_rows"] = _timed(top)
                ids[mode] = collect_top_k(top, user_ids, k)[0]
                top.unpersist()
            out["rerank_plans_agree"] = bool(np.array_equal(ids["sql"], ids["arrow"]))
            b, out["broadcast_s"], _ = _timed(broadcast_index_top_k(spark, u, idx, k))
            out["broadcast_equals_local"] = bool(
                np.array_equal(collect_top_k(b, user_ids, k)[0], idx.search(users_x, k).ids)
            )
            t0 = time.perf_counter()
            idx.search(users_x, k)
            out["local_search_s"] = time.perf_counter() - t0
            for f in (hu, hi, pairs, b, it, u):
                f.unpersist()
    finally:
        if own:
            spark.stop()
    out["load_after"] = load_average()[0]
    return out


def _markdown(r: dict[str, Any], command: str) -> str:
    stages = [("hash users + items", "hash_s"), ("count bucket-join rows", "collisions_s"),
              ("bucket join -> pairs", "pairs_s"), ("re-rank: SQL functions + window", "rerank_sql_s"),
              ("re-rank: numpy per user partition", "rerank_arrow_s"),
              ("broadcast index, all users", "broadcast_s"), ("local index, all users", "local_search_s")]  # fmt: skip
    lines = [
        "# Where the time of Spark batch recall goes",
        "",
        f"Command: `{command}`; {r['n_items']:,} items x {r['n_users']:,} users, SimHash "
        f"{r['n_tables']} tables x {r['n_bits']} bits (home buckets), k {r['k']}; load "
        f"{r['load_before']:.1f} before, {r['load_after']:.1f} after. Bucket-join rows "
        f"{r['bucket_join_rows']:,}, candidate pairs {r['pairs']:,}; the two re-rank plans agree "
        f"on every user: {r['rerank_plans_agree']}; broadcast = local index: "
        f"{r['broadcast_equals_local']}.",
        "",
        "| stage | wall s |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {r[key]:.2f} |" for name, key in stages]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = bench_parser("spark_profile", __doc__.splitlines()[0], threads=None)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--users", type=int, default=5_000)
    p.add_argument("--tables", type=int, default=16)
    p.add_argument("--bits", type=int, default=11)
    p.add_argument("--explain", action="store_true", help="print both re-rank plans")
    args = p.parse_args(argv)
    for name in ("items", "users", "tables", "bits"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    run = start_run("spark_profile", args, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.quick:
        args.items, args.users = min(args.items, 3_000), min(args.users, 200)
    r = profile(args.items, args.users, args.tables, args.bits, explain=args.explain,
                random_state=args.seed)  # fmt: skip
    run.finish()
    out = default_out("spark/profile", args.quick, args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
    (out / "profile.md").write_text(
        _markdown(r, run.command) + "\n" + "\n".join(run.markdown()) + "\n", encoding="utf-8"
    )
    log.info("%s", json.dumps(r))


if __name__ == "__main__":
    main()
