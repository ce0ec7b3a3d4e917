"""Per-call overhead of the ``Index`` wrapper: every peer called natively vs through ``recall.peers``.

``python -m recall.bench.overhead [--quick] [--n 100000] [--family skewed] [--out DIR]``

At single-query rates of 10k-100k QPS a wrapper's per-call cost (input checks, normalisation, id
mapping) is a large share of a peer's time. The ANN benchmark therefore times every peer through
its own call (:meth:`recall.peers.HnswlibIndex.native_search` and the like). This bench shows
what the wrapper costs: per peer (hnswlib, faiss HNSW, faiss IVF, annoy), the same built index
called natively (queries prepared once) and through ``search(row, k)``, interleaved, wall clock,
one thread, with knn-recall@10 and a check that both calls return the same ids; next to our
:class:`recall.lsh.BalancedLSHIndex` through its public ``search``.

Writes ``results.csv``, ``results.md`` and ``run.json`` to ``--out`` (default ``./reports/overhead``).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np
import pandas as pd

from recall.bench.datasets import make_family
from recall.bench.harness import (
    bench_parser,
    default_out,
    fmt_range,
    interleave,
    single_thread,
    start_run,
    write_report,
)
from recall.exact import exact_knn, knn_recall

log = logging.getLogger(__name__)

K = 10


def _peers(args: Any) -> dict[str, Any]:
    """name -> unbuilt wrapped peer, for the libraries installed."""
    from recall import peers

    out: dict[str, Any] = {}
    if importlib.util.find_spec("hnswlib"):
        out["hnswlib"] = peers.HnswlibIndex(
            "cosine", M=args.M, ef_construction=args.ef_construction, ef=args.ef
        )
    if importlib.util.find_spec("faiss"):
        out["faiss HNSW"] = peers.FaissHNSWIndex(
            "cosine", M=args.M, ef_construction=args.ef_construction, ef=args.ef
        )
        out["faiss IVF"] = peers.FaissIVFIndex("cosine", nprobe=4)
    if importlib.util.find_spec("annoy"):
        out["annoy"] = peers.AnnoyIndex("cosine", n_trees=10, search_k=10 * K * 10)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(
        "overhead", __doc__.split("\n\n")[0], quick_help="5,000 vectors, 100 queries", seed=11
    )
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--family", default="skewed", help="gmm, skewed or ip_heavy")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--M", type=int, default=8)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", type=int, default=10)
    ap.add_argument("--query-probes", type=int, default=16)
    args = ap.parse_args(argv)
    from recall.lsh import BalancedLSHIndex

    n, nq = (5_000, 100) if args.quick else (args.n, args.queries)
    run = start_run("overhead", args, argv)
    x, q, metric = make_family(args.family, n, 64, nq, random_state=args.seed)
    if metric != "cosine":
        raise ValueError(f"this bench compares cosine search; family {args.family!r} is {metric}")
    truth = exact_knn(x, q, K, metric="cosine").ids
    rows = [q[i : i + 1] for i in range(nq)]
    fns: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}
    with single_thread(args.threads):
        for name, idx in _peers(args).items():
            idx.build(x)
            nat = idx.native_search(q, K)
            nat.apply()
            raw = np.vstack([nat.to_ids(nat.call(r)) for r in nat.inputs])
            wrapped = np.vstack([idx.search(r, K).ids for r in rows])
            same = float(np.mean(np.all(raw == wrapped, axis=1)))
            rec = knn_recall(wrapped, truth, K)

            def native_loop(nat: Any = nat) -> None:
                nat.apply()
                for r in nat.inputs:
                    nat.call(r)

            fns[f"{name} native"] = native_loop
            fns[f"{name} wrapped"] = lambda idx=idx: [idx.search(r, K) for r in rows]
            info[f"{name} native"] = {
                "peer": name,
                "call": nat.how,
                "knn_recall": rec,
                "same_ids": same,
            }
            info[f"{name} wrapped"] = {
                "peer": name,
                "call": f"`{type(idx).__name__}.search(row, k)`",
                "knn_recall": rec,
                "same_ids": same,
            }
        ours = BalancedLSHIndex("cosine", n_tables=8, n_dirs=8, leaf_size=64, random_state=0)
        ours.build(x)
        ours.set_search_params(query_probes=args.query_probes)
        fns["ours BalancedLSHIndex"] = lambda: [ours.search(r, K) for r in rows]
        info["ours BalancedLSHIndex"] = {
            "peer": "ours",
            "call": "`BalancedLSHIndex.search(row, k)`",
            "knn_recall": knn_recall(ours.search(q, K).ids, truth, K),
            "same_ids": np.nan,
        }
        timings = interleave(fns, rounds=args.rounds)
    run.finish()
    df = pd.DataFrame(
        [{"method": m, **info[m], **t.rate(nq, "qps"), "us_per_call": 1e6 * t.median / nq}
         for m, t in timings.items()]
    )  # fmt: skip
    lines = run.header("Per-call overhead of the Index wrapper: peers native vs wrapped, and ours")
    lines += [
        f"Data: `{args.family}` family, {n:,} x 64 (cosine), {nq} held-out queries, seed "
        f"{args.seed}; HNSW M={args.M}, efConstruction={args.ef_construction}, ef={args.ef}; "
        f"faiss IVF nlist 4 sqrt(n), nprobe 4; annoy 10 trees, search_k {10 * K * 10}; ours "
        f"BalancedLSHIndex(8 tables, 8 dirs, leaf 64) at query_probes={args.query_probes}. "
        f"Single-query loop, wall clock, {args.rounds} interleaved rounds, {args.threads} thread(s).",
        "",
        "| method | call | knn-recall@10 | same ids native / wrapped | single-query QPS, median "
        "(min-max) | us per call |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for _, r in df.iterrows():
        qps = fmt_range(r["qps"], r["qps_min"], r["qps_max"], flag=bool(r["qps_flagged"]))
        same = "" if pd.isna(r["same_ids"]) else f"{r['same_ids']:.0%}"
        lines.append(
            f"| {r['method']} | {r['call']} | {r['knn_recall']:.3f} | {same} | {qps} | "
            f"{r['us_per_call']:.1f} |"
        )
    lines += ["", "Wrapper cost per call (wrapped - native, median wall time):", ""]
    for peer in dict.fromkeys(df["peer"]):
        g = df[df["peer"] == peer].set_index("method")
        if f"{peer} native" in g.index:
            nat_us = g.loc[f"{peer} native", "us_per_call"]
            wr_us = g.loc[f"{peer} wrapped", "us_per_call"]
            lines.append(
                f"- {peer}: {wr_us - nat_us:+.1f} us ({nat_us:.1f} native, {wr_us:.1f} wrapped; "
                f"native / wrapped QPS {wr_us / nat_us:.2f}x)"
            )
    write_report(default_out("overhead", args.quick, args.out), run, lines, {"results.csv": df})
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raise SystemExit(main())
