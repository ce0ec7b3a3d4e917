"""Spark batch recall at growing sizes: our LSH (broadcast index, shuffle bucket join) vs BucketedRandomProjectionLSH vs exact.

    python -m recall.bench.spark_recall --quick                     # two tiny sizes
    python -m recall.bench.spark_recall                             # the cost-growth table:
        --sizes 10000x500,100000x5000,300000x30000,1000000x100000   # (the default sizes)

For every size ``ITEMSxUSERS`` it draws clustered unit vectors (Gaussian mixture, 100 clusters,
seeded; users from the same mixture), writes them as Parquet (Spark reads data at rest, as in
production) and, on a fresh ``local[2]`` SparkSession (driver heap ``--driver-memory``, default
4g; one numba / BLAS thread per Python task), recommends the top ``k`` items of **every** user:

* ground truth: the exact top-``k`` of a seeded sample of ``--sample`` users (graded) and of a
  separate ``--tune-sample`` (tuning), by numpy / BLAS in the driver (never the full
  ``users x items`` product);
* tuning, the same effort for both (:func:`tune_simhash`, :func:`tune_brp`): ours over
  ``--tables`` x bits (home buckets), BRP over ``--brp-tables`` x ``--bucket-lengths``; each
  keeps the setting with the fewest candidates per user among those reaching ``--target`` on
  the tuning users;
* ``embrecall-broadcast``: items read into the driver, our ``SimHashIndex`` built, broadcast,
  every user partition searched by it (:func:`recall.spark.broadcast_index_top_k`);
* ``embrecall-lsh``: the shuffle bucket join with the same hasher (pairs, re-rank in numpy per
  user partition, :func:`recall.spark.lsh_batch_recall`);
* ``spark-brp``: ``approxSimilarityJoin`` at BRP's tuned setting, the same top-k window;
* ``exact``: :func:`recall.spark.broadcast_exact_top_k` where ``n_users x n_items <=
  --exact-max``; ``local-lsh`` / ``local-exact``: our index and ``ExactIndex`` in this one
  Python process on the same vectors (where Spark starts to pay off over one process).

A shuffle join whose bucket join would produce more than ``--max-pairs`` rows (counted
beforehand) is not run and its row says so. Every figure is one wall-clock run
(``time.perf_counter``) with the 1-minute load average recorded before it; Spark session
start-up, data generation and tuning are not in ``seconds`` (tuning has its own column).

Writes ``results.csv`` (one row per size and method; the tuning grids as JSON) and
``results.md`` (the cost-growth table, ours vs BRP, Spark vs one process, growth exponents,
environment) to ``--out`` (default ``reports/spark`` under the working directory).

This module holds the command line; its parts: ``spark_recall_run`` (:func:`run`, one size;
:func:`run_sizes`; the session), ``spark_recall_tuning`` (:func:`tune_simhash`,
:func:`tune_brp`), ``spark_recall_report`` (``results.csv``, ``results.md``); every name stays
importable from here.
"""

from __future__ import annotations

import logging

import numpy as np

from recall.bench.harness import bench_parser, default_out, start_run
from recall.bench.spark_recall_report import _growth, _write  # noqa: F401
from recall.bench.spark_recall_run import (  # noqa: F401
    BRP_TABLES_GRID,
    BUCKET_LENGTHS,
    COLUMNS,
    TABLES_GRID,
    _session,
    _write_vectors,
    run,
    run_sizes,
)
from recall.bench.spark_recall_tuning import pick_bits, tune_brp, tune_simhash  # noqa: F401

log = logging.getLogger(__name__)

FULL_SIZES = ((10_000, 500), (100_000, 5_000), (300_000, 30_000), (1_000_000, 100_000))
QUICK_SIZES = ((1_000, 100), (2_000, 200))


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


def _ints(text: str | None, name: str) -> tuple[int, ...]:
    """``"4,8"`` -> ``(4, 8)``; ``ValueError`` naming the option for anything but ints >= 1."""
    if not text:
        return ()
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"{name} takes comma-separated ints, got {text!r}") from exc
    if any(v < 1 for v in out):
        raise ValueError(f"{name}: every value must be >= 1, got {text!r}")
    return out


def _floats(text: str | None, name: str) -> tuple[float, ...]:
    """``"0.01,0.05"`` -> ``(0.01, 0.05)``; ``ValueError`` naming the option unless all > 0."""
    if not text:
        return ()
    try:
        out = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"{name} takes comma-separated numbers, got {text!r}") from exc
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name}: every value must be a finite number > 0, got {text!r}")
    return out


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
    p.add_argument("--tables", default=None,
                   help="our table counts tried (default 4,8,16,32; quick 8,16)")  # fmt: skip
    p.add_argument("--brp-tables", default=None,
                   help="BRP table counts tried (default 4,8,16,32; quick 8,16)")  # fmt: skip
    p.add_argument("--bits", default="auto",
                   help="SimHash bits per table (with the first --tables), or auto (--target)")  # fmt: skip
    p.add_argument("--tune-sample", type=int, default=500, help="users of the tuning sample")
    p.add_argument("--brp-tune-sample", type=int, default=None,
                   help="BRP's tuning users: a seeded subset of --tune-sample (default all)")  # fmt: skip
    p.add_argument("--no-shuffle-join", action="store_true",
                   help="skip our shuffle bucket join (embrecall-lsh)")  # fmt: skip
    p.add_argument("--target", type=float, default=0.9, help="local recall the auto bits reach")
    p.add_argument(
        "--bucket-lengths",
        default=None,
        help=f"BRP bucket lengths (default {','.join(map(str, BUCKET_LENGTHS))})",
    )
    p.add_argument(
        "--sample", type=int, default=None, help="graded users (default 1000; quick 100)"
    )
    p.add_argument("--exact-max", type=float, default=1e11,
                   help="run exact for all users up to this items x users")  # fmt: skip
    p.add_argument("--max-pairs", type=float, default=4e8,
                   help="skip an LSH join with more bucket-join rows than this")  # fmt: skip
    p.add_argument("--driver-memory", default="4g")
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
    lengths = _floats(args.bucket_lengths, "--bucket-lengths") or BUCKET_LENGTHS
    quick_tables = (8, 16) if args.quick else None
    tables = _ints(args.tables, "--tables") or quick_tables or TABLES_GRID
    brp_tables = _ints(args.brp_tables, "--brp-tables") or quick_tables or BRP_TABLES_GRID
    out = default_out("spark", args.quick, args.out)
    df = run_sizes(
        sizes, out, bench,
        d=args.d, k=args.k, tables_grid=tables, brp_tables_grid=brp_tables,
        n_tune=args.tune_sample, n_tune_brp=args.brp_tune_sample, shuffle_join=not args.no_shuffle_join,
        n_bits=None if args.bits == "auto" else int(args.bits), target=args.target,
        bucket_lengths=lengths,
        n_sample=args.sample or (100 if args.quick else 1000), exact_max=args.exact_max,
        max_pairs=args.max_pairs, driver_memory=args.driver_memory, random_state=args.seed,
    )  # fmt: skip
    log.info("\n%s", df.drop(columns=["spark_version"]).to_string(index=False))


if __name__ == "__main__":
    main()
