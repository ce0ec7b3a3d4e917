"""Per-call overhead of the ``Index`` wrapper: a peer called raw vs through ``recall.peers``.

``python -m recall.bench.overhead [--quick] [--n 100000] [--family skewed] [--out DIR]``

The ANN benchmark calls every peer except FALCONN through embrecall's ``Index`` wrapper (input
checks, normalisation, id mapping, result padding). At single-query rates of 10-60k QPS that
per-call cost is a large share of a peer's time, so a wrapped peer is not in its best mode. This
bench times, interleaved and in wall clock, one thread, the same built hnswlib graph (same M,
efConstruction, ef) called raw (``hnswlib.Index.knn_query`` on pre-normalised queries) and
through :class:`recall.peers.HnswlibIndex`, next to our :class:`recall.lsh.BalancedLSHIndex`
(which has its own short single-query path), and reports knn-recall@10 for each. Read the ratio
raw / wrapped before reading the ANN report's hnswlib ratios.

Writes ``results.csv`` and ``results.md`` to ``--out`` (default ``reports/overhead``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from recall.bench.datasets import make_family
from recall.bench.harness import BenchRun, fmt_range, interleave, single_thread
from recall.exact import exact_knn, knn_recall

log = logging.getLogger(__name__)

K = 10


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 vectors, 100 queries")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--family", default="skewed", help="gmm, skewed or ip_heavy")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--M", type=int, default=8)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", type=int, default=10)
    ap.add_argument("--query-probes", type=int, default=16)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("reports") / "overhead")
    ap.add_argument("--allow-load", action="store_true")
    args = ap.parse_args(argv)
    import hnswlib

    from recall.lsh import BalancedLSHIndex
    from recall.peers import HnswlibIndex

    n, nq = (5_000, 100) if args.quick else (args.n, args.queries)
    run = BenchRun.start("overhead", argv, quick=args.quick, allow_load=args.allow_load)
    x, q, metric = make_family(args.family, n, 64, nq, random_state=args.seed)
    if metric != "cosine":
        raise ValueError(f"this bench compares cosine search; family {args.family!r} is {metric}")
    truth = exact_knn(x, q, K, metric="cosine").ids
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    with single_thread(1):
        raw = hnswlib.Index(space="ip", dim=x.shape[1])
        raw.init_index(
            max_elements=n, M=args.M, ef_construction=args.ef_construction, random_seed=0
        )
        raw.set_num_threads(1)
        raw.add_items(xn, np.arange(n))
        raw.set_ef(args.ef)
        wrapped = HnswlibIndex(
            "cosine", M=args.M, ef_construction=args.ef_construction, threads=1
        ).build(x)
        wrapped.set_search_params(ef=args.ef)
        ours = BalancedLSHIndex("cosine", n_tables=8, n_dirs=8, leaf_size=64, random_state=0)
        ours.build(x)
        ours.set_search_params(query_probes=args.query_probes)
        rows = [q[i : i + 1] for i in range(nq)]
        rows_n = [qn[i : i + 1] for i in range(nq)]
        ids_raw = np.vstack([raw.knn_query(r, k=K)[0] for r in rows_n]).astype(np.int64)
        recalls = {
            "hnswlib raw (knn_query)": knn_recall(ids_raw, truth, K),
            "hnswlib via recall.peers.HnswlibIndex": knn_recall(wrapped.search(q, K).ids, truth, K),
            "ours BalancedLSHIndex": knn_recall(ours.search(q, K).ids, truth, K),
        }
        fns = {
            "hnswlib raw (knn_query)": lambda: [raw.knn_query(r, k=K) for r in rows_n],
            "hnswlib via recall.peers.HnswlibIndex": lambda: [wrapped.search(r, K) for r in rows],
            "ours BalancedLSHIndex": lambda: [ours.search(r, K) for r in rows],
        }
        timings = interleave(fns, rounds=args.rounds)
    run.finish()
    recs = []
    for name, t in timings.items():
        recs.append({"method": name, "knn_recall": recalls[name], **t.rate(nq, "qps")})
    df = pd.DataFrame(recs)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "results.csv", index=False)
    raw_qps = float(df.loc[df["method"].str.startswith("hnswlib raw"), "qps"].iloc[0])
    wr_qps = float(df.loc[df["method"].str.startswith("hnswlib via"), "qps"].iloc[0])
    our_qps = float(df.loc[df["method"].str.startswith("ours"), "qps"].iloc[0])
    lines = run.header("Per-call overhead of the Index wrapper: hnswlib raw vs wrapped, and ours")
    lines += [
        f"Data: `{args.family}` family, {n:,} x 64 (cosine), {nq} held-out queries, seed "
        f"{args.seed}; hnswlib M={args.M}, efConstruction={args.ef_construction}, ef={args.ef} "
        f"(one graph for the raw call, one built the same way behind the wrapper); ours "
        f"BalancedLSHIndex(8 tables, 8 dirs, leaf 64) at query_probes={args.query_probes}. "
        f"Single-query loop, wall clock, {args.rounds} interleaved rounds, 1 thread.",
        "",
        "| method | knn-recall@10 | single-query QPS, median (min-max) |",
        "|---|---:|---:|",
    ]
    for _, r in df.iterrows():
        qps = fmt_range(r["qps"], r["qps_min"], r["qps_max"], flag=bool(r["qps_flagged"]))
        lines.append(f"| {r['method']} | {r['knn_recall']:.3f} | {qps} |")
    lines += [
        "",
        f"Raw hnswlib / wrapped hnswlib: **{raw_qps / wr_qps:.2f}x**; the wrapper adds "
        f"{(1 / wr_qps - 1 / raw_qps) * 1e6:.0f} us per call. Ours / raw hnswlib: "
        f"**{our_qps / raw_qps:.2f}x**; ours / wrapped hnswlib: {our_qps / wr_qps:.2f}x "
        "(recalls in the table: compare at equal recall before reading a ratio).",
        "",
        *run.markdown(),
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raise SystemExit(main())
