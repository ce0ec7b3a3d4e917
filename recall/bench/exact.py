"""Exact search, ours vs faiss IndexFlat in its best documented configuration, interleaved.

    python -m recall.bench.exact [--quick] [--n 1000000] [--threads 1,2] [--faiss-coretype SkylakeX] [--out DIR]

Data: clustered unit vectors (Gaussian mixture, 200 clusters, seeded; default 1,000,000 x 64) with
1,000 held-out queries, metrics ``ip`` and ``l2``, at each thread count (threadpoolctl limits
BLAS, ``faiss.omp_set_num_threads``, numba's thread count).

Methods: ``ours`` = :class:`recall.exact.ExactIndex` (int8-bounded pass for few queries, BLAS blocks
+ compiled top-k for batches), ``ours_blas`` = its plain BLAS path (``prefilter=False``);
``faiss_flat`` = faiss ``IndexFlat`` at its defaults and ``faiss_flat_blas`` with
``faiss.cvar.distance_compute_blas_threshold`` lowered to 20 (faiss' own documented knob: a batch of
at least that many queries goes through BLAS ``sgemm`` instead of the per-query scan; its default
in faiss 1.15 is far above a 1,000-query batch). faiss' bundled OpenBLAS may not recognise the CPU
and fall back to a generic kernel: the report shows the core type threadpoolctl sees, and with
``--faiss-coretype NAME`` a second copy of faiss runs in a worker process started with
``OPENBLAS_CORETYPE=NAME`` (``faiss_flat_blas@NAME``), timed in its turn of the same interleaved
rounds of the batch mode (the worker times its own calls; the ids it returns are checked identical to in-process
faiss').

Timing (:mod:`recall.bench.harness`): wall clock, one warm-up call each, then ``--rounds`` rounds
interleaved across the methods (A B C D, A B C D, ...), median with min-max, > 20% spread flagged;
single-query mode = a loop of 1-query calls over the first ``--single`` queries, batch mode = all
queries in one call. Ratios are ours / the best faiss configuration of the same moment.

Writes ``results.csv`` and ``results.md`` into ``--out`` (default ``reports/exact``; ``--quick``
defaults to a temporary folder).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from recall.bench.datasets import gaussian_mixture
from recall.bench.harness import (
    BenchRun,
    Timing,
    bench_parser,
    default_out,
    fmt_range,
    interleave,
    start_run,
)
from recall.exact import ExactIndex, knn_recall

log = logging.getLogger(__name__)

BLAS_THRESHOLD = 20

# a faiss IndexFlat in its own process, driven line by line (JSON) so that its calls take their
# turn in the parent's interleaved rounds; it times its own calls (no IPC in the figures)
_WORKER = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
import faiss
base = np.load(sys.argv[1]); queries = np.load(sys.argv[2]); metric = sys.argv[3]
threads = int(sys.argv[4]); faiss.cvar.distance_compute_blas_threshold = int(sys.argv[5])
faiss.omp_set_num_threads(threads)
lim = threadpool_limits(threads)
index = faiss.IndexFlatL2(base.shape[1]) if metric == "l2" else faiss.IndexFlatIP(base.shape[1])
index.add(base)
print(json.dumps({"ready": True, "pools": [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for p in threadpool_info()]}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "quit":
        break
    k = cmd["k"]
    if cmd["op"] == "single":
        rows = [queries[i:i + 1] for i in range(cmd["n"])]
        c0, w0 = time.process_time(), time.perf_counter()
        out = [index.search(r, k)[1] for r in rows]
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        ids = np.concatenate(out)
    else:
        c0, w0 = time.process_time(), time.perf_counter()
        ids = index.search(queries, k)[1]
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    if cmd.get("save"):
        np.save(cmd["save"], ids)
    print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)
"""


class FaissWorker:
    """faiss IndexFlat in a subprocess with ``OPENBLAS_CORETYPE`` set; ``call`` times one search."""

    def __init__(self, base_npy: str, queries_npy: str, metric: str, threads: int, coretype: str):
        env = {
            **os.environ,
            "OPENBLAS_CORETYPE": coretype,
            "OMP_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                base_npy,
                queries_npy,
                metric,
                str(threads),
                str(BLAS_THRESHOLD),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        hello = json.loads(self._read())
        self.pools = hello["pools"]
        self.times: list[tuple[float, float]] = []

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"faiss worker died (exit {self.proc.poll()})")
        return line

    def call(self, op: str, k: int, n: int = 0, save: str | None = None) -> tuple[float, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "k": k, "n": n, "save": save}) + "\n")
        self.proc.stdin.flush()
        r = json.loads(self._read())
        return float(r["wall"]), float(r["cpu"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


def _worker_timing(worker: FaissWorker, op: str, k: int, n: int, rounds: int) -> dict[str, Any]:
    """A callable for :func:`interleave` whose own clock is ignored: the worker's is recorded."""
    rec: dict[str, Any] = {"wall": [], "cpu": []}

    def fn() -> None:
        w, c = worker.call(op, k, n)
        rec["wall"].append(w)
        rec["cpu"].append(c)

    rec["fn"] = fn
    return rec


def _faiss_flat(metric: str, x: np.ndarray):
    import faiss

    index = faiss.IndexFlatL2(x.shape[1]) if metric == "l2" else faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


def _pools() -> list[dict[str, Any]]:
    return [
        {
            k: p.get(k)
            for k in ("internal_api", "version", "architecture", "num_threads", "filepath")
        }
        for p in threadpool_info()
    ]


def run_compare(
    n: int = 1_000_000,
    d: int = 64,
    n_queries: int = 1000,
    single_queries: int = 100,
    k: int = 10,
    threads: tuple[int, ...] = (1, 2),
    metrics: tuple[str, ...] = ("ip", "l2"),
    rounds: int = 3,
    coretype: str | None = None,
    random_state: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run the comparison; returns (results table, notes with thread pools and worker pools)."""
    import faiss

    if rounds < 3:
        raise ValueError(f"rounds must be >= 3 (the harness's rule), got {rounds}")
    base, queries = gaussian_mixture(n, d, 200, n_queries, random_state)
    single = queries[:single_queries]
    default_thr = int(faiss.cvar.distance_compute_blas_threshold)
    notes: dict[str, Any] = {"faiss_default_blas_threshold": default_thr, "worker_pools": None}
    rows = []
    tmp = tempfile.TemporaryDirectory(prefix="exact_bench_")
    np.save(f"{tmp.name}/base.npy", base)
    np.save(f"{tmp.name}/queries.npy", queries)
    try:
        for t in threads:
            nb.set_num_threads(min(t, nb.config.NUMBA_NUM_THREADS))
            faiss.omp_set_num_threads(t)
            with threadpool_limits(limits=t):
                for metric in metrics:
                    log.info("threads=%d metric=%s: building", t, metric)
                    flat = _faiss_flat(metric, base)
                    ours = ExactIndex(metric, threads=t).build(base)
                    ours_blas = ExactIndex(metric, threads=t, prefilter=False).build(base)
                    worker = None
                    if coretype:
                        worker = FaissWorker(
                            f"{tmp.name}/base.npy", f"{tmp.name}/queries.npy", metric, t, coretype
                        )
                        notes["worker_pools"] = worker.pools

                    def faiss_fn(thr: int, flat=flat):
                        def search(q: np.ndarray) -> np.ndarray:
                            faiss.cvar.distance_compute_blas_threshold = thr
                            try:
                                return flat.search(q, k)[1]
                            finally:
                                faiss.cvar.distance_compute_blas_threshold = default_thr

                        return search

                    searchers = {
                        "faiss_flat": faiss_fn(default_thr),
                        "faiss_flat_blas": faiss_fn(BLAS_THRESHOLD),
                        "ours": lambda q, ix=ours: ix.search(q, k).ids,
                        "ours_blas": lambda q, ix=ours_blas: ix.search(q, k).ids,
                    }
                    for mode, nq in (("single", single.shape[0]), ("batch", n_queries)):
                        use = dict(searchers)
                        if mode == "single":  # one query never reaches any BLAS threshold
                            use.pop("faiss_flat_blas")

                        def loop(s=None, mode=mode):
                            if mode == "single":
                                return lambda: [
                                    s(single[i : i + 1]) for i in range(single.shape[0])
                                ]
                            return lambda: s(queries)

                        fns = {name: loop(s) for name, s in use.items()}
                        wrec = None
                        wname = f"faiss_flat_blas@{coretype}"
                        if worker is not None and mode == "batch":  # one query never uses BLAS
                            wrec = _worker_timing(worker, mode, k, nq, rounds)
                            fns[wname] = wrec["fn"]
                        times = interleave(fns, rounds)
                        if wrec is not None:  # the worker's own clock; drop the warm-up call
                            times[wname] = Timing(
                                tuple(wrec["wall"][1:]), tuple(wrec["cpu"][1:]), wrec["wall"][0]
                            )
                        ids = {}
                        for name, s in use.items():
                            ids[name] = (
                                np.concatenate(
                                    [s(single[i : i + 1]) for i in range(single.shape[0])]
                                )
                                if mode == "single"
                                else s(queries)
                            )
                        if wrec is not None:
                            worker.call(mode, k, nq, save=f"{tmp.name}/w.npy")
                            ids[wname] = np.load(f"{tmp.name}/w.npy")
                        ref = ids["faiss_flat"]
                        for name, tm in times.items():
                            rows.append(
                                {
                                    "metric": metric,
                                    "threads": t,
                                    "mode": mode,
                                    "method": name,
                                    "n": n,
                                    "d": d,
                                    "k": k,
                                    "queries": nq,
                                    **tm.rate(nq, "qps"),
                                    "warmup_s": tm.warmup_s,
                                    "agreement_with_faiss": knn_recall(ids[name], ref, k),
                                    "identical_ids": bool(np.array_equal(ids[name], ref)),
                                }
                            )
                        log.info(
                            "threads=%d metric=%s %s: %s",
                            t,
                            metric,
                            mode,
                            {r["method"]: round(r["qps"]) for r in rows[-len(times) :]},
                        )
                    if worker is not None:
                        worker.close()
                    del ours, ours_blas, flat
    finally:
        tmp.cleanup()
    df = pd.DataFrame(rows)
    best_faiss = (
        df[df["method"].str.startswith("faiss")].groupby(["metric", "threads", "mode"])["qps"].max()
    )
    default = df[df["method"] == "faiss_flat"].set_index(["metric", "threads", "mode"])["qps"]
    key = list(zip(df["metric"], df["threads"], df["mode"], strict=True))
    df["ratio_vs_best_faiss"] = df["qps"].to_numpy() / best_faiss.loc[key].to_numpy()
    df["ratio_vs_faiss_default"] = df["qps"].to_numpy() / default.loc[key].to_numpy()
    notes["pools"] = _pools()
    return df, notes


def write(
    df: pd.DataFrame, notes: dict[str, Any], run: BenchRun, out: Path, cfg: dict[str, Any]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False)
    lines = run.header("Exact search: ours vs faiss IndexFlat (best documented configuration)")
    lines += [
        f"Data: Gaussian mixture, 200 clusters, unit vectors, n={cfg['n']:,}, d={cfg['d']}, "
        f"{cfg['n_queries']} held-out queries; single-query mode = the first {cfg['single']} "
        f"queries one per call; batch = all in one call; k={cfg['k']}.",
        f"faiss configurations: `faiss_flat` = defaults (`distance_compute_blas_threshold` = "
        f"{notes['faiss_default_blas_threshold']}); `faiss_flat_blas` = threshold {BLAS_THRESHOLD} "
        "(batches through BLAS sgemm)"
        + (
            f"; `faiss_flat_blas@{cfg['coretype']}` = the same in a worker process with "
            f"`OPENBLAS_CORETYPE={cfg['coretype']}`."
            if cfg.get("coretype")
            else "; no OPENBLAS_CORETYPE worker was run (`--faiss-coretype`)."
        ),
        "Ratios: ours / the fastest faiss configuration measured in the same interleaved rounds "
        "(`vs best faiss`), and / faiss at its defaults. `identical` = same ids as faiss defaults.",
        "",
        "| mode | metric | threads | method | QPS (min-max) | vs best faiss | vs faiss defaults | identical ids |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for r in df.sort_values(["mode", "metric", "threads", "method"]).itertuples(index=False):
        lines.append(
            f"| {r.mode} | {r.metric} | {r.threads} | {r.method} | "
            f"{fmt_range(r.qps, r.qps_min, r.qps_max, 1, bool(r.qps_flagged))} | "
            f"{r.ratio_vs_best_faiss:.2f} | {r.ratio_vs_faiss_default:.2f} | "
            f"{'yes' if r.identical_ids else f'no ({r.agreement_with_faiss:.4f})'} |"
        )
    lines += ["", "OpenBLAS core types (threadpoolctl `architecture`) in this process:", ""]
    for p in notes["pools"]:
        lines.append(f"- {p['internal_api']} {p['version']}: {p['architecture']} ({p['filepath']})")
    if notes.get("worker_pools"):
        lines += ["", f"In the faiss worker (`OPENBLAS_CORETYPE={cfg['coretype']}`):", ""]
        for p in notes["worker_pools"]:
            lines.append(f"- {p['internal_api']} {p['version']}: {p['architecture']}")
    lines += ["", *run.markdown()]
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "run.json").write_text(run.to_json(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = bench_parser(
        "exact", __doc__.splitlines()[0], quick_help="20k x 64, 50 queries (seconds)", threads=None
    )
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--single", type=int, default=None, help="queries of the single-query loop")
    p.add_argument(
        "--threads", default=None, help="comma-separated thread counts (default 1,2; quick 1)"
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--faiss-coretype",
        default=None,
        help="also run faiss in a worker with OPENBLAS_CORETYPE=NAME (e.g. SkylakeX, Haswell, Zen)",
    )
    a = p.parse_args(argv)
    run = start_run("exact", a, argv)
    n = a.n or (20_000 if a.quick else 1_000_000)
    nq = a.queries or (50 if a.quick else 1000)
    single = min(nq, a.single or (20 if a.quick else 100))
    out = default_out("exact", a.quick, a.out)
    threads = tuple(int(t) for t in (a.threads or ("1" if a.quick else "1,2")).split(","))
    df, notes = run_compare(
        n=n,
        d=a.d,
        n_queries=nq,
        single_queries=single,
        threads=threads,
        rounds=a.rounds,
        coretype=a.faiss_coretype,
        random_state=a.seed,
    )
    run.finish()
    cfg = dict(n=n, d=a.d, n_queries=nq, single=single, k=10, coretype=a.faiss_coretype)
    write(df, notes, run, out, cfg)
    log.info("\n%s", df[["mode", "metric", "threads", "method", "qps", "ratio_vs_best_faiss"]])
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raise SystemExit(main())
